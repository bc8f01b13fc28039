//! Photos: uploads checked by content and bounded in bytes and pixels, turned upright and
//! stripped of metadata, stored under their hash, and served only to those who may see them.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use gridwing_api::entities::photos;
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder, Rgb, RgbImage, Rgba, RgbaImage};
use reqwest::{Method, StatusCode};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::Value;

use crate::support::*;

const BOUNDARY: &str = "gridwing-test-boundary-7f3a";
const UPLOAD: &str = "/api/v1/photos";

/// A multipart/form-data body with one file field.
fn form(field: &str, filename: &str, content_type: &str, data: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn multipart_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

async fn upload_as(
    app: &TestApp,
    token: &str,
    filename: &str,
    content_type: &str,
    data: &[u8],
) -> TestResult<reqwest::Response> {
    Ok(app
        .request(Method::POST, UPLOAD, Some(token))
        .header("content-type", multipart_type())
        .body(form("file", filename, content_type, data))
        .send()
        .await?)
}

/// Uploads and expects success; returns status and body.
pub(crate) async fn upload_ok(
    app: &TestApp,
    token: &str,
    data: &[u8],
) -> TestResult<(StatusCode, Value)> {
    let res = upload_as(app, token, "photo.jpg", "image/jpeg", data).await?;
    let status = res.status();
    let body: Value = res.json().await?;
    if !status.is_success() {
        return Err(format!("upload failed: {status} {body}").into());
    }
    Ok((status, body))
}

/// Top-left quadrant red, the rest green: enough to tell which way an image was turned.
fn marked(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        if x < width / 2 && y < height / 2 {
            Rgb([220, 20, 20])
        } else {
            Rgb([20, 200, 40])
        }
    })
}

fn jpeg_of(img: &RgbImage) -> TestResult<Vec<u8>> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 92).encode_image(img)?;
    Ok(out)
}

/// A JPEG of its own: images differ by `seed`, so each hashes differently.
pub(crate) fn jpeg(width: u32, height: u32, seed: u8) -> TestResult<Vec<u8>> {
    jpeg_of(&RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            (x % 256) as u8,
            (y % 256) as u8,
            seed.wrapping_mul(37).wrapping_add((x / 16) as u8),
        ])
    }))
}

/// The bytes of the GPS IFD we put into the test EXIF block, to look for in the output.
const GPS_IFD_OFFSET: u32 = 62;
const MAKE: &[u8; 12] = b"SpyPhone X9\0";

fn entry(out: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]) {
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&value);
}

fn rational(out: &mut Vec<u8>, num: u32, den: u32) {
    out.extend_from_slice(&num.to_le_bytes());
    out.extend_from_slice(&den.to_le_bytes());
}

/// A little-endian TIFF structure as phones write into EXIF: IFD0 with Make, Orientation 6 and a
/// pointer to a GPS IFD holding a position in Hangzhou.
fn exif_tiff() -> Vec<u8> {
    const ASCII: u16 = 2;
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    const RATIONAL: u16 = 5;
    let mut t = b"II\x2a\x00".to_vec();
    t.extend_from_slice(&8u32.to_le_bytes());
    // IFD0 at 8: 3 entries, 42 bytes, then the Make string at 50.
    t.extend_from_slice(&3u16.to_le_bytes());
    entry(&mut t, 0x010F, ASCII, 12, 50u32.to_le_bytes());
    entry(&mut t, 0x0112, SHORT, 1, [6, 0, 0, 0]);
    entry(&mut t, 0x8825, LONG, 1, GPS_IFD_OFFSET.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(MAKE);
    // GPS IFD at 62: 5 entries, 66 bytes, then latitude at 128 and longitude at 152.
    assert_eq!(t.len(), GPS_IFD_OFFSET as usize);
    t.extend_from_slice(&5u16.to_le_bytes());
    entry(&mut t, 0x0000, 1, 4, [2, 2, 0, 0]);
    entry(&mut t, 0x0001, ASCII, 2, *b"N\0\0\0");
    entry(&mut t, 0x0002, RATIONAL, 3, 128u32.to_le_bytes());
    entry(&mut t, 0x0003, ASCII, 2, *b"E\0\0\0");
    entry(&mut t, 0x0004, RATIONAL, 3, 152u32.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(t.len(), 128);
    rational(&mut t, 30, 1);
    rational(&mut t, 15, 1);
    rational(&mut t, 1234, 100);
    rational(&mut t, 120, 1);
    rational(&mut t, 9, 1);
    rational(&mut t, 5678, 100);
    t
}

/// The GPS IFD as written, to search for in served files.
fn gps_ifd(tiff: &[u8]) -> &[u8] {
    &tiff[GPS_IFD_OFFSET as usize..]
}

/// `jpeg` with an APP1 "Exif" segment spliced in right after its start-of-image marker.
fn with_exif(jpeg: &[u8], tiff: &[u8]) -> TestResult<Vec<u8>> {
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    let len = u16::try_from(2 + 6 + tiff.len())?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(tiff);
    out.extend_from_slice(&jpeg[2..]);
    Ok(out)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) -> TestResult {
    out.extend_from_slice(&u32::try_from(data.len())?.to_be_bytes());
    let mut typed = kind.to_vec();
    typed.extend_from_slice(data);
    out.extend_from_slice(&typed);
    out.extend_from_slice(&crc32(&typed).to_be_bytes());
    Ok(())
}

/// A well-formed PNG header claiming `width` × `height` RGB pixels, with a token of data.
fn png_claiming(width: u32, height: u32) -> TestResult<Vec<u8>> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr)?;
    // A zlib stream of a few zero bytes; far too little for the claimed size.
    png_chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    )?;
    png_chunk(&mut out, b"IEND", &[])?;
    Ok(out)
}

