//! Garbage-sorting accounts and records (垃圾分类). Staff (grid workers, coordinators, admins)
//! open accounts; the supervisors of an account's building (its grid's workers, the team of its
//! sorting point) rate it, as do sorting stations with an API key holding `sorting:write`
//! (`community::sorting::raters` holds the rules); holders read their own accounts and records.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, post, put, web};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::PROBLEM;
use crate::auth::api_keys::Scope;
use crate::auth::roles::{AdminOnly, AnyRole, Role, RoleSet};
use crate::auth::{Auth, CurrentUser, Principal};
use crate::community::sorting::{
    self, AccountKind, AccountView, NewAccount, NewRecord, PolicyRow, Poster, Rater, RecordView,
    SortResult, Viewer,
};
use crate::domain::check_code;
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{Json, Query};
use crate::pagination::{Page, PageQuery, PageRequest};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_account)
        .service(list_accounts)
        .service(my_accounts)
        .service(get_account)
        .service(post_record)
        .service(list_records)
        .service(get_policy)
        .service(put_policy);
}

/// Staff who keep sorting accounts and post records on their rounds.
#[derive(Debug)]
pub struct SortingStaff;

impl RoleSet for SortingStaff {
    const ROLES: &'static [Role] = &[Role::GridWorker, Role::Coordinator, Role::Admin];
}

fn viewer(user: &CurrentUser) -> Viewer {
    Viewer {
        user: user.id,
        staff: SortingStaff::admits(&user.roles),
    }
}

/// Who may post a record: a grid worker or team member by token (whether they rate this account
/// is decided with the account in hand), or a station by a key with `sorting:write`. Checked as
/// an extractor so a refused caller gets 401/403 before the body is read.
#[derive(Debug)]
pub struct RecordPoster(Poster);

impl FromRequest for RecordPoster {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let who = Principal::from_request(req, payload);
        Box::pin(async move {
            match who.await? {
                Principal::Machine(client) => {
                    client.require(Scope::SortingWrite)?;
                    Ok(RecordPoster(Poster::Station(client.key_id)))
                }
                Principal::User(u) if u.has(Role::GridWorker) || u.has(Role::TeamMember) => {
                    Ok(RecordPoster(Poster::User(Rater {
                        user: u.id,
                        roles: u.roles,
                    })))
                }
                Principal::User(_) => Err(ApiError::Forbidden),
            }
        })
    }
}

/// A new sorting account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    #[schema(value_type = crate::domain::Code, example = "QSH-B001-0302")]
    pub code: String,
    /// The household's or renter's user account.
    pub holder_id: Uuid,
    pub kind: AccountKind,
    #[schema(example = "QSH-B001")]
    pub building_code: Option<String>,
    #[schema(example = "3-302")]
    pub unit_label: Option<String>,
}

