//! Counting what a grid's health is scored on, over a connection: its events in the window by
//! category, source and colour, repeats by building and micro-grid, its tasks past a deadline,
//! lit or escalated, the patrol occurrences due on its routes and those walked, and its
//! buildings' freshness. Grouped in the database where it can be, so a grid's count reads a
//! handful of small results, never its events one by one.

use std::collections::{BTreeMap, BTreeSet, HashMap};

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
use crate::events::sweeper::Light;
use crate::points::local_day;

/// Most values bound in one IN list (SQLite allows 32,766 parameters a statement).
const IN_LIST: usize = 500;

/// Statuses of events that do not count: refused, or folded into another one (which counts).
pub const NOT_COUNTED: [Status; 2] = [Status::Rejected, Status::Merged];

/// The grids a count covers: one, or every grid of a street (the nightly pass and the
/// rankings and reviews of a street count them all in the same few grouped statements).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    Grid(&'a str),
    Street(&'a str),
}

impl Scope<'_> {
    /// The events that landed in the scope's grids.
    pub fn events(self) -> Condition {
        match self {
            Scope::Grid(g) => Condition::all().add(events::Column::GridCode.eq(g)),
            // By the street's grids, not the events' street: the events are then read from
            // the grid index alone (`idx_events_grid_cover`).
            Scope::Street(_) => self.grids(events::Column::GridCode),
        }
    }

    /// `col` names one of the scope's grids.
    fn grids(self, col: impl ColumnTrait) -> Condition {
        match self {
            Scope::Grid(g) => Condition::all().add(col.eq(g)),
            Scope::Street(s) => Condition::all().add(
                col.in_subquery(
                    Query::select()
                        .column(areas::Column::Code)
                        .from(areas::Entity)
                        .and_where(areas::Column::Level.eq("grid"))
                        .and_where(areas::Column::StreetCode.eq(s))
                        .to_owned(),
                ),
            ),
        }
    }
}

/// (grid, category, source, colour, events)
type EventRow = (Option<String>, String, String, String, i64);
/// (grid, light, overdue, of the window, escalated of the window)
type TaskRow = (
    Option<String>,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);
/// (grid, buildings, never checked, checked too long ago)
type FreshRow = (Option<String>, i64, Option<i64>, Option<i64>);

/// A count read back from SQL (never negative).
fn count32(v: Option<i64>) -> u32 {
    u32::try_from(std::cmp::max(v.unwrap_or(0), 0)).unwrap_or(u32::MAX)
}

/// Everything [`super::score::score`] needs about `grid`, over the `window_days` before `now`.
pub async fn inputs(
    db: &impl ConnectionTrait,
    grid: &str,
    window_days: u32,
    now: DateTime<Utc>,
) -> ApiResult<Inputs> {
    let mut all = inputs_by_grid(db, Scope::Grid(grid), window_days, now).await?;
    Ok(all.remove(grid).unwrap_or_default())
}