/// Every file under `dir`.
fn files_under(dir: &Path) -> TestResult<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(d)? {
            let p = e?.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

async fn get_bytes(
    app: &TestApp,
    path: &str,
    token: &str,
) -> TestResult<(StatusCode, reqwest::header::HeaderMap, Vec<u8>)> {
    let res = app.request(Method::GET, path, Some(token)).send().await?;
    let status = res.status();
    let headers = res.headers().clone();
    Ok((status, headers, res.bytes().await?.to_vec()))
}

/// A signed-in citizen of the test's own; returns id and token.
async fn new_citizen(app: &TestApp, phone: &str) -> TestResult<(String, String)> {
    let admin = app.token(ADMIN).await?;
    let id = app
        .create_user(&admin, phone, &["citizen"], "photo-pass-123")
        .await?;
    let pair = app.login_pair(phone, "photo-pass-123").await?;
    Ok((id, str_field(&pair, "access_token")?))
}

fn problem_field(p: &Value) -> (&str, &str) {
    (
        p["errors"][0]["field"].as_str().unwrap_or_default(),
        p["errors"][0]["rule"].as_str().unwrap_or_default(),
    )
}

#[tokio::test]
async fn exif_orientation_is_applied_and_location_and_device_are_removed() -> TestResult {
    let app = TestApp::spawn().await?;
    let token = app.token(CITIZEN).await?;
    let tiff = exif_tiff();
    let original = with_exif(&jpeg_of(&marked(400, 200))?, &tiff)?;
    // The upload really carries what we mean to remove.
    let parsed = exif::Reader::new().read_from_container(&mut Cursor::new(&original))?;
    let orientation = parsed
        .get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0));
    assert_eq!(orientation, Some(6));
    assert!(
        parsed
            .get_field(exif::Tag::GPSLatitude, exif::In::PRIMARY)
            .is_some()
    );
    assert!(contains(&original, gps_ifd(&tiff)) && contains(&original, MAKE));

    let res = upload_as(&app, &token, "IMG_0001.JPG", "image/jpeg", &original).await?;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res
        .headers()
        .get("location")
        .ok_or("no location")?
        .to_str()?
        .to_owned();
    let body: Value = res.json().await?;
    let sha = str_field(&body, "sha256")?;
    assert_eq!(sha.len(), 64);
    assert_eq!(location, format!("/api/v1/photos/{sha}"));
    assert_eq!(body["url"], location);
    assert_eq!(body["thumb_url"], format!("/api/v1/photos/{sha}/thumb"));
    assert_eq!(body["mime"], "image/jpeg");
    // Turned upright: a 400×200 sensor image shot in portrait is 200×400.
    assert_eq!(
        (body["width"].as_u64(), body["height"].as_u64()),
        (Some(200), Some(400))
    );

    let (status, headers, served) = get_bytes(&app, &location, &token).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(body["bytes"].as_u64(), Some(served.len() as u64));
    assert!(!contains(&served, b"Exif"), "an EXIF block survived");
    assert!(!contains(&served, gps_ifd(&tiff)), "the GPS IFD survived");
    assert!(!contains(&served, MAKE), "the device name survived");
    assert!(
        exif::Reader::new()
            .read_from_container(&mut Cursor::new(&served))
            .is_err()
    );

    let img = image::load_from_memory(&served)?.to_rgb8();
    assert_eq!(img.dimensions(), (200, 400));
    // Orientation 6 means "turn 90° clockwise": the red top-left corner ends top-right.
    let red = |p: &Rgb<u8>| p.0[0] > 150 && p.0[1] < 80;
    assert!(red(img.get_pixel(150, 50)), "{:?}", img.get_pixel(150, 50));
    assert!(!red(img.get_pixel(50, 50)), "{:?}", img.get_pixel(50, 50));
    assert!(
        !red(img.get_pixel(150, 300)),
        "{:?}",
        img.get_pixel(150, 300)
    );

    // Stored under the photo directory, named by the hash of exactly the bytes served.
    assert_eq!(gridwing_api::photos::process::hex_sha256(&served), sha);
    let full = app
        .files
        .path()
        .join(&sha[..2])
        .join(format!("{}.jpg", &sha[2..]));
    let thumb = app
        .files
        .path()
        .join(&sha[..2])
        .join(format!("{}.thumb.jpg", &sha[2..]));
    assert_eq!(std::fs::read(&full)?, served);
    let (status, _, thumb_bytes) = get_bytes(&app, &format!("{location}/thumb"), &token).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(std::fs::read(&thumb)?, thumb_bytes);
    assert!(!contains(&thumb_bytes, b"Exif"));
    assert_eq!(files_under(app.files.path())?, vec![full, thumb]);
    Ok(())
}

