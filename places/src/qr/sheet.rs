//! A4 sheets of codes as a PDF: a title, 3 × 4 codes a page drawn as vector rectangles, each
//! with its building code and Chinese name under it, and a page number. The text is set in a CJK
//! font whose glyphs are embedded (a subset), so every viewer and printer shows the names.

use documents::PdfFont;
use documents::pdf::{A4_HEIGHT, A4_WIDTH, Align, Canvas, Color};

use super::render::{Modules, QrError};

/// One code on a printable sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetEntry {
    /// The signed payload to encode.
    pub payload: String,
    /// The building code, printed under the QR code for people.
    pub code: String,
    /// The Chinese building name, printed under the code.
    pub label: String,
}

// Distances from the top-left corner of an A4 page, in points.
const MARGIN: f32 = 36.0;
const COLUMNS: usize = 3;
const ROWS: usize = 4;
const PER_PAGE: usize = COLUMNS * ROWS;
const TITLE_SIZE: f32 = 16.0;
const TITLE_BASELINE: f32 = 54.0;
const GRID_TOP: f32 = 76.0;
const GRID_BOTTOM: f32 = A4_HEIGHT - 48.0;
const CELL_W: f32 = (A4_WIDTH - 2.0 * MARGIN) / COLUMNS as f32;
const CELL_H: f32 = (GRID_BOTTOM - GRID_TOP) / ROWS as f32;
/// Side of a code with its quiet zone: 126 pt is about 44 mm, readable from arm's length.
const QR_SIDE: f32 = 126.0;
const CODE_SIZE: f32 = 10.0;
const LABEL_SIZE: f32 = 11.0;
const PAGE_NUMBER_SIZE: f32 = 9.0;
const PAGE_NUMBER_BASELINE: f32 = A4_HEIGHT - 24.0;
/// Width text may take under a code before its font shrinks.
const TEXT_MAX_W: f32 = CELL_W - 12.0;

/// A printable A4 PDF: a title line, then 3 columns × 4 rows of codes per page, each QR drawn as
/// vector rectangles with the building code and the Chinese label under it, plus a page number
/// "1/3". The glyphs used are embedded from `font`.
pub fn render_sheet_pdf(
    font: &PdfFont,
    title: &str,
    entries: &[SheetEntry],
) -> Result<Vec<u8>, QrError> {
    let pages = sheet_pages(font, title, entries)?;
    documents::pdf::render(font, title, &pages).map_err(|e| QrError::Encode(e.to_string()))
}

/// The sheet's pages, drawn.
fn sheet_pages(
    font: &PdfFont,
    title: &str,
    entries: &[SheetEntry],
) -> Result<Vec<Canvas>, QrError> {
    let mut chunks: Vec<&[SheetEntry]> = entries.chunks(PER_PAGE).collect();
    if chunks.is_empty() {
        // An empty sheet still gets its title page, so a print job never yields an empty file.
        chunks.push(&[]);
    }
    let page_count = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| page(font, title, chunk, i + 1, page_count))
        .collect()
}

fn page(
    font: &PdfFont,
    title: &str,
    entries: &[SheetEntry],
    page: usize,
    page_count: usize,
) -> Result<Canvas, QrError> {
    let mut canvas = Canvas::new();
    let title_size = fitted_size(font, title, TITLE_SIZE, A4_WIDTH - 2.0 * MARGIN);
    canvas.text(
        A4_WIDTH / 2.0,
        TITLE_BASELINE,
        title_size,
        title,
        Align::Center,
        Color::BLACK,
    );
    for (i, entry) in entries.iter().enumerate() {
        let center_x = MARGIN + ((i % COLUMNS) as f32 + 0.5) * CELL_W;
        let cell_top = GRID_TOP + (i / COLUMNS) as f32 * CELL_H;
        sheet_cell(font, &mut canvas, entry, center_x, cell_top)?;
    }
    canvas.text(
        A4_WIDTH / 2.0,
        PAGE_NUMBER_BASELINE,
        PAGE_NUMBER_SIZE,
        &format!("{page}/{page_count}"),
        Align::Center,
        Color::BLACK,
    );
    Ok(canvas)
}

