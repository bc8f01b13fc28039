//! Visits (走访): a profile change is one visit, written with the rows it changes and recorded
//! in the building's history (who, when, what), and it makes the profile fresh again. Phone
//! numbers never enter the history in full.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Business, Resident, find, mask_phone, resident_row};
use crate::entities::{building_units, building_visits, buildings, businesses, residents, users};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::pagination::{Page, PageRequest};

/// One recorded change of a visit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Change {
    /// What changed: `name`, `units[2单元301].residents`, `businesses` …
    pub field: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// A unit as an update gives it: replaces that unit's floor, notes and (when given) residents.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitUpdate {
    pub number: String,
    pub floor: Option<i32>,
    pub notes: Option<String>,
    /// The unit's residents now; absent leaves them as they are.
    pub residents: Option<Vec<Resident>>,
}

/// A profile change, validated; `None` leaves a part as it is.
#[derive(Debug, Default)]
pub struct ProfileChange {
    pub name: Option<String>,
    pub address: Option<String>,
    pub floors: Option<i32>,
    pub notes: Option<String>,
    pub units: Vec<UnitUpdate>,
    pub remove_units: BTreeSet<String>,
    pub businesses: Option<Vec<Business>>,
}

impl ProfileChange {
    /// The fields of the building's document this change touches, as the access table names
    /// them: the floor count goes with the address (both describe the building, not people).
    pub fn fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.name.is_some() {
            out.push("name");
        }
        if self.address.is_some() || self.floors.is_some() {
            out.push("address");
        }
        if self.notes.is_some() {
            out.push("notes");
        }
        if !self.units.is_empty() || !self.remove_units.is_empty() {
            out.push("units");
        }
        if self.businesses.is_some() {
            out.push("shops");
        }
        out
    }
}

fn describe(people: &[Resident]) -> String {
    // The history keeps who lives there, never their full numbers.
    people
        .iter()
        .map(|r| match &r.phone {
            Some(p) => format!("{}({})", r.name, mask_phone(p)),
            None => r.name.clone(),
        })
        .collect::<Vec<_>>()
        .join("、")
}

fn diff(changes: &mut Vec<Change>, field: &str, from: Option<String>, to: Option<String>) {
    if from != to {
        changes.push(Change {
            field: field.to_owned(),
            from,
            to,
        });
    }
}

