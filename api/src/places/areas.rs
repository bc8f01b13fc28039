//! The stored area tree: importing a city's GeoJSON export (checked whole, written in one
//! transaction, nothing changed on any error), exporting it back, reading it, and locating points.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use places::geometry::Coord;
use places::locate::{LocateIndex, Node};
use places::tree::{self, AreaFeature, CheckOptions, ExistingArea, Level, Rejection};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::area_rows::{stored_geometry, stored_level, stored_shape};
use super::index::{self, SharedIndex};
use crate::accounts::{AreaKind, AreaRef};
use crate::entities::{areas, buildings};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::pagination::{Page, PageRequest};
use crate::stored::Corrupt;

/// How an import treats the street's areas that the file does not name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    /// The file is the street's whole tree: areas of that street missing from it are removed.
    #[default]
    Replace,
    /// The file adds and changes areas; the street's other areas stay.
    Update,
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    pub street: String,
    pub mode: ImportMode,
    /// Areas written from the file.
    pub written: usize,
    /// Areas of the street removed because the file no longer has them (replace mode).
    pub removed: usize,
    /// Buildings whose micro-grid changed with the new polygons.
    pub buildings_moved: usize,
}

/// Reports progress of a long import: (phase, done, total).
pub type Progress = Box<dyn FnMut(&str, usize, usize) + Send>;

/// An area as lists show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AreaView {
    pub code: String,
    pub name: String,
    /// street, community, grid_layer, grid, micro_grid, zone or watch_circle.
    pub level: String,
    pub parent_code: Option<String>,
    pub street_code: String,
    /// Five-colour health of a grid, when computed.
    pub health_colour: Option<String>,
    /// The GeoJSON geometry; only on single reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub geometry: Option<serde_json::Value>,
}

impl AreaView {
    fn from_row(row: areas::Model, with_geometry: bool) -> Result<Self, Corrupt> {
        let geometry = if with_geometry {
            stored_geometry(row.geometry.as_deref())?
        } else {
            None
        };
        Ok(Self {
            code: row.code,
            name: row.name,
            level: row.level,
            parent_code: row.parent_code,
            street_code: row.street_code,
            health_colour: row.health_colour,
            geometry,
        })
    }
}

fn rejection(r: Rejection) -> ApiError {
    match r {
        Rejection::NotJson(why) => ApiError::MalformedJson(why),
        Rejection::NotFeatureCollection(why) => ApiError::invalid("", "feature_collection", why),
        Rejection::Invalid(errors) => ApiError::Validation(
            errors
                .into_iter()
                .map(|e| {
                    let field = e
                        .index
                        .map_or_else(String::new, |i| format!("features[{i}]"));
                    let message = match e.code {
                        Some(code) => format!("{code}: {}", e.reason),
                        None => e.reason,
                    };
                    FieldError::new(field, "area_feature", message)
                })
                .collect(),
        ),
    }
}

/// The street codes a file names as `level: street`, read without its geometry; None when the
/// file is not a readable FeatureCollection (the full check then says why).
fn streets_named_in(bytes: &[u8]) -> Option<Vec<String>> {
    #[derive(Deserialize)]
    struct Lite {
        features: Vec<LiteFeature>,
    }
    #[derive(Deserialize)]
    struct LiteFeature {
        properties: Option<LiteProps>,
    }
    #[derive(Deserialize)]
    struct LiteProps {
        code: Option<String>,
        level: Option<String>,
    }
    serde_json::from_slice::<Lite>(bytes).ok().map(|l| {
        l.features
            .into_iter()
            .filter_map(|f| f.properties)
            .filter(|p| p.level.as_deref() == Some(Level::Street.as_str()))
            .filter_map(|p| p.code)
            .collect()
    })
}

fn existing_of(rows: &[areas::Model]) -> Result<Vec<ExistingArea>, Corrupt> {
    rows.iter()
        .map(|r| {
            Ok(ExistingArea {
                code: r.code.clone(),
                level: stored_level(&r.level)?,
                parent: r.parent_code.clone(),
                shape: stored_shape(r.geometry.as_deref())?,
            })
        })
        .collect()
}

