//! Rankings (晾晒比拼): grids, or communities, side by side over a period by on-time rate,
//! closure rate, average rating, repeated problems, patrol completion and health.
//!
//! Every figure is about the events received in the period (Asia/Shanghai days), refused and
//! merged ones aside, as the health score counts them. Events, tasks and repeats are counted per
//! grid in the database (GROUP BY); a community adds up its grids' counts, so its rates are the
//! rates of its grids' events together, not a mean of rates. Health is the grid's current score
//! and colour; a community's is the mean of its grids' current scores, coloured by its street's
//! thresholds. The order is pure ([`rank`]) and unit-tested alone.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::colour::HealthColour;
use super::gather::{NOT_COUNTED, Scope, coverage_by_grid, one_if, repeated_places, steps_by_grid};
use super::score::colour_for;
use crate::entities::{area_health, areas, events};
use crate::error::ApiResult;
use crate::events::flow::Status;
use crate::points::{day_start, local_day};

/// What is ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RankLevel {
    #[default]
    Grid,
    Community,
}

impl RankLevel {
    /// The `areas.level` of what is ranked.
    fn area_level(self) -> &'static str {
        match self {
            RankLevel::Grid => "grid",
            RankLevel::Community => "community",
        }
    }
}

/// The figure the rows are ranked by. Rates and the rating rank the highest first; repeats
/// and the health score (higher is less healthy) the lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    /// Task steps (sign, arrive, handle) done within their deadlines (the default).
    #[default]
    OnTimeRate,
    /// Events closed (办结 or rated) out of those received.
    ClosureRate,
    /// Citizens' mean rating, 1–5.
    Rating,
    /// Repeated reports at one building or micro-grid.
    Repeats,
    /// Patrol occurrences walked out of those due.
    PatrolRate,
    /// The current health score.
    Health,
}

/// The counts one grid's figures come from, summed up for a community.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    pub received: u64,
    pub closed: u64,
    pub steps_due: u64,
    pub steps_on_time: u64,
    pub rated: u64,
    pub rating_sum: u64,
    pub repeats: u64,
    pub patrols_due: u64,
    pub patrols_walked: u64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.received += o.received;
        self.closed += o.closed;
        self.steps_due += o.steps_due;
        self.steps_on_time += o.steps_on_time;
        self.rated += o.rated;
        self.rating_sum += o.rating_sum;
        self.repeats += o.repeats;
        self.patrols_due += o.patrols_due;
        self.patrols_walked += o.patrols_walked;
    }
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    // Counts of a street's events are far below 2^52: exact as f64.
    (d > 0).then(|| n as f64 / d as f64)
}

/// One ranked grid or community: its rank, every figure and the counts behind the rates (so a
/// 100 % from one event shows as such). A rate is null when nothing counts towards it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RankedArea {
    /// 1 for the best; equal figures share a rank (1, 2, 2, 4); rows whose figure is null come
    /// last, sharing the rank after every other row.
    pub rank: u32,
    pub code: String,
    pub name: String,
    pub parent_code: Option<String>,
    pub street_code: String,
    /// Events received in the period (refused and merged ones aside).
    pub events_received: u64,
    /// Of those, closed (completed or rated).
    pub events_closed: u64,
    /// events_closed / events_received, 0–1.
    pub closure_rate: Option<f64>,
    /// Deadlines of the period's events' task steps (sign, arrive, handle) that have come: the
    /// step was done, or its deadline has passed.
    pub task_steps: u64,
    /// Of those, done by their deadline.
    pub task_steps_on_time: u64,
    /// task_steps_on_time / task_steps, 0–1.
    pub on_time_rate: Option<f64>,
    /// Events rated by their reporter.
    pub ratings: u64,
    /// Their mean rating, 1–5.
    pub average_rating: Option<f64>,
    /// Reports after the first at one building, plus the same at one micro-grid (as the health
    /// score counts them); null with no events.
    pub repeats: Option<u64>,
    /// Patrol occurrences due on the area's routes over the period (today's once ended or
    /// walked).
    pub patrols_due: u64,
    /// Of those, walked (a paid check-in).
    pub patrols_walked: u64,
    /// patrols_walked / patrols_due, 0–1.
    pub patrol_rate: Option<f64>,
    /// The current health score (higher is less healthy): a grid's own; a community's, the mean
    /// of its grids' scores. Null until computed.
    pub health_score: Option<f64>,
    /// The colour of that score (a community's by its street's thresholds).
    pub health_colour: Option<HealthColour>,
}

