//! Checking in at a checkpoint: the proof (a scanned plate or rotating code, or a location inside
//! the geofence), the window occurrence it counts in, the one check-in per (user, checkpoint,
//! occurrence), and whether it is paid through the ledger or held for a coordinator.

use chrono::{DateTime, Utc};
use places::geometry::{Coord, distance_m};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::routes::{CheckpointKind, QR_PREFIX};
use super::status::CheckinStatus;
use super::walks::{Progress, complete_walk, progress};
use super::windows::{occurrence, stored_windows};
use super::{HoldReason, MAX_ACCURACY_M, live_qr, plausibility};
use crate::entities::{patrol_checkins, patrol_checkpoints, patrol_routes, patrol_walks};
use crate::error::{ApiError, ApiResult};
use crate::places::qr_keys::QrKeys;

/// The points source kind in the ledger.
pub const POINTS_SOURCE: &str = "patrol";

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

/// A checkpoint as a check-in names it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckpointRef {
    pub id: Uuid,
    pub code: String,
    pub name: String,
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
    db: &DatabaseConnection,
    qr: &QrKeys,
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
            let signed = match qr.verify(db, scanned).await? {
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
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("checkpoint"))?;
    let r = patrol_routes::Entity::find_by_id(c.route_id)
        .one(db)
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

/// Checks a user in. Returns the check-in and whether it was new (false: an earlier one
/// returned again); a new one may be paid or held (its `status`).
pub async fn check_in(
    db: &DatabaseConnection,
    qr: &QrKeys,
    new: NewCheckin,
) -> ApiResult<(CheckinView, bool)> {
    check_in_at(db, qr, new, Utc::now()).await
}

async fn check_in_at(
    db: &DatabaseConnection,
    qr: &QrKeys,
    new: NewCheckin,
    now: DateTime<Utc>,
) -> ApiResult<(CheckinView, bool)> {
    let key = idem_key(new.user, &new.key);
    // A retry gets its first answer, even once the window or the rotating code has moved on.
    if let Some(done) = replay_by_key(db, &key, &new.request_hash).await? {
        return Ok((done, false));
    }
    let (checkpoint, route, evidence) = resolve(db, qr, &new.proof, now).await?;
    let (method, distance) = check_proof(&new, &checkpoint)?;
    let windows = stored_windows(&route.windows)?;
    let occurrence = occurrence(&windows, now);
    let in_window = occurrence.is_some();
    // Outside every window the check-in still gets a place of its own (held), one per day.
    let window_key = occurrence
        .unwrap_or_else(|| format!("{}#out", crate::points::local_day(now).format("%Y-%m-%d")));
    let street = crate::points::street_of(db, route.area_code.as_deref()).await?;
    let qr_above_points = plausibility::qr_above_points(db, street.as_deref()).await?;
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
    let tx = crate::db::begin_write(db).await?;
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
            if let Some(done) = replay_by_key(db, &key, &new.request_hash).await? {
                return Ok((done, false));
            }
            let first = patrol_checkins::Entity::find()
                .filter(patrol_checkins::Column::UserId.eq(new.user))
                .filter(patrol_checkins::Column::CheckpointId.eq(checkpoint.id))
                .filter(patrol_checkins::Column::WindowKey.eq(&window_key))
                .one(db)
                .await?
                .ok_or(ApiError::Database(e))?;
            Ok((view_of(db, first, true).await?, false))
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
pub(super) async fn pay(
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

fn method_str(m: CheckinMethod) -> &'static str {
    match m {
        CheckinMethod::Scan => "scan",
        CheckinMethod::Location => "location",
    }
}

async fn replay_by_key(
    db: &impl ConnectionTrait,
    key: &str,
    hash: &str,
) -> ApiResult<Option<CheckinView>> {
    let Some(earlier) = patrol_checkins::Entity::find()
        .filter(patrol_checkins::Column::IdemKey.eq(key))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    crate::extract::same_request(&earlier.request_hash, hash, "check-in")?;
    Ok(Some(view_of(db, earlier, true).await?))
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