#[tokio::test]
async fn png_and_webp_are_accepted_and_served_as_jpeg() -> TestResult {
    let app = TestApp::spawn().await?;
    let token = app.token(CITIZEN).await?;

    // A PNG with transparency: the transparent half turns white, not black.
    let rgba = RgbaImage::from_fn(120, 80, |x, _| {
        if x < 60 {
            Rgba([10, 10, 200, 255])
        } else {
            Rgba([0, 0, 0, 0])
        }
    });
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png).write_image(
        rgba.as_raw(),
        120,
        80,
        ExtendedColorType::Rgba8,
    )?;
    let (status, body) = upload_ok(&app, &token, &png).await?;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        (body["width"].as_u64(), body["height"].as_u64()),
        (Some(120), Some(80))
    );
    let (status, headers, served) = get_bytes(&app, &str_field(&body, "url")?, &token).await?;
    assert_eq!(
        (status, &headers["content-type"]),
        (StatusCode::OK, &"image/jpeg".parse()?)
    );
    assert_eq!(image::guess_format(&served)?, image::ImageFormat::Jpeg);
    let img = image::load_from_memory(&served)?.to_rgb8();
    let p = img.get_pixel(100, 40).0;
    assert!(p.iter().all(|&c| c > 230), "transparent became {p:?}");
    let p = img.get_pixel(20, 40).0;
    assert!(p[2] > 150 && p[0] < 60, "opaque blue became {p:?}");

    let rgb = RgbImage::from_fn(90, 70, |x, y| Rgb([(x * 2) as u8, (y * 3) as u8, 77]));
    let mut webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp).write_image(
        rgb.as_raw(),
        90,
        70,
        ExtendedColorType::Rgb8,
    )?;
    // The declared type and name are ignored: the content says WebP.
    let res = upload_as(&app, &token, "scan.bin", "application/octet-stream", &webp).await?;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await?;
    assert_eq!(
        (body["width"].as_u64(), body["height"].as_u64()),
        (Some(90), Some(70))
    );
    let (_, _, served) = get_bytes(&app, &str_field(&body, "url")?, &token).await?;
    assert_eq!(
        image::load_from_memory(&served)?.to_rgb8().dimensions(),
        (90, 70)
    );
    Ok(())
}

