//! Registration, login, refresh, logout.

use std::collections::BTreeSet;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::PROBLEM;
use crate::accounts::{self, NewAccount, UserView};
use crate::auth::api_keys::Scope;
use crate::auth::password;
use crate::auth::roles::{AnyRole, Role};
use crate::auth::sessions::{self, RevokeReason, TokenPair};
use crate::auth::{Auth, Principal};
use crate::domain::{DisplayName, Password, Phone};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::Json;
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(register)
        .service(login)
        .service(refresh)
        .service(logout)
        .service(logout_all)
        .service(whoami);
}

/// The address throttles count against, an IPv6 client by its /64 ("unknown" only for a
/// request without a TCP peer).
fn client_addr(req: &HttpRequest, state: &AppState) -> String {
    state
        .proxies
        .counted_of(req)
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

/// A citizen's self-registration.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Mainland mobile number, the login name.
    #[schema(value_type = Phone, example = "13912345678")]
    pub phone: String,
    /// At least 8 characters with letters and digits, not containing the phone number.
    #[schema(value_type = Password)]
    pub password: String,
    /// Display name; defaults to 居民 and the last four digits.
    #[schema(value_type = Option<DisplayName>)]
    pub name: Option<String>,
}

/// Register as a citizen.
#[utoipa::path(
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = UserView),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 413, description = "Body too large", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not sent as application/json", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Phone number already registered", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A field breaks a rule; the rule is named", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Too many attempts from this address", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/auth/register")]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<RegisterRequest>,
) -> ApiResult<HttpResponse> {
    // Every registration counts against the address, made or not: a flood of new accounts
    // from one place is what this slows down.
    let addr = client_addr(&req, &state);
    state
        .limiter
        .attempt(
            &format!("register:addr:{addr}"),
            state.settings.login_rule_per_addr(),
        )
        .await?;
    let phone = Phone::parse("phone", &body.phone)?;
    let password = Password::parse("password", &body.password, Some(&phone))?;
    let name = match body.name.as_deref() {
        Some(n) => DisplayName::parse("name", n)?,
        None => DisplayName::default_for(&phone),
    };
    let user = accounts::create(
        &state.db,
        NewAccount {
            phone,
            name,
            password,
            roles: BTreeSet::from([Role::Citizen]),
            areas: BTreeSet::new(),
            email: None,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(user))
}

/// Credentials for a password login.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(value_type = Phone, example = "13800000001")]
    pub phone: String,
    pub password: String,
}

/// Log in with phone number and password.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Access and refresh tokens", body = TokenPair),
        (status = 401, description = "Wrong phone number or password (which one is not said)", body = Problem, content_type = PROBLEM),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 413, description = "Body too large", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not sent as application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A field breaks a rule (e.g. not a mainland mobile number); the rule is named", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Too many failed attempts from this address (for this account, or for any); wait as Retry-After says", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<LoginRequest>,
) -> ApiResult<web::Json<TokenPair>> {
    const WRONG: ApiError = ApiError::Unauthorized("wrong phone number or password");
    let addr = client_addr(&req, &state);
    let phone = Phone::parse("phone", &body.phone)?;
    // Counted per account as seen from this address, and per address: a stranger's wrong
    // guesses slow down only the stranger, never the owner elsewhere, and one address cannot
    // work through many accounts. Each attempt counts as failed until it succeeds.
    let (per_account, per_addr) = (
        state.settings.login_rule_per_account(),
        state.settings.login_rule_per_addr(),
    );
    let account_key = format!("login:acct:{}:{addr}", phone.as_str());
    let addr_key = format!("login:addr:{addr}");
    state.limiter.attempt(&account_key, per_account).await?;
    if let Err(refused) = state.limiter.attempt(&addr_key, per_addr).await {
        // Not tried, so not a failure of this account.
        state
            .limiter
            .forgive(&account_key, per_account, false)
            .await?;
        return Err(refused);
    }
    let user = accounts::find_by_phone(&state.db, &phone).await?;
    let ok = password::verify(
        body.password,
        user.as_ref().map(|u| u.password_hash.clone()),
    )
    .await?;
    let user = match user {
        Some(u) if ok && !u.disabled => u,
        _ => {
            tracing::info!(phone = %phone.masked(), %addr, "login refused");
            return Err(WRONG);
        }
    };
    state
        .limiter
        .forgive(&account_key, per_account, true)
        .await?;
    state.limiter.forgive(&addr_key, per_addr, false).await?;
    let roles = accounts::roles_of(&state.db, user.id).await?;
    let pair = sessions::open(
        &state.db,
        &state.jwt,
        user.id,
        &roles,
        Duration::from_secs(state.settings.refresh_ttl_secs),
    )
    .await?;
    Ok(web::Json(pair))
}

/// A refresh token to exchange.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Exchange a refresh token for new tokens. Each refresh token works once; presenting one a
/// second time ends its whole session.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New access and refresh tokens", body = TokenPair),
        (status = 401, description = "Unknown, used, expired or revoked refresh token", body = Problem, content_type = PROBLEM),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 413, description = "Body too large", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is not sent as application/json", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A field is missing or of the wrong type", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<web::Json<TokenPair>> {
    let rotated = sessions::rotate(&state.db, &state.sessions, &body.refresh_token).await?;
    let user = accounts::view(&state.db, rotated.user).await?;
    if user.disabled {
        return Err(ApiError::Unauthorized("invalid or expired refresh token"));
    }
    Ok(web::Json(TokenPair {
        access_token: state.jwt.issue(user.id, rotated.session, &user.roles)?,
        token_type: "Bearer",
        expires_in: state.jwt.ttl_secs(),
        refresh_token: rotated.refresh_token,
        session_id: rotated.session,
    }))
}

/// End this session: its refresh token stops working and so does its access token.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/auth/logout")]
pub async fn logout(state: web::Data<AppState>, auth: Auth<AnyRole>) -> ApiResult<HttpResponse> {
    sessions::revoke_session(&state.db, auth.user.session, RevokeReason::Logout).await?;
    state.sessions.forget([auth.user.session]);
    Ok(HttpResponse::NoContent().finish())
}

/// End every session of this account, on every device.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session ended"),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/auth/logout-all")]
pub async fn logout_all(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
) -> ApiResult<HttpResponse> {
    let ended =
        sessions::revoke_all(&state.db, auth.user.id, RevokeReason::LogoutEverywhere).await?;
    state.sessions.forget(ended);
    Ok(HttpResponse::NoContent().finish())
}

/// Who the server takes the caller to be.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    /// `user` or `api_key`.
    pub kind: &'static str,
    /// The user's or the key's id.
    pub id: Uuid,
    /// The user's roles (users only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Role>,
    /// The key's scopes (API keys only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<Scope>,
    /// The key's name (API keys only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Identify the caller, by bearer token or API key: a check for client and sensor set-ups.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = WhoAmI),
        (status = 401, description = "No valid token or key", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/auth/whoami")]
pub async fn whoami(principal: Principal) -> web::Json<WhoAmI> {
    web::Json(match principal {
        Principal::User(u) => WhoAmI {
            kind: "user",
            id: u.id,
            roles: u.roles,
            scopes: Vec::new(),
            name: None,
        },
        Principal::Machine(m) => WhoAmI {
            kind: "api_key",
            id: m.key_id,
            roles: Vec::new(),
            scopes: m.scopes,
            name: Some(m.name),
        },
    })
}
