//! Liveness, readiness and the OpenAPI document.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, ResponseError, get, web};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// The OpenAPI document, serialised once when the server starts.
pub struct OpenApiJson(pub String);

/// Liveness.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// Readiness, with each dependency's state.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    /// `ok` or the error.
    pub database: String,
    /// `ok`, `not_configured`, or the error.
    pub redis: String,
    /// Each background worker (`sweeper`, `live-bus`, `mailer`, …): `running`, or `stopped`
    /// while the instance stops.
    pub workers: BTreeMap<&'static str, &'static str>,
}

/// The process is up.
#[utoipa::path(tag = "meta", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// The database (and Redis, when configured) answer, and every background worker runs.
#[utoipa::path(
    tag = "meta",
    responses(
        (status = 200, description = "Every dependency answers and every worker runs", body = Readiness),
        (status = 503, description = "A dependency does not answer (a `Readiness` body), or a background worker is down and restarting (a problem naming it)", body = Readiness),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    // A worker down is this instance's own fault, named in a problem like every other error;
    // why it failed stays in the log.
    if let Err(down) = state.workers.ready() {
        return down.error_response();
    }
    let database = match state.db.execute_unprepared("SELECT 1").await {
        Ok(_) => "ok".to_owned(),
        Err(e) => format!("error: {e}"),
    };
    let redis = match &state.redis {
        None => "not_configured".to_owned(),
        Some(conn) => {
            let mut conn = conn.clone();
            match redis::cmd("PING").query_async::<String>(&mut conn).await {
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("error: {e}"),
            }
        }
    };
    let ready = database == "ok" && (redis == "ok" || redis == "not_configured");
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" },
        database,
        redis,
        workers: state
            .workers
            .snapshot()
            .into_iter()
            .map(|(name, s)| (name, s.name()))
            .collect(),
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(tag = "meta", responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
#[get("/openapi.json")]
pub async fn openapi_json(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}
