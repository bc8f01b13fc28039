//! The rankings (晾晒比拼) as files: XLSX and CSV of every figure, a PDF with a chart and a table.
//! Same query and same access as `GET /api/v1/rankings`; each answers with its content type and
//! a Chinese file name (`网格排名_2026-11-01_2026-11-30.xlsx`) in `Content-Disposition`.

use actix_web::{HttpResponse, get, web};

use super::PROBLEM;
use super::downloads::{Format, Writer, send};
use super::grid_health::{RankingsQuery, rank_for};
use crate::auth::Auth;
use crate::auth::roles::HealthViewers;
use crate::auth::user::CurrentUser;
use crate::error::{ApiResult, Problem};
use crate::extract::Query;
use crate::health::ranking_files::RankingFile;
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(rankings_xlsx)
        .service(rankings_csv)
        .service(rankings_pdf);
}

/// Ranks as the JSON route does, then writes the file.
async fn file(
    state: &AppState,
    user: &CurrentUser,
    q: RankingsQuery,
    format: Format,
) -> ApiResult<HttpResponse> {
    // The font first: without it a PDF is refused before any counting.
    let writer = Writer::of(state, format)?;
    let (rankings, from, to) = rank_for(state, user, q).await?;
    let name = RankingFile {
        level: rankings.level,
        sort: rankings.sort,
        from,
        to,
        rows: &rankings.rows,
    }
    .file_name(format.extension());
    send(format, &name, "the rankings file", move || {
        let file = RankingFile {
            level: rankings.level,
            sort: rankings.sort,
            from,
            to,
            rows: &rankings.rows,
        };
        writer.write(&file)
    })
    .await
}

/// The rankings as an XLSX workbook: one sheet 排名, a bold frozen header row, every figure of
/// every row (rates as percentages with two decimals; numbers stay numbers). Text that would
/// start a formula (`=`, `+`, `-`, `@`) is prefixed with an apostrophe. Same query and access
/// as `GET /api/v1/rankings`.
#[utoipa::path(
    tag = "grid-health",
    security(("bearer" = [])),
    params(RankingsQuery),
    responses(
        (status = 200, description = "XLSX; `Content-Disposition: attachment` with `filename*` such as `网格排名_2026-11-01_2026-11-30.xlsx`", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 403, description = "Neither the command centre nor a grid worker, or a worker asking for another street", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A malformed date (`from`, `to`), `from` after `to` (`from`), a period over 366 days (`from`), an unknown `level` or `sort`, a `limit` out of range", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/rankings.xlsx")]
pub async fn rankings_xlsx(
    state: web::Data<AppState>,
    auth: Auth<HealthViewers>,
    Query(q): Query<RankingsQuery>,
) -> ApiResult<HttpResponse> {
    file(&state, &auth.user, q, Format::Xlsx).await
}

/// The rankings as CSV: UTF-8 with a byte-order mark (so Excel reads the Chinese), CRLF line
/// ends, the same columns and neutralising as the XLSX. Same query and access as
/// `GET /api/v1/rankings`.
#[utoipa::path(
    tag = "grid-health",
    security(("bearer" = [])),
    params(RankingsQuery),
    responses(
        (status = 200, description = "CSV; `Content-Disposition: attachment` with `filename*` such as `网格排名_2026-11-01_2026-11-30.csv`", content_type = "text/csv"),
        (status = 403, description = "Neither the command centre nor a grid worker, or a worker asking for another street", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A malformed date (`from`, `to`), `from` after `to` (`from`), a period over 366 days (`from`), an unknown `level` or `sort`, a `limit` out of range", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/rankings.csv")]
pub async fn rankings_csv(
    state: web::Data<AppState>,
    auth: Auth<HealthViewers>,
    Query(q): Query<RankingsQuery>,
) -> ApiResult<HttpResponse> {
    file(&state, &auth.user, q, Format::Csv).await
}

/// The rankings as a PDF: the title, the period and the figure ranked by, a bar chart of that
/// figure for the first 30 ranks, and a table of the main figures, on A4 pages with the Chinese
/// font embedded. Same query and access as `GET /api/v1/rankings`.
#[utoipa::path(
    tag = "grid-health",
    security(("bearer" = [])),
    params(RankingsQuery),
    responses(
        (status = 200, description = "PDF; `Content-Disposition: attachment` with `filename*` such as `网格排名_2026-11-01_2026-11-30.pdf`", content_type = "application/pdf"),
        (status = 403, description = "Neither the command centre nor a grid worker, or a worker asking for another street", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A malformed date (`from`, `to`), `from` after `to` (`from`), a period over 366 days (`from`), an unknown `level` or `sort`, a `limit` out of range", body = Problem, content_type = PROBLEM),
        (status = 503, description = "The server has no Chinese font to embed (`pdf-font-missing`: install fonts-wqy-microhei or set --pdf-font)", body = Problem, content_type = PROBLEM),
        (status = "4XX", description = "Problem details", body = Problem, content_type = PROBLEM),
    )
)]
#[get("/rankings.pdf")]
pub async fn rankings_pdf(
    state: web::Data<AppState>,
    auth: Auth<HealthViewers>,
    Query(q): Query<RankingsQuery>,
) -> ApiResult<HttpResponse> {
    file(&state, &auth.user, q, Format::Pdf).await
}
