//! The event loop end to end on the demo street: reports in from every source, routed to the right
//! grid or team, moved through the closed loop by the people allowed to, retried safely, lit and
//! escalated when late, and paid in points once.

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, Database, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::*;

async fn report(app: &TestApp, token: &str, body: Value) -> TestResult<(StatusCode, Value)> {
    app.post("/api/v1/events", Some(token), body).await
}

async fn mv(app: &TestApp, token: &str, id: &str, body: Value) -> TestResult<(StatusCode, Value)> {
    app.post(&format!("/api/v1/events/{id}/moves"), Some(token), body)
        .await
}

async fn street() -> TestResult<TestApp> {
    TestApp::spawn_with(&["--demo-street", "true", "--sweep-secs", "3600"]).await
}

#[tokio::test]
async fn a_citizen_report_runs_the_whole_loop_and_pays_points_once() -> TestResult {
    let app = street().await?;
    let citizen = app.token(CITIZEN).await?;
    let worker = app.token(GRID_WORKER).await?;
    let other = app.token(OTHER_GRID_WORKER).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let (lat, lng) = point_in_g001(&app, &dispatcher).await?;
    let key = Uuid::new_v4();
    let body = json!({"id": key, "category": "environment.garbage", "description": "东门垃圾堆放三天无人清运", "lat": lat, "lng": lng});
    let (status, event) = report(&app, &citizen, body.clone()).await?;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    let id = str_field(&event, "id")?;
    assert_eq!(event["status"], "dispatched");
    assert_eq!(event["source"], "citizen");
    assert_eq!(event["micro_grid_code"], "QSH-G001-01");
    assert_eq!(
        (
            event["task"]["assignee_kind"].as_str(),
            event["task"]["assignee_code"].as_str()
        ),
        (Some("grid"), Some("QSH-G001"))
    );
    assert_eq!(event["colour"], "blue");
    assert!(event["task"]["sign_due"].is_string() && event["task"]["handle_due"].is_string());

    // A phone that retries gets the first answer; another body under the same id is refused.
    let res = app
        .request(reqwest::Method::POST, "/api/v1/events", Some(&citizen))
        .json(&body)
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
    // The replay is read from the database, the first answer was not: the same times in both.
    for at in ["created_at", "updated_at"] {
        assert_eq!(again[at], event[at], "{at}");
    }
    assert_eq!(again["task"]["handle_due"], event["task"]["handle_due"]);
    let mut changed = body.clone();
    changed["description"] = json!("另一件事");
    let (status, problem) = report(&app, &citizen, changed).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["rule"], "idempotency_mismatch");
    let (_, mine) = app.get("/api/v1/events?mine=true", Some(&citizen)).await?;
    assert_eq!(
        mine["items"].as_array().map(Vec::len),
        Some(1),
        "one event, however many retries"
    );

    // Only the grid's worker signs; another grid's worker does not even see it; the citizen never closes.
    assert_eq!(
        app.get(&format!("/api/v1/events/{id}"), Some(&other))
            .await?
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        mv(&app, &other, &id, json!({"move": "sign"})).await?.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        mv(&app, &citizen, &id, json!({"move": "sign"})).await?.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        mv(&app, &dispatcher, &id, json!({"move": "sign"})).await?.0,
        StatusCode::FORBIDDEN
    );
    for step in [
        json!({"move": "sign"}),
        json!({"move": "arrive"}),
        json!({"move": "handle", "feedback": "已联系环卫清运完毕"}),
    ] {
        let (status, e) = mv(&app, &worker, &id, step.clone()).await?;
        assert_eq!(status, StatusCode::OK, "{step}: {e}");
    }
    // Out of order: handled already.
    assert_eq!(
        mv(&app, &worker, &id, json!({"move": "arrive"})).await?.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        mv(&app, &citizen, &id, json!({"move": "complete"}))
            .await?
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        mv(&app, &worker, &id, json!({"move": "complete"})).await?.0,
        StatusCode::FORBIDDEN
    );
    let (status, done) = mv(&app, &dispatcher, &id, json!({"move": "complete"})).await?;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "completed");
    assert_eq!(done["task"]["feedback"], "已联系环卫清运完毕");

    // The reporter rates once.
    assert_eq!(
        mv(
            &app,
            &dispatcher,
            &id,
            json!({"move": "evaluate", "rating": 5})
        )
        .await?
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        mv(
            &app,
            &citizen,
            &id,
            json!({"move": "evaluate", "rating": 6})
        )
        .await?
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (status, rated) = mv(
        &app,
        &citizen,
        &id,
        json!({"move": "evaluate", "rating": 4, "comment": "处理及时"}),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{rated}");
    assert_eq!(
        (rated["status"].as_str(), rated["rating"].as_i64()),
        (Some("evaluated"), Some(4))
    );
    assert_eq!(
        mv(
            &app,
            &citizen,
            &id,
            json!({"move": "evaluate", "rating": 1})
        )
        .await?
        .0,
        StatusCode::CONFLICT
    );

    // The whole timeline, in order, with actors.
    let (_, detail) = app
        .get(&format!("/api/v1/events/{id}"), Some(&citizen))
        .await?;
    let actions: Vec<&str> = detail["timeline"]
        .as_array()
        .ok_or("timeline")?
        .iter()
        .filter_map(|t| t["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "report", "accept", "dispatch", "sign", "arrive", "handle", "complete", "evaluate"
        ]
    );
    assert_eq!(detail["timeline"][1]["actor_kind"], "system");
    assert_eq!(detail["timeline"][3]["actor_kind"], "user");

    // Points: the category's amount, once, in the ledger.
    let (_, points) = app.get("/api/v1/points/me", Some(&citizen)).await?;
    assert_eq!(points["balance"], 5, "{points}");
    assert_eq!(points["history"]["items"][0]["source_kind"], "report");
    let citizen_id = str_field(&app.get("/api/v1/me", Some(&citizen)).await?.1, "id")?;
    let replayed = gridwing_api::points::earn(
        &app.state.db,
        gridwing_api::points::Earning {
            user: citizen_id.parse()?,
            source_kind: "report",
            source_id: &id,
            amount: 5,
            note: None,
            street: None,
        },
    )
    .await?;
    assert!(!replayed.fresh, "a replayed award pays nothing");
    assert_eq!(
        app.get("/api/v1/points/me", Some(&citizen)).await?.1["balance"],
        5
    );
    Ok(())
}

#[tokio::test]
async fn events_route_by_place_category_and_building_or_wait_in_the_queue() -> TestResult {
    let app = street().await?;
    let citizen = app.token(CITIZEN).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let mediator = app.token(TEAM_MEMBER).await?;
    let worker = app.token(GRID_WORKER).await?;
    let other = app.token(OTHER_GRID_WORKER).await?;
    let (lat, lng) = point_in_g001(&app, &dispatcher).await?;

    // A neighbour dispute goes to the mediation team covering the street, not the grid.
    let (status, dispute) = report(&app, &citizen, json!({"id": Uuid::new_v4(), "category": "dispute.neighbour", "description": "楼上漏水邻里争执", "lat": lat, "lng": lng})).await?;
    assert_eq!(status, StatusCode::CREATED, "{dispute}");
    assert_eq!(
        (
            dispute["task"]["assignee_kind"].as_str(),
            dispute["task"]["assignee_code"].as_str()
        ),
        (Some("team"), Some("QSH-MED-01"))
    );
    let id = str_field(&dispute, "id")?;
    assert_eq!(
        mv(&app, &worker, &id, json!({"move": "sign"})).await?.0,
        StatusCode::FORBIDDEN,
        "the grid sees it but the team signs"
    );
    assert_eq!(
        mv(&app, &mediator, &id, json!({"move": "sign"})).await?.0,
        StatusCode::OK
    );

    // A scanned building code places the report in the building's grid.
    let (_, b) = app
        .get("/api/v1/buildings?grid=QSH-G002&limit=1", Some(&dispatcher))
        .await?;
    let building = str_field(&b["items"][0], "code")?;
    let (status, at_building) = report(&app, &citizen, json!({"id": Uuid::new_v4(), "category": "facility.streetlight", "description": "楼下路灯不亮", "building_code": building})).await?;
    assert_eq!(status, StatusCode::CREATED, "{at_building}");
    assert_eq!(at_building["grid_code"], "QSH-G002");
    assert_eq!(at_building["building_code"], building.as_str());

    // Outside every area: the dispatchers' queue, then a dispatch by hand.
    let (status, lost) = report(&app, &citizen, json!({"id": Uuid::new_v4(), "category": "road.damage", "description": "路面塌陷", "lat": 31.5, "lng": 121.5})).await?;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(lost["status"], "reported");
    assert!(lost["task"].is_null());
    let lost_id = str_field(&lost, "id")?;
    let (_, queue) = app
        .get("/api/v1/events?status=reported", Some(&dispatcher))
        .await?;
    assert!(
        queue["items"]
            .as_array()
            .ok_or("items")?
            .iter()
            .any(|e| e["id"] == lost["id"])
    );
    assert_eq!(
        mv(&app, &other, &lost_id, json!({"move": "sign"})).await?.0,
        StatusCode::NOT_FOUND
    );
    let (status, sent) = mv(
        &app,
        &dispatcher,
        &lost_id,
        json!({"move": "dispatch", "assignee": {"kind": "grid", "code": "QSH-G002"}}),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(
        mv(&app, &other, &lost_id, json!({"move": "sign"})).await?.0,
        StatusCode::OK
    );
    let (status, bad) = mv(&app, &dispatcher, &id, json!({"move": "redispatch", "assignee": {"kind": "grid", "code": "QSH-G999"}, "reason": "转交"})).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert_eq!(bad["errors"][0]["field"], "assignee.code");

    // Redispatch moves the task; the old grid loses it, the new one gets it.
    let (status, moved) = mv(&app, &dispatcher, &lost_id, json!({"move": "redispatch", "assignee": {"kind": "grid", "code": "QSH-G001"}, "reason": "属第1网格"})).await?;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["status"], "dispatched");
    assert_eq!(
        mv(&app, &other, &lost_id, json!({"move": "sign"})).await?.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        mv(&app, &worker, &lost_id, json!({"move": "sign"}))
            .await?
            .0,
        StatusCode::OK
    );
    let (_, detail) = app
        .get(&format!("/api/v1/events/{lost_id}"), Some(&dispatcher))
        .await?;
    let tasks = detail["tasks"].as_array().ok_or("tasks")?;
    assert_eq!(tasks.len(), 2);
    assert_eq!(
        (tasks[0]["open"].as_bool(), tasks[1]["open"].as_bool()),
        (Some(false), Some(true))
    );

    // A worker's own finding on patrol and a hotline entry with a colour.
    let (_, patrol) = report(&app, &worker, json!({"id": Uuid::new_v4(), "category": "safety.hazard", "description": "电动车楼道充电", "lat": lat, "lng": lng})).await?;
    assert_eq!(
        (patrol["source"].as_str(), patrol["colour"].as_str()),
        (Some("patrol"), Some("orange"))
    );
    let (_, hotline) = report(&app, &dispatcher, json!({"id": Uuid::new_v4(), "category": "other", "description": "12345转办", "lat": lat, "lng": lng, "colour": "red"})).await?;
    assert_eq!(
        (hotline["source"].as_str(), hotline["colour"].as_str()),
        (Some("hotline"), Some("red"))
    );
    Ok(())
}

#[tokio::test]
async fn machines_post_with_scoped_keys_and_duplicates_are_flagged_and_merged() -> TestResult {
    let app = street().await?;
    let admin = app.token(ADMIN).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let (lat, lng) = point_in_g001(&app, &dispatcher).await?;
    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            Some(&admin),
            json!({"name": "烟感平台", "scopes": ["events:write"]}),
        )
        .await?;
    let key = str_field(&key, "key")?;
    let (_, other_key) = app
        .post(
            "/api/v1/api-keys",
            Some(&admin),
            json!({"name": "分类站", "scopes": ["sorting:write"]}),
        )
        .await?;
    let other_key = str_field(&other_key, "key")?;
    let alarm = json!({"category": "safety.fire_risk", "description": "烟感报警：3单元2楼", "lat": lat, "lng": lng});
    let post = |k: String, idem: &'static str| {
        app.client
            .post(app.url("/api/v1/events"))
            .header("x-api-key", k)
            .header("idempotency-key", idem)
            .json(&alarm)
            .send()
    };
    let res = post(key.clone(), "alarm-0001").await?;
    assert_eq!(res.status(), StatusCode::CREATED);
    let first: Value = res.json().await?;
    assert_eq!(first["source"], "machine");
    assert_eq!(first["colour"], "red");
    assert_eq!(
        first["task"]["assignee_code"], "QSH-FIRE-01",
        "the micro fire station of the community"
    );
    // The same key again is the same event; a sorting key may not post events.
    let again: Value = post(key.clone(), "alarm-0001").await?.json().await?;
    assert_eq!(again["id"], first["id"]);
    assert_eq!(
        post(other_key, "alarm-0002").await?.status(),
        StatusCode::FORBIDDEN
    );
    // A second alarm nearby within the hour is flagged as a likely duplicate, which the command
    // centre sees (the machine does not: the earlier event may be anyone's), and can be merged.
    let second: Value = post(key.clone(), "alarm-0003").await?.json().await?;
    assert!(second["duplicate_of"].is_null(), "{second}");
    let second_id = str_field(&second, "id")?;
    let (_, seen) = app
        .get(&format!("/api/v1/events/{second_id}"), Some(&dispatcher))
        .await?;
    assert_eq!(seen["duplicate_of"], first["id"]);
    let (status, merged) = mv(
        &app,
        &dispatcher,
        &second_id,
        json!({"move": "merge", "into": first["id"]}),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{merged}");
    assert_eq!(
        (merged["status"].as_str(), merged["merged_into"].as_str()),
        (Some("merged"), first["id"].as_str())
    );
    assert!(merged["task"]["open"] == false);
    Ok(())
}

