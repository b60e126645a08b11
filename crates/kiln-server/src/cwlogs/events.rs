//! A build log as CloudWatch Logs events (docs/cloudwatch-logs.md): each line is an event
//! (a line longer than [`MAX_EVENT_BYTES`] is cut into events of that size; empty lines are
//! none, as CloudWatch holds no empty event). Kiln's own lines carry their time,
//! `[Container] YYYY/MM/DD HH:MM:SS.ffffff` (UTC); every other line takes the time of the
//! nearest Kiln line before it. Tokens are the byte offset where the next read starts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kiln_domain::{ApiError, ErrorKind};

/// The longest event: CloudWatch's limit on one event's message.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// Far longer than any token Kiln hands out.
const MAX_TOKEN_LEN: usize = 512;

/// One event: its message, its time and the bytes of the log it was made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub start: u64,
    pub end: u64,
    pub timestamp: i64,
    pub message: String,
}

/// The time, in epoch milliseconds, of one of Kiln's own lines.
pub fn kiln_timestamp(line: &[u8]) -> Option<i64> {
    let rest = line.strip_prefix(b"[Container] ")?;
    let text = std::str::from_utf8(rest.get(..26)?).ok()?;
    let field = |range: std::ops::Range<usize>| text.get(range)?.parse::<u32>().ok();
    let separators = [
        (4, '/'),
        (7, '/'),
        (10, ' '),
        (13, ':'),
        (16, ':'),
        (19, '.'),
    ];
    if separators
        .iter()
        .any(|&(at, c)| text.as_bytes().get(at) != Some(&(c as u8)))
    {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(field(5..7)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::try_from(field(0..4)?).ok()?,
        month,
        field(8..10)? as u8,
    )
    .ok()?;
    let clock = time::Time::from_hms_micro(
        u8::try_from(field(11..13)?).ok()?,
        u8::try_from(field(14..16)?).ok()?,
        u8::try_from(field(17..19)?).ok()?,
        field(20..26)?,
    )
    .ok()?;
    let at = date.with_time(clock).assume_utc();
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Cuts a log into events, from a position whose preceding Kiln time is known.
#[derive(Debug, Clone)]
pub struct Splitter {
    /// Where the next event starts.
    pub position: u64,
    /// The time of the nearest Kiln line before `position`.
    pub timestamp: i64,
}

impl Splitter {
    pub fn new(position: u64, timestamp: i64) -> Self {
        Splitter {
            position,
            timestamp,
        }
    }

    /// The next event of `bytes` (which start at `self.position`), and how many bytes it
    /// took; `None` when `bytes` hold no whole event. `at_end` says the bytes end the log for
    /// good, so a last line without a newline is an event too; a growing log's partial line
    /// waits for its end. An empty line is taken with no event.
    pub fn next(&mut self, bytes: &[u8], at_end: bool) -> Option<(usize, Option<Event>)> {
        let window = &bytes[..bytes.len().min(MAX_EVENT_BYTES)];
        let (taken, line) = match window.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, &window[..i]),
            None if window.len() == MAX_EVENT_BYTES => (window.len(), window),
            None if at_end && !window.is_empty() => (window.len(), window),
            None => return None,
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let start = self.position;
        self.position += taken as u64;
        if line.is_empty() {
            return Some((taken, None));
        }
        if let Some(at) = kiln_timestamp(line) {
            self.timestamp = at;
        }
        let event = Event {
            start,
            end: self.position,
            timestamp: self.timestamp,
            message: String::from_utf8_lossy(line).into_owned(),
        };
        Some((taken, Some(event)))
    }
}

/// The start of the last of Kiln's lines in `bytes` (read from log offset `from`), and its
/// time. Only lines that start inside `bytes` count: the first partial line does not, unless
/// `bytes` start the log.
pub fn last_kiln_time(bytes: &[u8], from: u64) -> Option<i64> {
    let starts = bytes
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'\n')
        .map(|(i, _)| i + 1);
    let starts: Vec<usize> = (from == 0).then_some(0).into_iter().chain(starts).collect();
    starts
        .iter()
        .rev()
        .find_map(|&start| kiln_timestamp(&bytes[start..]))
}

/// Which way a `GetLogEvents` token reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

/// `f/…` or `b/…`: the direction, then the offset, bound to the stream it was made for.
pub fn encode_token(direction: Direction, stream: &str, offset: u64) -> String {
    let prefix = match direction {
        Direction::Forward => "f/",
        Direction::Backward => "b/",
    };
    let body = serde_json::to_string(&(stream, offset)).unwrap_or_default();
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(body))
}

/// A token's direction and offset; anything that Kiln did not make for `stream` is refused.
pub fn decode_token(token: &str, stream: &str) -> Result<(Direction, u64), ApiError> {
    let invalid = || {
        ApiError::new(
            ErrorKind::InvalidParameter,
            "The specified nextToken is invalid.",
        )
    };
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid());
    }
    let (direction, body) = if let Some(body) = token.strip_prefix("f/") {
        (Direction::Forward, body)
    } else if let Some(body) = token.strip_prefix("b/") {
        (Direction::Backward, body)
    } else {
        return Err(invalid());
    };
    let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| invalid())?;
    let (of, offset): (String, u64) = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if of != stream {
        return Err(invalid());
    }
    Ok((direction, offset))
}

