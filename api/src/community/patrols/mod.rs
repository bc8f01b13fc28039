//! Patrols (巡防): coordinators define routes of checkpoints walked in daily windows; citizens and
//! volunteers check in at each checkpoint by scanning its QR code or by standing inside its
//! geofence, and earn its points once per window occurrence.
//!
//! Rules, in one place each:
//! - Windows are local time (Asia/Shanghai, UTC+8, no DST), `start` inclusive, `end` exclusive.
//!   A window whose end is not after its start crosses midnight (`22:00`–`02:00`); its
//!   occurrence is named after the local date it opened: `2026-12-01#1` for window 1 opened on
//!   1 December, also at 01:30 on the 2nd. Windows of one route may not overlap. A check-in
//!   outside every window counts in `YYYY-MM-DD#out` and is held.
//! - A check-in is recorded once per (user, checkpoint, window occurrence), enforced by a unique
//!   key: a second phone or a replay gets the first check-in back (`replayed: true`), never a
//!   second payment. The caller's idempotency key makes a retry answer the same even after the
//!   window closed.
//! - A location check-in names the checkpoint when `distance − accuracy ≤ radius`; otherwise it
//!   is refused.
//! - Whether a named checkpoint is paid is decided by [`plausibility`] (accuracy, speed, window,
//!   rotating code): what fails is held for a coordinator ([`review`]), not paid and not dropped.
//!   What is paid goes through `points::earn`, under the day's cap.
//! - QR plates carry `state.qr.sign("cp.<checkpoint-code>")`: the `cp.` prefix tells them from
//!   building codes, and only coordinators are shown them (a patroller who could read one could
//!   check in from home). Screens at high-value checkpoints show [`live_qr`] codes instead.
//! - Checkpoint coordinates are shown to those who manage routes and to those who walk this one
//!   ([`walks_route`]).

pub mod live_qr;
pub mod plausibility;
pub mod review;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use places::geometry::{Coord, distance_m};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::check_code;
use crate::entities::{
    activities, areas, patrol_checkins, patrol_checkpoints, patrol_routes, patrol_walks, shifts,
    signups,
};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::pagination::{Page, PageRequest};
use crate::places::coords::{self, Crs};
use crate::state::AppState;
use crate::stored::{self, Corrupt};

pub use plausibility::{HoldReason, MAX_ACCURACY_M};
/// What a checkpoint's code is prefixed with before signing, so a checkpoint's QR payload can
/// never open a building and a building's never checks in.
pub const QR_PREFIX: &str = crate::places::qr_keys::NON_BUILDING_PREFIXES[0];
/// The points source kind in the ledger.
pub const POINTS_SOURCE: &str = "patrol";

const MAX_WINDOWS: usize = 8;
const MAX_CHECKPOINTS: usize = 200;
const MAX_POINTS: i32 = 1000;
const MAX_RADIUS_M: i32 = 2000;

pub use crate::points::local_offset;

// ---------------------------------------------------------------------------------------------
// Windows

/// A daily window as written: local times `HH:MM`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowBody {
    #[schema(example = "19:00")]
    pub start: String,
    /// Not after `start` means the window crosses midnight.
    #[schema(example = "21:00")]
    pub end: String,
}

/// A daily window in minutes after local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: u16,
    pub end: u16,
}

fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

impl Window {
    fn crosses_midnight(self) -> bool {
        self.end <= self.start
    }

    /// Minutes of the day covered, on a 24 h circle.
    fn minutes(self) -> impl Iterator<Item = u16> {
        let len = if self.crosses_midnight() {
            1440 - self.start + self.end
        } else {
            self.end - self.start
        };
        (0..len).map(move |k| (self.start + k) % 1440)
    }

    fn body(self) -> WindowBody {
        WindowBody {
            start: hhmm(self.start),
            end: hhmm(self.end),
        }
    }

    fn label(self) -> String {
        format!("{}–{}", hhmm(self.start), hhmm(self.end))
    }
}

