//! Signed building codes (屋联码): the payload on every building's wall, its check when someone
//! scans it, and its PNG, SVG and printable PDF sheet renderings.
//!
//! A payload is `GW1:{version}:{building_code}:{sig}`. The signature is a truncated HMAC so that
//! nobody can print codes for buildings that do not exist or alter a real one. The key version is
//! in the payload so keys can rotate without repainting every wall: a code signed with an old key
//! keeps verifying as long as `key_for` still hands out that version's secret.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use qrcode::{Color, EcLevel, QrCode};
use sha2::Sha256;

/// The first part of every payload; a new payload layout gets a new prefix rather than a flag.
pub const PAYLOAD_PREFIX: &str = "GW1";

/// Bytes of the HMAC kept: 128 bits cannot be guessed, and a shorter payload gives a QR code with
/// bigger modules, which matters for codes scanned off weathered walls.
const SIG_BYTES: usize = 16;
/// Length of `SIG_BYTES` in base64url without padding.
const SIG_CHARS: usize = 22;
/// Longest payload rendered or verified; real ones are about 40 bytes.
const MAX_PAYLOAD_LEN: usize = 256;
/// Longest scanned text looked at, so that junk from a scanner is turned away before any work.
const MAX_SCANNED_LEN: usize = 2048;
/// The quiet zone ISO 18004 asks for around a (non-micro) QR code, in modules.
const QUIET_ZONE: usize = 4;
/// Largest PNG side in pixels; above this a caller asked for a poster, not a wall label.
const MAX_PNG_SIDE: u64 = 8192;

/// A signing key and its version (versions start at 1 and only grow).
#[derive(Clone, Copy)]
pub struct QrKey<'a> {
    /// The version written into payloads signed with this key.
    pub version: u32,
    /// The HMAC secret.
    pub secret: &'a [u8],
}

// Hand-written so that the secret never lands in a log line.
impl fmt::Debug for QrKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QrKey")
            .field("version", &self.version)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// `GW1:{version}:{building_code}:{sig}`; sig = base64url-no-pad of the first 16 bytes of
/// HMAC-SHA256(secret, "GW1:{version}:{building_code}").
///
/// The caller must pass a valid building code (A–Z a–z 0–9 - _ .); anything else yields a payload
/// that [`verify`] rejects as malformed.
pub fn sign(key: &QrKey<'_>, building_code: &str) -> String {
    let signed = signed_part(key.version, building_code);
    let tag = keyed_mac(key.secret, &signed).finalize().into_bytes();
    let sig = URL_SAFE_NO_PAD.encode(&tag[..SIG_BYTES]);
    format!("{signed}:{sig}")
}

/// Why a scanned code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The text is not a payload; the string names the part that is wrong.
    #[error("not a building code: bad {0}")]
    Malformed(&'static str /* which part is wrong */),
    /// Signed with a key version this server does not (or no longer) know.
    #[error("building code signed with unknown key version {0}")]
    UnknownKeyVersion(u32),
    /// Well-formed, but the signature does not match: forged or altered.
    #[error("building code signature does not match")]
    BadSignature,
}

/// Accepts the payload itself, surrounding whitespace, or a URL whose last path segment or `c=`
/// query value is the payload (phones' scanners hand over URLs). `key_for(version)` returns that
/// version's secret. Constant-time signature comparison. Returns the building code.
pub fn verify(
    scanned: &str,
    key_for: &dyn Fn(u32) -> Option<Vec<u8>>,
) -> Result<String, VerifyError> {
    let payload = extract_payload(scanned)?;
    let parts = parse_payload(&payload)?;
    let secret = key_for(parts.version).ok_or(VerifyError::UnknownKeyVersion(parts.version))?;
    let sig = decode_signature(parts.sig)?;
    keyed_mac(&secret, &signed_part(parts.version, parts.code))
        .verify_truncated_left(&sig)
        .map_err(|_| VerifyError::BadSignature)?;
    Ok(parts.code.to_owned())
}

/// The signed text; rebuilt from parsed parts on verify, which is safe because parsing only
/// accepts the canonical spelling of the version.
fn signed_part(version: u32, building_code: &str) -> String {
    format!("{PAYLOAD_PREFIX}:{version}:{building_code}")
}

fn keyed_mac(secret: &[u8], message: &str) -> Hmac<Sha256> {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(message.as_bytes());
    mac
}

