//! Monthly reviews (网格月度研判报告): listing, opening, generating on demand, the assessment,
//! submission, comments, read marks and corrections.
//!
//! Who may do what with a review is `crate::access::review`, the one place: a grid worker the
//! reviews of the areas they serve; the command centre the reviews of its street. Other roles
//! are refused at the door (403); a review the caller may not read is a 404.

use actix_web::{HttpResponse, get, post, put, web};
use chrono::Utc;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::PROBLEM;
use super::downloads::{Format, Writer, send};
use crate::access::{self, ReviewGrant};
use crate::accounts;
use crate::auth::Auth;
use crate::auth::roles::{CommandCentre, ReviewViewers};
use crate::auth::user::CurrentUser;
use crate::domain::{check_code, text, verdict};
use crate::entities::{areas, reviews};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{Json, Query};
use crate::pagination::Page;
use crate::pagination::PageRequest;
use crate::reviews::figures::StreetTree;
use crate::reviews::files::ReviewFile;
use crate::reviews::month::Month;
use crate::reviews::store::{self, CommentView, ReviewDetail, ReviewFilter, ReviewView};
use crate::reviews::{ReviewScope, ReviewStatus};
use crate::state::AppState;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_reviews)
        .service(generate_review)
        .service(get_review)
        .service(review_pdf)
        .service(review_xlsx)
        .service(review_csv)
        .service(put_assessment)
        .service(submit_review)
        .service(add_comment)
        .service(mark_read)
        .service(correct_review);
}

/// The caller's grant on a review.
async fn grant(state: &AppState, user: &CurrentUser, r: &reviews::Model) -> ApiResult<ReviewGrant> {
    let mine = accounts::areas_of(&state.db, user.id).await?;
    Ok(access::review(
        user,
        &mine,
        &state.places.get(),
        &r.area_code,
        ReviewScope::parse(&r.scope)?,
    ))
}

/// The review `id` when the caller may read it (404 otherwise, as for none), with their grant.
async fn readable(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
) -> ApiResult<(reviews::Model, ReviewGrant)> {
    let r = store::find(&state.db, id).await?;
    let g = grant(state, user, &r).await?;
    if !g.read {
        return Err(ApiError::NotFound("review"));
    }
    Ok((r, g))
}

async fn street_tree(state: &AppState, street: &str) -> ApiResult<StreetTree> {
    StreetTree::load(&state.db, street)
        .await?
        .ok_or(ApiError::NotFound("street"))
}

/// Filters and paging of the review list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReviewsQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    /// Only this month (`YYYY-MM`, Asia/Shanghai).
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub month: Option<String>,
    /// Only this area's reviews.
    #[param(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub area: Option<String>,
    pub status: Option<ReviewStatus>,
    pub scope: Option<ReviewScope>,
    /// Every version; by default only each area's newest of a month.
    pub all_versions: Option<bool>,
}

/// Reviews the caller may read, oldest first: by default each area's newest version of a
/// month. A grid worker sees the reviews of the areas they serve; the command centre its
/// street's (every street's when it serves none in particular).
#[utoipa::path(
    tag = "reviews",
    security(("bearer" = [])),
    params(ReviewsQuery),
    responses(
        (status = 200, body = Page<ReviewView>),
        (status = 403, description = "Neither the command centre nor a grid worker", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A malformed `month`, `area`, `status`, `scope`, `limit` or `cursor`", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/reviews")]
pub async fn list_reviews(
    state: web::Data<AppState>,
    auth: Auth<ReviewViewers>,
    Query(q): Query<ReviewsQuery>,
) -> ApiResult<web::Json<Page<ReviewView>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let month = q
        .month
        .as_deref()
        .map(|m| Month::parse("month", m))
        .transpose()?;
    if let Some(a) = &q.area {
        check_code("area", a)?;
    }
    let mine = accounts::areas_of(&state.db, auth.user.id).await?;
    let filter = ReviewFilter {
        month,
        area: q.area,
        status: q.status,
        scope: q.scope,
        all_versions: q.all_versions.unwrap_or(false),
        only: access::reviews_listed(&auth.user, &mine, &state.places.get()),
    };
    let rows = store::list(&state.db, &filter, page).await?;
    let next_cursor = rows.next_cursor;
    Ok(web::Json(Page {
        items: store::views(&state.db, rows.items).await?,
        next_cursor,
    }))
}

