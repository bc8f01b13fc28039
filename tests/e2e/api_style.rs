//! One API style: problem+json for every error, the field at fault named, size limits, request
//! ids, cursor pagination, UTC timestamps.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_problems() -> TestResult {
    let app = TestApp::spawn().await?;
    let res = app
        .client
        .get(app.url("/api/v1/no-such-thing"))
        .send()
        .await?;
    assert_problem(res, 404, "route-not-found").await?;
    let res = app.client.delete(app.url("/api/v1/me")).send().await?;
    assert_eq!(res.headers()["allow"], "GET");
    assert_problem(res, 405, "method-not-allowed").await?;
    let res = app.client.get(app.url("/api/v1/auth/login")).send().await?;
    assert_eq!(res.headers()["allow"], "POST");
    assert_problem(res, 405, "method-not-allowed").await?;
    // A path parameter that cannot be an id names nothing that exists.
    let admin = app.token(ADMIN).await?;
    let res = app
        .request(Method::GET, "/api/v1/users/not-a-uuid", Some(&admin))
        .send()
        .await?;
    assert_problem(res, 404, "not-found").await?;
    Ok(())
}

#[tokio::test]
async fn bad_bodies_name_the_field_at_fault() -> TestResult {
    let app = TestApp::spawn().await?;
    let login = app.url("/api/v1/auth/login");
    let send = |body: &'static str, ct: &'static str| {
        app.client
            .post(&login)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let p = assert_problem(
        send(
            r#"{"phone":"13800000001","password":"x","admin":true}"#,
            "application/json",
        )
        .await?,
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(p["errors"][0]["field"], "admin");
    assert_eq!(p["errors"][0]["rule"], "unknown_field");
    let p = assert_problem(
        send(r#"{"password":"x"}"#, "application/json").await?,
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(p["errors"][0]["field"], "phone");
    assert_eq!(p["errors"][0]["rule"], "required");
    let p = assert_problem(
        send(
            r#"{"phone":13800000001,"password":"x"}"#,
            "application/json",
        )
        .await?,
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(p["errors"][0]["field"], "phone");
    assert_eq!(p["errors"][0]["rule"], "type");
    assert_problem(
        send(r#"{"phone":"1380"#, "application/json").await?,
        400,
        "malformed-json",
    )
    .await?;
    assert_problem(send("", "application/json").await?, 400, "malformed-json").await?;
    assert_problem(
        send(r#"{"phone":"x"}"#, "text/plain").await?,
        415,
        "unsupported-media-type",
    )
    .await?;
    // application/json with parameters and +json types are JSON too.
    let res = send(
        r#"{"phone":"13800000001","password":"gridwing2026"}"#,
        "application/json; charset=utf-8",
    )
    .await?;
    assert_eq!(res.status(), StatusCode::OK);

    // Nested paths: the second role is not a role.
    let admin = app.token(ADMIN).await?;
    let (status, p) = app
        .post("/api/v1/users", Some(&admin), json!({"phone":"13900000001","name":"张三","password":"abcd12345x","roles":["citizen","superuser"]}))
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["field"], "roles[1]");
    assert_eq!(p["errors"][0]["rule"], "invalid_value");
    Ok(())
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_with_413() -> TestResult {
    let app = TestApp::spawn().await?;
    // 2 MB of JSON on the login route, both with a declared length and streamed without one.
    let big = format!(
        r#"{{"phone":"13800000001","password":"{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await?;
    assert_problem(res, 413, "payload-too-large").await?;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
        .into_bytes()
        .chunks(64 * 1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await?;
    assert_problem(res, 413, "payload-too-large").await?;
    Ok(())
}

#[tokio::test]
async fn every_response_carries_a_request_id() -> TestResult {
    let app = TestApp::spawn().await?;
    let ok = app.client.get(app.url("/healthz")).send().await?;
    let generated = ok.headers()["x-request-id"].to_str()?.to_owned();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    let err = app.client.get(app.url("/nope")).send().await?;
    assert!(err.headers().contains_key("x-request-id"));
    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "phone-42.a")
        .send()
        .await?;
    assert_eq!(echoed.headers()["x-request-id"], "phone-42.a");
    // An id that could smuggle text into logs is replaced.
    let replaced = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "a b\tc")
        .send()
        .await?;
    assert_ne!(replaced.headers()["x-request-id"], "a b\tc");
    assert_eq!(replaced.headers()["x-content-type-options"], "nosniff");
    Ok(())
}

#[tokio::test]
async fn health_and_readiness_answer_json() -> TestResult {
    let app = TestApp::spawn().await?;
    let (status, body) = app.get("/healthz", None).await?;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!("ok")));
    let (status, body) = app.get("/readyz", None).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["database"], "ok");
    let redis_expected = if std::env::var_os("REDIS_URL").is_some() {
        "ok"
    } else {
        "not_configured"
    };
    assert_eq!(body["redis"], redis_expected);
    Ok(())
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() -> TestResult {
    let app = TestApp::spawn().await?;
    app.state.db.clone().close().await?;
    let (status, body) = app.get("/readyz", None).await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert!(
        body["database"]
            .as_str()
            .is_some_and(|s| s.starts_with("error"))
    );
    Ok(())
}

#[tokio::test]
async fn lists_page_by_cursor_without_gaps_or_repeats() -> TestResult {
    let app = TestApp::spawn().await?;
    let admin = app.token(ADMIN).await?;
    for i in 0..7 {
        app.create_user(
            &admin,
            &format!("1390000{i:04}"),
            &["grid_worker"],
            "网格2026abc",
        )
        .await?;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/users?limit=4&cursor={c}"),
            None => "/api/v1/users?limit=4".to_owned(),
        };
        let (status, page) = app.get(&path, Some(&admin)).await?;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        for u in page["items"].as_array().ok_or("items")? {
            seen.push(str_field(u, "id")?);
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let expected = gridwing_api::demo::DEMO_ACCOUNTS.len() + 7;
    assert_eq!(seen.len(), expected, "the demo accounts and 7 new ones");
    assert_eq!(pages, expected.div_ceil(4));
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no row twice");
    assert_eq!(unique, seen, "ordered oldest first");

    let (_, workers) = app
        .get("/api/v1/users?role=grid_worker&limit=200", Some(&admin))
        .await?;
    let demo_workers = gridwing_api::demo::DEMO_ACCOUNTS
        .iter()
        .filter(|a| a.2 == gridwing_api::auth::roles::Role::GridWorker)
        .count();
    assert_eq!(
        workers["items"].as_array().map(Vec::len),
        Some(demo_workers + 7)
    );

    // Found by part of the phone, and by state once one is disabled.
    let count = |v: &serde_json::Value| v["items"].as_array().map(Vec::len);
    let (_, found) = app
        .get("/api/v1/users?q=1390000&limit=200", Some(&admin))
        .await?;
    assert_eq!(count(&found), Some(7), "{found}");
    let (_, one) = app.get("/api/v1/users?q=13900000003", Some(&admin)).await?;
    assert_eq!(count(&one), Some(1), "{one}");
    let id = str_field(&one["items"][0], "id")?;
    let res = app
        .request(Method::PATCH, &format!("/api/v1/users/{id}"), Some(&admin))
        .json(&json!({"disabled": true}))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    let (_, off) = app.get("/api/v1/users?disabled=true", Some(&admin)).await?;
    assert_eq!(off["items"][0]["id"], id.as_str());
    assert_eq!(count(&off), Some(1));
    let (_, on) = app
        .get(
            "/api/v1/users?disabled=false&role=grid_worker&limit=200",
            Some(&admin),
        )
        .await?;
    assert_eq!(count(&on), Some(demo_workers + 6));

    for bad in [
        "limit=0",
        "limit=201",
        "limit=abc",
        "cursor=%%%",
        "role=emperor",
        "sort=name",
        "disabled=maybe",
        "q=",
        &format!("q={}", "王".repeat(65)),
    ] {
        let res = app
            .request(Method::GET, &format!("/api/v1/users?{bad}"), Some(&admin))
            .send()
            .await?;
        assert_problem(res, 422, "validation-failed").await?;
    }
    Ok(())
}

#[tokio::test]
async fn timestamps_are_utc_rfc3339_and_text_is_chinese_safe() -> TestResult {
    let app = TestApp::spawn().await?;
    let admin = app.token(ADMIN).await?;
    let (status, user) = app
        .post("/api/v1/users", Some(&admin), json!({"phone":"13900000099","name":"欧阳·娜娜","password":"巡查2026abc","roles":["dispatcher"]}))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(user["name"], "欧阳·娜娜");
    let created = str_field(&user, "created_at")?;
    assert!(created.ends_with('Z'), "UTC: {created}");
    chrono::DateTime::parse_from_rfc3339(&created)?;
    let me = app.token("13900000099").await;
    assert!(me.is_err(), "a password is needed, not the demo one");
    let pair = app.login_pair("13900000099", "巡查2026abc").await?;
    let token = str_field(&pair, "access_token")?;
    let (_, me) = app.get("/api/v1/me", Some(&token)).await?;
    assert_eq!(me["name"], "欧阳·娜娜");
    Ok(())
}

#[tokio::test]
async fn no_bad_input_ever_gets_a_500() -> TestResult {
    let app = TestApp::spawn().await?;
    let admin = app.token(ADMIN).await?;
    let bodies: [&[u8]; 9] = [
        b"null",
        b"[]",
        b"\"str\"",
        b"{\"phone\":null}",
        b"{\"roles\":{}}",
        b"\xff\xfe",
        b"{\"phone\":\"1\",\"phone\":\"2\"}",
        b"{\"a\":",
        b"1e999",
    ];
    // Every route of the document that takes a body, so a new route is covered the day it lands.
    let (_, doc) = app.get("/openapi.json", None).await?;
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().ok_or("paths")? {
        for (method, op) in item.as_object().ok_or("path item")? {
            if op.get("requestBody").is_some() {
                let path = path
                    .replace("{id}", "00000000-0000-7000-8000-000000000000")
                    .replace("{code}", "NOPE");
                routes.push((Method::from_bytes(method.to_uppercase().as_bytes())?, path));
            }
        }
    }
    assert!(routes.len() >= 10, "{routes:?}");
    for (method, path) in &routes {
        for body in bodies {
            let res = app
                .request(method.clone(), path, Some(&admin))
                .header("content-type", "application/json")
                .body(body.to_vec())
                .send()
                .await?;
            let status = res.status();
            assert!(
                status.is_client_error(),
                "{method} {path} {:?} -> {status}",
                String::from_utf8_lossy(body)
            );
            let ct = res.headers()["content-type"].to_str()?.to_owned();
            assert_eq!(ct, "application/problem+json");
        }
    }
    Ok(())
}

#[tokio::test]
async fn cross_origin_calls_are_allowed_only_from_configured_origins() -> TestResult {
    let app = TestApp::spawn_with(&[
        "--cors-origins",
        "https://console.qsh.example,https://big-screen.qsh.example",
    ])
    .await?;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/api/v1/me"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let res = preflight("https://console.qsh.example").await?;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://console.qsh.example"
    );
    let res = preflight("https://evil.example").await?;
    assert!(!res.headers().contains_key("access-control-allow-origin"));

    // Without configured origins no CORS header is ever sent.
    let plain = TestApp::spawn().await?;
    let res = plain
        .client
        .get(plain.url("/healthz"))
        .header("origin", "https://console.qsh.example")
        .send()
        .await?;
    assert!(!res.headers().contains_key("access-control-allow-origin"));
    Ok(())
}
