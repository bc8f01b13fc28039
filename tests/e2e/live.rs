//! Live delivery and catch-up: outbox rows reach the users they concern, by the feed and by
//! websocket, in commit order, across instances, with cursors that never skip or repeat a row.
//! Most tests write rows straight to the outbox, as the event code does inside its
//! transactions; the last ones drive real reports through the event loop.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::StreamExt;
use gridwing_api::entities::outbox as outbox_rows;
use gridwing_api::live::outbox::{self, Entry};
use places::tree::Level;
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, DbBackend, Set, TransactionTrait};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};
use uuid::Uuid;

use crate::support::*;

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a test waits for a row to reach a connected client: a bound on waiting, not the
/// expected latency (about a second at worst), as CI runs many servers on two cores.
const LIVE: Duration = Duration::from_secs(5);

/// A row for the outbox: whom it concerns, and a payload naming it.
struct Row {
    kind: &'static str,
    grid: Option<String>,
    team: Option<&'static str>,
    user: Option<Uuid>,
}

impl Row {
    fn grid(code: &str) -> Self {
        Row {
            kind: "event.created",
            grid: Some(code.to_owned()),
            team: None,
            user: None,
        }
    }

    fn entry(&self, event_id: Uuid) -> Entry {
        Entry {
            event_id,
            kind: self.kind,
            grid_code: self.grid.clone(),
            micro_grid_code: None,
            team_code: self.team.map(str::to_owned),
            user_id: self.user,
            street_code: Some("QSH".to_owned()),
            payload: payload(event_id),
        }
    }
}

fn payload(event_id: Uuid) -> Value {
    json!({"event_id": event_id, "title": "井盖缺失", "colour": "red"})
}

/// Records one row in its own transaction (as the event code does) and returns its event id.
async fn record(app: &TestApp, row: Row) -> TestResult<Uuid> {
    let event_id = Uuid::now_v7();
    outbox::record(&app.state.db, row.entry(event_id)).await?;
    Ok(event_id)
}

fn event_of(item: &Value) -> TestResult<Uuid> {
    Ok(str_field(item, "event_id")?.parse()?)
}

fn cursor_of(item: &Value) -> TestResult<i64> {
    Ok(str_field(item, "cursor")?.parse()?)
}

/// One page of the caller's feed.
async fn feed(app: &TestApp, token: &str, query: &str) -> TestResult<Value> {
    let (status, body) = app
        .get(&format!("/api/v1/feed{query}"), Some(token))
        .await?;
    if status != StatusCode::OK {
        return Err(format!("feed{query}: {status} {body}").into());
    }
    Ok(body)
}

/// The caller's whole feed after `after`, page by page.
async fn feed_all(app: &TestApp, token: &str, after: &str) -> TestResult<Vec<Value>> {
    let mut after = after.to_owned();
    let mut all = Vec::new();
    loop {
        let page = feed(app, token, &format!("?limit=500&after={after}")).await?;
        let items = page["items"].as_array().ok_or("items")?.clone();
        if items.is_empty() {
            return Ok(all);
        }
        after = str_field(&page, "next_cursor")?;
        all.extend(items);
    }
}

