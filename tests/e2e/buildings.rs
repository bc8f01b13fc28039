//! Buildings over HTTP on the demo street: who sees a profile whole, masked or not at all; visits
//! that change a profile, go into its history and turn it green; registering buildings by their
//! point (WGS84 or GCJ-02); the signed QR code as PNG and SVG, scanned by each role; key
//! rotation that keeps printed codes working; and the printable QR sheet command.

use std::collections::BTreeSet;

use clap::Parser;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::poppler;
use crate::support::*;

const STREET: &[&str] = &["--demo-street", "true"];

/// Every item of a list, following `next_cursor` to the last page.
async fn all_items(app: &TestApp, token: &str, path: &str) -> TestResult<Vec<Value>> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}cursor={c}"),
            None => path.to_owned(),
        };
        let (status, page) = app.get(&url, Some(token)).await?;
        assert_eq!(status, StatusCode::OK, "{url}: {page}");
        items.extend(page["items"].as_array().ok_or("no items")?.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(items),
        }
    }
    Err(format!("{path}: more than 1000 pages").into())
}

/// The `code` of each item.
fn codes(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| i["code"].as_str().map(str::to_owned))
        .collect()
}

/// Every resident of every unit of a profile, in the order shown.
fn residents(profile: &Value) -> Vec<Value> {
    profile["units"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|u| u["residents"].as_array().into_iter().flatten().cloned())
        .collect()
}

/// The unit with this number.
fn unit<'a>(profile: &'a Value, number: &str) -> TestResult<&'a Value> {
    profile["units"]
        .as_array()
        .ok_or("no units")?
        .iter()
        .find(|u| u["number"] == number)
        .ok_or_else(|| format!("no unit {number} in {profile}").into())
}

/// `139****1234`.
fn is_masked_phone(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11
        && b[..3].iter().all(u8::is_ascii_digit)
        && &b[3..7] == b"****"
        && b[7..].iter().all(u8::is_ascii_digit)
}

/// `330112********123X`.
fn is_masked_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 18
        && b[..6].iter().all(u8::is_ascii_digit)
        && b[6..14].iter().all(|c| *c == b'*')
        && b[14..17].iter().all(u8::is_ascii_digit)
        && (b[17].is_ascii_digit() || b[17] == b'X')
}

