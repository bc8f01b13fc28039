//! The access table, proved on both paths: for every role, every kind of document (a task, a
//! report, a building profile) and every field a phone may hold, REST and sync allow and refuse
//! the same things, and both agree with what the table is meant to say. A phone that may only
//! read a profile masked gets no document at all, and every write either path accepts leaves the
//! same trail (a timeline step, a visit).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::phone::*;
use crate::photos::{jpeg, upload_ok};
use crate::support::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    None,
    Masked,
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Task,
    Report,
    Building,
}

const FIELDS: [(Kind, &[&str]); 3] = [
    (Kind::Task, &["feedback", "on_site_note", "photos"]),
    (Kind::Report, &["description"]),
    (
        Kind::Building,
        &["name", "address", "notes", "units", "shops"],
    ),
];

/// The people of the test, by what they are to the report made in grid QSH-G001 and to the
/// building QSH-B0001 in that grid.
const PEOPLE: [&str; 8] = [
    "reporter",
    "other_citizen",
    "grid_worker",
    "other_grid_worker",
    "team_member",
    "dispatcher",
    "admin",
    "coordinator",
];

/// What each is meant to read, written out from the rules rather than from the code.
fn expected_read(who: &str, kind: Kind) -> Read {
    match (kind, who) {
        (Kind::Task | Kind::Report, "reporter" | "grid_worker" | "dispatcher" | "admin") => {
            Read::Full
        }
        (Kind::Task | Kind::Report, _) => Read::None,
        (Kind::Building, "grid_worker") => Read::Full,
        (Kind::Building, "team_member" | "dispatcher" | "admin" | "coordinator") => Read::Masked,
        (Kind::Building, _) => Read::None,
    }
}

/// What each is meant to write: the task's grid its notes, the reporter their words, the
/// building's grid its profile; the command centre steers by moves, never by fields.
fn expected_write(who: &str, kind: Kind) -> bool {
    matches!(
        (kind, who),
        (Kind::Task | Kind::Building, "grid_worker") | (Kind::Report, "reporter")
    )
}

struct Person {
    who: &'static str,
    token: String,
    id: String,
    /// Photos of their own upload, one for each path: a task's photos must be the writer's.
    photos: [String; 2],
}

struct Fixture {
    event: Uuid,
    task_url: String,
    report_url: String,
    building_url: String,
    first_unit: String,
}

async fn people(app: &TestApp) -> TestResult<Vec<Person>> {
    let admin = app.token(ADMIN).await?;
    let (status, body) = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"phone": "13912340001", "password": "巡防2026go"}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let other_citizen = str_field(
        &app.login_pair("13912340001", "巡防2026go").await?,
        "access_token",
    )?;
    let mut out = Vec::new();
    for who in PEOPLE {
        let token = match who {
            "reporter" => app.token(CITIZEN).await?,
            "other_citizen" => other_citizen.clone(),
            "grid_worker" => app.token(GRID_WORKER).await?,
            "other_grid_worker" => app.token(OTHER_GRID_WORKER).await?,
            "team_member" => app.token(TEAM_MEMBER).await?,
            "dispatcher" => app.token(DISPATCHER).await?,
            "admin" => admin.clone(),
            _ => app.token(COORDINATOR).await?,
        };
        let (_, me) = app.get("/api/v1/me", Some(&token)).await?;
        let mut photos = [String::new(), String::new()];
        for (k, photo) in photos.iter_mut().enumerate() {
            let seed = (out.len() * 2 + k) as u8;
            let (_, body) = upload_ok(app, &token, &jpeg(64, 48, seed)?).await?;
            *photo = str_field(&body, "sha256")?;
        }
        out.push(Person {
            who,
            id: str_field(&me, "id")?,
            token,
            photos,
        });
    }
    Ok(out)
}

async fn fixture(app: &TestApp) -> TestResult<Fixture> {
    let (event, task_url) = task_in_g001(app).await?;
    let citizen = app.token(CITIZEN).await?;
    let report_url = str_field(&event_json(app, &citizen, event).await?, "document_url")?;
    let worker = app.token(GRID_WORKER).await?;
    let (status, b) = app
        .get("/api/v1/buildings/QSH-B0001", Some(&worker))
        .await?;
    assert_eq!(status, StatusCode::OK, "{b}");
    Ok(Fixture {
        event,
        task_url,
        report_url,
        building_url: str_field(&b, "document_url")?,
        first_unit: str_field(&b["units"][0], "number")?,
    })
}

async fn event_json(app: &TestApp, token: &str, id: Uuid) -> TestResult<Value> {
    let (status, e) = app
        .get(&format!("/api/v1/events/{id}"), Some(token))
        .await?;
    assert_eq!(status, StatusCode::OK, "{e}");
    Ok(e)
}

