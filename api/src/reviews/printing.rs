//! A street's month of reviews at once: generated (what the monthly scheduler does, on demand
//! from the command line) and written as PDF files, on every core, with no more reviews in
//! memory than there are cores — what the monthly review benchmark measures.

use std::path::Path;
use std::sync::Arc;

use chrono::Utc;
use futures_util::StreamExt;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::figures::StreetTree;
use super::files::ReviewFile;
use super::month::Month;
use super::store;
use crate::entities::reviews;
use crate::error::{ApiError, ApiResult};
use documents::Document;

/// Generates every review of `street`'s `month` that does not exist yet; returns how many.
pub async fn generate_street_month(
    db: &DatabaseConnection,
    street: &str,
    month: Month,
) -> ApiResult<usize> {
    let now = Utc::now();
    if month > Month::of(now) {
        return Err(ApiError::invalid(
            "month",
            "invalid_value",
            format!("{month} has not begun"),
        ));
    }
    let tree = StreetTree::load(db, street)
        .await?
        .ok_or(ApiError::NotFound("street"))?;
    let tx = crate::db::begin_write(db).await?;
    let made = store::generate_month(&tx, &tree, month, now).await?;
    tx.commit().await?;
    Ok(made)
}

/// What [`write_pdfs`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    pub files: u64,
    pub bytes: u64,
}

/// Writes the newest version of each review of `street`'s `month` as a PDF into `dir`, named as
/// the API names it (`QSH-G001_2026-11_月度研判报告_v1.pdf`).
pub async fn write_pdfs(
    db: &DatabaseConnection,
    street: &str,
    month: Month,
    dir: &Path,
    font: Arc<documents::PdfFont>,
) -> ApiResult<Written> {
    // Ids only: each review's figures are read when its turn comes.
    let rows: Vec<(Uuid, String, i32)> = reviews::Entity::find()
        .select_only()
        .column(reviews::Column::Id)
        .column(reviews::Column::AreaCode)
        .column(reviews::Column::Version)
        .filter(reviews::Column::StreetCode.eq(street))
        .filter(reviews::Column::Month.eq(month.label()))
        .order_by_asc(reviews::Column::AreaCode)
        .order_by_desc(reviews::Column::Version)
        .into_tuple()
        .all(db)
        .await?;
    let mut newest: Vec<Uuid> = Vec::new();
    let mut last: Option<String> = None;
    for (id, area, _) in rows {
        if last.as_deref() != Some(area.as_str()) {
            newest.push(id);
            last = Some(area);
        }
    }
    // The catalogue's names, as the review routes read them.
    let names = Arc::new(
        crate::events::catalogue::Cached::default()
            .get(db)
            .await?
            .names_zh(),
    );
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let mut written = Written::default();
    let mut done = futures_util::stream::iter(newest)
        .map(|id| {
            let (font, names, dir) = (font.clone(), names.clone(), dir.to_owned());
            async move {
                let detail = store::detail(db, store::find(db, id).await?).await?;
                tokio::task::spawn_blocking(move || -> ApiResult<u64> {
                    let file = ReviewFile {
                        detail: &detail,
                        category_names: &names,
                    };
                    let bytes = file.report().render(&font).map_err(|e| {
                        ApiError::Unexpected(anyhow::anyhow!("writing a review's PDF: {e}"))
                    })?;
                    let path = dir.join(file.file_name("pdf"));
                    std::fs::write(&path, &bytes).map_err(|e| {
                        ApiError::Unexpected(anyhow::anyhow!("writing {}: {e}", path.display()))
                    })?;
                    Ok(bytes.len() as u64)
                })
                .await
                .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("a PDF writer stopped: {e}")))?
            }
        })
        .buffer_unordered(cores);
    while let Some(r) = done.next().await {
        written.files += 1;
        written.bytes += r?;
    }
    Ok(written)
}
