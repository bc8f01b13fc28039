//! Registration, login, refresh-token rotation and reuse detection, logout, rate limits, and the
//! refusal of every kind of bad access token.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn citizens_register_log_in_and_see_themselves() -> TestResult {
    let app = TestApp::spawn().await?;
    let (status, user) = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"phone": "+86 139-1234-5678", "password": "巡防2026go"}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(user["phone"], "13912345678", "normalised");
    assert_eq!(user["roles"], json!(["citizen"]));
    assert_eq!(user["name"], "居民5678");
    assert!(user.get("password_hash").is_none());
    let pair = app.login_pair("13912345678", "巡防2026go").await?;
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    let token = str_field(&pair, "access_token")?;
    let (status, me) = app.get("/api/v1/me", Some(&token)).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], user["id"]);
    // Citizens cannot give themselves a role through the body.
    let (status, p) = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"phone": "13912345679", "password": "巡防2026go", "roles": ["admin"]}),
        )
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["field"], "roles");
    Ok(())
}

#[tokio::test]
async fn duplicate_phone_is_409_and_writes_nothing() -> TestResult {
    let app = TestApp::spawn().await?;
    let admin = app.token(ADMIN).await?;
    let count = |v: &Value| v["items"].as_array().map_or(0, Vec::len);
    let (_, before) = app.get("/api/v1/users?limit=200", Some(&admin)).await?;
    let res = app
        .request(Method::POST, "/api/v1/auth/register", None)
        .json(&json!({"phone": GRID_WORKER, "password": "another1pass"}))
        .send()
        .await?;
    let p = assert_problem(res, 409, "conflict").await?;
    assert_eq!(p["errors"][0]["field"], "phone");
    let res = app
        .request(Method::POST, "/api/v1/users", Some(&admin))
        .json(&json!({"phone": CITIZEN, "name": "重复", "password": "another1pass", "roles": ["grid_worker"]}))
        .send()
        .await?;
    assert_problem(res, 409, "conflict").await?;
    let (_, after) = app.get("/api/v1/users?limit=200", Some(&admin)).await?;
    assert_eq!(count(&before), count(&after));
    // The existing account kept its single role and no area arrived with the failed create.
    let citizen = after["items"]
        .as_array()
        .and_then(|a| a.iter().find(|u| u["phone"] == CITIZEN))
        .ok_or("citizen")?;
    assert_eq!(citizen["roles"], json!(["citizen"]));
    assert_eq!(citizen["areas"], json!([]));
    Ok(())
}

#[tokio::test]
async fn weak_passwords_are_422_naming_the_rule() -> TestResult {
    let app = TestApp::spawn().await?;
    for (password, rule) in [
        ("short1", "min_length"),
        ("onlyletters", "letters_and_digits"),
        ("1234567890", "letters_and_digits"),
        ("a13912345678", "not_phone"),
        ("Password123", "not_common"),
    ] {
        let res = app
            .request(Method::POST, "/api/v1/auth/register", None)
            .json(&json!({"phone": "13912345678", "password": password}))
            .send()
            .await?;
        let p = assert_problem(res, 422, "validation-failed").await?;
        let rules: Vec<&str> = p["errors"]
            .as_array()
            .ok_or("errors")?
            .iter()
            .filter_map(|e| e["rule"].as_str())
            .collect();
        assert!(rules.contains(&rule), "{password}: {rules:?}");
        assert!(
            p["errors"]
                .as_array()
                .ok_or("errors")?
                .iter()
                .all(|e| e["field"] == "password")
        );
    }
    let (status, _) = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"phone": "12345", "password": "good2026pass"}),
        )
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    Ok(())
}

#[tokio::test]
async fn wrong_password_and_unknown_account_look_the_same() -> TestResult {
    let app = TestApp::spawn().await?;
    let wrong = app
        .request(Method::POST, "/api/v1/auth/login", None)
        .json(&json!({"phone": ADMIN, "password": "not-the-password1"}))
        .send()
        .await?;
    let wrong = assert_problem(wrong, 401, "unauthorized").await?;
    let unknown = app
        .request(Method::POST, "/api/v1/auth/login", None)
        .json(&json!({"phone": "13999999999", "password": "not-the-password1"}))
        .send()
        .await?;
    let unknown = assert_problem(unknown, 401, "unauthorized").await?;
    assert_eq!(wrong, unknown);
    Ok(())
}