/// Checks windows: `HH:MM`, not empty, not overlapping, at most [`MAX_WINDOWS`].
pub fn parse_windows(body: &[WindowBody], errors: &mut Vec<FieldError>) -> Vec<Window> {
    if body.is_empty() || body.len() > MAX_WINDOWS {
        errors.push(FieldError::new(
            "windows",
            "count",
            format!("1–{MAX_WINDOWS} windows"),
        ));
    }
    let mut out = Vec::new();
    let mut taken = [None::<usize>; 1440];
    for (i, w) in body.iter().enumerate() {
        let (start, end) = (parse_hhmm(&w.start), parse_hhmm(&w.end));
        for (field, v) in [("start", start), ("end", end)] {
            if v.is_none() {
                errors.push(FieldError::new(
                    format!("windows[{i}].{field}"),
                    "time",
                    "a local time HH:MM, 00:00–23:59",
                ));
            }
        }
        let (Some(start), Some(end)) = (start, end) else {
            continue;
        };
        if start == end {
            errors.push(FieldError::new(
                format!("windows[{i}].end"),
                "empty_window",
                "end must differ from start (an end before the start crosses midnight)",
            ));
            continue;
        }
        let window = Window { start, end };
        if let Some(other) = window.minutes().find_map(|m| taken[m as usize]) {
            errors.push(FieldError::new(
                format!("windows[{i}]"),
                "overlap",
                format!("overlaps windows[{other}]"),
            ));
            continue;
        }
        for m in window.minutes() {
            taken[m as usize] = Some(i);
        }
        out.push(window);
    }
    out
}

/// The occurrence of a window that `at` falls in, as `YYYY-MM-DD#index`, if any.
pub fn occurrence(windows: &[Window], at: DateTime<Utc>) -> Option<String> {
    let local = at.with_timezone(&local_offset()).naive_local();
    let minute = (local.hour() * 60 + local.minute()) as u16;
    let today = local.date();
    let key = |d: NaiveDate, i: usize| format!("{}#{i}", d.format("%Y-%m-%d"));
    windows.iter().enumerate().find_map(|(i, w)| {
        if !w.crosses_midnight() {
            (w.start <= minute && minute < w.end).then(|| key(today, i))
        } else if minute >= w.start {
            Some(key(today, i))
        } else if minute < w.end {
            Some(key(today - Duration::days(1), i))
        } else {
            None
        }
    })
}

/// A route's stored windows. They were checked when written, so any fault is a corrupt row: it
/// must not quietly become a route without windows, or with fewer.
fn stored_windows(raw: &str) -> Result<Vec<Window>, Corrupt> {
    let body: Vec<WindowBody> = stored::json("patrol route windows", raw)?;
    let mut faults = Vec::new();
    let windows = parse_windows(&body, &mut faults);
    if faults.is_empty() {
        Ok(windows)
    } else {
        Err(Corrupt::new("patrol route windows", raw))
    }
}

// ---------------------------------------------------------------------------------------------
// Routes and checkpoints

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

fn windows_json(windows: &[Window]) -> String {
    let body: Vec<WindowBody> = windows.iter().map(|w| w.body()).collect();
    serde_json::to_string(&body).unwrap_or_else(|_| "[]".to_owned())
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
    state: &AppState,
    code: String,
    spec: RouteSpec,
    with_payloads: bool,
) -> ApiResult<RouteView> {
    check_area(&state.db, spec.area_code.as_deref()).await?;
    check_values(&state.db, &spec).await?;
    let now = Utc::now();
    let id = Uuid::now_v7();
    let tx = crate::db::begin_write(&state.db).await?;
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
    get(state, &code, Shown::all(with_payloads)).await
}

/// Replaces a route's definition; `enabled: false` disables it.
pub async fn update(
    state: &AppState,
    code: &str,
    spec: RouteSpec,
    with_payloads: bool,
) -> ApiResult<RouteView> {
    check_area(&state.db, spec.area_code.as_deref()).await?;
    check_values(&state.db, &spec).await?;
    let now = Utc::now();
    let tx = crate::db::begin_write(&state.db).await?;
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
    get(state, code, Shown::all(with_payloads)).await
}

fn payload(state: &AppState, c: &patrol_checkpoints::Model) -> String {
    state.qr.sign(&format!("{QR_PREFIX}{}", c.code))
}

