//! Who may see an event, and in which capacity a caller acts on it. Object-level rules live here
//! once: a worker of grid A asking for grid B's event gets 404, exactly as for a missing one.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::flow::{Actor, Move};
use crate::accounts::{self, AreaKind, AreaRef};
use crate::auth::principal::CurrentUser;
use crate::auth::roles::Role;
use crate::entities::{events, tasks};
use crate::error::{ApiError, ApiResult};
use crate::places::areas::serves;
use crate::state::AppState;

/// The command centre sees and steers every event.
pub fn is_command_centre(user: &CurrentUser) -> bool {
    user.has(Role::Dispatcher) || user.has(Role::Admin)
}

/// The task of an event that is with a grid or team now, if any.
pub async fn open_task(db: &impl ConnectionTrait, event: Uuid) -> ApiResult<Option<tasks::Model>> {
    Ok(tasks::Entity::find()
        .filter(tasks::Column::EventId.eq(event))
        .filter(tasks::Column::Open.eq(true))
        .order_by_desc(tasks::Column::Id)
        .one(db)
        .await?)
}

/// Whether the user works for the grid or team a task is with.
pub fn works_on(
    state: &AppState,
    user: &CurrentUser,
    areas: &[AreaRef],
    task: &tasks::Model,
) -> bool {
    match task.assignee_kind.as_str() {
        "grid" => {
            user.has(Role::GridWorker) && serves(&state.places.get(), areas, &task.assignee_code)
        }
        "team" => {
            user.has(Role::TeamMember)
                && areas
                    .iter()
                    .any(|a| a.kind == AreaKind::Team && a.code == task.assignee_code)
        }
        _ => false,
    }
}

/// Whether the user may see the event at all.
pub fn sees(
    state: &AppState,
    user: &CurrentUser,
    areas: &[AreaRef],
    event: &events::Model,
    task: Option<&tasks::Model>,
) -> bool {
    is_command_centre(user)
        || event.reporter_id == Some(user.id)
        || task.is_some_and(|t| works_on(state, user, areas, t))
        || (user.has(Role::GridWorker)
            && event
                .grid_code
                .as_deref()
                .is_some_and(|g| serves(&state.places.get(), areas, g)))
}

/// The event, if the user may see it; 404 otherwise (the two look the same).
pub async fn visible_event(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
) -> ApiResult<(events::Model, Option<tasks::Model>, Vec<AreaRef>)> {
    visible_event_in(state, &state.db, user, id).await
}

/// [`visible_event`], read through `db` (a transaction that is about to change the event).
pub async fn visible_event_in(
    state: &AppState,
    db: &impl ConnectionTrait,
    user: &CurrentUser,
    id: Uuid,
) -> ApiResult<(events::Model, Option<tasks::Model>, Vec<AreaRef>)> {
    let event = events::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("event"))?;
    let task = open_task(db, id).await?;
    let areas = accounts::areas_of(db, user.id).await?;
    if sees(state, user, &areas, &event, task.as_ref()) {
        Ok((event, task, areas))
    } else {
        Err(ApiError::NotFound("event"))
    }
}

/// For other modules (photos): whether the user may see this event.
pub async fn may_see_event(
    state: &AppState,
    user: &CurrentUser,
    event_id: Uuid,
) -> ApiResult<bool> {
    match visible_event(state, user, event_id).await {
        Ok(_) => Ok(true),
        Err(ApiError::NotFound(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The capacity in which the user makes this move; the state machine decides if it may.
pub fn actor_for(
    state: &AppState,
    user: &CurrentUser,
    areas: &[AreaRef],
    event: &events::Model,
    task: Option<&tasks::Model>,
    mv: Move,
) -> Actor {
    match mv {
        Move::Sign | Move::Arrive | Move::Handle => {
            if task.is_some_and(|t| works_on(state, user, areas, t)) {
                Actor::Assignee
            } else {
                Actor::Other
            }
        }
        Move::Evaluate => {
            if event.reporter_id == Some(user.id) {
                Actor::Reporter
            } else {
                Actor::Other
            }
        }
        _ => {
            if is_command_centre(user) {
                Actor::CommandCentre
            } else {
                Actor::Other
            }
        }
    }
}