#[tokio::test]
async fn refresh_tokens_rotate_and_work_once() -> TestResult {
    let app = TestApp::spawn().await?;
    let first = app.login_pair(GRID_WORKER, "gridwing2026").await?;
    let r1 = str_field(&first, "refresh_token")?;
    let (status, second) = app
        .post("/api/v1/auth/refresh", None, json!({"refresh_token": r1}))
        .await?;
    assert_eq!(status, StatusCode::OK, "{second}");
    let r2 = str_field(&second, "refresh_token")?;
    assert_ne!(r1, r2);
    assert_eq!(first["session_id"], second["session_id"]);
    let access = str_field(&second, "access_token")?;
    let (status, me) = app.get("/api/v1/me", Some(&access)).await?;
    assert_eq!(
        (status, &me["phone"]),
        (StatusCode::OK, &json!(GRID_WORKER))
    );
    let (status, third) = app
        .post("/api/v1/auth/refresh", None, json!({"refresh_token": r2}))
        .await?;
    assert_eq!(status, StatusCode::OK, "{third}");
    // Garbage is refused like a used token.
    for bad in [
        "",
        "gwr_",
        "gwr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "eyJhbGciOi",
    ] {
        let res = app
            .request(Method::POST, "/api/v1/auth/refresh", None)
            .json(&json!({"refresh_token": bad}))
            .send()
            .await?;
        assert_problem(res, 401, "unauthorized").await?;
    }
    Ok(())
}

#[tokio::test]
async fn reusing_a_refresh_token_revokes_the_whole_session() -> TestResult {
    let app = TestApp::spawn().await?;
    let first = app.login_pair(GRID_WORKER, "gridwing2026").await?;
    let other_session = app.login_pair(GRID_WORKER, "gridwing2026").await?;
    let r1 = str_field(&first, "refresh_token")?;
    let (_, second) = app
        .post("/api/v1/auth/refresh", None, json!({"refresh_token": r1}))
        .await?;
    let r2 = str_field(&second, "refresh_token")?;
    let a2 = str_field(&second, "access_token")?;
    // An attacker replays the stolen first token.
    let (status, _) = app
        .post("/api/v1/auth/refresh", None, json!({"refresh_token": r1}))
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The whole family is dead: the legitimate holder's newer tokens too.
    let (status, _) = app
        .post("/api/v1/auth/refresh", None, json!({"refresh_token": r2}))
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/api/v1/me", Some(&a2)).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Another login of the same person is not affected.
    let (status, _) = app
        .get(
            "/api/v1/me",
            Some(&str_field(&other_session, "access_token")?),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn racing_refreshes_with_one_token_let_at_most_one_through() -> TestResult {
    let app = TestApp::spawn().await?;
    let pair = app.login_pair(CITIZEN, "gridwing2026").await?;
    let r1 = str_field(&pair, "refresh_token")?;
    let body = json!({"refresh_token": r1});
    let (a, b) = tokio::join!(
        app.post("/api/v1/auth/refresh", None, body.clone()),
        app.post("/api/v1/auth/refresh", None, body.clone())
    );
    let statuses = [a?.0, b?.0];
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert!(ok <= 1, "{statuses:?}");
    assert!(statuses.contains(&StatusCode::UNAUTHORIZED), "{statuses:?}");
    Ok(())
}

#[tokio::test]
async fn logout_ends_this_session_and_logout_all_ends_every_one() -> TestResult {
    let app = TestApp::spawn().await?;
    let phone_a = app.login_pair(DISPATCHER, "gridwing2026").await?;
    let phone_b = app.login_pair(DISPATCHER, "gridwing2026").await?;
    let tablet = app.login_pair(DISPATCHER, "gridwing2026").await?;
    let access = |p: &Value| str_field(p, "access_token");

    let res = app
        .request(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&access(&phone_a)?),
        )
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (status, _) = app.get("/api/v1/me", Some(&access(&phone_a)?)).await?;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the access token of a logged-out session is refused"
    );
    let (status, _) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": phone_a["refresh_token"]}),
        )
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/api/v1/me", Some(&access(&phone_b)?)).await?;
    assert_eq!(status, StatusCode::OK, "other sessions live on");

    let res = app
        .request(
            Method::POST,
            "/api/v1/auth/logout-all",
            Some(&access(&phone_b)?),
        )
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for p in [&phone_b, &tablet] {
        let (status, _) = app.get("/api/v1/me", Some(&access(p)?)).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = app
            .post(
                "/api/v1/auth/refresh",
                None,
                json!({"refresh_token": p["refresh_token"]}),
            )
            .await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    app.login_pair(DISPATCHER, "gridwing2026").await?;
    Ok(())
}

