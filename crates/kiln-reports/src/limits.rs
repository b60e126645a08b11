//! Bounds on what a report file may make the parser read and keep, and the metered reader that
//! enforces the byte bounds while reading (so a 2 GB attribute is refused after reading at most
//! `max_token_bytes`, not after buffering it) and counts lines for error messages.

use std::io::{self, BufRead, Read};

use crate::ReportError;

/// Bounds on one report file. Reaching any of them stops parsing with [`ReportError::Limit`]
/// naming the limit, except the two text bounds, which truncate (a long stack trace is normal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Bytes read from the file in total.
    pub max_bytes: u64,
    /// Bytes read from a JSON file (Cucumber, SimpleCov) in total; the smaller of this and
    /// `max_bytes` applies. Lower than `max_bytes` because JSON is slower to read and holds
    /// whole strings while reading them (docs/reports.md).
    pub max_json_bytes: u64,
    /// Bytes of one XML token (a start tag with its attributes, one text or CDATA run, a
    /// DOCTYPE): the most the XML reader buffers at once.
    pub max_token_bytes: u64,
    /// XML element nesting depth.
    pub max_depth: usize,
    /// Test cases in a test report, files in a coverage report.
    pub max_items: usize,
    /// Bytes kept of a name, prefix, suite name or file path (longer ones are truncated).
    pub max_field_bytes: usize,
    /// Bytes kept of a test case's message (longer ones are truncated).
    pub max_message_bytes: usize,
    /// Bytes of text kept in all (names, prefixes, suite names, messages, file paths, and the
    /// test ids a TRX file links by), counted as each item is kept.
    pub max_kept_bytes: usize,
}

impl Default for Limits {
    /// Sized so a 50 MB JUnit file with 150,000 failing cases parses (`bench/reports.sh`) while
    /// the kept text stays under `max_kept_bytes` (64 MiB); see docs/reports.md.
    fn default() -> Self {
        Self {
            max_bytes: 256 * 1024 * 1024,
            max_json_bytes: 32 * 1024 * 1024,
            max_token_bytes: 16 * 1024 * 1024,
            max_depth: 256,
            max_items: 200_000,
            max_field_bytes: 1024,
            max_message_bytes: 4096,
            max_kept_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Which byte bound a [`Metered`] reader hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteLimit {
    Total,
    Token,
}

const CHUNK: usize = 64 * 1024;

/// A buffered reader that refuses to hand out more than `max_total` bytes in all and more than
/// `max_token` bytes since the last [`Metered::start_token`], and counts the newlines of the
/// bytes consumed (the parser's position, not the read-ahead).
pub(crate) struct Metered<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    total: u64,
    max_total: u64,
    token: u64,
    max_token: u64,
    newlines: u64,
    hit: Option<ByteLimit>,
}

impl<R: Read> Metered<R> {
    pub(crate) fn new(inner: R, max_total: u64, max_token: u64) -> Self {
        Self {
            inner,
            buf: vec![0; CHUNK].into_boxed_slice(),
            pos: 0,
            filled: 0,
            total: 0,
            max_total,
            token: 0,
            max_token,
            newlines: 0,
            hit: None,
        }
    }

    /// Starts a new token: the token bound counts from here.
    pub(crate) fn start_token(&mut self) {
        self.token = 0;
    }

    /// The 1-based line of the next byte the parser will consume.
    pub(crate) fn line(&self) -> u64 {
        self.newlines + 1
    }

    /// The error for a failed read: the limit hit, if that is why, else the I/O error.
    pub(crate) fn read_error(&self, err: &io::Error) -> ReportError {
        let line = self.line();
        match self.hit {
            Some(ByteLimit::Total) => ReportError::Limit {
                line,
                message: format!(
                    "the file is larger than the limit of {} bytes",
                    self.max_total
                ),
            },
            Some(ByteLimit::Token) => ReportError::Limit {
                line,
                message: format!(
                    "a tag, text or declaration is longer than the limit of {} bytes",
                    self.max_token
                ),
            },
            None => ReportError::Io {
                line,
                message: err.to_string(),
            },
        }
    }

    /// Whether a read failed because of a byte bound.
    pub(crate) fn limit_hit(&self) -> bool {
        self.hit.is_some()
    }

    fn refuse(&mut self, which: ByteLimit) -> io::Error {
        self.hit = Some(which);
        io::Error::other("report size limit reached")
    }
}

impl<R: Read> BufRead for Metered<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.filled {
            let n = loop {
                match self.inner.read(&mut self.buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            };
            self.pos = 0;
            self.filled = n;
        }
        let available = self.filled - self.pos;
        if available == 0 {
            return Ok(&[]);
        }
        if self.total >= self.max_total {
            return Err(self.refuse(ByteLimit::Total));
        }
        if self.token >= self.max_token {
            return Err(self.refuse(ByteLimit::Token));
        }
        let allowed = (self.max_total - self.total).min(self.max_token - self.token);
        let len = usize::try_from(allowed).map_or(available, |a| a.min(available));
        Ok(&self.buf[self.pos..self.pos + len])
    }

    fn consume(&mut self, amt: usize) {
        let end = (self.pos + amt).min(self.filled);
        let consumed = &self.buf[self.pos..end];
        self.newlines += consumed.iter().filter(|&&b| b == b'\n').count() as u64;
        self.total += consumed.len() as u64;
        self.token += consumed.len() as u64;
        self.pos = end;
    }
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// The bytes of text a parse has kept so far, against `Limits::max_kept_bytes`.
pub(crate) struct KeptBytes {
    used: usize,
    max: usize,
}

impl KeptBytes {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            used: 0,
            max: limits.max_kept_bytes,
        }
    }

