//! The connection under the HTTP layer, seen only to give problem bodies to the refusals the
//! HTTP/1 parser makes itself. A malformed request line or header (400), a head larger than
//! the parser takes (431), a head that does not arrive in time (408): actix-http answers these
//! before any middleware or route runs, with an empty body, and then closes the connection.
//!
//! Such a refusal is recognised in what the server writes: it is the last thing written on the
//! connection, it ends the buffer being written, and it is a head of an error status with
//! `content-length: 0` and no header but `connection` and `date`. No response of the app looks
//! like that: the app's error responses all carry a problem body (see `middleware`) and its own
//! headers. Once a connection switched protocols (a websocket), nothing is looked at anymore.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use actix_web::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{ApiError, PROBLEM_JSON};

/// The longest refusal head looked for; a status line, three short headers and a date.
const MAX_HEAD: usize = 256;

/// A connection whose HTTP/1 refusals are given problem bodies.
pub struct ProblemIo<T> {
    io: T,
    /// A problem response written in place of a refusal, and how much of it went out.
    out: Vec<u8>,
    sent: usize,
    /// Switched to another protocol: its bytes are not HTTP and are passed through untouched.
    upgraded: bool,
}

impl<T> ProblemIo<T> {
    pub fn new(io: T) -> Self {
        Self {
            io,
            out: Vec::new(),
            sent: 0,
            upgraded: false,
        }
    }
}

impl<T: AsyncWrite + Unpin> ProblemIo<T> {
    /// Writes what is left of a replacement response.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.out.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.out.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

/// Where in `buf` a refusal head starts, and the response to send instead of it.
fn refusal(buf: &[u8]) -> Option<(usize, Vec<u8>)> {
    if !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let tail_from = buf.len().saturating_sub(MAX_HEAD);
    let tail = &buf[tail_from..];
    let at = memchr::memmem::rfind(tail, b"HTTP/1.1 ")?;
    let head = std::str::from_utf8(&tail[at..]).ok()?;
    let mut lines = head.strip_suffix("\r\n\r\n")?.split("\r\n");
    let status_line = lines.next()?;
    let code: u16 = status_line.get(9..12)?.parse().ok()?;
    let status = StatusCode::from_u16(code).ok()?;
    if !(status.is_client_error() || status.is_server_error()) {
        return None;
    }
    let mut empty = false;
    let mut kept = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(": ")?;
        match name {
            "content-length" if value == "0" => empty = true,
            "connection" | "date" => kept.push(line),
            _ => return None,
        }
    }
    if !empty {
        return None;
    }
    let body = serde_json::to_vec(&ApiError::Refused(status).problem()).ok()?;
    let mut out = format!(
        "{status_line}\r\ncontent-type: {PROBLEM_JSON}\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nx-content-type-options: nosniff\r\n",
        body.len()
    );
    for line in kept {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(&body);
    Some((tail_from + at, out))
}

impl<T: AsyncRead + Unpin> AsyncRead for ProblemIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProblemIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        if this.upgraded {
            return Pin::new(&mut this.io).poll_write(cx, buf);
        }
        if memchr::memmem::find(buf, b"HTTP/1.1 101 ").is_some() {
            this.upgraded = true;
            return Pin::new(&mut this.io).poll_write(cx, buf);
        }
        match refusal(buf) {
            // What comes before the refusal goes out first, as it is.
            Some((at, _)) if at > 0 => Pin::new(&mut this.io).poll_write(cx, &buf[..at]),
            Some((_, out)) => {
                tracing::info!(
                    status = %String::from_utf8_lossy(&buf[9..12.min(buf.len())]),
                    "request refused by the HTTP parser"
                );
                this.out = out;
                this.sent = 0;
                // The refusal counts as written; its replacement goes out now or on the next
                // write, flush or shutdown.
                if let Poll::Ready(Err(e)) = this.drain(cx) {
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(buf.len()))
            }
            None => Pin::new(&mut this.io).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = "date: Sat, 05 Dec 2026 15:00:00 GMT";

    #[test]
    fn an_empty_refusal_at_the_end_gets_a_problem_body() {
        let head = format!(
            "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n{DATE}\r\n\r\n"
        );
        let before = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec();
        let mut buf = before.clone();
        buf.extend_from_slice(head.as_bytes());
        let Some((at, out)) = refusal(&buf) else {
            panic!("not recognised")
        };
        assert_eq!(at, before.len());
        let out = String::from_utf8(out).unwrap_or_default();
        let (head, body) = out.split_once("\r\n\r\n").unwrap_or_default();
        assert!(head.starts_with("HTTP/1.1 431 "));
        assert!(head.contains("content-type: application/problem+json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(head.contains("connection: close") && head.contains(DATE));
        let p: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        assert_eq!(p["status"], 431);
        assert_eq!(p["type"], "/problems/headers-too-large");
    }

    #[test]
    fn responses_of_the_app_are_left_alone() {
        for buf in [
            // A body, other headers, a success, or not at the end.
            format!("HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n{DATE}\r\n\r\n"),
            format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-request-id: 1\r\n{DATE}\r\n\r\n"
            ),
            format!("HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n{DATE}\r\n\r\n"),
            format!("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n{DATE}\r\n\r\nmore"),
            "no http here\r\n\r\n".to_owned(),
        ] {
            assert!(refusal(buf.as_bytes()).is_none(), "{buf}");
        }
    }
}
