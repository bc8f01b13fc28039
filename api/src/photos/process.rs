//! Turning an uploaded file into the photo we keep: checked by its content, decoded under limits,
//! turned upright, and re-encoded as a plain JPEG so that nothing of the original file but its
//! pixels survives (no GPS position, no device, no comments).
//!
//! Everything here is synchronous and CPU-bound; callers run it on a blocking thread.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage};
use sha2::{Digest, Sha256};

/// JPEG quality of stored photos: visually clean, about a tenth of the raw size.
const QUALITY: u8 = 85;
/// Thumbnails are small; a lower quality costs nothing visible.
const THUMB_QUALITY: u8 = 80;
/// Longest side of a thumbnail, in pixels.
pub const THUMB_SIDE: u32 = 320;

/// What a decoder may use, whatever the file claims.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Largest width × height.
    pub max_pixels: u64,
    /// Largest width and largest height.
    pub max_side: u32,
    /// Largest buffer a decoder may allocate, in bytes.
    pub max_alloc: u64,
}

impl Bounds {
    /// The bounds for a configured pixel limit, with the fixed side and memory caps.
    pub fn with_max_pixels(max_pixels: u64) -> Self {
        Self {
            max_pixels,
            max_side: 8192,
            max_alloc: 256 * 1024 * 1024,
        }
    }
}

/// A photo ready to store.
#[derive(Debug, Clone)]
pub struct Processed {
    /// Hex sha256 of `jpeg`: the photo's name.
    pub sha256: String,
    /// The re-encoded photo.
    pub jpeg: Vec<u8>,
    /// The re-encoded thumbnail, at most [`THUMB_SIDE`] on its longer side.
    pub thumb: Vec<u8>,
    /// Width after orientation was applied.
    pub width: u32,
    /// Height after orientation was applied.
    pub height: u32,
}

/// Why a file is not accepted as a photo.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Rejection {
    /// The content is not one of the accepted formats, whatever its name or declared type.
    #[error("the file is not a JPEG, PNG or WebP image (checked by its content)")]
    NotAnImage,
    /// The image is larger than the limits allow.
    #[error("{0}")]
    TooLarge(String),
    /// The image is cut short or corrupt.
    #[error("the image is damaged or incomplete: {0}")]
    Damaged(String),
}

/// Checks, decodes, orients and re-encodes one uploaded file.
pub fn process(data: &[u8], bounds: &Bounds) -> Result<Processed, Rejection> {
    let format = match image::guess_format(data) {
        Ok(f @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)) => f,
        _ => return Err(Rejection::NotAnImage),
    };
    // The JPEG decoder fills missing data with grey instead of failing, so a cut-off upload
    // would be stored as a half-grey photo; the file's own structure tells whether it is whole.
    if format == ImageFormat::Jpeg && !jpeg_is_complete(data) {
        return Err(Rejection::Damaged(
            "the JPEG ends before its end-of-image marker".to_owned(),
        ));
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(bounds.max_side);
    limits.max_image_height = Some(bounds.max_side);
    limits.max_alloc = Some(bounds.max_alloc);
    let mut reader = ImageReader::with_format(Cursor::new(data), format);
    // Set before the decoder exists, so that the header's claimed size is checked before any
    // pixel buffer is allocated.
    reader.limits(limits.clone());
    let mut decoder = reader.into_decoder().map_err(|e| rejection(e, bounds))?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(Rejection::Damaged("the image has no pixels".to_owned()));
    }
    if u64::from(width) * u64::from(height) > bounds.max_pixels {
        return Err(too_large(width, height, bounds));
    }
    limits
        .reserve(decoder.total_bytes())
        .map_err(|_| too_large(width, height, bounds))?;
    let orientation = decoder
        .exif_metadata()
        .ok()
        .flatten()
        .map_or(Orientation::NoTransforms, |exif| orientation_of(&exif));
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| rejection(e, bounds))?;
    img.apply_orientation(orientation);
    let rgb = flatten(img);
    let jpeg = encode(&rgb, QUALITY)?;
    let (tw, th) = thumb_size(rgb.width(), rgb.height());
    let thumb = if (tw, th) == rgb.dimensions() {
        encode(&rgb, THUMB_QUALITY)?
    } else {
        encode(&image::imageops::thumbnail(&rgb, tw, th), THUMB_QUALITY)?
    };
    Ok(Processed {
        sha256: hex_sha256(&jpeg),
        width: rgb.width(),
        height: rgb.height(),
        jpeg,
        thumb,
    })
}

fn too_large(width: u32, height: u32, bounds: &Bounds) -> Rejection {
    Rejection::TooLarge(format!(
        "the image is {width}×{height} pixels; at most {} pixels and {} per side are accepted",
        bounds.max_pixels, bounds.max_side
    ))
}

fn rejection(e: ImageError, bounds: &Bounds) -> Rejection {
    match e {
        ImageError::Limits(_) => Rejection::TooLarge(format!(
            "the image is larger than accepted: at most {} pixels and {} per side",
            bounds.max_pixels, bounds.max_side
        )),
        ImageError::Unsupported(_) => Rejection::NotAnImage,
        other => Rejection::Damaged(other.to_string()),
    }
}

/// The EXIF orientation of a raw EXIF block (a TIFF structure); upright when absent or unreadable.
pub fn orientation_of(exif: &[u8]) -> Orientation {
    // WebP writers disagree on whether the chunk keeps JPEG's "Exif\0\0" preamble.
    let tiff = exif.strip_prefix(b"Exif\0\0").unwrap_or(exif);
    let Ok(parsed) = exif::Reader::new().read_raw(tiff.to_vec()) else {
        return Orientation::NoTransforms;
    };
    parsed
        .get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .and_then(|v| u8::try_from(v).ok())
        .and_then(Orientation::from_exif)
        .unwrap_or(Orientation::NoTransforms)
}