    /// Counts `bytes` more; `line` is where the item being kept is, for the error.
    pub(crate) fn take(&mut self, bytes: usize, line: u64) -> Result<(), ReportError> {
        match self.used.checked_add(bytes) {
            Some(used) if used <= self.max => {
                self.used = used;
                Ok(())
            }
            _ => Err(ReportError::Limit {
                line,
                message: format!(
                    "the kept names, messages and paths are larger than the limit of {} bytes",
                    self.max
                ),
            }),
        }
    }
}

/// `text` cut to at most `max` bytes at a character boundary.
pub(crate) fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_of_consumed_bytes_only() {
        let mut m = Metered::new(&b"a\nb\nc\n"[..], 100, 100);
        assert_eq!(m.fill_buf().map(<[u8]>::len).ok(), Some(6));
        m.consume(2);
        assert_eq!(m.line(), 2);
    }

    #[test]
    fn refuses_past_the_total_bound() {
        let mut m = Metered::new(&b"0123456789"[..], 4, 100);
        let mut out = Vec::new();
        assert!(m.read_to_end(&mut out).is_err());
        assert_eq!(out, b"0123");
        assert_eq!(m.hit, Some(ByteLimit::Total));
    }

    #[test]
    fn token_bound_resets() {
        let mut m = Metered::new(&b"0123456789"[..], 100, 3);
        let mut three = [0; 3];
        assert!(m.read_exact(&mut three).is_ok());
        assert!(m.read(&mut three).is_err());
        m.start_token();
        assert!(m.read_exact(&mut three).is_ok());
    }

    #[test]
    fn kept_bytes_refuse_past_the_limit() {
        let limits = Limits {
            max_kept_bytes: 10,
            ..Limits::default()
        };
        let mut kept = KeptBytes::new(&limits);
        assert!(kept.take(6, 1).is_ok());
        assert!(kept.take(4, 2).is_ok());
        let err = kept.take(1, 3).unwrap_err();
        assert!(matches!(err, ReportError::Limit { line: 3, .. }), "{err:?}");
        assert!(kept.take(usize::MAX, 4).is_err());
    }

    #[test]
    fn truncates_at_char_boundary() {
        assert_eq!(truncate("héllo".to_owned(), 2), "h");
        assert_eq!(truncate("abc".to_owned(), 5), "abc");
    }
}
