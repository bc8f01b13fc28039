//! Caps on open websockets, per user, per client address and per instance, shared by the sync
//! and the live routes: a connection over a cap is a 429 problem before any upgrade, and a
//! connection that ends gives its place back.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use crate::support::*;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const SYNC: &str = "/api/v1/sync";
const LIVE: &str = "/api/v1/live";

/// Opens a websocket on `path` as if from `addr` (the test server trusts its loopback peer's
/// X-Forwarded-For, as behind a load balancer).
async fn open(app: &TestApp, path: &str, token: &str, addr: &str) -> TestResult<Ws> {
    let url = format!("{}{path}?token={token}", app.base.replacen("http", "ws", 1));
    let mut req = url.into_client_request()?;
    req.headers_mut().insert("x-forwarded-for", addr.parse()?);
    let (ws, res) = connect_async(req).await?;
    assert_eq!(res.status().as_u16(), 101);
    Ok(ws)
}

/// Asks for the upgrade over plain HTTP, so a refusal's status, headers and body can be read;
/// checks it is a 429 problem naming the cap, with a Retry-After.
async fn refused(app: &TestApp, path: &str, token: &str, addr: &str, cap: &str) -> TestResult {
    let res = app
        .request(Method::GET, &format!("{path}?token={token}"), None)
        .header("x-forwarded-for", addr)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await?;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "{path} from {addr}"
    );
    let retry: u64 = res.headers()["retry-after"].to_str()?.parse()?;
    assert!(retry >= 1);
    let p = assert_problem(res, 429, "too-many-connections").await?;
    let detail = p["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(cap), "{detail} should name {cap}");
    Ok(())
}

/// Waits until the server counts `total` open websockets (a closed one is counted until the
/// server has seen the close).
async fn until_open(app: &TestApp, total: usize) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(10);
    let nobody = uuid::Uuid::nil();
    while app.state.websockets.open(nobody, None).0 != total {
        if Instant::now() > deadline {
            return Err(format!(
                "{} websockets open, expected {total}",
                app.state.websockets.open(nobody, None).0
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[tokio::test]
async fn websockets_are_capped_per_user_per_address_and_per_instance() -> TestResult {
    let app = TestApp::spawn_with(&[
        "--trusted-proxies",
        "127.0.0.1",
        "--ws-max-per-user",
        "2",
        "--ws-max-per-addr",
        "3",
        "--ws-max-total",
        "6",
    ])
    .await?;
    let citizen = app.token(CITIZEN).await?;
    let worker = app.token(GRID_WORKER).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let coordinator = app.token(COORDINATOR).await?;
    let admin = app.token(ADMIN).await?;
    let (home, office, library, cafe) =
        ("203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4");

    // Per user, sync and live together: a third is refused wherever it comes from.
    let mut citizen_sync = open(&app, SYNC, &citizen, home).await?;
    let _citizen_live = open(&app, LIVE, &citizen, home).await?;
    refused(&app, LIVE, &citizen, library, "your account").await?;
    refused(&app, SYNC, &citizen, library, "your account").await?;

    // Per address: three from the office, whoever they are.
    let _w1 = open(&app, SYNC, &worker, office).await?;
    let _w2 = open(&app, LIVE, &worker, office).await?;
    let _d1 = open(&app, LIVE, &dispatcher, office).await?;
    refused(&app, SYNC, &coordinator, office, "your address").await?;

    // Per instance: six in all.
    let _c1 = open(&app, LIVE, &coordinator, library).await?;
    refused(&app, LIVE, &admin, cafe, "this server").await?;
    refused(&app, SYNC, &admin, cafe, "this server").await?;
    until_open(&app, 6).await?;

    // A connection that ends gives its place back.
    citizen_sync.close(None).await?;
    drop(citizen_sync);
    until_open(&app, 5).await?;
    let _a1 = open(&app, SYNC, &admin, cafe).await?;
    refused(&app, LIVE, &citizen, home, "this server").await?;
    Ok(())
}

#[tokio::test]
async fn an_ipv6_client_is_capped_by_its_64_network() -> TestResult {
    let app =
        TestApp::spawn_with(&["--trusted-proxies", "127.0.0.1", "--ws-max-per-addr", "2"]).await?;
    let citizen = app.token(CITIZEN).await?;
    let worker = app.token(GRID_WORKER).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    // Each phone picks another address of one /64: still one client address.
    let _a = open(&app, LIVE, &citizen, "2001:db8:5:5::1").await?;
    let _b = open(&app, SYNC, &worker, "2001:db8:5:5:ffff::2").await?;
    refused(&app, LIVE, &dispatcher, "2001:db8:5:5::3", "your address").await?;
    // The next /64 is another client.
    let _c = open(&app, LIVE, &dispatcher, "2001:db8:5:6::1").await?;
    Ok(())
}

/// Reads from `tcp` until `buf` holds `want` bytes past the head that ends at the first blank
/// line; returns the head and what follows it.
async fn read_head_and(tcp: &mut TcpStream, want: usize) -> TestResult<(String, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n")
            && buf.len() >= end + 4 + want
        {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            return Ok((head, buf[end + 4..].to_vec()));
        }
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut chunk)).await??;
        if n == 0 {
            return Err(format!("closed after {:?}", String::from_utf8_lossy(&buf)).into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn a_websockets_first_frame_sent_with_its_upgrade_request_is_answered() -> TestResult {
    // A client may send its first frame without waiting for the 101: the bytes after the
    // request's head arrive with it, and must reach the websocket first, not be lost.
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn().await?;
    let token = app.token(DISPATCHER).await?;
    let host = app.base.trim_start_matches("http://").to_owned();
    let mut tcp = TcpStream::connect(&host).await?;
    let mut bytes = format!(
        "GET {LIVE}?token={token} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    .into_bytes();
    // A masked ping carrying "hi" (a client's frames are masked; this mask is zero).
    bytes.extend_from_slice(&[0x89, 0x82, 0, 0, 0, 0, b'h', b'i']);
    tcp.write_all(&bytes).await?;
    let (head, rest) = read_head_and(&mut tcp, 4).await?;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // The pong, unmasked from the server, with the ping's payload.
    assert_eq!(&rest[..4], &[0x8A, 2, b'h', b'i'], "{rest:?}");
    Ok(())
}

#[tokio::test]
async fn a_refused_websocket_upgrade_is_a_problem_and_the_connection_ends() -> TestResult {
    // A refused upgrade is answered like any request, then the connection is closed: what
    // the client sent after its head is not read as another request.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await?;
    let host = app.base.trim_start_matches("http://").to_owned();
    let mut tcp = TcpStream::connect(&host).await?;
    let req = format!(
        "GET {LIVE}?token=not-a-token HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n\
         GET /api/v1/healthz HTTP/1.1\r\nHost: {host}\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await?;
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut all)).await??;
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{text}"
    );
    assert_eq!(
        text.matches("HTTP/1.1 ").count(),
        1,
        "one answer only: {text}"
    );
    Ok(())
}
