//! `GET /api/v1/live` (websocket) and `GET /api/v1/feed` (catch-up by cursor).

use actix_web::{FromRequest, HttpRequest, HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::PROBLEM;
use crate::auth::Auth;
use crate::auth::roles::AnyRole;
use crate::error::{ApiResult, Problem};
use crate::extract::Query;
use crate::live::audience::Audience;
use crate::live::feed::{self, Feed};
use crate::live::hub;
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(live).service(feed_page);
}

/// How to open the live connection.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LiveQuery {
    /// The access token, for clients that cannot set the Authorization header on a websocket
    /// upgrade (browsers, mini-programs). The header works too.
    pub token: Option<String>,
    /// The cursor of the last item received: what came after it is sent first, then live items.
    /// Without it, only what happens from now on is sent.
    #[param(example = "1042")]
    pub after: Option<String>,
}

/// Paging through the feed.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// The cursor of the last item received; from the beginning when absent.
    #[param(example = "1042", pattern = "^[0-9]{1,18}$")]
    pub after: Option<String>,
    /// Items per page, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
}

/// Live updates over a websocket.
///
/// Each text frame is one item, as in the feed: `{"cursor", "kind", "event_id", "payload"}`, in
/// cursor order, only those the caller may hear. With `after`, what came after that cursor is
/// sent first, then live items, with nothing missed and nothing twice. The server pings every
/// 20 s and closes a client silent for 50 s; it closes with code 1013 a client too far behind
/// (reconnect with your last cursor) and with 1008 when the access token expires or the session
/// ends (reconnect with a fresh token and your last cursor).
#[utoipa::path(
    tag = "live",
    security(("bearer" = [])),
    params(LiveQuery),
    responses(
        (status = 101, description = "Switching to the websocket protocol"),
        (status = 401, description = "Missing, invalid or expired token", body = Problem, content_type = PROBLEM),
        (status = 410, description = "`after` is older than what the feed keeps (`--feed-window-hours`): reload, then read on from the cursor the problem names (`cursor-expired`, naming `after`)", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Bad cursor, or not a websocket upgrade", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Too many open websockets for this account, this address or this server (`--ws-max-*`); Retry-After says when to try again", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/live")]
pub async fn live(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let Query(q) = Query::<LiveQuery>::extract(&req).await?;
    let (user, expires_at) =
        crate::auth::principal::websocket_caller(&state, &req, q.token).await?;
    let after = q
        .after
        .as_deref()
        .map(|a| feed::parse_cursor("after", a))
        .transpose()?;
    if let Some(a) = after {
        crate::live::retention::check_cursor(&state.db, "after", a).await?;
    }
    let slot = crate::ws_caps::take(&state.websockets, state.proxies.counted_of(&req), &user)?;
    let audience = Audience::of(&state.db, &state.places.get(), &user).await?;
    let rows = state.live.subscribe();
    let (res, session, stream) = crate::extract::websocket(&req, body)?;
    let client = hub::Client {
        user,
        expires_at,
        audience,
        after,
        rows,
    };
    actix_web::rt::spawn(slot.hold(hub::serve(state, client, session, stream)));
    Ok(res)
}

/// What happened after a cursor, for the caller.
///
/// The items the caller may hear, in cursor order. Pass `next_cursor` back as `after` to
/// continue; an empty page has no `next_cursor` (keep yours). Use it to catch up after being
/// away, or instead of the websocket.
#[utoipa::path(
    tag = "live",
    security(("bearer" = [])),
    params(FeedQuery),
    responses(
        (status = 200, body = Feed),
        (status = 410, description = "`after` is older than what the feed keeps (`--feed-window-hours`): reload, then read on from the cursor the problem names (`cursor-expired`, naming `after`)", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/feed")]
pub async fn feed_page(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    Query(q): Query<FeedQuery>,
) -> ApiResult<web::Json<Feed>> {
    let after = match q.after.as_deref() {
        Some(a) => feed::parse_cursor("after", a)?,
        None => 0,
    };
    let limit = feed::parse_limit(q.limit)?;
    crate::live::retention::check_cursor(&state.db, "after", after).await?;
    let audience = Audience::of(&state.db, &state.places.get(), &auth.user).await?;
    Ok(web::Json(
        feed::page(&state.db, &audience, after, limit).await?,
    ))
}

/// A websocket's task holds the server's state and lends the live feed what it uses.
impl hub::Lender for web::Data<AppState> {
    fn db(&self) -> &sea_orm::DatabaseConnection {
        &self.db
    }
    fn sessions(&self) -> &crate::auth::sessions::SessionCache {
        &self.sessions
    }
}