/// The street each feature belongs to, walking parents through the file, then the stored tree.
fn street_of(code: &str, parents: &HashMap<String, (Level, Option<String>)>) -> Option<String> {
    let mut at = code.to_owned();
    for _ in 0..8 {
        let (level, parent) = parents.get(&at)?;
        if *level == Level::Street {
            return Some(at);
        }
        at = parent.clone()?;
    }
    None
}

/// Checks and writes a GeoJSON area file. On any error nothing changes and every bad feature is
/// reported; on success the shared index is swapped for the new tree before this returns.
pub async fn import(
    db: &DatabaseConnection,
    shared: &SharedIndex,
    bytes: Vec<u8>,
    mode: ImportMode,
    mut progress: Progress,
) -> ApiResult<ImportReport> {
    let stored = areas::Entity::find().all(db).await?;
    // In replace mode the street's stored areas are about to go: they must neither satisfy a
    // parent nor collide with the new polygons.
    let context: Vec<areas::Model> = match mode {
        ImportMode::Replace => match streets_named_in(&bytes).as_deref() {
            Some([street]) => stored
                .iter()
                .filter(|r| &r.street_code != street)
                .cloned()
                .collect(),
            Some(_) => {
                return Err(ApiError::invalid(
                    "features",
                    "one_street",
                    "a replace import holds exactly one feature with level \"street\": the street it replaces",
                ));
            }
            None => Vec::new(),
        },
        ImportMode::Update => stored.clone(),
    };
    let existing = existing_of(&context)?;
    let checked = tokio::task::spawn_blocking(move || {
        let result =
            tree::check_import(&bytes, &existing, &CheckOptions::default(), &mut *progress);
        (result, progress)
    })
    .await
    .map_err(|e| anyhow::anyhow!("checking the import: {e}"))?;
    let (result, mut progress) = checked;
    let features = result.map_err(rejection)?;

    let mut parents: HashMap<String, (Level, Option<String>)> = context
        .iter()
        .map(|r| {
            Ok((
                r.code.clone(),
                (stored_level(&r.level)?, r.parent_code.clone()),
            ))
        })
        .collect::<Result<_, Corrupt>>()?;
    for f in &features {
        parents.insert(f.code.clone(), (f.level, f.parent.clone()));
    }
    let mut streets: HashSet<String> = HashSet::new();
    for f in &features {
        match street_of(&f.code, &parents) {
            Some(s) => {
                streets.insert(s);
            }
            None => {
                return Err(ApiError::invalid(
                    format!("features[{}]", f.index),
                    "area_feature",
                    format!("{}: does not lead up to a street", f.code),
                ));
            }
        }
    }
    let street = match streets.into_iter().collect::<Vec<_>>().as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(ApiError::invalid(
                "features",
                "min_items",
                "the file has no areas",
            ));
        }
        _ => {
            return Err(ApiError::invalid(
                "features",
                "one_street",
                "an import changes one street's tree; this file spans several streets",
            ));
        }
    };

    let tx = crate::db::begin_write(db).await?;
    let now = Utc::now();
    let in_file: HashSet<&str> = features.iter().map(|f| f.code.as_str()).collect();
    let mut removed = 0;
    if mode == ImportMode::Replace {
        let gone: Vec<String> = stored
            .iter()
            .filter(|r| r.street_code == street && !in_file.contains(r.code.as_str()))
            .map(|r| r.code.clone())
            .collect();
        removed = gone.len();
        for chunk in gone.chunks(500) {
            areas::Entity::delete_many()
                .filter(areas::Column::Code.is_in(chunk.iter().cloned()))
                .exec(&tx)
                .await?;
        }
    }
    let total = features.len();
    for (i, chunk) in features.chunks(200).enumerate() {
        areas::Entity::insert_many(chunk.iter().map(|f| row_of(f, &street, now)))
            .on_conflict(
                OnConflict::column(areas::Column::Code)
                    .update_columns([
                        areas::Column::Name,
                        areas::Column::Level,
                        areas::Column::ParentCode,
                        areas::Column::StreetCode,
                        areas::Column::Geometry,
                        areas::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec(&tx)
            .await?;
        progress("writing", (i * 200 + chunk.len()).min(total), total);
    }
    let next = index::load(&tx).await?;
    let stamp = index::stamp_of(&tx).await?;
    let buildings_moved = relocate_buildings(&tx, &next).await?;
    tx.commit().await?;
    shared.swap(next, stamp);
    tracing::info!(%street, ?mode, written = total, removed, buildings_moved, "area tree imported");
    Ok(ImportReport {
        street,
        mode,
        written: total,
        removed,
        buildings_moved,
    })
}

fn row_of(f: &AreaFeature, street: &str, now: chrono::DateTime<Utc>) -> areas::ActiveModel {
    areas::ActiveModel {
        id: Set(Uuid::now_v7()),
        code: Set(f.code.clone()),
        name: Set(f.name.clone()),
        level: Set(f.level.as_str().to_owned()),
        parent_code: Set(f.parent.clone()),
        street_code: Set(street.to_owned()),
        geometry: Set(f.shape.as_ref().map(|s| s.to_geojson().to_string())),
        health_colour: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Whether one of a user's areas (teams aside) is the area `code` or lies above it: the one rule
/// for "a worker of this grid", used for buildings, events and live delivery.
pub fn serves(index: &LocateIndex, areas: &[AreaRef], code: &str) -> bool {
    let mine = |c: &str| {
        areas
            .iter()
            .any(|a| a.kind != AreaKind::Team && a.code == c)
    };
    mine(code) || index.chain(code).iter().any(|n| mine(&n.code))
}

/// Every area code a user serves, with all the areas below them (teams aside): the same rule as
/// [`serves`], expanded once for lists and live delivery. A served code counts even when the tree
/// does not hold it (yet).
pub fn served_codes(index: &LocateIndex, areas: &[AreaRef]) -> std::collections::BTreeSet<String> {
    let direct: std::collections::BTreeSet<&str> = areas
        .iter()
        .filter(|a| a.kind != AreaKind::Team)
        .map(|a| a.code.as_str())
        .collect();
    let mut all: std::collections::BTreeSet<String> =
        direct.iter().map(|c| (*c).to_owned()).collect();
    if !direct.is_empty() {
        all.extend(
            index
                .nodes()
                .filter(|n| {
                    index
                        .chain(&n.code)
                        .iter()
                        .any(|a| direct.contains(a.code.as_str()))
                })
                .map(|n| n.code.clone()),
        );
    }
    all
}

/// The micro-grid and grid a point falls in, as stored on a building.
pub fn placement(index: &LocateIndex, p: Coord) -> (Option<String>, Option<String>) {
    let Some(found) = index.locate(p) else {
        return (None, None);
    };
    let code_at = |level: Level| {
        found
            .chain
            .iter()
            .find(|n| n.level == level)
            .map(|n| n.code.clone())
    };
    (code_at(Level::MicroGrid), code_at(Level::Grid))
}

/// Re-derives every building's micro-grid and grid from its point under the new tree.
async fn relocate_buildings(db: &impl ConnectionTrait, index: &LocateIndex) -> ApiResult<usize> {
    let rows = buildings::Entity::find().all(db).await?;
    let mut moved = 0;
    for b in rows {
        let (new_micro, new_grid) = placement(index, [b.lng, b.lat]);
        if new_micro != b.micro_grid_code || new_grid != b.grid_code {
            buildings::Entity::update_many()
                .col_expr(buildings::Column::MicroGridCode, new_micro.into())
                .col_expr(buildings::Column::GridCode, new_grid.into())
                .filter(buildings::Column::Id.eq(b.id))
                .exec(db)
                .await?;
            moved += 1;
        }
    }
    Ok(moved)
}

/// The street's tree as a GeoJSON FeatureCollection, in the shape import takes.
pub async fn export(db: &DatabaseConnection, street: &str) -> ApiResult<serde_json::Value> {
    let rows = areas::Entity::find()
        .filter(areas::Column::StreetCode.eq(street))
        .all(db)
        .await?;
    if rows.is_empty() {
        return Err(ApiError::NotFound("street"));
    }
    // Parents before children, so the file reads top-down like a city's own export.
    let mut ranked = rows
        .into_iter()
        .map(|r| Ok((stored_level(&r.level)? as u8, r)))
        .collect::<Result<Vec<_>, Corrupt>>()?;
    ranked.sort_by(|(la, a), (lb, b)| (la, &a.code).cmp(&(lb, &b.code)));
    let features: Vec<serde_json::Value> = ranked
        .into_iter()
        .map(|(_, r)| {
            let geometry =
                stored_geometry(r.geometry.as_deref())?.unwrap_or(serde_json::Value::Null);
            Ok(serde_json::json!({
                "type": "Feature",
                "properties": {
                    "code": r.code,
                    "name": r.name,
                    "level": r.level,
                    "parent_code": r.parent_code,
                },
                "geometry": geometry,
            }))
        })
        .collect::<Result<_, Corrupt>>()?;
    Ok(serde_json::json!({"type": "FeatureCollection", "features": features}))
}

/// Filters of the area list.
#[derive(Debug, Default)]
pub struct AreaFilter {
    pub street: Option<String>,
    pub level: Option<Level>,
    pub parent: Option<String>,
}

/// Areas in creation order, without geometry.
pub async fn list(
    db: &DatabaseConnection,
    page: PageRequest,
    filter: AreaFilter,
) -> ApiResult<Page<AreaView>> {
    let mut q = areas::Entity::find().order_by_asc(areas::Column::Id);
    if let Some(s) = filter.street {
        q = q.filter(areas::Column::StreetCode.eq(s));
    }
    if let Some(l) = filter.level {
        q = q.filter(areas::Column::Level.eq(l.as_str()));
    }
    if let Some(p) = filter.parent {
        q = q.filter(areas::Column::ParentCode.eq(p));
    }
    if let Some(after) = page.after {
        q = q.filter(areas::Column::Id.gt(after));
    }
    let rows = q.limit(page.fetch()).all(db).await?;
    Ok(Page::from_rows(rows, &page, |r| r.id).try_map(|r| AreaView::from_row(r, false))?)
}

/// One area with its geometry.
pub async fn get(db: &DatabaseConnection, code: &str) -> ApiResult<AreaView> {
    areas::Entity::find()
        .filter(areas::Column::Code.eq(code))
        .one(db)
        .await?
        .map(|r| AreaView::from_row(r, true))
        .transpose()?
        .ok_or(ApiError::NotFound("area"))
}

/// One link of a located point's chain.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NodeView {
    pub code: String,
    pub name: String,
    pub level: String,
}

impl From<&Node> for NodeView {
    fn from(n: &Node) -> Self {
        Self {
            code: n.code.clone(),
            name: n.name.clone(),
            level: n.level.as_str().to_owned(),
        }
    }
}

/// Where a point is.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Location {
    /// The point in WGS84, after any datum conversion.
    pub lat: f64,
    pub lng: f64,
    /// The micro-grid (or grid without micro-grids) first, up to the street.
    pub chain: Vec<NodeView>,
    /// Enforcement zones and watch circles the point falls in.
    pub overlays: Vec<NodeView>,
}

/// Locates a WGS84 point; 404 when it lies outside every area.
pub fn locate(index: &LocateIndex, p: Coord) -> ApiResult<Location> {
    let found = index
        .locate(p)
        .ok_or(ApiError::NotFound("area at this point"))?;
    Ok(Location {
        lat: p[1],
        lng: p[0],
        chain: found.chain.into_iter().map(NodeView::from).collect(),
        overlays: found.overlays.into_iter().map(NodeView::from).collect(),
    })
}
