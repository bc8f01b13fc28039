//! API keys for machine sources: shown once, stored hashed, scoped, revocable.

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn keys_are_shown_once_stored_hashed_scoped_and_revocable() -> TestResult {
    let app = TestApp::spawn().await?;
    let admin = app.token(ADMIN).await?;
    let (status, created) = app
        .post(
            "/api/v1/api-keys",
            Some(&admin),
            json!({"name": "青山湖烟感平台", "scopes": ["events:write", "events:write"]}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = str_field(&created, "key")?;
    let id = str_field(&created["api_key"], "id")?;
    assert!(key.starts_with("gwk_"));
    assert_eq!(created["api_key"]["scopes"], json!(["events:write"]));

    // The key authenticates as a machine with its scopes.
    let res = app
        .client
        .get(app.url("/api/v1/auth/whoami"))
        .header("x-api-key", &key)
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    let who: serde_json::Value = res.json().await?;
    assert_eq!(who["kind"], "api_key");
    assert_eq!(who["scopes"], json!(["events:write"]));
    assert_eq!(who["name"], "青山湖烟感平台");

    // Never shown again, and not stored: no column of the table holds the secret.
    let (_, list) = app.get("/api/v1/api-keys", Some(&admin)).await?;
    assert!(!list.to_string().contains(&key[12..]), "list leaks the key");
    let rows = app
        .state
        .db
        .query_all_raw(Statement::from_string(
            app.state.db.get_database_backend(),
            "SELECT key_prefix, key_hash, name, scopes FROM api_keys",
        ))
        .await?;
    assert_eq!(rows.len(), 1);
    let hash: String = rows[0].try_get("", "key_hash")?;
    assert_eq!(hash.len(), 64);
    assert!(!key.contains(&hash) && !hash.contains(&key[12..]));

    // A key with one character changed, or unknown, is refused.
    let mut altered = key.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    for bad in [
        String::from_utf8(altered)?,
        "gwk_000000000000_xyz".to_owned(),
        "nonsense".to_owned(),
    ] {
        let res = app
            .client
            .get(app.url("/api/v1/auth/whoami"))
            .header("x-api-key", bad)
            .send()
            .await?;
        assert_problem(res, 401, "unauthorized").await?;
    }
    // A key is not a user: routes for people refuse it.
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .header("x-api-key", &key)
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let res = app
        .request(
            Method::DELETE,
            &format!("/api/v1/api-keys/{id}"),
            Some(&admin),
        )
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .client
        .get(app.url("/api/v1/auth/whoami"))
        .header("x-api-key", &key)
        .send()
        .await?;
    assert_problem(res, 401, "unauthorized").await?;
    let (_, list) = app.get("/api/v1/api-keys", Some(&admin)).await?;
    assert!(list["items"][0]["revoked_at"].is_string());
    let res = app
        .request(
            Method::DELETE,
            "/api/v1/api-keys/00000000-0000-7000-8000-000000000000",
            Some(&admin),
        )
        .send()
        .await?;
    assert_problem(res, 404, "not-found").await?;
    Ok(())
}

#[tokio::test]
async fn keys_need_a_name_and_known_scopes() -> TestResult {
    let app = TestApp::spawn().await?;
    let admin = app.token(ADMIN).await?;
    for (body, field) in [
        (json!({"name": " ", "scopes": ["events:write"]}), "name"),
        (json!({"name": "x", "scopes": []}), "scopes"),
        (json!({"name": "x", "scopes": ["root"]}), "scopes[0]"),
    ] {
        let res = app
            .request(Method::POST, "/api/v1/api-keys", Some(&admin))
            .json(&body)
            .send()
            .await?;
        let p = assert_problem(res, 422, "validation-failed").await?;
        assert_eq!(p["errors"][0]["field"], field, "{body}");
    }
    let (_, list) = app.get("/api/v1/api-keys", Some(&admin)).await?;
    assert_eq!(list["items"], json!([]), "nothing half-made");
    Ok(())
}
