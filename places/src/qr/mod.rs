//! Signed building codes (屋联码): the payload on every building's wall, its check when someone
//! scans it, and its PNG, SVG and printable PDF sheet renderings.
//!
//! - [`signing`]: the payload `GW1:{version}:{building_code}:{sig}` and its check when scanned.
//! - [`render`]: one code as a PNG or an SVG.
//! - [`sheet`]: A4 sheets of codes as a PDF, for printing a grid's labels at once.

pub mod render;
pub mod sheet;
pub mod signing;

pub use render::{QrError, render_png, render_svg};
pub use sheet::{SheetEntry, render_sheet_pdf};
pub use signing::{PAYLOAD_PREFIX, QrKey, VerifyError, sign, verify};

/// Longest payload rendered or verified; real ones are about 40 bytes.
const MAX_PAYLOAD_LEN: usize = 256;

/// The keys every part's tests sign with: one retired, one current.
#[cfg(test)]
mod test_keys {
    use super::QrKey;

    pub const SECRET_V1: &[u8] = b"street-7 key of 2024, retired";
    pub const SECRET_V2: &[u8] = b"street-7 key of 2025, current";
    pub const V1: QrKey<'static> = QrKey {
        version: 1,
        secret: SECRET_V1,
    };
    pub const V2: QrKey<'static> = QrKey {
        version: 2,
        secret: SECRET_V2,
    };

    pub fn keys(version: u32) -> Option<Vec<u8>> {
        match version {
            1 => Some(SECRET_V1.to_vec()),
            2 => Some(SECRET_V2.to_vec()),
            _ => None,
        }
    }
}
