//! The figures of a month's reviews, for every area of a street at once.
//!
//! Everything is counted per grid in the database over the street's events of the month
//! (GROUP BY grid and category, colour, source; task steps and lights grouped by grid; repeated
//! places; buildings by freshness; volunteer minutes by the activity's area; health rows), so a
//! street of 118 grids with 100,000 events costs a handful of grouped statements, never its
//! events one by one. Patrol coverage and building freshness are the health score's counts
//! (`health::gather`), for the street's grids at once. A community adds up its grids' counts and the street all of
//! them ([`Tally::add`]); rates are then the rates of the counts together, never a mean of rates.
//! The previous month is counted the same way for the comparison.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, JoinType, PaginatorTrait, QueryFilter,
    QuerySelect, RelationTrait,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ReviewScope;
use super::month::Month;
use crate::entities::{activities, area_health, areas, events, points_ledger, signups, tasks};
use crate::error::ApiResult;
use crate::events::flow::Status;
use crate::health::colour::HealthColour;
use crate::health::gather::{
    NOT_COUNTED, Scope, coverage_by_grid, freshness_by_grid, one_if, repeated_places, steps_by_grid,
};
use crate::health::rules::HealthRules;
use crate::health::score::colour_for;

/// How many buildings and micro-grids a review names as hot spots, most reports first.
pub const HOT_SPOTS: usize = 10;

/// A count under a key (a category, a colour, a source).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Count {
    pub key: String,
    pub count: u64,
}

/// The month's events (received in it, refused and merged ones aside).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventFigures {
    pub total: u64,
    /// Of those, closed (completed or rated).
    pub closed: u64,
    /// By category code, most first.
    pub by_category: Vec<Count>,
    /// By colour (blue, yellow, orange, red), most first.
    pub by_colour: Vec<Count>,
    /// By source (citizen, patrol, hotline, machine), most first.
    pub by_source: Vec<Count>,
}

/// One task step's deadlines: those that have come (the step was done, or its deadline passed)
/// and those kept.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StepFigures {
    pub due: u64,
    pub on_time: u64,
    /// on_time / due, 0–1; null when nothing was due.
    pub rate: Option<f64>,
}

/// The on-time figures of each step of the month's events' tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StepsFigures {
    /// 签收
    pub sign: StepFigures,
    /// 到场
    pub arrive: StepFigures,
    /// 处置
    pub handle: StepFigures,
    /// The three together.
    pub all: StepFigures,
}

/// Tasks of the month's events lit by the sweeper, and escalated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LightFigures {
    pub yellow: u64,
    pub red: u64,
    pub escalations: u64,
}

/// A place with repeated reports in the month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HotSpot {
    /// The building's or micro-grid's code.
    pub code: String,
    pub grid_code: String,
    /// Reports there in the month (two or more).
    pub reports: u64,
}

/// Buildings and micro-grids with repeated problems, most reports first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HotSpots {
    pub buildings: Vec<HotSpot>,
    pub micro_grids: Vec<HotSpot>,
}

/// The reporters' ratings of the month's events.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RatingFigures {
    pub count: u64,
    /// Mean, 1–5; null without ratings.
    pub average: Option<f64>,
}

/// Patrol window occurrences due in the month on the area's routes, and those walked.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PatrolFigures {
    pub due: u64,
    pub walked: u64,
    /// walked / due, 0–1; null when nothing was due.
    pub rate: Option<f64>,
}

/// The area's building profiles by freshness when the review was generated: green when
/// checked within 6 months, yellow when older, red when never.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FreshnessFigures {
    pub total: u64,
    pub green: u64,
    pub yellow: u64,
    pub red: u64,
}

/// Volunteer service attended in the month at activities of the area (or an area within it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VolunteerFigures {
    pub minutes: u64,
    /// minutes / 60.
    pub hours: f64,
}

/// Points in the month: issued (every earning and adjustment paid) and redeemed (spent on
/// rewards, refunds taken back).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PointsFigures {
    pub issued: u64,
    pub redeemed: u64,
}

