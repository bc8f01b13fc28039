//! Volunteers: registering oneself, the registry for coordinators, volunteer teams with leaders,
//! joining, leaving and approval.

use std::collections::BTreeSet;

use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::PROBLEM;
use crate::auth::Auth;
use crate::auth::roles::{AnyRole, Coordinators};
use crate::community::service_hours::{self, ServiceEntry};
use crate::community::volunteers::{
    self, MemberStatus, MemberView, TeamSpec, TeamView, VolunteerFilter, VolunteerSpec,
    VolunteerView,
};
use crate::domain::{code_into, text, verdict};
use crate::error::{ApiResult, FieldError, Problem};
use crate::extract::{Json, Query};
use crate::pagination::{Page, PageQuery, PageRequest};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(register_volunteer)
        .service(my_volunteer)
        .service(my_service)
        .service(list_volunteers)
        .service(get_volunteer)
        .service(create_volunteer_team)
        .service(list_volunteer_teams)
        .service(get_volunteer_team)
        .service(volunteer_team_roster)
        .service(join_volunteer_team)
        .service(leave_volunteer_team)
        .service(decide_volunteer_team_member);
}

/// A skill as a volunteer names it, e.g. `急救`: 1–32 characters, no control characters.
#[derive(ToSchema)]
#[schema(
    pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\u{0}-\u{1f}\u{7f}-\u{9f}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([^\u{0}-\u{9}\u{b}\u{c}\u{e}-\u{1f}\u{7f}-\u{9f}]{0,30}[^\u{0}-\u{1f}\u{7f}-\u{9f}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
)]
pub struct SkillName(#[allow(dead_code)] String);

/// What a volunteer registers with.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterVolunteerRequest {
    /// Up to 20 skills, e.g. `急救`, `心理疏导`, `drone`.
    #[serde(default)]
    #[schema(max_items = 20, value_type = Vec<SkillName>)]
    pub skills: Vec<String>,
    /// Codes of up to 20 areas served, e.g. a community or a grid.
    #[serde(default)]
    #[schema(max_items = 20, value_type = Vec<crate::domain::Code>)]
    pub areas: Vec<String>,
    /// A few words about oneself, up to 500 characters.
    #[schema(
        pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*([^\u{0}-\u{1f}\u{7f}-\u{9f}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([^\u{0}-\u{9}\u{b}\u{c}\u{e}-\u{1f}\u{7f}-\u{9f}]{0,498}[^\u{0}-\u{1f}\u{7f}-\u{9f}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*)?$"
    )]
    pub bio: Option<String>,
}

/// Register as a volunteer (志愿者注册), or change one's skills, areas and bio.
#[utoipa::path(
    tag = "volunteers",
    security(("bearer" = [])),
    request_body = RegisterVolunteerRequest,
    responses(
        (status = 201, description = "Registered", body = VolunteerView),
        (status = 200, description = "Changed", body = VolunteerView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/volunteers/me")]
pub async fn register_volunteer(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    Json(body): Json<RegisterVolunteerRequest>,
) -> ApiResult<HttpResponse> {
    let mut errors: Vec<FieldError> = Vec::new();
    if body.skills.len() > 20 {
        errors.push(FieldError::new("skills", "max_items", "at most 20 skills"));
    }
    if body.areas.len() > 20 {
        errors.push(FieldError::new("areas", "max_items", "at most 20 areas"));
    }
    let skills: BTreeSet<String> = body
        .skills
        .iter()
        .enumerate()
        .map(|(i, s)| text(&mut errors, &format!("skills[{i}]"), s, 1, 32))
        .collect();
    for (i, a) in body.areas.iter().enumerate() {
        code_into(&mut errors, &format!("areas[{i}]"), a);
    }
    let bio = body
        .bio
        .as_deref()
        .map(|b| text(&mut errors, "bio", b, 0, 500))
        .filter(|b| !b.is_empty());
    verdict(errors)?;
    let spec = VolunteerSpec {
        skills,
        areas: body.areas,
        bio,
    };
    let (view, created) = volunteers::register(&state.db, auth.user.id, spec).await?;
    Ok(if created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// One's own volunteer profile: skills, areas, teams and minutes served.
#[utoipa::path(
    tag = "volunteers",
    security(("bearer" = [])),
    responses(
        (status = 200, body = VolunteerView),
        (status = 404, description = "Not registered as a volunteer", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/volunteers/me")]
pub async fn my_volunteer(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
) -> ApiResult<web::Json<VolunteerView>> {
    Ok(web::Json(volunteers::view(&state.db, auth.user.id).await?))
}

/// One's service record: every attended shift with its minutes, newest first.
#[utoipa::path(
    tag = "volunteers",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = Page<ServiceEntry>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/volunteers/me/service")]
pub async fn my_service(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    Query(q): Query<PageQuery>,
) -> ApiResult<web::Json<Page<ServiceEntry>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(web::Json(
        service_hours::service_record(&state.db, auth.user.id, page).await?,
    ))
}

/// Filters and paging for the registry.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListVolunteersQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    /// Volunteers serving this area or one below it.
    pub area: Option<String>,
    /// Active members of this volunteer team.
    pub team: Option<String>,
    /// Volunteers with this skill.
    pub skill: Option<String>,
}

/// The volunteer registry, in registration order.
#[utoipa::path(
    tag = "volunteers",
    security(("bearer" = [])),
    params(ListVolunteersQuery),
    responses(
        (status = 200, body = Page<VolunteerView>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/volunteers")]
pub async fn list_volunteers(
    state: web::Data<AppState>,
    _auth: Auth<Coordinators>,
    Query(q): Query<ListVolunteersQuery>,
) -> ApiResult<web::Json<Page<VolunteerView>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let filter = VolunteerFilter {
        area: q.area,
        team: q.team,
        skill: q.skill,
    };
    Ok(web::Json(
        volunteers::list(&state.db, &state.places.get(), page, filter).await?,
    ))
}

/// One volunteer, by their user id.
#[utoipa::path(
    tag = "volunteers",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The volunteer's user id")),
    responses(
        (status = 200, body = VolunteerView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/volunteers/{id}")]
pub async fn get_volunteer(
    state: web::Data<AppState>,
    _auth: Auth<Coordinators>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<VolunteerView>> {
    Ok(web::Json(volunteers::view(&state.db, *id).await?))
}

/// A new volunteer team.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVolunteerTeamRequest {
    #[schema(example = "HQ-PIONEERS")]
    #[schema(value_type = crate::domain::Code)]
    pub code: String,
    #[schema(example = "红乔先锋")]
    #[schema(
        pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\u{0}-\u{1f}\u{7f}-\u{9f}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([^\u{0}-\u{9}\u{b}\u{c}\u{e}-\u{1f}\u{7f}-\u{9f}]{0,98}[^\u{0}-\u{1f}\u{7f}-\u{9f}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
    )]
    pub name: String,
    /// The area the team serves, if any.
    #[schema(value_type = Option<crate::domain::Code>)]
    pub area: Option<String>,
    /// Whether joining waits for a coordinator or a leader (default: no).
    #[serde(default)]
    pub requires_approval: bool,
    /// User ids of the leaders; each must be a registered volunteer.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub leaders: Vec<Uuid>,
}

/// Create a volunteer team.
#[utoipa::path(
    tag = "volunteers",
    security(("bearer" = [])),
    request_body = CreateVolunteerTeamRequest,
    responses(
        (status = 201, body = TeamView),
        (status = 409, description = "Code taken", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/volunteer-teams")]
pub async fn create_volunteer_team(
    state: web::Data<AppState>,
    auth: Auth<Coordinators>,
    Json(body): Json<CreateVolunteerTeamRequest>,
) -> ApiResult<HttpResponse> {
    let mut errors = Vec::new();
    code_into(&mut errors, "code", &body.code);
    let name = text(&mut errors, "name", &body.name, 1, 100);
    if let Some(a) = &body.area {
        code_into(&mut errors, "area", a);
    }
    if body.leaders.len() > 50 {
        errors.push(FieldError::new(
            "leaders",
            "max_items",
            "at most 50 leaders",
        ));
    }
    verdict(errors)?;
    let spec = TeamSpec {
        code: body.code,
        name,
        area: body.area,
        requires_approval: body.requires_approval,
        leaders: body.leaders.into_iter().collect(),
    };
    let team = volunteers::create_team(&state.db, auth.user.id, spec).await?;
    Ok(HttpResponse::Created().json(team))
}

/// Volunteer teams with their sizes, oldest first.
#[utoipa::path(
    tag = "volunteers",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = Page<TeamView>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/volunteer-teams")]
pub async fn list_volunteer_teams(
    state: web::Data<AppState>,
    _auth: Auth<AnyRole>,
    Query(q): Query<PageQuery>,
) -> ApiResult<web::Json<Page<TeamView>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(web::Json(volunteers::list_teams(&state.db, page).await?))
}

/// One volunteer team.
#[utoipa::path(
    tag = "volunteers",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Team code")),
    responses(
        (status = 200, body = TeamView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/volunteer-teams/{code}")]
pub async fn get_volunteer_team(
    state: web::Data<AppState>,
    _auth: Auth<AnyRole>,
    code: web::Path<String>,
) -> ApiResult<web::Json<TeamView>> {
    Ok(web::Json(volunteers::team(&state.db, &code).await?))
}

/// Paging and a status filter for a roster.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RosterQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    /// `pending` lists the requests waiting for a decision.
    // Inlined: no response names this enum, so it would not be among the document's schemas.
    #[param(inline)]
    pub status: Option<MemberStatus>,
}

/// A team's roster in joining order: for coordinators and the team's leaders.
#[utoipa::path(
    tag = "volunteers",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Team code"), RosterQuery),
    responses(
        (status = 200, body = Page<MemberView>),
        (status = 403, description = "Neither a coordinator nor a leader of the team", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/volunteer-teams/{code}/members")]
pub async fn volunteer_team_roster(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    code: web::Path<String>,
    Query(q): Query<RosterQuery>,
) -> ApiResult<web::Json<Page<MemberView>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(web::Json(
        volunteers::roster(&state.db, &code, &auth.user, q.status, page).await?,
    ))
}

/// Join a volunteer team: active at once, or pending where the team requires approval. Joining
/// again answers with the membership held.
#[utoipa::path(
    tag = "volunteers",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Team code")),
    responses(
        (status = 200, body = MemberView),
        (status = 403, description = "Not a registered volunteer", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/volunteer-teams/{code}/join")]
pub async fn join_volunteer_team(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    code: web::Path<String>,
) -> ApiResult<web::Json<MemberView>> {
    Ok(web::Json(
        volunteers::join(&state.db, &code, auth.user.id).await?,
    ))
}

/// Leave a volunteer team, or withdraw a request to join.
#[utoipa::path(
    tag = "volunteers",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Team code")),
    responses(
        (status = 204, description = "Not a member (any more)"),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/volunteer-teams/{code}/leave")]
pub async fn leave_volunteer_team(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    code: web::Path<String>,
) -> ApiResult<HttpResponse> {
    volunteers::leave(&state.db, &code, auth.user.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A decision on a request to join.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamDecisionRequest {
    pub user_id: Uuid,
    /// True to admit, false to turn the request down.
    pub approve: bool,
}

/// Approve or turn down a request to join: for coordinators and the team's leaders.
#[utoipa::path(
    tag = "volunteers",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Team code")),
    request_body = TeamDecisionRequest,
    responses(
        (status = 200, description = "Admitted", body = MemberView),
        (status = 204, description = "Turned down"),
        (status = 403, description = "Neither a coordinator nor a leader of the team", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/volunteer-teams/{code}/decisions")]
pub async fn decide_volunteer_team_member(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    code: web::Path<String>,
    Json(body): Json<TeamDecisionRequest>,
) -> ApiResult<HttpResponse> {
    Ok(
        match volunteers::decide(&state.db, &code, &auth.user, body.user_id, body.approve).await? {
            Some(m) => HttpResponse::Ok().json(m),
            None => HttpResponse::NoContent().finish(),
        },
    )
}
