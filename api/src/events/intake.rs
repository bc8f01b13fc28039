//! Events in, from every source, and out to the right grid or team in the same transaction.
//!
//! Every create carries a caller-chosen key (the body's `id` or an `Idempotency-Key` header), so a
//! phone or a sensor that retries never makes a second event: the retry gets the first answer,
//! and a retry with a different body is refused.

use std::collections::BTreeSet;

use places::geometry::Coord;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::catalogue::{Category, Colour, Limits};
use super::views::EventView;
use crate::entities::{team_areas, team_categories, teams};
use crate::error::{ApiError, ApiResult};
use crate::places::areas::placement;
use crate::places::buildings;
use crate::state::AppState;

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// 民呼我为: a citizen's report from the mini-program.
    Citizen,
    /// A grid worker's or team member's own finding on patrol.
    Patrol,
    /// Entered by the command centre (the 12345 hotline, a walk-in).
    Hotline,
    /// An IoT sensor, camera AI or the 110 linkage platform, by API key.
    Machine,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Citizen => "citizen",
            Source::Patrol => "patrol",
            Source::Hotline => "hotline",
            Source::Machine => "machine",
        }
    }
}

/// Who reports.
#[derive(Debug, Clone, Copy)]
pub enum Reporter {
    User { id: Uuid, source: Source },
    Machine { key_id: Uuid },
}

impl Reporter {
    pub fn principal(&self) -> String {
        match self {
            Reporter::User { id, .. } => format!("u:{id}"),
            Reporter::Machine { key_id } => format!("k:{key_id}"),
        }
    }
}

/// A report, validated.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub reporter: Reporter,
    /// The caller's key for this create.
    pub key: String,
    /// Digest of the request as sent, to tell a retry from a different request under one key.
    pub request_hash: String,
    pub category: Category,
    /// Set by the command centre; otherwise the category's colour.
    pub colour: Option<Colour>,
    pub description: String,
    /// WGS84.
    pub point: Option<Coord>,
    pub building_code: Option<String>,
    pub photos: Vec<String>,
}

