//! Events in, from every source, and out to the right grid or team in the same transaction.
//!
//! Every create carries a caller-chosen key (the body's `id` or an `Idempotency-Key` header), so a
//! phone or a sensor that retries never makes a second event: the retry gets the first answer,
//! and a retry with a different body is refused.

use std::collections::BTreeSet;

use chrono::{Duration, SubsecRound, Utc};
use places::geometry::Coord;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set, SqlErr, TryIntoModel,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::catalogue::{Category, Colour};
use super::flow::Status;
use super::timeline::{ActorRef, Step};
use super::views::{self, EventView};
use crate::entities::{
    event_photos, events, outbox as outbox_rows, tasks, team_areas, team_categories, teams,
    timeline,
};
use crate::error::{ApiError, ApiResult};
use crate::live::outbox::{self, Entry};
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
    fn principal(&self) -> String {
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
        let b = buildings::find(db, code).await.map_err(|_| {
            ApiError::invalid(
                "building_code",
                "unknown_building",
                format!("no building {code}"),
            )
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

/// An earlier open event of the same category within 100 m and an hour: likely the same matter.
async fn likely_duplicate(
    db: &impl ConnectionTrait,
    category: &str,
    p: Coord,
) -> ApiResult<Option<Uuid>> {
    const RADIUS_M: f64 = 100.0;
    let dlat = RADIUS_M / 111_320.0;
    let dlng = dlat / p[1].to_radians().cos().max(0.01);
    let open: Vec<&str> = Status::ALL
        .into_iter()
        .filter(|s| !s.is_final())
        .map(Status::as_str)
        .collect();
    // The earliest original only: a burst of alarms at one spot must not make every report
    // read all the earlier ones.
    let first: Option<Uuid> = events::Entity::find()
        .select_only()
        .column(events::Column::Id)
        .filter(events::Column::Category.eq(category))
        .filter(events::Column::CreatedAt.gt(Utc::now() - Duration::hours(1)))
        .filter(events::Column::Lat.between(p[1] - dlat, p[1] + dlat))
        .filter(events::Column::Lng.between(p[0] - dlng, p[0] + dlng))
        .filter(events::Column::DuplicateOf.is_null())
        .filter(events::Column::Status.is_in(open))
        .order_by_asc(events::Column::Id)
        .into_tuple()
        .one(db)
        .await?;
    Ok(first)
}

fn key_conflict(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Takes a report in. Returns the event and whether this was a replay of an earlier create.
pub async fn create(state: &AppState, new: NewEvent) -> ApiResult<(EventView, bool)> {
    let idem_key = format!("{}:{}", new.reporter.principal(), new.key);
    // No read before the write: the unique key on the idempotency key tells a retry, and a
    // retry is answered from the stored event.
    let tx = crate::db::begin_write(&state.db).await?;
    match insert(state, &tx, &new, &idem_key).await {
        Ok(view) => {
            tx.commit().await?;
            state.live.poke();
            Ok((view, false))
        }
        Err(ApiError::Database(e)) if key_conflict(&e) => {
            // A retry (or one that raced the first attempt): answer as the replay it is.
            drop(tx);
            match replay(state, &idem_key, &new.request_hash).await? {
                Some(done) => Ok((done, true)),
                None => Err(ApiError::Database(e)),
            }
        }
        Err(e) => Err(e),
    }
}

async fn replay(state: &AppState, idem_key: &str, hash: &str) -> ApiResult<Option<EventView>> {
    let Some(earlier) = events::Entity::find()
        .filter(events::Column::IdemKey.eq(idem_key))
        .one(&state.db)
        .await?
    else {
        return Ok(None);
    };
    crate::extract::same_request(&earlier.request_hash, hash, "report")?;
    Ok(Some(views::event(&state.db, earlier.id).await?))
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
    for (i, sha) in new.photos.iter().enumerate() {
        if !crate::photos::store::exists_for(db, sha, uploader).await? {
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

async fn insert(
    state: &AppState,
    tx: &DatabaseTransaction,
    new: &NewEvent,
    idem_key: &str,
) -> ApiResult<EventView> {
    check_photos(tx, new).await?;
    let routing = route(
        state,
        tx,
        &new.category,
        new.point,
        new.building_code.as_deref(),
    )
    .await?;
    // The answer is built from these values, not read back: keep only what the database keeps,
    // so a replay or a later read shows the same times.
    let now = Utc::now().trunc_subsecs(6);
    let id = Uuid::now_v7();
    let colour = new.colour.unwrap_or(new.category.colour);
    let duplicate_of = match routing.point {
        Some(p) => likely_duplicate(tx, &new.category.code, p).await?,
        None => None,
    };
    let (reporter_id, api_key_id, source) = match new.reporter {
        Reporter::User { id, source } => (Some(id), None, source),
        Reporter::Machine { key_id } => (None, Some(key_id), Source::Machine),
    };
    let status = if routing.assignee.is_some() {
        Status::Dispatched
    } else {
        Status::Reported
    };
    let event = events::ActiveModel {
        id: Set(id),
        idem_key: Set(Some(idem_key.to_owned())),
        request_hash: Set(new.request_hash.clone()),
        source: Set(source.as_str().to_owned()),
        reporter_id: Set(reporter_id),
        api_key_id: Set(api_key_id),
        category: Set(new.category.code.clone()),
        colour: Set(colour.as_str().to_owned()),
        status: Set(status.as_str().to_owned()),
        description: Set(new.description.clone()),
        lng: Set(routing.point.map(|p| p[0])),
        lat: Set(routing.point.map(|p| p[1])),
        building_code: Set(new.building_code.clone()),
        micro_grid_code: Set(routing.micro_grid.clone()),
        grid_code: Set(routing.grid.clone()),
        street_code: Set(routing.street.clone()),
        duplicate_of: Set(duplicate_of),
        merged_into: Set(None),
        rating: Set(None),
        rating_comment: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let backend = tx.get_database_backend();
    let mut writes = vec![events::Entity::insert(event.clone()).build(backend)];
    let event = event.try_into_model()?;
    for sha in &new.photos {
        let photo = event_photos::ActiveModel {
            event_id: Set(id),
            sha256: Set(sha.clone()),
            role: Set("report".to_owned()),
            created_at: Set(now),
        };
        writes.push(event_photos::Entity::insert(photo).build(backend));
    }
    let actor = match new.reporter {
        Reporter::User { id, .. } => ActorRef::user(id),
        Reporter::Machine { key_id } => ActorRef::machine(key_id),
    };
    let mut steps = vec![
        Step::new(id, actor, "report")
            .to(Status::Reported)
            .detail(serde_json::json!({"source": source.as_str(), "duplicate_of": duplicate_of})),
    ];
    let mut task = None;
    if let Some((kind, code)) = &routing.assignee {
        let row = super::moves::task_row(
            id,
            kind,
            code,
            colour,
            state
                .catalogue
                .get(tx)
                .await?
                .limits(routing.street.as_deref(), colour),
            now,
        );
        writes.push(tasks::Entity::insert(row.clone()).build(backend));
        let t = row.try_into_model()?;
        steps.push(
            Step::new(id, ActorRef::system(), "accept")
                .from(Status::Reported)
                .to(Status::Accepted),
        );
        steps.push(
            Step::new(id, ActorRef::system(), "dispatch")
                .task(t.id)
                .from(Status::Accepted)
                .to(Status::Dispatched)
                .detail(serde_json::json!({"assignee_kind": kind, "assignee_code": code})),
        );
        task = Some(t);
    }
    writes.push(timeline::Entity::insert_many(Step::rows(steps)).build(backend));
    // Built from what is written, rather than read back.
    let view = views::assemble_one(event, task, new.photos.clone());
    let (grid_code, team_code) = views::audience(routing.assignee.as_ref());
    let announcement = outbox::row(Entry {
        event_id: id,
        kind: "event.created",
        grid_code,
        team_code,
        user_id: reporter_id,
        street_code: routing.street.clone(),
        payload: serde_json::to_value(&view).unwrap_or_default(),
    });
    writes.push(outbox_rows::Entity::insert(announcement).build(backend));
    // On PostgreSQL one statement: an intake's cost there is its round trips, not its rows.
    crate::db::insert_all(tx, writes).await?;
    Ok(view)
}
