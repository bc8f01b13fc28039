//! Keeping and reading grids' health: one row per grid per Asia/Shanghai day (`area_health`,
//! the day's last figures), `areas.health_colour` following the newest, and a live row for the
//! command centre when the colour changes, written in the same transaction (like a light).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::gather::{self, Scope};
use super::rules::{self, HealthRules, Response};
use super::score::{self, Contribution, HealthColour, Scored};
use crate::entities::{area_health, areas};
use crate::error::{ApiError, ApiResult};
use crate::live::outbox::{self, Entry};
use crate::pagination::{Page, PageRequest};
use crate::points::local_day;

/// The live row's kind when a grid's colour changes.
pub const KIND: &str = "area.health";

/// What a refresh found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refreshed {
    pub colour: HealthColour,
    /// The colour before, when the grid had one.
    pub previous: Option<HealthColour>,
    /// Whether a live row announces the change (the caller pokes the live side).
    pub announced: bool,
}

/// Counts, weighs and keeps `grid`'s health at `now` by `rules` (read from the row
/// `rules_from`), in one transaction with the colour and, when it changed, its live row.
pub async fn refresh(
    db: &DatabaseConnection,
    grid: &areas::Model,
    rules_from: &str,
    rules: &HealthRules,
    now: DateTime<Utc>,
) -> ApiResult<Refreshed> {
    let inputs = gather::inputs(db, &grid.code, rules.window_days, now).await?;
    let scored = score::score(&inputs, rules);
    let tx = crate::db::begin_write(db).await?;
    let r = keep(
        &tx,
        &[Weighed {
            grid,
            scored,
            rules_from,
            rules,
        }],
        now,
    )
    .await?;
    tx.commit().await?;
    r.into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("keeping one grid's health gave no result").into())
}

/// A grid's figures, weighed, to be kept.
struct Weighed<'a> {
    grid: &'a areas::Model,
    scored: Scored,
    rules_from: &'a str,
    rules: &'a HealthRules,
}

