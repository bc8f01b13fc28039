//! Offline sync over `GET /api/v1/sync`, driven by the stock JavaScript client
//! (`@automerge/automerge-repo` with its websocket adapter, from npm) under Node: each phone is a
//! `tests/sync-client/client.mjs` process taking JSON-line commands. `scripts/test` installs its
//! packages; without them these tests fail and say so.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::phone::*;
use crate::photos::{jpeg, upload_ok};
use crate::support::*;

#[tokio::test]
async fn two_phones_edit_a_task_offline_and_converge_and_the_rows_show_the_merge() -> TestResult {
    // Each merge committing alone (no merge writers): the other tests run the batched writers.
    let app = TestApp::spawn_with(&["--demo-street", "true", "--sync-writers", "0"]).await?;
    let worker = app.token(GRID_WORKER).await?;
    let (id, url) = task_in_g001(&app).await?;
    // A task's photos are the worker's own uploads.
    let (_, up) = upload_ok(&app, &worker, &jpeg(64, 48, 1)?).await?;
    let photo = str_field(&up, "sha256")?;
    let mut a = Phone::start("phone-a").await?;
    let mut b = Phone::start("phone-b").await?;
    for p in [&mut a, &mut b] {
        p.connect(&app, &worker).await?;
        let doc = p.find(&url).await?;
        assert_eq!(doc["status"], "dispatched", "{doc}");
        assert_eq!(doc["description"], "楼道堆放纸箱");
        assert_eq!(doc["assignee"], "grid:QSH-G001");
        p.ok(json!({"cmd": "offline"})).await?;
    }
    // Offline, each phone edits a different field, and both write the feedback.
    a.ok(json!({"cmd": "change", "url": url, "update_text": {"path": ["on_site_note"], "value": "三楼楼道，纸箱十余个"}}))
        .await?;
    b.ok(json!({"cmd": "change", "url": url, "set": [{"path": ["photos", 0], "value": photo}]}))
        .await?;
    a.ok(json!({"cmd": "change", "url": url, "update_text": {"path": ["feedback"], "value": "已联系住户"}}))
        .await?;
    b.ok(json!({"cmd": "change", "url": url, "update_text": {"path": ["feedback"], "value": "纸箱已清走"}}))
        .await?;
    for p in [&mut a, &mut b] {
        p.ok(json!({"cmd": "online", "timeout_ms": 5000})).await?;
    }
    let until = json!([
        {"path": ["on_site_note"], "equals": "三楼楼道，纸箱十余个"},
        {"path": ["photos", 0], "equals": photo},
    ]);
    let at_a = a.wait(&url, until.clone()).await?;
    let at_b = b.wait(&url, until).await?;
    // Both texts were edits of the same empty text: both are kept, in one order on every copy.
    let feedback = at_a["feedback"].as_str().ok_or("no feedback")?.to_owned();
    assert!(
        feedback.contains("已联系住户") && feedback.contains("纸箱已清走"),
        "{feedback}"
    );
    let at_b = b
        .wait(&url, json!({"path": ["feedback"], "equals": feedback}))
        .await
        .map_err(|e| format!("{e}; b had {at_b}"))?;
    assert_eq!(at_a, at_b, "the two phones hold the same document");
    let e = event_until(&app, &worker, id, |e| {
        e["task"]["feedback"] == feedback.as_str()
    })
    .await?;
    assert_eq!(e["task"]["on_site_note"], "三楼楼道，纸箱十余个");
    // And the live feed carries the merged notes to the grid.
    let (status, feed) = app.get("/api/v1/feed?limit=500", Some(&worker)).await?;
    assert_eq!(status, StatusCode::OK, "{feed}");
    let noted = feed["items"]
        .as_array()
        .ok_or("no items")?
        .iter()
        .filter(|i| i["kind"] == "task.noted" && i["event_id"] == id.to_string().as_str())
        .any(|i| i["payload"]["task"]["on_site_note"] == "三楼楼道，纸箱十余个");
    assert!(noted, "{feed}");
    a.quit().await?;
    b.quit().await
}

