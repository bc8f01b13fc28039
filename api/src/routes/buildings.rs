//! Buildings: the registry, profiles, visit history, QR codes, and scanning a code.

use std::collections::BTreeSet;

use actix_web::{HttpResponse, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::PROBLEM;
use super::qr_image::{PngQuery, png};
use crate::accounts;
use crate::auth::Auth;
use crate::auth::roles::{AdminOnly, AnyRole, CommandCentre, ProfileEditors, Role, RoleSet, Staff};
use crate::auth::user::CurrentUser;
use crate::domain::check_code;
use crate::entities::buildings as building_rows;
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{Json, Query};
use crate::pagination::{Page, PageQuery, PageRequest};
use crate::places::areas::serves;
use crate::places::buildings::visits::{FLOORS, UNIT_FLOORS, in_range, text};
use crate::places::buildings::{
    self, Access, BuildingFilter, BuildingProfile, BuildingSummary, Business, Change, Freshness,
    NewBuilding, ProfileChange, UnitUpdate, Visit,
};
use crate::places::coords::{self, Crs};
use crate::state::AppState;
use sync_engine::access::Grant;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_buildings)
        .service(create_building)
        .service(qr_png)
        .service(qr_svg)
        .service(qr_sheet)
        .service(history)
        .service(get_building)
        .service(update_building)
        .service(scan);
}

/// The building, what the access table grants the caller on it, and what they may see of it;
/// 404 for a grid worker of another grid.
async fn visible(
    state: &AppState,
    user: &CurrentUser,
    code: &str,
) -> ApiResult<(building_rows::Model, Grant, Access)> {
    let b = buildings::find(&state.db, code).await?;
    let areas = accounts::areas_of(&state.db, user.id).await?;
    let grant = buildings::grant(user, &areas, &state.places.get(), &b);
    let access = buildings::access_of(grant)?;
    Ok((b, grant, access))
}

/// The longest search text: longer than any code or address.
const SEARCH_MAX: usize = 100;

/// Filters and paging for the building list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListBuildingsQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    /// Only buildings whose code, name or address contains this text (1–100 characters).
    #[param(min_length = 1, max_length = 100)]
    pub q: Option<String>,
    /// Only this grid's buildings.
    pub grid: Option<String>,
    /// Only this micro-grid's buildings.
    pub micro_grid: Option<String>,
    /// `red` (never checked), `yellow` (over 6 months ago) or `green`: what to visit next.
    pub freshness: Option<Freshness>,
}

/// List the buildings the caller may see; a grid worker sees those of the areas they serve.
#[utoipa::path(
    tag = "buildings",
    security(("bearer" = [])),
    params(ListBuildingsQuery),
    responses(
        (status = 200, body = Page<BuildingSummary>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/buildings")]
pub async fn list_buildings(
    state: web::Data<AppState>,
    auth: Auth<Staff>,
    Query(q): Query<ListBuildingsQuery>,
) -> ApiResult<web::Json<Page<BuildingSummary>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let areas = accounts::areas_of(&state.db, auth.user.id).await?;
    let text = crate::pagination::search_text(q.q.as_deref(), SEARCH_MAX)?;
    let filter = BuildingFilter {
        text,
        grid: q.grid,
        micro_grid: q.micro_grid,
        freshness: q.freshness,
    };
    let index = state.places.get();
    Ok(web::Json(
        buildings::list(&state.db, &index, &auth.user, &areas, page, filter).await?,
    ))
}

/// A unit to register with a new building.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUnit {
    #[schema(example = "1单元101")]
    #[schema(
        pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([\\s\\S]{0,30}[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
    )]
    pub number: String,
    #[schema(minimum = -5, maximum = 200)]
    pub floor: Option<i32>,
}