/// One code with its building code and label, centred on `center_x` below `cell_top`.
fn sheet_cell(
    font: &PdfFont,
    canvas: &mut Canvas,
    entry: &SheetEntry,
    center_x: f32,
    cell_top: f32,
) -> Result<(), QrError> {
    let modules = Modules::encode(&entry.payload)?;
    let qr_top = cell_top + 4.0;
    canvas.rects(
        &qr_rectangles(&modules, center_x - QR_SIDE / 2.0, qr_top),
        Color::BLACK,
    );
    let code_baseline = qr_top + QR_SIDE + 10.0;
    let code_size = fitted_size(font, &entry.code, CODE_SIZE, TEXT_MAX_W);
    canvas.text(
        center_x,
        code_baseline,
        code_size,
        &entry.code,
        Align::Center,
        Color::BLACK,
    );
    let label_size = fitted_size(font, &entry.label, LABEL_SIZE, TEXT_MAX_W);
    canvas.text(
        center_x,
        code_baseline + 16.0,
        label_size,
        &entry.label,
        Align::Center,
        Color::BLACK,
    );
    Ok(())
}

/// The dark modules as rectangles, one per horizontal run; the quiet zone is the white page.
fn qr_rectangles(modules: &Modules, left: f32, top: f32) -> Vec<(f32, f32, f32, f32)> {
    let module = QR_SIDE / modules.framed_width() as f32;
    modules
        .dark_runs()
        .into_iter()
        .map(|(x, y, len)| {
            (
                left + x as f32 * module,
                top + y as f32 * module,
                len as f32 * module,
                module,
            )
        })
        .collect()
}

