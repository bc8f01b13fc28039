//! What the unit tests of several modules build alike: a small area tree, a signed-in user with
//! roles, an area a user serves; and a database in memory holding users, areas and reports.

use chrono::Utc;
use places::locate::{LocateIndex, Node};
use places::tree::Level;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, Set};
use uuid::Uuid;

use crate::accounts::{AreaKind, AreaRef};
use crate::auth::roles::Role;
use crate::auth::user::CurrentUser;
use crate::config::DbArgs;
use crate::entities::{areas, events, user_areas, users};

/// Street S with communities S-C1 (grids S-G1, with micro-grids S-G1-M1 and S-G1-M2, and S-G2)
/// and S-C2 (grid S-G3).
pub fn tree() -> LocateIndex {
    let node = |code: &str, level, parent: Option<&str>| {
        (
            Node {
                code: code.to_owned(),
                name: code.to_owned(),
                level,
                parent: parent.map(str::to_owned),
            },
            None,
        )
    };
    LocateIndex::build(vec![
        node("S", Level::Street, None),
        node("S-C1", Level::Community, Some("S")),
        node("S-C2", Level::Community, Some("S")),
        node("S-G1", Level::Grid, Some("S-C1")),
        node("S-G1-M1", Level::MicroGrid, Some("S-G1")),
        node("S-G1-M2", Level::MicroGrid, Some("S-G1")),
        node("S-G2", Level::Grid, Some("S-C1")),
        node("S-G3", Level::Grid, Some("S-C2")),
    ])
}

pub fn user(roles: &[Role]) -> CurrentUser {
    CurrentUser {
        id: Uuid::now_v7(),
        session: Uuid::now_v7(),
        roles: roles.to_vec(),
    }
}

pub fn area(kind: AreaKind, code: &str) -> AreaRef {
    AreaRef {
        kind,
        code: code.to_owned(),
    }
}

/// What a test that touches the database returns.
pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A database of the test's own, in memory: migrated, with the default catalogue. It has one
/// connection, since an in-memory SQLite database lives and dies with its connection.
pub async fn database() -> Result<DatabaseConnection, Box<dyn std::error::Error + Send + Sync>> {
    let db = crate::db::connect(&DbArgs {
        database_url: "sqlite::memory:".to_owned(),
        db_max_connections: 1,
    })
    .await?;
    crate::db::migrate(&db).await?;
    crate::events::catalogue::ensure_defaults(&db).await?;
    Ok(db)
}

/// Writes `user` to the database, serving `areas`: what `accounts::areas_of` reads back.
pub async fn enrol(
    db: &impl ConnectionTrait,
    user: &CurrentUser,
    areas: &[AreaRef],
) -> Result<(), sea_orm::DbErr> {
    let now = Utc::now();
    users::ActiveModel {
        id: Set(user.id),
        // The random end of the id: ids made in one millisecond share their start.
        phone: Set(format!("1{}", &user.id.simple().to_string()[22..])),
        name: Set("测试".to_owned()),
        password_hash: Set(String::new()),
        disabled: Set(false),
        email: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    for a in areas {
        user_areas::ActiveModel {
            user_id: Set(user.id),
            area_kind: Set(a.kind.as_str().to_owned()),
            area_code: Set(a.code.clone()),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// A report of `category` in grid S-G1 (micro-grid S-G1-M1, street S), with `status`, written
/// as the intake would have; by `reporter` when given.
pub async fn event_in_s_g1(
    db: &impl ConnectionTrait,
    reporter: Option<Uuid>,
    category: &str,
    status: &str,
) -> Result<events::Model, sea_orm::DbErr> {
    let now = Utc::now();
    events::ActiveModel {
        id: Set(Uuid::now_v7()),
        idem_key: Set(None),
        request_hash: Set(String::new()),
        source: Set("citizen".to_owned()),
        reporter_id: Set(reporter),
        api_key_id: Set(None),
        category: Set(category.to_owned()),
        colour: Set("yellow".to_owned()),
        status: Set(status.to_owned()),
        description: Set("楼道堆放纸箱".to_owned()),
        lng: Set(None),
        lat: Set(None),
        building_code: Set(None),
        micro_grid_code: Set(Some("S-G1-M1".to_owned())),
        grid_code: Set(Some("S-G1".to_owned())),
        street_code: Set(Some("S".to_owned())),
        duplicate_of: Set(None),
        merged_into: Set(None),
        rating: Set(None),
        rating_comment: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
}

/// Writes the rows of the test tree's areas, which a dispatch checks its assignee against.
pub async fn store_tree(db: &impl ConnectionTrait) -> Result<(), sea_orm::DbErr> {
    let now = Utc::now();
    let rows = [
        ("S", "street", None),
        ("S-C1", "community", Some("S")),
        ("S-C2", "community", Some("S")),
        ("S-G1", "grid", Some("S-C1")),
        ("S-G1-M1", "micro_grid", Some("S-G1")),
        ("S-G1-M2", "micro_grid", Some("S-G1")),
        ("S-G2", "grid", Some("S-C1")),
        ("S-G3", "grid", Some("S-C2")),
    ];
    for (code, level, parent) in rows {
        areas::ActiveModel {
            id: Set(Uuid::now_v7()),
            code: Set(code.to_owned()),
            name: Set(code.to_owned()),
            level: Set(level.to_owned()),
            parent_code: Set(parent.map(str::to_owned)),
            street_code: Set("S".to_owned()),
            geometry: Set(None),
            health_colour: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// "1510": signed within a minute, on site within five, handled within ten.
pub fn limits() -> crate::events::catalogue::Limits {
    crate::events::catalogue::Limits {
        accept_secs: None,
        dispatch_secs: None,
        sign_secs: Some(60),
        arrive_secs: Some(300),
        handle_secs: Some(600),
    }
}

/// A citizen's report of garbage in micro-grid S-G1-M1 of [`tree`], with `status`.
pub fn event_row(reporter: Option<Uuid>, status: &str) -> events::Model {
    let now = Utc::now();
    events::Model {
        id: Uuid::now_v7(),
        idem_key: None,
        request_hash: String::new(),
        source: "citizen".into(),
        reporter_id: reporter,
        api_key_id: None,
        category: "environment.garbage".into(),
        colour: "blue".into(),
        status: status.into(),
        description: "楼道堆放纸箱".into(),
        lng: None,
        lat: None,
        building_code: None,
        micro_grid_code: Some("S-G1-M1".into()),
        grid_code: Some("S-G1".into()),
        street_code: Some("S".into()),
        duplicate_of: None,
        merged_into: None,
        rating: None,
        rating_comment: None,
        created_at: now,
        updated_at: now,
    }
}
