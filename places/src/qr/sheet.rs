//! A4 sheets of codes as a PDF, written by hand: a title, 3 × 4 codes a page drawn as vector
//! rectangles, each with its building code and Chinese name under it, and a page number.

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

/// A4 in points, rounded the way most PDF writers round it.
const PAGE_W: f64 = 595.0;
const PAGE_H: f64 = 842.0;
const MARGIN: f64 = 36.0;
const COLUMNS: usize = 3;
const ROWS: usize = 4;
const PER_PAGE: usize = COLUMNS * ROWS;
const TITLE_SIZE: f64 = 16.0;
const TITLE_BASELINE: f64 = PAGE_H - 54.0;
const GRID_TOP: f64 = PAGE_H - 76.0;
const GRID_BOTTOM: f64 = 48.0;
const CELL_W: f64 = (PAGE_W - 2.0 * MARGIN) / COLUMNS as f64;
const CELL_H: f64 = (GRID_TOP - GRID_BOTTOM) / ROWS as f64;
/// Side of a code with its quiet zone: 126 pt is about 44 mm, readable from arm's length.
const QR_SIDE: f64 = 126.0;
const CODE_SIZE: f64 = 10.0;
const LABEL_SIZE: f64 = 11.0;
const PAGE_NUMBER_SIZE: f64 = 9.0;
const PAGE_NUMBER_BASELINE: f64 = 24.0;
/// Width text may take under a code before its font shrinks.
const TEXT_MAX_W: f64 = CELL_W - 12.0;

/// Object numbers of the fixed objects; pages follow in pairs (page, content stream).
const OBJ_CATALOG: usize = 1;
const OBJ_PAGES: usize = 2;
const OBJ_HELVETICA: usize = 3;
const OBJ_CJK: usize = 4;
const OBJ_CJK_CID: usize = 5;
const OBJ_CJK_DESCRIPTOR: usize = 6;
const OBJ_TO_UNICODE: usize = 7;
const OBJ_INFO: usize = 8;
const OBJ_FIRST_PAGE: usize = 9;

/// A printable A4 PDF: a title line, then 3 columns × 4 rows of codes per page, each QR drawn as
/// vector rectangles with the building code (Helvetica) and the Chinese label (STSong-Light,
/// which PDF readers supply without embedding) under it, plus a page number "1/3".
pub fn render_sheet_pdf(title: &str, entries: &[SheetEntry]) -> Result<Vec<u8>, QrError> {
    let page_count = entries.len().div_ceil(PER_PAGE).max(1);
    let mut pdf = PdfWriter::new();
    pdf.object(
        OBJ_CATALOG,
        &format!("<< /Type /Catalog /Pages {OBJ_PAGES} 0 R >>"),
    );
    let kids: Vec<String> = (0..page_count)
        .map(|i| format!("{} 0 R", page_object(i)))
        .collect();
    pdf.object(
        OBJ_PAGES,
        &format!(
            "<< /Type /Pages /Kids [{}] /Count {page_count} >>",
            kids.join(" ")
        ),
    );
    write_fonts(&mut pdf);
    pdf.object(
        OBJ_INFO,
        &format!(
            "<< /Title <FEFF{}> /Producer (gridwing) >>",
            utf16be_hex(title)
        ),
    );
    let mut chunks: Vec<&[SheetEntry]> = entries.chunks(PER_PAGE).collect();
    if chunks.is_empty() {
        // An empty sheet still gets its title page, so a print job never yields an empty file.
        chunks.push(&[]);
    }
    for (i, chunk) in chunks.into_iter().enumerate() {
        let content = page_content(title, chunk, i + 1, page_count)?;
        pdf.object(page_object(i), &page_dict(page_object(i) + 1));
        pdf.stream(page_object(i) + 1, content.as_bytes());
    }
    Ok(pdf.finish(OBJ_CATALOG, OBJ_INFO))
}

fn page_object(index: usize) -> usize {
    OBJ_FIRST_PAGE + 2 * index
}

