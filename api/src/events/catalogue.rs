//! Policy data of the loop: the category catalogue (what a problem is, its default colour and who
//! handles it, the points a valid report earns) and the deadlines of each colour per street.
//! Both are rows an admin edits, seeded with defaults on first start; code never hard-wires them.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::entities::{categories, deadline_policies};
use crate::error::{ApiError, ApiResult};
use crate::stored::Corrupt;

/// 四色: the colour sets the deadlines and the rank of who must handle it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Colour {
    /// 一般
    Blue,
    /// 较大
    Yellow,
    /// 重大
    Orange,
    /// 特别重大
    Red,
}

impl Colour {
    pub const ALL: [Colour; 4] = [Colour::Blue, Colour::Yellow, Colour::Orange, Colour::Red];

    pub fn as_str(self) -> &'static str {
        match self {
            Colour::Blue => "blue",
            Colour::Yellow => "yellow",
            Colour::Orange => "orange",
            Colour::Red => "red",
        }
    }

    /// A stored colour; an unknown one is a corrupt row.
    pub fn parse(s: &str) -> Result<Colour, crate::stored::Corrupt> {
        crate::stored::lookup("colour", &Colour::ALL, Colour::as_str, s)
    }

    /// The colour's Chinese name, as labels and files show it.
    pub fn name_zh(self) -> &'static str {
        match self {
            Colour::Blue => "蓝色",
            Colour::Yellow => "黄色",
            Colour::Orange => "橙色",
            Colour::Red => "红色",
        }
    }
}

/// A category as the catalogue lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Category {
    #[schema(example = "dispute.neighbour")]
    pub code: String,
    #[schema(example = "邻里纠纷")]
    pub name_zh: String,
    pub name_en: String,
    pub colour: Colour,
    /// `grid`, or the kind of team that takes it: `mediation`, `enforcement`, `fire_station`.
    pub handler: String,
    /// Points a completed, valid report of this category earns its reporter.
    pub points: i32,
}

impl TryFrom<categories::Model> for Category {
    type Error = Corrupt;

    fn try_from(c: categories::Model) -> Result<Self, Corrupt> {
        Ok(Self {
            colour: Colour::parse(&c.colour)?,
            code: c.code,
            name_zh: c.name_zh,
            name_en: c.name_en,
            handler: c.handler,
            points: c.points,
        })
    }
}

/// The catalogue a new deployment starts with: (code, 中文, English, colour, handler, points).
const DEFAULT_CATEGORIES: &[(&str, &str, &str, Colour, &str, i32)] = &[
    (
        "environment.garbage",
        "垃圾堆放",
        "Garbage dumping",
        Colour::Blue,
        "grid",
        5,
    ),
    (
        "environment.sewage",
        "污水外溢",
        "Sewage overflow",
        Colour::Yellow,
        "grid",
        5,
    ),
    (
        "road.damage",
        "道路破损",
        "Damaged road",
        Colour::Yellow,
        "grid",
        5,
    ),
    (
        "facility.streetlight",
        "路灯损坏",
        "Broken street light",
        Colour::Blue,
        "grid",
        3,
    ),
    (
        "safety.hazard",
        "安全隐患",
        "Safety hazard",
        Colour::Orange,
        "grid",
        10,
    ),
    (
        "safety.fire_risk",
        "消防隐患",
        "Fire risk",
        Colour::Red,
        "fire_station",
        10,
    ),
    (
        "dispute.neighbour",
        "邻里纠纷",
        "Neighbour dispute",
        Colour::Yellow,
        "mediation",
        5,
    ),
    (
        "dispute.family",
        "家庭纠纷",
        "Family dispute",
        Colour::Yellow,
        "mediation",
        5,
    ),
    (
        "dispute.labour",
        "劳资纠纷",
        "Labour dispute",
        Colour::Orange,
        "mediation",
        5,
    ),
    (
        "city.illegal_building",
        "违章搭建",
        "Illegal building",
        Colour::Yellow,
        "enforcement",
        5,
    ),
    (
        "city.street_vending",
        "占道经营",
        "Street vending",
        Colour::Blue,
        "enforcement",
        3,
    ),
    ("other", "其他", "Other", Colour::Blue, "grid", 2),
];

