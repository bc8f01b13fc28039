//! Points administration, the reward catalogue and redemptions (积分兑换). Admins adjust
//! balances and see totals per source kind; coordinators keep the catalogue and hand rewards
//! out; everyone signed in lists active rewards, redeems them and cancels their own reserved
//! redemptions.

use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::PROBLEM;
use crate::auth::Auth;
use crate::auth::CurrentUser;
use crate::auth::roles::{AdminOnly, AnyRole, Coordinators, Role};
use crate::community::rewards::{
    self, Closer, NewReward, RedemptionStatus, RedemptionView, RewardChange, RewardKind, RewardView,
};
use crate::domain::check_code;
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{Json, Query};
use crate::pagination::{Page, PageRequest};
use crate::points::{self, Adjustment, KindTotal, LedgerRow};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_adjustment)
        .service(points_totals)
        .service(my_balance)
        .service(list_rewards)
        .service(create_reward)
        .service(get_reward)
        .service(change_reward)
        .service(redeem)
        .service(my_redemptions)
        .service(list_redemptions)
        .service(get_redemption)
        .service(fulfil_redemption)
        .service(cancel_redemption);
}

/// The largest amount one adjustment, cost or restock may carry.
const MAX_POINTS: i32 = 100_000;

fn required_key(req: &HttpRequest) -> ApiResult<String> {
    crate::extract::idempotency_key(req)?.ok_or_else(|| {
        ApiError::invalid(
            "Idempotency-Key",
            "required",
            "send an Idempotency-Key header, so a retry never counts twice",
        )
    })
}

fn created<T: Serialize>(body: T, replayed: bool) -> HttpResponse {
    let mut res = HttpResponse::Created();
    if replayed {
        res.insert_header(("idempotent-replayed", "true"));
    }
    res.json(body)
}

fn is_manager(user: &CurrentUser) -> bool {
    user.has(Role::Coordinator) || user.has(Role::Admin)
}

/// An admin's correction of an account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentRequest {
    pub user_id: Uuid,
    /// Points added (positive) or taken (negative); never takes the balance below zero.
    #[schema(example = 20)]
    #[schema(minimum = -100000, maximum = 100000)]
    pub amount: i32,
    /// Why, for the holder and the audit: required.
    #[schema(example = "补记 11 月志愿服务积分")]
    #[schema(
        pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([\\s\\S]{0,198}[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
    )]
    pub note: String,
}