#[tokio::test]
async fn profiles_are_whole_for_their_grid_masked_for_other_staff_and_hidden_elsewhere()
-> TestResult {
    let app = TestApp::spawn_with(STREET).await?;
    let worker = app.token(GRID_WORKER).await?;
    let other = app.token(OTHER_GRID_WORKER).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let admin = app.token(ADMIN).await?;
    let citizen = app.token(CITIZEN).await?;

    // The grid's own worker sees the whole profile.
    let (status, whole) = app
        .get("/api/v1/buildings/QSH-B0001", Some(&worker))
        .await?;
    assert_eq!(status, StatusCode::OK, "{whole}");
    assert_eq!(whole["code"], "QSH-B0001");
    assert_eq!(whole["grid_code"], "QSH-G001");
    assert_eq!(whole["micro_grid_code"], "QSH-G001-01");
    assert_eq!(whole["masked"], false);
    let people = residents(&whole);
    assert!(!people.is_empty(), "QSH-B0001 has residents: {whole}");
    for r in &people {
        let phone = r["phone"].as_str().ok_or("resident without phone")?;
        assert!(
            phone.len() == 11 && phone.bytes().all(|b| b.is_ascii_digit()),
            "{r}"
        );
        let id = r["id_number"].as_str().ok_or("resident without id")?;
        assert_eq!(id.chars().count(), 18, "{r}");
        assert!(id.bytes().take(17).all(|b| b.is_ascii_digit()), "{r}");
    }

    // Other staff see the same profile with the numbers masked, and no full number anywhere.
    for token in [&dispatcher, &admin] {
        let (status, masked) = app.get("/api/v1/buildings/QSH-B0001", Some(token)).await?;
        assert_eq!(status, StatusCode::OK, "{masked}");
        assert_eq!(masked["masked"], true);
        let shown = residents(&masked);
        assert_eq!(shown.len(), people.len());
        for (full, m) in people.iter().zip(&shown) {
            assert_eq!(m["name"], full["name"]);
            assert_eq!(m["relation"], full["relation"]);
            let phone = m["phone"].as_str().ok_or("no masked phone")?;
            let id = m["id_number"].as_str().ok_or("no masked id")?;
            assert!(is_masked_phone(phone), "{phone}");
            assert!(is_masked_id(id), "{id}");
            let full_phone = full["phone"].as_str().ok_or("no phone")?;
            let full_id = full["id_number"].as_str().ok_or("no id")?;
            assert_eq!(
                phone,
                format!("{}****{}", &full_phone[..3], &full_phone[7..])
            );
            assert_eq!(id, format!("{}********{}", &full_id[..6], &full_id[14..]));
        }
        let text = masked.to_string();
        for full in &people {
            for field in ["phone", "id_number"] {
                let number = full[field].as_str().ok_or("no number")?;
                assert!(!text.contains(number), "{number} leaks to other staff");
            }
        }
    }

    // A grid worker of another grid does not learn the building exists; citizens are refused.
    for path in [
        "/api/v1/buildings/QSH-B0001",
        "/api/v1/buildings/QSH-B0001/history",
    ] {
        problem(&app, Method::GET, path, &other, None, 404, "not-found").await?;
        problem(&app, Method::GET, path, &citizen, None, 403, "forbidden").await?;
    }
    problem(
        &app,
        Method::GET,
        "/api/v1/buildings",
        &citizen,
        None,
        403,
        "forbidden",
    )
    .await?;

    // Lists: each grid worker sees exactly the buildings of their grid, over every page.
    for (token, grid) in [(&other, "QSH-G002"), (&worker, "QSH-G001")] {
        let seen = all_items(&app, token, "/api/v1/buildings?limit=200").await?;
        assert!(!seen.is_empty(), "{grid} has buildings");
        for b in &seen {
            assert_eq!(b["grid_code"], grid, "{b}");
            assert!(b.get("units").is_none(), "lists carry no people: {b}");
        }
        let all_of_grid = all_items(
            &app,
            &admin,
            &format!("/api/v1/buildings?grid={grid}&limit=200"),
        )
        .await?;
        assert_eq!(codes(&seen), codes(&all_of_grid), "{grid}");
        let unique: BTreeSet<String> = codes(&seen).into_iter().collect();
        assert_eq!(unique.len(), seen.len(), "no building twice across pages");
    }
    let others = codes(&all_items(&app, &other, "/api/v1/buildings?limit=200").await?);
    assert!(!others.iter().any(|c| c == "QSH-B0001"));
    // Asking for another grid by filter does not widen what a grid worker sees.
    let (status, page) = app
        .get("/api/v1/buildings?grid=QSH-G001", Some(&other))
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"], json!([]), "{page}");

    // Search: part of a code in any case, or of an address; LIKE's wildcards are only text.
    let found = all_items(&app, &admin, "/api/v1/buildings?q=qsh-b000&limit=200").await?;
    assert_eq!(
        codes(&found),
        (1..=9).map(|i| format!("QSH-B000{i}")).collect::<Vec<_>>()
    );
    let (_, page) = app
        .get(
            "/api/v1/buildings?q=%E9%9D%92%E5%B1%B1%E6%9D%911%E5%B9%A2",
            Some(&admin),
        )
        .await?;
    let items = page["items"].as_array().ok_or("items")?;
    assert!(items.iter().any(|b| b["code"] == "QSH-B0001"), "{page}");
    assert!(items.iter().all(|b| {
        [&b["code"], &b["name"], &b["address"]]
            .iter()
            .any(|v| v.as_str().is_some_and(|t| t.contains("青山村1幢")))
    }));
    for wildcard in ["_", "%25"] {
        let (status, page) = app
            .get(&format!("/api/v1/buildings?q={wildcard}"), Some(&admin))
            .await?;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["items"], json!([]), "{wildcard}: {page}");
    }
    // A grid worker's search stays inside their grid.
    let mine = all_items(&app, &other, "/api/v1/buildings?q=QSH-B&limit=200").await?;
    assert!(!mine.is_empty());
    assert!(mine.iter().all(|b| b["grid_code"] == "QSH-G002"));
    Ok(())
}

