//! The streaming XML layer every XML format shares: quick-xml over a [`Metered`] reader, one
//! token at a time, never the whole document. It adds what the formats need and quick-xml leaves
//! to the caller: UTF-8 checks, a depth bound, entity handling without a DTD, and line numbers.
//!
//! Entities: a DOCTYPE is never processed (its size is bounded like any token). One that
//! declares entities (`<!ENTITY`, the stuff of "billion laughs" bombs) is refused: no runner
//! writes one, so it is hostile or broken, and its report is incomplete. A plain DOCTYPE
//! (JaCoCo names its DTD) is skipped. The five predefined entities and character references
//! are resolved; any other `&name;` stays as its literal text.

use std::io::Read;

use quick_xml::events::{BytesStart, Event};

use crate::ReportError;
use crate::limits::{Limits, Metered, truncate};

/// Element names longer than this are refused: quick-xml keeps the names of open elements for
/// end-tag checks, so this and `max_depth` bound that memory.
const MAX_NAME_BYTES: usize = 1024;

/// One step through the document. An empty element `<a/>` comes as `Open` then `Close`.
#[derive(Debug)]
pub(crate) enum Node {
    Open { name: String, attrs: Attrs },
    Close,
    Text(String),
    Eof,
}

/// The attributes of one element: local names (prefix dropped) and unescaped values.
#[derive(Debug, Default)]
pub(crate) struct Attrs(Vec<(String, String)>);

impl Attrs {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The attribute, or "" when absent.
    pub(crate) fn str(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }
}

pub(crate) struct XmlStream<'l, R: Read> {
    reader: quick_xml::Reader<Metered<R>>,
    buf: Vec<u8>,
    depth: usize,
    pending_close: bool,
    seen_root: bool,
    limits: &'l Limits,
}

impl<'l, R: Read> XmlStream<'l, R> {
    pub(crate) fn new(input: R, limits: &'l Limits) -> Self {
        let metered = Metered::new(input, limits.max_bytes, limits.max_token_bytes);
        let mut reader = quick_xml::Reader::from_reader(metered);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        Self {
            reader,
            buf: Vec::new(),
            depth: 0,
            pending_close: false,
            seen_root: false,
            limits,
        }
    }

    pub(crate) fn limits(&self) -> &'l Limits {
        self.limits
    }

    /// Depth of the element last opened (the root is 1); after `Close`, of its parent.
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    pub(crate) fn line(&self) -> u64 {
        self.reader.get_ref().line()
    }

    pub(crate) fn invalid(&self, message: impl Into<String>) -> ReportError {
        ReportError::Invalid {
            line: self.line(),
            message: message.into(),
        }
    }

    pub(crate) fn limit(&self, message: impl Into<String>) -> ReportError {
        ReportError::Limit {
            line: self.line(),
            message: message.into(),
        }
    }

    fn syntax(&self, message: impl Into<String>) -> ReportError {
        ReportError::Syntax {
            line: self.line(),
            message: message.into(),
        }
    }

    /// The next node that matters: declarations, comments, processing instructions and the
    /// DOCTYPE are skipped.
    pub(crate) fn next(&mut self) -> Result<Node, ReportError> {
        if self.pending_close {
            self.pending_close = false;
            self.depth -= 1;
            return Ok(Node::Close);
        }
        // The events borrow the buffer, so it is moved out of `self` while they live.
        let mut buf = std::mem::take(&mut self.buf);
        let node = self.next_into(&mut buf);
        self.buf = buf;
        node
    }

    fn next_into(&mut self, buf: &mut Vec<u8>) -> Result<Node, ReportError> {
        loop {
            buf.clear();
            self.reader.get_mut().start_token();
            let event = match self.reader.read_event_into(buf) {
                Ok(event) => event,
                Err(quick_xml::Error::Io(err)) => {
                    return Err(self.reader.get_ref().read_error(&err));
                }
                Err(err) => {
                    let metered = self.reader.get_ref();
                    if metered.limit_hit() {
                        let io = std::io::Error::other("limit");
                        return Err(metered.read_error(&io));
                    }
                    return Err(self.syntax(format!("malformed XML: {err}")));
                }
            };
            let node = match event {
                Event::Start(start) => self.open(&start, false)?,
                Event::Empty(start) => self.open(&start, true)?,
                Event::End(_) => {
                    self.depth -= 1;
                    Node::Close
                }
                Event::Text(text) => Node::Text(utf8(&text, self)?.to_owned()),
                Event::CData(text) => Node::Text(utf8(&text, self)?.to_owned()),
                Event::GeneralRef(reference) => {
                    Node::Text(resolve_reference(utf8(&reference, self)?))
                }
                Event::Eof if self.depth > 0 => {
                    return Err(self.syntax("the file ends inside an element"));
                }
                Event::Eof if !self.seen_root => return Err(self.syntax("no root element")),
                Event::Eof => Node::Eof,
                Event::DocType(doctype) if contains(&doctype, b"<!ENTITY") => {
                    return Err(self.invalid(
                        "the DOCTYPE declares entities, which report files never need: refused",
                    ));
                }
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => continue,
            };
            return Ok(node);
        }
    }

    fn open(&mut self, start: &BytesStart<'_>, empty: bool) -> Result<Node, ReportError> {
        if self.depth == 0 && self.seen_root {
            return Err(self.syntax("a second root element"));
        }
        self.seen_root = true;
        if start.name().as_ref().len() > MAX_NAME_BYTES {
            return Err(self.limit(format!(
                "an element name is longer than {MAX_NAME_BYTES} bytes"
            )));
        }
        if self.depth >= self.limits.max_depth {
            return Err(self.limit(format!(
                "elements are nested deeper than the limit of {}",
                self.limits.max_depth
            )));
        }
        let name = utf8(start.local_name().as_ref(), self)?.to_owned();
        let mut attrs = Vec::new();
        for attr in start.attributes() {
            let attr = attr.map_err(|e| self.syntax(format!("malformed attribute: {e}")))?;
            let key = utf8(attr.key.local_name().as_ref(), self)?.to_owned();
            let value = unescape(utf8(&attr.value, self)?);
            attrs.push((key, value));
        }
        self.depth += 1;
        self.pending_close = empty;
        Ok(Node::Open {
            name,
            attrs: Attrs(attrs),
        })
    }

    /// The text inside the element just opened, its descendants' included, up to `max` bytes
    /// (the rest is read and dropped); returns after the element's `Close`.
    pub(crate) fn text_of_element(&mut self, max: usize) -> Result<String, ReportError> {
        let until = self.depth - 1;
        let mut text = String::new();
        loop {
            match self.next()? {
                Node::Text(t) if text.len() < max => text.push_str(&t),
                Node::Close if self.depth == until => return Ok(truncate(text, max)),
                _ => {}
            }
        }
    }

    /// Reads to the end of the element just opened, ignoring its content.
    pub(crate) fn skip_element(&mut self) -> Result<(), ReportError> {
        self.text_of_element(0).map(drop)
    }

    /// Checks the root element's name; `found` is the first `Open`.
    pub(crate) fn expect_root(&self, found: &str, expected: &[&str]) -> Result<(), ReportError> {
        if expected.contains(&found) {
            return Ok(());
        }
        let expected: Vec<String> = expected.iter().map(|e| format!("<{e}>")).collect();
        Err(self.invalid(format!(
            "the root element is <{found}>, expected {}",
            expected.join(" or ")
        )))
    }
}

