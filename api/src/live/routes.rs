//! `GET /api/v1/live` (websocket) and `GET /api/v1/feed` (catch-up by cursor). (Being written.)

pub fn configure(_cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {}
