//! Call-outs: every volunteer of an area (or team) hears it live and by mail over a real SMTP
//! server, answers, and the coordinator watches the roll fill in live.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::live::{connect, next_item};
use crate::mail::{Sink, addressed_to, free_port};
use crate::support::*;

#[tokio::test]
async fn a_callout_reaches_an_areas_volunteers_live_and_by_mail_and_the_roll_fills_live()
-> TestResult {
    let sink = Sink::start(free_port()?, &[]).await?;
    let smtp = sink.url();
    let app = TestApp::spawn_with(&["--demo-street", "true", "--smtp-url", &smtp]).await?;
    let coordinator = app.token(COORDINATOR).await?;
    let people = app.crowd("180", 4).await?;
    // Three serve community C02 or places in it; one serves another community.
    let index = app.state.places.get();
    let below = |level: places::tree::Level| {
        index
            .nodes()
            .find(|n| n.level == level && index.chain(&n.code).iter().any(|a| a.code == "QSH-C02"))
            .map(|n| n.code.clone())
            .ok_or("the demo street has grids and micro-grids in QSH-C02")
    };
    let grid = below(places::tree::Level::Grid)?;
    let micro = below(places::tree::Level::MicroGrid)?;
    for ((_, token), area) in
        people
            .iter()
            .zip(["QSH-C02", grid.as_str(), micro.as_str(), "QSH-C06"])
    {
        let (s, v) = app
            .post(
                "/api/v1/volunteers/me",
                Some(token),
                json!({"areas": [area]}),
            )
            .await?;
        assert_eq!(s.as_u16(), 201, "{v}");
    }
    let mut phones = Vec::new();
    for (_, token) in &people {
        phones.push(connect(&app, token, None).await?);
    }
    let mut console = connect(&app, &coordinator, None).await?;

    let (s, c) = app
        .post(
            "/api/v1/callouts",
            Some(&coordinator),
            json!({"title": "防汛紧急集结", "message": "请于30分钟内到社区居委会集合，携带雨具。", "area": "QSH-C02"}),
        )
        .await?;
    assert_eq!(s.as_u16(), 201, "{c}");
    assert_eq!(
        c["tally"],
        json!({"called": 3, "yes": 0, "no": 0, "pending": 3})
    );
    let id = str_field(&c, "id")?;

    for phone in phones.iter_mut().take(3) {
        let heard = next_item(phone, Duration::from_secs(10)).await?;
        assert_eq!(heard["kind"], "callout.created", "{heard}");
        assert_eq!(heard["payload"]["callout_id"], json!(id));
        assert_eq!(heard["payload"]["title"], "防汛紧急集结");
    }
    assert!(
        next_item(&mut phones[3], Duration::from_millis(500))
            .await
            .is_err(),
        "the other community's volunteer is not called"
    );
    let got = sink.wait_for(3, Duration::from_secs(20)).await?;
    for (i, (_, _)) in people.iter().enumerate().take(3) {
        let to = format!("180{i:08}@example.cn");
        let m = addressed_to(&got, &to)?;
        assert_eq!(m["subject"], "【紧急召集】防汛紧急集结", "{m}");
    }
    assert!(addressed_to(&got, "18000000003@example.cn").is_err());

    // Answers come in; the coordinator's console hears each with the new tally.
    for (i, answer) in [(0, "yes"), (1, "no"), (0, "yes")] {
        let (s, v) = app
            .post(
                &format!("/api/v1/callouts/{id}/answer"),
                Some(&people[i].1),
                json!({"answer": answer}),
            )
            .await?;
        assert_eq!(s.as_u16(), 200, "{v}");
        assert_eq!(v["my_answer"], answer);
        let heard = loop {
            let item = next_item(&mut console, Duration::from_secs(10)).await?;
            if item["kind"] == "callout.answered" {
                break item;
            }
        };
        assert_eq!(heard["payload"]["answer"], answer, "{heard}");
    }
    let (_, c) = app
        .get(&format!("/api/v1/callouts/{id}"), Some(&coordinator))
        .await?;
    assert_eq!(
        c["tally"],
        json!({"called": 3, "yes": 1, "no": 1, "pending": 1}),
        "{c}"
    );
    let (_, roll) = app
        .get(&format!("/api/v1/callouts/{id}/roll"), Some(&coordinator))
        .await?;
    let answers: Vec<&Value> = roll["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| &r["answer"])
        .collect();
    assert_eq!(answers.len(), 3);
    assert_eq!(answers.iter().filter(|a| **a == "yes").count(), 1);

    // The uncalled volunteer neither sees nor answers it; the called one lists it.
    let outsider = &people[3].1;
    problem(
        &app,
        Method::GET,
        &format!("/api/v1/callouts/{id}"),
        outsider,
        None,
        404,
        "not-found",
    )
    .await?;
    problem(
        &app,
        Method::POST,
        &format!("/api/v1/callouts/{id}/answer"),
        outsider,
        Some(json!({"answer": "yes"})),
        404,
        "not-found",
    )
    .await?;
    let (_, mine) = app.get("/api/v1/callouts/mine", Some(&people[2].1)).await?;
    assert_eq!(mine["items"][0]["id"], json!(id));
    assert_eq!(mine["items"][0]["my_answer"], Value::Null);
    sink.stop().await?;
    Ok(())
}

#[tokio::test]
async fn a_callout_names_one_target_that_has_volunteers() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true"]).await?;
    let coordinator = app.token(COORDINATOR).await?;
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/callouts",
        &coordinator,
        Some(json!({"title": "", "message": "x", "area": "QSH-C01", "team": "T"})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(error_fields(&p), ["title", "area"], "{p}");
    let p = problem(
        &app,
        Method::POST,
        "/api/v1/callouts",
        &coordinator,
        Some(json!({"title": "集结", "message": "x", "area": "QSH-C03"})),
        422,
        "validation-failed",
    )
    .await?;
    assert_eq!(p["errors"][0]["rule"], "no_volunteers", "{p}");

    // A team's call-out reaches its active members only.
    let people = app.crowd("181", 2).await?;
    app.post(
        "/api/v1/volunteer-teams",
        Some(&coordinator),
        json!({"code": "FLOOD", "name": "防汛突击队"}),
    )
    .await?;
    for (_, token) in &people {
        app.post("/api/v1/volunteers/me", Some(token), json!({}))
            .await?;
    }
    app.post(
        "/api/v1/volunteer-teams/FLOOD/join",
        Some(&people[0].1),
        json!({}),
    )
    .await?;
    let (s, c) = app
        .post(
            "/api/v1/callouts",
            Some(&coordinator),
            json!({"title": "集结", "message": "堤坝巡查", "team": "FLOOD"}),
        )
        .await?;
    assert_eq!(s.as_u16(), 201, "{c}");
    assert_eq!(c["tally"]["called"], 1);
    problem(
        &app,
        Method::POST,
        "/api/v1/callouts",
        &people[0].1,
        Some(json!({})),
        403,
        "forbidden",
    )
    .await?;
    Ok(())
}
