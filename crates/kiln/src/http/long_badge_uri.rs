//! Badge URLs too long for HTTP. hyper answers a request whose target is over 65,534 bytes with
//! `414 URI Too Long` (the limit is fixed in its parser and in `http::Uri`), and one whose head
//! outgrows its read buffer (about 400 KB) with `431`, then closes the connection; a README shows
//! either as a broken image. [`LongBadgeUri`] sits between hyper and the socket and, when hyper
//! answers so to a `GET` or `HEAD` of `/badges?…` over 64 KB long, sends the unknown badge
//! instead, with `Connection: close`. hyper alone frames requests: this only replaces that one
//! answer, after which hyper writes nothing more and closes the connection.
//!
//! Watching costs a copy of at most 24 bytes per read and one comparison per write, and
//! allocates nothing until an answer is replaced.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::SystemTime;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest request target hyper reads (its `MAX_URI_LEN`).
const HYPER_MAX_URI_LEN: usize = 65_534;
/// How hyper's answers to a request too long to parse begin: its target, or its whole head.
const TOO_LONG: [&[u8]; 2] = [b"HTTP/1.1 414 ", b"HTTP/1.1 431 "];
/// Bytes kept of a request's start: `HEAD /badges?` after a few blank lines (which HTTP/1.1
/// allows before a request, and hyper skips).
const REQUEST_START_LEN: usize = 24;

/// A connection's IO that answers a badge request hyper refuses as too long with the unknown
/// badge.
pub struct LongBadgeUri<S> {
    inner: S,
    /// The first bytes read since a response byte was last written: the start of the request
    /// being read (unless the client sent it before the previous answer was written: then it is
    /// not recognised, and hyper's answer stands).
    request_start: [u8; REQUEST_START_LEN],
    request_start_len: usize,
    /// Bytes read since a response byte was last written: a target over the limit needs more,
    /// and a short request refused for too many headers keeps its 431.
    read_since_write: usize,
    /// The answer sent in place of hyper's. hyper writes nothing after a 414 or 431 and closes;
    /// should it write anyway, that is dropped, so nothing follows the badge on the connection.
    replacement: Option<Replacement>,
}

struct Replacement {
    bytes: Vec<u8>,
    written: usize,
}

impl<S> LongBadgeUri<S> {
    pub fn new(inner: S) -> Self {
        LongBadgeUri {
            inner,
            request_start: [0; REQUEST_START_LEN],
            request_start_len: 0,
            read_since_write: 0,
            replacement: None,
        }
    }

    fn record_read(&mut self, bytes: &[u8]) {
        self.read_since_write = self.read_since_write.saturating_add(bytes.len());
        let kept = self.request_start_len;
        let n = bytes.len().min(REQUEST_START_LEN - kept);
        self.request_start[kept..kept + n].copy_from_slice(&bytes[..n]);
        self.request_start_len += n;
    }

    fn record_write(&mut self, written: usize) {
        if written > 0 {
            self.request_start_len = 0;
            self.read_since_write = 0;
        }
    }

    /// Whether hyper may be refusing a badge request for its length; false for every ordinary
    /// request, at the cost of one comparison.
    fn may_refuse(&self) -> bool {
        self.read_since_write > HYPER_MAX_URI_LEN && self.replacement.is_none()
    }

    /// Whether the answer hyper begins to write with `first` refuses a badge request for its
    /// length, and then whether that request is a `HEAD`.
    fn refused_badge_request(&self, first: &[u8]) -> Option<bool> {
        if !TOO_LONG.iter().any(|answer| first.starts_with(answer)) {
            return None;
        }
        let start = &self.request_start[..self.request_start_len];
        let blank = start
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        let start = &start[blank..];
        let (head, target) = if let Some(target) = start.strip_prefix(b"GET ") {
            (false, target)
        } else {
            (true, start.strip_prefix(b"HEAD ")?)
        };
        target.starts_with(b"/badges?").then_some(head)
    }

    fn replace(&mut self, head: bool) {
        tracing::debug!("a badge URL too long for HTTP gets the unknown badge");
        self.replacement = Some(Replacement {
            bytes: unknown_badge_answer(head),
            written: 0,
        });
    }
}

impl<S: AsyncWrite + Unpin> LongBadgeUri<S> {
    /// Writes what is left of the replacement, if any.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(replacement) = &mut self.replacement else {
            return Poll::Ready(Ok(()));
        };
        while let Some(rest) = replacement.bytes.get(replacement.written..)
            && !rest.is_empty()
        {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, rest))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            replacement.written += n;
        }
        Poll::Ready(Ok(()))
    }
}

/// The unknown badge as a whole HTTP/1.1 answer, the last on its connection.
fn unknown_badge_answer(head: bool) -> Vec<u8> {
    let response = kiln_server::badges::unknown_badge();
    let status = response.status();
    let body = response.body();
    let mut answer = Vec::with_capacity(1024 + body.len());
    answer.extend_from_slice(b"HTTP/1.1 ");
    answer.extend_from_slice(status.as_str().as_bytes());
    answer.push(b' ');
    answer.extend_from_slice(status.canonical_reason().unwrap_or_default().as_bytes());
    answer.extend_from_slice(b"\r\n");
    for (name, value) in response.headers() {
        answer.extend_from_slice(name.as_str().as_bytes());
        answer.extend_from_slice(b": ");
        answer.extend_from_slice(value.as_bytes());
        answer.extend_from_slice(b"\r\n");
    }
    let framing = format!(
        "content-length: {}\r\nconnection: close\r\ndate: {}\r\n\r\n",
        body.len(),
        httpdate::fmt_http_date(SystemTime::now())
    );
    answer.extend_from_slice(framing.as_bytes());
    if !head {
        answer.extend_from_slice(body);
    }
    answer
}

