//! `POST /api/v1/photos` and `GET /api/v1/photos/{sha256}[/thumb]`: uploads decoded off the
//! request threads under limits, and files served only to those who may see them.

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::Semaphore;
use utoipa::ToSchema;

use super::PROBLEM;
use crate::auth::Auth;
use crate::auth::roles::AnyRole;
use crate::entities::photos;
use crate::error::{ApiError, ApiResult, Problem};
use crate::photos::process::{self, Bounds, Processed, Rejection};
use crate::photos::store::{self, Variant};
use crate::state::AppState;

/// How long a client may keep a photo it was allowed to see. Only private caches: what one user
/// may see another may not.
const CACHE_CONTROL: &str = "private, max-age=86400";

/// Room for the multipart framing and small form fields beside the file itself.
const FORM_SLACK: usize = 64 * 1024;

/// The name of the one form field that carries the photo.
const FILE_FIELD: &str = "file";

/// Mounts the photo routes.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(upload_photo)
        .service(get_photo_thumb)
        .service(get_photo);
}

/// Bounds how many photos decode at once: a 40-megapixel image takes a few hundred megabytes and
/// a core for a second, so a burst of uploads waits here instead of exhausting the machine.
pub struct DecodeSlots {
    permits: Semaphore,
}

impl DecodeSlots {
    /// A pool admitting `n` decodes at once.
    pub const fn new(n: usize) -> Self {
        Self {
            permits: Semaphore::const_new(n),
        }
    }

    /// Runs `work` on a blocking thread once a slot is free.
    pub async fn run<T, F>(&'static self, work: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ApiError::Unavailable("photo decoding is shut down".to_owned()))?;
        // The permit travels with the work: if the request is dropped meanwhile, the slot stays
        // taken until the decode really ends.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| {
            if e.is_panic() {
                tracing::warn!(error = %e, "a photo decoder panicked");
            }
            ApiError::invalid(
                FILE_FIELD,
                "image_damaged",
                "the image could not be decoded",
            )
        })
    }
}

/// The decode slots of this process (shared by every server it runs).
static DECODE_SLOTS: DecodeSlots = DecodeSlots::new(2);

/// The upload form: one file field.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// A JPEG, PNG or WebP image, at most `--max-photo-bytes` (10 MiB by default).
    #[schema(value_type = String, format = Binary, content_media_type = "application/octet-stream")]
    file: Vec<u8>,
}

/// A stored photo.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhotoInfo {
    /// Hex sha256 of the stored JPEG; how reports and feedback name the photo.
    #[schema(example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")]
    pub sha256: String,
    /// Width in pixels, upright.
    pub width: i32,
    /// Height in pixels, upright.
    pub height: i32,
    /// Size of the stored JPEG.
    pub bytes: i64,
    /// Always `image/jpeg`: every photo is re-encoded.
    #[schema(example = "image/jpeg")]
    pub mime: String,
    /// Where the photo is served.
    pub url: String,
    /// Where its thumbnail (at most 320 px on the longer side) is served.
    pub thumb_url: String,
}

impl From<photos::Model> for PhotoInfo {
    fn from(p: photos::Model) -> Self {
        Self {
            url: format!("/api/v1/photos/{}", p.sha256),
            thumb_url: format!("/api/v1/photos/{}/thumb", p.sha256),
            sha256: p.sha256,
            width: p.width,
            height: p.height,
            bytes: p.bytes,
            mime: p.mime,
        }
    }
}

fn file_required(why: impl Into<String>) -> ApiError {
    ApiError::invalid(FILE_FIELD, "required", why)
}

/// Reads the `file` field of a multipart form, stopping as soon as it exceeds `limit` bytes.
async fn read_file_field(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> ApiResult<Vec<u8>> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit.saturating_add(FORM_SLACK)) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut form = Multipart::new(req.headers(), payload);
    let mut other_bytes = 0usize;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| {
            file_required(format!(
                "send the photo as multipart/form-data with a field named `file` ({e})"
            ))
        })?;
        let is_file = field.name() == Some(FILE_FIELD);
        let mut data = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::invalid(
                    FILE_FIELD,
                    "multipart",
                    format!("the upload broke off: {e}"),
                )
            })?;
            if is_file {
                if data.len() + chunk.len() > limit {
                    return Err(ApiError::PayloadTooLarge { limit });
                }
                data.extend_from_slice(&chunk);
            } else {
                other_bytes += chunk.len();
                if other_bytes > FORM_SLACK {
                    return Err(ApiError::PayloadTooLarge { limit });
                }
            }
        }
        if is_file {
            return Ok(data);
        }
    }
    Err(file_required("the form has no field named `file`"))
}

fn rejected(r: Rejection) -> ApiError {
    let rule = match r {
        Rejection::NotAnImage => "image_type",
        Rejection::TooLarge(_) => "image_size",
        Rejection::Damaged(_) => "image_damaged",
    };
    ApiError::invalid(FILE_FIELD, rule, r.to_string())
}