/// Applies a change as one visit: rows, history and freshness in one transaction. Returns the
/// changes recorded (empty when the visit confirmed the profile as it was).
pub async fn update(
    db: &DatabaseConnection,
    code: &str,
    actor: Uuid,
    change: ProfileChange,
) -> ApiResult<Vec<Change>> {
    let now = Utc::now();
    let tx = crate::db::begin_write(db).await?;
    let b = find(&tx, code).await?;
    let mut changes = Vec::new();
    diff(
        &mut changes,
        "name",
        Some(b.name.clone()),
        change.name.clone().or(Some(b.name.clone())),
    );
    diff(
        &mut changes,
        "address",
        Some(b.address.clone()),
        change.address.clone().or(Some(b.address.clone())),
    );
    diff(
        &mut changes,
        "floors",
        b.floors.map(|f| f.to_string()),
        change.floors.or(b.floors).map(|f| f.to_string()),
    );
    diff(
        &mut changes,
        "notes",
        b.notes.clone(),
        change.notes.clone().or(b.notes.clone()),
    );

    let units: HashMap<String, building_units::Model> = building_units::Entity::find()
        .filter(building_units::Column::BuildingId.eq(b.id))
        .all(&tx)
        .await?
        .into_iter()
        .map(|u| (u.number.clone(), u))
        .collect();
    for number in &change.remove_units {
        let Some(u) = units.get(number) else {
            return Err(ApiError::invalid(
                "remove_units",
                "unknown_unit",
                format!("no unit {number} in this building"),
            ));
        };
        building_units::Entity::delete_by_id(u.id).exec(&tx).await?;
        diff(
            &mut changes,
            &format!("units[{number}]"),
            Some(number.clone()),
            None,
        );
    }
    for u in &change.units {
        let field = format!("units[{}]", u.number);
        let unit_id = match units.get(&u.number) {
            Some(old) => {
                diff(
                    &mut changes,
                    &format!("{field}.floor"),
                    old.floor.map(|f| f.to_string()),
                    u.floor.or(old.floor).map(|f| f.to_string()),
                );
                diff(
                    &mut changes,
                    &format!("{field}.notes"),
                    old.notes.clone(),
                    u.notes.clone().or(old.notes.clone()),
                );
                let mut active: building_units::ActiveModel = old.clone().into();
                active.floor = Set(u.floor.or(old.floor));
                active.notes = Set(u.notes.clone().or(old.notes.clone()));
                active.verified_at = Set(Some(now));
                active.update(&tx).await?;
                old.id
            }
            None => {
                let id = Uuid::now_v7();
                building_units::ActiveModel {
                    id: Set(id),
                    building_id: Set(b.id),
                    number: Set(u.number.clone()),
                    floor: Set(u.floor),
                    notes: Set(u.notes.clone()),
                    verified_at: Set(Some(now)),
                }
                .insert(&tx)
                .await?;
                diff(&mut changes, &field, None, Some(u.number.clone()));
                id
            }
        };
        if let Some(people) = &u.residents {
            let before: Vec<Resident> = residents::Entity::find()
                .filter(residents::Column::UnitId.eq(unit_id))
                .order_by_asc(residents::Column::Id)
                .all(&tx)
                .await?
                .into_iter()
                .map(|r| Resident {
                    name: r.name,
                    phone: r.phone,
                    id_number: r.id_number,
                    relation: r.relation,
                })
                .collect();
            if &before != people {
                residents::Entity::delete_many()
                    .filter(residents::Column::UnitId.eq(unit_id))
                    .exec(&tx)
                    .await?;
                if !people.is_empty() {
                    residents::Entity::insert_many(people.iter().map(|r| resident_row(unit_id, r)))
                        .exec(&tx)
                        .await?;
                }
                diff(
                    &mut changes,
                    &format!("{field}.residents"),
                    Some(describe(&before)),
                    Some(describe(people)),
                );
            }
        }
    }
    if let Some(list) = &change.businesses {
        let before = businesses::Entity::find()
            .filter(businesses::Column::BuildingId.eq(b.id))
            .order_by_asc(businesses::Column::Id)
            .all(&tx)
            .await?;
        let names = |it: &mut dyn Iterator<Item = &str>| it.collect::<Vec<_>>().join("、");
        businesses::Entity::delete_many()
            .filter(businesses::Column::BuildingId.eq(b.id))
            .exec(&tx)
            .await?;
        if !list.is_empty() {
            businesses::Entity::insert_many(list.iter().map(|s| businesses::ActiveModel {
                id: Set(Uuid::now_v7()),
                building_id: Set(b.id),
                kind: Set(s.kind.as_str().to_owned()),
                name: Set(s.name.clone()),
                credit_code: Set(s.credit_code.clone()),
                contact: Set(s.contact.clone()),
                phone: Set(s.phone.clone()),
                unit_number: Set(s.unit_number.clone()),
            }))
            .exec(&tx)
            .await?;
        }
        diff(
            &mut changes,
            "businesses",
            Some(names(&mut before.iter().map(|s| s.name.as_str()))),
            Some(names(&mut list.iter().map(|s| s.name.as_str()))),
        );
    }
    let mut active: buildings::ActiveModel = b.clone().into();
    if let Some(n) = change.name {
        active.name = Set(n);
    }
    if let Some(a) = change.address {
        active.address = Set(a);
    }
    if change.floors.is_some() {
        active.floors = Set(change.floors);
    }
    if change.notes.is_some() {
        active.notes = Set(change.notes);
    }
    active.verified_at = Set(Some(now));
    active.updated_at = Set(now);
    active.update(&tx).await?;
    building_visits::ActiveModel {
        id: Set(Uuid::now_v7()),
        building_id: Set(b.id),
        unit_number: Set(match change.units.as_slice() {
            [one] => Some(one.number.clone()),
            _ => None,
        }),
        actor_id: Set(actor),
        at: Set(now),
        changes: Set(serde_json::to_string(&changes).map_err(|e| anyhow::anyhow!(e))?),
    }
    .insert(&tx)
    .await?;
    // The grid's workers hear of it, and documents of the building on every instance reload.
    crate::live::outbox::record(
        &tx,
        crate::live::outbox::Entry {
            event_id: b.id,
            kind: "building.updated",
            grid_code: b.grid_code.clone(),
            micro_grid_code: b.micro_grid_code.clone(),
            team_code: None,
            user_id: None,
            street_code: None,
            payload: serde_json::json!({"code": b.code, "changes": &changes}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(changes)
}

/// Who came, when, and what they changed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Visit {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_id: Uuid,
    pub actor_name: String,
    pub unit_number: Option<String>,
    pub changes: Vec<Change>,
}

/// A building's visits, oldest first.
pub async fn history(
    db: &DatabaseConnection,
    b: &buildings::Model,
    page: PageRequest,
) -> ApiResult<Page<Visit>> {
    let mut q = building_visits::Entity::find()
        .filter(building_visits::Column::BuildingId.eq(b.id))
        .order_by_asc(building_visits::Column::Id);
    if let Some(after) = page.after {
        q = q.filter(building_visits::Column::Id.gt(after));
    }
    let rows = q.limit(page.fetch()).all(db).await?;
    let page_rows = Page::from_rows(rows, &page, |v| v.id);
    let names: HashMap<Uuid, String> = users::Entity::find()
        .filter(users::Column::Id.is_in(page_rows.items.iter().map(|v| v.actor_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    Ok(Page {
        items: page_rows
            .items
            .into_iter()
            .map(|v| {
                Ok(Visit {
                    id: v.id,
                    at: v.at,
                    actor_name: names.get(&v.actor_id).cloned().unwrap_or_default(),
                    actor_id: v.actor_id,
                    unit_number: v.unit_number,
                    changes: crate::stored::json("visit changes", &v.changes)?,
                })
            })
            .collect::<Result<_, crate::stored::Corrupt>>()?,
        next_cursor: page_rows.next_cursor,
    })
}

/// Floors of a building, and the floor of a unit (basements are negative).
pub const FLOORS: std::ops::RangeInclusive<i32> = 1..=200;
pub const UNIT_FLOORS: std::ops::RangeInclusive<i32> = -5..=200;

pub fn in_range(
    errors: &mut Vec<FieldError>,
    field: &str,
    v: Option<i32>,
    range: &std::ops::RangeInclusive<i32>,
) {
    if v.is_some_and(|v| !range.contains(&v)) {
        errors.push(FieldError::new(
            field,
            "range",
            format!("must be between {} and {}", range.start(), range.end()),
        ));
    }
}

pub fn text(errors: &mut Vec<FieldError>, field: &str, v: &str, max: usize) {
    let n = v.trim().chars().count();
    if n == 0 || n > max {
        errors.push(FieldError::new(
            field,
            "length",
            format!("1–{max} characters"),
        ));
    }
}

/// The one check of a profile change, from REST or from a building's document.
pub fn check(body: &ProfileChange) -> ApiResult<()> {
    let mut errors = Vec::new();
    in_range(&mut errors, "floors", body.floors, &FLOORS);
    // One visit says one thing about each unit.
    let mut numbers: BTreeSet<&str> = BTreeSet::new();
    for (i, u) in body.units.iter().enumerate() {
        if !numbers.insert(u.number.as_str()) {
            errors.push(FieldError::new(
                format!("units[{i}].number"),
                "unique",
                "unit numbers repeat",
            ));
        } else if body.remove_units.contains(&u.number) {
            errors.push(FieldError::new(
                format!("units[{i}].number"),
                "conflict",
                "this unit is also in remove_units",
            ));
        }
        in_range(
            &mut errors,
            &format!("units[{i}].floor"),
            u.floor,
            &UNIT_FLOORS,
        );
    }
    if let Some(n) = &body.name {
        text(&mut errors, "name", n, 100);
    }
    if let Some(a) = &body.address {
        text(&mut errors, "address", a, 200);
    }
    for (i, u) in body.units.iter().enumerate() {
        text(&mut errors, &format!("units[{i}].number"), &u.number, 32);
        for (j, r) in u.residents.iter().flatten().enumerate() {
            let at = format!("units[{i}].residents[{j}]");
            text(&mut errors, &format!("{at}.name"), &r.name, 64);
            if let Some(p) = &r.phone
                && !(p.len() <= 20
                    && p.bytes()
                        .all(|b| b.is_ascii_digit() || b == b'-' || b == b'+'))
            {
                errors.push(FieldError::new(
                    format!("{at}.phone"),
                    "phone_format",
                    "digits, '+' and '-' only",
                ));
            }
            if let Some(id) = &r.id_number
                && !(id.len() == 18
                    && id.bytes().take(17).all(|b| b.is_ascii_digit())
                    && matches!(id.as_bytes()[17], b'0'..=b'9' | b'X' | b'x'))
            {
                errors.push(FieldError::new(
                    format!("{at}.id_number"),
                    "id_number",
                    "18 characters: 17 digits, then a digit or X",
                ));
            }
        }
    }
    for (i, s) in body.businesses.iter().flatten().enumerate() {
        text(&mut errors, &format!("businesses[{i}].name"), &s.name, 100);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}