#[tokio::test]
async fn a_status_in_a_document_is_a_move_and_edits_not_allowed_are_put_back() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let worker = app.token(GRID_WORKER).await?;
    let (id, url) = task_in_g001(&app).await?;
    let mut phone = Phone::start("worker-phone").await?;
    phone.connect(&app, &worker).await?;
    let doc = phone.find(&url).await?;
    let colour = doc["colour"].as_str().ok_or("no colour")?.to_owned();
    let other = if colour == "red" { "blue" } else { "red" };
    // Signing by writing the status, and recolouring, which only the command centre may do.
    phone
        .ok(json!({"cmd": "change", "url": url, "set": [
            {"path": ["status"], "value": "signed"},
            {"path": ["colour"], "value": other},
        ]}))
        .await?;
    event_until(&app, &worker, id, |e| e["status"] == "signed").await?;
    let doc = phone
        .wait(&url, json!({"path": ["colour"], "equals": colour}))
        .await?;
    assert_eq!(doc["status"], "signed");
    let e = event(&app, &worker, id).await?;
    assert_eq!(e["task"]["colour"], colour.as_str());
    assert!(e["task"]["signed_at"].is_string(), "{e}");
    // The phone heard why.
    let notices = phone.ok(json!({"cmd": "ephemeral", "url": url})).await?;
    let text = notices.to_string();
    assert!(
        text.contains("refused") && text.contains("colour"),
        "{text}"
    );

    // A status no move of a worker reaches is put back, with the reason.
    phone
        .ok(json!({"cmd": "change", "url": url, "set": {"path": ["status"], "value": "completed"}}))
        .await?;
    phone
        .wait(&url, json!({"path": ["status"], "equals": "signed"}))
        .await?;
    assert_eq!(event(&app, &worker, id).await?["status"], "signed");
    let notices = phone.ok(json!({"cmd": "ephemeral", "url": url})).await?;
    let text = notices.to_string();
    assert!(
        text.contains("completed") && text.contains("cannot be set in a document"),
        "{text}"
    );

    // A move made over REST reaches the document the phone holds.
    let (status, body) = app
        .post(
            &format!("/api/v1/events/{id}/moves"),
            Some(&worker),
            json!({"move": "arrive"}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    phone
        .wait(&url, json!({"path": ["status"], "equals": "on_site"}))
        .await?;
    phone.quit().await
}

#[tokio::test]
async fn another_grids_task_is_answered_as_missing() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let (_, url) = task_in_g001(&app).await?;
    let other = app.token(OTHER_GRID_WORKER).await?;
    let mut phone = Phone::start("other-grid").await?;
    phone.connect(&app, &other).await?;
    let theirs = phone
        .send(json!({"cmd": "find", "url": url, "timeout_ms": 5000}))
        .await?;
    let missing = sync_engine::docid::DocumentId::from_uuid(Uuid::now_v7()).url();
    let none = phone
        .send(json!({"cmd": "find", "url": missing, "timeout_ms": 5000}))
        .await?;
    for answer in [&theirs, &none] {
        assert_eq!(answer["ok"], false, "{answer}");
        assert!(
            answer["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("unavailable")),
            "{answer}"
        );
    }
    phone.quit().await
}

/// A phone's first sync asks for all its documents at once; in one burst, each is still
/// answered by its own rule: its own grid's tasks synced, a made-up id and a report in another
/// grid unavailable.
#[tokio::test]
async fn a_burst_of_requests_is_answered_document_by_document() -> TestResult {
    use automerge::sync::SyncDoc;
    use futures_util::SinkExt;
    use sync_engine::docid::DocumentId;
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let worker = app.token(GRID_WORKER).await?;
    let (_, first) = task_in_g001(&app).await?;
    let (_, second) = task_in_g001(&app).await?;
    let admin = app.token(ADMIN).await?;
    let (_, there) = app
        .get("/api/v1/buildings?grid=QSH-G002&limit=1", Some(&admin))
        .await?;
    let citizen = app.token(CITIZEN).await?;
    let (status, elsewhere) = app
        .post(
            "/api/v1/events",
            Some(&citizen),
            json!({"id": Uuid::new_v4(), "category": "environment.garbage", "description": "别处的垃圾",
                   "building_code": there["items"][0]["code"]}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{elsewhere}");
    let report_id: Uuid = str_field(&elsewhere, "id")?.parse()?;
    let (first, second): (DocumentId, DocumentId) = (first.parse()?, second.parse()?);
    let missing = DocumentId::from_uuid(Uuid::now_v7());
    let report = DocumentId::from_uuid(report_id);

    let mut peer = RawPeer::join(&app, &worker).await?;
    let mut empty = automerge::AutoCommit::new();
    let hello = empty
        .sync()
        .generate_sync_message(&mut automerge::sync::State::new())
        .ok_or("an empty document has a first sync message")?
        .encode();
    for document in [first, missing, report, second] {
        let request = Message::Request {
            sender_id: "raw-peer".into(),
            target_id: "server".into(),
            document_id: document,
            data: hello.clone(),
        };
        peer.ws
            .feed(tungstenite::Message::Binary(request.encode().into()))
            .await?;
    }
    peer.ws.flush().await?;

    let (mut synced, mut unavailable) = (Vec::new(), Vec::new());
    while synced.len() + unavailable.len() < 4 {
        match peer.next().await? {
            Some(Message::Sync {
                document_id, data, ..
            }) => {
                // What the server wrote from the rows, all in this first answer.
                let mut copy = automerge::AutoCommit::new();
                copy.sync().receive_sync_message(
                    &mut automerge::sync::State::new(),
                    automerge::sync::Message::decode(&data)?,
                )?;
                let text = |key: &str| -> TestResult<String> {
                    use automerge::ReadDoc;
                    match copy.get(automerge::ROOT, key)? {
                        Some((automerge::Value::Scalar(v), _)) => {
                            Ok(v.as_str().unwrap_or_default().to_owned())
                        }
                        Some((automerge::Value::Object(automerge::ObjType::Text), id)) => {
                            Ok(copy.text(id)?)
                        }
                        other => Err(format!("{key}: {other:?}").into()),
                    }
                };
                assert_eq!(text("description")?, "楼道堆放纸箱");
                assert_eq!(text("status")?, "dispatched");
                synced.push(document_id);
            }
            Some(Message::DocUnavailable { document_id, .. }) => unavailable.push(document_id),
            other => return Err(format!("unexpected answer {other:?}").into()),
        }
    }
    synced.sort_by_key(|d| d.uuid());
    let mut want = vec![first, second];
    want.sort_by_key(|d| d.uuid());
    assert_eq!(synced, want, "the worker's own tasks are synced");
    unavailable.sort_by_key(|d| d.uuid());
    let mut want = vec![missing, report];
    want.sort_by_key(|d| d.uuid());
    assert_eq!(unavailable, want, "nothing else is");
    Ok(())
}

/// A raw websocket peer, for messages the stock client would never send.
struct RawPeer {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl RawPeer {
    async fn join(app: &TestApp, token: &str) -> TestResult<Self> {
        let url = format!(
            "{}/api/v1/sync?token={token}",
            app.base.replacen("http", "ws", 1)
        );
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        let mut peer = RawPeer { ws };
        let join = Message::Join {
            sender_id: "raw-peer".into(),
            metadata: Default::default(),
            versions: vec!["1".into()],
        };
        peer.send(join.encode()).await?;
        match peer.next().await? {
            Some(Message::Peer { target_id, .. }) => assert_eq!(target_id, "raw-peer"),
            other => return Err(format!("expected peer, got {other:?}").into()),
        }
        Ok(peer)
    }

    async fn send(&mut self, frame: Vec<u8>) -> TestResult {
        use futures_util::SinkExt;
        self.ws
            .send(tungstenite::Message::Binary(frame.into()))
            .await?;
        Ok(())
    }

    /// The next protocol message, or None once the server closed.
    async fn next(&mut self) -> TestResult<Option<Message>> {
        use futures_util::StreamExt;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .map_err(|_| "no message from the server")?;
            match frame {
                Some(Ok(tungstenite::Message::Binary(b))) => {
                    return Ok(Some(Message::decode(&b, usize::MAX)?));
                }
                Some(Ok(tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_))) => {}
                Some(Ok(tungstenite::Message::Close(_))) | None | Some(Err(_)) => return Ok(None),
                Some(Ok(other)) => return Err(format!("unexpected frame {other:?}").into()),
            }
        }
    }

    /// Sends `frame` and expects the server to answer with an error naming `why`, then close.
    async fn refused(mut self, frame: Vec<u8>, why: &str) -> TestResult {
        self.send(frame).await?;
        loop {
            match self.next().await? {
                Some(Message::Error { message, .. }) => {
                    assert!(message.contains(why), "{message:?} should say {why:?}");
                    assert!(self.next().await?.is_none(), "the connection should close");
                    return Ok(());
                }
                Some(Message::Sync { .. }) => {}
                other => return Err(format!("expected an error, got {other:?}").into()),
            }
        }
    }
}

use sync_engine::protocol::Message;
use tokio_tungstenite::tungstenite;

/// CBOR of a map of text keys to text values, plus `data` as bytes: what a broken peer writes.
fn cbor_map(text: &[(&str, &str)], data: &[u8]) -> Vec<u8> {
    fn head(major: u8, n: usize, out: &mut Vec<u8>) {
        match n {
            0..=23 => out.push(major << 5 | n as u8),
            24..=255 => out.extend([major << 5 | 24, n as u8]),
            _ => {
                out.push(major << 5 | 26);
                out.extend((n as u32).to_be_bytes());
            }
        }
    }
    let mut out = Vec::new();
    head(5, text.len() + 1, &mut out);
    for (k, v) in text {
        for s in [k, v] {
            head(3, s.len(), &mut out);
            out.extend(s.as_bytes());
        }
    }
    head(3, 4, &mut out);
    out.extend(b"data");
    head(2, data.len(), &mut out);
    out.extend(data);
    out
}

/// A sync message whose one change chunk is 64 MiB of zeros, deflated to some 64 KiB.
fn compression_bomb() -> TestResult<Vec<u8>> {
    use std::io::Write;
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![0u8; 64 << 20])?;
    let body = e.finish()?;
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3, 4, 2];
    let mut n = body.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            chunk.push(b);
            break;
        }
        chunk.push(b | 0x80);
    }
    chunk.extend(body);
    let message = automerge::sync::Message {
        heads: Vec::new(),
        need: Vec::new(),
        have: Vec::new(),
        changes: vec![chunk].into(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    };
    Ok(message.encode())
}

