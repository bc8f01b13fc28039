//! Call-outs (紧急召集): calling every volunteer of an area or a team at once, answers, the roll.

use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::PROBLEM;
use crate::auth::Auth;
use crate::auth::roles::{AnyRole, Coordinators};
use crate::community::callouts::{self, Answer, CalloutView, NewCallout, RollEntry, Target};
use crate::domain::{code_into, text, verdict};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{Json, Query};
use crate::pagination::{Page, PageQuery, PageRequest};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_callout)
        .service(my_callouts)
        .service(get_callout)
        .service(callout_roll)
        .service(answer_callout);
}

/// A call-out: to the volunteers of an area, or to the members of a team (exactly one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCalloutRequest {
    #[schema(example = "防汛紧急集结")]
    #[schema(
        pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\u{0}-\u{1f}\u{7f}-\u{9f}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([^\u{0}-\u{9}\u{b}\u{c}\u{e}-\u{1f}\u{7f}-\u{9f}]{0,98}[^\u{0}-\u{1f}\u{7f}-\u{9f}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
    )]
    pub title: String,
    #[schema(example = "请于30分钟内到村委会集合，携带雨具。")]
    #[schema(
        pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\u{0}-\u{1f}\u{7f}-\u{9f}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([^\u{0}-\u{9}\u{b}\u{c}\u{e}-\u{1f}\u{7f}-\u{9f}]{0,1998}[^\u{0}-\u{1f}\u{7f}-\u{9f}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
    )]
    pub message: String,
    /// Every volunteer serving this area or one below it.
    #[schema(value_type = Option<crate::domain::Code>)]
    pub area: Option<String>,
    /// Every active member of this volunteer team.
    #[schema(value_type = Option<crate::domain::Code>)]
    pub team: Option<String>,
}

/// Call out volunteers: each hears it live (`callout.created` on `/api/v1/live`) and by email
/// where they gave an address; the caller hears every answer live (`callout.answered`).
#[utoipa::path(
    tag = "callouts",
    security(("bearer" = [])),
    request_body = CreateCalloutRequest,
    responses(
        (status = 201, body = CalloutView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/callouts")]
pub async fn create_callout(
    state: web::Data<AppState>,
    auth: Auth<Coordinators>,
    Json(body): Json<CreateCalloutRequest>,
) -> ApiResult<HttpResponse> {
    let mut errors: Vec<FieldError> = Vec::new();
    let title = text(&mut errors, "title", &body.title, 1, 100);
    let message = text(&mut errors, "message", &body.message, 1, 2000);
    let target = match (body.area, body.team) {
        (Some(a), None) => {
            code_into(&mut errors, "area", &a);
            Some(Target::Area(a))
        }
        (None, Some(t)) => {
            code_into(&mut errors, "team", &t);
            Some(Target::Team(t))
        }
        _ => {
            errors.push(FieldError::new(
                "area",
                "one_of",
                "name exactly one of area or team",
            ));
            None
        }
    };
    verdict(errors)?;
    let target = target.ok_or_else(|| ApiError::invalid("area", "one_of", "area or team"))?;
    let new = NewCallout {
        title,
        message,
        target,
    };
    let view = callouts::create(
        &state.db,
        &state.places.get(),
        &state.live,
        auth.user.id,
        new,
    )
    .await?;
    Ok(HttpResponse::Created().json(view))
}

/// The call-outs one was called to, newest first, with one's answer.
#[utoipa::path(
    tag = "callouts",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = Page<CalloutView>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/callouts/mine")]
pub async fn my_callouts(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    Query(q): Query<PageQuery>,
) -> ApiResult<web::Json<Page<CalloutView>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(web::Json(
        callouts::mine(&state.db, auth.user.id, page).await?,
    ))
}

/// A call-out and its tally: coordinators see any, a volunteer those they were called to.
#[utoipa::path(
    tag = "callouts",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Call-out id")),
    responses(
        (status = 200, body = CalloutView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/callouts/{id}")]
pub async fn get_callout(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<CalloutView>> {
    Ok(web::Json(callouts::get(&state.db, *id, &auth.user).await?))
}

/// The roll: every volunteer called, with their answer, in calling order.
#[utoipa::path(
    tag = "callouts",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Call-out id"), PageQuery),
    responses(
        (status = 200, body = Page<RollEntry>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/callouts/{id}/roll")]
pub async fn callout_roll(
    state: web::Data<AppState>,
    _auth: Auth<Coordinators>,
    id: web::Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> ApiResult<web::Json<Page<RollEntry>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(web::Json(callouts::roll(&state.db, *id, page).await?))
}

/// An answer to a call-out.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    pub answer: Answer,
}

/// Answer a call-out one was called to (yes or no; answering again changes the answer).
#[utoipa::path(
    tag = "callouts",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Call-out id")),
    request_body = AnswerRequest,
    responses(
        (status = 200, body = CalloutView),
        (status = 404, description = "No such call-out, or not called to it", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/callouts/{id}/answer")]
pub async fn answer_callout(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    id: web::Path<Uuid>,
    Json(body): Json<AnswerRequest>,
) -> ApiResult<web::Json<CalloutView>> {
    Ok(web::Json(
        callouts::answer(&state.db, &state.live, *id, auth.user.id, body.answer).await?,
    ))
}
