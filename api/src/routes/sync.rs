//! `GET /api/v1/sync`: the automerge-repo websocket.

use actix_web::{FromRequest, HttpRequest, HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::PROBLEM;
use crate::error::{ApiResult, Problem};
use crate::extract::Query;
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(sync);
}

/// How to open the sync connection.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncQuery {
    /// The access token; the Authorization header works too.
    pub token: Option<String>,
}

/// Offline sync of tasks, reports and building profiles, in the automerge-repo protocol.
///
/// Speak it with `@automerge/automerge-repo` and its websocket network adapter, unchanged:
/// `new WebSocketClientAdapter("wss://HOST/api/v1/sync?token=TOKEN")`. Document URLs are
/// `document_url` in the views of tasks, events and building profiles. A peer syncs only the
/// tasks of its grids and teams, its own reports, and the buildings of its grids (the command
/// centre: tasks and reports); any other document is answered as missing. The server reviews
/// every merge: a worker writes a task's `feedback`, `on_site_note` and `photos`, and writing
/// `status` as `signed`, `on_site` or `handled` makes that move through the same rules as the
/// REST call; a reporter writes the `description` of an open report; a worker of the grid
/// writes a building's `notes`, `units` (with their residents) and `shops`, each merge a visit
/// in the building's history. Anything else is put back by a change of the server's, and an
/// ephemeral message
/// `{"type": "refused", "fields": [{"field", "reason"}]}` says why. A message that is not CBOR,
/// too large (8 MiB), a compression bomb or otherwise broken closes the connection with an
/// `error` message.
#[utoipa::path(
    tag = "sync",
    security(("bearer" = [])),
    params(SyncQuery),
    responses(
        (status = 101, description = "Switching to the websocket protocol"),
        (status = 401, description = "Missing, invalid or expired token", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Not a websocket upgrade", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Too many open websockets for this account, this address or this server (`--ws-max-*`); Retry-After says when to try again", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/sync")]
pub async fn sync(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let Query(q) = Query::<SyncQuery>::extract(&req).await?;
    let (user, expires_at) =
        crate::auth::principal::websocket_caller(&state, &req, q.token).await?;
    let slot = crate::ws_caps::take(&state.websockets, state.proxies.counted_of(&req), &user)?;
    let (res, session, stream) = crate::extract::websocket(&req, body)?;
    let connection = crate::sync::session::serve(state, user, expires_at, session, stream);
    actix_web::rt::spawn(slot.hold(connection));
    Ok(res)
}

/// A sync connection's task holds the server's state and lends the sync engine what it uses.
impl crate::sync::session::Lender for web::Data<AppState> {
    fn engine(&self) -> crate::sync::Engine<'_> {
        self.sync_engine()
    }
    fn sessions(&self) -> &crate::auth::sessions::SessionCache {
        &self.sessions
    }
}
