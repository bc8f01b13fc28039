//! Events in, from every source, and out to the right grid or team in the same transaction.
//!
//! Every create carries a caller-chosen key (the body's `id` or an `Idempotency-Key` header), so a
//! phone or a sensor that retries never makes a second event: the retry gets the first answer,
//! and a retry with a different body is refused.

use std::collections::BTreeSet;

use places::geometry::Coord;
use places::locate::LocateIndex;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::catalogue::{Cached, Category, Colour, Limits};
use crate::entities::{team_areas, team_categories, teams};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::places::areas::placement;
use crate::places::buildings;

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
    pub const ALL: [Source; 4] = [
        Source::Citizen,
        Source::Patrol,
        Source::Hotline,
        Source::Machine,
    ];

    /// The source's Chinese name, as files show it.
    pub fn name_zh(self) -> &'static str {
        match self {
            Source::Citizen => "居民上报",
            Source::Patrol => "巡查发现",
            Source::Hotline => "热线",
            Source::Machine => "物联感知",
        }
    }

    /// The source stored as `s`, when it is one.
    pub fn named(s: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|x| x.as_str() == s)
    }

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

/// The rules every report's text and photos meet, wherever it is made (a report, a patrol's
/// finding): 1–2000 characters, at most 9 photos.
pub fn check_report(errors: &mut Vec<FieldError>, description: &str, photos: &[String]) {
    let n = description.trim().chars().count();
    if n == 0 || n > 2000 {
        errors.push(FieldError::new(
            "description",
            "length",
            "1–2000 characters",
        ));
    }
    if photos.len() > 9 {
        errors.push(FieldError::new("photos", "max_items", "at most 9 photos"));
    }
}

