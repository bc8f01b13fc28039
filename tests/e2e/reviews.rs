//! Monthly reviews (网格月度研判报告) on real events of last month (Asia/Shanghai): exact figures
//! for a grid, its community and the street, the month's borders, the comparison with the month
//! before; the assessment, submission and immutability after it, comments, read marks and
//! corrections as new versions, and every refusal; the scheduler on two instances of one
//! database generating each area's review once; the mail to the street when every grid is in.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gridwing_api::entities::{
    activities, area_health, buildings, events, points_ledger, review_months, reviews, signups,
};
use gridwing_api::reviews::month::Month;
use reqwest::{Method, StatusCode};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set,
};
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

/// A citizen's garbage report at `building`: its id and colour.
async fn report(app: &TestApp, citizen: &str, building: &str) -> TestResult<(String, String)> {
    let (status, e) = app
        .post(
            "/api/v1/events",
            Some(citizen),
            json!({"id": Uuid::new_v4(), "category": "environment.garbage", "description": "月度研判测试", "building_code": building}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    Ok((str_field(&e, "id")?, str_field(&e, "colour")?))
}

/// Signed, on site, handled, completed; rated when `rating` is given.
async fn close(
    app: &TestApp,
    worker: &str,
    dispatcher: &str,
    citizen: &str,
    id: &str,
    rating: Option<i32>,
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
    if let Some(r) = rating {
        mv(app, citizen, id, json!({"move": "evaluate", "rating": r})).await?;
    }
    Ok(())
}

/// Moves an event back to `at`, as if it had been received then.
async fn received_at(app: &TestApp, id: &str, at: DateTime<Utc>) -> TestResult {
    events::Entity::update_many()
        .col_expr(events::Column::CreatedAt, Expr::value(at))
        .filter(events::Column::Id.eq(id.parse::<Uuid>()?))
        .exec(&app.state.db)
        .await?;
    Ok(())
}

async fn generate(app: &TestApp, token: &str, area: &str, month: &str) -> TestResult<Value> {
    let (status, r) = app
        .post(
            "/api/v1/reviews",
            Some(token),
            json!({"area": area, "month": month}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{area} {month}: {r}");
    Ok(r)
}

async fn call_ok(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    want: StatusCode,
) -> TestResult<Value> {
    let (status, v) = app.call(method.clone(), path, Some(token), body).await?;
    assert_eq!(status, want, "{method} {path}: {v}");
    Ok(v)
}

fn counts(v: &Value) -> Vec<(String, u64)> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["key"].as_str().unwrap_or_default().to_owned(),
                c["count"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_months_review_has_exact_figures_and_is_submitted_commented_read_and_corrected()
-> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true", "--sweep-secs", "3600"]).await?;
    let admin = app.token(ADMIN).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let citizen = app.token(CITIZEN).await?;
    let worker = app.token(GRID_WORKER).await?;
    let other = app.token(OTHER_GRID_WORKER).await?;
    let coordinator = app.token(COORDINATOR).await?;
    let now = Utc::now();
    let this = Month::of(now);
    let last = this.previous();
    let (last_m, this_m) = (last.label(), this.label());
    let mid = last.start() + chrono::Duration::days(10);
    let g002_building = buildings::Entity::find()
        .filter(buildings::Column::GridCode.eq("QSH-G002"))
        .one(&app.state.db)
        .await?
        .ok_or("a building in QSH-G002")?
        .code;

    // QSH-G001 last month: three reports at QSH-B0001, two closed on time and rated 4 and 2,
    // the third left with its sign and arrival deadlines passed (the sweeper lights it red
    // and escalates it); a fourth closed at 23:59 on the month's last day (Shanghai time).
    let (a, colour) = report(&app, &citizen, "QSH-B0001").await?;
    let (b, _) = report(&app, &citizen, "QSH-B0001").await?;
    let (c, _) = report(&app, &citizen, "QSH-B0001").await?;
    let (edge, _) = report(&app, &citizen, "QSH-B0001").await?;
    close(&app, &worker, &dispatcher, &citizen, &a, Some(4)).await?;
    close(&app, &worker, &dispatcher, &citizen, &b, Some(2)).await?;
    close(&app, &worker, &dispatcher, &citizen, &edge, None).await?;
    age_task(&app, &c, true, true, 120).await?;
    assert_eq!(gridwing_api::events::sweeper::sweep(&app.state).await?, 1);
    // QSH-G002: one report signed late, then closed and rated 5.
    let (d, _) = report(&app, &citizen, &g002_building).await?;
    age_task(&app, &d, true, false, 60).await?;
    close(&app, &other, &dispatcher, &citizen, &d, Some(5)).await?;
    for id in [&a, &b, &c, &d] {
        received_at(&app, id, mid).await?;
    }
    received_at(&app, &edge, last.end() - chrono::Duration::minutes(1)).await?;
    // And one at the first instant of this month: this month's, not last month's.
    let (fresh, _) = report(&app, &citizen, "QSH-B0001").await?;
    received_at(&app, &fresh, this.start()).await?;

    // Health rows of two days of last month, volunteer service in a micro-grid of QSH-G001,
    // the month's points, and QSH-G001's buildings: one checked now, one 7 months ago.
    for (day, score) in [(last.first_day(), 20), (last.last_day(), 70)] {
        area_health::ActiveModel {
            id: Set(Uuid::now_v7()),
            area_code: Set("QSH-G001".into()),
            day: Set(day.format("%Y-%m-%d").to_string()),
            score: Set(score),
            colour: Set("green".into()),
            contributions: Set("[]".into()),
            rules_from: Set("*".into()),
            computed_at: Set(mid),
        }
        .insert(&app.state.db)
        .await?;
    }
    let admin_id: Uuid = my_id(&app, &admin).await?.parse()?;
    let activity = Uuid::now_v7();
    activities::ActiveModel {
        id: Set(activity),
        title: Set("楼道清理".into()),
        kind: Set("service".into()),
        description: Set(String::new()),
        area_code: Set(Some("QSH-G001-01".into())),
        team_code: Set(None),
        skill: Set(None),
        points_per_hour: Set(0),
        status: Set("open".into()),
        created_by: Set(admin_id),
        created_at: Set(mid),
    }
    .insert(&app.state.db)
    .await?;
    for (minutes, at) in [(90, mid), (30, this.start())] {
        signups::ActiveModel {
            id: Set(Uuid::now_v7()),
            shift_id: Set(Uuid::now_v7()),
            activity_id: Set(activity),
            user_id: Set(Uuid::now_v7()),
            status: Set("confirmed".into()),
            attended_at: Set(Some(at)),
            minutes: Set(Some(minutes)),
            attendance_by: Set(None),
            created_at: Set(mid),
            updated_at: Set(mid),
        }
        .insert(&app.state.db)
        .await?;
    }
    let paid: i64 = points_ledger::Entity::find()
        .all(&app.state.db)
        .await?
        .iter()
        .map(|r| i64::from(r.amount))
        .sum();
    assert!(paid > 0, "completed reports earn points");
    points_ledger::Entity::update_many()
        .col_expr(points_ledger::Column::CreatedAt, Expr::value(mid))
        .exec(&app.state.db)
        .await?;
    let g001_buildings = buildings::Entity::find()
        .filter(buildings::Column::GridCode.eq("QSH-G001"))
        .all(&app.state.db)
        .await?;
    buildings::Entity::update_many()
        .col_expr(
            buildings::Column::VerifiedAt,
            Expr::value(None::<DateTime<Utc>>),
        )
        .filter(buildings::Column::GridCode.eq("QSH-G001"))
        .exec(&app.state.db)
        .await?;
    for (b, at) in g001_buildings
        .iter()
        .zip([now, now - chrono::Duration::days(213)])
    {
        buildings::Entity::update_many()
            .col_expr(buildings::Column::VerifiedAt, Expr::value(Some(at)))
            .filter(buildings::Column::Id.eq(b.id))
            .exec(&app.state.db)
            .await?;
    }

    // The grid's worker generates QSH-G001's review of last month.
    let g1 = generate(&app, &worker, "QSH-G001", &last_m).await?;
    let r = &g1["review"];
    assert_eq!(
        json!([
            r["scope"],
            r["area_code"],
            r["month"],
            r["version"],
            r["status"],
            r["street_code"]
        ]),
        json!(["grid", "QSH-G001", last_m, 1, "draft", "QSH"])
    );
    let f = &g1["figures"];
    assert_eq!(f["events"]["total"], 4);
    assert_eq!(f["events"]["closed"], 3);
    assert_eq!(
        counts(&f["events"]["by_category"]),
        [("environment.garbage".to_owned(), 4)]
    );
    assert_eq!(counts(&f["events"]["by_colour"]), [(colour.clone(), 4)]);
    assert_eq!(
        counts(&f["events"]["by_source"]),
        [("citizen".to_owned(), 4)]
    );
    assert_eq!(
        f["steps"],
        json!({
            "sign": {"due": 4, "on_time": 3, "rate": 0.75},
            "arrive": {"due": 4, "on_time": 3, "rate": 0.75},
            "handle": {"due": 3, "on_time": 3, "rate": 1.0},
            "all": {"due": 11, "on_time": 9, "rate": 9.0 / 11.0},
        })
    );
    assert_eq!(
        f["lights"],
        json!({"yellow": 0, "red": 1, "escalations": 1})
    );
    assert_eq!(
        f["hot_spots"]["buildings"],
        json!([{"code": "QSH-B0001", "grid_code": "QSH-G001", "reports": 4}])
    );
    assert_eq!(f["hot_spots"]["micro_grids"][0]["code"], "QSH-G001-01");
    assert_eq!(f["ratings"], json!({"count": 2, "average": 3.0}));
    assert_eq!(f["patrols"], json!({"due": 0, "walked": 0, "rate": null}));
    let n = g001_buildings.len() as u64;
    assert!(n >= 2, "QSH-G001 has buildings");
    assert_eq!(
        f["freshness"],
        json!({"total": n, "green": 1, "yellow": 1, "red": n - 2})
    );
    assert_eq!(f["volunteering"], json!({"minutes": 90, "hours": 1.5}));
    assert_eq!(f["points"], Value::Null);
    assert_eq!(f["health"]["score"], 70.0);
    assert_eq!(f["health"]["colour"], "yellow");
    assert_eq!(
        f["health"]["trend"],
        json!([
            {"day": last.first_day().format("%Y-%m-%d").to_string(), "score": 20.0, "colour": "green"},
            {"day": last.last_day().format("%Y-%m-%d").to_string(), "score": 70.0, "colour": "yellow"},
        ])
    );
    assert_eq!(f["comparison"]["previous_month"], last.previous().label());
    assert_eq!(f["comparison"]["events_change"], 4);
    assert_eq!(f["comparison"]["health_trend"], Value::Null);

    // Its community adds both grids; the street counts the month's points (one street here).
    let comm = generate(&app, &dispatcher, "QSH-C01", &last_m).await?;
    let cf = &comm["figures"];
    assert_eq!(comm["review"]["scope"], "community");
    assert_eq!(
        json!([
            cf["events"]["total"],
            cf["steps"]["all"]["due"],
            cf["steps"]["all"]["on_time"],
            cf["ratings"]["count"],
            cf["volunteering"]["minutes"]
        ]),
        json!([5, 14, 11, 3, 90])
    );
    assert_eq!(cf["ratings"]["average"].as_f64(), Some(11.0 / 3.0));
    let street = generate(&app, &dispatcher, "QSH", &last_m).await?;
    let sf = &street["figures"];
    assert_eq!(
        (sf["events"]["total"].as_u64(), sf["grids"].as_u64()),
        (Some(5), Some(118))
    );
    assert_eq!(sf["points"], json!({"issued": paid, "redeemed": 0}));
    // This month holds the report of its first instant, and last month beside it.
    let now_g1 = generate(&app, &worker, "QSH-G001", &this_m).await?;
    let nf = &now_g1["figures"];
    assert_eq!(nf["events"]["total"], 1);
    assert_eq!(nf["volunteering"]["minutes"], 30);
    assert_eq!(nf["comparison"]["previous"]["events"], 4);
    assert_eq!(nf["comparison"]["previous"]["health_score"], 70.0);
    assert_eq!(nf["comparison"]["events_change"], -3);

    // Refusals: a month again, a month to come, a bad month, a micro-grid, another's grid.
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/reviews",
        &worker,
        Some(json!({"area": "QSH-G001", "month": last_m})),
        409,
        "conflict",
    )
    .await?;
    assert_eq!(error_fields(&p), ["month"]);
    for (body, field) in [
        (
            json!({"area": "QSH-G001", "month": this.next().label()}),
            "month",
        ),
        (json!({"area": "QSH-G001", "month": "2026-13"}), "month"),
        (json!({"area": "QSH-G001-01", "month": last_m}), "area"),
        (json!({"area": "含空格 的", "month": last_m}), "area"),
    ] {
        let p = problem(
            &app,
            Method::POST,
            "/api/v1/reviews",
            &dispatcher,
            Some(body.clone()),
            422,
            "validation-failed",
        )
        .await?;
        assert_eq!(error_fields(&p), [field], "{body}");
    }
    problem(
        &app,
        Method::POST,
        "/api/v1/reviews",
        &dispatcher,
        Some(json!({"area": "NOPE", "month": last_m})),
        404,
        "not-found",
    )
    .await?;
    problem(
        &app,
        Method::POST,
        "/api/v1/reviews",
        &other,
        Some(json!({"area": "QSH-G001", "month": last.previous().label()})),
        403,
        "forbidden",
    )
    .await?;
    problem(
        &app,
        Method::GET,
        "/api/v1/reviews",
        &coordinator,
        None,
        403,
        "forbidden",
    )
    .await?;
    problem(
        &app,
        Method::GET,
        "/api/v1/reviews",
        &citizen,
        None,
        403,
        "forbidden",
    )
    .await?;

    let id = str_field(r, "id")?;
    let path = |tail: &str| format!("/api/v1/reviews/{id}{tail}");
    // Another grid's worker neither sees it nor finds it listed.
    problem(&app, Method::GET, &path(""), &other, None, 404, "not-found").await?;
    let theirs = call_ok(
        &app,
        Method::GET,
        "/api/v1/reviews",
        &other,
        None,
        StatusCode::OK,
    )
    .await?;
    assert_eq!(theirs["items"], json!([]));
    // The command centre reads but does not write a grid's assessment.
    problem(
        &app,
        Method::PUT,
        &path("/assessment"),
        &dispatcher,
        Some(json!({"assessment": "代写"})),
        403,
        "forbidden",
    )
    .await?;
    // Not submitted without an assessment; a blank one is refused by field.
    let p = problem(
        &app,
        Method::POST,
        &path("/submit"),
        &worker,
        None,
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["assessment"]);
    let p = problem(
        &app,
        Method::PUT,
        &path("/assessment"),
        &worker,
        Some(json!({"assessment": "  \n "})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["assessment"]);
    // A draft is not marked read.
    problem(
        &app,
        Method::POST,
        &path("/read"),
        &dispatcher,
        None,
        409,
        "conflict",
    )
    .await?;
    let words = "本月一号楼垃圾堆放反复发生，已联系物业；\n建议增设分类督导。";
    let v = call_ok(
        &app,
        Method::PUT,
        &path("/assessment"),
        &worker,
        Some(json!({"assessment": format!("  {words} ")})),
        StatusCode::OK,
    )
    .await?;
    assert_eq!(v["assessment"], words);
    let v = call_ok(
        &app,
        Method::POST,
        &path("/submit"),
        &worker,
        None,
        StatusCode::OK,
    )
    .await?;
    assert_eq!(
        (v["status"].as_str(), v["submitted_by"]["name"].as_str()),
        (Some("submitted"), Some("王网格"))
    );
    assert!(v["submitted_at"].is_string());
    // Submitted: kept unchanged.
    problem(
        &app,
        Method::PUT,
        &path("/assessment"),
        &worker,
        Some(json!({"assessment": "改写"})),
        409,
        "conflict",
    )
    .await?;
    problem(
        &app,
        Method::POST,
        &path("/submit"),
        &worker,
        None,
        409,
        "conflict",
    )
    .await?;

    // Comments: the command centre, then the worker's answer; others are refused.
    let c1 = call_ok(
        &app,
        Method::POST,
        &path("/comments"),
        &dispatcher,
        Some(json!({"body": "请补充一号楼整改时限。"})),
        StatusCode::CREATED,
    )
    .await?;
    assert_eq!(c1["author"]["name"], "指挥中心值班员");
    call_ok(
        &app,
        Method::POST,
        &path("/comments"),
        &worker,
        Some(json!({"body": "月底前完成。"})),
        StatusCode::CREATED,
    )
    .await?;
    problem(
        &app,
        Method::POST,
        &path("/comments"),
        &other,
        Some(json!({"body": "路过"})),
        404,
        "not-found",
    )
    .await?;
    problem(
        &app,
        Method::POST,
        &path("/comments"),
        &coordinator,
        Some(json!({"body": "路过"})),
        403,
        "forbidden",
    )
    .await?;
    let p = problem(
        &app,
        Method::POST,
        &path("/comments"),
        &dispatcher,
        Some(json!({"body": ""})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["body"]);

    // Read marks: the command centre's, once.
    problem(
        &app,
        Method::POST,
        &path("/read"),
        &worker,
        None,
        403,
        "forbidden",
    )
    .await?;
    let read = call_ok(
        &app,
        Method::POST,
        &path("/read"),
        &dispatcher,
        None,
        StatusCode::OK,
    )
    .await?;
    assert_eq!(read["read_by"]["name"], "指挥中心值班员");
    let again = call_ok(
        &app,
        Method::POST,
        &path("/read"),
        &admin,
        None,
        StatusCode::OK,
    )
    .await?;
    assert_eq!(
        (&again["read_by"], &again["read_at"]),
        (&read["read_by"], &read["read_at"])
    );

    let opened = call_ok(
        &app,
        Method::GET,
        &path(""),
        &dispatcher,
        None,
        StatusCode::OK,
    )
    .await?;
    let said: Vec<&str> = opened["comments"]
        .as_array()
        .ok_or("comments")?
        .iter()
        .filter_map(|c| c["body"].as_str())
        .collect();
    assert_eq!(said, ["请补充一号楼整改时限。", "月底前完成。"]);
    assert_eq!(opened["figures"], *f, "the figures are kept as generated");
    crate::review_files::check(&app, &id, &dispatcher, &other, f, words, &said).await?;

    // A correction: version 2, a draft with figures afresh and the assessment carried over;
    // version 1 stays as submitted.
    let v2 = call_ok(
        &app,
        Method::POST,
        &path("/versions"),
        &worker,
        None,
        StatusCode::CREATED,
    )
    .await?;
    assert_eq!(
        json!([
            v2["review"]["version"],
            v2["review"]["status"],
            v2["review"]["assessment"],
            v2["review"]["read_at"]
        ]),
        json!([2, "draft", words, null])
    );
    assert_eq!(v2["versions"].as_array().map(Vec::len), Some(2));
    problem(
        &app,
        Method::POST,
        &path("/versions"),
        &worker,
        None,
        409,
        "conflict",
    )
    .await?;
    let v2_id = str_field(&v2["review"], "id")?;
    problem(
        &app,
        Method::POST,
        &format!("/api/v1/reviews/{v2_id}/versions"),
        &worker,
        None,
        409,
        "conflict",
    )
    .await?;
    let v1 = call_ok(&app, Method::GET, &path(""), &worker, None, StatusCode::OK).await?;
    assert_eq!(
        json!([
            v1["review"]["status"],
            v1["review"]["assessment"],
            v1["review"]["version"]
        ]),
        json!(["submitted", words, 1])
    );
    call_ok(
        &app,
        Method::PUT,
        &format!("/api/v1/reviews/{v2_id}/assessment"),
        &worker,
        Some(json!({"assessment": "更正：整改已于月底完成。"})),
        StatusCode::OK,
    )
    .await?;

    // Lists: each area's newest version by default, every version when asked; by filters;
    // a grid worker their own grid's only.
    let list = |q: &str| format!("/api/v1/reviews{q}");
    let mine = call_ok(&app, Method::GET, &list(""), &worker, None, StatusCode::OK).await?;
    let seen: Vec<(String, u64)> = mine["items"]
        .as_array()
        .ok_or("items")?
        .iter()
        .map(|x| {
            (
                x["month"].as_str().unwrap_or_default().to_owned(),
                x["version"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(seen, [(this_m.clone(), 1), (last_m.clone(), 2)]);
    let all = call_ok(
        &app,
        Method::GET,
        &list(&format!("?area=QSH-G001&month={last_m}&all_versions=true")),
        &dispatcher,
        None,
        StatusCode::OK,
    )
    .await?;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(2));
    let submitted = call_ok(
        &app,
        Method::GET,
        &list(&format!(
            "?month={last_m}&status=submitted&all_versions=true"
        )),
        &dispatcher,
        None,
        StatusCode::OK,
    )
    .await?;
    assert_eq!(submitted["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        submitted["items"][0]["area_name"]
            .as_str()
            .map(|s| !s.is_empty()),
        Some(true)
    );
    let first = call_ok(
        &app,
        Method::GET,
        &list(&format!("?month={last_m}&limit=2")),
        &dispatcher,
        None,
        StatusCode::OK,
    )
    .await?;
    let cursor = str_field(&first, "next_cursor")?;
    let rest = call_ok(
        &app,
        Method::GET,
        &list(&format!("?month={last_m}&limit=2&cursor={cursor}")),
        &dispatcher,
        None,
        StatusCode::OK,
    )
    .await?;
    let codes: BTreeSet<String> = first["items"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(rest["items"].as_array().into_iter().flatten())
        .filter_map(|x| x["area_code"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        codes,
        BTreeSet::from([
            "QSH".to_owned(),
            "QSH-C01".to_owned(),
            "QSH-G001".to_owned()
        ])
    );
    assert!(rest.get("next_cursor").is_none_or(Value::is_null), "{rest}");
    let p = problem(
        &app,
        Method::GET,
        &list("?month=2026-1"),
        &dispatcher,
        None,
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["month"]);
    Ok(())
}

/// Waits until the instance's review scheduler has finished a pass.
async fn scheduler_pass(app: &TestApp) -> TestResult {
    let mut passes = app.state.reviews.subscribe();
    tokio::time::timeout(Duration::from_secs(120), passes.wait_for(|n| *n >= 1)).await??;
    Ok(())
}

#[tokio::test]
async fn two_instances_generate_last_months_reviews_once() -> TestResult {
    let first =
        TestApp::spawn_with(&["--demo-street", "true", "--review-scheduler", "true"]).await?;
    let second = first
        .second_instance(&["--review-scheduler", "true"])
        .await?;
    scheduler_pass(&first).await?;
    scheduler_pass(&second).await?;
    let last = Month::of(Utc::now()).previous().label();
    let db = &first.state.db;
    let rows = reviews::Entity::find()
        .filter(reviews::Column::Month.eq(&last))
        .all(db)
        .await?;
    // 118 grids, 6 communities and the street: one review each, version 1, by the scheduler.
    assert_eq!(rows.len(), 125);
    let areas: BTreeSet<&str> = rows.iter().map(|r| r.area_code.as_str()).collect();
    assert_eq!(areas.len(), 125);
    assert!(
        rows.iter()
            .all(|r| r.version == 1 && r.generated_by.is_none() && r.status == "draft")
    );
    let stamps: BTreeSet<DateTime<Utc>> = rows.iter().map(|r| r.generated_at).collect();
    assert_eq!(stamps.len(), 1, "generated in one pass by one instance");
    let month = review_months::Entity::find()
        .filter(review_months::Column::StreetCode.eq("QSH"))
        .all(db)
        .await?;
    assert_eq!(month.len(), 1);
    assert!(month[0].scheduled_at.is_some());
    // Another pass, from either instance, finds the month done.
    assert_eq!(
        gridwing_api::reviews::worker::pass(&second.state.db).await?,
        0
    );
    assert_eq!(
        reviews::Entity::find().count(db).await?,
        125,
        "nothing generated for any other month"
    );
    // Without the setting an instance generates nothing: the test harness's default.
    let quiet = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    assert_eq!(reviews::Entity::find().count(&quiet.state.db).await?, 0);
    Ok(())
}

#[tokio::test]
async fn the_street_is_mailed_once_when_every_grid_has_submitted() -> TestResult {
    use crate::mail::{Sink, addressed_to, free_port};
    use gridwing_api::entities::email_outbox;

    let sink = Sink::start(free_port()?, &[]).await?;
    let smtp = sink.url();
    let app = TestApp::spawn_with(&[
        "--demo-street",
        "true",
        "--review-scheduler",
        "true",
        "--smtp-url",
        &smtp,
        "--login-limit-per-addr",
        "1000",
    ])
    .await?;
    scheduler_pass(&app).await?;
    let admin = app.token(ADMIN).await?;
    // A worker serving the whole street writes every grid's assessment.
    let (status, u) = app
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({"phone": "13900000021", "name": "街道网格长", "password": "网格2026abc",
                   "roles": ["grid_worker"], "areas": [{"kind": "street", "code": "QSH"}]}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{u}");
    let chief = str_field(
        &app.login_pair("13900000021", "网格2026abc").await?,
        "access_token",
    )?;
    let last = Month::of(Utc::now()).previous().label();
    let listed = call_ok(
        &app,
        Method::GET,
        &format!("/api/v1/reviews?month={last}&scope=grid&limit=200"),
        &chief,
        None,
        StatusCode::OK,
    )
    .await?;
    let ids: Vec<String> = listed["items"]
        .as_array()
        .ok_or("items")?
        .iter()
        .filter_map(|x| x["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 118);
    let mailed = || async {
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
            email_outbox::Entity::find()
                .filter(email_outbox::Column::Subject.contains("月度研判"))
                .count(&app.state.db)
                .await?,
        )
    };
    for (i, id) in ids.iter().enumerate() {
        call_ok(
            &app,
            Method::PUT,
            &format!("/api/v1/reviews/{id}/assessment"),
            &chief,
            Some(json!({"assessment": "本月平稳。"})),
            StatusCode::OK,
        )
        .await?;
        if i + 1 < ids.len() {
            call_ok(
                &app,
                Method::POST,
                &format!("/api/v1/reviews/{id}/submit"),
                &chief,
                None,
                StatusCode::OK,
            )
            .await?;
        }
    }
    // 117 of 118 in: nobody is mailed yet.
    assert_eq!(mailed().await?, 0);
    let last_id = ids.last().ok_or("a grid")?;
    call_ok(
        &app,
        Method::POST,
        &format!("/api/v1/reviews/{last_id}/submit"),
        &chief,
        None,
        StatusCode::OK,
    )
    .await?;
    let queued = mailed().await?;
    assert!(queued >= 1);
    let got = sink
        .wait_for(queued as usize, Duration::from_secs(20))
        .await?;
    let m = addressed_to(&got, "zhihui@qsh.example.cn")?;
    let subject = m["subject"].as_str().unwrap_or_default();
    assert!(
        subject.contains("月度研判") && subject.contains(&last),
        "{m}"
    );
    assert!(
        m["body"].as_str().unwrap_or_default().contains("118"),
        "{m}"
    );
    // A correction submitted again mails nobody a second time.
    let v2 = call_ok(
        &app,
        Method::POST,
        &format!("/api/v1/reviews/{last_id}/versions"),
        &chief,
        None,
        StatusCode::CREATED,
    )
    .await?;
    let v2_id = str_field(&v2["review"], "id")?;
    call_ok(
        &app,
        Method::POST,
        &format!("/api/v1/reviews/{v2_id}/submit"),
        &chief,
        None,
        StatusCode::OK,
    )
    .await?;
    assert_eq!(mailed().await?, queued);
    let rows: Vec<(String, Option<DateTime<Utc>>)> = review_months::Entity::find()
        .select_only()
        .column(review_months::Column::StreetCode)
        .column(review_months::Column::NotifiedAt)
        .into_tuple()
        .all(&app.state.db)
        .await?;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].1.is_some());
    sink.stop().await
}
