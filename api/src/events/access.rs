//! Who may see an event, and in which capacity a caller acts on it. Object-level rules live here
//! once: a worker of grid A asking for grid B's event gets 404, exactly as for a missing one.

use sea_orm::{ConnectionTrait, EntityTrait};
use uuid::Uuid;

use super::flow::{Actor, Move};
use places::locate::LocateIndex;
use sync_engine::DocKind;

use crate::accounts::{self, AreaRef};
use crate::auth::roles::Role;
use crate::auth::user::CurrentUser;
use crate::entities::{events, tasks};
use crate::error::{ApiError, ApiResult};
use crate::stored::Corrupt;

/// The command centre sees and steers every event.
pub fn is_command_centre(user: &CurrentUser) -> bool {
    user.has(Role::Dispatcher) || user.has(Role::Admin)
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

/// The event, if the user may see it; 404 otherwise (the two look the same). Read through `db`:
/// the pool, or a transaction that is about to change the event.
pub async fn visible_event(
    index: &LocateIndex,
    db: &impl ConnectionTrait,
    user: &CurrentUser,
    id: Uuid,
) -> ApiResult<(events::Model, Option<tasks::Model>, Vec<AreaRef>)> {
    let event = events::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("event"))?;
    let task = super::tasks::open_task(db, id).await?;
    let areas = accounts::areas_of(db, user.id).await?;
    if sees(index, user, &areas, &event, task.as_ref())? {
        Ok((event, task, areas))
    } else {
        Err(ApiError::NotFound("event"))
    }
}

