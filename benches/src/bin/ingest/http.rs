//! A minimal HTTP/1.1 client for WHIP's two requests (POST the offer, DELETE the session): one
//! request per connection (`Connection: close`), each bounded to 10 s.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, bail};

/// Every wait on the server.
const STEP: Duration = Duration::from_secs(10);

/// A response, read to its end.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body (as text: an SDP answer, or a reason).
    pub body: String,
}

impl Response {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `METHOD path` at `addr`, with `body` (its content type and text) if any.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<(&str, &str)>,
) -> anyhow::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, STEP)
        .with_context(|| format!("connect to HTTP {addr}"))?;
    stream.set_read_timeout(Some(STEP))?;
    stream.set_write_timeout(Some(STEP))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    let text = match body {
        Some((kind, text)) => {
            head.push_str(&format!(
                "Content-Type: {kind}\r\nContent-Length: {}\r\n",
                text.len()
            ));
            text
        }
        None => "",
    };
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(text.as_bytes())?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .with_context(|| format!("{method} {path}: no whole response within 10 s"))?;
    parse(&raw).with_context(|| format!("{method} {path}"))
}

fn parse(raw: &[u8]) -> anyhow::Result<Response> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("a response without the end of its head")?;
    let head = std::str::from_utf8(&raw[..end]).context("a response head not in UTF-8")?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .context("a response without a status")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut response = Response {
        status,
        headers,
        body: String::new(),
    };
    if response
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        bail!("a chunked response (this client reads Content-Length bodies only)");
    }
    let rest = &raw[end + 4..];
    let len = response
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(rest.len())
        .min(rest.len());
    response.body = String::from_utf8_lossy(&rest[..len]).into_owned();
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_answer() {
        let raw = b"HTTP/1.1 201 Created\r\ncontent-type: application/sdp\r\n\
                    Location: /whip-session/abc\r\ncontent-length: 5\r\n\r\nv=0\r\n";
        let r = parse(raw).expect("parse");
        assert_eq!(r.status, 201);
        assert_eq!(r.header("location"), Some("/whip-session/abc"));
        assert_eq!(r.body, "v=0\r\n");
    }
}
