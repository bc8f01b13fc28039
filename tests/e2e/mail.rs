//! Mail delivery against a real SMTP server: `tests/smtp_sink.py` (Python's aiosmtpd) runs as a
//! separate process on a free port and writes down every message it accepts, decoded by
//! Python's own MIME parser. The servers under test get `--smtp-url` pointing at it, mail is
//! queued the way the rest of the server queues it (`mail::enqueue`), and the tests read what
//! arrived and what the outbox recorded.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use gridwing_api::entities::email_outbox;
use gridwing_api::mail::{MAX_ATTEMPTS, enqueue};
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder, TransactionTrait};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::{Instant, sleep, timeout};

use crate::support::{TestApp, TestResult};

/// The interpreter that runs the sink: scripts/test says which (it may have made a virtualenv
/// under target/); otherwise that virtualenv if it exists; otherwise `python3`.
fn python() -> String {
    if let Ok(p) = std::env::var("GRIDWING_TEST_PYTHON") {
        return p;
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-python/bin/python");
    if venv.exists() {
        return venv.display().to_string();
    }
    "python3".to_owned()
}

/// A port nobody listens on right now.
pub(crate) fn free_port() -> TestResult<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A running SMTP server process and the file it writes received mail to.
pub(crate) struct Sink {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    port: u16,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sink {
    /// Starts the server on `port` and returns once it accepts connections; `extra` are more
    /// flags of tests/smtp_sink.py (`--reject-domain D`, `--delay-ms N`).
    pub(crate) async fn start(port: u16, extra: &[&str]) -> TestResult<Self> {
        let py = python();
        let probe = Command::new(&py)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        if !probe.is_ok_and(|s| s.success()) {
            return Err(format!(
                "the mail tests need Python 3 with aiosmtpd, and `{py} -c 'import aiosmtpd'` \
                 failed: run scripts/test once (it installs aiosmtpd into target/test-python), \
                 or `python3 -m pip install --user aiosmtpd`"
            )
            .into());
        }
        let dir = tempfile::tempdir()?;
        let out = dir.path().join("received.jsonl");
        let errors = dir.path().join("sink.stderr");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/smtp_sink.py");
        let mut cmd = Command::new(&py);
        cmd.arg(&script)
            .arg("--port")
            .arg(port.to_string())
            .arg("--out")
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&errors)?)
            // A failing test must not leave a server behind.
            .kill_on_drop(true);
        cmd.args(extra);
        let mut child = cmd.spawn()?;
        let mut stdout = BufReader::new(child.stdout.take().ok_or("sink has no stdout")?);
        let mut line = String::new();
        let read = timeout(Duration::from_secs(20), stdout.read_line(&mut line)).await;
        if !matches!(read, Ok(Ok(n)) if n > 0) || line.trim() != format!("listening {port}") {
            let _ = child.kill().await;
            let err = std::fs::read_to_string(&errors).unwrap_or_default();
            return Err(format!("SMTP sink did not start on port {port}: {line:?}\n{err}").into());
        }
        // It says it listens; make sure a client really gets through before anyone relies on it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                return Err(format!("SMTP sink on port {port} does not accept connections").into());
            }
            sleep(Duration::from_millis(50)).await;
        }
        Ok(Sink {
            child,
            _stdout: stdout,
            port,
            out,
            _dir: dir,
        })
    }

    pub(crate) fn url(&self) -> String {
        smtp_url(self.port)
    }

    /// Every message received so far, in arrival order.
    fn messages(&self) -> TestResult<Vec<Value>> {
        let text = match std::fs::read_to_string(&self.out) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        // Only whole lines: the sink may be writing the next one right now.
        let mut all = Vec::new();
        for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            all.push(serde_json::from_str(line)?);
        }
        Ok(all)
    }

    /// Waits until at least `n` messages have arrived.
    pub(crate) async fn wait_for(&self, n: usize, within: Duration) -> TestResult<Vec<Value>> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.messages()?;
            if got.len() >= n {
                return Ok(got);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} of {n} messages arrived within {within:?}: {got:?}",
                    got.len()
                )
                .into());
            }
            sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the server process.
    pub(crate) async fn stop(mut self) -> TestResult {
        self.child.kill().await?;
        Ok(())
    }
}

