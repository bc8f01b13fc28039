//! The rankings as files (XLSX, CSV, PDF): read back with a spreadsheet reader, a CSV parser and
//! poppler, they hold what the JSON rankings hold; a grid whose imported name starts a formula
//! comes out neutralised; headers carry the content type and a Chinese file name; access is the
//! JSON route's; without a font only the PDF is refused.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::poppler;
use crate::support::*;

/// Imported as grid TS-G1's name: a formula if a spreadsheet ran it.
const FORMULA_NAME: &str = "=HYPERLINK(\"http://x.example\",\"点我\")";

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

/// A street of three grids, one named like a formula, another like a phone number; events in
/// two of them; health computed.
async fn street(app: &TestApp) -> TestResult {
    let admin = app.token(ADMIN).await?;
    let citizen = app.token(CITIZEN).await?;
    let features = vec![
        feature("TS", "测试街道", "street", None, Value::Null),
        feature("TS-C1", "测试社区", "community", Some("TS"), Value::Null),
        feature(
            "TS-G1",
            FORMULA_NAME,
            "grid",
            Some("TS-C1"),
            square(120.00, 30.00, 120.02, 30.02),
        ),
        feature(
            "TS-G2",
            "测试社区第2网格",
            "grid",
            Some("TS-C1"),
            square(120.02, 30.00, 120.04, 30.02),
        ),
        feature(
            "TS-G3",
            "+86网格",
            "grid",
            Some("TS-C1"),
            square(120.04, 30.00, 120.06, 30.02),
        ),
    ];
    let (status, body) = app
        .post(
            "/api/v1/areas/import?mode=replace",
            Some(&admin),
            json!({"type": "FeatureCollection", "features": features}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    for lng in [120.01, 120.03, 120.031] {
        let (status, e) = app
            .post(
                "/api/v1/events",
                Some(&citizen),
                json!({"id": Uuid::new_v4(), "category": "environment.garbage", "description": "排名导出测试", "lat": 30.01, "lng": lng}),
            )
            .await?;
        assert_eq!(status, StatusCode::CREATED, "{e}");
    }
    let (status, done) = app
        .post(
            "/api/v1/grid-health/recompute?street=TS",
            Some(&admin),
            json!(null),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{done}");
    Ok(())
}

pub fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Downloads `path` and checks its content type and Content-Disposition.
pub async fn download(
    app: &TestApp,
    token: &str,
    path: &str,
    content_type: &str,
    name: &str,
) -> TestResult<Vec<u8>> {
    let res = app.request(Method::GET, path, Some(token)).send().await?;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    assert_eq!(header(&res, "content-type"), content_type, "{path}");
    assert_eq!(
        header(&res, "content-disposition"),
        documents::disposition::attachment(name),
        "{path}"
    );
    Ok(res.bytes().await?.to_vec())
}

/// A name as every file shows it.
fn shown(name: &str) -> String {
    documents::neutralise(name).into_owned()
}

fn percent(v: &Value) -> Option<f64> {
    v.as_f64().map(|r| (r * 10_000.0).round() / 100.0)
}

pub fn xlsx_number(cell: &Data) -> Option<f64> {
    match cell {
        Data::Float(f) => Some(*f),
        Data::Int(i) => Some(*i as f64),
        Data::Empty => None,
        other => panic!("not a number: {other:?}"),
    }
}

#[tokio::test]
async fn rankings_download_as_xlsx_csv_and_pdf_holding_the_json_figures_neutralised() -> TestResult
{
    let app = TestApp::spawn_with(&["--sweep-secs", "3600"]).await?;
    street(&app).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let query = "?street=TS&sort=health";
    let (status, json) = app
        .get(&format!("/api/v1/rankings{query}"), Some(&dispatcher))
        .await?;
    assert_eq!(status, StatusCode::OK, "{json}");
    let rows = json["rows"].as_array().ok_or("rows")?;
    assert_eq!(rows.len(), 3);
    let (from, to) = (str_field(&json, "from")?, str_field(&json, "to")?);

    // XLSX, read back with calamine: one row per ranked grid, in order, figures as numbers.
    let bytes = download(
        &app,
        &dispatcher,
        &format!("/api/v1/rankings.xlsx{query}"),
        documents::XLSX,
        &format!("网格排名_{from}_{to}.xlsx"),
    )
    .await?;
    let mut book = Xlsx::new(Cursor::new(bytes))?;
    assert_eq!(book.sheet_names(), ["排名"]);
    let range = book.worksheet_range("排名")?;
    let sheet: Vec<Vec<Data>> = range.rows().map(<[Data]>::to_vec).collect();
    assert_eq!(sheet.len(), 1 + rows.len());
    assert_eq!(sheet[0][0], Data::String("排名".into()));
    assert_eq!(sheet[0][7], Data::String("办结率(%)".into()));
    for (row, cells) in rows.iter().zip(&sheet[1..]) {
        assert_eq!(xlsx_number(&cells[0]), row["rank"].as_f64());
        assert_eq!(cells[1], Data::String(str_field(row, "code")?));
        assert_eq!(cells[2], Data::String(shown(&str_field(row, "name")?)));
        assert_eq!(xlsx_number(&cells[5]), row["events_received"].as_f64());
        assert_eq!(xlsx_number(&cells[6]), row["events_closed"].as_f64());
        assert_eq!(xlsx_number(&cells[7]), percent(&row["closure_rate"]));
        assert_eq!(xlsx_number(&cells[10]), percent(&row["on_time_rate"]));
        assert_eq!(xlsx_number(&cells[13]), row["repeats"].as_f64());
        assert_eq!(xlsx_number(&cells[17]), row["health_score"].as_f64());
    }
    let formula_row = sheet
        .iter()
        .find(|r| r[1] == Data::String("TS-G1".into()))
        .ok_or("TS-G1")?;
    assert_eq!(formula_row[2], Data::String(format!("'{FORMULA_NAME}")));
    let phone_row = sheet
        .iter()
        .find(|r| r[1] == Data::String("TS-G3".into()))
        .ok_or("TS-G3")?;
    assert_eq!(phone_row[2], Data::String("'+86网格".into()));
    assert!(
        book.worksheet_formula("排名")?
            .used_cells()
            .all(|(_, _, f)| f.is_empty())
    );

    // CSV: a byte-order mark, then the same table.
    let bytes = download(
        &app,
        &dispatcher,
        &format!("/api/v1/rankings.csv{query}"),
        "text/csv; charset=utf-8",
        &format!("网格排名_{from}_{to}.csv"),
    )
    .await?;
    let body = bytes
        .strip_prefix("\u{FEFF}".as_bytes())
        .ok_or("a byte-order mark")?;
    let mut reader = csv::Reader::from_reader(body);
    assert_eq!(&reader.headers()?[2], "名称");
    let records: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    assert_eq!(records.len(), rows.len());
    let text = |v: Option<f64>| v.map(documents::table::format_number).unwrap_or_default();
    for (row, record) in rows.iter().zip(&records) {
        assert_eq!(&record[0], row["rank"].to_string());
        assert_eq!(&record[1], str_field(row, "code")?);
        assert_eq!(record[2], shown(&str_field(row, "name")?));
        assert_eq!(&record[5], row["events_received"].to_string());
        assert_eq!(record[7], text(percent(&row["closure_rate"])));
        assert_eq!(record[17], text(row["health_score"].as_f64()));
    }
    assert!(records.iter().any(|r| r[2] == format!("'{FORMULA_NAME}")));

    // PDF: the title, period, headings, every grid and its figures as a viewer shows them.
    let pdf = download(
        &app,
        &dispatcher,
        &format!("/api/v1/rankings.pdf{query}"),
        "application/pdf",
        &format!("网格排名_{from}_{to}.pdf"),
    )
    .await?;
    poppler::assert_fonts_embedded(&pdf)?;
    let text = poppler::text(&pdf)?;
    let layout = poppler::layout_text(&pdf)?;
    for needle in [
        "网格排名（晾晒比拼）".to_owned(),
        format!("统计期间：{from} 至 {to}"),
        "健康分（前 3 名）".to_owned(),
        "排名明细".to_owned(),
        "测试社区第2网格".to_owned(),
        "'+86网格".to_owned(),
    ] {
        assert!(text.contains(&needle), "{needle} in {text}");
    }
    // Each grid's table row, as laid out on the page: rank, name, code, events received …
    // health score (two decimals).
    for row in rows {
        let code = str_field(row, "code")?;
        let line = layout
            .lines()
            .find(|l| l.split_whitespace().any(|t| t == code))
            .ok_or_else(|| format!("{code} in {layout}"))?;
        let tokens: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(tokens[0], row["rank"].to_string(), "{line}");
        let received = row["events_received"].to_string();
        assert!(tokens.contains(&received.as_str()), "{received} in {line}");
        let score = row["health_score"].as_f64().ok_or("a health score")?;
        let score = documents::table::format_number((score * 100.0).round() / 100.0);
        assert_eq!(tokens.last().copied(), Some(score.as_str()), "{line}");
    }
    let (w, h, pixels) = poppler::page_image(&pdf, 1, 50)?;
    assert!(w > 300 && h > 400);
    let dark = pixels.iter().filter(|p| **p < 128).count();
    assert!(
        dark > 1000,
        "the chart and text are drawn: {dark} dark pixels"
    );

    // The JSON route's access and checks.
    for ext in ["xlsx", "csv", "pdf"] {
        let path = format!("/api/v1/rankings.{ext}");
        for phone in [CITIZEN, COORDINATOR, TEAM_MEMBER] {
            let token = app.token(phone).await?;
            problem(&app, Method::GET, &path, &token, None, 403, "forbidden").await?;
        }
        let (status, _) = app.get(&path, None).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let p = problem(
            &app,
            Method::GET,
            &format!("{path}?from=2026-13-01"),
            &dispatcher,
            None,
            422,
            "validation-failed",
        )
        .await?;
        assert_eq!(error_fields(&p), ["from"]);
    }
    // Communities too, under their own name: 社区排名, percent-encoded in filename*.
    let res = app
        .request(
            Method::GET,
            "/api/v1/rankings.csv?street=TS&level=community",
            Some(&dispatcher),
        )
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        header(&res, "content-disposition"),
        format!(
            "attachment; filename=\"_____{from}_{to}.csv\"; \
             filename*=UTF-8''%E7%A4%BE%E5%8C%BA%E6%8E%92%E5%90%8D_{from}_{to}.csv"
        )
    );
    let body = res.bytes().await?;
    let text = String::from_utf8(body.to_vec())?;
    assert_eq!(text.lines().count(), 2, "one community: {text}");
    assert!(text.contains("TS-C1,测试社区,"), "{text}");
    Ok(())
}

#[tokio::test]
async fn without_a_font_only_the_pdf_is_refused() -> TestResult {
    let app = TestApp::spawn_with(&["--pdf-font", "/nonexistent/fonts/none.ttf"]).await?;
    let dispatcher = app.token(DISPATCHER).await?;
    let p = problem(
        &app,
        Method::GET,
        "/api/v1/rankings.pdf",
        &dispatcher,
        None,
        503,
        "pdf-font-missing",
    )
    .await?;
    assert!(str_field(&p, "detail")?.contains("fonts-wqy-microhei"));
    let res = app
        .request(Method::GET, "/api/v1/rankings.xlsx", Some(&dispatcher))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    Ok(())
}
