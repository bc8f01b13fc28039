//! Walks: one user's check-ins on one route in one window occurrence, and how far each got.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::routes::active_checkpoints;
use super::status::CheckinStatus;
use crate::entities::{patrol_checkins, patrol_checkpoints, patrol_routes, patrol_walks};
use crate::error::ApiResult;
use crate::pagination::{Page, PageRequest};

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

pub(super) async fn progress(
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

/// The walk's progress, marking it complete when every checkpoint has a paid check-in.
pub(super) async fn complete_walk(
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