fn page_dict(content: usize) -> String {
    format!(
        "<< /Type /Page /Parent {OBJ_PAGES} 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] \
         /Resources << /Font << /F1 {OBJ_HELVETICA} 0 R /F2 {OBJ_CJK} 0 R >> >> \
         /Contents {content} 0 R >>"
    )
}

/// Helvetica and STSong-Light are both fonts every PDF reader must supply, so nothing is embedded
/// and a sheet of hundreds of buildings stays small.
fn write_fonts(pdf: &mut PdfWriter) {
    pdf.object(
        OBJ_HELVETICA,
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    );
    pdf.object(
        OBJ_CJK,
        &format!(
            "<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H \
             /DescendantFonts [{OBJ_CJK_CID} 0 R] /ToUnicode {OBJ_TO_UNICODE} 0 R >>"
        ),
    );
    // UniGB-UCS2-H maps printable ASCII to CIDs 1-95, the proportional Latin glyphs; one width
    // of 500 for them is close enough and matches `cjk_width_units`.
    pdf.object(
        OBJ_CJK_CID,
        &format!(
            "<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light \
             /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> \
             /FontDescriptor {OBJ_CJK_DESCRIPTOR} 0 R /DW 1000 /W [1 95 500] >>"
        ),
    );
    pdf.object(
        OBJ_CJK_DESCRIPTOR,
        "<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 \
         /FontBBox [-25 -254 1000 880] /ItalicAngle 0 /Ascent 880 /Descent -120 \
         /CapHeight 880 /StemV 93 >>",
    );
    pdf.stream(OBJ_TO_UNICODE, to_unicode_cmap().as_bytes());
}

/// The codes we write are UTF-16BE code units, so text extraction needs only the identity map;
/// readers without the Adobe-GB1 tables (and copy-paste) rely on it.
fn to_unicode_cmap() -> String {
    // Surrogate code units are never written (see `utf16be_hex`), so their rows are left out.
    let ranges: Vec<String> = (0u32..=0xFF)
        .filter(|high| !(0xD8..=0xDF).contains(high))
        .map(|high| format!("<{high:02X}00> <{high:02X}FF> <{high:02X}00>"))
        .collect();
    // A bfrange block may hold at most 100 ranges.
    let blocks: String = ranges
        .chunks(100)
        .map(|chunk| {
            format!(
                "{} beginbfrange\n{}\nendbfrange\n",
                chunk.len(),
                chunk.join("\n")
            )
        })
        .collect();
    format!(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n{blocks}\
         endcmap\nCMapName currentdict /CMapType get /CMap defineresource pop\nend\nend"
    )
}

/// The drawing operators of one page.
fn page_content(
    title: &str,
    entries: &[SheetEntry],
    page: usize,
    page_count: usize,
) -> Result<String, QrError> {
    let mut ops = String::new();
    let title_size = fitted_size(TITLE_SIZE, cjk_width_units(title), PAGE_W - 2.0 * MARGIN);
    ops.push_str(&cjk_text(title, title_size, PAGE_W / 2.0, TITLE_BASELINE));
    for (i, entry) in entries.iter().enumerate() {
        let center_x = MARGIN + ((i % COLUMNS) as f64 + 0.5) * CELL_W;
        let cell_top = GRID_TOP - (i / COLUMNS) as f64 * CELL_H;
        ops.push_str(&sheet_cell(entry, center_x, cell_top)?);
    }
    let number = format!("{page}/{page_count}");
    ops.push_str(&helvetica_text(
        &number,
        PAGE_NUMBER_SIZE,
        PAGE_W / 2.0,
        PAGE_NUMBER_BASELINE,
    ));
    Ok(ops)
}

