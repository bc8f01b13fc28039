//! The rules a street judges its grids by, kept as data: one JSON document per street in
//! `health_rules`, the street's own row winning over the defaults under `*`
//! ([`crate::street_rules`]). Admins read and replace them over the API; every document is
//! checked whole before it is kept, and a stored one that no longer reads is a corrupt row.

use std::collections::BTreeMap;

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::colour::HealthColour;
use crate::entities::health_rules;
use crate::error::{ApiResult, FieldError};
use crate::events::catalogue::Colour;
use crate::street_rules;

/// The longest rolling window, in days.
pub const MAX_WINDOW_DAYS: u32 = 365;
/// The largest weight or multiplier.
pub const MAX_WEIGHT: f64 = 100.0;
/// The largest penalty or threshold, in points.
pub const MAX_POINTS: i64 = 100_000;

/// Multipliers of an event's weight by its colour (blue 一般 … red 特别重大).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ColourMultipliers {
    #[schema(minimum = 0, maximum = 100)]
    pub blue: f64,
    #[schema(minimum = 0, maximum = 100)]
    pub yellow: f64,
    #[schema(minimum = 0, maximum = 100)]
    pub orange: f64,
    #[schema(minimum = 0, maximum = 100)]
    pub red: f64,
}

impl ColourMultipliers {
    pub fn of(&self, c: Colour) -> f64 {
        match c {
            Colour::Blue => self.blue,
            Colour::Yellow => self.yellow,
            Colour::Orange => self.orange,
            Colour::Red => self.red,
        }
    }
}

/// Multipliers of an event's weight by its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceWeights {
    /// 民呼我为: citizens' reports.
    #[schema(minimum = 0, maximum = 100)]
    pub citizen: f64,
    /// Grid workers' and team members' own findings.
    #[schema(minimum = 0, maximum = 100)]
    pub patrol: f64,
    /// Entered by the command centre (12345 hotline, walk-ins).
    #[schema(minimum = 0, maximum = 100)]
    pub hotline: f64,
    /// Sensors, camera AI, the 110 platform.
    #[schema(minimum = 0, maximum = 100)]
    pub machine: f64,
}

/// Points for each task past a deadline, light and escalation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Penalties {
    /// Each open task with a missed deadline.
    #[schema(minimum = 0, maximum = 100000)]
    pub overdue_task: i64,
    /// Each task of the window lit yellow (亮黄灯).
    #[schema(minimum = 0, maximum = 100000)]
    pub yellow_light: i64,
    /// Each task of the window lit red (亮红灯).
    #[schema(minimum = 0, maximum = 100000)]
    pub red_light: i64,
    /// Each task of the window escalated up the tree.
    #[schema(minimum = 0, maximum = 100000)]
    pub escalation: i64,
}

/// Repeated reports at one place: from `*_min` reports on, each after the first scores `penalty`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Repeats {
    #[schema(minimum = 2, maximum = 1000)]
    pub building_min: u32,
    #[schema(minimum = 2, maximum = 1000)]
    pub micro_grid_min: u32,
    #[schema(minimum = 0, maximum = 100000)]
    pub penalty: i64,
}

/// Patrol coverage: the points when no occurrence due was walked, in proportion below that.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatrolRule {
    #[schema(minimum = 0, maximum = 100000)]
    pub max_penalty: i64,
}

/// Building freshness: the points when every profile is red (or yellow), in proportion below.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreshnessRule {
    #[schema(minimum = 0, maximum = 100000)]
    pub red_max: i64,
    #[schema(minimum = 0, maximum = 100000)]
    pub yellow_max: i64,
}

/// The lowest score of each colour but green; strictly increasing, blue < yellow < orange < red.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    #[schema(minimum = 1, maximum = 100000)]
    pub blue: i64,
    #[schema(minimum = 1, maximum = 100000)]
    pub yellow: i64,
    #[schema(minimum = 1, maximum = 100000)]
    pub orange: i64,
    #[schema(minimum = 1, maximum = 100000)]
    pub red: i64,
}

