//! Teams: admins define them; all staff read them.

use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::PROBLEM;
use crate::auth::Auth;
use crate::auth::roles::{AdminOnly, Staff};
use crate::domain::check_code;
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{Json, Query};
use crate::pagination::{Page, PageRequest};
use crate::places::teams::{self, TeamKind, TeamSpec, TeamView};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_teams)
        .service(create_team)
        .service(get_team)
        .service(replace_team)
        .service(delete_team);
}

/// A team as an admin writes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamBody {
    #[schema(example = "青山湖街道人民调解委员会")]
    #[schema(
        pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([\\s\\S]{0,98}[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
    )]
    pub name: String,
    pub kind: TeamKind,
    /// Codes of the areas covered.
    #[serde(default)]
    #[schema(value_type = Vec<crate::domain::Code>)]
    pub areas: Vec<String>,
    /// Event categories taken, e.g. `dispute.neighbour`, `dispute.family`, `dispute.labour`.
    #[serde(default)]
    #[schema(value_type = Vec<crate::domain::CategoryCode>)]
    pub categories: Vec<String>,
}

// The fields of `TeamBody` are repeated rather than flattened in: serde's flatten loses the path
// of a bad field, and errors must name it.
/// A new team: its code and definition.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeamRequest {
    #[schema(example = "QSH-MED-01")]
    #[schema(value_type = crate::domain::Code)]
    pub code: String,
    #[schema(example = "青山湖街道人民调解委员会")]
    #[schema(
        pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([\\s\\S]{0,98}[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
    )]
    pub name: String,
    pub kind: TeamKind,
    /// Codes of the areas covered.
    #[serde(default)]
    #[schema(value_type = Vec<crate::domain::Code>)]
    pub areas: Vec<String>,
    /// Event categories taken, e.g. `dispute.neighbour`, `dispute.family`, `dispute.labour`.
    #[serde(default)]
    #[schema(value_type = Vec<crate::domain::CategoryCode>)]
    pub categories: Vec<String>,
}

fn spec(body: TeamBody) -> ApiResult<TeamSpec> {
    let mut errors: Vec<FieldError> = Vec::new();
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new("name", "length", "1–100 characters"));
    }
    for (i, c) in body.categories.iter().enumerate() {
        let ok = (1..=64).contains(&c.len())
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.'));
        if !ok {
            errors.push(FieldError::new(
                format!("categories[{i}]"),
                "category_code",
                "1–64 characters of a–z, 0–9, '_' or '.'",
            ));
        }
    }
    for (i, a) in body.areas.iter().enumerate() {
        if let Err(ApiError::Validation(e)) = check_code(&format!("areas[{i}]"), a) {
            errors.extend(e);
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(TeamSpec {
        name,
        kind: body.kind,
        areas: body.areas,
        categories: body.categories.into_iter().collect(),
    })
}

/// Filters and paging for the team list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListTeamsQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    /// Only teams of this kind.
    pub kind: Option<TeamKind>,
}

/// List teams with their areas, categories and members.
#[utoipa::path(
    tag = "teams",
    security(("bearer" = [])),
    params(ListTeamsQuery),
    responses(
        (status = 200, body = Page<TeamView>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/teams")]
pub async fn list_teams(
    state: web::Data<AppState>,
    _auth: Auth<Staff>,
    Query(q): Query<ListTeamsQuery>,
) -> ApiResult<web::Json<Page<TeamView>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(web::Json(teams::list(&state.db, page, q.kind).await?))
}

/// Create a team. Members join it through their account's areas (`{"kind":"team","code":…}`).
#[utoipa::path(
    tag = "teams",
    security(("bearer" = [])),
    request_body = CreateTeamRequest,
    responses(
        (status = 201, body = TeamView),
        (status = 409, description = "Code taken", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/teams")]
pub async fn create_team(
    state: web::Data<AppState>,
    _auth: Auth<AdminOnly>,
    Json(body): Json<CreateTeamRequest>,
) -> ApiResult<HttpResponse> {
    check_code("code", &body.code)?;
    let team = TeamBody {
        name: body.name,
        kind: body.kind,
        areas: body.areas,
        categories: body.categories,
    };
    let team = teams::create(&state.db, body.code, spec(team)?).await?;
    Ok(HttpResponse::Created().json(team))
}

/// One team.
#[utoipa::path(
    tag = "teams",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Team code")),
    responses(
        (status = 200, body = TeamView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/teams/{code}")]
pub async fn get_team(
    state: web::Data<AppState>,
    _auth: Auth<Staff>,
    code: web::Path<String>,
) -> ApiResult<web::Json<TeamView>> {
    Ok(web::Json(teams::get(&state.db, &code).await?))
}

/// Replace a team's name, kind, areas and categories.
#[utoipa::path(
    tag = "teams",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Team code")),
    request_body = TeamBody,
    responses(
        (status = 200, body = TeamView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[put("/teams/{code}")]
pub async fn replace_team(
    state: web::Data<AppState>,
    _auth: Auth<AdminOnly>,
    code: web::Path<String>,
    Json(body): Json<TeamBody>,
) -> ApiResult<web::Json<TeamView>> {
    Ok(web::Json(
        teams::update(&state.db, &code, spec(body)?).await?,
    ))
}

/// Delete a team; its members keep their accounts.
#[utoipa::path(
    tag = "teams",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Team code")),
    responses(
        (status = 204, description = "Deleted"),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[delete("/teams/{code}")]
pub async fn delete_team(
    state: web::Data<AppState>,
    _auth: Auth<AdminOnly>,
    code: web::Path<String>,
) -> ApiResult<HttpResponse> {
    teams::delete(&state.db, &code).await?;
    Ok(HttpResponse::NoContent().finish())
}