/// One code with its building code and label, centred on `center_x` below `cell_top`.
fn sheet_cell(entry: &SheetEntry, center_x: f64, cell_top: f64) -> Result<String, QrError> {
    let modules = Modules::encode(&entry.payload)?;
    let qr_top = cell_top - 4.0;
    let mut ops = qr_rectangles(&modules, center_x - QR_SIDE / 2.0, qr_top);
    let code_baseline = qr_top - QR_SIDE - 10.0;
    let code_size = fitted_size(CODE_SIZE, helvetica_width_units(&entry.code), TEXT_MAX_W);
    ops.push_str(&helvetica_text(
        &entry.code,
        code_size,
        center_x,
        code_baseline,
    ));
    let label_size = fitted_size(LABEL_SIZE, cjk_width_units(&entry.label), TEXT_MAX_W);
    ops.push_str(&cjk_text(
        &entry.label,
        label_size,
        center_x,
        code_baseline - 16.0,
    ));
    Ok(ops)
}

/// The dark modules as filled rectangles; the quiet zone is simply the white page.
fn qr_rectangles(modules: &Modules, left: f64, top: f64) -> String {
    let module = QR_SIDE / modules.framed_width() as f64;
    let mut ops = String::from("q 0 g\n");
    for (x, y, len) in modules.dark_runs() {
        let rect_x = left + x as f64 * module;
        let rect_y = top - (y + 1) as f64 * module;
        ops.push_str(&format!(
            "{rect_x:.3} {rect_y:.3} {:.3} {module:.3} re\n",
            len as f64 * module
        ));
    }
    ops.push_str("f\nQ\n");
    ops
}

/// The largest size up to `preferred` at which text `units` (1/1000 em) wide fits `max_width`.
fn fitted_size(preferred: f64, units: u32, max_width: f64) -> f64 {
    if units == 0 {
        preferred
    } else {
        preferred.min(max_width * 1000.0 / f64::from(units))
    }
}

fn helvetica_text(text: &str, size: f64, center_x: f64, baseline: f64) -> String {
    let x = center_x - f64::from(helvetica_width_units(text)) * size / 2000.0;
    format!(
        "BT /F1 {size:.2} Tf {x:.2} {baseline:.2} Td ({}) Tj ET\n",
        pdf_literal(text)
    )
}

fn cjk_text(text: &str, size: f64, center_x: f64, baseline: f64) -> String {
    let x = center_x - f64::from(cjk_width_units(text)) * size / 2000.0;
    format!(
        "BT /F2 {size:.2} Tf {x:.2} {baseline:.2} Td <{}> Tj ET\n",
        utf16be_hex(text)
    )
}

/// A PDF literal string for Helvetica: printable ASCII kept (delimiters escaped), anything else
/// becomes '?' since WinAnsi cannot show it anyway.
fn pdf_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

/// Text as the UTF-16BE hex string UniGB-UCS2-H expects. UCS-2 has no surrogate pairs, so a
/// character outside the BMP (a rare name character) prints as 〓, the typesetter's mark for
/// a missing glyph.
fn utf16be_hex(text: &str) -> String {
    text.chars()
        .map(|c| u16::try_from(u32::from(c)).unwrap_or(0x3013))
        .map(|unit| format!("{unit:04X}"))
        .collect()
}

/// Advance widths of Helvetica for ' '..='~' in 1/1000 em, from its standard font metrics.
const HELVETICA_WIDTHS: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
    278, // ' '..'/'
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584,
    556, // '0'..'?'
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722,
    778, // '@'..'O'
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469,
    556, // 'P'..'_'
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556,
    556, // '`'..'o'
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // 'p'..'~'
];

/// Width of text as `pdf_literal` writes it; replaced characters count as '?'.
fn helvetica_width_units(text: &str) -> u32 {
    text.chars()
        .map(|c| {
            let index = if (' '..='~').contains(&c) {
                c as usize - 32
            } else {
                '?' as usize - 32
            };
            u32::from(HELVETICA_WIDTHS[index])
        })
        .sum()
}

/// Width of text in the CJK font, using the same widths the font dictionary declares.
fn cjk_width_units(text: &str) -> u32 {
    text.chars()
        .map(|c| if (' '..='~').contains(&c) { 500 } else { 1000 })
        .sum()
}

/// Appends objects and remembers where each starts, for the cross-reference table.
struct PdfWriter {
    out: Vec<u8>,
    offsets: Vec<(usize, usize)>,
}

