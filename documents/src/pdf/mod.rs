//! PDF files whose Chinese text shows in any viewer: every page is drawn on a [`Canvas`] (text,
//! rectangles, lines, polygons, all vector), then written with the glyphs used embedded as a
//! subset of the [`PdfFont`]. [`Report`] lays out a flowing document (title, headings,
//! paragraphs, tables that break across pages, charts) onto canvases; a fixed layout such as a
//! sheet of labels draws its canvases itself and calls [`render`].
//!
//! Coordinates are points (1/72 inch) from the page's top-left corner, y growing downwards.

mod canvas;
mod chart;
mod report;

pub use canvas::{Align, Canvas, Color};
pub use chart::{Chart, ChartKind, Series};
pub use report::Report;

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point};
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, LineCap, LineJoin, Stroke};
use krilla::text::TextDirection;

use crate::DocumentError;
use crate::font::PdfFont;
use canvas::Op;

/// A4 width in points.
pub const A4_WIDTH: f32 = 595.28;
/// A4 height in points.
pub const A4_HEIGHT: f32 = 841.89;

/// Writes `pages` (A4) as a PDF titled `title`, embedding the subset of `font` they use.
pub fn render(font: &PdfFont, title: &str, pages: &[Canvas]) -> Result<Vec<u8>, DocumentError> {
    let mut document = krilla::Document::new();
    document.set_metadata(
        Metadata::new()
            .title(title.to_owned())
            .language("zh-CN".to_owned())
            .creator("gridwing".to_owned()),
    );
    let settings = PageSettings::from_wh(A4_WIDTH, A4_HEIGHT).ok_or(DocumentError::TooLarge)?;
    let empty = [Canvas::new()];
    // A file without pages is not a PDF viewers open: an empty document gets one blank page.
    let pages = if pages.is_empty() { &empty[..] } else { pages };
    for canvas in pages {
        let mut page = document.start_page_with(settings.clone());
        let mut surface = page.surface();
        for op in &canvas.ops {
            draw(&mut surface, font, op);
        }
        surface.finish();
        page.finish();
    }
    document
        .finish()
        .map_err(|e| DocumentError::Pdf(format!("{e:?}")))
}

fn fill(color: Color) -> Fill {
    Fill {
        paint: rgb::Color::new(color.0, color.1, color.2).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    }
}

fn draw(surface: &mut krilla::surface::Surface<'_>, font: &PdfFont, op: &Op) {
    match op {
        Op::Text {
            x,
            y,
            size,
            text,
            align,
            color,
        } => {
            let width = font.width(text, *size);
            let left = match align {
                Align::Left => *x,
                Align::Center => x - width / 2.0,
                Align::Right => x - width,
            };
            surface.set_stroke(None);
            surface.set_fill(Some(fill(*color)));
            surface.draw_text(
                Point::from_xy(left, *y),
                font.krilla.clone(),
                *size,
                text,
                false,
                TextDirection::Auto,
            );
        }
        Op::Rects { rects, color } => {
            let mut builder = PathBuilder::new();
            for &(x, y, w, h) in rects {
                if let Some(rect) = krilla::geom::Rect::from_xywh(x, y, w, h) {
                    builder.push_rect(rect);
                }
            }
            if let Some(path) = builder.finish() {
                surface.set_stroke(None);
                surface.set_fill(Some(fill(*color)));
                surface.draw_path(&path);
            }
        }
        Op::Polygon { points, color } => {
            if let Some(path) = polyline(points, true) {
                surface.set_stroke(None);
                surface.set_fill(Some(fill(*color)));
                surface.draw_path(&path);
            }
        }
        Op::Line {
            points,
            width,
            color,
        } => {
            if let Some(path) = polyline(points, false) {
                surface.set_fill(None);
                surface.set_stroke(Some(Stroke {
                    paint: rgb::Color::new(color.0, color.1, color.2).into(),
                    width: *width,
                    line_cap: LineCap::Round,
                    line_join: LineJoin::Round,
                    ..Stroke::default()
                }));
                surface.draw_path(&path);
            }
        }
    }
}