/// The largest size up to `preferred` at which `text` fits `max_width`.
fn fitted_size(font: &PdfFont, text: &str, preferred: f32, max_width: f32) -> f32 {
    let width = font.width(text, preferred);
    if width <= max_width {
        preferred
    } else {
        preferred * max_width / width
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::process::Command;

    use super::super::sign;
    use super::super::test_keys::V2;
    use super::*;

    fn font() -> PdfFont {
        PdfFont::discover(None).expect("a CJK font: apt-get install fonts-wqy-microhei")
    }

    fn sheet_entries(count: usize) -> Vec<SheetEntry> {
        (0..count)
            .map(|i| {
                let code = format!("XF-{:04}", i + 1);
                SheetEntry {
                    payload: sign(&V2, &code),
                    label: format!("幸福里社区{}号楼", i + 1),
                    code,
                }
            })
            .collect()
    }

    #[test]
    fn fourteen_codes_take_two_pages_with_every_code_label_and_page_number() {
        let font = font();
        let entries = sheet_entries(14);
        let pages = sheet_pages(&font, "幸福里社区 屋联码", &entries).unwrap();
        assert_eq!(pages.len(), 2);
        let texts: Vec<&str> = pages.iter().flat_map(Canvas::texts).collect();
        for entry in &entries {
            assert_eq!(texts.iter().filter(|t| **t == entry.code).count(), 1);
            assert_eq!(texts.iter().filter(|t| **t == entry.label).count(), 1);
        }
        assert_eq!(
            texts.iter().filter(|t| **t == "幸福里社区 屋联码").count(),
            2
        );
        assert!(texts.contains(&"1/2") && texts.contains(&"2/2"));
        assert_eq!(
            pages[1].texts().len(),
            2 + 2 * 2,
            "title, page number, two codes"
        );
        let empty = sheet_pages(&font, "空", &[]).unwrap();
        assert_eq!(empty.len(), 1);
    }

    #[test]
    fn each_dark_run_becomes_one_rectangle_covering_only_dark_modules() {
        let entries = sheet_entries(1);
        let modules = Modules::encode(&entries[0].payload).unwrap();
        let rects = qr_rectangles(&modules, 100.0, 200.0);
        assert_eq!(rects.len(), modules.dark_runs().len());
        let module = QR_SIDE / modules.framed_width() as f32;
        for (x, y, w, h) in rects {
            assert!((h - module).abs() < 1e-4);
            let (col, row) = (
                ((x - 100.0) / module).round() as usize,
                ((y - 200.0) / module).round() as usize,
            );
            let len = (w / module).round() as usize;
            assert!((col..col + len).all(|c| modules.is_dark_framed(c, row)));
        }
        let covered: usize = modules.dark_runs().iter().map(|r| r.2).sum();
        assert_eq!(covered, modules.dark.iter().filter(|d| **d).count());
    }

    #[test]
    fn long_text_shrinks_to_the_cell() {
        let font = font();
        assert_eq!(
            fitted_size(&font, "XF-0001", CODE_SIZE, TEXT_MAX_W),
            CODE_SIZE
        );
        let long = "幸福里社区".repeat(8);
        let size = fitted_size(&font, &long, LABEL_SIZE, TEXT_MAX_W);
        assert!(size < LABEL_SIZE);
        assert!(font.width(&long, size) <= TEXT_MAX_W + 0.01);
    }

    #[test]
    fn the_printed_sheet_embeds_its_font_and_its_codes_scan() {
        let font = font();
        let entries = sheet_entries(3);
        let pdf = render_sheet_pdf(&font, "幸福里社区 屋联码", &entries).unwrap();
        let dir = std::env::temp_dir().join(format!("gw-sheet-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("sheet.pdf");
        std::fs::write(&file, &pdf).unwrap();
        let run = |tool: &str, args: &[&str]| {
            let out = Command::new(tool)
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("{tool} (apt-get install poppler-utils): {e}"));
            assert!(out.status.success(), "{tool}");
            String::from_utf8(out.stdout).unwrap()
        };
        let path = file.to_str().unwrap();
        let text = run("pdftotext", &[path, "-"]);
        for entry in &entries {
            assert!(
                text.contains(&entry.label) && text.contains(&entry.code),
                "{text}"
            );
        }
        let fonts = run("pdffonts", &[path]);
        assert_eq!(fonts.lines().count(), 3, "one font: {fonts}");
        let row: Vec<&str> = fonts.lines().nth(2).unwrap().split_whitespace().collect();
        assert_eq!(
            &row[row.len() - 5..row.len() - 2],
            ["yes", "yes", "yes"],
            "{fonts}"
        );
        // Rendered at print resolution, every code on the page reads back as its payload.
        let prefix = dir.join("page");
        run(
            "pdftoppm",
            &["-r", "150", "-gray", path, prefix.to_str().unwrap()],
        );
        let pgm = std::fs::read(dir.join("page-1.pgm")).unwrap();
        let (w, h, pixels) = parse_pgm(&pgm);
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
        let mut read: Vec<String> = image
            .detect_grids()
            .iter()
            .map(|grid| grid.decode().unwrap().1)
            .collect();
        read.sort();
        let mut expected: Vec<String> = entries.iter().map(|e| e.payload.clone()).collect();
        expected.sort();
        assert_eq!(read, expected);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Width, height and pixels of a binary 8-bit PGM as pdftoppm writes it.
    fn parse_pgm(pgm: &[u8]) -> (usize, usize, &[u8]) {
        let mut fields = Vec::new();
        let mut at = 0;
        while fields.len() < 4 {
            while pgm[at].is_ascii_whitespace() {
                at += 1;
            }
            let start = at;
            while !pgm[at].is_ascii_whitespace() {
                at += 1;
            }
            fields.push(std::str::from_utf8(&pgm[start..at]).unwrap().to_owned());
        }
        assert_eq!(fields[0], "P5");
        let (w, h) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
        (w, h, &pgm[at + 1..at + 1 + w * h])
    }
}