fn smtp_url(port: u16) -> String {
    format!("smtp://127.0.0.1:{port}")
}

async fn outbox(db: &DatabaseConnection) -> TestResult<Vec<email_outbox::Model>> {
    Ok(email_outbox::Entity::find()
        .order_by_asc(email_outbox::Column::Id)
        .all(db)
        .await?)
}

/// Waits until every outbox row is marked sent.
async fn wait_all_sent(
    db: &DatabaseConnection,
    within: Duration,
) -> TestResult<Vec<email_outbox::Model>> {
    let deadline = Instant::now() + within;
    loop {
        let rows = outbox(db).await?;
        if !rows.is_empty() && rows.iter().all(|r| r.sent_at.is_some()) {
            return Ok(rows);
        }
        if Instant::now() > deadline {
            return Err(format!("not all mail sent within {within:?}: {rows:?}").into());
        }
        sleep(Duration::from_millis(100)).await;
    }
}

/// The one received message addressed to `to`.
pub(crate) fn addressed_to<'a>(got: &'a [Value], to: &str) -> TestResult<&'a Value> {
    let mut hits = got
        .iter()
        .filter(|m| m["rcpt_tos"] == serde_json::json!([to]));
    let first = hits
        .next()
        .ok_or_else(|| format!("nothing for {to} in {got:?}"))?;
    if hits.next().is_some() {
        return Err(format!("{to} got more than one message: {got:?}").into());
    }
    Ok(first)
}

/// Queues one more message and waits until it has arrived, then returns everything the sink
/// holds. An instance sends in queue order, so whatever it would still have sent of the earlier
/// rows (a repeat, a retry) arrives before this one: what is missing here was not sent.
async fn after_a_later_message(
    sink: &Sink,
    db: &DatabaseConnection,
    arrived: usize,
) -> TestResult<Vec<Value>> {
    enqueue(db, LATER_TO, "后来的一封", "它到了，之前的就都到过了。").await?;
    let got = sink.wait_for(arrived + 1, Duration::from_secs(15)).await?;
    let last = got.last().ok_or("nothing arrived")?;
    assert_eq!(last["rcpt_tos"], serde_json::json!([LATER_TO]), "{got:?}");
    Ok(got)
}

/// Who the later message of [`after_a_later_message`] goes to.
const LATER_TO: &str = "later@example.cn";

fn text<'a>(m: &'a Value, field: &str) -> TestResult<&'a str> {
    m[field]
        .as_str()
        .ok_or_else(|| format!("no {field} in {m}").into())
}