/// One day's health: a grid's score, or its grids' mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrendDay {
    /// `YYYY-MM-DD`, Asia/Shanghai.
    pub day: String,
    pub score: f64,
    pub colour: HealthColour,
}

/// The health colour at the month's end and its trend over the month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthFigures {
    /// The last day's score (higher is less healthy): a grid's own, an area's mean of its
    /// grids'; null when nothing was scored in the month.
    pub score: Option<f64>,
    /// Its colour by the street's thresholds.
    pub colour: Option<HealthColour>,
    /// A day a row, oldest first.
    pub trend: Vec<TrendDay>,
}

/// The figures compared month to month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Summary {
    pub events: u64,
    pub closed: u64,
    pub on_time_rate: Option<f64>,
    pub average_rating: Option<f64>,
    pub patrol_rate: Option<f64>,
    pub yellow_lights: u64,
    pub red_lights: u64,
    pub health_score: Option<f64>,
    pub health_colour: Option<HealthColour>,
}

/// Whether the health score went up (worse), down (better) or stayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    Better,
    Same,
    Worse,
}

/// This month beside the previous one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Comparison {
    /// `YYYY-MM`.
    pub previous_month: String,
    pub previous: Summary,
    /// This month's events minus the previous month's.
    pub events_change: i64,
    /// The health score's way from the previous month's end to this one's; null unless both
    /// were scored.
    pub health_trend: Option<Trend>,
}

/// Everything a review shows of its area and month, kept as generated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Figures {
    /// `YYYY-MM`.
    pub month: String,
    pub scope: ReviewScope,
    pub area_code: String,
    pub area_name: String,
    /// The grids counted (1 for a grid).
    pub grids: u64,
    pub events: EventFigures,
    pub steps: StepsFigures,
    pub lights: LightFigures,
    pub hot_spots: HotSpots,
    pub ratings: RatingFigures,
    pub patrols: PatrolFigures,
    pub freshness: FreshnessFigures,
    pub volunteering: VolunteerFigures,
    /// The street's review only, and only while the database holds one street: the points
    /// ledger names people, not places.
    pub points: Option<PointsFigures>,
    pub health: HealthFigures,
    pub summary: Summary,
    pub comparison: Comparison,
}

/// What one grid (or, added up, an area) counts over a month.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub grids: u64,
    pub events: u64,
    pub closed: u64,
    pub rated: u64,
    pub rating_sum: u64,
    pub by_category: BTreeMap<String, u64>,
    pub by_colour: BTreeMap<String, u64>,
    pub by_source: BTreeMap<String, u64>,
    /// Sign, arrive, handle.
    pub due: [u64; 3],
    pub kept: [u64; 3],
    pub yellow: u64,
    pub red: u64,
    pub escalations: u64,
    pub buildings: Vec<HotSpot>,
    pub micro_grids: Vec<HotSpot>,
    pub patrols_due: u64,
    pub patrols_walked: u64,
    pub freshness: FreshnessFigures,
    pub volunteer_minutes: u64,
    /// Day → (sum of the grids' scores, grids scored that day).
    pub health: BTreeMap<String, (i64, u64)>,
}