#[tokio::test]
async fn broken_and_hostile_messages_close_that_connection_only() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let worker = app.token(GRID_WORKER).await?;
    let (id, url) = task_in_g001(&app).await?;
    let document: sync_engine::docid::DocumentId = url.parse()?;
    // A phone keeps syncing throughout.
    let mut phone = Phone::start("steady").await?;
    phone.connect(&app, &worker).await?;
    phone.find(&url).await?;

    RawPeer::join(&app, &worker)
        .await?
        .refused(b"\xffnot cbor at all".to_vec(), "CBOR")
        .await?;
    let bad_id = cbor_map(
        &[
            ("type", "sync"),
            ("senderId", "raw-peer"),
            ("targetId", "server"),
            ("documentId", "not-a-document"),
        ],
        b"\x42\x00",
    );
    RawPeer::join(&app, &worker)
        .await?
        .refused(bad_id, "document id")
        .await?;
    let sync = |data: Vec<u8>| Message::Sync {
        sender_id: "raw-peer".into(),
        target_id: "server".into(),
        document_id: document,
        data,
    };
    RawPeer::join(&app, &worker)
        .await?
        .refused(sync(compression_bomb()?).encode(), "decompressed")
        .await?;
    RawPeer::join(&app, &worker)
        .await?
        .refused(sync(b"\x42garbage".to_vec()).encode(), "sync message")
        .await?;
    // 20 MB in one message is over the limit before anything is parsed.
    let mut big = RawPeer::join(&app, &worker).await?;
    big.send(sync(vec![7u8; 20 << 20]).encode()).await?;
    if let Some(answer) = big.next().await?
        && !matches!(answer, Message::Error { .. })
    {
        return Err(format!("a 20 MB message was answered: {answer:?}").into());
    }

    // Deleting every field of the document, offline, in one go: all of it is put back.
    phone.ok(json!({"cmd": "offline"})).await?;
    for field in ["status", "description", "feedback", "photos", "deadlines"] {
        phone
            .ok(json!({"cmd": "change", "url": url, "delete": {"path": [field]}}))
            .await?;
    }
    phone
        .ok(json!({"cmd": "online", "timeout_ms": 5000}))
        .await?;
    let doc = phone
        .wait(
            &url,
            json!([
                {"path": ["status"], "equals": "dispatched"},
                {"path": ["description"], "equals": "楼道堆放纸箱"},
                {"path": ["photos"], "exists": true},
                {"path": ["deadlines"], "exists": true},
            ]),
        )
        .await?;
    assert_eq!(doc["feedback"], "");
    let notices = phone.ok(json!({"cmd": "ephemeral", "url": url})).await?;
    assert!(
        notices.to_string().contains("cannot be deleted"),
        "{notices}"
    );
    let e = event(&app, &worker, id).await?;
    assert_eq!(e["status"], "dispatched");
    assert_eq!(e["description"], "楼道堆放纸箱");
    phone.quit().await
}

