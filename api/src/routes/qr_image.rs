//! Serving a signed QR payload as a PNG, for building plates and checkpoint plates alike.

use actix_web::HttpResponse;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{ApiError, ApiResult};

/// Size of the PNG.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PngQuery {
    /// Pixels per module, 1–40 (default 8).
    #[param(minimum = 1, maximum = 40)]
    pub scale: Option<u32>,
}

impl PngQuery {
    /// The scale asked for, checked before anything is looked up.
    pub fn scale(&self) -> ApiResult<u32> {
        let scale = self.scale.unwrap_or(8);
        if (1..=40).contains(&scale) {
            Ok(scale)
        } else {
            Err(ApiError::invalid(
                "scale",
                "range",
                "must be between 1 and 40",
            ))
        }
    }
}

/// The payload as a PNG answer.
pub fn png(payload: &str, scale: u32) -> ApiResult<HttpResponse> {
    let png =
        places::qr::render_png(payload, scale).map_err(|e| anyhow::anyhow!("rendering QR: {e}"))?;
    Ok(HttpResponse::Ok().content_type("image/png").body(png))
}