/// An area's month to generate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    /// A grid's, community's or street's code.
    #[schema(example = "QSH-G001", value_type = crate::domain::Code)]
    pub area: String,
    /// `YYYY-MM` (Asia/Shanghai), not after the current month.
    #[schema(example = "2026-11", pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub month: String,
}

/// Generates an area's review of a month now (the scheduler does every area once a month has
/// ended): its first version, a draft. Anyone who may read the area's reviews may ask.
#[utoipa::path(
    tag = "reviews",
    security(("bearer" = [])),
    request_body = GenerateRequest,
    responses(
        (status = 201, body = ReviewDetail),
        (status = 403, description = "Not the command centre over the area, nor a worker serving it", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such area", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The area's month is already generated (`month`): correct it with a new version", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A malformed `area` or `month`, a month after the current one (`month`), an area that is not a grid, community or street (`area`)", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/reviews")]
pub async fn generate_review(
    state: web::Data<AppState>,
    auth: Auth<ReviewViewers>,
    Json(body): Json<GenerateRequest>,
) -> ApiResult<HttpResponse> {
    let mut errors: Vec<FieldError> = Vec::new();
    crate::domain::code_into(&mut errors, "area", &body.area);
    let month = match Month::parse("month", &body.month) {
        Ok(m) => Some(m),
        Err(ApiError::Validation(e)) => {
            errors.extend(e);
            None
        }
        Err(e) => return Err(e),
    };
    let now = Utc::now();
    if month.is_some_and(|m| m > Month::of(now)) {
        errors.push(FieldError::new(
            "month",
            "range",
            "not after the current month",
        ));
    }
    verdict(errors)?;
    let month = month.ok_or_else(|| ApiError::invalid("month", "month", "a month as YYYY-MM"))?;
    let area = areas::Entity::find()
        .filter(areas::Column::Code.eq(&body.area))
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("area"))?;
    let Some(scope) = ReviewScope::of_level(&area.level) else {
        return Err(ApiError::invalid(
            "area",
            "invalid_value",
            format!(
                "{} is a {}: reviews are of grids, communities and streets",
                area.code, area.level
            ),
        ));
    };
    let mine = accounts::areas_of(&state.db, auth.user.id).await?;
    if !access::review(&auth.user, &mine, &state.places.get(), &area.code, scope).read {
        return Err(ApiError::Forbidden);
    }
    let tree = street_tree(&state, &area.street_code).await?;
    let r = store::generate(&state.db, &tree, &area, month, auth.user.id, now).await?;
    Ok(HttpResponse::Created().json(store::detail(&state.db, r).await?))
}