#[tokio::test]
async fn uploads_over_the_byte_limit_get_413_and_nothing_is_stored() -> TestResult {
    let app = TestApp::spawn().await?;
    let token = app.token(CITIZEN).await?;
    let big = vec![0x5Au8; 50 * 1024 * 1024];
    let mut data = jpeg(16, 16, 1)?;
    data.extend_from_slice(&big);

    // With a declared length: refused before the body is read.
    let res = upload_as(&app, &token, "big.jpg", "image/jpeg", &data).await?;
    let p = assert_problem(res, 413, "payload-too-large").await?;
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("10485760"),
        "{p}"
    );

    // Streamed without a length: refused by the running count.
    let body = form("file", "big.jpg", "image/jpeg", &data);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(256 * 1024).map(|c| Ok(c.to_vec())).collect();
    let res = app
        .request(Method::POST, UPLOAD, Some(&token))
        .header("content-type", multipart_type())
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await?;
    assert_problem(res, 413, "payload-too-large").await?;

    assert!(files_under(app.files.path())?.is_empty());
    assert_eq!(photos::Entity::find().count(&app.state.db).await?, 0);
    // The server goes on: a normal photo right after is stored.
    let (status, _) = app.get("/healthz", None).await?;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = upload_ok(&app, &token, &jpeg(32, 32, 2)?).await?;
    assert_eq!(status, StatusCode::CREATED);
    Ok(())
}

#[tokio::test]
async fn images_over_the_pixel_limits_are_refused_before_decoding() -> TestResult {
    let app = TestApp::spawn_with(&["--max-photo-pixels", "20000"]).await?;
    let token = app.token(CITIZEN).await?;
    // A 60-byte PNG that claims 100,000 × 100,000 pixels (30 GB decoded).
    let huge = png_claiming(100_000, 100_000)?;
    assert!(huge.len() < 100);
    assert_eq!(image::guess_format(&huge)?, image::ImageFormat::Png);
    let res = upload_as(&app, &token, "huge.png", "image/png", &huge).await?;
    let p = assert_problem(res, 422, "validation-failed").await?;
    assert_eq!(problem_field(&p), ("file", "image_size"), "{p}");

    // The configured pixel limit: 200 × 150 = 30,000 > 20,000; 100 × 150 fits.
    let res = upload_as(&app, &token, "a.jpg", "image/jpeg", &jpeg(200, 150, 3)?).await?;
    let p = assert_problem(res, 422, "validation-failed").await?;
    assert_eq!(problem_field(&p), ("file", "image_size"), "{p}");
    assert!(
        p["detail"].as_str().unwrap_or_default().contains("200×150"),
        "{p}"
    );
    let (status, _) = upload_ok(&app, &token, &jpeg(100, 150, 3)?).await?;
    assert_eq!(status, StatusCode::CREATED);
    Ok(())
}

#[tokio::test]
async fn what_is_not_an_allowed_image_is_refused_with_the_reason() -> TestResult {
    let app = TestApp::spawn().await?;
    let token = app.token(CITIZEN).await?;
    let text = "这不是照片, just text pretending to be one\n".repeat(20);
    let res = upload_as(&app, &token, "x.jpg", "image/jpeg", text.as_bytes()).await?;
    let p = assert_problem(res, 422, "validation-failed").await?;
    assert_eq!(problem_field(&p), ("file", "image_type"), "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("JPEG, PNG or WebP")
    );

    // A real image of another format (GIF) is refused too.
    let gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";
    let res = upload_as(&app, &token, "x.jpg", "image/jpeg", gif).await?;
    let p = assert_problem(res, 422, "validation-failed").await?;
    assert_eq!(problem_field(&p), ("file", "image_type"));

    // An empty file.
    let res = upload_as(&app, &token, "x.jpg", "image/jpeg", b"").await?;
    let p = assert_problem(res, 422, "validation-failed").await?;
    assert_eq!(problem_field(&p), ("file", "image_type"));

    // The photo in a field of another name.
    let res = app
        .request(Method::POST, UPLOAD, Some(&token))
        .header("content-type", multipart_type())
        .body(form("photo", "a.jpg", "image/jpeg", &jpeg(8, 8, 4)?))
        .send()
        .await?;
    let p = assert_problem(res, 422, "validation-failed").await?;
    assert_eq!(problem_field(&p), ("file", "required"), "{p}");

    // Not multipart at all, and no body at all.
    let res = app
        .request(Method::POST, UPLOAD, Some(&token))
        .json(&serde_json::json!({"file": "aGVsbG8="}))
        .send()
        .await?;
    let p = assert_problem(res, 422, "validation-failed").await?;
    assert_eq!(problem_field(&p), ("file", "required"), "{p}");
    let res = app
        .request(Method::POST, UPLOAD, Some(&token))
        .send()
        .await?;
    let p = assert_problem(res, 422, "validation-failed").await?;
    assert_eq!(problem_field(&p), ("file", "required"), "{p}");

    assert_eq!(photos::Entity::find().count(&app.state.db).await?, 0);
    assert!(files_under(app.files.path())?.is_empty());
    Ok(())
}

