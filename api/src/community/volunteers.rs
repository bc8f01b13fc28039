//! The volunteer registry (志愿者) and volunteer teams (e.g. 红乔先锋, thousands strong).
//!
//! Any signed-in person may register as a volunteer, naming skills and the areas they serve.
//! Teams have leaders; joining a team that requires approval waits for a coordinator or one of
//! its leaders. The areas rule lives here too ([`within`]), for eligibility and call-outs.

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use places::locate::LocateIndex;
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::roles::{Coordinators, RoleSet};
use crate::auth::user::CurrentUser;
use crate::entities::{
    users, volunteer_areas, volunteer_skills, volunteer_team_members, volunteer_teams, volunteers,
};
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, PageRequest};

/// Whether area `inner` is `outer` or lies below it in the tree.
pub fn within(index: &LocateIndex, inner: &str, outer: &str) -> bool {
    inner == outer || index.chain(inner).iter().any(|n| n.code == outer)
}

/// `area` and every area below it: what "the volunteers of an area" covers.
fn subtree(index: &LocateIndex, area: &str) -> BTreeSet<String> {
    let mut all: BTreeSet<String> = index
        .nodes()
        .filter(|n| within(index, &n.code, area))
        .map(|n| n.code.clone())
        .collect();
    all.insert(area.to_owned());
    all
}

/// What a person registers with.
pub struct VolunteerSpec {
    pub skills: BTreeSet<String>,
    /// In request order, so errors name the right index.
    pub areas: Vec<String>,
    pub bio: Option<String>,
}

/// A team membership as a volunteer's profile shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Membership {
    pub team: String,
    pub team_name: String,
    /// `leader` or `member`.
    pub role: String,
    /// `active`, or `pending` while a team that requires approval decides.
    pub status: String,
}

/// A volunteer with their teams and service record in brief.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VolunteerView {
    pub user_id: Uuid,
    pub name: String,
    pub skills: Vec<String>,
    /// Codes of the areas served.
    pub areas: Vec<String>,
    pub bio: Option<String>,
    pub teams: Vec<Membership>,
    /// Minutes of attended service, summed over every attended shift.
    pub service_minutes: i64,
    pub registered_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

/// Registers the person as a volunteer, or replaces their skills, areas and bio.
pub async fn register(
    db: &DatabaseConnection,
    user: Uuid,
    spec: VolunteerSpec,
) -> ApiResult<(VolunteerView, bool)> {
    crate::places::teams::check_areas(db, &spec.areas).await?;
    let now = Utc::now();
    let tx = crate::db::begin_write(db).await?;
    let existing = volunteers::Entity::find_by_id(user).one(&tx).await?;
    let created = existing.is_none();
    match existing {
        Some(row) => {
            let mut row: volunteers::ActiveModel = row.into();
            row.bio = Set(spec.bio.clone());
            row.updated_at = Set(now);
            row.update(&tx).await?;
        }
        None => {
            volunteers::ActiveModel {
                user_id: Set(user),
                id: Set(Uuid::now_v7()),
                bio: Set(spec.bio.clone()),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&tx)
            .await?;
        }
    }
    volunteer_areas::Entity::delete_many()
        .filter(volunteer_areas::Column::UserId.eq(user))
        .exec(&tx)
        .await?;
    volunteer_skills::Entity::delete_many()
        .filter(volunteer_skills::Column::UserId.eq(user))
        .exec(&tx)
        .await?;
    let areas: BTreeSet<&String> = spec.areas.iter().collect();
    if !areas.is_empty() {
        volunteer_areas::Entity::insert_many(areas.into_iter().map(|a| {
            volunteer_areas::ActiveModel {
                user_id: Set(user),
                area_code: Set(a.clone()),
            }
        }))
        .exec(&tx)
        .await?;
    }
    if !spec.skills.is_empty() {
        volunteer_skills::Entity::insert_many(spec.skills.iter().map(|s| {
            volunteer_skills::ActiveModel {
                user_id: Set(user),
                skill: Set(s.clone()),
            }
        }))
        .exec(&tx)
        .await?;
    }
    tx.commit().await?;
    Ok((view(db, user).await?, created))
}

