//! Scoring a grid's health (五色网格): a pure function of what was counted in the grid and the
//! street's rules. A higher score is a less healthy grid; the thresholds turn it into one of five
//! colours, and every point of it is explained by a contribution ("红色事件 3 件：45 分").
//!
//! Nothing here reads the database: [`super::gather`] counts, this module weighs, so the
//! weighing is tested alone and the nightly and incremental paths cannot weigh differently.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use super::colour::HealthColour;
use super::rules::HealthRules;
use crate::events::catalogue::Colour;

/// Events of one category, source and colour that landed in the grid within the window.
#[derive(Debug, Clone, PartialEq)]
pub struct EventCount {
    pub category: String,
    /// `citizen`, `patrol`, `hotline` or `machine`.
    pub source: String,
    pub colour: Colour,
    pub count: u32,
}

/// A building or micro-grid and how many events within the window named it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceCount {
    pub code: String,
    pub count: u32,
}

/// Patrol occurrences (a route's window on one day) due in the grid, and those with at least one
/// paid check-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Coverage {
    pub expected: u32,
    pub covered: u32,
}

/// The grid's buildings by profile freshness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Freshness {
    pub total: u32,
    pub yellow: u32,
    pub red: u32,
}

/// Everything counted in one grid, as [`super::gather`] reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inputs {
    pub events: Vec<EventCount>,
    /// Open tasks with a deadline already missed.
    pub overdue_tasks: u32,
    /// Tasks of the window's events lit yellow, and red (亮灯).
    pub yellow_lights: u32,
    pub red_lights: u32,
    /// Tasks of the window's events escalated up the tree.
    pub escalations: u32,
    /// Buildings named by two or more of the window's events.
    pub buildings: Vec<PlaceCount>,
    /// Micro-grids holding two or more of the window's events.
    pub micro_grids: Vec<PlaceCount>,
    pub patrol: Coverage,
    pub freshness: Freshness,
}

/// What a contribution counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContributionKind {
    /// Events of one colour (`colour`).
    Events,
    /// Open tasks past a deadline.
    OverdueTasks,
    /// Lit tasks of one light (`colour`: yellow or red).
    Lights,
    /// Tasks escalated up the tree.
    Escalations,
    /// Repeated reports at one building (`place`).
    BuildingRepeats,
    /// Repeated reports in one micro-grid (`place`).
    MicroGridRepeats,
    /// Patrol occurrences left without a check-in (`count` covered `of` due).
    PatrolCoverage,
    /// Building profiles not checked lately (`count` red or yellow `of` all).
    BuildingFreshness,
}

/// One part of a score and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Contribution {
    pub kind: ContributionKind,
    /// For events, the events' colour; for lights, the light.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colour: Option<String>,
    /// For repeats, the building or micro-grid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// How many were counted.
    pub count: u32,
    /// Out of how many, where a share is scored (patrol occurrences due, buildings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub of: Option<u32>,
    /// Points this adds to the score.
    pub points: i64,
    /// The same in Chinese, e.g. `红色事件 3 件：45 分`.
    #[schema(example = "红色事件 3 件：45 分")]
    pub label: String,
}

/// A grid's score, its colour and what explains it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub score: i64,
    pub colour: HealthColour,
    /// Largest first; only those that add points.
    pub contributions: Vec<Contribution>,
}

/// Rounds a weighted sum to whole points, halves away from zero. Weights are bounded by the
/// rules' validation, so the sum is far inside i64.
fn points(x: f64) -> i64 {
    x.round() as i64
}

/// The colour a score earns: the highest threshold it reaches, green below them all.
pub fn colour_for(score: i64, rules: &HealthRules) -> HealthColour {
    let t = &rules.thresholds;
    if score >= t.red {
        HealthColour::Red
    } else if score >= t.orange {
        HealthColour::Orange
    } else if score >= t.yellow {
        HealthColour::Yellow
    } else if score >= t.blue {
        HealthColour::Blue
    } else {
        HealthColour::Green
    }
}

