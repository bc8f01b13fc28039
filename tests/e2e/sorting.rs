//! Garbage sorting (垃圾分类) over HTTP: staff open accounts for households and renters; staff
//! and sorting stations (API key with `sorting:write`) post records once per key; each record
//! pays the holder the policy's points for its result into the one ledger; holders see their own
//! accounts and records, nobody else's.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

async fn my_id(app: &TestApp, token: &str) -> TestResult<String> {
    let (_, me) = app.get("/api/v1/me", Some(token)).await?;
    str_field(&me, "id")
}

async fn balance(app: &TestApp, token: &str) -> TestResult<i64> {
    let (_, body) = app.get("/api/v1/points/me/balance", Some(token)).await?;
    body["balance"].as_i64().ok_or_else(|| "no balance".into())
}

async fn station_key(app: &TestApp, admin: &str, scopes: Value) -> TestResult<String> {
    let (status, created) = app
        .post(
            "/api/v1/api-keys",
            Some(admin),
            json!({"name": "青山湖垃圾分类站", "scopes": scopes}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    str_field(&created, "key")
}

/// POSTs a record as a station; returns status, the replay header and the body.
async fn station_post(
    app: &TestApp,
    key: &str,
    path: &str,
    idem: &str,
    body: Value,
) -> TestResult<(StatusCode, bool, Value)> {
    let res = app
        .client
        .post(app.url(path))
        .header("x-api-key", key)
        .header("idempotency-key", idem)
        .json(&body)
        .send()
        .await?;
    let status = res.status();
    let replayed = res.headers().get("idempotent-replayed").is_some();
    let bytes = res.bytes().await?;
    Ok((
        status,
        replayed,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

#[tokio::test]
async fn staff_and_stations_post_records_that_pay_the_holder_once() -> TestResult {
    let app = TestApp::spawn().await?;
    let admin = app.token(ADMIN).await?;
    let worker = app.token(GRID_WORKER).await?;
    let citizen = app.token(CITIZEN).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let holder = my_id(&app, &citizen).await?;

    let (status, account) = app
        .post(
            "/api/v1/sorting/accounts",
            Some(&worker),
            json!({"code": "QSH-B001-0302", "holder_id": holder, "kind": "renter",
                   "building_code": "QSH-B001", "unit_label": "3-302"}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    assert_eq!(account["kind"], "renter");
    assert_eq!(account["unit_label"], "3-302");
    problem(
        &app,
        Method::POST,
        "/api/v1/sorting/accounts",
        &worker,
        Some(json!({"code": "QSH-B001-0302", "holder_id": holder, "kind": "household"})),
        409,
        "conflict",
    )
    .await?;
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/sorting/accounts",
        &worker,
        Some(
            json!({"code": "A 1", "holder_id": holder, "kind": "household", "building_code": "#"}),
        ),
        422,
        "validation-failed",
    )
    .await?;
    let mut fields = error_fields(&p);
    fields.sort();
    assert_eq!(fields, ["building_code", "code"]);
    let p = problem(&app, Method::POST, "/api/v1/sorting/accounts", &worker,
        Some(json!({"code": "A1", "holder_id": "00000000-0000-7000-8000-000000000000", "kind": "household"})), 422, "validation-failed").await?;
    assert_eq!(error_fields(&p), ["holder_id"]);

    let records = "/api/v1/sorting/accounts/QSH-B001-0302/records";
    // A grid worker on the round: good pays 5 (the default policy), once per client id.
    let rec = json!({"id": "01900000-0000-7000-8000-000000000001", "result": "good", "note": "厨余垃圾分拣干净"});
    let (status, first) = app.post(records, Some(&worker), rec.clone()).await?;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(
        (first["points"].clone(), first["poster_kind"].clone()),
        (json!(5), json!("user"))
    );
    let res = app
        .request(Method::POST, records, Some(&worker))
        .json(&rec)
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(res.headers().get("idempotent-replayed").is_some());
    let again: Value = res.json().await?;
    assert_eq!(again["id"], first["id"]);
    assert_eq!(balance(&app, &citizen).await?, 5);
    // The same id for another result is refused.
    let p = problem(
        &app,
        Method::POST,
        records,
        &worker,
        Some(json!({"id": "01900000-0000-7000-8000-000000000001", "result": "poor"})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["id"]);
    // No id and no key; an unknown result; a future time.
    let p = problem(
        &app,
        Method::POST,
        records,
        &worker,
        Some(json!({"result": "good"})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["id"]);
    let p = problem(
        &app,
        Method::POST,
        records,
        &worker,
        Some(json!({"id": "01900000-0000-7000-8000-000000000002", "result": "perfect"})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["result"]);
    let p = problem(&app, Method::POST, records, &worker,
        Some(json!({"id": "01900000-0000-7000-8000-000000000002", "result": "good", "observed_at": "2099-01-01T00:00:00Z"})), 422, "validation-failed").await?;
    assert_eq!(error_fields(&p), ["observed_at"]);
    problem(
        &app,
        Method::POST,
        "/api/v1/sorting/accounts/NOPE/records",
        &worker,
        Some(json!({"id": "01900000-0000-7000-8000-000000000002", "result": "good"})),
        404,
        "not-found",
    )
    .await?;
    // Citizens and dispatchers do not post records.
    for t in [&citizen, &dispatcher] {
        problem(
            &app,
            Method::POST,
            records,
            t,
            Some(json!({"id": "01900000-0000-7000-8000-000000000003", "result": "good"})),
            403,
            "forbidden",
        )
        .await?;
    }

    // A station with `sorting:write` posts by Idempotency-Key; fair pays 2, poor nothing.
    let station = station_key(&app, &admin, json!(["sorting:write"])).await?;
    let (status, replayed, fair) =
        station_post(&app, &station, records, "st-1", json!({"result": "fair"})).await?;
    assert_eq!((status, replayed), (StatusCode::CREATED, false), "{fair}");
    assert_eq!(
        (fair["points"].clone(), fair["poster_kind"].clone()),
        (json!(2), json!("station"))
    );
    let (_, replayed, _) =
        station_post(&app, &station, records, "st-1", json!({"result": "fair"})).await?;
    assert!(replayed);
    let (status, _, poor) =
        station_post(&app, &station, records, "st-2", json!({"result": "poor"})).await?;
    assert_eq!(
        (status, poor["points"].clone()),
        (StatusCode::CREATED, json!(0))
    );
    assert_eq!(balance(&app, &citizen).await?, 7);
    // A key without the scope is refused.
    let events_only = station_key(&app, &admin, json!(["events:write"])).await?;
    let (status, _, _) = station_post(
        &app,
        &events_only,
        records,
        "st-3",
        json!({"result": "good"}),
    )
    .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The policy is data: admins change it; records already posted keep what they paid.
    let (status, row) = app
        .call(
            Method::PUT,
            "/api/v1/sorting/policy/good",
            Some(&admin),
            Some(json!({"points": 8})),
        )
        .await?;
    assert_eq!(
        (status, row["points"].clone()),
        (StatusCode::OK, json!(8)),
        "{row}"
    );
    problem(
        &app,
        Method::PUT,
        "/api/v1/sorting/policy/perfect",
        &admin,
        Some(json!({"points": 1})),
        404,
        "not-found",
    )
    .await?;
    problem(
        &app,
        Method::PUT,
        "/api/v1/sorting/policy/fair",
        &admin,
        Some(json!({"points": -1})),
        422,
        "validation-failed",
    )
    .await?;
    let (_, policy) = app.get("/api/v1/sorting/policy", Some(&citizen)).await?;
    assert_eq!(
        policy["results"],
        json!([
            {"result": "good", "points": 8}, {"result": "fair", "points": 2}, {"result": "poor", "points": 0}
        ])
    );
    let (_, _, good) =
        station_post(&app, &station, records, "st-4", json!({"result": "good"})).await?;
    assert_eq!(good["points"], 8);
    assert_eq!(balance(&app, &citizen).await?, 15);

    // The ledger: one `sorting` row per paying record, source id = record id.
    let (_, me) = app.get("/api/v1/points/me", Some(&citizen)).await?;
    let sorting_rows: Vec<&Value> = me["history"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["source_kind"] == "sorting")
        .collect();
    assert_eq!(sorting_rows.len(), 3);
    assert_eq!(sorting_rows[0]["source_id"], good["id"]);
    assert_eq!(sorting_rows[2]["source_id"], first["id"]);

    // The holder sees their account and records; another citizen sees neither.
    let (_, mine) = app
        .get("/api/v1/sorting/accounts/me", Some(&citizen))
        .await?;
    assert_eq!(mine["items"][0]["code"], "QSH-B001-0302");
    let (status, list) = app.get(records, Some(&citizen)).await?;
    assert_eq!(status, StatusCode::OK);
    let results: Vec<&str> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["result"].as_str())
        .collect();
    assert_eq!(results, ["good", "poor", "fair", "good"]);
    let (_, page) = app
        .get(&format!("{records}?limit=3"), Some(&citizen))
        .await?;
    assert!(page["next_cursor"].is_string());
    let stranger = app
        .create_user(&admin, "13900000099", &["citizen"], "绿色积分-2026")
        .await?;
    assert!(!stranger.is_empty());
    let pair = app.login_pair("13900000099", "绿色积分-2026").await?;
    let stranger = str_field(&pair, "access_token")?;
    problem(
        &app,
        Method::GET,
        "/api/v1/sorting/accounts/QSH-B001-0302",
        &stranger,
        None,
        404,
        "not-found",
    )
    .await?;
    problem(
        &app,
        Method::GET,
        records,
        &stranger,
        None,
        404,
        "not-found",
    )
    .await?;
    let (_, none) = app
        .get("/api/v1/sorting/accounts/me", Some(&stranger))
        .await?;
    assert_eq!(none["items"], json!([]));
    // Staff see every account.
    let (_, all) = app.get("/api/v1/sorting/accounts", Some(&worker)).await?;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(1));
    let (status, _) = app
        .get("/api/v1/sorting/accounts/QSH-B001-0302", Some(&admin))
        .await?;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}
