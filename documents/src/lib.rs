//! Files people open: PDF documents whose Chinese text shows in any viewer (the glyphs used are
//! embedded as a font subset), XLSX workbooks and CSV files of tables, and the download header
//! that carries a Chinese file name. Knows nothing of grids or events; callers bring tables,
//! charts and text.
//!
//! - [`font`]: the CJK font, found on the system or configured, loaded once ([`LazyFont`]).
//! - [`table`]: [`Table`] and [`Cell`], and [`neutralise`], the one rule against formula
//!   injection.
//! - [`tabular`]: a table as XLSX ([`tabular::xlsx`]) or CSV ([`tabular::csv`]).
//! - [`pdf`]: [`pdf::Report`] (headings, paragraphs, tables, charts) and the page
//!   [`pdf::Canvas`] it draws on, written by [`pdf::render`].
//! - [`disposition`]: `Content-Disposition: attachment` with `filename*`.

pub mod disposition;
pub mod font;
pub mod pdf;
pub mod table;
pub mod tabular;

pub use font::{FontError, LazyFont, PdfFont};
pub use table::{Cell, Table, neutralise};

/// What a download is made of, whatever its format: its tables (a workbook's sheets; the first
/// is the CSV) and its printed report.
pub trait Document {
    /// The tables, in order, each with its sheet name.
    fn sheets(&self) -> Vec<(&'static str, Table)>;
    /// The printed report.
    fn report(&self) -> pdf::Report;
}

/// The MIME type of PDF files.
pub const PDF: &str = "application/pdf";
/// The MIME type of XLSX workbooks.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
/// The MIME type of CSV files, with the charset its byte-order mark also states.
pub const CSV: &str = "text/csv; charset=utf-8";

/// Why a file could not be written. A missing font is [`FontError`], before any of these.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The PDF writer refused the document.
    #[error("writing the PDF: {0}")]
    Pdf(String),
    /// The XLSX writer refused the workbook.
    #[error("writing the XLSX workbook: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// The CSV writer failed.
    #[error("writing the CSV file: {0}")]
    Csv(String),
    /// More rows, columns or a larger page than the format holds.
    #[error("the table or page is larger than the file format holds")]
    TooLarge,
}

impl From<csv::Error> for DocumentError {
    fn from(e: csv::Error) -> Self {
        DocumentError::Csv(e.to_string())
    }
}