/// Building codes are restricted so they can never contain the ':' separator, need no escaping
/// in URLs, file names or PDF strings, and read unambiguously off a label.
fn is_valid_building_code(code: &str) -> bool {
    !code.is_empty()
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Finds the payload in what a scanner handed over: the payload itself or a URL carrying it.
fn extract_payload(scanned: &str) -> Result<Cow<'_, str>, VerifyError> {
    let text = scanned.trim();
    if text.len() > MAX_SCANNED_LEN {
        return Err(VerifyError::Malformed("length"));
    }
    // A payload never contains '/', so "://" tells a URL apart without guessing.
    if text.contains("://") {
        payload_from_url(text).map(Cow::Owned)
    } else {
        Ok(Cow::Borrowed(text))
    }
}

/// The `c=` query value if there is one (a landing page that shows the code), else the last
/// non-empty path segment (a short link that ends in the code).
fn payload_from_url(url: &str) -> Result<String, VerifyError> {
    let malformed = VerifyError::Malformed("url");
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let without_fragment = after_scheme
        .split_once('#')
        .map_or(after_scheme, |(kept, _)| kept);
    let (location, query) = match without_fragment.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (without_fragment, None),
    };
    if let Some(value) = query.and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("c="))) {
        return percent_decode(value).ok_or(malformed);
    }
    let path = location
        .split_once('/')
        .map_or("", |(_authority, path)| path);
    let segment = path
        .rsplit('/')
        .find(|s| !s.is_empty())
        .ok_or(malformed.clone())?;
    percent_decode(segment).ok_or(malformed)
}

/// Undoes %XX escapes (scanners and chat apps often escape the ':'); `None` on a broken escape
/// or text that is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The parts of a payload whose shape has been checked; nothing about it is trusted yet.
#[derive(Debug)]
struct PayloadParts<'a> {
    version: u32,
    code: &'a str,
    sig: &'a str,
}

/// Checks the shape of every part before any key is looked up or any MAC computed.
fn parse_payload(payload: &str) -> Result<PayloadParts<'_>, VerifyError> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(VerifyError::Malformed("length"));
    }
    let parts: Vec<&str> = payload.split(':').collect();
    if parts.first() != Some(&PAYLOAD_PREFIX) {
        return Err(VerifyError::Malformed("prefix"));
    }
    let [_, version, code, sig] = parts.as_slice() else {
        return Err(VerifyError::Malformed("part count"));
    };
    let version = parse_version(version).ok_or(VerifyError::Malformed("version"))?;
    if !is_valid_building_code(code) {
        return Err(VerifyError::Malformed("building code"));
    }
    if sig.len() != SIG_CHARS
        || !sig
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    {
        return Err(VerifyError::Malformed("signature"));
    }
    Ok(PayloadParts { version, code, sig })
}

/// Only the canonical decimal spelling (no sign, no leading zeros, at least 1), so each signed
/// code has exactly one valid payload.
fn parse_version(text: &str) -> Option<u32> {
    let canonical =
        !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && !text.starts_with('0');
    if canonical { text.parse().ok() } else { None }
}

/// The shape was already checked, so decoding can only fail on non-zero padding bits in the last
/// character: a changed character of a signature we issued, hence a bad signature.
fn decode_signature(sig: &str) -> Result<Vec<u8>, VerifyError> {
    match URL_SAFE_NO_PAD.decode(sig) {
        Ok(bytes) if bytes.len() == SIG_BYTES => Ok(bytes),
        _ => Err(VerifyError::BadSignature),
    }
}

/// Why a code could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    /// The payload is longer than 256 bytes.
    #[error("payload longer than {MAX_PAYLOAD_LEN} bytes")]
    TooLong,
    /// The QR or image encoder refused (or the requested size is unreasonable).
    #[error("cannot render QR code: {0}")]
    Encode(String),
}

/// The module matrix of a QR code, without the quiet zone.
#[derive(Debug)]
struct Modules {
    width: usize,
    dark: Vec<bool>,
}

