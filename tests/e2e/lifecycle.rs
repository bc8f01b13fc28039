//! Starting, migrating, bootstrapping and stopping: the `gridwing` binary as an operator runs it,
//! and graceful shutdown with a request genuinely in flight.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_gridwing");

#[tokio::test]
async fn in_flight_requests_finish_during_a_graceful_stop() -> TestResult {
    let app = TestApp::spawn().await?;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let body = format!(r#"{{"phone":"{ADMIN}","password":"gridwing2026"}}"#);
    let mut stream = TcpStream::connect(&addr).await?;
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // Half the body: the server holds a request it cannot finish yet.
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body.as_bytes()[..10]).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let handle = app.handle.clone();
    let stopping = tokio::spawn(async move { handle.stop(true).await });

    // New connections are refused once the stop begins...
    let mut refused = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if TcpStream::connect(&addr).await.is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "the listener still accepts after stop");
    // ...while the request in flight completes.
    stream.write_all(&body.as_bytes()[10..]).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("access_token"));
    tokio::time::timeout(Duration::from_secs(10), stopping).await??;
    Ok(())
}

async fn run(args: &[&str]) -> TestResult<(bool, String)> {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("REDIS_URL")
        .output()
        .await?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

#[tokio::test]
async fn help_explains_every_setting() -> TestResult {
    let (ok, text) = run(&["serve", "--help"]).await?;
    assert!(ok, "{text}");
    for setting in [
        "--addr",
        "DATABASE_URL",
        "REDIS_URL",
        "GRIDWING_JWT_SECRET",
        "--demo",
        "127.0.0.1:8080",
        "--pdf-font",
        "GRIDWING_PDF_FONT",
    ] {
        assert!(
            text.contains(setting),
            "serve --help does not mention {setting}"
        );
    }
    let (ok, text) = run(&["--help"]).await?;
    assert!(ok);
    for cmd in ["serve", "migrate", "user", "demo", "openapi"] {
        assert!(text.contains(cmd), "--help lacks {cmd}");
    }
    Ok(())
}

#[tokio::test]
async fn the_first_admin_is_bootstrapped_from_the_command_line_and_sigterm_stops_cleanly()
-> TestResult {
    let db = TestDb::new().await?;
    let url = db.url().to_owned();
    let (ok, text) = run(&["migrate", "--database-url", &url]).await?;
    assert!(ok && text.contains("migrations applied"), "{text}");
    let admin = [
        "user",
        "add",
        "--database-url",
        &url,
        "--phone",
        "13700000001",
        "--name",
        "街道管理员",
        "--role",
        "admin",
    ];
    // An area that the (still empty) tree does not hold is refused, and nothing is created.
    let (ok, text) = run(&[&admin[..], &["--area", "street:QSH"]].concat()).await?;
    assert!(!ok && text.contains("没有编码为 QSH 的街道"), "{text}");
    let (ok, text) = run(&admin).await?;
    assert!(ok, "{text}");
    let password = text
        .lines()
        .find_map(|l| l.strip_prefix("password (shown once): "))
        .ok_or("no generated password printed")?
        .trim()
        .to_owned();
    let (ok, text) = run(&[
        "user",
        "add",
        "--database-url",
        &url,
        "--phone",
        "13700000001",
        "--name",
        "又一个",
        "--role",
        "admin",
    ])
    .await?;
    assert!(!ok && text.contains("already registered"), "{text}");
    let (ok, text) = run(&[
        "user",
        "add",
        "--database-url",
        &url,
        "--phone",
        "13700000002",
        "--name",
        "x",
        "--role",
        "king",
    ])
    .await?;
    assert!(!ok && text.contains("unknown role"), "{text}");

    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--database-url",
            &url,
            "--workers",
            "1",
        ])
        .env_remove("REDIS_URL")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("stdout")?).lines();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.strip_prefix("gridwing listening on ") {
                return Ok::<_, std::io::Error>(Some(url.to_owned()));
            }
        }
        Ok(None)
    })
    .await??
    .ok_or("server never said where it listens")?;

    let client = reqwest::Client::new();
    let res = client
        .post(format!("{base}/api/v1/auth/login"))
        .header("x-request-id", "trace-me-1")
        .json(&json!({"phone": "13700000001", "password": password}))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    let token = str_field(&res.json().await?, "access_token")?;
    let me: serde_json::Value = client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(me["roles"], json!(["admin"]));
    assert_eq!(me["areas"], json!([]));

    let pid = child.id().ok_or("pid")?;
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await?;
    assert!(status.success());
    // HTTP stops first (that requests in flight finish is shown in-process above), then every
    // worker drains, and only then does the process end.
    let exit = tokio::time::timeout(Duration::from_secs(20), child.wait()).await??;
    assert!(exit.success(), "gridwing exited with {exit}");
    let mut rest = Vec::new();
    while let Some(line) = lines.next_line().await? {
        rest.push(line);
    }
    let at = |what: &str| rest.iter().position(|l| l.contains(what));
    let http_stopped = at("HTTP stopped").ok_or_else(|| rest.join("\n"))?;
    for worker in [
        "sweeper",
        "health",
        "live-bus",
        "sync-refresh",
        "sync-idle",
        "areas",
    ] {
        let drained = rest
            .iter()
            .position(|l| l.contains("worker stopped") && l.contains(worker))
            .ok_or_else(|| format!("{worker} never said it stopped:\n{}", rest.join("\n")))?;
        assert!(drained > http_stopped, "{worker} stopped before HTTP");
    }
    assert!(
        at("workers drained").is_some_and(|w| w > http_stopped),
        "{}",
        rest.join("\n")
    );
    Ok(())
}