/// Writes grids' figures inside the caller's transaction: each grid's day row (all in one
/// statement), its colour, and a live row for each change. The colours are read once for all.
async fn keep(
    tx: &impl ConnectionTrait,
    weighed: &[Weighed<'_>],
    now: DateTime<Utc>,
) -> ApiResult<Vec<Refreshed>> {
    if weighed.is_empty() {
        return Ok(Vec::new());
    }
    let day = local_day(now).format("%Y-%m-%d").to_string();
    let mut rows = Vec::with_capacity(weighed.len());
    for w in weighed {
        rows.push(area_health::ActiveModel {
            id: Set(Uuid::now_v7()),
            area_code: Set(w.grid.code.clone()),
            day: Set(day.clone()),
            score: Set(w.scored.score),
            colour: Set(w.scored.colour.as_str().to_owned()),
            contributions: Set(
                serde_json::to_string(&w.scored.contributions).map_err(anyhow::Error::from)?
            ),
            rules_from: Set(w.rules_from.to_owned()),
            computed_at: Set(now),
        });
    }
    // The contributions and a row's worth of codes, numbers and times.
    for run in crate::db::by_size(rows, |r| 200 + r.contributions.as_ref().len()) {
        area_health::Entity::insert_many(run)
            .on_conflict(
                OnConflict::columns([area_health::Column::AreaCode, area_health::Column::Day])
                    .update_columns([
                        area_health::Column::Score,
                        area_health::Column::Colour,
                        area_health::Column::Contributions,
                        area_health::Column::RulesFrom,
                        area_health::Column::ComputedAt,
                    ])
                    .to_owned(),
            )
            .exec(tx)
            .await?;
    }
    // The colours as they stand inside this transaction, then a compare-and-set on each that
    // changed: of several instances refreshing one grid at once, one announces a change.
    let stored: HashMap<String, Option<String>> = areas::Entity::find()
        .select_only()
        .column(areas::Column::Code)
        .column(areas::Column::HealthColour)
        .filter(areas::Column::Code.is_in(weighed.iter().map(|w| w.grid.code.clone())))
        .into_tuple::<(String, Option<String>)>()
        .all(tx)
        .await?
        .into_iter()
        .collect();
    let mut out = Vec::with_capacity(weighed.len());
    for w in weighed {
        let (grid, scored) = (w.grid, &w.scored);
        let Some(stored) = stored.get(&grid.code) else {
            // The grid went with an import meanwhile: nothing to colour.
            out.push(Refreshed {
                colour: scored.colour,
                previous: None,
                announced: false,
            });
            continue;
        };
        let previous = stored.as_deref().map(HealthColour::parse).transpose()?;
        let mut announced = false;
        if previous != Some(scored.colour) {
            let mut cas = areas::Entity::update_many()
                .col_expr(
                    areas::Column::HealthColour,
                    Expr::value(scored.colour.as_str()),
                )
                .filter(areas::Column::Code.eq(&grid.code));
            cas = match stored {
                Some(s) => cas.filter(areas::Column::HealthColour.eq(s.clone())),
                None => cas.filter(areas::Column::HealthColour.is_null()),
            };
            let done = cas.exec(tx).await?;
            // A grid's first figures are no change to announce.
            if done.rows_affected == 1
                && let Some(before) = previous
            {
                outbox::record(
                    tx,
                    Entry {
                        event_id: grid.id,
                        kind: KIND,
                        // The command centre hears it, as it hears every row.
                        grid_code: None,
                        micro_grid_code: None,
                        team_code: None,
                        user_id: None,
                        street_code: Some(grid.street_code.clone()),
                        payload: serde_json::json!({
                            "area_code": grid.code,
                            "name": grid.name,
                            "street_code": grid.street_code,
                            "colour": scored.colour,
                            "previous": before,
                            "score": scored.score,
                            "response": w.rules.responses.of(scored.colour),
                        }),
                    },
                )
                .await?;
                announced = true;
            }
        }
        out.push(Refreshed {
            colour: scored.colour,
            previous,
            announced,
        });
    }
    Ok(out)
}

/// Refreshes the grid `code` by its street's rules; None when it is not a grid (any more).
pub async fn refresh_code(
    db: &DatabaseConnection,
    code: &str,
    now: DateTime<Utc>,
) -> ApiResult<Option<Refreshed>> {
    let Some(grid) = areas::Entity::find()
        .filter(areas::Column::Code.eq(code))
        .filter(areas::Column::Level.eq("grid"))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let (from, rules) = rules::for_street(db, Some(&grid.street_code)).await?;
    Ok(Some(refresh(db, &grid, &from, &rules, now).await?))
}

/// What a full recompute did.
#[derive(Debug, Clone, Copy, Default, Serialize, ToSchema)]
pub struct Recomputed {
    /// Grids whose figures were kept.
    pub grids: u64,
    /// Of those, grids whose colour changed (each announced live).
    pub changed: u64,
}

/// Grids written per transaction in a full pass: a commit per grid would make a street of
/// thousands wait on as many disk syncs, one for all would hold the writer for the whole pass.
const KEEP_BATCH: usize = 200;

/// Recomputes every grid (of `street`, or all): the nightly pass, and an admin's on demand.
/// Rules are read once; each street's grids are counted together (a handful of grouped
/// statements, [`gather::inputs_by_grid`]), then written a batch per transaction.
pub async fn refresh_all(
    db: &DatabaseConnection,
    street: Option<&str>,
    now: DateTime<Utc>,
) -> ApiResult<Recomputed> {
    let all_rules = rules::all(db).await?;
    let defaults = HealthRules::defaults();
    let mut q = areas::Entity::find()
        .filter(areas::Column::Level.eq("grid"))
        .order_by_asc(areas::Column::Code);
    if let Some(s) = street {
        q = q.filter(areas::Column::StreetCode.eq(s));
    }
    let grids = q.all(db).await?;
    let mut by_street: BTreeMap<&str, Vec<&areas::Model>> = BTreeMap::new();
    for g in &grids {
        by_street.entry(g.street_code.as_str()).or_default().push(g);
    }
    let mut done = Recomputed::default();
    for (street, grids) in by_street {
        let (from, rules) = match all_rules.get(street) {
            Some(r) => (street, r),
            None => (
                crate::street_rules::DEFAULT_STREET,
                rules::pick(&all_rules, street).unwrap_or(&defaults),
            ),
        };
        let mut inputs =
            gather::inputs_by_grid(db, Scope::Street(street), rules.window_days, now).await?;
        for batch in grids.chunks(KEEP_BATCH) {
            let weighed: Vec<Weighed<'_>> = batch
                .iter()
                .map(|grid| Weighed {
                    grid,
                    scored: score::score(&inputs.remove(&grid.code).unwrap_or_default(), rules),
                    rules_from: from,
                    rules,
                })
                .collect();
            let tx = crate::db::begin_write(db).await?;
            for r in keep(&tx, &weighed, now).await? {
                done.grids += 1;
                if r.announced {
                    done.changed += 1;
                }
            }
            tx.commit().await?;
        }
    }
    Ok(done)
}

/// A grid's health now, as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthView {
    pub area_code: String,
    pub area_name: String,
    pub street_code: String,
    /// Higher is less healthy.
    pub score: i64,
    pub colour: HealthColour,
    /// The colour in Chinese, e.g. `橙色`.
    pub colour_zh: String,
    /// What the colour asks of the street (the street's current rules).
    pub response: Response,
    /// What the score is made of, largest first.
    pub contributions: Vec<Contribution>,
    /// The Asia/Shanghai day of the figures, `YYYY-MM-DD`.
    pub day: String,
    pub computed_at: DateTime<Utc>,
    /// The rules' row the figures were weighed by: the street, or `*` (the defaults).
    pub rules_from: String,
    /// The rolling window, in days.
    pub window_days: u32,
}