/// The image as 8-bit RGB; transparent parts are laid on white, as a viewer would show them,
/// rather than on whatever colour the invisible pixels happen to hold.
fn flatten(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let mut out = RgbImage::new(rgba.width(), rgba.height());
    for (dst, src) in out.pixels_mut().zip(rgba.pixels()) {
        let a = u16::from(src.0[3]);
        for c in 0..3 {
            let v = (u16::from(src.0[c]) * a + 255 * (255 - a) + 127) / 255;
            dst.0[c] = u8::try_from(v).unwrap_or(u8::MAX);
        }
    }
    out
}

fn encode(img: &RgbImage, quality: u8) -> Result<Vec<u8>, Rejection> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .map_err(|e| Rejection::Damaged(format!("re-encoding failed: {e}")))?;
    Ok(out)
}

/// The size that fits within [`THUMB_SIDE`] keeping the aspect ratio; small images keep theirs.
pub fn thumb_size(width: u32, height: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= THUMB_SIDE {
        return (width, height);
    }
    let scale = |side: u32| {
        let scaled =
            (u64::from(side) * u64::from(THUMB_SIDE) + u64::from(long) / 2) / u64::from(long);
        u32::try_from(scaled)
            .unwrap_or(THUMB_SIDE)
            .clamp(1, THUMB_SIDE)
    };
    (scale(width), scale(height))
}

/// Lower-case hex sha256.
pub fn hex_sha256(data: &[u8]) -> String {
    use std::fmt::Write;
    Sha256::digest(data)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Whether a JPEG's marker structure runs from its start to an end-of-image marker. Walking the
/// segments (rather than searching for the EOI bytes) matters: the EXIF block often carries a
/// whole thumbnail JPEG with an EOI of its own, which a truncated photo still contains.
pub fn jpeg_is_complete(d: &[u8]) -> bool {
    if !d.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let mut i = 2;
    loop {
        // Tolerate stray bytes before a marker, as common decoders do.
        match d
            .get(i..)
            .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
        {
            Some(skip) => i += skip,
            None => return false,
        }
        while d.get(i) == Some(&0xFF) {
            i += 1;
        }
        let Some(&marker) = d.get(i) else {
            return false;
        };
        i += 1;
        match marker {
            0xD9 => return true,
            // Markers without a length.
            0x01 | 0xD0..=0xD7 => continue,
            // A byte-stuffed zero where a marker was expected: garbage, keep looking.
            0x00 => continue,
            _ => {}
        }
        let (Some(&hi), Some(&lo)) = (d.get(i), d.get(i + 1)) else {
            return false;
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if len < 2 || i + len > d.len() {
            return false;
        }
        i += len;
        if marker == 0xDA {
            // Entropy-coded data follows a start-of-scan; it ends at the first marker that is
            // neither a stuffed 0xFF 0x00 nor a restart marker.
            loop {
                match d
                    .get(i..)
                    .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
                {
                    Some(skip) => i += skip,
                    None => return false,
                }
                match d.get(i + 1) {
                    None => return false,
                    Some(0x00 | 0xD0..=0xD7) => i += 2,
                    Some(0xFF) => i += 1,
                    Some(_) => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 7 % 256) as u8, (y * 13 % 256) as u8, 90])
        });
        encode(&img, 90).unwrap_or_default()
    }

    #[test]
    fn whole_jpegs_are_complete_and_cut_ones_are_not() {
        let whole = jpeg(64, 48);
        assert!(jpeg_is_complete(&whole));
        for cut in [whole.len() - 2, whole.len() / 2, 20, 2] {
            assert!(!jpeg_is_complete(&whole[..cut]), "cut at {cut}");
        }
        // Trailing bytes after the end marker (some cameras append data) are fine.
        let mut trailing = whole.clone();
        trailing.extend_from_slice(b"vendor trailer");
        assert!(jpeg_is_complete(&trailing));
    }

    #[test]
    fn an_embedded_thumbnail_does_not_make_a_cut_jpeg_whole() {
        // An APP1 segment carrying a complete small JPEG, then a cut-off main image.
        let inner = jpeg(8, 8);
        let main = jpeg(64, 64);
        let mut data = vec![0xFF, 0xD8, 0xFF, 0xE1];
        let len = u16::try_from(inner.len() + 2).unwrap_or(0);
        data.extend_from_slice(&len.to_be_bytes());
        data.extend_from_slice(&inner);
        data.extend_from_slice(&main[2..main.len() / 2]);
        assert!(!jpeg_is_complete(&data));
    }

    #[test]
    fn thumbnails_fit_and_keep_the_aspect_ratio() {
        assert_eq!(thumb_size(4000, 3000), (320, 240));
        assert_eq!(thumb_size(3000, 4000), (240, 320));
        assert_eq!(thumb_size(100, 50), (100, 50));
        assert_eq!(thumb_size(10_000, 1), (320, 1));
    }

    #[test]
    fn text_is_not_an_image() {
        let b = Bounds::with_max_pixels(1_000_000);
        assert_eq!(
            process(b"hello, this is not a photo", &b).err(),
            Some(Rejection::NotAnImage)
        );
        assert_eq!(process(b"", &b).err(), Some(Rejection::NotAnImage));
    }

    #[test]
    fn reencoding_is_deterministic() {
        let b = Bounds::with_max_pixels(1_000_000);
        let data = jpeg(50, 30);
        let one = process(&data, &b).map(|p| p.sha256).ok();
        let two = process(&data, &b).map(|p| p.sha256).ok();
        assert!(one.is_some());
        assert_eq!(one, two);
    }
}
