//! Grid health (五色网格) end to end: a report raises its grid's score and moves it through the
//! thresholds to another colour, pushed live to the command centre; the contributions say what
//! they count; workers of other grids are refused; the full recompute gives the incremental
//! figures again; an admin's change of the rules recolours the grid.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;
use uuid::Uuid;

use crate::live::{Ws, connect, next_item};
use crate::support::*;

/// How long a recompute and its push may take to reach a connected client.
const PUSHED: Duration = Duration::from_secs(10);

async fn street() -> TestResult<TestApp> {
    // No sweeps: the test ages and lights tasks itself.
    TestApp::spawn_with(&["--demo-street", "true", "--sweep-secs", "3600"]).await
}

/// QSH's rules with only events and penalties counting (no patrol or freshness points, which
/// the demo street's buildings would add), and thresholds small enough for a few reports.
async fn plain_rules(app: &TestApp, admin: &str) -> TestResult<Value> {
    let (status, got) = app.get("/api/v1/health-rules/QSH", Some(admin)).await?;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["from"], "*", "QSH starts with the defaults");
    let mut rules = got["rules"].clone();
    rules["patrol"]["max_penalty"] = json!(0);
    rules["freshness"] = json!({"red_max": 0, "yellow_max": 0});
    rules["thresholds"] = json!({"blue": 10, "yellow": 20, "orange": 40, "red": 80});
    Ok(rules)
}

async fn put_rules(app: &TestApp, admin: &str, rules: &Value) -> TestResult<Value> {
    let res = app
        .request(
            reqwest::Method::PUT,
            "/api/v1/health-rules/QSH",
            Some(admin),
        )
        .json(rules)
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    Ok(res.json().await?)
}

async fn health(app: &TestApp, token: &str, grid: &str) -> TestResult<Value> {
    let (status, h) = app
        .get(&format!("/api/v1/areas/{grid}/health"), Some(token))
        .await?;
    assert_eq!(status, StatusCode::OK, "{h}");
    Ok(h)
}