#[tokio::test]
async fn an_edit_synced_to_one_instance_reaches_a_phone_on_the_other() -> TestResult {
    let a = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let b = a.second_instance(&[]).await?;
    let worker = a.token(GRID_WORKER).await?;
    let (id, url) = task_in_g001(&a).await?;
    let (_, up) = upload_ok(&b, &worker, &jpeg(64, 48, 2)?).await?;
    let photo = str_field(&up, "sha256")?;
    let mut on_a = Phone::start("on-a").await?;
    let mut on_b = Phone::start("on-b").await?;
    on_a.connect(&a, &worker).await?;
    on_b.connect(&b, &worker).await?;
    on_a.find(&url).await?;
    on_b.find(&url).await?;
    let started = tokio::time::Instant::now();
    on_a.ok(json!({"cmd": "change", "url": url, "update_text": {"path": ["on_site_note"], "value": "二单元门口"}}))
        .await?;
    on_b.wait(
        &url,
        json!({"path": ["on_site_note"], "equals": "二单元门口"}),
    )
    .await?;
    eprintln!(
        "edit on one instance seen on the other after {:?}",
        started.elapsed()
    );
    // And back: the phone on the second instance answers, the first hears it.
    on_b.ok(json!({"cmd": "change", "url": url, "set": {"path": ["photos", 0], "value": photo}}))
        .await?;
    on_a.wait(&url, json!({"path": ["photos", 0], "equals": photo}))
        .await?;
    let e = event(&b, &worker, id).await?;
    assert_eq!(e["task"]["on_site_note"], "二单元门口");
    on_a.quit().await?;
    on_b.quit().await
}

