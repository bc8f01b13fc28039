//! Counting what a grid's health is scored on, over a connection: its events in the window by
//! category, source and colour, repeats by building and micro-grid, its tasks past a deadline,
//! lit or escalated, the patrol occurrences due on its routes and those walked, and its
//! buildings' freshness. Grouped in the database where it can be, so a grid's count reads a
//! handful of small results, never its events one by one.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QuerySelect,
    RelationTrait,
};

use super::score::{Coverage, EventCount, Freshness, Inputs, PlaceCount};
use crate::community::patrols::windows::stored_windows;
use crate::entities::{areas, buildings, events, patrol_checkins, patrol_routes, tasks};
use crate::error::ApiResult;
use crate::events::catalogue::Colour;
use crate::events::flow::Status;
use crate::events::sweeper::{Light, missed};
use crate::places::buildings::{Freshness as Fresh, freshness};
use crate::points::local_day;

/// Statuses of events that do not count: refused, or folded into another one (which counts).
pub const NOT_COUNTED: [Status; 2] = [Status::Rejected, Status::Merged];

/// Everything [`super::score::score`] needs about `grid`, over the `window_days` before `now`.
pub async fn inputs(
    db: &impl ConnectionTrait,
    grid: &str,
    window_days: u32,
    now: DateTime<Utc>,
) -> ApiResult<Inputs> {
    let since = now - Duration::days(i64::from(window_days));
    let in_window = || {
        Condition::all()
            .add(events::Column::GridCode.eq(grid))
            .add(events::Column::CreatedAt.gte(since))
            .add(events::Column::Status.is_not_in(NOT_COUNTED.map(Status::as_str)))
    };

    let grouped: Vec<(String, String, String, i64)> = events::Entity::find()
        .select_only()
        .column(events::Column::Category)
        .column(events::Column::Source)
        .column(events::Column::Colour)
        .column_as(events::Column::Id.count(), "n")
        .filter(in_window())
        .group_by(events::Column::Category)
        .group_by(events::Column::Source)
        .group_by(events::Column::Colour)
        .into_tuple()
        .all(db)
        .await?;
    let mut counted = Vec::with_capacity(grouped.len());
    for (category, source, colour, n) in grouped {
        counted.push(EventCount {
            category,
            source,
            colour: Colour::parse(&colour)?,
            count: u32::try_from(n).unwrap_or(u32::MAX),
        });
    }

    let to_counts = |rows: Vec<(Option<String>, String, i64)>| {
        rows.into_iter()
            .map(|(_, code, n)| PlaceCount {
                code,
                count: u32::try_from(n).unwrap_or(u32::MAX),
            })
            .collect::<Vec<_>>()
    };
    let buildings_repeated =
        to_counts(repeated_places(db, events::Column::BuildingCode, in_window()).await?);
    let micro_grids_repeated =
        to_counts(repeated_places(db, events::Column::MicroGridCode, in_window()).await?);

    // Tasks of the grid's events: open ones (late whenever they were made) and the window's.
    let grid_events = Query::select()
        .column(events::Column::Id)
        .from(events::Entity)
        .and_where(events::Column::GridCode.eq(grid))
        .to_owned();
    let task_rows = tasks::Entity::find()
        .filter(tasks::Column::EventId.in_subquery(grid_events))
        .filter(
            Condition::any()
                .add(tasks::Column::Open.eq(true))
                .add(tasks::Column::CreatedAt.gte(since)),
        )
        .all(db)
        .await?;
    let (mut overdue, mut yellow, mut red, mut escalated) = (0, 0, 0, 0);
    for t in &task_rows {
        if t.open && !missed(t, now).is_empty() {
            overdue += 1;
        }
        if t.created_at >= since {
            match Light::parse(&t.light)? {
                Light::Yellow => yellow += 1,
                Light::Red => red += 1,
                Light::None => {}
            }
            if t.escalated_to.is_some() {
                escalated += 1;
            }
        }
    }

    Ok(Inputs {
        events: counted,
        overdue_tasks: overdue,
        yellow_lights: yellow,
        red_lights: red,
        escalations: escalated,
        buildings: buildings_repeated,
        micro_grids: micro_grids_repeated,
        patrol: coverage(db, grid, window_days, now).await?,
        freshness: building_freshness(db, grid, now).await?,
    })
}