async fn active_checkpoints(
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
pub async fn get(state: &AppState, code: &str, shown: Shown) -> ApiResult<RouteView> {
    let r = find_route(&state.db, code, shown.disabled).await?;
    let checkpoints = active_checkpoints(&state.db, r.id)
        .await?
        .into_iter()
        .map(|c| {
            let kind = CheckpointKind::parse(&c.kind)?;
            Ok(CheckpointView {
                qr_payload: (shown.payloads && kind == CheckpointKind::Qr)
                    .then(|| payload(state, &c)),
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
pub async fn qr_payload(state: &AppState, code: &str) -> ApiResult<String> {
    let c = qr_checkpoint(&state.db, code).await?;
    Ok(payload(state, &c))
}

/// What the screen at a QR checkpoint shows now: its rotating code.
pub async fn live_code(state: &AppState, code: &str) -> ApiResult<live_qr::LiveCode> {
    let c = qr_checkpoint(&state.db, code).await?;
    Ok(live_qr::live_code(&state.qr, &c.code, Utc::now()))
}

// ---------------------------------------------------------------------------------------------
// Check-ins

/// How the caller proves they are at the checkpoint.
#[derive(Debug, Clone)]
pub enum Proof {
    /// The text scanned off a QR checkpoint's plate.
    Scan { scanned: String },
    /// The phone's location at a geofence checkpoint.
    Location { checkpoint: String },
}

/// A check-in, validated.
#[derive(Debug, Clone)]
pub struct NewCheckin {
    pub user: Uuid,
    /// The caller's key for this check-in.
    pub key: String,
    pub request_hash: String,
    pub proof: Proof,
    /// WGS84, with the accuracy in metres; required for a location check-in.
    pub point: Option<(Coord, f64)>,
}

/// How a check-in was proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckinMethod {
    Scan,
    Location,
}

/// A walk's progress in its window occurrence.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Progress {
    /// Checkpoints of the route checked in at.
    pub hit: u64,
    /// Checkpoints of the route.
    pub total: u64,
    /// Every checkpoint hit in this one window occurrence.
    pub complete: bool,
}

/// A checkpoint as a check-in names it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckpointRef {
    pub id: Uuid,
    pub code: String,
    pub name: String,
}

/// Whether a check-in was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckinStatus {
    /// Paid (what the day's cap allowed).
    Paid,
    /// Failed a plausibility check: waiting for a coordinator, not paid.
    Held,
    /// A coordinator refused a held check-in.
    Rejected,
}

impl CheckinStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckinStatus::Paid => "paid",
            CheckinStatus::Held => "held",
            CheckinStatus::Rejected => "rejected",
        }
    }

    /// A stored status; an unknown one is a corrupt row.
    pub fn parse(s: &str) -> Result<Self, Corrupt> {
        stored::lookup(
            "check-in status",
            &[
                CheckinStatus::Paid,
                CheckinStatus::Held,
                CheckinStatus::Rejected,
            ],
            Self::as_str,
            s,
        )
    }
}

/// Why a check-in was held, for the phone and the coordinator.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HoldView {
    pub reason: HoldReason,
    /// In Chinese, for the patroller.
    pub detail: String,
}

/// A check-in and where the walk stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckinView {
    pub id: Uuid,
    /// `paid`, or `held` for a coordinator's review (and why, in `hold`), or `rejected`.
    pub status: CheckinStatus,
    /// Set when the check-in is or was held.
    pub hold: Option<HoldView>,
    /// The day's points cap paid less than the checkpoint is worth (new check-ins only).
    pub capped: bool,
    /// True when this answer is an earlier check-in returned again (a retry, or another phone
    /// of the same user): nothing new was recorded or paid.
    pub replayed: bool,
    pub route: String,
    pub checkpoint: CheckpointRef,
    /// The window occurrence, e.g. `2026-12-01#0`.
    pub window_key: String,
    pub walk_id: Uuid,
    pub method: CheckinMethod,
    /// Metres from the geofence centre (location check-ins).
    pub distance_m: Option<f64>,
    /// Points this check-in earned: 0 while held.
    pub points: i32,
    /// Paid check-ins of the walk.
    pub progress: Progress,
    pub created_at: DateTime<Utc>,
}

fn unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

fn idem_key(user: Uuid, key: &str) -> String {
    format!("u:{user}:{key}")
}

/// The checkpoint (and its route) a proof names, or why it names none, and what kind of
/// evidence the proof is.
async fn resolve(
    state: &AppState,
    proof: &Proof,
    now: DateTime<Utc>,
) -> ApiResult<(
    patrol_checkpoints::Model,
    patrol_routes::Model,
    plausibility::Evidence,
)> {
    use plausibility::Evidence;
    let (code, evidence) = match proof {
        Proof::Scan { scanned } => {
            let signed = match state.qr.verify(&state.db, scanned).await? {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(reason = %e, "patrol scan refused");
                    return Err(ApiError::InvalidCode(format!(
                        "not a valid checkpoint code: {e}"
                    )));
                }
            };
            if let Some((code, step)) = live_qr::parse(&signed) {
                let evidence = if live_qr::is_current(step, now) {
                    Evidence::RotatingCode
                } else {
                    Evidence::StaleRotatingCode
                };
                (code.to_owned(), evidence)
            } else if let Some(code) = signed.strip_prefix(QR_PREFIX) {
                (code.to_owned(), Evidence::PrintedCode)
            } else {
                return Err(ApiError::InvalidCode(
                    "this is a building code (屋联码), not a patrol checkpoint".to_owned(),
                ));
            }
        }
        Proof::Location { checkpoint } => (checkpoint.clone(), Evidence::Location),
    };
    let c = patrol_checkpoints::Entity::find()
        .filter(patrol_checkpoints::Column::Code.eq(&code))
        .filter(patrol_checkpoints::Column::Retired.eq(false))
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("checkpoint"))?;
    let r = patrol_routes::Entity::find_by_id(c.route_id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("checkpoint"))?;
    if !r.enabled {
        return Err(ApiError::invalid(
            "checkpoint",
            "route_disabled",
            format!("route {} is disabled", r.code),
        ));
    }
    Ok((c, r, evidence))
}

