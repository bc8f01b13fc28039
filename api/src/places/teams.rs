//! Teams that take tasks instead of a grid: enforcement squads, mediation teams, micro fire
//! stations. A team covers areas and takes event categories; its members are the users who serve
//! it (`{"kind":"team","code":…}` among their areas), so membership has one home: accounts.

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::accounts::AreaKind;
use crate::entities::{areas, team_areas, team_categories, teams, user_areas, users};
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, PageRequest};
use crate::stored::{self, Corrupt};

/// What a team does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TeamKind {
    /// 执法队: enforcement squad.
    Enforcement,
    /// 调解队: mediation team (neighbour, family, labour disputes).
    Mediation,
    /// 微型消防站: micro fire station.
    FireStation,
    /// Any other specialised team.
    Other,
}

impl TeamKind {
    const ALL: [TeamKind; 4] = [
        TeamKind::Enforcement,
        TeamKind::Mediation,
        TeamKind::FireStation,
        TeamKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TeamKind::Enforcement => "enforcement",
            TeamKind::Mediation => "mediation",
            TeamKind::FireStation => "fire_station",
            TeamKind::Other => "other",
        }
    }

    /// A stored kind; an unknown one is a corrupt row.
    pub fn parse(s: &str) -> Result<Self, Corrupt> {
        stored::lookup("team kind", &Self::ALL, Self::as_str, s)
    }
}

/// A member as a team's roster shows them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberView {
    pub id: Uuid,
    pub name: String,
}

/// A team with what it covers, takes and who serves in it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamView {
    pub code: String,
    pub name: String,
    pub kind: TeamKind,
    /// Codes of the areas the team covers.
    pub areas: Vec<String>,
    /// Event categories the team takes, e.g. `dispute.neighbour`.
    pub categories: Vec<String>,
    pub members: Vec<MemberView>,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

/// A validated team definition.
pub struct TeamSpec {
    pub name: String,
    pub kind: TeamKind,
    /// In the order the request gave them, so errors name the right index.
    pub areas: Vec<String>,
    pub categories: BTreeSet<String>,
}

fn code_taken(e: DbErr) -> ApiError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => ApiError::Conflict {
            field: Some("code"),
            detail: "a team with this code exists".to_owned(),
        },
        _ => ApiError::Database(e),
    }
}

