//! Who may rate a sorting account, and how often: the one place these rules live.
//!
//! - Nobody rates an account they hold, or one of a household they share: a rater who holds an
//!   account of the same building and unit, or who is registered as a resident of that unit.
//! - A household account belongs to a building (checked when it is opened). Its raters are the
//!   supervisors of that building's grid: a grid worker serving the building's micro-grid or an
//!   area above it, or a member of a team whose areas cover the building (the sorting point's
//!   team). A sorting station (an API key with `sorting:write`) is the sorting point itself and
//!   rates any account. An account without a building has no human rater.
//! - An account gets at most `sorting_limits.ratings_per_day` ratings per Asia/Shanghai day (its
//!   street's row, else `*`). A correction replaces one of the day's ratings instead of adding.

use std::collections::BTreeSet;

use places::locate::LocateIndex;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::accounts::{AreaKind, areas_of};
use crate::auth::roles::Role;
use crate::entities::{
    building_units, buildings, residents, sorting_accounts, sorting_limits, team_areas, teams,
    users,
};
use crate::error::{ApiError, ApiResult};
use crate::places::areas::serves;
use crate::street_rules;

/// Why someone may not rate an account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RatingRefusal {
    #[error("you hold sorting account {0}; nobody rates their own account")]
    OwnAccount(String),
    #[error("you share a household with sorting account {0}; nobody rates their own household")]
    OwnHousehold(String),
    #[error("you opened sorting account {0}; nobody rates an account they opened")]
    OpenedIt(String),
    #[error("sorting account {0} has no building, so only a sorting station rates it")]
    NoBuilding(String),
    #[error(
        "only the grid workers of building {0}'s grid or the team of its sorting point rate this account"
    )]
    NotSupervisor(String),
    #[error(
        "sorting account {account} was rated {limit} time(s) on {day}; correct that rating instead (send corrects)"
    )]
    DailyLimit {
        account: String,
        day: String,
        limit: i32,
    },
}

impl From<RatingRefusal> for ApiError {
    fn from(r: RatingRefusal) -> Self {
        match r {
            RatingRefusal::DailyLimit { .. } => ApiError::Conflict {
                field: Some("observed_at"),
                detail: r.to_string(),
            },
            other => ApiError::NotEligible(other.to_string()),
        }
    }
}

/// A person posting a rating, with the roles their token carries.
#[derive(Debug, Clone)]
pub struct Rater {
    pub user: Uuid,
    pub roles: Vec<Role>,
}

/// Whether `rater` may rate `account`: `Ok(())`, a refusal, or a database error.
pub async fn may_rate(
    db: &impl ConnectionTrait,
    index: &LocateIndex,
    rater: &Rater,
    account: &sorting_accounts::Model,
) -> ApiResult<()> {
    if account.holder_id == rater.user {
        return Err(RatingRefusal::OwnAccount(account.code.clone()).into());
    }
    // Else a worker opens an account for a second phone of his own and rates that.
    if account.opened_by == Some(rater.user) {
        return Err(RatingRefusal::OpenedIt(account.code.clone()).into());
    }
    let Some(building_code) = account.building_code.as_deref() else {
        return Err(RatingRefusal::NoBuilding(account.code.clone()).into());
    };
    if shares_household(db, rater.user, account, building_code).await? {
        return Err(RatingRefusal::OwnHousehold(account.code.clone()).into());
    }
    let building = buildings::Entity::find()
        .filter(buildings::Column::Code.eq(building_code))
        .one(db)
        .await?;
    let leaf = building
        .as_ref()
        .and_then(|b| b.micro_grid_code.clone().or_else(|| b.grid_code.clone()));
    let refused = || -> ApiError { RatingRefusal::NotSupervisor(building_code.to_owned()).into() };
    let Some(leaf) = leaf else {
        return Err(refused());
    };
    let areas = areas_of(db, rater.user).await?;
    if rater.roles.contains(&Role::GridWorker) && serves(index, &areas, &leaf) {
        return Ok(());
    }
    if rater.roles.contains(&Role::TeamMember) {
        let mine: Vec<String> = areas
            .iter()
            .filter(|a| a.kind == AreaKind::Team)
            .map(|a| a.code.clone())
            .collect();
        if !mine.is_empty() && team_covers(db, index, &mine, &leaf).await? {
            return Ok(());
        }
    }
    Err(refused())
}

