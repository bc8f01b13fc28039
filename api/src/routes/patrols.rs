//! Patrols (巡防): coordinators define routes, print their QR plates, put rotating codes on
//! screens and review held check-ins; anyone signed in checks in, follows their walks, and
//! reports what they find on the way.

use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::PROBLEM;
use super::qr_image::{PngQuery, png};
use crate::auth::Auth;
use crate::auth::roles::{AnyRole, Coordinators, Role, RoleSet};
use crate::community::patrols::live_qr::LiveCode;
use crate::community::patrols::review::{Decision, HeldCheckin};
use crate::community::patrols::{
    self, CheckinStatus, CheckinView, CheckpointBody, NewCheckin, Proof, RouteBody, RouteSummary,
    RouteView, Shown, WalkView, WindowBody,
};
use crate::domain::check_code;
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::events::intake::{self, NewEvent, Reporter, Source};
use crate::events::intake_desk;
use crate::events::views::EventView;
use crate::extract::{Json, Query};
use crate::pagination::{Page, PageQuery, PageRequest};
use crate::places::coords::{self, Crs};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_routes)
        .service(create_route)
        .service(get_route)
        .service(replace_route)
        .service(checkpoint_qr_png)
        .service(checkpoint_qr_svg)
        .service(checkpoint_live_qr)
        .service(check_in)
        .service(held_checkins)
        .service(review_checkin)
        .service(report_finding)
        .service(my_walks);
}

fn is_coordinator(roles: &[Role]) -> bool {
    Coordinators::admits(roles)
}

// The fields of `RouteBody` are repeated rather than flattened in: serde's flatten loses the
// path of a bad field, and errors must name it.
/// A new patrol route: its code and definition.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRouteRequest {
    #[schema(example = "QSH-P01")]
    pub code: String,
    #[schema(example = "青山湖社区夜间巡防")]
    pub name: String,
    /// An area of the tree the route belongs to, or none.
    pub area_code: Option<String>,
    /// Daily windows in Asia/Shanghai local time, e.g. `[{"start":"19:00","end":"21:00"}]`; an
    /// end not after the start crosses midnight.
    pub windows: Vec<WindowBody>,
    /// In walking order.
    pub checkpoints: Vec<CheckpointBody>,
    /// Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// Filters and paging for the route list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListRoutesQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    /// Only routes of this area.
    pub area: Option<String>,
}

