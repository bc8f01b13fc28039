//! The area tree end to end: importing a street's GeoJSON (checked whole, nothing changed on any
//! error), exporting it back, locating points (borders, overlays, GCJ-02), and every instance
//! and the command line seeing the same tree.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]})
}

fn feature(code: &str, name: &str, level: &str, parent: Option<&str>, geometry: Value) -> Value {
    json!({
        "type": "Feature",
        "properties": {"code": code, "name": name, "level": level, "parent_code": parent},
        "geometry": geometry,
    })
}

/// A small street: grid TS-G1 split into micro-grids A (west) and B (east), grid TS-G2 without
/// micro-grids east of it, a zone over both and a watch circle inside A.
fn test_street() -> Vec<Value> {
    vec![
        feature("TS", "测试街道", "street", None, Value::Null),
        feature("TS-C1", "测试社区", "community", Some("TS"), Value::Null),
        feature(
            "TS-G1",
            "测试社区第1网格",
            "grid",
            Some("TS-C1"),
            square(120.00, 30.00, 120.02, 30.02),
        ),
        feature(
            "TS-G1-A",
            "第1网格第1微网格",
            "micro_grid",
            Some("TS-G1"),
            square(120.00, 30.00, 120.01, 30.02),
        ),
        feature(
            "TS-G1-B",
            "第1网格第2微网格",
            "micro_grid",
            Some("TS-G1"),
            square(120.01, 30.00, 120.02, 30.02),
        ),
        feature(
            "TS-G2",
            "测试社区第2网格",
            "grid",
            Some("TS-C1"),
            square(120.02, 30.00, 120.04, 30.02),
        ),
        feature(
            "TS-Z1",
            "第一防区",
            "zone",
            Some("TS"),
            square(120.00, 30.00, 120.04, 30.02),
        ),
        feature(
            "TS-W1",
            "重点防控圈",
            "watch_circle",
            Some("TS"),
            square(120.002, 30.002, 120.004, 30.004),
        ),
    ]
}

fn collection(features: Vec<Value>) -> Value {
    json!({"type": "FeatureCollection", "features": features})
}

async fn import(
    app: &TestApp,
    token: &str,
    mode: &str,
    body: &Value,
) -> TestResult<(StatusCode, Value)> {
    app.post(
        &format!("/api/v1/areas/import?mode={mode}"),
        Some(token),
        body.clone(),
    )
    .await
}