#[tokio::test]
async fn chinese_mail_arrives_intact_with_the_configured_from() -> TestResult {
    let sink = Sink::start(free_port()?, &[]).await?;
    let smtp = sink.url();
    let from = "网格通知 <notify@gridwing.test>";
    let app = TestApp::spawn_with(&["--smtp-url", &smtp, "--mail-from", from]).await?;

    let mails = [
        (
            "zhang.san@example.cn",
            "【超时】青山湖街道 QSH-G001 任务已超过处理期限",
            "张三您好：\n\n网格 QSH-G001 的任务“路灯不亮”已超过处理期限，请尽快处理。\n——网格化管理平台",
        ),
        (
            "li.si@example.cn",
            "升级提醒：井盖缺失（已催办 2 次）",
            "李四您好：事件已升级到您这里。",
        ),
    ];
    for (to, subject, body) in mails {
        enqueue(&app.state.db, to, subject, body).await?;
    }

    let got = sink.wait_for(mails.len(), Duration::from_secs(15)).await?;
    assert_eq!(got.len(), mails.len(), "{got:?}");
    for (to, subject, body) in mails {
        let m = addressed_to(&got, to)?;
        assert_eq!(text(m, "subject")?, subject, "{m}");
        // CRLF is how mail spells a line break; compare the text, not the wire form.
        let received = text(m, "body")?.replace("\r\n", "\n");
        assert_eq!(received.trim_end_matches('\n'), body, "{m}");
        assert_eq!(text(m, "from")?, from, "{m}");
        assert_eq!(text(m, "to")?, to, "{m}");
        assert_eq!(text(m, "mail_from")?, "notify@gridwing.test", "{m}");
        assert_eq!(text(m, "content_type")?, "text/plain", "{m}");
        assert_eq!(text(m, "charset")?, "utf-8", "{m}");
        // The Chinese travelled encoded: the header section itself is plain ASCII, as RFC 5322
        // wants when the server did not offer SMTPUTF8 to the message.
        let raw = text(m, "raw")?;
        let (headers, _) = raw.split_once("\r\n\r\n").ok_or("no header/body split")?;
        assert!(headers.is_ascii(), "non-ASCII header section:\n{headers}");
    }

    let rows = wait_all_sent(&app.state.db, Duration::from_secs(5)).await?;
    for r in &rows {
        assert_eq!(r.attempts, 1, "{r:?}");
        assert!(r.last_error.is_none(), "{r:?}");
        // The row's id names the message, so a repeated send is recognisable as the same one.
        let m = addressed_to(&got, &r.to_addr)?;
        assert_eq!(
            text(m, "message_id")?,
            format!("<{}@gridwing.test>", r.id),
            "{m}"
        );
    }
    sink.stop().await
}

#[tokio::test]
async fn two_instances_send_each_row_exactly_once() -> TestResult {
    // A slow server stretches the twenty sends over two seconds, so both instances are polling
    // while the other is mid-batch: a claim that did not keep the other off would show up as a
    // duplicate here.
    let sink = Sink::start(free_port()?, &["--delay-ms", "100"]).await?;
    let smtp = sink.url();
    let a = TestApp::spawn_with(&["--smtp-url", &smtp]).await?;
    let b = a.second_instance(&["--smtp-url", &smtp]).await?;

    // One commit, so both instances find all twenty due at the same moment and compete.
    let n = 20;
    let tx = a.state.db.begin().await?;
    for i in 0..n {
        enqueue(
            &tx,
            &format!("supervisor{i:02}@example.cn"),
            &format!("超时提醒 #{i:02}"),
            &format!("第 {i} 件任务已超时。"),
        )
        .await?;
    }
    tx.commit().await?;

    let rows = wait_all_sent(&b.state.db, Duration::from_secs(30)).await?;
    assert_eq!(rows.len(), n);
    // The outbox's own record: every row was claimed once, and a send needs a claim.
    assert!(rows.iter().all(|r| r.attempts == 1), "{rows:?}");
    let mut got = after_a_later_message(&sink, &a.state.db, n).await?;
    got.pop();
    assert_eq!(got.len(), n, "each row once, no more: {got:?}");
    let subjects: BTreeSet<String> = got
        .iter()
        .map(|m| text(m, "subject").map(str::to_owned))
        .collect::<TestResult<_>>()?;
    let expected: BTreeSet<String> = (0..n).map(|i| format!("超时提醒 #{i:02}")).collect();
    assert_eq!(subjects, expected);
    for i in 0..n {
        let m = addressed_to(&got, &format!("supervisor{i:02}@example.cn"))?;
        assert_eq!(text(m, "subject")?, format!("超时提醒 #{i:02}"));
    }
    sink.stop().await
}