/// Checks the proof against the checkpoint; the distance for a location check-in.
fn check_proof(
    new: &NewCheckin,
    c: &patrol_checkpoints::Model,
) -> ApiResult<(CheckinMethod, Option<f64>)> {
    let kind = CheckpointKind::parse(&c.kind)?;
    match (&new.proof, kind) {
        (Proof::Scan { .. }, CheckpointKind::Qr) => Ok((CheckinMethod::Scan, None)),
        (Proof::Scan { .. }, CheckpointKind::Geofence) => Err(ApiError::invalid(
            "code",
            "wrong_kind",
            format!("checkpoint {} is checked in by location", c.code),
        )),
        (Proof::Location { .. }, CheckpointKind::Qr) => Err(ApiError::invalid(
            "code",
            "required",
            format!(
                "checkpoint {} is checked in by scanning its QR code",
                c.code
            ),
        )),
        (Proof::Location { .. }, CheckpointKind::Geofence) => {
            let (Some((point, accuracy)), Some(lng), Some(lat), Some(radius)) =
                (new.point, c.lng, c.lat, c.radius_m)
            else {
                return Err(ApiError::invalid(
                    "lat",
                    "required",
                    "a location check-in needs lat, lng and accuracy",
                ));
            };
            let d = distance_m(point, [lng, lat]);
            // The phone may be up to `accuracy` metres nearer than it reports.
            if d - accuracy.min(MAX_ACCURACY_M) > f64::from(radius) {
                // No distance in the answer: a series of refusals would otherwise locate the
                // checkpoint for someone who may not see its coordinates.
                return Err(ApiError::invalid(
                    "lat",
                    "too_far",
                    format!(
                        "not at checkpoint {} ({}): outside its area, your {accuracy:.0} m accuracy allowed for",
                        c.code, c.name
                    ),
                ));
            }
            Ok((CheckinMethod::Location, Some((d * 10.0).round() / 10.0)))
        }
    }
}

async fn progress(
    db: &impl ConnectionTrait,
    route: Uuid,
    walk: Uuid,
) -> ApiResult<(Progress, Vec<patrol_checkpoints::Model>)> {
    let checkpoints = active_checkpoints(db, route).await?;
    let hit = patrol_checkins::Entity::find()
        .filter(patrol_checkins::Column::WalkId.eq(walk))
        .filter(patrol_checkins::Column::Status.eq(CheckinStatus::Paid.as_str()))
        .filter(patrol_checkins::Column::CheckpointId.is_in(checkpoints.iter().map(|c| c.id)))
        .count(db)
        .await?;
    let total = checkpoints.len() as u64;
    Ok((
        Progress {
            hit,
            total,
            complete: total > 0 && hit >= total,
        },
        checkpoints,
    ))
}

/// Checks a user in. Returns the check-in and whether it was new (false: an earlier one
/// returned again); a new one may be paid or held (its `status`).
pub async fn check_in(state: &AppState, new: NewCheckin) -> ApiResult<(CheckinView, bool)> {
    check_in_at(state, new, Utc::now()).await
}