/// The places (buildings, or micro-grids: `col`) where two or more of the events `cond` picks
/// were reported, each with its grid and how many: (grid, place, count). Counted in the database;
/// shared by the score (one grid's window) and the rankings (every grid of a period).
pub async fn repeated_places(
    db: &impl ConnectionTrait,
    col: events::Column,
    cond: Condition,
) -> ApiResult<Vec<(Option<String>, String, i64)>> {
    Ok(events::Entity::find()
        .select_only()
        .column(events::Column::GridCode)
        .column(col)
        .column_as(events::Column::Id.count(), "n")
        .filter(cond)
        .filter(col.is_not_null())
        .group_by(events::Column::GridCode)
        .group_by(col)
        .having(events::Column::Id.count().gte(2))
        .into_tuple()
        .all(db)
        .await?)
}

/// `CASE WHEN cond THEN 1 ELSE 0 END`, to be summed.
pub fn one_if(cond: Condition) -> Expr {
    Expr::case(cond, 1).finally(0).into()
}

/// One grid's task steps (sign, arrive, handle): for each, how many have come due and how many
/// were done by their deadline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Steps {
    pub due: [u64; 3],
    pub kept: [u64; 3],
}

/// The task steps of the events `cond` picks, per grid (the events' grid). Each step with a
/// deadline counts once the deadline has come (done, or passed undone by `now`); it is on time
/// when done by then. Shared by the rankings and the monthly reviews, which count alike.
pub async fn steps_by_grid(
    db: &impl ConnectionTrait,
    cond: Condition,
    now: DateTime<Utc>,
) -> ApiResult<Vec<(Option<String>, Steps)>> {
    type StepRow = (
        Option<String>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let steps = [
        (tasks::Column::SignDue, tasks::Column::SignedAt),
        (tasks::Column::ArriveDue, tasks::Column::ArrivedAt),
        (tasks::Column::HandleDue, tasks::Column::HandledAt),
    ];
    let mut q = tasks::Entity::find()
        .select_only()
        .column(events::Column::GridCode)
        .join(JoinType::InnerJoin, tasks::Relation::Event.def())
        .filter(cond);
    for (i, (due, done)) in steps.iter().enumerate() {
        let due_col = Expr::col((tasks::Entity, *due));
        let done_col = Expr::col((tasks::Entity, *done));
        q = q
            .column_as(
                Expr::from(Func::sum(one_if(
                    Condition::all().add(due_col.clone().is_not_null()).add(
                        Condition::any()
                            .add(done_col.clone().is_not_null())
                            .add(due_col.clone().lt(now)),
                    ),
                ))),
                format!("due{i}"),
            )
            .column_as(
                Expr::from(Func::sum(one_if(
                    Condition::all()
                        .add(due_col.clone().is_not_null())
                        .add(done_col.clone().is_not_null())
                        .add(done_col.lte(due_col)),
                ))),
                format!("kept{i}"),
            );
    }
    let rows: Vec<StepRow> = q
        .group_by(events::Column::GridCode)
        .into_tuple()
        .all(db)
        .await?;
    // A sum read back from SQL, never negative.
    let n = |v: Option<i64>| u64::try_from(v.unwrap_or(0)).unwrap_or(0);
    Ok(rows
        .into_iter()
        .map(|(grid, d0, k0, d1, k1, d2, k2)| {
            let steps = Steps {
                due: [n(d0), n(d1), n(d2)],
                kept: [n(k0), n(k1), n(k2)],
            };
            (grid, steps)
        })
        .collect())
}

/// Patrol occurrences due on the grid's routes over the window: see [`coverage_between`].
async fn coverage(
    db: &impl ConnectionTrait,
    grid: &str,
    window_days: u32,
    now: DateTime<Utc>,
) -> ApiResult<Coverage> {
    let today = local_day(now);
    let first = today - Duration::days(i64::from(window_days));
    coverage_between(db, grid, first, today, now).await
}

/// Patrol occurrences due on the grid's routes (those of the grid or one of its micro-grids)
/// from day `first` to `last` (Asia/Shanghai, both included; days after today are not yet due),
/// and those with a paid check-in. Every occurrence of the window's days before
/// today is due; today's once it has ended, or as soon as it is walked (so a check-in counts at
/// once, and a window still open is not yet a miss). A route's first day does not count: it may
/// have been made after its window.
pub async fn coverage_between(
    db: &impl ConnectionTrait,
    grid: &str,
    first: NaiveDate,
    last: NaiveDate,
    now: DateTime<Utc>,
) -> ApiResult<Coverage> {
    let mut places: Vec<String> = areas::Entity::find()
        .select_only()
        .column(areas::Column::Code)
        .filter(areas::Column::ParentCode.eq(grid))
        .filter(areas::Column::Level.eq("micro_grid"))
        .into_tuple()
        .all(db)
        .await?;
    places.push(grid.to_owned());
    let routes = patrol_routes::Entity::find()
        .filter(patrol_routes::Column::Enabled.eq(true))
        .filter(patrol_routes::Column::AreaCode.is_in(places))
        .all(db)
        .await?;
    if routes.is_empty() {
        return Ok(Coverage::default());
    }
    let today = local_day(now);
    let last = std::cmp::min(last, today);
    let walked: BTreeSet<(uuid::Uuid, String)> = patrol_checkins::Entity::find()
        .select_only()
        .column(patrol_checkins::Column::RouteId)
        .column(patrol_checkins::Column::WindowKey)
        .distinct()
        .filter(patrol_checkins::Column::RouteId.is_in(routes.iter().map(|r| r.id)))
        .filter(patrol_checkins::Column::Status.eq("paid"))
        .filter(patrol_checkins::Column::CreatedAt.gte(crate::points::day_start(first)))
        .into_tuple::<(uuid::Uuid, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let local = now.with_timezone(&crate::points::local_offset()).time();
    let minute = u16::try_from(local.hour() * 60 + local.minute()).unwrap_or(0);
    let mut c = Coverage::default();
    for r in &routes {
        let windows = stored_windows(&r.windows)?;
        let mut d = std::cmp::max(first, local_day(r.created_at) + Duration::days(1));
        while d <= last {
            for (i, w) in windows.iter().enumerate() {
                let hit = walked.contains(&(r.id, format!("{}#{i}", d.format("%Y-%m-%d"))));
                // Whether the occurrence has closed by now: one crossing midnight closes the day
                // after it opened.
                let crosses = w.end <= w.start;
                let ended = if d == today {
                    !crosses && w.end <= minute
                } else if d + Duration::days(1) == today {
                    !crosses || w.end <= minute
                } else {
                    true
                };
                if hit || ended {
                    c.expected += 1;
                }
                if hit {
                    c.covered += 1;
                }
            }
            d += Duration::days(1);
        }
    }
    Ok(c)
}

/// The grid's buildings by the freshness of their profiles.
async fn building_freshness(
    db: &impl ConnectionTrait,
    grid: &str,
    now: DateTime<Utc>,
) -> ApiResult<Freshness> {
    let checked: Vec<Option<DateTime<Utc>>> = buildings::Entity::find()
        .select_only()
        .column(buildings::Column::VerifiedAt)
        .filter(buildings::Column::GridCode.eq(grid))
        .into_tuple()
        .all(db)
        .await?;
    let mut f = Freshness {
        total: u32::try_from(checked.len()).unwrap_or(u32::MAX),
        ..Freshness::default()
    };
    for at in checked {
        match freshness(at, now) {
            Fresh::Red => f.red += 1,
            Fresh::Yellow => f.yellow += 1,
            Fresh::Green => {}
        }
    }
    Ok(f)
}