/// Adjust an account's points (`source_kind = "adjustment"`).
///
/// Idempotent by the admin's own `Idempotency-Key` (the row's source id is `{admin id}:{key}`):
/// their retry with the same body returns the first row with `Idempotent-Replayed: true`, another
/// body under their key is refused, and another admin's same key is a new adjustment.
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, pattern = "^[!-~]{1,100}$", description = "Required; the adjustment's source id, scoped to the calling admin")),
    request_body = AdjustmentRequest,
    responses(
        (status = 201, description = "Written, or the first answer to a retry", body = LedgerRow),
        (status = 422, description = "Invalid, unknown user, or below zero (`insufficient_points`)", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/points/adjustments")]
pub async fn create_adjustment(
    state: web::Data<AppState>,
    auth: Auth<AdminOnly>,
    req: HttpRequest,
    Json(body): Json<AdjustmentRequest>,
) -> ApiResult<HttpResponse> {
    let key = required_key(&req)?;
    let mut errors = Vec::new();
    if body.amount == 0 || body.amount.abs() > MAX_POINTS {
        errors.push(FieldError::new(
            "amount",
            "range",
            format!("non-zero, at most {MAX_POINTS} either way"),
        ));
    }
    let note = body.note.trim();
    if note.is_empty() || note.chars().count() > 200 {
        errors.push(FieldError::new("note", "length", "1–200 characters"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let (row, replayed) = points::adjust(
        &state.db,
        Adjustment {
            user: body.user_id,
            by: auth.user.id,
            key: &key,
            amount: body.amount,
            note,
        },
    )
    .await?;
    Ok(created(row, replayed))
}

/// Ledger totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotalsView {
    /// Per source kind, by name.
    pub kinds: Vec<KindTotal>,
    /// Sum of every row: the points held by all accounts together.
    pub sum: i64,
    pub count: i64,
}

/// Sum and count of ledger rows per source kind.
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    responses(
        (status = 200, body = TotalsView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/points/totals")]
pub async fn points_totals(
    state: web::Data<AppState>,
    _auth: Auth<AdminOnly>,
) -> ApiResult<web::Json<TotalsView>> {
    let kinds = points::totals(&state.db).await?;
    Ok(web::Json(TotalsView {
        sum: kinds.iter().map(|k| k.sum).sum(),
        count: kinds.iter().map(|k| k.count).sum(),
        kinds,
    }))
}

/// A balance alone.
#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceView {
    /// The sum of every row of the caller's account.
    pub balance: i64,
}

/// The caller's balance without the history: what a redemption screen polls.
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    responses(
        (status = 200, body = BalanceView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/points/me/balance")]
pub async fn my_balance(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
) -> ApiResult<web::Json<BalanceView>> {
    Ok(web::Json(BalanceView {
        balance: points::balance(&state.db, auth.user.id).await?,
    }))
}

/// Paging for the catalogue.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListRewardsQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    /// Coordinators and admins: list inactive rewards too (ignored for others).
    pub include_inactive: Option<bool>,
}

/// The reward catalogue: active rewards, oldest first.
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    params(ListRewardsQuery),
    responses(
        (status = 200, body = Page<RewardView>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/rewards")]
pub async fn list_rewards(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    Query(q): Query<ListRewardsQuery>,
) -> ApiResult<web::Json<Page<RewardView>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let all = q.include_inactive == Some(true) && is_manager(&auth.user);
    Ok(web::Json(rewards::list(&state.db, page, all).await?))
}

/// A new reward.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRewardRequest {
    #[schema(example = "RICE-5KG")]
    #[schema(value_type = crate::domain::Code)]
    pub code: String,
    #[schema(example = "五常大米 5 公斤")]
    #[schema(
        pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([\\s\\S]{0,98}[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
    )]
    pub name: String,
    pub kind: RewardKind,
    /// Points per redemption, 1–100000.
    #[schema(example = 300)]
    #[schema(minimum = 1, maximum = 100000)]
    pub cost: i32,
    /// Units on hand; absent = unlimited (required to be absent for donations).
    #[schema(minimum = 0, maximum = 1000000)]
    pub stock: Option<i32>,
    /// Offered at once (default true).
    pub active: Option<bool>,
}

fn check_name(errors: &mut Vec<FieldError>, name: &str) {
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new("name", "length", "1–100 characters"));
    }
}

fn check_cost(errors: &mut Vec<FieldError>, cost: i32) {
    if !(1..=MAX_POINTS).contains(&cost) {
        errors.push(FieldError::new(
            "cost",
            "range",
            format!("1 to {MAX_POINTS} points"),
        ));
    }
}

/// Add a reward to the catalogue.
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    request_body = CreateRewardRequest,
    responses(
        (status = 201, body = RewardView),
        (status = 409, description = "Code taken", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/rewards")]
pub async fn create_reward(
    state: web::Data<AppState>,
    _auth: Auth<Coordinators>,
    Json(body): Json<CreateRewardRequest>,
) -> ApiResult<HttpResponse> {
    let mut errors = Vec::new();
    if let Err(ApiError::Validation(e)) = check_code("code", &body.code) {
        errors.extend(e);
    }
    let name = body.name.trim().to_owned();
    check_name(&mut errors, &name);
    check_cost(&mut errors, body.cost);
    match (body.kind, body.stock) {
        (RewardKind::Donation, Some(_)) => errors.push(FieldError::new(
            "stock",
            "unlimited",
            "a donation has no stock; leave it out",
        )),
        (_, Some(n)) if !(0..=1_000_000).contains(&n) => {
            errors.push(FieldError::new("stock", "range", "0 to 1000000 units"));
        }
        _ => {}
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let reward = rewards::create(
        &state.db,
        NewReward {
            code: body.code,
            name,
            kind: body.kind,
            cost: body.cost,
            stock: body.stock,
            active: body.active.unwrap_or(true),
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(reward))
}

/// One reward (inactive ones only for coordinators and admins).
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Reward code")),
    responses(
        (status = 200, body = RewardView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/rewards/{code}")]
pub async fn get_reward(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    code: web::Path<String>,
) -> ApiResult<web::Json<RewardView>> {
    Ok(web::Json(
        rewards::get(&state.db, &code, is_manager(&auth.user)).await?,
    ))
}

/// A change of a reward; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRewardRequest {
    #[schema(
        pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([\\s\\S]{0,98}[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
    )]
    pub name: Option<String>,
    #[schema(minimum = 1, maximum = 100000)]
    pub cost: Option<i32>,
    pub active: Option<bool>,
    /// Units to add (negative: withdraw); refused for unlimited rewards or below zero.
    #[schema(minimum = -1000000, maximum = 1000000)]
    pub add_stock: Option<i32>,
}

/// Rename, reprice, restock, withdraw or (de)activate a reward. Redemptions already made keep
/// the cost they were made at.
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Reward code")),
    request_body = ChangeRewardRequest,
    responses(
        (status = 200, body = RewardView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[patch("/rewards/{code}")]
pub async fn change_reward(
    state: web::Data<AppState>,
    _auth: Auth<Coordinators>,
    code: web::Path<String>,
    Json(body): Json<ChangeRewardRequest>,
) -> ApiResult<web::Json<RewardView>> {
    let mut errors = Vec::new();
    let name = body.name.map(|n| n.trim().to_owned());
    if let Some(n) = &name {
        check_name(&mut errors, n);
    }
    if let Some(c) = body.cost {
        check_cost(&mut errors, c);
    }
    if body
        .add_stock
        .is_some_and(|n| n == 0 || n.abs() > 1_000_000)
    {
        errors.push(FieldError::new(
            "add_stock",
            "range",
            "non-zero, at most 1000000 either way",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let change = RewardChange {
        name,
        cost: body.cost,
        active: body.active,
        add_stock: body.add_stock,
    };
    Ok(web::Json(rewards::update(&state.db, &code, change).await?))
}

/// Redeem one unit of a reward: reserves the unit and debits its cost in one transaction.
///
/// Idempotent by the `Idempotency-Key` header: a retry returns the same redemption with
/// `Idempotent-Replayed: true`. Refusals change nothing: 422 `insufficient_points` (the detail
/// names the balance), `out_of_stock` or `inactive`, on field `code`; 404 for an unknown reward.
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    params(
        ("code" = String, Path, description = "Reward code"),
        ("Idempotency-Key" = String, Header, pattern = "^[!-~]{1,100}$", description = "Required; one redemption per key"),
    ),
    responses(
        (status = 201, description = "Reserved, or the first answer to a retry", body = RedemptionView),
        (status = 422, description = "`insufficient_points`, `out_of_stock`, `inactive`, or a key reused", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/rewards/{code}/redeem")]
pub async fn redeem(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    req: HttpRequest,
    code: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let key = required_key(&req)?;
    let (view, replayed) = rewards::redeem(&state.db, auth.user.id, &code, &key).await?;
    Ok(created(view, replayed))
}

/// Filters and paging for redemption lists.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListRedemptionsQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    /// Only redemptions in this state.
    pub status: Option<RedemptionStatus>,
}

/// The caller's redemptions, newest first.
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    params(ListRedemptionsQuery),
    responses(
        (status = 200, body = Page<RedemptionView>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/redemptions/me")]
pub async fn my_redemptions(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    Query(q): Query<ListRedemptionsQuery>,
) -> ApiResult<web::Json<Page<RedemptionView>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(web::Json(
        rewards::list_redemptions(&state.db, Some(auth.user.id), q.status, page).await?,
    ))
}

/// Every redemption, newest first (e.g. `status=reserved`: what waits to be handed out).
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    params(ListRedemptionsQuery),
    responses(
        (status = 200, body = Page<RedemptionView>),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/redemptions")]
pub async fn list_redemptions(
    state: web::Data<AppState>,
    _auth: Auth<Coordinators>,
    Query(q): Query<ListRedemptionsQuery>,
) -> ApiResult<web::Json<Page<RedemptionView>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(web::Json(
        rewards::list_redemptions(&state.db, None, q.status, page).await?,
    ))
}

fn closer(user: &CurrentUser) -> Closer {
    Closer {
        user: user.id,
        manager: is_manager(user),
    }
}

/// One redemption: the redeemer's own, or any for coordinators and admins (404 otherwise).
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Redemption id")),
    responses(
        (status = 200, body = RedemptionView),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/redemptions/{id}")]
pub async fn get_redemption(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<RedemptionView>> {
    Ok(web::Json(
        rewards::get_redemption(&state.db, *id, closer(&auth.user)).await?,
    ))
}

/// Hand a reserved redemption out. 409 when it is not reserved (already fulfilled or cancelled).
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Redemption id")),
    responses(
        (status = 200, body = RedemptionView),
        (status = 409, description = "Not reserved", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/redemptions/{id}/fulfil")]
pub async fn fulfil_redemption(
    state: web::Data<AppState>,
    auth: Auth<Coordinators>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<RedemptionView>> {
    Ok(web::Json(
        rewards::fulfil(&state.db, *id, closer(&auth.user)).await?,
    ))
}

/// Cancel a reserved redemption: the unit returns to stock and the points are refunded
/// (`redemption_refund`), exactly once. The redeemer may cancel their own, coordinators and
/// admins anyone's; someone else's is 404. A second cancel, or a cancel after fulfilment, is 409
/// and changes nothing.
#[utoipa::path(
    tag = "rewards",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Redemption id")),
    responses(
        (status = 200, body = RedemptionView),
        (status = 409, description = "Not reserved", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/redemptions/{id}/cancel")]
pub async fn cancel_redemption(
    state: web::Data<AppState>,
    auth: Auth<AnyRole>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<RedemptionView>> {
    Ok(web::Json(
        rewards::cancel(&state.db, *id, closer(&auth.user)).await?,
    ))
}
