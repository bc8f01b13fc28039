//! Reading PDF files back as a person's viewer would, with poppler's tools (Debian
//! `poppler-utils`, installed by scripts/test): the text, the fonts, and pages as images.

use std::process::Command;

use crate::support::TestResult;

/// Runs `tool` with `args` on `pdf` (written to a temporary file, its path last) and returns
/// what it printed.
fn run(tool: &str, args: &[&str], pdf: &[u8]) -> TestResult<String> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("file.pdf");
    std::fs::write(&file, pdf)?;
    let out = Command::new(tool)
        .args(args)
        .arg(&file)
        .args(if tool == "pdftotext" { &["-"][..] } else { &[] })
        .output()
        .map_err(|e| format!("{tool} (apt-get install poppler-utils): {e}"))?;
    if !out.status.success() {
        return Err(format!("{tool}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// The text of the whole document, in reading order.
pub fn text(pdf: &[u8]) -> TestResult<String> {
    run("pdftotext", &[], pdf)
}

/// The text with each page's layout kept: a table row stays on one line.
pub fn layout_text(pdf: &[u8]) -> TestResult<String> {
    run("pdftotext", &["-layout"], pdf)
}

/// Number of pages, as pdfinfo counts them.
pub fn page_count(pdf: &[u8]) -> TestResult<usize> {
    let info = run("pdfinfo", &[], pdf)?;
    let pages = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .ok_or("pdfinfo printed no page count")?;
    Ok(pages.trim().parse()?)
}

/// Checks that the document uses fonts and that every one is embedded, as a subset, with a
/// Unicode map (so viewers without Chinese fonts of their own show the text, and it can be
/// copied).
pub fn assert_fonts_embedded(pdf: &[u8]) -> TestResult {
    let fonts = run("pdffonts", &[], pdf)?;
    // Two header lines, then one line per font: name type… encoding emb sub uni object ID.
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!rows.is_empty(), "no fonts: {fonts}");
    for row in rows {
        let columns: Vec<&str> = row.split_whitespace().collect();
        assert!(columns.len() >= 7, "{row}");
        assert_eq!(
            &columns[columns.len() - 5..columns.len() - 2],
            ["yes", "yes", "yes"],
            "embedded, subset, Unicode map: {fonts}"
        );
    }
    Ok(())
}

/// Page `page` (from 1) rendered at `dpi` as 8-bit grey pixels: width, height, pixels.
pub fn page_image(pdf: &[u8], page: usize, dpi: u32) -> TestResult<(usize, usize, Vec<u8>)> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("file.pdf");
    std::fs::write(&file, pdf)?;
    let page = page.to_string();
    let dpi = dpi.to_string();
    let out = Command::new("pdftoppm")
        .args(["-f", &page, "-l", &page, "-r", &dpi, "-gray", "-singlefile"])
        .arg(&file)
        .arg(dir.path().join("page"))
        .output()
        .map_err(|e| format!("pdftoppm (apt-get install poppler-utils): {e}"))?;
    if !out.status.success() {
        return Err(format!("pdftoppm: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let image = dir.path().join("page.pgm");
    let bytes = std::fs::read(&image).map_err(|e| {
        let listed: Vec<_> = std::fs::read_dir(dir.path())
            .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        format!("{}: {e}; the directory holds {listed:?}", image.display())
    })?;
    parse_pgm(&bytes)
}

/// Width, height and pixels of a binary 8-bit PGM (P5), as pdftoppm -gray writes it.
fn parse_pgm(pgm: &[u8]) -> TestResult<(usize, usize, Vec<u8>)> {
    // Four whitespace-separated header fields (P5, width, height, maxval), one blank, pixels.
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while pgm.get(at).ok_or("short PGM")?.is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !pgm.get(at).ok_or("short PGM")?.is_ascii_whitespace() {
            at += 1;
        }
        fields.push(std::str::from_utf8(&pgm[start..at])?.to_owned());
    }
    if fields[0] != "P5" || fields[3] != "255" {
        return Err(format!("not an 8-bit PGM: {fields:?}").into());
    }
    let (w, h): (usize, usize) = (fields[1].parse()?, fields[2].parse()?);
    let pixels = pgm.get(at + 1..at + 1 + w * h).ok_or("short PGM")?;
    Ok((w, h, pixels.to_vec()))
}