async fn check_in_at(
    state: &AppState,
    new: NewCheckin,
    now: DateTime<Utc>,
) -> ApiResult<(CheckinView, bool)> {
    let key = idem_key(new.user, &new.key);
    // A retry gets its first answer, even once the window or the rotating code has moved on.
    if let Some(done) = replay_by_key(state, &key, &new.request_hash).await? {
        return Ok((done, false));
    }
    let (checkpoint, route, evidence) = resolve(state, &new.proof, now).await?;
    let (method, distance) = check_proof(&new, &checkpoint)?;
    let windows = stored_windows(&route.windows)?;
    let occurrence = occurrence(&windows, now);
    let in_window = occurrence.is_some();
    // Outside every window the check-in still gets a place of its own (held), one per day.
    let window_key = occurrence
        .unwrap_or_else(|| format!("{}#out", crate::points::local_day(now).format("%Y-%m-%d")));
    let street = crate::points::street_of(&state.db, route.area_code.as_deref()).await?;
    let qr_above_points = plausibility::qr_above_points(&state.db, street.as_deref()).await?;
    let judged = Judged {
        evidence,
        in_window,
        qr_above_points,
        street: street.as_deref(),
        windows: windows
            .iter()
            .map(|w| w.label())
            .collect::<Vec<_>>()
            .join("、"),
    };
    let tx = crate::db::begin_write(&state.db).await?;
    match record(
        &tx,
        &new,
        &key,
        &checkpoint,
        &route,
        &window_key,
        method,
        distance,
        now,
        &judged,
    )
    .await
    {
        Ok(view) => {
            tx.commit().await?;
            Ok((view, true))
        }
        Err(ApiError::Database(e)) if unique_violation(&e) => {
            // Another phone, a retry, or a race with either: answer with the check-in that won.
            drop(tx);
            if let Some(done) = replay_by_key(state, &key, &new.request_hash).await? {
                return Ok((done, false));
            }
            let first = patrol_checkins::Entity::find()
                .filter(patrol_checkins::Column::UserId.eq(new.user))
                .filter(patrol_checkins::Column::CheckpointId.eq(checkpoint.id))
                .filter(patrol_checkins::Column::WindowKey.eq(&window_key))
                .one(&state.db)
                .await?
                .ok_or(ApiError::Database(e))?;
            Ok((view_of(&state.db, first, true).await?, false))
        }
        Err(e) => Err(e),
    }
}

/// What the plausibility checks of one check-in need besides the walk.
struct Judged<'a> {
    evidence: plausibility::Evidence,
    in_window: bool,
    qr_above_points: i32,
    street: Option<&'a str>,
    /// The route's windows as the patroller is told them.
    windows: String,
}

/// Where a check-in proved its patroller was. A scanned code proves the plate's place, not
/// whatever position the phone adds to it (a phone at home would send the same spot with every
/// photographed code, and never be too fast): a scan counts at its checkpoint when the
/// checkpoint has a place, a location check-in at the reported fix.
fn proven_point(
    scanned: bool,
    reported: Option<(Coord, f64)>,
    checkpoint: Option<&patrol_checkpoints::Model>,
) -> Option<(Coord, f64)> {
    let placed = checkpoint
        .and_then(|c| c.lng.zip(c.lat))
        .map(|(lng, lat)| ([lng, lat], 0.0));
    if scanned {
        placed.or(reported)
    } else {
        reported.or(placed)
    }
}

/// Where a stored check-in proved its patroller was ([`proven_point`]).
fn fix_of(
    row: &patrol_checkins::Model,
    checkpoint: Option<&patrol_checkpoints::Model>,
) -> plausibility::Fix {
    let reported = row
        .lng
        .zip(row.lat)
        .map(|(lng, lat)| ([lng, lat], row.accuracy_m.unwrap_or(0.0)));
    plausibility::Fix {
        at: row.created_at,
        point: proven_point(row.method != "location", reported, checkpoint),
    }
}