#[tokio::test]
async fn truncated_images_are_refused() -> TestResult {
    let app = TestApp::spawn().await?;
    let token = app.token(CITIZEN).await?;
    // Cut after the headers, in the middle of the compressed data, and just before the end.
    let whole = with_exif(&jpeg(300, 200, 5)?, &exif_tiff())?;
    for cut in [whole.len() / 2, whole.len() - 3] {
        let res = upload_as(&app, &token, "cut.jpg", "image/jpeg", &whole[..cut]).await?;
        let p = assert_problem(res, 422, "validation-failed").await?;
        assert_eq!(
            problem_field(&p),
            ("file", "image_damaged"),
            "cut at {cut}: {p}"
        );
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png).write_image(
        marked(200, 200).as_raw(),
        200,
        200,
        ExtendedColorType::Rgb8,
    )?;
    let res = upload_as(&app, &token, "cut.png", "image/png", &png[..png.len() / 2]).await?;
    let p = assert_problem(res, 422, "validation-failed").await?;
    assert_eq!(problem_field(&p), ("file", "image_damaged"), "{p}");
    assert_eq!(photos::Entity::find().count(&app.state.db).await?, 0);
    // The whole file still goes through afterwards.
    let (status, _) = upload_ok(&app, &token, &whole).await?;
    assert_eq!(status, StatusCode::CREATED);
    Ok(())
}

