//! A month of a street's life, simulated: events reported over a past month (Asia/Shanghai) at
//! the street's buildings, in the grid categories of the catalogue, from every source; each
//! dispatched to its grid with the deadlines of its colour, signed, reached and handled on time
//! or late (lit yellow or red, some escalated), closed and rated, or still open, or refused; and
//! the grids' health of every day of the month, as the nightly pass would have kept it.
//!
//! It is what `gridwing demo --simulate-month N` writes into the demo street, so the console's
//! map, rankings, monthly reviews and their files have a month to show, and what the monthly
//! review benchmark measures on. Seeded: the same seed gives the same month. Rows are written
//! straight to the database in batches, as the intake and moves would have left them.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::entities::{areas, buildings, events, tasks};
use crate::error::{ApiError, ApiResult};
use crate::events::catalogue::{self, Colour, Limits};
use crate::events::flow::Status;
use crate::points::day_start;
use crate::reviews::month::Month;

/// Events written per transaction.
const BATCH: usize = 500;

/// What was simulated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Simulated {
    /// Events written.
    pub events: u64,
    /// Of those, refused (not counted by reviews or health).
    pub rejected: u64,
    /// Closed (completed or rated).
    pub closed: u64,
    /// Days whose health was kept.
    pub days: u64,
}

/// splitmix64: small, fast and good enough to spread a demo's events; no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 0 ≤ n < `below` (`below` > 0).
    fn below(&mut self, below: u64) -> u64 {
        self.next() % below.max(1)
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        let n = u64::try_from(items.len()).ok()?;
        items.get(usize::try_from(self.below(n)).ok()?)
    }
}

/// A building events are reported at.
#[derive(Debug, Clone)]
struct Place {
    building: String,
    micro_grid: Option<String>,
    grid: String,
    lng: f64,
    lat: f64,
}

/// How a simulated event ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Rated,
    Completed,
    Handled,
    Dispatched,
    Rejected,
}

impl Outcome {
    /// Most closed and rated; some still open at the month's end; a few refused.
    fn draw(rng: &mut Rng) -> Outcome {
        match rng.below(100) {
            0..=64 => Outcome::Rated,
            65..=84 => Outcome::Completed,
            85..=89 => Outcome::Handled,
            90..=94 => Outcome::Dispatched,
            _ => Outcome::Rejected,
        }
    }

    fn status(self) -> Status {
        match self {
            Outcome::Rated => Status::Evaluated,
            Outcome::Completed => Status::Completed,
            Outcome::Handled => Status::Handled,
            Outcome::Dispatched => Status::Dispatched,
            Outcome::Rejected => Status::Rejected,
        }
    }
}

/// A step done after `limit` seconds scaled by 10–130 %: about one in four late.
fn step_after(rng: &mut Rng, from: DateTime<Utc>, limit: Option<i32>) -> DateTime<Utc> {
    let limit = i64::from(limit.unwrap_or(3600));
    let share = 10 + i64::try_from(rng.below(121)).unwrap_or(0);
    from + Duration::seconds(limit * share / 100)
}