/// A login as if from `addr`: the test server trusts X-Forwarded-For from its loopback peer,
/// as a server behind a load balancer on that address would.
async fn login_from(
    app: &TestApp,
    addr: &str,
    phone: &str,
    password: &str,
) -> TestResult<reqwest::Response> {
    Ok(app
        .request(Method::POST, "/api/v1/auth/login", None)
        .header("x-forwarded-for", addr)
        .json(&json!({"phone": phone, "password": password}))
        .send()
        .await?)
}

/// The wait a 429 asks for, after checking it is a problem saying so.
async fn refused_for(res: reqwest::Response) -> TestResult<u64> {
    let retry: u64 = res
        .headers()
        .get("retry-after")
        .ok_or("a 429 without Retry-After")?
        .to_str()?
        .parse()?;
    assert_problem(res, 429, "rate-limited").await?;
    Ok(retry)
}

/// Flags for a server whose login delays are long enough that none ends during a test.
const THROTTLE: [&str; 8] = [
    "--trusted-proxies",
    "127.0.0.1",
    "--login-failures-per-account",
    "3",
    "--login-failures-per-addr",
    "6",
    "--login-delay-secs",
    "600",
];

#[tokio::test]
async fn wrong_passwords_from_one_address_do_not_lock_the_owner_out_elsewhere() -> TestResult {
    let app = TestApp::spawn_with(&THROTTLE).await?;
    let (stranger, home, office) = ("198.51.100.7", "203.0.113.10", "203.0.113.11");
    for _ in 0..3 {
        let res = login_from(&app, stranger, DISPATCHER, "guess1guess").await?;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // The stranger now waits, whatever password they try.
    let retry = refused_for(login_from(&app, stranger, DISPATCHER, "gridwing2026").await?).await?;
    assert!((1..=600).contains(&retry), "{retry}");
    // The owner, from their own address, gets in at once, and again.
    for _ in 0..2 {
        let res = login_from(&app, home, DISPATCHER, "gridwing2026").await?;
        assert_eq!(res.status(), StatusCode::OK);
    }
    // Their own mistakes count for their address only, and a success forgets them.
    for _ in 0..2 {
        let res = login_from(&app, office, DISPATCHER, "typo1typo").await?;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        login_from(&app, office, DISPATCHER, "gridwing2026")
            .await?
            .status(),
        StatusCode::OK
    );
    for _ in 0..2 {
        let res = login_from(&app, office, DISPATCHER, "typo1typo").await?;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        login_from(&app, office, DISPATCHER, "gridwing2026")
            .await?
            .status(),
        StatusCode::OK
    );
    // And the stranger still waits.
    refused_for(login_from(&app, stranger, DISPATCHER, "gridwing2026").await?).await?;
    Ok(())
}

#[tokio::test]
async fn an_ipv6_client_is_counted_by_its_64_network() -> TestResult {
    let app = TestApp::spawn_with(&THROTTLE).await?;
    // Three wrong passwords, each from another address of one /64: that is one client.
    for host in ["1", "2", "abcd:ef01:2345"] {
        let res = login_from(
            &app,
            &format!("2001:db8:7:7::{host}"),
            DISPATCHER,
            "guess1guess",
        )
        .await?;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    refused_for(login_from(&app, "2001:db8:7:7:ffff::9", DISPATCHER, "gridwing2026").await?)
        .await?;
    // The owner in the next /64 gets in.
    let res = login_from(&app, "2001:db8:7:8::1", DISPATCHER, "gridwing2026").await?;
    assert_eq!(res.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn an_address_trying_many_accounts_is_slowed_down() -> TestResult {
    let app = TestApp::spawn_with(&THROTTLE).await?;
    let (sprayer, neighbour) = ("198.51.100.66", "198.51.100.67");
    // One guess at each of nine accounts (three of them unknown), all at once: each account is
    // under its own limit, but the address has six failures to spend, counted as the attempts
    // start, so a burst does not slip more through.
    let phones = [
        ADMIN,
        DISPATCHER,
        GRID_WORKER,
        TEAM_MEMBER,
        COORDINATOR,
        CITIZEN,
        "13900000001",
        "13900000002",
        "13900000003",
    ];
    let burst = phones.map(|phone| login_from(&app, sprayer, phone, "guess1guess"));
    let mut statuses = Vec::new();
    for res in futures_util::future::join_all(burst).await {
        let res = res?;
        statuses.push(res.status().as_u16());
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry = refused_for(res).await?;
            assert!((1..=600).contains(&retry), "{retry}");
        }
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [401, 401, 401, 401, 401, 401, 429, 429, 429]);
    // Now every try from that address waits, whichever account and password it names.
    refused_for(login_from(&app, sprayer, OTHER_GRID_WORKER, "gridwing2026").await?).await?;
    // Another address is not held up, and an address whose people get their passwords right
    // is never slowed, however many log in from it.
    for _ in 0..3 {
        for phone in [ADMIN, DISPATCHER, GRID_WORKER, TEAM_MEMBER] {
            let res = login_from(&app, neighbour, phone, "gridwing2026").await?;
            assert_eq!(res.status(), StatusCode::OK, "{phone}");
        }
    }
    // Forged headers change nothing for a client that is not behind a trusted proxy.
    let direct = TestApp::spawn_with(&THROTTLE[2..]).await?;
    for (i, phone) in [
        ADMIN,
        DISPATCHER,
        GRID_WORKER,
        TEAM_MEMBER,
        COORDINATOR,
        CITIZEN,
    ]
    .into_iter()
    .enumerate()
    {
        let res = login_from(&direct, &format!("192.0.2.{i}"), phone, "guess1guess").await?;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{phone}");
    }
    refused_for(login_from(&direct, "192.0.2.99", OTHER_GRID_WORKER, "gridwing2026").await?)
        .await?;
    Ok(())
}

/// Signs arbitrary claims with the server's secret (or another).
fn forge(secret: &[u8], alg: Algorithm, claims: &Value) -> TestResult<String> {
    Ok(encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret),
    )?)
}

#[tokio::test]
async fn every_bad_access_token_is_refused_with_401() -> TestResult {
    const SECRET: &str = "test-secret-test-secret-test-secret!";
    let app = TestApp::spawn_with(&["--jwt-secret", SECRET]).await?;
    let pair = app.login_pair(ADMIN, "gridwing2026").await?;
    let good = str_field(&pair, "access_token")?;
    let (status, _) = app.get("/api/v1/users", Some(&good)).await?;
    assert_eq!(status, StatusCode::OK);

    let me = app.get("/api/v1/me", Some(&good)).await?.1;
    let now = chrono::Utc::now().timestamp();
    let claims = |patch: Value| {
        let mut c = json!({
            "iss": "gridwing", "aud": "gridwing-api", "sub": me["id"], "sid": pair["session_id"],
            "iat": now, "nbf": now, "exp": now + 600, "roles": ["admin"]
        });
        if let (Some(c), Some(p)) = (c.as_object_mut(), patch.as_object()) {
            for (k, v) in p {
                if v.is_null() {
                    c.remove(k);
                } else {
                    c.insert(k.clone(), v.clone());
                }
            }
        }
        c
    };
    let s = SECRET.as_bytes();
    // The control: a token we forge with every claim right is accepted, so each refusal below is
    // about the one thing changed.
    let control = forge(s, Algorithm::HS256, &claims(json!({})))?;
    assert_eq!(
        app.get("/api/v1/users", Some(&control)).await?.0,
        StatusCode::OK
    );

    let mut bad: Vec<(&str, String)> = vec![
        (
            "expired",
            forge(
                s,
                Algorithm::HS256,
                &claims(json!({"exp": now - 3600, "iat": now - 4000, "nbf": now - 4000})),
            )?,
        ),
        (
            "not yet valid",
            forge(
                s,
                Algorithm::HS256,
                &claims(json!({"nbf": now + 3600, "exp": now + 7200})),
            )?,
        ),
        (
            "other audience",
            forge(s, Algorithm::HS256, &claims(json!({"aud": "another-app"})))?,
        ),
        (
            "other issuer",
            forge(s, Algorithm::HS256, &claims(json!({"iss": "someone-else"})))?,
        ),
        (
            "no exp",
            forge(s, Algorithm::HS256, &claims(json!({"exp": null})))?,
        ),
        (
            "no nbf",
            forge(s, Algorithm::HS256, &claims(json!({"nbf": null})))?,
        ),
        (
            "no sub",
            forge(s, Algorithm::HS256, &claims(json!({"sub": null})))?,
        ),
        (
            "other key",
            forge(
                b"another-secret-another-secret-000",
                Algorithm::HS256,
                &claims(json!({})),
            )?,
        ),
        (
            "other algorithm",
            forge(s, Algorithm::HS512, &claims(json!({})))?,
        ),
        (
            "unknown session",
            forge(
                s,
                Algorithm::HS256,
                &claims(json!({"sid": "00000000-0000-7000-8000-000000000000"})),
            )?,
        ),
        ("garbage", "not.a.token".to_owned()),
    ];
    // alg "none": a header and payload with an empty signature.
    {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = b64.encode(serde_json::to_vec(&claims(json!({})))?);
        bad.push(("alg none", format!("{header}.{payload}.")));
        // Tampered: a citizen's valid token with the payload swapped for one claiming admin.
        let citizen = app.token(CITIZEN).await?;
        let parts: Vec<&str> = citizen.split('.').collect();
        bad.push(("tampered", format!("{}.{payload}.{}", parts[0], parts[2])));
    }
    for (what, token) in &bad {
        let res = app
            .request(Method::GET, "/api/v1/users", Some(token))
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer", "{what}");
        assert_problem(res, 401, "unauthorized").await?;
    }
    for header in ["Basic YWRtaW46YWRtaW4=", "Bearer", &format!("Token {good}")] {
        let res = app
            .client
            .get(app.url("/api/v1/me"))
            .header("authorization", header)
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{header}");
    }
    Ok(())
}

#[tokio::test]
async fn disabling_or_changing_roles_ends_sessions() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let admin = app.token(ADMIN).await?;
    let id = app
        .create_user(&admin, "13900000042", &["grid_worker"], "网格2026abc")
        .await?;
    let worker = str_field(
        &app.login_pair("13900000042", "网格2026abc").await?,
        "access_token",
    )?;
    let (status, me) = app.get("/api/v1/me", Some(&worker)).await?;
    assert_eq!(
        (status, &me["roles"]),
        (StatusCode::OK, &json!(["grid_worker"]))
    );

    let (status, user) = app
        .call(Method::PATCH, &format!("/api/v1/users/{id}"), Some(&admin), Some(json!({"roles": ["grid_worker", "coordinator"], "areas": [{"kind": "grid", "code": "QSH-G002"}]})))
        .await?;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["roles"], json!(["grid_worker", "coordinator"]));
    assert_eq!(user["areas"], json!([{"kind": "grid", "code": "QSH-G002"}]));
    // Areas that are not in the tree, or a grid's code given as a micro-grid's, are refused and
    // named; the account keeps its areas.
    let res = app
        .request(Method::PATCH, &format!("/api/v1/users/{id}"), Some(&admin))
        .json(&json!({"areas": [
            {"kind": "grid", "code": "QSH-G002"},
            {"kind": "grid", "code": "QSH-G999"},
            {"kind": "micro_grid", "code": "QSH-G001"},
            {"kind": "team", "code": "QSH-NOPE-01"}
        ]}))
        .send()
        .await?;
    let p = assert_problem(res, 422, "validation-failed").await?;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .ok_or("no errors")?
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        ["areas[1].code", "areas[2].code", "areas[3].code"],
        "{p}"
    );
    let (_, user) = app
        .get(&format!("/api/v1/users/{id}"), Some(&admin))
        .await?;
    assert_eq!(user["areas"], json!([{"kind": "grid", "code": "QSH-G002"}]));
    let res = app
        .request(Method::POST, "/api/v1/users", Some(&admin))
        .json(
            &json!({"phone": "13900000043", "name": "错网格", "password": "网格2026abc",
                      "roles": ["grid_worker"], "areas": [{"kind": "grid", "code": "QSH-G999"}]}),
        )
        .send()
        .await?;
    let p = assert_problem(res, 422, "validation-failed").await?;
    assert_eq!(p["errors"][0]["field"], "areas[0].code", "{p}");
    let (status, _) = app.get("/api/v1/me", Some(&worker)).await?;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a token with old roles stops working"
    );

    let worker = str_field(
        &app.login_pair("13900000042", "网格2026abc").await?,
        "access_token",
    )?;
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            Some(&admin),
            Some(json!({"disabled": true})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/api/v1/me", Some(&worker)).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"phone": "13900000042", "password": "网格2026abc"}),
        )
        .await?;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a disabled account cannot log in"
    );

    // An admin cannot lock themselves out.
    let admin_id = str_field(&app.get("/api/v1/me", Some(&admin)).await?.1, "id")?;
    let (status, p) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{admin_id}"),
            Some(&admin),
            Some(json!({"disabled": true})),
        )
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    Ok(())
}

