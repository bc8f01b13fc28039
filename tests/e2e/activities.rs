//! Activities and shifts: signups that are idempotent and never oversold (also under a rush of
//! real concurrent requests, on two instances where the database is PostgreSQL), waitlists
//! promoted first come first served and told live, eligibility, cancellation, attendance by
//! scan and by coordinator, hours and points.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use gridwing_api::entities::{shifts, signups};
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::live::{connect, next_item};
use crate::support::*;

/// Publishes an activity of one shift running from `from_min` to `to_min` minutes from now and
/// returns (activity id, shift id).
async fn publish(
    app: &TestApp,
    coordinator: &str,
    extra: Value,
    capacity: i32,
    waitlist: bool,
    (from_min, to_min): (i64, i64),
) -> TestResult<(String, String)> {
    let now = Utc::now();
    let mut body = json!({
        "title": "社区垃圾分类督导",
        "kind": "service",
        "points_per_hour": 10,
        "shifts": [{
            "starts_at": now + chrono::Duration::minutes(from_min),
            "ends_at": now + chrono::Duration::minutes(to_min),
            "capacity": capacity,
            "waitlist": waitlist,
        }],
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let (s, a) = app
        .post("/api/v1/activities", Some(coordinator), body)
        .await?;
    assert_eq!(s.as_u16(), 201, "{a}");
    Ok((str_field(&a, "id")?, str_field(&a["shifts"][0], "id")?))
}

async fn sign_up(app: &TestApp, token: &str, shift: &str) -> TestResult<(u16, Value)> {
    let (s, v) = app
        .post(
            &format!("/api/v1/shifts/{shift}/signups"),
            Some(token),
            json!({}),
        )
        .await?;
    Ok((s.as_u16(), v))
}

async fn shift_of(app: &TestApp, activity: &str, token: &str) -> TestResult<Value> {
    let (_, a) = app
        .get(&format!("/api/v1/activities/{activity}"), Some(token))
        .await?;
    Ok(a["shifts"][0].clone())
}

#[tokio::test]
async fn the_waitlist_moves_up_when_a_place_frees_and_the_first_in_line_hears_it_live() -> TestResult
{
    let app = TestApp::spawn().await?;
    let coordinator = app.token(COORDINATOR).await?;
    let people = app.crowd("160", 5).await?;
    let (activity, shift) = publish(&app, &coordinator, json!({}), 2, true, (60, 180)).await?;

    let mut ids = Vec::new();
    for (i, (_, token)) in people.iter().take(4).enumerate() {
        let (s, v) = sign_up(&app, token, &shift).await?;
        assert_eq!(s, 201, "{v}");
        let want = if i < 2 { "confirmed" } else { "waitlisted" };
        assert_eq!(v["status"], want, "person {i}: {v}");
        ids.push(str_field(&v, "id")?);
    }
    // Pressing again, from any phone, answers with the signup held.
    let (s, again) = sign_up(&app, &people[2].1, &shift).await?;
    assert_eq!(
        (s, &again["id"], &again["status"]),
        (200, &json!(ids[2]), &json!("waitlisted"))
    );
    let s0 = shift_of(&app, &activity, &coordinator).await?;
    assert_eq!(
        (s0["taken"].as_i64(), s0["waitlisted"].as_i64()),
        (Some(2), Some(2)),
        "{s0}"
    );

    // Someone else's signup cannot be cancelled: it looks like no signup at all.
    problem(
        &app,
        Method::POST,
        &format!("/api/v1/signups/{}/cancel", ids[1]),
        &people[4].1,
        None,
        404,
        "not-found",
    )
    .await?;

    let mut ws = connect(&app, &people[2].1, None).await?;
    let (s, c) = app
        .post(
            &format!("/api/v1/signups/{}/cancel", ids[0]),
            Some(&people[0].1),
            json!({}),
        )
        .await?;
    assert_eq!(
        (s.as_u16(), &c["status"]),
        (200, &json!("cancelled")),
        "{c}"
    );
    let pushed = next_item(&mut ws, Duration::from_secs(10)).await?;
    assert_eq!(pushed["kind"], "signup.promoted", "{pushed}");
    assert_eq!(pushed["payload"]["signup_id"], json!(ids[2]));
    let (_, mine) = app.get("/api/v1/signups/me", Some(&people[2].1)).await?;
    assert_eq!(mine["items"][0]["status"], "confirmed", "{mine}");
    let s1 = shift_of(&app, &activity, &coordinator).await?;
    assert_eq!(
        (s1["taken"].as_i64(), s1["waitlisted"].as_i64()),
        (Some(2), Some(1)),
        "{s1}"
    );

    // Cancelling again is the same answer and frees nothing more.
    let (s, c2) = app
        .post(
            &format!("/api/v1/signups/{}/cancel", ids[0]),
            Some(&people[0].1),
            json!({}),
        )
        .await?;
    assert_eq!((s.as_u16(), &c2["status"]), (200, &json!("cancelled")));
    assert_eq!(shift_of(&app, &activity, &coordinator).await?["taken"], 2);

    // Signing up again after cancelling goes to the back of the line.
    let (s, back) = sign_up(&app, &people[0].1, &shift).await?;
    assert_eq!((s, &back["status"]), (201, &json!("waitlisted")), "{back}");
    let (_, line) = app
        .get(
            &format!("/api/v1/shifts/{shift}/signups?status=waitlisted"),
            Some(&coordinator),
        )
        .await?;
    let order: Vec<&Value> = line["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| &i["user_id"])
        .collect();
    assert_eq!(order, [&json!(people[3].0), &json!(people[0].0)], "{line}");

    // A waitlisted person who cancels leaves the line and no place changes hands.
    let (_, c3) = app
        .post(
            &format!("/api/v1/signups/{}/cancel", ids[3]),
            Some(&coordinator),
            json!({}),
        )
        .await?;
    assert_eq!(c3["status"], "cancelled");
    let s2 = shift_of(&app, &activity, &coordinator).await?;
    assert_eq!(
        (s2["taken"].as_i64(), s2["waitlisted"].as_i64()),
        (Some(2), Some(1))
    );
    Ok(())
}

#[tokio::test]
async fn a_full_shift_without_waitlist_refuses_and_bad_input_is_named() -> TestResult {
    let app = TestApp::spawn().await?;
    let coordinator = app.token(COORDINATOR).await?;
    let people = app.crowd("161", 2).await?;
    let (activity, shift) = publish(&app, &coordinator, json!({}), 1, false, (60, 120)).await?;
    assert_eq!(sign_up(&app, &people[0].1, &shift).await?.0, 201);
    let p = problem(
        &app,
        Method::POST,
        &format!("/api/v1/shifts/{shift}/signups"),
        &people[1].1,
        None,
        409,
        "conflict",
    )
    .await?;
    assert!(
        p["detail"].as_str().is_some_and(|d| d.contains("full")),
        "{p}"
    );
    let (_, roster) = app
        .get(
            &format!("/api/v1/shifts/{shift}/signups"),
            Some(&coordinator),
        )
        .await?;
    assert_eq!(
        roster["items"].as_array().map(Vec::len),
        Some(1),
        "nothing written"
    );
    assert_eq!(shift_of(&app, &activity, &coordinator).await?["taken"], 1);

    // Every bad field of a new activity at once; nothing is published.
    let now = Utc::now();
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/activities",
        &coordinator,
        Some(json!({
            "title": "", "kind": "service", "points_per_hour": 5000,
            "shifts": [{"starts_at": now, "ends_at": now, "capacity": 0}],
        })),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(
        error_fields(&p),
        [
            "title",
            "points_per_hour",
            "shifts[0].ends_at",
            "shifts[0].capacity"
        ],
        "{p}"
    );
    let (_, list) = app.get("/api/v1/activities", Some(&coordinator)).await?;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    // Citizens do not publish; an ended shift takes nobody.
    problem(
        &app,
        Method::POST,
        "/api/v1/activities",
        &people[0].1,
        Some(json!({})),
        403,
        "forbidden",
    )
    .await?;
    let (_, past) = publish(&app, &coordinator, json!({}), 5, true, (-120, -60)).await?;
    let p = problem(
        &app,
        Method::POST,
        &format!("/api/v1/shifts/{past}/signups"),
        &people[1].1,
        None,
        409,
        "conflict",
    )
    .await?;
    assert!(
        p["detail"].as_str().is_some_and(|d| d.contains("ended")),
        "{p}"
    );
    problem(
        &app,
        Method::POST,
        &format!("/api/v1/shifts/{}/signups", Uuid::now_v7()),
        &people[1].1,
        None,
        404,
        "not-found",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn eligibility_by_team_area_and_skill_is_checked_on_the_server() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let coordinator = app.token(COORDINATOR).await?;
    let people = app.crowd("162", 4).await?;
    let [(_, stranger), (_, no_skill), (_, medic), (_, elsewhere)] = people.as_slice() else {
        panic!("four people");
    };
    for (token, body) in [
        (no_skill, json!({"areas": ["QSH-G001"]})),
        (medic, json!({"areas": ["QSH-G001"], "skills": ["急救"]})),
        (elsewhere, json!({"areas": ["QSH-C06"], "skills": ["急救"]})),
    ] {
        let (s, v) = app.post("/api/v1/volunteers/me", Some(token), body).await?;
        assert_eq!(s.as_u16(), 201, "{v}");
    }
    let (_, shift) = publish(
        &app,
        &coordinator,
        json!({"area": "QSH-C01", "skill": "急救"}),
        10,
        false,
        (60, 120),
    )
    .await?;
    let path = format!("/api/v1/shifts/{shift}/signups");
    for (token, why) in [
        (stranger, "volunteers"),
        (no_skill, "急救"),
        (elsewhere, "QSH-C01"),
    ] {
        let p = problem(&app, Method::POST, &path, token, None, 403, "not-eligible").await?;
        assert!(p["detail"].as_str().is_some_and(|d| d.contains(why)), "{p}");
    }
    let (s, v) = sign_up(&app, medic, &shift).await?;
    assert_eq!(
        (s, &v["status"]),
        (201, &json!("confirmed")),
        "a grid's volunteer for its community"
    );

    // A team activity takes only the team's active members.
    app.post(
        "/api/v1/volunteer-teams",
        Some(&coordinator),
        json!({"code": "MEDICS", "name": "急救队"}),
    )
    .await?;
    let (_, team_shift) = publish(
        &app,
        &coordinator,
        json!({"team": "MEDICS"}),
        10,
        false,
        (60, 120),
    )
    .await?;
    problem(
        &app,
        Method::POST,
        &format!("/api/v1/shifts/{team_shift}/signups"),
        medic,
        None,
        403,
        "not-eligible",
    )
    .await?;
    app.post(
        "/api/v1/volunteer-teams/MEDICS/join",
        Some(medic),
        json!({}),
    )
    .await?;
    assert_eq!(sign_up(&app, medic, &team_shift).await?.0, 201);
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/activities",
        &coordinator,
        Some(json!({"title": "x", "kind": "patrol", "team": "NO-SUCH", "area": "QSH-X99",
                    "shifts": [{"starts_at": Utc::now(), "ends_at": Utc::now() + chrono::Duration::hours(1), "capacity": 1}]})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["area"], "{p}");
    Ok(())
}

#[tokio::test]
async fn attendance_credits_minutes_and_points_once_by_scan_or_by_coordinator() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let coordinator = app.token(COORDINATOR).await?;
    let people = app.crowd("163", 3).await?;
    let [(_, scanner), (taken_id, taken), (_, early)] = people.as_slice() else {
        panic!("three people");
    };
    // A shift that started 10 minutes ago and runs an hour: 10 points an hour.
    let (activity, shift) = publish(&app, &coordinator, json!({}), 5, false, (-10, 50)).await?;
    for token in [scanner, taken] {
        assert_eq!(sign_up(&app, token, &shift).await?.0, 201);
    }
    let (_, code) = app
        .get(
            &format!("/api/v1/activities/{activity}/attendance-code"),
            Some(&coordinator),
        )
        .await?;
    let payload = str_field(&code, "payload")?;
    problem(
        &app,
        Method::GET,
        &format!("/api/v1/activities/{activity}/attendance-code"),
        scanner,
        None,
        403,
        "forbidden",
    )
    .await?;

    for _ in 0..2 {
        let (s, a) = app
            .post(
                "/api/v1/attendance/scan",
                Some(scanner),
                json!({"code": payload}),
            )
            .await?;
        assert_eq!(s.as_u16(), 200, "{a}");
        assert_eq!(
            (a["minutes"].as_i64(), &a["attendance_by"]),
            (Some(60), &json!("scan"))
        );
    }
    assert_eq!(balance(&app, scanner).await?, 10, "paid once for two scans");
    let (_, record) = app
        .get("/api/v1/volunteers/me/service", Some(scanner))
        .await?;
    assert_eq!(record["items"][0]["minutes"], 60, "{record}");
    assert_eq!(record["items"][0]["title"], "社区垃圾分类督导");

    // A forged code, a building's genuine code, and a place in a shift that is not running.
    let forged = format!("{}x", &payload[..payload.len() - 1]);
    for code in [forged, "hello".to_owned()] {
        problem(
            &app,
            Method::POST,
            "/api/v1/attendance/scan",
            scanner,
            Some(json!({"code": code})),
            400,
            "invalid-code",
        )
        .await?;
    }
    let building_code = app.state.qr.sign("QSH-B0001");
    problem(
        &app,
        Method::POST,
        "/api/v1/attendance/scan",
        scanner,
        Some(json!({"code": building_code})),
        400,
        "invalid-code",
    )
    .await?;
    let (later, later_shift) = publish(&app, &coordinator, json!({}), 5, false, (120, 180)).await?;
    assert_eq!(sign_up(&app, early, &later_shift).await?.0, 201);
    let (_, later_code) = app
        .get(
            &format!("/api/v1/activities/{later}/attendance-code"),
            Some(&coordinator),
        )
        .await?;
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/attendance/scan",
        early,
        Some(json!({"code": str_field(&later_code, "payload")?})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(p["errors"][0]["rule"], "outside_shift");
    problem(
        &app,
        Method::POST,
        "/api/v1/attendance/scan",
        early,
        Some(json!({"code": payload})),
        403,
        "not-eligible",
    )
    .await?;
    assert_eq!(balance(&app, early).await?, 0);

    // The coordinator credits half an hour: 5 points; an attended place cannot be cancelled.
    let path = format!("/api/v1/shifts/{shift}/attendance");
    let p = problem(
        &app,
        Method::POST,
        &path,
        &coordinator,
        Some(json!({"user_id": taken_id, "minutes": 61})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["minutes"]);
    for _ in 0..2 {
        let (s, a) = app
            .post(
                &path,
                Some(&coordinator),
                json!({"user_id": taken_id, "minutes": 30}),
            )
            .await?;
        assert_eq!((s.as_u16(), a["minutes"].as_i64()), (200, Some(30)), "{a}");
    }
    assert_eq!(balance(&app, taken).await?, 5);
    let (_, mine) = app.get("/api/v1/signups/me", Some(taken)).await?;
    let signup = str_field(&mine["items"][0], "id")?;
    problem(
        &app,
        Method::POST,
        &format!("/api/v1/signups/{signup}/cancel"),
        taken,
        None,
        409,
        "conflict",
    )
    .await?;
    let p = problem(
        &app,
        Method::POST,
        &path,
        &coordinator,
        Some(json!({"user_id": people[2].0})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["user_id"]);
    Ok(())
}

/// What a rush ended with, read from the database.
async fn final_counts(app: &TestApp, shift: Uuid) -> TestResult<(u64, u64, i32)> {
    let count = |status: &'static str| {
        signups::Entity::find()
            .filter(signups::Column::ShiftId.eq(shift))
            .filter(signups::Column::Status.eq(status))
            .count(&app.state.db)
    };
    let confirmed = count("confirmed").await?;
    let waitlisted = count("waitlisted").await?;
    let taken = shifts::Entity::find_by_id(shift)
        .one(&app.state.db)
        .await?
        .ok_or("shift gone")?
        .taken;
    Ok((confirmed, waitlisted, taken))
}

/// Every person signs up at once (the first `twice` of them from two phones), spread over the
/// given servers; returns each person's answers.
async fn rush(
    servers: &[&TestApp],
    people: &[(Uuid, String)],
    twice: usize,
    shift: &str,
) -> TestResult<BTreeMap<Uuid, Vec<(u16, Value)>>> {
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    let mut running = Vec::new();
    for (i, (id, token)) in people.iter().enumerate() {
        for phone in 0..(if i < twice { 2 } else { 1 }) {
            let server = servers[(i + phone) % servers.len()];
            let url = server.url(&format!("/api/v1/shifts/{shift}/signups"));
            let client = server.client.clone();
            let (id, token, gate) = (*id, token.clone(), gate.clone());
            running.push(tokio::spawn(async move {
                let _permit = gate.acquire_owned().await?;
                let res = client.post(url).bearer_auth(token).send().await?;
                let status = res.status().as_u16();
                let body: Value = res.json().await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>((id, status, body))
            }));
        }
    }
    let mut answers: BTreeMap<Uuid, Vec<(u16, Value)>> = BTreeMap::new();
    for r in running {
        let (id, status, body) = r.await??;
        answers.entry(id).or_default().push((status, body));
    }
    Ok(answers)
}

/// The signup ids a person was answered with; one person never holds two.
fn held(answers: &[(u16, Value)]) -> BTreeSet<String> {
    answers
        .iter()
        .filter(|(s, _)| *s == 200 || *s == 201)
        .filter_map(|(_, v)| v["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_signup_rush_never_oversells_and_nobody_gets_two() -> TestResult {
    let app = TestApp::spawn().await?;
    // On PostgreSQL the rush is spread over two instances, as behind a load balancer.
    let second = if app.db.url().starts_with("postgres") {
        Some(app.second_instance(&[]).await?)
    } else {
        None
    };
    let mut servers = vec![&app];
    servers.extend(second.as_ref());
    let coordinator = app.token(COORDINATOR).await?;
    let people = app.crowd("170", 1200).await?;

    // No waitlist: exactly `capacity` get places, everyone else a clear refusal.
    let (_, shift) = publish(&app, &coordinator, json!({}), 150, false, (60, 240)).await?;
    let answers = rush(&servers, &people, 200, &shift).await?;
    let mut placed = 0;
    let mut refused = 0;
    for (person, got) in &answers {
        let ids = held(got);
        assert!(ids.len() <= 1, "{person} holds {ids:?}");
        for (status, body) in got {
            match status {
                201 | 200 => assert_eq!(body["status"], "confirmed", "{body}"),
                409 => assert_eq!(body["type"], "/problems/conflict", "{body}"),
                other => panic!("{person}: unexpected {other} {body}"),
            }
        }
        if ids.len() == 1 {
            placed += 1;
        } else {
            refused += 1;
        }
    }
    assert_eq!((placed, refused), (150, 1050));
    assert_eq!(final_counts(&app, shift.parse()?).await?, (150, 0, 150));

    // With a waitlist: the rest are in line, nobody lost, nobody twice.
    let (_, shift) = publish(&app, &coordinator, json!({}), 100, true, (60, 240)).await?;
    let answers = rush(&servers, &people[..600], 100, &shift).await?;
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for (person, got) in &answers {
        let ids = held(got);
        assert_eq!(ids.len(), 1, "{person}: {got:?}");
        let status = got
            .iter()
            .find_map(|(_, v)| v["status"].as_str())
            .unwrap_or_default();
        *by_status.entry(status.to_owned()).or_default() += 1;
    }
    assert_eq!(
        by_status,
        BTreeMap::from([
            ("confirmed".to_owned(), 100),
            ("waitlisted".to_owned(), 500)
        ])
    );
    assert_eq!(final_counts(&app, shift.parse()?).await?, (100, 500, 100));

    // Cancellations during a rush: every freed place goes to someone in line, even when the line
    // forms while the place frees, so no place stays empty while people wait. The race is only
    // open until the first person is in line, so it is run many times.
    for _ in 0..15 {
        let (_, shift) = publish(&app, &coordinator, json!({}), 10, true, (60, 240)).await?;
        let first = rush(&servers, &people[..10], 0, &shift).await?;
        let mut running = Vec::new();
        for (i, (person, got)) in first.iter().enumerate() {
            let id = held(got).pop_first().ok_or("no signup")?;
            let token = people
                .iter()
                .find(|(p, _)| p == person)
                .ok_or("who")?
                .1
                .clone();
            let server = servers[i % servers.len()];
            let client = server.client.clone();
            let url = server.url(&format!("/api/v1/signups/{id}/cancel"));
            running.push(tokio::spawn(async move {
                let res = client.post(url).bearer_auth(token).send().await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(res.status().as_u16())
            }));
        }
        let late = rush(&servers, &people[10..40], 0, &shift).await?;
        for r in running {
            assert_eq!(r.await??, 200);
        }
        assert_eq!(late.len(), 30);
        assert_eq!(final_counts(&app, shift.parse()?).await?, (10, 20, 10));
    }
    Ok(())
}