/// What a colour asks of the street: how much more often the grid is patrolled, and how many
/// people it should have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// Patrol frequency multiplier, 0.1–10.
    #[schema(minimum = 0.1, maximum = 10)]
    pub patrol_multiplier: f64,
    /// Recommended staffing (people on the grid), 0–100.
    #[schema(minimum = 0, maximum = 100)]
    pub staffing: u32,
    /// What to do, in Chinese.
    #[schema(max_length = 200)]
    pub advice: String,
}

/// The response level of each colour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Responses {
    pub green: Response,
    pub blue: Response,
    pub yellow: Response,
    pub orange: Response,
    pub red: Response,
}

impl Responses {
    pub fn of(&self, c: HealthColour) -> &Response {
        match c {
            HealthColour::Green => &self.green,
            HealthColour::Blue => &self.blue,
            HealthColour::Yellow => &self.yellow,
            HealthColour::Orange => &self.orange,
            HealthColour::Red => &self.red,
        }
    }
}

/// A street's health rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthRules {
    /// The rolling window the score covers, 1–365 days.
    #[schema(minimum = 1, maximum = 365)]
    pub window_days: u32,
    /// Weight of an event by category code (0–100); `*` (required) for every category not
    /// named. Codes must be in the catalogue (GET /api/v1/categories).
    #[schema(example = json!({"*": 5.0, "safety.fire_risk": 8.0}))]
    pub category_weights: BTreeMap<String, f64>,
    pub source_weights: SourceWeights,
    pub colour_multipliers: ColourMultipliers,
    pub penalties: Penalties,
    pub repeats: Repeats,
    pub patrol: PatrolRule,
    pub freshness: FreshnessRule,
    pub thresholds: Thresholds,
    pub responses: Responses,
}

impl HealthRules {
    /// The rules a new deployment starts with (also seeded by the migration under `*`).
    pub fn defaults() -> Self {
        let response = |m: f64, staffing: u32, advice: &str| Response {
            patrol_multiplier: m,
            staffing,
            advice: advice.to_owned(),
        };
        Self {
            window_days: 30,
            category_weights: BTreeMap::from([("*".to_owned(), 5.0)]),
            source_weights: SourceWeights {
                citizen: 1.0,
                patrol: 1.0,
                hotline: 1.0,
                machine: 1.0,
            },
            colour_multipliers: ColourMultipliers {
                blue: 1.0,
                yellow: 1.5,
                orange: 2.0,
                red: 3.0,
            },
            penalties: Penalties {
                overdue_task: 10,
                yellow_light: 5,
                red_light: 10,
                escalation: 5,
            },
            repeats: Repeats {
                building_min: 3,
                micro_grid_min: 5,
                penalty: 10,
            },
            patrol: PatrolRule { max_penalty: 20 },
            freshness: FreshnessRule {
                red_max: 20,
                yellow_max: 10,
            },
            thresholds: Thresholds {
                blue: 30,
                yellow: 60,
                orange: 100,
                red: 150,
            },
            responses: Responses {
                green: response(1.0, 1, "常态巡查"),
                blue: response(1.0, 1, "常态巡查，关注新增事件"),
                yellow: response(1.5, 2, "加密巡查，每日研判"),
                orange: response(2.0, 3, "加派力量，街道跟踪督办"),
                red: response(3.0, 4, "重点管控，街道领导包干"),
            },
        }
    }

    /// The weight of an event of `category`: its own, else `*`.
    pub fn category_weight(&self, category: &str) -> f64 {
        self.category_weights
            .get(category)
            .or_else(|| self.category_weights.get("*"))
            .copied()
            .unwrap_or(1.0)
    }

    /// The weight of an event from `source` (as stored); 1 for a source this version does not
    /// weigh.
    pub fn source_weight(&self, source: &str) -> f64 {
        let w = &self.source_weights;
        match source {
            "citizen" => w.citizen,
            "patrol" => w.patrol,
            "hotline" => w.hotline,
            "machine" => w.machine,
            _ => 1.0,
        }
    }

