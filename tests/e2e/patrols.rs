//! Patrols (巡防) end to end: coordinators define routes of QR and geofence checkpoints walked in
//! daily windows; citizens and volunteers check in, earn a checkpoint's points once per window
//! however many phones or retries they send, complete walks, and turn findings into events.
//! Check-ins that are not plausible (a coarse fix, too fast, outside the windows, a printed code
//! at a high-value checkpoint) are held for a coordinator's review; checkpoint coordinates are
//! shown only to those who manage or walk a route; earnings stop at the day's cap.

use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::*;

/// A geofence centre with nothing else around (no demo street needed).
const LAT: f64 = 30.2741;
const LNG: f64 = 120.1551;

/// "HH:MM" in Asia/Shanghai, `minutes` from now.
fn local_hhmm(minutes: i64) -> String {
    let shanghai = chrono::FixedOffset::east_opt(8 * 3600).unwrap_or(Utc.fix());
    (Utc::now() + Duration::minutes(minutes))
        .with_timezone(&shanghai)
        .format("%H:%M")
        .to_string()
}

use chrono::Offset as _;

/// A window open now for the next hour (and the hour before), crossing midnight if it must.
fn open_window() -> Value {
    json!([{"start": local_hhmm(-60), "end": local_hhmm(60)}])
}

/// A window that opens in two hours.
fn later_window() -> Value {
    json!([{"start": local_hhmm(120), "end": local_hhmm(180)}])
}

/// Degrees of latitude spanning `m` metres.
fn north(m: f64) -> f64 {
    m / 111_195.0
}

/// A route of one QR checkpoint (`{code}-Q`, 5 points) and two geofences (`{code}-G1` at the
/// centre, radius 50 m, 3 points; `{code}-G2` 60 m north, radius 30 m, 2 points): close enough
/// to walk between in moments.
fn route_body(code: &str, windows: Value) -> Value {
    json!({
        "code": code,
        "name": "青山湖社区夜间巡防",
        "windows": windows,
        "checkpoints": [
            {"code": format!("{code}-Q"), "name": "东门岗亭", "kind": "qr", "points": 5},
            {"code": format!("{code}-G1"), "name": "中心广场", "kind": "geofence",
             "lat": LAT, "lng": LNG, "radius_m": 50, "points": 3},
            {"code": format!("{code}-G2"), "name": "北侧河道", "kind": "geofence",
             "lat": LAT + north(60.0), "lng": LNG, "radius_m": 30, "points": 2},
        ],
    })
}

async fn create_route(app: &TestApp, coordinator: &str, body: Value) -> TestResult<Value> {
    let (status, route) = app
        .post("/api/v1/patrol-routes", Some(coordinator), body)
        .await?;
    if status != StatusCode::CREATED {
        return Err(format!("creating a route: {status} {route}").into());
    }
    Ok(route)
}

