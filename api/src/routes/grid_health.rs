//! Grid health (五色网格): a grid's score, colour, response level and what explains them, its
//! history, the grids' colours for the map, the rankings (晾晒比拼), and the rules per street.
//!
//! The command centre (dispatchers, admins) sees every grid; a grid worker the grids they serve
//! (theirs, or below an area they serve); other roles none. Rules are admins'.

use actix_web::{get, post, put, web};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::PROBLEM;
use crate::accounts;
use crate::auth::Auth;
use crate::auth::roles::{AdminOnly, CommandCentre, HealthViewers, RoleSet};
use crate::auth::user::CurrentUser;
use crate::domain::check_code;
use crate::entities::areas;
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{Json, Query};
use crate::health::rankings::{RankLevel, RankedArea, RankingRequest, SortKey, rankings as ranked};
use crate::health::rules::{self, HealthRules, StreetRules};
use crate::health::score::HealthColour;
use crate::health::store::{self, GridColour, GridFilter, HealthView, HistoryDay, Recomputed};
use crate::pagination::{Page, PageRequest};
use crate::places::areas::{served_codes, serves};
use crate::points::local_day;
use crate::state::AppState;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(grid_health)
        .service(grid_history)
        .service(list_grids)
        .service(rankings)
        .service(recompute)
        .service(get_rules)
        .service(put_rules);
}

/// The grids a caller may see: None for all (the command centre), else those a grid worker
/// serves.
async fn visible(state: &AppState, user: &CurrentUser) -> ApiResult<Option<Vec<String>>> {
    if CommandCentre::admits(&user.roles) {
        return Ok(None);
    }
    let mine = accounts::areas_of(&state.db, user.id).await?;
    Ok(Some(
        served_codes(&state.places.get(), &mine)
            .into_iter()
            .collect(),
    ))
}

/// The area `code`, when the caller may see its health: 404 for no such area, 403 for a grid the
/// caller does not serve (areas are listed to everyone, so refusing reveals nothing).
async fn seen_area(state: &AppState, user: &CurrentUser, code: &str) -> ApiResult<areas::Model> {
    let area = areas::Entity::find()
        .filter(areas::Column::Code.eq(code))
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("area"))?;
    // Past `HealthViewers`, whoever is not the command centre is a grid worker.
    if !CommandCentre::admits(&user.roles) {
        let serving = serves(
            &state.places.get(),
            &accounts::areas_of(&state.db, user.id).await?,
            &area.code,
        );
        if !serving {
            return Err(ApiError::Forbidden);
        }
    }
    Ok(area)
}

/// A grid's health now: score, colour, response level (patrol frequency multiplier, recommended
/// staffing) and the contributions that explain the score, largest first ("红色事件 3 件：45 分").
///
/// Updated whenever an event, a move, a light or a patrol check-in touches the grid, and in full
/// every night (Asia/Shanghai). For dispatchers and admins; a grid worker for the grids they
/// serve.
#[utoipa::path(
    tag = "grid-health",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "The grid's code, e.g. QSH-G001")),
    responses(
        (status = 200, body = HealthView),
        (status = 403, description = "Not the command centre, nor a worker of this grid", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such area, or no figures for it yet", body = Problem, content_type = PROBLEM),
        (status = 422, description = "The area is not a grid (`code`)", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/areas/{code}/health")]
pub async fn grid_health(
    state: web::Data<AppState>,
    auth: Auth<HealthViewers>,
    code: web::Path<String>,
) -> ApiResult<web::Json<HealthView>> {
    let area = seen_area(&state, &auth.user, &code).await?;
    Ok(web::Json(store::current(&state.db, &area).await?))
}

/// The days of a grid's history to read.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// First day (Asia/Shanghai), `YYYY-MM-DD`; default 29 days before `to`. A `from` after
    /// `to` reads no day.
    #[param(format = Date, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub from: Option<String>,
    /// Last day (Asia/Shanghai), `YYYY-MM-DD`; default today.
    #[param(format = Date, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub to: Option<String>,
}

fn day(field: &str, raw: &str) -> ApiResult<NaiveDate> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| ApiError::invalid(field, "date", "a date as YYYY-MM-DD"))
}