/// A building to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBuildingRequest {
    /// Stable code; A–Z, a–z, 0–9, '-', '_', '.'.
    #[schema(example = "QSH-B9001")]
    #[schema(pattern = "^(?!cp\\.|act\\.)[A-Za-z0-9._-]{1,64}$")]
    pub code: String,
    #[schema(example = "青山村12幢")]
    #[schema(
        pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([\\s\\S]{0,98}[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
    )]
    pub name: String,
    #[schema(example = "杭州市临安区青山湖街道青山村12幢")]
    #[schema(
        pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([\\s\\S]{0,198}[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
    )]
    pub address: String,
    #[schema(value_type = f64, required = true, minimum = -90, maximum = 90)]
    pub lat: Option<f64>,
    #[schema(value_type = f64, required = true, minimum = -180, maximum = 180)]
    pub lng: Option<f64>,
    /// Datum of lat/lng (default wgs84).
    pub crs: Option<Crs>,
    #[schema(minimum = 1, maximum = 200)]
    pub floors: Option<i32>,
    pub notes: Option<String>,
    #[serde(default)]
    pub units: Vec<NewUnit>,
}

/// Register a building; its micro-grid follows from its point.
#[utoipa::path(
    tag = "buildings",
    security(("bearer" = [])),
    request_body = CreateBuildingRequest,
    responses(
        (status = 201, body = BuildingProfile),
        (status = 409, description = "Code taken", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/buildings")]
pub async fn create_building(
    state: web::Data<AppState>,
    _auth: Auth<AdminOnly>,
    Json(body): Json<CreateBuildingRequest>,
) -> ApiResult<HttpResponse> {
    let mut errors = Vec::new();
    if let Err(ApiError::Validation(e)) = check_code("code", &body.code) {
        errors.extend(e);
    } else if crate::places::qr_keys::is_reserved(&body.code) {
        errors.push(FieldError::new(
            "code",
            "reserved_prefix",
            "codes starting with cp. or act. name checkpoints and activities",
        ));
    }
    text(&mut errors, "name", &body.name, 100);
    text(&mut errors, "address", &body.address, 200);
    in_range(&mut errors, "floors", body.floors, &FLOORS);
    let mut numbers = BTreeSet::new();
    for (i, u) in body.units.iter().enumerate() {
        in_range(
            &mut errors,
            &format!("units[{i}].floor"),
            u.floor,
            &UNIT_FLOORS,
        );
        text(&mut errors, &format!("units[{i}].number"), &u.number, 32);
        if !numbers.insert(u.number.clone()) {
            errors.push(FieldError::new(
                format!("units[{i}].number"),
                "unique",
                "unit numbers repeat",
            ));
        }
    }
    let location = coords::to_wgs84(body.lat, body.lng, body.crs.unwrap_or_default());
    if let Err(ApiError::Validation(e)) = &location {
        errors.extend(e.iter().cloned());
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let new = NewBuilding {
        code: body.code.clone(),
        name: body.name.trim().to_owned(),
        address: body.address.trim().to_owned(),
        location: location?,
        floors: body.floors,
        notes: body.notes,
        units: body
            .units
            .into_iter()
            .map(|u| buildings::NewUnit {
                number: u.number,
                floor: u.floor,
                residents: Vec::new(),
            })
            .collect(),
    };
    buildings::create_many(&state.db, &state.places.get(), vec![new]).await?;
    let b = buildings::find(&state.db, &body.code).await?;
    let profile = buildings::profile(&state.db, &b, Access::Masked).await?;
    Ok(HttpResponse::Created().json(profile))
}

/// A building's profile: whole for grid workers of its grid, masked for other staff.
#[utoipa::path(
    tag = "buildings",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Building code")),
    responses(
        (status = 200, body = BuildingProfile),
        (status = 404, description = "No such building, or not in your grids", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/buildings/{code}")]
pub async fn get_building(
    state: web::Data<AppState>,
    auth: Auth<Staff>,
    code: web::Path<String>,
) -> ApiResult<web::Json<BuildingProfile>> {
    let (b, _, access) = visible(&state, &auth.user, &code).await?;
    Ok(web::Json(buildings::profile(&state.db, &b, access).await?))
}

/// A profile change made on a visit. Absent parts stay as they are; an empty body records a
/// visit that found everything as it was (the profile turns green again).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBuildingRequest {
    pub name: Option<String>,
    pub address: Option<String>,
    pub floors: Option<i32>,
    pub notes: Option<String>,
    /// Units to add or change, by number.
    #[serde(default)]
    pub units: Vec<UnitUpdate>,
    /// Numbers of units to remove.
    #[serde(default)]
    pub remove_units: Vec<String>,
    /// The building's shops and enterprises now; absent leaves them as they are.
    pub businesses: Option<Vec<Business>>,
}

/// What a visit changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpdateResult {
    pub changes: Vec<Change>,
    pub profile: BuildingProfile,
}

/// Update a profile on a visit; the change and who made it go into the building's history.
#[utoipa::path(
    tag = "buildings",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Building code")),
    request_body = UpdateBuildingRequest,
    responses(
        (status = 200, body = UpdateResult),
        (status = 403, description = "Your role may not change profiles", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such building, or not in your grids", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[patch("/buildings/{code}")]
pub async fn update_building(
    state: web::Data<AppState>,
    auth: Auth<ProfileEditors>,
    code: web::Path<String>,
    Json(body): Json<UpdateBuildingRequest>,
) -> ApiResult<web::Json<UpdateResult>> {
    let (_, grant, access) = visible(&state, &auth.user, &code).await?;
    let change = ProfileChange {
        name: body.name.map(|n| n.trim().to_owned()),
        address: body.address.map(|a| a.trim().to_owned()),
        floors: body.floors,
        notes: body.notes,
        units: body.units,
        remove_units: body.remove_units.into_iter().collect(),
        businesses: body.businesses,
    };
    buildings::may_change(grant, &change)?;
    buildings::visits::check(&change)?;
    let changes = buildings::update(&state.db, &code, auth.user.id, change).await?;
    state.live.poke();
    let b = buildings::find(&state.db, &code).await?;
    let profile = buildings::profile(&state.db, &b, access).await?;
    Ok(web::Json(UpdateResult { changes, profile }))
}

/// A building's visits: who changed what, when; oldest first.
#[utoipa::path(
    tag = "buildings",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Building code"), PageQuery),
    responses(
        (status = 200, body = Page<Visit>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/buildings/{code}/history")]
pub async fn history(
    state: web::Data<AppState>,
    auth: Auth<Staff>,
    code: web::Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<web::Json<Page<Visit>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let (b, ..) = visible(&state, &auth.user, &code).await?;
    Ok(web::Json(buildings::history(&state.db, &b, page).await?))
}

/// The building's signed QR code as a PNG, for printing.
#[utoipa::path(
    tag = "buildings",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Building code"), PngQuery),
    responses(
        (status = 200, description = "PNG image", content_type = "image/png"),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/buildings/{code}/qr.png")]
pub async fn qr_png(
    state: web::Data<AppState>,
    auth: Auth<Staff>,
    code: web::Path<String>,
    Query(q): Query<PngQuery>,
) -> ApiResult<HttpResponse> {
    let scale = q.scale()?;
    let (b, ..) = visible(&state, &auth.user, &code).await?;
    png(&state.qr.sign(&b.code), scale)
}

/// The building's signed QR code as SVG.
#[utoipa::path(
    tag = "buildings",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Building code")),
    responses(
        (status = 200, description = "SVG image", content_type = "image/svg+xml"),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/buildings/{code}/qr.svg")]
pub async fn qr_svg(
    state: web::Data<AppState>,
    auth: Auth<Staff>,
    code: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (b, ..) = visible(&state, &auth.user, &code).await?;
    let svg = places::qr::render_svg(&state.qr.sign(&b.code))
        .map_err(|e| anyhow::anyhow!("rendering QR: {e}"))?;
    Ok(HttpResponse::Ok().content_type("image/svg+xml").body(svg))
}

/// A grid's building codes on A4 pages (PDF), 12 to a page with codes and names, for posting
/// on the buildings: what `gridwing buildings qr-sheet` prints, for those who post them. The
/// command centre prints any grid's sheet, a grid worker the sheets of the grids they serve;
/// everyone else who may see a single code (coordinators, team members) only reads them.
#[utoipa::path(
    tag = "buildings",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "The grid's code, e.g. `QSH-G001`")),
    responses(
        (status = 200, description = "PDF, one page per 12 buildings, the Chinese font embedded; `Content-Disposition: attachment` with the file name `{code}-屋联码.pdf` (`filename*`)", content_type = "application/pdf"),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Neither the command centre nor a worker of this grid", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such area, or a grid without buildings", body = Problem, content_type = PROBLEM),
        (status = 422, description = "The area is not a grid (`code`)", body = Problem, content_type = PROBLEM),
        (status = 503, description = "The server has no Chinese font to embed (`pdf-font-missing`: install fonts-wqy-microhei or set --pdf-font)", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/areas/{code}/qr-sheet.pdf")]
pub async fn qr_sheet(
    state: web::Data<AppState>,
    auth: Auth<Staff>,
    code: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let area = crate::places::areas::get(&state.db, &code).await?;
    let prints = if CommandCentre::admits(&auth.user.roles) {
        true
    } else if auth.user.has(Role::GridWorker) {
        let areas = accounts::areas_of(&state.db, auth.user.id).await?;
        serves(&state.places.get(), &areas, &area.code)
    } else {
        false
    };
    if !prints {
        return Err(ApiError::Forbidden);
    }
    if area.level != "grid" {
        return Err(ApiError::invalid(
            "code",
            "invalid_value",
            format!("{} is a {}, not a grid", area.code, area.level),
        ));
    }
    let rows = buildings::of_grid(&state.db, &area.code).await?;
    if rows.is_empty() {
        return Err(ApiError::NotFound("buildings of the grid"));
    }
    let entries: Vec<places::qr::SheetEntry> = rows
        .iter()
        .map(|b| places::qr::SheetEntry {
            payload: state.qr.sign(&b.code),
            code: b.code.clone(),
            label: b.name.clone(),
        })
        .collect();
    let font = state.pdf_font.get()?;
    let title = format!("{} 屋联码", area.code);
    // Shaping and subsetting take milliseconds per page: off the async threads.
    let pdf = web::block(move || places::qr::render_sheet_pdf(&font, &title, &entries))
        .await
        .map_err(|e| anyhow::anyhow!("rendering the QR sheet: {e}"))?
        .map_err(|e| anyhow::anyhow!("rendering the QR sheet: {e}"))?;
    Ok(HttpResponse::Ok()
        .content_type(documents::PDF)
        .insert_header((
            "content-disposition",
            documents::disposition::attachment(&format!("{}-屋联码.pdf", area.code)),
        ))
        .body(pdf))
}

/// A scanned code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// The text the scanner read: the payload, or a URL carrying it.
    pub code: String,
}

/// What a scan may lead to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScanAction {
    /// Report a problem at this building (民呼我为).
    ReportProblem,
    ViewProfile,
    UpdateProfile,
}

/// The building a code opens, as the caller may see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanResult {
    pub building: BuildingSummary,
    pub actions: Vec<ScanAction>,
    /// The profile, for staff; masked unless the caller works in the building's grid.
    pub profile: Option<BuildingProfile>,
}

/// Scan a building's QR code (屋联码).
#[utoipa::path(
    tag = "buildings",
    security(("bearer" = [])),
    request_body = ScanRequest,
    responses(
        (status = 200, body = ScanResult),
        (status = 400, description = "Not a gridwing code, or forged or altered", body = Problem, content_type = PROBLEM),
        (status = 404, description = "A genuine code for a building no longer registered", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/scan")]
pub async fn scan(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    Json(body): Json<ScanRequest>,
) -> ApiResult<web::Json<ScanResult>> {
    let code = match state.qr.verify(&state.db, &body.code).await? {
        Ok(code) => code,
        Err(e) => {
            // Forged codes on walls are a field problem someone should look at.
            tracing::warn!(user = %auth.user.id, reason = %e, "scan refused");
            return Err(ApiError::InvalidCode(format!(
                "not a valid building code: {e}"
            )));
        }
    };
    let b = match buildings::find(&state.db, &code).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(user = %auth.user.id, building = %code, "scan of a signed code for an unknown building");
            return Err(e);
        }
    };
    let areas = accounts::areas_of(&state.db, auth.user.id).await?;
    let grant = buildings::grant(&auth.user, &areas, &state.places.get(), &b);
    let mut actions = vec![ScanAction::ReportProblem];
    let profile = match buildings::access_of(grant).ok() {
        Some(a) => {
            actions.push(ScanAction::ViewProfile);
            if !grant.writable(sync_engine::DocKind::Building).is_empty() {
                actions.push(ScanAction::UpdateProfile);
            }
            Some(buildings::profile(&state.db, &b, a).await?)
        }
        None => None,
    };
    Ok(web::Json(ScanResult {
        building: BuildingSummary::of(&b, chrono::Utc::now()),
        actions,
        profile,
    }))
}
