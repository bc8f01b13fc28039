//! Teams over HTTP: admins define them (code, kind, areas of the stored tree, event categories),
//! all staff read them, lists filter by kind and page; members are the accounts that serve the
//! team, and leave it when the team is deleted. Bad input names the field the client sent.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

const STREET: &[&str] = &["--demo-street", "true"];

/// The `code` of each team of a page.
fn codes(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["code"].as_str().map(str::to_owned))
        .collect()
}

/// The names of a team's members.
fn member_names(team: &Value) -> Vec<String> {
    team["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["name"].as_str().map(str::to_owned))
        .collect()
}

fn med02() -> Value {
    json!({
        "code": "QSH-MED-02",
        "name": "青山村调解小组",
        "kind": "mediation",
        "areas": ["QSH-C02", "QSH-C01"],
        "categories": ["dispute.neighbour", "dispute.family"]
    })
}

#[tokio::test]
async fn admins_define_teams_that_all_staff_read() -> TestResult {
    let app = TestApp::spawn_with(STREET).await?;
    let admin = app.token(ADMIN).await?;
    let (status, created) = app.post("/api/v1/teams", Some(&admin), med02()).await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["code"], "QSH-MED-02");
    assert_eq!(created["name"], "青山村调解小组");
    assert_eq!(created["kind"], "mediation");
    assert_eq!(created["areas"], json!(["QSH-C01", "QSH-C02"]));
    assert_eq!(
        created["categories"],
        json!(["dispute.family", "dispute.neighbour"])
    );
    assert_eq!(created["members"], json!([]));

    for phone in [DISPATCHER, GRID_WORKER, TEAM_MEMBER, COORDINATOR, ADMIN] {
        let token = app.token(phone).await?;
        let (status, team) = app.get("/api/v1/teams/QSH-MED-02", Some(&token)).await?;
        assert_eq!(status, StatusCode::OK, "{phone}: {team}");
        assert_eq!(team, created, "{phone}");
    }
    let citizen = app.token(CITIZEN).await?;
    for path in ["/api/v1/teams/QSH-MED-02", "/api/v1/teams"] {
        problem(&app, Method::GET, path, &citizen, None, 403, "forbidden").await?;
    }

    // Lists filter by kind …
    let (status, page) = app
        .get("/api/v1/teams?kind=mediation", Some(&admin))
        .await?;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(codes(&page), ["QSH-MED-01", "QSH-MED-02"]);
    assert!(
        page["items"]
            .as_array()
            .ok_or("no items")?
            .iter()
            .all(|t| t["kind"] == "mediation")
    );
    let (_, page) = app
        .get("/api/v1/teams?kind=fire_station", Some(&admin))
        .await?;
    assert_eq!(codes(&page), ["QSH-FIRE-01"]);
    let p = problem(
        &app,
        Method::GET,
        "/api/v1/teams?kind=police",
        &admin,
        None,
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["kind"], "{p}");

    // … and page, one team at a time, through every team exactly once, in creation order.
    let (_, whole) = app.get("/api/v1/teams", Some(&admin)).await?;
    assert_eq!(
        codes(&whole),
        ["QSH-MED-01", "QSH-ENF-01", "QSH-FIRE-01", "QSH-MED-02"]
    );
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/teams?limit=1&cursor={c}"),
            None => "/api/v1/teams?limit=1".to_owned(),
        };
        let (status, page) = app.get(&path, Some(&admin)).await?;
        assert_eq!(status, StatusCode::OK, "{page}");
        let got = codes(&page);
        assert_eq!(got.len(), 1, "{page}");
        walked.extend(got);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(walked, codes(&whole));

    // PUT replaces the definition; it does not merge.
    let (status, replaced) = app
        .call(
            Method::PUT,
            "/api/v1/teams/QSH-MED-02",
            Some(&admin),
            Some(json!({"name": "青山村劳动争议调解组", "kind": "mediation",
                        "areas": ["QSH-C03"], "categories": ["dispute.labour"]})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["name"], "青山村劳动争议调解组");
    assert_eq!(replaced["areas"], json!(["QSH-C03"]));
    assert_eq!(replaced["categories"], json!(["dispute.labour"]));
    assert_eq!(replaced["created_at"], created["created_at"]);
    let (_, again) = app.get("/api/v1/teams/QSH-MED-02", Some(&admin)).await?;
    assert_eq!(again, replaced);
    let (status, kind_changed) = app
        .call(
            Method::PUT,
            "/api/v1/teams/QSH-MED-02",
            Some(&admin),
            Some(json!({"name": "青山村执法小组", "kind": "enforcement"})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{kind_changed}");
    assert_eq!(kind_changed["kind"], "enforcement");
    assert_eq!(kind_changed["areas"], json!([]));
    assert_eq!(kind_changed["categories"], json!([]));
    let (_, page) = app
        .get("/api/v1/teams?kind=mediation", Some(&admin))
        .await?;
    assert_eq!(codes(&page), ["QSH-MED-01"]);
    problem(
        &app,
        Method::PUT,
        "/api/v1/teams/QSH-NOPE-01",
        &admin,
        Some(json!({"name": "无此队", "kind": "other"})),
        404,
        "not-found",
    )
    .await?;
    let dispatcher = app.token(DISPATCHER).await?;
    problem(
        &app,
        Method::PUT,
        "/api/v1/teams/QSH-MED-02",
        &dispatcher,
        Some(json!({"name": "x", "kind": "other"})),
        403,
        "forbidden",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn bad_team_definitions_are_refused_and_write_nothing() -> TestResult {
    let app = TestApp::spawn_with(STREET).await?;
    let admin = app.token(ADMIN).await?;
    let (status, created) = app.post("/api/v1/teams", Some(&admin), med02()).await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    // A taken code.
    let mut dup = med02();
    dup["name"] = json!("另一个队");
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/teams",
        &admin,
        Some(dup),
        409,
        "conflict",
    )
    .await?;
    assert_eq!(error_fields(&p), ["code"], "{p}");
    let (_, same) = app.get("/api/v1/teams/QSH-MED-02", Some(&admin)).await?;
    assert_eq!(same, created);

    // Each bad part is named; the team is not created.
    let with = |field: &str, value: Value| {
        let mut body = med02();
        body["code"] = json!("QSH-MED-03");
        body[field] = value;
        body
    };
    for (body, field) in [
        (with("areas", json!(["QSH-C01", "QSH-NOPE"])), "areas[1]"),
        (with("areas", json!(["QSH-NOPE"])), "areas[0]"),
        (
            with("categories", json!(["Dispute Neighbour"])),
            "categories[0]",
        ),
        (
            with("categories", json!(["dispute.family", "Dispute Neighbour"])),
            "categories[1]",
        ),
        (with("name", json!("  ")), "name"),
        (with("colour", json!("red")), "colour"),
    ] {
        let p = problem(
            &app,
            Method::POST,
            "/api/v1/teams",
            &admin,
            Some(body.clone()),
            422,
            "validation-failed",
        )
        .await?;
        assert_eq!(error_fields(&p), [field], "{body}: {p}");
        problem(
            &app,
            Method::GET,
            "/api/v1/teams/QSH-MED-03",
            &admin,
            None,
            404,
            "not-found",
        )
        .await?;
    }
    // An unknown kind is refused too (that the error names `kind` is checked below, in
    // `malformed_code_and_unknown_kind_are_named_by_their_field`).
    problem(
        &app,
        Method::POST,
        "/api/v1/teams",
        &admin,
        Some(with("kind", json!("police"))),
        422,
        "validation-failed",
    )
    .await?;
    problem(
        &app,
        Method::GET,
        "/api/v1/teams/QSH-MED-03",
        &admin,
        None,
        404,
        "not-found",
    )
    .await?;
    let p = problem(
        &app,
        Method::PUT,
        "/api/v1/teams/QSH-MED-02",
        &admin,
        Some(json!({"name": "改名", "kind": "police"})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["kind"], "{p}");
    // Nor is a replacement with a bad area half-applied.
    let p = problem(
        &app,
        Method::PUT,
        "/api/v1/teams/QSH-MED-02",
        &admin,
        Some(
            json!({"name": "改名", "kind": "other", "areas": ["QSH-NOPE"],
                    "categories": ["dispute.labour"]}),
        ),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["areas[0]"], "{p}");
    let (_, same) = app.get("/api/v1/teams/QSH-MED-02", Some(&admin)).await?;
    assert_eq!(same, created);
    let (_, all) = app.get("/api/v1/teams", Some(&admin)).await?;
    assert_eq!(
        codes(&all),
        ["QSH-MED-01", "QSH-ENF-01", "QSH-FIRE-01", "QSH-MED-02"]
    );
    Ok(())
}

#[tokio::test]
async fn members_come_from_accounts_and_leave_with_a_deleted_team() -> TestResult {
    let app = TestApp::spawn_with(STREET).await?;
    let admin = app.token(ADMIN).await?;
    let (_, med01) = app.get("/api/v1/teams/QSH-MED-01", Some(&admin)).await?;
    assert!(
        member_names(&med01).iter().any(|n| n == "李调解"),
        "{med01}"
    );
    let (status, _) = app.post("/api/v1/teams", Some(&admin), med02()).await?;
    assert_eq!(status, StatusCode::CREATED);

    // An account joins a team by serving it.
    let id = app
        .create_user(&admin, "13900000101", &["team_member"], "Tiaojie2026")
        .await?;
    let (status, user) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            Some(&admin),
            Some(json!({"areas": [{"kind": "team", "code": "QSH-MED-02"}]})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{user}");
    let (_, med02_view) = app.get("/api/v1/teams/QSH-MED-02", Some(&admin)).await?;
    assert_eq!(
        med02_view["members"],
        json!([{"id": id, "name": "测试用户"}])
    );
    let (_, med01_after) = app.get("/api/v1/teams/QSH-MED-01", Some(&admin)).await?;
    assert_eq!(med01_after["members"], med01["members"]);
    // The member sees their team like any staff.
    let member = app.token(TEAM_MEMBER).await?;
    let (status, seen) = app.get("/api/v1/teams/QSH-MED-02", Some(&member)).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(member_names(&seen), ["测试用户"]);

    // Only admins delete; a deleted team is gone, and its members no longer serve it.
    let dispatcher = app.token(DISPATCHER).await?;
    problem(
        &app,
        Method::DELETE,
        "/api/v1/teams/QSH-MED-02",
        &dispatcher,
        None,
        403,
        "forbidden",
    )
    .await?;
    let (status, _) = app.get("/api/v1/teams/QSH-MED-02", Some(&admin)).await?;
    assert_eq!(status, StatusCode::OK, "a refused delete deletes nothing");
    let res = app
        .request(Method::DELETE, "/api/v1/teams/QSH-MED-02", Some(&admin))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    problem(
        &app,
        Method::GET,
        "/api/v1/teams/QSH-MED-02",
        &admin,
        None,
        404,
        "not-found",
    )
    .await?;
    problem(
        &app,
        Method::DELETE,
        "/api/v1/teams/QSH-MED-02",
        &admin,
        None,
        404,
        "not-found",
    )
    .await?;
    let (status, user) = app
        .get(&format!("/api/v1/users/{id}"), Some(&admin))
        .await?;
    assert_eq!(status, StatusCode::OK, "the account stays: {user}");
    assert_eq!(user["areas"], json!([]), "{user}");
    let (_, med01_after) = app.get("/api/v1/teams/QSH-MED-01", Some(&admin)).await?;
    assert_eq!(med01_after["members"], med01["members"]);

    // A new team under the old code starts empty.
    let (status, again) = app.post("/api/v1/teams", Some(&admin), med02()).await?;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["members"], json!([]));
    let listed: BTreeSet<String> = {
        let (_, all) = app.get("/api/v1/teams", Some(&admin)).await?;
        codes(&all).into_iter().collect()
    };
    assert_eq!(listed.len(), 4);
    Ok(())
}

/// Field errors name the position in the request the client sent, not a position after the
/// server sorted and de-duplicated the list.
#[tokio::test]
async fn an_unknown_area_is_named_by_its_place_in_the_request() -> TestResult {
    let app = TestApp::spawn_with(STREET).await?;
    let admin = app.token(ADMIN).await?;
    let mut wrong = Vec::new();
    for (areas, bad) in [
        (json!(["QSH-NOPE", "QSH-C01"]), "areas[0]"),
        (json!(["QSH-C01", "QSH-C01", "QSH-NOPE"]), "areas[2]"),
        (json!(["QSH-C01", "QSH-NOPE"]), "areas[1]"),
    ] {
        let mut body = med02();
        body["areas"] = areas.clone();
        let p = problem(
            &app,
            Method::POST,
            "/api/v1/teams",
            &admin,
            Some(body),
            422,
            "validation-failed",
        )
        .await?;
        let message = p["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("QSH-NOPE"), "{p}");
        if error_fields(&p) != [bad] {
            wrong.push(format!("{areas} should name {bad}: {p}"));
        }
    }
    assert!(wrong.is_empty(), "wrong positions: {wrong:#?}");
    Ok(())
}

/// A team code of the wrong shape, and a kind that does not exist, are named by their field
/// (`code`, `kind`), as every other field of every request is.
#[tokio::test]
async fn malformed_code_and_unknown_kind_are_named_by_their_field() -> TestResult {
    let app = TestApp::spawn().await?;
    let admin = app.token(ADMIN).await?;
    let mut wrong = Vec::new();
    for (field, value) in [("code", json!("QSH MED 03")), ("kind", json!("police"))] {
        let mut body = med02();
        body["areas"] = json!([]);
        body[field] = value;
        let p = problem(
            &app,
            Method::POST,
            "/api/v1/teams",
            &admin,
            Some(body),
            422,
            "validation-failed",
        )
        .await?;
        if error_fields(&p) != [field] {
            wrong.push(format!("{field}: {p}"));
        }
    }
    assert!(wrong.is_empty(), "fields not named: {wrong:#?}");
    let (_, all) = app.get("/api/v1/teams", Some(&admin)).await?;
    assert_eq!(all["items"], json!([]));
    Ok(())
}