async fn chain_at(
    app: &TestApp,
    token: &str,
    lat: f64,
    lng: f64,
) -> TestResult<(StatusCode, Vec<String>, Value)> {
    let (status, body) = app
        .get(
            &format!("/api/v1/areas/locate?lat={lat}&lng={lng}"),
            Some(token),
        )
        .await?;
    let chain = body["chain"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|n| n["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok((status, chain, body))
}

async fn export(app: &TestApp, token: &str) -> TestResult<Value> {
    let (status, doc) = app
        .get("/api/v1/areas/export?street=TS", Some(token))
        .await?;
    assert_eq!(status, StatusCode::OK, "{doc}");
    Ok(doc)
}

#[tokio::test]
async fn an_imported_street_locates_points_and_exports_round_trip() -> TestResult {
    let app = TestApp::spawn().await?;
    let admin = app.token(ADMIN).await?;
    let citizen = app.token(CITIZEN).await?;
    let (status, report) = import(&app, &admin, "replace", &collection(test_street())).await?;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (report["street"].as_str(), report["written"].as_u64()),
        (Some("TS"), Some(8))
    );

    // Inside micro-grid A, inside the zone and the watch circle.
    let (status, chain, body) = chain_at(&app, &citizen, 30.003, 120.003).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(chain, ["TS-G1-A", "TS-G1", "TS-C1", "TS"]);
    assert_eq!(body["chain"][0]["name"], "第1网格第1微网格");
    let overlays: Vec<&str> = body["overlays"]
        .as_array()
        .ok_or("overlays")?
        .iter()
        .filter_map(|o| o["code"].as_str())
        .collect();
    assert_eq!(overlays, ["TS-W1", "TS-Z1"]);
    // Inside B: the zone only.
    let (_, chain, body) = chain_at(&app, &citizen, 30.01, 120.015).await?;
    assert_eq!(chain[0], "TS-G1-B");
    assert_eq!(body["overlays"].as_array().map(Vec::len), Some(1));
    // On the border A and B share: the code that sorts first.
    let (_, chain, _) = chain_at(&app, &citizen, 30.01, 120.01).await?;
    assert_eq!(chain[0], "TS-G1-A");
    // On the border of B and the grid without micro-grids: B sorts before TS-G2.
    let (_, chain, _) = chain_at(&app, &citizen, 30.01, 120.02).await?;
    assert_eq!(chain[0], "TS-G1-B");
    // A grid without micro-grids is its own leaf.
    let (_, chain, _) = chain_at(&app, &citizen, 30.01, 120.03).await?;
    assert_eq!(chain, ["TS-G2", "TS-C1", "TS"]);
    // Outside every area.
    let res = app
        .request(
            reqwest::Method::GET,
            "/api/v1/areas/locate?lat=31&lng=121",
            Some(&citizen),
        )
        .send()
        .await?;
    assert_problem(res, 404, "not-found").await?;

    // Reads.
    let (_, micro) = app
        .get("/api/v1/areas?street=TS&level=micro_grid", Some(&citizen))
        .await?;
    let codes: Vec<&str> = micro["items"]
        .as_array()
        .ok_or("items")?
        .iter()
        .filter_map(|a| a["code"].as_str())
        .collect();
    assert_eq!(codes, ["TS-G1-A", "TS-G1-B"]);
    assert!(
        micro["items"][0].get("geometry").is_none(),
        "lists carry no geometry"
    );
    let (status, one) = app.get("/api/v1/areas/TS-G1-A", Some(&citizen)).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["geometry"], square(120.00, 30.00, 120.01, 30.02));
    assert_eq!(one["parent_code"], "TS-G1");

    // Export, import the export, export again: the same document.
    let first = export(&app, &admin).await?;
    assert_eq!(first["features"].as_array().map(Vec::len), Some(8));
    let (status, again) = import(&app, &admin, "replace", &first).await?;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["removed"], 0);
    assert_eq!(export(&app, &admin).await?, first);
    Ok(())
}