/// The volunteer row of a person, if they registered.
pub async fn find(db: &impl ConnectionTrait, user: Uuid) -> ApiResult<Option<volunteers::Model>> {
    Ok(volunteers::Entity::find_by_id(user).one(db).await?)
}

/// One volunteer.
pub async fn view(db: &impl ConnectionTrait, user: Uuid) -> ApiResult<VolunteerView> {
    let row = find(db, user)
        .await?
        .ok_or(ApiError::NotFound("volunteer"))?;
    views(db, vec![row])
        .await?
        .pop()
        .ok_or(ApiError::NotFound("volunteer"))
}

/// Views of several volunteers, in the order given, with a fixed number of queries.
async fn views(
    db: &impl ConnectionTrait,
    rows: Vec<volunteers::Model>,
) -> ApiResult<Vec<VolunteerView>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.user_id).collect();
    let names: HashMap<Uuid, String> = crate::accounts::names_of(db, ids.clone()).await?;
    let mut areas: HashMap<Uuid, Vec<String>> = HashMap::new();
    for a in volunteer_areas::Entity::find()
        .filter(volunteer_areas::Column::UserId.is_in(ids.clone()))
        .order_by_asc(volunteer_areas::Column::AreaCode)
        .all(db)
        .await?
    {
        areas.entry(a.user_id).or_default().push(a.area_code);
    }
    let mut skills: HashMap<Uuid, Vec<String>> = HashMap::new();
    for s in volunteer_skills::Entity::find()
        .filter(volunteer_skills::Column::UserId.is_in(ids.clone()))
        .order_by_asc(volunteer_skills::Column::Skill)
        .all(db)
        .await?
    {
        skills.entry(s.user_id).or_default().push(s.skill);
    }
    let links = volunteer_team_members::Entity::find()
        .filter(volunteer_team_members::Column::UserId.is_in(ids.clone()))
        .order_by_asc(volunteer_team_members::Column::Id)
        .all(db)
        .await?;
    let teams: HashMap<Uuid, volunteer_teams::Model> = volunteer_teams::Entity::find()
        .filter(volunteer_teams::Column::Id.is_in(links.iter().map(|l| l.team_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let mut memberships: HashMap<Uuid, Vec<Membership>> = HashMap::new();
    for l in links {
        if let Some(t) = teams.get(&l.team_id) {
            memberships.entry(l.user_id).or_default().push(Membership {
                team: t.code.clone(),
                team_name: t.name.clone(),
                role: l.role,
                status: l.status,
            });
        }
    }
    let minutes = crate::community::service_hours::service_minutes(db, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| VolunteerView {
            name: names.get(&r.user_id).cloned().unwrap_or_default(),
            skills: skills.remove(&r.user_id).unwrap_or_default(),
            areas: areas.remove(&r.user_id).unwrap_or_default(),
            bio: r.bio,
            teams: memberships.remove(&r.user_id).unwrap_or_default(),
            service_minutes: minutes.get(&r.user_id).copied().unwrap_or(0),
            registered_at: r.created_at,
            updated_at: r.updated_at,
            user_id: r.user_id,
        })
        .collect())
}

/// Which volunteers a coordinator lists.
#[derive(Debug, Default)]
pub struct VolunteerFilter {
    /// Serving this area or one below it.
    pub area: Option<String>,
    /// Active members of this team.
    pub team: Option<String>,
    pub skill: Option<String>,
}

/// The registry, in registration order.
pub async fn list(
    db: &impl ConnectionTrait,
    index: &LocateIndex,
    page: PageRequest,
    filter: VolunteerFilter,
) -> ApiResult<Page<VolunteerView>> {
    let mut q = volunteers::Entity::find().order_by_asc(volunteers::Column::Id);
    if let Some(after) = page.after {
        q = q.filter(volunteers::Column::Id.gt(after));
    }
    if let Some(area) = &filter.area {
        q = q.filter(
            volunteers::Column::UserId.in_subquery(
                Query::select()
                    .column(volunteer_areas::Column::UserId)
                    .from(volunteer_areas::Entity)
                    .and_where(volunteer_areas::Column::AreaCode.is_in(subtree(index, area)))
                    .to_owned(),
            ),
        );
    }
    if let Some(skill) = &filter.skill {
        q = q.filter(
            volunteers::Column::UserId.in_subquery(
                Query::select()
                    .column(volunteer_skills::Column::UserId)
                    .from(volunteer_skills::Entity)
                    .and_where(volunteer_skills::Column::Skill.eq(skill.as_str()))
                    .to_owned(),
            ),
        );
    }
    if let Some(team) = &filter.team {
        let team = find_team(db, team).await?;
        q = q.filter(
            volunteers::Column::UserId.in_subquery(
                Query::select()
                    .column(volunteer_team_members::Column::UserId)
                    .from(volunteer_team_members::Entity)
                    .and_where(volunteer_team_members::Column::TeamId.eq(team.id))
                    .and_where(volunteer_team_members::Column::Status.eq(ACTIVE))
                    .to_owned(),
            ),
        );
    }
    let rows = q.limit(page.fetch()).all(db).await?;
    let rows = Page::from_rows(rows, &page, |r| r.id);
    Ok(Page {
        items: views(db, rows.items).await?,
        next_cursor: rows.next_cursor,
    })
}

/// The volunteers a call-out for `area` reaches: those serving it or an area below it.
pub async fn in_area(
    db: &impl ConnectionTrait,
    index: &LocateIndex,
    area: &str,
) -> ApiResult<BTreeSet<Uuid>> {
    Ok(volunteer_areas::Entity::find()
        .select_only()
        .column(volunteer_areas::Column::UserId)
        .filter(volunteer_areas::Column::AreaCode.is_in(subtree(index, area)))
        .into_tuple::<Uuid>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

/// Whether the volunteer serves an area on the same branch as `area`: at it, below it (a grid's
/// volunteer for a community activity) or above it (a community's volunteer for a grid's).
pub async fn serves_branch(
    db: &impl ConnectionTrait,
    index: &LocateIndex,
    user: Uuid,
    area: &str,
) -> ApiResult<bool> {
    let mine: Vec<String> = volunteer_areas::Entity::find()
        .select_only()
        .column(volunteer_areas::Column::AreaCode)
        .filter(volunteer_areas::Column::UserId.eq(user))
        .into_tuple()
        .all(db)
        .await?;
    Ok(mine
        .iter()
        .any(|a| within(index, a, area) || within(index, area, a)))
}

/// Whether the volunteer lists this skill.
pub async fn has_skill(db: &impl ConnectionTrait, user: Uuid, skill: &str) -> ApiResult<bool> {
    Ok(
        volunteer_skills::Entity::find_by_id((user, skill.to_owned()))
            .one(db)
            .await?
            .is_some(),
    )
}

const ACTIVE: &str = "active";
const PENDING: &str = "pending";
const LEADER: &str = "leader";
const MEMBER: &str = "member";

/// A volunteer team to create, validated.
pub struct TeamSpec {
    pub code: String,
    pub name: String,
    pub area: Option<String>,
    pub requires_approval: bool,
    pub leaders: BTreeSet<Uuid>,
}

/// A volunteer team with its size.
#[derive(Debug, Clone, Serialize, ToSchema)]
// Named apart from the enforcement teams' schema of the same name in `places::teams`.
#[schema(as = VolunteerTeamView)]
pub struct TeamView {
    pub code: String,
    pub name: String,
    pub area: Option<String>,
    /// Whether joining waits for a coordinator or a leader.
    pub requires_approval: bool,
    pub leaders: Vec<Uuid>,
    pub members: u64,
    pub pending: u64,
    pub created_at: chrono::DateTime<Utc>,
}

fn code_taken(e: DbErr) -> ApiError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => ApiError::Conflict {
            field: Some("code"),
            detail: "a volunteer team with this code exists".to_owned(),
        },
        _ => ApiError::Database(e),
    }
}

/// Creates a team; its leaders must be registered volunteers and become active members.
pub async fn create_team(
    db: &DatabaseConnection,
    creator: Uuid,
    spec: TeamSpec,
) -> ApiResult<TeamView> {
    if let Some(area) = &spec.area {
        // `check_areas` names the field `areas[0]`; here it is `area`. Only its refusal is
        // renamed: a database failure stays one.
        crate::places::teams::check_areas(db, std::slice::from_ref(area))
            .await
            .map_err(|e| match e {
                ApiError::Validation(_) => {
                    ApiError::invalid("area", "unknown_area", format!("no area {area}"))
                }
                other => other,
            })?;
    }
    let registered = volunteers::Entity::find()
        .filter(volunteers::Column::UserId.is_in(spec.leaders.iter().copied()))
        .count(db)
        .await?;
    if registered != spec.leaders.len() as u64 {
        return Err(ApiError::invalid(
            "leaders",
            "not_a_volunteer",
            "every leader must be a registered volunteer",
        ));
    }
    let now = Utc::now();
    let id = Uuid::now_v7();
    let tx = crate::db::begin_write(db).await?;
    volunteer_teams::ActiveModel {
        id: Set(id),
        code: Set(spec.code.clone()),
        name: Set(spec.name),
        area_code: Set(spec.area),
        requires_approval: Set(spec.requires_approval),
        created_by: Set(creator),
        created_at: Set(now),
    }
    .insert(&tx)
    .await
    .map_err(code_taken)?;
    if !spec.leaders.is_empty() {
        volunteer_team_members::Entity::insert_many(spec.leaders.iter().map(|u| {
            volunteer_team_members::ActiveModel {
                id: Set(Uuid::now_v7()),
                team_id: Set(id),
                user_id: Set(*u),
                role: Set(LEADER.to_owned()),
                status: Set(ACTIVE.to_owned()),
                decided_by: Set(Some(creator)),
                created_at: Set(now),
                updated_at: Set(now),
            }
        }))
        .exec(&tx)
        .await?;
    }
    tx.commit().await?;
    team(db, &spec.code).await
}

/// The team row with this code.
pub async fn find_team(db: &impl ConnectionTrait, code: &str) -> ApiResult<volunteer_teams::Model> {
    volunteer_teams::Entity::find()
        .filter(volunteer_teams::Column::Code.eq(code))
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("volunteer team"))
}