impl Tally {
    /// Adds another area's counts to these.
    pub fn add(&mut self, o: &Tally) {
        self.grids += o.grids;
        self.events += o.events;
        self.closed += o.closed;
        self.rated += o.rated;
        self.rating_sum += o.rating_sum;
        for (mine, theirs) in [
            (&mut self.by_category, &o.by_category),
            (&mut self.by_colour, &o.by_colour),
            (&mut self.by_source, &o.by_source),
        ] {
            for (k, n) in theirs {
                *mine.entry(k.clone()).or_default() += n;
            }
        }
        for i in 0..3 {
            self.due[i] += o.due[i];
            self.kept[i] += o.kept[i];
        }
        self.yellow += o.yellow;
        self.red += o.red;
        self.escalations += o.escalations;
        self.buildings.extend(o.buildings.iter().cloned());
        self.micro_grids.extend(o.micro_grids.iter().cloned());
        self.patrols_due += o.patrols_due;
        self.patrols_walked += o.patrols_walked;
        self.freshness.total += o.freshness.total;
        self.freshness.green += o.freshness.green;
        self.freshness.yellow += o.freshness.yellow;
        self.freshness.red += o.freshness.red;
        self.volunteer_minutes += o.volunteer_minutes;
        for (day, (sum, n)) in &o.health {
            let e = self.health.entry(day.clone()).or_default();
            e.0 += sum;
            e.1 += n;
        }
    }

    fn summary(&self, rules: &HealthRules) -> Summary {
        let health = self.health_figures(rules);
        Summary {
            events: self.events,
            closed: self.closed,
            on_time_rate: ratio(self.kept.iter().sum(), self.due.iter().sum()),
            average_rating: ratio(self.rating_sum, self.rated),
            patrol_rate: ratio(self.patrols_walked, self.patrols_due),
            yellow_lights: self.yellow,
            red_lights: self.red,
            health_score: health.score,
            health_colour: health.colour,
        }
    }

    fn health_figures(&self, rules: &HealthRules) -> HealthFigures {
        let trend: Vec<TrendDay> = self
            .health
            .iter()
            .filter(|(_, (_, n))| *n > 0)
            .map(|(day, (sum, n))| {
                let score = *sum as f64 / *n as f64;
                TrendDay {
                    day: day.clone(),
                    score,
                    colour: colour_for(score.round() as i64, rules),
                }
            })
            .collect();
        HealthFigures {
            score: trend.last().map(|d| d.score),
            colour: trend.last().map(|d| d.colour),
            trend,
        }
    }
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    // Counts of a street's month are far below 2^52: exact as f64.
    (d > 0).then(|| n as f64 / d as f64)
}

fn counts(m: &BTreeMap<String, u64>) -> Vec<Count> {
    let mut v: Vec<Count> = m
        .iter()
        .map(|(k, n)| Count {
            key: k.clone(),
            count: *n,
        })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    v
}

fn hottest(mut v: Vec<HotSpot>) -> Vec<HotSpot> {
    v.sort_by(|a, b| b.reports.cmp(&a.reports).then_with(|| a.code.cmp(&b.code)));
    v.truncate(HOT_SPOTS);
    v
}

fn step(due: u64, on_time: u64) -> StepFigures {
    StepFigures {
        due,
        on_time,
        rate: ratio(on_time, due),
    }
}

/// The figures of an area from its month's tally and the previous month's.
pub fn figures(
    area: &areas::Model,
    scope: ReviewScope,
    month: Month,
    now: &Tally,
    before: &Tally,
    points: Option<PointsFigures>,
    rules: &HealthRules,
) -> Figures {
    let summary = now.summary(rules);
    let previous = before.summary(rules);
    let health_trend = match (summary.health_score, previous.health_score) {
        (Some(a), Some(b)) if a < b => Some(Trend::Better),
        (Some(a), Some(b)) if a > b => Some(Trend::Worse),
        (Some(_), Some(_)) => Some(Trend::Same),
        _ => None,
    };
    let events_change = i64::try_from(now.events).unwrap_or(i64::MAX)
        - i64::try_from(before.events).unwrap_or(i64::MAX);
    Figures {
        month: month.label(),
        scope,
        area_code: area.code.clone(),
        area_name: area.name.clone(),
        grids: now.grids,
        events: EventFigures {
            total: now.events,
            closed: now.closed,
            by_category: counts(&now.by_category),
            by_colour: counts(&now.by_colour),
            by_source: counts(&now.by_source),
        },
        steps: StepsFigures {
            sign: step(now.due[0], now.kept[0]),
            arrive: step(now.due[1], now.kept[1]),
            handle: step(now.due[2], now.kept[2]),
            all: step(now.due.iter().sum(), now.kept.iter().sum()),
        },
        lights: LightFigures {
            yellow: now.yellow,
            red: now.red,
            escalations: now.escalations,
        },
        hot_spots: HotSpots {
            buildings: hottest(now.buildings.clone()),
            micro_grids: hottest(now.micro_grids.clone()),
        },
        ratings: RatingFigures {
            count: now.rated,
            average: ratio(now.rating_sum, now.rated),
        },
        patrols: PatrolFigures {
            due: now.patrols_due,
            walked: now.patrols_walked,
            rate: ratio(now.patrols_walked, now.patrols_due),
        },
        freshness: now.freshness,
        volunteering: VolunteerFigures {
            minutes: now.volunteer_minutes,
            hours: now.volunteer_minutes as f64 / 60.0,
        },
        points,
        health: now.health_figures(rules),
        comparison: Comparison {
            previous_month: month.previous().label(),
            previous,
            events_change,
            health_trend,
        },
        summary,
    }
}

