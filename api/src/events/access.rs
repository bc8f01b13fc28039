//! Who may see an event, and in which capacity a caller acts on it. Object-level rules live here
//! once: a worker of grid A asking for grid B's event gets 404, exactly as for a missing one.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::flow::{Actor, Move};
use places::locate::LocateIndex;
use sync_engine::DocKind;

use crate::accounts::{self, AreaRef};
use crate::auth::roles::Role;
use crate::auth::user::CurrentUser;
use crate::entities::{events, tasks};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::stored::Corrupt;

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

/// Whether the user may see the event at all: the access table's read of its report.
pub fn sees(
    index: &LocateIndex,
    user: &CurrentUser,
    areas: &[AreaRef],
    event: &events::Model,
    task: Option<&tasks::Model>,
) -> Result<bool, Corrupt> {
    Ok(crate::access::sees(crate::access::report(
        user, areas, index, event, task,
    )?))
}

/// The event, if the user may see it; 404 otherwise (the two look the same).
pub async fn visible_event(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
) -> ApiResult<(events::Model, Option<tasks::Model>, Vec<AreaRef>)> {
    visible_event_in(&state.places.get(), &state.db, user, id).await
}

/// [`visible_event`], read through `db` (a transaction that is about to change the event).
pub async fn visible_event_in(
    index: &LocateIndex,
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
    if sees(index, user, &areas, &event, task.as_ref())? {
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

/// The capacity in which the user makes this move; the state machine decides if it may. The
/// moves of the task's holder (sign, arrive, handle) go with writing the task's notes: the
/// access table decides both, so REST moves and a phone's offline edits agree.
pub fn actor_for(
    index: &LocateIndex,
    user: &CurrentUser,
    areas: &[AreaRef],
    event: &events::Model,
    task: Option<&tasks::Model>,
    mv: Move,
) -> Actor {
    match mv {
        Move::Sign | Move::Arrive | Move::Handle => {
            let holds = task.is_some_and(|t| {
                let g = crate::access::task(user, areas, index, event, t);
                g.may_write(DocKind::Task, "feedback") && g.may_write(DocKind::Task, "photos")
            });
            if holds { Actor::Assignee } else { Actor::Other }
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