#[tokio::test]
async fn bad_reports_name_the_field_and_write_nothing() -> TestResult {
    let app = street().await?;
    let citizen = app.token(CITIZEN).await?;
    let good = json!({"id": Uuid::new_v4(), "category": "other", "description": "测试", "lat": 30.25, "lng": 119.72});
    for (change, field) in [
        (json!({"id": null}), "id"),
        (json!({"lat": null, "lng": null}), "lat"),
        (json!({"lat": 91}), "lat"),
        (json!({"category": "nope"}), "category"),
        (json!({"description": ""}), "description"),
        (json!({"building_code": "QSH-B99999"}), "building_code"),
        (json!({"photos": ["0".repeat(64)]}), "photos[0]"),
        (json!({"colour": "red"}), "colour"),
        (json!({"status": "completed"}), "status"),
    ] {
        let mut body = good.clone();
        for (k, v) in change.as_object().ok_or("change")? {
            body[k] = v.clone();
        }
        let (status, problem) = report(&app, &citizen, body).await?;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {problem}"
        );
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let (_, mine) = app.get("/api/v1/events?mine=true", Some(&citizen)).await?;
    assert_eq!(
        mine["items"].as_array().map(Vec::len),
        Some(0),
        "nothing half-written"
    );
    Ok(())
}