/// The report's category from the catalogue, once every other field passed: all the fields at
/// fault, the category among them, are refused together.
pub async fn report_category(
    db: &impl ConnectionTrait,
    catalogue: &Cached,
    mut errors: Vec<FieldError>,
    code: &str,
) -> ApiResult<Category> {
    let category = match catalogue.get(db).await?.category(code, "category") {
        Ok(c) => Some(c),
        Err(ApiError::Validation(e)) => {
            errors.extend(e);
            None
        }
        Err(e) => return Err(e),
    };
    category
        .filter(|_| errors.is_empty())
        .ok_or(ApiError::Validation(errors))
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
    index: &LocateIndex,
    db: &impl ConnectionTrait,
    category: &Category,
    point: Option<Coord>,
    building: Option<&str>,
) -> ApiResult<Routing> {
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
        let (micro, grid) = placement(index, p);
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

/// The reads of an intake that need no transaction: what it reads here (photos, buildings,
/// teams, the catalogue) is not what concurrent reports change. Duplicates are looked for by
/// the writer, a batch at a time.
pub async fn prepare(
    db: &impl ConnectionTrait,
    index: &LocateIndex,
    catalogue: &Cached,
    new: NewEvent,
) -> ApiResult<Prepared> {
    check_photos(db, &new).await?;
    let routing = route(
        index,
        db,
        &new.category,
        new.point,
        new.building_code.as_deref(),
    )
    .await?;
    let colour = new.colour.unwrap_or(new.category.colour);
    let limits = catalogue
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

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};

    use super::*;
    use crate::entities::buildings;
    use crate::testing::{TestResult, database, tree};

    fn fields(e: ApiResult<Category>) -> Vec<String> {
        match e {
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            Err(other) => vec![format!("not a validation error: {other}")],
            Ok(c) => vec![format!("accepted {}", c.code)],
        }
    }

    #[test]
    fn a_report_says_something_in_at_most_2000_characters_with_at_most_9_photos() {
        let checked = |description: &str, photos: usize| {
            let mut errors = Vec::new();
            check_report(&mut errors, description, &vec!["ab".repeat(32); photos]);
            errors.into_iter().map(|e| e.field).collect::<Vec<_>>()
        };
        assert!(checked("楼道堆放纸箱", 9).is_empty());
        assert!(
            checked(&"字".repeat(2000), 0).is_empty(),
            "characters, not bytes"
        );
        assert_eq!(checked(" \n\t ", 0), ["description"]);
        assert_eq!(checked(&"字".repeat(2001), 0), ["description"]);
        assert_eq!(checked("楼道堆放纸箱", 10), ["photos"]);
        assert_eq!(checked("", 10), ["description", "photos"]);
    }

    #[tokio::test]
    async fn an_unknown_category_is_refused_together_with_the_other_faults() -> TestResult {
        let db = database().await?;
        let catalogue = Cached::default();
        let garbage = report_category(&db, &catalogue, Vec::new(), "environment.garbage").await?;
        assert_eq!(garbage.code, "environment.garbage");
        let bad_text = || {
            vec![FieldError::new(
                "description",
                "length",
                "1–2000 characters",
            )]
        };
        let known = report_category(&db, &catalogue, bad_text(), "environment.garbage").await;
        assert_eq!(fields(known), ["description"]);
        let unknown = report_category(&db, &catalogue, bad_text(), "no.such").await;
        assert_eq!(fields(unknown), ["description", "category"]);
        let alone = report_category(&db, &catalogue, Vec::new(), "no.such").await;
        assert_eq!(fields(alone), ["category"]);
        Ok(())
    }

    async fn team(
        db: &DatabaseConnection,
        code: &str,
        kind: &str,
        areas: &[&str],
        categories: &[&str],
    ) -> Result<(), sea_orm::DbErr> {
        let id = Uuid::now_v7();
        teams::ActiveModel {
            id: Set(id),
            code: Set(code.to_owned()),
            name: Set(code.to_owned()),
            kind: Set(kind.to_owned()),
            created_at: Set(Utc::now()),
            updated_at: Set(Utc::now()),
        }
        .insert(db)
        .await?;
        for a in areas {
            team_areas::ActiveModel {
                team_id: Set(id),
                area_code: Set((*a).to_owned()),
            }
            .insert(db)
            .await?;
        }
        for c in categories {
            team_categories::ActiveModel {
                team_id: Set(id),
                category: Set((*c).to_owned()),
            }
            .insert(db)
            .await?;
        }
        Ok(())
    }

    async fn building_in_s_g1(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
        let now = Utc::now();
        buildings::ActiveModel {
            id: Set(Uuid::now_v7()),
            code: Set("S-B1".to_owned()),
            name: Set("1幢".to_owned()),
            address: Set("1幢".to_owned()),
            lat: Set(30.25),
            lng: Set(120.15),
            micro_grid_code: Set(Some("S-G1-M1".to_owned())),
            grid_code: Set(Some("S-G1".to_owned())),
            floors: Set(None),
            notes: Set(None),
            verified_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(db)
        .await?;
        Ok(())
    }

    #[tokio::test]
    async fn a_report_goes_to_its_grid_or_to_the_team_of_its_kind_covering_the_place() -> TestResult
    {
        let db = database().await?;
        let idx = tree();
        building_in_s_g1(&db).await?;
        let snapshot = Cached::default().get(&db).await?;
        let garbage = snapshot.category("environment.garbage", "category")?;
        let dispute = snapshot.category("dispute.neighbour", "category")?;
        let assignee = |r: &Routing| r.assignee.clone().map(|(k, c)| format!("{k}:{c}"));

        // The building gives the place, and its grid takes what grids handle.
        let r = route(&idx, &db, &garbage, None, Some("S-B1")).await?;
        assert_eq!(assignee(&r).as_deref(), Some("grid:S-G1"));
        assert_eq!(r.micro_grid.as_deref(), Some("S-G1-M1"));
        assert_eq!(r.street.as_deref(), Some("S"), "the street over the grid");
        assert_eq!(r.point, Some([120.15, 30.25]), "the building's point");

        // No mediation team yet: the grid takes the dispute too.
        let r = route(&idx, &db, &dispute, None, Some("S-B1")).await?;
        assert_eq!(assignee(&r).as_deref(), Some("grid:S-G1"));

        // Teams covering an area on the grid's chain take it, one taking the category first;
        // a team elsewhere or of another kind never does.
        team(&db, "MED-A", "mediation", &["S-C1"], &[]).await?;
        team(&db, "MED-0", "mediation", &["S-C2"], &["dispute.neighbour"]).await?;
        team(
            &db,
            "FIRE-1",
            "fire_station",
            &["S"],
            &["dispute.neighbour"],
        )
        .await?;
        let r = route(&idx, &db, &dispute, None, Some("S-B1")).await?;
        assert_eq!(
            assignee(&r).as_deref(),
            Some("team:MED-A"),
            "the only one covering"
        );
        team(&db, "MED-B", "mediation", &["S-G1"], &["dispute.neighbour"]).await?;
        let r = route(&idx, &db, &dispute, None, Some("S-B1")).await?;
        assert_eq!(
            assignee(&r).as_deref(),
            Some("team:MED-B"),
            "the one taking disputes"
        );
        let r = route(&idx, &db, &garbage, None, Some("S-B1")).await?;
        assert_eq!(
            assignee(&r).as_deref(),
            Some("grid:S-G1"),
            "grids keep their own"
        );

        // Nowhere known: the dispatchers' queue.
        let r = route(&idx, &db, &garbage, None, None).await?;
        assert_eq!(assignee(&r), None);
        assert_eq!(r.grid, None);
        let r = route(&idx, &db, &garbage, Some([0.0, 0.0]), None).await?;
        assert_eq!(assignee(&r), None, "a point outside every grid");

        match route(&idx, &db, &garbage, None, Some("S-B9")).await {
            Err(ApiError::Validation(e)) => {
                assert_eq!(e[0].field, "building_code");
                assert_eq!(e[0].rule, "unknown_building");
            }
            other => panic!("an unknown building is refused, got {other:?}"),
        }
        Ok(())
    }
}