impl RankedArea {
    fn new(area: &areas::Model, t: &Tally) -> RankedArea {
        RankedArea {
            rank: 0,
            code: area.code.clone(),
            name: area.name.clone(),
            parent_code: area.parent_code.clone(),
            street_code: area.street_code.clone(),
            events_received: t.received,
            events_closed: t.closed,
            closure_rate: ratio(t.closed, t.received),
            task_steps: t.steps_due,
            task_steps_on_time: t.steps_on_time,
            on_time_rate: ratio(t.steps_on_time, t.steps_due),
            ratings: t.rated,
            average_rating: ratio(t.rating_sum, t.rated),
            repeats: (t.received > 0).then_some(t.repeats),
            patrols_due: t.patrols_due,
            patrols_walked: t.patrols_walked,
            patrol_rate: ratio(t.patrols_walked, t.patrols_due),
            health_score: None,
            health_colour: None,
        }
    }

    /// The figure `key` ranks by, made "higher is better".
    fn merit(&self, key: SortKey) -> Option<f64> {
        match key {
            SortKey::OnTimeRate => self.on_time_rate,
            SortKey::ClosureRate => self.closure_rate,
            SortKey::Rating => self.average_rating,
            SortKey::Repeats => self.repeats.map(|r| -(r as f64)),
            SortKey::PatrolRate => self.patrol_rate,
            SortKey::Health => self.health_score.map(|s| -s),
        }
    }
}

/// Orders `rows` by `key`, best first, and numbers them: equal figures share a rank and follow
/// each other by code; rows without the figure come last, all sharing the rank after the rest.
pub fn rank(rows: &mut [RankedArea], key: SortKey) {
    rows.sort_by(|a, b| {
        let (x, y) = (a.merit(key), b.merit(key));
        match (x, y) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
        .then_with(|| a.code.cmp(&b.code))
    });
    let mut prev: Option<Option<f64>> = None;
    let mut rank = 0;
    for (i, row) in rows.iter_mut().enumerate() {
        let m = row.merit(key);
        if prev != Some(m) {
            rank = u32::try_from(i + 1).unwrap_or(u32::MAX);
            prev = Some(m);
        }
        row.rank = rank;
    }
}

/// What to rank.
#[derive(Debug, Clone)]
pub struct RankingRequest {
    pub level: RankLevel,
    pub sort: SortKey,
    /// First and last day, Asia/Shanghai, both included.
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Only these streets' areas; None for every street.
    pub streets: Option<Vec<String>>,
}

/// The ranked grids or communities, best first.
pub async fn rankings(
    db: &impl ConnectionTrait,
    req: &RankingRequest,
    now: DateTime<Utc>,
) -> ApiResult<Vec<RankedArea>> {
    let mut q = areas::Entity::find()
        .filter(areas::Column::Level.is_in(["grid", req.level.area_level()]))
        .order_by_asc(areas::Column::Code);
    if let Some(s) = &req.streets {
        q = q.filter(areas::Column::StreetCode.is_in(s.clone()));
    }
    let found = q.all(db).await?;
    let grids: Vec<&areas::Model> = found.iter().filter(|a| a.level == "grid").collect();
    let tallies = grid_tallies(db, req, &grids, now).await?;
    let scores = grid_scores(db, &grids, now).await?;

    let mut rows = Vec::new();
    match req.level {
        RankLevel::Grid => {
            for g in grids {
                let mut row = RankedArea::new(g, tallies.get(&g.code).unwrap_or(&Tally::default()));
                row.health_score = scores.get(&g.code).map(|s| *s as f64);
                row.health_colour = g
                    .health_colour
                    .as_deref()
                    .map(HealthColour::parse)
                    .transpose()?;
                rows.push(row);
            }
        }
        RankLevel::Community => {
            let mut rules = HashMap::new();
            for c in found.iter().filter(|a| a.level == "community") {
                let mine: Vec<&&areas::Model> = grids
                    .iter()
                    .filter(|g| g.parent_code.as_deref() == Some(c.code.as_str()))
                    .collect();
                let mut t = Tally::default();
                for g in &mine {
                    if let Some(gt) = tallies.get(&g.code) {
                        t.add(gt);
                    }
                }
                let mut row = RankedArea::new(c, &t);
                let known: Vec<i64> = mine
                    .iter()
                    .filter_map(|g| scores.get(&g.code).copied())
                    .collect();
                if !known.is_empty() {
                    let mean = known.iter().sum::<i64>() as f64 / known.len() as f64;
                    if !rules.contains_key(&c.street_code) {
                        let (_, r) = super::rules::for_street(db, Some(&c.street_code)).await?;
                        rules.insert(c.street_code.clone(), r);
                    }
                    row.health_score = Some(mean);
                    row.health_colour = rules
                        .get(&c.street_code)
                        .map(|r| colour_for(mean.round() as i64, r));
                }
                rows.push(row);
            }
        }
    }
    rank(&mut rows, req.sort);
    Ok(rows)
}