#[tokio::test]
async fn a_visit_updates_the_profile_records_history_and_turns_it_green() -> TestResult {
    let app = TestApp::spawn_with(STREET).await?;
    let worker = app.token(GRID_WORKER).await?;
    let other = app.token(OTHER_GRID_WORKER).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let citizen = app.token(CITIZEN).await?;
    let path = "/api/v1/buildings/QSH-B0001";

    let (_, before) = app.get(path, Some(&worker)).await?;
    assert_eq!(before["freshness"], "red", "{before}");
    assert!(before["verified_at"].is_null());
    let numbers: Vec<String> = before["units"]
        .as_array()
        .ok_or("no units")?
        .iter()
        .filter_map(|u| u["number"].as_str().map(str::to_owned))
        .collect();
    assert!(numbers.len() >= 2, "{before}");
    let first = numbers[0].clone();
    let old_people = unit(&before, &first)?["residents"].clone();

    let body = json!({
        "notes": "楼道堆物已清理",
        "units": [{"number": first, "residents": [{
            "name": "张三", "phone": "13900001111",
            "id_number": "33011219800101123X", "relation": "户主"
        }]}]
    });
    // Only the grid's own workers (and admins) may change it.
    problem(
        &app,
        Method::PATCH,
        path,
        &citizen,
        Some(body.clone()),
        403,
        "forbidden",
    )
    .await?;
    problem(
        &app,
        Method::PATCH,
        path,
        &other,
        Some(body.clone()),
        404,
        "not-found",
    )
    .await?;
    problem(
        &app,
        Method::PATCH,
        path,
        &dispatcher,
        Some(body.clone()),
        403,
        "forbidden",
    )
    .await?;
    let (_, unchanged) = app.get(path, Some(&worker)).await?;
    assert_eq!(unchanged, before, "refused changes wrote nothing");

    let (status, res) = app
        .call(Method::PATCH, path, Some(&worker), Some(body))
        .await?;
    assert_eq!(status, StatusCode::OK, "{res}");
    let changes = res["changes"].as_array().ok_or("no changes")?;
    let fields: BTreeSet<&str> = changes.iter().filter_map(|c| c["field"].as_str()).collect();
    let residents_field = format!("units[{first}].residents");
    assert_eq!(
        fields,
        BTreeSet::from(["notes", residents_field.as_str()]),
        "{res}"
    );
    let notes = changes
        .iter()
        .find(|c| c["field"] == "notes")
        .ok_or("no notes change")?;
    assert_eq!(notes["from"], Value::Null);
    assert_eq!(notes["to"], "楼道堆物已清理");
    let people = changes
        .iter()
        .find(|c| c["field"] == residents_field)
        .ok_or("no residents change")?;
    assert_eq!(people["to"], "张三(139****1111)");

    // The profile is green again, as is the unit visited; the others stay unchecked.
    let (_, after) = app.get(path, Some(&worker)).await?;
    assert_eq!(res["profile"], after);
    assert_eq!(after["freshness"], "green");
    assert!(after["verified_at"].is_string(), "{after}");
    assert_eq!(after["notes"], "楼道堆物已清理");
    assert_eq!(after["masked"], false);
    let visited = unit(&after, &first)?;
    assert_eq!(visited["freshness"], "green");
    assert!(visited["verified_at"].is_string());
    assert_eq!(
        visited["residents"],
        json!([{"name": "张三", "phone": "13900001111",
                "id_number": "33011219800101123X", "relation": "户主"}])
    );
    for n in &numbers[1..] {
        let u = unit(&after, n)?;
        assert_eq!(u["freshness"], "red", "{u}");
        assert!(u["verified_at"].is_null());
        assert_eq!(u, unit(&before, n)?, "untouched unit {n}");
    }
    assert_ne!(old_people, visited["residents"]);

    // The history shows who came and what changed, without full numbers.
    let (status, history) = app.get(&format!("{path}/history"), Some(&worker)).await?;
    assert_eq!(status, StatusCode::OK, "{history}");
    let visits = history["items"].as_array().ok_or("no history")?;
    assert_eq!(visits.len(), 1, "{history}");
    assert_eq!(visits[0]["actor_name"], "王网格");
    assert_eq!(visits[0]["unit_number"], first.as_str());
    assert_eq!(&visits[0]["changes"], &res["changes"]);
    assert!(!history.to_string().contains("13900001111"), "{history}");
    assert!(history.to_string().contains("139****1111"));
    let rows = app
        .state
        .db
        .query_all_raw(Statement::from_string(
            app.state.db.get_database_backend(),
            "SELECT changes FROM building_visits",
        ))
        .await?;
    assert_eq!(rows.len(), 1);
    let stored: String = rows[0].try_get("", "changes")?;
    assert!(stored.contains("张三"), "{stored}");
    assert!(!stored.contains("13900001111"), "stored history: {stored}");
    assert!(
        !stored.contains("33011219800101123X"),
        "stored history: {stored}"
    );

    // Freshness filters follow.
    let green = "/api/v1/buildings?grid=QSH-G001&freshness=green&limit=200";
    let red = "/api/v1/buildings?grid=QSH-G001&freshness=red&limit=200";
    assert_eq!(
        codes(&all_items(&app, &worker, green).await?),
        ["QSH-B0001"]
    );
    let reds = codes(&all_items(&app, &worker, red).await?);
    assert!(!reds.iter().any(|c| c == "QSH-B0001"));
    assert!(reds.iter().any(|c| c == "QSH-B0002"));

    // A visit that finds everything as it was: no changes, but green and in the history.
    let (status, res) = app
        .call(
            Method::PATCH,
            "/api/v1/buildings/QSH-B0002",
            Some(&worker),
            Some(json!({})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["changes"], json!([]));
    assert_eq!(res["profile"]["freshness"], "green");
    let (_, history) = app
        .get("/api/v1/buildings/QSH-B0002/history", Some(&worker))
        .await?;
    assert_eq!(history["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(history["items"][0]["changes"], json!([]));
    assert_eq!(history["items"][0]["actor_name"], "王网格");
    assert_eq!(
        codes(&all_items(&app, &worker, green).await?),
        ["QSH-B0001", "QSH-B0002"]
    );
    let reds = codes(&all_items(&app, &worker, red).await?);
    assert!(!reds.iter().any(|c| c == "QSH-B0002"));

    // Bad input is refused, naming the field, and writes nothing.
    let (_, before) = app.get(path, Some(&worker)).await?;
    let p = problem(
        &app,
        Method::PATCH,
        path,
        &worker,
        Some(json!({"notes": "不应写入", "colour": "red"})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["colour"], "{p}");
    assert_eq!(p["errors"][0]["rule"], "unknown_field");
    let p = problem(
        &app,
        Method::PATCH,
        path,
        &worker,
        Some(json!({"units": [{"number": first, "residents": [{"name": "李四", "age": 30}]}]})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["units[0].residents[0].age"], "{p}");
    let p = problem(
        &app,
        Method::PATCH,
        path,
        &worker,
        Some(
            json!({"notes": "不应写入", "units": [{"number": first, "residents": [
                {"name": "李四", "phone": "13900002222", "id_number": "123"}
            ]}]}),
        ),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["units[0].residents[0].id_number"], "{p}");
    // A unit to remove that does not exist, after one that does: the whole visit is undone.
    let p = problem(
        &app,
        Method::PATCH,
        path,
        &worker,
        Some(json!({"notes": "不应写入", "remove_units": [numbers[1], "9单元999"]})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["remove_units"], "{p}");
    let (_, after) = app.get(path, Some(&worker)).await?;
    assert_eq!(after, before, "nothing half-written");
    let (_, history) = app.get(&format!("{path}/history"), Some(&worker)).await?;
    assert_eq!(history["items"].as_array().map(Vec::len), Some(1));
    Ok(())
}

#[tokio::test]
async fn admins_register_buildings_in_the_micro_grid_of_their_point() -> TestResult {
    let app = TestApp::spawn_with(STREET).await?;
    let admin = app.token(ADMIN).await?;
    let worker = app.token(GRID_WORKER).await?;
    let (_, known) = app.get("/api/v1/buildings/QSH-B0001", Some(&admin)).await?;
    let lat = known["lat"].as_f64().ok_or("no lat")? + 1e-6;
    let lng = known["lng"].as_f64().ok_or("no lng")? + 1e-6;

    let new = json!({
        "code": "QSH-B9001", "name": "青山村新建1幢", "address": "青山湖街道青山村新建1幢",
        "lat": lat, "lng": lng, "floors": 3,
        "units": [{"number": "1单元101", "floor": 1}, {"number": "1单元201", "floor": 2}]
    });
    let (status, created) = app
        .post("/api/v1/buildings", Some(&admin), new.clone())
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["code"], "QSH-B9001");
    assert_eq!(created["micro_grid_code"], "QSH-G001-01");
    assert_eq!(created["grid_code"], "QSH-G001");
    assert_eq!(created["freshness"], "red");
    assert!(created["verified_at"].is_null());
    assert_eq!(created["units"].as_array().map(Vec::len), Some(2));
    assert!((created["lat"].as_f64().ok_or("lat")? - lat).abs() < 1e-9);
    assert!((created["lng"].as_f64().ok_or("lng")? - lng).abs() < 1e-9);
    // It is now the grid's: its worker sees it whole and lists it.
    let (status, seen) = app
        .get("/api/v1/buildings/QSH-B9001", Some(&worker))
        .await?;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["masked"], false);
    let listed = codes(&all_items(&app, &worker, "/api/v1/buildings?limit=200").await?);
    assert!(listed.iter().any(|c| c == "QSH-B9001"));

    // The same point as a Chinese map app reports it lands in the same micro-grid.
    let gcj = places::gcj02::wgs84_to_gcj02([lng, lat]);
    assert!(
        (gcj[0] - lng).abs() > 1e-4,
        "GCJ-02 differs from WGS84 here"
    );
    let (status, created) = app
        .post(
            "/api/v1/buildings",
            Some(&admin),
            json!({"code": "QSH-B9002", "name": "青山村新建2幢", "address": "青山村",
                   "lat": gcj[1], "lng": gcj[0], "crs": "gcj02"}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["micro_grid_code"], "QSH-G001-01");
    assert_eq!(created["grid_code"], "QSH-G001");
    assert!((created["lat"].as_f64().ok_or("lat")? - lat).abs() < 1e-7);
    assert!((created["lng"].as_f64().ok_or("lng")? - lng).abs() < 1e-7);

    // A taken code, bad coordinates, or a non-admin are refused.
    let mut dup = new.clone();
    dup["name"] = json!("重复的楼");
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/buildings",
        &admin,
        Some(dup),
        409,
        "conflict",
    )
    .await?;
    assert_eq!(error_fields(&p), ["code"], "{p}");
    let (_, still) = app.get("/api/v1/buildings/QSH-B9001", Some(&admin)).await?;
    assert_eq!(still["name"], "青山村新建1幢");

    let mut bad = new.clone();
    bad["code"] = json!("QSH-B9003");
    bad["lat"] = json!(91.0);
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/buildings",
        &admin,
        Some(bad),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["lat"], "{p}");
    // Codes that name checkpoints (printed or rotating) and activities are no building's.
    for reserved in ["cp.QSH-CP01", "act.0190aa", "cpt.59000000.QSH-CP01"] {
        let mut bad = new.clone();
        bad["code"] = json!(reserved);
        let p = problem(
            &app,
            Method::POST,
            "/api/v1/buildings",
            &admin,
            Some(bad),
            422,
            "validation-failed",
        )
        .await?;
        assert_eq!(p["errors"][0]["rule"], "reserved_prefix", "{p}");
    }
    let mut bad = new.clone();
    bad["code"] = json!("QSH-B9003");
    if let Some(o) = bad.as_object_mut() {
        o.remove("lng");
    }
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/buildings",
        &admin,
        Some(bad),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["lng"], "{p}");
    let mut theirs = new.clone();
    theirs["code"] = json!("QSH-B9003");
    problem(
        &app,
        Method::POST,
        "/api/v1/buildings",
        &worker,
        Some(theirs),
        403,
        "forbidden",
    )
    .await?;
    problem(
        &app,
        Method::GET,
        "/api/v1/buildings/QSH-B9003",
        &admin,
        None,
        404,
        "not-found",
    )
    .await?;
    Ok(())
}

/// One visit naming the same unit twice, or removing a unit and changing it, is a mistake of the
/// client: it is refused as invalid (422, as registering a building with a repeated unit number
/// is), never a server error, and nothing of it is written.
#[tokio::test]
async fn conflicting_unit_changes_in_one_visit_are_refused_as_invalid() -> TestResult {
    let app = TestApp::spawn_with(STREET).await?;
    let worker = app.token(GRID_WORKER).await?;
    let path = "/api/v1/buildings/QSH-B0003";
    let (_, before) = app.get(path, Some(&worker)).await?;
    let existing = before["units"][0]["number"]
        .as_str()
        .ok_or("no unit")?
        .to_owned();
    let mut wrong = Vec::new();
    for (what, body, field) in [
        (
            "a new unit twice",
            json!({"units": [{"number": "9单元901"}, {"number": "9单元901"}]}),
            Some("units[1].number"),
        ),
        (
            "an existing unit twice",
            json!({"units": [{"number": existing, "notes": "甲"},
                             {"number": existing, "notes": "乙"}]}),
            Some("units[1].number"),
        ),
        (
            "a unit removed and changed",
            json!({"remove_units": [existing], "units": [{"number": existing, "notes": "丙"}]}),
            None,
        ),
    ] {
        let (status, p) = app
            .call(Method::PATCH, path, Some(&worker), Some(body))
            .await?;
        let named = field.is_none_or(|f| error_fields(&p) == [f]);
        if status != StatusCode::UNPROCESSABLE_ENTITY
            || p["type"] != "/problems/validation-failed"
            || !named
        {
            wrong.push(format!("{what}: {status} {p}"));
        }
    }
    let (_, after) = app.get(path, Some(&worker)).await?;
    let (_, history) = app.get(&format!("{path}/history"), Some(&worker)).await?;
    assert!(wrong.is_empty(), "not refused as invalid: {wrong:#?}");
    assert_eq!(after, before, "nothing written");
    assert_eq!(history["items"], json!([]), "no visit recorded");
    Ok(())
}

/// Percent-encodes everything but unreserved URL characters.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The payload with one character of its signature changed.
fn altered(payload: &str) -> TestResult<String> {
    let at = payload.rfind(':').ok_or("no signature")? + 3;
    let mut bytes = payload.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    Ok(String::from_utf8(bytes)?)
}

async fn scan(app: &TestApp, token: &str, code: &str) -> TestResult<(StatusCode, Value)> {
    app.post("/api/v1/scan", Some(token), json!({"code": code}))
        .await
}

#[tokio::test]
async fn qr_codes_decode_scan_by_role_and_print_on_a_sheet() -> TestResult {
    let app = TestApp::spawn_with(STREET).await?;
    let worker = app.token(GRID_WORKER).await?;
    let other = app.token(OTHER_GRID_WORKER).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let citizen = app.token(CITIZEN).await?;
    let admin = app.token(ADMIN).await?;

    // The PNG decodes back to the signed payload.
    let res = app
        .request(
            Method::GET,
            "/api/v1/buildings/QSH-B0001/qr.png",
            Some(&worker),
        )
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/png")
    );
    let bytes = res.bytes().await?;
    let (w, h, pixels) = decode_png(&bytes)?;
    let content = read_qr(w, h, &pixels)?;
    assert!(content.starts_with("GW1:"), "{content}");
    assert!(content.contains(":QSH-B0001:"), "{content}");
    assert_eq!(content, app.state.qr.sign("QSH-B0001"));

    let res = app
        .request(
            Method::GET,
            "/api/v1/buildings/QSH-B0001/qr.svg",
            Some(&worker),
        )
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/svg+xml")
    );
    let svg = res.text().await?;
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"));

    // Codes of buildings a caller may not see are not handed out.
    for suffix in ["qr.png", "qr.svg"] {
        let path = format!("/api/v1/buildings/QSH-B0001/{suffix}");
        problem(&app, Method::GET, &path, &other, None, 404, "not-found").await?;
        problem(&app, Method::GET, &path, &citizen, None, 403, "forbidden").await?;
    }
    let p = problem(
        &app,
        Method::GET,
        "/api/v1/buildings/QSH-B0001/qr.png?scale=0",
        &worker,
        None,
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["scale"]);

    // A citizen may report a problem there, and sees nobody who lives there.
    let (status, seen) = scan(&app, &citizen, &content).await?;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["building"]["code"], "QSH-B0001");
    assert_eq!(seen["actions"], json!(["report_problem"]));
    assert_eq!(seen["profile"], Value::Null);
    assert!(seen["building"].get("units").is_none());
    // So does a grid worker of another grid.
    let (status, seen) = scan(&app, &other, &content).await?;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["actions"], json!(["report_problem"]));
    assert_eq!(seen["profile"], Value::Null);
    // The grid's worker may view and update the whole profile.
    let (status, seen) = scan(&app, &worker, &content).await?;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(
        seen["actions"],
        json!(["report_problem", "view_profile", "update_profile"])
    );
    assert_eq!(seen["profile"]["masked"], false);
    assert_eq!(seen["profile"]["code"], "QSH-B0001");
    assert!(!residents(&seen["profile"]).is_empty());
    // A dispatcher sees it masked and may not change it.
    let (status, seen) = scan(&app, &dispatcher, &content).await?;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["actions"], json!(["report_problem", "view_profile"]));
    assert_eq!(seen["profile"]["masked"], true);
    for r in residents(&seen["profile"]) {
        assert!(is_masked_phone(r["phone"].as_str().ok_or("phone")?), "{r}");
    }

    // A phone's scanner hands over a URL carrying the code.
    let url = format!("https://gw.example.cn/q?c={}", url_encode(&content));
    let (status, seen) = scan(&app, &citizen, &url).await?;
    assert_eq!(status, StatusCode::OK, "{url}: {seen}");
    assert_eq!(seen["building"]["code"], "QSH-B0001");

    // Altered, foreign, or for a building that is not registered.
    for bad in [altered(&content)?, "hello".to_owned()] {
        problem(
            &app,
            Method::POST,
            "/api/v1/scan",
            &citizen,
            Some(json!({ "code": bad })),
            400,
            "invalid-code",
        )
        .await?;
    }
    problem(
        &app,
        Method::POST,
        "/api/v1/scan",
        &citizen,
        Some(json!({"code": app.state.qr.sign("QSH-B9999")})),
        404,
        "not-found",
    )
    .await?;

    // The printable sheet of a grid: 12 codes to an A4 page.
    let g001 = all_items(&app, &admin, "/api/v1/buildings?grid=QSH-G001&limit=200").await?;
    assert!(g001.len() > 12, "more than one page of codes");
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("g001.pdf");
    let out_arg = out.to_str().ok_or("temp path is not UTF-8")?;
    let args = [
        "gridwing",
        "buildings",
        "qr-sheet",
        "--database-url",
        app.db.url(),
        "--grid",
        "QSH-G001",
        "--out",
        out_arg,
    ];
    gridwing_api::commands::run(gridwing_api::config::Cli::try_parse_from(args)?).await?;
    let pdf = std::fs::read(&out)?;
    assert_qr_sheet(&pdf, &g001)?;
    assert!(poppler::text(&pdf)?.contains("QSH-B0001"));
    // A grid without buildings has no sheet to print.
    let empty = dir.path().join("none.pdf");
    let args = [
        "gridwing",
        "buildings",
        "qr-sheet",
        "--database-url",
        app.db.url(),
        "--grid",
        "QSH-NOPE",
        "--out",
        empty.to_str().ok_or("temp path is not UTF-8")?,
    ];
    let run = gridwing_api::commands::run(gridwing_api::config::Cli::try_parse_from(args)?).await;
    assert!(run.is_err());
    assert!(!empty.exists());

    // The same sheet over REST, for the command centre and the grid's own worker.
    let sheet = "/api/v1/areas/QSH-G001/qr-sheet.pdf";
    for token in [&dispatcher, &admin, &worker] {
        let res = app.request(Method::GET, sheet, Some(token)).send().await?;
        assert_eq!(res.status(), StatusCode::OK);
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(header("content-type").as_deref(), Some("application/pdf"));
        // The Chinese file name in RFC 6266's filename*, with an ASCII stand-in for old clients.
        assert_eq!(
            header("content-disposition").as_deref(),
            Some(
                "attachment; filename=\"QSH-G001-___.pdf\"; \
                 filename*=UTF-8''QSH-G001-%E5%B1%8B%E8%81%94%E7%A0%81.pdf"
            )
        );
        let pdf = res.bytes().await?;
        assert_qr_sheet(&pdf, &g001)?;
    }
    // Those who only read codes, and workers of other grids, print none.
    let team_member = app.token(TEAM_MEMBER).await?;
    let coordinator = app.token(COORDINATOR).await?;
    for token in [&citizen, &other, &team_member, &coordinator] {
        problem(&app, Method::GET, sheet, token, None, 403, "forbidden").await?;
    }
    let (status, _) = app.get(sheet, None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    problem(
        &app,
        Method::GET,
        "/api/v1/areas/QSH-NOPE/qr-sheet.pdf",
        &dispatcher,
        None,
        404,
        "not-found",
    )
    .await?;
    let p = problem(
        &app,
        Method::GET,
        "/api/v1/areas/QSH-C01/qr-sheet.pdf",
        &dispatcher,
        None,
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["code"]);
    Ok(())
}

