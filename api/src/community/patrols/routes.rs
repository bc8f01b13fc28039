//! Routes and their checkpoints: how a coordinator writes them, how they are stored (a kept
//! checkpoint keeps its id), and what a caller is shown of them: coordinates only to those who
//! manage or walk the route, QR plate payloads only to coordinators.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use places::geometry::Coord;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::status::CheckinStatus;
use super::windows::{Window, WindowBody, parse_windows, stored_windows, windows_json};
use super::{live_qr, plausibility};
use crate::domain::check_code;
use crate::entities::{
    activities, areas, patrol_checkins, patrol_checkpoints, patrol_routes, patrol_walks, shifts,
    signups,
};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::pagination::{Page, PageRequest};
use crate::places::coords::{self, Crs};
use crate::places::qr_keys::QrKeys;
use crate::stored::{self, Corrupt};

/// What a checkpoint's code is prefixed with before signing, so a checkpoint's QR payload can
/// never open a building and a building's never checks in.
pub const QR_PREFIX: &str = crate::places::qr_keys::NON_BUILDING_PREFIXES[0];

const MAX_CHECKPOINTS: usize = 200;
const MAX_POINTS: i32 = 1000;
const MAX_RADIUS_M: i32 = 2000;

/// How a checkpoint is proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointKind {
    /// A plate with a signed QR code, scanned on the spot.
    Qr,
    /// A circle: the phone's location must fall inside, GPS accuracy allowed for.
    Geofence,
}

impl CheckpointKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckpointKind::Qr => "qr",
            CheckpointKind::Geofence => "geofence",
        }
    }

    /// A stored kind; an unknown one is a corrupt row.
    pub fn parse(s: &str) -> Result<Self, Corrupt> {
        stored::lookup(
            "checkpoint kind",
            &[CheckpointKind::Qr, CheckpointKind::Geofence],
            Self::as_str,
            s,
        )
    }
}

/// A checkpoint as a coordinator writes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointBody {
    /// Unique across all routes; a QR checkpoint's payload names it.
    #[schema(example = "QSH-P01-1")]
    pub code: String,
    #[schema(example = "东门岗亭")]
    pub name: String,
    pub kind: CheckpointKind,
    /// Geofence centre (required), or where a QR plate hangs (optional).
    #[schema(minimum = -90, maximum = 90)]
    pub lat: Option<f64>,
    #[schema(minimum = -180, maximum = 180)]
    pub lng: Option<f64>,
    /// Datum of lat/lng: wgs84 (default) or gcj02.
    pub crs: Option<Crs>,
    /// Geofence radius, 5–2000 m; not for QR checkpoints.
    pub radius_m: Option<i32>,
    /// Points per check-in, 0–1000.
    pub points: i32,
}

/// A route's definition as a coordinator writes it (a create adds its `code`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteBody {
    #[schema(example = "青山湖社区夜间巡防")]
    pub name: String,
    /// An area of the tree the route belongs to, or none.
    pub area_code: Option<String>,
    /// Daily windows in Asia/Shanghai local time, e.g. `[{"start":"19:00","end":"21:00"}]`.
    pub windows: Vec<WindowBody>,
    /// In walking order.
    pub checkpoints: Vec<CheckpointBody>,
    /// A disabled route takes no check-ins and is hidden from patrollers (default true).
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// A validated checkpoint.
#[derive(Debug, Clone)]
pub struct CheckpointSpec {
    pub code: String,
    pub name: String,
    pub kind: CheckpointKind,
    pub point: Option<Coord>,
    pub radius_m: Option<i32>,
    pub points: i32,
}

/// A validated route definition.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub name: String,
    pub area_code: Option<String>,
    pub windows: Vec<Window>,
    pub checkpoints: Vec<CheckpointSpec>,
    pub enabled: bool,
}