/// Open a sorting account for a household or a renter.
#[utoipa::path(
    tag = "sorting",
    security(("bearer" = [])),
    request_body = CreateAccountRequest,
    responses(
        (status = 201, body = AccountView),
        (status = 409, description = "Code taken", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/sorting/accounts")]
pub async fn create_account(
    state: web::Data<AppState>,
    auth: Auth<SortingStaff>,
    Json(body): Json<CreateAccountRequest>,
) -> ApiResult<HttpResponse> {
    let mut errors = Vec::new();
    if let Err(ApiError::Validation(e)) = check_code("code", &body.code) {
        errors.extend(e);
    }
    if let Some(b) = &body.building_code
        && let Err(ApiError::Validation(e)) = check_code("building_code", b)
    {
        errors.extend(e);
    }
    let unit = body.unit_label.map(|u| u.trim().to_owned());
    if unit
        .as_ref()
        .is_some_and(|u| u.is_empty() || u.chars().count() > 32)
    {
        errors.push(FieldError::new("unit_label", "length", "1–32 characters"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let account = sorting::create_account(
        &state.db,
        NewAccount {
            code: body.code,
            holder: body.holder_id,
            opened_by: Some(auth.user.id),
            kind: body.kind,
            building_code: body.building_code,
            unit_label: unit,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(account))
}

/// Every sorting account, oldest first.
#[utoipa::path(
    tag = "sorting",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = Page<AccountView>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/sorting/accounts")]
pub async fn list_accounts(
    state: web::Data<AppState>,
    _auth: Auth<SortingStaff>,
    Query(q): Query<PageQuery>,
) -> ApiResult<web::Json<Page<AccountView>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(web::Json(
        sorting::list_accounts(&state.db, None, page).await?,
    ))
}

/// The caller's own sorting accounts.
#[utoipa::path(
    tag = "sorting",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = Page<AccountView>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/sorting/accounts/me")]
pub async fn my_accounts(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    Query(q): Query<PageQuery>,
) -> ApiResult<web::Json<Page<AccountView>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(web::Json(
        sorting::list_accounts(&state.db, Some(auth.user.id), page).await?,
    ))
}

/// One sorting account: for its holder or sorting staff (404 for anyone else).
#[utoipa::path(
    tag = "sorting",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Account code")),
    responses(
        (status = 200, body = AccountView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/sorting/accounts/{code}")]
pub async fn get_account(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    code: web::Path<String>,
) -> ApiResult<web::Json<AccountView>> {
    Ok(web::Json(
        sorting::get_account(&state.db, &code, viewer(&auth.user)).await?,
    ))
}

/// A record of one drop-off.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRecordRequest {
    /// A client-generated id for this record (or send an `Idempotency-Key` header): a retry
    /// returns the first record and pays nothing more.
    pub id: Option<Uuid>,
    pub result: SortResult,
    #[schema(example = "厨余垃圾分拣干净")]
    pub note: Option<String>,
    /// When the drop-off was seen (default now); not in the future, at most 7 days ago. Its
    /// Asia/Shanghai day is the day the rating counts for.
    pub observed_at: Option<DateTime<Utc>>,
    /// The id of a rating of the same account and day that this one replaces: its points are
    /// taken back and this one's paid. Without it, a day already rated as often as the street
    /// allows (once by default) is a 409.
    pub corrects: Option<Uuid>,
}

/// Post a sorting record; it pays the holder the policy's points for its result
/// (`source_kind = "sorting"`), within the day's points cap. The supervisors of the account's
/// building by token (never its holder or their household), or a station by API key
/// (`sorting:write`). The `id` or `Idempotency-Key` is the poster's own: another poster's same
/// key posts a record of theirs.
#[utoipa::path(
    tag = "sorting",
    security(("bearer" = []), ("api_key" = [])),
    params(
        ("code" = String, Path, description = "Account code"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,100}$", description = "Used when the body has no id; scoped to the caller"),
    ),
    request_body = CreateRecordRequest,
    responses(
        (status = 201, description = "Posted, or the first answer to a retry (header Idempotent-Replayed: true)", body = RecordView),
        (status = 403, description = "Not a rater of this account (`/problems/not-eligible`)", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Already rated this day: send `corrects`", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/sorting/accounts/{code}/records")]
pub async fn post_record(
    state: web::Data<AppState>,
    who: RecordPoster,
    req: HttpRequest,
    code: web::Path<String>,
    Json(body): Json<CreateRecordRequest>,
) -> ApiResult<HttpResponse> {
    let key = crate::extract::client_key(&req, body.id, "a retry never pays twice")?;
    let mut errors = Vec::new();
    let note = body
        .note
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > 200) {
        errors.push(FieldError::new("note", "length", "at most 200 characters"));
    }
    let now = Utc::now();
    let observed_at = body.observed_at.unwrap_or(now);
    if observed_at > now + Duration::minutes(5) || observed_at < now - Duration::days(7) {
        errors.push(FieldError::new(
            "observed_at",
            "range",
            "not in the future, at most 7 days ago",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let new = NewRecord {
        key,
        result: body.result,
        note,
        observed_at,
        corrects: body.corrects,
    };
    let index = state.places.get();
    let (record, replayed) = sorting::post_record(&state.db, &index, &code, new, who.0).await?;
    let mut res = HttpResponse::Created();
    if replayed {
        res.insert_header(("idempotent-replayed", "true"));
    }
    Ok(res.json(record))
}

/// An account's records, newest first: for its holder or sorting staff.
#[utoipa::path(
    tag = "sorting",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Account code"), PageQuery),
    responses(
        (status = 200, body = Page<RecordView>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/sorting/accounts/{code}/records")]
pub async fn list_records(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    code: web::Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<web::Json<Page<RecordView>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(web::Json(
        sorting::records(&state.db, &code, viewer(&auth.user), page).await?,
    ))
}

/// The sorting policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    /// Points per result; a record keeps what it paid when posted.
    pub results: Vec<PolicyRow>,
}

/// The points each sorting result earns.
#[utoipa::path(
    tag = "sorting",
    security(("bearer" = [])),
    responses(
        (status = 200, body = PolicyView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/sorting/policy")]
pub async fn get_policy(
    state: web::Data<AppState>,
    _auth: Auth<AnyRole>,
) -> ApiResult<web::Json<PolicyView>> {
    Ok(web::Json(PolicyView {
        results: sorting::policy(&state.db).await?,
    }))
}

/// The points of one result.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    /// 0–100.
    #[schema(example = 5)]
    pub points: i32,
}

/// Set the points one result (`good`, `fair`, `poor`) earns from now on.
#[utoipa::path(
    tag = "sorting",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Result: good, fair or poor")),
    request_body = PolicyBody,
    responses(
        (status = 200, body = PolicyRow),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[put("/sorting/policy/{code}")]
pub async fn put_policy(
    state: web::Data<AppState>,
    _auth: Auth<AdminOnly>,
    code: web::Path<String>,
    Json(body): Json<PolicyBody>,
) -> ApiResult<web::Json<PolicyRow>> {
    // A name in the path, not a stored one: an unknown result is a missing resource.
    let result = SortResult::parse(&code).map_err(|_| ApiError::NotFound("sorting result"))?;
    if !(0..=100).contains(&body.points) {
        return Err(ApiError::invalid("points", "range", "0 to 100"));
    }
    Ok(web::Json(
        sorting::set_policy(&state.db, result, body.points).await?,
    ))
}
