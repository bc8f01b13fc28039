//! Events: reports in from every source, the closed loop's moves, the citizen's own reports, the
//! category catalogue, deadline policies and the points a citizen earned.

use actix_web::{FromRequest, HttpRequest, HttpResponse, get, patch, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::PROBLEM;
use crate::auth::Auth;
use crate::auth::api_keys::Scope;
use crate::auth::principal::Principal;
use crate::auth::roles::{AdminOnly, AnyRole, CommandCentre, Role, Staff};
use crate::domain::check_code;
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::events::access;
use crate::events::catalogue::{self, Category, Colour, Limits, Policy};
use crate::events::escalations::{self, Escalation};
use crate::events::flow::Status;
use crate::events::intake::{self, NewEvent, Reporter, Source};
use crate::events::intake_desk;
use crate::events::moves::{self, MoveRequest};
use crate::events::views::{self, EventDetail, EventFilter, EventView};
use crate::extract::{Json, Query};
use crate::pagination::{Page, PageQuery, PageRequest};
use crate::places::coords::{self, Crs};
use crate::points::{self, LedgerRow};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_event)
        .service(list_events)
        .service(get_event)
        .service(event_escalations)
        .service(move_event)
        .service(change_event)
        .service(list_categories)
        .service(put_category)
        .service(list_policies)
        .service(put_policy)
        .service(my_points);
}

/// A report.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEventRequest {
    /// A client-generated id for this report (or send an `Idempotency-Key` header): a retry with
    /// the same id and body returns the first answer; with another body it is refused.
    pub id: Option<Uuid>,
    #[schema(example = "environment.garbage")]
    #[schema(value_type = crate::domain::CategoryCode)]
    pub category: String,
    #[schema(example = "小区东门垃圾堆放三天无人清运")]
    #[schema(
        pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([\\s\\S]{0,1998}[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
    )]
    pub description: String,
    #[schema(minimum = -90, maximum = 90)]
    pub lat: Option<f64>,
    #[schema(minimum = -180, maximum = 180)]
    pub lng: Option<f64>,
    /// Datum of lat/lng: wgs84 (default) or gcj02.
    pub crs: Option<Crs>,
    /// A scanned building code instead of (or beside) a point.
    #[schema(value_type = Option<crate::domain::Code>)]
    pub building_code: Option<String>,
    /// Up to 9 photos uploaded first with POST /api/v1/photos.
    #[serde(default)]
    #[schema(max_items = 9)]
    pub photos: Vec<String>,
    /// The command centre may set the colour; others get the category's.
    pub colour: Option<Colour>,
}

/// Whoever may report: a signed-in user, or a machine whose key has `events.write`. Checked as an
/// extractor, so a key without the scope hears 403 before its body is looked at.
pub struct EventReporter(Principal);

impl FromRequest for EventReporter {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = ApiResult<Self>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let who = Principal::from_request(req, payload);
        Box::pin(async move {
            let who = who.await?;
            if let Principal::Machine(client) = &who {
                client.require(Scope::EventsWrite)?;
            }
            Ok(EventReporter(who))
        })
    }
}

fn idempotency_key(req: &HttpRequest, body: &CreateEventRequest) -> ApiResult<String> {
    crate::extract::client_key(req, body.id, "a retry never makes a second event")
}