/// Whether one of the teams (by code) has an area at or above `leaf`.
async fn team_covers(
    db: &impl ConnectionTrait,
    index: &LocateIndex,
    team_codes: &[String],
    leaf: &str,
) -> ApiResult<bool> {
    let mut chain: BTreeSet<String> = index.chain(leaf).iter().map(|n| n.code.clone()).collect();
    chain.insert(leaf.to_owned());
    let ids: Vec<Uuid> = teams::Entity::find()
        .select_only()
        .column(teams::Column::Id)
        .filter(teams::Column::Code.is_in(team_codes.iter().cloned()))
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(false);
    }
    let hits = team_areas::Entity::find()
        .filter(team_areas::Column::TeamId.is_in(ids))
        .filter(team_areas::Column::AreaCode.is_in(chain))
        .one(db)
        .await?;
    Ok(hits.is_some())
}

/// A household is a building's unit: the rater shares it when they hold an account of that unit
/// or are registered (by phone) as one of its residents.
async fn shares_household(
    db: &impl ConnectionTrait,
    rater: Uuid,
    account: &sorting_accounts::Model,
    building_code: &str,
) -> ApiResult<bool> {
    let Some(unit) = account.unit_label.as_deref() else {
        return Ok(false);
    };
    let same_unit = sorting_accounts::Entity::find()
        .filter(sorting_accounts::Column::HolderId.eq(rater))
        .filter(sorting_accounts::Column::BuildingCode.eq(building_code))
        .filter(sorting_accounts::Column::UnitLabel.eq(unit))
        .one(db)
        .await?;
    if same_unit.is_some() {
        return Ok(true);
    }
    let phone: Option<String> = users::Entity::find_by_id(rater)
        .select_only()
        .column(users::Column::Phone)
        .into_tuple()
        .one(db)
        .await?;
    let Some(phone) = phone else {
        return Ok(false);
    };
    let Some(building) = buildings::Entity::find()
        .filter(buildings::Column::Code.eq(building_code))
        .one(db)
        .await?
    else {
        return Ok(false);
    };
    let units: Vec<Uuid> = building_units::Entity::find()
        .select_only()
        .column(building_units::Column::Id)
        .filter(building_units::Column::BuildingId.eq(building.id))
        .filter(building_units::Column::Number.eq(unit))
        .into_tuple()
        .all(db)
        .await?;
    if units.is_empty() {
        return Ok(false);
    }
    let resident = residents::Entity::find()
        .filter(residents::Column::UnitId.is_in(units))
        .filter(residents::Column::Phone.eq(phone))
        .one(db)
        .await?;
    Ok(resident.is_some())
}

/// Ratings an account may get per day in its street (its own row, else the default; 1 if the
/// table holds neither).
pub async fn ratings_per_day(db: &impl ConnectionTrait, street: Option<&str>) -> ApiResult<i32> {
    let streets = street_rules::candidates(street);
    let rows = sorting_limits::Entity::find()
        .filter(sorting_limits::Column::StreetCode.is_in(streets))
        .all(db)
        .await?;
    Ok(
        street_rules::own_or_default(&rows, street, |r| &r.street_code)
            .map_or(1, |r| r.ratings_per_day.max(1)),
    )
}

/// The street of a building, through its place in the tree.
pub async fn street_of_building(
    db: &impl ConnectionTrait,
    building_code: Option<&str>,
) -> ApiResult<Option<String>> {
    let Some(code) = building_code else {
        return Ok(None);
    };
    let b = buildings::Entity::find()
        .filter(buildings::Column::Code.eq(code))
        .one(db)
        .await?;
    let leaf = b.and_then(|b| b.micro_grid_code.or(b.grid_code));
    crate::points::street_of(db, leaf.as_deref()).await
}
