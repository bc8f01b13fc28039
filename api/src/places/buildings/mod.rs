//! The building registry (楼幢) and its profiles: units (户室) with residents, shops and
//! enterprises. Who sees what comes from the access table (`crate::access`), for every path
//! (REST reads, scans, lists, sync): grid workers of the building's grid see and change the whole
//! profile; other staff see it with phone and ID numbers masked and change nothing; a grid worker
//! of another grid does not see it at all. Every change is a visit in the building's history, and
//! the visit makes the profile fresh again.

use std::collections::HashMap;

use chrono::{DateTime, Months, Utc};
use places::geometry::Coord;
use places::locate::LocateIndex;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, SqlErr,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::areas::{placement, served_codes};

pub mod visits;
use sync_engine::DocKind;
use sync_engine::access::{Grant, Read};

use crate::accounts::AreaRef;
use crate::auth::user::CurrentUser;
use crate::db::containing;
use crate::entities::{building_units, buildings, businesses, residents};
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, PageRequest};
pub use visits::{Change, ProfileChange, UnitUpdate, Visit, history, update};

/// How recently a profile was checked: green within 6 months, yellow older, red never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Freshness {
    Green,
    Yellow,
    Red,
}

/// The oldest check that still counts as green.
pub fn green_since(now: DateTime<Utc>) -> DateTime<Utc> {
    now.checked_sub_months(Months::new(6)).unwrap_or(now)
}

pub fn freshness(verified_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Freshness {
    match verified_at {
        None => Freshness::Red,
        Some(t) if t >= green_since(now) => Freshness::Green,
        Some(_) => Freshness::Yellow,
    }
}

/// What the caller may see of a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A grid worker of the building's grid: everything.
    Full,
    /// Other staff: phone and ID numbers masked.
    Masked,
}

/// What the access table grants the caller on this building (`crate::access`).
pub fn grant(
    user: &CurrentUser,
    areas: &[AreaRef],
    index: &LocateIndex,
    b: &buildings::Model,
) -> Grant {
    crate::access::building(user, areas, index, b)
}

/// The one rule for reading a building's profile, from the caller's grant. `Err(NotFound)` when
/// the caller may not know the profile exists.
pub fn access_of(grant: Grant) -> ApiResult<Access> {
    match grant.read {
        Read::Full => Ok(Access::Full),
        Read::Masked => Ok(Access::Masked),
        Read::None => Err(ApiError::NotFound("building")),
    }
}

/// [`access_of`] the caller's [`grant`].
pub fn access(
    user: &CurrentUser,
    areas: &[AreaRef],
    index: &LocateIndex,
    b: &buildings::Model,
) -> ApiResult<Access> {
    access_of(grant(user, areas, index, b))
}

/// The one rule for changing a profile: the caller's grant writes the profile at all (even an
/// empty change is a visit, which marks the profile checked), and every field the change
/// touches is one it writes (in the table, only the grid's own workers write any).
pub fn may_change(grant: Grant, change: &ProfileChange) -> ApiResult<()> {
    let writes = grant.writable(DocKind::Building);
    if !writes.is_empty() && change.fields().iter().all(|f| writes.contains(f)) {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// `139****5678`: enough for a neighbour to recognise, not to call.
pub fn mask_phone(p: &str) -> String {
    let c: Vec<char> = p.chars().collect();
    if c.len() >= 7 {
        format!(
            "{}****{}",
            c[..3].iter().collect::<String>(),
            c[c.len() - 4..].iter().collect::<String>()
        )
    } else {
        "****".to_owned()
    }
}

/// `330112********123X`: the region and the last four, never the birth date.
pub fn mask_id_number(p: &str) -> String {
    let c: Vec<char> = p.chars().collect();
    if c.len() >= 10 {
        format!(
            "{}{}{}",
            c[..6].iter().collect::<String>(),
            "*".repeat(c.len() - 10),
            c[c.len() - 4..].iter().collect::<String>()
        )
    } else {
        "****".to_owned()
    }
}

/// A building as lists and scans show it to anyone: no people in it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BuildingSummary {
    pub code: String,
    pub name: String,
    pub address: String,
    /// WGS84.
    pub lat: f64,
    pub lng: f64,
    pub micro_grid_code: Option<String>,
    pub grid_code: Option<String>,
    pub floors: Option<i32>,
    pub freshness: Freshness,
    /// When the profile was last checked by a grid worker.
    pub verified_at: Option<DateTime<Utc>>,
}

impl BuildingSummary {
    pub fn of(b: &buildings::Model, now: DateTime<Utc>) -> Self {
        Self {
            code: b.code.clone(),
            name: b.name.clone(),
            address: b.address.clone(),
            lat: b.lat,
            lng: b.lng,
            micro_grid_code: b.micro_grid_code.clone(),
            grid_code: b.grid_code.clone(),
            floors: b.floors,
            freshness: freshness(b.verified_at, now),
            verified_at: b.verified_at,
        }
    }
}

/// A person living in a unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resident {
    #[schema(example = "王建国")]
    pub name: String,
    /// Masked unless the caller works in the building's grid.
    pub phone: Option<String>,
    /// 身份证号; masked unless the caller works in the building's grid.
    pub id_number: Option<String>,
    /// 户主, 配偶, 子女, 租户 …
    pub relation: Option<String>,
}