/// A street's month counted: each grid's tally, volunteer minutes by the activity's area, and
/// the month's points (None unless the database holds this street alone).
#[derive(Debug, Default)]
pub struct Counted {
    pub grids: BTreeMap<String, Tally>,
    pub minutes_by_area: BTreeMap<String, u64>,
    pub points: Option<PointsFigures>,
}

/// A count or sum read back from SQL (never negative).
fn n(v: Option<i64>) -> u64 {
    u64::try_from(v.unwrap_or(0)).unwrap_or(0)
}

/// (grid, category, colour, source, events, closed, rated, sum of ratings)
type EventRow = (
    Option<String>,
    String,
    String,
    String,
    i64,
    Option<i64>,
    i64,
    Option<i64>,
);
/// (grid, tasks lit yellow, lit red, escalated)
type LightRow = (Option<String>, Option<i64>, Option<i64>, Option<i64>);

/// Counts every grid of `street` (`grids`: their codes) over `month`; deadlines and building
/// freshness as of `now`.
pub async fn count(
    db: &impl ConnectionTrait,
    street: &str,
    grids: &[String],
    month: Month,
    now: DateTime<Utc>,
) -> ApiResult<Counted> {
    let in_month = || {
        Condition::all()
            .add(events::Column::StreetCode.eq(street))
            .add(events::Column::CreatedAt.gte(month.start()))
            .add(events::Column::CreatedAt.lt(month.end()))
            .add(events::Column::GridCode.is_not_null())
            .add(events::Column::Status.is_not_in(NOT_COUNTED.map(Status::as_str)))
    };
    let mut out = Counted::default();
    for g in grids {
        out.grids.insert(
            g.clone(),
            Tally {
                grids: 1,
                ..Tally::default()
            },
        );
    }
    // Rows of a grid the street no longer lists (re-imported since) count nowhere.

    let closed = [Status::Completed, Status::Evaluated].map(Status::as_str);
    let rows: Vec<EventRow> = events::Entity::find()
        .select_only()
        .column(events::Column::GridCode)
        .column(events::Column::Category)
        .column(events::Column::Colour)
        .column(events::Column::Source)
        .column_as(events::Column::Id.count(), "n")
        .column_as(
            Expr::from(Func::sum(one_if(
                Condition::all().add(events::Column::Status.is_in(closed)),
            ))),
            "closed",
        )
        .column_as(events::Column::Rating.count(), "rated")
        .column_as(events::Column::Rating.sum(), "rating_sum")
        .filter(in_month())
        .group_by(events::Column::GridCode)
        .group_by(events::Column::Category)
        .group_by(events::Column::Colour)
        .group_by(events::Column::Source)
        .into_tuple()
        .all(db)
        .await?;
    for (grid, category, colour, source, count, closed, rated, sum) in rows {
        let Some(t) = grid.and_then(|g| out.grids.get_mut(&g)) else {
            continue;
        };
        let count = n(Some(count));
        t.events += count;
        t.closed += n(closed);
        t.rated += n(Some(rated));
        t.rating_sum += n(sum);
        *t.by_category.entry(category).or_default() += count;
        *t.by_colour.entry(colour).or_default() += count;
        *t.by_source.entry(source).or_default() += count;
    }

    let rows = steps_by_grid(db, in_month(), now).await?;
    for (grid, steps) in rows {
        if let Some(t) = grid.and_then(|g| out.grids.get_mut(&g)) {
            t.due = steps.due;
            t.kept = steps.kept;
        }
    }

    let light = |l: &str| {
        Expr::from(Func::sum(one_if(
            Condition::all().add(Expr::col((tasks::Entity, tasks::Column::Light)).eq(l)),
        )))
    };
    let rows: Vec<LightRow> = tasks::Entity::find()
        .select_only()
        .column(events::Column::GridCode)
        .column_as(light("yellow"), "yellow")
        .column_as(light("red"), "red")
        .column_as(
            Expr::from(Func::sum(one_if(Condition::all().add(
                Expr::col((tasks::Entity, tasks::Column::EscalatedTo)).is_not_null(),
            )))),
            "escalated",
        )
        .join(JoinType::InnerJoin, tasks::Relation::Event.def())
        .filter(in_month())
        .group_by(events::Column::GridCode)
        .into_tuple()
        .all(db)
        .await?;
    for (grid, yellow, red, escalated) in rows {
        if let Some(t) = grid.and_then(|g| out.grids.get_mut(&g)) {
            t.yellow = n(yellow);
            t.red = n(red);
            t.escalations = n(escalated);
        }
    }

    for (col, building) in [
        (events::Column::BuildingCode, true),
        (events::Column::MicroGridCode, false),
    ] {
        for (grid, code, reports) in repeated_places(db, col, in_month()).await? {
            let Some(t) = grid.clone().and_then(|g| out.grids.get_mut(&g)) else {
                continue;
            };
            let spot = HotSpot {
                code,
                grid_code: grid.unwrap_or_default(),
                reports: n(Some(reports)),
            };
            if building {
                t.buildings.push(spot);
            } else {
                t.micro_grids.push(spot);
            }
        }
    }

    for (grid, c) in coverage_by_grid(
        db,
        Scope::Street(street),
        month.first_day(),
        month.last_day(),
        now,
    )
    .await?
    {
        if let Some(t) = out.grids.get_mut(&grid) {
            t.patrols_due = u64::from(c.expected);
            t.patrols_walked = u64::from(c.covered);
        }
    }

    // Freshness as the building registry counts it: green within 6 months, red never checked.
    for (grid, f) in freshness_by_grid(db, Scope::Street(street), now).await? {
        if let Some(t) = out.grids.get_mut(&grid) {
            let (total, red, yellow) = (u64::from(f.total), u64::from(f.red), u64::from(f.yellow));
            t.freshness = FreshnessFigures {
                total,
                green: total.saturating_sub(red + yellow),
                yellow,
                red,
            };
        }
    }

    let minutes: Vec<(Option<String>, Option<i64>)> = signups::Entity::find()
        .select_only()
        .column(activities::Column::AreaCode)
        .column_as(signups::Column::Minutes.sum(), "minutes")
        .join(
            JoinType::InnerJoin,
            signups::Entity::belongs_to(activities::Entity)
                .from(signups::Column::ActivityId)
                .to(activities::Column::Id)
                .into(),
        )
        .filter(signups::Column::AttendedAt.gte(month.start()))
        .filter(signups::Column::AttendedAt.lt(month.end()))
        .filter(activities::Column::AreaCode.is_not_null())
        .group_by(activities::Column::AreaCode)
        .into_tuple()
        .all(db)
        .await?;
    for (area, m) in minutes {
        if let Some(a) = area {
            *out.minutes_by_area.entry(a).or_default() += n(m);
        }
    }

    let (first, last) = (
        month.first_day().format("%Y-%m-%d").to_string(),
        month.last_day().format("%Y-%m-%d").to_string(),
    );
    for chunk in grids.chunks(500) {
        let rows: Vec<(String, String, i64)> = area_health::Entity::find()
            .select_only()
            .column(area_health::Column::AreaCode)
            .column(area_health::Column::Day)
            .column(area_health::Column::Score)
            .filter(area_health::Column::AreaCode.is_in(chunk.to_vec()))
            .filter(area_health::Column::Day.gte(first.clone()))
            .filter(area_health::Column::Day.lte(last.clone()))
            .into_tuple()
            .all(db)
            .await?;
        for (grid, day, score) in rows {
            if let Some(t) = out.grids.get_mut(&grid) {
                t.health.insert(day, (score, 1));
            }
        }
    }

    out.points = street_points(db, street, month).await?;
    Ok(out)
}

