//! A monthly review as files (PDF, XLSX, CSV), read back as people would: poppler shows the
//! PDF's Chinese headings, figures, assessment and comments in its embedded font; calamine reads
//! the workbook's sheets; a CSV parser the figures. Called by the reviews test once its review
//! of known figures has been submitted, commented and read.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use reqwest::Method;
use serde_json::Value;

use crate::poppler;
use crate::ranking_files::{download, xlsx_number};
use crate::support::*;

/// The figures sheet's (and CSV's) line of `section` and `item`: this month, the month before.
fn figure_line(sheet: &[Vec<Data>], section: &str, item: &str) -> TestResult<(Data, Data)> {
    let row = sheet
        .iter()
        .find(|r| {
            r.first() == Some(&Data::String(section.into()))
                && r.get(1) == Some(&Data::String(item.into()))
        })
        .ok_or_else(|| format!("{section} / {item} in {sheet:?}"))?;
    Ok((
        row.get(2).cloned().unwrap_or(Data::Empty),
        row.get(3).cloned().unwrap_or(Data::Empty),
    ))
}

/// Checks the three files of review `id` (QSH-G001's last month: figures `f`, assessment
/// `words`, the comments `said`), and that `other` (another grid's worker) gets none.
pub async fn check(
    app: &TestApp,
    id: &str,
    reader: &str,
    other: &str,
    f: &Value,
    words: &str,
    said: &[&str],
) -> TestResult {
    let month = f["month"].as_str().ok_or("month")?;
    let name = |ext: &str| format!("QSH-G001_{month}_月度研判报告_v1.{ext}");
    let path = |ext: &str| format!("/api/v1/reviews/{id}/report.{ext}");
    let on_time = (9.0_f64 / 11.0 * 10_000.0).round() / 100.0;

    // XLSX: four sheets; the figures as numbers, named in Chinese, last month beside them.
    let bytes = download(app, reader, &path("xlsx"), documents::XLSX, &name("xlsx")).await?;
    let mut book = Xlsx::new(Cursor::new(bytes))?;
    assert_eq!(book.sheet_names(), ["指标", "热点", "健康趋势", "批注"]);
    let sheet: Vec<Vec<Data>> = book
        .worksheet_range("指标")?
        .rows()
        .map(<[Data]>::to_vec)
        .collect();
    assert_eq!(
        sheet[0],
        ["板块", "项目", "本月", "上月"].map(|h| Data::String(h.into()))
    );
    let number = |(now, before): (Data, Data)| (xlsx_number(&now), xlsx_number(&before));
    assert_eq!(
        number(figure_line(&sheet, "事件", "受理事件数")?),
        (Some(4.0), Some(0.0))
    );
    assert_eq!(
        number(figure_line(&sheet, "事件", "办结事件数")?),
        (Some(3.0), Some(0.0))
    );
    assert_eq!(
        number(figure_line(&sheet, "事件分类", "垃圾堆放")?),
        (Some(4.0), None)
    );
    assert_eq!(
        number(figure_line(&sheet, "事件来源", "居民上报")?),
        (Some(4.0), None)
    );
    assert_eq!(
        number(figure_line(&sheet, "环节按时", "合计按时率(%)")?),
        (Some(on_time), None)
    );
    assert_eq!(
        number(figure_line(&sheet, "亮灯督办", "红灯")?),
        (Some(1.0), Some(0.0))
    );
    assert_eq!(
        number(figure_line(&sheet, "群众评价", "平均评分")?),
        (Some(3.0), None)
    );
    assert_eq!(
        number(figure_line(&sheet, "志愿服务", "服务时长(小时)")?),
        (Some(1.5), None)
    );
    assert_eq!(
        figure_line(&sheet, "网格健康", "健康颜色")?.0,
        Data::String("黄色".into())
    );
    let spots: Vec<Vec<Data>> = book
        .worksheet_range("热点")?
        .rows()
        .map(<[Data]>::to_vec)
        .collect();
    assert_eq!(
        spots[1][..3],
        ["楼栋", "QSH-B0001", "QSH-G001"].map(|s| Data::String(s.into()))
    );
    assert_eq!(xlsx_number(&spots[1][3]), Some(4.0));
    let trend = book.worksheet_range("健康趋势")?;
    assert_eq!(trend.rows().count(), 3, "a header and two days");
    let comments: Vec<String> = book
        .worksheet_range("批注")?
        .rows()
        .skip(1)
        .map(|r| r[2].to_string())
        .collect();
    assert_eq!(comments, said);

    // CSV: a byte-order mark, then the figures sheet line for line.
    let bytes = download(
        app,
        reader,
        &path("csv"),
        "text/csv; charset=utf-8",
        &name("csv"),
    )
    .await?;
    let body = bytes
        .strip_prefix("\u{FEFF}".as_bytes())
        .ok_or("a byte-order mark")?;
    let mut csv = csv::Reader::from_reader(body);
    assert_eq!(
        csv.headers()?.iter().collect::<Vec<_>>(),
        ["板块", "项目", "本月", "上月"]
    );
    let records: Vec<csv::StringRecord> = csv.records().collect::<Result<_, _>>()?;
    assert_eq!(records.len(), sheet.len() - 1);
    let line = records
        .iter()
        .find(|r| &r[1] == "合计按时率(%)")
        .ok_or("the on-time line")?;
    assert_eq!(&line[2], documents::table::format_number(on_time));
    assert!(
        records
            .iter()
            .any(|r| r.iter().eq(["事件", "受理事件数", "4", "0"]))
    );

    // PDF: as a viewer shows it.
    let pdf = download(app, reader, &path("pdf"), "application/pdf", &name("pdf")).await?;
    poppler::assert_fonts_embedded(&pdf)?;
    // Compared without white space: a paragraph wraps where the page ends.
    let bare = |s: &str| s.split_whitespace().collect::<String>();
    let text = bare(&poppler::text(&pdf)?);
    let area = f["area_name"].as_str().ok_or("area_name")?;
    let mut needles = vec![
        format!("{area} {month} 月度研判报告"),
        "一、总体情况".to_owned(),
        "本月受理事件 4 件，办结 3 件".to_owned(),
        format!("环节按时率 {on_time:.2}%"),
        "事件等级分布".to_owned(),
        "各环节按时率(%)".to_owned(),
        "健康分（越高越需关注）".to_owned(),
        "QSH-B0001".to_owned(),
        "王网格 报送于".to_owned(),
        "八、指挥中心批注".to_owned(),
    ];
    needles.extend(words.lines().map(str::to_owned));
    needles.extend(said.iter().map(|s| (*s).to_owned()));
    for needle in needles {
        assert!(text.contains(&bare(&needle)), "{needle} in {text}");
    }
    let (w, h, pixels) = poppler::page_image(&pdf, 1, 50)?;
    assert!(w > 300 && h > 400);
    let dark = pixels.iter().filter(|p| **p < 128).count();
    assert!(dark > 1000, "charts and text are drawn: {dark} dark pixels");

    // As for the review itself: another grid's worker finds none of them.
    for ext in ["pdf", "xlsx", "csv"] {
        problem(app, Method::GET, &path(ext), other, None, 404, "not-found").await?;
    }
    Ok(())
}
