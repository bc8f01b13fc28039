//! Request extractors that answer bad input with problem+json naming the field at fault.
//!
//! actix's own `web::Json` reports serde errors as plain text without the field path; these read
//! the body under a size limit, insist on a JSON media type, and run serde through
//! `serde_path_to_error` so `roles[2]` or `password` is named in the answer.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::{FutureExt, Shared};
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use crate::error::{ApiError, FieldError};

/// The verdict on the caller, shared by the extractor that checks credentials and role with the
/// extractors that read what the caller sent. actix runs a handler's extractors side by side and
/// answers the first error any of them gives; a body checked while the session lookup is still
/// out would answer a caller without the role with a 422 describing the route's schema. So the
/// body and query extractors wait here: they go on once the caller is admitted, and never once
/// the caller is refused (the caller's own extractor then answers 401 or 403).
#[derive(Clone)]
struct CallerGate(Shared<oneshot::Receiver<()>>);

/// The admitting side of [`CallerGate`]: created by the extractor that checks the caller, as
/// it is called (before any extractor's future runs), and passed the caller once admitted.
/// Dropping it without admitting refuses.
pub struct GateKeeper(oneshot::Sender<()>);

impl GateKeeper {
    /// Opens the request's gate; the body and query extractors of this request now wait for it.
    pub fn for_request(req: &HttpRequest) -> Self {
        let (admit, verdict) = oneshot::channel();
        req.extensions_mut().insert(CallerGate(verdict.shared()));
        Self(admit)
    }

    /// Lets the request's body and query be read.
    pub fn admit(self) {
        // Nobody waiting (a route without a body) is fine.
        let _ = self.0.send(());
    }
}

/// Waits until the caller of `req` was admitted, when the route checks its caller at all. Every
/// extractor of what the caller sent starts here.
async fn caller_admitted(req: &HttpRequest) {
    let gate = req.extensions().get::<CallerGate>().cloned();
    if let Some(gate) = gate
        && gate.0.await.is_err()
    {
        // Refused: the caller's extractor ends the request with its answer, and this future is
        // dropped with it.
        std::future::pending::<()>().await;
    }
}

/// The largest JSON body a route accepts unless it says otherwise (set by `--max-json-bytes`).
#[derive(Debug, Clone, Copy)]
pub struct JsonLimit(pub usize);

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct Json<T>(pub T);

fn is_json_media_type(req: &HttpRequest) -> bool {
    let Some(ct) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<JsonLimit>()
            .or_else(|| req.app_data::<web::Data<JsonLimit>>().map(|d| d.get_ref()))
            .map_or(64 * 1024, |l| l.0);
        let media_ok = is_json_media_type(req);
        let declared = declared_length(req);
        let mut payload = payload.take();
        let req = req.clone();
        Box::pin(async move {
            caller_admitted(&req).await;
            if !media_ok {
                return Err(ApiError::UnsupportedMediaType);
            }
            let body = read_limited(&mut payload, declared, limit).await?;
            parse_json(&body).map(Json)
        })
    }
}

/// Reads a whole body, refusing it as soon as it is known to exceed `limit` (by its declared
/// length before reading, or while reading when the length was not declared or was a lie).
async fn read_limited(
    payload: &mut Payload,
    declared: Option<usize>,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::MalformedJson(format!("could not read body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A JSON (or `+json`, e.g. GeoJSON) body kept as bytes, for routes that parse it themselves and
/// set their own size limit.
pub async fn json_bytes(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    if !is_json_media_type(req) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let mut payload = payload.into_inner();
    read_limited(&mut payload, declared_length(req), limit).await
}

/// Parses a JSON body, naming the field at fault on failure.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    match parse_exact(body) {
        // JSON has one kind of number: `3.0` is the integer 3 (and an `integer` of the OpenAPI
        // document), but serde refuses it for an integer field. Such a body is read again with
        // its whole numbers as integers; what still fails is reported as before.
        Err(ApiError::Validation(e))
            if e.iter()
                .any(|f| f.message.starts_with("invalid type: floating point")) =>
        {
            let mut value: serde_json::Value =
                serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
            whole_numbers_as_integers(&mut value);
            serde_path_to_error::deserialize(value).map_err(|e| {
                let path = e.path().to_string();
                ApiError::Validation(vec![field_error(&path, &e.into_inner().to_string())])
            })
        }
        other => other,
    }
}

/// Turns every number with no fractional part that fits an i64 into an integer.
fn whole_numbers_as_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64())
                && f.fract() == 0.0
                && f >= i64::MIN as f64
                && f < i64::MAX as f64
            {
                *n = serde_json::Number::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        serde_json::Value::Object(map) => map.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

fn parse_exact<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                ApiError::Validation(vec![field_error(&path, &inner.to_string())])
            }
            _ if body.iter().all(u8::is_ascii_whitespace) => {
                ApiError::MalformedJson("the body is empty".to_owned())
            }
            _ => ApiError::MalformedJson(inner.to_string()),
        }
    })?;
    de.end()
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    Ok(value)
}

/// The header that carries a create's idempotency key when the body has no id of its own.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The caller's `Idempotency-Key`, if it sent one: 1–100 visible ASCII characters. Every create
/// that a phone or a machine may retry reads it here.
pub fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(raw) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match raw.to_str().map(str::trim) {
        Ok(k) if (1..=100).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k.to_owned()))
        }
        _ => Err(ApiError::invalid(
            "Idempotency-Key",
            "format",
            "1–100 visible ASCII characters",
        )),
    }
}