/// The month's points, when the database holds `street` alone (the ledger names people, not
/// places, so with several streets no street's share can be told).
async fn street_points(
    db: &impl ConnectionTrait,
    street: &str,
    month: Month,
) -> ApiResult<Option<PointsFigures>> {
    let streets: Vec<String> = areas::Entity::find()
        .select_only()
        .column(areas::Column::Code)
        .filter(areas::Column::Level.eq("street"))
        .limit(2)
        .into_tuple()
        .all(db)
        .await?;
    if streets != [street] {
        return Ok(None);
    }
    let amount = || Expr::col(points_ledger::Column::Amount);
    let sum_if = |cond: Condition, neg: bool| {
        let v = if neg {
            Expr::val(0).sub(amount())
        } else {
            amount()
        };
        Expr::from(Func::sum(Expr::case(cond, v).finally(0)))
    };
    let kind = points_ledger::Column::SourceKind;
    let row: Option<(Option<i64>, Option<i64>, Option<i64>)> = points_ledger::Entity::find()
        .select_only()
        .column_as(
            sum_if(
                Condition::all()
                    .add(points_ledger::Column::Amount.gt(0))
                    .add(kind.ne("redemption_refund")),
                false,
            ),
            "issued",
        )
        .column_as(
            sum_if(Condition::all().add(kind.eq("redemption")), true),
            "spent",
        )
        .column_as(
            sum_if(Condition::all().add(kind.eq("redemption_refund")), false),
            "refunded",
        )
        .filter(points_ledger::Column::CreatedAt.gte(month.start()))
        .filter(points_ledger::Column::CreatedAt.lt(month.end()))
        .into_tuple()
        .one(db)
        .await?;
    let (issued, spent, refunded) = row.unwrap_or_default();
    Ok(Some(PointsFigures {
        issued: n(issued),
        redeemed: n(spent).saturating_sub(n(refunded)),
    }))
}