impl Modules {
    fn encode(payload: &str) -> Result<Self, QrError> {
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(QrError::TooLong);
        }
        // Level M survives a dirty or partly peeled label without making the code much denser.
        let code = QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M)
            .map_err(|e| QrError::Encode(e.to_string()))?;
        let width = code.width();
        let dark = code
            .into_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect();
        Ok(Self { width, dark })
    }

    /// Side of the code including the quiet zone on both sides, in modules.
    fn framed_width(&self) -> usize {
        self.width + 2 * QUIET_ZONE
    }

    /// Whether a module of the framed square (quiet zone included) is dark.
    fn is_dark_framed(&self, x: usize, y: usize) -> bool {
        let inside = |v: usize| v.checked_sub(QUIET_ZONE).filter(|&v| v < self.width);
        match (inside(x), inside(y)) {
            (Some(x), Some(y)) => self.dark[y * self.width + x],
            _ => false,
        }
    }

    /// Dark modules as (x, y) in framed coordinates, row by row.
    fn dark_cells(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.dark
            .iter()
            .enumerate()
            .filter(|(_, dark)| **dark)
            .map(|(i, _)| (i % self.width + QUIET_ZONE, i / self.width + QUIET_ZONE))
    }

    /// Horizontal runs of dark modules as (x, y, length) in framed coordinates; one rectangle per
    /// run keeps the PDF a few times smaller than one per module.
    fn dark_runs(&self) -> Vec<(usize, usize, usize)> {
        let mut runs = Vec::new();
        for (y, row) in self.dark.chunks(self.width).enumerate() {
            let mut x = 0;
            while x < row.len() {
                let len = row[x..].iter().take_while(|d| **d).count();
                if len > 0 {
                    runs.push((x + QUIET_ZONE, y + QUIET_ZONE, len));
                }
                x += len.max(1);
            }
        }
        runs
    }
}

/// PNG (8-bit greyscale) with `scale` pixels per module and a 4-module quiet zone, error
/// correction level M.
pub fn render_png(payload: &str, scale: u32) -> Result<Vec<u8>, QrError> {
    let modules = Modules::encode(payload)?;
    let side = png_side(&modules, scale)?;
    let pixels = greyscale_pixels(&modules, side, scale as usize);
    let png_error = |e: png::EncodingError| QrError::Encode(e.to_string());
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(png_error)?;
    writer.write_image_data(&pixels).map_err(png_error)?;
    writer.finish().map_err(png_error)?;
    Ok(out)
}

/// The image side in pixels, refusing a zero scale and images beyond any wall label.
fn png_side(modules: &Modules, scale: u32) -> Result<usize, QrError> {
    let side = modules.framed_width() as u64 * u64::from(scale);
    if scale == 0 || side > MAX_PNG_SIDE {
        return Err(QrError::Encode(format!(
            "scale {scale} gives a {side} px image (allowed: 1 to {MAX_PNG_SIDE} px)"
        )));
    }
    Ok(side as usize)
}

fn greyscale_pixels(modules: &Modules, side: usize, scale: usize) -> Vec<u8> {
    let mut pixels = Vec::with_capacity(side * side);
    for py in 0..side {
        for px in 0..side {
            let dark = modules.is_dark_framed(px / scale, py / scale);
            pixels.push(if dark { 0 } else { 255 });
        }
    }
    pixels
}