/// The QR payload of a route's checkpoint, as a coordinator sees it.
fn payload_of(route: &Value, checkpoint: &str) -> TestResult<String> {
    route["checkpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["code"] == checkpoint)
        .and_then(|c| c["qr_payload"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| format!("no payload for {checkpoint} in {route}").into())
}

async fn check_in(app: &TestApp, token: &str, body: Value) -> TestResult<(StatusCode, Value)> {
    app.post("/api/v1/patrol-checkins", Some(token), body).await
}

fn scan(payload: &str) -> Value {
    json!({"id": Uuid::new_v4(), "code": payload})
}

fn at(checkpoint: &str, lat: f64, lng: f64, accuracy: f64) -> Value {
    json!({"id": Uuid::new_v4(), "checkpoint": checkpoint, "lat": lat, "lng": lng, "accuracy": accuracy})
}

#[tokio::test]
async fn coordinators_define_list_print_update_and_disable_routes() -> TestResult {
    let app = TestApp::spawn().await?;
    let coordinator = app.token(COORDINATOR).await?;
    let citizen = app.token(CITIZEN).await?;
    let worker = app.token(GRID_WORKER).await?;

    // Only coordinators (and admins) define routes.
    problem(
        &app,
        Method::POST,
        "/api/v1/patrol-routes",
        &worker,
        Some(route_body("P1", open_window())),
        403,
        "forbidden",
    )
    .await?;
    let route = create_route(&app, &coordinator, route_body("P1", open_window())).await?;
    assert_eq!(route["code"], "P1");
    assert_eq!(route["enabled"], true);
    assert_eq!(route["windows"], open_window());
    let codes: Vec<&str> = route["checkpoints"]
        .as_array()
        .ok_or("checkpoints")?
        .iter()
        .filter_map(|c| c["code"].as_str())
        .collect();
    assert_eq!(codes, ["P1-Q", "P1-G1", "P1-G2"], "walking order kept");
    let payload = payload_of(&route, "P1-Q")?;
    assert!(payload.starts_with("GW1:1:cp.P1-Q:"), "{payload}");
    assert!(
        route["checkpoints"][1].get("qr_payload").is_none(),
        "geofences have no code"
    );

    // Patrollers see the route but never a payload: one who could read it could check in from
    // anywhere.
    let (status, seen) = app.get("/api/v1/patrol-routes/P1", Some(&citizen)).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        seen["checkpoints"]
            .as_array()
            .ok_or("checkpoints")?
            .iter()
            .all(|c| c.get("qr_payload").is_none()),
        "{seen}"
    );
    // Nor where the checkpoints are: only those who manage or walk the route see that.
    assert!(
        seen["checkpoints"]
            .as_array()
            .ok_or("checkpoints")?
            .iter()
            .all(|c| c["lat"].is_null() && c["lng"].is_null() && c["radius_m"].is_null()),
        "{seen}"
    );
    let (_, managed) = app
        .get("/api/v1/patrol-routes/P1", Some(&coordinator))
        .await?;
    assert_eq!(managed["checkpoints"][1]["radius_m"], 50);
    assert_eq!(managed["checkpoints"][1]["lat"], LAT);

    // The plate: PNG and SVG of exactly that payload, for coordinators.
    let res = app
        .request(
            Method::GET,
            "/api/v1/patrol-checkpoints/P1-Q/qr.png",
            Some(&coordinator),
        )
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    let (w, h, pixels) = decode_png(&res.bytes().await?)?;
    assert_eq!(read_qr(w, h, &pixels)?, payload);
    let res = app
        .request(
            Method::GET,
            "/api/v1/patrol-checkpoints/P1-Q/qr.svg",
            Some(&coordinator),
        )
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await?.starts_with("<svg"));
    for path in [
        "/api/v1/patrol-checkpoints/P1-G1/qr.png",
        "/api/v1/patrol-checkpoints/NOPE/qr.svg",
    ] {
        problem(
            &app,
            Method::GET,
            path,
            &coordinator,
            None,
            404,
            "not-found",
        )
        .await?;
    }
    problem(
        &app,
        Method::GET,
        "/api/v1/patrol-checkpoints/P1-Q/qr.png",
        &citizen,
        None,
        403,
        "forbidden",
    )
    .await?;

    // Codes are unique: routes, and checkpoints across routes.
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/patrol-routes",
        &coordinator,
        Some(route_body("P1", open_window())),
        409,
        "conflict",
    )
    .await?;
    assert_eq!(error_fields(&p), ["code"]);
    let mut stolen = route_body("P9", open_window());
    stolen["checkpoints"][0]["code"] = json!("P1-Q");
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/patrol-routes",
        &coordinator,
        Some(stolen),
        409,
        "conflict",
    )
    .await?;
    assert_eq!(error_fields(&p), ["checkpoints"]);

    // Every bad field is named at once.
    let bad = json!({
        "code": "bad code",
        "name": "",
        "area_code": "NOWHERE",
        "windows": [{"start": "7:00", "end": "08:00"}, {"start": "20:00", "end": "20:00"}],
        "checkpoints": [
            {"code": "X1", "name": "a", "kind": "geofence", "lat": 30.0, "lng": 120.0, "points": 1},
            {"code": "X1", "name": "b", "kind": "qr", "radius_m": 10, "points": 5000},
            {"code": "X3", "name": "c", "kind": "geofence", "lat": 95.0, "lng": 120.0, "radius_m": 1, "points": 1},
        ],
    });
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/patrol-routes",
        &coordinator,
        Some(bad),
        422,
        "validation-failed",
    )
    .await?;
    let mut fields = error_fields(&p);
    fields.sort();
    assert_eq!(
        fields,
        [
            "checkpoints[0].radius_m",
            "checkpoints[1].code",
            "checkpoints[1].points",
            "checkpoints[1].radius_m",
            "checkpoints[2].lat",
            "checkpoints[2].radius_m",
            "code",
            "name",
            "windows[0].start",
            "windows[1].end",
        ],
        "{p}"
    );
    let mut unknown_area = route_body("P8", open_window());
    unknown_area["area_code"] = json!("NOWHERE");
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/patrol-routes",
        &coordinator,
        Some(unknown_area),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(p["errors"][0]["rule"], "unknown_area");
    let mut overlapping = route_body(
        "P8",
        json!([{"start":"22:00","end":"02:00"},{"start":"01:00","end":"03:00"}]),
    );
    overlapping["code"] = json!("P8");
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/patrol-routes",
        &coordinator,
        Some(overlapping),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(
        (
            p["errors"][0]["field"].as_str(),
            p["errors"][0]["rule"].as_str()
        ),
        (Some("windows[1]"), Some("overlap"))
    );

    // The list pages through every route once.
    for code in ["P2", "P3", "P4"] {
        create_route(&app, &coordinator, route_body(code, later_window())).await?;
    }
    let mut seen_codes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/patrol-routes?limit=3&cursor={c}"),
            None => "/api/v1/patrol-routes?limit=3".to_owned(),
        };
        let (status, page) = app.get(&path, Some(&citizen)).await?;
        assert_eq!(status, StatusCode::OK, "{page}");
        for r in page["items"].as_array().ok_or("items")? {
            assert_eq!(r["checkpoints"], 3, "{r}");
            seen_codes.push(r["code"].as_str().ok_or("code")?.to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen_codes, ["P1", "P2", "P3", "P4"]);

    // An update keeps a kept checkpoint's id and plate, retires a dropped one, adds a new one.
    let q_id = route["checkpoints"][0]["id"].clone();
    let mut changed = route_body("P1", open_window());
    let obj = changed.as_object_mut().ok_or("object")?;
    obj.remove("code");
    obj.insert("name".into(), json!("青山湖社区夜间巡防（冬季）"));
    changed["checkpoints"] = json!([
        changed["checkpoints"][0].clone(),
        {"code": "P1-N", "name": "新岗", "kind": "qr", "points": 1},
    ]);
    let (status, updated) = app
        .call(
            Method::PUT,
            "/api/v1/patrol-routes/P1",
            Some(&coordinator),
            Some(changed.clone()),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "青山湖社区夜间巡防（冬季）");
    assert_eq!(updated["checkpoints"][0]["id"], q_id);
    assert_eq!(
        payload_of(&updated, "P1-Q")?,
        payload,
        "the printed plate still works"
    );
    assert_eq!(updated["checkpoints"].as_array().map(Vec::len), Some(2));
    let (status, _) = check_in(&app, &citizen, at("P1-G1", LAT, LNG, 5.0)).await?;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a retired checkpoint takes no check-ins"
    );

    // Disabled: hidden from patrollers, kept for coordinators, no check-ins.
    changed["enabled"] = json!(false);
    let (status, disabled) = app
        .call(
            Method::PUT,
            "/api/v1/patrol-routes/P1",
            Some(&coordinator),
            Some(changed),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{disabled}");
    assert_eq!(disabled["enabled"], false);
    problem(
        &app,
        Method::GET,
        "/api/v1/patrol-routes/P1",
        &citizen,
        None,
        404,
        "not-found",
    )
    .await?;
    let (_, list) = app.get("/api/v1/patrol-routes", Some(&citizen)).await?;
    assert!(
        list["items"]
            .as_array()
            .ok_or("items")?
            .iter()
            .all(|r| r["code"] != "P1"),
        "{list}"
    );
    let (_, list) = app.get("/api/v1/patrol-routes", Some(&coordinator)).await?;
    assert!(
        list["items"]
            .as_array()
            .ok_or("items")?
            .iter()
            .any(|r| r["code"] == "P1")
    );
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/patrol-checkins",
        &citizen,
        Some(scan(&payload)),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(p["errors"][0]["rule"], "route_disabled");
    assert_eq!(balance(&app, &citizen).await?, 0);
    problem(
        &app,
        Method::PUT,
        "/api/v1/patrol-routes/NOPE",
        &coordinator,
        Some(json!({"name": "x", "windows": open_window(), "checkpoints": [{"code": "Z1", "name": "z", "kind": "qr", "points": 1}]})),
        404,
        "not-found",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_second_phone_and_a_replay_do_not_pay_twice() -> TestResult {
    let app = TestApp::spawn().await?;
    let coordinator = app.token(COORDINATOR).await?;
    let route = create_route(&app, &coordinator, route_body("P1", open_window())).await?;
    let payload = payload_of(&route, "P1-Q")?;
    // Two phones: two sessions of one citizen.
    let phone_a = app.token(CITIZEN).await?;
    let phone_b = app.token(CITIZEN).await?;
    assert_ne!(phone_a, phone_b);

    let first_body = scan(&payload);
    let (status, first) = check_in(&app, &phone_a, first_body.clone()).await?;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["replayed"], false);
    assert_eq!(first["points"], 5);
    assert_eq!(first["method"], "scan");
    assert_eq!(first["checkpoint"]["code"], "P1-Q");
    let window_key = str_field(&first, "window_key")?;
    assert!(
        window_key.ends_with("#0") && window_key.len() == "2026-12-01#0".len(),
        "{window_key}"
    );
    assert_eq!(balance(&app, &phone_a).await?, 5);

    // The same request again (a retry) and the same checkpoint from the second phone.
    let (status, retry) = check_in(&app, &phone_a, first_body.clone()).await?;
    assert_eq!(status, StatusCode::OK, "{retry}");
    assert_eq!(
        (&retry["id"], &retry["replayed"]),
        (&first["id"], &json!(true))
    );
    let (status, other_phone) = check_in(&app, &phone_b, scan(&payload)).await?;
    assert_eq!(status, StatusCode::OK, "{other_phone}");
    assert_eq!(other_phone["id"], first["id"]);
    assert_eq!(other_phone["replayed"], true);
    // And by Idempotency-Key header instead of a body id.
    let res = app
        .request(Method::POST, "/api/v1/patrol-checkins", Some(&phone_b))
        .header("Idempotency-Key", "phone-b-1")
        .json(&json!({"code": payload}))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    let by_header: Value = res.json().await?;
    assert_eq!(by_header["id"], first["id"]);

    let (total, rows) = (
        balance(&app, &phone_a).await?,
        earnings(&app, &phone_a, "patrol").await?,
    );
    assert_eq!(total, 5, "paid once");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        rows[0]["source_id"],
        format!(
            "{}:{window_key}",
            first["checkpoint"]["id"].as_str().ok_or("id")?
        )
    );

    // One key, another check-in: refused rather than answered with the wrong one.
    let mut reused = at("P1-G1", LAT, LNG, 5.0);
    reused["id"] = first_body["id"].clone();
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/patrol-checkins",
        &phone_a,
        Some(reused),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(p["errors"][0]["rule"], "idempotency_mismatch");
    // Without any key a phone could not tell its retry from a new check-in.
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/patrol-checkins",
        &phone_a,
        Some(json!({"code": payload})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["id"]);

    // Another user at the same checkpoint is paid on their own account.
    let admin = app.token(ADMIN).await?;
    app.create_user(&admin, "13900000001", &["citizen"], "xunfang2026")
        .await?;
    let neighbour = app
        .login_pair("13900000001", "xunfang2026")
        .await
        .and_then(|p| str_field(&p, "access_token"))?;
    let (status, theirs) = check_in(&app, &neighbour, scan(&payload)).await?;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    assert_ne!(theirs["id"], first["id"]);
    assert_eq!(balance(&app, &neighbour).await?, 5);
    assert_eq!(balance(&app, &phone_a).await?, 5);
    Ok(())
}

