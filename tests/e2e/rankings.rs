//! Rankings (晾晒比拼) on real events: two grids' reports moved to closure, one step signed
//! late, some rated; the figures, the counts behind them and the order are exact, for grids and
//! for their community; who may see them; periods out of bounds are refused by field.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::*;

async fn mv(app: &TestApp, token: &str, id: &str, body: Value) -> TestResult {
    let (status, e) = app
        .post(
            &format!("/api/v1/events/{id}/moves"),
            Some(token),
            body.clone(),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}: {e}");
    Ok(())
}

async fn report(app: &TestApp, citizen: &str, building: &str) -> TestResult<String> {
    let (status, e) = app
        .post(
            "/api/v1/events",
            Some(citizen),
            json!({"id": Uuid::new_v4(), "category": "environment.garbage", "description": "排名测试", "building_code": building}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    str_field(&e, "id")
}

/// Sign, arrive and handle as the grid's worker, close as the dispatcher, rate as the citizen.
async fn close_and_rate(
    app: &TestApp,
    worker: &str,
    dispatcher: &str,
    citizen: &str,
    id: &str,
    rating: i32,
) -> TestResult {
    mv(app, worker, id, json!({"move": "sign"})).await?;
    mv(app, worker, id, json!({"move": "arrive"})).await?;
    mv(
        app,
        worker,
        id,
        json!({"move": "handle", "feedback": "已处理"}),
    )
    .await?;
    mv(app, dispatcher, id, json!({"move": "complete"})).await?;
    mv(
        app,
        citizen,
        id,
        json!({"move": "evaluate", "rating": rating}),
    )
    .await
}

async fn ranks(app: &TestApp, token: &str, query: &str) -> TestResult<Value> {
    let (status, r) = app
        .get(&format!("/api/v1/rankings{query}"), Some(token))
        .await?;
    assert_eq!(status, StatusCode::OK, "{query}: {r}");
    Ok(r)
}

fn order(r: &Value, n: usize) -> Vec<(String, u64)> {
    r["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .take(n)
                .map(|x| {
                    (
                        x["code"].as_str().unwrap_or_default().to_owned(),
                        x["rank"].as_u64().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn row<'a>(r: &'a Value, code: &str) -> TestResult<&'a Value> {
    r["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|x| x["code"] == code))
        .ok_or_else(|| format!("no row {code} in {r}").into())
}

#[tokio::test]
async fn grids_and_communities_are_ranked_by_exact_figures_and_bad_periods_are_refused()
-> TestResult {
    use gridwing_api::entities::buildings;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

    let app = TestApp::spawn_with(&["--demo-street", "true", "--sweep-secs", "3600"]).await?;
    let admin = app.token(ADMIN).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let citizen = app.token(CITIZEN).await?;
    let worker = app.token(GRID_WORKER).await?;
    let other = app.token(OTHER_GRID_WORKER).await?;
    let g002_building = buildings::Entity::find()
        .filter(buildings::Column::GridCode.eq("QSH-G002"))
        .order_by_asc(buildings::Column::Code)
        .one(&app.state.db)
        .await?
        .ok_or("a building in QSH-G002")?
        .code;

    // QSH-G001: three reports at one building; two closed on time and rated 4 and 2, the third
    // left open with its sign and arrival deadlines passed.
    let a = report(&app, &citizen, "QSH-B0001").await?;
    let b = report(&app, &citizen, "QSH-B0001").await?;
    let c = report(&app, &citizen, "QSH-B0001").await?;
    close_and_rate(&app, &worker, &dispatcher, &citizen, &a, 4).await?;
    close_and_rate(&app, &worker, &dispatcher, &citizen, &b, 2).await?;
    age_task(&app, &c, true, true, 120).await?;
    // QSH-G002: one report, signed after its deadline, then closed and rated 5.
    let d = report(&app, &citizen, &g002_building).await?;
    age_task(&app, &d, true, false, 60).await?;
    close_and_rate(&app, &other, &dispatcher, &citizen, &d, 5).await?;
    let (status, done) = app
        .post("/api/v1/grid-health/recompute", Some(&admin), json!(null))
        .await?;
    assert_eq!(status, StatusCode::OK, "{done}");

    // By on-time rate (the default): G001 kept 6 of its 8 due steps, G002 2 of 3; the other
    // 116 grids have no events and share the last rank.
    let r = ranks(&app, &dispatcher, "").await?;
    assert_eq!(
        (r["level"].as_str(), r["sort"].as_str()),
        (Some("grid"), Some("on_time_rate"))
    );
    assert_eq!(r["total"], 118);
    assert_eq!(
        order(&r, 3),
        [
            ("QSH-G001".into(), 1),
            ("QSH-G002".into(), 2),
            ("QSH-G003".into(), 3)
        ]
    );
    assert_eq!(r["rows"][117]["rank"], 3);
    let g1 = row(&r, "QSH-G001")?;
    assert_eq!(
        json!([
            g1["events_received"],
            g1["events_closed"],
            g1["closure_rate"],
            g1["task_steps"],
            g1["task_steps_on_time"],
            g1["on_time_rate"],
            g1["ratings"],
            g1["average_rating"],
            g1["repeats"],
            g1["patrols_due"],
            g1["patrol_rate"]
        ]),
        json!([3, 2, 2.0 / 3.0, 8, 6, 0.75, 2, 3.0, 4, 0, null])
    );
    let g2 = row(&r, "QSH-G002")?;
    assert_eq!(
        json!([
            g2["events_received"],
            g2["events_closed"],
            g2["closure_rate"],
            g2["task_steps"],
            g2["task_steps_on_time"],
            g2["on_time_rate"],
            g2["ratings"],
            g2["average_rating"],
            g2["repeats"]
        ]),
        json!([1, 1, 1.0, 3, 2, 2.0 / 3.0, 1, 5.0, 0])
    );
    let g3 = row(&r, "QSH-G003")?;
    assert_eq!(
        json!([
            g3["events_received"],
            g3["closure_rate"],
            g3["on_time_rate"],
            g3["average_rating"],
            g3["repeats"]
        ]),
        json!([0, null, null, null, null])
    );
    // Health: each grid's current score and colour, as its health shows them.
    let (_, h1) = app
        .get("/api/v1/areas/QSH-G001/health", Some(&dispatcher))
        .await?;
    assert_eq!(g1["health_score"].as_f64(), h1["score"].as_f64());
    assert_eq!(g1["health_colour"], h1["colour"]);

    // Other figures, other orders.
    for (sort, want) in [
        (
            "closure_rate",
            [("QSH-G002", 1), ("QSH-G001", 2), ("QSH-G003", 3)],
        ),
        (
            "rating",
            [("QSH-G002", 1), ("QSH-G001", 2), ("QSH-G003", 3)],
        ),
        (
            "repeats",
            [("QSH-G002", 1), ("QSH-G001", 2), ("QSH-G003", 3)],
        ),
    ] {
        let r = ranks(&app, &dispatcher, &format!("?sort={sort}")).await?;
        let want: Vec<(String, u64)> = want.iter().map(|(c, n)| ((*c).to_owned(), *n)).collect();
        assert_eq!(order(&r, 3), want, "{sort}");
    }
    let by_health = ranks(&app, &dispatcher, "?sort=health&street=QSH").await?;
    let scores: Vec<f64> = by_health["rows"]
        .as_array()
        .ok_or("rows")?
        .iter()
        .filter_map(|x| x["health_score"].as_f64())
        .collect();
    assert_eq!(scores.len(), 118);
    assert!(
        scores.windows(2).all(|w| w[0] <= w[1]),
        "lowest score first"
    );

    // Communities add their grids' counts; health is the mean of their grids' scores.
    let community = g1["parent_code"].as_str().ok_or("parent")?.to_owned();
    assert_eq!(
        g2["parent_code"], g1["parent_code"],
        "both grids in one community"
    );
    let comm = ranks(&app, &dispatcher, "?level=community").await?;
    assert_eq!(comm["rows"][0]["code"], community.as_str());
    assert_eq!(comm["rows"][0]["rank"], 1);
    let c1 = &comm["rows"][0];
    assert_eq!(
        json!([
            c1["events_received"],
            c1["events_closed"],
            c1["task_steps"],
            c1["task_steps_on_time"],
            c1["ratings"],
            c1["average_rating"],
            c1["repeats"]
        ]),
        json!([4, 3, 11, 8, 3, 11.0 / 3.0, 4])
    );
    let theirs: Vec<f64> = by_health["rows"]
        .as_array()
        .ok_or("rows")?
        .iter()
        .filter(|x| x["parent_code"] == community.as_str())
        .filter_map(|x| x["health_score"].as_f64())
        .collect();
    let mean = theirs.iter().sum::<f64>() / theirs.len() as f64;
    assert_eq!(c1["health_score"].as_f64(), Some(mean));
    assert!(c1["health_colour"].is_string(), "{c1}");

    // Grid workers see every grid of their street; a citizen or a coordinator none.
    let seen = ranks(&app, &other, "").await?;
    assert_eq!(seen["total"], 118);
    assert_eq!(order(&seen, 1), [("QSH-G001".into(), 1)]);
    for token in [&citizen, &app.token(COORDINATOR).await?] {
        let res = app
            .request(reqwest::Method::GET, "/api/v1/rankings", Some(token))
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    let res = app
        .request(
            reqwest::Method::GET,
            "/api/v1/rankings?street=XYZ",
            Some(&worker),
        )
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // A period before the events: no figure anywhere, so every grid shares rank 1.
    let past = ranks(&app, &dispatcher, "?from=2025-01-01&to=2025-01-31").await?;
    assert_eq!(past["rows"][0]["events_received"], 0);
    assert_eq!(past["rows"][0]["rank"], 1);

    // Periods out of bounds, by field.
    for (query, field) in [
        ("?from=2025-02-01&to=2025-01-31", "from"),
        ("?from=2024-01-01&to=2025-01-01", "from"),
        ("?to=2025-13-01", "to"),
        ("?from=yesterday", "from"),
        ("?limit=0", "limit"),
    ] {
        let res = app
            .request(
                reqwest::Method::GET,
                &format!("/api/v1/rankings{query}"),
                Some(&dispatcher),
            )
            .send()
            .await?;
        let p = assert_problem(res, 422, "validation-failed").await?;
        assert_eq!(error_fields(&p), [field], "{query}");
    }
    // 366 days, both included, is the longest period.
    ranks(&app, &dispatcher, "?from=2024-01-01&to=2024-12-31").await?;
    Ok(())
}
