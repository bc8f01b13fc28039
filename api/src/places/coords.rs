//! A point as clients send it: latitude and longitude in WGS84 or GCJ-02 (the datum WeChat and
//! Chinese map apps report), checked and converted to WGS84, the datum of the stored polygons.

use places::gcj02;
use places::geometry::Coord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, FieldError};

/// The datum of a client's coordinates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Crs {
    /// GPS, and every polygon gridwing stores.
    #[default]
    Wgs84,
    /// 火星坐标: what wx.getLocation({type: 'gcj02'}), Amap and Tencent maps give.
    Gcj02,
}

/// Checks a latitude/longitude pair and returns it as a WGS84 `[lng, lat]`. Both fields are
/// reported at once when both are wrong.
pub fn to_wgs84(lat: Option<f64>, lng: Option<f64>, crs: Crs) -> Result<Coord, ApiError> {
    let mut errors = Vec::new();
    let mut check = |field: &str, v: Option<f64>, limit: f64| match v {
        None => {
            errors.push(FieldError::new(
                field,
                "required",
                format!("{field} is required"),
            ));
            None
        }
        Some(x) if !x.is_finite() || x.abs() > limit => {
            errors.push(FieldError::new(
                field,
                "range",
                format!("{field} must be a number between -{limit} and {limit}"),
            ));
            None
        }
        Some(x) => Some(x),
    };
    let lat = check("lat", lat, 90.0);
    let lng = check("lng", lng, 180.0);
    match (lat, lng) {
        (Some(lat), Some(lng)) => Ok(match crs {
            Crs::Wgs84 => [lng, lat],
            Crs::Gcj02 => gcj02::gcj02_to_wgs84([lng, lat]),
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// A point a body may leave out: None when it sends neither coordinate; otherwise the checked
/// point, or None with the fields at fault added to `errors`.
pub fn optional_wgs84(
    errors: &mut Vec<FieldError>,
    lat: Option<f64>,
    lng: Option<f64>,
    crs: Crs,
) -> Result<Option<Coord>, ApiError> {
    if lat.is_none() && lng.is_none() {
        return Ok(None);
    }
    match to_wgs84(lat, lng, crs) {
        Ok(p) => Ok(Some(p)),
        Err(ApiError::Validation(e)) => {
            errors.extend(e);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_coordinates_name_their_field() {
        let fields = |r: Result<Coord, ApiError>| match r {
            Err(ApiError::Validation(v)) => v.into_iter().map(|f| f.field).collect::<Vec<_>>(),
            other => panic!("expected a validation error, got {other:?}"),
        };
        assert_eq!(
            fields(to_wgs84(Some(91.0), Some(120.0), Crs::Wgs84)),
            ["lat"]
        );
        assert_eq!(
            fields(to_wgs84(Some(f64::NAN), None, Crs::Wgs84)),
            ["lat", "lng"]
        );
        assert!(to_wgs84(Some(30.0), Some(120.0), Crs::Wgs84).is_ok());
    }
}