#[tokio::test]
async fn late_tasks_light_up_escalate_and_mail_supervisors_once() -> TestResult {
    let app = street().await?;
    let second = app.second_instance(&["--sweep-secs", "3600"]).await?;
    let citizen = app.token(CITIZEN).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let (lat, lng) = point_in_g001(&app, &dispatcher).await?;
    let (_, e) = report(&app, &citizen, json!({"id": Uuid::new_v4(), "category": "safety.hazard", "description": "消防通道堵塞", "lat": lat, "lng": lng})).await?;
    let id = str_field(&e, "id")?;
    // Orange follows 1510: signed within a minute, on site within five, handled within ten.
    let created =
        chrono::DateTime::parse_from_rfc3339(e["task"]["created_at"].as_str().ok_or("created")?)?;
    let sign_due =
        chrono::DateTime::parse_from_rfc3339(e["task"]["sign_due"].as_str().ok_or("sign_due")?)?;
    let handle_due = chrono::DateTime::parse_from_rfc3339(
        e["task"]["handle_due"].as_str().ok_or("handle_due")?,
    )?;
    assert_eq!((sign_due - created).num_seconds(), 60);
    assert_eq!((handle_due - created).num_seconds(), 600);
    assert_eq!(
        gridwing_api::events::sweeper::sweep(&app.state).await?,
        0,
        "nothing late yet"
    );

    // The sign deadline passes: both instances sweep at once, exactly one lights it.
    age_task(&app, &id, true, false, 5).await?;
    let (a, b) = tokio::join!(
        gridwing_api::events::sweeper::sweep(&app.state),
        gridwing_api::events::sweeper::sweep(&second.state)
    );
    assert_eq!(a? + b?, 1, "lit exactly once across instances");
    let (_, lit) = app
        .get(&format!("/api/v1/events/{id}"), Some(&dispatcher))
        .await?;
    assert_eq!(lit["task"]["light"], "yellow");
    assert_eq!(
        lit["task"]["escalated_to"], "QSH-C01",
        "one level up: the grid's community"
    );
    assert_eq!(
        gridwing_api::events::sweeper::sweep(&app.state).await?,
        0,
        "not fired twice"
    );
    let (_, lit_list) = app
        .get("/api/v1/events?lit=true", Some(&dispatcher))
        .await?;
    assert_eq!(lit_list["items"].as_array().map(Vec::len), Some(1));

    // The arrival deadline passes too: red, up to the street.
    age_task(&app, &id, true, true, 5).await?;
    assert_eq!(
        gridwing_api::events::sweeper::sweep(&second.state).await?,
        1
    );
    let (_, red) = app
        .get(&format!("/api/v1/events/{id}"), Some(&dispatcher))
        .await?;
    assert_eq!(
        (
            red["task"]["light"].as_str(),
            red["task"]["escalated_to"].as_str()
        ),
        (Some("red"), Some("QSH"))
    );
    let lights: Vec<&Value> = red["timeline"]
        .as_array()
        .ok_or("timeline")?
        .iter()
        .filter(|t| t["action"] == "light")
        .collect();
    assert_eq!(lights.len(), 2);
    assert_eq!(lights[1]["detail"]["missed"], json!(["sign", "arrive"]));

    // The supervisors' mail is queued in the same transaction, once per light.
    use gridwing_api::entities::email_outbox;
    let mails = email_outbox::Entity::find().all(&app.state.db).await?;
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(mails.iter().all(|m| m.to_addr == "zhihui@qsh.example.cn"));
    assert!(mails[0].subject.contains("黄灯") && mails[1].subject.contains("红灯"));
    assert!(mails[1].body.contains(&id));

    // The command centre reads the escalations with who was mailed, by name and address; the
    // timeline, which the reporter sees too, names them by account id only.
    let (status, escalations) = app
        .get(
            &format!("/api/v1/events/{id}/escalations"),
            Some(&dispatcher),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{escalations}");
    let rows = escalations.as_array().ok_or("escalations")?;
    assert_eq!(rows.len(), 2, "{escalations}");
    assert_eq!(
        (rows[0]["light"].as_str(), rows[0]["escalated_to"].as_str()),
        (Some("yellow"), Some("QSH-C01"))
    );
    assert_eq!(
        (rows[1]["light"].as_str(), rows[1]["escalated_to"].as_str()),
        (Some("red"), Some("QSH"))
    );
    assert_eq!(rows[1]["missed"], json!(["sign", "arrive"]));
    for row in rows {
        let mailed = row["mailed"].as_array().ok_or("mailed")?;
        let addresses: Vec<&str> = mailed.iter().filter_map(|m| m["email"].as_str()).collect();
        assert_eq!(addresses, ["zhihui@qsh.example.cn"], "{row}");
        assert!(
            mailed[0]["name"].as_str().is_some_and(|n| !n.is_empty()),
            "{row}"
        );
        assert_eq!(row["task_id"], red["task"]["id"]);
    }
    let mailed_id = rows[0]["mailed"][0]["user_id"].clone();
    assert_eq!(lights[0]["detail"]["mailed"], json!([mailed_id]));
    let (_, seen_by_reporter) = app
        .get(&format!("/api/v1/events/{id}"), Some(&citizen))
        .await?;
    assert!(
        !seen_by_reporter.to_string().contains("zhihui@"),
        "{seen_by_reporter}"
    );
    let (status, _) = app
        .get(&format!("/api/v1/events/{id}/escalations"), Some(&citizen))
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    Ok(())
}

#[tokio::test]
async fn the_running_sweeper_lights_a_task_whose_policy_is_tight() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true", "--sweep-secs", "1"]).await?;
    let admin = app.token(ADMIN).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    // Deadlines are policy data: this street's red tasks must be signed within a second.
    let (status, policy) = app
        .call(reqwest::Method::PUT, "/api/v1/deadline-policies/QSH/red", Some(&admin), Some(json!({"accept_secs": 60, "dispatch_secs": 180, "sign_secs": 1, "arrive_secs": 300, "handle_secs": 600})))
        .await?;
    assert_eq!(status, StatusCode::OK, "{policy}");
    let (lat, lng) = point_in_g001(&app, &dispatcher).await?;
    let (_, e) = report(&app, &dispatcher, json!({"id": Uuid::new_v4(), "category": "other", "description": "重大警情联动", "lat": lat, "lng": lng, "colour": "red"})).await?;
    let id = str_field(&e, "id")?;
    let mut light = Value::Null;
    for _ in 0..60 {
        light = app
            .get(&format!("/api/v1/events/{id}"), Some(&dispatcher))
            .await?
            .1["task"]["light"]
            .clone();
        if light == "yellow" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(light, "yellow");
    Ok(())
}

#[tokio::test]
async fn the_command_centre_recolours_and_the_deadlines_follow() -> TestResult {
    let app = street().await?;
    let citizen = app.token(CITIZEN).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let (lat, lng) = point_in_g001(&app, &dispatcher).await?;
    let (_, e) = report(&app, &citizen, json!({"id": Uuid::new_v4(), "category": "environment.garbage", "description": "垃圾起火冒烟", "lat": lat, "lng": lng})).await?;
    let id = str_field(&e, "id")?;
    let path = format!("/api/v1/events/{id}");
    let (status, _) = app
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&citizen),
            Some(json!({"colour": "red", "reason": "我觉得很急"})),
        )
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, problem) = app
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&dispatcher),
            Some(json!({"colour": "red", "reason": ""})),
        )
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, red) = app
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&dispatcher),
            Some(json!({"colour": "red", "category": "safety.fire_risk", "reason": "现场有明火"})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{red}");
    assert_eq!(
        (red["colour"].as_str(), red["category"].as_str()),
        (Some("red"), Some("safety.fire_risk"))
    );
    let created =
        chrono::DateTime::parse_from_rfc3339(red["task"]["created_at"].as_str().ok_or("created")?)?;
    let sign_due =
        chrono::DateTime::parse_from_rfc3339(red["task"]["sign_due"].as_str().ok_or("sign_due")?)?;
    assert_eq!(
        (sign_due - created).num_seconds(),
        60,
        "red: signed within a minute"
    );
    let (_, detail) = app.get(&path, Some(&dispatcher)).await?;
    let last = detail["timeline"]
        .as_array()
        .and_then(|t| t.last())
        .ok_or("timeline")?;
    assert_eq!(last["action"], "recolour");
    assert_eq!(last["detail"]["colour"], json!(["blue", "red"]));
    assert_eq!(last["detail"]["reason"], "现场有明火");
    Ok(())
}

