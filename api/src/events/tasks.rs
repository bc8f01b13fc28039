//! A task's rows: an event's open task, a new one with its deadlines, closing one. Intake opens
//! the first task of a report; moves close it and open the next.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use super::catalogue::{Colour, Limits};
use crate::entities::tasks;
use crate::error::ApiResult;

/// The task of an event that is with a grid or team now, if any.
pub async fn open_task(db: &impl ConnectionTrait, event: Uuid) -> ApiResult<Option<tasks::Model>> {
    Ok(tasks::Entity::find()
        .filter(tasks::Column::EventId.eq(event))
        .filter(tasks::Column::Open.eq(true))
        .order_by_desc(tasks::Column::Id)
        .one(db)
        .await?)
}

/// Opens a task with the deadlines of the colour's policy for the street.
pub async fn open_task_for(
    db: &impl ConnectionTrait,
    event: Uuid,
    kind: &str,
    code: &str,
    colour: Colour,
    limits: Limits,
    now: DateTime<Utc>,
) -> ApiResult<tasks::Model> {
    Ok(task_row(event, kind, code, colour, limits, now)
        .insert(db)
        .await?)
}

/// A new open task of an event, not yet written.
pub fn task_row(
    event: Uuid,
    kind: &str,
    code: &str,
    colour: Colour,
    limits: Limits,
    now: DateTime<Utc>,
) -> tasks::ActiveModel {
    let dues = limits.dues_from(now);
    let id = Uuid::now_v7();
    tasks::ActiveModel {
        id: Set(id),
        event_id: Set(event),
        assignee_kind: Set(kind.to_owned()),
        assignee_code: Set(code.to_owned()),
        open: Set(true),
        colour: Set(colour.as_str().to_owned()),
        sign_due: Set(dues.sign),
        arrive_due: Set(dues.arrive),
        handle_due: Set(dues.handle),
        signed_at: Set(None),
        arrived_at: Set(None),
        handled_at: Set(None),
        light: Set("none".to_owned()),
        escalated_to: Set(None),
        feedback: Set(None),
        on_site_note: Set(None),
        created_at: Set(now),
        closed_at: Set(None),
    }
}

/// Closes a task: the event has left its holder.
pub async fn close(
    db: &impl ConnectionTrait,
    task: &tasks::Model,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let mut t: tasks::ActiveModel = task.clone().into();
    t.open = Set(false);
    t.closed_at = Set(Some(now));
    t.update(db).await?;
    Ok(())
}