#[tokio::test]
async fn codes_printed_before_a_key_rotation_keep_working_and_new_ones_are_accepted() -> TestResult
{
    // No street needed: a building outside every area is still a building.
    let app = TestApp::spawn().await?;
    let admin = app.token(ADMIN).await?;
    let citizen = app.token(CITIZEN).await?;
    let (status, created) = app
        .post(
            "/api/v1/buildings",
            Some(&admin),
            json!({"code": "XF-0012", "name": "幸福里12幢", "address": "幸福里12幢",
                   "lat": 30.25, "lng": 119.72}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    let printed = app.state.qr.sign("XF-0012");
    assert!(printed.starts_with("GW1:1:XF-0012:"), "{printed}");
    let (status, seen) = scan(&app, &citizen, &printed).await?;
    assert_eq!(status, StatusCode::OK, "{seen}");

    let version = gridwing_api::places::qr_keys::rotate(&app.state.db).await?;
    assert_eq!(version, 2);
    // The running instance signs with its loaded key until it restarts…
    assert_eq!(app.state.qr.sign("XF-0012"), printed);
    // …and codes already on walls keep working.
    let (status, seen) = scan(&app, &citizen, &printed).await?;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["building"]["code"], "XF-0012");

    // A freshly started instance signs with version 2, and this one accepts those codes.
    let fresh = gridwing_api::places::qr_keys::QrKeys::load(&app.state.db).await?;
    let v2 = fresh.sign("XF-0012");
    assert!(v2.starts_with("GW1:2:XF-0012:"), "{v2}");
    assert_ne!(v2, printed);
    let (status, seen) = scan(&app, &citizen, &v2).await?;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["building"]["code"], "XF-0012");
    let (status, _) = scan(&app, &citizen, &printed).await?;
    assert_eq!(status, StatusCode::OK, "v1 still verifies after the reload");

    // Keys still check signatures; a version nobody has issued is refused.
    for bad in [
        altered(&v2)?,
        v2.replacen("GW1:2:", "GW1:3:", 1),
        v2.replacen("GW1:2:", "GW1:1:", 1),
    ] {
        problem(
            &app,
            Method::POST,
            "/api/v1/scan",
            &citizen,
            Some(json!({ "code": bad })),
            400,
            "invalid-code",
        )
        .await?;
    }
    Ok(())
}

