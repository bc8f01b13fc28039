//! The one error type of the API and its mapping to RFC 9457 `application/problem+json`.
//!
//! Every failure a handler, an extractor or the router can produce ends up as an [`ApiError`], and
//! [`ApiError::status`] / [`ApiError::slug`] are the only place where a failure becomes an HTTP
//! status and a stable problem `type`. Internal causes are logged, never sent to the client.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One field that failed validation, named by its JSON path (`roles[1]`, `password`).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the field at fault; empty when the body as a whole is at fault.
    pub field: String,
    /// Stable machine-readable rule that failed (e.g. `unknown_field`, `min_length`).
    pub rule: String,
    /// Human-readable explanation.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, rule: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.to_owned(),
            message: message.into(),
        }
    }
}

/// RFC 9457 problem details, as sent on every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Stable URI reference naming the kind of problem; clients switch on this.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence.
    pub detail: String,
    /// The fields at fault, when the request body or query was invalid.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// Everything that can go wrong while serving a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No route matches the path.
    #[error("no such route: {0}")]
    RouteNotFound(String),
    /// The route exists but not for this method; carries the allowed methods.
    #[error("method not allowed")]
    MethodNotAllowed(Vec<&'static str>),
    /// A resource the caller may not see, or that does not exist (the two look the same).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The body is not syntactically valid JSON.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The body or query parsed but broke a rule; names the fields.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The body is larger than the route accepts.
    #[error("body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// A scanned QR code that is not one of ours: forged, altered or damaged.
    #[error("invalid code: {0}")]
    InvalidCode(String),
    /// The body is not JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// No credentials, or credentials that are invalid, expired or revoked.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// Valid credentials without the role or scope the route needs.
    #[error("forbidden")]
    Forbidden,
    /// Signed in with the right role, but this person does not meet a rule of the thing they
    /// ask for (an activity's team, area or skill).
    #[error("not eligible: {0}")]
    NotEligible(String),
    /// The request collides with existing state (e.g. a phone number already registered).
    #[error("conflict: {detail}")]
    Conflict {
        field: Option<&'static str>,
        detail: String,
    },
    /// Too many attempts; retry after the given number of seconds.
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// Refused by the HTTP layer before any route saw the request: a malformed request line or
    /// header, a head too large, a head too slow to arrive, a cross-origin request from an origin
    /// not allowed. Carries the status that layer chose.
    #[error("refused by the HTTP layer: {0}")]
    Refused(StatusCode),
    /// A websocket over a cap of open connections (of the account, the address or the server).
    #[error("too many open connections for {which}")]
    TooManyConnections {
        which: &'static str,
        retry_after_secs: u64,
    },
    /// A feed cursor older than what the outbox keeps (`field`): what came after it is gone.
    /// The client reloads what it shows and reads on from `oldest`.
    #[error("cursor expired")]
    CursorExpired { field: &'static str, oldest: i64 },
    /// A dependency (database, Redis) is not reachable.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A PDF was asked for but the server has no Chinese font to embed.
    #[error(transparent)]
    NoPdfFont(#[from] documents::FontError),
    /// A database error not caused by the request.
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// A stored value this version cannot read: a corrupt row, never read as a default.
    #[error(transparent)]
    Corrupt(#[from] crate::stored::Corrupt),
    /// Anything else not caused by the request.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// One-field validation failure.
    pub fn invalid(field: impl Into<String>, rule: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, rule, message)])
    }

    /// Turns a not-found into the error `instead` gives (e.g. a validation error naming the
    /// field that pointed at the missing thing); every other error, a database outage among
    /// them, stays what it is.
    pub fn when_not_found(self, instead: impl FnOnce() -> ApiError) -> ApiError {
        match self {
            Self::NotFound(_) => instead(),
            other => other,
        }
    }

    /// The stable last segment of the problem `type`.
    pub fn slug(&self) -> &'static str {
        match self {
            Self::RouteNotFound(_) => "route-not-found",
            Self::MethodNotAllowed(_) => "method-not-allowed",
            Self::NotFound(_) => "not-found",
            Self::MalformedJson(_) => "malformed-json",
            Self::Validation(_) => "validation-failed",
            Self::InvalidCode(_) => "invalid-code",
            Self::PayloadTooLarge { .. } => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotEligible(_) => "not-eligible",
            Self::Conflict { .. } => "conflict",
            Self::RateLimited { .. } => "rate-limited",
            Self::TooManyConnections { .. } => "too-many-connections",
            Self::CursorExpired { .. } => "cursor-expired",
            Self::Unavailable(_) => "service-unavailable",
            Self::NoPdfFont(_) => "pdf-font-missing",
            Self::Refused(status) => match status.as_u16() {
                400 => "bad-request",
                408 => "request-timeout",
                413 => "payload-too-large",
                414 => "uri-too-long",
                431 => "headers-too-large",
                500.. => "internal-error",
                _ => "refused",
            },
            Self::Database(_) | Self::Corrupt(_) | Self::Unexpected(_) => "internal-error",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::RouteNotFound(_) => "No such route",
            Self::MethodNotAllowed(_) => "Method not allowed",
            Self::NotFound(_) => "Not found",
            Self::MalformedJson(_) => "Malformed JSON",
            Self::Validation(_) => "Validation failed",
            Self::InvalidCode(_) => "Invalid code",
            Self::PayloadTooLarge { .. } => "Payload too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::Unauthorized(_) => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::NotEligible(_) => "Not eligible",
            Self::Conflict { .. } => "Conflict",
            Self::RateLimited { .. } => "Too many requests",
            Self::TooManyConnections { .. } => "Too many connections",
            Self::CursorExpired { .. } => "Cursor expired",
            Self::Unavailable(_) => "Service unavailable",
            Self::NoPdfFont(_) => "No font for PDF files",
            Self::Refused(status) => status.canonical_reason().unwrap_or("Refused"),
            Self::Database(_) | Self::Corrupt(_) | Self::Unexpected(_) => "Internal server error",
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::Validation(errs) if errs.len() == 1 => errs[0].message.clone(),
            Self::Validation(_) => "several fields are invalid; see errors".to_owned(),
            Self::Forbidden => "your role does not allow this action".to_owned(),
            Self::RateLimited { retry_after_secs } => {
                format!("too many attempts; retry in {retry_after_secs} s")
            }
            Self::TooManyConnections {
                which,
                retry_after_secs,
            } => format!(
                "too many open connections for {which}; close one or retry in {retry_after_secs} s"
            ),
            Self::Conflict { detail, .. } => detail.clone(),
            Self::CursorExpired { oldest, .. } => format!(
                "what came after this cursor is no longer kept (the feed keeps a window of \
                 time): reload what you show, then read on from cursor {oldest}"
            ),
            // The cause (which may name a file on the server) goes to the log.
            Self::NoPdfFont(_) => format!(
                "服务器缺少生成 PDF 所需的中文字体：请安装 Debian 软件包 {pkg}（或 fonts-noto-cjk），\
                 或用 --pdf-font / GRIDWING_PDF_FONT 指定字体文件。The server has no Chinese font \
                 for PDF files: install the Debian package {pkg} (or fonts-noto-cjk), or name a \
                 font file with --pdf-font / GRIDWING_PDF_FONT.",
                pkg = documents::font::FONT_PACKAGE
            ),
            Self::Unauthorized(why) => (*why).to_owned(),
            Self::InvalidCode(why) | Self::NotEligible(why) => why.clone(),
            Self::NotFound(what) => format!("no such {what}, or not visible to you"),
            Self::Refused(status) => match status.as_u16() {
                400 => "the request was refused before it reached a route: a malformed request \
                        line or header, or a cross-origin request from an origin that is not allowed"
                    .to_owned(),
                408 => "the request's head did not arrive in time".to_owned(),
                431 => "the request's headers are too large or too many".to_owned(),
                500.. => "the server failed to handle the request; it has been logged".to_owned(),
                _ => "the request was refused before it reached a route".to_owned(),
            },
            // Internal causes go to the log only.
            Self::Database(_) | Self::Corrupt(_) | Self::Unexpected(_) => {
                "the server failed to handle the request; it has been logged".to_owned()
            }
            other => other.to_string(),
        }
    }

    /// The problem body for this error.
    pub fn problem(&self) -> Problem {
        let mut errors = match self {
            Self::Validation(errs) => errs.clone(),
            _ => Vec::new(),
        };
        if let Self::Conflict {
            field: Some(field), ..
        } = self
        {
            errors.push(FieldError::new(*field, "unique", self.detail()));
        }
        if let Self::CursorExpired { field, .. } = self {
            errors.push(FieldError::new(*field, "expired", self.detail()));
        }
        Problem {
            kind: format!("/problems/{}", self.slug()),
            title: self.title().to_owned(),
            status: self.status_code().as_u16(),
            detail: self.detail(),
            errors,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::RouteNotFound(_) | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::MalformedJson(_) | Self::InvalidCode(_) => StatusCode::BAD_REQUEST,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::NotEligible(_) => StatusCode::FORBIDDEN,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::CursorExpired { .. } => StatusCode::GONE,
            Self::RateLimited { .. } | Self::TooManyConnections { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::Unavailable(_) | Self::NoPdfFont(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Refused(status) => *status,
            Self::Database(_) | Self::Corrupt(_) | Self::Unexpected(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
        }
        let mut res = HttpResponse::build(status);
        res.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        match self {
            Self::MethodNotAllowed(allowed) => {
                res.insert_header((header::ALLOW, allowed.join(", ")));
            }
            Self::RateLimited { retry_after_secs }
            | Self::TooManyConnections {
                retry_after_secs, ..
            } => {
                res.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            Self::Unauthorized(_) => {
                res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        res.body(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = ApiError::Unexpected(anyhow::anyhow!("password for db is hunter2"));
        let p = e.problem();
        assert_eq!(p.status, 500);
        assert!(!p.detail.contains("hunter2"));
        assert_eq!(p.kind, "/problems/internal-error");
    }

    #[test]
    fn only_a_not_found_becomes_the_validation_error() {
        let named = || ApiError::invalid("team", "unknown_team", "no volunteer team T");
        assert!(matches!(
            ApiError::NotFound("volunteer team").when_not_found(named),
            ApiError::Validation(_)
        ));
        let outage = ApiError::Database(sea_orm::DbErr::Custom("connection refused".into()));
        let kept = outage.when_not_found(named);
        assert_eq!(kept.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!kept.problem().detail.contains("refused"));
    }

    #[test]
    fn refusals_of_the_http_layer_have_problems_of_their_status() {
        let p = ApiError::Refused(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE).problem();
        assert_eq!(
            (p.status, p.kind.as_str()),
            (431, "/problems/headers-too-large")
        );
        let p = ApiError::Refused(StatusCode::BAD_REQUEST).problem();
        assert_eq!((p.status, p.kind.as_str()), (400, "/problems/bad-request"));
    }

    #[test]
    fn conflicts_name_their_field() {
        let e = ApiError::Conflict {
            field: Some("phone"),
            detail: "phone already registered".into(),
        };
        let p = e.problem();
        assert_eq!(p.status, 409);
        assert_eq!(p.errors[0].field, "phone");
    }
}
