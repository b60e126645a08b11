//! HTTP/1.1 over a plain TCP connection, for what HTTP clients will not send (request targets
//! past 64 KB, pipelined requests) and to see exactly how the server frames its answers.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::{HttpReply, KilnServer};

/// How long a read may wait for the server.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// One keep-alive connection to the server.
pub struct RawHttp {
    stream: TcpStream,
    /// Bytes read but not yet consumed as a response.
    unread: Vec<u8>,
}

impl RawHttp {
    pub fn connect(server: &KilnServer) -> RawHttp {
        let addr = server.url().trim_start_matches("http://");
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting {addr}: {e}"));
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        RawHttp {
            stream,
            unread: Vec::new(),
        }
    }

    /// Sends `bytes` as they are: one request, part of one, or several.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("sending a request");
    }

    /// Reads more from the server; false at the end of the connection.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.unread.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => true,
            // A server that closes with part of a request unread resets the connection.
            Err(e) if e.kind() == ErrorKind::ConnectionReset => false,
            Err(e) => panic!("reading a response: {e}"),
        }
    }

    /// Takes exactly `n` bytes of the stream.
    fn take(&mut self, n: usize) -> Vec<u8> {
        while self.unread.len() < n {
            assert!(
                self.fill(),
                "the connection ended {} bytes short",
                n - self.unread.len()
            );
        }
        self.unread.drain(..n).collect()
    }

    /// Takes one line, without its CRLF.
    fn line(&mut self) -> String {
        loop {
            if let Some(end) = self.unread.windows(2).position(|w| w == b"\r\n") {
                let line = self.take(end + 2);
                return String::from_utf8_lossy(&line[..end]).into_owned();
            }
            assert!(self.fill(), "the connection ended inside a line");
        }
    }

    /// Reads one response, framed as its headers say; one to a `HEAD` has no body whatever its
    /// `Content-Length`.
    pub fn response(&mut self, to_head: bool) -> HttpReply {
        let status_line = self.line();
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not a status line: {status_line:?}"));
        let mut headers = BTreeMap::new();
        loop {
            let line = self.line();
            if line.is_empty() {
                break;
            }
            let (name, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("not a header: {line:?}"));
            let previous = headers.insert(name.to_ascii_lowercase(), value.trim().to_string());
            assert_eq!(previous, None, "{name} sent twice");
        }
        let body = if to_head || status == 204 || status == 304 || status < 200 {
            Vec::new()
        } else if headers.get("transfer-encoding").map(String::as_str) == Some("chunked") {
            let mut body = Vec::new();
            loop {
                let size_line = self.line();
                let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16)
                    .unwrap_or_else(|e| panic!("chunk size {size_line:?}: {e}"));
                body.extend(self.take(size));
                assert_eq!(self.line(), "", "a chunk ends with CRLF");
                if size == 0 {
                    break;
                }
            }
            body
        } else {
            let length = headers
                .get("content-length")
                .map(|l| l.parse().expect("a numeric Content-Length"))
                .unwrap_or_else(|| panic!("no length for the body of {status_line}"));
            self.take(length)
        };
        HttpReply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// Whatever the server still sends until it closes the connection.
    pub fn rest_until_closed(&mut self) -> Vec<u8> {
        while self.fill() {}
        std::mem::take(&mut self.unread)
    }
}