/// List patrol routes; coordinators also see disabled ones.
#[utoipa::path(
    tag = "patrols",
    security(("bearer" = [])),
    params(ListRoutesQuery),
    responses(
        (status = 200, body = Page<RouteSummary>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/patrol-routes")]
pub async fn list_routes(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    Query(q): Query<ListRoutesQuery>,
) -> ApiResult<web::Json<Page<RouteSummary>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(web::Json(
        patrols::list(
            &state.db,
            page,
            q.area.as_deref(),
            is_coordinator(&auth.user.roles),
        )
        .await?,
    ))
}

/// Define a patrol route with its windows and checkpoints. The answer carries each QR
/// checkpoint's signed payload, to print.
#[utoipa::path(
    tag = "patrols",
    security(("bearer" = [])),
    request_body = CreateRouteRequest,
    responses(
        (status = 201, body = RouteView),
        (status = 409, description = "Route or checkpoint code taken", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/patrol-routes")]
pub async fn create_route(
    state: web::Data<AppState>,
    _auth: Auth<Coordinators>,
    Json(body): Json<CreateRouteRequest>,
) -> ApiResult<HttpResponse> {
    let code_check = check_code("code", &body.code);
    let route = RouteBody {
        name: body.name,
        area_code: body.area_code,
        windows: body.windows,
        checkpoints: body.checkpoints,
        enabled: body.enabled,
    };
    let spec = match (code_check, patrols::spec(&route)) {
        (Ok(()), Ok(spec)) => spec,
        (Err(ApiError::Validation(mut a)), Err(ApiError::Validation(b))) => {
            a.extend(b);
            return Err(ApiError::Validation(a));
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    let view = patrols::create(&state.db, &state.qr, body.code, spec, true).await?;
    Ok(HttpResponse::Created().json(view))
}

/// One route with its checkpoints in walking order. Their coordinates are shown to
/// coordinators and to those who walk the route (an open walk with a paid check-in, or a
/// confirmed place on a current patrol activity of the route's area); coordinators also get the
/// QR payloads.
#[utoipa::path(
    tag = "patrols",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Route code")),
    responses(
        (status = 200, body = RouteView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/patrol-routes/{code}")]
pub async fn get_route(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    code: web::Path<String>,
) -> ApiResult<web::Json<RouteView>> {
    let coordinator = is_coordinator(&auth.user.roles);
    let coordinates = coordinator || {
        let route = patrols::find_route(&state.db, &code, false).await?;
        patrols::walks_route(&state.db, auth.user.id, &route, chrono::Utc::now()).await?
    };
    let shown = Shown {
        disabled: coordinator,
        coordinates,
        payloads: coordinator,
    };
    Ok(web::Json(
        patrols::get(&state.db, &state.qr, &code, shown).await?,
    ))
}

/// Replace a route's definition; `"enabled": false` disables it. Checkpoints are matched by
/// code: kept ones keep their id and printed plate, dropped ones stop taking check-ins.
#[utoipa::path(
    tag = "patrols",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Route code")),
    request_body = RouteBody,
    responses(
        (status = 200, body = RouteView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[put("/patrol-routes/{code}")]
pub async fn replace_route(
    state: web::Data<AppState>,
    _auth: Auth<Coordinators>,
    code: web::Path<String>,
    Json(body): Json<RouteBody>,
) -> ApiResult<web::Json<RouteView>> {
    let spec = patrols::spec(&body)?;
    Ok(web::Json(
        patrols::update(&state.db, &state.qr, &code, spec, true).await?,
    ))
}

/// What the screen at a QR checkpoint shows now: a payload signed over the checkpoint and the
/// current 30-second step. A scan pays while the code is current (this step or the one before);
/// checkpoints worth more than their street's threshold pay only for it. Render it as a QR code
/// and fetch a new one at `refresh_at`.
#[utoipa::path(
    tag = "patrols",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Checkpoint code")),
    responses(
        (status = 200, body = LiveCode),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/patrol-checkpoints/{code}/live-qr")]
pub async fn checkpoint_live_qr(
    state: web::Data<AppState>,
    _auth: Auth<Coordinators>,
    code: web::Path<String>,
) -> ApiResult<web::Json<LiveCode>> {
    Ok(web::Json(
        patrols::live_code(&state.db, &state.qr, &code).await?,
    ))
}

/// Check-ins held for review, oldest first, each with why it was held.
#[utoipa::path(
    tag = "patrols",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = Page<HeldCheckin>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/patrol-checkins/held")]
pub async fn held_checkins(
    state: web::Data<AppState>,
    _auth: Auth<Coordinators>,
    Query(q): Query<PageQuery>,
) -> ApiResult<web::Json<Page<HeldCheckin>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(web::Json(patrols::review::held(&state.db, page).await?))
}

/// A coordinator's decision on a held check-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    pub decision: Decision,
}

/// Approve a held check-in (it is paid, within the day's points cap, and counts in its walk) or
/// reject it. Each is decided once: 409 when it is not held.
#[utoipa::path(
    tag = "patrols",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Check-in id")),
    request_body = ReviewRequest,
    responses(
        (status = 200, body = CheckinView),
        (status = 409, description = "Not held (any more)", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/patrol-checkins/{id}/review")]
pub async fn review_checkin(
    state: web::Data<AppState>,
    auth: Auth<Coordinators>,
    id: web::Path<Uuid>,
    Json(body): Json<ReviewRequest>,
) -> ApiResult<web::Json<CheckinView>> {
    let view =
        patrols::review::decide(&state.db, id.into_inner(), auth.user.id, body.decision).await?;
    touch_health(&state, &view).await?;
    Ok(web::Json(view))
}

/// A paid check-in changes its grid's patrol coverage: the grid's health is recomputed.
async fn touch_health(state: &AppState, view: &CheckinView) -> ApiResult<()> {
    if view.status == CheckinStatus::Paid
        && let Some(grid) = crate::health::worker::grid_of_route(&state.db, &view.route).await?
    {
        state.health.touch(grid);
    }
    Ok(())
}

/// A QR checkpoint's signed code as a PNG, for its plate.
#[utoipa::path(
    tag = "patrols",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Checkpoint code"), PngQuery),
    responses(
        (status = 200, description = "PNG image", content_type = "image/png"),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/patrol-checkpoints/{code}/qr.png")]
pub async fn checkpoint_qr_png(
    state: web::Data<AppState>,
    _auth: Auth<Coordinators>,
    code: web::Path<String>,
    Query(q): Query<PngQuery>,
) -> ApiResult<HttpResponse> {
    let scale = q.scale()?;
    let payload = patrols::qr_payload(&state.db, &state.qr, &code).await?;
    png(&payload, scale)
}

/// A QR checkpoint's signed code as SVG.
#[utoipa::path(
    tag = "patrols",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Checkpoint code")),
    responses(
        (status = 200, description = "SVG image", content_type = "image/svg+xml"),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/patrol-checkpoints/{code}/qr.svg")]
pub async fn checkpoint_qr_svg(
    state: web::Data<AppState>,
    _auth: Auth<Coordinators>,
    code: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let payload = patrols::qr_payload(&state.db, &state.qr, &code).await?;
    let svg = places::qr::render_svg(&payload).map_err(|e| anyhow::anyhow!("rendering QR: {e}"))?;
    Ok(HttpResponse::Ok().content_type("image/svg+xml").body(svg))
}

/// A check-in: a scanned QR checkpoint (`code`), or a geofence checkpoint's code
/// (`checkpoint`) with the phone's location.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckinRequest {
    /// A client-generated id for this check-in (or send an `Idempotency-Key` header): a retry
    /// with the same id and body returns the first answer.
    pub id: Option<Uuid>,
    /// The text scanned off a QR checkpoint's plate: the payload, or a URL carrying it.
    pub code: Option<String>,
    /// The code of a geofence checkpoint, checked in by location.
    #[schema(example = "QSH-P01-2", value_type = Option<crate::domain::Code>)]
    pub checkpoint: Option<String>,
    #[schema(minimum = -90, maximum = 90)]
    pub lat: Option<f64>,
    #[schema(minimum = -180, maximum = 180)]
    pub lng: Option<f64>,
    /// GPS accuracy in metres (required with a location); a fix coarser than 100 m is held for
    /// review, not paid.
    #[schema(minimum = 0)]
    pub accuracy: Option<f64>,
    /// Datum of lat/lng: wgs84 (default) or gcj02.
    pub crs: Option<Crs>,
}

fn checkin_from(req: &HttpRequest, user: Uuid, body: &CheckinRequest) -> ApiResult<NewCheckin> {
    let key = crate::extract::client_key(req, body.id, "a retry gets the same answer")?;
    let mut errors = Vec::new();
    let proof = match (&body.code, &body.checkpoint) {
        (Some(scanned), None) => Some(Proof::Scan {
            scanned: scanned.clone(),
        }),
        (None, Some(c)) => {
            if let Err(ApiError::Validation(e)) = check_code("checkpoint", c) {
                errors.extend(e);
            }
            Some(Proof::Location {
                checkpoint: c.clone(),
            })
        }
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "checkpoint",
                "one_of",
                "send code (a scanned QR checkpoint) or checkpoint (a geofence checkpoint), not both",
            ));
            None
        }
        (None, None) => {
            errors.push(FieldError::new(
                "code",
                "required",
                "send code (a scanned QR checkpoint) or checkpoint with lat, lng and accuracy",
            ));
            None
        }
    };
    let by_location = matches!(proof, Some(Proof::Location { .. }));
    if body.lat.is_none() && body.lng.is_none() && by_location {
        errors.push(FieldError::new(
            "lat",
            "required",
            "a location check-in needs lat, lng and accuracy",
        ));
    }
    let point = coords::optional_wgs84(
        &mut errors,
        body.lat,
        body.lng,
        body.crs.unwrap_or_default(),
    )?;
    let accuracy = match body.accuracy {
        None if point.is_some() && by_location => {
            errors.push(FieldError::new(
                "accuracy",
                "required",
                "the GPS accuracy in metres, as the phone reports it",
            ));
            None
        }
        None => Some(0.0),
        // A coarse fix is not refused here: it is held for review (`plausibility`).
        Some(a) if !a.is_finite() || a < 0.0 => {
            errors.push(FieldError::new("accuracy", "range", "metres, 0 or more"));
            None
        }
        Some(a) => Some(a),
    };
    let (Some(proof), true) = (proof, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    Ok(NewCheckin {
        user,
        key,
        request_hash: intake::digest(body),
        proof,
        point: point.zip(accuracy),
    })
}

/// Check in at a checkpoint. The first check-in of a user at a checkpoint in a window
/// occurrence earns its points (201; within the day's points cap) when it passes the
/// plausibility checks (accuracy, speed since the walk's previous check-in, the route's windows,
/// a rotating code at high-value checkpoints); one that fails is held for a coordinator's review
/// (202, `status: held`, `hold` says why) and pays nothing unless approved. Any later one — a
/// retry, another phone — gets that first check-in back with `replayed: true` (200) and earns
/// nothing.
#[utoipa::path(
    tag = "patrols",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,100}$", description = "Used when the body has no id")),
    request_body = CheckinRequest,
    responses(
        (status = 201, description = "Checked in and paid", body = CheckinView),
        (status = 202, description = "Recorded and held for a coordinator's review (`hold` says why)", body = CheckinView),
        (status = 200, description = "An earlier check-in, returned again", body = CheckinView),
        (status = 400, description = "Not a checkpoint code: forged, altered, or a building's", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such checkpoint", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Not at the checkpoint (too far), or a malformed proof", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/patrol-checkins")]
pub async fn check_in(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    req: HttpRequest,
    Json(body): Json<CheckinRequest>,
) -> ApiResult<HttpResponse> {
    let new = checkin_from(&req, auth.user.id, &body)?;
    let (view, fresh) = patrols::check_in(&state.db, &state.qr, new).await?;
    if fresh {
        touch_health(&state, &view).await?;
    }
    Ok(if fresh && view.status == CheckinStatus::Held {
        HttpResponse::Accepted().json(view)
    } else if fresh {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// Something found on patrol.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingRequest {
    /// A client-generated id (or send an `Idempotency-Key` header): a retry returns the first
    /// event.
    pub id: Option<Uuid>,
    #[schema(example = "safety.hazard")]
    pub category: String,
    #[schema(example = "消防通道被电动车堵塞")]
    pub description: String,
    /// Up to 9 photos uploaded first with POST /api/v1/photos.
    #[serde(default)]
    pub photos: Vec<String>,
}

/// Report what was found at a check-in. It becomes an event placed at the checkpoint (a
/// geofence's centre or a QR plate's position), else where the patroller checked in, and goes
/// through the event loop like any report.
#[utoipa::path(
    tag = "patrols",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Check-in id"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,100}$", description = "Used when the body has no id"),
    ),
    request_body = FindingRequest,
    responses(
        (status = 201, description = "Created, or the first answer to a retry (header Idempotent-Replayed: true)", body = EventView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/patrol-checkins/{id}/findings")]
pub async fn report_finding(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    Json(body): Json<FindingRequest>,
) -> ApiResult<HttpResponse> {
    let checkin_id = id.into_inner();
    let key = crate::extract::client_key(&req, body.id, "a retry gets the same answer")?;
    let (checkin, checkpoint) = patrols::own_checkin(&state.db, auth.user.id, checkin_id).await?;
    let mut errors = Vec::new();
    intake::check_report(&mut errors, &body.description, &body.photos);
    let category =
        intake::report_category(&state.db, &state.catalogue, errors, &body.category).await?;
    // Workers' findings are patrol events, as when they report directly; everyone else's are
    // citizens' reports and earn what a report earns.
    let source = if auth.user.has(Role::GridWorker) || auth.user.has(Role::TeamMember) {
        Source::Patrol
    } else {
        Source::Citizen
    };
    let new = NewEvent {
        reporter: Reporter::User {
            id: auth.user.id,
            source,
        },
        key: format!("patrol-finding:{checkin_id}:{key}"),
        request_hash: intake::digest(&(checkin_id, &body)),
        category,
        colour: None,
        description: body.description.trim().to_owned(),
        point: patrols::finding_point(&checkin, &checkpoint),
        building_code: None,
        photos: body.photos.clone(),
    };
    let index = state.places.get();
    let (view, replayed) = intake_desk::create(state.intake(&index), new).await?;
    let mut res = HttpResponse::Created();
    if replayed {
        res.insert_header(("idempotent-replayed", "true"));
    }
    Ok(res.json(view.shown_to(Some(&auth.user))))
}

/// The caller's walks, newest first: each route walked in a window occurrence, with the
/// checkpoints hit and whether it is complete.
#[utoipa::path(
    tag = "patrols",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = Page<WalkView>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/patrol-walks")]
pub async fn my_walks(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    Query(q): Query<PageQuery>,
) -> ApiResult<web::Json<Page<WalkView>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(web::Json(
        patrols::walks(&state.db, auth.user.id, page).await?,
    ))
}