    /// Every rule broken, by field; `categories` are the catalogue's codes.
    pub fn check(&self, categories: &[String]) -> Vec<FieldError> {
        let mut e = Vec::new();
        if !(1..=MAX_WINDOW_DAYS).contains(&self.window_days) {
            e.push(FieldError::new("window_days", "range", "1 to 365 days"));
        }
        let weight_ok = |w: f64| w.is_finite() && (0.0..=MAX_WEIGHT).contains(&w);
        if !self.category_weights.contains_key("*") {
            e.push(FieldError::new(
                "category_weights.*",
                "required",
                "the weight of every category not named (`*`) is required",
            ));
        }
        for (code, w) in &self.category_weights {
            let field = format!("category_weights.{code}");
            if code != "*" && !categories.contains(code) {
                e.push(FieldError::new(
                    field.clone(),
                    "unknown_category",
                    format!("{code} is not in the catalogue"),
                ));
            }
            if !weight_ok(*w) {
                e.push(FieldError::new(field, "range", "0 to 100"));
            }
        }
        let s = &self.source_weights;
        for (name, v) in [
            ("citizen", s.citizen),
            ("patrol", s.patrol),
            ("hotline", s.hotline),
            ("machine", s.machine),
        ] {
            if !weight_ok(v) {
                e.push(FieldError::new(
                    format!("source_weights.{name}"),
                    "range",
                    "0 to 100",
                ));
            }
        }
        let m = &self.colour_multipliers;
        for (name, v) in [
            ("blue", m.blue),
            ("yellow", m.yellow),
            ("orange", m.orange),
            ("red", m.red),
        ] {
            if !weight_ok(v) {
                e.push(FieldError::new(
                    format!("colour_multipliers.{name}"),
                    "range",
                    "0 to 100",
                ));
            }
        }
        let points_ok = |p: i64| (0..=MAX_POINTS).contains(&p);
        let p = &self.penalties;
        for (field, v) in [
            ("penalties.overdue_task", p.overdue_task),
            ("penalties.yellow_light", p.yellow_light),
            ("penalties.red_light", p.red_light),
            ("penalties.escalation", p.escalation),
            ("repeats.penalty", self.repeats.penalty),
            ("patrol.max_penalty", self.patrol.max_penalty),
            ("freshness.red_max", self.freshness.red_max),
            ("freshness.yellow_max", self.freshness.yellow_max),
        ] {
            if !points_ok(v) {
                e.push(FieldError::new(field, "range", "0 to 100000 points"));
            }
        }
        for (field, v) in [
            ("repeats.building_min", self.repeats.building_min),
            ("repeats.micro_grid_min", self.repeats.micro_grid_min),
        ] {
            if !(2..=1000).contains(&v) {
                e.push(FieldError::new(field, "range", "2 to 1000 reports"));
            }
        }
        let t = &self.thresholds;
        let mut below = 0;
        for (name, v) in [
            ("blue", t.blue),
            ("yellow", t.yellow),
            ("orange", t.orange),
            ("red", t.red),
        ] {
            let field = format!("thresholds.{name}");
            if !(1..=MAX_POINTS).contains(&v) {
                e.push(FieldError::new(field, "range", "1 to 100000 points"));
            } else if v <= below {
                e.push(FieldError::new(
                    field,
                    "increasing",
                    "must be above the colour before it (blue < yellow < orange < red)",
                ));
            }
            below = below.max(v);
        }
        for c in HealthColour::ALL {
            let r = self.responses.of(c);
            let at = |f: &str| format!("responses.{}.{f}", c.as_str());
            if !(r.patrol_multiplier.is_finite() && (0.1..=10.0).contains(&r.patrol_multiplier)) {
                e.push(FieldError::new(
                    at("patrol_multiplier"),
                    "range",
                    "0.1 to 10",
                ));
            }
            if r.staffing > 100 {
                e.push(FieldError::new(at("staffing"), "range", "0 to 100 people"));
            }
            if r.advice.chars().count() > 200 {
                e.push(FieldError::new(
                    at("advice"),
                    "max_length",
                    "at most 200 characters",
                ));
            }
        }
        e
    }
}

/// A street's rules and where they come from.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StreetRules {
    /// The street asked about, or `*`.
    pub street: String,
    /// The row the rules were read from: the street's own, or `*` (the defaults).
    pub from: String,
    pub rules: HealthRules,
}

