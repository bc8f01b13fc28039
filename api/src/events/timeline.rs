//! The append-only timeline of an event: every move, recolouring, light and merge, with who made
//! it and when. Rows are only ever inserted.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::flow::Status;
use crate::entities::timeline;
use crate::error::ApiResult;
use crate::stored::{self, Corrupt};

/// Who made a step.
#[derive(Debug, Clone, Copy)]
pub struct ActorRef {
    kind: &'static str,
    id: Option<Uuid>,
}

impl ActorRef {
    pub fn user(id: Uuid) -> Self {
        Self {
            kind: "user",
            id: Some(id),
        }
    }
    pub fn machine(key_id: Uuid) -> Self {
        Self {
            kind: "machine",
            id: Some(key_id),
        }
    }
    pub fn system() -> Self {
        Self {
            kind: "system",
            id: None,
        }
    }
}

/// One step to append.
pub struct Step {
    event: Uuid,
    task: Option<Uuid>,
    actor: ActorRef,
    action: &'static str,
    from: Option<Status>,
    to: Option<Status>,
    detail: serde_json::Value,
}

impl Step {
    pub fn new(event: Uuid, actor: ActorRef, action: &'static str) -> Self {
        Self {
            event,
            task: None,
            actor,
            action,
            from: None,
            to: None,
            detail: serde_json::json!({}),
        }
    }
    pub fn task(mut self, task: Uuid) -> Self {
        self.task = Some(task);
        self
    }
    pub fn from(mut self, s: Status) -> Self {
        self.from = Some(s);
        self
    }
    pub fn to(mut self, s: Status) -> Self {
        self.to = Some(s);
        self
    }
    pub fn detail(mut self, d: serde_json::Value) -> Self {
        self.detail = d;
        self
    }

    /// Writes the step inside the caller's transaction.
    pub async fn append(self, db: &impl ConnectionTrait) -> ApiResult<()> {
        self.row().insert(db).await?;
        Ok(())
    }

    /// Writes several steps in one statement, in order.
    pub async fn append_all(steps: Vec<Step>, db: &impl ConnectionTrait) -> ApiResult<()> {
        timeline::Entity::insert_many(steps.into_iter().map(Step::row))
            .exec(db)
            .await?;
        Ok(())
    }

    /// The rows of several steps, in order, not yet written.
    pub fn rows(steps: Vec<Step>) -> Vec<timeline::ActiveModel> {
        steps.into_iter().map(Step::row).collect()
    }

    fn row(self) -> timeline::ActiveModel {
        timeline::ActiveModel {
            id: Set(Uuid::now_v7()),
            event_id: Set(self.event),
            task_id: Set(self.task),
            actor_kind: Set(self.actor.kind.to_owned()),
            actor_id: Set(self.actor.id),
            action: Set(self.action.to_owned()),
            from_status: Set(self.from.map(|s| s.as_str().to_owned())),
            to_status: Set(self.to.map(|s| s.as_str().to_owned())),
            detail: Set(self.detail.to_string()),
            at: Set(Utc::now()),
        }
    }
}

/// A step as clients see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    /// `user`, `machine` or `system`.
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    /// `report`, `accept`, `dispatch`, `sign`, … `light`, `recolour`, `merge`.
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// An event's steps, oldest first.
pub async fn of_event(db: &impl ConnectionTrait, event: Uuid) -> ApiResult<Vec<TimelineEntry>> {
    Ok(timeline::Entity::find()
        .filter(timeline::Column::EventId.eq(event))
        .order_by_asc(timeline::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|t| {
            Ok(TimelineEntry {
                at: t.at,
                actor_kind: t.actor_kind,
                actor_id: t.actor_id,
                action: t.action,
                from_status: t.from_status,
                to_status: t.to_status,
                detail: stored::json("timeline detail", &t.detail)?,
            })
        })
        .collect::<Result<_, Corrupt>>()?)
}
