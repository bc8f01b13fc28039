//! The caller's own account, and account management for admins.

use std::collections::BTreeSet;

use actix_web::{HttpResponse, get, patch, post, web};
use sea_orm::DatabaseConnection;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::PROBLEM;
use crate::accounts::{self, AccountChange, AreaRef, NewAccount, UserView};
use crate::auth::Auth;
use crate::auth::roles::{AdminOnly, AnyRole, Role};
use crate::domain::{DisplayName, Email, Password, Phone};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Query};
use crate::pagination::{Page, PageRequest};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(me)
        .service(list_users)
        .service(create_user)
        .service(get_user)
        .service(update_user);
}

/// The signed-in user.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, body = UserView),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, auth: Auth<AnyRole>) -> ApiResult<web::Json<UserView>> {
    Ok(web::Json(accounts::view(&state.db, auth.user.id).await?))
}

/// Areas in the right shape that exist in the area tree (or as teams).
async fn validate_areas(
    db: &DatabaseConnection,
    areas: Vec<AreaRef>,
) -> ApiResult<BTreeSet<AreaRef>> {
    for (i, a) in areas.iter().enumerate() {
        a.validate(&format!("areas[{i}]"))?;
    }
    accounts::check_areas_exist(db, &areas).await?;
    Ok(areas.into_iter().collect())
}

/// Filters and paging for the user list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    /// Only users holding this role.
    pub role: Option<Role>,
    /// Only users whose phone number or name contains this text (1–64 characters).
    #[param(min_length = 1, max_length = 64)]
    pub q: Option<String>,
    /// Only disabled (`true`) or active (`false`) accounts.
    pub disabled: Option<bool>,
}

/// The longest search text: a name's length.
const SEARCH_MAX: usize = 64;

/// List accounts, oldest first.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(ListUsersQuery),
    responses(
        (status = 200, body = Page<UserView>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    _auth: Auth<AdminOnly>,
    Query(q): Query<ListUsersQuery>,
) -> ApiResult<web::Json<Page<UserView>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let text = crate::pagination::search_text(q.q.as_deref(), SEARCH_MAX)?;
    let filter = accounts::UserFilter {
        role: q.role,
        text,
        disabled: q.disabled,
    };
    Ok(web::Json(accounts::list(&state.db, page, filter).await?))
}

/// A staff (or any) account, created by an admin.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    #[schema(value_type = Phone, example = "13800000003")]
    pub phone: String,
    #[schema(value_type = DisplayName, example = "王网格")]
    pub name: String,
    #[schema(value_type = Password)]
    pub password: String,
    /// At least one.
    #[schema(min_items = 1)]
    pub roles: Vec<Role>,
    /// Grids and teams the user serves.
    #[serde(default)]
    pub areas: Vec<AreaRef>,
    /// For mail: escalations to supervisors, mobilisation of volunteers.
    #[schema(value_type = Option<Email>)]
    pub email: Option<String>,
}

/// Create an account with roles and areas.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, body = UserView),
        (status = 409, description = "Phone number already registered", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    _auth: Auth<AdminOnly>,
    Json(body): Json<CreateUserRequest>,
) -> ApiResult<HttpResponse> {
    let phone = Phone::parse("phone", &body.phone)?;
    let new = NewAccount {
        name: DisplayName::parse("name", &body.name)?,
        password: Password::parse("password", &body.password, Some(&phone))?,
        phone,
        roles: body.roles.into_iter().collect(),
        areas: validate_areas(&state.db, body.areas).await?,
        email: body
            .email
            .as_deref()
            .map(|e| Email::parse("email", e))
            .transpose()?,
    };
    let user = accounts::create(&state.db, new).await?;
    Ok(HttpResponse::Created().json(user))
}

/// One account.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, body = UserView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    _auth: Auth<AdminOnly>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<UserView>> {
    Ok(web::Json(accounts::view(&state.db, id.into_inner()).await?))
}

/// Changes to an account; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[schema(value_type = Option<DisplayName>)]
    pub name: Option<String>,
    /// Replaces the roles; ends the user's sessions.
    #[schema(min_items = 1)]
    pub roles: Option<Vec<Role>>,
    /// Replaces the areas.
    pub areas: Option<Vec<AreaRef>>,
    /// Disabling ends the user's sessions.
    pub disabled: Option<bool>,
    /// Sets a new password; ends the user's sessions.
    #[schema(value_type = Option<Password>)]
    pub password: Option<String>,
    /// Sets the address mail goes to.
    #[schema(value_type = Option<Email>)]
    pub email: Option<String>,
}

/// Change an account: name, roles, areas, disabled, password.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, body = UserView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[patch("/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    auth: Auth<AdminOnly>,
    id: web::Path<Uuid>,
    Json(body): Json<UpdateUserRequest>,
) -> ApiResult<web::Json<UserView>> {
    let id = id.into_inner();
    if id == auth.user.id
        && (body.disabled == Some(true)
            || body
                .roles
                .as_ref()
                .is_some_and(|r| !r.contains(&Role::Admin)))
    {
        // An admin locking themselves out is nearly always a mistake, and may leave no admin.
        return Err(ApiError::invalid(
            "roles",
            "self_lockout",
            "you cannot disable yourself or drop your own admin role",
        ));
    }
    let password = match &body.password {
        Some(p) => {
            let current = accounts::view(&state.db, id).await?;
            let phone = Phone::parse("phone", &current.phone)?;
            Some(Password::parse("password", p, Some(&phone))?)
        }
        None => None,
    };
    let change = AccountChange {
        name: body
            .name
            .as_deref()
            .map(|n| DisplayName::parse("name", n))
            .transpose()?,
        roles: body.roles.map(|r| r.into_iter().collect()),
        areas: match body.areas {
            Some(a) => Some(validate_areas(&state.db, a).await?),
            None => None,
        },
        disabled: body.disabled,
        password,
        email: body
            .email
            .as_deref()
            .map(|e| Email::parse("email", e))
            .transpose()?,
    };
    let (view, ended) = accounts::update(&state.db, id, change).await?;
    state.sessions.forget(ended);
    Ok(web::Json(view))
}
