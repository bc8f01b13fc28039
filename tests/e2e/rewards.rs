//! Points and rewards (积分兑换) over HTTP: admin adjustments and totals, the catalogue kept by
//! coordinators, redemptions that reserve stock and debit points in one transaction, cancels
//! that refund exactly once, and concurrent redemptions across two server instances that never
//! oversell a reward nor take a balance below zero.

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

/// POSTs with an `Idempotency-Key`; returns status, the replay header and the body.
async fn post_keyed(
    app: &TestApp,
    path: &str,
    token: &str,
    key: &str,
    body: Option<Value>,
) -> TestResult<(StatusCode, bool, Value)> {
    let mut rb = app
        .request(Method::POST, path, Some(token))
        .header("idempotency-key", key);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let res = rb.send().await?;
    let status = res.status();
    let replayed = res.headers().get("idempotent-replayed").is_some();
    let bytes = res.bytes().await?;
    Ok((
        status,
        replayed,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

async fn adjust(app: &TestApp, admin: &str, user: &str, amount: i64, key: &str) -> TestResult {
    let (status, _, body) = post_keyed(
        app,
        "/api/v1/points/adjustments",
        admin,
        key,
        Some(json!({"user_id": user, "amount": amount, "note": "测试发放"})),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Ok(())
}

async fn reward(app: &TestApp, coordinator: &str, body: Value) -> TestResult<Value> {
    let (status, created) = app.post("/api/v1/rewards", Some(coordinator), body).await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    Ok(created)
}

async fn stock(app: &TestApp, token: &str, code: &str) -> TestResult<Value> {
    let (status, r) = app
        .get(&format!("/api/v1/rewards/{code}"), Some(token))
        .await?;
    assert_eq!(status, StatusCode::OK, "{r}");
    Ok(r["stock"].clone())
}

/// The totals row of one source kind: (sum, count).
async fn total_of(app: &TestApp, admin: &str, kind: &str) -> TestResult<(i64, i64)> {
    let (status, t) = app.get("/api/v1/points/totals", Some(admin)).await?;
    assert_eq!(status, StatusCode::OK, "{t}");
    let kinds = t["kinds"]
        .as_array()
        .ok_or_else(|| format!("no kinds in {t}"))?;
    let mut found = None;
    for k in kinds {
        let named = k["source_kind"]
            .as_str()
            .ok_or_else(|| format!("a kind without its name: {k}"))?;
        let (Some(sum), Some(count)) = (k["sum"].as_i64(), k["count"].as_i64()) else {
            return Err(format!("a kind without its sum and count: {k}").into());
        };
        if named == kind {
            assert!(found.is_none(), "{kind} listed twice: {t}");
            found = Some((sum, count));
        }
    }
    // A kind nobody has earned or spent from is not listed.
    Ok(found.unwrap_or((0, 0)))
}

fn rule_of(p: &Value) -> String {
    p["errors"][0]["rule"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn admins_adjust_balances_once_per_key_and_never_below_zero() -> TestResult {
    let app = TestApp::spawn().await?;
    let admin = app.token(ADMIN).await?;
    let citizen = app.token(CITIZEN).await?;
    let id = my_id(&app, &citizen).await?;
    let path = "/api/v1/points/adjustments";
    let body = json!({"user_id": id, "amount": 100, "note": "补记志愿服务积分"});

    let (status, replayed, first) =
        post_keyed(&app, path, &admin, "adj-1", Some(body.clone())).await?;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert!(!replayed);
    assert_eq!(first["source_kind"], "adjustment");
    let admin_id = my_id(&app, &admin).await?;
    assert_eq!(first["source_id"], format!("{admin_id}:adj-1"));
    assert_eq!(first["amount"], 100);
    assert_eq!(first["note"], "补记志愿服务积分");
    // A retry is the same row, and pays nothing more.
    let (status, replayed, again) = post_keyed(&app, path, &admin, "adj-1", Some(body)).await?;
    assert_eq!((status, replayed), (StatusCode::CREATED, true));
    assert_eq!(again["id"], first["id"]);
    assert_eq!(balance(&app, &citizen).await?, 100);
    // The key of another adjustment is refused.
    let (status, _, p) = post_keyed(
        &app,
        path,
        &admin,
        "adj-1",
        Some(json!({"user_id": id, "amount": 5, "note": "另一笔"})),
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(error_fields(&p), ["Idempotency-Key"]);

    // A key belongs to the admin who sent it: a second admin's same key is that admin's own
    // adjustment, never a replay of the first admin's row, nor a refusal that reveals it.
    app.create_user(&admin, "13800000081", &["admin"], "调整2026abc")
        .await?;
    let other = app
        .login_pair("13800000081", "调整2026abc")
        .await
        .and_then(|p| str_field(&p, "access_token"))?;
    // Even with the very same body, it is a second adjustment of the second admin's.
    let (status, replayed, theirs) = post_keyed(
        &app,
        path,
        &other,
        "adj-1",
        Some(json!({"user_id": id, "amount": 100, "note": "补记志愿服务积分"})),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    assert!(!replayed, "another admin's key is not a replay: {theirs}");
    assert_ne!(theirs["id"], first["id"]);
    assert_eq!(balance(&app, &citizen).await?, 200);
    let (status, _, p) = post_keyed(
        &app,
        path,
        &admin,
        "adj-undo",
        Some(json!({"user_id": id, "amount": -100, "note": "撤回"})),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{p}");

    // Below zero is refused, naming the balance, and changes nothing.
    let (status, _, p) = post_keyed(
        &app,
        path,
        &admin,
        "adj-2",
        Some(json!({"user_id": id, "amount": -150, "note": "扣回"})),
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(error_fields(&p), ["amount"]);
    assert_eq!(rule_of(&p), "insufficient_points");
    assert!(
        p["detail"].as_str().unwrap_or_default().contains("100"),
        "{p}"
    );
    assert_eq!(balance(&app, &citizen).await?, 100);
    let (status, _, _) = post_keyed(
        &app,
        path,
        &admin,
        "adj-3",
        Some(json!({"user_id": id, "amount": -40, "note": "误发扣回"})),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(balance(&app, &citizen).await?, 60);

    // Bad input names its field; no key, no adjustment.
    let (status, _, p) = post_keyed(
        &app,
        path,
        &admin,
        "adj-5",
        Some(json!({"user_id": id, "amount": 0, "note": " "})),
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let mut fields = error_fields(&p);
    fields.sort();
    assert_eq!(fields, ["amount", "note"]);
    let p = problem(
        &app,
        Method::POST,
        path,
        &admin,
        Some(json!({"user_id": id, "amount": 1, "note": "x"})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["Idempotency-Key"]);
    let (status, _, p) = post_keyed(
        &app,
        path,
        &admin,
        "adj-4",
        Some(json!({"user_id": "00000000-0000-7000-8000-000000000000", "amount": 1, "note": "x"})),
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(error_fields(&p), ["user_id"]);

    // Totals: the sum and count of rows per kind, and the balance is their sum.
    assert_eq!(total_of(&app, &admin, "adjustment").await?, (60, 4));
    let (_, t) = app.get("/api/v1/points/totals", Some(&admin)).await?;
    assert_eq!(t["sum"], 60);
    let (_, me) = app.get("/api/v1/points/me", Some(&citizen)).await?;
    assert_eq!(me["balance"], 60);
    assert_eq!(me["history"]["items"].as_array().map(Vec::len), Some(4));
    Ok(())
}

#[tokio::test]
async fn coordinators_keep_the_catalogue_and_everyone_lists_what_is_offered() -> TestResult {
    let app = TestApp::spawn().await?;
    let coordinator = app.token(COORDINATOR).await?;
    let citizen = app.token(CITIZEN).await?;
    let rice = reward(&app, &coordinator, json!({"code": "RICE-5KG", "name": "五常大米 5 公斤", "kind": "goods", "cost": 300, "stock": 10})).await?;
    assert_eq!(rice["stock"], 10);
    assert_eq!(rice["active"], true);
    let gift = reward(
        &app,
        &coordinator,
        json!({"code": "DONATE-10", "name": "爱心捐赠 10 积分", "kind": "donation", "cost": 10}),
    )
    .await?;
    assert_eq!(gift["stock"], Value::Null);
    reward(&app, &coordinator, json!({"code": "HAIRCUT", "name": "义剪一次", "kind": "service", "cost": 50, "stock": 3, "active": false})).await?;

    // Citizens see the active ones, page by page; the inactive one is hidden from them.
    let (_, page) = app.get("/api/v1/rewards?limit=1", Some(&citizen)).await?;
    assert_eq!(page["items"][0]["code"], "RICE-5KG");
    let cursor = str_field(&page, "next_cursor")?;
    let (_, page) = app
        .get(
            &format!("/api/v1/rewards?limit=1&cursor={cursor}"),
            Some(&citizen),
        )
        .await?;
    assert_eq!(page["items"][0]["code"], "DONATE-10");
    assert!(page["next_cursor"].is_null(), "{page}");
    let (_, all) = app
        .get("/api/v1/rewards?include_inactive=true", Some(&citizen))
        .await?;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(2));
    let (_, all) = app
        .get("/api/v1/rewards?include_inactive=true", Some(&coordinator))
        .await?;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(3));
    problem(
        &app,
        Method::GET,
        "/api/v1/rewards/HAIRCUT",
        &citizen,
        None,
        404,
        "not-found",
    )
    .await?;

    // Rules of the catalogue.
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/rewards",
        &coordinator,
        Some(json!({"code": "bad code", "name": "", "kind": "donation", "cost": 0, "stock": 5})),
        422,
        "validation-failed",
    )
    .await?;
    let mut fields = error_fields(&p);
    fields.sort();
    assert_eq!(fields, ["code", "cost", "name", "stock"]);
    problem(
        &app,
        Method::POST,
        "/api/v1/rewards",
        &coordinator,
        Some(json!({"code": "RICE-5KG", "name": "重复", "kind": "goods", "cost": 1})),
        409,
        "conflict",
    )
    .await?;
    problem(
        &app,
        Method::POST,
        "/api/v1/rewards",
        &citizen,
        Some(json!({"code": "X", "name": "x", "kind": "goods", "cost": 1})),
        403,
        "forbidden",
    )
    .await?;

    // Restock by delta, never below zero, never for unlimited rewards.
    let (status, r) = app
        .call(
            Method::PATCH,
            "/api/v1/rewards/RICE-5KG",
            Some(&coordinator),
            Some(json!({"add_stock": 5, "cost": 280, "name": "东北大米 5 公斤"})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(
        (r["stock"].clone(), r["cost"].clone(), r["name"].clone()),
        (json!(15), json!(280), json!("东北大米 5 公斤"))
    );
    let p = problem(
        &app,
        Method::PATCH,
        "/api/v1/rewards/RICE-5KG",
        &coordinator,
        Some(json!({"add_stock": -16})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(rule_of(&p), "below_zero");
    assert_eq!(stock(&app, &citizen, "RICE-5KG").await?, 15);
    let p = problem(
        &app,
        Method::PATCH,
        "/api/v1/rewards/DONATE-10",
        &coordinator,
        Some(json!({"add_stock": 1})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(rule_of(&p), "unlimited");
    let (status, r) = app
        .call(
            Method::PATCH,
            "/api/v1/rewards/HAIRCUT",
            Some(&coordinator),
            Some(json!({"active": true})),
        )
        .await?;
    assert_eq!((status, r["active"].clone()), (StatusCode::OK, json!(true)));
    assert_eq!(stock(&app, &citizen, "HAIRCUT").await?, 3);
    Ok(())
}

#[tokio::test]
async fn a_redemption_reserves_and_debits_and_a_cancel_refunds_exactly_once() -> TestResult {
    let app = TestApp::spawn().await?;
    let admin = app.token(ADMIN).await?;
    let coordinator = app.token(COORDINATOR).await?;
    let citizen = app.token(CITIZEN).await?;
    let other = app.token(GRID_WORKER).await?;
    let id = my_id(&app, &citizen).await?;
    adjust(&app, &admin, &id, 500, "grant").await?;
    reward(
        &app,
        &coordinator,
        json!({"code": "OIL", "name": "食用油一桶", "kind": "goods", "cost": 300, "stock": 2}),
    )
    .await?;
    let path = "/api/v1/rewards/OIL/redeem";

    let (status, replayed, first) = post_keyed(&app, path, &citizen, "r-1", None).await?;
    assert_eq!((status, replayed), (StatusCode::CREATED, false), "{first}");
    assert_eq!(first["status"], "reserved");
    assert_eq!(first["reward_code"], "OIL");
    assert_eq!(first["cost"], 300);
    assert_eq!(balance(&app, &citizen).await?, 200);
    assert_eq!(stock(&app, &citizen, "OIL").await?, 1);
    // A retry answers with the same redemption and takes nothing more.
    let (status, replayed, again) = post_keyed(&app, path, &citizen, "r-1", None).await?;
    assert_eq!((status, replayed), (StatusCode::CREATED, true));
    assert_eq!(again["id"], first["id"]);
    assert_eq!(balance(&app, &citizen).await?, 200);
    assert_eq!(stock(&app, &citizen, "OIL").await?, 1);

    // Beyond the balance: 422 naming it, nothing reserved.
    let (status, _, p) = post_keyed(&app, path, &citizen, "r-2", None).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(rule_of(&p), "insufficient_points");
    assert!(
        p["detail"].as_str().unwrap_or_default().contains("200"),
        "{p}"
    );
    assert_eq!(stock(&app, &citizen, "OIL").await?, 1);
    assert_eq!(balance(&app, &citizen).await?, 200);
    // No key, no redemption.
    let p = problem(
        &app,
        Method::POST,
        path,
        &citizen,
        None,
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["Idempotency-Key"]);

    // Someone else's redemption: 404 to see or cancel.
    let rid = str_field(&first, "id")?;
    let cancel = format!("/api/v1/redemptions/{rid}/cancel");
    problem(&app, Method::POST, &cancel, &other, None, 404, "not-found").await?;
    problem(
        &app,
        Method::GET,
        &format!("/api/v1/redemptions/{rid}"),
        &other,
        None,
        404,
        "not-found",
    )
    .await?;

    // The redeemer cancels: the unit is back and the points refunded, once.
    let (status, c) = app.post(&cancel, Some(&citizen), json!({})).await?;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "cancelled");
    assert!(c["cancelled_at"].is_string());
    assert_eq!(balance(&app, &citizen).await?, 500);
    assert_eq!(stock(&app, &citizen, "OIL").await?, 2);
    let p = problem(&app, Method::POST, &cancel, &citizen, None, 409, "conflict").await?;
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("cancelled"),
        "{p}"
    );
    problem(
        &app,
        Method::POST,
        &cancel,
        &coordinator,
        None,
        409,
        "conflict",
    )
    .await?;
    assert_eq!(balance(&app, &citizen).await?, 500);
    assert_eq!(stock(&app, &citizen, "OIL").await?, 2);
    assert_eq!(total_of(&app, &admin, "redemption").await?, (-300, 1));
    assert_eq!(total_of(&app, &admin, "redemption_refund").await?, (300, 1));
    // A retry of the cancelled redemption's key still answers with it, and debits nothing.
    let (_, replayed, again) = post_keyed(&app, path, &citizen, "r-1", None).await?;
    assert!(replayed);
    assert_eq!(again["status"], "cancelled");
    assert_eq!(balance(&app, &citizen).await?, 500);

    // Fulfilled by a coordinator; the redeemer can no longer cancel it.
    let (_, _, second) = post_keyed(&app, path, &citizen, "r-3", None).await?;
    let rid2 = str_field(&second, "id")?;
    problem(
        &app,
        Method::POST,
        &format!("/api/v1/redemptions/{rid2}/fulfil"),
        &citizen,
        None,
        403,
        "forbidden",
    )
    .await?;
    let (status, f) = app
        .post(
            &format!("/api/v1/redemptions/{rid2}/fulfil"),
            Some(&coordinator),
            json!({}),
        )
        .await?;
    assert_eq!(
        (status, f["status"].clone()),
        (StatusCode::OK, json!("fulfilled")),
        "{f}"
    );
    problem(
        &app,
        Method::POST,
        &format!("/api/v1/redemptions/{rid2}/fulfil"),
        &coordinator,
        None,
        409,
        "conflict",
    )
    .await?;
    problem(
        &app,
        Method::POST,
        &format!("/api/v1/redemptions/{rid2}/cancel"),
        &citizen,
        None,
        409,
        "conflict",
    )
    .await?;
    assert_eq!(balance(&app, &citizen).await?, 200);

    // A coordinator may cancel anyone's reserved redemption.
    adjust(&app, &admin, &id, 100, "grant-2").await?;
    let (_, _, third) = post_keyed(&app, path, &citizen, "r-4", None).await?;
    let rid3 = str_field(&third, "id")?;
    let (status, c) = app
        .post(
            &format!("/api/v1/redemptions/{rid3}/cancel"),
            Some(&coordinator),
            json!({}),
        )
        .await?;
    assert_eq!(
        (status, c["status"].clone()),
        (StatusCode::OK, json!("cancelled")),
        "{c}"
    );
    assert_eq!(balance(&app, &citizen).await?, 300);

    // Lists: the user's own; coordinators all, by status.
    let (_, mine) = app.get("/api/v1/redemptions/me", Some(&citizen)).await?;
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(mine["items"][0]["id"], json!(rid3));
    let (_, none) = app.get("/api/v1/redemptions/me", Some(&other)).await?;
    assert_eq!(none["items"], json!([]));
    let (_, fulfilled) = app
        .get("/api/v1/redemptions?status=fulfilled", Some(&coordinator))
        .await?;
    assert_eq!(fulfilled["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(fulfilled["items"][0]["id"], json!(rid2));
    let (_, cancelled) = app
        .get("/api/v1/redemptions?status=cancelled", Some(&coordinator))
        .await?;
    assert_eq!(cancelled["items"].as_array().map(Vec::len), Some(2));

    // An inactive reward, and one out of stock, are refused and change nothing.
    app.call(
        Method::PATCH,
        "/api/v1/rewards/OIL",
        Some(&coordinator),
        Some(json!({"active": false})),
    )
    .await?;
    let (status, _, p) = post_keyed(&app, path, &citizen, "r-5", None).await?;
    assert_eq!(
        (status, rule_of(&p)),
        (StatusCode::UNPROCESSABLE_ENTITY, "inactive".to_owned()),
        "{p}"
    );
    reward(
        &app,
        &coordinator,
        json!({"code": "LAST", "name": "最后一件", "kind": "goods", "cost": 10, "stock": 0}),
    )
    .await?;
    let (status, _, p) =
        post_keyed(&app, "/api/v1/rewards/LAST/redeem", &citizen, "r-6", None).await?;
    assert_eq!(
        (status, rule_of(&p)),
        (StatusCode::UNPROCESSABLE_ENTITY, "out_of_stock".to_owned()),
        "{p}"
    );
    let (status, _, p) =
        post_keyed(&app, "/api/v1/rewards/NOPE/redeem", &citizen, "r-7", None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{p}");
    assert_eq!(balance(&app, &citizen).await?, 300);

    // A donation has no stock to run out of.
    reward(
        &app,
        &coordinator,
        json!({"code": "DONATE", "name": "爱心捐赠", "kind": "donation", "cost": 100}),
    )
    .await?;
    for key in ["d-1", "d-2", "d-3"] {
        let (status, _, d) =
            post_keyed(&app, "/api/v1/rewards/DONATE/redeem", &citizen, key, None).await?;
        assert_eq!(status, StatusCode::CREATED, "{d}");
    }
    assert_eq!(balance(&app, &citizen).await?, 0);
    assert_eq!(stock(&app, &citizen, "DONATE").await?, Value::Null);
    Ok(())
}

/// A server and a second instance on the same database, as behind a load balancer; requests
/// alternate between them.
async fn two_instances() -> TestResult<(TestApp, TestApp)> {
    let flags = [
        "--login-limit-per-addr",
        "1000",
        "--login-limit-per-account",
        "1000",
    ];
    let app = TestApp::spawn_with(&flags).await?;
    let second = app.second_instance(&flags).await?;
    Ok((app, second))
}

#[tokio::test]
async fn twenty_users_at_once_never_oversell_five_units() -> TestResult {
    let (app, second) = two_instances().await?;
    let admin = app.token(ADMIN).await?;
    let coordinator = app.token(COORDINATOR).await?;
    reward(
        &app,
        &coordinator,
        json!({"code": "LANTERN", "name": "元宵灯笼", "kind": "goods", "cost": 50, "stock": 5}),
    )
    .await?;
    let mut tokens = Vec::new();
    for i in 0..20 {
        let phone = format!("139{i:08}");
        let id = app
            .create_user(&admin, &phone, &["citizen"], "绿色积分-2026")
            .await?;
        adjust(&app, &admin, &id, 100, &format!("grant-{i}")).await?;
        let pair = app.login_pair(&phone, "绿色积分-2026").await?;
        tokens.push(str_field(&pair, "access_token")?);
    }
    let answers = join_all(tokens.iter().enumerate().map(|(i, t)| {
        let target = if i % 2 == 0 { &app } else { &second };
        post_keyed(target, "/api/v1/rewards/LANTERN/redeem", t, "lantern", None)
    }))
    .await;
    let mut won = 0;
    for a in answers {
        let (status, _, body) = a?;
        match status {
            StatusCode::CREATED => won += 1,
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_eq!(rule_of(&body), "out_of_stock", "{body}")
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(won, 5);
    assert_eq!(stock(&app, &coordinator, "LANTERN").await?, 0);
    assert_eq!(total_of(&app, &admin, "redemption").await?, (-250, 5));
    let (_, all) = app
        .get("/api/v1/redemptions?status=reserved", Some(&coordinator))
        .await?;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(5));
    // Those who lost keep their points.
    let mut balances = Vec::new();
    for t in &tokens {
        balances.push(balance(&app, t).await?);
    }
    balances.sort_unstable();
    assert_eq!(balances, [vec![50; 5], vec![100; 15]].concat());
    Ok(())
}

#[tokio::test]
async fn ten_concurrent_redemptions_of_one_user_spend_only_what_there_is() -> TestResult {
    let (app, second) = two_instances().await?;
    let admin = app.token(ADMIN).await?;
    let coordinator = app.token(COORDINATOR).await?;
    let citizen = app.token(CITIZEN).await?;
    let id = my_id(&app, &citizen).await?;
    adjust(&app, &admin, &id, 200, "grant").await?;
    reward(
        &app,
        &coordinator,
        json!({"code": "TOWEL", "name": "毛巾", "kind": "goods", "cost": 100, "stock": 100}),
    )
    .await?;
    let keys: Vec<String> = (0..10).map(|i| format!("towel-{i}")).collect();
    let answers = join_all(keys.iter().enumerate().map(|(i, k)| {
        let target = if i % 2 == 0 { &app } else { &second };
        post_keyed(target, "/api/v1/rewards/TOWEL/redeem", &citizen, k, None)
    }))
    .await;
    let mut won = 0;
    for a in answers {
        let (status, _, body) = a?;
        match status {
            StatusCode::CREATED => won += 1,
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_eq!(rule_of(&body), "insufficient_points", "{body}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(won, 2);
    assert_eq!(balance(&app, &citizen).await?, 0);
    assert_eq!(stock(&app, &citizen, "TOWEL").await?, 98);
    assert_eq!(total_of(&app, &admin, "redemption").await?, (-200, 2));
    // The running balance, replayed oldest first, never dipped below zero.
    let (_, me) = app.get("/api/v1/points/me", Some(&citizen)).await?;
    let items = me["history"]["items"]
        .as_array()
        .ok_or_else(|| format!("no history in {me}"))?;
    let mut amounts = Vec::new();
    for r in items.iter().rev() {
        amounts.push(
            r["amount"]
                .as_i64()
                .ok_or_else(|| format!("no amount in {r}"))?,
        );
    }
    // The grant, then exactly the two redemptions that won, each of the reward's cost.
    assert_eq!(amounts, [200, -100, -100], "{me}");
    let mut running = 0;
    for amount in amounts {
        running += amount;
        assert!(running >= 0, "balance went to {running}");
    }
    assert_eq!(running, 0);
    Ok(())
}
