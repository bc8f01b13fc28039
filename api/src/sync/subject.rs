//! What each kind of document mirrors: which row a document id names, who may sync it and in
//! which capacity, the fields the server writes from its rows, and how an accepted edit is
//! written through to the rows. The rows stay the one source of truth for every field they
//! hold; a document edit the server accepts is written to them at once.

use std::collections::{BTreeMap, BTreeSet};

use automerge::hydrate;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use sync_engine::fields::{self, Value};
use sync_engine::{DocKind, Editor};
use uuid::Uuid;

use crate::accounts;
use crate::auth::principal::CurrentUser;
use crate::entities::{events, sync_documents, tasks};
use crate::error::{ApiError, ApiResult};
use crate::events::access;
use crate::events::moves::{self, MoveRequest};
use crate::state::AppState;

/// The row a document mirrors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject {
    pub kind: DocKind,
    /// The task, event or building.
    pub id: Uuid,
    /// The event concerned, for tasks and reports: live rows name events.
    pub event: Option<Uuid>,
}

/// What a document id names: a document already written, or a task whose document is written
/// on first use (a task's document id is the task's id).
pub async fn resolve(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<Option<Subject>> {
    let (kind, subject) = match sync_documents::Entity::find_by_id(id).one(db).await? {
        Some(d) if d.kind == "task" => (DocKind::Task, d.subject),
        Some(_) => return Ok(None),
        None => (DocKind::Task, id),
    };
    match kind {
        DocKind::Task => Ok(tasks::Entity::find_by_id(subject)
            .one(db)
            .await?
            .map(|t| Subject {
                kind,
                id: t.id,
                event: Some(t.event_id),
            })),
        DocKind::Report | DocKind::Building => Ok(None),
    }
}

/// The capacity in which the user edits the document, or None when they may not see it: a
/// worker of the grid or team the task is with now, or the command centre.
pub async fn editor(
    state: &AppState,
    user: &CurrentUser,
    s: &Subject,
) -> ApiResult<Option<Editor>> {
    match s.kind {
        DocKind::Task => {
            let Some(task) = tasks::Entity::find_by_id(s.id).one(&state.db).await? else {
                return Ok(None);
            };
            if access::is_command_centre(user) {
                return Ok(Some(Editor::Dispatcher));
            }
            let areas = accounts::areas_of(&state.db, user.id).await?;
            Ok((task.open && access::works_on(state, user, &areas, &task))
                .then_some(Editor::Worker))
        }
        DocKind::Report | DocKind::Building => Ok(None),
    }
}

fn text(s: Option<&str>) -> Value {
    Value::Text(s.unwrap_or_default().to_owned())
}

/// The fields of the document that the server's rows hold, with their values now.
pub async fn owned(
    db: &impl ConnectionTrait,
    s: &Subject,
) -> ApiResult<Vec<(&'static str, Value)>> {
    match s.kind {
        DocKind::Task => {
            let task = tasks::Entity::find_by_id(s.id)
                .one(db)
                .await?
                .ok_or(ApiError::NotFound("task"))?;
            let event = events::Entity::find_by_id(task.event_id)
                .one(db)
                .await?
                .ok_or(ApiError::NotFound("event"))?;
            let mut deadlines = BTreeMap::new();
            for (name, due) in [
                ("sign", task.sign_due),
                ("arrive", task.arrive_due),
                ("handle", task.handle_due),
            ] {
                if let Some(due) = due {
                    deadlines.insert(name.to_owned(), due.to_rfc3339());
                }
            }
            Ok(vec![
                ("status", text(Some(&event.status))),
                ("description", text(Some(&event.description))),
                ("category", text(Some(&event.category))),
                ("colour", text(Some(&task.colour))),
                ("light", text(Some(&task.light))),
                (
                    "assignee",
                    Value::Text(format!("{}:{}", task.assignee_kind, task.assignee_code)),
                ),
                ("deadlines", Value::Strings(deadlines)),
                ("feedback", text(task.feedback.as_deref())),
                ("on_site_note", text(task.on_site_note.as_deref())),
            ])
        }
        DocKind::Report | DocKind::Building => Err(ApiError::NotFound("document")),
    }
}

/// Fields a new document starts with besides those of its rows.
pub fn initial(kind: DocKind) -> Vec<(&'static str, Value)> {
    match kind {
        DocKind::Task => vec![("photos", Value::Texts(Vec::new()))],
        DocKind::Report | DocKind::Building => Vec::new(),
    }
}

/// Writes the accepted fields of an edit to the rows, and announces the change live: workers
/// and the command centre hear of it, and other instances holding the document reload it.
pub async fn write_through(
    state: &AppState,
    s: &Subject,
    after: &hydrate::Value,
    accepted: &BTreeSet<String>,
) -> ApiResult<()> {
    if accepted.is_empty() {
        return Ok(());
    }
    match s.kind {
        DocKind::Task => {
            let tx = crate::db::begin_write(&state.db).await?;
            let task = tasks::Entity::find_by_id(s.id)
                .one(&tx)
                .await?
                .ok_or(ApiError::NotFound("task"))?;
            let event = task.event_id;
            let mut row: tasks::ActiveModel = task.into();
            let text = |field| fields::read_text(after, field).filter(|t| !t.is_empty());
            if accepted.contains("feedback") {
                row.feedback = Set(text("feedback"));
            }
            if accepted.contains("on_site_note") {
                row.on_site_note = Set(text("on_site_note"));
            }
            if row.is_changed() {
                row.update(&tx).await?;
            }
            moves::announce(&tx, event, "task.noted").await?;
            tx.commit().await?;
            state.live.poke();
            Ok(())
        }
        DocKind::Report | DocKind::Building => Ok(()),
    }
}

/// The move a status written in a document asks for, or why it cannot be one.
pub fn status_move(
    s: &Subject,
    status: &str,
    after: &hydrate::Value,
) -> Result<MoveRequest, String> {
    match (s.kind, status) {
        (DocKind::Task, "signed") => Ok(MoveRequest::Sign),
        (DocKind::Task, "on_site") => Ok(MoveRequest::Arrive),
        (DocKind::Task, "handled") => Ok(MoveRequest::Handle {
            feedback: fields::read_text(after, "feedback").unwrap_or_default(),
            photos: fields::read_texts(after, "photos").unwrap_or_default(),
        }),
        _ => Err(format!(
            "status {status:?} cannot be set in a document: sign, arrive and handle are the moves a document makes"
        )),
    }
}
