//! A volunteer's service: the minutes credited for attended shifts, in total and shift by shift.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::entities::{activities, shifts, signups};
use crate::error::ApiResult;
use crate::pagination::{Page, PageRequest};

/// Attended minutes per person.
pub async fn service_minutes(
    db: &impl ConnectionTrait,
    users: &[Uuid],
) -> ApiResult<HashMap<Uuid, i64>> {
    let rows: Vec<(Uuid, Option<i64>)> = signups::Entity::find()
        .select_only()
        .column(signups::Column::UserId)
        .column_as(signups::Column::Minutes.sum(), "m")
        .filter(signups::Column::UserId.is_in(users.iter().copied()))
        .filter(signups::Column::AttendedAt.is_not_null())
        .group_by(signups::Column::UserId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|(u, m)| (u, m.unwrap_or(0))).collect())
}

/// One attended shift in a volunteer's service record.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceEntry {
    pub signup_id: Uuid,
    pub activity_id: Uuid,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub minutes: i32,
    pub attended_at: DateTime<Utc>,
    /// `scan` or `coordinator`.
    pub attendance_by: String,
}

/// The person's attended shifts, newest first.
pub async fn service_record(
    db: &impl ConnectionTrait,
    user: Uuid,
    page: PageRequest,
) -> ApiResult<Page<ServiceEntry>> {
    let mut q = signups::Entity::find()
        .filter(signups::Column::UserId.eq(user))
        .filter(signups::Column::AttendedAt.is_not_null())
        .order_by_desc(signups::Column::Id);
    if let Some(after) = page.after {
        q = q.filter(signups::Column::Id.lt(after));
    }
    let rows = Page::from_rows(q.limit(page.fetch()).all(db).await?, &page, |s| s.id);
    let shift_rows: HashMap<Uuid, shifts::Model> = shifts::Entity::find()
        .filter(shifts::Column::Id.is_in(rows.items.iter().map(|s| s.shift_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let titles: HashMap<Uuid, String> = activities::Entity::find()
        .filter(activities::Column::Id.is_in(rows.items.iter().map(|s| s.activity_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a.title))
        .collect();
    Ok(Page {
        items: rows
            .items
            .into_iter()
            .filter_map(|s| {
                let shift = shift_rows.get(&s.shift_id)?;
                Some(ServiceEntry {
                    signup_id: s.id,
                    activity_id: s.activity_id,
                    title: titles.get(&s.activity_id).cloned().unwrap_or_default(),
                    starts_at: shift.starts_at,
                    ends_at: shift.ends_at,
                    minutes: s.minutes.unwrap_or(0),
                    attended_at: s.attended_at?,
                    attendance_by: s.attendance_by.unwrap_or_default(),
                })
            })
            .collect(),
        next_cursor: rows.next_cursor,
    })
}
