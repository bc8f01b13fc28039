//! Events as clients see them, and lists: "my reports" for citizens, a grid's or team's events for
//! its workers, everything for the command centre.

use chrono::{DateTime, Utc};
use places::locate::LocateIndex;
use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::flow::Status;
use super::timeline::{self, TimelineEntry};
use crate::accounts::{AreaKind, AreaRef};
use crate::auth::roles::Role;
use crate::auth::user::CurrentUser;
use crate::entities::{event_photos, events, tasks};
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, PageRequest};
use crate::places::areas::served_codes;
use crate::stored::Corrupt;

/// A task: the event's assignment to a grid or team, with its deadlines.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskView {
    pub id: Uuid,
    /// `grid` or `team`.
    pub assignee_kind: String,
    pub assignee_code: String,
    /// False once the task was completed, redispatched or rejected.
    pub open: bool,
    pub colour: String,
    pub sign_due: Option<DateTime<Utc>>,
    pub arrive_due: Option<DateTime<Utc>>,
    pub handle_due: Option<DateTime<Utc>>,
    pub signed_at: Option<DateTime<Utc>>,
    pub arrived_at: Option<DateTime<Utc>>,
    pub handled_at: Option<DateTime<Utc>>,
    /// `none`, `yellow` or `red`: 亮灯督办 when deadlines pass.
    pub light: String,
    /// The area a late task was escalated to.
    pub escalated_to: Option<String>,
    /// The handling result, as the worker wrote it.
    pub feedback: Option<String>,
    /// What the worker noted on site (written in the task's document).
    pub on_site_note: Option<String>,
    /// The task's offline document, for `@automerge/automerge-repo` over `GET /api/v1/sync`.
    #[schema(example = "automerge:4NMNnkMhL8jXrdJ9jamS58PAVdXu")]
    pub document_url: String,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl From<tasks::Model> for TaskView {
    fn from(t: tasks::Model) -> Self {
        Self {
            id: t.id,
            assignee_kind: t.assignee_kind,
            assignee_code: t.assignee_code,
            open: t.open,
            colour: t.colour,
            sign_due: t.sign_due,
            arrive_due: t.arrive_due,
            handle_due: t.handle_due,
            signed_at: t.signed_at,
            arrived_at: t.arrived_at,
            handled_at: t.handled_at,
            light: t.light,
            escalated_to: t.escalated_to,
            feedback: t.feedback,
            on_site_note: t.on_site_note,
            document_url: sync_engine::docid::DocumentId::from_uuid(t.id).url(),
            created_at: t.created_at,
            closed_at: t.closed_at,
        }
    }
}

/// An event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    pub id: Uuid,
    /// citizen, patrol, hotline or machine.
    pub source: String,
    pub status: Status,
    pub category: String,
    pub colour: String,
    pub description: String,
    /// WGS84.
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub building_code: Option<String>,
    pub micro_grid_code: Option<String>,
    pub grid_code: Option<String>,
    pub street_code: Option<String>,
    /// An earlier event that likely reports the same matter; shown to the command centre only
    /// (null for everyone else).
    pub duplicate_of: Option<Uuid>,
    pub merged_into: Option<Uuid>,
    /// The reporter's rating, 1–5, once evaluated.
    pub rating: Option<i32>,
    pub rating_comment: Option<String>,
    /// Photos of the report (sha256; GET /api/v1/photos/{sha256}).
    pub photos: Vec<String>,
    /// Photos of the handling result.
    pub feedback_photos: Vec<String>,
    /// The current task, or the last one.
    pub task: Option<TaskView>,
    /// The report's offline document, for its reporter (`GET /api/v1/sync`).
    #[schema(example = "automerge:4NMNnkMhL8jXrdJ9jamS58PAVdXu")]
    pub document_url: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An event with its whole history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventDetail {
    #[serde(flatten)]
    pub event: EventView,
    pub tasks: Vec<TaskView>,
    pub timeline: Vec<TimelineEntry>,
}

/// Whether `viewer` (None: a machine) may see which earlier report an event likely repeats.
/// That names another reporter's event, so only the command centre, which decides on
/// duplicates, sees it. Every path that shows an event goes through here: the REST views
/// ([`EventView::shown_to`], [`EventDetail::shown_to`]) and the live feed ([`hide_duplicate`]).
pub fn sees_duplicates(viewer: Option<&CurrentUser>) -> bool {
    viewer.is_some_and(super::access::is_command_centre)
}