/// The days `from`..=`to` a query names; by default the 30 days ending today (Asia/Shanghai).
fn period(from: Option<&str>, to: Option<&str>) -> ApiResult<(NaiveDate, NaiveDate)> {
    let to = to
        .map(|t| day("to", t))
        .transpose()?
        .unwrap_or_else(|| local_day(Utc::now()));
    let from = from
        .map(|f| day("from", f))
        .transpose()?
        .unwrap_or(to - chrono::Duration::days(29));
    Ok((from, to))
}

/// A grid's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    pub area_code: String,
    pub from: String,
    pub to: String,
    /// One per day with figures (one row a grid a day, so at most one a day since the grid
    /// was first scored), oldest first.
    pub days: Vec<HistoryDay>,
}

/// A grid's health day by day (the last figures of each Asia/Shanghai day), to draw its trend.
#[utoipa::path(
    tag = "grid-health",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "The grid's code"), HistoryQuery),
    responses(
        (status = 200, body = History),
        (status = 403, description = "Not the command centre, nor a worker of this grid", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such area", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A malformed date, or the area is not a grid (`code`)", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/areas/{code}/health/history")]
pub async fn grid_history(
    state: web::Data<AppState>,
    auth: Auth<HealthViewers>,
    code: web::Path<String>,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<web::Json<History>> {
    let (from, to) = period(q.from.as_deref(), q.to.as_deref())?;
    let area = seen_area(&state, &auth.user, &code).await?;
    if area.level != "grid" {
        return Err(ApiError::invalid(
            "code",
            "invalid_value",
            format!("{} is a {}, not a grid", area.code, area.level),
        ));
    }
    Ok(web::Json(History {
        days: store::history(&state.db, &area.code, from, to).await?,
        area_code: area.code,
        from: from.format("%Y-%m-%d").to_string(),
        to: to.format("%Y-%m-%d").to_string(),
    }))
}

/// Filters and paging of the grid list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GridsQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    /// Only this street's grids.
    pub street: Option<String>,
    /// Only grids of this colour.
    pub colour: Option<HealthColour>,
}

/// Grids with their health colours and scores, for the map (一张图), oldest first. The command
/// centre sees every grid; a grid worker the grids they serve.
#[utoipa::path(
    tag = "grid-health",
    security(("bearer" = [])),
    params(GridsQuery),
    responses(
        (status = 200, body = Page<GridColour>),
        (status = 403, description = "Neither the command centre nor a grid worker", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/grid-health")]
pub async fn list_grids(
    state: web::Data<AppState>,
    auth: Auth<HealthViewers>,
    Query(q): Query<GridsQuery>,
) -> ApiResult<web::Json<Page<GridColour>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let only = visible(&state, &auth.user).await?;
    let filter = GridFilter {
        street: q.street,
        colour: q.colour,
        only,
    };
    Ok(web::Json(store::grids(&state.db, page, filter).await?))
}

/// What to rank, over which days.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RankingsQuery {
    /// Grids (default) or communities.
    pub level: Option<RankLevel>,
    /// The figure to rank by; default `on_time_rate`.
    pub sort: Option<SortKey>,
    /// First day (Asia/Shanghai), `YYYY-MM-DD`; default 29 days before `to` (30 days in all).
    /// Not after `to`, and at most 366 days from `from` to `to`, both included.
    #[param(format = Date, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub from: Option<String>,
    /// Last day (Asia/Shanghai), `YYYY-MM-DD`; default today.
    #[param(format = Date, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub to: Option<String>,
    /// Only this street's areas. A grid worker sees the streets they serve in (all of them
    /// when absent); another street is refused (403).
    #[param(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub street: Option<String>,
    /// At most this many rows, from the first rank; default 500.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
}

/// The longest period ranked, in days.
const MAX_RANKING_DAYS: i64 = 366;

/// Rankings over a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rankings {
    pub level: RankLevel,
    pub sort: SortKey,
    /// `YYYY-MM-DD`, Asia/Shanghai, both included.
    pub from: String,
    pub to: String,
    /// Areas ranked in all (`rows` holds the first `limit` of them).
    pub total: u64,
    /// Best first.
    pub rows: Vec<RankedArea>,
}

/// Rankings (晾晒比拼): grids, or communities, side by side over a period by on-time rate,
/// closure rate, average rating, repeated problems, patrol completion or health.
///
/// Every figure counts the events received in the period (refused and merged ones aside);
/// each rate comes with the counts behind it and is null when nothing counts towards it. A
/// community's counts are its grids' added up; its health score is the mean of its grids'
/// current scores, coloured by its street's thresholds. Rates and the rating rank the highest
/// first, repeats and the health score the lowest first; equal figures share a rank; rows
/// whose figure is null (no events, no scored steps, no ratings …) come last.
///
/// For the command centre (every street) and grid workers: a public comparison, so a worker
/// sees every grid of the streets they serve in. Others 403.
#[utoipa::path(
    tag = "grid-health",
    security(("bearer" = [])),
    params(RankingsQuery),
    responses(
        (status = 200, body = Rankings),
        (status = 403, description = "Neither the command centre nor a grid worker, or a worker asking for another street", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A malformed date (`from`, `to`), `from` after `to` (`from`), a period over 366 days (`from`), an unknown `level` or `sort`, a `limit` out of range", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/rankings")]
pub async fn rankings(
    state: web::Data<AppState>,
    auth: Auth<HealthViewers>,
    Query(q): Query<RankingsQuery>,
) -> ApiResult<web::Json<Rankings>> {
    Ok(web::Json(rank_for(&state, &auth.user, q).await?.0))
}

/// The rankings `user` asked for, checked and read; with the period as days, for the files
/// made of them (`routes::ranking_files`).
pub(crate) async fn rank_for(
    state: &AppState,
    user: &CurrentUser,
    q: RankingsQuery,
) -> ApiResult<(Rankings, NaiveDate, NaiveDate)> {
    let (from, to) = period(q.from.as_deref(), q.to.as_deref())?;
    if from > to {
        return Err(ApiError::invalid("from", "range", "not after `to`"));
    }
    if (to - from).num_days() + 1 > MAX_RANKING_DAYS {
        return Err(ApiError::invalid(
            "from",
            "range",
            format!("at most {MAX_RANKING_DAYS} days from `from` to `to`"),
        ));
    }
    let limit = q.limit.unwrap_or(500);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit", "range", "1 to 500"));
    }
    if let Some(s) = &q.street {
        check_code("street", s)?;
    }
    let streets = if CommandCentre::admits(&user.roles) {
        q.street.map(|s| vec![s])
    } else {
        // A grid worker: the streets of the areas they serve.
        let mine: Vec<String> = accounts::areas_of(&state.db, user.id)
            .await?
            .into_iter()
            .map(|a| a.code)
            .collect();
        let theirs: std::collections::BTreeSet<String> = areas::Entity::find()
            .filter(areas::Column::Code.is_in(mine))
            .all(&state.db)
            .await?
            .into_iter()
            .map(|a| a.street_code)
            .collect();
        match q.street {
            Some(s) if !theirs.contains(&s) => return Err(ApiError::Forbidden),
            Some(s) => Some(vec![s]),
            None => Some(theirs.into_iter().collect()),
        }
    };
    let req = RankingRequest {
        level: q.level.unwrap_or_default(),
        sort: q.sort.unwrap_or_default(),
        from,
        to,
        streets,
    };
    let mut rows = ranked(&state.db, &req, Utc::now()).await?;
    let total = rows.len() as u64;
    rows.truncate(usize::try_from(limit).unwrap_or(500));
    let ranked_rows = Rankings {
        level: req.level,
        sort: req.sort,
        from: from.format("%Y-%m-%d").to_string(),
        to: to.format("%Y-%m-%d").to_string(),
        total,
        rows,
    };
    Ok((ranked_rows, from, to))
}

