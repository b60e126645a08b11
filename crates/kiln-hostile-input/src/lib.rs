//! Helpers for property tests of parsers fed hostile input: a fixed number of cases, a time
//! limit per case (super-linear work on hostile input is a bug like a panic is), byte-level
//! mutation of valid inputs, and the JSON pointers of a document for value-level mutation.
//! Used as a dev-dependency only.

use std::fmt::Display;
use std::ops::Range;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::Value;

/// A configuration running `cases` cases, fixed so CI runs the same amount of work every time.
/// Failures are kept under `proptest-regressions/`, per source file, and replayed first.
pub fn config(cases: u32) -> Config {
    Config {
        cases,
        ..Config::default()
    }
}

/// Runs `f` and fails the case when it took `limit` or longer. Limits sit far above what a case
/// needs, so a case this slow means super-linear work on hostile input.
pub fn timed<T>(limit: Duration, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    timed_as("the case", limit, f)
}

/// [`timed`], naming `what` ran in the failure (an operation, an input's size).
pub fn timed_as<T>(
    what: impl Display,
    limit: Duration,
    f: impl FnOnce() -> T,
) -> Result<T, TestCaseError> {
    let started = Instant::now();
    let out = f();
    let elapsed = started.elapsed();
    prop_assert!(elapsed < limit, "{what} took {elapsed:?}");
    Ok(out)
}

/// One byte edit: where (modulo the length), what (insert, delete or replace, modulo 3) and
/// which byte of the alphabet (modulo its length).
pub type ByteEdit = (usize, u8, u8);

/// The bytes that matter to JSON's grammar, with a NUL and a byte that is never UTF-8.
pub const JSON_ALPHABET: &[u8] = b"{}[]\":,0-9aZ \\/\n\x00\xff";

/// Between `count.start` and `count.end - 1` byte edits for [`mutated`].
pub fn edits(count: Range<usize>) -> impl Strategy<Value = Vec<ByteEdit>> {
    prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), count)
}

/// `base` with `edits` applied in order (inserts, deletes, replacements; at the end, a delete or
/// a replacement appends), each new byte taken from `alphabet`: near misses of a valid input,
/// which reach further into a parser than random bytes do.
pub fn mutated(base: &[u8], alphabet: &[u8], edits: &[ByteEdit]) -> Vec<u8> {
    let mut bytes = base.to_vec();
    if alphabet.is_empty() {
        return bytes;
    }
    for &(at, kind, byte) in edits {
        let byte = alphabet[usize::from(byte) % alphabet.len()];
        let at = at % (bytes.len() + 1);
        match kind % 3 {
            0 => bytes.insert(at, byte),
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            _ if at < bytes.len() => bytes[at] = byte,
            _ => bytes.push(byte),
        }
    }
    bytes
}

/// [`mutated`] for text inputs: the edited bytes read as UTF-8, invalid sequences replaced.
pub fn mutated_text(base: &str, alphabet: &[u8], edits: &[ByteEdit]) -> String {
    String::from_utf8_lossy(&mutated(base.as_bytes(), alphabet, edits)).into_owned()
}

/// The JSON pointers (RFC 6901) of every node of `value`, children before their parent, the
/// root (`""`) last.
pub fn json_pointers(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_pointers(value, String::new(), &mut out);
    out
}

fn collect_pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                collect_pointers(child, format!("{at}/{escaped}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                collect_pointers(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_insert_delete_and_replace_from_the_alphabet() {
        assert_eq!(mutated(b"ab", b"x", &[(0, 0, 7)]), b"xab");
        assert_eq!(mutated(b"ab", b"x", &[(1, 1, 0)]), b"a");
        assert_eq!(mutated(b"ab", b"x", &[(1, 2, 0)]), b"ax");
        // At the end, a delete or a replacement appends.
        assert_eq!(mutated(b"ab", b"x", &[(2, 1, 0)]), b"abx");
        assert_eq!(mutated(b"ab", b"x", &[(5, 2, 0)]), b"abx");
        assert_eq!(mutated(b"", b"xy", &[(9, 0, 1)]), b"y");
        assert_eq!(mutated(b"ab", b"", &[(0, 0, 0)]), b"ab");
    }

    #[test]
    fn pointers_name_every_node_escaped() {
        let doc = serde_json::json!({"a/b": [1, {"~": null}]});
        let pointers = json_pointers(&doc);
        assert_eq!(pointers, ["/a~1b/0", "/a~1b/1/~0", "/a~1b/1", "/a~1b", ""]);
        for pointer in &pointers {
            assert!(doc.pointer(pointer).is_some(), "{pointer}");
        }
    }

    #[test]
    fn a_slow_case_fails() {
        assert!(timed(Duration::from_secs(60), || 1).is_ok());
        assert!(timed(Duration::ZERO, || 1).is_err());
        let slow = timed_as("ListBuilds", Duration::ZERO, || 1).unwrap_err();
        assert!(slow.to_string().contains("ListBuilds took"), "{slow}");
    }
}