#[tokio::test]
async fn a_citizen_edits_the_description_of_an_open_report_and_nothing_else() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let citizen = app.token(CITIZEN).await?;
    let (id, _) = task_in_g001(&app).await?;
    let url = str_field(&event(&app, &citizen, id).await?, "document_url")?;
    let mut phone = Phone::start("citizen-phone").await?;
    phone.connect(&app, &citizen).await?;
    let doc = phone.find(&url).await?;
    assert_eq!(doc["description"], "楼道堆放纸箱");
    assert_eq!(doc["status"], "dispatched");
    let category = doc["category"].clone();
    phone
        .ok(json!({"cmd": "change", "url": url, "set": [
            {"path": ["description"], "value": "楼道堆放纸箱，堵住了消防通道"},
            {"path": ["category"], "value": "safety.hazard"},
        ]}))
        .await?;
    event_until(&app, &citizen, id, |e| {
        e["description"] == "楼道堆放纸箱，堵住了消防通道"
    })
    .await?;
    phone
        .wait(&url, json!({"path": ["category"], "equals": category}))
        .await?;
    assert_eq!(event(&app, &citizen, id).await?["category"], category);
    // An empty description is not taken: the report keeps its text.
    phone
        .ok(json!({"cmd": "change", "url": url, "set": {"path": ["description"], "value": "  "}}))
        .await?;
    phone
        .wait(
            &url,
            json!({"path": ["description"], "equals": "楼道堆放纸箱，堵住了消防通道"}),
        )
        .await?;
    // And hears why.
    let notices = phone.ok(json!({"cmd": "ephemeral", "url": url})).await?;
    let text = notices.to_string();
    assert!(
        text.contains("description") && text.contains("1–2000 characters"),
        "{text}"
    );
    phone.quit().await?;

    // The grid's worker reads the report, as REST shows them the event, and cannot reword it.
    let worker = app.token(GRID_WORKER).await?;
    let mut theirs = Phone::start("worker-phone").await?;
    theirs.connect(&app, &worker).await?;
    let doc = theirs.find(&url).await?;
    assert_eq!(doc["description"], "楼道堆放纸箱，堵住了消防通道");
    theirs
        .ok(json!({"cmd": "change", "url": url, "set": {"path": ["description"], "value": "改写"}}))
        .await?;
    theirs
        .wait(
            &url,
            json!({"path": ["description"], "equals": "楼道堆放纸箱，堵住了消防通道"}),
        )
        .await?;
    assert_eq!(
        event(&app, &citizen, id).await?["description"],
        "楼道堆放纸箱，堵住了消防通道"
    );
    theirs.quit().await
}