/// A unit (户室) of the building.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnitView {
    #[schema(example = "2单元301")]
    pub number: String,
    pub floor: Option<i32>,
    pub notes: Option<String>,
    pub freshness: Freshness,
    pub verified_at: Option<DateTime<Utc>>,
    pub residents: Vec<Resident>,
}

/// A shop (商铺) or enterprise (企业) in the building.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Business {
    /// `shop` or `enterprise`.
    pub kind: BusinessKind,
    pub name: String,
    /// 统一社会信用代码.
    pub credit_code: Option<String>,
    pub contact: Option<String>,
    /// Masked unless the caller works in the building's grid.
    pub phone: Option<String>,
    pub unit_number: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BusinessKind {
    Shop,
    Enterprise,
}

impl BusinessKind {
    fn as_str(self) -> &'static str {
        match self {
            BusinessKind::Shop => "shop",
            BusinessKind::Enterprise => "enterprise",
        }
    }

    /// A stored kind; an unknown one is a corrupt row.
    fn parse(s: &str) -> Result<Self, crate::stored::Corrupt> {
        crate::stored::lookup(
            "business kind",
            &[BusinessKind::Shop, BusinessKind::Enterprise],
            Self::as_str,
            s,
        )
    }
}

/// The whole profile.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BuildingProfile {
    #[serde(flatten)]
    pub summary: BuildingSummary,
    pub notes: Option<String>,
    /// True when phone and ID numbers are masked for this caller.
    pub masked: bool,
    pub units: Vec<UnitView>,
    pub businesses: Vec<Business>,
    /// The profile's offline document (`GET /api/v1/sync`), for those who read the profile
    /// whole (its grid's workers); absent for everyone who reads it masked, since the document
    /// holds the real numbers.
    #[schema(example = "automerge:4NMNnkMhL8jXrdJ9jamS58PAVdXu")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_url: Option<String>,
}

/// The building with this code, whoever asks; callers apply [`access`].
pub async fn find(db: &impl ConnectionTrait, code: &str) -> ApiResult<buildings::Model> {
    buildings::Entity::find()
        .filter(buildings::Column::Code.eq(code))
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("building"))
}

