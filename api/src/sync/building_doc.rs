//! A building profile as a document: the rows' profile written as document values, and a
//! document's name, address, units, shops and notes read back as one profile change (a visit),
//! which goes through the same check and the same history as `PATCH /api/v1/buildings/{code}`.

use std::collections::{BTreeMap, BTreeSet};

use automerge::hydrate;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait};
use sync_engine::fields::{self, Value};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::places::buildings::{
    self, Access, Business, BusinessKind, ProfileChange, Resident, UnitUpdate,
};

fn text(s: &Option<String>) -> Value {
    Value::Text(s.clone().unwrap_or_default())
}

fn map(items: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
    Value::Map(items.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// The fields of the profile, unmasked: only those the access table lets read it whole (the
/// grid's workers) get the document.
pub async fn owned(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<Vec<(&'static str, Value)>> {
    let row = buildings_row(db, id).await?;
    let profile = buildings::profile(db, &row, Access::Full).await?;
    let units = profile
        .units
        .iter()
        .map(|u| {
            let mut m = vec![
                ("number", Value::Text(u.number.clone())),
                ("notes", text(&u.notes)),
                (
                    "residents",
                    Value::List(
                        u.residents
                            .iter()
                            .map(|r| {
                                map([
                                    ("name", Value::Text(r.name.clone())),
                                    ("phone", text(&r.phone)),
                                    ("id_number", text(&r.id_number)),
                                    ("relation", text(&r.relation)),
                                ])
                            })
                            .collect(),
                    ),
                ),
            ];
            if let Some(f) = u.floor {
                m.push(("floor", Value::Int(i64::from(f))));
            }
            map(m)
        })
        .collect();
    let shops = profile
        .businesses
        .iter()
        .map(|s| {
            map([
                (
                    "kind",
                    Value::Text(
                        match s.kind {
                            BusinessKind::Shop => "shop",
                            BusinessKind::Enterprise => "enterprise",
                        }
                        .into(),
                    ),
                ),
                ("name", Value::Text(s.name.clone())),
                ("credit_code", text(&s.credit_code)),
                ("contact", text(&s.contact)),
                ("phone", text(&s.phone)),
                ("unit_number", text(&s.unit_number)),
            ])
        })
        .collect();
    Ok(vec![
        ("code", Value::Text(row.code.clone())),
        ("name", Value::Text(row.name.clone())),
        ("address", Value::Text(row.address.clone())),
        ("notes", text(&row.notes)),
        ("units", Value::List(units)),
        ("shops", Value::List(shops)),
    ])
}

async fn buildings_row(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> ApiResult<crate::entities::buildings::Model> {
    crate::entities::buildings::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("building"))
}

/// Why a part of the document cannot be a profile.
type Refusal = (String, String);

fn get<'a>(m: &'a BTreeMap<String, Value>, key: &str) -> Option<&'a Value> {
    m.get(key)
}

/// A text field of a document map; "" and absent are both None.
fn opt(m: &BTreeMap<String, Value>, key: &str) -> Option<String> {
    get(m, key)
        .and_then(Value::as_text)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

fn maps<'a>(v: Option<&'a Value>, at: &str) -> Result<Vec<&'a BTreeMap<String, Value>>, Refusal> {
    match v {
        Some(Value::List(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Map(m) => Ok(m),
                _ => Err((format!("{at}[{i}]"), "must be a map".into())),
            })
            .collect(),
        _ => Err((at.to_owned(), "must be a list".into())),
    }
}

fn units(doc: &hydrate::Value) -> Result<Vec<UnitUpdate>, Refusal> {
    let v = fields::read(doc, "units");
    let mut out = Vec::new();
    for (i, u) in maps(v.as_ref(), "units")?.into_iter().enumerate() {
        let at = format!("units[{i}]");
        let number = opt(u, "number").ok_or((format!("{at}.number"), "required".into()))?;
        let floor = match get(u, "floor") {
            None => None,
            Some(Value::Int(n)) => Some(
                i32::try_from(*n).map_err(|_| (format!("{at}.floor"), "out of range".into()))?,
            ),
            Some(_) => return Err((format!("{at}.floor"), "must be an integer".into())),
        };
        let residents = maps(get(u, "residents"), &format!("{at}.residents"))?
            .into_iter()
            .map(|r| Resident {
                name: opt(r, "name").unwrap_or_default(),
                phone: opt(r, "phone"),
                id_number: opt(r, "id_number"),
                relation: opt(r, "relation"),
            })
            .collect();
        out.push(UnitUpdate {
            number,
            floor,
            notes: opt(u, "notes"),
            residents: Some(residents),
        });
    }
    Ok(out)
}

fn shops(doc: &hydrate::Value) -> Result<Vec<Business>, Refusal> {
    let v = fields::read(doc, "shops");
    maps(v.as_ref(), "shops")?
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let kind = match opt(s, "kind").as_deref() {
                Some("shop") => BusinessKind::Shop,
                Some("enterprise") => BusinessKind::Enterprise,
                _ => {
                    return Err((format!("shops[{i}].kind"), "shop or enterprise".into()));
                }
            };
            Ok(Business {
                kind,
                name: opt(s, "name").unwrap_or_default(),
                credit_code: opt(s, "credit_code"),
                contact: opt(s, "contact"),
                phone: opt(s, "phone"),
                unit_number: opt(s, "unit_number"),
            })
        })
        .collect()
}

/// Writes the accepted parts of the document to the profile as one visit by `user`; what the
/// profile's check refuses is not written and comes back with its reasons.
pub async fn write_through(
    db: &DatabaseConnection,
    id: Uuid,
    user: Uuid,
    after: &hydrate::Value,
    accepted: &BTreeSet<String>,
) -> ApiResult<Vec<Refusal>> {
    let row = buildings_row(db, id).await?;
    let mut change = ProfileChange::default();
    let text = |field: &str| fields::read_text(after, field).map(|t| t.trim().to_owned());
    if accepted.contains("name") {
        change.name = Some(text("name").unwrap_or_default());
    }
    if accepted.contains("address") {
        change.address = Some(text("address").unwrap_or_default());
    }
    if accepted.contains("notes") {
        change.notes = Some(fields::read_text(after, "notes").unwrap_or_default());
    }
    if accepted.contains("units") {
        match units(after) {
            Ok(units) => {
                let kept: BTreeSet<&str> = units.iter().map(|u| u.number.as_str()).collect();
                let profile = buildings::profile(db, &row, Access::Full).await?;
                change.remove_units = profile
                    .units
                    .iter()
                    .filter(|u| !kept.contains(u.number.as_str()))
                    .map(|u| u.number.clone())
                    .collect();
                // Only the units that differ: a visit marks the units it names as checked.
                change.units = units
                    .into_iter()
                    .filter(|u| {
                        !profile.units.iter().any(|p| {
                            p.number == u.number
                                && p.floor == u.floor
                                && p.notes == u.notes
                                && u.residents.as_ref() == Some(&p.residents)
                        })
                    })
                    .collect();
            }
            Err(r) => return Ok(vec![r]),
        }
    }
    if accepted.contains("shops") {
        match shops(after) {
            Ok(s) => change.businesses = Some(s),
            Err(r) => return Ok(vec![r]),
        }
    }
    match buildings::visits::check(&change) {
        Ok(()) => {}
        Err(ApiError::Validation(errors)) => {
            return Ok(errors.into_iter().map(|e| (e.field, e.message)).collect());
        }
        Err(e) => return Err(e),
    }
    buildings::update(db, &row.code, user, change).await?;
    Ok(Vec::new())
}
