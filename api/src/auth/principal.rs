//! Turning a request into a caller. `Auth<R>` admits a signed-in user holding one of the roles
//! of `R`; `Principal` admits a user or a machine (API key).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use super::api_keys::ApiClient;
use super::roles::RoleSet;
use super::user::CurrentUser;
use crate::error::ApiError;
use crate::extract::GateKeeper;
use crate::state::AppState;

/// Header that carries an API key.
pub const API_KEY_HEADER: &str = "x-api-key";

/// A user admitted by the role set `R`.
#[derive(Debug)]
pub struct Auth<R: RoleSet> {
    pub user: CurrentUser,
    _roles: PhantomData<R>,
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("app state missing")))
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

async fn authenticate_user(
    state: &AppState,
    token: Option<String>,
) -> Result<CurrentUser, ApiError> {
    let token = token.ok_or(ApiError::Unauthorized("missing bearer token"))?;
    Ok(verify(state, &token).await?.0)
}

/// The caller of a websocket upgrade, from `?token=` (browsers and mini-programs cannot set the
/// header on an upgrade) or the Authorization header, and when their token expires. Refused
/// before the upgrade, so a client sees a plain 401 it can act on.
pub async fn websocket_caller(
    state: &AppState,
    req: &HttpRequest,
    query_token: Option<String>,
) -> Result<(CurrentUser, i64), ApiError> {
    let token = query_token
        .or_else(|| bearer(req))
        .ok_or(ApiError::Unauthorized(
            "missing access token: pass ?token= or the Authorization header",
        ))?;
    verify(state, &token).await
}

/// How long until a token that expires at `expires_at` (Unix seconds) does; zero if it has.
pub fn lifetime(expires_at: i64) -> std::time::Duration {
    std::time::Duration::from_secs(
        u64::try_from(expires_at - chrono::Utc::now().timestamp()).unwrap_or(0),
    )
}

/// The user an access token names, if it verifies and its session is live, and when the token
/// expires (Unix seconds): every way of presenting a token goes through here.
pub async fn verify(state: &AppState, token: &str) -> Result<(CurrentUser, i64), ApiError> {
    let claims = state.jwt.verify(token)?;
    state.sessions.ensure_active(claims.sid).await?;
    Ok((
        CurrentUser {
            id: claims.sub,
            session: claims.sid,
            roles: claims.roles,
        },
        claims.exp,
    ))
}

impl<R: RoleSet + 'static> FromRequest for Auth<R> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = state(req);
        let token = bearer(req);
        // The body and query wait until the role is checked: see `extract::GateKeeper`.
        let gate = GateKeeper::for_request(req);
        Box::pin(async move {
            let state = state?;
            let user = authenticate_user(&state, token).await?;
            if !R::admits(&user.roles) {
                return Err(ApiError::Forbidden);
            }
            gate.admit();
            Ok(Auth {
                user,
                _roles: PhantomData,
            })
        })
    }
}

/// Any authenticated caller: a user by bearer token or a machine by API key.
#[derive(Debug)]
pub enum Principal {
    User(CurrentUser),
    Machine(ApiClient),
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = state(req);
        let token = bearer(req);
        let key = req
            .headers()
            .get(API_KEY_HEADER)
            .map(|v| v.to_str().map(str::to_owned));
        let gate = GateKeeper::for_request(req);
        Box::pin(async move {
            let state = state?;
            let who = match key {
                Some(Ok(key)) => {
                    Principal::Machine(state.api_keys.authenticate(&state.db, &key).await?)
                }
                Some(Err(_)) => return Err(ApiError::Unauthorized("invalid or revoked API key")),
                None => Principal::User(authenticate_user(&state, token).await?),
            };
            // A caller's role or scope, when the route asks for one, is checked by whoever
            // awaits this (synchronously, in the same poll), before the body is looked at.
            gate.admit();
            Ok(who)
        })
    }
}
