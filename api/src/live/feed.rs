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

/// The audience's rows after position `after`, in position order, at most `limit`. Each way a
/// row reaches the audience is read apart, its first `limit` rows along its index, and the runs
/// merged: however many rows for others the window holds, a worker's catch-up reads only theirs
/// (one OR over all the ways would make the database fetch every match to order them).
pub async fn read(
    db: &impl ConnectionTrait,
    audience: &Audience,
    after: i64,
    limit: u64,
) -> ApiResult<Vec<WireRow>> {
    let after_q = || {
        outbox::Entity::find()
            .filter(outbox::Column::Pos.gt(after))
            .order_by_asc(outbox::Column::Pos)
            .limit(limit)
    };
    let rows = match audience.branches() {
        None => after_q().all(db).await?,
        Some(branches) => {
            let mut rows = Vec::new();
            for c in branches {
                rows.extend(after_q().filter(c).all(db).await?);
            }
            // A row may reach the audience two ways (its grid and its user): once.
            rows.sort_by_key(|r| r.pos);
            rows.dedup_by_key(|r| r.id);
            rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            rows
        }
    };
    Ok(rows.into_iter().filter_map(WireRow::of).collect())
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
    use sea_orm::{ActiveModelTrait, Set};

    use super::*;
    use crate::accounts::AreaKind;
    use crate::auth::roles::Role;
    use crate::testing::{TestResult, area, database, tree, user};

    #[tokio::test]
    async fn a_worker_reads_their_rows_in_order_once_among_others() -> TestResult {
        let db = database().await?;
        let me = user(&[Role::GridWorker]);
        let audience = Audience::from_areas(&me, &[area(AreaKind::Grid, "S-G1")], &tree());
        // pos → (grid, micro-grid, user): mine by grid, micro-grid, name, or grid and name.
        type Row<'a> = (i64, Option<&'a str>, Option<&'a str>, Option<Uuid>);
        let rows: [Row<'_>; 7] = [
            (1, Some("S-G1"), None, None),
            (2, Some("S-G3"), None, None),
            (3, None, Some("S-G1-M1"), None),
            (4, Some("S-G2"), None, Some(me.id)),
            (5, Some("S-G1"), Some("S-G1-M2"), Some(me.id)),
            (6, Some("S-G3"), None, Some(Uuid::now_v7())),
            (7, Some("S-G1"), None, None),
        ];
        for (pos, grid, micro, to) in rows {
            outbox::ActiveModel {
                id: Set(Uuid::now_v7()),
                pos: Set(Some(pos)),
                event_id: Set(Uuid::now_v7()),
                kind: Set("event.created".into()),
                grid_code: Set(grid.map(str::to_owned)),
                micro_grid_code: Set(micro.map(str::to_owned)),
                team_code: Set(None),
                user_id: Set(to),
                street_code: Set(Some("S".into())),
                payload: Set("{}".into()),
                created_at: Set(chrono::Utc::now()),
            }
            .insert(&db)
            .await?;
        }
        let positions = |rows: Vec<WireRow>| rows.iter().map(|r| r.pos).collect::<Vec<_>>();
        assert_eq!(
            positions(read(&db, &audience, 0, 100).await?),
            [1, 3, 4, 5, 7]
        );
        assert_eq!(positions(read(&db, &audience, 1, 3).await?), [3, 4, 5]);
        assert_eq!(positions(read(&db, &audience, 5, 3).await?), [7]);
        Ok(())
    }

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