/// The rules that decide for `street` (None: the defaults), with the row they come from.
pub async fn for_street(
    db: &impl ConnectionTrait,
    street: Option<&str>,
) -> ApiResult<(String, HealthRules)> {
    let rows = health_rules::Entity::find()
        .filter(health_rules::Column::StreetCode.is_in(street_rules::candidates(street)))
        .all(db)
        .await?;
    match street_rules::own_or_default(&rows, street, |r| r.street_code.as_str()) {
        Some(row) => Ok((
            row.street_code.clone(),
            crate::stored::json("health rules", &row.rules)?,
        )),
        // The migration seeds `*`; a deployment that deleted it still scores by the built-in
        // defaults rather than refusing every grid.
        None => Ok((
            street_rules::DEFAULT_STREET.to_owned(),
            HealthRules::defaults(),
        )),
    }
}

/// Every street's rules as stored, so a full recompute reads them once.
pub async fn all(db: &impl ConnectionTrait) -> ApiResult<BTreeMap<String, HealthRules>> {
    let mut out = BTreeMap::new();
    for row in health_rules::Entity::find().all(db).await? {
        out.insert(
            row.street_code.clone(),
            crate::stored::json("health rules", &row.rules)?,
        );
    }
    Ok(out)
}

/// The rules for `street` out of [`all`].
pub fn pick<'a>(all: &'a BTreeMap<String, HealthRules>, street: &str) -> Option<&'a HealthRules> {
    all.get(street)
        .or_else(|| all.get(street_rules::DEFAULT_STREET))
}

/// Keeps `rules` (already checked) as `street`'s own, or as the defaults under `*`.
pub async fn put(db: &impl ConnectionTrait, street: &str, rules: &HealthRules) -> ApiResult<()> {
    let row = health_rules::ActiveModel {
        street_code: Set(street.to_owned()),
        rules: Set(serde_json::to_string(rules).map_err(anyhow::Error::from)?),
        updated_at: Set(Utc::now()),
    };
    health_rules::Entity::insert(row)
        .on_conflict(
            OnConflict::column(health_rules::Column::StreetCode)
                .update_columns([health_rules::Column::Rules, health_rules::Column::UpdatedAt])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(r: &HealthRules) -> Vec<String> {
        r.check(&["environment.garbage".to_owned()])
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn the_seeded_defaults_are_the_built_in_ones() {
        let seeded = serde_json::from_str::<HealthRules>(migrations::DEFAULT_HEALTH_RULES).ok();
        assert_eq!(seeded, Some(HealthRules::defaults()));
    }

    #[test]
    fn the_defaults_pass_their_own_check() {
        assert!(fields(&HealthRules::defaults()).is_empty());
    }

    #[test]
    fn every_broken_rule_is_named_by_its_field() {
        let mut r = HealthRules::defaults();
        r.window_days = 0;
        r.category_weights.remove("*");
        r.category_weights.insert("no.such".into(), 1.0);
        r.source_weights.machine = 101.0;
        r.colour_multipliers.red = f64::NAN;
        r.penalties.escalation = -1;
        r.repeats.building_min = 1;
        r.thresholds.orange = r.thresholds.yellow;
        r.responses.red.patrol_multiplier = 0.0;
        assert_eq!(
            fields(&r),
            [
                "window_days",
                "category_weights.*",
                "category_weights.no.such",
                "source_weights.machine",
                "colour_multipliers.red",
                "penalties.escalation",
                "repeats.building_min",
                "thresholds.orange",
                "responses.red.patrol_multiplier",
            ]
        );
    }

    #[test]
    fn weights_fall_back_to_star_and_one() {
        let mut r = HealthRules::defaults();
        r.category_weights.insert("environment.garbage".into(), 9.0);
        r.source_weights.machine = 0.5;
        assert!((r.category_weight("environment.garbage") - 9.0).abs() < 1e-9);
        assert!((r.category_weight("other") - 5.0).abs() < 1e-9);
        assert!((r.source_weight("machine") - 0.5).abs() < 1e-9);
        assert!((r.source_weight("pigeon") - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_streets_rules_win_over_the_defaults() {
        let mut all = BTreeMap::new();
        all.insert("*".to_owned(), HealthRules::defaults());
        let mut own = HealthRules::defaults();
        own.window_days = 7;
        all.insert("QSH".to_owned(), own);
        assert_eq!(pick(&all, "QSH").map(|r| r.window_days), Some(7));
        assert_eq!(pick(&all, "XF").map(|r| r.window_days), Some(30));
    }
}