#[tokio::test]
async fn instances_share_sessions_and_with_redis_share_rate_limits() -> TestResult {
    let flags = [
        "--login-failures-per-account",
        "2",
        "--login-delay-secs",
        "600",
        "--session-check-secs",
        "1",
    ];
    let a = TestApp::spawn_with(&flags).await?;
    let b = a.second_instance(&flags).await?;
    // A token issued by one instance is good on the other: the signing key is shared.
    let pair = a.login_pair(CITIZEN, "gridwing2026").await?;
    let token = str_field(&pair, "access_token")?;
    assert_eq!(b.get("/api/v1/me", Some(&token)).await?.0, StatusCode::OK);
    // A logout on one is seen by the other within --session-check-secs.
    let res = a
        .request(Method::POST, "/api/v1/auth/logout", Some(&token))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        a.get("/api/v1/me", Some(&token)).await?.0,
        StatusCode::UNAUTHORIZED
    );
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    assert_eq!(
        b.get("/api/v1/me", Some(&token)).await?.0,
        StatusCode::UNAUTHORIZED
    );

    // Two failed logins on instance a use up the account's free attempts from this address.
    for _ in 0..2 {
        let (status, _) = a
            .post(
                "/api/v1/auth/login",
                None,
                json!({"phone": ADMIN, "password": "guess1guess"}),
            )
            .await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = b
        .post(
            "/api/v1/auth/login",
            None,
            json!({"phone": ADMIN, "password": "guess1guess"}),
        )
        .await?;
    if std::env::var_os("REDIS_URL").is_some() {
        // Counted in Redis, so instance b knows.
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    } else {
        // Counted in each instance's memory: b has seen one attempt.
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    Ok(())
}
