//! Cursor pagination shared by every list. Rows are ordered by their UUIDv7 id, which sorts by
//! creation time on both SQLite (bytes) and PostgreSQL (uuid), so a cursor is just the last id
//! seen, made opaque so clients do not build them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// The page size when a request names none.
pub const DEFAULT_LIMIT: u64 = 50;
/// The largest page a request may ask for.
pub const MAX_LIMIT: u64 = 200;

/// Paging for lists without filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
}

/// A validated page request: how many rows, and after which id.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub limit: u64,
    pub after: Option<Uuid>,
}

impl PageRequest {
    pub fn parse(limit: Option<u64>, cursor: Option<&str>) -> Result<Self, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid(
                "limit",
                "range",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = cursor.map(decode_cursor).transpose()?;
        Ok(Self { limit, after })
    }

    /// Rows to fetch: one more than the page, to know whether another page follows.
    pub fn fetch(&self) -> u64 {
        self.limit + 1
    }
}

fn decode_cursor(raw: &str) -> Result<Uuid, ApiError> {
    URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|b| Uuid::from_slice(&b).ok())
        .ok_or_else(|| ApiError::invalid("cursor", "cursor", "not a cursor this server issued"))
}

fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from rows fetched with [`PageRequest::fetch`], ordered by id.
    pub fn from_rows(mut rows: Vec<T>, req: &PageRequest, id: impl Fn(&T) -> Uuid) -> Self {
        let more = rows.len() as u64 > req.limit;
        rows.truncate(req.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| encode_cursor(id(r)))
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }

    /// The same page with each row turned into what the list shows, failing as a whole when a
    /// row cannot be (a corrupt stored value).
    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page {
            items: self.items.into_iter().map(f).collect::<Result<_, _>>()?,
            next_cursor: self.next_cursor,
        })
    }
}

/// The text of a list's `q` search, checked as the document states it: absent means no search;
/// present, it holds 1 to `max` characters (then trimmed: only spaces search nothing). An empty
/// `q=` is refused rather than read as "no search": the document says 1–max, and a client that
/// sends it has a bug worth hearing about.
pub fn search_text(q: Option<&str>, max: usize) -> ApiResult<Option<String>> {
    let Some(raw) = q else { return Ok(None) };
    if raw.is_empty() {
        return Err(ApiError::invalid("q", "min_length", "at least 1 character"));
    }
    if raw.chars().count() > max {
        return Err(ApiError::invalid(
            "q",
            "max_length",
            format!("at most {max} characters"),
        ));
    }
    let text = raw.trim();
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_pages_end() {
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
        let req = PageRequest::parse(Some(2), None).ok();
        let Some(req) = req else {
            panic!("valid request refused")
        };
        let page = Page::from_rows(ids[..3].to_vec(), &req, |u| *u);
        assert_eq!(page.items, ids[..2]);
        let next = PageRequest::parse(Some(2), page.next_cursor.as_deref()).ok();
        assert_eq!(next.and_then(|r| r.after), Some(ids[1]));
        let last = Page::from_rows(ids[..2].to_vec(), &req, |u| *u);
        assert!(last.next_cursor.is_none());
    }

    #[test]
    fn bad_limits_and_cursors_are_refused() {
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(Some(MAX_LIMIT + 1), None).is_err());
        assert!(PageRequest::parse(None, Some("not-a-cursor!")).is_err());
    }

    #[test]
    fn a_search_text_holds_what_the_document_allows() {
        assert!(matches!(search_text(None, 3), Ok(None)));
        assert!(matches!(search_text(Some("  "), 3), Ok(None)));
        assert!(matches!(search_text(Some(" 王 "), 3), Ok(Some(t)) if t == "王"));
        assert!(matches!(search_text(Some("网格员"), 3), Ok(Some(t)) if t == "网格员"));
        assert!(search_text(Some(""), 3).is_err());
        assert!(search_text(Some("网格员们"), 3).is_err());
    }
}
