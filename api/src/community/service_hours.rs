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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::community::activities::fixture::{Desk, shift};
    use crate::community::activities::{
        attend_by_coordinator, attend_by_scan, attendance_code, sign_up,
    };
    use crate::testing::TestResult;

    #[tokio::test]
    async fn service_counts_attended_shifts_only_and_lists_them_newest_first() -> TestResult {
        let d = Desk::new().await?;
        let a = d
            .activity(0, vec![shift(-10, 60, 5, false), shift(60, 30, 5, false)])
            .await?;
        let unattended = d.activity(0, vec![shift(-10, 45, 5, false)]).await?;
        let (p, idle) = (d.person().await?, d.person().await?);
        let (first, second) = (a.shifts[0].id, a.shifts[1].id);
        let one = sign_up(&d.db, &d.desk, &d.index, p.id, first).await?.0;
        let two = sign_up(&d.db, &d.desk, &d.index, p.id, second).await?.0;
        sign_up(
            &d.db,
            &d.desk,
            &d.index,
            p.id,
            Desk::first_shift(&unattended)?,
        )
        .await?;
        sign_up(&d.db, &d.desk, &d.index, idle.id, first).await?;
        let code = attendance_code(&d.db, &d.qr, a.id).await?;
        let scanned = attend_by_scan(&d.db, &d.qr, p.id, &code).await?;
        assert_eq!(scanned.id, one.id);
        attend_by_coordinator(&d.db, second, p.id, Some(20)).await?;

        let minutes = service_minutes(&d.db, &[p.id, idle.id]).await?;
        assert_eq!(
            minutes.get(&p.id),
            Some(&80),
            "60 scanned and 20 given, not the 45 unattended"
        );
        assert_eq!(minutes.get(&idle.id), None, "nothing attended");

        let page = PageRequest {
            limit: 10,
            after: None,
        };
        let record = service_record(&d.db, p.id, page).await?.items;
        let entries: Vec<(Uuid, i32, &str)> = record
            .iter()
            .map(|e| (e.signup_id, e.minutes, e.attendance_by.as_str()))
            .collect();
        assert_eq!(entries, [(two.id, 20, "coordinator"), (one.id, 60, "scan")]);
        assert!(
            record
                .iter()
                .all(|e| e.title == a.title && e.activity_id == a.id)
        );
        assert_eq!(record[1].starts_at, a.shifts[0].starts_at);
        assert!(service_record(&d.db, idle.id, page).await?.items.is_empty());
        Ok(())
    }
}