/// The profile as `access` allows.
pub async fn profile(
    db: &impl ConnectionTrait,
    b: &buildings::Model,
    access: Access,
) -> ApiResult<BuildingProfile> {
    let now = Utc::now();
    let masked = access == Access::Masked;
    let units = building_units::Entity::find()
        .filter(building_units::Column::BuildingId.eq(b.id))
        .order_by_asc(building_units::Column::Floor)
        .order_by_asc(building_units::Column::Number)
        .all(db)
        .await?;
    let mut people: HashMap<Uuid, Vec<Resident>> = HashMap::new();
    for r in residents::Entity::find()
        .filter(residents::Column::UnitId.is_in(units.iter().map(|u| u.id)))
        .order_by_asc(residents::Column::Id)
        .all(db)
        .await?
    {
        people.entry(r.unit_id).or_default().push(Resident {
            name: r.name,
            phone: r.phone.map(|p| if masked { mask_phone(&p) } else { p }),
            id_number: r
                .id_number
                .map(|p| if masked { mask_id_number(&p) } else { p }),
            relation: r.relation,
        });
    }
    let businesses = businesses::Entity::find()
        .filter(businesses::Column::BuildingId.eq(b.id))
        .order_by_asc(businesses::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|s| {
            Ok(Business {
                kind: BusinessKind::parse(&s.kind)?,
                name: s.name,
                credit_code: s.credit_code,
                contact: s.contact,
                phone: s.phone.map(|p| if masked { mask_phone(&p) } else { p }),
                unit_number: s.unit_number,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(BuildingProfile {
        document_url: (!masked).then(|| sync_engine::docid::DocumentId::from_uuid(b.id).url()),
        summary: BuildingSummary::of(b, now),
        notes: b.notes.clone(),
        masked,
        units: units
            .into_iter()
            .map(|u| UnitView {
                freshness: freshness(u.verified_at, now),
                residents: people.remove(&u.id).unwrap_or_default(),
                number: u.number,
                floor: u.floor,
                notes: u.notes,
                verified_at: u.verified_at,
            })
            .collect(),
        businesses,
    })
}

/// A new building, validated.
pub struct NewBuilding {
    pub code: String,
    pub name: String,
    pub address: String,
    pub location: Coord,
    pub floors: Option<i32>,
    pub notes: Option<String>,
    pub units: Vec<NewUnit>,
}

/// A unit registered with a new building.
pub struct NewUnit {
    pub number: String,
    pub floor: Option<i32>,
    pub residents: Vec<Resident>,
}

fn resident_row(unit_id: Uuid, r: &Resident) -> residents::ActiveModel {
    residents::ActiveModel {
        id: Set(Uuid::now_v7()),
        unit_id: Set(unit_id),
        name: Set(r.name.clone()),
        phone: Set(r.phone.clone()),
        id_number: Set(r.id_number.clone()),
        relation: Set(r.relation.clone()),
    }
}

fn code_taken(e: DbErr) -> ApiError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => ApiError::Conflict {
            field: Some("code"),
            detail: "a building with this code exists".to_owned(),
        },
        _ => ApiError::Database(e),
    }
}

/// Registers buildings in one transaction; each is placed in the micro-grid its point falls in.
/// The profile starts red: nobody has checked it yet.
pub async fn create_many(
    db: &DatabaseConnection,
    index: &LocateIndex,
    new: Vec<NewBuilding>,
) -> ApiResult<usize> {
    let now = Utc::now();
    let tx = crate::db::begin_write(db).await?;
    let mut units = Vec::new();
    let mut people = Vec::new();
    let mut rows = Vec::with_capacity(new.len());
    for b in &new {
        let id = Uuid::now_v7();
        let (micro, grid) = placement(index, b.location);
        rows.push(buildings::ActiveModel {
            id: Set(id),
            code: Set(b.code.clone()),
            name: Set(b.name.clone()),
            address: Set(b.address.clone()),
            lng: Set(b.location[0]),
            lat: Set(b.location[1]),
            micro_grid_code: Set(micro),
            grid_code: Set(grid),
            floors: Set(b.floors),
            notes: Set(b.notes.clone()),
            verified_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        });
        for u in &b.units {
            let unit_id = Uuid::now_v7();
            units.push(building_units::ActiveModel {
                id: Set(unit_id),
                building_id: Set(id),
                number: Set(u.number.clone()),
                floor: Set(u.floor),
                notes: Set(None),
                verified_at: Set(None),
            });
            people.extend(u.residents.iter().map(|r| resident_row(unit_id, r)));
        }
    }
    let count = rows.len();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(200).collect();
        buildings::Entity::insert_many(chunk)
            .exec(&tx)
            .await
            .map_err(code_taken)?;
    }
    let mut units = units.into_iter().peekable();
    while units.peek().is_some() {
        let chunk: Vec<_> = units.by_ref().take(500).collect();
        building_units::Entity::insert_many(chunk).exec(&tx).await?;
    }
    let mut people = people.into_iter().peekable();
    while people.peek().is_some() {
        let chunk: Vec<_> = people.by_ref().take(500).collect();
        residents::Entity::insert_many(chunk).exec(&tx).await?;
    }
    tx.commit().await?;
    Ok(count)
}

/// Filters of the building list.
#[derive(Debug, Default)]
pub struct BuildingFilter {
    /// Part of the code, name or address, matched without regard to ASCII case.
    pub text: Option<String>,
    pub grid: Option<String>,
    pub micro_grid: Option<String>,
    pub freshness: Option<Freshness>,
}

/// Buildings the caller may see, in registration order. A grid worker without an overseeing role
/// sees only the buildings of the areas they serve.
pub async fn list(
    db: &DatabaseConnection,
    index: &LocateIndex,
    user: &CurrentUser,
    areas: &[AreaRef],
    page: PageRequest,
    filter: BuildingFilter,
) -> ApiResult<Page<BuildingSummary>> {
    let now = Utc::now();
    let mut q = buildings::Entity::find().order_by_asc(buildings::Column::Id);
    if !crate::access::oversees_buildings(user) {
        // Buildings of the grids and micro-grids served, and of those under a served area.
        let served = served_codes(index, areas);
        let visible = Condition::any()
            .add(buildings::Column::GridCode.is_in(served.clone()))
            .add(buildings::Column::MicroGridCode.is_in(served));
        q = q.filter(visible);
    }
    if let Some(text) = filter.text.as_deref() {
        q = q.filter(matching(text));
    }
    if let Some(g) = filter.grid {
        q = q.filter(buildings::Column::GridCode.eq(g));
    }
    if let Some(m) = filter.micro_grid {
        q = q.filter(buildings::Column::MicroGridCode.eq(m));
    }
    match filter.freshness {
        Some(Freshness::Red) => q = q.filter(buildings::Column::VerifiedAt.is_null()),
        Some(Freshness::Green) => q = q.filter(buildings::Column::VerifiedAt.gte(green_since(now))),
        Some(Freshness::Yellow) => q = q.filter(buildings::Column::VerifiedAt.lt(green_since(now))),
        None => {}
    }
    if let Some(after) = page.after {
        q = q.filter(buildings::Column::Id.gt(after));
    }
    let rows = q.limit(page.fetch()).all(db).await?;
    let page_rows = Page::from_rows(rows, &page, |b| b.id);
    Ok(Page {
        items: page_rows
            .items
            .iter()
            .map(|b| BuildingSummary::of(b, now))
            .collect(),
        next_cursor: page_rows.next_cursor,
    })
}

/// Buildings whose code, name or address holds `text`.
fn matching(text: &str) -> Condition {
    Condition::any()
        .add(containing(buildings::Column::Code, text))
        .add(containing(buildings::Column::Name, text))
        .add(containing(buildings::Column::Address, text))
}

/// Every building of a grid, by code, for printing its QR sheet.
pub async fn of_grid(db: &DatabaseConnection, grid: &str) -> ApiResult<Vec<buildings::Model>> {
    Ok(buildings::Entity::find()
        .filter(buildings::Column::GridCode.eq(grid))
        .order_by_asc(buildings::Column::Code)
        .all(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_follows_six_months() {
        let now = Utc::now();
        assert_eq!(freshness(None, now), Freshness::Red);
        assert_eq!(
            freshness(Some(now - chrono::Duration::days(30)), now),
            Freshness::Green
        );
        assert_eq!(
            freshness(Some(now - chrono::Duration::days(200)), now),
            Freshness::Yellow
        );
    }

    #[test]
    fn masks_keep_only_what_identifies_loosely() {
        assert_eq!(mask_phone("13912345678"), "139****5678");
        assert_eq!(mask_id_number("33011219800101123X"), "330112********123X");
        assert_eq!(mask_phone("12"), "****");
    }
}
