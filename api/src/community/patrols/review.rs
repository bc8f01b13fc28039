//! The coordinators' queue of held check-ins: each waits with the reason it was held; approving
//! pays it (through the ledger's daily cap, on the day of approval) and counts it in its walk,
//! rejecting closes it unpaid. Each is decided once.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{CheckinStatus, CheckinView, HoldReason};
use crate::entities::{patrol_checkins, patrol_checkpoints, patrol_routes, patrol_walks};
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, PageRequest};

/// A held check-in as the queue shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HeldCheckin {
    pub id: Uuid,
    pub user_id: Uuid,
    pub route: String,
    pub checkpoint: String,
    pub checkpoint_name: String,
    /// What the checkpoint pays when approved.
    pub checkpoint_points: i32,
    pub window_key: String,
    pub reason: HoldReason,
    pub detail: String,
    /// The reported fix (WGS84), when it was a location check-in.
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub accuracy_m: Option<f64>,
    pub created_at: DateTime<Utc>,
}

/// Held check-ins, oldest first.
pub async fn held(db: &DatabaseConnection, page: PageRequest) -> ApiResult<Page<HeldCheckin>> {
    let mut q = patrol_checkins::Entity::find()
        .filter(patrol_checkins::Column::Status.eq(CheckinStatus::Held.as_str()))
        .order_by_asc(patrol_checkins::Column::Id);
    if let Some(after) = page.after {
        q = q.filter(patrol_checkins::Column::Id.gt(after));
    }
    let rows = q.limit(page.fetch()).all(db).await?;
    let rows = Page::from_rows(rows, &page, |r| r.id);
    let mut items = Vec::with_capacity(rows.items.len());
    for r in rows.items {
        let checkpoint = patrol_checkpoints::Entity::find_by_id(r.checkpoint_id)
            .one(db)
            .await?
            .ok_or(ApiError::NotFound("checkpoint"))?;
        let route = patrol_routes::Entity::find_by_id(r.route_id)
            .one(db)
            .await?
            .ok_or(ApiError::NotFound("patrol route"))?;
        let reason = r.hold_reason.as_deref().ok_or_else(|| {
            ApiError::Unexpected(anyhow::anyhow!("held check-in {} has no reason", r.id))
        })?;
        items.push(HeldCheckin {
            id: r.id,
            user_id: r.user_id,
            route: route.code,
            checkpoint: checkpoint.code,
            checkpoint_name: checkpoint.name,
            checkpoint_points: checkpoint.points,
            window_key: r.window_key,
            reason: HoldReason::parse(reason)?,
            detail: r.hold_detail.unwrap_or_default(),
            lat: r.lat,
            lng: r.lng,
            accuracy_m: r.accuracy_m,
            created_at: r.created_at,
        });
    }
    Ok(Page {
        items,
        next_cursor: rows.next_cursor,
    })
}

/// A coordinator's decision on a held check-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Pay it: the patroller was there.
    Approve,
    /// Close it unpaid.
    Reject,
}

/// Decides a held check-in once; 409 when it is not held (any more).
pub async fn decide(
    db: &DatabaseConnection,
    id: Uuid,
    by: Uuid,
    decision: Decision,
) -> ApiResult<CheckinView> {
    let now = Utc::now();
    let tx = crate::db::begin_write(db).await?;
    let row = patrol_checkins::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&tx)
        .await?
        .ok_or(ApiError::NotFound("check-in"))?;
    if row.status != CheckinStatus::Held.as_str() {
        return Err(ApiError::Conflict {
            field: Some("decision"),
            detail: format!("check-in {id} is {} and no longer held", row.status),
        });
    }
    let mut paid = 0;
    let status = match decision {
        Decision::Approve => {
            let checkpoint = patrol_checkpoints::Entity::find_by_id(row.checkpoint_id)
                .one(&tx)
                .await?
                .ok_or(ApiError::NotFound("checkpoint"))?;
            let route = patrol_routes::Entity::find_by_id(row.route_id)
                .one(&tx)
                .await?
                .ok_or(ApiError::NotFound("patrol route"))?;
            let street = crate::points::street_of(&tx, route.area_code.as_deref()).await?;
            paid = super::checkins::pay(
                &tx,
                row.user_id,
                &checkpoint,
                &row.window_key,
                street.as_deref(),
            )
            .await?
            .paid;
            CheckinStatus::Paid
        }
        Decision::Reject => CheckinStatus::Rejected,
    };
    let walk_id = row.walk_id;
    let route_id = row.route_id;
    let mut active: patrol_checkins::ActiveModel = row.into();
    active.status = Set(status.as_str().to_owned());
    active.points = Set(paid);
    active.reviewed_by = Set(Some(by));
    active.reviewed_at = Set(Some(now));
    let row = active.update(&tx).await?;
    if status == CheckinStatus::Paid {
        complete(&tx, route_id, walk_id, now).await?;
    }
    let view = super::checkins::view_of(&tx, row, false).await?;
    tx.commit().await?;
    Ok(view)
}

async fn complete(
    tx: &impl ConnectionTrait,
    route: Uuid,
    walk: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let walk = patrol_walks::Entity::find_by_id(walk)
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or(ApiError::NotFound("walk"))?;
    super::walks::complete_walk(tx, route, &walk, now).await?;
    Ok(())
}