/// The street code of the policies that apply where a street has none of its own.
pub use crate::street_rules::DEFAULT_STREET;

/// Deadlines in seconds: accept and dispatch count from the report (the command centre's part,
/// "135"), sign, arrive and handle from the dispatch (the grid's part, "1510"). None: no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Limits {
    pub accept_secs: Option<i32>,
    pub dispatch_secs: Option<i32>,
    pub sign_secs: Option<i32>,
    pub arrive_secs: Option<i32>,
    pub handle_secs: Option<i32>,
}

const MIN: i32 = 60;
const HOUR: i32 = 3600;

/// "1510" for orange and red; longer for blue and yellow.
fn default_limits(c: Colour) -> Limits {
    match c {
        Colour::Red | Colour::Orange => Limits {
            accept_secs: Some(MIN),
            dispatch_secs: Some(3 * MIN),
            sign_secs: Some(MIN),
            arrive_secs: Some(5 * MIN),
            handle_secs: Some(10 * MIN),
        },
        Colour::Yellow => Limits {
            accept_secs: Some(10 * MIN),
            dispatch_secs: Some(30 * MIN),
            sign_secs: Some(30 * MIN),
            arrive_secs: Some(2 * HOUR),
            handle_secs: Some(24 * HOUR),
        },
        Colour::Blue => Limits {
            accept_secs: Some(HOUR),
            dispatch_secs: Some(2 * HOUR),
            sign_secs: Some(2 * HOUR),
            arrive_secs: Some(24 * HOUR),
            handle_secs: Some(72 * HOUR),
        },
    }
}

/// Inserts the default catalogue and policies where they are missing; edits stay.
pub async fn ensure_defaults(db: &impl ConnectionTrait) -> ApiResult<()> {
    let now = Utc::now();
    categories::Entity::insert_many(DEFAULT_CATEGORIES.iter().map(
        |&(code, zh, en, colour, handler, points)| categories::ActiveModel {
            id: Set(Uuid::now_v7()),
            code: Set(code.to_owned()),
            name_zh: Set(zh.to_owned()),
            name_en: Set(en.to_owned()),
            colour: Set(colour.as_str().to_owned()),
            handler: Set(handler.to_owned()),
            points: Set(points),
            created_at: Set(now),
        },
    ))
    .on_conflict_do_nothing_on([categories::Column::Code])
    .exec(db)
    .await?;
    deadline_policies::Entity::insert_many(
        Colour::ALL.map(|c| policy_row(DEFAULT_STREET, c, default_limits(c), now)),
    )
    .on_conflict_do_nothing_on([
        deadline_policies::Column::StreetCode,
        deadline_policies::Column::Colour,
    ])
    .exec(db)
    .await?;
    Ok(())
}

fn policy_row(
    street: &str,
    c: Colour,
    l: Limits,
    now: DateTime<Utc>,
) -> deadline_policies::ActiveModel {
    deadline_policies::ActiveModel {
        street_code: Set(street.to_owned()),
        colour: Set(c.as_str().to_owned()),
        accept_secs: Set(l.accept_secs),
        dispatch_secs: Set(l.dispatch_secs),
        sign_secs: Set(l.sign_secs),
        arrive_secs: Set(l.arrive_secs),
        handle_secs: Set(l.handle_secs),
        updated_at: Set(now),
    }
}

/// The whole catalogue, by code.
pub async fn categories(db: &impl ConnectionTrait) -> ApiResult<Vec<Category>> {
    Ok(categories::Entity::find()
        .order_by_asc(categories::Column::Code)
        .all(db)
        .await?
        .into_iter()
        .map(Category::try_from)
        .collect::<Result<_, _>>()?)
}