async fn team_view(db: &impl ConnectionTrait, t: volunteer_teams::Model) -> ApiResult<TeamView> {
    let count = |status: &'static str| {
        volunteer_team_members::Entity::find()
            .filter(volunteer_team_members::Column::TeamId.eq(t.id))
            .filter(volunteer_team_members::Column::Status.eq(status))
            .count(db)
    };
    let members = count(ACTIVE).await?;
    let pending = count(PENDING).await?;
    let leaders = volunteer_team_members::Entity::find()
        .select_only()
        .column(volunteer_team_members::Column::UserId)
        .filter(volunteer_team_members::Column::TeamId.eq(t.id))
        .filter(volunteer_team_members::Column::Role.eq(LEADER))
        .order_by_asc(volunteer_team_members::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    Ok(TeamView {
        code: t.code,
        name: t.name,
        area: t.area_code,
        requires_approval: t.requires_approval,
        leaders,
        members,
        pending,
        created_at: t.created_at,
    })
}

/// One team.
pub async fn team(db: &impl ConnectionTrait, code: &str) -> ApiResult<TeamView> {
    team_view(db, find_team(db, code).await?).await
}

/// Every team, oldest first.
pub async fn list_teams(db: &impl ConnectionTrait, page: PageRequest) -> ApiResult<Page<TeamView>> {
    let mut q = volunteer_teams::Entity::find().order_by_asc(volunteer_teams::Column::Id);
    if let Some(after) = page.after {
        q = q.filter(volunteer_teams::Column::Id.gt(after));
    }
    let rows = Page::from_rows(q.limit(page.fetch()).all(db).await?, &page, |t| t.id);
    let mut items = Vec::with_capacity(rows.items.len());
    for t in rows.items {
        items.push(team_view(db, t).await?);
    }
    Ok(Page {
        items,
        next_cursor: rows.next_cursor,
    })
}

