//! Websocket connections without the HTTP/1 dispatcher's buffers.
//!
//! actix-http's HTTP/1 dispatcher keeps an 8 KiB read buffer and an 8 KiB write buffer for every
//! connection as long as it lives. A websocket streamed through the dispatcher keeps both while
//! it sits idle, which was most of what an idle phone or console tab cost the server. So
//! websocket upgrades are handed here instead, through actix-http's upgrade hook:
//!
//! - the request runs through the same app as every other one (routes, middleware, tokens,
//!   connection caps), so nothing about who may connect changes;
//! - the websocket's bytes are read from the socket only when it asks for more, a chunk at a
//!   time into a buffer that lives on the stack, so a quiet connection holds none;
//! - what it sends is written straight to the socket, frame by frame.
//!
//! A request answered with anything but 101 gets its answer and the connection is closed, as
//! the dispatcher does when an upgrade is refused.

use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

use actix_codec::{Encoder, Framed};
use actix_http::body::{BodySize, MessageBody};
use actix_http::error::PayloadError;
use actix_http::h1::{self, Message};
use actix_http::{BoxedPayloadStream, ConnectionType, Payload, Request, StatusCode};
use actix_service::Service;
use actix_web::dev::ServiceResponse;
use actix_web::web::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf};

/// How much is read from the socket at a time. Frames longer than this arrive in pieces, which
/// the websocket's decoder puts together.
const READ_CHUNK: usize = 4096;

/// Frames already waiting are gathered into one write up to this much.
const GATHER: usize = 64 * 1024;

/// Serves one upgrade request: runs it through `app`, writes the answer, and for a websocket
/// moves its frames until either side ends it. Failures of the connection end it quietly; they
/// are the client going away.
pub async fn serve<T, S, B>(
    app: Rc<S>,
    req: Request,
    framed: Framed<T, h1::Codec>,
) -> Result<(), actix_web::Error>
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    let parts = framed.into_parts();
    let mut codec = parts.codec;
    // What the client sent after the request's head (its first frames, if it did not wait for
    // the 101) goes first; the dispatcher's buffers themselves are dropped here.
    let early = (!parts.read_buf.is_empty()).then(|| Bytes::copy_from_slice(&parts.read_buf));
    drop(parts.read_buf);
    drop(parts.write_buf);
    let (read, mut write) = tokio::io::split(parts.io);
    let payload: BoxedPayloadStream = Box::pin(FromSocket { early, read });
    let (req, _) = req.replace_payload(Payload::Stream { payload });

    let res = match app.call(req).await {
        Ok(res) => res.into_parts().1.map_into_boxed_body(),
        Err(e) => e.as_response_error().error_response(),
    };
    let mut res = actix_http::Response::from(res);
    let switched = res.status() == StatusCode::SWITCHING_PROTOCOLS;
    if !switched {
        res.head_mut().set_connection_type(ConnectionType::Close);
    }
    let (head, body) = res.into_parts();
    if let Err(e) = send(&mut codec, head, body, &mut write).await {
        tracing::debug!(error = %e, switched, "upgraded connection ended");
    }
    let _ = write.shutdown().await;
    Ok(())
}

/// Writes the answer's head, then its body as it comes: for a websocket, each frame the
/// connection's task hands over, until the task closes it.
async fn send<W: AsyncWrite + Unpin>(
    codec: &mut h1::Codec,
    head: actix_http::Response<()>,
    body: actix_http::body::BoxBody,
    write: &mut W,
) -> io::Result<()> {
    let size = body.size();
    let mut buf = BytesMut::new();
    codec
        .encode(Message::Item((head, size)), &mut buf)
        .map_err(io::Error::other)?;
    write.write_all(&buf).await?;
    if size == BodySize::None {
        return Ok(());
    }
    let mut body = std::pin::pin!(body);
    loop {
        let next = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await;
        // A fresh buffer each time, so nothing stays allocated between frames; what is already
        // waiting behind the first frame joins it, so a burst goes out in one write.
        let mut buf = BytesMut::new();
        let mut end = encode(codec, next, &mut buf)?;
        while !end && buf.len() < GATHER {
            match std::future::poll_fn(|cx| Poll::Ready(body.as_mut().poll_next(cx))).await {
                Poll::Ready(next) => end = encode(codec, next, &mut buf)?,
                Poll::Pending => break,
            }
        }
        if !buf.is_empty() {
            write.write_all(&buf).await?;
        }
        if end {
            return Ok(());
        }
    }
}

/// Encodes one piece of the body onto `buf`; whether it was the end.
fn encode(
    codec: &mut h1::Codec,
    next: Option<Result<Bytes, Box<dyn std::error::Error>>>,
    buf: &mut BytesMut,
) -> io::Result<bool> {
    let (piece, end) = match next {
        Some(Ok(chunk)) => (Message::Chunk(Some(chunk)), false),
        Some(Err(e)) => return Err(io::Error::other(e.to_string())),
        None => (Message::Chunk(None), true),
    };
    codec.encode(piece, buf).map_err(io::Error::other)?;
    Ok(end)
}

/// The websocket's incoming bytes, read from the socket when asked for.
struct FromSocket<T> {
    early: Option<Bytes>,
    read: ReadHalf<T>,
}

impl<T: AsyncRead> Stream for FromSocket<T> {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(early) = self.early.take() {
            return Poll::Ready(Some(Ok(early)));
        }
        let mut chunk = [0u8; READ_CHUNK];
        let mut buf = ReadBuf::new(&mut chunk);
        if let Err(e) = ready!(Pin::new(&mut self.read).poll_read(cx, &mut buf)) {
            return Poll::Ready(Some(Err(PayloadError::Io(e))));
        }
        Poll::Ready(match buf.filled() {
            [] => None,
            read => Some(Ok(Bytes::copy_from_slice(read))),
        })
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;

    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    async fn next<T: AsyncRead>(
        body: &mut FromSocket<T>,
    ) -> Result<Bytes, Box<dyn std::error::Error>> {
        Ok(body.next().await.ok_or("the body ended early")??)
    }

    #[tokio::test]
    async fn the_bytes_after_the_head_come_first_then_the_socket_until_it_ends() -> TestResult {
        let (client, server) = tokio::io::duplex(64);
        let (read, _write) = tokio::io::split(server);
        let mut body = FromSocket {
            early: Some(Bytes::from_static(b"early")),
            read,
        };
        let (_, mut client) = tokio::io::split(client);
        client.write_all(b"later").await?;
        assert_eq!(next(&mut body).await?, "early");
        assert_eq!(next(&mut body).await?, "later");
        client.shutdown().await?;
        drop(client);
        assert!(body.next().await.is_none());
        Ok(())
    }

    #[tokio::test]
    async fn a_long_read_comes_in_pieces_no_larger_than_the_chunk() -> TestResult {
        let (client, server) = tokio::io::duplex(3 * READ_CHUNK);
        let (read, _write) = tokio::io::split(server);
        let mut body = FromSocket { early: None, read };
        let (_, mut client) = tokio::io::split(client);
        client.write_all(&vec![7u8; 2 * READ_CHUNK + 1]).await?;
        drop(client);
        let mut total = 0;
        while let Some(piece) = body.next().await {
            let piece = piece?;
            assert!(piece.len() <= READ_CHUNK);
            total += piece.len();
        }
        assert_eq!(total, 2 * READ_CHUNK + 1);
        Ok(())
    }
}
