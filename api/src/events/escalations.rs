//! A late task's escalations as the command centre reads them (亮灯督办): each light the sweeper
//! put on it, where it went up to and who was mailed, by name and address. The timeline keeps
//! the same lights for everyone who sees the event, naming the people mailed only by account id.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::entities::{timeline, users};
use crate::error::ApiResult;

/// One light on a task: when, which, the deadlines it missed, where it went, who was mailed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Escalation {
    pub at: DateTime<Utc>,
    pub task_id: Option<Uuid>,
    /// `yellow` or `red`.
    pub light: String,
    /// The deadlines missed: `sign`, `arrive`, `handle` (or `accept`, `dispatch`).
    pub missed: Vec<String>,
    /// The area the task was escalated to (the grid's community on yellow, the street on red).
    pub escalated_to: Option<String>,
    /// Those mailed about it; null for lights recorded before recipients were kept.
    pub mailed: Option<Vec<Recipient>>,
}

/// Someone mailed about a light.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recipient {
    pub user_id: Uuid,
    /// Null when the account no longer exists.
    pub name: Option<String>,
    /// The address the mail went to, as the account has it now.
    pub email: Option<String>,
}

/// What the sweeper writes into a `light` step (api/src/events/sweeper.rs).
#[derive(Debug, Deserialize)]
struct LightDetail {
    light: String,
    missed: Vec<String>,
    escalated_to: Option<String>,
    mailed: Option<Vec<Uuid>>,
}

/// An event's lights, oldest first.
pub async fn of_event(db: &impl ConnectionTrait, event: Uuid) -> ApiResult<Vec<Escalation>> {
    let rows = timeline::Entity::find()
        .filter(timeline::Column::EventId.eq(event))
        .filter(timeline::Column::Action.eq("light"))
        .order_by_asc(timeline::Column::Id)
        .all(db)
        .await?;
    let mut lights = Vec::with_capacity(rows.len());
    for row in rows {
        let d: LightDetail = crate::stored::json("light step detail", &row.detail)?;
        lights.push((row.at, row.task_id, d));
    }
    let ids: Vec<Uuid> = lights
        .iter()
        .flat_map(|(_, _, d)| d.mailed.iter().flatten().copied())
        .collect();
    let people: HashMap<Uuid, users::Model> = if ids.is_empty() {
        HashMap::new()
    } else {
        users::Entity::find()
            .filter(users::Column::Id.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect()
    };
    Ok(lights
        .into_iter()
        .map(|(at, task_id, d)| Escalation {
            at,
            task_id,
            light: d.light,
            missed: d.missed,
            escalated_to: d.escalated_to,
            mailed: d.mailed.map(|ids| {
                ids.into_iter()
                    .map(|id| {
                        let u = people.get(&id);
                        Recipient {
                            user_id: id,
                            name: u.map(|u| u.name.clone()),
                            email: u.and_then(|u| u.email.clone()),
                        }
                    })
                    .collect()
            }),
        })
        .collect())
}