/// A standalone SVG: one `<path>` of the dark modules, viewBox in modules, 4-module quiet zone,
/// white background.
pub fn render_svg(payload: &str) -> Result<String, QrError> {
    let modules = Modules::encode(payload)?;
    let n = modules.framed_width();
    let path: String = modules
        .dark_cells()
        .map(|(x, y)| format!("M{x} {y}h1v1h-1z"))
        .collect();
    Ok(format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" "#,
            r#"shape-rendering="crispEdges">"#,
            r##"<rect width="{n}" height="{n}" fill="#fff"/>"##,
            r##"<path fill="#000" d="{path}"/></svg>"##,
            "\n"
        ),
        n = n,
        path = path
    ))
}

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
    use super::*;
    use std::cell::Cell;
    use std::collections::BTreeSet;

    const SECRET_V1: &[u8] = b"street-7 key of 2024, retired";
    const SECRET_V2: &[u8] = b"street-7 key of 2025, current";
    const V1: QrKey<'static> = QrKey {
        version: 1,
        secret: SECRET_V1,
    };
    const V2: QrKey<'static> = QrKey {
        version: 2,
        secret: SECRET_V2,
    };

    fn keys(version: u32) -> Option<Vec<u8>> {
        match version {
            1 => Some(SECRET_V1.to_vec()),
            2 => Some(SECRET_V2.to_vec()),
            _ => None,
        }
    }

    /// Replaces the character at `index` with another character that is still allowed there.
    fn change_char(text: &str, index: usize) -> String {
        let mut bytes = text.as_bytes().to_vec();
        bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn signed_payload_has_the_documented_layout_and_verifies() {
        let payload = sign(&V1, "XF-0012.B3");
        let parts: Vec<&str> = payload.split(':').collect();
        assert_eq!(&parts[..3], ["GW1", "1", "XF-0012.B3"]);
        assert_eq!(parts[3].len(), SIG_CHARS);
        let tag = keyed_mac(SECRET_V1, "GW1:1:XF-0012.B3")
            .finalize()
            .into_bytes();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(parts[3]).unwrap(),
            tag[..16].to_vec()
        );
        assert_eq!(verify(&payload, &keys).unwrap(), "XF-0012.B3");
    }

    #[test]
    fn codes_signed_with_an_old_key_still_verify_after_rotation() {
        let old = sign(&V1, "XF-0012");
        let new = sign(&V2, "XF-0013");
        assert_eq!(verify(&old, &keys).unwrap(), "XF-0012");
        assert_eq!(verify(&new, &keys).unwrap(), "XF-0013");
        // The version picks the secret: v1 in the payload with v2's secret does not verify.
        let mislabelled = sign(
            &QrKey {
                version: 1,
                secret: SECRET_V2,
            },
            "XF-0012",
        );
        assert_eq!(verify(&mislabelled, &keys), Err(VerifyError::BadSignature));
    }

    #[test]
    fn a_retired_or_unknown_version_is_reported_as_such() {
        let future = sign(
            &QrKey {
                version: 3,
                secret: b"not issued yet",
            },
            "XF-0012",
        );
        assert_eq!(
            verify(&future, &keys),
            Err(VerifyError::UnknownKeyVersion(3))
        );
        let only_v2 = |v: u32| (v == 2).then(|| SECRET_V2.to_vec());
        assert_eq!(
            verify(&sign(&V1, "XF-0012"), &only_v2),
            Err(VerifyError::UnknownKeyVersion(1))
        );
    }

    #[test]
    fn one_changed_character_in_code_or_signature_is_a_bad_signature() {
        let payload = sign(&V2, "XF-0012");
        let code_start = "GW1:2:".len();
        for i in code_start..code_start + "XF-0012".len() {
            let altered = change_char(&payload, i);
            assert_eq!(
                verify(&altered, &keys),
                Err(VerifyError::BadSignature),
                "{altered}"
            );
        }
        let sig_start = payload.len() - SIG_CHARS;
        for i in sig_start..payload.len() {
            let altered = change_char(&payload, i);
            assert_eq!(
                verify(&altered, &keys),
                Err(VerifyError::BadSignature),
                "{altered}"
            );
        }
    }

    #[test]
    fn malformed_payloads_are_rejected_before_any_key_is_looked_up() {
        let good = sign(&V1, "XF-0012");
        let sig = good.rsplit(':').next().unwrap();
        let cases = [
            (good.replacen("GW1", "GW2", 1), "prefix"),
            (good.replacen("GW1", "gw1", 1), "prefix"),
            (String::new(), "prefix"),
            ("GW1:1:XF-0012".to_owned(), "part count"),
            (format!("{good}:extra"), "part count"),
            (format!("GW1:one:XF-0012:{sig}"), "version"),
            (format!("GW1:+1:XF-0012:{sig}"), "version"),
            (format!("GW1:01:XF-0012:{sig}"), "version"),
            (format!("GW1:0:XF-0012:{sig}"), "version"),
            (format!("GW1:99999999999:XF-0012:{sig}"), "version"),
            (format!("GW1:1:XF 0012:{sig}"), "building code"),
            (format!("GW1:1:幸福里3号:{sig}"), "building code"),
            (format!("GW1:1:XF/0012:{sig}"), "building code"),
            (format!("GW1:1::{sig}"), "building code"),
            (format!("GW1:1:XF-0012:{}", &sig[1..]), "signature"),
            (format!("GW1:1:XF-0012:{}+", &sig[1..]), "signature"),
            (format!("GW1:1:XF-0012:{}=", &sig[..21]), "signature"),
            (format!("GW1:1:{}:{sig}", "A".repeat(300)), "length"),
        ];
        let lookups = Cell::new(0);
        let counting_keys = |v: u32| {
            lookups.set(lookups.get() + 1);
            keys(v)
        };
        for (payload, part) in cases {
            assert_eq!(
                verify(&payload, &counting_keys),
                Err(VerifyError::Malformed(part)),
                "{payload}"
            );
        }
        assert_eq!(lookups.get(), 0);
    }

    #[test]
    fn scanner_urls_and_whitespace_around_the_payload_are_accepted() {
        let payload = sign(&V2, "XF-0012");
        let escaped = payload.replace(':', "%3A");
        let forms = [
            format!("  {payload}\r\n"),
            format!("https://gw.example.cn/b/{payload}"),
            format!("https://gw.example.cn/b/{payload}/"),
            format!("https://gw.example.cn/b/{escaped}#from-wall"),
            format!("https://gw.example.cn/scan?c={payload}&src=wall"),
            format!("https://gw.example.cn/scan?src=wall&c={escaped}"),
            format!("\thttp://10.0.0.5:8080/{payload} "),
        ];
        for form in forms {
            assert_eq!(verify(&form, &keys).as_deref(), Ok("XF-0012"), "{form}");
        }
    }

    #[test]
    fn urls_without_a_valid_payload_are_refused() {
        let payload = sign(&V2, "XF-0012");
        let forged = format!("https://gw.example.cn/b/{}", change_char(&payload, 6));
        assert_eq!(verify(&forged, &keys), Err(VerifyError::BadSignature));
        assert_eq!(
            verify("https://gw.example.cn", &keys),
            Err(VerifyError::Malformed("url"))
        );
        assert_eq!(
            verify("https://gw.example.cn/b/GW1%3", &keys),
            Err(VerifyError::Malformed("url"))
        );
        assert_eq!(
            verify("https://gw.example.cn/b/GW1%+A1", &keys),
            Err(VerifyError::Malformed("url"))
        );
        assert_eq!(
            verify("https://gw.example.cn/scan?x=1", &keys),
            Err(VerifyError::Malformed("prefix"))
        );
    }

    fn matrix(payload: &str) -> QrCode {
        QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M).unwrap()
    }

    fn decode_png(png_bytes: &[u8]) -> (usize, usize, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        assert_eq!(
            reader.output_color_type(),
            (png::ColorType::Grayscale, png::BitDepth::Eight)
        );
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let frame = reader.next_frame(&mut pixels).unwrap();
        (frame.width as usize, frame.height as usize, pixels)
    }

    #[test]
    fn png_decodes_back_to_the_payload_at_the_promised_size() {
        let payload = sign(&V2, "XF-0012.B3");
        let scale = 4;
        let (w, h, pixels) = decode_png(&render_png(&payload, scale).unwrap());
        let side = (matrix(&payload).width() + 8) * scale as usize;
        assert_eq!((w, h), (side, side));
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1);
        let (meta, text) = grids[0].decode().unwrap();
        assert_eq!(text, payload);
        // Format bits 00 are level M.
        assert_eq!(meta.ecc_level, 0);
    }

    #[test]
    fn png_quiet_zone_is_white_for_four_modules() {
        let payload = sign(&V1, "XF-0012");
        let scale = 3;
        let (w, _, pixels) = decode_png(&render_png(&payload, scale).unwrap());
        let border = 4 * scale as usize;
        for y in 0..w {
            for x in 0..w {
                let in_quiet_zone = x < border || y < border || x >= w - border || y >= w - border;
                if in_quiet_zone {
                    assert_eq!(pixels[y * w + x], 255, "({x}, {y})");
                }
            }
        }
        // The finder pattern's corner module starts right inside the quiet zone.
        assert_eq!(pixels[border * w + border], 0);
    }

    #[test]
    fn oversized_payloads_and_scales_are_refused() {
        assert_eq!(render_png(&"A".repeat(257), 4), Err(QrError::TooLong));
        assert_eq!(render_svg(&"A".repeat(257)), Err(QrError::TooLong));
        assert!(render_png(&"A".repeat(256), 1).is_ok());
        assert!(matches!(render_png("GW1", 0), Err(QrError::Encode(_))));
        assert!(matches!(render_png("GW1", 1000), Err(QrError::Encode(_))));
    }

    /// The (x, y) of every `M{x} {y}h1v1h-1z` square in the SVG path.
    fn svg_squares(svg: &str) -> Vec<(usize, usize)> {
        let d = svg
            .split(" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        d.split('M')
            .filter(|s| !s.is_empty())
            .map(|square| {
                let coords = square.strip_suffix("h1v1h-1z").unwrap();
                let (x, y) = coords.split_once(' ').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn svg_has_one_path_square_per_dark_module_inside_the_quiet_zone() {
        let payload = sign(&V2, "XF-0012.B3");
        let svg = render_svg(&payload).unwrap();
        let code = matrix(&payload);
        let n = code.width() + 8;
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains(&format!("viewBox=\"0 0 {n} {n}\"")));
        assert_eq!(svg.matches("<path").count(), 1);
        assert!(svg.contains(r##"fill="#fff""##));
        let expected: BTreeSet<(usize, usize)> = (0..code.width())
            .flat_map(|y| (0..code.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| code[(x, y)] == Color::Dark)
            .map(|(x, y)| (x + 4, y + 4))
            .collect();
        let squares = svg_squares(&svg);
        assert_eq!(squares.len(), expected.len());
        assert_eq!(squares.into_iter().collect::<BTreeSet<_>>(), expected);
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

    #[test]
    fn key_debug_output_hides_the_secret() {
        let shown = format!("{V1:?}");
        assert!(shown.contains("version: 1"));
        assert!(!shown.contains("street-7"));
    }
}
