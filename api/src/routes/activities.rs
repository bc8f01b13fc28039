//! Activities and shifts: publishing, signing up and cancelling (idempotent, never oversold,
//! waitlists promoted first come first served), rosters, and attendance by scan or coordinator.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::PROBLEM;
use crate::auth::Auth;
use crate::auth::roles::{AnyRole, Coordinators};
use crate::community::activities::{
    self, ActivityKind, ActivitySpec, ActivityView, ShiftSpec, SignupStatus, SignupView,
};
use crate::domain::{code_into, text, verdict};
use crate::error::{ApiResult, FieldError, Problem};
use crate::extract::{Json, Query};
use crate::pagination::{Page, PageQuery, PageRequest};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_activity)
        .service(list_activities)
        .service(get_activity)
        .service(activity_attendance_code)
        .service(sign_up)
        .service(shift_signups)
        .service(take_attendance)
        .service(my_signups)
        .service(cancel_signup)
        .service(scan_attendance);
}

/// The most places one shift may offer.
const MAX_CAPACITY: i32 = 100_000;
/// The most shifts one activity may have.
const MAX_SHIFTS: usize = 100;

/// A shift of a new activity.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShiftRequest {
    /// RFC 3339 with an offset, e.g. `2026-12-05T09:00:00+08:00`.
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Places, 1–100,000.
    #[schema(minimum = 1, maximum = 100000)]
    pub capacity: i32,
    /// Whether signups beyond capacity wait in line (default: refused).
    #[serde(default)]
    pub waitlist: bool,
}

/// A new activity and its shifts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateActivityRequest {
    #[schema(example = "青山湖社区垃圾分类督导")]
    #[schema(
        pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\u{0}-\u{1f}\u{7f}-\u{9f}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([^\u{0}-\u{9}\u{b}\u{c}\u{e}-\u{1f}\u{7f}-\u{9f}]{0,198}[^\u{0}-\u{1f}\u{7f}-\u{9f}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
    )]
    pub title: String,
    pub kind: ActivityKind,
    #[serde(default)]
    #[schema(
        pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*([^\u{0}-\u{1f}\u{7f}-\u{9f}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([^\u{0}-\u{9}\u{b}\u{c}\u{e}-\u{1f}\u{7f}-\u{9f}]{0,4998}[^\u{0}-\u{1f}\u{7f}-\u{9f}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*)?$"
    )]
    pub description: String,
    /// Only volunteers serving this area (or one above or below it) may sign up.
    #[schema(value_type = Option<crate::domain::Code>)]
    pub area: Option<String>,
    /// Only active members of this volunteer team may sign up.
    #[schema(value_type = Option<crate::domain::Code>)]
    pub team: Option<String>,
    /// Only volunteers with this skill may sign up.
    #[schema(value_type = Option<crate::routes::volunteers::SkillName>)]
    pub skill: Option<String>,
    /// Points per attended hour, 0–1000 (default 0).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000)]
    pub points_per_hour: i32,
    /// 1–100 shifts.
    #[schema(min_items = 1, max_items = 100)]
    pub shifts: Vec<ShiftRequest>,
}