/// A review: its figures as generated, its assessment, comments and versions.
#[utoipa::path(
    tag = "reviews",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Review id")),
    responses(
        (status = 200, body = ReviewDetail),
        (status = 404, description = "No such review, or not one the caller may read", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/reviews/{id}")]
pub async fn get_review(
    state: web::Data<AppState>,
    auth: Auth<ReviewViewers>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<ReviewDetail>> {
    let (r, _) = readable(&state, &auth.user, *id).await?;
    Ok(web::Json(store::detail(&state.db, r).await?))
}

/// Opens the review `id` for a file of `format`, then writes it.
async fn review_file(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    format: Format,
) -> ApiResult<HttpResponse> {
    // The font first: without it a PDF is refused before anything is read.
    let writer = Writer::of(state, format)?;
    let (r, _) = readable(state, user, id).await?;
    let detail = store::detail(&state.db, r).await?;
    let names = state.catalogue.get(&state.db).await?.names_zh();
    let file = ReviewFile {
        detail: &detail,
        category_names: &names,
    };
    let name = file.file_name(format.extension());
    send(format, &name, "a review file", move || {
        let file = ReviewFile {
            detail: &detail,
            category_names: &names,
        };
        writer.write(&file)
    })
    .await
}

/// A review as a PDF (网格月度研判报告): who and when, the month in one paragraph beside the
/// month before, charts (events by colour as a pie, by category and the steps' on-time rates as
/// bars, the health trend as a line), every figure in a table, the hot spots, the assessment and
/// the command centre's comments; A4, the Chinese font embedded as a subset. Same access as
/// `GET /api/v1/reviews/{id}`.
#[utoipa::path(
    tag = "reviews",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Review id")),
    responses(
        (status = 200, description = "PDF; `Content-Disposition: attachment` with `filename*` such as `QSH-G001_2026-11_月度研判报告_v1.pdf`", content_type = "application/pdf"),
        (status = 404, description = "No such review, or not one the caller may read", body = Problem, content_type = PROBLEM),
        (status = 503, description = "The server has no Chinese font to embed (`pdf-font-missing`: install fonts-wqy-microhei or set --pdf-font)", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/reviews/{id}/report.pdf")]
pub async fn review_pdf(
    state: web::Data<AppState>,
    auth: Auth<ReviewViewers>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    review_file(&state, &auth.user, *id, Format::Pdf).await
}

/// A review's tables as an XLSX workbook: 指标 (every figure, one row each: section, item, this
/// month, the month before where the review keeps it), 热点 (buildings and micro-grids with
/// repeated reports), 健康趋势 (a day a row) and 批注 (the comments, Beijing time). Numbers stay
/// numbers; text that would start a formula (`=`, `+`, `-`, `@`) is prefixed with an apostrophe.
/// Same access as `GET /api/v1/reviews/{id}`.
#[utoipa::path(
    tag = "reviews",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Review id")),
    responses(
        (status = 200, description = "XLSX; `Content-Disposition: attachment` with `filename*` such as `QSH-G001_2026-11_月度研判报告_v1.xlsx`", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 404, description = "No such review, or not one the caller may read", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/reviews/{id}/report.xlsx")]
pub async fn review_xlsx(
    state: web::Data<AppState>,
    auth: Auth<ReviewViewers>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    review_file(&state, &auth.user, *id, Format::Xlsx).await
}

/// A review's figures as CSV: the 指标 sheet of the XLSX (section, item, this month, the month
/// before), UTF-8 with a byte-order mark and CRLF line ends, neutralised alike. Same access as
/// `GET /api/v1/reviews/{id}`.
#[utoipa::path(
    tag = "reviews",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Review id")),
    responses(
        (status = 200, description = "CSV; `Content-Disposition: attachment` with `filename*` such as `QSH-G001_2026-11_月度研判报告_v1.csv`", content_type = "text/csv"),
        (status = 404, description = "No such review, or not one the caller may read", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/reviews/{id}/report.csv")]
pub async fn review_csv(
    state: web::Data<AppState>,
    auth: Auth<ReviewViewers>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    review_file(&state, &auth.user, *id, Format::Csv).await
}

/// The assessment of a draft.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessmentRequest {
    /// 研判意见: 1–5000 characters once trimmed; line breaks allowed.
    #[schema(example = "本月一号楼垃圾堆放反复发生，建议增设分类督导。")]
    #[schema(
        pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\u{0}-\u{1f}\u{7f}-\u{9f}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([^\u{0}-\u{9}\u{b}\u{c}\u{e}-\u{1f}\u{7f}-\u{9f}]{0,4998}[^\u{0}-\u{1f}\u{7f}-\u{9f}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
    )]
    pub assessment: String,
}

/// Writes the assessment (研判意见) of a draft; the area's grid workers (the command centre for a
/// community's or the street's). A submitted review does not change (409).
#[utoipa::path(
    tag = "reviews",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Review id")),
    request_body = AssessmentRequest,
    responses(
        (status = 200, body = ReviewView),
        (status = 403, description = "The caller reads this review but does not write it", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such review, or not one the caller may read", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The review has been submitted", body = Problem, content_type = PROBLEM),
        (status = 422, description = "An empty or too long `assessment`", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[put("/reviews/{id}/assessment")]
pub async fn put_assessment(
    state: web::Data<AppState>,
    auth: Auth<ReviewViewers>,
    id: web::Path<Uuid>,
    Json(body): Json<AssessmentRequest>,
) -> ApiResult<web::Json<ReviewView>> {
    let mut errors = Vec::new();
    let assessment = text(&mut errors, "assessment", &body.assessment, 1, 5000);
    verdict(errors)?;
    let (_, g) = readable(&state, &auth.user, *id).await?;
    if !g.write {
        return Err(ApiError::Forbidden);
    }
    let r = store::set_assessment(&state.db, *id, &assessment).await?;
    one_view(&state, r).await
}

async fn one_view(state: &AppState, r: reviews::Model) -> ApiResult<web::Json<ReviewView>> {
    store::views(&state.db, vec![r])
        .await?
        .pop()
        .map(web::Json)
        .ok_or(ApiError::NotFound("review"))
}

/// Submits a draft to the street: from then on it never changes (a correction is a new
/// version). When the last grid of a street submits a month, the street's dispatchers and
/// admins get a mail, once.
#[utoipa::path(
    tag = "reviews",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Review id")),
    responses(
        (status = 200, body = ReviewView),
        (status = 403, description = "The caller reads this review but does not write it", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such review, or not one the caller may read", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Already submitted", body = Problem, content_type = PROBLEM),
        (status = 422, description = "No assessment written yet (`assessment`)", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/reviews/{id}/submit")]
pub async fn submit_review(
    state: web::Data<AppState>,
    auth: Auth<ReviewViewers>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<ReviewView>> {
    let (_, g) = readable(&state, &auth.user, *id).await?;
    if !g.write {
        return Err(ApiError::Forbidden);
    }
    let r = store::submit(
        &state.db,
        &state.places.get(),
        *id,
        auth.user.id,
        Utc::now(),
    )
    .await?;
    one_view(&state, r).await
}

/// A comment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentRequest {
    /// 1–2000 characters once trimmed; line breaks allowed.
    #[schema(example = "请补充一号楼整改时限。")]
    #[schema(
        pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\u{0}-\u{1f}\u{7f}-\u{9f}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([^\u{0}-\u{9}\u{b}\u{c}\u{e}-\u{1f}\u{7f}-\u{9f}]{0,1998}[^\u{0}-\u{1f}\u{7f}-\u{9f}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
    )]
    pub body: String,
}

/// Comments on a review: the command centre, and the area's grid workers to answer. Comments
/// are kept beside the review and never change it.
#[utoipa::path(
    tag = "reviews",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Review id")),
    request_body = CommentRequest,
    responses(
        (status = 201, body = CommentView),
        (status = 404, description = "No such review, or not one the caller may read", body = Problem, content_type = PROBLEM),
        (status = 422, description = "An empty or too long `body`", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/reviews/{id}/comments")]
pub async fn add_comment(
    state: web::Data<AppState>,
    auth: Auth<ReviewViewers>,
    id: web::Path<Uuid>,
    Json(body): Json<CommentRequest>,
) -> ApiResult<HttpResponse> {
    let mut errors = Vec::new();
    let text = text(&mut errors, "body", &body.body, 1, 2000);
    verdict(errors)?;
    let (_, g) = readable(&state, &auth.user, *id).await?;
    if !g.comment {
        return Err(ApiError::Forbidden);
    }
    let c = store::comment(&state.db, *id, auth.user.id, &text, Utc::now()).await?;
    let view = store::comment_views(&state.db, vec![c])
        .await?
        .pop()
        .ok_or(ApiError::NotFound("comment"))?;
    Ok(HttpResponse::Created().json(view))
}

/// Marks a submitted review read (the command centre). The first mark stays; marking again
/// changes nothing. A draft is not yet submitted (409).
#[utoipa::path(
    tag = "reviews",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Review id")),
    responses(
        (status = 200, body = ReviewView),
        (status = 404, description = "No such review, or not one the caller may read", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The review is a draft", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/reviews/{id}/read")]
pub async fn mark_read(
    state: web::Data<AppState>,
    auth: Auth<CommandCentre>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<ReviewView>> {
    let (_, g) = readable(&state, &auth.user, *id).await?;
    if !g.mark_read {
        return Err(ApiError::Forbidden);
    }
    let r = store::mark_read(&state.db, *id, auth.user.id, Utc::now()).await?;
    one_view(&state, r).await
}

/// Corrects a submitted review: makes its next version, a draft with figures generated afresh
/// and the assessment carried over, to edit and submit. The submitted version stays as it was.
#[utoipa::path(
    tag = "reviews",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Review id: the newest, submitted version")),
    responses(
        (status = 201, body = ReviewDetail),
        (status = 403, description = "The caller reads this review but does not write it", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such review, or not one the caller may read", body = Problem, content_type = PROBLEM),
        (status = 409, description = "A draft (edit it instead), or not the newest version", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[post("/reviews/{id}/versions")]
pub async fn correct_review(
    state: web::Data<AppState>,
    auth: Auth<ReviewViewers>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let (r, g) = readable(&state, &auth.user, *id).await?;
    if !g.write {
        return Err(ApiError::Forbidden);
    }
    let tree = street_tree(&state, &r.street_code).await?;
    let next = store::correct(&state.db, &tree, *id, auth.user.id, Utc::now()).await?;
    Ok(HttpResponse::Created().json(store::detail(&state.db, next).await?))
}