#[tokio::test]
async fn kill_9_in_the_middle_of_a_load_loses_no_acknowledged_event() -> TestResult {
    let db = TestDb::new().await?;
    let (mut child, base) = start_binary(db.url()).await?;
    let client = reqwest::Client::new();
    let token = login_at(&client, &base, CITIZEN).await?;
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut load = Vec::new();
    for _ in 0..8 {
        let (client, base, token, acked) =
            (client.clone(), base.clone(), token.clone(), acked.clone());
        load.push(tokio::spawn(async move {
            loop {
                let id = Uuid::new_v4();
                let sent = client
                    .post(format!("{base}/api/v1/events"))
                    .bearer_auth(&token)
                    .json(&json!({"id": id, "category": "environment.garbage", "description": "压测上报", "lat": 30.25, "lng": 119.72}))
                    .send()
                    .await;
                match sent {
                    Ok(res) if res.status() == StatusCode::CREATED => {
                        if let Ok(mut a) = acked.lock() {
                            a.push(id.to_string());
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }));
    }
    // Let the load run, then pull the plug without warning.
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if acked.lock().map(|a| a.len()).unwrap_or(0) >= 40 {
            break;
        }
    }
    child.start_kill()?;
    child.wait().await?;
    for l in load {
        l.await?;
    }
    let acked = acked.lock().map(|a| a.clone()).unwrap_or_default();
    assert!(
        acked.len() >= 10,
        "the load never got going: {} acknowledged",
        acked.len()
    );

    // Restart on the same database: every acknowledged report is there, with its task and deadlines.
    let (_child, base) = start_binary(db.url()).await?;
    let token = login_at(&client, &base, CITIZEN).await?;
    let mut mine = std::collections::BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{base}/api/v1/events?mine=true&limit=200&cursor={c}"),
            None => format!("{base}/api/v1/events?mine=true&limit=200"),
        };
        let page: Value = client
            .get(url)
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        for e in page["items"].as_array().ok_or("items")? {
            assert!(
                e["task"]["sign_due"].is_string() && e["task"]["handle_due"].is_string(),
                "{e}"
            );
            mine.insert(str_field(e, "id")?);
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let stored = gridwing_api::entities::events::Entity::find()
        .filter(gridwing_api::entities::events::Column::Source.eq("citizen"))
        .all(&Database::connect(db.url()).await?)
        .await?;
    let keys: std::collections::BTreeSet<String> = stored
        .iter()
        .filter_map(|e| {
            e.idem_key
                .as_deref()
                .and_then(|k| k.rsplit(':').next())
                .map(str::to_owned)
        })
        .collect();
    for id in &acked {
        assert!(keys.contains(id), "acknowledged report {id} was lost");
    }
    assert_eq!(
        mine.len(),
        stored.len(),
        "every stored report is served, with its task"
    );
    Ok(())
}

#[tokio::test]
async fn only_the_command_centre_learns_which_report_a_report_repeats() -> TestResult {
    let app = street().await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let first_citizen = app.token(CITIZEN).await?;
    let admin = app.token(ADMIN).await?;
    app.create_user(&admin, "13900002001", &["citizen"], "dup-pass-123")
        .await?;
    let second_citizen = str_field(
        &app.login_pair("13900002001", "dup-pass-123").await?,
        "access_token",
    )?;
    let (lat, lng) = point_in_g001(&app, &dispatcher).await?;
    let body = |text: &str| {
        json!({"id": Uuid::new_v4(), "category": "environment.garbage", "description": text,
               "lat": lat, "lng": lng})
    };
    let (status, first) = report(&app, &first_citizen, body("东门垃圾满溢")).await?;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let first_id = str_field(&first, "id")?;
    // Both listen live before the second report.
    let mut reporter_ws = crate::live::connect(&app, &second_citizen, None).await?;
    let mut centre_ws = crate::live::connect(&app, &dispatcher, None).await?;

    let (status, second) = report(&app, &second_citizen, body("东门垃圾没人收")).await?;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let second_id = str_field(&second, "id")?;
    // The command centre sees the link, everywhere it looks.
    let (_, seen) = app
        .get(&format!("/api/v1/events/{second_id}"), Some(&dispatcher))
        .await?;
    assert_eq!(seen["duplicate_of"], first_id.as_str(), "{seen}");
    let report_step = |detail: &Value| -> Value {
        detail["timeline"]
            .as_array()
            .and_then(|t| t.iter().find(|s| s["action"] == "report"))
            .map(|s| s["detail"]["duplicate_of"].clone())
            .unwrap_or_default()
    };
    assert_eq!(report_step(&seen), json!(first_id));
    let (_, list) = app.get("/api/v1/events", Some(&dispatcher)).await?;
    let listed = |list: &Value| -> Value {
        list["items"]
            .as_array()
            .and_then(|i| i.iter().find(|e| e["id"] == second_id.as_str()))
            .map(|e| e["duplicate_of"].clone())
            .unwrap_or_default()
    };
    assert_eq!(listed(&list), json!(first_id));

    // The reporter sees that it is their report, but not whose it repeats: not in the answer,
    // the event, the list, the timeline, the feed or the live row.
    assert!(second["duplicate_of"].is_null(), "{second}");
    let (_, own) = app
        .get(
            &format!("/api/v1/events/{second_id}"),
            Some(&second_citizen),
        )
        .await?;
    assert!(own["duplicate_of"].is_null(), "{own}");
    assert!(
        own.get("duplicate_of").is_some(),
        "the field is there, empty"
    );
    assert!(report_step(&own).is_null(), "{own}");
    let (_, list) = app.get("/api/v1/events", Some(&second_citizen)).await?;
    assert!(listed(&list).is_null(), "{list}");
    assert!(!list.to_string().contains(&first_id), "{list}");

    let created =
        |item: &Value| item["kind"] == "event.created" && item["event_id"] == second_id.as_str();
    let theirs = created_row(&mut reporter_ws, &second_id).await?;
    assert!(theirs["payload"]["duplicate_of"].is_null(), "{theirs}");
    assert!(!theirs.to_string().contains(&first_id), "{theirs}");
    let centre = created_row(&mut centre_ws, &second_id).await?;
    assert_eq!(centre["payload"]["duplicate_of"], first_id.as_str());

    for (token, sees) in [(&second_citizen, false), (&dispatcher, true)] {
        let mut after = "0".to_owned();
        let item = loop {
            let (_, feed) = app
                .get(
                    &format!("/api/v1/feed?after={after}&limit=500"),
                    Some(token),
                )
                .await?;
            let items = feed["items"].as_array().ok_or("items")?;
            if let Some(item) = items.iter().find(|i| created(i)) {
                break item.clone();
            }
            after = str_field(&feed, "next_cursor")?;
        };
        assert_eq!(
            item["payload"]["duplicate_of"] == first_id.as_str(),
            sees,
            "{item}"
        );
    }
    // A reconnect's replay is the feed: the same rule.
    let mut replay = crate::live::connect(&app, &second_citizen, Some("0")).await?;
    let replayed = created_row(&mut replay, &second_id).await?;
    assert!(replayed["payload"]["duplicate_of"].is_null(), "{replayed}");
    Ok(())
}

/// The live row announcing that `event` was created, skipping others.
async fn created_row(ws: &mut crate::live::Ws, event: &str) -> TestResult<Value> {
    loop {
        let item = crate::live::next_item(ws, std::time::Duration::from_secs(5)).await?;
        if item["kind"] == "event.created" && item["event_id"] == event {
            return Ok(item);
        }
    }
}