fn text(errors: &mut Vec<FieldError>, field: &str, raw: &str, max: usize) -> String {
    let v = raw.trim();
    let n = v.chars().count();
    if n == 0 || n > max || v.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "length",
            format!("1–{max} characters, no control characters"),
        ));
    }
    v.to_owned()
}

fn code_errors(errors: &mut Vec<FieldError>, field: &str, code: &str) {
    if let Err(ApiError::Validation(e)) = check_code(field, code) {
        errors.extend(e);
    }
}

fn checkpoint_spec(i: usize, c: &CheckpointBody, errors: &mut Vec<FieldError>) -> CheckpointSpec {
    let at = |f: &str| format!("checkpoints[{i}].{f}");
    code_errors(errors, &at("code"), &c.code);
    let name = text(errors, &at("name"), &c.name, 100);
    if c.lat.is_none() && c.lng.is_none() && c.kind == CheckpointKind::Geofence {
        errors.push(FieldError::new(
            at("lat"),
            "required",
            "a geofence needs its centre (lat, lng)",
        ));
    }
    let mut bad = Vec::new();
    let point = coords::optional_wgs84(&mut bad, c.lat, c.lng, c.crs.unwrap_or_default())
        .ok()
        .flatten();
    errors.extend(
        bad.into_iter()
            .map(|f| FieldError::new(at(&f.field), &f.rule, f.message)),
    );
    match (c.kind, c.radius_m) {
        (CheckpointKind::Geofence, None) => errors.push(FieldError::new(
            at("radius_m"),
            "required",
            "a geofence needs its radius in metres",
        )),
        (CheckpointKind::Geofence, Some(r)) if !(5..=MAX_RADIUS_M).contains(&r) => errors.push(
            FieldError::new(at("radius_m"), "range", format!("5–{MAX_RADIUS_M} m")),
        ),
        (CheckpointKind::Qr, Some(_)) => errors.push(FieldError::new(
            at("radius_m"),
            "not_allowed",
            "a QR checkpoint is proven by its code, not a radius",
        )),
        _ => {}
    }
    if !(0..=MAX_POINTS).contains(&c.points) {
        errors.push(FieldError::new(
            at("points"),
            "range",
            format!("0–{MAX_POINTS}"),
        ));
    }
    CheckpointSpec {
        code: c.code.clone(),
        name,
        kind: c.kind,
        point,
        radius_m: c.radius_m,
        points: c.points,
    }
}

/// Checks a route definition, reporting every field at fault at once.
pub fn spec(body: &RouteBody) -> ApiResult<RouteSpec> {
    let mut errors = Vec::new();
    let name = text(&mut errors, "name", &body.name, 100);
    if let Some(a) = &body.area_code {
        code_errors(&mut errors, "area_code", a);
    }
    let windows = parse_windows(&body.windows, &mut errors);
    if body.checkpoints.is_empty() || body.checkpoints.len() > MAX_CHECKPOINTS {
        errors.push(FieldError::new(
            "checkpoints",
            "count",
            format!("1–{MAX_CHECKPOINTS} checkpoints"),
        ));
    }
    let mut seen = BTreeMap::new();
    let mut checkpoints = Vec::new();
    for (i, c) in body.checkpoints.iter().enumerate() {
        if let Some(first) = seen.insert(c.code.clone(), i) {
            errors.push(FieldError::new(
                format!("checkpoints[{i}].code"),
                "duplicate",
                format!("the same code as checkpoints[{first}]"),
            ));
        }
        checkpoints.push(checkpoint_spec(i, c, &mut errors));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(RouteSpec {
        name,
        area_code: body.area_code.clone(),
        windows,
        checkpoints,
        enabled: body.enabled,
    })
}

/// A checkpoint as a route shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckpointView {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub kind: CheckpointKind,
    /// WGS84; only for those who manage or walk the route.
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    /// Only for those who manage or walk the route.
    pub radius_m: Option<i32>,
    pub points: i32,
    /// The signed payload to print on the plate (QR checkpoints, coordinators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_payload: Option<String>,
}