/// The key a retry is known by: the body's client-generated `id`, else the `Idempotency-Key`
/// header. A malformed header is refused even beside an id (the document states its shape);
/// with neither, `id` is named as required and `why` says what the key protects.
pub fn client_key(
    req: &HttpRequest,
    id: Option<uuid::Uuid>,
    why: &str,
) -> Result<String, ApiError> {
    let header = idempotency_key(req)?;
    if let Some(id) = id {
        return Ok(id.to_string());
    }
    header.ok_or_else(|| {
        ApiError::invalid(
            "id",
            "required",
            format!("send a client-generated id or an Idempotency-Key header, so {why}"),
        )
    })
}

/// Refuses a retry whose body differs from the create first stored under its key: a key names
/// one request, and `what` names the kind of thing it made ("report", "check-in").
pub fn same_request(stored_hash: &str, presented_hash: &str, what: &str) -> Result<(), ApiError> {
    if stored_hash == presented_hash {
        return Ok(());
    }
    Err(ApiError::invalid(
        "id",
        "idempotency_mismatch",
        format!("this id (or Idempotency-Key) was already used for a different {what}"),
    ))
}

/// Query string parameters of type `T`, with the same field-naming errors as [`Json`].
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            caller_admitted(&req).await;
            let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(
                req.query_string().as_bytes(),
            ));
            serde_path_to_error::deserialize(de)
                .map(Query)
                .map_err(|e| {
                    let path = e.path().to_string();
                    ApiError::Validation(vec![field_error(&path, &e.into_inner().to_string())])
                })
        })
    }
}

/// Turns a serde message into a field error. serde's messages are stable in practice
/// ("unknown field `x`", "missing field `x`", "invalid type: ..."), and they are the only place
/// the offending key of an unknown or missing field is reported.
fn field_error(path: &str, message: &str) -> FieldError {
    let base = if path == "." { "" } else { path };
    let quoted = || {
        let start = message.find('`')? + 1;
        let len = message[start..].find('`')?;
        Some(message[start..start + len].to_owned())
    };
    let join = |name: String| {
        if base.is_empty() || base.ends_with(&name) {
            if base.is_empty() {
                name
            } else {
                base.to_owned()
            }
        } else {
            format!("{base}.{name}")
        }
    };
    let clean = message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_owned();
    if message.starts_with("unknown field") {
        let name = quoted().unwrap_or_default();
        FieldError::new(join(name), "unknown_field", clean)
    } else if message.starts_with("missing field") {
        let name = quoted().unwrap_or_default();
        FieldError::new(join(name), "required", clean)
    } else if message.starts_with("invalid type") {
        FieldError::new(base, "type", clean)
    } else if message.starts_with("unknown variant") || message.starts_with("invalid value") {
        FieldError::new(base, "invalid_value", clean)
    } else {
        FieldError::new(base, "invalid", clean)
    }
}

/// Answers a websocket upgrade; a request that is not one is a 422 naming the upgrade.
pub fn websocket(
    req: &HttpRequest,
    body: web::Payload,
) -> Result<
    (
        actix_web::HttpResponse,
        actix_ws::Session,
        actix_ws::MessageStream,
    ),
    ApiError,
> {
    actix_ws::handle(req, body).map_err(|_| {
        ApiError::invalid(
            "upgrade",
            "websocket",
            "this route speaks WebSocket: send a GET with Upgrade: websocket",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        phone: String,
        roles: Vec<String>,
        count: Option<u32>,
    }

    fn err(body: &str) -> ApiError {
        match parse_json::<Body>(body.as_bytes()) {
            Ok(_) => panic!("{body} should fail"),
            Err(e) => e,
        }
    }

    fn only_field(e: ApiError) -> FieldError {
        match e {
            ApiError::Validation(mut v) if v.len() == 1 => v.remove(0),
            other => panic!("expected one field error, got {other:?}"),
        }
    }

    #[test]
    fn unknown_field_is_named() {
        let f = only_field(err(r#"{"phone":"1","roles":[],"admin":true}"#));
        assert_eq!(
            (f.field.as_str(), f.rule.as_str()),
            ("admin", "unknown_field")
        );
    }

    #[test]
    fn missing_field_is_named() {
        let f = only_field(err(r#"{"roles":[]}"#));
        assert_eq!((f.field.as_str(), f.rule.as_str()), ("phone", "required"));
    }

    #[test]
    fn wrong_type_names_the_nested_path() {
        let f = only_field(err(r#"{"phone":"1","roles":["a",5]}"#));
        assert_eq!((f.field.as_str(), f.rule.as_str()), ("roles[1]", "type"));
        let f = only_field(err(r#"{"phone":"1","roles":[],"count":-1}"#));
        assert_eq!(f.field, "count");
    }

    #[test]
    fn whole_floats_are_integers() {
        let body = parse_json::<Body>(br#"{"phone":"1","roles":[],"count":3.0}"#);
        assert_eq!(body.ok().and_then(|b| b.count), Some(3));
        let f = only_field(err(r#"{"phone":"1","roles":[],"count":3.5}"#));
        assert_eq!((f.field.as_str(), f.rule.as_str()), ("count", "type"));
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        assert!(matches!(err(r#"{"phone":"#), ApiError::MalformedJson(_)));
        assert!(matches!(err(""), ApiError::MalformedJson(_)));
        assert!(matches!(
            err(r#"{"phone":"1","roles":[]} trailing"#),
            ApiError::MalformedJson(_)
        ));
    }
}