/// Which grids to recompute.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecomputeQuery {
    /// Only this street's grids; default every grid.
    pub street: Option<String>,
}

/// Recompute every grid's health now, as the nightly pass does (admins). Answers when done;
/// colour changes are pushed live as usual.
#[utoipa::path(
    tag = "grid-health",
    security(("bearer" = [])),
    params(RecomputeQuery),
    responses(
        (status = 200, body = Recomputed),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/grid-health/recompute")]
pub async fn recompute(
    state: web::Data<AppState>,
    _auth: Auth<AdminOnly>,
    Query(q): Query<RecomputeQuery>,
) -> ApiResult<web::Json<Recomputed>> {
    Ok(web::Json(state.health.recompute(q.street).await?))
}

fn street_of_path(street: &str) -> ApiResult<()> {
    if street != crate::street_rules::DEFAULT_STREET {
        check_code("street", street)?;
    }
    Ok(())
}

/// The health rules that decide for a street: its own, or the defaults (`*`) when it has none
/// (admins).
#[utoipa::path(
    tag = "grid-health",
    security(("bearer" = [])),
    params(("street" = String, Path, pattern = "^(\\*|[A-Za-z0-9._-]{1,64})$", description = "Street code, or * for the defaults")),
    responses(
        (status = 200, body = StreetRules),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/health-rules/{street}")]
pub async fn get_rules(
    state: web::Data<AppState>,
    _auth: Auth<AdminOnly>,
    street: web::Path<String>,
) -> ApiResult<web::Json<StreetRules>> {
    street_of_path(&street)?;
    let asked = (street.as_str() != crate::street_rules::DEFAULT_STREET).then_some(street.as_str());
    let (from, rules) = rules::for_street(&state.db, asked).await?;
    Ok(web::Json(StreetRules {
        street: street.into_inner(),
        from,
        rules,
    }))
}

/// Rules as kept, and the recompute they caused.
#[derive(Debug, Serialize, ToSchema)]
pub struct RulesSaved {
    #[serde(flatten)]
    pub rules: StreetRules,
    pub recomputed: Recomputed,
}

/// Replace a street's health rules (or the defaults, `*`), whole (admins). Besides each
/// field's range: `category_weights` names only categories of the catalogue (GET
/// /api/v1/categories) and `*`, and the thresholds increase strictly (blue < yellow < orange <
/// red). Every broken rule is named by its field (`thresholds.orange`,
/// `category_weights.no.such` …) and nothing changes; otherwise the street's grids (every grid
/// for `*`) are recomputed before the answer.
#[utoipa::path(
    tag = "grid-health",
    security(("bearer" = [])),
    params(("street" = String, Path, pattern = "^(\\*|[A-Za-z0-9._-]{1,64})$", description = "Street code, or * for the defaults")),
    request_body = HealthRules,
    responses(
        (status = 200, body = RulesSaved),
        (status = 422, description = "Every broken rule, by field", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[put("/health-rules/{street}")]
pub async fn put_rules(
    state: web::Data<AppState>,
    _auth: Auth<AdminOnly>,
    street: web::Path<String>,
    Json(body): Json<HealthRules>,
) -> ApiResult<web::Json<RulesSaved>> {
    street_of_path(&street)?;
    let categories: Vec<String> = crate::events::catalogue::categories(&state.db)
        .await?
        .into_iter()
        .map(|c| c.code)
        .collect();
    let errors: Vec<FieldError> = body.check(&categories);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    rules::put(&state.db, &street, &body).await?;
    let recomputed = state
        .health
        .recompute(
            (street.as_str() != crate::street_rules::DEFAULT_STREET)
                .then(|| street.as_str().to_owned()),
        )
        .await?;
    Ok(web::Json(RulesSaved {
        rules: StreetRules {
            from: street.as_str().to_owned(),
            street: street.into_inner(),
            rules: body,
        },
        recomputed,
    }))
}
