//! How the server refuses: a caller without the role hears 403 before anything about its body;
//! the HTTP layer's own refusals carry problem bodies; a database failure is the server's fault,
//! never a validation error of the request.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

/// Routes only the command centre, admins or coordinators may call, each with a body it would
/// refuse as malformed.
const STAFF_ONLY: &[(&str, &str)] = &[
    ("POST", "/api/v1/users"),
    ("POST", "/api/v1/teams"),
    ("POST", "/api/v1/buildings"),
    ("POST", "/api/v1/points/adjustments"),
    ("POST", "/api/v1/api-keys"),
    ("PUT", "/api/v1/categories/environment.garbage"),
    ("POST", "/api/v1/activities"),
    ("POST", "/api/v1/callouts"),
    ("POST", "/api/v1/patrol-routes"),
    (
        "PATCH",
        "/api/v1/events/0191f1d2-0000-7000-8000-000000000000",
    ),
];

#[tokio::test]
async fn a_caller_without_the_role_hears_403_before_anything_about_its_body() -> TestResult {
    let app = TestApp::spawn().await?;
    // Bodies that each route would refuse for what they are: broken JSON, a wrong shape, the
    // wrong media type, nothing at all.
    let bodies: [(&str, &[u8]); 4] = [
        ("application/json", b"{\"phone\": "),
        ("application/json", b"{\"unknown_field\": [1, 2, 3]}"),
        ("text/plain", b"hello"),
        ("application/json", b""),
    ];
    // Each citizen's session is new to the server, so its lookup is still out when the body
    // has been read: the case where the body used to be judged first.
    let citizens = app.crowd("182", STAFF_ONLY.len() * bodies.len()).await?;
    let mut tokens = citizens.iter().map(|(_, t)| t);
    for (method, path) in STAFF_ONLY {
        for (content_type, body) in bodies {
            let token = tokens.next().ok_or("a citizen per request")?;
            // First with a session not yet looked up, then again with it known.
            for attempt in ["fresh", "known"] {
                let res = app
                    .request(Method::from_bytes(method.as_bytes())?, path, Some(token))
                    .header("content-type", content_type)
                    .body(body.to_vec())
                    .send()
                    .await?;
                let status = res.status();
                let p: Value = res.json().await.unwrap_or_default();
                assert_eq!(
                    (status, p["type"].as_str()),
                    (StatusCode::FORBIDDEN, Some("/problems/forbidden")),
                    "{method} {path} ({content_type}, {attempt} session): {p}"
                );
            }
        }
    }
    // A query is the same: a citizen listing users with a bad limit is refused for the role.
    let token = &citizens[0].1;
    let (status, p) = app.get("/api/v1/users?limit=banana", Some(token)).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{p}");
    // Without credentials, 401 comes first, on a route any caller may use too.
    for (method, path) in [("POST", "/api/v1/users"), ("POST", "/api/v1/events")] {
        let res = app
            .request(Method::from_bytes(method.as_bytes())?, path, None)
            .header("content-type", "application/json")
            .body("{\"broken\": ")
            .send()
            .await?;
        assert_problem(res, 401, "unauthorized").await?;
    }
    // A machine key without the scope to post events hears 403, not a complaint about its body.
    let admin = app.token(ADMIN).await?;
    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            Some(&admin),
            json!({"name": "分类站", "scopes": ["sorting:write"]}),
        )
        .await?;
    let res = app
        .client
        .post(app.url("/api/v1/events"))
        .header("x-api-key", str_field(&key, "key")?)
        .header("content-type", "application/json")
        .body("{\"category\": 5}")
        .send()
        .await?;
    assert_problem(res, 403, "forbidden").await?;
    // The role's holder still hears what is wrong with the body.
    let res = app
        .request(Method::POST, "/api/v1/users", Some(&admin))
        .header("content-type", "application/json")
        .body("{\"unknown_field\": 1}")
        .send()
        .await?;
    assert_problem(res, 422, "validation-failed").await?;
    Ok(())
}

/// Sends raw bytes on a new connection and reads the whole answer (the server closes after it).
async fn raw(app: &TestApp, request: &[u8]) -> TestResult<(u16, String, Value)> {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(request).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await??;
    let answer = String::from_utf8(answer)?;
    let (head, body) = answer.split_once("\r\n\r\n").ok_or("no head")?;
    let status = head.get(9..12).ok_or("no status")?.parse()?;
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or_default()
        .to_owned();
    Ok((status, content_type, serde_json::from_str(body)?))
}

