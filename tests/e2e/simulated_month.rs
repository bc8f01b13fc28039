//! The demo street with a simulated month (`gridwing demo --month N`): health, rankings, monthly
//! reviews and their files all work on it, and agree with what was simulated — the command line
//! says how many events it wrote and refused, the rankings and the street's review count the
//! rest, the grids' reviews add up to the street's, every past day has its health, and
//! `gridwing reviews generate --files` writes one readable PDF per area.

use std::io::Cursor;

use calamine::{Reader, Xlsx};
use chrono::Utc;
use gridwing_api::entities::{area_health, events};
use gridwing_api::reviews::month::Month;
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::poppler;
use crate::support::*;

/// The number in `text` just before `word`.
fn number_before(text: &str, word: &str) -> TestResult<u64> {
    let head = text
        .split(word)
        .next()
        .filter(|h| h.len() < text.len())
        .ok_or_else(|| format!("{word} in {text}"))?;
    let n = head
        .split(|c: char| !c.is_ascii_digit())
        .rfind(|s| !s.is_empty())
        .ok_or_else(|| format!("a number before {word} in {text}"))?;
    Ok(n.parse()?)
}

#[tokio::test]
async fn the_demo_street_with_a_simulated_month_has_health_rankings_reviews_and_files() -> TestResult
{
    let app = TestApp::spawn_with(&["--demo-street", "true", "--sweep-secs", "3600"]).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let now = Utc::now();
    let month = Month::of(now).previous();
    let (first, last) = (month.first_day(), month.last_day());

    let said = gridwing_command(&app, &["demo", "--month", "600"]).await?;
    assert!(
        said.contains(&format!("Simulated {month} on the demo street: 600 events")),
        "{said}"
    );
    let refused = number_before(&said, " refused")?;
    let closed = number_before(&said, " closed")?;
    let counted = 600 - refused;
    assert!(refused > 0 && closed > 0 && closed < counted, "{said}");
    let written = events::Entity::find()
        .filter(events::Column::StreetCode.eq("QSH"))
        .filter(events::Column::CreatedAt.gte(month.start()))
        .filter(events::Column::CreatedAt.lt(month.end()))
        .count(&app.state.db)
        .await?;
    assert_eq!(written, 600);
    // Once: a second run leaves the month as it is.
    let again = gridwing_command(&app, &["demo", "--month", "600"]).await?;
    assert!(!again.contains("Simulated"), "{again}");

    // Health: every day of the month kept for every grid, and today's figures.
    let days = (last - first).num_days() as u64 + 1;
    let rows = area_health::Entity::find()
        .filter(area_health::Column::Day.gte(first.format("%Y-%m-%d").to_string()))
        .filter(area_health::Column::Day.lte(last.format("%Y-%m-%d").to_string()))
        .count(&app.state.db)
        .await?;
    assert_eq!(rows, days * 118);
    let (status, health) = app
        .get("/api/v1/areas/QSH-G001/health", Some(&dispatcher))
        .await?;
    assert_eq!(status, StatusCode::OK, "{health}");
    let (status, history) = app
        .get(
            &format!("/api/v1/areas/QSH-G001/health/history?from={first}&to={last}"),
            Some(&dispatcher),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{history}");
    assert_eq!(
        history["days"].as_array().map(Vec::len),
        Some(days as usize),
        "{history}"
    );

    // Rankings of the month: every grid, and every counted event.
    let (status, ranked) = app
        .get(
            &format!("/api/v1/rankings?from={first}&to={last}&limit=200"),
            Some(&dispatcher),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{ranked}");
    let rows = ranked["rows"].as_array().ok_or("rows")?;
    assert_eq!(rows.len(), 118);
    let received: u64 = rows
        .iter()
        .filter_map(|r| r["events_received"].as_u64())
        .sum();
    assert_eq!(received, counted);

    // Reviews: generated from the command line with their PDFs, one per area.
    let dir = tempfile::tempdir()?;
    let out = dir.path().to_string_lossy().into_owned();
    let label = month.label();
    let said = gridwing_command(
        &app,
        &[
            "reviews", "generate", "--street", "QSH", "--month", &label, "--files", &out,
        ],
    )
    .await?;
    assert!(
        said.contains(&format!("125 reviews of QSH {label} generated")),
        "{said}"
    );
    assert!(said.contains("125 PDFs written"), "{said}");
    let pdfs = std::fs::read_dir(dir.path())?.count();
    assert_eq!(pdfs, 125);
    let street_pdf = std::fs::read(dir.path().join(format!("QSH_{label}_月度研判报告_v1.pdf")))?;
    let text: String = poppler::text(&street_pdf)?.split_whitespace().collect();
    assert!(
        text.contains(&format!("本月受理事件{counted}件，办结{closed}件")),
        "{text}"
    );

    let (on, token) = (&app, dispatcher.as_str());
    let list = |q: String| async move {
        let (status, page) = on.get(&format!("/api/v1/reviews{q}"), Some(token)).await?;
        assert_eq!(status, StatusCode::OK, "{page}");
        TestResult::Ok(page)
    };
    let street = list(format!("?area=QSH&month={label}")).await?;
    let id = str_field(&street["items"][0], "id")?;
    let (status, opened) = app
        .get(&format!("/api/v1/reviews/{id}"), Some(&dispatcher))
        .await?;
    assert_eq!(status, StatusCode::OK, "{opened}");
    let f = &opened["figures"];
    assert_eq!(
        (
            f["events"]["total"].as_u64(),
            f["events"]["closed"].as_u64()
        ),
        (Some(counted), Some(closed))
    );
    assert_eq!(f["grids"], 118);
    assert!(f["steps"]["all"]["due"].as_u64() > Some(0), "{f}");
    assert!(
        f["health"]["trend"].as_array().map(Vec::len) == Some(days as usize),
        "{f}"
    );
    // The grids' reviews add up to the street's.
    let mut total = 0;
    let mut cursor: Option<String> = None;
    loop {
        let q = format!(
            "?scope=grid&month={label}&limit=200{}",
            cursor
                .as_ref()
                .map(|c| format!("&cursor={c}"))
                .unwrap_or_default()
        );
        let page = list(q).await?;
        for r in page["items"].as_array().into_iter().flatten() {
            let id = str_field(r, "id")?;
            let (_, g) = app
                .get(&format!("/api/v1/reviews/{id}"), Some(&dispatcher))
                .await?;
            total += g["figures"]["events"]["total"].as_u64().unwrap_or(0);
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(total, counted);

    // And its workbook opens.
    let res = app
        .request(
            Method::GET,
            &format!("/api/v1/reviews/{id}/report.xlsx"),
            Some(&dispatcher),
        )
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    let mut book = Xlsx::new(Cursor::new(res.bytes().await?.to_vec()))?;
    let sheet = book.worksheet_range("指标")?;
    let line = sheet
        .rows()
        .find(|r| r.get(1).map(ToString::to_string).as_deref() == Some("受理事件数"))
        .ok_or("the events line")?;
    assert_eq!(line[2].to_string(), counted.to_string());
    Ok(())
}