/// The items among `items` for these events, in feed order.
fn only(items: &[Value], events: &[Uuid]) -> TestResult<Vec<Uuid>> {
    let mut out = Vec::new();
    for item in items {
        let e = event_of(item)?;
        if events.contains(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

/// Waits until the caller's feed holds every one of `events` (they are sequenced).
async fn wait_feed(app: &TestApp, token: &str, events: &[Uuid]) -> TestResult<Vec<Value>> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let items = feed_all(app, token, "0").await?;
        if only(&items, events)?.len() == events.len() {
            return Ok(items);
        }
        if Instant::now() > deadline {
            return Err(format!("events not in the feed within 5 s: {events:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ws_url(app: &TestApp, query: &str) -> String {
    format!(
        "{}/api/v1/live{query}",
        app.base.replacen("http://", "ws://", 1)
    )
}

/// Opens the live connection with the token in the query string.
pub(crate) async fn connect(app: &TestApp, token: &str, after: Option<&str>) -> TestResult<Ws> {
    let mut query = format!("?token={token}");
    if let Some(a) = after {
        query.push_str(&format!("&after={a}"));
    }
    let (ws, res) = connect_async(ws_url(app, &query)).await?;
    assert_eq!(res.status().as_u16(), 101);
    Ok(ws)
}

/// The next item on the connection, within `within`.
pub(crate) async fn next_item(ws: &mut Ws, within: Duration) -> TestResult<Value> {
    let deadline = Instant::now() + within;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .map_err(|_| format!("no item within {within:?}"))?
            .ok_or("connection ended")??;
        match msg {
            Message::Text(text) => return Ok(serde_json::from_str(text.as_str())?),
            Message::Ping(_) | Message::Pong(_) => {}
            other => return Err(format!("unexpected frame {other:?}").into()),
        }
    }
}

/// Asserts nothing but control frames arrive for `quiet`.
async fn assert_quiet(ws: &mut Ws, quiet: Duration) -> TestResult {
    match next_item(ws, quiet).await {
        Ok(item) => Err(format!("unexpected item {item}").into()),
        Err(e) if e.to_string().starts_with("no item within") => Ok(()),
        Err(e) => Err(e),
    }
}

/// The status of a refused websocket upgrade.
async fn refused(request: impl IntoClientRequest + Unpin) -> TestResult<u16> {
    match connect_async(request).await {
        Err(tungstenite::Error::Http(res)) => Ok(res.status().as_u16()),
        Err(e) => Err(format!("unexpected error {e}").into()),
        Ok(_) => Err("the upgrade was accepted".into()),
    }
}

#[tokio::test]
async fn the_feed_orders_rows_and_gives_each_user_only_theirs() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let worker = app.token(GRID_WORKER).await?;
    let other = app.token(OTHER_GRID_WORKER).await?;
    let citizen = app.token(CITIZEN).await?;
    let member = app.token(TEAM_MEMBER).await?;
    let (_, me) = app.get("/api/v1/me", Some(&citizen)).await?;
    let citizen_id: Uuid = str_field(&me, "id")?.parse()?;
    let micro = app
        .state
        .places
        .get()
        .nodes()
        .find(|n| n.level == Level::MicroGrid && n.parent.as_deref() == Some("QSH-G001"))
        .map(|n| n.code.clone())
        .ok_or("QSH-G001 has no micro-grid")?;

    let a = record(&app, Row::grid("QSH-G001")).await?;
    let b = record(&app, Row::grid("QSH-G002")).await?;
    // A citizen's own report, in a grid neither grid worker serves.
    let c = record(
        &app,
        Row {
            kind: "event.changed",
            grid: Some("QSH-G003".to_owned()),
            team: None,
            user: Some(citizen_id),
        },
    )
    .await?;
    let d = record(
        &app,
        Row {
            kind: "task.lit",
            grid: None,
            team: Some("QSH-MED-01"),
            user: None,
        },
    )
    .await?;
    // A micro-grid's row reaches the workers of the grid above it.
    let e = record(&app, Row::grid(&micro)).await?;
    let f = record(&app, Row::grid("QSH-G001")).await?;
    app.state.live.poke();
    let mine = [a, b, c, d, e, f];
    let all = wait_feed(&app, &dispatcher, &mine).await?;

    // The dispatcher hears everything, in the order written, with increasing cursors.
    assert_eq!(only(&all, &mine)?, mine);
    let cursors: Vec<i64> = all.iter().map(cursor_of).collect::<TestResult<_>>()?;
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
    // Each item has exactly the documented shape, the payload as written.
    let first = all
        .iter()
        .find(|i| event_of(i).ok() == Some(a))
        .ok_or("a")?;
    let keys: BTreeSet<&str> = first
        .as_object()
        .ok_or("item")?
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["cursor", "kind", "event_id", "payload"])
    );
    assert_eq!(first["kind"], "event.created");
    assert_eq!(first["payload"], payload(a));

    // Each of the others hears exactly their rows, under the same cursors.
    for (who, token, expected) in [
        ("grid worker of QSH-G001", &worker, vec![a, e, f]),
        ("grid worker of QSH-G002", &other, vec![b]),
        ("citizen", &citizen, vec![c]),
        ("team member", &member, vec![d]),
    ] {
        let items = feed_all(&app, token, "0").await?;
        assert_eq!(only(&items, &mine)?, expected, "{who}");
        assert_eq!(items.len(), expected.len(), "{who} hears nothing else");
        for item in &items {
            assert!(
                all.contains(item),
                "{who}: {item} differs from the dispatcher's"
            );
        }
    }

    // Paging with a small limit walks every row exactly once, for the dispatcher and for a
    // worker whose rows are spread among others'.
    for (token, limit) in [(&dispatcher, 2), (&worker, 1)] {
        let whole = feed_all(&app, token, "0").await?;
        let mut walked = Vec::new();
        let mut query = format!("?limit={limit}");
        loop {
            let page = feed(&app, token, &query).await?;
            let items = page["items"].as_array().ok_or("items")?;
            assert!(items.len() <= limit);
            if items.is_empty() {
                assert!(page.get("next_cursor").is_none(), "{page}");
                break;
            }
            let next = str_field(&page, "next_cursor")?;
            assert_eq!(items.last().map(|i| i["cursor"].clone()), Some(json!(next)));
            walked.extend(items.iter().cloned());
            query = format!("?limit={limit}&after={next}");
        }
        assert_eq!(walked, whole);
    }
    // Missing `after` is the beginning, as `after=0` is.
    let from_start = feed(&app, &worker, "").await?;
    assert_eq!(from_start, feed(&app, &worker, "?after=0").await?);

    // Bad cursors and limits name the parameter at fault.
    for (query, field) in [
        ("?after=abc", "after"),
        ("?after=-1", "after"),
        ("?after=1.5", "after"),
        ("?limit=0", "limit"),
        ("?limit=501", "limit"),
        ("?since=3", "since"),
    ] {
        let res = app
            .request(
                reqwest::Method::GET,
                &format!("/api/v1/feed{query}"),
                Some(&worker),
            )
            .send()
            .await?;
        let p = assert_problem(res, 422, "validation-failed").await?;
        assert_eq!(p["errors"][0]["field"], field, "{query}: {p}");
    }
    let res = app
        .request(reqwest::Method::GET, "/api/v1/feed", None)
        .send()
        .await?;
    assert_problem(res, 401, "unauthorized").await?;
    Ok(())
}

#[tokio::test]
async fn the_websocket_sends_live_rows_and_replays_missed_ones_without_gap_or_repeat() -> TestResult
{
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let worker = app.token(GRID_WORKER).await?;
    let mut live = connect(&app, &worker, None).await?;

    // A row of another grid is not sent; the worker's own arrives with its cursor.
    let other = record(&app, Row::grid("QSH-G002")).await?;
    let b = record(&app, Row::grid("QSH-G001")).await?;
    app.state.live.poke();
    let item_b = next_item(&mut live, LIVE).await?;
    assert_eq!(event_of(&item_b)?, b);
    assert_eq!(item_b["kind"], "event.created");
    assert_eq!(item_b["payload"], payload(b));
    let fed = feed_all(&app, &worker, "0").await?;
    assert_eq!(
        fed,
        vec![item_b.clone()],
        "the feed and the websocket agree"
    );
    assert!(!only(&fed, &[other])?.contains(&other));

    let c = record(&app, Row::grid("QSH-G001")).await?;
    app.state.live.poke();
    let item_c = next_item(&mut live, LIVE).await?;
    assert_eq!(event_of(&item_c)?, c);
    assert!(cursor_of(&item_c)? > cursor_of(&item_b)?);

    // A client that held B's cursor gets C from the replay, then D live, and nothing twice. It
    // authenticates by header this time.
    let mut request =
        ws_url(&app, &format!("?after={}", str_field(&item_b, "cursor")?)).into_client_request()?;
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {worker}").parse()?);
    let (mut back, _) = connect_async(request).await?;
    assert_eq!(next_item(&mut back, LIVE).await?, item_c);
    // And one from the beginning gets B and C, in order.
    let mut fresh = connect(&app, &worker, Some("0")).await?;
    assert_eq!(next_item(&mut fresh, LIVE).await?, item_b);
    assert_eq!(next_item(&mut fresh, LIVE).await?, item_c);
    let d = record(&app, Row::grid("QSH-G001")).await?;
    app.state.live.poke();
    for ws in [&mut live, &mut back, &mut fresh] {
        let item = next_item(ws, LIVE).await?;
        assert_eq!(event_of(&item)?, d);
    }
    for ws in [&mut live, &mut back, &mut fresh] {
        assert_quiet(ws, Duration::from_millis(600)).await?;
    }

    // Rows written while clients connect with their cursor: every one arrives once, in order,
    // whether it came by the replay or live. Several clients connect while the rows flow, so
    // some connect while a row is both on its way live and already readable by the replay.
    let last_d = feed_all(&app, &worker, "0").await?;
    let cursor_d = str_field(last_d.last().ok_or("d")?, "cursor")?;
    let writer = {
        let state = app.state.clone();
        tokio::spawn(async move {
            let mut events = Vec::new();
            for i in 0..90 {
                let event_id = Uuid::now_v7();
                let row = Row::grid(if i % 3 == 0 { "QSH-G002" } else { "QSH-G001" });
                outbox::record(&state.db, row.entry(event_id)).await?;
                state.live.poke();
                if i % 3 != 0 {
                    events.push(event_id);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Ok::<_, gridwing_api::error::ApiError>(events)
        })
    };
    let mut racing = Vec::new();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(15)).await;
        racing.push(connect(&app, &worker, Some(&cursor_d)).await?);
    }
    let expected = writer.await??;
    for client in &mut racing {
        let mut got = Vec::new();
        let mut last: i64 = cursor_d.parse()?;
        while got.len() < expected.len() {
            let item = next_item(client, LIVE).await?;
            let cursor = cursor_of(&item)?;
            assert!(
                cursor > last,
                "cursor {cursor} after {last}: a row sent twice"
            );
            last = cursor;
            got.push(event_of(&item)?);
        }
        assert_eq!(got, expected);
        assert_quiet(client, Duration::from_millis(200)).await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_row_committed_later_gets_a_later_cursor_even_if_written_first() -> TestResult {
    let app = TestApp::spawn().await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let postgres = app.state.db.get_database_backend() == DbBackend::Postgres;
    let first = Uuid::now_v7();
    let second = Uuid::now_v7();
    let written_first;
    let mut reader;
    if postgres {
        // The first row's transaction is written first and stays open while the second row is
        // written, committed and sequenced.
        let tx = app.state.db.begin().await?;
        outbox::record(&tx, Row::grid("QSH-G001").entry(first)).await?;
        outbox::record(&app.state.db, Row::grid("QSH-G001").entry(second)).await?;
        app.state.live.poke();
        let seen = wait_feed(&app, &dispatcher, &[second]).await?;
        let cursor = str_field(seen.last().ok_or("second")?, "cursor")?;
        // A reader holding the second row's cursor, by websocket and by feed.
        reader = connect(&app, &dispatcher, Some(&cursor)).await?;
        assert_quiet(&mut reader, Duration::from_millis(400)).await?;
        assert!(feed_all(&app, &dispatcher, &cursor).await?.is_empty());
        tx.commit().await?;
        written_first = cursor;
    } else {
        // SQLite runs one writer at a time, so a transaction cannot stay open beside another
        // writer; what such a transaction leaves is a row whose id is older than rows already
        // positioned, committed after them. Write exactly that.
        let early_id = Uuid::now_v7();
        outbox::record(&app.state.db, Row::grid("QSH-G001").entry(second)).await?;
        app.state.live.poke();
        let seen = wait_feed(&app, &dispatcher, &[second]).await?;
        let cursor = str_field(seen.last().ok_or("second")?, "cursor")?;
        reader = connect(&app, &dispatcher, Some(&cursor)).await?;
        assert_quiet(&mut reader, Duration::from_millis(400)).await?;
        let entry = Row::grid("QSH-G001").entry(first);
        outbox_rows::ActiveModel {
            id: Set(early_id),
            pos: Set(None),
            event_id: Set(entry.event_id),
            kind: Set(entry.kind.to_owned()),
            grid_code: Set(entry.grid_code),
            micro_grid_code: Set(entry.micro_grid_code),
            team_code: Set(entry.team_code),
            user_id: Set(entry.user_id),
            street_code: Set(entry.street_code),
            payload: Set(entry.payload.to_string()),
            created_at: Set(chrono::Utc::now()),
        }
        .insert(&app.state.db)
        .await?;
        written_first = cursor;
    }
    app.state.live.poke();
    // The row written first (older id) but committed last comes after the cursor already held.
    let item = next_item(&mut reader, LIVE).await?;
    assert_eq!(event_of(&item)?, first);
    assert!(cursor_of(&item)? > written_first.parse::<i64>()?);
    let after = feed_all(&app, &dispatcher, &written_first).await?;
    assert_eq!(after, vec![item]);
    // Its id is indeed older than the second row's.
    let ids = only(&feed_all(&app, &dispatcher, "0").await?, &[first, second])?;
    assert_eq!(ids, vec![second, first], "cursor order is commit order");
    let id_of = |event: Uuid| {
        let db = app.state.db.clone();
        async move {
            use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
            outbox_rows::Entity::find()
                .filter(outbox_rows::Column::EventId.eq(event))
                .one(&db)
                .await
                .map(|r| r.map(|r| r.id))
        }
    };
    let (id_first, id_second) = (id_of(first).await?, id_of(second).await?);
    assert!(id_first.ok_or("first")? < id_second.ok_or("second")?);
    Ok(())
}

#[tokio::test]
async fn a_row_sequenced_on_one_instance_reaches_the_clients_of_another() -> TestResult {
    let first = TestApp::spawn().await?;
    let second = first.second_instance(&[]).await?;
    let worker = second.token(GRID_WORKER).await?;
    let mut client = connect(&second, &worker, None).await?;
    let redis_url = std::env::var("REDIS_URL").ok();
    // With Redis, watch the channel too: the row must travel through it.
    let mut channel = match &redis_url {
        Some(url) => {
            let mut pubsub = redis::Client::open(url.as_str())?
                .get_async_pubsub()
                .await?;
            pubsub
                .subscribe(gridwing_api::live::bus::channel(&first.redis_prefix))
                .await?;
            Some(pubsub)
        }
        None => None,
    };

    let event = record(&first, Row::grid("QSH-G001")).await?;
    first.state.live.poke();
    let item = next_item(&mut client, LIVE).await?;
    assert_eq!(event_of(&item)?, event);
    match channel.as_mut() {
        Some(pubsub) => {
            let msg = tokio::time::timeout(LIVE, pubsub.on_message().next())
                .await?
                .ok_or("channel closed")?;
            let rows: Value = serde_json::from_slice(msg.get_payload_bytes())?;
            assert_eq!(rows[0]["event_id"], event.to_string());
            assert_eq!(rows[0]["pos"].to_string(), str_field(&item, "cursor")?);
        }
        None => {
            // No Redis: the second instance's feed has the row under the same cursor, and
            // its hub found it in the table.
            let fed = feed_all(&second, &worker, "0").await?;
            assert_eq!(fed, vec![item.clone()]);
        }
    }
    // Either way the feed of both instances agrees with what was sent live.
    assert_eq!(feed_all(&first, &worker, "0").await?, vec![item.clone()]);
    assert_eq!(feed_all(&second, &worker, "0").await?, vec![item]);
    assert_quiet(&mut client, Duration::from_millis(600)).await?;
    Ok(())
}

#[tokio::test]
async fn the_websocket_refuses_missing_bad_and_ended_tokens() -> TestResult {
    let app = TestApp::spawn().await?;
    assert_eq!(refused(ws_url(&app, "")).await?, 401);
    assert_eq!(refused(ws_url(&app, "?token=not.a.jwt")).await?, 401);
    let mut request = ws_url(&app, "").into_client_request()?;
    request
        .headers_mut()
        .insert("authorization", "Bearer nope".parse()?);
    assert_eq!(refused(request).await?, 401);
    // A token whose session ended by logout.
    let pair = app
        .login_pair(GRID_WORKER, gridwing_api::demo::DEMO_PASSWORD)
        .await?;
    let token = str_field(&pair, "access_token")?;
    let res = app
        .request(reqwest::Method::POST, "/api/v1/auth/logout", Some(&token))
        .send()
        .await?;
    assert!(res.status().is_success(), "logout: {}", res.status());
    assert_eq!(
        refused(ws_url(&app, &format!("?token={token}"))).await?,
        401
    );

    // The refusal is a problem, before any upgrade.
    let res = app
        .request(reqwest::Method::GET, "/api/v1/live", None)
        .send()
        .await?;
    assert_problem(res, 401, "unauthorized").await?;
    // A good token with a bad cursor names it; a good token without an upgrade says so.
    let good = app.token(GRID_WORKER).await?;
    assert_eq!(
        refused(ws_url(&app, &format!("?token={good}&after=x"))).await?,
        422
    );
    let res = app
        .request(reqwest::Method::GET, "/api/v1/live?after=-5", Some(&good))
        .send()
        .await?;
    let p = assert_problem(res, 422, "validation-failed").await?;
    assert_eq!(p["errors"][0]["field"], "after");
    let res = app
        .request(reqwest::Method::GET, "/api/v1/live", Some(&good))
        .send()
        .await?;
    let p = assert_problem(res, 422, "validation-failed").await?;
    assert_eq!(p["errors"][0]["field"], "upgrade");
    // And the good token is let in.
    connect(&app, &good, None).await?;
    Ok(())
}

#[tokio::test]
async fn a_client_too_far_behind_is_closed_and_catches_up_with_its_cursor() -> TestResult {
    let app = TestApp::spawn().await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let mut slow = connect(&app, &dispatcher, None).await?;
    // Far more than the instance's stream holds, with payloads big enough to fill the socket
    // buffers while the client reads nothing.
    let rows = 2 * gridwing_api::live::BUS_CAPACITY;
    let filler = "网".repeat(1500);
    let tx = gridwing_api::db::begin_write(&app.state.db).await?;
    let mut events = Vec::with_capacity(rows);
    for _ in 0..rows {
        let event_id = Uuid::now_v7();
        let mut entry = Row::grid("QSH-G001").entry(event_id);
        entry.payload = json!({"event_id": event_id, "filler": filler});
        outbox::record(&tx, entry).await?;
        events.push(event_id);
    }
    tx.commit().await?;
    app.state.live.poke();
    // The client reads nothing until every row is sequenced and sent on: by then the hub,
    // stuck behind full socket buffers, has been overrun by the stream.
    let deadline = Instant::now() + Duration::from_secs(20);
    while gridwing_api::live::sequencer::max_pos(&app.state.db).await? < rows as i64 {
        if Instant::now() > deadline {
            return Err("the rows were not sequenced within 20 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // What arrived is a gapless prefix, then a close saying to reconnect with the cursor.
    let mut got = Vec::new();
    let mut last = String::from("0");
    let close = loop {
        let msg = tokio::time::timeout(LIVE, slow.next())
            .await?
            .ok_or("ended without a close frame")??;
        match msg {
            Message::Text(text) => {
                let item: Value = serde_json::from_str(text.as_str())?;
                got.push(event_of(&item)?);
                last = str_field(&item, "cursor")?;
            }
            Message::Close(frame) => break frame.ok_or("close without a reason")?,
            Message::Ping(_) | Message::Pong(_) => {}
            other => return Err(format!("unexpected frame {other:?}").into()),
        }
    };
    assert_eq!(u16::from(close.code), 1013, "{close:?}");
    assert!(close.reason.contains("after="), "{close:?}");
    assert!(got.len() < rows, "the client was closed before the end");
    assert_eq!(got[..], events[..got.len()]);

    // Reconnecting with the last cursor delivers the rest, once each.
    let mut back = connect(&app, &dispatcher, Some(&last)).await?;
    while got.len() < rows {
        let item = next_item(&mut back, LIVE).await?;
        got.push(event_of(&item)?);
    }
    assert_eq!(got, events);
    assert_quiet(&mut back, Duration::from_millis(300)).await?;
    Ok(())
}

async fn report_in_g001(app: &TestApp, token: &str, worker: &str) -> TestResult<Uuid> {
    let (_, b) = app.get("/api/v1/buildings/QSH-B0001", Some(worker)).await?;
    let (status, e) = app
        .post(
            "/api/v1/events",
            Some(token),
            json!({"id": Uuid::new_v4(), "category": "environment.garbage", "description": "单元门口垃圾", "lat": b["lat"], "lng": b["lng"]}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    Ok(str_field(&e, "id")?.parse()?)
}

/// The next item about `event` of `kind`, skipping others.
async fn next_about(ws: &mut Ws, event: Uuid, kind: &str) -> TestResult<Value> {
    let deadline = Instant::now() + LIVE;
    loop {
        let item = next_item(ws, deadline.saturating_duration_since(Instant::now())).await?;
        if event_of(&item)? == event && item["kind"] == kind {
            return Ok(item);
        }
    }
}

#[tokio::test]
async fn a_report_reaches_its_grid_live_and_the_reporter_hears_each_move() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let citizen = app.token(CITIZEN).await?;
    let worker = app.token(GRID_WORKER).await?;
    let other = app.token(OTHER_GRID_WORKER).await?;
    let mut at_worker = connect(&app, &worker, None).await?;
    let mut at_other = connect(&app, &other, None).await?;
    let mut at_citizen = connect(&app, &citizen, None).await?;

    let id = report_in_g001(&app, &citizen, &worker).await?;
    let pushed = next_about(&mut at_worker, id, "event.created").await?;
    assert_eq!(pushed["payload"]["task"]["assignee_code"], "QSH-G001");
    next_about(&mut at_citizen, id, "event.created").await?;
    let (status, _) = app
        .post(
            &format!("/api/v1/events/{id}/moves"),
            Some(&worker),
            json!({"move": "sign"}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let moved = next_about(&mut at_citizen, id, "event.moved").await?;
    assert_eq!(moved["payload"]["status"], "signed");
    assert!(cursor_of(&moved)? > cursor_of(&pushed)?);
    assert_quiet(&mut at_other, Duration::from_millis(500)).await?;
    Ok(())
}

#[tokio::test]
async fn a_worker_of_one_micro_grid_hears_what_happens_in_it_and_nothing_else() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let admin = app.token(ADMIN).await?;
    let citizen = app.token(CITIZEN).await?;
    let worker = app.token(GRID_WORKER).await?;
    let (_, b) = app
        .get("/api/v1/buildings/QSH-B0001", Some(&worker))
        .await?;
    let mine = str_field(&b, "micro_grid_code")?;
    let (_, tree) = app
        .get("/api/v1/areas?parent=QSH-G001&limit=200", Some(&admin))
        .await?;
    let theirs = tree["items"]
        .as_array()
        .ok_or("no children")?
        .iter()
        .filter_map(|c| c["code"].as_str())
        .find(|c| *c != mine)
        .ok_or("the grid has one micro-grid")?
        .to_owned();
    let mut tokens = Vec::new();
    for (phone, code) in [("13900000051", &mine), ("13900000052", &theirs)] {
        let (status, body) = app
            .post(
                "/api/v1/users",
                Some(&admin),
                json!({"phone": phone, "name": "微网格员", "password": "网格2026abc",
                       "roles": ["grid_worker"], "areas": [{"kind": "micro_grid", "code": code}]}),
            )
            .await?;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        tokens.push(str_field(
            &app.login_pair(phone, "网格2026abc").await?,
            "access_token",
        )?);
    }
    let mut at_mine = connect(&app, &tokens[0], None).await?;
    let mut at_theirs = connect(&app, &tokens[1], None).await?;

    let id = report_in_g001(&app, &citizen, &worker).await?;
    next_about(&mut at_mine, id, "event.created").await?;
    let (status, _) = app
        .post(
            &format!("/api/v1/events/{id}/moves"),
            Some(&worker),
            json!({"move": "sign"}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    next_about(&mut at_mine, id, "event.moved").await?;
    assert_quiet(&mut at_theirs, Duration::from_millis(500)).await?;
    // The feed, the event and the list agree with what was heard live.
    let heard = feed_all(&app, &tokens[0], "0").await?;
    assert_eq!(only(&heard, &[id])?, [id, id]);
    assert!(feed_all(&app, &tokens[1], "0").await?.is_empty());
    let (status, _) = app
        .get(&format!("/api/v1/events/{id}"), Some(&tokens[0]))
        .await?;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .get(&format!("/api/v1/events/{id}"), Some(&tokens[1]))
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // They follow the grid's task; signing it is the grid's.
    let (status, _) = app
        .post(
            &format!("/api/v1/events/{id}/moves"),
            Some(&tokens[0]),
            json!({"move": "arrive"}),
        )
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    Ok(())
}

/// A Redis server of the test's own, so it can be stopped without touching anyone else's.
struct PrivateRedis {
    child: tokio::process::Child,
    port: u16,
}

impl PrivateRedis {
    async fn start(port: u16) -> TestResult<Self> {
        let child = tokio::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("redis-server (the machine's Redis) could not start: {e}"))?;
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Ok(Self { child, port });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err("redis-server did not start listening".into())
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn stop(mut self) -> TestResult {
        self.child.kill().await?;
        Ok(())
    }
}

#[tokio::test]
async fn with_redis_down_reports_are_taken_and_delivered_and_live_returns_with_it() -> TestResult {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let redis = PrivateRedis::start(port).await?;
    let url = redis.url();
    let first = TestApp::spawn_with(&["--demo-street", "true", "--redis-url", &url]).await?;
    let second = first.second_instance(&["--redis-url", &url]).await?;
    let citizen = first.token(CITIZEN).await?;
    let worker = second.token(GRID_WORKER).await?;
    let mut at_worker = connect(&second, &worker, None).await?;
    let id = report_in_g001(&first, &citizen, &worker).await?;
    next_about(&mut at_worker, id, "event.created").await?;

    // Redis goes away: reports are still taken, and reach the other instance's worker anyway
    // (every instance also reads the outbox itself), and the feed has them.
    redis.stop().await?;
    let down = report_in_g001(&first, &citizen, &worker).await?;
    next_about(&mut at_worker, down, "event.created").await?;
    let (_, feed) = second.get("/api/v1/feed?limit=500", Some(&worker)).await?;
    let items = feed["items"].as_array().ok_or("items")?;
    assert!(
        items.iter().any(|i| i["event_id"] == down.to_string()),
        "{feed}"
    );

    // Redis comes back on the same port: live delivery carries on.
    let redis = PrivateRedis::start(port).await?;
    let back = report_in_g001(&first, &citizen, &worker).await?;
    next_about(&mut at_worker, back, "event.created").await?;
    redis.stop().await
}

#[tokio::test]
async fn rows_past_the_feed_window_are_pruned_and_older_cursors_are_told_so() -> TestResult {
    use chrono::Utc;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let app = TestApp::spawn_with(&[
        "--demo-street",
        "true",
        "--feed-window-hours",
        "1",
        "--outbox-prune-secs",
        "1",
    ])
    .await?;
    let citizen = app.token(CITIZEN).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    for i in 0..4 {
        let (status, e) = app
            .post(
                "/api/v1/events",
                Some(&citizen),
                json!({"id": Uuid::new_v4(), "category": "environment.garbage", "description": format!("窗口测试{i}"), "building_code": "QSH-B0001"}),
            )
            .await?;
        assert_eq!(status, StatusCode::CREATED, "{e}");
    }
    // The rows positioned so far, oldest first.
    let cursors = |feed: &Value| -> Vec<i64> {
        feed["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["cursor"].as_str()?.parse().ok())
            .collect()
    };
    let mut all = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while all.len() < 4 {
        assert!(Instant::now() < deadline, "four rows positioned: {all:?}");
        let (_, feed) = app.get("/api/v1/feed?limit=500", Some(&dispatcher)).await?;
        all = cursors(&feed);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The first two were written two hours ago: past the window.
    outbox_rows::Entity::update_many()
        .col_expr(
            outbox_rows::Column::CreatedAt,
            Expr::value(Utc::now() - chrono::Duration::hours(2)),
        )
        .filter(outbox_rows::Column::Pos.lte(all[1]))
        .exec(&app.state.db)
        .await?;
    // The instance's pruning worker takes them.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, feed) = app.get("/api/v1/feed?limit=500", Some(&dispatcher)).await?;
        if cursors(&feed).first() == Some(&all[2]) {
            break;
        }
        assert!(Instant::now() < deadline, "rows pruned: {feed}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A cursor before what is kept: 410, naming the cursor to read on from.
    let res = app
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/feed?after={}", all[0]),
            Some(&dispatcher),
        )
        .send()
        .await?;
    let p = assert_problem(res, 410, "cursor-expired").await?;
    assert_eq!(p["errors"][0]["field"], "after");
    assert!(
        str_field(&p, "detail")?.contains(&format!("cursor {}", all[1])),
        "{p}"
    );
    let res = app
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/live?after={}", all[0]),
            Some(&dispatcher),
        )
        .send()
        .await?;
    assert_problem(res, 410, "cursor-expired").await?;
    // The cursor just before what is kept reads on without a gap; so does the websocket.
    let (status, feed) = app
        .get(&format!("/api/v1/feed?after={}", all[1]), Some(&dispatcher))
        .await?;
    assert_eq!(status, StatusCode::OK, "{feed}");
    assert_eq!(cursors(&feed)[..2], all[2..4]);
    let mut ws = connect(&app, &dispatcher, Some(&all[1].to_string())).await?;
    let item = next_item(&mut ws, LIVE).await?;
    assert_eq!(item["cursor"], all[2].to_string());
    Ok(())
}
