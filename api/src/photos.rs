//! Photos of reports and feedback. (Being written.)

pub fn configure(_cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {}
