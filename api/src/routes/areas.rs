//! The area tree: import and export of a street's GeoJSON, reads, and locating a point.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use places::tree::Level;
use serde::Deserialize;
use utoipa::IntoParams;

use super::PROBLEM;
use crate::auth::Auth;
use crate::auth::roles::{AdminOnly, AnyRole, CommandCentre};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Query, json_bytes};
use crate::pagination::{Page, PageRequest};
use crate::places::areas::{self, AreaFilter, AreaView, ImportMode, ImportReport, Location};
use crate::places::coords::{self, Crs};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(import)
        .service(export)
        .service(locate)
        .service(list_areas)
        .service(get_area);
}

/// How to import.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `replace` (default): the file is the street's whole tree; `update`: add and change only.
    pub mode: Option<ImportMode>,
}

/// Import a street's area tree from GeoJSON.
///
/// The body is a FeatureCollection in WGS84; each feature's properties are `code`, `name`,
/// `level` (street, community, grid_layer, grid, micro_grid, zone, watch_circle) and
/// `parent_code`. The whole file is checked first and every bad feature is reported at once
/// (`errors[].field` is `features[i]`); with any error nothing changes. On success the tree is
/// written in one transaction and point lookups use it at once.
#[utoipa::path(
    tag = "areas",
    security(("bearer" = [])),
    params(ImportQuery),
    request_body(content = Object, content_type = "application/geo+json", description = "A GeoJSON FeatureCollection"),
    responses(
        (status = 200, body = ImportReport),
        (status = 413, description = "File larger than --max-import-bytes", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Every bad feature, by index", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/areas/import")]
pub async fn import(
    state: web::Data<AppState>,
    _auth: Auth<AdminOnly>,
    req: HttpRequest,
    Query(q): Query<ImportQuery>,
    payload: web::Payload,
) -> ApiResult<web::Json<ImportReport>> {
    let body = json_bytes(&req, payload, state.settings.max_import_bytes).await?;
    let report = areas::import(
        &state.db,
        &state.places,
        body.to_vec(),
        q.mode.unwrap_or_default(),
        Box::new(|_, _, _| {}),
    )
    .await?;
    Ok(web::Json(report))
}

/// Which street to export.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// The street's code, e.g. `QSH`.
    pub street: String,
}

/// Export a street's area tree as GeoJSON, in the shape import takes: to admins, and to the
/// command centre, whose map (一张图) draws the street from it.
#[utoipa::path(
    tag = "areas",
    security(("bearer" = [])),
    params(ExportQuery),
    responses(
        (status = 200, description = "A GeoJSON FeatureCollection", body = Object, content_type = "application/geo+json"),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/areas/export")]
pub async fn export(
    state: web::Data<AppState>,
    _auth: Auth<CommandCentre>,
    Query(q): Query<ExportQuery>,
) -> ApiResult<HttpResponse> {
    let doc = areas::export(&state.db, &q.street).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/geo+json")
        .body(doc.to_string()))
}

/// A point to locate.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LocateQuery {
    /// Latitude, −90 to 90.
    #[param(value_type = f64, required = true, minimum = -90, maximum = 90)]
    pub lat: Option<f64>,
    /// Longitude, −180 to 180.
    #[param(value_type = f64, required = true, minimum = -180, maximum = 180)]
    pub lng: Option<f64>,
    /// Datum of the coordinates: `wgs84` (GPS, default) or `gcj02` (WeChat and Chinese maps).
    pub crs: Option<Crs>,
}

/// The micro-grid → street chain containing a point, and the overlays it falls in.
///
/// A point on a border shared by several micro-grids belongs to the one whose code sorts first.
#[utoipa::path(
    tag = "areas",
    security(("bearer" = [])),
    params(LocateQuery),
    responses(
        (status = 200, body = Location),
        (status = 404, description = "The point lies outside every area", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A missing or out-of-range coordinate", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/areas/locate")]
pub async fn locate(
    state: web::Data<AppState>,
    _auth: Auth<AnyRole>,
    Query(q): Query<LocateQuery>,
) -> ApiResult<web::Json<Location>> {
    let p = coords::to_wgs84(q.lat, q.lng, q.crs.unwrap_or_default())?;
    Ok(web::Json(areas::locate(&state.places.get(), p)?))
}

/// Filters and paging for the area list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAreasQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    /// Only this street's areas.
    pub street: Option<String>,
    /// Only this level: street, community, grid_layer, grid, micro_grid, zone, watch_circle.
    #[param(pattern = "^(street|community|grid_layer|grid|micro_grid|zone|watch_circle)$")]
    pub level: Option<String>,
    /// Only the children of this area.
    pub parent: Option<String>,
}

/// List areas (without geometry), oldest first.
#[utoipa::path(
    tag = "areas",
    security(("bearer" = [])),
    params(ListAreasQuery),
    responses(
        (status = 200, body = Page<AreaView>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/areas")]
pub async fn list_areas(
    state: web::Data<AppState>,
    _auth: Auth<AnyRole>,
    Query(q): Query<ListAreasQuery>,
) -> ApiResult<web::Json<Page<AreaView>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let level = q
        .level
        .as_deref()
        .map(|l| {
            Level::parse(l).ok_or_else(|| {
                ApiError::invalid("level", "invalid_value", format!("unknown level {l}"))
            })
        })
        .transpose()?;
    let filter = AreaFilter {
        street: q.street,
        level,
        parent: q.parent,
    };
    Ok(web::Json(areas::list(&state.db, page, filter).await?))
}

/// One area with its GeoJSON geometry.
#[utoipa::path(
    tag = "areas",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Area code")),
    responses(
        (status = 200, body = AreaView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/areas/{code}")]
pub async fn get_area(
    state: web::Data<AppState>,
    _auth: Auth<AnyRole>,
    code: web::Path<String>,
) -> ApiResult<web::Json<AreaView>> {
    Ok(web::Json(areas::get(&state.db, &code).await?))
}