/// A member as a team's roster shows them.
#[derive(Debug, Clone, Serialize, ToSchema)]
// Named apart from the enforcement teams' schema of the same name in `places::teams`.
#[schema(as = VolunteerMemberView)]
pub struct MemberView {
    pub user_id: Uuid,
    pub name: String,
    pub role: String,
    pub status: String,
    pub since: chrono::DateTime<Utc>,
}

impl MemberView {
    fn of(m: volunteer_team_members::Model, name: String) -> Self {
        Self {
            user_id: m.user_id,
            name,
            role: m.role,
            status: m.status,
            since: m.created_at,
        }
    }
}

async fn membership(
    db: &impl ConnectionTrait,
    team: Uuid,
    user: Uuid,
) -> ApiResult<Option<volunteer_team_members::Model>> {
    Ok(volunteer_team_members::Entity::find()
        .filter(volunteer_team_members::Column::TeamId.eq(team))
        .filter(volunteer_team_members::Column::UserId.eq(user))
        .one(db)
        .await?)
}

async fn name_of(db: &impl ConnectionTrait, user: Uuid) -> ApiResult<String> {
    Ok(users::Entity::find_by_id(user)
        .one(db)
        .await?
        .map(|u| u.name)
        .unwrap_or_default())
}

/// Whether the person is an active member of the team with this code.
pub async fn is_active_member(
    db: &impl ConnectionTrait,
    code: &str,
    user: Uuid,
) -> ApiResult<bool> {
    let Ok(t) = find_team(db, code).await else {
        return Ok(false);
    };
    Ok(membership(db, t.id, user)
        .await?
        .is_some_and(|m| m.status == ACTIVE))
}