/// A grid's QR sheet as a viewer shows it: 12 codes a page, the Chinese font embedded, every
/// building's code and Chinese name in the text, and the codes of the first page readable from
/// a print-resolution rendering.
fn assert_qr_sheet(pdf: &[u8], buildings: &[Value]) -> TestResult {
    assert!(pdf.starts_with(b"%PDF-"));
    assert_eq!(poppler::page_count(pdf)?, buildings.len().div_ceil(12));
    poppler::assert_fonts_embedded(pdf)?;
    let text = poppler::text(pdf)?;
    assert!(text.contains("QSH-G001 屋联码"), "{text}");
    for b in buildings {
        let code = str_field(b, "code")?;
        let name = str_field(b, "name")?;
        assert!(text.contains(&code), "{code} on the sheet");
        assert!(text.contains(&name), "{name} on the sheet");
    }
    // Each code's square, cut out of a print-resolution rendering by the sheet's layout (A4,
    // 36 pt margins, 3 × 4 cells from 76 pt below the top to 48 pt above the bottom, a
    // 126 pt code 4 pt below a cell's top), is read on its own.
    let dpi = 150.0;
    let (w, h, pixels) = poppler::page_image(pdf, 1, 150)?;
    let px = |pt: f64| (pt * dpi / 72.0).round() as usize;
    let (cell_w, cell_h) = ((595.28 - 72.0) / 3.0, (841.89 - 48.0 - 76.0) / 4.0);
    let mut read = BTreeSet::new();
    for i in 0..12.min(buildings.len()) {
        let left = 36.0 + ((i % 3) as f64 + 0.5) * cell_w - 63.0 - 8.0;
        let top = 76.0 + (i / 3) as f64 * cell_h + 4.0 - 8.0;
        let (x0, y0, side) = (px(left), px(top), px(126.0 + 16.0));
        assert!(x0 + side <= w && y0 + side <= h);
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(side, side, |x, y| {
            pixels[(y0 + y) * w + x0 + x]
        });
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1, "one code in cell {i}");
        let (_, content) = grids[0]
            .decode()
            .map_err(|e| format!("decoding the code in cell {i}: {e:?}"))?;
        read.insert(content);
    }
    assert_eq!(
        read.len(),
        12.min(buildings.len()),
        "every code on page 1 scans"
    );
    for payload in read {
        let code = payload
            .split(':')
            .nth(2)
            .ok_or("payload without a code")?
            .to_owned();
        assert!(
            buildings.iter().any(|b| b["code"] == code.as_str()),
            "{payload} is one of the grid's buildings"
        );
    }
    Ok(())
}