#[tokio::test]
async fn concurrent_check_ins_of_one_user_at_one_checkpoint_pay_once() -> TestResult {
    let app = TestApp::spawn().await?;
    let coordinator = app.token(COORDINATOR).await?;
    create_route(&app, &coordinator, route_body("P1", open_window())).await?;
    let phone_a = app.token(CITIZEN).await?;
    let phone_b = app.token(CITIZEN).await?;
    // Two phones send at the same moment, over and over, through two server instances.
    let second = app.second_instance(&[]).await?;
    let (a, b, c, d) = tokio::join!(
        check_in(&app, &phone_a, at("P1-G1", LAT, LNG, 5.0)),
        check_in(&second, &phone_b, at("P1-G1", LAT, LNG, 5.0)),
        check_in(&app, &phone_b, at("P1-G1", LAT, LNG, 5.0)),
        check_in(&second, &phone_a, at("P1-G1", LAT, LNG, 5.0)),
    );
    let answers = [a?, b?, c?, d?];
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "exactly one check-in recorded: {answers:?}");
    for (status, body) in &answers {
        assert!(
            *status == StatusCode::CREATED || *status == StatusCode::OK,
            "{status} {body}"
        );
        assert_eq!(
            body["id"], answers[0].1["id"],
            "everyone gets the one check-in"
        );
    }
    let (total, rows) = (
        balance(&app, &phone_a).await?,
        earnings(&app, &phone_a, "patrol").await?,
    );
    assert_eq!((total, rows.len()), (3, 1), "paid once");
    Ok(())
}