#[tokio::test]
async fn a_faulty_file_reports_every_bad_feature_and_changes_nothing() -> TestResult {
    let app = TestApp::spawn_with(&["--max-import-bytes", "20000"]).await?;
    let admin = app.token(ADMIN).await?;
    let (status, _) = import(&app, &admin, "replace", &collection(test_street())).await?;
    assert_eq!(status, StatusCode::OK);
    let before = export(&app, &admin).await?;

    let mut bad = test_street();
    bad.truncate(6);
    // 6: unknown parent; 7: a grid under a micro-grid; 8: a duplicate code; 9: an unclosed
    // ring; 10: a micro-grid outside its grid; 11: a grid over TS-G2.
    bad.push(feature(
        "TS-G9",
        "孤儿网格",
        "grid",
        Some("TS-C9"),
        square(120.05, 30.0, 120.06, 30.01),
    ));
    bad.push(feature(
        "TS-G8",
        "错层网格",
        "grid",
        Some("TS-G1-A"),
        square(120.07, 30.0, 120.08, 30.01),
    ));
    bad.push(feature(
        "TS-G2",
        "重复网格",
        "grid",
        Some("TS-C1"),
        square(120.09, 30.0, 120.1, 30.01),
    ));
    bad.push(feature(
        "TS-G7",
        "未闭合网格",
        "grid",
        Some("TS-C1"),
        json!({"type": "Polygon", "coordinates": [[[120.11, 30.0], [120.12, 30.0], [120.12, 30.01], [120.11, 30.01]]]}),
    ));
    bad.push(feature(
        "TS-G1-C",
        "越界微网格",
        "micro_grid",
        Some("TS-G1"),
        square(120.015, 30.0, 120.03, 30.01),
    ));
    bad.push(feature(
        "TS-G6",
        "重叠网格",
        "grid",
        Some("TS-C1"),
        square(120.025, 30.0, 120.035, 30.02),
    ));
    let (status, problem) = import(&app, &admin, "replace", &collection(bad)).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "/problems/validation-failed");
    let errors = problem["errors"].as_array().ok_or("errors")?;
    for (index, code, word) in [
        (6, "TS-G9", "parent"),
        (7, "TS-G8", "level"),
        (8, "TS-G2", "duplicate"),
        (9, "TS-G7", "closed"),
        (10, "TS-G1-C", "outside"),
        (11, "TS-G6", "overlap"),
    ] {
        let field = format!("features[{index}]");
        let hit = errors
            .iter()
            .find(|e| e["field"] == field.as_str())
            .ok_or(format!("no error for {field}: {problem}"))?;
        let message = hit["message"].as_str().unwrap_or_default().to_lowercase();
        assert!(
            message.starts_with(&code.to_lowercase()) && message.contains(word),
            "{field}: {message}"
        );
    }
    // Nothing changed: the stored tree and the index are as they were.
    assert_eq!(export(&app, &admin).await?, before);
    let (_, chain, _) = chain_at(&app, &admin, 30.01, 120.03).await?;
    assert_eq!(chain[0], "TS-G2");

    // Not JSON, not a FeatureCollection, not JSON at all by media type, too large.
    let send = |body: String, ct: &'static str| {
        app.request(reqwest::Method::POST, "/api/v1/areas/import", Some(&admin))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_problem(
        send("{\"type\": \"Feature".into(), "application/geo+json").await?,
        400,
        "malformed-json",
    )
    .await?;
    assert_problem(
        send(json!({"type": "Feature"}).to_string(), "application/json").await?,
        422,
        "validation-failed",
    )
    .await?;
    assert_problem(
        send("code,name".into(), "text/csv").await?,
        415,
        "unsupported-media-type",
    )
    .await?;
    let mut huge = test_street();
    for i in 0..200 {
        huge.push(feature(
            &format!("TS-X{i}"),
            "填充",
            "grid",
            Some("TS-C1"),
            square(121.0, 30.0, 121.001, 30.001),
        ));
    }
    assert_problem(
        send(collection(huge).to_string(), "application/json").await?,
        413,
        "payload-too-large",
    )
    .await?;
    assert_eq!(export(&app, &admin).await?, before);
    Ok(())
}