/// For other modules (photos): whether the user may see this event.
pub async fn may_see_event(
    index: &LocateIndex,
    db: &impl ConnectionTrait,
    user: &CurrentUser,
    event_id: Uuid,
) -> ApiResult<bool> {
    match visible_event(index, db, user, event_id).await {
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

#[cfg(test)]
mod tests {
    use sea_orm::DatabaseConnection;

    use super::*;
    use crate::accounts::AreaKind;
    use crate::events::catalogue::Colour;
    use crate::events::tasks::open_task_for;
    use crate::testing::{
        TestResult, area, database, enrol, event_in_s_g1, event_row, limits, tree, user,
    };

    /// An event of grid S-G1 with its open task at `kind`/`code`.
    async fn dispatched(
        db: &DatabaseConnection,
        reporter: Option<Uuid>,
        kind: &str,
        code: &str,
    ) -> Result<(events::Model, tasks::Model), ApiError> {
        let e = event_in_s_g1(db, reporter, "environment.garbage", "dispatched").await?;
        let t = open_task_for(db, e.id, kind, code, Colour::Yellow, limits(), e.created_at).await?;
        Ok((e, t))
    }

    #[tokio::test]
    async fn the_holder_of_the_task_signs_arrives_and_handles_and_nobody_else_does() -> TestResult {
        let db = database().await?;
        let idx = tree();
        let (e, t) = dispatched(&db, None, "grid", "S-G1").await?;
        let holds = [area(AreaKind::Grid, "S-G1")];
        let worker = user(&[Role::GridWorker]);
        for mv in [Move::Sign, Move::Arrive, Move::Handle] {
            assert_eq!(
                actor_for(&idx, &worker, &holds, &e, Some(&t), mv),
                Actor::Assignee
            );
            // Another grid's worker, a micro-grid worker who only follows the grid's task, and
            // the command centre are not its holder.
            for (u, areas) in [
                (
                    user(&[Role::GridWorker]),
                    vec![area(AreaKind::Grid, "S-G2")],
                ),
                (
                    user(&[Role::GridWorker]),
                    vec![area(AreaKind::MicroGrid, "S-G1-M1")],
                ),
                (user(&[Role::Dispatcher]), vec![]),
            ] {
                assert_eq!(
                    actor_for(&idx, &u, &areas, &e, Some(&t), mv),
                    Actor::Other,
                    "{mv:?}"
                );
            }
            // No open task: nobody holds it.
            assert_eq!(actor_for(&idx, &worker, &holds, &e, None, mv), Actor::Other);
        }
        // A team's task is held by that team's members.
        let (e, t) = dispatched(&db, None, "team", "MED-1").await?;
        let member = user(&[Role::TeamMember]);
        let team = [area(AreaKind::Team, "MED-1")];
        assert_eq!(
            actor_for(&idx, &member, &team, &e, Some(&t), Move::Sign),
            Actor::Assignee
        );
        assert_eq!(
            actor_for(&idx, &worker, &holds, &e, Some(&t), Move::Sign),
            Actor::Other
        );
        Ok(())
    }

    #[test]
    fn the_command_centre_steers_and_only_the_reporter_evaluates() {
        let idx = tree();
        let citizen = user(&[Role::Citizen]);
        let e = events::Model {
            colour: "yellow".into(),
            micro_grid_code: None,
            ..event_row(Some(citizen.id), "handled")
        };
        let steering = [
            Move::Accept,
            Move::Dispatch,
            Move::Complete,
            Move::Return,
            Move::Redispatch,
            Move::Reject,
            Move::Merge,
        ];
        for mv in steering {
            for roles in [&[Role::Dispatcher][..], &[Role::Admin]] {
                assert_eq!(
                    actor_for(&idx, &user(roles), &[], &e, None, mv),
                    Actor::CommandCentre
                );
            }
            let worker = user(&[Role::GridWorker]);
            let g1 = [area(AreaKind::Grid, "S-G1")];
            assert_eq!(
                actor_for(&idx, &worker, &g1, &e, None, mv),
                Actor::Other,
                "{mv:?}"
            );
            assert_eq!(
                actor_for(&idx, &citizen, &[], &e, None, mv),
                Actor::Other,
                "{mv:?}"
            );
        }
        assert_eq!(
            actor_for(&idx, &citizen, &[], &e, None, Move::Evaluate),
            Actor::Reporter
        );
        let dispatcher = user(&[Role::Dispatcher]);
        assert_eq!(
            actor_for(&idx, &dispatcher, &[], &e, None, Move::Evaluate),
            Actor::Other
        );
        assert_eq!(
            actor_for(&idx, &user(&[Role::Citizen]), &[], &e, None, Move::Evaluate),
            Actor::Other
        );
    }

    #[tokio::test]
    async fn an_event_out_of_sight_is_not_found_exactly_as_a_missing_one() -> TestResult {
        let db = database().await?;
        let idx = tree();
        let citizen = user(&[Role::Citizen]);
        enrol(&db, &citizen, &[]).await?;
        let (e, t) = dispatched(&db, Some(citizen.id), "grid", "S-G1").await?;
        let worker = user(&[Role::GridWorker]);
        enrol(&db, &worker, &[area(AreaKind::Grid, "S-G1")]).await?;
        let (seen, task, areas) = visible_event(&idx, &db, &worker, e.id).await?;
        assert_eq!(seen.id, e.id);
        assert_eq!(task.map(|t| t.id), Some(t.id), "with its open task");
        assert_eq!(
            areas,
            vec![area(AreaKind::Grid, "S-G1")],
            "and the caller's areas"
        );
        assert!(
            may_see_event(&idx, &db, &citizen, e.id).await?,
            "the reporter"
        );
        assert!(may_see_event(&idx, &db, &user(&[Role::Dispatcher]), e.id).await?);

        let elsewhere = user(&[Role::GridWorker]);
        enrol(&db, &elsewhere, &[area(AreaKind::Grid, "S-G3")]).await?;
        let stranger = user(&[Role::Citizen]);
        for u in [&elsewhere, &stranger] {
            let hidden = visible_event(&idx, &db, u, e.id).await;
            assert!(matches!(hidden, Err(ApiError::NotFound("event"))));
            assert!(!may_see_event(&idx, &db, u, e.id).await?);
        }
        let missing = visible_event(&idx, &db, &worker, Uuid::now_v7()).await;
        assert!(matches!(missing, Err(ApiError::NotFound("event"))));
        Ok(())
    }
}
