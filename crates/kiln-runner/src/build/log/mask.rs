//! Masks the build's resolved secret values in its log, as CodeBuild does: each occurrence is
//! replaced with `***`. Output arrives in pipe chunks, so a value may be split between two;
//! the end of a chunk that could begin a value is held back until more output arrives or the
//! log must be written up to date (one of Kiln's own lines, or the pipe closing).

/// What replaces a secret value in the log.
pub(super) const MASK: &[u8] = b"***";

#[derive(Debug, Default)]
pub(super) struct Masker {
    /// The values, longest first (so that a value containing another is masked whole).
    values: Vec<Vec<u8>>,
    /// Output held back: it may be the start of a value.
    held: Vec<u8>,
}

impl Masker {
    /// Adds values to mask (empty ones mean nothing and are skipped).
    pub(super) fn add(&mut self, values: impl IntoIterator<Item = Vec<u8>>) {
        self.values
            .extend(values.into_iter().filter(|v| !v.is_empty()));
        self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        self.values.dedup();
    }

    pub(super) fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The masked output of `bytes` after what was held, holding back a tail that may begin a
    /// value.
    pub(super) fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut input = std::mem::take(&mut self.held);
        input.extend_from_slice(bytes);
        let (out, held) = self.mask(&input, false);
        self.held = held.to_vec();
        out
    }

    /// Everything held, masked: the log is to be up to date.
    pub(super) fn flush(&mut self) -> Vec<u8> {
        let input = std::mem::take(&mut self.held);
        self.mask(&input, true).0
    }

    /// `text` masked on its own (one of Kiln's lines), leaving what is held alone.
    pub(super) fn masked(&self, text: &[u8]) -> Vec<u8> {
        self.mask(text, true).0
    }

    /// The masked output of `input`, and the tail held back (none when `flushing`).
    fn mask<'a>(&self, input: &'a [u8], flushing: bool) -> (Vec<u8>, &'a [u8]) {
        let mut out = Vec::with_capacity(input.len());
        let mut i = 0;
        while i < input.len() {
            let rest = &input[i..];
            if let Some(value) = self.values.iter().find(|v| rest.starts_with(v)) {
                out.extend_from_slice(MASK);
                i += value.len();
                continue;
            }
            if !flushing
                && self
                    .values
                    .iter()
                    .any(|v| v.len() > rest.len() && v.starts_with(rest))
            {
                return (out, rest);
            }
            out.push(input[i]);
            i += 1;
        }
        (out, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::Masker;

    fn masker(values: &[&str]) -> Masker {
        let mut m = Masker::default();
        m.add(values.iter().map(|v| v.as_bytes().to_vec()));
        m
    }

    /// The log `chunks` make, fed one by one, then flushed.
    fn logged(m: &mut Masker, chunks: &[&str]) -> String {
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend(m.feed(chunk.as_bytes()));
        }
        out.extend(m.flush());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_are_masked_within_a_chunk() {
        let mut m = masker(&["hunter2"]);
        assert_eq!(
            logged(&mut m, &["pw=hunter2; again hunter2\n"]),
            "pw=***; again ***\n"
        );
    }

    #[test]
    fn values_split_across_chunks_are_masked() {
        let mut m = masker(&["s3cr3t-value"]);
        assert_eq!(
            logged(&mut m, &["token: s3c", "r3t-", "value and more\n"]),
            "token: *** and more\n"
        );
        // Split at every point.
        let text = "a s3cr3t-value b";
        for cut in 0..text.len() {
            let mut m = masker(&["s3cr3t-value"]);
            assert_eq!(
                logged(&mut m, &[&text[..cut], &text[cut..]]),
                "a *** b",
                "{cut}"
            );
        }
    }

    #[test]
    fn only_what_may_begin_a_value_is_held() {
        let mut m = masker(&["secret"]);
        assert_eq!(m.feed(b"plain output\n"), b"plain output\n");
        assert_eq!(m.feed(b"ends with sec"), b"ends with ");
        assert_eq!(m.feed(b"ond\n"), b"second\n");
        // A false start followed by the real value.
        assert_eq!(logged(&mut m, &["ssecret"]), "s***");
        // Held bytes that never complete a value are written when flushed.
        assert_eq!(logged(&mut m, &["secre"]), "secre");
    }

    #[test]
    fn longer_values_win_and_empty_values_mask_nothing() {
        let mut m = masker(&["abc", "abcdef", ""]);
        assert_eq!(logged(&mut m, &["abcdef abc ab"]), "*** *** ab");
        let mut none = masker(&[""]);
        assert!(none.is_empty());
        assert_eq!(logged(&mut none, &["text"]), "text");
    }
}