#[tokio::test]
async fn update_mode_keeps_what_replace_mode_removes() -> TestResult {
    let app = TestApp::spawn().await?;
    let admin = app.token(ADMIN).await?;
    import(&app, &admin, "replace", &collection(test_street())).await?;
    let extra = collection(vec![feature(
        "TS-G3",
        "测试社区第3网格",
        "grid",
        Some("TS-C1"),
        square(120.04, 30.00, 120.06, 30.02),
    )]);
    let (status, report) = import(&app, &admin, "update", &extra).await?;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (report["written"].as_u64(), report["removed"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(chain_at(&app, &admin, 30.01, 120.05).await?.1[0], "TS-G3");
    assert_eq!(chain_at(&app, &admin, 30.01, 120.03).await?.1[0], "TS-G2");

    // Replacing with a street that no longer has TS-G2 or TS-G3 removes them.
    let mut smaller = test_street();
    smaller.retain(|f| f["properties"]["code"] != "TS-G2");
    let (status, report) = import(&app, &admin, "replace", &collection(smaller)).await?;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["removed"], 2);
    assert_eq!(
        chain_at(&app, &admin, 30.01, 120.03).await?.0,
        StatusCode::NOT_FOUND
    );
    // A replace import must name its street.
    let (status, problem) = import(&app, &admin, "replace", &extra).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    Ok(())
}

#[tokio::test]
async fn locate_refuses_bad_coordinates_and_converts_gcj02() -> TestResult {
    let app = TestApp::spawn().await?;
    let admin = app.token(ADMIN).await?;
    import(&app, &admin, "replace", &collection(test_street())).await?;
    for (query, field) in [
        ("lat=91&lng=120", "lat"),
        ("lat=NaN&lng=120", "lat"),
        ("lat=30&lng=-181", "lng"),
        ("lat=30", "lng"),
        ("lat=abc&lng=120", "lat"),
    ] {
        let res = app
            .request(
                reqwest::Method::GET,
                &format!("/api/v1/areas/locate?{query}"),
                Some(&admin),
            )
            .send()
            .await?;
        let body = assert_problem(res, 422, "validation-failed").await?;
        assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
    }
    // The same place as a WeChat mini-program reports it (GCJ-02) lands in the same micro-grid.
    let wgs = [120.0093, 30.0101];
    let gcj = places::gcj02::wgs84_to_gcj02(wgs);
    assert!(
        (gcj[0] - wgs[0]).abs() > 0.001,
        "GCJ-02 is offset from WGS84"
    );
    let (status, body) = app
        .get(
            &format!(
                "/api/v1/areas/locate?lat={}&lng={}&crs=gcj02",
                gcj[1], gcj[0]
            ),
            Some(&admin),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["chain"][0]["code"], "TS-G1-A");
    assert!((body["lng"].as_f64().unwrap_or_default() - wgs[0]).abs() < 1e-6);
    // Read as WGS84, the unconverted GCJ-02 point lies in the other micro-grid.
    assert_eq!(
        chain_at(&app, &admin, gcj[1], gcj[0]).await?.1[0],
        "TS-G1-B"
    );
    Ok(())
}

#[tokio::test]
async fn every_instance_and_the_command_line_share_one_tree() -> TestResult {
    let first = TestApp::spawn_with(&["--areas-refresh-secs", "1"]).await?;
    let second = first
        .second_instance(&["--areas-refresh-secs", "1"])
        .await?;
    let admin = first.token(ADMIN).await?;
    let on_second = second.token(ADMIN).await?;
    assert_eq!(
        chain_at(&second, &on_second, 30.003, 120.003).await?.0,
        StatusCode::NOT_FOUND
    );
    import(&first, &admin, "replace", &collection(test_street())).await?;
    // The importing instance answers at once.
    assert_eq!(
        chain_at(&first, &admin, 30.003, 120.003).await?.1[0],
        "TS-G1-A"
    );
    // The other instance within its refresh interval.
    let mut seen = false;
    for _ in 0..50 {
        if chain_at(&second, &on_second, 30.003, 120.003).await?.0 == StatusCode::OK {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen, "the second instance never saw the import");

    // `gridwing areas import` on the same database: a bad file is refused whole, a good one is
    // seen by the running servers.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("street.geojson");
    let cli = |file: &std::path::Path| {
        use clap::Parser;
        gridwing_api::config::Cli::try_parse_from([
            "gridwing",
            "areas",
            "import",
            "--database-url",
            first.db.url(),
            "--mode",
            "update",
            &file.display().to_string(),
        ])
    };
    let bad = collection(vec![feature(
        "TS-G5",
        "孤儿网格",
        "grid",
        Some("TS-C9"),
        square(120.06, 30.0, 120.07, 30.02),
    )]);
    std::fs::write(&path, bad.to_string())?;
    assert!(gridwing_api::commands::run(cli(&path)?).await.is_err());
    let good = collection(vec![feature(
        "TS-G5",
        "测试社区第5网格",
        "grid",
        Some("TS-C1"),
        square(120.06, 30.0, 120.07, 30.02),
    )]);
    std::fs::write(&path, good.to_string())?;
    gridwing_api::commands::run(cli(&path)?).await?;
    let mut seen = false;
    for _ in 0..50 {
        if chain_at(&first, &admin, 30.01, 120.065)
            .await?
            .1
            .first()
            .map(String::as_str)
            == Some("TS-G5")
        {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen, "the server never saw the command line's import");
    Ok(())
}
