//! Scalar and collection shapes buildspecs use, with CodeBuild's leniency.

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use kiln_reports::ReportFileFormat;

use crate::model::{CacheAction, OnFailure, Shell, Version};

/// A scalar taken as its source text: `42`, `1.10` and `true` stay as written, since the
/// target is a string (this is how CodeBuild treats numbers in command lists).
#[derive(Debug)]
pub(crate) struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl Visitor<'_> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string (quote text that contains \": \")")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text(v))
            }
        }
        deserializer.deserialize_string(TextVisitor)
    }
}

/// Like [`Text`], but an empty value (`KEY:`) is the empty string, as in CodeBuild.
#[derive(Debug)]
pub(crate) struct OptionalText(pub String);

impl<'de> Deserialize<'de> for OptionalText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Option::<Text>::deserialize(deserializer)?;
        Ok(Self(text.map(|t| t.0).unwrap_or_default()))
    }
}

/// `yes`/`no` switch: a YAML boolean, or the strings yes/no/true/false in any case
/// (CodeBuild reads YAML 1.1 where `yes` is a boolean; in YAML 1.2 it is a string).
#[derive(Debug, Clone, Copy)]
pub(crate) struct YesNo(pub bool);

impl<'de> Deserialize<'de> for YesNo {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct YesNoVisitor;
        impl Visitor<'_> for YesNoVisitor {
            type Value = YesNo;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("yes or no")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<YesNo, E> {
                Ok(YesNo(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<YesNo, E> {
                match v.to_ascii_lowercase().as_str() {
                    "yes" | "true" => Ok(YesNo(true)),
                    "no" | "false" => Ok(YesNo(false)),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        deserializer.deserialize_any(YesNoVisitor)
    }
}

/// One string or a list of strings (`exclude-paths: "**/.*"` and `exclude-paths: [..]`).
#[derive(Debug, Default)]
pub(crate) struct TextList {
    pub items: Vec<String>,
    /// Written as one scalar rather than a list.
    pub one_string: bool,
}

impl TextList {
    fn one(item: String) -> Self {
        Self {
            items: vec![item],
            one_string: true,
        }
    }
}

impl<'de> Deserialize<'de> for TextList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextListVisitor;
        impl<'de> Visitor<'de> for TextListVisitor {
            type Value = TextList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TextList, E> {
                Ok(TextList::one(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<TextList, E> {
                Ok(TextList::one(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TextList, E> {
                Ok(TextList::one(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TextList, E> {
                Ok(TextList::one(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<TextList, E> {
                Ok(TextList::one(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TextList, A::Error> {
                let mut items = Vec::new();
                while let Some(Text(item)) = seq.next_element()? {
                    items.push(item);
                }
                Ok(TextList {
                    items,
                    one_string: false,
                })
            }
        }
        deserializer.deserialize_any(TextListVisitor)
    }
}

/// The text of a mapping key, to find a key given twice.
pub(crate) trait MapKey {
    fn key_text(&self) -> &str;
}

impl MapKey for Text {
    fn key_text(&self) -> &str {
        &self.0
    }
}

impl MapKey for Spanned<String> {
    fn key_text(&self) -> &str {
        &self.value
    }
}

/// A mapping kept in document order. A key given twice is an error (the parser passes
/// repeated keys through, so that `batch`, which Kiln does not run, may have them).
#[derive(Debug)]
pub(crate) struct OrderedMap<K, V>(pub Vec<(K, V)>);

impl<'de, K: Deserialize<'de> + MapKey, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedMapVisitor<K, V>(PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de> + MapKey, V: Deserialize<'de>> Visitor<'de>
            for OrderedMapVisitor<K, V>
        {
            type Value = OrderedMap<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                let mut seen = HashSet::new();
                while let Some(key) = map.next_key_seed(UniqueKey {
                    seen: &mut seen,
                    key: PhantomData,
                })? {
                    entries.push((key, map.next_value()?));
                }
                Ok(OrderedMap(entries))
            }
        }
        deserializer.deserialize_map(OrderedMapVisitor(PhantomData))
    }
}

/// Reads a mapping key, failing (at the key) when it was already seen.
struct UniqueKey<'a, K> {
    seen: &'a mut HashSet<String>,
    key: PhantomData<K>,
}

impl<'de, K: Deserialize<'de> + MapKey> de::DeserializeSeed<'de> for UniqueKey<'_, K> {
    type Value = K;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<K, D::Error> {
        let key = K::deserialize(deserializer)?;
        if !self.seen.insert(key.key_text().to_owned()) {
            return Err(de::Error::custom(format!(
                "duplicate key {:?}",
                truncate(key.key_text())
            )));
        }
        Ok(key)
    }
}

/// A phase's `commands` or `finally`: a list of commands, or one string (which CodeBuild runs
/// as one command, however many lines it has).
#[derive(Debug, Default)]
pub(crate) struct Commands {
    pub list: Vec<String>,
    /// Written as one string rather than a list.
    pub one_string: bool,
}

impl<'de> Deserialize<'de> for Commands {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let TextList { items, one_string } = TextList::deserialize(deserializer)?;
        Ok(Self {
            list: items,
            one_string,
        })
    }
}

/// A value written as one keyword string, parsed with a helpful message on error.
pub(crate) trait Keyword: Sized {
    /// What the field accepts, e.g. "`version` 0.1 or 0.2".
    const EXPECTED: &'static str;
    fn parse(text: &str) -> Result<Self, String>;
}

/// Deserializes any [`Keyword`] from its text.
pub(crate) struct KeywordOf<T>(pub T);

impl<'de, T: Keyword> Deserialize<'de> for KeywordOf<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeywordVisitor<T>(PhantomData<T>);
        impl<T: Keyword> Visitor<'_> for KeywordVisitor<T> {
            type Value = KeywordOf<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(T::EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                T::parse(v).map(KeywordOf).map_err(E::custom)
            }
            // `version: 0.2` arrives as a number.
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
        }
        // Not `deserialize_str`: with `any`, a list or mapping reaches the visitor, whose
        // message names the field.
        deserializer.deserialize_any(KeywordVisitor(PhantomData))
    }
}

impl Keyword for Version {
    const EXPECTED: &'static str = "`version` 0.1 or 0.2";
    fn parse(text: &str) -> Result<Self, String> {
        // `0.2`, `"0.2"` and `0.20` all name the same YAML float.
        match text.trim().parse::<f64>() {
            Ok(0.1) => Ok(Self::V01),
            Ok(0.2) => Ok(Self::V02),
            _ => Err(rejected::<Self>(text)),
        }
    }
}

impl Keyword for Shell {
    const EXPECTED: &'static str = "`env.shell` bash or /bin/sh";
    fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "bash" | "/bin/bash" => Ok(Self::Bash),
            "sh" | "/bin/sh" => Ok(Self::Sh),
            _ => Err(rejected::<Self>(text)),
        }
    }
}

impl Keyword for CacheAction {
    const EXPECTED: &'static str = "`cache.action` restore or save";
    fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "restore" => Ok(Self::Restore),
            "save" => Ok(Self::Save),
            _ => Err(rejected::<Self>(text)),
        }
    }
}

impl Keyword for ReportFileFormat {
    const EXPECTED: &'static str = "`file-format` CUCUMBERJSON, JUNITXML, NUNITXML, NUNIT3XML, TESTNGXML, VISUALSTUDIOTRX, CLOVERXML, COBERTURAXML, JACOCOXML or SIMPLECOV";
    /// Exact names, as the API's enum values are.
    fn parse(text: &str) -> Result<Self, String> {
        text.trim().parse().map_err(|_| rejected::<Self>(text))
    }
}

/// CodeBuild's documented range for `RETRY-<count>`.
const MAX_RETRY_COUNT: u32 = 100;

impl Keyword for OnFailure {
    const EXPECTED: &'static str = "`on-failure` ABORT, CONTINUE, RETRY, RETRY-<count>, RETRY-<regex> or RETRY-<count>-<regex>";
    fn parse(text: &str) -> Result<Self, String> {
        let invalid = || rejected::<Self>(text);
        let trimmed = text.trim();
        if trimmed.eq_ignore_ascii_case("ABORT") {
            return Ok(Self::Abort);
        }
        if trimmed.eq_ignore_ascii_case("CONTINUE") {
            return Ok(Self::Continue);
        }
        if trimmed.eq_ignore_ascii_case("RETRY") {
            return Ok(Self::Retry {
                count: None,
                pattern: None,
            });
        }
        let rest = match trimmed.split_at_checked("RETRY-".len()) {
            Some((head, rest)) if head.eq_ignore_ascii_case("RETRY-") => rest,
            _ => return Err(invalid()),
        };
        let (digits, pattern) = match rest.split_once('-') {
            Some((head, tail)) if is_digits(head) => (Some(head), Some(tail)),
            _ if is_digits(rest) => (Some(rest), None),
            _ => (None, Some(rest)),
        };
        let count = match digits {
            Some(d) => match d.parse::<u32>() {
                Ok(n) if n <= MAX_RETRY_COUNT => Some(n),
                _ => {
                    return Err(format!(
                        "invalid `on-failure` {:?}: retry count must be 0 to {MAX_RETRY_COUNT}",
                        truncate(text)
                    ));
                }
            },
            None => None,
        };
        if pattern.is_some_and(str::is_empty) {
            return Err(invalid());
        }
        Ok(Self::Retry {
            count,
            pattern: pattern.map(str::to_owned),
        })
    }
}

fn rejected<T: Keyword>(text: &str) -> String {
    format!(
        "invalid value {:?}, expected {}",
        truncate(text),
        T::EXPECTED
    )
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Echoed input stays short in messages.
pub(crate) fn truncate(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(count: Option<u32>, pattern: Option<&str>) -> OnFailure {
        OnFailure::Retry {
            count,
            pattern: pattern.map(str::to_owned),
        }
    }

    #[test]
    fn on_failure_forms() {
        let cases = [
            ("ABORT", OnFailure::Abort),
            ("CONTINUE", OnFailure::Continue),
            ("continue", OnFailure::Continue),
            ("RETRY", retry(None, None)),
            ("RETRY-5", retry(Some(5), None)),
            ("RETRY-0", retry(Some(0), None)),
            ("RETRY-100", retry(Some(100), None)),
            ("RETRY-.*timeout.*", retry(None, Some(".*timeout.*"))),
            ("RETRY-3-.*error.*", retry(Some(3), Some(".*error.*"))),
            ("RETRY-3-a-b", retry(Some(3), Some("a-b"))),
            ("RETRY-x-1", retry(None, Some("x-1"))),
        ];
        for (text, expected) in cases {
            assert_eq!(OnFailure::parse(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn on_failure_rejects_bad_forms() {
        for text in [
            "",
            "STOP",
            "RETRY-",
            "RETRY-101",
            "RETRY-3-",
            "RETRYX",
            "RETRY-99999999999",
        ] {
            assert!(OnFailure::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn versions() {
        assert_eq!(Version::parse("0.2"), Ok(Version::V02));
        assert_eq!(Version::parse("0.20"), Ok(Version::V02));
        assert_eq!(Version::parse("0.1"), Ok(Version::V01));
        for bad in ["0.3", "1", "two", "", "NaN"] {
            let err = Version::parse(bad).expect_err(bad);
            assert!(err.contains("`version`"), "{err}");
        }
    }

    #[test]
    fn truncate_keeps_short_text_and_cuts_long() {
        assert_eq!(truncate("abc"), "abc");
        assert_eq!(truncate(&"é".repeat(100)).chars().count(), 65);
    }
}