#[allow(clippy::too_many_arguments)]
async fn record(
    tx: &impl ConnectionTrait,
    new: &NewCheckin,
    key: &str,
    checkpoint: &patrol_checkpoints::Model,
    route: &patrol_routes::Model,
    window_key: &str,
    method: CheckinMethod,
    distance: Option<f64>,
    now: DateTime<Utc>,
    judged: &Judged<'_>,
) -> ApiResult<CheckinView> {
    patrol_walks::Entity::insert(patrol_walks::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(new.user),
        route_id: Set(route.id),
        window_key: Set(window_key.to_owned()),
        started_at: Set(now),
        completed_at: Set(None),
    })
    .on_conflict_do_nothing_on([
        patrol_walks::Column::UserId,
        patrol_walks::Column::RouteId,
        patrol_walks::Column::WindowKey,
    ])
    .exec(tx)
    .await?;
    // Locked so that two check-ins of one walk (two phones, the last two checkpoints) are
    // counted one after the other and the walk is marked complete by whichever comes second;
    // the speed check below also sees the walk's previous check-in.
    let walk = patrol_walks::Entity::find()
        .filter(patrol_walks::Column::UserId.eq(new.user))
        .filter(patrol_walks::Column::RouteId.eq(route.id))
        .filter(patrol_walks::Column::WindowKey.eq(window_key))
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("walk row missing after insert")))?;
    let previous = patrol_checkins::Entity::find()
        .filter(patrol_checkins::Column::WalkId.eq(walk.id))
        .order_by_desc(patrol_checkins::Column::CreatedAt)
        .one(tx)
        .await?;
    let previous_fix = match &previous {
        Some(p) => {
            let at = patrol_checkpoints::Entity::find_by_id(p.checkpoint_id)
                .one(tx)
                .await?;
            Some(fix_of(p, at.as_ref()))
        }
        None => None,
    };
    let hold = plausibility::judge(&plausibility::Facts {
        evidence: judged.evidence,
        checkpoint_points: checkpoint.points,
        qr_above_points: judged.qr_above_points,
        in_window: judged.in_window,
        now: plausibility::Fix {
            at: now,
            point: proven_point(method == CheckinMethod::Scan, new.point, Some(checkpoint)),
        },
        previous: previous_fix,
    })
    .map(|mut h| {
        if h.reason == HoldReason::OutsideWindow {
            h.detail = format!(
                "路线 {} 的巡防时段为 {}（北京时间），现在不在时段内；已提交协调员审核",
                route.code, judged.windows
            );
        }
        h
    });
    let credit = match hold {
        None => pay(tx, new.user, checkpoint, window_key, judged.street).await?,
        Some(_) => crate::points::Credit {
            paid: 0,
            capped: false,
            fresh: true,
        },
    };
    let status = if hold.is_some() {
        CheckinStatus::Held
    } else {
        CheckinStatus::Paid
    };
    let id = Uuid::now_v7();
    let row = patrol_checkins::ActiveModel {
        id: Set(id),
        idem_key: Set(key.to_owned()),
        request_hash: Set(new.request_hash.clone()),
        user_id: Set(new.user),
        route_id: Set(route.id),
        checkpoint_id: Set(checkpoint.id),
        walk_id: Set(walk.id),
        window_key: Set(window_key.to_owned()),
        method: Set(method_str(method).to_owned()),
        lng: Set(new.point.map(|(p, _)| p[0])),
        lat: Set(new.point.map(|(p, _)| p[1])),
        accuracy_m: Set(new.point.map(|(_, a)| a)),
        distance_m: Set(distance),
        points: Set(credit.paid),
        created_at: Set(now),
        status: Set(status.as_str().to_owned()),
        hold_reason: Set(hold.as_ref().map(|h| h.reason.as_str().to_owned())),
        hold_detail: Set(hold.as_ref().map(|h| h.detail.clone())),
        reviewed_by: Set(None),
        reviewed_at: Set(None),
    }
    .insert(tx)
    .await?;
    if hold.is_some() {
        tracing::info!(checkin = %row.id, reason = ?hold.as_ref().map(|h| h.reason), "patrol check-in held for review");
    }
    let progress = complete_walk(tx, route.id, &walk, now).await?;
    Ok(CheckinView {
        id: row.id,
        status,
        hold: hold.map(|h| HoldView {
            reason: h.reason,
            detail: h.detail,
        }),
        capped: credit.capped,
        replayed: false,
        route: route.code.clone(),
        checkpoint: CheckpointRef {
            id: checkpoint.id,
            code: checkpoint.code.clone(),
            name: checkpoint.name.clone(),
        },
        window_key: row.window_key,
        walk_id: walk.id,
        method,
        distance_m: row.distance_m,
        points: row.points,
        progress,
        created_at: row.created_at,
    })
}

/// Pays a checkpoint's points for a check-in, through the ledger's daily cap.
async fn pay(
    tx: &impl ConnectionTrait,
    user: Uuid,
    checkpoint: &patrol_checkpoints::Model,
    window_key: &str,
    street: Option<&str>,
) -> ApiResult<crate::points::Credit> {
    if checkpoint.points <= 0 {
        return Ok(crate::points::Credit {
            paid: 0,
            capped: false,
            fresh: true,
        });
    }
    crate::points::earn(
        tx,
        crate::points::Earning {
            user,
            source_kind: POINTS_SOURCE,
            source_id: &format!("{}:{window_key}", checkpoint.id),
            amount: checkpoint.points,
            note: Some(&format!("巡防打卡：{}", checkpoint.name)),
            street,
        },
    )
    .await
}

/// The walk's progress, marking it complete when every checkpoint has a paid check-in.
async fn complete_walk(
    tx: &impl ConnectionTrait,
    route: Uuid,
    walk: &patrol_walks::Model,
    now: DateTime<Utc>,
) -> ApiResult<Progress> {
    let (progress, _) = progress(tx, route, walk.id).await?;
    if progress.complete && walk.completed_at.is_none() {
        patrol_walks::Entity::update_many()
            .col_expr(patrol_walks::Column::CompletedAt, Expr::value(now))
            .filter(patrol_walks::Column::Id.eq(walk.id))
            .filter(patrol_walks::Column::CompletedAt.is_null())
            .exec(tx)
            .await?;
    }
    Ok(progress)
}