#[tokio::test]
async fn without_a_chinese_font_the_sheet_is_a_clear_503_and_the_rest_of_the_server_works()
-> TestResult {
    let app = TestApp::spawn_with(&[
        "--demo-street",
        "true",
        "--pdf-font",
        "/nonexistent/fonts/missing.ttc",
    ])
    .await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let p = problem(
        &app,
        Method::GET,
        "/api/v1/areas/QSH-G001/qr-sheet.pdf",
        &dispatcher,
        None,
        503,
        "pdf-font-missing",
    )
    .await?;
    let detail = str_field(&p, "detail")?;
    for needle in [
        "fonts-wqy-microhei",
        "--pdf-font",
        "GRIDWING_PDF_FONT",
        "中文字体",
    ] {
        assert!(detail.contains(needle), "{needle} in {detail}");
    }
    assert!(
        !detail.contains("/nonexistent"),
        "no server paths to clients: {detail}"
    );
    // Only PDF files need the font.
    let (status, _) = app
        .get("/api/v1/buildings?grid=QSH-G001&limit=1", Some(&dispatcher))
        .await?;
    assert_eq!(status, StatusCode::OK);
    // The command line says the same and writes nothing.
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("g001.pdf");
    let args = [
        "gridwing",
        "buildings",
        "qr-sheet",
        "--database-url",
        app.db.url(),
        "--grid",
        "QSH-G001",
        "--pdf-font",
        "/nonexistent/fonts/missing.ttc",
        "--out",
        out.to_str().ok_or("temp path is not UTF-8")?,
    ];
    let run = gridwing_api::commands::run(gridwing_api::config::Cli::try_parse_from(args)?).await;
    let err = run.err().ok_or("a sheet without a font")?;
    assert!(err.to_string().contains("missing.ttc"), "{err}");
    assert!(!out.exists());
    Ok(())
}