impl PdfWriter {
    fn new() -> Self {
        // The binary comment tells transfer tools the file is not plain text.
        let mut out = b"%PDF-1.4\n%".to_vec();
        out.extend_from_slice(&[0xE2, 0xE3, 0xCF, 0xD3, b'\n']);
        Self {
            out,
            offsets: Vec::new(),
        }
    }

    fn object(&mut self, number: usize, body: &str) {
        self.offsets.push((number, self.out.len()));
        self.out
            .extend_from_slice(format!("{number} 0 obj\n{body}\nendobj\n").as_bytes());
    }

    fn stream(&mut self, number: usize, data: &[u8]) {
        self.offsets.push((number, self.out.len()));
        let head = format!("{number} 0 obj\n<< /Length {} >>\nstream\n", data.len());
        self.out.extend_from_slice(head.as_bytes());
        self.out.extend_from_slice(data);
        self.out.extend_from_slice(b"\nendstream\nendobj\n");
    }

    /// Writes the cross-reference table and trailer. Objects are numbered 1..=n without gaps.
    fn finish(mut self, root: usize, info: usize) -> Vec<u8> {
        self.offsets.sort_unstable();
        debug_assert!(
            self.offsets
                .iter()
                .enumerate()
                .all(|(i, (n, _))| *n == i + 1)
        );
        let xref_at = self.out.len();
        let mut xref = format!("xref\n0 {}\n0000000000 65535 f \n", self.offsets.len() + 1);
        for (_, offset) in &self.offsets {
            xref.push_str(&format!("{offset:010} 00000 n \n"));
        }
        xref.push_str(&format!(
            "trailer\n<< /Size {} /Root {root} 0 R /Info {info} 0 R >>\nstartxref\n{xref_at}\n%%EOF\n",
            self.offsets.len() + 1
        ));
        self.out.extend_from_slice(xref.as_bytes());
        self.out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::sign;
    use super::super::test_keys::V2;
    use super::*;

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

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }

    fn count(haystack: &[u8], needle: &[u8]) -> usize {
        haystack
            .windows(needle.len())
            .filter(|w| *w == needle)
            .count()
    }

    fn utf16_hex(text: &str) -> String {
        text.encode_utf16().map(|u| format!("{u:04X}")).collect()
    }

    /// Offsets listed in the xref table the trailer points at.
    fn xref_offsets(pdf: &[u8]) -> Vec<usize> {
        // Only the tail is text; the header's binary comment is not UTF-8.
        let tail_at = pdf.len() - pdf.iter().rev().position(|b| !b.is_ascii()).unwrap();
        let tail = std::str::from_utf8(&pdf[tail_at..]).unwrap();
        let start: usize = tail
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let mut lines = std::str::from_utf8(&pdf[start..]).unwrap().lines();
        assert_eq!(lines.next(), Some("xref"));
        let size: usize = lines
            .next()
            .unwrap()
            .strip_prefix("0 ")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(lines.next(), Some("0000000000 65535 f "));
        let offsets: Vec<usize> = (1..size)
            .map(|_| {
                let entry = lines.next().unwrap();
                assert_eq!(entry.len(), 19, "entries are 20 bytes with the newline");
                assert!(entry.ends_with(" 00000 n "));
                entry[..10].parse().unwrap()
            })
            .collect();
        assert_eq!(lines.next(), Some("trailer"));
        assert!(lines.next().unwrap().contains(&format!("/Size {size} ")));
        offsets
    }

