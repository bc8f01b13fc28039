//! The command-centre console as the server serves it: `/` leads to it, its pages and files come
//! from the binary with the right types and cache rules, and none of it disturbs the API's
//! problem answers.

use reqwest::{Method, StatusCode};

use crate::support::*;

fn header<'a>(res: &'a reqwest::Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_console_is_served_from_the_binary_beside_the_api() -> TestResult {
    let app = TestApp::spawn().await?;

    // `/` and `/console` lead to the console.
    for path in ["/", "/console"] {
        let res = app.request(Method::GET, path, None).send().await?;
        assert_eq!(res.status(), StatusCode::FOUND, "{path}");
        assert_eq!(header(&res, "location"), "/console/", "{path}");
    }

    // The entry page, asked for again on every visit, allowed to load only this server's files.
    let res = app.request(Method::GET, "/console/", None).send().await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&res, "cache-control"), "no-cache");
    let csp = header(&res, "content-security-policy").to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    let index = res.text().await?;
    assert!(index.contains(r#"<div id="app">"#), "{index}");

    // A page of the app is routed in the browser: any path under /console/ gets the same page.
    for path in [
        "/console/dispatch",
        "/console/volunteers/activities",
        "/console/login",
    ] {
        let res = app.request(Method::GET, path, None).send().await?;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&res, "cache-control"), "no-cache", "{path}");
        assert_eq!(res.text().await?, index, "{path}");
    }

    // Every script and style sheet the page names is served, typed, and kept for a year.
    let assets: Vec<&str> = index
        .split('"')
        .filter(|s| s.starts_with("/console/assets/"))
        .collect();
    assert!(assets.iter().any(|a| a.ends_with(".js")), "{index}");
    assert!(assets.iter().any(|a| a.ends_with(".css")), "{index}");
    for asset in &assets {
        let res = app.request(Method::GET, asset, None).send().await?;
        assert_eq!(res.status(), StatusCode::OK, "{asset}");
        let kind = if asset.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else {
            "text/css; charset=utf-8"
        };
        assert_eq!(header(&res, "content-type"), kind, "{asset}");
        assert_eq!(
            header(&res, "cache-control"),
            "public, max-age=31536000, immutable",
            "{asset}"
        );
        assert!(!res.bytes().await?.is_empty(), "{asset}");
    }
    // Sent gzipped to a browser that takes it, the same bytes once inflated (a file under 1 KiB
    // is not worth it and goes as it is).
    let mut gzipped = 0;
    for asset in &assets {
        let plain = app.request(Method::GET, asset, None).send().await?;
        assert_eq!(header(&plain, "content-encoding"), "", "{asset}");
        let plain = plain.bytes().await?;
        let res = app
            .request(Method::GET, asset, None)
            .header("accept-encoding", "gzip, deflate, br")
            .send()
            .await?;
        assert_eq!(header(&res, "vary"), "accept-encoding", "{asset}");
        if plain.len() < 1024 {
            assert_eq!(header(&res, "content-encoding"), "", "{asset}");
            continue;
        }
        assert_eq!(header(&res, "content-encoding"), "gzip", "{asset}");
        gzipped += 1;
        let mut inflated = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&res.bytes().await?[..]),
            &mut inflated,
        )?;
        assert_eq!(inflated, plain, "{asset}");
    }
    assert!(
        gzipped >= 2,
        "the main script and style sheet are over 1 KiB: {assets:?}"
    );
    let res = app
        .request(Method::GET, &format!("{}.gz", assets[0]), None)
        .send()
        .await?;
    assert_problem(res, 404, "route-not-found").await?;
    let head = app.request(Method::HEAD, assets[0], None).send().await?;
    assert_eq!(head.status(), StatusCode::OK);

    // A missing file is a problem, not the page; the console takes no writes.
    let res = app
        .request(Method::GET, "/console/assets/missing-0000.js", None)
        .send()
        .await?;
    assert_problem(res, 404, "route-not-found").await?;
    let res = app.request(Method::POST, "/console/", None).send().await?;
    assert_eq!(header(&res, "allow"), "GET, HEAD");
    assert_problem(res, 405, "method-not-allowed").await?;

    // The API's own answers are untouched: unknown routes are still its problems, its
    // responses keep their strict policy, and the document does not list the console.
    let res = app
        .request(Method::GET, "/api/v1/nothing-here", None)
        .send()
        .await?;
    assert_problem(res, 404, "route-not-found").await?;
    let res = app.request(Method::GET, "/healthz", None).send().await?;
    assert_eq!(
        header(&res, "content-security-policy"),
        "default-src 'none'; frame-ancestors 'none'"
    );
    let (_, doc) = app.get("/openapi.json", None).await?;
    let paths = doc["paths"].as_object().ok_or("paths")?;
    assert!(
        paths
            .keys()
            .all(|p| p.starts_with("/api/") || !p.contains("console"))
    );
    assert!(!paths.contains_key("/"));
    Ok(())
}

