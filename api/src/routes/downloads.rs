//! Answering with a file people open (XLSX, CSV, PDF): the one way every download route writes
//! its file off the async threads and sends it with its content type and a Chinese file name
//! (RFC 6266 `filename*`). A PDF's font is had before anything is counted, so a server without
//! one refuses at once (503 `pdf-font-missing`).

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use documents::{Document, DocumentError, PdfFont, Table};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Which file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xlsx,
    Csv,
    Pdf,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Xlsx => "xlsx",
            Format::Csv => "csv",
            Format::Pdf => "pdf",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Xlsx => documents::XLSX,
            Format::Csv => documents::CSV,
            Format::Pdf => documents::PDF,
        }
    }
}

/// What writes the file: a PDF carries its font.
pub enum Writer {
    Xlsx,
    Csv,
    Pdf(Arc<PdfFont>),
}

impl Writer {
    /// The writer of `format`; for a PDF, the server's font or 503.
    pub fn of(state: &AppState, format: Format) -> ApiResult<Writer> {
        Ok(match format {
            Format::Xlsx => Writer::Xlsx,
            Format::Csv => Writer::Csv,
            Format::Pdf => Writer::Pdf(state.pdf_font.get()?),
        })
    }
}

impl Writer {
    /// `doc` in this writer's format.
    pub fn write(self, doc: &impl Document) -> Result<Vec<u8>, DocumentError> {
        match self {
            Writer::Xlsx => {
                let sheets = doc.sheets();
                let named: Vec<(&str, &Table)> = sheets.iter().map(|(n, t)| (*n, t)).collect();
                documents::tabular::xlsx(&named)
            }
            Writer::Csv => match doc.sheets().first() {
                Some((_, table)) => documents::tabular::csv(table),
                None => documents::tabular::csv(&Table::default()),
            },
            Writer::Pdf(font) => doc.report().render(&font),
        }
    }
}

/// Runs `write` on the blocking pool and answers with its bytes as `name`. `what` names the
/// file in the log when writing fails (never in the answer).
pub async fn send(
    format: Format,
    name: &str,
    what: &'static str,
    write: impl FnOnce() -> Result<Vec<u8>, DocumentError> + Send + 'static,
) -> ApiResult<HttpResponse> {
    let bytes = web::block(write)
        .await
        .map_err(|e| anyhow::anyhow!("writing {what}: {e}"))?
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("writing {what}: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            "content-disposition",
            documents::disposition::attachment(name),
        ))
        .body(bytes))
}