#[tokio::test]
async fn a_walk_is_complete_when_every_checkpoint_is_hit_in_one_window() -> TestResult {
    let app = TestApp::spawn().await?;
    let coordinator = app.token(COORDINATOR).await?;
    let citizen = app.token(CITIZEN).await?;
    let route = create_route(&app, &coordinator, route_body("P1", open_window())).await?;
    let payload = payload_of(&route, "P1-Q")?;

    let (status, one) = check_in(&app, &citizen, scan(&payload)).await?;
    assert_eq!(status, StatusCode::CREATED, "{one}");
    assert_eq!(
        one["progress"],
        json!({"hit": 1, "total": 3, "complete": false})
    );

    // 60 m out with 15 m accuracy: 60 − 15 = 45 ≤ 50, accepted.
    let (status, two) = check_in(&app, &citizen, at("P1-G1", LAT + north(60.0), LNG, 15.0)).await?;
    assert_eq!(status, StatusCode::CREATED, "{two}");
    assert_eq!(two["method"], "location");
    let d = two["distance_m"].as_f64().ok_or("distance")?;
    assert!((d - 60.0).abs() < 1.0, "{d}");
    assert_eq!(
        two["progress"],
        json!({"hit": 2, "total": 3, "complete": false})
    );
    assert_eq!(two["walk_id"], one["walk_id"]);

    // Walks so far: one, not complete.
    let (_, walks) = app.get("/api/v1/patrol-walks", Some(&citizen)).await?;
    assert_eq!(walks["items"].as_array().map(Vec::len), Some(1), "{walks}");
    assert_eq!(walks["items"][0]["progress"]["complete"], false);
    assert_eq!(walks["items"][0]["hit"], json!(["P1-Q", "P1-G1"]));
    assert!(walks["items"][0]["completed_at"].is_null());

    // The last one as WeChat reports it (GCJ-02), 20 m from the centre.
    let gcj = places::gcj02::wgs84_to_gcj02([LNG, LAT + north(60.0) + north(20.0)]);
    let mut body = at("P1-G2", gcj[1], gcj[0], 8.0);
    body["crs"] = json!("gcj02");
    let (status, three) = check_in(&app, &citizen, body).await?;
    assert_eq!(status, StatusCode::CREATED, "{three}");
    assert_eq!(
        three["progress"],
        json!({"hit": 3, "total": 3, "complete": true})
    );
    let d = three["distance_m"].as_f64().ok_or("distance")?;
    assert!((d - 20.0).abs() < 2.0, "GCJ-02 converted back: {d}");

    let (_, walks) = app.get("/api/v1/patrol-walks", Some(&citizen)).await?;
    let walk = &walks["items"][0];
    assert_eq!(walk["id"], one["walk_id"]);
    assert_eq!(walk["route"], "P1");
    assert_eq!(walk["window_key"], one["window_key"]);
    assert_eq!(
        walk["progress"],
        json!({"hit": 3, "total": 3, "complete": true})
    );
    assert_eq!(walk["hit"], json!(["P1-Q", "P1-G1", "P1-G2"]));
    assert!(walk["completed_at"].is_string(), "{walk}");
    assert_eq!(balance(&app, &citizen).await?, 10);

    // Another user's walks are their own.
    let worker = app.token(GRID_WORKER).await?;
    let (_, theirs) = app.get("/api/v1/patrol-walks", Some(&worker)).await?;
    assert_eq!(theirs["items"], json!([]));
    Ok(())
}