/// Every browser flow in `tests/console/flows/` against one server with the demo street, in one
/// headless Chromium (Debian's; `scripts/test` installs it and the runner's packages). Access
/// tokens live a few seconds here, so every flow runs across token refreshes.
/// Two late tasks for the lights board (亮灯督办), lit by the sweeper as time would light them:
/// one missed its sign deadline two minutes ago (yellow), the other missed it just now and then
/// its arrival too (yellow, then red: two escalations). Answered as "RED_EVENT,YELLOW_EVENT".
async fn light_two_tasks(app: &TestApp) -> TestResult<String> {
    let citizen = app.token(CITIZEN).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let (lat, lng) = point_in_g001(app, &dispatcher).await?;
    let mut ids = Vec::new();
    for description in ["亮灯督办：消防通道堵塞", "亮灯督办：楼道堆放杂物"] {
        let (status, e) = app
            .post(
                "/api/v1/events",
                Some(&citizen),
                serde_json::json!({"id": uuid::Uuid::new_v4(), "category": "safety.hazard",
                    "description": description, "lat": lat, "lng": lng}),
            )
            .await?;
        assert_eq!(status, StatusCode::CREATED, "{e}");
        ids.push(str_field(&e, "id")?);
    }
    let [red, yellow] = ids.as_slice() else {
        return Err("two events".into());
    };
    // The server's own sweeper may get there first; either way each light comes once.
    age_task(app, red, true, false, 5).await?;
    age_task(app, yellow, true, false, 120).await?;
    gridwing_api::events::sweeper::sweep(&app.state).await?;
    age_task(app, red, true, true, 5).await?;
    gridwing_api::events::sweeper::sweep(&app.state).await?;
    for (id, light) in [(red, "red"), (yellow, "yellow")] {
        let (_, e) = app
            .get(&format!("/api/v1/events/{id}"), Some(&dispatcher))
            .await?;
        assert_eq!(e["task"]["light"], light, "{e}");
    }
    Ok(format!("{red},{yellow}"))
}

#[tokio::test]
async fn flows_in_a_real_browser() -> TestResult {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("workspace root")?;
    let runner = root.join("tests/console");
    if !runner.join("node_modules/playwright-core").is_dir() {
        return Err(
            "tests/console/node_modules is missing: run scripts/test, or \
                    `(cd tests/console && npm ci)`"
                .into(),
        );
    }
    let chromium =
        std::env::var("GRIDWING_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !std::path::Path::new(&chromium).exists() {
        return Err(format!(
            "{chromium} not found: `apt-get install chromium` (scripts/test does)"
        )
        .into());
    }
    let app = TestApp::spawn_with(&["--demo-street", "true", "--access-ttl-secs", "6"]).await?;
    let lit = light_two_tasks(&app).await?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let db = if matches!(app.db, TestDb::Postgres { .. }) {
        "postgres"
    } else {
        "sqlite"
    };
    let artifacts = target.join("console-artifacts").join(db);
    let run = tokio::process::Command::new("node")
        .arg(runner.join("run.mjs"))
        .args(["--base", &app.base, "--artifacts"])
        .arg(&artifacts)
        .env("GRIDWING_CHROMIUM", &chromium)
        .env("GRIDWING_FLOW_LIT", &lit)
        .kill_on_drop(true)
        .output();
    // Each flow has its own limit; this bounds the whole run should the browser itself hang.
    let out = tokio::time::timeout(std::time::Duration::from_secs(600), run).await??;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");
    assert!(
        out.status.success(),
        "browser flows failed ({}):\n{report}",
        out.status
    );
    assert!(report.contains(" passed, 0 failed"), "{report}");
    Ok(())
}