#[tokio::test]
async fn refusals_of_the_http_layer_are_problems_too() -> TestResult {
    let app = TestApp::spawn_with(&["--cors-origins", "https://console.qsh.example"]).await?;

    // A header the HTTP parser cannot read: 400.
    let (status, ct, p) = raw(
        &app,
        b"GET /healthz HTTP/1.1\r\nhost: x\r\nbad header: yes\r\n\r\n",
    )
    .await?;
    assert_eq!((status, ct.as_str()), (400, "application/problem+json"));
    assert_eq!(
        (p["status"].as_u64(), p["type"].as_str()),
        (Some(400), Some("/problems/bad-request"))
    );

    // More headers than the parser takes: 431. (Small ones: the server reads them all before
    // answering, so the answer is not lost to a reset.)
    let mut big = b"GET /healthz HTTP/1.1\r\nhost: x\r\n".to_vec();
    for i in 0..120 {
        big.extend_from_slice(format!("x-filler-{i}: a\r\n").as_bytes());
    }
    big.extend_from_slice(b"\r\n");
    let (status, ct, p) = raw(&app, &big).await?;
    assert_eq!((status, ct.as_str()), (431, "application/problem+json"));
    assert_eq!(p["type"], "/problems/headers-too-large");
    assert!(p["title"].is_string() && p["detail"].is_string(), "{p}");

    // A preflight from an origin that is not allowed.
    let res = app
        .client
        .request(Method::OPTIONS, app.url("/api/v1/me"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await?;
    assert!(!res.headers().contains_key("access-control-allow-origin"));
    let p = assert_problem(res, 400, "bad-request").await?;
    assert!(p["detail"].is_string());
    // …and an allowed one still passes, while the app's own answers are untouched.
    let res = app
        .client
        .request(Method::OPTIONS, app.url("/api/v1/me"))
        .header("origin", "https://console.qsh.example")
        .header("access-control-request-method", "GET")
        .send()
        .await?;
    assert!(res.status().is_success(), "{}", res.status());
    let (status, body) = app.get("/healthz", None).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let res = app.request(Method::GET, "/api/v1/me", None).send().await?;
    assert_problem(res, 401, "unauthorized").await?;
    Ok(())
}

/// Makes a table unreadable, as an outage would: on PostgreSQL it is dropped (a renamed table
/// still answers statements prepared before), on SQLite renamed (its foreign keys stay valid).
async fn break_table(app: &TestApp, table: &str) -> TestResult {
    use sea_orm::ConnectionTrait;
    let db = &app.state.db;
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => format!("DROP TABLE {table} CASCADE"),
        _ => format!("ALTER TABLE {table} RENAME TO {table}_gone"),
    };
    db.execute_unprepared(&sql).await?;
    Ok(())
}

#[tokio::test]
async fn a_database_failure_is_the_servers_fault_not_a_validation_error() -> TestResult {
    let app = TestApp::spawn().await?;
    let coordinator = app.token(COORDINATOR).await?;
    let citizen = app.token(CITIZEN).await?;
    let now = chrono::Utc::now();
    let shifts = json!([{"starts_at": now + chrono::Duration::hours(1),
                         "ends_at": now + chrono::Duration::hours(2), "capacity": 5}]);
    let cases = [
        (
            "volunteer_teams",
            "/api/v1/activities",
            &coordinator,
            json!({"title": "急救培训", "kind": "service", "team": "MEDICS", "shifts": shifts}),
        ),
        (
            "volunteer_teams",
            "/api/v1/callouts",
            &coordinator,
            json!({"title": "集结", "message": "防汛", "team": "FLOOD"}),
        ),
        (
            "buildings",
            "/api/v1/events",
            &citizen,
            json!({"id": uuid::Uuid::new_v4(), "category": "environment.garbage",
                   "description": "楼道堆物", "building_code": "QSH-B0001"}),
        ),
        (
            "areas",
            "/api/v1/volunteer-teams",
            &coordinator,
            json!({"code": "T-1", "name": "护河队", "area": "QSH"}),
        ),
    ];
    let mut broken = Vec::new();
    for (table, path, token, body) in cases {
        if !broken.contains(&table) {
            break_table(&app, table).await?;
            broken.push(table);
        }
        let res = app
            .request(Method::POST, path, Some(token))
            .json(&body)
            .send()
            .await?;
        let p = assert_problem(res, 500, "internal-error").await?;
        // The cause is logged, not told.
        let text = p.to_string();
        assert!(
            !text.contains(table) && p["errors"].is_null(),
            "{path}: {p}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_corrupt_stored_value_is_the_servers_fault_never_a_default() -> TestResult {
    use sea_orm::{ConnectionTrait, Statement};
    let app = TestApp::spawn().await?;
    let citizen = app.token(CITIZEN).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let (status, event) = app
        .post(
            "/api/v1/events",
            Some(&citizen),
            json!({"id": uuid::Uuid::new_v4(), "category": "other", "description": "路灯不亮",
                   "lat": 30.25, "lng": 119.72}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    let id: uuid::Uuid = str_field(&event, "id")?.parse()?;
    // A status no version writes, as a hand edit or a broken migration would leave it. It used
    // to read as `reported`, which let the loop carry on from a made-up state.
    let db = &app.state.db;
    let backend = db.get_database_backend();
    let (first, second) = match backend {
        sea_orm::DbBackend::Postgres => ("$1", "$2"),
        _ => ("?", "?"),
    };
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        format!("UPDATE events SET status = {first} WHERE id = {second}"),
        ["Accepted?".into(), id.into()],
    ))
    .await?;
    let path = format!("/api/v1/events/{id}");
    for (method, path, token, body) in [
        (Method::GET, path.clone(), &citizen, None),
        (
            Method::POST,
            format!("{path}/moves"),
            &dispatcher,
            Some(json!({"move": "accept"})),
        ),
    ] {
        let p = problem(&app, method, &path, token, body, 500, "internal-error").await?;
        assert!(!p.to_string().contains("Accepted?"), "{path}: {p}");
    }
    // The move changed nothing: the row still holds what it held.
    let stored = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!("SELECT status FROM events WHERE id = {first}"),
            [id.into()],
        ))
        .await?
        .ok_or("the event is gone")?
        .try_get::<String>("", "status")?;
    assert_eq!(stored, "Accepted?");
    Ok(())
}