/// The grid's newest figures; 404 when the area is not a grid or has none yet.
pub async fn current(db: &impl ConnectionTrait, grid: &areas::Model) -> ApiResult<HealthView> {
    if grid.level != "grid" {
        return Err(ApiError::invalid(
            "code",
            "invalid_value",
            format!("{} is a {}, not a grid", grid.code, grid.level),
        ));
    }
    let row = area_health::Entity::find()
        .filter(area_health::Column::AreaCode.eq(&grid.code))
        .order_by_desc(area_health::Column::Day)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("grid health"))?;
    let (_, rules) = rules::for_street(db, Some(&grid.street_code)).await?;
    let colour = HealthColour::parse(&row.colour)?;
    Ok(HealthView {
        area_code: grid.code.clone(),
        area_name: grid.name.clone(),
        street_code: grid.street_code.clone(),
        score: row.score,
        colour,
        colour_zh: colour.name_zh().to_owned(),
        response: rules.responses.of(colour).clone(),
        contributions: crate::stored::json("health contributions", &row.contributions)?,
        day: row.day,
        computed_at: row.computed_at,
        rules_from: row.rules_from,
        window_days: rules.window_days,
    })
}

/// One day of a grid's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryDay {
    /// `YYYY-MM-DD`, Asia/Shanghai.
    pub day: String,
    pub score: i64,
    pub colour: HealthColour,
}

/// The grid's days from `from` to `to` (both included), oldest first.
pub async fn history(
    db: &impl ConnectionTrait,
    grid: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> ApiResult<Vec<HistoryDay>> {
    let rows = area_health::Entity::find()
        .filter(area_health::Column::AreaCode.eq(grid))
        .filter(area_health::Column::Day.gte(from.format("%Y-%m-%d").to_string()))
        .filter(area_health::Column::Day.lte(to.format("%Y-%m-%d").to_string()))
        .order_by_asc(area_health::Column::Day)
        .all(db)
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(HistoryDay {
                colour: HealthColour::parse(&r.colour)?,
                day: r.day,
                score: r.score,
            })
        })
        .collect()
}

/// A grid on the map: its colour and score now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GridColour {
    pub code: String,
    pub name: String,
    pub parent_code: Option<String>,
    pub street_code: String,
    /// Absent until the grid's health is first computed.
    pub colour: Option<HealthColour>,
    pub score: Option<i64>,
    /// The day of the score.
    pub day: Option<String>,
}

/// Filters of the grid list.
#[derive(Debug, Default)]
pub struct GridFilter {
    pub street: Option<String>,
    pub colour: Option<HealthColour>,
    /// Only these grids (a grid worker's); None for all.
    pub only: Option<Vec<String>>,
}

/// Grids with their colours, in creation order, by cursor.
pub async fn grids(
    db: &impl ConnectionTrait,
    page: PageRequest,
    filter: GridFilter,
) -> ApiResult<Page<GridColour>> {
    let mut q = areas::Entity::find()
        .filter(areas::Column::Level.eq("grid"))
        .order_by_asc(areas::Column::Id);
    if let Some(s) = filter.street {
        q = q.filter(areas::Column::StreetCode.eq(s));
    }
    if let Some(c) = filter.colour {
        q = q.filter(areas::Column::HealthColour.eq(c.as_str()));
    }
    if let Some(only) = filter.only {
        q = q.filter(areas::Column::Code.is_in(only));
    }
    if let Some(after) = page.after {
        q = q.filter(areas::Column::Id.gt(after));
    }
    let rows = q.limit(page.fetch()).all(db).await?;
    let codes: Vec<String> = rows.iter().map(|r| r.code.clone()).collect();
    // The newest day of each: the nightly pass writes one a day, so two days back is enough.
    let since = (local_day(Utc::now()) - chrono::Duration::days(2))
        .format("%Y-%m-%d")
        .to_string();
    let mut newest = std::collections::HashMap::new();
    for h in area_health::Entity::find()
        .filter(area_health::Column::AreaCode.is_in(codes))
        .filter(area_health::Column::Day.gte(since))
        .order_by_asc(area_health::Column::Day)
        .all(db)
        .await?
    {
        newest.insert(h.area_code.clone(), h);
    }
    Ok(Page::from_rows(rows, &page, |r| r.id).try_map(|r| {
        let h = newest.remove(&r.code);
        Ok::<_, crate::stored::Corrupt>(GridColour {
            colour: r
                .health_colour
                .as_deref()
                .map(HealthColour::parse)
                .transpose()?,
            score: h.as_ref().map(|h| h.score),
            day: h.map(|h| h.day),
            code: r.code,
            name: r.name,
            parent_code: r.parent_code,
            street_code: r.street_code,
        })
    })?)
}

/// Recomputes the grids a change of `street`'s rules decides: the street's, or every grid for a
/// change of the defaults (`*`).
pub async fn after_rules_change(
    db: &DatabaseConnection,
    street: &str,
    now: DateTime<Utc>,
) -> ApiResult<Recomputed> {
    let street = (street != crate::street_rules::DEFAULT_STREET).then_some(street);
    refresh_all(db, street, now).await
}
