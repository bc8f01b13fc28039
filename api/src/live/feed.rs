//! Reading the outbox by cursor: what a client missed, in position order, limited to what it
//! may hear. The websocket's replay and `GET /api/v1/feed` both read here, and live frames have
//! the same shape as feed items.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::WireRow;
use super::audience::Audience;
use crate::entities::outbox;
use crate::error::{ApiError, ApiResult};

/// Feed items per page when the request names no limit.
pub const DEFAULT_LIMIT: u64 = 100;
/// The largest page of the feed.
pub const MAX_LIMIT: u64 = 500;

/// One thing that happened, as the feed lists it and the websocket sends it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedItem {
    /// This item's position; pass it back as `after` to continue after it.
    #[schema(example = "1042")]
    pub cursor: String,
    /// What happened: `event.created`, `event.moved`, `task.lit`, `event.changed`;
    /// `signup.promoted`, `callout.created`, `callout.answered`; `area.health` (a grid's health
    /// colour changed) …
    #[schema(example = "event.created")]
    pub kind: String,
    /// The event it concerns; for `signup.*` the signup, for `callout.*` the call-out, for
    /// `area.health` the grid (its area id).
    pub event_id: Uuid,
    /// Details, by kind.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl FeedItem {
    pub fn of(row: &WireRow) -> Self {
        Self {
            cursor: row.pos.to_string(),
            kind: row.kind.clone(),
            event_id: row.event_id,
            // Written by `outbox::record` from a JSON value, so it parses; kept as text if not.
            payload: serde_json::from_str(&row.payload)
                .unwrap_or_else(|_| serde_json::Value::String(row.payload.clone())),
        }
    }
}

impl FeedItem {
    /// The item as `audience` may see it: an event's payload names the report it likely repeats
    /// only for the command centre.
    #[must_use]
    pub fn shown_to(mut self, audience: &Audience) -> Self {
        if !audience.sees_duplicates() {
            crate::events::views::hide_duplicate(&mut self.payload);
        }
        self
    }
}

/// A page of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Feed {
    /// In position order.
    pub items: Vec<FeedItem>,
    /// The last item's cursor, to pass as `after` next time; absent when there are no items
    /// (keep the cursor you have).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A cursor as clients send it: the decimal position, `0` for the beginning. `field` names the
/// parameter in the error.
pub fn parse_cursor(field: &str, raw: &str) -> ApiResult<i64> {
    // At most 18 digits, as the document says: every such number fits a position (i64).
    let pos = ((1..=18).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit()))
        .then(|| raw.parse::<i64>().ok())
        .flatten();
    pos.ok_or_else(|| {
        ApiError::invalid(
            field,
            "cursor",
            "not a cursor: pass the `cursor` of the last item you received",
        )
    })
}

/// Checks a page size.
pub fn parse_limit(limit: Option<u64>) -> ApiResult<u64> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::invalid(
            "limit",
            "range",
            format!("must be between 1 and {MAX_LIMIT}"),
        ))
    }
}

/// The audience's rows after position `after`, in position order, at most `limit`.
pub async fn read(
    db: &impl ConnectionTrait,
    audience: &Audience,
    after: i64,
    limit: u64,
) -> ApiResult<Vec<WireRow>> {
    let mut q = outbox::Entity::find().filter(outbox::Column::Pos.gt(after));
    if let Some(c) = audience.condition() {
        q = q.filter(c);
    }
    Ok(q.order_by_asc(outbox::Column::Pos)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .filter_map(WireRow::of)
        .collect())
}

/// A page of the feed for the audience.
pub async fn page(
    db: &impl ConnectionTrait,
    audience: &Audience,
    after: i64,
    limit: u64,
) -> ApiResult<Feed> {
    let rows = read(db, audience, after, limit).await?;
    Ok(Feed {
        next_cursor: rows.last().map(|r| r.pos.to_string()),
        items: rows
            .iter()
            .map(|r| FeedItem::of(r).shown_to(audience))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_plain_positions() {
        assert_eq!(parse_cursor("after", "0").ok(), Some(0));
        assert_eq!(parse_cursor("after", "1042").ok(), Some(1042));
        // At most 18 digits, as the document's pattern says, even where 19 would fit an i64.
        assert_eq!(
            parse_cursor("after", "999999999999999999").ok(),
            Some(999_999_999_999_999_999)
        );
        for bad in [
            "",
            "-1",
            "+1",
            " 1",
            "1.0",
            "abc",
            "1000000000000000000",
            "99999999999999999999",
        ] {
            match parse_cursor("after", bad) {
                Err(ApiError::Validation(errs)) => assert_eq!(errs[0].field, "after"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(parse_limit(None).ok(), Some(DEFAULT_LIMIT));
        assert_eq!(parse_limit(Some(500)).ok(), Some(500));
        assert!(parse_limit(Some(0)).is_err());
        assert!(parse_limit(Some(501)).is_err());
    }
}
