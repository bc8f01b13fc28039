//! The volunteer registry and volunteer teams: registering, the registry's filters, joining
//! open and approval teams, leaders deciding, leaving.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

async fn register(app: &TestApp, token: &str, body: Value) -> TestResult<(u16, Value)> {
    let (s, v) = app.post("/api/v1/volunteers/me", Some(token), body).await?;
    Ok((s.as_u16(), v))
}

#[tokio::test]
async fn a_citizen_registers_and_changes_their_volunteer_profile() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let citizen = app.crowd("150", 1).await?.remove(0).1;
    let (_, none) = app.get("/api/v1/volunteers/me", Some(&citizen)).await?;
    assert_eq!(none["status"], 404, "{none}");

    let (status, v) = register(
        &app,
        &citizen,
        json!({"skills": ["急救", "心理疏导"], "areas": ["QSH-G001"], "bio": "退休护士"}),
    )
    .await?;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["skills"], json!(["心理疏导", "急救"]));
    assert_eq!(v["areas"], json!(["QSH-G001"]));
    assert_eq!(v["service_minutes"], 0);

    let (status, v) = register(
        &app,
        &citizen,
        json!({"skills": ["急救"], "areas": ["QSH-C01"]}),
    )
    .await?;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["skills"], json!(["急救"]));
    assert_eq!(v["areas"], json!(["QSH-C01"]));
    assert_eq!(v["bio"], Value::Null);

    // Bad input names every field at fault and changes nothing.
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/volunteers/me",
        &citizen,
        Some(json!({"skills": [""], "areas": ["NOWHERE-1", "bad code"]})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["skills[0]", "areas[1]"], "{p}");
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/volunteers/me",
        &citizen,
        Some(json!({"areas": ["QSH-G999"]})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["areas[0]"], "{p}");
    let (_, v) = app.get("/api/v1/volunteers/me", Some(&citizen)).await?;
    assert_eq!(v["areas"], json!(["QSH-C01"]), "unchanged after refusals");
    Ok(())
}