#[tokio::test]
async fn failed_send_is_retried_once_the_server_is_up() -> TestResult {
    // Nothing listens on this port until the first attempt has failed.
    let port = free_port()?;
    let app = TestApp::spawn_with(&["--smtp-url", &smtp_url(port)]).await?;
    enqueue(
        &app.state.db,
        "wang.wu@example.cn",
        "重试测试：服务器稍后上线",
        "王五您好：这封信第一次没有送出去。",
    )
    .await?;

    let deadline = Instant::now() + Duration::from_secs(15);
    let failed = loop {
        let rows = outbox(&app.state.db).await?;
        let row = rows.first().ok_or("the row is gone")?;
        if row.last_error.is_some() {
            break row.clone();
        }
        if Instant::now() > deadline {
            return Err(format!("no failed attempt recorded: {row:?}").into());
        }
        sleep(Duration::from_millis(100)).await;
    };
    assert!(failed.sent_at.is_none(), "{failed:?}");
    assert!(failed.attempts >= 1, "{failed:?}");
    let reason = failed.last_error.clone().unwrap_or_default();
    assert!(reason.to_lowercase().contains("connection"), "{reason}");

    let sink = Sink::start(port, &[]).await?;
    let got = sink.wait_for(1, Duration::from_secs(20)).await?;
    let m = addressed_to(&got, "wang.wu@example.cn")?;
    assert_eq!(text(m, "subject")?, "重试测试：服务器稍后上线");
    let rows = wait_all_sent(&app.state.db, Duration::from_secs(5)).await?;
    let row = rows.first().ok_or("the row is gone")?;
    assert!(row.attempts > failed.attempts, "{row:?} after {failed:?}");
    // Sent means done: no further copy arrives before a message queued after it.
    let got = after_a_later_message(&sink, &app.state.db, 1).await?;
    assert_eq!(got.len(), 2, "{got:?}");
    let rows = outbox(&app.state.db).await?;
    assert_eq!(
        rows.first(),
        Some(row),
        "the sent row was never claimed again"
    );
    sink.stop().await
}

#[tokio::test]
async fn a_refused_recipient_is_not_retried_and_others_still_go_out() -> TestResult {
    let sink = Sink::start(free_port()?, &["--reject-domain", "reject.invalid"]).await?;
    let smtp = sink.url();
    let app = TestApp::spawn_with(&["--smtp-url", &smtp]).await?;
    enqueue(&app.state.db, "nobody@reject.invalid", "退信测试", "收不到").await?;
    enqueue(&app.state.db, "zhao.liu@example.cn", "正常投递", "赵六您好").await?;

    let got = sink.wait_for(1, Duration::from_secs(15)).await?;
    addressed_to(&got, "zhao.liu@example.cn")?;
    let deadline = Instant::now() + Duration::from_secs(15);
    let refused = loop {
        let rows = outbox(&app.state.db).await?;
        let row = rows
            .iter()
            .find(|r| r.to_addr == "nobody@reject.invalid")
            .ok_or("the refused row is gone")?;
        if row.last_error.is_some() {
            break row.clone();
        }
        if Instant::now() > deadline {
            return Err(format!("refusal not recorded: {row:?}").into());
        }
        sleep(Duration::from_millis(100)).await;
    };
    let reason = refused.last_error.clone().unwrap_or_default();
    assert!(reason.contains("550"), "{reason}");
    assert!(refused.sent_at.is_none(), "{refused:?}");
    // A permanent refusal uses up the attempts at once instead of knocking ten times.
    assert_eq!(refused.attempts, MAX_ATTEMPTS, "{refused:?}");
    // The sender has since picked up and sent a later message: the refused row was due to it
    // no more.
    let got = after_a_later_message(&sink, &app.state.db, 1).await?;
    assert_eq!(got.len(), 2, "{got:?}");
    let again = outbox(&app.state.db).await?;
    let row = again
        .iter()
        .find(|r| r.to_addr == "nobody@reject.invalid")
        .ok_or("the refused row is gone")?;
    assert_eq!(row, &refused, "no further attempt");
    sink.stop().await
}