/// A grid's events: (grid, received, closed, rated, sum of ratings).
type EventRow = (Option<String>, i64, Option<i64>, i64, Option<i64>);

/// A count or sum read back from SQL (never negative).
fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Each grid's counts over the period, keyed by grid code.
async fn grid_tallies(
    db: &impl ConnectionTrait,
    req: &RankingRequest,
    grids: &[&areas::Model],
    now: DateTime<Utc>,
) -> ApiResult<BTreeMap<String, Tally>> {
    let start = day_start(req.from);
    let end = day_start(req.to + Duration::days(1));
    let received = || {
        let mut c = Condition::all()
            .add(events::Column::CreatedAt.gte(start))
            .add(events::Column::CreatedAt.lt(end))
            .add(events::Column::GridCode.is_not_null())
            .add(events::Column::Status.is_not_in(NOT_COUNTED.map(Status::as_str)));
        if let Some(s) = &req.streets {
            c = c.add(events::Column::StreetCode.is_in(s.clone()));
        }
        c
    };
    let mut out: BTreeMap<String, Tally> = BTreeMap::new();

    let closed = [Status::Completed, Status::Evaluated].map(Status::as_str);
    let rows: Vec<EventRow> = events::Entity::find()
        .select_only()
        .column(events::Column::GridCode)
        .column_as(events::Column::Id.count(), "received")
        .column_as(
            Expr::from(Func::sum(one_if(
                Condition::all().add(events::Column::Status.is_in(closed)),
            ))),
            "closed",
        )
        .column_as(events::Column::Rating.count(), "rated")
        .column_as(events::Column::Rating.sum(), "rating_sum")
        .filter(received())
        .group_by(events::Column::GridCode)
        .into_tuple()
        .all(db)
        .await?;
    for (grid, n, closed, rated, sum) in rows {
        let t = out.entry(grid.unwrap_or_default()).or_default();
        t.received = count(n);
        t.closed = count(closed.unwrap_or(0));
        t.rated = count(rated);
        t.rating_sum = count(sum.unwrap_or(0));
    }

    let rows = steps_by_grid(db, received(), now).await?;
    for (grid, steps) in rows {
        let t = out.entry(grid.unwrap_or_default()).or_default();
        t.steps_due = steps.due.iter().sum();
        t.steps_on_time = steps.kept.iter().sum();
    }

    for col in [events::Column::BuildingCode, events::Column::MicroGridCode] {
        for (grid, _, count) in repeated_places(db, col, received()).await? {
            let t = out.entry(grid.unwrap_or_default()).or_default();
            // Every report after the first at the same place is a repeat.
            t.repeats += self::count(count - 1);
        }
    }

    // Patrols: street by street, each street's routes read at once.
    let mut streets: Vec<&str> = grids.iter().map(|g| g.street_code.as_str()).collect();
    streets.sort_unstable();
    streets.dedup();
    let ranked: std::collections::HashSet<&str> = grids.iter().map(|g| g.code.as_str()).collect();
    for street in streets {
        for (grid, c) in coverage_by_grid(db, Scope::Street(street), req.from, req.to, now).await? {
            if !ranked.contains(grid.as_str()) {
                continue;
            }
            let t = out.entry(grid).or_default();
            t.patrols_due = u64::from(c.expected);
            t.patrols_walked = u64::from(c.covered);
        }
    }
    Ok(out)
}

