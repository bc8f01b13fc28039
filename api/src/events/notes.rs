//! The words people write on an event between its moves: a task's holder notes what they found
//! on site and what they did, a citizen rewords their open report. The same functions serve the
//! REST calls and a phone's offline edits merged over sync, so both leave the same trail: the row
//! changed, a timeline step saying who changed what, and a live announcement. Who may write which
//! field is the access table's to say (`crate::access`); callers ask it first.

use chrono::Utc;
use places::locate::LocateIndex;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, Set};
use serde_json::json;
use sync_engine::DocKind;
use uuid::Uuid;

use super::access;
use super::moves::announce_event;
use super::timeline::{ActorRef, Step};
use super::views::EventView;
use crate::auth::user::CurrentUser;
use crate::entities::{events, tasks};
use crate::error::{ApiError, ApiResult};

/// The longest note or description, in characters.
pub const MAX_TEXT: usize = 2000;
/// The most photos of a handling result.
pub const MAX_PHOTOS: usize = 9;

/// Notes on a task; `None` leaves a note as it is, an empty text clears it. `photos` are the
/// photos a phone gathered for the handling result (kept in its document until the handle move
/// attaches them): each must be the writer's own upload, and the step names them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TaskNotes {
    pub feedback: Option<String>,
    pub on_site_note: Option<String>,
    pub photos: Option<Vec<String>>,
}

impl TaskNotes {
    /// The document fields these notes write, as the access table names them.
    pub fn fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.feedback.is_some() {
            out.push("feedback");
        }
        if self.on_site_note.is_some() {
            out.push("on_site_note");
        }
        if self.photos.is_some() {
            out.push("photos");
        }
        out
    }

    /// Each note at most [`MAX_TEXT`] characters.
    pub fn check(&self) -> ApiResult<()> {
        for (field, text) in [
            ("feedback", &self.feedback),
            ("on_site_note", &self.on_site_note),
        ] {
            if text.as_ref().is_some_and(|t| t.chars().count() > MAX_TEXT) {
                return Err(ApiError::invalid(
                    field,
                    "length",
                    format!("at most {MAX_TEXT} characters"),
                ));
            }
        }
        if self.photos.as_ref().is_some_and(|p| p.len() > MAX_PHOTOS) {
            return Err(ApiError::invalid(
                "photos",
                "max_items",
                format!("at most {MAX_PHOTOS} photos"),
            ));
        }
        Ok(())
    }

    /// Each photo named is one `user` uploaded: nobody notes a photo they do not own.
    pub async fn check_photos(&self, db: &impl ConnectionTrait, user: Uuid) -> ApiResult<()> {
        for (i, sha) in self.photos.iter().flatten().enumerate() {
            if !crate::photos::store::exists_for(db, sha, user).await? {
                return Err(ApiError::invalid(
                    format!("photos[{i}]"),
                    "unknown_photo",
                    "upload the photo first (POST /api/v1/photos)",
                ));
            }
        }
        Ok(())
    }
}

/// What a note or a rewording did.
pub struct Noted {
    /// The outbox row that announced it.
    pub announced: Uuid,
    /// The event as announced.
    pub view: EventView,
    /// The event's row and the task's, for a note.
    pub rows: Option<(tasks::Model, events::Model)>,
}

fn trimmed(t: &Option<String>) -> Option<Option<String>> {
    t.as_ref().map(|t| {
        let t = t.trim();
        (!t.is_empty()).then(|| t.to_owned())
    })
}

/// Writes a task's notes inside the caller's transaction, by `user`, with a timeline step for
/// the notes that changed. Checked by the caller ([`TaskNotes::check`] and the access table).
pub async fn note_task(
    db: &impl ConnectionTrait,
    user: Uuid,
    task: tasks::Model,
    event: events::Model,
    notes: &TaskNotes,
) -> ApiResult<Noted> {
    let mut row: tasks::ActiveModel = task.clone().into();
    let mut changed = serde_json::Map::new();
    if let Some(new) = trimmed(&notes.feedback)
        && new != task.feedback
    {
        changed.insert("feedback".into(), json!(new));
        row.feedback = Set(new);
    }
    if let Some(new) = trimmed(&notes.on_site_note)
        && new != task.on_site_note
    {
        changed.insert("on_site_note".into(), json!(new));
        row.on_site_note = Set(new);
    }
    let task = if changed.is_empty() {
        task
    } else {
        row.update(db).await?
    };
    if let Some(photos) = &notes.photos {
        changed.insert("photos".into(), json!(photos));
    }
    if !changed.is_empty() {
        Step::new(event.id, ActorRef::user(user), "note")
            .task(task.id)
            .detail(serde_json::Value::Object(changed))
            .append(db)
            .await?;
    }
    let (announced, view) = announce_event(db, event.clone(), "task.noted").await?;
    Ok(Noted {
        announced,
        view,
        rows: Some((task, event)),
    })
}