#[tokio::test]
async fn without_smtp_url_an_instance_only_queues_and_leaves_sending_to_others() -> TestResult {
    // The instance with a sink sends slowly: two batches of ten take over three seconds, so the
    // instance without one polls (every second) while rows are still due. Had it a sender, it
    // would claim some of them and count attempts of its own.
    let sink = Sink::start(free_port()?, &["--delay-ms", "150"]).await?;
    let queuer = TestApp::spawn().await?;
    let tx = queuer.state.db.begin().await?;
    let n = 20;
    for i in 0..n {
        enqueue(
            &tx,
            &format!("sun.qi{i:02}@example.cn"),
            "排队",
            "只排队，由配置了 SMTP 的实例发送",
        )
        .await?;
    }
    tx.commit().await?;
    let sender = queuer.second_instance(&["--smtp-url", &sink.url()]).await?;

    let rows = wait_all_sent(&sender.state.db, Duration::from_secs(30)).await?;
    assert_eq!(rows.len(), n);
    for r in &rows {
        assert_eq!(r.attempts, 1, "claimed by one instance only: {r:?}");
        assert!(r.last_error.is_none(), "{r:?}");
    }
    assert_eq!(sink.messages()?.len(), n);
    sink.stop().await
}

#[tokio::test]
async fn bad_mail_settings_stop_the_start_with_a_clear_message() -> TestResult {
    for (flags, named) in [
        (["--smtp-url", "ftp://mail.example.cn"], "--smtp-url"),
        (
            ["--smtp-url", "smtp://mail.example.cn?tls=always"],
            "--smtp-url",
        ),
        (["--smtp-url", "not a url"], "--smtp-url"),
        (["--mail-from", "网格通知"], "--mail-from"),
    ] {
        let message = match TestApp::spawn_with(&flags).await {
            Ok(_) => return Err(format!("{flags:?} was accepted").into()),
            Err(e) => e.to_string(),
        };
        assert!(message.contains(named), "{flags:?}: {message}");
    }
    Ok(())
}

#[tokio::test]
async fn a_late_task_reaches_its_supervisor_by_mail() -> TestResult {
    use gridwing_api::entities::tasks;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};

    let sink = Sink::start(free_port()?, &[]).await?;
    let smtp = sink.url();
    let app = TestApp::spawn_with(&[
        "--demo-street",
        "true",
        "--smtp-url",
        &smtp,
        "--sweep-secs",
        "3600",
    ])
    .await?;
    let citizen = app.token(crate::support::CITIZEN).await?;
    let dispatcher = app.token(crate::support::DISPATCHER).await?;
    let (_, b) = app
        .get("/api/v1/buildings/QSH-B0001", Some(&dispatcher))
        .await?;
    let (status, e) = app
        .post(
            "/api/v1/events",
            Some(&citizen),
            serde_json::json!({"id": uuid::Uuid::new_v4(), "category": "safety.hazard", "description": "楼道堆放杂物堵塞消防通道", "lat": b["lat"], "lng": b["lng"]}),
        )
        .await?;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{e}");
    let id = crate::support::str_field(&e, "id")?;
    // A minute later nobody has signed it.
    tasks::Entity::update_many()
        .col_expr(
            tasks::Column::SignDue,
            Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)),
        )
        .filter(tasks::Column::EventId.eq(id.parse::<uuid::Uuid>()?))
        .exec(&app.state.db)
        .await?;
    assert_eq!(gridwing_api::events::sweeper::sweep(&app.state).await?, 1);
    let got = sink.wait_for(1, Duration::from_secs(15)).await?;
    let m = addressed_to(&got, "zhihui@qsh.example.cn")?;
    assert!(
        text(m, "subject")?.contains("亮灯督办") && text(m, "subject")?.contains("黄灯"),
        "{m}"
    );
    let body = text(m, "body")?;
    assert!(
        body.contains(&id) && body.contains("QSH-G001") && body.contains("QSH-C01"),
        "{body}"
    );
    sink.stop().await
}