/// Report a problem: a citizen's report, a worker's finding, a hotline entry, or a machine alert.
///
/// The event is placed (point, GCJ-02 point or building), routed to its grid or team, and a task
/// is created in the same transaction; events outside every area wait in the dispatchers' queue.
#[utoipa::path(
    tag = "events",
    security(("bearer" = []), ("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,100}$", description = "Used when the body has no id")),
    request_body = CreateEventRequest,
    responses(
        (status = 201, description = "Created, or the first answer to a retry (header Idempotent-Replayed: true)", body = EventView),
        (status = 422, description = "Invalid, or the key was used for another report", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/events")]
pub async fn create_event(
    state: web::Data<AppState>,
    EventReporter(who): EventReporter,
    req: HttpRequest,
    Json(body): Json<CreateEventRequest>,
) -> ApiResult<HttpResponse> {
    let reporter = match &who {
        Principal::Machine(client) => Reporter::Machine {
            key_id: client.key_id,
        },
        Principal::User(u) => {
            let source = if access::is_command_centre(u) {
                Source::Hotline
            } else if u.has(Role::GridWorker) || u.has(Role::TeamMember) {
                Source::Patrol
            } else {
                Source::Citizen
            };
            if body.colour.is_some() && source != Source::Hotline {
                return Err(ApiError::invalid(
                    "colour",
                    "not_allowed",
                    "only the command centre sets the colour",
                ));
            }
            Reporter::User { id: u.id, source }
        }
    };
    let key = idempotency_key(&req, &body)?;
    let mut errors = Vec::new();
    intake::check_report(&mut errors, &body.description, &body.photos);
    if let Some(b) = &body.building_code
        && let Err(ApiError::Validation(e)) = check_code("building_code", b)
    {
        errors.extend(e);
    }
    if body.lat.is_none() && body.lng.is_none() && body.building_code.is_none() {
        errors.push(FieldError::new(
            "lat",
            "required",
            "give a point (lat, lng) or a building_code",
        ));
    }
    let point = coords::optional_wgs84(
        &mut errors,
        body.lat,
        body.lng,
        body.crs.unwrap_or_default(),
    )?;
    let category =
        intake::report_category(&state.db, &state.catalogue, errors, &body.category).await?;
    let new = NewEvent {
        reporter,
        key,
        request_hash: intake::digest(&body),
        category,
        colour: body.colour,
        description: body.description.trim().to_owned(),
        point,
        building_code: body.building_code.clone(),
        photos: body.photos.clone(),
    };
    let index = state.places.get();
    let (view, replayed) = intake_desk::create(state.intake(&index), new).await?;
    let viewer = match &who {
        Principal::User(u) => Some(u),
        Principal::Machine(_) => None,
    };
    let mut res = HttpResponse::Created();
    if replayed {
        res.insert_header(("idempotent-replayed", "true"));
    }
    Ok(res.json(view.shown_to(viewer)))
}

/// Filters and paging for the event list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListEventsQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    /// Only the caller's own reports (我的上报).
    pub mine: Option<bool>,
    pub status: Option<Status>,
    pub grid: Option<String>,
    /// Only events whose task is lit (亮灯).
    pub lit: Option<bool>,
}

/// Events the caller may see, newest first: the command centre all, workers their grids' and
/// teams', everyone their own reports.
#[utoipa::path(
    tag = "events",
    security(("bearer" = [])),
    params(ListEventsQuery),
    responses(
        (status = 200, body = Page<EventView>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/events")]
pub async fn list_events(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    Query(q): Query<ListEventsQuery>,
) -> ApiResult<web::Json<Page<EventView>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let areas = crate::accounts::areas_of(&state.db, auth.user.id).await?;
    let filter = EventFilter {
        mine: q.mine.unwrap_or(false),
        status: q.status,
        grid: q.grid,
        lit: q.lit.unwrap_or(false),
    };
    let index = state.places.get();
    let page = views::list(&state.db, &index, &auth.user, &areas, page, filter).await?;
    Ok(web::Json(Page {
        items: page
            .items
            .into_iter()
            .map(|e| e.shown_to(Some(&auth.user)))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One event with its tasks and full timeline.
#[utoipa::path(
    tag = "events",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, body = EventDetail),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/events/{id}")]
pub async fn get_event(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<EventDetail>> {
    let index = state.places.get();
    let (event, ..) = access::visible_event(&index, &state.db, &auth.user, id.into_inner()).await?;
    Ok(web::Json(
        views::detail(&state.db, event.id)
            .await?
            .shown_to(Some(&auth.user)),
    ))
}

/// A late event's escalations (亮灯督办), oldest first: each light on its tasks, the deadlines
/// it missed, the area it went up to and who was mailed, by name and address. For the command
/// centre; the timeline names those mailed only by account id.
#[utoipa::path(
    tag = "events",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, body = Vec<Escalation>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/events/{id}/escalations")]
pub async fn event_escalations(
    state: web::Data<AppState>,
    auth: Auth<CommandCentre>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Vec<Escalation>>> {
    let (event, ..) =
        access::visible_event(&state.places.get(), &state.db, &auth.user, id.into_inner()).await?;
    Ok(web::Json(escalations::of_event(&state.db, event.id).await?))
}

/// Move an event through the loop: accept, dispatch, sign, arrive, handle, complete, return,
/// redispatch, reject, evaluate, merge. Who may make each move is checked here: 403 when the
/// move is not the caller's, 409 when the event is not where the move starts.
#[utoipa::path(
    tag = "events",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Event id")),
    request_body = MoveRequest,
    responses(
        (status = 200, body = EventView),
        (status = 403, description = "Not your move", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Not possible from the event's status", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/events/{id}/moves")]
pub async fn move_event(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    id: web::Path<Uuid>,
    Json(body): Json<MoveRequest>,
) -> ApiResult<web::Json<EventView>> {
    let index = state.places.get();
    let moved = moves::apply(
        &state.db,
        &index,
        &state.catalogue,
        &state.live,
        &auth.user,
        id.into_inner(),
        body,
    )
    .await?;
    Ok(web::Json(moved.shown_to(Some(&auth.user))))
}

/// A command-centre change of colour or category.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEventRequest {
    pub colour: Option<Colour>,
    #[schema(value_type = Option<crate::domain::CategoryCode>)]
    pub category: Option<String>,
    /// Why; kept in the timeline.
    #[schema(
        pattern = "[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]"
    )]
    pub reason: String,
}

/// Recolour or recategorise an event; the open task's deadlines follow the new colour.
#[utoipa::path(
    tag = "events",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Event id")),
    request_body = ChangeEventRequest,
    responses(
        (status = 200, body = EventView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[patch("/events/{id}")]
pub async fn change_event(
    state: web::Data<AppState>,
    auth: Auth<CommandCentre>,
    id: web::Path<Uuid>,
    Json(body): Json<ChangeEventRequest>,
) -> ApiResult<web::Json<EventView>> {
    Ok(web::Json(
        moves::recolour(
            &state.db,
            &state.catalogue,
            &state.live,
            &auth.user,
            id.into_inner(),
            moves::Recolour {
                colour: body.colour,
                category: body.category,
                reason: body.reason,
            },
        )
        .await?
        .shown_to(Some(&auth.user)),
    ))
}

/// The category catalogue.
#[utoipa::path(
    tag = "events",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<Category>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/categories")]
pub async fn list_categories(
    state: web::Data<AppState>,
    _auth: Auth<AnyRole>,
) -> ApiResult<web::Json<Vec<Category>>> {
    Ok(web::Json(catalogue::categories(&state.db).await?))
}

/// A category as an admin writes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryBody {
    #[schema(
        pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([\\s\\S]{0,62}[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
    )]
    pub name_zh: String,
    #[schema(
        pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([\\s\\S]{0,62}[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
    )]
    pub name_en: String,
    pub colour: Colour,
    /// `grid`, `mediation`, `enforcement`, `fire_station` or `other`.
    #[schema(pattern = "^(grid|mediation|enforcement|fire_station|other)$")]
    pub handler: String,
    /// 0–1000.
    #[schema(minimum = 0, maximum = 1000)]
    pub points: i32,
}

/// Add or change a category.
#[utoipa::path(
    tag = "events",
    security(("bearer" = [])),
    params(("code" = String, Path, pattern = "^[a-z0-9_.]{1,64}$", description = "Category code, e.g. dispute.neighbour")),
    request_body = CategoryBody,
    responses(
        (status = 200, body = Category),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[put("/categories/{code}")]
pub async fn put_category(
    state: web::Data<AppState>,
    _auth: Auth<AdminOnly>,
    code: web::Path<String>,
    Json(body): Json<CategoryBody>,
) -> ApiResult<web::Json<Category>> {
    let code = code.into_inner();
    let mut errors = Vec::new();
    if !(1..=64).contains(&code.len())
        || !code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.'))
    {
        errors.push(FieldError::new(
            "code",
            "category_code",
            "1–64 characters of a–z, 0–9, '_' or '.'",
        ));
    }
    for (field, v) in [("name_zh", &body.name_zh), ("name_en", &body.name_en)] {
        if !(1..=64).contains(&v.trim().chars().count()) {
            errors.push(FieldError::new(field, "length", "1–64 characters"));
        }
    }
    if !["grid", "mediation", "enforcement", "fire_station", "other"]
        .contains(&body.handler.as_str())
    {
        errors.push(FieldError::new(
            "handler",
            "invalid_value",
            "grid, mediation, enforcement, fire_station or other",
        ));
    }
    if !(0..=1000).contains(&body.points) {
        errors.push(FieldError::new("points", "range", "0 to 1000"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let c = Category {
        code,
        name_zh: body.name_zh.trim().to_owned(),
        name_en: body.name_en.trim().to_owned(),
        colour: body.colour,
        handler: body.handler,
        points: body.points,
    };
    let saved = catalogue::put_category(&state.db, &c).await?;
    state.catalogue.invalidate();
    Ok(web::Json(saved))
}

/// Deadline policies: per street and colour (street `*`: the defaults).
#[utoipa::path(
    tag = "events",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<Policy>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/deadline-policies")]
pub async fn list_policies(
    state: web::Data<AppState>,
    _auth: Auth<Staff>,
) -> ApiResult<web::Json<Vec<Policy>>> {
    Ok(web::Json(catalogue::policies(&state.db).await?))
}

/// The longest deadline a policy may set: 30 days, in seconds.
const MAX_LIMIT_SECS: i32 = 30 * 24 * 3600;

/// A street's deadlines for a colour, as an admin sets them: each 1 s to 30 days; absent or null
/// for no limit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsBody {
    #[schema(minimum = 1, maximum = 2592000)]
    pub accept_secs: Option<i32>,
    #[schema(minimum = 1, maximum = 2592000)]
    pub dispatch_secs: Option<i32>,
    #[schema(minimum = 1, maximum = 2592000)]
    pub sign_secs: Option<i32>,
    #[schema(minimum = 1, maximum = 2592000)]
    pub arrive_secs: Option<i32>,
    #[schema(minimum = 1, maximum = 2592000)]
    pub handle_secs: Option<i32>,
}

/// Set a street's deadlines for a colour, e.g. "1510" (sign 60 s, arrive 300 s, handle 600 s) or
/// "135" (accept 60 s, dispatch 180 s, arrive 300 s). New tasks take them at once.
#[utoipa::path(
    tag = "events",
    security(("bearer" = [])),
    params(
        ("street" = String, Path, pattern = "^(\\*|[A-Za-z0-9._-]{1,64})$", description = "Street code, or * for the defaults"),
        ("colour" = Colour, Path, description = "blue, yellow, orange or red"),
    ),
    request_body = LimitsBody,
    responses(
        (status = 200, body = Policy),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[put("/deadline-policies/{street}/{colour}")]
pub async fn put_policy(
    state: web::Data<AppState>,
    _auth: Auth<AdminOnly>,
    path: web::Path<(String, String)>,
    Json(body): Json<LimitsBody>,
) -> ApiResult<web::Json<Policy>> {
    let (street, colour) = path.into_inner();
    if street != catalogue::DEFAULT_STREET {
        check_code("street", &street)?;
    }
    // A name in the path, not a stored one: an unknown colour is the caller's mistake.
    let colour = Colour::parse(&colour)
        .map_err(|_| ApiError::invalid("colour", "invalid_value", "blue, yellow, orange or red"))?;
    let mut errors = Vec::new();
    for (field, v) in [
        ("accept_secs", body.accept_secs),
        ("dispatch_secs", body.dispatch_secs),
        ("sign_secs", body.sign_secs),
        ("arrive_secs", body.arrive_secs),
        ("handle_secs", body.handle_secs),
    ] {
        if v.is_some_and(|s| !(1..=MAX_LIMIT_SECS).contains(&s)) {
            errors.push(FieldError::new(field, "range", "1 second to 30 days"));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let limits = Limits {
        accept_secs: body.accept_secs,
        dispatch_secs: body.dispatch_secs,
        sign_secs: body.sign_secs,
        arrive_secs: body.arrive_secs,
        handle_secs: body.handle_secs,
    };
    let saved = catalogue::put_policy(&state.db, &street, colour, limits).await?;
    state.catalogue.invalidate();
    Ok(web::Json(saved))
}

/// A balance and its history.
#[derive(Debug, Serialize, ToSchema)]
pub struct PointsView {
    /// The sum of every row.
    pub balance: i64,
    pub history: Page<LedgerRow>,
}

/// The caller's points: balance and history, newest first.
#[utoipa::path(
    tag = "events",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = PointsView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/points/me")]
pub async fn my_points(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    Query(q): Query<PageQuery>,
) -> ApiResult<web::Json<PointsView>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(web::Json(PointsView {
        balance: points::balance(&state.db, auth.user.id).await?,
        history: points::history(&state.db, auth.user.id, page).await?,
    }))
}
