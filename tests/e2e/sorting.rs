//! Garbage sorting (垃圾分类) over HTTP: staff open accounts for households and renters; the
//! supervisors of an account's building (its grid's workers) and sorting stations (API key with
//! `sorting:write`) rate it, at most once a day, a correction replacing the day's rating; each
//! rating pays the holder the policy's points into the one ledger, within the day's cap; nobody
//! rates their own or their household's account; a key is its poster's own; holders see their
//! own accounts and records, nobody else's.

use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

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

/// Two buildings of grid QSH-G001 (the demo grid worker's), by code.
async fn g001_buildings(app: &TestApp, worker: &str) -> TestResult<(String, String)> {
    let (status, page) = app
        .get("/api/v1/buildings?grid=QSH-G001&limit=2", Some(worker))
        .await?;
    assert_eq!(status, StatusCode::OK, "{page}");
    Ok((
        str_field(&page["items"][0], "code")?,
        str_field(&page["items"][1], "code")?,
    ))
}

/// A new user with roles and areas; returns their id and access token.
async fn person(
    app: &TestApp,
    admin: &str,
    phone: &str,
    roles: Value,
    areas: Value,
) -> TestResult<(String, String)> {
    let (status, user) = app
        .post(
            "/api/v1/users",
            Some(admin),
            json!({"phone": phone, "name": "测试人员", "password": "分类2026abc",
                   "roles": roles, "areas": areas}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let pair = app.login_pair(phone, "分类2026abc").await?;
    Ok((str_field(&user, "id")?, str_field(&pair, "access_token")?))
}

async fn open_account(app: &TestApp, staff: &str, body: Value) -> TestResult<Value> {
    let (status, account) = app
        .post("/api/v1/sorting/accounts", Some(staff), body)
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    Ok(account)
}

/// The `sorting` rows of an account's ledger, newest first.
async fn sorting_rows(app: &TestApp, token: &str) -> TestResult<Vec<Value>> {
    let (_, me) = app.get("/api/v1/points/me", Some(token)).await?;
    Ok(me["history"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["source_kind"] == "sorting")
        .cloned()
        .collect())
}

#[tokio::test]
async fn supervisors_and_stations_rate_once_a_day_and_corrections_replace() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let admin = app.token(ADMIN).await?;
    let worker = app.token(GRID_WORKER).await?;
    let coordinator = app.token(COORDINATOR).await?;
    let citizen = app.token(CITIZEN).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let holder = my_id(&app, &citizen).await?;
    let (building, _) = g001_buildings(&app, &worker).await?;

    let account = open_account(
        &app,
        &app.token(ADMIN).await?,
        json!({"code": "QSH-B001-0302", "holder_id": holder, "kind": "renter",
               "building_code": building, "unit_label": "3-302"}),
    )
    .await?;
    assert_eq!(account["kind"], "renter");
    assert_eq!(account["unit_label"], "3-302");
    problem(
        &app,
        Method::POST,
        "/api/v1/sorting/accounts",
        &worker,
        Some(json!({"code": "QSH-B001-0302", "holder_id": holder, "kind": "renter"})),
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
        Some(json!({"code": "A1", "holder_id": "00000000-0000-7000-8000-000000000000", "kind": "household", "building_code": building})), 422, "validation-failed").await?;
    assert_eq!(error_fields(&p), ["holder_id"]);
    // A household account belongs to a building that exists.
    for body in [
        json!({"code": "A2", "holder_id": holder, "kind": "household"}),
        json!({"code": "A2", "holder_id": holder, "kind": "household", "building_code": "QSH-NOPE"}),
    ] {
        let p = problem(
            &app,
            Method::POST,
            "/api/v1/sorting/accounts",
            &worker,
            Some(body),
            422,
            "validation-failed",
        )
        .await?;
        // Nor without its unit: every fault is named at once.
        assert_eq!(error_fields(&p), ["building_code", "unit_label"], "{p}");
    }

    let records = "/api/v1/sorting/accounts/QSH-B001-0302/records";
    // The building's grid worker on the round: good pays 5 (the default policy), once per id.
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
    // No id and no key; an unknown result; a future time; an unknown account.
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
    // Citizens, dispatchers and coordinators do not rate.
    for t in [&citizen, &dispatcher, &coordinator] {
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

    // Once a day: a second rating of today is refused, naming the field, and pays nothing.
    let p = problem(
        &app,
        Method::POST,
        records,
        &worker,
        Some(json!({"id": "01900000-0000-7000-8000-000000000004", "result": "good", "observed_at": first["observed_at"]})),
        409,
        "conflict",
    )
    .await?;
    assert_eq!(error_fields(&p), ["observed_at"]);
    assert_eq!(balance(&app, &citizen).await?, 5);
    // A correction replaces the day's rating: the first is superseded, its 5 points taken back
    // by a reversing row, and the correction pays its own 2.
    let (status, fixed) = app
        .post(
            records,
            Some(&worker),
            json!({"id": "01900000-0000-7000-8000-000000000005", "result": "fair", "corrects": first["id"], "observed_at": first["observed_at"]}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{fixed}");
    assert_eq!(fixed["points"], 2);
    assert_eq!(fixed["day"], first["day"]);
    assert_eq!(balance(&app, &citizen).await?, 2);
    let rows = sorting_rows(&app, &citizen).await?;
    let amounts: Vec<i64> = rows.iter().filter_map(|r| r["amount"].as_i64()).collect();
    assert_eq!(
        amounts,
        [2, -5, 5],
        "earning, reversal, correction: {rows:?}"
    );
    assert_eq!(
        rows[1]["source_id"],
        format!("{}:reversed", first["id"].as_str().ok_or("id")?)
    );
    let (_, list) = app.get(records, Some(&citizen)).await?;
    assert_eq!(list["items"][1]["id"], first["id"]);
    assert_eq!(list["items"][1]["superseded_by"], fixed["id"]);
    assert!(list["items"][0]["superseded_by"].is_null());
    // A superseded rating is not corrected again; nor is another day's.
    let p = problem(
        &app,
        Method::POST,
        records,
        &worker,
        Some(json!({"id": "01900000-0000-7000-8000-000000000006", "result": "good", "corrects": first["id"], "observed_at": first["observed_at"]})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["corrects"]);

    // Another day is another rating: yesterday's drop-off pays.
    let yesterday = (Utc::now() - Duration::days(1)).to_rfc3339();
    let (status, y) = app
        .post(
            records,
            Some(&worker),
            json!({"id": "01900000-0000-7000-8000-000000000007", "result": "good", "observed_at": yesterday}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{y}");
    assert_ne!(y["day"], first["day"]);
    assert_eq!(balance(&app, &citizen).await?, 7);

    // A station with `sorting:write` rates by Idempotency-Key; fair pays 2, poor nothing.
    let station = station_key(&app, &admin, json!(["sorting:write"])).await?;
    let day = |n: i64| (Utc::now() - Duration::days(n)).to_rfc3339();
    let (status, replayed, fair) = station_post(
        &app,
        &station,
        records,
        "st-1",
        json!({"result": "fair", "observed_at": day(2)}),
    )
    .await?;
    assert_eq!((status, replayed), (StatusCode::CREATED, false), "{fair}");
    assert_eq!(
        (fair["points"].clone(), fair["poster_kind"].clone()),
        (json!(2), json!("station"))
    );
    let (_, replayed, again) = station_post(
        &app,
        &station,
        records,
        "st-1",
        json!({"result": "fair", "observed_at": day(2)}),
    )
    .await?;
    assert!(replayed);
    assert_eq!(again["id"], fair["id"]);
    let (status, _, poor) = station_post(
        &app,
        &station,
        records,
        "st-2",
        json!({"result": "poor", "observed_at": day(3)}),
    )
    .await?;
    assert_eq!(
        (status, poor["points"].clone()),
        (StatusCode::CREATED, json!(0))
    );
    assert_eq!(balance(&app, &citizen).await?, 9);
    // The station is held to the day's limit too.
    let (status, _, _) = station_post(
        &app,
        &station,
        records,
        "st-2b",
        json!({"result": "good", "observed_at": day(3)}),
    )
    .await?;
    assert_eq!(status, StatusCode::CONFLICT);
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
    // The daily points cap (10 sorting points a day by default) is met: 9 were earned today,
    // so a good rating worth 8 pays the 1 that is left, and the record keeps what it paid.
    let (_, _, good) = station_post(
        &app,
        &station,
        records,
        "st-4",
        json!({"result": "good", "observed_at": day(4)}),
    )
    .await?;
    assert_eq!(good["points"], 1, "{good}");
    assert_eq!(balance(&app, &citizen).await?, 10);

    // The ledger: one `sorting` row per paying record, source id = record id.
    let rows = sorting_rows(&app, &citizen).await?;
    assert_eq!(rows.len(), 6, "{rows:?}");
    assert_eq!(rows[0]["source_id"], good["id"]);
    assert_eq!(rows[0]["amount"], 1);
    assert_eq!(rows[5]["source_id"], first["id"]);

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
    assert_eq!(results, ["good", "poor", "fair", "good", "fair", "good"]);
    let (_, page) = app
        .get(&format!("{records}?limit=3"), Some(&citizen))
        .await?;
    assert!(page["next_cursor"].is_string());
    let (_, stranger) = person(&app, &admin, "13900000099", json!(["citizen"]), json!([])).await?;
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

#[tokio::test]
async fn nobody_mints_points_on_their_own_household_or_another_grid() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let admin = app.token(ADMIN).await?;
    let worker = app.token(GRID_WORKER).await?;
    let other_grid = app.token(OTHER_GRID_WORKER).await?;
    let citizen = app.token(CITIZEN).await?;
    let worker_id = my_id(&app, &worker).await?;
    let citizen_id = my_id(&app, &citizen).await?;
    let (building, other_building) = g001_buildings(&app, &worker).await?;

    // The reported attack: a grid worker opens an account held by himself and rates it 20 times.
    open_account(
        &app,
        &app.token(ADMIN).await?,
        json!({"code": "SELF-1", "holder_id": worker_id, "kind": "household",
               "building_code": other_building, "unit_label": "1-101"}),
    )
    .await?;
    for n in 0..20 {
        let p = problem(
            &app,
            Method::POST,
            "/api/v1/sorting/accounts/SELF-1/records",
            &worker,
            Some(json!({"id": uuid::Uuid::new_v4(), "result": "good",
                        "observed_at": (Utc::now() - Duration::hours(n * 8)).to_rfc3339()})),
            403,
            "not-eligible",
        )
        .await?;
        assert!(
            p["detail"].as_str().unwrap_or_default().contains("SELF-1"),
            "{p}"
        );
    }
    assert_eq!(balance(&app, &worker).await?, 0);

    // A household he shares: a second grid worker of the same grid who lives in the citizen's
    // unit does not rate it; the first worker, a neighbour of nobody there, does.
    open_account(
        &app,
        &app.token(ADMIN).await?,
        json!({"code": "HOME-1", "holder_id": citizen_id, "kind": "household",
               "building_code": building, "unit_label": "2-201"}),
    )
    .await?;
    let (housemate_id, housemate) = person(
        &app,
        &admin,
        "13900000071",
        json!(["grid_worker"]),
        json!([{"kind": "grid", "code": "QSH-G001"}]),
    )
    .await?;
    open_account(
        &app,
        &app.token(ADMIN).await?,
        json!({"code": "HOME-1B", "holder_id": housemate_id, "kind": "household",
               "building_code": building, "unit_label": "2-201"}),
    )
    .await?;
    let records = "/api/v1/sorting/accounts/HOME-1/records";
    let rating = || json!({"id": uuid::Uuid::new_v4(), "result": "good"});
    let p = problem(
        &app,
        Method::POST,
        records,
        &housemate,
        Some(rating()),
        403,
        "not-eligible",
    )
    .await?;
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("household"),
        "{p}"
    );
    // A grid worker of another grid is no supervisor of this building.
    problem(
        &app,
        Method::POST,
        records,
        &other_grid,
        Some(rating()),
        403,
        "not-eligible",
    )
    .await?;
    assert_eq!(balance(&app, &citizen).await?, 0);
    let (status, ok) = app.post(records, Some(&worker), rating()).await?;
    assert_eq!(status, StatusCode::CREATED, "{ok}");
    assert_eq!(balance(&app, &citizen).await?, 5);

    // A renter's account without a building has no human rater; its sorting station rates it.
    open_account(
        &app,
        &app.token(ADMIN).await?,
        json!({"code": "RENT-1", "holder_id": citizen_id, "kind": "renter"}),
    )
    .await?;
    problem(
        &app,
        Method::POST,
        "/api/v1/sorting/accounts/RENT-1/records",
        &worker,
        Some(rating()),
        403,
        "not-eligible",
    )
    .await?;
    let station = station_key(&app, &admin, json!(["sorting:write"])).await?;
    let (status, _, _) = station_post(
        &app,
        &station,
        "/api/v1/sorting/accounts/RENT-1/records",
        "rent-1",
        json!({"result": "good"}),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(balance(&app, &citizen).await?, 10);

    // Nor does a worker rate an account he opened himself, in his own grid, for someone else
    // (a second phone of his): the one who opens an account never rates it.
    open_account(
        &app,
        &worker,
        json!({"code": "PUPPET-1", "holder_id": citizen_id, "kind": "household",
               "building_code": building, "unit_label": "9-901"}),
    )
    .await?;
    problem(
        &app,
        Method::POST,
        "/api/v1/sorting/accounts/PUPPET-1/records",
        &worker,
        Some(rating()),
        403,
        "not-eligible",
    )
    .await?;
    // A household names its unit, so its members are known.
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/sorting/accounts",
        &worker,
        Some(
            json!({"code": "PUPPET-2", "holder_id": citizen_id, "kind": "household",
                    "building_code": building}),
        ),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["unit_label"]);
    assert_eq!(balance(&app, &citizen).await?, 10);
    Ok(())
}

#[tokio::test]
async fn an_idempotency_key_belongs_to_the_caller_who_sent_it() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let admin = app.token(ADMIN).await?;
    let worker_a = app.token(GRID_WORKER).await?;
    let citizen = app.token(CITIZEN).await?;
    let citizen_id = my_id(&app, &citizen).await?;
    let (building, _) = g001_buildings(&app, &worker_a).await?;
    let (_, worker_b) = person(
        &app,
        &admin,
        "13900000072",
        json!(["grid_worker"]),
        json!([{"kind": "grid", "code": "QSH-G001"}]),
    )
    .await?;
    open_account(
        &app,
        &app.token(ADMIN).await?,
        json!({"code": "KEY-1", "holder_id": citizen_id, "kind": "household",
               "building_code": building, "unit_label": "5-501"}),
    )
    .await?;
    let records = "/api/v1/sorting/accounts/KEY-1/records";
    let post = |token: &str, body: Value| {
        app.request(Method::POST, records, Some(token))
            .header("idempotency-key", "round-1")
            .json(&body)
            .send()
    };

    let res = post(&worker_a, json!({"result": "good"})).await?;
    assert_eq!(res.status(), StatusCode::CREATED);
    let a: Value = res.json().await?;
    // Worker B sends A's key for today: the day is rated, so B gets a clear refusal, never A's
    // record.
    let res = post(
        &worker_b,
        json!({"result": "good", "observed_at": a["observed_at"]}),
    )
    .await?;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.headers().get("idempotent-replayed").is_none());
    let p: Value = res.json().await?;
    assert_eq!(error_fields(&p), ["observed_at"], "{p}");
    // The same key on another day is B's own rating, not A's record back.
    let yesterday = (Utc::now() - Duration::days(1)).to_rfc3339();
    let res = post(
        &worker_b,
        json!({"result": "fair", "observed_at": yesterday}),
    )
    .await?;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(res.headers().get("idempotent-replayed").is_none());
    let b: Value = res.json().await?;
    assert_ne!(b["id"], a["id"], "{b}");
    assert_eq!(b["result"], "fair");
    // A's own retry still gets A's record.
    let res = post(&worker_a, json!({"result": "good"})).await?;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(res.headers().get("idempotent-replayed").is_some());
    let again: Value = res.json().await?;
    assert_eq!(again["id"], a["id"]);
    assert_eq!(balance(&app, &citizen).await?, 7);
    Ok(())
}

#[tokio::test]
async fn a_street_sets_its_own_limits_and_caps() -> TestResult {
    use gridwing_api::entities::{patrol_limits, points_caps, sorting_limits};
    use sea_orm::{EntityTrait, Set};

    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let worker = app.token(GRID_WORKER).await?;
    let coordinator = app.token(COORDINATOR).await?;
    let citizen = app.token(CITIZEN).await?;
    let citizen_id = my_id(&app, &citizen).await?;
    let (building, _) = g001_buildings(&app, &worker).await?;
    // The demo street QSH rates twice a day, caps sorting at 6 points a day, and lets
    // checkpoints worth up to 80 points be geofences; other streets keep the defaults.
    sorting_limits::Entity::insert(sorting_limits::ActiveModel {
        street_code: Set("QSH".into()),
        ratings_per_day: Set(2),
    })
    .exec(&app.state.db)
    .await?;
    points_caps::Entity::insert(points_caps::ActiveModel {
        street_code: Set("QSH".into()),
        source_kind: Set("sorting".into()),
        daily_cap: Set(6),
    })
    .exec(&app.state.db)
    .await?;
    patrol_limits::Entity::insert(patrol_limits::ActiveModel {
        street_code: Set("QSH".into()),
        qr_above_points: Set(80),
    })
    .exec(&app.state.db)
    .await?;

    open_account(
        &app,
        &app.token(ADMIN).await?,
        json!({"code": "TWICE-1", "holder_id": citizen_id, "kind": "household",
               "building_code": building, "unit_label": "7-701"}),
    )
    .await?;
    let records = "/api/v1/sorting/accounts/TWICE-1/records";
    let rating = || json!({"id": uuid::Uuid::new_v4(), "result": "good"});
    let (status, morning) = app.post(records, Some(&worker), rating()).await?;
    assert_eq!(
        (status, morning["points"].clone()),
        (StatusCode::CREATED, json!(5))
    );
    // The second rating of the day is allowed here, and pays what is left of the street's cap.
    let (status, evening) = app.post(records, Some(&worker), rating()).await?;
    assert_eq!(
        (status, evening["points"].clone()),
        (StatusCode::CREATED, json!(1)),
        "{evening}"
    );
    let p = problem(
        &app,
        Method::POST,
        records,
        &worker,
        Some(rating()),
        409,
        "conflict",
    )
    .await?;
    assert_eq!(error_fields(&p), ["observed_at"]);
    assert_eq!(balance(&app, &citizen).await?, 6);

    // A 60-point geofence is refused by default but allowed on a route of the street.
    let route = |area: Option<&str>| {
        json!({"code": format!("G-{}", area.unwrap_or("none")), "name": "街道巡防", "area_code": area,
               "windows": [{"start": "00:00", "end": "23:59"}], "checkpoints": [
            {"code": format!("G-{}-1", area.unwrap_or("none")), "name": "广场", "kind": "geofence",
             "lat": 30.27, "lng": 120.15, "radius_m": 50, "points": 60}]})
    };
    let (status, refused) = app
        .post("/api/v1/patrol-routes", Some(&coordinator), route(None))
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, allowed) = app
        .post(
            "/api/v1/patrol-routes",
            Some(&coordinator),
            route(Some("QSH")),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{allowed}");
    Ok(())
}