/// A report at a building, as the demo citizen; its id.
async fn report(
    app: &TestApp,
    citizen: &str,
    category: &str,
    building: &str,
) -> TestResult<String> {
    let (status, e) = app
        .post(
            "/api/v1/events",
            Some(citizen),
            json!({"id": Uuid::new_v4(), "category": category, "description": "网格健康测试", "building_code": building}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    str_field(&e, "id")
}

/// The next colour change of `grid` on the connection, skipping everything else.
async fn next_change(ws: &mut Ws, grid: &str) -> TestResult<Value> {
    let deadline = Instant::now() + PUSHED;
    loop {
        let item = next_item(ws, deadline.saturating_duration_since(Instant::now())).await?;
        if item["kind"] == "area.health" && item["payload"]["area_code"] == grid {
            return Ok(item["payload"].clone());
        }
    }
}

/// What a full and an incremental computation must agree on.
fn figures(h: &Value) -> Value {
    json!({"score": h["score"], "colour": h["colour"], "contributions": h["contributions"]})
}

#[tokio::test]
async fn a_report_moves_its_grid_through_the_thresholds_and_the_change_is_pushed() -> TestResult {
    let app = street().await?;
    let admin = app.token(ADMIN).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let citizen = app.token(CITIZEN).await?;
    let worker = app.token(GRID_WORKER).await?;

    let rules = plain_rules(&app, &admin).await?;
    let saved = put_rules(&app, &admin, &rules).await?;
    assert_eq!(saved["from"], "QSH");
    assert_eq!(saved["recomputed"]["grids"], 118, "{saved}");
    let before = health(&app, &dispatcher, "QSH-G001").await?;
    assert_eq!(before["score"], 0, "{before}");
    assert_eq!(before["colour"], "green");
    assert_eq!(before["rules_from"], "QSH");
    assert_eq!(before["contributions"], json!([]));
    assert_eq!(before["response"]["staffing"], 1);

    let mut live = connect(&app, &dispatcher, None).await?;
    // A red fire risk: 5 × 3 = 15 points, over blue's 10.
    report(&app, &citizen, "safety.fire_risk", "QSH-B0001").await?;
    let change = next_change(&mut live, "QSH-G001").await?;
    assert_eq!(change["previous"], "green");
    assert_eq!(change["colour"], "blue");
    assert_eq!(change["score"], 15);
    assert_eq!(change["response"]["staffing"], 1);

    let after = health(&app, &worker, "QSH-G001").await?;
    assert_eq!(after["score"], 15);
    assert_eq!(after["colour"], "blue");
    assert_eq!(after["colour_zh"], "蓝色");
    assert_eq!(
        after["contributions"],
        json!([{"kind": "events", "colour": "red", "count": 1, "points": 15, "label": "红色事件 1 件：15 分"}])
    );

    // Two orange hazards at the same building: 2 × 5 × 2 = 20 more, and the third report there
    // makes two repeats (2 × 10): 55, orange.
    report(&app, &citizen, "safety.hazard", "QSH-B0001").await?;
    report(&app, &citizen, "safety.hazard", "QSH-B0001").await?;
    let mut seen = next_change(&mut live, "QSH-G001").await?;
    // The two reports may be counted in one round or in two (yellow at 25 on the way).
    while seen["colour"] != "orange" {
        assert_eq!(seen["colour"], "yellow", "{seen}");
        seen = next_change(&mut live, "QSH-G001").await?;
    }
    assert_eq!(seen["score"], 55);
    let incremental = health(&app, &dispatcher, "QSH-G001").await?;
    let labels: Vec<&str> = incremental["contributions"]
        .as_array()
        .ok_or("contributions")?
        .iter()
        .filter_map(|c| c["label"].as_str())
        .collect();
    assert_eq!(
        labels,
        [
            "橙色事件 2 件：20 分",
            "楼幢 QSH-B0001 重复报事 3 次：20 分",
            "红色事件 1 件：15 分"
        ]
    );

    // The nightly pass, run now, finds the same figures.
    let (status, done) = app
        .post("/api/v1/grid-health/recompute", Some(&admin), json!(null))
        .await?;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["grids"], 118);
    assert_eq!(
        done["changed"], 0,
        "nothing changed since the incremental updates"
    );
    let full = health(&app, &dispatcher, "QSH-G001").await?;
    assert_eq!(figures(&full), figures(&incremental));

    // The admin lowers the thresholds: the grid turns red at once, and the command centre hears.
    let mut strict = rules.clone();
    strict["thresholds"] = json!({"blue": 5, "yellow": 10, "orange": 20, "red": 50});
    let saved = put_rules(&app, &admin, &strict).await?;
    assert!(
        saved["recomputed"]["changed"].as_u64().unwrap_or(0) >= 1,
        "{saved}"
    );
    let red = health(&app, &dispatcher, "QSH-G001").await?;
    assert_eq!(red["colour"], "red");
    assert_eq!(red["score"], 55);
    assert_eq!(red["response"]["staffing"], 4);
    let change = next_change(&mut live, "QSH-G001").await?;
    assert_eq!(change["previous"], "orange");
    assert_eq!(change["colour"], "red");

    // One row a day, the day's last figures.
    let (status, history) = app
        .get("/api/v1/areas/QSH-G001/health/history", Some(&worker))
        .await?;
    assert_eq!(status, StatusCode::OK, "{history}");
    let days = history["days"].as_array().ok_or("days")?;
    assert_eq!(days.len(), 1, "{history}");
    assert_eq!(days[0]["colour"], "red");
    assert_eq!(days[0]["score"], 55);
    assert_eq!(days[0]["day"], history["to"]);

    // The map's list carries the colour.
    let (status, page) = app
        .get(
            "/api/v1/grid-health?street=QSH&colour=red",
            Some(&dispatcher),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{page}");
    let codes: Vec<&str> = page["items"]
        .as_array()
        .ok_or("items")?
        .iter()
        .filter_map(|g| g["code"].as_str())
        .collect();
    assert_eq!(codes, ["QSH-G001"]);
    Ok(())
}

#[tokio::test]
async fn contributions_name_late_lit_and_escalated_tasks_and_other_grids_are_refused() -> TestResult
{
    let app = street().await?;
    let admin = app.token(ADMIN).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let citizen = app.token(CITIZEN).await?;
    let worker = app.token(GRID_WORKER).await?;
    let other = app.token(OTHER_GRID_WORKER).await?;
    let rules = plain_rules(&app, &admin).await?;
    put_rules(&app, &admin, &rules).await?;

    // A blue report whose task missed its sign deadline two minutes ago, and then its arrival:
    // the sweeper lights it red and escalates it.
    let id = report(&app, &citizen, "environment.garbage", "QSH-B0001").await?;
    age_task(&app, &id, true, true, 120).await?;
    let lit = gridwing_api::events::sweeper::light_late(
        &app.state.db,
        &app.state.places.get(),
        &app.state.catalogue,
    )
    .await?;
    assert_eq!(lit, 1);
    // The light's live row already had the grid recomputed; the full pass agrees.
    let (status, done) = app
        .post(
            "/api/v1/grid-health/recompute?street=QSH",
            Some(&admin),
            json!(null),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{done}");
    let h = health(&app, &worker, "QSH-G001").await?;
    let got: Vec<(String, u64, u64)> = h["contributions"]
        .as_array()
        .ok_or("contributions")?
        .iter()
        .map(|c| {
            (
                c["label"].as_str().unwrap_or_default().to_owned(),
                c["count"].as_u64().unwrap_or_default(),
                c["points"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("超时未办任务 1 件：10 分".to_owned(), 1, 10),
            ("红灯督办 1 件：10 分".to_owned(), 1, 10),
            ("蓝色事件 1 件：5 分".to_owned(), 1, 5),
            ("升级督办 1 件：5 分".to_owned(), 1, 5),
        ]
    );
    assert_eq!(h["score"], 30);
    assert_eq!(h["colour"], "yellow");

    // Who may see: the command centre and the grid's own workers; a worker of another grid, a
    // coordinator or a citizen is refused; the list shows a worker their grids only.
    for (token, want) in [
        (&other, StatusCode::FORBIDDEN),
        (&citizen, StatusCode::FORBIDDEN),
        (&app.token(COORDINATOR).await?, StatusCode::FORBIDDEN),
        (&admin, StatusCode::OK),
    ] {
        let res = app
            .request(
                reqwest::Method::GET,
                "/api/v1/areas/QSH-G001/health",
                Some(token),
            )
            .send()
            .await?;
        assert_eq!(res.status(), want);
        let res = app
            .request(
                reqwest::Method::GET,
                "/api/v1/areas/QSH-G001/health/history",
                Some(token),
            )
            .send()
            .await?;
        assert_eq!(res.status(), want);
    }
    let (status, mine) = app
        .get("/api/v1/grid-health?limit=200", Some(&other))
        .await?;
    assert_eq!(status, StatusCode::OK, "{mine}");
    let codes: Vec<&str> = mine["items"]
        .as_array()
        .ok_or("items")?
        .iter()
        .filter_map(|g| g["code"].as_str())
        .collect();
    assert_eq!(codes, ["QSH-G002"]);
    assert_eq!(mine["items"][0]["colour"], "green");
    let res = app
        .request(reqwest::Method::GET, "/api/v1/grid-health", Some(&citizen))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .request(
            reqwest::Method::GET,
            "/api/v1/areas/QSH-C01/health",
            Some(&admin),
        )
        .send()
        .await?;
    let p = assert_problem(res, 422, "validation-failed").await?;
    assert_eq!(error_fields(&p), ["code"]);

    // Rules are checked whole, every fault named; nothing changes.
    let mut bad = rules.clone();
    bad["thresholds"]["orange"] = json!(20);
    bad["category_weights"]["no.such"] = json!(1.0);
    bad["window_days"] = json!(0);
    let res = app
        .request(
            reqwest::Method::PUT,
            "/api/v1/health-rules/QSH",
            Some(&admin),
        )
        .json(&bad)
        .send()
        .await?;
    let p = assert_problem(res, 422, "validation-failed").await?;
    assert_eq!(
        error_fields(&p),
        [
            "window_days",
            "category_weights.no.such",
            "thresholds.orange"
        ]
    );
    let res = app
        .request(
            reqwest::Method::PUT,
            "/api/v1/health-rules/QSH",
            Some(&dispatcher),
        )
        .json(&rules)
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let (_, kept) = app.get("/api/v1/health-rules/QSH", Some(&admin)).await?;
    assert_eq!(kept["rules"], rules);
    Ok(())
}

#[tokio::test]
async fn a_paid_check_in_on_a_grids_route_raises_its_patrol_coverage_at_once() -> TestResult {
    use gridwing_api::entities::patrol_routes;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    let app = street().await?;
    let admin = app.token(ADMIN).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let coordinator = app.token(COORDINATOR).await?;
    let citizen = app.token(CITIZEN).await?;
    let (lat, lng) = point_in_g001(&app, &dispatcher).await?;
    // A route of grid QSH-G001 open all day (00:00–23:59), made two days ago: yesterday's
    // window closed unwalked; today's is open.
    let (status, route) = app
        .post(
            "/api/v1/patrol-routes",
            Some(&coordinator),
            json!({
                "code": "QSH-HP1", "name": "青山村日间巡防", "area_code": "QSH-G001",
                "windows": [{"start": "00:00", "end": "23:59"}],
                "checkpoints": [{"code": "QSH-HP1-G", "name": "村口", "kind": "geofence",
                                 "lat": lat, "lng": lng, "radius_m": 40, "points": 2}],
            }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{route}");
    patrol_routes::Entity::update_many()
        .col_expr(
            patrol_routes::Column::CreatedAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::days(2)),
        )
        .filter(patrol_routes::Column::Code.eq("QSH-HP1"))
        .exec(&app.state.db)
        .await?;

    let mut live = connect(&app, &dispatcher, None).await?;
    let mut rules = plain_rules(&app, &admin).await?;
    rules["patrol"]["max_penalty"] = json!(40);
    put_rules(&app, &admin, &rules).await?;
    // The new rules turn the grid orange (the defaults left it green: the demo's unchecked
    // buildings weigh 20, under blue's 30).
    let change = next_change(&mut live, "QSH-G001").await?;
    assert_eq!(change["previous"], "green");
    assert_eq!(change["colour"], "orange");
    let before = health(&app, &dispatcher, "QSH-G001").await?;
    assert_eq!(before["colour"], "orange", "{before}");
    assert_eq!(
        before["contributions"],
        json!([{"kind": "patrol_coverage", "count": 0, "of": 1, "points": 40, "label": "巡防覆盖 0/1 班次：40 分"}])
    );

    let (status, checkin) = app
        .post(
            "/api/v1/patrol-checkins",
            Some(&citizen),
            json!({"id": Uuid::new_v4(), "checkpoint": "QSH-HP1-G", "lat": lat, "lng": lng, "accuracy": 5.0}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{checkin}");
    let change = next_change(&mut live, "QSH-G001").await?;
    assert_eq!(change["previous"], "orange");
    assert_eq!(change["colour"], "yellow");
    let after = health(&app, &dispatcher, "QSH-G001").await?;
    assert_eq!(after["score"], 20);
    assert_eq!(
        after["contributions"][0]["label"],
        "巡防覆盖 1/2 班次：20 分"
    );
    Ok(())
}

#[tokio::test]
async fn the_command_line_recomputes_what_no_live_row_announced() -> TestResult {
    use gridwing_api::entities::buildings;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    let app = street().await?;
    let admin = app.token(ADMIN).await?;
    let mut rules = plain_rules(&app, &admin).await?;
    rules["freshness"] = json!({"red_max": 20, "yellow_max": 10});
    put_rules(&app, &admin, &rules).await?;
    // Every demo building is unchecked (red): 20 points, yellow.
    let before = health(&app, &admin, "QSH-G001").await?;
    assert_eq!(before["colour"], "yellow", "{before}");
    assert_eq!(before["score"], 20);

    // The grid's buildings are checked behind the server's back (no live row tells it).
    buildings::Entity::update_many()
        .col_expr(
            buildings::Column::VerifiedAt,
            Expr::value(chrono::Utc::now()),
        )
        .filter(buildings::Column::GridCode.eq("QSH-G001"))
        .exec(&app.state.db)
        .await?;
    assert_eq!(health(&app, &admin, "QSH-G001").await?["score"], 20);

    // One grid, as a live row touching it would have it recomputed; then the whole street,
    // where nothing is left to change.
    let text = recompute_command(&app, &["--grid", "QSH-G001"]).await?;
    assert!(
        text.starts_with("grid QSH-G001 recomputed in ") && text.ends_with(" ms: green"),
        "{text}"
    );
    let after = health(&app, &admin, "QSH-G001").await?;
    assert_eq!(after["colour"], "green");
    assert_eq!(after["score"], 0);
    let text = recompute_command(&app, &["--street", "QSH"]).await?;
    assert!(
        text.starts_with("118 grids recomputed in ") && text.ends_with(" s, 0 changed colour"),
        "{text}"
    );
    assert_eq!(after["contributions"], json!([]));
    Ok(())
}

/// Runs `gridwing health recompute` with `args` on the app's database; what it printed.
async fn recompute_command(app: &TestApp, args: &[&str]) -> TestResult<String> {
    gridwing_command(app, &[&["health", "recompute"], args].concat()).await
}
