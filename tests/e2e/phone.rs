//! A phone for the sync tests: the stock JavaScript client (`@automerge/automerge-repo` with its
//! websocket adapter, from npm) under Node, as a `tests/sync-client/client.mjs` process taking
//! JSON-line commands, and the report every sync test starts from. `scripts/test` installs the
//! client's packages; without them these tests fail and say so.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use uuid::Uuid;

use crate::support::*;

/// One phone: a Node process running the stock client.
pub struct Phone {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    name: String,
}

impl Phone {
    pub async fn start(name: &str) -> TestResult<Self> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/sync-client");
        if !dir.join("node_modules/@automerge/automerge-repo").is_dir() {
            return Err(format!(
                "the JS sync client is not installed: run `npm ci` in {} (scripts/test does)",
                dir.display()
            )
            .into());
        }
        let node = std::env::var("GRIDWING_TEST_NODE").unwrap_or_else(|_| "node".into());
        let mut child = Command::new(node)
            .arg("client.mjs")
            .args(["--peer-id", name])
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting node for the sync client: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        Ok(Phone {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            name: name.to_owned(),
        })
    }

    /// Sends a command and returns its answer, whatever `ok` says.
    pub async fn send(&mut self, cmd: Value) -> TestResult<Value> {
        self.stdin.write_all(format!("{cmd}\n").as_bytes()).await?;
        self.stdin.flush().await?;
        let line = tokio::time::timeout(Duration::from_secs(30), self.lines.next_line())
            .await
            .map_err(|_| format!("{}: no answer to {cmd}", self.name))??
            .ok_or_else(|| format!("{}: the client exited on {cmd}", self.name))?;
        Ok(serde_json::from_str(&line)?)
    }

    /// Sends a command that must succeed.
    pub async fn ok(&mut self, cmd: Value) -> TestResult<Value> {
        let answer = self.send(cmd.clone()).await?;
        if answer["ok"] != true {
            return Err(format!("{}: {cmd} failed: {answer}", self.name).into());
        }
        Ok(answer)
    }

    pub async fn connect(&mut self, app: &TestApp, token: &str) -> TestResult<Value> {
        let url = format!(
            "{}/api/v1/sync?token={token}",
            app.base.replacen("http", "ws", 1)
        );
        self.ok(json!({"cmd": "connect", "url": url, "timeout_ms": 5000}))
            .await
    }

    pub async fn find(&mut self, url: &str) -> TestResult<Value> {
        Ok(self
            .ok(json!({"cmd": "find", "url": url, "timeout_ms": 10000}))
            .await?["doc"]
            .clone())
    }

    pub async fn wait(&mut self, url: &str, until: Value) -> TestResult<Value> {
        Ok(self
            .ok(json!({"cmd": "wait", "url": url, "until": until, "timeout_ms": 10000}))
            .await?["doc"]
            .clone())
    }

    pub async fn quit(mut self) -> TestResult {
        let _ = self.send(json!({"cmd": "quit"})).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        Ok(())
    }
}

/// A citizen's report in grid QSH-G001: its event id and its task's document URL.
pub async fn task_in_g001(app: &TestApp) -> TestResult<(Uuid, String)> {
    let citizen = app.token(CITIZEN).await?;
    let worker = app.token(GRID_WORKER).await?;
    let (_, b) = app
        .get("/api/v1/buildings/QSH-B0001", Some(&worker))
        .await?;
    let (status, e) = app
        .post(
            "/api/v1/events",
            Some(&citizen),
            json!({"id": Uuid::new_v4(), "category": "environment.garbage", "description": "楼道堆放纸箱", "lat": b["lat"], "lng": b["lng"]}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    let url = str_field(&e["task"], "document_url")?;
    Ok((str_field(&e, "id")?.parse()?, url))
}

pub async fn event(app: &TestApp, token: &str, id: Uuid) -> TestResult<Value> {
    let (status, e) = app
        .get(&format!("/api/v1/events/{id}"), Some(token))
        .await?;
    assert_eq!(status, StatusCode::OK, "{e}");
    Ok(e)
}

/// Polls the event until `check` holds, for changes that reach the rows after a sync round.
pub async fn event_until(
    app: &TestApp,
    token: &str,
    id: Uuid,
    check: impl Fn(&Value) -> bool,
) -> TestResult<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let e = event(app, token, id).await?;
        if check(&e) {
            return Ok(e);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("the event never got there: {e}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