/// The report's description as it will be kept, or why not.
pub fn check_description(text: &str) -> ApiResult<String> {
    let t = text.trim();
    if (1..=MAX_TEXT).contains(&t.chars().count()) {
        Ok(t.to_owned())
    } else {
        Err(ApiError::invalid(
            "description",
            "length",
            format!("1–{MAX_TEXT} characters"),
        ))
    }
}

/// Rewords a report inside the caller's transaction, by `user`, with a timeline step when the
/// words changed. The caller has asked the access table.
pub async fn reword_report(
    db: &impl ConnectionTrait,
    user: Uuid,
    event: events::Model,
    description: &str,
) -> ApiResult<Noted> {
    let text = check_description(description)?;
    let event = if event.description == text {
        event
    } else {
        let id = event.id;
        let before = event.description.clone();
        let mut row: events::ActiveModel = event.into();
        row.description = Set(text.clone());
        row.updated_at = Set(Utc::now());
        let event = row.update(db).await?;
        Step::new(id, ActorRef::user(user), "reword")
            .detail(json!({"from": before, "to": text}))
            .append(db)
            .await?;
        event
    };
    let (announced, view) = announce_event(db, event, "report.edited").await?;
    Ok(Noted {
        announced,
        view,
        rows: None,
    })
}

/// Notes on the open task of an event by a user, as `PATCH /api/v1/events/{id}/task` makes
/// them: 404 when they may not see the event, 409 when it has no open task, 403 when the access
/// table does not let them write every note sent.
pub async fn note_open_task(
    db: &DatabaseConnection,
    index: &LocateIndex,
    user: &CurrentUser,
    id: Uuid,
    notes: &TaskNotes,
) -> ApiResult<Noted> {
    notes.check()?;
    let tx = crate::db::begin_write(db).await?;
    let (event, task, areas) = access::visible_event(index, &tx, user, id).await?;
    notes.check_photos(&tx, user.id).await?;
    let task = task.ok_or(ApiError::Conflict {
        field: None,
        detail: "the event has no open task".into(),
    })?;
    let grant = crate::access::task(user, &areas, index, &event, &task);
    if !notes
        .fields()
        .iter()
        .all(|f| grant.may_write(DocKind::Task, f))
    {
        return Err(ApiError::Forbidden);
    }
    let noted = note_task(&tx, user.id, task, event, notes).await?;
    tx.commit().await?;
    Ok(noted)
}

/// A report reworded by a user, as `PATCH /api/v1/events/{id}/report` does it: 404 when they
/// may not see the event, 403 when the access table does not let them reword it (only its
/// reporter, while it is open).
pub async fn reword(
    db: &DatabaseConnection,
    index: &LocateIndex,
    user: &CurrentUser,
    id: Uuid,
    description: &str,
) -> ApiResult<Noted> {
    check_description(description)?;
    let tx = crate::db::begin_write(db).await?;
    let (event, task, areas) = access::visible_event(index, &tx, user, id).await?;
    let grant = crate::access::report(user, &areas, index, &event, task.as_ref())?;
    if !grant.may_write(DocKind::Report, "description") {
        return Err(ApiError::Forbidden);
    }
    let noted = reword_report(&tx, user.id, event, description).await?;
    tx.commit().await?;
    Ok(noted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_name_the_fields_they_write_and_keep_their_length() {
        let n = TaskNotes {
            feedback: Some("已清运".into()),
            ..TaskNotes::default()
        };
        assert_eq!(n.fields(), ["feedback"]);
        assert!(n.check().is_ok());
        let long = TaskNotes {
            on_site_note: Some("字".repeat(MAX_TEXT + 1)),
            ..TaskNotes::default()
        };
        assert!(matches!(long.check(), Err(ApiError::Validation(_))));
        assert!(TaskNotes::default().fields().is_empty());
    }

    #[test]
    fn a_description_is_trimmed_and_never_blank_or_endless() {
        assert_eq!(
            check_description("  楼道堆放纸箱 ").ok().as_deref(),
            Some("楼道堆放纸箱")
        );
        assert!(check_description("   ").is_err());
        assert!(check_description(&"字".repeat(MAX_TEXT + 1)).is_err());
        assert!(check_description(&"字".repeat(MAX_TEXT)).is_ok());
    }
}