/// Refuses area codes that are not in the stored tree, naming each.
pub(crate) async fn check_areas(db: &impl ConnectionTrait, wanted: &[String]) -> ApiResult<()> {
    let known: BTreeSet<String> = areas::Entity::find()
        .select_only()
        .column(areas::Column::Code)
        .filter(areas::Column::Code.is_in(wanted.iter().cloned()))
        .into_tuple()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let errors: Vec<_> = wanted
        .iter()
        .enumerate()
        .filter(|(_, c)| !known.contains(*c))
        .map(|(i, c)| {
            crate::error::FieldError::new(
                format!("areas[{i}]"),
                "unknown_area",
                format!("no area {c}"),
            )
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

async fn write_links(db: &impl ConnectionTrait, team: Uuid, spec: &TeamSpec) -> ApiResult<()> {
    team_areas::Entity::delete_many()
        .filter(team_areas::Column::TeamId.eq(team))
        .exec(db)
        .await?;
    team_categories::Entity::delete_many()
        .filter(team_categories::Column::TeamId.eq(team))
        .exec(db)
        .await?;
    let areas: BTreeSet<&String> = spec.areas.iter().collect();
    if !areas.is_empty() {
        team_areas::Entity::insert_many(areas.into_iter().map(|a| team_areas::ActiveModel {
            team_id: Set(team),
            area_code: Set(a.clone()),
        }))
        .exec(db)
        .await?;
    }
    if !spec.categories.is_empty() {
        team_categories::Entity::insert_many(spec.categories.iter().map(|c| {
            team_categories::ActiveModel {
                team_id: Set(team),
                category: Set(c.clone()),
            }
        }))
        .exec(db)
        .await?;
    }
    Ok(())
}

/// Creates a team.
pub async fn create(db: &DatabaseConnection, code: String, spec: TeamSpec) -> ApiResult<TeamView> {
    check_areas(db, &spec.areas).await?;
    let now = Utc::now();
    let id = Uuid::now_v7();
    let tx = crate::db::begin_write(db).await?;
    teams::ActiveModel {
        id: Set(id),
        code: Set(code.clone()),
        name: Set(spec.name.clone()),
        kind: Set(spec.kind.as_str().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&tx)
    .await
    .map_err(code_taken)?;
    write_links(&tx, id, &spec).await?;
    tx.commit().await?;
    get(db, &code).await
}

/// Replaces a team's name, kind, areas and categories.
pub async fn update(db: &DatabaseConnection, code: &str, spec: TeamSpec) -> ApiResult<TeamView> {
    check_areas(db, &spec.areas).await?;
    let tx = crate::db::begin_write(db).await?;
    let row = teams::Entity::find()
        .filter(teams::Column::Code.eq(code))
        .one(&tx)
        .await?
        .ok_or(ApiError::NotFound("team"))?;
    let id = row.id;
    let mut active: teams::ActiveModel = row.into();
    active.name = Set(spec.name.clone());
    active.kind = Set(spec.kind.as_str().to_owned());
    active.updated_at = Set(Utc::now());
    active.update(&tx).await?;
    write_links(&tx, id, &spec).await?;
    tx.commit().await?;
    get(db, code).await
}

/// Deletes a team; its members keep their accounts but no longer serve it.
pub async fn delete(db: &DatabaseConnection, code: &str) -> ApiResult<()> {
    let tx = crate::db::begin_write(db).await?;
    let done = teams::Entity::delete_many()
        .filter(teams::Column::Code.eq(code))
        .exec(&tx)
        .await?;
    if done.rows_affected == 0 {
        return Err(ApiError::NotFound("team"));
    }
    user_areas::Entity::delete_many()
        .filter(user_areas::Column::AreaKind.eq(AreaKind::Team.as_str()))
        .filter(user_areas::Column::AreaCode.eq(code))
        .exec(&tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn views(db: &impl ConnectionTrait, rows: Vec<teams::Model>) -> ApiResult<Vec<TeamView>> {
    let ids: Vec<Uuid> = rows.iter().map(|t| t.id).collect();
    let codes: Vec<String> = rows.iter().map(|t| t.code.clone()).collect();
    let mut areas: HashMap<Uuid, Vec<String>> = HashMap::new();
    for a in team_areas::Entity::find()
        .filter(team_areas::Column::TeamId.is_in(ids.clone()))
        .order_by_asc(team_areas::Column::AreaCode)
        .all(db)
        .await?
    {
        areas.entry(a.team_id).or_default().push(a.area_code);
    }
    let mut categories: HashMap<Uuid, Vec<String>> = HashMap::new();
    for c in team_categories::Entity::find()
        .filter(team_categories::Column::TeamId.is_in(ids))
        .order_by_asc(team_categories::Column::Category)
        .all(db)
        .await?
    {
        categories.entry(c.team_id).or_default().push(c.category);
    }
    let links = user_areas::Entity::find()
        .filter(user_areas::Column::AreaKind.eq(AreaKind::Team.as_str()))
        .filter(user_areas::Column::AreaCode.is_in(codes))
        .all(db)
        .await?;
    let names: HashMap<Uuid, String> = users::Entity::find()
        .filter(users::Column::Id.is_in(links.iter().map(|l| l.user_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    let mut members: HashMap<String, Vec<MemberView>> = HashMap::new();
    for l in links {
        if let Some(name) = names.get(&l.user_id) {
            members.entry(l.area_code).or_default().push(MemberView {
                id: l.user_id,
                name: name.clone(),
            });
        }
    }
    for m in members.values_mut() {
        m.sort_by_key(|m| m.id);
    }
    rows.into_iter()
        .map(|t| {
            Ok(TeamView {
                kind: TeamKind::parse(&t.kind)?,
                areas: areas.remove(&t.id).unwrap_or_default(),
                categories: categories.remove(&t.id).unwrap_or_default(),
                members: members.remove(&t.code).unwrap_or_default(),
                code: t.code,
                name: t.name,
                created_at: t.created_at,
                updated_at: t.updated_at,
            })
        })
        .collect()
}

/// One team.
pub async fn get(db: &impl ConnectionTrait, code: &str) -> ApiResult<TeamView> {
    let row = teams::Entity::find()
        .filter(teams::Column::Code.eq(code))
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("team"))?;
    views(db, vec![row])
        .await?
        .pop()
        .ok_or(ApiError::NotFound("team"))
}

/// Teams in creation order, optionally of one kind.
pub async fn list(
    db: &DatabaseConnection,
    page: PageRequest,
    kind: Option<TeamKind>,
) -> ApiResult<Page<TeamView>> {
    let mut q = teams::Entity::find().order_by_asc(teams::Column::Id);
    if let Some(k) = kind {
        q = q.filter(teams::Column::Kind.eq(k.as_str()));
    }
    if let Some(after) = page.after {
        q = q.filter(teams::Column::Id.gt(after));
    }
    let rows = q.limit(page.fetch()).all(db).await?;
    let page_rows = Page::from_rows(rows, &page, |t| t.id);
    Ok(Page {
        items: views(db, page_rows.items).await?,
        next_cursor: page_rows.next_cursor,
    })
}