/// Upload a photo for a report or feedback.
///
/// The content decides the type (JPEG, PNG or WebP), not the file name or declared type. The
/// photo is turned upright by its EXIF orientation and re-encoded as JPEG, so location, device and
/// every other piece of metadata are gone. Each uploader owns their upload: someone sending an
/// image another person sent before gets 201 as for a new one (and may attach it to their
/// reports); only the same person sending it again gets 200 with the same hash.
#[utoipa::path(
    tag = "photos",
    security(("bearer" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored", body = PhotoInfo,
            headers(("location" = String, description = "The photo's URL"))),
        (status = 200, description = "You uploaded this image before; same hash, nothing changed", body = PhotoInfo),
        (status = 413, description = "Larger than --max-photo-bytes", body = Problem, content_type = PROBLEM),
        (status = 422, description = "No `file` field, not a JPEG/PNG/WebP image, damaged or truncated, or more pixels than --max-photo-pixels", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/photos")]
pub async fn upload_photo(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let data = read_file_field(&req, payload, state.settings.max_photo_bytes).await?;
    let bounds = Bounds::with_max_pixels(state.settings.max_photo_pixels);
    let dir = state.settings.photo_dir.clone();
    let processed: Processed = DECODE_SLOTS
        .run(move || {
            let p = process::process(&data, &bounds).map_err(rejected)?;
            store::write_files(&dir, &p).map_err(|e| {
                anyhow::anyhow!("writing photo {} to {}: {e}", p.sha256, dir.display())
            })?;
            Ok::<_, ApiError>(p)
        })
        .await??;
    let (row, created) = store::record(&state.db, &processed, auth.user.id).await?;
    let info = PhotoInfo::from(row);
    if created {
        tracing::info!(sha256 = %info.sha256, bytes = info.bytes, user = %auth.user.id, "photo stored");
        Ok(HttpResponse::Created()
            .insert_header((header::LOCATION, info.url.clone()))
            .json(info))
    } else {
        Ok(HttpResponse::Ok().json(info))
    }
}

/// Answers a photo file to a caller allowed to see it, and 404 to everyone else.
async fn serve(
    state: &AppState,
    req: &HttpRequest,
    auth: &Auth<AnyRole>,
    sha256: &str,
    variant: Variant,
) -> ApiResult<HttpResponse> {
    const NOT_FOUND: ApiError = ApiError::NotFound("photo");
    let row = store::find(&state.db, sha256).await?.ok_or(NOT_FOUND)?;
    if !store::may_see_row(&state.places.get(), &state.db, &auth.user, &row).await? {
        return Err(NOT_FOUND);
    }
    let etag = match variant {
        Variant::Full => format!("\"{}\"", row.sha256),
        Variant::Thumb => format!("\"{}-thumb\"", row.sha256),
    };
    // The name is the content's hash, so a client holding this tag holds these very bytes.
    let cached = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if cached {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, CACHE_CONTROL))
            .finish());
    }
    let path = store::path_of(&state.settings.photo_dir, &row.sha256, variant);
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        anyhow::anyhow!("photo {} has a row but {}: {e}", row.sha256, path.display())
    })?;
    Ok(HttpResponse::Ok()
        .content_type(store::MIME)
        .insert_header((header::CACHE_CONTROL, CACHE_CONTROL))
        .insert_header((header::ETAG, etag))
        .body(bytes))
}

/// A photo, as JPEG: to its uploader, dispatchers and admins, and those who may see an event it
/// belongs to. Anyone else gets 404, as for a photo that does not exist.
#[utoipa::path(
    tag = "photos",
    security(("bearer" = [])),
    params(("sha256" = String, Path, description = "The photo's hash, 64 lower-case hex digits")),
    responses(
        (status = 200, description = "The photo", content_type = "image/jpeg",
            headers(("cache-control" = String), ("etag" = String))),
        (status = 304, description = "Unchanged since the ETag sent in If-None-Match"),
        (status = 404, description = "No such photo, or not visible to you", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/photos/{sha256}")]
pub async fn get_photo(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    req: HttpRequest,
    sha256: web::Path<String>,
) -> ApiResult<HttpResponse> {
    serve(&state, &req, &auth, &sha256, Variant::Full).await
}

/// A photo's thumbnail (at most 320 px on the longer side), as JPEG, to whoever may see the photo.
#[utoipa::path(
    tag = "photos",
    security(("bearer" = [])),
    params(("sha256" = String, Path, description = "The photo's hash, 64 lower-case hex digits")),
    responses(
        (status = 200, description = "The thumbnail", content_type = "image/jpeg",
            headers(("cache-control" = String), ("etag" = String))),
        (status = 304, description = "Unchanged since the ETag sent in If-None-Match"),
        (status = 404, description = "No such photo, or not visible to you", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/photos/{sha256}/thumb")]
pub async fn get_photo_thumb(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    req: HttpRequest,
    sha256: web::Path<String>,
) -> ApiResult<HttpResponse> {
    serve(&state, &req, &auth, &sha256, Variant::Thumb).await
}