/// The areas of a street that have reviews, with the parent of every area of it.
pub struct StreetTree {
    pub street: areas::Model,
    /// The street, its communities and grids, each with its scope.
    pub targets: Vec<(areas::Model, ReviewScope)>,
    parents: HashMap<String, Option<String>>,
}

impl StreetTree {
    /// The street `code`'s areas; None when it is not a street.
    pub async fn load(db: &impl ConnectionTrait, code: &str) -> ApiResult<Option<StreetTree>> {
        let all = areas::Entity::find()
            .filter(areas::Column::StreetCode.eq(code))
            .all(db)
            .await?;
        let Some(street) = all
            .iter()
            .find(|a| a.code == code && a.level == "street")
            .cloned()
        else {
            return Ok(None);
        };
        let parents = all
            .iter()
            .map(|a| (a.code.clone(), a.parent_code.clone()))
            .collect();
        let mut targets: Vec<(areas::Model, ReviewScope)> = all
            .into_iter()
            .filter_map(|a| ReviewScope::of_level(&a.level).map(|s| (a, s)))
            .collect();
        targets.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.code.cmp(&b.0.code)));
        Ok(Some(StreetTree {
            street,
            targets,
            parents,
        }))
    }

    /// The codes of the street's grids.
    pub fn grids(&self) -> Vec<String> {
        self.targets
            .iter()
            .filter(|(_, s)| *s == ReviewScope::Grid)
            .map(|(a, _)| a.code.clone())
            .collect()
    }

    /// Whether `code` is `target` or lies below it.
    pub fn within(&self, code: &str, target: &str) -> bool {
        let mut at = Some(code.to_owned());
        // The tree is at most a handful of levels deep; the bound only guards a corrupt loop.
        for _ in 0..16 {
            match at {
                Some(c) if c == target => return true,
                Some(c) => at = self.parents.get(&c).cloned().flatten(),
                None => return false,
            }
        }
        false
    }

    /// The tally of `target`: its grids' added up, with the volunteer minutes of activities
    /// in it.
    pub fn tally(&self, counted: &Counted, target: &str) -> Tally {
        let mut t = Tally::default();
        for (grid, gt) in &counted.grids {
            if self.within(grid, target) {
                t.add(gt);
            }
        }
        t.volunteer_minutes = counted
            .minutes_by_area
            .iter()
            .filter(|(area, _)| self.within(area, target))
            .map(|(_, m)| *m)
            .sum();
        t
    }
}