fn method_str(m: CheckinMethod) -> &'static str {
    match m {
        CheckinMethod::Scan => "scan",
        CheckinMethod::Location => "location",
    }
}

async fn replay_by_key(state: &AppState, key: &str, hash: &str) -> ApiResult<Option<CheckinView>> {
    let Some(earlier) = patrol_checkins::Entity::find()
        .filter(patrol_checkins::Column::IdemKey.eq(key))
        .one(&state.db)
        .await?
    else {
        return Ok(None);
    };
    crate::extract::same_request(&earlier.request_hash, hash, "check-in")?;
    Ok(Some(view_of(&state.db, earlier, true).await?))
}

pub(crate) async fn view_of(
    db: &impl ConnectionTrait,
    row: patrol_checkins::Model,
    replayed: bool,
) -> ApiResult<CheckinView> {
    let checkpoint = patrol_checkpoints::Entity::find_by_id(row.checkpoint_id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("checkpoint"))?;
    let route = patrol_routes::Entity::find_by_id(row.route_id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("patrol route"))?;
    let (progress, _) = progress(db, row.route_id, row.walk_id).await?;
    let hold = match (&row.hold_reason, &row.hold_detail) {
        (Some(reason), detail) => Some(HoldView {
            reason: HoldReason::parse(reason)?,
            detail: detail.clone().unwrap_or_default(),
        }),
        (None, _) => None,
    };
    Ok(CheckinView {
        id: row.id,
        status: CheckinStatus::parse(&row.status)?,
        hold,
        capped: false,
        replayed,
        route: route.code,
        checkpoint: CheckpointRef {
            id: checkpoint.id,
            code: checkpoint.code,
            name: checkpoint.name,
        },
        window_key: row.window_key,
        walk_id: row.walk_id,
        method: if row.method == "location" {
            CheckinMethod::Location
        } else {
            CheckinMethod::Scan
        },
        distance_m: row.distance_m,
        points: row.points,
        progress,
        created_at: row.created_at,
    })
}

/// The caller's own check-in, or 404 (also for other users' check-ins).
pub async fn own_checkin(
    db: &impl ConnectionTrait,
    user: Uuid,
    id: Uuid,
) -> ApiResult<(patrol_checkins::Model, patrol_checkpoints::Model)> {
    let row = patrol_checkins::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|c| c.user_id == user)
        .ok_or(ApiError::NotFound("check-in"))?;
    let checkpoint = patrol_checkpoints::Entity::find_by_id(row.checkpoint_id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("check-in"))?;
    Ok((row, checkpoint))
}

/// Where a finding at a check-in is placed: the checkpoint's own point (a geofence's centre, a
/// QR plate's position when known), else where the patroller stood.
pub fn finding_point(
    checkin: &patrol_checkins::Model,
    checkpoint: &patrol_checkpoints::Model,
) -> Option<Coord> {
    checkpoint
        .lng
        .zip(checkpoint.lat)
        .or(checkin.lng.zip(checkin.lat))
        .map(|(lng, lat)| [lng, lat])
}

// ---------------------------------------------------------------------------------------------
// Walks

/// A walk: one user's check-ins on one route in one window occurrence.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WalkView {
    pub id: Uuid,
    pub route: String,
    pub route_name: String,
    pub window_key: String,
    pub progress: Progress,
    /// Codes of the checkpoints hit, in walking order.
    pub hit: Vec<String>,
    pub started_at: DateTime<Utc>,
    /// When the last checkpoint was hit.
    pub completed_at: Option<DateTime<Utc>>,
}