impl<S: AsyncRead + Unpin> AsyncRead for LongBadgeUri<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        this.record_read(buf.filled().get(before..).unwrap_or_default());
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for LongBadgeUri<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.may_refuse()
            && let Some(head) = this.refused_badge_request(buf)
        {
            this.replace(head);
        }
        if this.replacement.is_some() {
            ready!(this.poll_replacement(cx))?;
            return Poll::Ready(Ok(buf.len()));
        }
        let written = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        this.record_write(written);
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.may_refuse()
            && let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && let Some(head) = this.refused_badge_request(first)
        {
            this.replace(head);
        }
        if this.replacement.is_some() {
            ready!(this.poll_replacement(cx))?;
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        let written = ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, bufs))?;
        this.record_write(written);
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    const REFUSED: &[u8] =
        b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
    const ANSWERED: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

    fn long_request(start: &str) -> Vec<u8> {
        format!("{start}{} HTTP/1.1\r\n\r\n", "a".repeat(70_000)).into_bytes()
    }

    /// What a client gets when the server reads each request and writes each answer in turn
    /// through a [`LongBadgeUri`], the last answer vectored when `vectored`.
    async fn exchange(turns: &[(&[u8], &[u8])], vectored: bool) -> Vec<u8> {
        let (client, server) = duplex(1 << 20);
        let (mut from_server, mut to_server) = tokio::io::split(client);
        let mut io = LongBadgeUri::new(server);
        for (index, (request, answer)) in turns.iter().enumerate() {
            to_server.write_all(request).await.unwrap();
            io.read_exact(&mut vec![0; request.len()]).await.unwrap();
            if vectored && index == turns.len() - 1 {
                let slices = [io::IoSlice::new(b""), io::IoSlice::new(answer)];
                let written = io.write_vectored(&slices).await.unwrap();
                assert_eq!(written, answer.len());
            } else {
                io.write_all(answer).await.unwrap();
            }
        }
        io.shutdown().await.unwrap();
        drop(io);
        let mut received = Vec::new();
        from_server.read_to_end(&mut received).await.unwrap();
        received
    }

    fn is_unknown_badge(answer: &[u8], head: bool) -> bool {
        let badge = kiln_server::badges::unknown_badge();
        let (fields, body) = match answer.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(end) => (&answer[..end + 4], &answer[end + 4..]),
            None => return false,
        };
        let fields = String::from_utf8_lossy(fields);
        fields.starts_with("HTTP/1.1 200 OK\r\n")
            && fields.contains("\r\nconnection: close\r\n")
            && fields.contains(&format!("\r\ncontent-length: {}\r\n", badge.body().len()))
            && badge.headers().iter().all(|(name, value)| {
                fields.contains(&format!("\r\n{name}: {}\r\n", value.to_str().unwrap()))
            })
            && body == if head { &b""[..] } else { &badge.body()[..] }
    }

    #[tokio::test]
    async fn a_badge_request_refused_for_its_length_gets_the_unknown_badge() {
        let get = long_request("GET /badges?uuid=");
        let head = long_request("HEAD /badges?");
        let after_blank_lines = long_request("\r\n\r\nGET /badges?");
        let too_large = b"HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n";
        for (request, answer, is_head) in [
            (&get, REFUSED, false),
            (&head, REFUSED, true),
            (&after_blank_lines, REFUSED, false),
            (&get, &too_large[..], false),
        ] {
            for vectored in [false, true] {
                let received = exchange(&[(request, answer)], vectored).await;
                assert!(
                    is_unknown_badge(&received, is_head),
                    "{}",
                    String::from_utf8_lossy(&received)
                );
            }
        }
        // After an answer on the same connection, too; and nothing hyper writes after it goes out.
        let short = b"GET /healthz HTTP/1.1\r\n\r\n";
        let received = exchange(
            &[(short, ANSWERED), (&get, REFUSED), (b"", ANSWERED)],
            false,
        )
        .await;
        let rest = received.strip_prefix(ANSWERED).unwrap();
        assert!(is_unknown_badge(rest, false), "{rest:?}");
    }

    #[tokio::test]
    async fn every_other_answer_goes_out_as_hyper_wrote_it() {
        let get = long_request("GET /badges?");
        let cases: [&[(&[u8], &[u8])]; 7] = [
            &[(&long_request("GET /healthz?"), REFUSED)],
            &[(&long_request("GET /badgesx?"), REFUSED)],
            &[(&long_request("POST /badges?"), REFUSED)],
            &[(&long_request("GET /x/badges?"), REFUSED)],
            // A badge request too short to be refused for its length (too many headers).
            &[(b"GET /badges?uuid=a HTTP/1.1\r\n\r\n", REFUSED)],
            // The long badge request was answered: the next one is not a badge request.
            &[(&get, ANSWERED), (&long_request("GET /x?"), REFUSED)],
            // An answer that is no refusal.
            &[(&get, ANSWERED)],
        ];
        for turns in cases {
            for vectored in [false, true] {
                let expected: Vec<u8> = turns.iter().flat_map(|(_, a)| a.to_vec()).collect();
                assert_eq!(exchange(turns, vectored).await, expected);
            }
        }
    }
}