/// Publish an activity with its shifts.
#[utoipa::path(
    tag = "activities",
    security(("bearer" = [])),
    request_body = CreateActivityRequest,
    responses(
        (status = 201, body = ActivityView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/activities")]
pub async fn create_activity(
    state: web::Data<AppState>,
    auth: Auth<Coordinators>,
    Json(body): Json<CreateActivityRequest>,
) -> ApiResult<HttpResponse> {
    let mut errors: Vec<FieldError> = Vec::new();
    let title = text(&mut errors, "title", &body.title, 1, 200);
    let description = text(&mut errors, "description", &body.description, 0, 5000);
    for (field, code) in [("area", &body.area), ("team", &body.team)] {
        if let Some(c) = code {
            code_into(&mut errors, field, c);
        }
    }
    let skill = body
        .skill
        .as_deref()
        .map(|s| text(&mut errors, "skill", s, 1, 32));
    if !(0..=1000).contains(&body.points_per_hour) {
        errors.push(FieldError::new("points_per_hour", "range", "0 to 1000"));
    }
    if body.shifts.is_empty() || body.shifts.len() > MAX_SHIFTS {
        errors.push(FieldError::new(
            "shifts",
            "items",
            format!("1 to {MAX_SHIFTS} shifts"),
        ));
    }
    for (i, s) in body.shifts.iter().enumerate() {
        if s.ends_at <= s.starts_at {
            errors.push(FieldError::new(
                format!("shifts[{i}].ends_at"),
                "after_start",
                "a shift ends after it starts",
            ));
        }
        if !(1..=MAX_CAPACITY).contains(&s.capacity) {
            errors.push(FieldError::new(
                format!("shifts[{i}].capacity"),
                "range",
                format!("1 to {MAX_CAPACITY}"),
            ));
        }
    }
    verdict(errors)?;
    let spec = ActivitySpec {
        title,
        kind: body.kind,
        description,
        area: body.area,
        team: body.team,
        skill,
        points_per_hour: body.points_per_hour,
        shifts: body
            .shifts
            .into_iter()
            .map(|s| ShiftSpec {
                starts_at: s.starts_at,
                ends_at: s.ends_at,
                capacity: s.capacity,
                waitlist: s.waitlist,
            })
            .collect(),
    };
    let view = activities::create(&state.db, &state.places.get(), auth.user.id, spec).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Paging and a kind filter for activities.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListActivitiesQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    pub kind: Option<ActivityKind>,
}

/// Activities with their shifts and places, newest first.
#[utoipa::path(
    tag = "activities",
    security(("bearer" = [])),
    params(ListActivitiesQuery),
    responses(
        (status = 200, body = Page<ActivityView>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/activities")]
pub async fn list_activities(
    state: web::Data<AppState>,
    _auth: Auth<AnyRole>,
    Query(q): Query<ListActivitiesQuery>,
) -> ApiResult<web::Json<Page<ActivityView>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(web::Json(activities::list(&state.db, page, q.kind).await?))
}

/// One activity with its shifts.
#[utoipa::path(
    tag = "activities",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Activity id")),
    responses(
        (status = 200, body = ActivityView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/activities/{id}")]
pub async fn get_activity(
    state: web::Data<AppState>,
    _auth: Auth<AnyRole>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<ActivityView>> {
    Ok(web::Json(activities::get(&state.db, *id).await?))
}

/// An activity's attendance code.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttendanceCode {
    /// The signed payload to show as a QR code at the venue.
    pub payload: String,
}

/// The attendance code of an activity, to display at the venue: volunteers scan it to be marked
/// present during their shift.
#[utoipa::path(
    tag = "activities",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Activity id")),
    responses(
        (status = 200, body = AttendanceCode),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/activities/{id}/attendance-code")]
pub async fn activity_attendance_code(
    state: web::Data<AppState>,
    _auth: Auth<Coordinators>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<AttendanceCode>> {
    Ok(web::Json(AttendanceCode {
        payload: activities::attendance_code(&state.db, &state.qr, *id).await?,
    }))
}

/// Sign up for a shift: a place when one is free, else a place in line when the shift keeps a
/// waitlist, else 409. Repeating the signup (a retry, a second phone) answers 200 with the
/// signup already held; nobody holds two.
#[utoipa::path(
    tag = "activities",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Shift id")),
    responses(
        (status = 201, description = "Confirmed or waitlisted", body = SignupView),
        (status = 200, description = "Already signed up: the signup held", body = SignupView),
        (status = 403, description = "Not eligible (team, area or skill)", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Full with no waitlist, or the shift has ended", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/shifts/{id}/signups")]
pub async fn sign_up(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let (signup, created) = activities::sign_up(
        &state.db,
        &state.signups,
        &state.places.get(),
        auth.user.id,
        *id,
    )
    .await?;
    Ok(if created {
        HttpResponse::Created().json(signup)
    } else {
        HttpResponse::Ok().json(signup)
    })
}

/// Paging and a status filter for a shift's signups.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SignupsQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    pub status: Option<SignupStatus>,
}

/// A shift's signups in order; `status=waitlisted` is the line, first first.
#[utoipa::path(
    tag = "activities",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Shift id"), SignupsQuery),
    responses(
        (status = 200, body = Page<SignupView>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/shifts/{id}/signups")]
pub async fn shift_signups(
    state: web::Data<AppState>,
    _auth: Auth<Coordinators>,
    id: web::Path<Uuid>,
    Query(q): Query<SignupsQuery>,
) -> ApiResult<web::Json<Page<SignupView>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(web::Json(
        activities::roster(&state.db, *id, q.status, page).await?,
    ))
}

/// Attendance taken by a coordinator.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TakeAttendanceRequest {
    pub user_id: Uuid,
    /// Minutes served; the whole shift when absent.
    #[schema(minimum = 1)]
    pub minutes: Option<i32>,
}

/// Mark a volunteer present for a shift: their minutes go to their service record and the
/// activity's points to their ledger, once.
#[utoipa::path(
    tag = "activities",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Shift id")),
    request_body = TakeAttendanceRequest,
    responses(
        (status = 200, body = SignupView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/shifts/{id}/attendance")]
pub async fn take_attendance(
    state: web::Data<AppState>,
    _auth: Auth<Coordinators>,
    id: web::Path<Uuid>,
    Json(body): Json<TakeAttendanceRequest>,
) -> ApiResult<web::Json<SignupView>> {
    Ok(web::Json(
        activities::attend_by_coordinator(&state.db, *id, body.user_id, body.minutes).await?,
    ))
}

/// One's signups, newest first.
#[utoipa::path(
    tag = "activities",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = Page<SignupView>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/signups/me")]
pub async fn my_signups(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    Query(q): Query<PageQuery>,
) -> ApiResult<web::Json<Page<SignupView>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(web::Json(
        activities::mine(&state.db, auth.user.id, page).await?,
    ))
}

/// Cancel a signup (one's own; coordinators any). A confirmed place goes to the first in line,
/// who hears it live. Cancelling again answers with the cancelled signup.
#[utoipa::path(
    tag = "activities",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Signup id")),
    responses(
        (status = 200, body = SignupView),
        (status = 404, description = "No such signup, or someone else's", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/signups/{id}/cancel")]
pub async fn cancel_signup(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<SignupView>> {
    Ok(web::Json(
        activities::cancel(&state.db, &state.live, &auth.user, *id).await?,
    ))
}

/// A scanned attendance code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanAttendanceRequest {
    /// The payload read from the activity's QR code.
    pub code: String,
}

/// Be marked present by scanning the activity's code during one's shift (or up to 30 minutes
/// before it starts). Scanning again changes nothing.
#[utoipa::path(
    tag = "activities",
    security(("bearer" = [])),
    request_body = ScanAttendanceRequest,
    responses(
        (status = 200, body = SignupView),
        (status = 400, description = "Not an activity's code, or forged", body = Problem, content_type = PROBLEM),
        (status = 403, description = "No confirmed place in this activity", body = Problem, content_type = PROBLEM),
        (status = 422, description = "None of one's shifts is running now", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/attendance/scan")]
pub async fn scan_attendance(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    Json(body): Json<ScanAttendanceRequest>,
) -> ApiResult<web::Json<SignupView>> {
    Ok(web::Json(
        activities::attend_by_scan(&state.db, &state.qr, auth.user.id, &body.code).await?,
    ))
}
