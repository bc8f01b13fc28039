//! Moving an event through the loop. Every path — REST, offline sync — calls [`apply`], which
//! asks the state machine, writes the new status, the task, the timeline and the outbox in one
//! transaction, and pays the reporter's points when a report is completed.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::access;
use super::catalogue::{self, Colour};
use super::flow::{self, FlowError, Move, Status};
use super::tasks::{close, open_task, open_task_for};
use super::timeline::{ActorRef, Step};
use super::views::{self, EventView};
use crate::auth::user::CurrentUser;
use crate::entities::{event_photos, events, tasks};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::live::Live;
use crate::live::outbox::{self, Entry};
use crate::points;
use places::locate::LocateIndex;

/// Where a task goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Assignee {
    /// `grid` or `team`.
    #[schema(pattern = "^(grid|team)$")]
    pub kind: String,
    #[schema(value_type = crate::domain::Code)]
    pub code: String,
}

/// A move with what it carries.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "move", rename_all = "snake_case", deny_unknown_fields)]
pub enum MoveRequest {
    /// Take the event up (command centre).
    Accept,
    /// Send it to a grid or team (command centre).
    Dispatch { assignee: Assignee },
    /// Acknowledge the task (its grid's or team's worker).
    Sign,
    /// Be on site.
    Arrive,
    /// Report the handling result, with photos already uploaded.
    Handle {
        #[schema(
            pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([\\s\\S]{0,1998}[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
        )]
        feedback: String,
        #[serde(default)]
        #[schema(max_items = 9)]
        photos: Vec<String>,
    },
    /// Close after review (command centre).
    Complete,
    /// Send handled work back for rework, with the reason.
    Return {
        #[schema(
            pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([\\s\\S]{0,498}[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
        )]
        reason: String,
    },
    /// Give the task to another grid or team.
    Redispatch {
        assignee: Assignee,
        #[schema(
            pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([\\s\\S]{0,498}[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
        )]
        reason: String,
    },
    /// Refuse the event, with the reason.
    Reject {
        #[schema(
            pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([\\s\\S]{0,498}[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
        )]
        reason: String,
    },
    /// The reporter's rating of the handling, once.
    Evaluate {
        #[schema(minimum = 1, maximum = 5)]
        rating: i32,
        #[serde(default)]
        #[schema(max_length = 500)]
        comment: Option<String>,
    },
    /// Fold into another event reporting the same matter.
    Merge { into: Uuid },
}

impl MoveRequest {
    pub fn kind(&self) -> Move {
        match self {
            MoveRequest::Accept => Move::Accept,
            MoveRequest::Dispatch { .. } => Move::Dispatch,
            MoveRequest::Sign => Move::Sign,
            MoveRequest::Arrive => Move::Arrive,
            MoveRequest::Handle { .. } => Move::Handle,
            MoveRequest::Complete => Move::Complete,
            MoveRequest::Return { .. } => Move::Return,
            MoveRequest::Redispatch { .. } => Move::Redispatch,
            MoveRequest::Reject { .. } => Move::Reject,
            MoveRequest::Evaluate { .. } => Move::Evaluate,
            MoveRequest::Merge { .. } => Move::Merge,
        }
    }