#[tokio::test]
async fn the_same_image_twice_is_one_photo() -> TestResult {
    let app = TestApp::spawn().await?;
    let token = app.token(CITIZEN).await?;
    let data = jpeg(64, 48, 6)?;
    let (first, one) = upload_ok(&app, &token, &data).await?;
    let (second, two) = upload_ok(&app, &token, &data).await?;
    assert_eq!((first, second), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(one, two);
    assert_eq!(photos::Entity::find().count(&app.state.db).await?, 1);
    assert_eq!(files_under(app.files.path())?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn uploads_in_parallel_all_complete() -> TestResult {
    let app = TestApp::spawn().await?;
    let token = app.token(CITIZEN).await?;
    let mut images = Vec::new();
    for seed in 0..6u8 {
        images.push(jpeg(640, 480, seed)?);
    }
    let results =
        futures_util::future::join_all(images.iter().map(|d| upload_ok(&app, &token, d))).await;
    let mut hashes = std::collections::BTreeSet::new();
    for r in results {
        let (status, body) = r?;
        assert_eq!(status, StatusCode::CREATED);
        hashes.insert(str_field(&body, "sha256")?);
    }
    assert_eq!(hashes.len(), 6);
    Ok(())
}

#[tokio::test]
async fn only_the_uploader_and_staff_with_a_global_view_see_a_photo() -> TestResult {
    let app = TestApp::spawn().await?;
    let (owner_id, owner) = new_citizen(&app, "13900001001").await?;
    let (stranger_id, stranger) = new_citizen(&app, "13900001002").await?;
    let (_, body) = upload_ok(&app, &owner, &jpeg(1600, 900, 7)?).await?;
    let sha = str_field(&body, "sha256")?;
    let url = str_field(&body, "url")?;
    let thumb_url = str_field(&body, "thumb_url")?;

    let dispatcher = app.token(DISPATCHER).await?;
    let admin = app.token(ADMIN).await?;
    for token in [&owner, &dispatcher, &admin] {
        let (status, headers, bytes) = get_bytes(&app, &url, token).await?;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-type"], "image/jpeg");
        assert_eq!(headers["cache-control"], "private, max-age=86400");
        assert_eq!(
            image::load_from_memory(&bytes)?.to_rgb8().dimensions(),
            (1600, 900)
        );
        let (status, headers, bytes) = get_bytes(&app, &thumb_url, token).await?;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-type"], "image/jpeg");
        assert_eq!(headers["cache-control"], "private, max-age=86400");
        let thumb = image::load_from_memory(&bytes)?.to_rgb8();
        assert_eq!(thumb.dimensions(), (320, 180));
    }

    // Everyone else learns nothing: the same 404 as for a photo that does not exist.
    let grid_worker = app.token(GRID_WORKER).await?;
    let unknown = format!("/api/v1/photos/{}", "0".repeat(64));
    let upper = format!("/api/v1/photos/{}", sha.to_uppercase());
    for (token, path) in [
        (&stranger, url.as_str()),
        (&stranger, thumb_url.as_str()),
        (&grid_worker, url.as_str()),
        (&owner, unknown.as_str()),
        (&admin, unknown.as_str()),
        (&admin, "/api/v1/photos/not-a-hash"),
        (&admin, upper.as_str()),
        (&admin, "/api/v1/photos/..%2F..%2Fetc%2Fpasswd/thumb"),
    ] {
        let res = app.request(Method::GET, path, Some(token)).send().await?;
        let p = assert_problem(res, 404, "not-found").await?;
        assert_eq!(
            p["detail"], "no such photo, or not visible to you",
            "{path}"
        );
    }
    // Signed-out callers are asked to sign in.
    let res = app.request(Method::GET, &url, None).send().await?;
    assert_problem(res, 401, "unauthorized").await?;
    let res = app
        .request(Method::POST, UPLOAD, None)
        .header("content-type", multipart_type())
        .body(form("file", "a.jpg", "image/jpeg", &jpeg(8, 8, 8)?))
        .send()
        .await?;
    assert_problem(res, 401, "unauthorized").await?;

    // A client holding the photo revalidates without downloading it again.
    let res = app.request(Method::GET, &url, Some(&owner)).send().await?;
    let etag = res.headers()["etag"].clone();
    let res = app
        .request(Method::GET, &url, Some(&owner))
        .header("if-none-match", etag.clone())
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    // …but only a caller who may see it.
    let res = app
        .request(Method::GET, &url, Some(&stranger))
        .header("if-none-match", etag)
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // What the event code checks before attaching photos to a report.
    let db = &app.state.db;
    let owner_id = uuid::Uuid::parse_str(&owner_id)?;
    let stranger_id = uuid::Uuid::parse_str(&stranger_id)?;
    assert!(gridwing_api::photos::exists_for(db, &sha, owner_id).await?);
    assert!(!gridwing_api::photos::exists_for(db, &sha, stranger_id).await?);
    assert!(!gridwing_api::photos::exists_for(db, &"0".repeat(64), owner_id).await?);
    assert!(!gridwing_api::photos::exists_for(db, "../x", owner_id).await?);
    Ok(())
}

#[tokio::test]
async fn a_photo_in_a_report_is_seen_by_those_who_see_the_report() -> TestResult {
    let app = TestApp::spawn_with(&["--demo-street", "true", "--sweep-secs", "3600"]).await?;
    let reporter = app.token(CITIZEN).await?;
    let (_, stranger) = new_citizen(&app, "13900001003").await?;
    let worker = app.token(GRID_WORKER).await?;
    let other_worker = app.token(OTHER_GRID_WORKER).await?;
    let (_, body) = upload_ok(&app, &reporter, &jpeg(120, 90, 9)?).await?;
    let sha = str_field(&body, "sha256")?;
    let url = str_field(&body, "url")?;
    // Before the report, the grid worker has no reason to see it.
    let (status, _, _) = get_bytes(&app, &url, &worker).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A report in grid QSH-G001 (beside building QSH-B0001) with the photo attached.
    let (_, b) = app
        .get("/api/v1/buildings/QSH-B0001", Some(&worker))
        .await?;
    let (lat, lng) = (
        b["lat"].as_f64().ok_or("lat")?,
        b["lng"].as_f64().ok_or("lng")? + 0.000_01,
    );
    let (status, event) = app
        .post(
            "/api/v1/events",
            Some(&reporter),
            serde_json::json!({"id": uuid::Uuid::new_v4(), "category": "environment.garbage",
                "description": "楼下垃圾桶满溢", "lat": lat, "lng": lng, "photos": [sha]}),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{event}");

    // The grid's worker now sees the report and so its photo; others still see nothing.
    for path in [url.clone(), format!("{url}/thumb")] {
        let (status, headers, _) = get_bytes(&app, &path, &worker).await?;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(headers["content-type"], "image/jpeg");
        for token in [&other_worker, &stranger] {
            let (status, _, _) = get_bytes(&app, &path, token).await?;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
    }
    Ok(())
}

/// A report from `token` with these photos, beside nothing (it waits in the dispatchers' queue).
async fn report_with(
    app: &TestApp,
    token: &str,
    photos: &[&str],
) -> TestResult<(StatusCode, Value)> {
    app.post(
        "/api/v1/events",
        Some(token),
        serde_json::json!({"id": uuid::Uuid::new_v4(), "category": "environment.garbage",
            "description": "路灯不亮", "lat": 30.2741, "lng": 120.1551, "photos": photos}),
    )
    .await
}

#[tokio::test]
async fn each_uploader_of_the_same_image_owns_it_and_learns_nothing_of_the_other() -> TestResult {
    let app = TestApp::spawn().await?;
    let (first_id, first) = new_citizen(&app, "13900001011").await?;
    let (second_id, second) = new_citizen(&app, "13900001012").await?;
    let data = jpeg(96, 64, 11)?;
    let (status_first, body_first) = upload_ok(&app, &first, &data).await?;
    let res = upload_as(&app, &second, "photo.jpg", "image/jpeg", &data).await?;
    // The second uploader gets what a first upload gets, Location and all.
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(res.headers().contains_key("location"));
    let body_second: Value = res.json().await?;
    assert_eq!(status_first, StatusCode::CREATED);
    assert_eq!(body_first, body_second);
    let sha = str_field(&body_second, "sha256")?;
    // The same person again is told it is already theirs.
    let (again, _) = upload_ok(&app, &second, &data).await?;
    assert_eq!(again, StatusCode::OK);

    // Both may use it, each in their own report; the first's ownership is untouched.
    let (status, event) = report_with(&app, &second, &[&sha]).await?;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    let (status, event) = report_with(&app, &first, &[&sha]).await?;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    let db = &app.state.db;
    for id in [&first_id, &second_id] {
        assert!(gridwing_api::photos::exists_for(db, &sha, uuid::Uuid::parse_str(id)?).await?);
    }
    assert_eq!(photos::Entity::find().count(db).await?, 1);
    // Both see it, a third person does not.
    let (_, stranger) = new_citizen(&app, "13900001013").await?;
    let url = str_field(&body_second, "url")?;
    for (token, want) in [
        (&first, StatusCode::OK),
        (&second, StatusCode::OK),
        (&stranger, StatusCode::NOT_FOUND),
    ] {
        let (status, _, _) = get_bytes(&app, &url, token).await?;
        assert_eq!(status, want);
    }
    Ok(())
}

#[tokio::test]
async fn the_same_photo_twice_in_one_report_is_refused_naming_the_repeat() -> TestResult {
    let app = TestApp::spawn().await?;
    let token = app.token(CITIZEN).await?;
    let (_, a) = upload_ok(&app, &token, &jpeg(40, 30, 12)?).await?;
    let (_, b) = upload_ok(&app, &token, &jpeg(40, 30, 13)?).await?;
    let (a, b) = (str_field(&a, "sha256")?, str_field(&b, "sha256")?);
    let res = app
        .request(Method::POST, "/api/v1/events", Some(&token))
        .json(
            &serde_json::json!({"id": uuid::Uuid::new_v4(), "category": "environment.garbage",
            "description": "路灯不亮", "lat": 30.2741, "lng": 120.1551, "photos": [a, b, a]}),
        )
        .send()
        .await?;
    let p = assert_problem(res, 422, "validation-failed").await?;
    assert_eq!(problem_field(&p), ("photos[2]", "duplicate"));
    // Each photo once is a report.
    let (status, event) = report_with(&app, &token, &[&a, &b]).await?;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    assert_eq!(event["photos"].as_array().map(Vec::len), Some(2));
    Ok(())
}