/// CloudWatch's simplest filter pattern: terms that must all appear (case-sensitive), a term
/// in double quotes may hold spaces. Patterns of other kinds (`{ $.x = … }`, `[a, b]`) are
/// refused rather than misread.
pub fn parse_terms(pattern: &str) -> Result<Vec<String>, ApiError> {
    let trimmed = pattern.trim();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return Err(ApiError::new(
            ErrorKind::InvalidParameter,
            "Kiln supports filter patterns of plain terms only, not JSON or space-delimited patterns",
        ));
    }
    let mut terms = Vec::new();
    let mut rest = trimmed;
    while !rest.is_empty() {
        let (term, after) = match rest.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').unwrap_or((quoted, "")),
            None => rest.split_once(char::is_whitespace).unwrap_or((rest, "")),
        };
        if !term.is_empty() {
            terms.push(term.to_owned());
        }
        rest = after.trim_start();
    }
    Ok(terms)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Test code: a failed step fails the test.
mod tests {
    use super::*;

    const T0: i64 = 1_796_040_000_123; // 2026/11/30 12:00:00.123456

    fn split_all(bytes: &[u8], at_end: bool) -> (Vec<Event>, u64) {
        let mut splitter = Splitter::new(0, 7);
        let mut events = Vec::new();
        let mut rest = bytes;
        while let Some((taken, event)) = splitter.next(rest, at_end) {
            events.extend(event);
            rest = &rest[taken..];
        }
        (events, splitter.position)
    }

    #[test]
    fn kiln_lines_carry_their_time() {
        assert_eq!(
            kiln_timestamp(b"[Container] 2026/11/30 12:00:00.123456 Entering phase BUILD"),
            Some(T0)
        );
        for line in [
            &b"[Container] 2026/13/30 12:00:00.123456 x"[..],
            b"[Container] 2026/11/30 12:00:00",
            b"[Container] 2026-11-30 12:00:00.123456 x",
            b"Container] 2026/11/30 12:00:00.123456 x",
            b"  [Container] 2026/11/30 12:00:00.123456 x",
        ] {
            assert_eq!(
                kiln_timestamp(line),
                None,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn other_lines_take_the_time_of_the_kiln_line_before() {
        let log = b"before\n[Container] 2026/11/30 12:00:00.123456 start\nout\r\n\nlast";
        let (events, end) = split_all(log, false);
        let seen: Vec<(&str, i64)> = events
            .iter()
            .map(|e| (e.message.as_str(), e.timestamp))
            .collect();
        assert_eq!(
            seen,
            [
                ("before", 7),
                ("[Container] 2026/11/30 12:00:00.123456 start", T0),
                ("out", T0)
            ]
        );
        assert_eq!(end, log.len() as u64 - 4, "the partial line waits");
        assert_eq!(events[2].start, 52);
        let (events, end) = split_all(log, true);
        assert_eq!(events.last().unwrap().message, "last");
        assert_eq!(end, log.len() as u64);
    }

    #[test]
    fn long_lines_are_cut() {
        let mut log = vec![b'x'; MAX_EVENT_BYTES * 2 + 10];
        log.push(b'\n');
        let (events, _) = split_all(&log, false);
        let sizes: Vec<usize> = events.iter().map(|e| e.message.len()).collect();
        assert_eq!(sizes, [MAX_EVENT_BYTES, MAX_EVENT_BYTES, 10]);
    }

    #[test]
    fn last_kiln_time_finds_whole_lines_only() {
        let bytes =
            b"ner] 2026/11/30 12:00:00.123456 x\n[Container] 2026/11/30 12:00:00.123456 y\nz\n";
        assert_eq!(last_kiln_time(bytes, 5), Some(T0));
        assert_eq!(last_kiln_time(&bytes[..34], 5), None);
        assert_eq!(last_kiln_time(&bytes[34..], 0), Some(T0));
    }

    #[test]
    fn tokens_round_trip_and_refuse_garbage() {
        let token = encode_token(Direction::Forward, "s", 42);
        assert!(token.starts_with("f/"));
        assert_eq!(decode_token(&token, "s").unwrap(), (Direction::Forward, 42));
        let back = encode_token(Direction::Backward, "s", 0);
        assert_eq!(decode_token(&back, "s").unwrap(), (Direction::Backward, 0));
        for bad in [
            "garbage".to_owned(),
            "f/garbage!".to_owned(),
            "f/".to_owned(),
            format!("x{token}"),
            format!("f/{}", "A".repeat(600)),
            encode_token(Direction::Forward, "other", 42),
        ] {
            let err = decode_token(&bad, "s").unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidParameter, "{bad}");
        }
    }

    #[test]
    fn filter_terms() {
        assert_eq!(parse_terms(" ERROR  build ").unwrap(), ["ERROR", "build"]);
        assert_eq!(
            parse_terms("\"exit status\" 1").unwrap(),
            ["exit status", "1"]
        );
        assert!(parse_terms("").unwrap().is_empty());
        assert!(parse_terms("{ $.a = 1 }").is_err());
        assert!(parse_terms("[ip, user]").is_err());
    }
}