/// A digest of any serialisable request.
pub fn digest(v: &impl Serialize) -> String {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where an event lands.
#[derive(Debug, Clone, Default)]
pub struct Routing {
    pub point: Option<Coord>,
    pub micro_grid: Option<String>,
    pub grid: Option<String>,
    pub street: Option<String>,
    /// ("grid" | "team", code); None: the dispatchers' queue.
    pub assignee: Option<(String, String)>,
}

/// The one routing rule: the place gives the grid (through the shared locate index, or the
/// building's grid); the category's handler says whether the grid or a team of that kind
/// covering the place takes it. Nowhere → the dispatchers' queue.
pub async fn route(
    state: &AppState,
    db: &impl ConnectionTrait,
    category: &Category,
    point: Option<Coord>,
    building: Option<&str>,
) -> ApiResult<Routing> {
    let index = state.places.get();
    let mut r = Routing {
        point,
        ..Routing::default()
    };
    if let Some(code) = building {
        let b = buildings::find(db, code).await.map_err(|e| {
            e.when_not_found(|| {
                ApiError::invalid(
                    "building_code",
                    "unknown_building",
                    format!("no building {code}"),
                )
            })
        })?;
        r.point = r.point.or(Some([b.lng, b.lat]));
        r.micro_grid = b.micro_grid_code;
        r.grid = b.grid_code;
    } else if let Some(p) = point {
        let (micro, grid) = placement(&index, p);
        r.micro_grid = micro;
        r.grid = grid;
    }
    let Some(grid) = r.grid.clone() else {
        return Ok(r);
    };
    let chain: Vec<String> = index
        .chain(&grid)
        .into_iter()
        .map(|n| n.code.clone())
        .collect();
    r.street = index
        .chain(&grid)
        .into_iter()
        .find(|n| n.level == places::tree::Level::Street)
        .map(|n| n.code.clone());
    r.assignee = Some(("grid".to_owned(), grid));
    if category.handler != "grid"
        && let Some(team) = team_for(db, &category.handler, &category.code, &chain).await?
    {
        r.assignee = Some(("team".to_owned(), team));
    }
    Ok(r)
}

/// A team of `kind` covering one of `chain`'s areas, preferring teams that take the category;
/// the code that sorts first among equals.
async fn team_for(
    db: &impl ConnectionTrait,
    kind: &str,
    category: &str,
    chain: &[String],
) -> ApiResult<Option<String>> {
    let candidates = teams::Entity::find()
        .filter(teams::Column::Kind.eq(kind))
        .order_by_asc(teams::Column::Code)
        .all(db)
        .await?;
    if candidates.is_empty() {
        return Ok(None);
    }
    let ids: Vec<Uuid> = candidates.iter().map(|t| t.id).collect();
    let covering: BTreeSet<Uuid> = team_areas::Entity::find()
        .filter(team_areas::Column::TeamId.is_in(ids.clone()))
        .filter(team_areas::Column::AreaCode.is_in(chain.iter().cloned()))
        .all(db)
        .await?
        .into_iter()
        .map(|a| a.team_id)
        .collect();
    let taking: BTreeSet<Uuid> = team_categories::Entity::find()
        .filter(team_categories::Column::TeamId.is_in(ids))
        .filter(team_categories::Column::Category.eq(category))
        .all(db)
        .await?
        .into_iter()
        .map(|c| c.team_id)
        .collect();
    let covering: Vec<&teams::Model> = candidates
        .iter()
        .filter(|t| covering.contains(&t.id))
        .collect();
    Ok(covering
        .iter()
        .find(|t| taking.contains(&t.id))
        .or(covering.first())
        .map(|t| t.code.clone()))
}

/// A report checked and routed, ready to be written: everything its rows need that is read
/// from the database is read here, outside the writing transaction.
#[derive(Debug)]
pub struct Prepared {
    pub id: Uuid,
    pub idem_key: String,
    pub new: NewEvent,
    pub routing: Routing,
    /// The deadlines of its task, when it has one.
    pub limits: Limits,
}

/// Takes a report in. Returns the event and whether this was a replay of an earlier create.
pub async fn create(state: &AppState, new: NewEvent) -> ApiResult<(EventView, bool)> {
    let prepared = prepare(state, new).await?;
    let answer = state.intake.submit(prepared).await?;
    if !answer.1 {
        state.live.poke();
    }
    Ok(answer)
}

/// The reads of an intake that need no transaction: what it reads here (photos, buildings,
/// teams, the catalogue) is not what concurrent reports change. Duplicates are looked for by
/// the writer, a batch at a time.
async fn prepare(state: &AppState, new: NewEvent) -> ApiResult<Prepared> {
    let db = &state.db;
    check_photos(db, &new).await?;
    let routing = route(
        state,
        db,
        &new.category,
        new.point,
        new.building_code.as_deref(),
    )
    .await?;
    let colour = new.colour.unwrap_or(new.category.colour);
    let limits = state
        .catalogue
        .get(db)
        .await?
        .limits(routing.street.as_deref(), colour);
    Ok(Prepared {
        id: Uuid::now_v7(),
        idem_key: format!("{}:{}", new.reporter.principal(), new.key),
        new,
        routing,
        limits,
    })
}

async fn check_photos(db: &impl ConnectionTrait, new: &NewEvent) -> ApiResult<()> {
    if new.photos.is_empty() {
        return Ok(());
    }
    let Reporter::User { id: uploader, .. } = new.reporter else {
        return Err(ApiError::invalid(
            "photos",
            "not_allowed",
            "machine sources cannot attach photos",
        ));
    };
    let mut errors = Vec::new();
    // A photo listed twice is refused rather than quietly dropped: the app showed the citizen
    // two photos, and the report would hold one.
    let mut seen = std::collections::HashSet::new();
    for (i, sha) in new.photos.iter().enumerate() {
        if !seen.insert(sha.as_str()) {
            errors.push(crate::error::FieldError::new(
                format!("photos[{i}]"),
                "duplicate",
                "this photo is already listed in the report",
            ));
        } else if !crate::photos::store::exists_for(db, sha, uploader).await? {
            errors.push(crate::error::FieldError::new(
                format!("photos[{i}]"),
                "unknown_photo",
                "upload the photo first (POST /api/v1/photos)",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}