/// What REST shows the person of a kind of document.
async fn rest_read(app: &TestApp, p: &Person, f: &Fixture, kind: Kind) -> TestResult<Read> {
    let path = match kind {
        Kind::Task | Kind::Report => format!("/api/v1/events/{}", f.event),
        Kind::Building => "/api/v1/buildings/QSH-B0001".to_owned(),
    };
    let (status, body) = app.get(&path, Some(&p.token)).await?;
    Ok(match status {
        // A role that may not read buildings at all is refused before any is looked up.
        StatusCode::NOT_FOUND | StatusCode::FORBIDDEN => Read::None,
        StatusCode::OK if kind == Kind::Building && body["masked"] == true => {
            // A masked profile offers no document to sync.
            assert!(body.get("document_url").is_none(), "{}: {body}", p.who);
            Read::Masked
        }
        StatusCode::OK => Read::Full,
        other => return Err(format!("{}: GET {path}: {other} {body}", p.who).into()),
    })
}

/// Whether the phone gets the document at all; a document, when it does, is always whole.
async fn sync_read(phone: &mut Phone, who: &str, url: &str) -> TestResult<bool> {
    let answer = phone
        .send(json!({"cmd": "find", "url": url, "timeout_ms": 5000}))
        .await?;
    if answer["ok"] == true {
        return Ok(true);
    }
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("unavailable"), "{who}: {answer}");
    Ok(false)
}

/// The value a person writes into a field, unique to them and the path.
fn value_for(kind: Kind, field: &str, p: &Person, path: &str, unit: &str) -> (Value, Value) {
    let who = p.who;
    let text = format!("{path}-{who}-{field}");
    match (kind, field) {
        (Kind::Task, "photos") => {
            let photo = &p.photos[usize::from(path == "rest")];
            (json!(["photos"]), json!([photo]))
        }
        (Kind::Building, "units") => (json!(["units", 0, "notes"]), json!(text)),
        (Kind::Building, "shops") => (
            json!(["shops"]),
            json!([{"kind": "shop", "name": text, "credit_code": "", "contact": "",
                    "phone": "", "unit_number": unit}]),
        ),
        _ => (json!([field]), json!(text)),
    }
}

fn at<'a>(doc: &'a Value, path: &Value) -> &'a Value {
    let mut v = doc;
    for step in path.as_array().into_iter().flatten() {
        v = match step {
            Value::Number(n) => &v[n.as_u64().unwrap_or_default() as usize],
            Value::String(s) => &v[s.as_str()],
            _ => &Value::Null,
        };
    }
    v
}

/// Writes the field over sync and tells whether the server kept it: once the server has
/// answered the change (its heads are the phone's), a refused value has been put back.
async fn sync_write(
    phone: &mut Phone,
    p: &Person,
    url: &str,
    kind: Kind,
    field: &str,
    unit: &str,
) -> TestResult<bool> {
    let who = p.who;
    let (path, value) = value_for(kind, field, p, "sync", unit);
    phone
        .ok(json!({"cmd": "change", "url": url, "set": {"path": path, "value": value}}))
        .await?;
    phone
        .ok(json!({"cmd": "synced", "url": url, "timeout_ms": 10000}))
        .await?;
    let doc = phone.ok(json!({"cmd": "doc", "url": url})).await?["doc"].clone();
    let kept = at(&doc, &path) == &value;
    let notices = phone
        .ok(json!({"cmd": "ephemeral", "url": url}))
        .await?
        .to_string();
    // A value put back is always explained to the phone, and only then.
    assert_eq!(
        !kept,
        notices.contains(field),
        "{who} {field}: kept {kept}, notices {notices}"
    );
    Ok(kept)
}

/// Writes the field over REST and tells whether it was taken: 2xx taken; 403 or 404 refused.
async fn rest_write(
    app: &TestApp,
    p: &Person,
    f: &Fixture,
    kind: Kind,
    field: &str,
) -> TestResult<bool> {
    let (_, value) = value_for(kind, field, p, "rest", &f.first_unit);
    let (method, path, body) = match (kind, field) {
        (Kind::Task, _) => (
            Method::PATCH,
            format!("/api/v1/events/{}/task", f.event),
            json!({ field: value }),
        ),
        (Kind::Report, _) => (
            Method::PATCH,
            format!("/api/v1/events/{}/report", f.event),
            json!({ field: value }),
        ),
        (Kind::Building, "units") => (
            Method::PATCH,
            "/api/v1/buildings/QSH-B0001".to_owned(),
            json!({"units": [{"number": f.first_unit, "notes": value}]}),
        ),
        (Kind::Building, "shops") => (
            Method::PATCH,
            "/api/v1/buildings/QSH-B0001".to_owned(),
            json!({"businesses": [{"kind": "shop", "name": format!("rest-{}", p.who)}]}),
        ),
        (Kind::Building, _) => (
            Method::PATCH,
            "/api/v1/buildings/QSH-B0001".to_owned(),
            json!({ field: value }),
        ),
    };
    let (status, answer) = app.call(method, &path, Some(&p.token), Some(body)).await?;
    match status.as_u16() {
        200..=299 => Ok(true),
        403 | 404 => Ok(false),
        other => Err(format!("{} {field}: {path}: {other} {answer}", p.who).into()),
    }
}