/// Simulates `n` events over `month` on `street` (whose buildings they are reported at), then
/// keeps each past day's health. Refused when the street has no grids, or the month has not
/// begun; events land only before `now`.
pub async fn month(
    db: &DatabaseConnection,
    street: &str,
    month: Month,
    n: u64,
    seed: u64,
    now: DateTime<Utc>,
) -> ApiResult<Simulated> {
    let (start, end) = (month.start(), std::cmp::min(month.end(), now));
    if end <= start {
        return Err(ApiError::invalid(
            "month",
            "invalid_value",
            format!("{month} has not begun"),
        ));
    }
    let places = places(db, street).await?;
    if places.is_empty() {
        return Err(ApiError::invalid(
            "street",
            "invalid_value",
            format!("{street} has no grids"),
        ));
    }
    // The catalogue a server seeds at start, for a database only migrated so far.
    catalogue::ensure_defaults(db).await?;
    let snapshot = catalogue::Cached::default().get(db).await?;
    let kinds: Vec<(String, Colour, Limits)> = catalogue::categories(db)
        .await?
        .into_iter()
        .filter(|c| c.handler == "grid")
        .map(|c| {
            let limits = snapshot.limits(Some(street), c.colour);
            (c.code, c.colour, limits)
        })
        .collect();
    if kinds.is_empty() {
        return Err(ApiError::invalid(
            "category",
            "invalid_value",
            "the catalogue has no category a grid handles",
        ));
    }
    let mut rng = Rng(seed);
    let span = (end - start).num_seconds().max(1);
    let mut done = Simulated::default();
    let mut left = n;
    while left > 0 {
        let take = std::cmp::min(left, BATCH as u64);
        left -= take;
        let mut event_rows = Vec::with_capacity(BATCH);
        let mut task_rows = Vec::with_capacity(BATCH);
        for _ in 0..take {
            let (Some(place), Some((category, colour, limits))) =
                (rng.pick(&places).cloned(), rng.pick(&kinds).cloned())
            else {
                break;
            };
            let source = match rng.below(20) {
                0..=9 => "citizen",
                10..=15 => "patrol",
                16..=18 => "hotline",
                _ => "machine",
            };
            let at = start + Duration::seconds(i64::try_from(rng.below(span as u64)).unwrap_or(0));
            let outcome = Outcome::draw(&mut rng);
            let id = Uuid::now_v7();
            let rating = (outcome == Outcome::Rated).then(|| match rng.below(10) {
                0 => 2,
                1..=2 => 3,
                3..=5 => 4,
                _ => 5,
            });
            done.events += 1;
            match outcome {
                Outcome::Rejected => done.rejected += 1,
                Outcome::Rated | Outcome::Completed => done.closed += 1,
                Outcome::Handled | Outcome::Dispatched => {}
            }
            event_rows.push(events::ActiveModel {
                id: Set(id),
                idem_key: Set(None),
                request_hash: Set("simulated".into()),
                source: Set(source.into()),
                reporter_id: Set(None),
                api_key_id: Set(None),
                category: Set(category),
                colour: Set(colour.as_str().into()),
                status: Set(outcome.status().as_str().into()),
                description: Set("模拟事件".into()),
                lng: Set(Some(place.lng)),
                lat: Set(Some(place.lat)),
                building_code: Set(Some(place.building)),
                micro_grid_code: Set(place.micro_grid),
                grid_code: Set(Some(place.grid.clone())),
                street_code: Set(Some(street.to_owned())),
                duplicate_of: Set(None),
                merged_into: Set(None),
                rating: Set(rating),
                rating_comment: Set(None),
                created_at: Set(at),
                updated_at: Set(at),
            });
            if outcome == Outcome::Rejected {
                continue;
            }
            let dispatched = at + Duration::minutes(5);
            let dues = limits.dues_from(dispatched);
            let signed = step_after(&mut rng, dispatched, limits.sign_secs);
            let arrived = step_after(&mut rng, signed, limits.arrive_secs);
            let handled = step_after(&mut rng, arrived, limits.handle_secs);
            let open = matches!(outcome, Outcome::Handled | Outcome::Dispatched);
            let (signed_at, arrived_at, handled_at) = if outcome == Outcome::Dispatched {
                (None, None, None)
            } else {
                (Some(signed), Some(arrived), Some(handled))
            };
            // Lit as the sweeper lights: one step missed yellow, the handling or two steps red.
            let late = |due: Option<DateTime<Utc>>, done: Option<DateTime<Utc>>| match (due, done) {
                (Some(d), Some(t)) => t > d,
                (Some(d), None) => d < now,
                _ => false,
            };
            let missed = [
                late(dues.sign, signed_at),
                late(dues.arrive, arrived_at),
                late(dues.handle, handled_at),
            ];
            let light = match missed.iter().filter(|m| **m).count() {
                0 => "none",
                1 if !missed[2] => "yellow",
                _ => "red",
            };
            task_rows.push(tasks::ActiveModel {
                id: Set(Uuid::now_v7()),
                event_id: Set(id),
                assignee_kind: Set("grid".into()),
                assignee_code: Set(place.grid),
                open: Set(open),
                colour: Set(colour.as_str().into()),
                sign_due: Set(dues.sign),
                arrive_due: Set(dues.arrive),
                handle_due: Set(dues.handle),
                signed_at: Set(signed_at),
                arrived_at: Set(arrived_at),
                handled_at: Set(handled_at),
                light: Set(light.into()),
                escalated_to: Set((light == "red" && rng.chance(30)).then(|| street.to_owned())),
                feedback: Set(handled_at.map(|_| "已处置".to_owned())),
                on_site_note: Set(None),
                created_at: Set(dispatched),
                closed_at: Set((!open).then_some(handled)),
            });
        }
        let tx = crate::db::begin_write(db).await?;
        if !event_rows.is_empty() {
            events::Entity::insert_many(event_rows).exec(&tx).await?;
        }
        if !task_rows.is_empty() {
            tasks::Entity::insert_many(task_rows).exec(&tx).await?;
        }
        tx.commit().await?;
    }

    // Each past day's health as the nightly pass keeps it, at the day's last instant.
    let mut day = month.first_day();
    while day <= month.last_day() {
        let close = day_start(day + Duration::days(1)) - Duration::seconds(1);
        if close >= now {
            break;
        }
        crate::health::store::refresh_all(db, Some(street), close).await?;
        done.days += 1;
        day += Duration::days(1);
    }
    crate::health::store::refresh_all(db, Some(street), now).await?;
    Ok(done)
}