/// A route with its checkpoints in walking order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RouteView {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub area_code: Option<String>,
    pub windows: Vec<WindowBody>,
    pub enabled: bool,
    pub checkpoints: Vec<CheckpointView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A route as the list shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RouteSummary {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub area_code: Option<String>,
    pub windows: Vec<WindowBody>,
    pub enabled: bool,
    /// How many checkpoints a complete walk hits.
    pub checkpoints: u64,
}

fn taken(e: DbErr, field: &'static str, what: &str) -> ApiError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => ApiError::Conflict {
            field: Some(field),
            detail: format!("{what} is taken"),
        },
        _ => ApiError::Database(e),
    }
}

async fn check_area(db: &impl ConnectionTrait, area: Option<&str>) -> ApiResult<()> {
    let Some(code) = area else { return Ok(()) };
    let found = areas::Entity::find()
        .filter(areas::Column::Code.eq(code))
        .count(db)
        .await?;
    if found == 0 {
        return Err(ApiError::invalid(
            "area_code",
            "unknown_area",
            format!("no area {code}"),
        ));
    }
    Ok(())
}

/// Writes a route's checkpoints: matched by code, so a kept checkpoint keeps its id (and its
/// printed plate and check-ins); dropped ones are retired, not deleted.
async fn write_checkpoints(
    db: &impl ConnectionTrait,
    route: Uuid,
    specs: &[CheckpointSpec],
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let codes: Vec<String> = specs.iter().map(|c| c.code.clone()).collect();
    let elsewhere = patrol_checkpoints::Entity::find()
        .filter(patrol_checkpoints::Column::Code.is_in(codes))
        .filter(patrol_checkpoints::Column::RouteId.ne(route))
        .one(db)
        .await?;
    if let Some(c) = elsewhere {
        return Err(ApiError::Conflict {
            field: Some("checkpoints"),
            detail: format!("checkpoint code {} belongs to another route", c.code),
        });
    }
    let mut existing: HashMap<String, patrol_checkpoints::Model> =
        patrol_checkpoints::Entity::find()
            .filter(patrol_checkpoints::Column::RouteId.eq(route))
            .all(db)
            .await?
            .into_iter()
            .map(|c| (c.code.clone(), c))
            .collect();
    for (position, c) in specs.iter().enumerate() {
        let kept = existing.remove(&c.code);
        let is_new = kept.is_none();
        let mut row: patrol_checkpoints::ActiveModel = match kept {
            Some(old) => old.into(),
            None => patrol_checkpoints::ActiveModel {
                id: Set(Uuid::now_v7()),
                route_id: Set(route),
                code: Set(c.code.clone()),
                created_at: Set(now),
                ..Default::default()
            },
        };
        row.name = Set(c.name.clone());
        row.kind = Set(c.kind.as_str().to_owned());
        row.lng = Set(c.point.map(|p| p[0]));
        row.lat = Set(c.point.map(|p| p[1]));
        row.radius_m = Set(c.radius_m);
        row.points = Set(c.points);
        row.position = Set(position as i32);
        row.retired = Set(false);
        row.updated_at = Set(now);
        let written = if is_new {
            row.insert(db).await.map(drop)
        } else {
            row.update(db).await.map(drop)
        };
        written.map_err(|e| taken(e, "checkpoints", "a checkpoint code"))?;
    }
    for (_, gone) in existing {
        if !gone.retired {
            let mut row: patrol_checkpoints::ActiveModel = gone.into();
            row.retired = Set(true);
            row.updated_at = Set(now);
            row.update(db).await?;
        }
    }
    Ok(())
}

