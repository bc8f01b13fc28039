//! One code as an image: a PNG (8-bit greyscale) or a standalone SVG, with the quiet zone the
//! standard asks for and error correction level M.

use qrcode::{Color, EcLevel, QrCode};

use super::MAX_PAYLOAD_LEN;

/// The quiet zone ISO 18004 asks for around a (non-micro) QR code, in modules.
const QUIET_ZONE: usize = 4;
/// Largest PNG side in pixels; above this a caller asked for a poster, not a wall label.
const MAX_PNG_SIDE: u64 = 8192;

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
pub(super) struct Modules {
    width: usize,
    pub(super) dark: Vec<bool>,
}

impl Modules {
    pub(super) fn encode(payload: &str) -> Result<Self, QrError> {
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
    pub(super) fn framed_width(&self) -> usize {
        self.width + 2 * QUIET_ZONE
    }

    /// Whether a module of the framed square (quiet zone included) is dark.
    pub(super) fn is_dark_framed(&self, x: usize, y: usize) -> bool {
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
    pub(super) fn dark_runs(&self) -> Vec<(usize, usize, usize)> {
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::sign;
    use super::super::test_keys::{V1, V2};
    use super::*;
    use std::collections::BTreeSet;

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
}
