//! Words on an event between its moves: a task's notes from the grid or team that holds it, and
//! a citizen's rewording of their open report. The same as a phone's offline edits of those
//! fields: one access table decides who may, one function writes them and their timeline step.

use actix_web::{patch, web};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::PROBLEM;
use crate::auth::Auth;
use crate::auth::roles::{AnyRole, Staff};
use crate::error::{ApiResult, Problem};
use crate::events::notes::{self, TaskNotes};
use crate::events::views::EventView;
use crate::extract::Json;
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(note_task).service(reword_report);
}

/// Notes on the open task; an absent note is left as it is, an empty one is cleared.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskNotesRequest {
    /// What was found on site (现场情况).
    #[schema(max_length = 2000, example = "纸箱已堆至二楼楼梯口")]
    pub on_site_note: Option<String>,
    /// What was done so far; the handle move's feedback replaces it.
    #[schema(max_length = 2000, example = "已联系物业清运")]
    pub feedback: Option<String>,
    /// Photos gathered for the handling result so far, each your own upload (`POST
    /// /api/v1/photos`): named in the timeline, attached by the handle move.
    #[schema(max_items = 9)]
    pub photos: Option<Vec<String>>,
}

/// A report's new words.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RewordRequest {
    /// 1–2000 characters once trimmed.
    #[schema(
        min_length = 1,
        max_length = 2000,
        example = "楼道堆放纸箱，堵住了消防通道"
    )]
    pub description: String,
}

/// Note on the open task what was found and done, as the grid or team that holds it. Kept in
/// the timeline (`note`) and announced live (`task.noted`).
#[utoipa::path(
    tag = "events",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Event id")),
    request_body = TaskNotesRequest,
    responses(
        (status = 200, body = EventView),
        (status = 403, description = "The task is not yours to note", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such event, or not one you may see", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The event has no open task", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[patch("/events/{id}/task")]
pub async fn note_task(
    state: web::Data<AppState>,
    auth: Auth<Staff>,
    id: web::Path<Uuid>,
    Json(body): Json<TaskNotesRequest>,
) -> ApiResult<web::Json<EventView>> {
    let notes = TaskNotes {
        feedback: body.feedback,
        on_site_note: body.on_site_note,
        photos: body.photos,
    };
    let noted = notes::note_open_task(
        &state.db,
        &state.places.get(),
        &auth.user,
        id.into_inner(),
        &notes,
    )
    .await?;
    state.live.poke();
    Ok(web::Json(noted.view.shown_to(Some(&auth.user))))
}

/// Reword your own report while it is open (until it is handled). Kept in the timeline
/// (`reword`) and announced live (`report.edited`).
#[utoipa::path(
    tag = "events",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Event id")),
    request_body = RewordRequest,
    responses(
        (status = 200, body = EventView),
        (status = 403, description = "Not your report, or no longer open", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such event, or not one you may see", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[patch("/events/{id}/report")]
pub async fn reword_report(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    id: web::Path<Uuid>,
    Json(body): Json<RewordRequest>,
) -> ApiResult<web::Json<EventView>> {
    let noted = notes::reword(
        &state.db,
        &state.places.get(),
        &auth.user,
        id.into_inner(),
        &body.description,
    )
    .await?;
    state.live.poke();
    Ok(web::Json(noted.view.shown_to(Some(&auth.user))))
}