/// What [`inputs`] counts, for every grid of `scope` at once: each kind of count is one grouped
/// statement over the scope, so a street of 2,000 grids costs what one grid does in number of
/// statements. Grids with nothing counted are absent (their inputs are all zero).
pub async fn inputs_by_grid(
    db: &impl ConnectionTrait,
    scope: Scope<'_>,
    window_days: u32,
    now: DateTime<Utc>,
) -> ApiResult<BTreeMap<String, Inputs>> {
    let since = now - Duration::days(i64::from(window_days));
    let in_window = || {
        // Bounded by `now` too: a day recomputed afterwards (a simulated month) sees only what
        // had come by its end.
        scope
            .events()
            .add(events::Column::CreatedAt.gte(since))
            .add(events::Column::CreatedAt.lte(now))
            .add(events::Column::Status.is_not_in(NOT_COUNTED.map(Status::as_str)))
    };
    let grouped = events::Entity::find()
        .select_only()
        .column(events::Column::GridCode)
        .column(events::Column::Category)
        .column(events::Column::Source)
        .column(events::Column::Colour)
        .column_as(events::Column::Id.count(), "n")
        .filter(in_window())
        .group_by(events::Column::GridCode)
        .group_by(events::Column::Category)
        .group_by(events::Column::Source)
        .group_by(events::Column::Colour)
        .into_tuple::<EventRow>()
        .all(db);

    // Tasks of the scope's events: open ones (late whenever they were made) and the window's,
    // counted by grid and light. Grouping by the light, not summing a CASE on it, lets a light
    // that is none of the known ones fail as corrupt instead of counting as none.
    let task = |c: tasks::Column| Expr::col((tasks::Entity, c));
    let late = |due: tasks::Column, done: tasks::Column| {
        Condition::all()
            .add(task(done).is_null())
            .add(task(due).lt(now))
    };
    let overdue = Condition::all()
        .add(task(tasks::Column::Open).eq(true))
        .add(
            Condition::any()
                .add(late(tasks::Column::SignDue, tasks::Column::SignedAt))
                .add(late(tasks::Column::ArriveDue, tasks::Column::ArrivedAt))
                .add(late(tasks::Column::HandleDue, tasks::Column::HandledAt)),
        );
    let recent = || {
        Condition::all()
            .add(task(tasks::Column::CreatedAt).gte(since))
            .add(task(tasks::Column::CreatedAt).lte(now))
    };
    let task_rows = tasks::Entity::find()
        .select_only()
        .column(events::Column::GridCode)
        .column(tasks::Column::Light)
        .column_as(Expr::from(Func::sum(one_if(overdue))), "overdue")
        .column_as(Expr::from(Func::sum(one_if(recent()))), "recent")
        .column_as(
            Expr::from(Func::sum(one_if(
                recent().add(task(tasks::Column::EscalatedTo).is_not_null()),
            ))),
            "escalated",
        )
        .join(JoinType::InnerJoin, tasks::Relation::Event.def())
        .filter(scope.events())
        .filter(
            Condition::any()
                .add(task(tasks::Column::Open).eq(true))
                .add(task(tasks::Column::CreatedAt).gte(since)),
        )
        .group_by(events::Column::GridCode)
        .group_by(tasks::Column::Light)
        .into_tuple::<TaskRow>()
        .all(db);

    let today = local_day(now);
    let first = today - Duration::days(i64::from(window_days));
    // The counts read nothing of each other: side by side, each on a connection of its own
    // from the pool (SQLite's readers too, beside each other in WAL mode).
    let (grouped, buildings, micro_grids, task_rows, coverage, freshness) = futures_util::try_join!(
        async { ApiResult::Ok(grouped.await?) },
        repeated_places(db, events::Column::BuildingCode, in_window()),
        repeated_places(db, events::Column::MicroGridCode, in_window()),
        async { ApiResult::Ok(task_rows.await?) },
        coverage_by_grid(db, scope, first, today, now),
        freshness_by_grid(db, scope, now),
    )?;

    let mut out: BTreeMap<String, Inputs> = BTreeMap::new();
    for (grid, category, source, colour, n) in grouped {
        let Some(grid) = grid else { continue };
        out.entry(grid).or_default().events.push(EventCount {
            category,
            source,
            colour: Colour::parse(&colour)?,
            count: count32(Some(n)),
        });
    }
    for (places, building) in [(buildings, true), (micro_grids, false)] {
        for (grid, code, n) in places {
            let Some(grid) = grid else { continue };
            let place = PlaceCount {
                code,
                count: count32(Some(n)),
            };
            let i = out.entry(grid).or_default();
            if building {
                i.buildings.push(place);
            } else {
                i.micro_grids.push(place);
            }
        }
    }
    for (grid, light, overdue, recent, escalated) in task_rows {
        let light = Light::parse(&light)?;
        let Some(grid) = grid else { continue };
        let i = out.entry(grid).or_default();
        i.overdue_tasks += count32(overdue);
        match light {
            Light::Yellow => i.yellow_lights += count32(recent),
            Light::Red => i.red_lights += count32(recent),
            Light::None => {}
        }
        i.escalations += count32(escalated);
    }
    for (grid, c) in coverage {
        out.entry(grid).or_default().patrol = c;
    }
    for (grid, f) in freshness {
        out.entry(grid).or_default().freshness = f;
    }
    Ok(out)
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

/// Patrol occurrences due on the routes of each grid of `scope` (those of the grid or one of
/// its micro-grids) from day `first` to `last` (Asia/Shanghai, both included; days after today
/// are not yet due), and those with a paid check-in. Every occurrence of the days before today
/// is due; today's once it has ended, or as soon as it is walked (so a check-in counts at once,
/// and a window still open is not yet a miss). A route's first day does not count: it may have
/// been made after its window. Grids without routes are absent.
pub async fn coverage_by_grid(
    db: &impl ConnectionTrait,
    scope: Scope<'_>,
    first: NaiveDate,
    last: NaiveDate,
    now: DateTime<Utc>,
) -> ApiResult<BTreeMap<String, Coverage>> {
    // The grid each route's area lies in: a grid itself, or a micro-grid's parent.
    let mut owner: HashMap<String, String> = HashMap::new();
    if let Scope::Grid(g) = scope {
        owner.insert(g.to_owned(), g.to_owned());
    }
    let places: Vec<(String, String, Option<String>)> = areas::Entity::find()
        .select_only()
        .column(areas::Column::Code)
        .column(areas::Column::Level)
        .column(areas::Column::ParentCode)
        .filter(match scope {
            Scope::Grid(g) => Condition::all()
                .add(areas::Column::ParentCode.eq(g))
                .add(areas::Column::Level.eq("micro_grid")),
            Scope::Street(s) => Condition::all()
                .add(areas::Column::StreetCode.eq(s))
                .add(areas::Column::Level.is_in(["grid", "micro_grid"])),
        })
        .into_tuple()
        .all(db)
        .await?;
    for (code, level, parent) in places {
        let grid = if level == "grid" {
            Some(code.clone())
        } else {
            parent
        };
        if let Some(grid) = grid {
            owner.insert(code, grid);
        }
    }
    let mut routes = Vec::new();
    let codes: Vec<String> = owner.keys().cloned().collect();
    for chunk in codes.chunks(IN_LIST) {
        routes.extend(
            patrol_routes::Entity::find()
                .filter(patrol_routes::Column::Enabled.eq(true))
                .filter(patrol_routes::Column::AreaCode.is_in(chunk.iter().cloned()))
                .all(db)
                .await?,
        );
    }
    let mut out = BTreeMap::new();
    if routes.is_empty() {
        return Ok(out);
    }
    let today = local_day(now);
    let last = std::cmp::min(last, today);
    let mut walked: BTreeSet<(uuid::Uuid, String)> = BTreeSet::new();
    for chunk in routes.chunks(IN_LIST) {
        walked.extend(
            patrol_checkins::Entity::find()
                .select_only()
                .column(patrol_checkins::Column::RouteId)
                .column(patrol_checkins::Column::WindowKey)
                .distinct()
                .filter(patrol_checkins::Column::RouteId.is_in(chunk.iter().map(|r| r.id)))
                .filter(patrol_checkins::Column::Status.eq("paid"))
                .filter(patrol_checkins::Column::CreatedAt.gte(crate::points::day_start(first)))
                .into_tuple::<(uuid::Uuid, String)>()
                .all(db)
                .await?,
        );
    }
    let local = now.with_timezone(&crate::points::local_offset()).time();
    let minute = u16::try_from(local.hour() * 60 + local.minute()).unwrap_or(0);
    for r in &routes {
        let Some(grid) = r.area_code.as_ref().and_then(|a| owner.get(a)) else {
            continue;
        };
        let c: &mut Coverage = out.entry(grid.clone()).or_default();
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
    Ok(out)
}

/// The buildings of each grid of `scope` by the freshness of their profiles (as
/// [`crate::places::buildings::freshness`] judges one): counted in the database.
pub async fn freshness_by_grid(
    db: &impl ConnectionTrait,
    scope: Scope<'_>,
    now: DateTime<Utc>,
) -> ApiResult<BTreeMap<String, Freshness>> {
    let green_since = crate::places::buildings::green_since(now);
    let rows: Vec<FreshRow> = buildings::Entity::find()
        .select_only()
        .column(buildings::Column::GridCode)
        .column_as(buildings::Column::Id.count(), "n")
        .column_as(
            Expr::from(Func::sum(one_if(
                Condition::all().add(buildings::Column::VerifiedAt.is_null()),
            ))),
            "red",
        )
        .column_as(
            Expr::from(Func::sum(one_if(
                Condition::all().add(buildings::Column::VerifiedAt.lt(green_since)),
            ))),
            "yellow",
        )
        .filter(scope.grids(buildings::Column::GridCode))
        .group_by(buildings::Column::GridCode)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(grid, total, red, yellow)| {
            let f = Freshness {
                total: count32(Some(total)),
                red: count32(red),
                yellow: count32(yellow),
            };
            grid.map(|g| (g, f))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
    use uuid::Uuid;

    use super::*;
    use crate::testing::{TestResult, database, event_row, store_tree};

    /// An event in `grid` (street S) of `colour`, `days` ago, at `building`.
    async fn event(
        db: &impl ConnectionTrait,
        grid: &str,
        colour: &str,
        status: &str,
        days: i64,
        building: Option<&str>,
    ) -> Result<Uuid, Box<dyn std::error::Error + Send + Sync>> {
        let mut e = event_row(None, status);
        e.grid_code = Some(grid.to_owned());
        e.micro_grid_code = (grid == "S-G1").then(|| "S-G1-M1".to_owned());
        e.colour = colour.to_owned();
        e.building_code = building.map(str::to_owned);
        e.created_at = Utc::now() - Duration::days(days);
        let id = e.id;
        e.into_active_model().reset_all().insert(db).await?;
        Ok(id)
    }

    /// A task of `event`: open or not, its sign deadline `late` minutes past (unsigned), lit
    /// `light`, escalated or not.
    async fn task(
        db: &impl ConnectionTrait,
        event: Uuid,
        open: bool,
        late: Option<i64>,
        light: &str,
        escalated: bool,
    ) -> TestResult {
        let now = Utc::now();
        tasks::ActiveModel {
            id: Set(Uuid::now_v7()),
            event_id: Set(event),
            assignee_kind: Set("grid".into()),
            assignee_code: Set("S-G1".into()),
            open: Set(open),
            colour: Set("red".into()),
            sign_due: Set(Some(now + Duration::minutes(-late.unwrap_or(-60)))),
            arrive_due: Set(None),
            handle_due: Set(None),
            signed_at: Set(None),
            arrived_at: Set(None),
            handled_at: Set(None),
            light: Set(light.into()),
            escalated_to: Set(escalated.then(|| "S".to_owned())),
            feedback: Set(None),
            on_site_note: Set(None),
            created_at: Set(now),
            closed_at: Set(None),
        }
        .insert(db)
        .await?;
        Ok(())
    }

    async fn building(db: &impl ConnectionTrait, code: &str, verified: Option<i64>) -> TestResult {
        let now = Utc::now();
        buildings::ActiveModel {
            id: Set(Uuid::now_v7()),
            code: Set(code.into()),
            name: Set(code.into()),
            address: Set("测试路".into()),
            lng: Set(120.0),
            lat: Set(30.0),
            micro_grid_code: Set(Some("S-G1-M1".into())),
            grid_code: Set(Some("S-G1".into())),
            floors: Set(None),
            notes: Set(None),
            verified_at: Set(verified.map(|d| now - Duration::days(d))),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(db)
        .await?;
        Ok(())
    }

    fn sorted(mut i: Inputs) -> Inputs {
        i.events
            .sort_by(|a, b| (a.colour.as_str(), &a.source).cmp(&(b.colour.as_str(), &b.source)));
        i
    }

    #[tokio::test]
    async fn a_street_is_counted_at_once_exactly_as_each_grid_alone() -> TestResult {
        let db = database().await?;
        store_tree(&db).await?;
        let a = event(&db, "S-G1", "yellow", "dispatched", 1, Some("B1")).await?;
        let b = event(&db, "S-G1", "red", "completed", 2, Some("B1")).await?;
        event(&db, "S-G1", "red", "completed", 3, None).await?;
        // Outside the window, refused, or merged: not counted.
        event(&db, "S-G1", "red", "completed", 40, Some("B1")).await?;
        event(&db, "S-G1", "red", "rejected", 1, Some("B1")).await?;
        event(&db, "S-G1", "red", "merged", 1, Some("B1")).await?;
        let c = event(&db, "S-G2", "blue", "dispatched", 1, None).await?;
        task(&db, a, true, Some(30), "yellow", false).await?;
        task(&db, b, false, None, "red", true).await?;
        task(&db, c, true, None, "none", false).await?;
        building(&db, "B1", None).await?;
        building(&db, "B2", Some(300)).await?;
        building(&db, "B3", Some(10)).await?;

        let now = Utc::now();
        let mut street = inputs_by_grid(&db, Scope::Street("S"), 30, now).await?;
        let g1 = sorted(street.remove("S-G1").ok_or("S-G1 counted")?);
        let counts: Vec<(Colour, u32)> = g1.events.iter().map(|e| (e.colour, e.count)).collect();
        assert_eq!(counts, [(Colour::Red, 2), (Colour::Yellow, 1)]);
        assert_eq!(
            (
                g1.overdue_tasks,
                g1.yellow_lights,
                g1.red_lights,
                g1.escalations
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(
            g1.buildings,
            [PlaceCount {
                code: "B1".into(),
                count: 2
            }]
        );
        assert_eq!(
            g1.micro_grids,
            [PlaceCount {
                code: "S-G1-M1".into(),
                count: 3
            }]
        );
        assert_eq!(
            g1.freshness,
            Freshness {
                total: 3,
                yellow: 1,
                red: 1
            }
        );
        let g2 = sorted(street.remove("S-G2").ok_or("S-G2 counted")?);
        assert_eq!(
            (g2.events.len(), g2.overdue_tasks, g2.freshness.total),
            (1, 0, 0)
        );
        assert!(street.is_empty(), "S-G3 has nothing: {street:?}");

        // One grid alone counts the same.
        assert_eq!(sorted(inputs(&db, "S-G1", 30, now).await?), g1);
        assert_eq!(sorted(inputs(&db, "S-G2", 30, now).await?), g2);
        assert_eq!(inputs(&db, "S-G3", 30, now).await?, Inputs::default());
        Ok(())
    }

    #[tokio::test]
    async fn an_unknown_light_is_corrupt_not_unlit() -> TestResult {
        let db = database().await?;
        store_tree(&db).await?;
        let a = event(&db, "S-G1", "yellow", "dispatched", 1, None).await?;
        task(&db, a, true, None, "purple", false).await?;
        assert!(inputs(&db, "S-G1", 30, Utc::now()).await.is_err());
        assert!(
            inputs_by_grid(&db, Scope::Street("S"), 30, Utc::now())
                .await
                .is_err()
        );
        Ok(())
    }
}