/// The user's walks, newest first.
pub async fn walks(
    db: &DatabaseConnection,
    user: Uuid,
    page: PageRequest,
) -> ApiResult<Page<WalkView>> {
    let mut q = patrol_walks::Entity::find()
        .filter(patrol_walks::Column::UserId.eq(user))
        .order_by_desc(patrol_walks::Column::Id);
    if let Some(after) = page.after {
        q = q.filter(patrol_walks::Column::Id.lt(after));
    }
    let rows = q.limit(page.fetch()).all(db).await?;
    let rows = Page::from_rows(rows, &page, |w| w.id);
    let route_ids: BTreeSet<Uuid> = rows.items.iter().map(|w| w.route_id).collect();
    let routes: HashMap<Uuid, patrol_routes::Model> = patrol_routes::Entity::find()
        .filter(patrol_routes::Column::Id.is_in(route_ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    let mut checkpoints: HashMap<Uuid, Vec<patrol_checkpoints::Model>> = HashMap::new();
    for c in patrol_checkpoints::Entity::find()
        .filter(patrol_checkpoints::Column::RouteId.is_in(route_ids))
        .filter(patrol_checkpoints::Column::Retired.eq(false))
        .order_by_asc(patrol_checkpoints::Column::Position)
        .all(db)
        .await?
    {
        checkpoints.entry(c.route_id).or_default().push(c);
    }
    let mut hits: HashMap<Uuid, BTreeSet<Uuid>> = HashMap::new();
    for (walk, checkpoint) in patrol_checkins::Entity::find()
        .select_only()
        .column(patrol_checkins::Column::WalkId)
        .column(patrol_checkins::Column::CheckpointId)
        .filter(patrol_checkins::Column::WalkId.is_in(rows.items.iter().map(|w| w.id)))
        .filter(patrol_checkins::Column::Status.eq(CheckinStatus::Paid.as_str()))
        .into_tuple::<(Uuid, Uuid)>()
        .all(db)
        .await?
    {
        hits.entry(walk).or_default().insert(checkpoint);
    }
    let items = rows
        .items
        .into_iter()
        .map(|w| {
            let route = routes.get(&w.route_id);
            let cps = checkpoints
                .get(&w.route_id)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let done = hits.remove(&w.id).unwrap_or_default();
            let hit: Vec<String> = cps
                .iter()
                .filter(|c| done.contains(&c.id))
                .map(|c| c.code.clone())
                .collect();
            let total = cps.len() as u64;
            WalkView {
                id: w.id,
                route: route.map(|r| r.code.clone()).unwrap_or_default(),
                route_name: route.map(|r| r.name.clone()).unwrap_or_default(),
                window_key: w.window_key,
                progress: Progress {
                    hit: hit.len() as u64,
                    total,
                    complete: total > 0 && hit.len() as u64 >= total,
                },
                hit,
                started_at: w.started_at,
                completed_at: w.completed_at,
            }
        })
        .collect();
    Ok(Page {
        items,
        next_cursor: rows.next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(start: &str, end: &str) -> WindowBody {
        WindowBody {
            start: start.into(),
            end: end.into(),
        }
    }

    fn at(local: &str) -> DateTime<Utc> {
        match DateTime::parse_from_rfc3339(&format!("{local}+08:00")) {
            Ok(t) => t.with_timezone(&Utc),
            Err(e) => panic!("{local}: {e}"),
        }
    }

    #[test]
    fn windows_name_their_occurrence_by_the_date_they_opened() {
        let mut errors = Vec::new();
        let windows = parse_windows(&[w("07:00", "08:30"), w("22:00", "02:00")], &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let key = |t: &str| occurrence(&windows, at(t));
        assert_eq!(key("2026-12-01T07:00:00").as_deref(), Some("2026-12-01#0"));
        assert_eq!(key("2026-12-01T08:29:59").as_deref(), Some("2026-12-01#0"));
        assert_eq!(key("2026-12-01T08:30:00"), None, "end is exclusive");
        assert_eq!(key("2026-12-01T23:10:00").as_deref(), Some("2026-12-01#1"));
        assert_eq!(key("2026-12-02T01:59:00").as_deref(), Some("2026-12-01#1"));
        assert_eq!(key("2026-12-02T02:00:00"), None);
        assert_eq!(key("2026-12-01T12:00:00"), None);
        // 23:30 UTC is 07:30 next morning in Shanghai.
        let utc = DateTime::parse_from_rfc3339("2026-12-01T23:30:00Z")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        assert_eq!(
            utc.and_then(|t| occurrence(&windows, t)).as_deref(),
            Some("2026-12-02#0")
        );
    }

    #[test]
    fn bad_windows_are_named() {
        let rules = |body: &[WindowBody]| {
            let mut errors = Vec::new();
            parse_windows(body, &mut errors);
            errors
                .into_iter()
                .map(|e| (e.field, e.rule))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            rules(&[w("7:00", "24:00")]),
            [
                ("windows[0].start".to_owned(), "time".to_owned()),
                ("windows[0].end".to_owned(), "time".to_owned())
            ]
        );
        assert_eq!(
            rules(&[w("19:00", "19:00")]),
            [("windows[0].end".to_owned(), "empty_window".to_owned())]
        );
        assert_eq!(
            rules(&[w("22:00", "02:00"), w("01:00", "03:00")]),
            [("windows[1]".to_owned(), "overlap".to_owned())]
        );
        assert_eq!(rules(&[]), [("windows".to_owned(), "count".to_owned())]);
        assert!(rules(&[w("00:00", "00:00")]).len() == 1);
        assert!(rules(&[w("21:00", "00:00"), w("00:00", "01:00")]).is_empty());
    }
}