#[tokio::test]
async fn coordinators_filter_the_registry_by_area_skill_and_team() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let coordinator = app.token(COORDINATOR).await?;
    let people = app.crowd("151", 3).await?;
    // A grid of community C01, community C01 itself, and a grid of another community.
    for ((_, token), (area, skill)) in people.iter().zip([
        ("QSH-G001", "急救"),
        ("QSH-C01", "摄影"),
        ("QSH-C06", "急救"),
    ]) {
        let (s, v) = register(&app, token, json!({"skills": [skill], "areas": [area]})).await?;
        assert_eq!(s, 201, "{v}");
    }
    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["user_id"].as_str().map(str::to_owned))
            .collect()
    };
    let id = |i: usize| people[i].0.to_string();
    // The demo street comes with the demo citizen volunteering in QSH-G001 (first in the
    // registry), with the skill 急救.
    let (_, demo) = app
        .get("/api/v1/volunteers/me", Some(&app.token(CITIZEN).await?))
        .await?;
    let demo = str_field(&demo, "user_id")?;

    let (_, v) = app
        .get("/api/v1/volunteers?area=QSH-C01", Some(&coordinator))
        .await?;
    assert_eq!(
        ids(&v),
        [demo.clone(), id(0), id(1)],
        "C01 and its grids: {v}"
    );
    let (_, v) = app
        .get("/api/v1/volunteers?skill=急救", Some(&coordinator))
        .await?;
    assert_eq!(ids(&v), [demo.clone(), id(0), id(2)], "{v}");
    let (_, v) = app
        .get(
            "/api/v1/volunteers?area=QSH-C01&skill=摄影&limit=1",
            Some(&coordinator),
        )
        .await?;
    assert_eq!(ids(&v), [id(1)]);
    assert!(v["next_cursor"].is_null(), "one match, one page: {v}");
    let (_, v) = app
        .get("/api/v1/volunteers?limit=3", Some(&coordinator))
        .await?;
    assert_eq!(ids(&v), [demo, id(0), id(1)]);
    let cursor = str_field(&v, "next_cursor")?;
    let (_, v) = app
        .get(
            &format!("/api/v1/volunteers?limit=2&cursor={cursor}"),
            Some(&coordinator),
        )
        .await?;
    assert_eq!(ids(&v), [id(2)]);
    let (_, v) = app
        .get(&format!("/api/v1/volunteers/{}", id(1)), Some(&coordinator))
        .await?;
    assert_eq!(v["areas"], json!(["QSH-C01"]));

    // A citizen cannot read the registry.
    problem(
        &app,
        Method::GET,
        "/api/v1/volunteers",
        &people[0].1,
        None,
        403,
        "forbidden",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn joining_a_team_that_needs_approval_waits_for_a_leader() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let coordinator = app.token(COORDINATOR).await?;
    let people = app.crowd("152", 4).await?;
    let [
        (leader_id, leader),
        (joiner_id, joiner),
        (_, bystander),
        (_, stranger),
    ] = people.as_slice()
    else {
        panic!("four people");
    };
    for token in [leader, joiner, bystander] {
        let (s, v) = register(&app, token, json!({"areas": ["QSH-C01"]})).await?;
        assert_eq!(s, 201, "{v}");
    }

    // Leaders must be registered volunteers.
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/volunteer-teams",
        &coordinator,
        Some(json!({"code": "QXZY", "name": "红乔先锋", "leaders": [people[3].0]})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["leaders"]);
    let (s, team) = app
        .post(
            "/api/v1/volunteer-teams",
            Some(&coordinator),
            json!({"code": "QXZY", "name": "红乔先锋", "area": "QSH-C01",
                   "requires_approval": true, "leaders": [leader_id]}),
        )
        .await?;
    assert_eq!(s, 201, "{team}");
    assert_eq!(team["members"], 1);
    assert_eq!(team["leaders"], json!([leader_id]));
    let (s, again) = app
        .post(
            "/api/v1/volunteer-teams",
            Some(&coordinator),
            json!({"code": "QXZY", "name": "另一个"}),
        )
        .await?;
    assert_eq!(
        (s.as_u16(), &again["errors"][0]["field"]),
        (409, &json!("code"))
    );

    // Someone who never registered cannot join.
    problem(
        &app,
        Method::POST,
        "/api/v1/volunteer-teams/QXZY/join",
        stranger,
        None,
        403,
        "not-eligible",
    )
    .await?;

    let (s, m) = app
        .post("/api/v1/volunteer-teams/QXZY/join", Some(joiner), json!({}))
        .await?;
    assert_eq!((s.as_u16(), &m["status"]), (200, &json!("pending")), "{m}");
    let (_, m) = app
        .post("/api/v1/volunteer-teams/QXZY/join", Some(joiner), json!({}))
        .await?;
    assert_eq!(m["status"], "pending", "joining again is the same request");
    let (_, me) = app.get("/api/v1/volunteers/me", Some(joiner)).await?;
    assert_eq!(me["teams"][0]["team"], "QXZY");
    assert_eq!(me["teams"][0]["status"], "pending");

    // Only a leader or a coordinator sees the roster and decides.
    problem(
        &app,
        Method::GET,
        "/api/v1/volunteer-teams/QXZY/members?status=pending",
        bystander,
        None,
        403,
        "forbidden",
    )
    .await?;
    problem(
        &app,
        Method::POST,
        "/api/v1/volunteer-teams/QXZY/decisions",
        bystander,
        Some(json!({"user_id": joiner_id, "approve": true})),
        403,
        "forbidden",
    )
    .await?;
    let (_, pending) = app
        .get(
            "/api/v1/volunteer-teams/QXZY/members?status=pending",
            Some(leader),
        )
        .await?;
    assert_eq!(
        pending["items"][0]["user_id"],
        json!(joiner_id),
        "{pending}"
    );
    let (s, m) = app
        .post(
            "/api/v1/volunteer-teams/QXZY/decisions",
            Some(leader),
            json!({"user_id": joiner_id, "approve": true}),
        )
        .await?;
    assert_eq!((s.as_u16(), &m["status"]), (200, &json!("active")), "{m}");
    let (_, team) = app
        .get("/api/v1/volunteer-teams/QXZY", Some(bystander))
        .await?;
    assert_eq!(
        (team["members"].as_u64(), team["pending"].as_u64()),
        (Some(2), Some(0))
    );
    let (_, roster) = app
        .get("/api/v1/volunteers?team=QXZY", Some(&coordinator))
        .await?;
    assert_eq!(roster["items"].as_array().map(Vec::len), Some(2));

    // A request turned down is gone; leaving takes a member off the roster.
    let (_, m) = app
        .post(
            "/api/v1/volunteer-teams/QXZY/join",
            Some(bystander),
            json!({}),
        )
        .await?;
    assert_eq!(m["status"], "pending");
    let (s, _) = app
        .post(
            "/api/v1/volunteer-teams/QXZY/decisions",
            Some(&coordinator),
            json!({"user_id": people[2].0, "approve": false}),
        )
        .await?;
    assert_eq!(s.as_u16(), 204);
    let (s, _) = app
        .post(
            "/api/v1/volunteer-teams/QXZY/leave",
            Some(joiner),
            json!({}),
        )
        .await?;
    assert_eq!(s.as_u16(), 204);
    let (_, team) = app
        .get("/api/v1/volunteer-teams/QXZY", Some(leader))
        .await?;
    assert_eq!(
        (team["members"].as_u64(), team["pending"].as_u64()),
        (Some(1), Some(0))
    );
    Ok(())
}

#[tokio::test]
async fn an_open_team_takes_members_at_once() -> TestResult {
    let app = TestApp::spawn().await?;
    let coordinator = app.token(COORDINATOR).await?;
    let people = app.crowd("153", 2).await?;
    let (s, _) = app
        .post(
            "/api/v1/volunteer-teams",
            Some(&coordinator),
            json!({"code": "OPEN-1", "name": "平安巡防队"}),
        )
        .await?;
    assert_eq!(s.as_u16(), 201);
    for (_, token) in &people {
        register(&app, token, json!({})).await?;
        let (_, m) = app
            .post(
                "/api/v1/volunteer-teams/OPEN-1/join",
                Some(token),
                json!({}),
            )
            .await?;
        assert_eq!(m["status"], "active", "{m}");
    }
    let (_, team) = app
        .get("/api/v1/volunteer-teams/OPEN-1", Some(&people[0].1))
        .await?;
    assert_eq!(team["members"], 2);
    let (_, list) = app
        .get("/api/v1/volunteer-teams", Some(&people[0].1))
        .await?;
    assert_eq!(list["items"][0]["code"], "OPEN-1");
    problem(
        &app,
        Method::GET,
        "/api/v1/volunteer-teams/NOPE",
        &people[0].1,
        None,
        404,
        "not-found",
    )
    .await?;
    Ok(())
}
