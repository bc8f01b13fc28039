//! Cross-cutting request handling: a request id on every response and log line, one log line per
//! request, security headers, and problem+json for unknown routes, wrong methods and every other
//! error response that a layer below the routes (CORS) made without a problem body.

use std::time::Instant;

use actix_web::body::{BodySize, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ResourceDef, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, web};
use tracing::Instrument;
use uuid::Uuid;

use crate::error::{ApiError, PROBLEM_JSON};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, in request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A client may pass its own id (so a phone can match its logs to ours) if it is short and plain.
fn accepted_client_id(req: &ServiceRequest) -> Option<String> {
    let v = req.headers().get(&REQUEST_ID)?.to_str().ok()?;
    let ok = (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ok.then(|| v.to_owned())
}

/// Whether an error response lacks a problem body: empty, or of another media type (the CORS
/// middleware answers a refused preflight in plain text). JSON bodies are the routes' own (the
/// health check's 503 says which dependency is down).
fn lacks_problem(res: &ServiceResponse<impl MessageBody>) -> bool {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return false;
    }
    if matches!(
        res.response().body().size(),
        BodySize::None | BodySize::Sized(0)
    ) {
        return true;
    }
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|t| t == PROBLEM_JSON || t == "application/json");
    !json
}

/// Replaces the body of an error response made below the routes with the problem for its
/// status, keeping its headers (a CORS refusal's `Vary`).
fn with_problem<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> ServiceResponse<EitherBody<B>> {
    if !lacks_problem(&res) {
        return res.map_into_left_body();
    }
    let problem = ApiError::Refused(res.status()).problem();
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    res.map_body(|head, _| {
        head.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        EitherBody::right(BoxBody::new(body))
    })
}

/// Gives the request an id, runs it inside a span carrying that id, logs its outcome, and adds
/// the id and the security headers to the response.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = accepted_client_id(&req).unwrap_or_else(|| Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    // (The middlewares inside, CORS among them, answer with responses rather than errors.)
    let mut res = with_problem(next.call(req).instrument(span.clone()).await?);
    let status = res.status().as_u16();
    let route = res.request().match_pattern().unwrap_or_default();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(status, route, ms, "request failed");
        } else {
            tracing::info!(status, route, ms, "request");
        }
    });
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, v);
    }
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // The API's answers load nothing; the console's pages set a policy of their own.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

/// Every documented path with its methods, to tell "no such route" (404) from "not with this
/// method" (405): actix tries each handler's method guard and, when none fits, falls through to
/// the default service without saying which.
pub struct RouteIndex(Vec<(ResourceDef, Vec<&'static str>)>);

impl RouteIndex {
    pub fn from_openapi(doc: &utoipa::openapi::OpenApi) -> Self {
        let routes = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let mut methods = Vec::new();
                for (m, op) in [
                    ("GET", &item.get),
                    ("POST", &item.post),
                    ("PUT", &item.put),
                    ("PATCH", &item.patch),
                    ("DELETE", &item.delete),
                ] {
                    if op.is_some() {
                        methods.push(m);
                    }
                }
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        Self(routes)
    }

    /// The methods the path is mounted for; empty when the path is unknown. A path that names a
    /// route of its own (`/areas/import`) has that route's methods, not also those of a template
    /// it happens to fit (`/areas/{code}`), as the document lists them.
    pub fn methods_for(&self, path: &str) -> Vec<&'static str> {
        let matching: Vec<_> = self
            .0
            .iter()
            .filter(|(def, _)| def.is_match(path))
            .collect();
        let exact = matching.iter().any(|(def, _)| def.pattern() == Some(path));
        matching
            .into_iter()
            .filter(|(def, _)| !exact || def.pattern() == Some(path))
            .flat_map(|(_, m)| m.iter().copied())
            .collect()
    }
}

/// The default service: a problem+json 404 or 405.
pub async fn fallback(
    req: HttpRequest,
    routes: web::Data<RouteIndex>,
) -> Result<actix_web::HttpResponse, ApiError> {
    let allowed = routes.methods_for(req.path());
    Err(if allowed.is_empty() {
        ApiError::RouteNotFound(req.path().to_owned())
    } else {
        ApiError::MethodNotAllowed(allowed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_literal_route_has_only_its_own_methods() {
        let index = RouteIndex(vec![
            (ResourceDef::new("/areas/import"), vec!["POST"]),
            (ResourceDef::new("/areas/{code}"), vec!["GET"]),
        ]);
        assert_eq!(index.methods_for("/areas/import"), ["POST"]);
        assert_eq!(index.methods_for("/areas/QSH-G001"), ["GET"]);
        assert!(index.methods_for("/teams").is_empty());
    }
}