/// Whether `street` already has events in `month` (a simulation is written once).
pub async fn has_events(db: &impl ConnectionTrait, street: &str, month: Month) -> ApiResult<bool> {
    Ok(events::Entity::find()
        .filter(events::Column::StreetCode.eq(street))
        .filter(events::Column::CreatedAt.gte(month.start()))
        .filter(events::Column::CreatedAt.lt(month.end()))
        .count(db)
        .await?
        > 0)
}

/// (code, micro-grid, grid, lng, lat)
type BuildingRow = (String, Option<String>, Option<String>, f64, f64);

/// The street's buildings in grids; each grid without buildings stands for itself.
async fn places(db: &impl ConnectionTrait, street: &str) -> ApiResult<Vec<Place>> {
    let grid_codes = Query::select()
        .column(areas::Column::Code)
        .from(areas::Entity)
        .and_where(areas::Column::Level.eq("grid"))
        .and_where(areas::Column::StreetCode.eq(street))
        .to_owned();
    let rows: Vec<BuildingRow> = buildings::Entity::find()
        .select_only()
        .column(buildings::Column::Code)
        .column(buildings::Column::MicroGridCode)
        .column(buildings::Column::GridCode)
        .column(buildings::Column::Lng)
        .column(buildings::Column::Lat)
        .filter(buildings::Column::GridCode.in_subquery(grid_codes))
        .order_by_asc(buildings::Column::Code)
        .into_tuple()
        .all(db)
        .await?;
    let mut by_grid: BTreeMap<String, Vec<Place>> = BTreeMap::new();
    for (building, micro_grid, grid, lng, lat) in rows {
        let Some(grid) = grid else { continue };
        by_grid.entry(grid.clone()).or_default().push(Place {
            building,
            micro_grid,
            grid,
            lng,
            lat,
        });
    }
    Ok(by_grid.into_values().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_seeded_and_spreads_its_draws() {
        let draws = |seed| {
            let mut r = Rng(seed);
            (0..1000).map(|_| r.below(10)).collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
        let mut seen = [0u32; 10];
        for d in draws(7) {
            seen[usize::try_from(d).unwrap_or(0)] += 1;
        }
        assert!(seen.iter().all(|n| (60..=140).contains(n)), "{seen:?}");
    }

    #[test]
    fn outcomes_are_mostly_closed_with_some_open_and_refused() {
        let mut r = Rng(1);
        let mut n: BTreeMap<&str, u32> = BTreeMap::new();
        for _ in 0..10_000 {
            *n.entry(Outcome::draw(&mut r).status().as_str())
                .or_default() += 1;
        }
        let share = |s: &str| n.get(s).copied().unwrap_or(0);
        assert!((6000..7000).contains(&share("evaluated")), "{n:?}");
        assert!((300..700).contains(&share("rejected")), "{n:?}");
        assert!(share("dispatched") > 0 && share("handled") > 0, "{n:?}");
    }

    #[test]
    fn steps_are_done_within_a_tenth_and_thirteen_tenths_of_their_limit() {
        let mut r = Rng(3);
        let from = Utc::now();
        let mut late = 0;
        for _ in 0..1000 {
            let t = step_after(&mut r, from, Some(600));
            assert!(t >= from + Duration::seconds(60) && t <= from + Duration::seconds(780));
            if t > from + Duration::seconds(600) {
                late += 1;
            }
        }
        assert!((150..350).contains(&late), "{late} of 1000 late");
    }
}