/// One category; a 422 naming `field` when there is none.
pub async fn category(db: &impl ConnectionTrait, code: &str, field: &str) -> ApiResult<Category> {
    categories::Entity::find()
        .filter(categories::Column::Code.eq(code))
        .one(db)
        .await?
        .map(Category::try_from)
        .transpose()?
        .ok_or_else(|| ApiError::invalid(field, "unknown_category", format!("no category {code}")))
}

/// Adds or changes a category.
pub async fn put_category(db: &impl ConnectionTrait, c: &Category) -> ApiResult<Category> {
    categories::Entity::insert(categories::ActiveModel {
        id: Set(Uuid::now_v7()),
        code: Set(c.code.clone()),
        name_zh: Set(c.name_zh.clone()),
        name_en: Set(c.name_en.clone()),
        colour: Set(c.colour.as_str().to_owned()),
        handler: Set(c.handler.clone()),
        points: Set(c.points),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(categories::Column::Code)
            .update_columns([
                categories::Column::NameZh,
                categories::Column::NameEn,
                categories::Column::Colour,
                categories::Column::Handler,
                categories::Column::Points,
            ])
            .to_owned(),
    )
    .exec(db)
    .await?;
    category(db, &c.code, "code").await
}

/// A street's deadlines for a colour, as stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Policy {
    /// `*` for the defaults of every street without its own.
    pub street_code: String,
    pub colour: Colour,
    #[serde(flatten)]
    pub limits: Limits,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<deadline_policies::Model> for Policy {
    type Error = Corrupt;

    fn try_from(p: deadline_policies::Model) -> Result<Self, Corrupt> {
        Ok(Self {
            colour: Colour::parse(&p.colour)?,
            limits: Limits {
                accept_secs: p.accept_secs,
                dispatch_secs: p.dispatch_secs,
                sign_secs: p.sign_secs,
                arrive_secs: p.arrive_secs,
                handle_secs: p.handle_secs,
            },
            street_code: p.street_code,
            updated_at: p.updated_at,
        })
    }
}

/// Every stored policy.
pub async fn policies(db: &impl ConnectionTrait) -> ApiResult<Vec<Policy>> {
    Ok(deadline_policies::Entity::find()
        .order_by_asc(deadline_policies::Column::StreetCode)
        .order_by_asc(deadline_policies::Column::Colour)
        .all(db)
        .await?
        .into_iter()
        .map(Policy::try_from)
        .collect::<Result<_, _>>()?)
}

/// Sets a street's deadlines for a colour.
pub async fn put_policy(
    db: &impl ConnectionTrait,
    street: &str,
    colour: Colour,
    limits: Limits,
) -> ApiResult<Policy> {
    deadline_policies::Entity::insert(policy_row(street, colour, limits, Utc::now()))
        .on_conflict(
            OnConflict::columns([
                deadline_policies::Column::StreetCode,
                deadline_policies::Column::Colour,
            ])
            .update_columns([
                deadline_policies::Column::AcceptSecs,
                deadline_policies::Column::DispatchSecs,
                deadline_policies::Column::SignSecs,
                deadline_policies::Column::ArriveSecs,
                deadline_policies::Column::HandleSecs,
                deadline_policies::Column::UpdatedAt,
            ])
            .to_owned(),
        )
        .exec(db)
        .await?;
    limits_for(db, Some(street), colour).await
}

/// The one rule for which deadlines apply: the street's own policy for the colour, else the
/// stored defaults (`*`), else the built-in defaults.
fn pick(policies: &[Policy], street: Option<&str>, colour: Colour) -> Policy {
    let of = |s: &str| {
        policies
            .iter()
            .find(|p| p.street_code == s && p.colour == colour)
    };
    street
        .and_then(of)
        .or_else(|| of(DEFAULT_STREET))
        .cloned()
        .unwrap_or(Policy {
            street_code: DEFAULT_STREET.to_owned(),
            colour,
            limits: default_limits(colour),
            updated_at: Utc::now(),
        })
}

/// The policy that applies to a street and colour, read now.
pub async fn limits_for(
    db: &impl ConnectionTrait,
    street: Option<&str>,
    colour: Colour,
) -> ApiResult<Policy> {
    Ok(pick(&policies(db).await?, street, colour))
}

/// How long an instance trusts its copy of the catalogue and policies: the bound on how long an
/// admin's change made through another instance takes to be seen here.
pub const REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// Categories and policies as one instance last read them, for the hot path (every report reads
/// its category and its deadlines).
pub struct Snapshot {
    categories: std::collections::HashMap<String, Category>,
    policies: Vec<Policy>,
}

impl Snapshot {
    /// One category; a 422 naming `field` when there is none.
    pub fn category(&self, code: &str, field: &str) -> ApiResult<Category> {
        self.categories.get(code).cloned().ok_or_else(|| {
            ApiError::invalid(field, "unknown_category", format!("no category {code}"))
        })
    }

    /// Every category's Chinese name by its code.
    pub fn names_zh(&self) -> std::collections::HashMap<String, String> {
        self.categories
            .iter()
            .map(|(code, c)| (code.clone(), c.name_zh.clone()))
            .collect()
    }

    /// The deadlines for a street and colour.
    pub fn limits(&self, street: Option<&str>, colour: Colour) -> Limits {
        pick(&self.policies, street, colour).limits
    }
}

/// The shared copy, refreshed when older than [`REFRESH`] or when this instance changed it.
#[derive(Default)]
pub struct Cached {
    current: std::sync::RwLock<Option<(std::time::Instant, std::sync::Arc<Snapshot>)>>,
}

impl Cached {
    pub async fn get(&self, db: &impl ConnectionTrait) -> ApiResult<std::sync::Arc<Snapshot>> {
        let fresh = match self.current.read() {
            Ok(g) => g
                .as_ref()
                .filter(|(at, _)| at.elapsed() < REFRESH)
                .map(|(_, s)| s.clone()),
            Err(p) => p
                .into_inner()
                .as_ref()
                .filter(|(at, _)| at.elapsed() < REFRESH)
                .map(|(_, s)| s.clone()),
        };
        if let Some(s) = fresh {
            return Ok(s);
        }
        let snapshot = std::sync::Arc::new(Snapshot {
            categories: categories(db)
                .await?
                .into_iter()
                .map(|c| (c.code.clone(), c))
                .collect(),
            policies: policies(db).await?,
        });
        let next = Some((std::time::Instant::now(), snapshot.clone()));
        match self.current.write() {
            Ok(mut g) => *g = next,
            Err(p) => *p.into_inner() = next,
        }
        Ok(snapshot)
    }

    /// Forgets the copy, after this instance changed a category or policy.
    pub fn invalidate(&self) {
        match self.current.write() {
            Ok(mut g) => *g = None,
            Err(p) => *p.into_inner() = None,
        }
    }
}

/// A task's deadlines, counted from its dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dues {
    pub sign: Option<DateTime<Utc>>,
    pub arrive: Option<DateTime<Utc>>,
    pub handle: Option<DateTime<Utc>>,
}

impl Limits {
    pub fn dues_from(&self, dispatched: DateTime<Utc>) -> Dues {
        let at = |s: Option<i32>| s.map(|s| dispatched + Duration::seconds(i64::from(s)));
        Dues {
            sign: at(self.sign_secs),
            arrive: at(self.arrive_secs),
            handle: at(self.handle_secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orange_and_red_follow_1510() {
        for c in [Colour::Orange, Colour::Red] {
            let l = default_limits(c);
            assert_eq!(
                (l.sign_secs, l.arrive_secs, l.handle_secs),
                (Some(60), Some(300), Some(600))
            );
        }
        let t0 = Utc::now();
        let d = default_limits(Colour::Red).dues_from(t0);
        assert_eq!(d.arrive, Some(t0 + Duration::minutes(5)));
        assert!(
            default_limits(Colour::Blue).handle_secs > default_limits(Colour::Yellow).handle_secs
        );
    }
}