/// The figures of every area of a street (street first, then communities, then grids), or of
/// the one area `only`, over `month`.
pub async fn for_street(
    db: &impl ConnectionTrait,
    tree: &StreetTree,
    month: Month,
    only: Option<&str>,
    now: DateTime<Utc>,
) -> ApiResult<Vec<(areas::Model, ReviewScope, Figures)>> {
    let grids = tree.grids();
    let street = tree.street.code.as_str();
    let this = count(db, street, &grids, month, now).await?;
    let before = count(db, street, &grids, month.previous(), now).await?;
    let (_, rules) = crate::health::rules::for_street(db, Some(street)).await?;
    let mut out = Vec::new();
    for (area, scope) in &tree.targets {
        if only.is_some_and(|o| o != area.code) {
            continue;
        }
        let points = if *scope == ReviewScope::Street {
            this.points
        } else {
            None
        };
        let f = figures(
            area,
            *scope,
            month,
            &tree.tally(&this, &area.code),
            &tree.tally(&before, &area.code),
            points,
            &rules,
        );
        out.push((area.clone(), *scope, f));
    }
    Ok(out)
}

/// How many grids the street `street` has.
pub async fn grid_count(db: &impl ConnectionTrait, street: &str) -> ApiResult<u64> {
    Ok(areas::Entity::find()
        .filter(areas::Column::StreetCode.eq(street))
        .filter(areas::Column::Level.eq("grid"))
        .count(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{TestResult, database, event_in_s_g1, store_tree};

    fn grid(events: u64, due: [u64; 3], kept: [u64; 3], health: &[(&str, i64)]) -> Tally {
        Tally {
            grids: 1,
            events,
            due,
            kept,
            by_category: [("environment.garbage".to_owned(), events)].into(),
            health: health
                .iter()
                .map(|(d, s)| ((*d).to_owned(), (*s, 1)))
                .collect(),
            ..Tally::default()
        }
    }

    #[test]
    fn an_area_adds_its_grids_counts_and_rates_come_from_the_sums() {
        let mut c = Tally::default();
        c.add(&grid(
            3,
            [2, 2, 2],
            [2, 1, 0],
            &[("2026-11-01", 20), ("2026-11-02", 40)],
        ));
        c.add(&grid(1, [1, 0, 0], [0, 0, 0], &[("2026-11-02", 80)]));
        assert_eq!(
            (c.grids, c.events, c.due, c.kept),
            (2, 4, [3, 2, 2], [2, 1, 0])
        );
        assert_eq!(c.by_category["environment.garbage"], 4);
        let rules = HealthRules::defaults();
        let s = c.summary(&rules);
        // 3 of 7 steps on time, not the mean of 3/6 and 0/1.
        assert_eq!(s.on_time_rate, Some(3.0 / 7.0));
        // The last day's mean of its grids' scores: (40 + 80) / 2, yellow from 60.
        assert_eq!(s.health_score, Some(60.0));
        assert_eq!(s.health_colour, Some(HealthColour::Yellow));
        let h = c.health_figures(&rules);
        assert_eq!(h.trend.len(), 2);
        assert_eq!(h.trend[0].score, 20.0);
    }

    #[test]
    fn the_comparison_says_which_way_health_went_and_hot_spots_are_the_hottest() {
        let rules = HealthRules::defaults();
        let area = areas::Model {
            id: uuid::Uuid::nil(),
            code: "S-G1".into(),
            name: "一网格".into(),
            level: "grid".into(),
            parent_code: None,
            street_code: "S".into(),
            geometry: None,
            health_colour: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let mut now = grid(5, [0; 3], [0; 3], &[("2026-11-30", 10)]);
        now.buildings = (0..12)
            .map(|i| HotSpot {
                code: format!("B{i:02}"),
                grid_code: "S-G1".into(),
                reports: 2 + i % 3,
            })
            .collect();
        let before = grid(8, [0; 3], [0; 3], &[("2026-10-31", 30)]);
        let month = Month::parse("month", "2026-11").unwrap_or_else(|_| Month::of(Utc::now()));
        let f = figures(&area, ReviewScope::Grid, month, &now, &before, None, &rules);
        assert_eq!(f.comparison.previous_month, "2026-10");
        assert_eq!(f.comparison.events_change, -3);
        assert_eq!(f.comparison.health_trend, Some(Trend::Better));
        assert_eq!(f.hot_spots.buildings.len(), HOT_SPOTS);
        assert_eq!(f.hot_spots.buildings[0].reports, 4);
        assert_eq!(f.steps.all.rate, None);
        assert_eq!(f.health.colour, Some(HealthColour::Green));
    }

    #[tokio::test]
    async fn a_streets_month_is_counted_per_grid_and_added_up_the_tree() -> TestResult {
        let db = database().await?;
        store_tree(&db).await?;
        for _ in 0..3 {
            event_in_s_g1(&db, None, "environment.garbage", "reported").await?;
        }
        event_in_s_g1(&db, None, "environment.garbage", "rejected").await?;
        let now = Utc::now();
        let month = Month::of(now);
        let tree = StreetTree::load(&db, "S").await?.ok_or("street S")?;
        assert_eq!(tree.grids(), ["S-G1", "S-G2", "S-G3"]);
        let all = for_street(&db, &tree, month, None, now).await?;
        let by: HashMap<&str, &Figures> =
            all.iter().map(|(a, _, f)| (a.code.as_str(), f)).collect();
        assert_eq!(all.len(), 6);
        assert_eq!(by["S-G1"].events.total, 3);
        assert_eq!(
            by["S-G1"].events.by_colour,
            [Count {
                key: "yellow".into(),
                count: 3
            }]
        );
        assert_eq!(by["S-G1"].hot_spots.micro_grids[0].reports, 3);
        assert_eq!((by["S-C1"].events.total, by["S-C1"].grids), (3, 2));
        assert_eq!(by["S-C2"].events.total, 0);
        assert_eq!((by["S"].events.total, by["S"].grids), (3, 3));
        // The database holds this street alone, so the street's review counts points.
        assert_eq!(
            by["S"].points,
            Some(PointsFigures {
                issued: 0,
                redeemed: 0
            })
        );
        assert_eq!(by["S-G1"].points, None);
        // Last month had none of them.
        assert_eq!(by["S"].comparison.events_change, 3);
        let one = for_street(&db, &tree, month, Some("S-G2"), now).await?;
        assert_eq!(one.len(), 1);
        Ok(())
    }
}