    #[test]
    fn sheet_pdf_has_a_correct_xref_and_two_pages_for_fourteen_codes() {
        let entries = sheet_entries(14);
        let pdf = render_sheet_pdf("幸福里社区 屋联码", &entries).unwrap();
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.trim_ascii_end().ends_with(b"%%EOF"));
        let pages = count(&pdf, b"/Type /Page ") + count(&pdf, b"/Type /Page>");
        assert_eq!(pages, 2);
        assert!(find(&pdf, b"/Count 2 ").is_some());
        let offsets = xref_offsets(&pdf);
        assert!(offsets.len() >= 2 + 2 * 2);
        for (i, offset) in offsets.iter().enumerate() {
            let header = format!("{} 0 obj\n", i + 1);
            assert!(
                pdf[*offset..].starts_with(header.as_bytes()),
                "object {}",
                i + 1
            );
        }
    }

    #[test]
    fn sheet_pdf_stream_lengths_match_their_data() {
        let pdf = render_sheet_pdf("屋联码", &sheet_entries(3)).unwrap();
        let mut streams = 0;
        let mut at = 0;
        while let Some(found) = find(&pdf[at..], b"<< /Length ") {
            let start = at + found + b"<< /Length ".len();
            let digits = pdf[start..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            let length: usize = std::str::from_utf8(&pdf[start..start + digits])
                .unwrap()
                .parse()
                .unwrap();
            let data = start + digits + b" >>\nstream\n".len();
            assert!(pdf[data + length..].starts_with(b"\nendstream"));
            streams += 1;
            at = data + length;
        }
        // The ToUnicode map and one page's content.
        assert_eq!(streams, 2);
    }

    #[test]
    fn sheet_pdf_shows_every_code_label_and_page_number() {
        let entries = sheet_entries(14);
        let pdf = render_sheet_pdf("幸福里社区 屋联码", &entries).unwrap();
        for entry in &entries {
            let code = format!("({}) Tj", entry.code);
            assert_eq!(count(&pdf, code.as_bytes()), 1, "{}", entry.code);
            let label = format!("<{}> Tj", utf16_hex(&entry.label));
            assert_eq!(count(&pdf, label.as_bytes()), 1, "{}", entry.label);
        }
        let title = format!("<{}> Tj", utf16_hex("幸福里社区 屋联码"));
        assert_eq!(count(&pdf, title.as_bytes()), 2);
        assert_eq!(count(&pdf, b"(1/2) Tj"), 1);
        assert_eq!(count(&pdf, b"(2/2) Tj"), 1);
        assert!(find(&pdf, b"/BaseFont /STSong-Light /Encoding /UniGB-UCS2-H").is_some());
        assert!(find(&pdf, b"/BaseFont /Helvetica").is_some());
    }

    #[test]
    fn sheet_pdf_draws_each_code_as_one_rectangle_per_dark_run() {
        let entries = sheet_entries(14);
        let pdf = render_sheet_pdf("屋联码", &entries).unwrap();
        let runs: usize = entries
            .iter()
            .map(|e| Modules::encode(&e.payload).unwrap().dark_runs().len())
            .sum();
        assert_eq!(count(&pdf, b" re\n"), runs);
        // Every run really covers dark modules and only dark modules.
        let modules = Modules::encode(&entries[0].payload).unwrap();
        let covered: usize = modules
            .dark_runs()
            .iter()
            .map(|&(x, y, len)| {
                assert!((x..x + len).all(|x| modules.is_dark_framed(x, y)));
                len
            })
            .sum();
        assert_eq!(covered, modules.dark.iter().filter(|d| **d).count());
    }

    #[test]
    fn sheet_pdf_refuses_a_payload_too_long_to_print() {
        let mut entries = sheet_entries(2);
        entries[1].payload = "A".repeat(300);
        assert_eq!(render_sheet_pdf("屋联码", &entries), Err(QrError::TooLong));
    }

    #[test]
    fn text_helpers_escape_and_encode_as_pdf_expects() {
        assert_eq!(pdf_literal(r"a(b)\c楼"), r"a\(b\)\\c?");
        assert_eq!(utf16be_hex("楼3"), "697C0033");
        assert_eq!(utf16be_hex("𠀀"), "3013");
        assert_eq!(helvetica_width_units("XF-0"), 667 + 611 + 333 + 556);
        assert!(fitted_size(10.0, 40_000, 100.0) < 10.0);
        assert_eq!(fitted_size(10.0, 1_000, 100.0), 10.0);
    }
}