/// The field that names the earlier event, in views and in the report's timeline step.
const DUPLICATE_OF: &str = "duplicate_of";

/// Blanks the earlier event's id in an event as JSON (a live-feed payload, a timeline step's
/// detail), for a viewer who may not see it. The key stays, as null, so the shape is the same
/// for everyone.
pub fn hide_duplicate(value: &mut serde_json::Value) {
    if let Some(v) = value.get_mut(DUPLICATE_OF) {
        *v = serde_json::Value::Null;
    }
}

impl EventView {
    /// The view as `viewer` may see it (see [`sees_duplicates`]).
    #[must_use]
    pub fn shown_to(mut self, viewer: Option<&CurrentUser>) -> Self {
        if !sees_duplicates(viewer) {
            self.duplicate_of = None;
        }
        self
    }
}

impl EventDetail {
    /// The event and its timeline as `viewer` may see them (see [`sees_duplicates`]).
    #[must_use]
    pub fn shown_to(mut self, viewer: Option<&CurrentUser>) -> Self {
        if !sees_duplicates(viewer) {
            self.event = self.event.shown_to(viewer);
            for step in &mut self.timeline {
                hide_duplicate(&mut step.detail);
            }
        }
        self
    }
}

/// Who hears of an event's changes: the grid or the team it is with.
pub fn audience(assignee: Option<&(String, String)>) -> (Option<String>, Option<String>) {
    match assignee {
        Some((kind, code)) if kind == "team" => (None, Some(code.clone())),
        Some((_, code)) => (Some(code.clone()), None),
        None => (None, None),
    }
}

async fn assemble(
    db: &impl ConnectionTrait,
    rows: Vec<events::Model>,
) -> ApiResult<Vec<EventView>> {
    let ids: Vec<Uuid> = rows.iter().map(|e| e.id).collect();
    let mut tasks_by: std::collections::HashMap<Uuid, tasks::Model> =
        std::collections::HashMap::new();
    for t in tasks::Entity::find()
        .filter(tasks::Column::EventId.is_in(ids.clone()))
        .order_by_asc(tasks::Column::Id)
        .all(db)
        .await?
    {
        // The open task wins; otherwise the latest.
        let keep = tasks_by
            .get(&t.event_id)
            .is_none_or(|old| !old.open || t.open);
        if keep {
            tasks_by.insert(t.event_id, t);
        }
    }
    let mut photos: std::collections::HashMap<(Uuid, String), Vec<String>> =
        std::collections::HashMap::new();
    for p in event_photos::Entity::find()
        .filter(event_photos::Column::EventId.is_in(ids))
        .order_by_asc(event_photos::Column::CreatedAt)
        .all(db)
        .await?
    {
        photos
            .entry((p.event_id, p.role))
            .or_default()
            .push(p.sha256);
    }
    rows.into_iter()
        .map(|e| {
            let report = photos
                .remove(&(e.id, "report".to_owned()))
                .unwrap_or_default();
            let feedback = photos
                .remove(&(e.id, "feedback".to_owned()))
                .unwrap_or_default();
            let task = tasks_by.remove(&e.id);
            Ok(EventView {
                feedback_photos: feedback,
                ..assemble_one(e, task, report)?
            })
        })
        .collect()
}

/// The view of an event just written, from its rows (no read back).
pub fn assemble_one(
    e: events::Model,
    task: Option<tasks::Model>,
    photos: Vec<String>,
) -> Result<EventView, Corrupt> {
    Ok(EventView {
        status: Status::parse(&e.status)?,
        photos,
        feedback_photos: Vec::new(),
        task: task.map(TaskView::from),
        document_url: sync_engine::docid::DocumentId::from_uuid(e.id).url(),
        id: e.id,
        source: e.source,
        category: e.category,
        colour: e.colour,
        description: e.description,
        lat: e.lat,
        lng: e.lng,
        building_code: e.building_code,
        micro_grid_code: e.micro_grid_code,
        grid_code: e.grid_code,
        street_code: e.street_code,
        duplicate_of: e.duplicate_of,
        merged_into: e.merged_into,
        rating: e.rating,
        rating_comment: e.rating_comment,
        created_at: e.created_at,
        updated_at: e.updated_at,
    })
}