/// The one rule for who runs a team's roster: coordinators and admins, and the team's leaders.
async fn may_manage(
    db: &impl ConnectionTrait,
    team: &volunteer_teams::Model,
    who: &CurrentUser,
) -> ApiResult<bool> {
    if Coordinators::admits(&who.roles) {
        return Ok(true);
    }
    Ok(membership(db, team.id, who.id)
        .await?
        .is_some_and(|m| m.role == LEADER && m.status == ACTIVE))
}

/// Joins a team: active at once, or pending where the team requires approval. Joining again
/// answers with the membership already held.
pub async fn join(db: &DatabaseConnection, code: &str, user: Uuid) -> ApiResult<MemberView> {
    let t = find_team(db, code).await?;
    if find(db, user).await?.is_none() {
        return Err(ApiError::NotEligible(
            "register as a volunteer (POST /api/v1/volunteers/me) before joining a team".into(),
        ));
    }
    let now = Utc::now();
    let status = if t.requires_approval { PENDING } else { ACTIVE };
    volunteer_team_members::Entity::insert(volunteer_team_members::ActiveModel {
        id: Set(Uuid::now_v7()),
        team_id: Set(t.id),
        user_id: Set(user),
        role: Set(MEMBER.to_owned()),
        status: Set(status.to_owned()),
        decided_by: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict_do_nothing_on([
        volunteer_team_members::Column::TeamId,
        volunteer_team_members::Column::UserId,
    ])
    .exec(db)
    .await?;
    let m = membership(db, t.id, user)
        .await?
        .ok_or(ApiError::NotFound("membership"))?;
    Ok(MemberView::of(m, name_of(db, user).await?))
}

/// Leaves a team (or withdraws a pending request); leaving a team one is not in does nothing.
pub async fn leave(db: &DatabaseConnection, code: &str, user: Uuid) -> ApiResult<()> {
    let t = find_team(db, code).await?;
    volunteer_team_members::Entity::delete_many()
        .filter(volunteer_team_members::Column::TeamId.eq(t.id))
        .filter(volunteer_team_members::Column::UserId.eq(user))
        .exec(db)
        .await?;
    Ok(())
}

/// Approves or turns down a pending request to join. Approving an active member again answers
/// with the membership; turning down removes the request.
pub async fn decide(
    db: &DatabaseConnection,
    code: &str,
    who: &CurrentUser,
    user: Uuid,
    approve: bool,
) -> ApiResult<Option<MemberView>> {
    let t = find_team(db, code).await?;
    if !may_manage(db, &t, who).await? {
        return Err(ApiError::Forbidden);
    }
    let m = membership(db, t.id, user)
        .await?
        .ok_or(ApiError::NotFound("request to join"))?;
    if m.status == ACTIVE {
        return if approve {
            Ok(Some(MemberView::of(m, name_of(db, user).await?)))
        } else {
            Err(ApiError::Conflict {
                field: Some("user_id"),
                detail: "already an active member: they leave, or a coordinator removes them"
                    .into(),
            })
        };
    }
    if !approve {
        volunteer_team_members::Entity::delete_by_id(m.id)
            .exec(db)
            .await?;
        return Ok(None);
    }
    let mut row: volunteer_team_members::ActiveModel = m.into();
    row.status = Set(ACTIVE.to_owned());
    row.decided_by = Set(Some(who.id));
    row.updated_at = Set(Utc::now());
    let m = row.update(db).await?;
    Ok(Some(MemberView::of(m, name_of(db, user).await?)))
}

/// Which members a roster lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    Active,
    Pending,
}

/// A team's roster in joining order, for those who run it.
pub async fn roster(
    db: &impl ConnectionTrait,
    code: &str,
    who: &CurrentUser,
    status: Option<MemberStatus>,
    page: PageRequest,
) -> ApiResult<Page<MemberView>> {
    let t = find_team(db, code).await?;
    if !may_manage(db, &t, who).await? {
        return Err(ApiError::Forbidden);
    }
    let mut q = volunteer_team_members::Entity::find()
        .filter(volunteer_team_members::Column::TeamId.eq(t.id))
        .order_by_asc(volunteer_team_members::Column::Id);
    if let Some(s) = status {
        q = q.filter(volunteer_team_members::Column::Status.eq(match s {
            MemberStatus::Active => ACTIVE,
            MemberStatus::Pending => PENDING,
        }));
    }
    if let Some(after) = page.after {
        q = q.filter(volunteer_team_members::Column::Id.gt(after));
    }
    let rows = Page::from_rows(q.limit(page.fetch()).all(db).await?, &page, |m| m.id);
    let names: HashMap<Uuid, String> =
        crate::accounts::names_of(db, rows.items.iter().map(|m| m.user_id)).await?;
    Ok(Page {
        items: rows
            .items
            .into_iter()
            .map(|m| {
                let name = names.get(&m.user_id).cloned().unwrap_or_default();
                MemberView::of(m, name)
            })
            .collect(),
        next_cursor: rows.next_cursor,
    })
}

/// The active members of a team, for a call-out.
pub async fn active_members(db: &impl ConnectionTrait, team: Uuid) -> ApiResult<BTreeSet<Uuid>> {
    Ok(volunteer_team_members::Entity::find()
        .select_only()
        .column(volunteer_team_members::Column::UserId)
        .filter(volunteer_team_members::Column::TeamId.eq(team))
        .filter(volunteer_team_members::Column::Status.eq(ACTIVE))
        .into_tuple::<Uuid>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::tree;

    #[test]
    fn an_area_holds_itself_and_what_lies_below_it() {
        let t = tree();
        assert!(within(&t, "S-G1-M1", "S-C1"));
        assert!(within(&t, "S-C1", "S-C1"));
        assert!(!within(&t, "S-C1", "S-G1"), "above is not within");
        assert!(!within(&t, "S-G3", "S-C1"));
        assert_eq!(
            subtree(&t, "S-C1").into_iter().collect::<Vec<_>>(),
            ["S-C1", "S-G1", "S-G1-M1", "S-G1-M2", "S-G2"]
        );
        assert_eq!(
            subtree(&t, "X-9").len(),
            1,
            "an unknown area is just itself"
        );
    }
}