/// A geofence proves only a position a phone reports: a checkpoint worth more than its street's
/// threshold must be a QR checkpoint (shown on a screen, see [`live_qr`]).
async fn check_values(db: &impl ConnectionTrait, spec: &RouteSpec) -> ApiResult<()> {
    let street = crate::points::street_of(db, spec.area_code.as_deref()).await?;
    let above = plausibility::qr_above_points(db, street.as_deref()).await?;
    let errors: Vec<FieldError> = spec
        .checkpoints
        .iter()
        .enumerate()
        .filter(|(_, c)| c.kind == CheckpointKind::Geofence && c.points > above)
        .map(|(i, c)| {
            FieldError::new(
                format!("checkpoints[{i}].kind"),
                "qr_required",
                format!(
                    "a checkpoint worth {} points (more than {above}) must be a QR checkpoint with a rotating code",
                    c.points
                ),
            )
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Creates a route with its checkpoints.
pub async fn create(
    db: &DatabaseConnection,
    qr: &QrKeys,
    code: String,
    spec: RouteSpec,
    with_payloads: bool,
) -> ApiResult<RouteView> {
    check_area(db, spec.area_code.as_deref()).await?;
    check_values(db, &spec).await?;
    let now = Utc::now();
    let id = Uuid::now_v7();
    let tx = crate::db::begin_write(db).await?;
    patrol_routes::ActiveModel {
        id: Set(id),
        code: Set(code.clone()),
        name: Set(spec.name.clone()),
        area_code: Set(spec.area_code.clone()),
        windows: Set(windows_json(&spec.windows)),
        enabled: Set(spec.enabled),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&tx)
    .await
    .map_err(|e| taken(e, "code", "a route code"))?;
    write_checkpoints(&tx, id, &spec.checkpoints, now).await?;
    tx.commit().await?;
    get(db, qr, &code, Shown::all(with_payloads)).await
}

/// Replaces a route's definition; `enabled: false` disables it.
pub async fn update(
    db: &DatabaseConnection,
    qr: &QrKeys,
    code: &str,
    spec: RouteSpec,
    with_payloads: bool,
) -> ApiResult<RouteView> {
    check_area(db, spec.area_code.as_deref()).await?;
    check_values(db, &spec).await?;
    let now = Utc::now();
    let tx = crate::db::begin_write(db).await?;
    let row = patrol_routes::Entity::find()
        .filter(patrol_routes::Column::Code.eq(code))
        .one(&tx)
        .await?
        .ok_or(ApiError::NotFound("patrol route"))?;
    let id = row.id;
    let mut active: patrol_routes::ActiveModel = row.into();
    active.name = Set(spec.name.clone());
    active.area_code = Set(spec.area_code.clone());
    active.windows = Set(windows_json(&spec.windows));
    active.enabled = Set(spec.enabled);
    active.updated_at = Set(now);
    active.update(&tx).await?;
    write_checkpoints(&tx, id, &spec.checkpoints, now).await?;
    tx.commit().await?;
    get(db, qr, code, Shown::all(with_payloads)).await
}

fn payload(qr: &QrKeys, c: &patrol_checkpoints::Model) -> String {
    qr.sign(&format!("{QR_PREFIX}{}", c.code))
}

pub(super) async fn active_checkpoints(
    db: &impl ConnectionTrait,
    route: Uuid,
) -> ApiResult<Vec<patrol_checkpoints::Model>> {
    Ok(patrol_checkpoints::Entity::find()
        .filter(patrol_checkpoints::Column::RouteId.eq(route))
        .filter(patrol_checkpoints::Column::Retired.eq(false))
        .order_by_asc(patrol_checkpoints::Column::Position)
        .all(db)
        .await?)
}

/// What a caller is shown of a route.
#[derive(Debug, Clone, Copy)]
pub struct Shown {
    /// Disabled routes too (coordinators).
    pub disabled: bool,
    /// The checkpoints' coordinates and radii (those who manage or walk the route).
    pub coordinates: bool,
    /// The QR plates' payloads (coordinators).
    pub payloads: bool,
}

impl Shown {
    /// Everything but, unless asked, the payloads: what coordinators see.
    pub fn all(payloads: bool) -> Self {
        Shown {
            disabled: true,
            coordinates: true,
            payloads,
        }
    }
}

/// The enabled route of a code, or 404.
pub async fn find_route(
    db: &impl ConnectionTrait,
    code: &str,
    include_disabled: bool,
) -> ApiResult<patrol_routes::Model> {
    patrol_routes::Entity::find()
        .filter(patrol_routes::Column::Code.eq(code))
        .one(db)
        .await?
        .filter(|r| r.enabled || include_disabled)
        .ok_or(ApiError::NotFound("patrol route"))
}

/// Whether a user walks a route, and so may see where its checkpoints are. They walk it when
/// they have proved they are out on it: an open walk of theirs on the route with a paid
/// check-in (a plate scanned, a fix accepted), or a confirmed place on a patrol activity of the
/// route's area whose shift has not ended (enrolled for a turn). Mere interest is not enough:
/// anyone else who could read the coordinates could report being there from home.
pub async fn walks_route(
    db: &impl ConnectionTrait,
    user: Uuid,
    route: &patrol_routes::Model,
    now: DateTime<Utc>,
) -> ApiResult<bool> {
    let open: Vec<Uuid> = patrol_walks::Entity::find()
        .select_only()
        .column(patrol_walks::Column::Id)
        .filter(patrol_walks::Column::UserId.eq(user))
        .filter(patrol_walks::Column::RouteId.eq(route.id))
        .filter(patrol_walks::Column::CompletedAt.is_null())
        .into_tuple()
        .all(db)
        .await?;
    if !open.is_empty() {
        let paid = patrol_checkins::Entity::find()
            .filter(patrol_checkins::Column::WalkId.is_in(open))
            .filter(patrol_checkins::Column::Status.eq(CheckinStatus::Paid.as_str()))
            .count(db)
            .await?;
        if paid > 0 {
            return Ok(true);
        }
    }
    let Some(area) = route.area_code.as_deref() else {
        return Ok(false);
    };
    enrolled_on_patrol(db, user, area, now).await
}

/// Whether a user holds a confirmed place on a patrol activity of `area` whose shift has not
/// ended.
async fn enrolled_on_patrol(
    db: &impl ConnectionTrait,
    user: Uuid,
    area: &str,
    now: DateTime<Utc>,
) -> ApiResult<bool> {
    let shift_ids: Vec<Uuid> = signups::Entity::find()
        .select_only()
        .column(signups::Column::ShiftId)
        .filter(signups::Column::UserId.eq(user))
        .filter(signups::Column::Status.eq("confirmed"))
        .into_tuple()
        .all(db)
        .await?;
    if shift_ids.is_empty() {
        return Ok(false);
    }
    let activity_ids: Vec<Uuid> = shifts::Entity::find()
        .select_only()
        .column(shifts::Column::ActivityId)
        .filter(shifts::Column::Id.is_in(shift_ids))
        .filter(shifts::Column::EndsAt.gt(now))
        .into_tuple()
        .all(db)
        .await?;
    if activity_ids.is_empty() {
        return Ok(false);
    }
    let n = activities::Entity::find()
        .filter(activities::Column::Id.is_in(activity_ids))
        .filter(activities::Column::Kind.eq("patrol"))
        .filter(activities::Column::AreaCode.eq(area))
        .count(db)
        .await?;
    Ok(n > 0)
}

/// One route, showing what `shown` allows.
pub async fn get(
    db: &impl ConnectionTrait,
    qr: &QrKeys,
    code: &str,
    shown: Shown,
) -> ApiResult<RouteView> {
    let r = find_route(db, code, shown.disabled).await?;
    let checkpoints = active_checkpoints(db, r.id)
        .await?
        .into_iter()
        .map(|c| {
            let kind = CheckpointKind::parse(&c.kind)?;
            Ok(CheckpointView {
                qr_payload: (shown.payloads && kind == CheckpointKind::Qr).then(|| payload(qr, &c)),
                id: c.id,
                kind,
                code: c.code,
                name: c.name,
                lat: c.lat.filter(|_| shown.coordinates),
                lng: c.lng.filter(|_| shown.coordinates),
                radius_m: c.radius_m.filter(|_| shown.coordinates),
                points: c.points,
            })
        })
        .collect::<ApiResult<_>>()?;
    Ok(RouteView {
        id: r.id,
        windows: stored_windows(&r.windows)?
            .into_iter()
            .map(Window::body)
            .collect(),
        code: r.code,
        name: r.name,
        area_code: r.area_code,
        enabled: r.enabled,
        checkpoints,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// Routes in creation order, optionally of one area; disabled ones only for coordinators.
pub async fn list(
    db: &DatabaseConnection,
    page: PageRequest,
    area: Option<&str>,
    include_disabled: bool,
) -> ApiResult<Page<RouteSummary>> {
    let mut q = patrol_routes::Entity::find().order_by_asc(patrol_routes::Column::Id);
    if let Some(a) = area {
        q = q.filter(patrol_routes::Column::AreaCode.eq(a));
    }
    if !include_disabled {
        q = q.filter(patrol_routes::Column::Enabled.eq(true));
    }
    if let Some(after) = page.after {
        q = q.filter(patrol_routes::Column::Id.gt(after));
    }
    let rows = q.limit(page.fetch()).all(db).await?;
    let rows = Page::from_rows(rows, &page, |r| r.id);
    let ids: Vec<Uuid> = rows.items.iter().map(|r| r.id).collect();
    let counts: HashMap<Uuid, i64> = patrol_checkpoints::Entity::find()
        .select_only()
        .column(patrol_checkpoints::Column::RouteId)
        .column_as(patrol_checkpoints::Column::Id.count(), "n")
        .filter(patrol_checkpoints::Column::RouteId.is_in(ids))
        .filter(patrol_checkpoints::Column::Retired.eq(false))
        .group_by(patrol_checkpoints::Column::RouteId)
        .into_tuple::<(Uuid, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    Ok(Page {
        items: rows
            .items
            .into_iter()
            .map(|r| {
                Ok(RouteSummary {
                    checkpoints: counts.get(&r.id).copied().unwrap_or(0).max(0) as u64,
                    windows: stored_windows(&r.windows)?
                        .into_iter()
                        .map(Window::body)
                        .collect(),
                    id: r.id,
                    code: r.code,
                    name: r.name,
                    area_code: r.area_code,
                    enabled: r.enabled,
                })
            })
            .collect::<ApiResult<_>>()?,
        next_cursor: rows.next_cursor,
    })
}

/// A QR checkpoint in use, by code; 404 for any other.
async fn qr_checkpoint(
    db: &impl ConnectionTrait,
    code: &str,
) -> ApiResult<patrol_checkpoints::Model> {
    patrol_checkpoints::Entity::find()
        .filter(patrol_checkpoints::Column::Code.eq(code))
        .filter(patrol_checkpoints::Column::Retired.eq(false))
        .filter(patrol_checkpoints::Column::Kind.eq(CheckpointKind::Qr.as_str()))
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("QR checkpoint"))
}

/// The signed payload of a QR checkpoint, for its plate.
pub async fn qr_payload(db: &impl ConnectionTrait, qr: &QrKeys, code: &str) -> ApiResult<String> {
    let c = qr_checkpoint(db, code).await?;
    Ok(payload(qr, &c))
}

/// What the screen at a QR checkpoint shows now: its rotating code.
pub async fn live_code(
    db: &impl ConnectionTrait,
    qr: &QrKeys,
    code: &str,
) -> ApiResult<live_qr::LiveCode> {
    let c = qr_checkpoint(db, code).await?;
    Ok(live_qr::live_code(qr, &c.code, Utc::now()))
}