/// One event; callers check visibility first.
pub async fn event(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<EventView> {
    let row = events::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("event"))?;
    view_of(db, row).await
}

/// [`event`] for an event row the caller has just read or written.
pub async fn view_of(db: &impl ConnectionTrait, row: events::Model) -> ApiResult<EventView> {
    assemble(db, vec![row])
        .await?
        .pop()
        .ok_or(ApiError::NotFound("event"))
}

/// One event with its tasks and timeline.
pub async fn detail(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<EventDetail> {
    let event = event(db, id).await?;
    let tasks = tasks::Entity::find()
        .filter(tasks::Column::EventId.eq(id))
        .order_by_asc(tasks::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(TaskView::from)
        .collect();
    Ok(EventDetail {
        event,
        tasks,
        timeline: timeline::of_event(db, id).await?,
    })
}

/// Filters of the event list.
#[derive(Debug, Default)]
pub struct EventFilter {
    /// Only the caller's own reports.
    pub mine: bool,
    pub status: Option<Status>,
    pub grid: Option<String>,
    /// Only events whose open task is lit.
    pub lit: bool,
}

/// Events the caller may see, newest first: the command centre all; workers those of their
/// grids and teams (by the current task); everyone their own reports.
pub async fn list(
    db: &impl ConnectionTrait,
    index: &LocateIndex,
    user: &CurrentUser,
    areas: &[AreaRef],
    page: PageRequest,
    filter: EventFilter,
) -> ApiResult<Page<EventView>> {
    let mut q = events::Entity::find().order_by_desc(events::Column::Id);
    let mine = Condition::all().add(events::Column::ReporterId.eq(user.id));
    if filter.mine
        || !(super::access::is_command_centre(user)
            || user.has(Role::GridWorker)
            || user.has(Role::TeamMember))
    {
        q = q.filter(mine);
    } else if !super::access::is_command_centre(user) {
        let grids: Vec<String> = if user.has(Role::GridWorker) {
            served_codes(index, areas).into_iter().collect()
        } else {
            Vec::new()
        };
        let teams: Vec<String> = if user.has(Role::TeamMember) {
            areas
                .iter()
                .filter(|a| a.kind == AreaKind::Team)
                .map(|a| a.code.clone())
                .collect()
        } else {
            Vec::new()
        };
        let assigned = Query::select()
            .column(tasks::Column::EventId)
            .from(tasks::Entity)
            .and_where(tasks::Column::Open.eq(true))
            .cond_where(
                Condition::any()
                    .add(
                        Condition::all()
                            .add(tasks::Column::AssigneeKind.eq("grid"))
                            .add(tasks::Column::AssigneeCode.is_in(grids.clone())),
                    )
                    .add(
                        Condition::all()
                            .add(tasks::Column::AssigneeKind.eq("team"))
                            .add(tasks::Column::AssigneeCode.is_in(teams)),
                    ),
            )
            .to_owned();
        q = q.filter(
            Condition::any()
                .add(events::Column::ReporterId.eq(user.id))
                // A micro-grid's worker sees what happens in it, as the access table says.
                .add(events::Column::GridCode.is_in(grids.clone()))
                .add(events::Column::MicroGridCode.is_in(grids))
                .add(events::Column::Id.in_subquery(assigned)),
        );
    }
    if let Some(s) = filter.status {
        q = q.filter(events::Column::Status.eq(s.as_str()));
    }
    if let Some(g) = filter.grid {
        q = q.filter(events::Column::GridCode.eq(g));
    }
    if filter.lit {
        let lit = Query::select()
            .column(tasks::Column::EventId)
            .from(tasks::Entity)
            .and_where(tasks::Column::Open.eq(true))
            .and_where(tasks::Column::Light.ne("none"))
            .to_owned();
        q = q.filter(events::Column::Id.in_subquery(lit));
    }
    if let Some(after) = page.after {
        q = q.filter(events::Column::Id.lt(after));
    }
    let rows = q.limit(page.fetch()).all(db).await?;
    let page_rows = Page::from_rows(rows, &page, |e| e.id);
    Ok(Page {
        items: assemble(db, page_rows.items).await?,
        next_cursor: page_rows.next_cursor,
    })
}