fn utf8<'b, R: Read>(bytes: &'b [u8], at: &XmlStream<'_, R>) -> Result<&'b str, ReportError> {
    std::str::from_utf8(bytes).map_err(|_| at.syntax("invalid UTF-8"))
}

/// The text of `&name;`: predefined entities and character references resolved, anything else
/// (entities a DTD would declare) kept literally.
fn resolve_reference(name: &str) -> String {
    let resolved = match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => name.strip_prefix('#').and_then(|num| {
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => num.parse().ok(),
            };
            code.and_then(char::from_u32)
        }),
    };
    resolved.map_or_else(|| format!("&{name};"), String::from)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// An attribute value with its references resolved like [`resolve_reference`].
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        match after.find(';') {
            Some(semi) if semi <= 32 => {
                out.push_str(&resolve_reference(&after[..semi]));
                rest = &after[semi + 1..];
            }
            _ => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Seconds as text ("0.25", "12") to nanoseconds; unreadable, negative or non-finite is 0.
pub(crate) fn seconds_to_nanos(text: &str) -> u64 {
    let seconds: f64 = text.trim().replace(',', "").parse().unwrap_or(0.0);
    if seconds.is_finite() && seconds > 0.0 {
        // `as` saturates: absurd durations become u64::MAX, not a panic.
        (seconds * 1e9) as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(xml: &str) -> Result<Vec<String>, ReportError> {
        let limits = Limits::default();
        let mut s = XmlStream::new(xml.as_bytes(), &limits);
        let mut out = Vec::new();
        loop {
            match s.next()? {
                Node::Open { name, attrs } => out.push(format!("<{name} {attrs:?}>")),
                Node::Close => out.push("</>".into()),
                Node::Text(t) => out.push(t),
                Node::Eof => return Ok(out),
            }
        }
    }

    #[test]
    fn resolves_predefined_and_keeps_others_literal() {
        let got = nodes("<a x='&lt;&#65;&foo;&'>&amp;&#x42;&bar;</a>").unwrap();
        assert_eq!(
            got,
            vec![
                r#"<a Attrs([("x", "<A&foo;&")])>"#.to_owned(),
                "&".into(),
                "B".into(),
                "&bar;".into(),
                "</>".into()
            ]
        );
    }

    #[test]
    fn empty_element_opens_and_closes() {
        assert_eq!(nodes("<a><b/></a>").unwrap().len(), 4);
    }

    #[test]
    fn errors_carry_lines() {
        let err = nodes("<a>\n\n<b></c></a>").unwrap_err();
        assert!(
            matches!(err, ReportError::Syntax { line: 3, .. }),
            "{err:?}"
        );
        let err = nodes("<a>\n<b>").unwrap_err();
        assert!(err.message().contains("ends inside"), "{err:?}");
        assert!(nodes("").is_err());
    }

    #[test]
    fn seconds() {
        assert_eq!(seconds_to_nanos("0.5"), 500_000_000);
        assert_eq!(seconds_to_nanos("1,000"), 1_000_000_000_000);
        assert_eq!(seconds_to_nanos("-1"), 0);
        assert_eq!(seconds_to_nanos("NaN"), 0);
        assert_eq!(seconds_to_nanos("1e300"), u64::MAX);
    }
}