/// Weighs what was counted by the rules.
pub fn score(inputs: &Inputs, rules: &HealthRules) -> Scored {
    let mut out = Vec::new();
    let mut add = |kind, colour: Option<&str>, place: Option<&str>, count, of, pts, label| {
        if pts != 0 {
            out.push(Contribution {
                kind,
                colour: colour.map(str::to_owned),
                place: place.map(str::to_owned),
                count,
                of,
                points: pts,
                label,
            });
        }
    };

    for colour in Colour::ALL.into_iter().rev() {
        let (count, weight) = inputs.events.iter().filter(|e| e.colour == colour).fold(
            (0u32, 0.0f64),
            |(n, w), e| {
                let each = rules.category_weight(&e.category)
                    * rules.source_weight(&e.source)
                    * rules.colour_multipliers.of(colour);
                (n + e.count, w + each * f64::from(e.count))
            },
        );
        if count > 0 {
            let pts = points(weight);
            add(
                ContributionKind::Events,
                Some(colour.as_str()),
                None,
                count,
                None,
                pts,
                format!("{}事件 {count} 件：{pts} 分", colour.name_zh()),
            );
        }
    }

    let p = &rules.penalties;
    let n = inputs.overdue_tasks;
    let pts = i64::from(n) * p.overdue_task;
    add(
        ContributionKind::OverdueTasks,
        None,
        None,
        n,
        None,
        pts,
        format!("超时未办任务 {n} 件：{pts} 分"),
    );
    for (light, n, each, zh) in [
        ("red", inputs.red_lights, p.red_light, "红灯"),
        ("yellow", inputs.yellow_lights, p.yellow_light, "黄灯"),
    ] {
        let pts = i64::from(n) * each;
        add(
            ContributionKind::Lights,
            Some(light),
            None,
            n,
            None,
            pts,
            format!("{zh}督办 {n} 件：{pts} 分"),
        );
    }
    let n = inputs.escalations;
    let pts = i64::from(n) * p.escalation;
    add(
        ContributionKind::Escalations,
        None,
        None,
        n,
        None,
        pts,
        format!("升级督办 {n} 件：{pts} 分"),
    );

    let r = &rules.repeats;
    for (kind, places, min, zh) in [
        (
            ContributionKind::BuildingRepeats,
            &inputs.buildings,
            r.building_min,
            "楼幢",
        ),
        (
            ContributionKind::MicroGridRepeats,
            &inputs.micro_grids,
            r.micro_grid_min,
            "微网格",
        ),
    ] {
        for place in places.iter().filter(|p| p.count >= min) {
            // Every report after the first at the same place is a repeat.
            let pts = i64::from(place.count - 1) * r.penalty;
            add(
                kind,
                None,
                Some(place.code.as_str()),
                place.count,
                None,
                pts,
                format!("{zh} {} 重复报事 {} 次：{pts} 分", place.code, place.count),
            );
        }
    }

    let c = inputs.patrol;
    if c.expected > 0 {
        let missed = c.expected.saturating_sub(c.covered);
        let pts =
            points(rules.patrol.max_penalty as f64 * f64::from(missed) / f64::from(c.expected));
        add(
            ContributionKind::PatrolCoverage,
            None,
            None,
            c.covered.min(c.expected),
            Some(c.expected),
            pts,
            format!(
                "巡防覆盖 {}/{} 班次：{pts} 分",
                c.covered.min(c.expected),
                c.expected
            ),
        );
    }

    let f = inputs.freshness;
    if f.total > 0 {
        let total = f64::from(f.total);
        let pts = points(
            rules.freshness.red_max as f64 * f64::from(f.red) / total
                + rules.freshness.yellow_max as f64 * f64::from(f.yellow) / total,
        );
        add(
            ContributionKind::BuildingFreshness,
            None,
            None,
            f.red + f.yellow,
            Some(f.total),
            pts,
            format!(
                "楼宇档案待更新 {}/{} 幢（红码 {}、黄码 {}）：{pts} 分",
                f.red + f.yellow,
                f.total,
                f.red,
                f.yellow
            ),
        );
    }

    // Largest first, so the first lines explain most of the score; equal ones keep their order.
    out.sort_by_key(|c| std::cmp::Reverse(c.points));
    let score = out.iter().map(|c| c.points).sum();
    Scored {
        score,
        colour: colour_for(score, rules),
        contributions: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> HealthRules {
        HealthRules::defaults()
    }

    fn events(colour: Colour, count: u32) -> EventCount {
        EventCount {
            category: "environment.garbage".into(),
            source: "citizen".into(),
            colour,
            count,
        }
    }

    #[test]
    fn a_quiet_grid_is_green_with_nothing_to_explain() {
        let s = score(&Inputs::default(), &rules());
        assert_eq!(s.score, 0);
        assert_eq!(s.colour, HealthColour::Green);
        assert!(s.contributions.is_empty());
    }

    #[test]
    fn events_weigh_by_colour_category_and_source() {
        let mut r = rules();
        // 5 points a red event by default: 5 × 3.
        let s = score(
            &Inputs {
                events: vec![events(Colour::Red, 3)],
                ..Inputs::default()
            },
            &r,
        );
        assert_eq!(s.score, 45);
        assert_eq!(s.contributions[0].label, "红色事件 3 件：45 分");
        assert_eq!(s.contributions[0].colour.as_deref(), Some("red"));
        assert_eq!(s.contributions[0].count, 3);

        r.category_weights
            .insert("environment.garbage".into(), 10.0);
        r.source_weights.machine = 0.5;
        let mut machine = events(Colour::Blue, 4);
        machine.source = "machine".into();
        let s = score(
            &Inputs {
                events: vec![events(Colour::Blue, 1), machine],
                ..Inputs::default()
            },
            &r,
        );
        // 10 × 1 × 1 + 4 × 10 × 0.5 × 1 = 30, in one line for the colour.
        assert_eq!(s.score, 30);
        assert_eq!(s.contributions.len(), 1);
        assert_eq!(s.contributions[0].count, 5);
        // An unknown category takes the `*` weight.
        let mut other = events(Colour::Blue, 2);
        other.category = "nowhere.listed".into();
        let s = score(
            &Inputs {
                events: vec![other],
                ..Inputs::default()
            },
            &rules(),
        );
        assert_eq!(s.score, 10);
    }

    #[test]
    fn each_penalty_counts_and_says_what_it_counts() {
        let s = score(
            &Inputs {
                overdue_tasks: 2,
                yellow_lights: 1,
                red_lights: 1,
                escalations: 2,
                ..Inputs::default()
            },
            &rules(),
        );
        let labels: Vec<&str> = s.contributions.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "超时未办任务 2 件：20 分",
                "红灯督办 1 件：10 分",
                "升级督办 2 件：10 分",
                "黄灯督办 1 件：5 分",
            ]
        );
        assert_eq!(s.score, 45);
    }

    #[test]
    fn repeats_count_only_at_places_over_the_minimum() {
        let s = score(
            &Inputs {
                buildings: vec![
                    PlaceCount {
                        code: "B1".into(),
                        count: 4,
                    },
                    PlaceCount {
                        code: "B2".into(),
                        count: 2,
                    },
                ],
                micro_grids: vec![PlaceCount {
                    code: "G1-01".into(),
                    count: 5,
                }],
                ..Inputs::default()
            },
            &rules(),
        );
        // Defaults: buildings from 3 reports, micro-grids from 5; 10 points a repeat.
        assert_eq!(s.contributions.len(), 2);
        assert_eq!(
            s.contributions[0].label,
            "微网格 G1-01 重复报事 5 次：40 分"
        );
        assert_eq!(s.contributions[1].label, "楼幢 B1 重复报事 4 次：30 分");
        assert_eq!(s.contributions[1].place.as_deref(), Some("B1"));
        assert_eq!(s.score, 70);
    }

    #[test]
    fn patrol_coverage_and_freshness_score_their_shares() {
        let s = score(
            &Inputs {
                patrol: Coverage {
                    expected: 10,
                    covered: 3,
                },
                freshness: Freshness {
                    total: 10,
                    yellow: 2,
                    red: 3,
                },
                ..Inputs::default()
            },
            &rules(),
        );
        // 20 × 7/10 = 14; 20 × 3/10 + 10 × 2/10 = 8.
        let labels: Vec<&str> = s.contributions.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "巡防覆盖 3/10 班次：14 分",
                "楼宇档案待更新 5/10 幢（红码 3、黄码 2）：8 分"
            ]
        );
        // Nothing due, nothing built: no line, no division by zero.
        let s = score(
            &Inputs {
                patrol: Coverage {
                    expected: 0,
                    covered: 2,
                },
                ..Inputs::default()
            },
            &rules(),
        );
        assert!(s.contributions.is_empty());
        // More covered than due (a route shortened its windows) is full coverage, never negative.
        let s = score(
            &Inputs {
                patrol: Coverage {
                    expected: 2,
                    covered: 5,
                },
                ..Inputs::default()
            },
            &rules(),
        );
        assert_eq!(s.score, 0);
    }

    #[test]
    fn thresholds_give_five_colours_each_from_its_own_value() {
        let r = rules();
        let t = r.thresholds.clone();
        assert_eq!(colour_for(0, &r), HealthColour::Green);
        assert_eq!(colour_for(t.blue - 1, &r), HealthColour::Green);
        assert_eq!(colour_for(t.blue, &r), HealthColour::Blue);
        assert_eq!(colour_for(t.yellow - 1, &r), HealthColour::Blue);
        assert_eq!(colour_for(t.yellow, &r), HealthColour::Yellow);
        assert_eq!(colour_for(t.orange, &r), HealthColour::Orange);
        assert_eq!(colour_for(t.red - 1, &r), HealthColour::Orange);
        assert_eq!(colour_for(t.red, &r), HealthColour::Red);
        assert_eq!(colour_for(i64::MAX, &r), HealthColour::Red);
    }

    #[test]
    fn colours_round_trip_and_an_unknown_one_is_corrupt() {
        for c in HealthColour::ALL {
            assert_eq!(HealthColour::parse(c.as_str()).ok(), Some(c));
        }
        assert!(HealthColour::parse("purple").is_err());
        assert!(HealthColour::Red > HealthColour::Green);
    }
}