fn polyline(points: &[(f32, f32)], close: bool) -> Option<krilla::geom::Path> {
    let (first, rest) = points.split_first()?;
    let mut builder = PathBuilder::new();
    builder.move_to(first.0, first.1);
    for &(x, y) in rest {
        builder.line_to(x, y);
    }
    if close {
        builder.close();
    }
    builder.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use std::path::Path;
    use std::process::Command;

    use super::*;
    use crate::font::tests::test_font;

    /// Runs a poppler tool on `pdf` (scripts/test installs poppler-utils) and returns its stdout.
    pub(crate) fn poppler(tool: &str, args: &[&str], pdf: &[u8]) -> String {
        let dir = std::env::temp_dir().join(format!(
            "gw-pdf-{}-{}",
            std::process::id(),
            std::thread::current()
                .name()
                .unwrap_or("t")
                .replace("::", "-")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("in.pdf");
        std::fs::write(&file, pdf).unwrap();
        let mut command = Command::new(tool);
        command.args(args).arg(&file);
        if tool == "pdftotext" {
            command.arg("-");
        } else if tool == "pdftoppm" {
            command.arg(dir.join("page"));
        }
        let out = command
            .output()
            .unwrap_or_else(|e| panic!("{tool} (apt-get install poppler-utils): {e}"));
        assert!(
            out.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut text = String::from_utf8(out.stdout).unwrap();
        if tool == "pdftoppm" {
            // Report the rendered pages: their count and whether each has dark pixels.
            let mut pages: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "pgm"))
                .collect();
            pages.sort();
            text = pages
                .iter()
                .map(|p| {
                    format!(
                        "{} {}\n",
                        file_name(p),
                        dark_pixels(&std::fs::read(p).unwrap())
                    )
                })
                .collect();
        }
        std::fs::remove_dir_all(&dir).unwrap();
        text
    }

    fn file_name(path: &Path) -> String {
        path.file_name().unwrap().to_string_lossy().into_owned()
    }

    /// Pixels darker than mid-grey in a binary PGM (P5, 8 bit).
    fn dark_pixels(pgm: &[u8]) -> usize {
        // The header is four whitespace-separated fields: P5, width, height, maxval.
        let mut fields = 0;
        let mut at = 0;
        let mut in_field = false;
        while fields < 4 {
            let blank = pgm[at].is_ascii_whitespace();
            if in_field && blank {
                fields += 1;
            }
            in_field = !blank;
            at += 1;
        }
        pgm[at..].iter().filter(|&&v| v < 128).count()
    }

    #[test]
    fn canvases_become_pages_with_the_font_embedded_and_text_extractable() {
        let font = test_font();
        let mut first = Canvas::new();
        first.text(
            50.0,
            80.0,
            18.0,
            "网格健康排名 2026年11月",
            Align::Left,
            Color::BLACK,
        );
        first.rects(&[(50.0, 100.0, 100.0, 40.0)], Color(200, 30, 30));
        first.line(&[(50.0, 160.0), (300.0, 160.0)], 1.0, Color::BLACK);
        let mut second = Canvas::new();
        second.text(
            A4_WIDTH / 2.0,
            80.0,
            12.0,
            "第二页：幸福里社区",
            Align::Center,
            Color::BLACK,
        );
        second.polygon(
            &[(100.0, 100.0), (200.0, 100.0), (150.0, 180.0)],
            Color(0, 90, 200),
        );
        let pdf = render(&font, "测试", &[first, second]).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));

        let text = poppler("pdftotext", &["-layout"], &pdf);
        assert!(text.contains("网格健康排名 2026年11月"), "{text}");
        assert!(text.contains("第二页：幸福里社区"), "{text}");
        let fonts = poppler("pdffonts", &[], &pdf);
        let row = fonts.lines().nth(2).expect("one font row");
        // name type encoding emb sub uni: an embedded subset with a Unicode map.
        let columns: Vec<&str> = row.split_whitespace().collect();
        assert!(columns[0].contains('+'), "a subset tag: {row}");
        assert_eq!(
            &columns[columns.len() - 5..columns.len() - 2],
            ["yes", "yes", "yes"],
            "{fonts}"
        );
        assert_eq!(fonts.lines().count(), 3, "one font: {fonts}");
        let pages = poppler("pdftoppm", &["-gray", "-r", "40"], &pdf);
        let counts: Vec<usize> = pages
            .lines()
            .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
            .collect();
        assert_eq!(counts.len(), 2, "{pages}");
        assert!(
            counts.iter().all(|&dark| dark > 50),
            "every page draws: {pages}"
        );
    }

    #[test]
    fn the_subset_is_small_and_an_empty_document_still_has_a_page() {
        let font = test_font();
        let mut canvas = Canvas::new();
        canvas.text(50.0, 80.0, 12.0, "网格", Align::Left, Color::BLACK);
        let pdf = render(&font, "小", &[canvas]).unwrap();
        // The full font is about 5 MB; two glyphs embed in a few kilobytes.
        assert!(pdf.len() < 60_000, "{} bytes", pdf.len());
        let empty = render(&font, "空", &[]).unwrap();
        let info = poppler("pdfinfo", &[], &empty);
        assert!(
            info.lines()
                .any(|l| l.starts_with("Pages:") && l.ends_with(" 1")),
            "{info}"
        );
        assert!(info.contains("空"), "{info}");
    }
}