fn url_of(f: &Fixture, kind: Kind) -> &str {
    match kind {
        Kind::Task => &f.task_url,
        Kind::Report => &f.report_url,
        Kind::Building => &f.building_url,
    }
}

#[tokio::test]
async fn rest_and_sync_allow_and_refuse_the_same_things_for_every_role_document_and_field()
-> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let people = people(&app).await?;
    let f = fixture(&app).await?;
    let mut rows = Vec::new();
    for p in &people {
        let mut phone = Phone::start(p.who).await?;
        phone.connect(&app, &p.token).await?;
        for (kind, fields) in FIELDS {
            let rest = rest_read(&app, p, &f, kind).await?;
            let synced = sync_read(&mut phone, p.who, url_of(&f, kind)).await?;
            assert_eq!(rest, expected_read(p.who, kind), "{} reads {kind:?}", p.who);
            // Sync hands out a document exactly to those REST shows it whole.
            assert_eq!(synced, rest == Read::Full, "{} syncs {kind:?}", p.who);
            for field in fields.iter() {
                let by_sync = synced
                    && sync_write(&mut phone, p, url_of(&f, kind), kind, field, &f.first_unit)
                        .await?;
                let by_rest = rest_write(&app, p, &f, kind, field).await?;
                rows.push((p.who, kind, *field, by_rest, by_sync));
            }
        }
        phone.quit().await?;
    }
    let mut drift = Vec::new();
    for &(who, kind, field, by_rest, by_sync) in &rows {
        let meant = expected_write(who, kind);
        if by_rest != by_sync || by_rest != meant {
            drift.push(format!(
                "{who} {kind:?}.{field}: REST {by_rest}, sync {by_sync}, table {meant}"
            ));
        }
    }
    assert!(drift.is_empty(), "the paths drift:\n{}", drift.join("\n"));
    assert_eq!(rows.len(), PEOPLE.len() * 9);

    // A task's photos are the writer's own uploads: another's photo is refused and named.
    let worker = people
        .iter()
        .find(|p| p.who == "grid_worker")
        .ok_or("no worker")?;
    let reporter = people
        .iter()
        .find(|p| p.who == "reporter")
        .ok_or("no reporter")?;
    let res = app
        .request(
            Method::PATCH,
            &format!("/api/v1/events/{}/task", f.event),
            Some(&worker.token),
        )
        .json(&json!({"photos": [reporter.photos[0]]}))
        .send()
        .await?;
    let problem = assert_problem(res, 422, "validation-failed").await?;
    assert_eq!(problem["errors"][0]["field"], "photos[0]", "{problem}");

    // Both paths left the same trail: a timeline step per note and rewording, by its writer.
    let dispatcher = app.token(DISPATCHER).await?;
    let detail = event_json(&app, &dispatcher, f.event).await?;
    let timeline = detail["timeline"].as_array().ok_or("no timeline")?;
    for (by, action, field) in [
        (worker, "note", "feedback"),
        (worker, "note", "on_site_note"),
        (worker, "note", "photos"),
        (reporter, "reword", "description"),
    ] {
        for path in ["sync", "rest"] {
            let text = match field {
                "photos" => by.photos[usize::from(path == "rest")].clone(),
                _ => format!("{path}-{}-{field}", by.who),
            };
            let found = timeline.iter().any(|s| {
                s["action"] == action
                    && s["actor_id"] == by.id.as_str()
                    && s["detail"].to_string().contains(&text)
            });
            assert!(found, "no {action} step with {text}: {timeline:?}");
        }
    }
    // Nobody else's words reached the timeline.
    for s in timeline {
        if matches!(s["action"].as_str(), Some("note" | "reword")) {
            let actor = s["actor_id"].as_str().unwrap_or_default();
            assert!(actor == worker.id || actor == reporter.id, "{s}");
        }
    }
    // The building's history holds a visit by its worker for each path, and nobody else's.
    let (_, history) = app
        .get(
            "/api/v1/buildings/QSH-B0001/history?limit=100",
            Some(&worker.token),
        )
        .await?;
    let visits = history["items"].as_array().ok_or("no visits")?;
    for path in ["sync", "rest"] {
        let text = format!("{path}-grid_worker-notes");
        assert!(
            visits.iter().any(|v| v.to_string().contains(&text)),
            "no visit with {text}: {history}"
        );
    }
    assert!(
        visits.iter().all(|v| v["actor_id"] == worker.id.as_str()),
        "{history}"
    );
    Ok(())
}