#[tokio::test]
async fn documents_compact_reload_whole_and_leave_memory_when_unused() -> TestResult {
    use gridwing_api::sync::store;
    let app = TestApp::spawn_with(&["--demo-street", "true", "--sync-idle-secs", "1"]).await?;
    let worker = app.token(GRID_WORKER).await?;
    let (_, url) = task_in_g001(&app).await?;
    let mut phone = Phone::start("busy").await?;
    phone.connect(&app, &worker).await?;
    phone.find(&url).await?;
    // One change per round trip, more than a compaction's worth.
    let rounds = store::COMPACT_AFTER + 6;
    for i in 0..rounds {
        let note = format!("第{i}次记录");
        phone
            .ok(json!({"cmd": "change", "url": url, "update_text": {"path": ["on_site_note"], "value": note}}))
            .await?;
        phone
            .ok(json!({"cmd": "synced", "url": url, "timeout_ms": 5000}))
            .await?;
    }
    let last = format!("第{}次记录", rounds - 1);
    let document: sync_engine::docid::DocumentId = url.parse()?;
    let stored = store::load(&app.state.db, document.uuid())
        .await?
        .ok_or("the document was not stored")?;
    assert!(stored.snapshot_version > 1, "never compacted");
    assert!(
        stored.rows.len() < store::COMPACT_AFTER,
        "{} change rows left after compaction",
        stored.rows.len()
    );
    let state = automerge::ReadDoc::hydrate(&stored.doc, automerge::ROOT, None)?;
    assert_eq!(
        sync_engine::fields::read_text(&state, "on_site_note").as_deref(),
        Some(last.as_str())
    );
    // Unused, it leaves memory; asked for again, it comes back whole.
    phone.quit().await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !app.state.sync.is_empty() {
        if tokio::time::Instant::now() > deadline {
            return Err(format!("{} documents still in memory", app.state.sync.len()).into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut fresh = Phone::start("fresh").await?;
    fresh.connect(&app, &worker).await?;
    assert_eq!(fresh.find(&url).await?["on_site_note"], last.as_str());
    fresh.quit().await
}

#[tokio::test]
async fn a_task_redispatched_to_another_grid_is_no_longer_the_old_grids_to_edit() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let worker = app.token(GRID_WORKER).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let (id, url) = task_in_g001(&app).await?;
    let mut phone = Phone::start("old-grid").await?;
    phone.connect(&app, &worker).await?;
    phone.find(&url).await?;
    let old_task = str_field(&event(&app, &worker, id).await?["task"], "id")?;
    let document: sync_engine::docid::DocumentId = url.parse()?;
    let before = app
        .state
        .sync
        .generation_of(document)
        .ok_or("not in memory")?;
    let (status, body) = app
        .post(
            &format!("/api/v1/events/{id}/moves"),
            Some(&dispatcher),
            json!({"move": "redispatch", "assignee": {"kind": "grid", "code": "QSH-G002"}, "reason": "属第2网格"}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The phone's next edit comes after the live row of the move reached the document.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.state.sync.generation_of(document) == Some(before) {
        if tokio::time::Instant::now() > deadline {
            return Err("the move never reached the document".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    phone
        .ok(json!({"cmd": "change", "url": url, "update_text": {"path": ["on_site_note"], "value": "还在现场"}}))
        .await?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let detail = event(&app, &dispatcher, id).await?;
    let tasks = detail["tasks"].as_array().ok_or("no tasks")?;
    let old = tasks
        .iter()
        .find(|t| t["id"] == old_task.as_str())
        .ok_or("the old task is gone")?;
    assert!(old["on_site_note"].is_null(), "{old}");
    assert_eq!(detail["task"]["assignee_code"], "QSH-G002");
    phone.quit().await
}

#[tokio::test]
async fn two_workers_update_a_building_offline_and_the_history_says_who_changed_what() -> TestResult
{
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let admin = app.token(ADMIN).await?;
    let (status, body) = app
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({"phone": "13900000031", "name": "周网格", "password": "网格2026abc", "roles": ["grid_worker"], "areas": [{"kind": "grid", "code": "QSH-G001"}]}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let first = app.token(GRID_WORKER).await?;
    let pair = app.login_pair("13900000031", "网格2026abc").await?;
    let second = str_field(&pair, "access_token")?;
    let (status, profile) = app.get("/api/v1/buildings/QSH-B0001", Some(&first)).await?;
    assert_eq!(status, StatusCode::OK, "{profile}");
    let url = str_field(&profile, "document_url")?;

    let mut a = Phone::start("worker-a").await?;
    let mut b = Phone::start("worker-b").await?;
    a.connect(&app, &first).await?;
    b.connect(&app, &second).await?;
    let doc = a.find(&url).await?;
    b.find(&url).await?;
    let units = doc["units"].as_array().ok_or("no units")?;
    assert!(units.len() >= 3, "{doc}");
    // A unit nobody touched keeps its last check: a visit marks only the units it changes.
    let untouched = profile["units"][2].clone();
    let unit = units[0]["number"].as_str().ok_or("no number")?.to_owned();
    let moved_in = units[0]["residents"].as_array().map_or(0, Vec::len);
    for p in [&mut a, &mut b] {
        p.ok(json!({"cmd": "offline"})).await?;
    }
    // Worker A, in the stairwell: a new tenant in the first unit, and a note on the second.
    a.ok(json!({"cmd": "change", "url": url, "set": [
        {"path": ["units", 0, "residents", moved_in], "value": {"name": "吴新", "phone": "13900001111", "id_number": "", "relation": "租户"}},
        {"path": ["units", 1, "notes"], "value": "空置"},
    ]}))
    .await?;
    // Worker B, meanwhile: the building's notes, and the same unit's note.
    b.ok(json!({"cmd": "change", "url": url, "update_text": {"path": ["notes"], "value": "楼道灯坏了"}}))
        .await?;
    b.ok(json!({"cmd": "change", "url": url, "set": {"path": ["units", 1, "notes"], "value": "出租"}}))
        .await?;
    // A's finding, posted once the phone has signal again (its client id was made offline).
    let finding = Uuid::new_v4();
    for p in [&mut a, &mut b] {
        p.ok(json!({"cmd": "online", "timeout_ms": 5000})).await?;
    }
    let (status, created) = app
        .post(
            "/api/v1/events",
            Some(&first),
            json!({"id": finding, "category": "safety.hazard", "description": "楼道灯坏了，夜间看不清", "building_code": "QSH-B0001"}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let both = json!([
        {"path": ["notes"], "equals": "楼道灯坏了"},
        {"path": ["units", 0, "residents", moved_in, "name"], "equals": "吴新"},
    ]);
    let at_a = a.wait(&url, both.clone()).await?;
    let at_b = b.wait(&url, both).await?;
    // The same field, written on both: one value, the same on every copy.
    let note = at_a["units"][1]["notes"].clone();
    assert!(note == "空置" || note == "出租", "{note}");
    let at_b = b
        .wait(&url, json!({"path": ["units", 1, "notes"], "equals": note}))
        .await
        .map_err(|e| format!("{e}; b had {at_b}"))?;
    assert_eq!(at_a, at_b);

    // The profile's rows hold both workers' edits, and its history who made which.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let profile = loop {
        let (_, p) = app.get("/api/v1/buildings/QSH-B0001", Some(&first)).await?;
        let notes_ok = p["notes"] == "楼道灯坏了";
        let unit_ok = p["units"]
            .as_array()
            .and_then(|u| u.iter().find(|u| u["number"] == unit.as_str()))
            .and_then(|u| u["residents"].as_array())
            .is_some_and(|r| r.iter().any(|r| r["name"] == "吴新"));
        if notes_ok && unit_ok && p["units"][1]["notes"] == note {
            break p;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("the profile never got both edits: {p}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(profile["units"][1]["notes"], note);
    assert_eq!(profile["units"][2]["number"], untouched["number"]);
    assert_eq!(
        profile["units"][2]["verified_at"], untouched["verified_at"],
        "{untouched}"
    );
    let (_, history) = app
        .get(
            "/api/v1/buildings/QSH-B0001/history?limit=100",
            Some(&first),
        )
        .await?;
    let visits = history["items"].as_array().ok_or("no history")?;
    let by = |name: &str, field: &str| {
        visits.iter().any(|v| {
            v["actor_name"] == name
                && v["changes"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["field"].as_str().is_some_and(|f| f.contains(field)))
                })
        })
    };
    assert!(by("王网格", "residents"), "{history}");
    assert!(by("周网格", "notes"), "{history}");
    // The finding was routed by the building's code to its grid, as a worker's own report.
    assert_eq!(created["grid_code"], "QSH-G001", "{created}");
    assert_eq!(created["source"], "patrol");
    a.quit().await?;
    b.quit().await
}

#[tokio::test]
async fn an_acknowledged_edit_survives_kill_9_of_the_server_that_took_it() -> TestResult {
    let db = TestDb::new().await?;
    let (mut first, base) = start_binary(db.url()).await?;
    let client = reqwest::Client::new();
    let citizen = login_at(&client, &base, CITIZEN).await?;
    let created: Value = client
        .post(format!("{base}/api/v1/events"))
        .bearer_auth(&citizen)
        .json(&json!({"id": Uuid::new_v4(), "category": "environment.garbage", "description": "垃圾桶满了", "lat": 30.25, "lng": 119.72}))
        .send()
        .await?
        .json()
        .await?;
    let url = str_field(&created, "document_url")?;
    let ws = |base: &str, token: &str| {
        format!(
            "{}/api/v1/sync?token={token}",
            base.replacen("http", "ws", 1)
        )
    };
    let mut phone = Phone::start("before-kill").await?;
    phone
        .ok(json!({"cmd": "connect", "url": ws(&base, &citizen), "timeout_ms": 5000}))
        .await?;
    phone.find(&url).await?;
    phone
        .ok(json!({"cmd": "change", "url": url, "update_text": {"path": ["description"], "value": "垃圾桶满了，已经溢出"}}))
        .await?;
    // Acknowledged: the server's heads include the edit.
    phone
        .ok(json!({"cmd": "synced", "url": url, "timeout_ms": 5000}))
        .await?;
    first.start_kill()?;
    first.wait().await?;
    phone.quit().await?;

    let (_second, base) = start_binary(db.url()).await?;
    let citizen = login_at(&client, &base, CITIZEN).await?;
    let mut fresh = Phone::start("after-kill").await?;
    fresh
        .ok(json!({"cmd": "connect", "url": ws(&base, &citizen), "timeout_ms": 5000}))
        .await?;
    assert_eq!(
        fresh.find(&url).await?["description"],
        "垃圾桶满了，已经溢出"
    );
    let id = str_field(&created, "id")?;
    let e: Value = client
        .get(format!("{base}/api/v1/events/{id}"))
        .bearer_auth(&citizen)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(e["description"], "垃圾桶满了，已经溢出");
    fresh.quit().await
}

/// Makes every write of a change row fail (`on`), or mends that: the database refusing a merge.
async fn refuse_change_rows(app: &TestApp, on: bool) -> TestResult {
    use sea_orm::ConnectionTrait;
    let db = &app.state.db;
    let sql = match (db.get_database_backend(), on) {
        (sea_orm::DbBackend::Postgres, true) => {
            "CREATE FUNCTION gw_refuse_change() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
             CREATE TRIGGER gw_refuse_change BEFORE INSERT ON sync_changes \
             FOR EACH ROW EXECUTE FUNCTION gw_refuse_change();"
        }
        (sea_orm::DbBackend::Postgres, false) => {
            "DROP TRIGGER gw_refuse_change ON sync_changes; DROP FUNCTION gw_refuse_change();"
        }
        (_, true) => {
            "CREATE TRIGGER gw_refuse_change BEFORE INSERT ON sync_changes \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        }
        (_, false) => "DROP TRIGGER gw_refuse_change;",
    };
    db.execute_unprepared(sql).await?;
    Ok(())
}

#[tokio::test]
async fn a_merge_the_database_refuses_is_not_kept_in_memory_either() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let worker = app.token(GRID_WORKER).await?;
    let (id, url) = task_in_g001(&app).await?;
    let ws = format!(
        "{}/api/v1/sync?token={worker}",
        app.base.replacen("http", "ws", 1)
    );
    let mut a = Phone::start("refused-write").await?;
    // It reconnects only when told to.
    a.ok(json!({"cmd": "connect", "url": ws, "timeout_ms": 5000, "retry_ms": 600_000}))
        .await?;
    let note_before = a.find(&url).await?["on_site_note"].clone();
    let row_before = event(&app, &worker, id).await?["task"]["on_site_note"].clone();
    refuse_change_rows(&app, true).await?;
    let note = "写库失败的记录";
    a.ok(json!({"cmd": "change", "url": url, "update_text": {"path": ["on_site_note"], "value": note}}))
        .await?;
    // The write fails, and the server closes the connection rather than acknowledge the edit.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while a.ok(json!({"cmd": "status"})).await?["connected"] != false {
        if tokio::time::Instant::now() > deadline {
            return Err("the server kept the connection after its write failed".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    refuse_change_rows(&app, false).await?;
    // The document is still in memory (a minute unused before it is dropped): a fresh phone
    // gets it from there, and it must not hold what the database never took.
    assert!(!app.state.sync.is_empty());
    let mut b = Phone::start("after-refusal").await?;
    b.connect(&app, &worker).await?;
    assert_eq!(b.find(&url).await?["on_site_note"], note_before);
    assert_eq!(
        event(&app, &worker, id).await?["task"]["on_site_note"],
        row_before
    );
    // The first phone still has its edit, and sends it again once back.
    a.ok(json!({"cmd": "online", "timeout_ms": 5000})).await?;
    b.wait(&url, json!({"path": ["on_site_note"], "equals": note}))
        .await?;
    event_until(&app, &worker, id, |e| e["task"]["on_site_note"] == note).await?;
    a.quit().await?;
    b.quit().await
}
