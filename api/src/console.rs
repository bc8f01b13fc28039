//! The command-centre console: the web app built from `console/` (Vue, by Vite) into
//! `console/dist`, embedded in the binary at compile time (see `build.rs`, which builds it when
//! it is missing or older than its sources) and served under `/console/`.
//!
//! These routes are not part of the API: they are mounted beside it, not in the OpenAPI
//! document. Paths under `/console/` that name no file get `index.html`, since the console
//! routes in the browser (`/console/dispatch` is a page of the app, not a file), except under
//! `assets/`, where a missing file is a plain 404: answering a missing script with HTML would
//! only hide the fault.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use include_dir::{Dir, include_dir};

use crate::error::ApiError;

static DIST: Dir<'static> = include_dir!("$OUT_DIR/console");

/// Where the console is served; `/` redirects here.
pub const PREFIX: &str = "/console/";

/// What the console's pages may load: everything from this server, nothing from elsewhere
/// (no CDN, fonts or tiles). Inline styles are allowed because Element Plus and ECharts set
/// element styles at run time; scripts stay same-origin only.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; \
                   worker-src 'self' blob:; object-src 'none'; base-uri 'none'; \
                   frame-ancestors 'none'; form-action 'self'";

/// Mounts `/`, `/console` and everything under `/console/`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .route(web::get().to(to_console))
            .route(web::head().to(to_console))
            .default_service(web::to(not_get)),
    )
    .service(
        web::resource("/console")
            .route(web::get().to(to_console))
            .route(web::head().to(to_console))
            .default_service(web::to(not_get)),
    )
    .service(
        web::resource("/console/{path:.*}")
            .route(web::get().to(asset))
            .route(web::head().to(asset))
            .default_service(web::to(not_get)),
    );
}

async fn to_console() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, PREFIX))
        .finish()
}

async fn not_get() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed(vec!["GET", "HEAD"]))
}

/// The media type of a built file, by its extension (the only kinds Vite emits here).
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("ttf") => "font/ttf",
        Some("wasm") => "application/wasm",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// How long a browser may keep a file: Vite names everything under `assets/` by its content
/// hash, so those never change; `index.html` names the current ones and must be asked for again.
fn cache_control(path: &str) -> &'static str {
    if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    }
}

/// Whether the browser takes gzip (`Accept-Encoding: gzip`, not refused with `q=0`).
fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

async fn asset(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let path = req.match_info().get("path").unwrap_or("");
    // The build gzipped the larger text assets (`NAME.gz` beside `NAME`); never asked for directly.
    if path.ends_with(".gz") {
        return Err(ApiError::RouteNotFound(req.path().to_owned()));
    }
    let (name, file) = match DIST.get_file(path) {
        Some(file) if !path.is_empty() => (path, file),
        _ if path.starts_with("assets/") => {
            return Err(ApiError::RouteNotFound(req.path().to_owned()));
        }
        _ => match DIST.get_file("index.html") {
            Some(index) => ("index.html", index),
            None => return Err(ApiError::RouteNotFound(req.path().to_owned())),
        },
    };
    let mut res = HttpResponse::Ok();
    let mut body = file.contents();
    if name.starts_with("assets/") {
        res.insert_header((header::VARY, HeaderValue::from_static("accept-encoding")));
        if let Some(gz) = DIST.get_file(format!("{name}.gz"))
            && accepts_gzip(&req)
        {
            res.insert_header((header::CONTENT_ENCODING, HeaderValue::from_static("gzip")));
            body = gz.contents();
        }
    }
    Ok(res
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(name)),
        ))
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control(name)),
        ))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_console_is_embedded_with_its_entry_page() {
        let index = DIST
            .get_file("index.html")
            .map(|f| String::from_utf8_lossy(f.contents()).into_owned())
            .unwrap_or_default();
        assert!(
            index.contains("id=\"app\""),
            "console/dist/index.html: {index}"
        );
        // Every asset the page names is embedded under the prefix it is served at.
        assert!(index.contains("/console/assets/"));
    }

    #[test]
    fn gzip_is_sent_only_to_those_who_take_it() {
        let with = |v: &str| {
            actix_web::test::TestRequest::default()
                .insert_header((header::ACCEPT_ENCODING, v))
                .to_http_request()
        };
        assert!(accepts_gzip(&with("gzip, deflate, br")));
        assert!(accepts_gzip(&with("br;q=1.0, GZIP;q=0.5")));
        assert!(accepts_gzip(&with("*")));
        assert!(!accepts_gzip(&with("gzip;q=0, br")));
        assert!(!accepts_gzip(&with("identity")));
        assert!(!accepts_gzip(
            &actix_web::test::TestRequest::default().to_http_request()
        ));
    }

    #[test]
    fn hashed_assets_are_kept_and_the_page_is_asked_for_again() {
        assert_eq!(cache_control("index.html"), "no-cache");
        assert!(cache_control("assets/index-abc123.js").contains("immutable"));
        assert_eq!(
            content_type("assets/x.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("assets/x.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
    }
}