/// Each grid's current health score: its newest day's. The nightly pass writes a row a day, so
/// the last two days hold every scored grid's newest.
async fn grid_scores(
    db: &impl ConnectionTrait,
    grids: &[&areas::Model],
    now: DateTime<Utc>,
) -> ApiResult<HashMap<String, i64>> {
    let since = (local_day(now) - Duration::days(2))
        .format("%Y-%m-%d")
        .to_string();
    let mut newest = HashMap::new();
    let codes: Vec<String> = grids.iter().map(|g| g.code.clone()).collect();
    for chunk in codes.chunks(500) {
        let rows: Vec<(String, i64)> = area_health::Entity::find()
            .select_only()
            .column(area_health::Column::AreaCode)
            .column(area_health::Column::Score)
            .filter(area_health::Column::AreaCode.is_in(chunk.to_vec()))
            .filter(area_health::Column::Day.gte(since.clone()))
            .order_by_asc(area_health::Column::Day)
            .into_tuple()
            .all(db)
            .await?;
        for (code, score) in rows {
            newest.insert(code, score);
        }
    }
    Ok(newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(code: &str, closed: u64, received: u64, repeats: u64) -> RankedArea {
        let area = areas::Model {
            id: uuid::Uuid::nil(),
            code: code.to_owned(),
            name: code.to_owned(),
            level: "grid".to_owned(),
            parent_code: None,
            street_code: "QSH".to_owned(),
            geometry: None,
            health_colour: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        RankedArea::new(
            &area,
            &Tally {
                received,
                closed,
                repeats,
                ..Tally::default()
            },
        )
    }

    fn order(rows: &[RankedArea]) -> Vec<(&str, u32)> {
        rows.iter().map(|r| (r.code.as_str(), r.rank)).collect()
    }

    #[test]
    fn the_best_rate_ranks_first_and_equal_rates_share_a_rank() {
        let mut rows = vec![
            row("D", 1, 4, 0),
            row("C", 2, 4, 0),
            row("B", 1, 2, 0),
            row("A", 3, 3, 0),
        ];
        rank(&mut rows, SortKey::ClosureRate);
        assert_eq!(order(&rows), [("A", 1), ("B", 2), ("C", 2), ("D", 4)]);
        assert_eq!(rows[0].closure_rate, Some(1.0));
        assert_eq!((rows[0].events_closed, rows[0].events_received), (3, 3));
    }

    #[test]
    fn areas_without_the_figure_come_last_sharing_one_rank() {
        let mut rows = vec![
            row("A", 0, 0, 0),
            row("B", 0, 5, 0),
            row("C", 0, 0, 0),
            row("D", 5, 5, 0),
        ];
        rank(&mut rows, SortKey::ClosureRate);
        assert_eq!(order(&rows), [("D", 1), ("B", 2), ("A", 3), ("C", 3)]);
        assert_eq!(rows[2].closure_rate, None);
        // Without events, no repeats either: last, not first, by the fewest repeats.
        rank(&mut rows, SortKey::Repeats);
        assert_eq!(order(&rows), [("B", 1), ("D", 1), ("A", 3), ("C", 3)]);
    }

    #[test]
    fn fewer_repeats_and_lower_health_scores_rank_higher() {
        let mut rows = vec![row("A", 1, 9, 4), row("B", 1, 9, 1), row("C", 1, 9, 2)];
        rank(&mut rows, SortKey::Repeats);
        assert_eq!(order(&rows), [("B", 1), ("C", 2), ("A", 3)]);
        rows[0].health_score = Some(30.0);
        rows[1].health_score = Some(5.5);
        rank(&mut rows, SortKey::Health);
        assert_eq!(order(&rows), [("C", 1), ("B", 2), ("A", 3)]);
        assert_eq!(rows[2].health_score, None);
    }
}