#[tokio::test]
async fn bad_check_ins_are_refused_clearly_and_change_nothing() -> TestResult {
    let app = TestApp::spawn().await?;
    let coordinator = app.token(COORDINATOR).await?;
    let citizen = app.token(CITIZEN).await?;
    let route = create_route(&app, &coordinator, route_body("P1", open_window())).await?;
    let payload = payload_of(&route, "P1-Q")?;
    create_route(&app, &coordinator, route_body("P2", later_window())).await?;
    let post = |body: Value, status: u16, kind: &'static str| {
        let (app, citizen) = (&app, &citizen);
        async move {
            problem(
                app,
                Method::POST,
                "/api/v1/patrol-checkins",
                citizen,
                Some(body),
                status,
                kind,
            )
            .await
        }
    };

    // 2 km away: too far. The answer does not say how far, or refusals would locate the
    // checkpoint for those who may not see where it is.
    let p = post(
        at("P1-G1", LAT + north(2000.0), LNG, 10.0),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(
        (
            p["errors"][0]["field"].as_str(),
            p["errors"][0]["rule"].as_str()
        ),
        (Some("lat"), Some("too_far"))
    );
    let message = p["errors"][0]["message"].as_str().ok_or("message")?;
    assert!(message.contains("P1-G1"), "{message}");
    assert!(!message.contains("2000"), "{message}");
    // Just outside: 71 m with 20 m accuracy is 51 m > 50 m.
    let p = post(
        at("P1-G1", LAT + north(71.0), LNG, 20.0),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(p["errors"][0]["rule"], "too_far");
    let p = post(at("P1-G1", LAT, LNG, -1.0), 422, "validation-failed").await?;
    assert_eq!(error_fields(&p), ["accuracy"]);
    let p = post(
        json!({"id": Uuid::new_v4(), "checkpoint": "P1-G1", "lat": LAT, "lng": LNG}),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["accuracy"]);
    let p = post(
        json!({"id": Uuid::new_v4(), "checkpoint": "P1-G1"}),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["lat"]);
    let p = post(
        json!({"id": Uuid::new_v4(), "code": payload, "checkpoint": "P1-G1"}),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(p["errors"][0]["rule"], "one_of");

    // Forged, altered, or a building's genuine code.
    post(
        scan("GW1:1:cp.P1-Q:AAAAAAAAAAAAAAAAAAAAAA"),
        400,
        "invalid-code",
    )
    .await?;
    let at_sig = payload.rfind(':').ok_or("signature")? + 1;
    let mut altered = payload.clone().into_bytes();
    altered[at_sig] = if altered[at_sig] == b'A' { b'B' } else { b'A' };
    post(scan(&String::from_utf8(altered)?), 400, "invalid-code").await?;
    let other_checkpoint = payload.replace("cp.P1-Q", "cp.P2-Q");
    post(scan(&other_checkpoint), 400, "invalid-code").await?;
    let building = app.state.qr.sign("QSH-B0001");
    let p = post(scan(&building), 400, "invalid-code").await?;
    assert!(
        p["detail"].as_str().ok_or("detail")?.contains("building"),
        "{p}"
    );
    post(scan("hello"), 400, "invalid-code").await?;

    // Unknown checkpoints, by location and by a genuine signature of a code that is not one.
    post(at("NOPE", LAT, LNG, 5.0), 404, "not-found").await?;
    post(scan(&app.state.qr.sign("cp.NOPE")), 404, "not-found").await?;
    // The wrong way to prove a checkpoint.
    let p = post(at("P1-Q", LAT, LNG, 5.0), 422, "validation-failed").await?;
    assert_eq!(error_fields(&p), ["code"]);

    // A wrong proof is refused even outside the route's windows (what is merely implausible,
    // such as the time, is held instead: see the review test).
    let p = post(at("P2-Q", LAT, LNG, 5.0), 422, "validation-failed").await?;
    assert_eq!(error_fields(&p), ["code"]);

    // Nothing was recorded or paid.
    assert_eq!(balance(&app, &citizen).await?, 0);
    assert_eq!(
        earnings(&app, &citizen, "patrol").await?,
        Vec::<Value>::new()
    );
    let (_, walks) = app.get("/api/v1/patrol-walks", Some(&citizen)).await?;
    assert_eq!(walks["items"], json!([]));
    // And the good check-in still works afterwards.
    let (status, ok) = check_in(&app, &citizen, at("P1-G1", LAT, LNG, 5.0)).await?;
    assert_eq!(status, StatusCode::CREATED, "{ok}");
    Ok(())
}

#[tokio::test]
async fn findings_become_placed_events_once() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true", "--sweep-secs", "3600"]).await?;
    let coordinator = app.token(COORDINATOR).await?;
    let citizen = app.token(CITIZEN).await?;
    let worker = app.token(GRID_WORKER).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let (_, b) = app
        .get("/api/v1/buildings/QSH-B0001", Some(&dispatcher))
        .await?;
    let (lat, lng) = (
        b["lat"].as_f64().ok_or("lat")?,
        b["lng"].as_f64().ok_or("lng")? + 0.000_01,
    );
    let mut body = json!({
        "code": "QSH-P01",
        "name": "东门夜巡",
        "area_code": "QSH-G001",
        "windows": open_window(),
        "checkpoints": [
            {"code": "QSH-P01-G", "name": "东门", "kind": "geofence", "lat": lat, "lng": lng, "radius_m": 40, "points": 2},
            {"code": "QSH-P01-Q", "name": "车棚", "kind": "qr", "points": 1},
        ],
    });
    let route = create_route(&app, &coordinator, body.clone()).await?;
    assert_eq!(route["area_code"], "QSH-G001");
    let (_, listed) = app
        .get("/api/v1/patrol-routes?area=QSH-G001", Some(&citizen))
        .await?;
    assert_eq!(listed["items"][0]["code"], "QSH-P01");
    let (_, none) = app
        .get("/api/v1/patrol-routes?area=QSH-G002", Some(&citizen))
        .await?;
    assert_eq!(none["items"], json!([]));

    // Standing 25 m off the centre; the finding is placed at the checkpoint's centre.
    let (status, checkin) =
        check_in(&app, &citizen, at("QSH-P01-G", lat + north(25.0), lng, 5.0)).await?;
    assert_eq!(status, StatusCode::CREATED, "{checkin}");
    let path = format!(
        "/api/v1/patrol-checkins/{}/findings",
        str_field(&checkin, "id")?
    );
    let finding = json!({"id": Uuid::new_v4(), "category": "safety.hazard", "description": "消防通道被电动车堵塞"});
    let (status, event) = app.post(&path, Some(&citizen), finding.clone()).await?;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    assert_eq!(event["lat"].as_f64(), Some(lat));
    assert_eq!(event["lng"].as_f64(), Some(lng));
    assert_eq!(event["micro_grid_code"], "QSH-G001-01");
    assert_eq!(event["task"]["assignee_code"], "QSH-G001");
    assert_eq!(event["source"], "citizen");
    assert_eq!(event["category"], "safety.hazard");

    // A retry is the same event; the same key for another finding is refused.
    let res = app
        .request(Method::POST, &path, Some(&citizen))
        .json(&finding)
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(
        res.headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let again: Value = res.json().await?;
    assert_eq!(again["id"], event["id"]);
    let mut changed = finding.clone();
    changed["description"] = json!("另一件事");
    let p = problem(
        &app,
        Method::POST,
        &path,
        &citizen,
        Some(changed),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(p["errors"][0]["rule"], "idempotency_mismatch");
    let (_, mine) = app.get("/api/v1/events?mine=true", Some(&citizen)).await?;
    assert_eq!(
        mine["items"].as_array().map(Vec::len),
        Some(1),
        "one event: {mine}"
    );

    // Only the patroller who checked in reports on that check-in; bad bodies are named.
    problem(
        &app,
        Method::POST,
        &path,
        &worker,
        Some(finding.clone()),
        404,
        "not-found",
    )
    .await?;
    problem(
        &app,
        Method::POST,
        &format!("/api/v1/patrol-checkins/{}/findings", Uuid::now_v7()),
        &citizen,
        Some(json!({"id": Uuid::new_v4(), "category": "safety.hazard", "description": "x"})),
        404,
        "not-found",
    )
    .await?;
    let p = problem(
        &app,
        Method::POST,
        &path,
        &citizen,
        Some(json!({"id": Uuid::new_v4(), "category": "no.such", "description": ""})),
        422,
        "validation-failed",
    )
    .await?;
    let mut fields = error_fields(&p);
    fields.sort();
    assert_eq!(fields, ["category", "description"]);

    // A grid worker's finding at a QR plate with no known position lands where they stood, as
    // a patrol event.
    let (status, worker_checkin) = check_in(
        &app,
        &worker,
        json!({"id": Uuid::new_v4(), "code": payload_of(&route, "QSH-P01-Q")?, "lat": lat, "lng": lng + 0.000_05, "accuracy": 10.0}),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{worker_checkin}");
    let (status, patrol_event) = app
        .post(
            &format!("/api/v1/patrol-checkins/{}/findings", str_field(&worker_checkin, "id")?),
            Some(&worker),
            json!({"id": Uuid::new_v4(), "category": "environment.garbage", "description": "车棚旁垃圾堆放"}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{patrol_event}");
    assert_eq!(patrol_event["source"], "patrol");
    assert_eq!(patrol_event["lng"].as_f64(), Some(lng + 0.000_05));
    assert_eq!(patrol_event["grid_code"], "QSH-G001");

    // The route's area is checked against the tree.
    body["code"] = json!("QSH-P02");
    body["area_code"] = json!("QSH-G999");
    body["checkpoints"] = json!([{"code": "QSH-P02-Q", "name": "x", "kind": "qr", "points": 1}]);
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/patrol-routes",
        &coordinator,
        Some(body),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["area_code"]);
    Ok(())
}

#[tokio::test]
async fn checkpoint_coordinates_are_shown_to_those_who_manage_or_walk_the_route() -> TestResult {
    let app = TestApp::spawn().await?;
    let coordinator = app.token(COORDINATOR).await?;
    let citizen = app.token(CITIZEN).await?;
    let worker = app.token(GRID_WORKER).await?;
    let route = create_route(&app, &coordinator, route_body("P1", open_window())).await?;
    let payload = payload_of(&route, "P1-Q")?;
    let located = |v: &Value| {
        v["checkpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["kind"] == "geofence")
            .all(|c| c["lat"].is_number() && c["lng"].is_number() && c["radius_m"].is_number())
    };
    let hidden = |v: &Value| {
        v["checkpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|c| c["lat"].is_null() && c["lng"].is_null() && c["radius_m"].is_null())
    };
    let (_, seen) = app
        .get("/api/v1/patrol-routes/P1", Some(&coordinator))
        .await?;
    assert!(located(&seen), "coordinators manage it: {seen}");
    for t in [&citizen, &worker] {
        let (status, seen) = app.get("/api/v1/patrol-routes/P1", Some(t)).await?;
        assert_eq!(status, StatusCode::OK);
        assert!(hidden(&seen), "not walking it: {seen}");
    }
    // Scanning the plate at the start proves the citizen is out on the route: from then on,
    // while the walk is open, they see where the other checkpoints are.
    let (status, first) = check_in(&app, &citizen, scan(&payload)).await?;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (_, seen) = app.get("/api/v1/patrol-routes/P1", Some(&citizen)).await?;
    assert!(located(&seen), "walking it: {seen}");
    let (_, seen) = app.get("/api/v1/patrol-routes/P1", Some(&worker)).await?;
    assert!(
        hidden(&seen),
        "someone else's walk shows them nothing: {seen}"
    );
    Ok(())
}

/// The reason a held check-in was held.
fn reason(v: &Value) -> &str {
    v["hold"]["reason"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn implausible_check_ins_are_held_for_review_and_paid_only_when_approved() -> TestResult {
    let app = TestApp::spawn().await?;
    let coordinator = app.token(COORDINATOR).await?;
    let citizen = app.token(CITIZEN).await?;
    // Three geofences a kilometre or so apart.
    create_route(
        &app,
        &coordinator,
        json!({"code": "F1", "name": "河道巡查", "windows": open_window(), "checkpoints": [
            {"code": "F1-A", "name": "南闸", "kind": "geofence", "lat": LAT, "lng": LNG, "radius_m": 50, "points": 3},
            {"code": "F1-B", "name": "北闸", "kind": "geofence", "lat": LAT + north(1000.0), "lng": LNG, "radius_m": 50, "points": 4},
            {"code": "F1-C", "name": "西桥", "kind": "geofence", "lat": LAT, "lng": LNG + 0.01, "radius_m": 50, "points": 2},
        ]}),
    )
    .await?;
    let later = create_route(&app, &coordinator, route_body("P2", later_window())).await?;
    let later_payload = payload_of(&later, "P2-Q")?;

    // A good fix at the north sluice pays.
    let (status, north_gate) =
        check_in(&app, &citizen, at("F1-B", LAT + north(1000.0), LNG, 5.0)).await?;
    assert_eq!(status, StatusCode::CREATED, "{north_gate}");
    assert_eq!(
        (north_gate["status"].clone(), north_gate["points"].clone()),
        (json!("paid"), json!(4))
    );
    // 1.4 km in the same second: nobody moves that fast. Held, not paid, and the phone is told.
    let (status, fast) = check_in(&app, &citizen, at("F1-C", LAT, LNG + 0.01, 5.0)).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{fast}");
    assert_eq!(
        (fast["status"].as_str(), reason(&fast)),
        (Some("held"), "too_fast")
    );
    assert_eq!(fast["points"], 0);
    assert!(
        fast["hold"]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("审核"),
        "{fast}"
    );
    assert_eq!(
        fast["progress"]["hit"], 1,
        "a held check-in does not count yet"
    );
    // A fix that could hide a kilometre.
    let (status, coarse) = check_in(&app, &citizen, at("F1-A", LAT, LNG, 150.0)).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{coarse}");
    assert_eq!(reason(&coarse), "inaccurate");
    assert!(
        coarse["hold"]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("150"),
        "{coarse}"
    );
    // Outside the route's windows.
    let (status, late) = check_in(&app, &citizen, scan(&later_payload)).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{late}");
    assert_eq!(reason(&late), "outside_window");
    assert!(
        late["window_key"]
            .as_str()
            .unwrap_or_default()
            .ends_with("#out"),
        "{late}"
    );
    // A retry of a held check-in is the same held check-in.
    let (status, again) = check_in(&app, &citizen, scan(&later_payload)).await?;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        (again["id"].clone(), again["status"].clone()),
        (late["id"].clone(), json!("held"))
    );
    assert_eq!(
        balance(&app, &citizen).await?,
        4,
        "only the plausible one paid"
    );

    // Coordinators see the queue with the reasons; patrollers do not.
    problem(
        &app,
        Method::GET,
        "/api/v1/patrol-checkins/held",
        &citizen,
        None,
        403,
        "forbidden",
    )
    .await?;
    let (status, queue) = app
        .get("/api/v1/patrol-checkins/held", Some(&coordinator))
        .await?;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let reasons: Vec<&str> = queue["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["reason"].as_str())
        .collect();
    assert_eq!(reasons, ["too_fast", "inaccurate", "outside_window"]);
    assert_eq!(queue["items"][1]["accuracy_m"], 150.0);
    assert_eq!(queue["items"][0]["checkpoint_points"], 2);

    // Approving pays it and counts it in the walk; rejecting closes it unpaid; each once.
    let review = |id: &Value| {
        format!(
            "/api/v1/patrol-checkins/{}/review",
            id.as_str().unwrap_or_default()
        )
    };
    problem(
        &app,
        Method::POST,
        &review(&fast["id"]),
        &citizen,
        Some(json!({"decision": "approve"})),
        403,
        "forbidden",
    )
    .await?;
    let (status, approved) = app
        .post(
            &review(&fast["id"]),
            Some(&coordinator),
            json!({"decision": "approve"}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(
        (approved["status"].clone(), approved["points"].clone()),
        (json!("paid"), json!(2))
    );
    assert_eq!(approved["progress"]["hit"], 2);
    assert_eq!(balance(&app, &citizen).await?, 6);
    problem(
        &app,
        Method::POST,
        &review(&fast["id"]),
        &coordinator,
        Some(json!({"decision": "approve"})),
        409,
        "conflict",
    )
    .await?;
    let (status, rejected) = app
        .post(
            &review(&coarse["id"]),
            Some(&coordinator),
            json!({"decision": "reject"}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(
        (rejected["status"].clone(), rejected["points"].clone()),
        (json!("rejected"), json!(0))
    );
    assert_eq!(balance(&app, &citizen).await?, 6);
    let (_, queue) = app
        .get("/api/v1/patrol-checkins/held", Some(&coordinator))
        .await?;
    assert_eq!(queue["items"].as_array().map(Vec::len), Some(1), "{queue}");
    Ok(())
}

#[tokio::test]
async fn high_value_checkpoints_pay_only_for_a_rotating_code_and_earnings_stop_at_the_daily_cap()
-> TestResult {
    let app = TestApp::spawn().await?;
    let coordinator = app.token(COORDINATOR).await?;
    let citizen = app.token(CITIZEN).await?;
    // Above the default threshold (10 points) a geofence is not enough.
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/patrol-routes",
        &coordinator,
        Some(json!({"code": "H0", "name": "x", "windows": open_window(), "checkpoints": [
            {"code": "H0-G", "name": "g", "kind": "geofence", "lat": LAT, "lng": LNG, "radius_m": 50, "points": 60}]})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["checkpoints[0].kind"]);
    let route = create_route(
        &app,
        &coordinator,
        json!({"code": "H1", "name": "重点部位巡查", "windows": open_window(), "checkpoints": [
            {"code": "H1-A", "name": "变电站", "kind": "qr", "points": 60},
            {"code": "H1-B", "name": "加油站", "kind": "qr", "points": 60},
            {"code": "H1-C", "name": "学校门口", "kind": "qr", "points": 5},
            {"code": "H1-D", "name": "水厂", "kind": "qr", "points": 60},
            {"code": "H1-E", "name": "燃气站", "kind": "qr", "points": 60},
        ]}),
    )
    .await?;

    // The printed plate of a high-value checkpoint (a photo of it works from anywhere) is held.
    let (status, printed) = check_in(&app, &citizen, scan(&payload_of(&route, "H1-B")?)).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{printed}");
    assert_eq!(reason(&printed), "rotating_code_required");
    // A low-value checkpoint's printed plate still pays.
    let (status, cheap) = check_in(&app, &citizen, scan(&payload_of(&route, "H1-C")?)).await?;
    assert_eq!(
        (status, cheap["points"].clone()),
        (StatusCode::CREATED, json!(5)),
        "{cheap}"
    );

    // The screen at the spot shows a rotating code (coordinators set screens up).
    let live = "/api/v1/patrol-checkpoints/H1-A/live-qr";
    problem(&app, Method::GET, live, &citizen, None, 403, "forbidden").await?;
    let (status, screen) = app.get(live, Some(&coordinator)).await?;
    assert_eq!(status, StatusCode::OK, "{screen}");
    let shown = str_field(&screen, "payload")?;
    assert!(shown.contains(":cpt."), "{shown}");
    assert!(screen["refresh_at"].is_string() && screen["valid_until"].is_string());
    let (status, paid) = check_in(&app, &citizen, scan(&shown)).await?;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    assert_eq!(
        (paid["status"].clone(), paid["points"].clone()),
        (json!("paid"), json!(60))
    );
    // A code from a few steps ago (a photo sent home) is held.
    let step = Utc::now().timestamp().div_euclid(30);
    let old = app.state.qr.sign(&format!("cpt.{}.H1-E", step - 3));
    let (status, stale) = check_in(&app, &citizen, scan(&old)).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{stale}");
    assert_eq!(reason(&stale), "expired_code");

    // The day's patrol cap (100 by default): 65 earned, so 60 more pays 35, and says so.
    let (_, screen) = app
        .get(
            "/api/v1/patrol-checkpoints/H1-D/live-qr",
            Some(&coordinator),
        )
        .await?;
    let (status, capped) = check_in(&app, &citizen, scan(&str_field(&screen, "payload")?)).await?;
    assert_eq!(status, StatusCode::CREATED, "{capped}");
    assert_eq!(
        (capped["points"].clone(), capped["capped"].clone()),
        (json!(35), json!(true))
    );
    let (total, rows) = (
        balance(&app, &citizen).await?,
        earnings(&app, &citizen, "patrol").await?,
    );
    assert_eq!(total, 100);
    assert_eq!(rows.len(), 3, "{rows:?}");
    // Approving a held check-in pays through the same cap: nothing is left today.
    let (status, approved) = app
        .post(
            &format!(
                "/api/v1/patrol-checkins/{}/review",
                printed["id"].as_str().unwrap_or_default()
            ),
            Some(&coordinator),
            json!({"decision": "approve"}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(
        (approved["status"].clone(), approved["points"].clone()),
        (json!("paid"), json!(0))
    );
    assert_eq!(balance(&app, &citizen).await?, 100);
    Ok(())
}