    fn check(&self) -> ApiResult<()> {
        let text = |field: &str, v: &str, max: usize| {
            let n = v.trim().chars().count();
            if n == 0 || n > max {
                Err(ApiError::invalid(
                    field,
                    "length",
                    format!("1–{max} characters"),
                ))
            } else {
                Ok(())
            }
        };
        match self {
            MoveRequest::Handle { feedback, photos } => {
                text("feedback", feedback, 2000)?;
                if photos.len() > 9 {
                    return Err(ApiError::invalid("photos", "max_items", "at most 9 photos"));
                }
                Ok(())
            }
            MoveRequest::Return { reason }
            | MoveRequest::Reject { reason }
            | MoveRequest::Redispatch { reason, .. } => text("reason", reason, 500),
            MoveRequest::Evaluate { rating, comment } => {
                if !(1..=5).contains(rating) {
                    return Err(ApiError::invalid("rating", "range", "1 to 5"));
                }
                match comment {
                    Some(c) if c.chars().count() > 500 => Err(ApiError::invalid(
                        "comment",
                        "length",
                        "at most 500 characters",
                    )),
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

fn flow_error(e: FlowError) -> ApiError {
    match e {
        FlowError::NotYours { .. } => ApiError::Forbidden,
        FlowError::WrongStatus { .. } => ApiError::Conflict {
            field: None,
            detail: e.to_string(),
        },
    }
}

async fn check_assignee(db: &impl ConnectionTrait, a: &Assignee) -> ApiResult<()> {
    let known = match a.kind.as_str() {
        "grid" => crate::entities::areas::Entity::find()
            .filter(crate::entities::areas::Column::Code.eq(&a.code))
            .filter(crate::entities::areas::Column::Level.is_in(["grid", "micro_grid"]))
            .one(db)
            .await?
            .is_some(),
        "team" => crate::entities::teams::Entity::find()
            .filter(crate::entities::teams::Column::Code.eq(&a.code))
            .one(db)
            .await?
            .is_some(),
        _ => {
            return Err(ApiError::invalid(
                "assignee.kind",
                "invalid_value",
                "grid or team",
            ));
        }
    };
    if known {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "assignee.code",
            "unknown_assignee",
            format!("no {} {}", a.kind, a.code),
        ))
    }
}

async fn attach_feedback_photos(
    db: &crate::db::WriteTx,
    event: Uuid,
    user: Uuid,
    shas: &[String],
    now: DateTime<Utc>,
) -> ApiResult<()> {
    for (i, sha) in shas.iter().enumerate() {
        if !crate::photos::store::exists_for(db, sha, user).await? {
            return Err(ApiError::invalid(
                format!("photos[{i}]"),
                "unknown_photo",
                "upload the photo first (POST /api/v1/photos)",
            ));
        }
        event_photos::Entity::insert(event_photos::ActiveModel {
            event_id: Set(event),
            sha256: Set(sha.clone()),
            role: Set("feedback".to_owned()),
            created_at: Set(now),
        })
        .on_conflict_do_nothing_on([
            event_photos::Column::EventId,
            event_photos::Column::Sha256,
            event_photos::Column::Role,
        ])
        .exec(db)
        .await?;
    }
    Ok(())
}

/// Makes a move on an event for a user. 404 when the user may not see the event; 403 when they
/// may see it but the move is not theirs; 409 when the event is not where the move starts.
pub async fn apply(
    db: &DatabaseConnection,
    index: &LocateIndex,
    catalogue: &catalogue::Cached,
    live: &Live,
    user: &CurrentUser,
    id: Uuid,
    req: MoveRequest,
) -> ApiResult<EventView> {
    req.check()?;
    let mv = req.kind();
    let tx = crate::db::begin_write(db).await?;
    // Read inside the write transaction so two moves on one event serialise on its row.
    let (event, task, areas) = access::visible_event(index, &tx, user, id).await?;
    let from = Status::parse(&event.status)?;
    let actor = access::actor_for(index, user, &areas, &event, task.as_ref(), mv);
    let to = flow::check(from, mv, actor).map_err(flow_error)?;
    let now = Utc::now();
    let mut detail = serde_json::json!({});
    let mut task_id = task.as_ref().map(|t| t.id);
    let mut active: events::ActiveModel = event.clone().into();
    match &req {
        MoveRequest::Dispatch { assignee } | MoveRequest::Redispatch { assignee, .. } => {
            check_assignee(&tx, assignee).await?;
            if let Some(t) = &task {
                close(&tx, t, now).await?;
            }
            let colour = Colour::parse(&event.colour)?;
            task_id = Some(
                open_task_for(
                    &tx,
                    id,
                    &assignee.kind,
                    &assignee.code,
                    colour,
                    catalogue
                        .get(&tx)
                        .await?
                        .limits(event.street_code.as_deref(), colour),
                    now,
                )
                .await?
                .id,
            );
            detail =
                serde_json::json!({"assignee_kind": assignee.kind, "assignee_code": assignee.code});
            if let MoveRequest::Redispatch { reason, .. } = &req {
                detail["reason"] = reason.clone().into();
            }
        }
        MoveRequest::Sign | MoveRequest::Arrive | MoveRequest::Handle { .. } => {
            let t = task.clone().ok_or(ApiError::Conflict {
                field: None,
                detail: "the event has no open task".into(),
            })?;
            let mut at: tasks::ActiveModel = t.into();
            match &req {
                MoveRequest::Sign => at.signed_at = Set(Some(now)),
                MoveRequest::Arrive => at.arrived_at = Set(Some(now)),
                MoveRequest::Handle { feedback, photos } => {
                    at.handled_at = Set(Some(now));
                    at.feedback = Set(Some(feedback.trim().to_owned()));
                    attach_feedback_photos(&tx, id, user.id, photos, now).await?;
                    detail = serde_json::json!({"feedback": feedback.trim(), "photos": photos});
                }
                _ => {}
            }
            at.update(&tx).await?;
        }
        MoveRequest::Complete => {
            if let Some(t) = &task {
                close(&tx, t, now).await?;
            }
            if let Some(reporter) = event.reporter_id {
                let c = catalogue
                    .get(&tx)
                    .await?
                    .category(&event.category, "category")?;
                if c.points > 0 {
                    let credit = points::earn(
                        &tx,
                        points::Earning {
                            user: reporter,
                            source_kind: "report",
                            source_id: &id.to_string(),
                            amount: c.points,
                            note: Some(&format!("上报办结：{}", c.name_zh)),
                            street: event.street_code.as_deref(),
                        },
                    )
                    .await?;
                    detail = serde_json::json!({"points": credit.paid, "capped": credit.capped});
                }
            }
        }
        MoveRequest::Return { reason } => detail = serde_json::json!({"reason": reason}),
        MoveRequest::Reject { reason } => {
            if let Some(t) = &task {
                close(&tx, t, now).await?;
            }
            detail = serde_json::json!({"reason": reason});
        }
        MoveRequest::Evaluate { rating, comment } => {
            active.rating = Set(Some(*rating));
            active.rating_comment = Set(comment.clone());
            detail = serde_json::json!({"rating": rating, "comment": comment});
        }
        MoveRequest::Merge { into } => {
            if *into == id {
                return Err(ApiError::invalid(
                    "into",
                    "self",
                    "an event cannot merge into itself",
                ));
            }
            let target = events::Entity::find_by_id(*into).one(&tx).await?;
            let open = match target {
                Some(t) => !Status::parse(&t.status)?.is_final(),
                None => false,
            };
            if !open {
                return Err(ApiError::invalid(
                    "into",
                    "unknown_event",
                    "no open event with this id",
                ));
            }
            if let Some(t) = &task {
                close(&tx, t, now).await?;
            }
            active.merged_into = Set(Some(*into));
            detail = serde_json::json!({"into": into});
        }
        MoveRequest::Accept => {}
    }
    active.status = Set(to.as_str().to_owned());
    active.updated_at = Set(now);
    let moved = active.update(&tx).await?;
    let mut step = Step::new(id, ActorRef::user(user.id), mv.as_str())
        .from(from)
        .to(to)
        .detail(detail);
    if let Some(t) = task_id {
        step = step.task(t);
    }
    step.append(&tx).await?;
    let (_, view) = announce_event(&tx, moved, "event.moved").await?;
    tx.commit().await?;
    live.poke();
    Ok(view)
}

/// Writes an outbox row for the event's current state, to its current grid or team, its reporter
/// and the command centre; the row's id.
pub async fn announce(db: &impl ConnectionTrait, id: Uuid, kind: &'static str) -> ApiResult<Uuid> {
    let event = events::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("event"))?;
    Ok(announce_event(db, event, kind).await?.0)
}

/// [`announce`] for an event row the caller has just read or written; the row's id and the
/// view it carries.
pub async fn announce_event(
    db: &impl ConnectionTrait,
    event: events::Model,
    kind: &'static str,
) -> ApiResult<(Uuid, EventView)> {
    let (id, reporter) = (event.id, event.reporter_id);
    let view = views::view_of(db, event).await?;
    let assignee = view
        .task
        .as_ref()
        .filter(|t| t.open)
        .map(|t| (t.assignee_kind.clone(), t.assignee_code.clone()));
    let (grid_code, team_code) = views::audience(assignee.as_ref());
    let row = outbox::record(
        db,
        Entry {
            event_id: id,
            kind,
            grid_code: grid_code.or(view.grid_code.clone()),
            micro_grid_code: view.micro_grid_code.clone(),
            team_code,
            user_id: reporter,
            street_code: view.street_code.clone(),
            payload: serde_json::to_value(&view).unwrap_or_default(),
        },
    )
    .await?;
    Ok((row, view))
}

/// A command-centre change of an event's colour or category, and why.
#[derive(Debug, Clone)]
pub struct Recolour {
    pub colour: Option<Colour>,
    pub category: Option<String>,
    pub reason: String,
}

/// A command-centre change of colour or category, with its reason; the open task's deadlines
/// follow the new colour.
pub async fn recolour(
    db: &DatabaseConnection,
    catalogue: &catalogue::Cached,
    live: &Live,
    user: &CurrentUser,
    id: Uuid,
    change: Recolour,
) -> ApiResult<EventView> {
    let Recolour {
        colour,
        category,
        reason,
    } = change;
    if !access::is_command_centre(user) {
        return Err(ApiError::Forbidden);
    }
    if reason.trim().is_empty() {
        return Err(ApiError::Validation(vec![FieldError::new(
            "reason", "required", "say why",
        )]));
    }
    let tx = crate::db::begin_write(db).await?;
    let event = events::Entity::find_by_id(id)
        .one(&tx)
        .await?
        .ok_or(ApiError::NotFound("event"))?;
    let category = match category {
        Some(c) => Some(catalogue.get(&tx).await?.category(&c, "category")?.code),
        None => None,
    };
    let now = Utc::now();
    let detail = serde_json::json!({
        "reason": reason.trim(),
        "colour": colour.map(|c| [event.colour.clone(), c.as_str().to_owned()]),
        "category": category.as_ref().map(|c| [event.category.clone(), c.clone()]),
    });
    let mut active: events::ActiveModel = event.clone().into();
    if let Some(c) = colour {
        active.colour = Set(c.as_str().to_owned());
        if let Some(t) = open_task(&tx, id).await? {
            let limits = catalogue
                .get(&tx)
                .await?
                .limits(event.street_code.as_deref(), c);
            let dues = limits.dues_from(t.created_at);
            let mut at: tasks::ActiveModel = t.into();
            at.colour = Set(c.as_str().to_owned());
            at.sign_due = Set(dues.sign);
            at.arrive_due = Set(dues.arrive);
            at.handle_due = Set(dues.handle);
            at.update(&tx).await?;
        }
    }
    if let Some(c) = &category {
        active.category = Set(c.clone());
    }
    active.updated_at = Set(now);
    let changed = active.update(&tx).await?;
    Step::new(id, ActorRef::user(user.id), "recolour")
        .detail(detail)
        .append(&tx)
        .await?;
    let (_, view) = announce_event(&tx, changed, "event.changed").await?;
    tx.commit().await?;
    live.poke();
    Ok(view)
}

#[cfg(test)]
mod tests {
    use sea_orm::PaginatorTrait;

    use super::*;
    use crate::accounts::AreaKind;
    use crate::auth::roles::Role;
    use crate::entities::{outbox as outbox_rows, points_ledger, timeline};
    use crate::testing::{
        TestResult, area, database, enrol, event_in_s_g1, store_tree, tree, user,
    };

    fn grid(code: &str) -> Assignee {
        Assignee {
            kind: "grid".into(),
            code: code.into(),
        }
    }

    #[tokio::test]
    async fn a_report_goes_round_the_loop_and_every_move_leaves_its_trail() -> TestResult {
        let db = database().await?;
        store_tree(&db).await?;
        let (idx, catalogue, live) = (tree(), catalogue::Cached::default(), Live::default());
        let citizen = user(&[Role::Citizen]);
        let dispatcher = user(&[Role::Dispatcher]);
        let worker = user(&[Role::GridWorker]);
        let elsewhere = user(&[Role::GridWorker]);
        enrol(&db, &citizen, &[]).await?;
        enrol(&db, &dispatcher, &[]).await?;
        enrol(&db, &worker, &[area(AreaKind::Grid, "S-G1")]).await?;
        enrol(&db, &elsewhere, &[area(AreaKind::Grid, "S-G3")]).await?;
        let e = event_in_s_g1(&db, Some(citizen.id), "environment.garbage", "reported").await?;
        macro_rules! make {
            ($who:expr, $req:expr) => {
                apply(&db, &idx, &catalogue, &live, $who, e.id, $req).await
            };
        }

        assert!(matches!(
            make!(&worker, MoveRequest::Accept),
            Err(ApiError::Forbidden)
        ));
        assert_eq!(
            make!(&dispatcher, MoveRequest::Accept)?.status,
            Status::Accepted
        );
        let unknown = make!(
            &dispatcher,
            MoveRequest::Dispatch {
                assignee: grid("S-G9")
            }
        );
        assert!(
            matches!(&unknown, Err(ApiError::Validation(f)) if f[0].field == "assignee.code"),
            "{unknown:?}"
        );
        let dispatched = make!(
            &dispatcher,
            MoveRequest::Dispatch {
                assignee: grid("S-G1")
            }
        )?;
        assert_eq!(dispatched.status, Status::Dispatched);
        let task = dispatched.task.ok_or("the dispatch opens a task")?;
        assert_eq!((task.assignee_code.as_str(), task.open), ("S-G1", true));
        assert!(task.sign_due.is_some(), "with the category's deadlines");

        // Another grid's worker does not see it; its own worker cannot skip a step.
        let hidden = make!(&elsewhere, MoveRequest::Sign);
        assert!(matches!(hidden, Err(ApiError::NotFound("event"))));
        let early = make!(&worker, MoveRequest::Arrive);
        assert!(matches!(early, Err(ApiError::Conflict { .. })), "{early:?}");
        make!(&worker, MoveRequest::Sign)?;
        make!(&worker, MoveRequest::Arrive)?;
        let handled = make!(
            &worker,
            MoveRequest::Handle {
                feedback: " 已清理 ".into(),
                photos: Vec::new(),
            }
        )?;
        assert_eq!(handled.status, Status::Handled);
        let task = handled.task.ok_or("still its task")?;
        assert_eq!(task.feedback.as_deref(), Some("已清理"), "trimmed");
        assert!(task.signed_at.is_some() && task.arrived_at.is_some() && task.handled_at.is_some());

        let completed = make!(&dispatcher, MoveRequest::Complete)?;
        assert_eq!(completed.status, Status::Completed);
        assert_eq!(
            completed.task.map(|t| t.open),
            Some(false),
            "the task is closed"
        );
        // The reporter is paid once, what the category is worth.
        let worth = catalogue
            .get(&db)
            .await?
            .category("environment.garbage", "category")?;
        let paid: Vec<i32> = points_ledger::Entity::find()
            .filter(points_ledger::Column::UserId.eq(citizen.id))
            .all(&db)
            .await?
            .into_iter()
            .map(|p| p.amount)
            .collect();
        assert_eq!(paid, [worth.points]);
        let again = make!(&dispatcher, MoveRequest::Complete);
        assert!(matches!(again, Err(ApiError::Conflict { .. })));
        let rated = make!(
            &citizen,
            MoveRequest::Evaluate {
                rating: 5,
                comment: None,
            }
        )?;
        assert_eq!((rated.status, rated.rating), (Status::Evaluated, Some(5)));

        // Every move made, and only those, is in the timeline and announced.
        let steps: Vec<String> = timeline::Entity::find()
            .filter(timeline::Column::EventId.eq(e.id))
            .all(&db)
            .await?
            .into_iter()
            .map(|s| s.action)
            .collect();
        let made = [
            "accept", "dispatch", "sign", "arrive", "handle", "complete", "evaluate",
        ];
        assert_eq!(steps, made);
        let announced = outbox_rows::Entity::find()
            .filter(outbox_rows::Column::EventId.eq(e.id))
            .count(&db)
            .await?;
        assert_eq!(announced, made.len() as u64);
        Ok(())
    }

    #[tokio::test]
    async fn a_recolour_moves_the_open_tasks_deadlines_and_only_the_command_centre_makes_it()
    -> TestResult {
        let db = database().await?;
        store_tree(&db).await?;
        let (idx, catalogue, live) = (tree(), catalogue::Cached::default(), Live::default());
        let dispatcher = user(&[Role::Dispatcher]);
        let worker = user(&[Role::GridWorker]);
        enrol(&db, &dispatcher, &[]).await?;
        enrol(&db, &worker, &[area(AreaKind::Grid, "S-G1")]).await?;
        let e = event_in_s_g1(&db, None, "environment.garbage", "reported").await?;
        let dispatch = MoveRequest::Dispatch {
            assignee: grid("S-G1"),
        };
        let before = apply(&db, &idx, &catalogue, &live, &dispatcher, e.id, dispatch)
            .await?
            .task
            .ok_or("a task")?;
        let red = |reason: &str| Recolour {
            colour: Some(Colour::Red),
            category: None,
            reason: reason.into(),
        };
        let refused = recolour(&db, &catalogue, &live, &worker, e.id, red("紧急")).await;
        assert!(matches!(refused, Err(ApiError::Forbidden)));
        let unsaid = recolour(&db, &catalogue, &live, &dispatcher, e.id, red("  ")).await;
        assert!(matches!(&unsaid, Err(ApiError::Validation(f)) if f[0].field == "reason"));

        let after = recolour(&db, &catalogue, &live, &dispatcher, e.id, red("紧急")).await?;
        assert_eq!(after.colour, "red");
        let task = after.task.ok_or("the same task")?;
        assert_eq!((task.id, task.colour.as_str()), (before.id, "red"));
        let limits = catalogue.get(&db).await?.limits(Some("S"), Colour::Red);
        let dues = limits.dues_from(before.created_at);
        assert_eq!((task.sign_due, task.handle_due), (dues.sign, dues.handle));
        assert_ne!(
            task.handle_due, before.handle_due,
            "red is due sooner than yellow"
        );
        Ok(())
    }
}
