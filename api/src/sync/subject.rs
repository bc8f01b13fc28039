//! What each kind of document mirrors: which row a document id names, who may sync it and in
//! which capacity, the fields the server writes from its rows, and how an accepted edit is
//! written through to the rows. The rows stay the one source of truth for every field they
//! hold; a document edit the server accepts is written to them at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::hydrate;
use places::locate::LocateIndex;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect,
};
use sync_engine::DocKind;
use sync_engine::access::Grant;
use sync_engine::fields::{self, Value};
use uuid::Uuid;

use crate::accounts;
use crate::auth::roles::Role;
use crate::auth::user::CurrentUser;
use crate::entities::{buildings, events, sync_documents, tasks};
use crate::error::{ApiError, ApiResult};
use crate::events::moves::MoveRequest;
use crate::events::{notes, views};
use crate::live::Live;

/// The row a document mirrors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject {
    pub kind: DocKind,
    /// The task, event or building.
    pub id: Uuid,
    /// The event concerned, for tasks and reports: live rows name events.
    pub event: Option<Uuid>,
}

/// What a document id names, with what was read on the way.
pub struct Resolved {
    pub subject: Subject,
    /// Whether the document has been written already.
    pub stored: bool,
    /// The task row and its event, for a task's document: the access check right after needs
    /// them.
    pub task: Option<(tasks::Model, events::Model)>,
}

/// Ids per statement when looking many up at once: well under every database's limit on bound
/// parameters.
const IDS_PER_QUERY: usize = 500;

/// What a document id names: a document already written, or a task or report whose document
/// is written on first use (a task's document id is the task's id, a report's the event's).
pub async fn resolve(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<Option<Resolved>> {
    Ok(resolve_many(db, &[id]).await?.remove(&id))
}

/// [`resolve`] for many ids at once, in a few statements whatever their number: a phone's first
/// sync names its grid's documents in one burst. Ids that name nothing are absent.
pub async fn resolve_many(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> ApiResult<HashMap<Uuid, Resolved>> {
    // What each id names as far as the written documents say: (subject, kind if written).
    let mut wanted: HashMap<Uuid, (Uuid, Option<String>)> =
        ids.iter().map(|&id| (id, (id, None))).collect();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let written: Vec<(Uuid, String, Uuid)> = sync_documents::Entity::find()
            .select_only()
            .columns([
                sync_documents::Column::Id,
                sync_documents::Column::Kind,
                sync_documents::Column::Subject,
            ])
            .filter(sync_documents::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        for (id, kind, subject) in written {
            wanted.insert(id, (subject, Some(kind)));
        }
    }
    let mut by_subject: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (&id, (subject, _)) in &wanted {
        by_subject.entry(*subject).or_default().push(id);
    }
    let mut found = HashMap::new();
    // Each kind in turn takes the ids it may hold that no earlier kind took.
    let untaken = |found: &HashMap<Uuid, Resolved>, kind: &str| -> Vec<Uuid> {
        wanted
            .iter()
            .filter(|(id, (_, k))| {
                !found.contains_key(*id) && k.as_deref().is_none_or(|k| k == kind)
            })
            .map(|(_, (subject, _))| *subject)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let take = |found: &mut HashMap<Uuid, Resolved>,
                kind: &str,
                subject: Subject,
                task: Option<&(tasks::Model, events::Model)>| {
        for &id in by_subject.get(&subject.id).into_iter().flatten() {
            let k = &wanted[&id].1;
            if k.as_deref().is_none_or(|k| k == kind) && !found.contains_key(&id) {
                found.insert(
                    id,
                    Resolved {
                        subject,
                        stored: k.is_some(),
                        task: task.cloned(),
                    },
                );
            }
        }
    };
    for chunk in untaken(&found, "task").chunks(IDS_PER_QUERY) {
        let rows = tasks::Entity::find()
            .find_also_related(events::Entity)
            .filter(tasks::Column::Id.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        for (t, e) in rows {
            let Some(e) = e else { continue };
            let s = Subject {
                kind: DocKind::Task,
                id: t.id,
                event: Some(t.event_id),
            };
            take(&mut found, "task", s, Some(&(t, e)));
        }
    }
    for chunk in untaken(&found, "report").chunks(IDS_PER_QUERY) {
        let rows: Vec<Uuid> = events::Entity::find()
            .select_only()
            .column(events::Column::Id)
            .filter(events::Column::Id.is_in(chunk.iter().copied()))
            .filter(events::Column::ReporterId.is_not_null())
            .into_tuple()
            .all(db)
            .await?;
        for id in rows {
            let s = Subject {
                kind: DocKind::Report,
                id,
                event: Some(id),
            };
            take(&mut found, "report", s, None);
        }
    }
    for chunk in untaken(&found, "building").chunks(IDS_PER_QUERY) {
        let rows: Vec<Uuid> = buildings::Entity::find()
            .select_only()
            .column(buildings::Column::Id)
            .filter(buildings::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        for id in rows {
            // Live rows about a building carry its id where events carry theirs.
            let s = Subject {
                kind: DocKind::Building,
                id,
                event: Some(id),
            };
            take(&mut found, "building", s, None);
        }
    }
    Ok(found)
}

/// Whether [`grant`] looks at the user's areas: only grid workers and team members stand in a
/// relation that the areas decide.
pub fn uses_areas(user: &CurrentUser) -> bool {
    user.has(Role::GridWorker) || user.has(Role::TeamMember)
}

/// What the access table grants the user on the document, when it lets them sync it: only whole
/// readers get a document, since it holds the raw values (a masked reader reads the profile over
/// REST). `areas` are the user's areas (`accounts::areas_of`); `task`, the task's row and its
/// event if they were just read.
pub async fn grant(
    db: &impl ConnectionTrait,
    index: &LocateIndex,
    user: &CurrentUser,
    areas: &[accounts::AreaRef],
    s: &Subject,
    task: Option<(tasks::Model, events::Model)>,
) -> ApiResult<Option<Grant>> {
    let g = match s.kind {
        DocKind::Task => {
            let (task, event) = match task.filter(|(t, _)| t.id == s.id) {
                Some(rows) => rows,
                None => match tasks::Entity::find_by_id(s.id)
                    .find_also_related(events::Entity)
                    .one(db)
                    .await?
                {
                    Some((t, Some(e))) => (t, e),
                    _ => return Ok(None),
                },
            };
            crate::access::task(user, areas, index, &event, &task)
        }
        DocKind::Report => {
            let Some(e) = events::Entity::find_by_id(s.id).one(db).await? else {
                return Ok(None);
            };
            let open = if uses_areas(user) {
                crate::events::tasks::open_task(db, e.id).await?
            } else {
                None
            };
            crate::access::report(user, areas, index, &e, open.as_ref())?
        }
        DocKind::Building => {
            let Some(b) = buildings::Entity::find_by_id(s.id).one(db).await? else {
                return Ok(None);
            };
            crate::access::building(user, areas, index, &b)
        }
    };
    Ok(g.syncs().then_some(g))
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
            let (task, event) = tasks::Entity::find_by_id(s.id)
                .find_also_related(events::Entity)
                .one(db)
                .await?
                .ok_or(ApiError::NotFound("task"))?;
            let event = event.ok_or(ApiError::NotFound("event"))?;
            Ok(task_fields(&task, &event))
        }
        DocKind::Report => Ok(report_fields(views::event(db, s.id).await?)),
        DocKind::Building => super::building_doc::owned(db, s.id).await,
    }
}

/// The fields of a report's document that its event's rows hold.
fn report_fields(e: views::EventView) -> Vec<(&'static str, Value)> {
    let mut location = BTreeMap::new();
    if let (Some(lat), Some(lng)) = (e.lat, e.lng) {
        location.insert("lat".to_owned(), lat.to_string());
        location.insert("lng".to_owned(), lng.to_string());
    }
    if let Some(b) = &e.building_code {
        location.insert("building".to_owned(), b.clone());
    }
    vec![
        ("status", text(Some(e.status.as_str()))),
        ("description", text(Some(&e.description))),
        ("category", text(Some(&e.category))),
        ("location", Value::strings(location)),
        ("photos", Value::texts(e.photos)),
    ]
}

/// The fields of a task's document that its rows hold.
fn task_fields(task: &tasks::Model, event: &events::Model) -> Vec<(&'static str, Value)> {
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
    vec![
        ("status", text(Some(&event.status))),
        ("description", text(Some(&event.description))),
        ("category", text(Some(&event.category))),
        ("colour", text(Some(&task.colour))),
        ("light", text(Some(&task.light))),
        (
            "assignee",
            Value::Text(format!("{}:{}", task.assignee_kind, task.assignee_code)),
        ),
        ("deadlines", Value::strings(deadlines)),
        ("feedback", text(task.feedback.as_deref())),
        ("on_site_note", text(task.on_site_note.as_deref())),
    ]
}

/// [`owned`] for many tasks at once, in a statement per few hundred: the fields of each task
/// found, by task id.
pub async fn owned_tasks(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> ApiResult<HashMap<Uuid, Vec<(&'static str, Value)>>> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let rows = tasks::Entity::find()
            .find_also_related(events::Entity)
            .filter(tasks::Column::Id.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        for (task, event) in rows {
            if let Some(event) = event {
                found.insert(task.id, task_fields(&task, &event));
            }
        }
    }
    Ok(found)
}

/// Fields a new document starts with besides those of its rows.
pub fn initial(kind: DocKind) -> Vec<(&'static str, Value)> {
    match kind {
        DocKind::Task => vec![("photos", Value::List(Vec::new()))],
        DocKind::Report | DocKind::Building => Vec::new(),
    }
}

/// What writing a document's edit to its rows did.
#[derive(Default)]
pub struct Written {
    /// The values the rows did not take, with the reason.
    pub refused: Vec<(String, String)>,
    /// The outbox row that announced the change.
    pub announced: Option<Uuid>,
    /// The fields the rows hold now, read on the way, so the document can agree with them
    /// without reading them again.
    pub owned: Option<Vec<(&'static str, Value)>>,
}

/// Writes the accepted fields of an edit of a task or report to the rows inside the caller's
/// transaction, by `user`, through the same functions as the REST calls that write them
/// (`events::notes`): the same checks, the same timeline step, the same live announcement.
/// Values the rows do not take are not written, and come back with the reason.
pub async fn write_rows(
    db: &impl ConnectionTrait,
    user: &CurrentUser,
    s: &Subject,
    after: &hydrate::Value,
    accepted: &BTreeSet<String>,
) -> ApiResult<Written> {
    if accepted.is_empty() {
        return Ok(Written::default());
    }
    let mut refused = Vec::new();
    let noted = match s.kind {
        DocKind::Task => {
            let (task, event) = tasks::Entity::find_by_id(s.id)
                .find_also_related(events::Entity)
                .one(db)
                .await?
                .ok_or(ApiError::NotFound("task"))?;
            let event = event.ok_or(ApiError::NotFound("event"))?;
            let text = |field: &str| {
                accepted
                    .contains(field)
                    .then(|| fields::read_text(after, field).unwrap_or_default())
            };
            let mut edit = notes::TaskNotes {
                feedback: text("feedback"),
                on_site_note: text("on_site_note"),
                photos: accepted
                    .contains("photos")
                    .then(|| fields::read_texts(after, "photos").unwrap_or_default()),
            };
            if let Err(e) = edit.check() {
                return refusal(e);
            }
            // Photos that are not the writer's own uploads are not taken (the handle move would
            // refuse them too); the notes beside them still are.
            match edit.check_photos(db, user.id).await {
                Ok(()) => {}
                Err(ApiError::Validation(errors)) => {
                    refused.extend(errors.into_iter().map(|e| (e.field, e.message)));
                    edit.photos = None;
                }
                Err(other) => return Err(other),
            }
            notes::note_task(db, user.id, task, event, &edit).await?
        }
        DocKind::Report => {
            let text = fields::read_text(after, "description").unwrap_or_default();
            if let Err(e) = notes::check_description(&text) {
                return refusal(e);
            }
            let e = events::Entity::find_by_id(s.id)
                .one(db)
                .await?
                .ok_or(ApiError::NotFound("event"))?;
            notes::reword_report(db, user.id, e, &text).await?
        }
        // A profile edit goes through the places module's own transaction.
        DocKind::Building => {
            return Err(ApiError::Unexpected(anyhow::anyhow!(
                "a building profile is written through write_building"
            )));
        }
    };
    let owned = match &noted.rows {
        Some((task, event)) => task_fields(task, event),
        None => report_fields(noted.view),
    };
    Ok(Written {
        refused,
        announced: Some(noted.announced),
        owned: Some(owned),
    })
}

/// The values a check refused, for the peer: only a validation error is the peer's to hear;
/// anything else is the server's and goes up.
fn refusal(e: ApiError) -> ApiResult<Written> {
    match e {
        ApiError::Validation(errors) => Ok(Written {
            refused: errors.into_iter().map(|e| (e.field, e.message)).collect(),
            ..Written::default()
        }),
        other => Err(other),
    }
}

/// Writes the accepted fields of a building profile's edit through the places module, which
/// records the visit and announces it; the values it does not take, with the reason.
pub async fn write_building(
    db: &DatabaseConnection,
    live: &Live,
    user: &CurrentUser,
    s: &Subject,
    after: &hydrate::Value,
    accepted: &BTreeSet<String>,
) -> ApiResult<Vec<(String, String)>> {
    if accepted.is_empty() {
        return Ok(Vec::new());
    }
    let refused = super::building_doc::write_through(db, s.id, user.id, after, accepted).await?;
    live.poke();
    Ok(refused)
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

#[cfg(test)]
mod tests {
    use automerge::{AutoCommit, ROOT, ReadDoc};

    use super::*;
    use crate::accounts::AreaKind;
    use crate::events::catalogue::Colour;
    use crate::events::tasks::open_task_for;
    use crate::testing::{TestResult, area, database, event_in_s_g1, limits, tree, user};

    fn doc(fields: &[(&str, Value)]) -> Result<hydrate::Value, automerge::AutomergeError> {
        let mut d = AutoCommit::new();
        fields::write(&mut d, fields)?;
        d.hydrate(ROOT, None)
    }

    fn task_subject() -> Subject {
        Subject {
            kind: DocKind::Task,
            id: Uuid::now_v7(),
            event: Some(Uuid::now_v7()),
        }
    }

    #[test]
    fn a_task_document_signs_arrives_and_hands_in_its_feedback_and_photos() -> TestResult {
        let s = task_subject();
        let empty = doc(&[])?;
        assert!(matches!(
            status_move(&s, "signed", &empty),
            Ok(MoveRequest::Sign)
        ));
        assert!(matches!(
            status_move(&s, "on_site", &empty),
            Ok(MoveRequest::Arrive)
        ));
        let sha = "ab".repeat(32);
        let handed = doc(&[
            ("feedback", Value::Text("已清理".into())),
            ("photos", Value::texts([sha.clone()])),
        ])?;
        match status_move(&s, "handled", &handed) {
            Ok(MoveRequest::Handle { feedback, photos }) => {
                assert_eq!((feedback.as_str(), photos), ("已清理", vec![sha]));
            }
            other => panic!("handled is the handle move, got {other:?}"),
        }
        // The command centre's moves, and any status of a report, are not a document's to make.
        for status in ["completed", "dispatched", "rejected", "evaluated", "bogus"] {
            assert!(status_move(&s, status, &empty).is_err(), "{status}");
        }
        let report = Subject {
            kind: DocKind::Report,
            ..s
        };
        assert!(status_move(&report, "signed", &empty).is_err());
        Ok(())
    }

    #[tokio::test]
    async fn a_task_id_names_its_document_and_only_its_holders_and_the_command_centre_sync_it()
    -> TestResult {
        let db = database().await?;
        let idx = tree();
        let reporter = Uuid::now_v7();
        let e = event_in_s_g1(&db, Some(reporter), "environment.garbage", "dispatched").await?;
        let t = open_task_for(
            &db,
            e.id,
            "grid",
            "S-G1",
            Colour::Yellow,
            limits(),
            e.created_at,
        )
        .await?;
        let found = resolve_many(&db, &[t.id, e.id, Uuid::now_v7()]).await?;
        assert_eq!(found.len(), 2, "the unknown id names nothing");
        let task = found.get(&t.id).ok_or("the task")?;
        assert_eq!(
            (task.subject.kind, task.subject.event, task.stored),
            (DocKind::Task, Some(e.id), false)
        );
        let report = found.get(&e.id).ok_or("the report")?;
        assert_eq!(report.subject.kind, DocKind::Report);
        let s = task.subject;

        let worker = user(&[Role::GridWorker]);
        let holds = [area(AreaKind::Grid, "S-G1")];
        let g = grant(&db, &idx, &worker, &holds, &s, None)
            .await?
            .ok_or("synced")?;
        assert!(g.may_write(DocKind::Task, "feedback"));
        assert!(
            !g.may_write(DocKind::Task, "status"),
            "the rows own the status"
        );
        let dispatcher = user(&[Role::Dispatcher]);
        let g = grant(&db, &idx, &dispatcher, &[], &s, None)
            .await?
            .ok_or("synced")?;
        assert!(
            g.writable(DocKind::Task).is_empty(),
            "the command centre reads"
        );
        let elsewhere = [area(AreaKind::Grid, "S-G3")];
        assert!(
            grant(&db, &idx, &worker, &elsewhere, &s, None)
                .await?
                .is_none()
        );
        assert!(
            grant(&db, &idx, &user(&[Role::Citizen]), &[], &s, None)
                .await?
                .is_none()
        );
        let gone = Subject {
            id: Uuid::now_v7(),
            ..s
        };
        assert!(
            grant(&db, &idx, &worker, &holds, &gone, None)
                .await?
                .is_none()
        );

        // The document starts from the rows.
        let owned = owned(&db, &s).await?;
        let field = |name: &str| {
            owned
                .iter()
                .find(|(f, _)| *f == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(field("status"), Some(Value::Text("dispatched".into())));
        assert_eq!(field("assignee"), Some(Value::Text("grid:S-G1".into())));
        assert_eq!(field("colour"), Some(Value::Text("yellow".into())));
        Ok(())
    }
}
