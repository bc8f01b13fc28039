//! Accounts: creating users, reading them with their roles and areas, changing them. Every path
//! that makes or changes a user (self-registration, the admin API, `gridwing user add`, the demo
//! data) goes through here.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::password;
use crate::auth::roles::Role;
use crate::auth::sessions::{self, RevokeReason};
use crate::domain::{DisplayName, Email, Password, Phone};
use crate::entities::{areas as area_rows, teams, user_areas, user_roles, users};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::pagination::{Page, PageRequest};
use crate::stored::{self, Corrupt};

/// The kind of area a user serves. Codes are those of the area tree and team registry.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AreaKind {
    Street,
    Community,
    GridLayer,
    Grid,
    MicroGrid,
    Team,
}

impl AreaKind {
    const ALL: [AreaKind; 6] = [
        AreaKind::Street,
        AreaKind::Community,
        AreaKind::GridLayer,
        AreaKind::Grid,
        AreaKind::MicroGrid,
        AreaKind::Team,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AreaKind::Street => "street",
            AreaKind::Community => "community",
            AreaKind::GridLayer => "grid_layer",
            AreaKind::Grid => "grid",
            AreaKind::MicroGrid => "micro_grid",
            AreaKind::Team => "team",
        }
    }

    /// A stored kind; an unknown one is a corrupt row.
    pub fn parse(s: &str) -> Result<Self, Corrupt> {
        stored::lookup("area kind", &Self::ALL, Self::as_str, s)
    }

    /// The kind's name in Chinese, for messages.
    pub fn name_zh(self) -> &'static str {
        match self {
            AreaKind::Street => "街道",
            AreaKind::Community => "社区",
            AreaKind::GridLayer => "网层",
            AreaKind::Grid => "网格",
            AreaKind::MicroGrid => "微网格",
            AreaKind::Team => "队伍",
        }
    }
}

/// An area (or team) a user serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AreaRef {
    pub kind: AreaKind,
    /// The area's code, e.g. `QSH-G001`.
    #[schema(value_type = crate::domain::Code)]
    pub code: String,
}

impl AreaRef {
    /// Checks the code's shape; `field` names it in the error.
    pub fn validate(&self, field: &str) -> ApiResult<()> {
        crate::domain::check_code(&format!("{field}.code"), &self.code)
    }

    /// Parses `KIND:CODE` as written on the command line.
    pub fn parse_cli(s: &str) -> Result<Self, String> {
        let (kind, code) = s
            .split_once(':')
            .ok_or_else(|| format!("{s}: expected KIND:CODE"))?;
        let kind = AreaKind::parse(kind).map_err(|_| format!("{kind}: unknown area kind"))?;
        let area = AreaRef {
            kind,
            code: code.to_owned(),
        };
        area.validate("area").map_err(|e| e.to_string())?;
        Ok(area)
    }
}

/// A user as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub phone: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub areas: Vec<AreaRef>,
    pub disabled: bool,
    /// Where mail for this user goes (escalations, mobilisation), if given.
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A user to create, already validated.
pub struct NewAccount {
    pub phone: Phone,
    pub name: DisplayName,
    pub password: Password,
    pub roles: BTreeSet<Role>,
    pub areas: BTreeSet<AreaRef>,
    pub email: Option<Email>,
}

/// A validated change to a user; `None` leaves a field as it is.
#[derive(Default)]
pub struct AccountChange {
    pub name: Option<DisplayName>,
    pub roles: Option<BTreeSet<Role>>,
    pub areas: Option<BTreeSet<AreaRef>>,
    pub disabled: Option<bool>,
    pub password: Option<Password>,
    pub email: Option<Email>,
}

fn phone_taken(e: DbErr) -> ApiError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => ApiError::Conflict {
            field: Some("phone"),
            detail: "this phone number is already registered".to_owned(),
        },
        _ => ApiError::Database(e),
    }
}

async fn replace_roles(
    db: &impl ConnectionTrait,
    user: Uuid,
    roles: &BTreeSet<Role>,
) -> ApiResult<()> {
    user_roles::Entity::delete_many()
        .filter(user_roles::Column::UserId.eq(user))
        .exec(db)
        .await?;
    if !roles.is_empty() {
        user_roles::Entity::insert_many(roles.iter().map(|r| user_roles::ActiveModel {
            user_id: Set(user),
            role: Set(r.as_str().to_owned()),
        }))
        .exec(db)
        .await?;
    }
    Ok(())
}

async fn replace_areas(
    db: &impl ConnectionTrait,
    user: Uuid,
    areas: &BTreeSet<AreaRef>,
) -> ApiResult<()> {
    user_areas::Entity::delete_many()
        .filter(user_areas::Column::UserId.eq(user))
        .exec(db)
        .await?;
    if !areas.is_empty() {
        user_areas::Entity::insert_many(areas.iter().map(|a| user_areas::ActiveModel {
            user_id: Set(user),
            area_kind: Set(a.kind.as_str().to_owned()),
            area_code: Set(a.code.clone()),
        }))
        .exec(db)
        .await?;
    }
    Ok(())
}

/// Refuses areas that do not exist: an area code not in the area tree at its level, a team code
/// no team has. A worker given a misspelt grid would otherwise serve nothing and hear nothing,
/// silently. Every bad area is named (`areas[i].code`).
pub async fn check_areas_exist(db: &impl ConnectionTrait, areas: &[AreaRef]) -> ApiResult<()> {
    let mut errors = Vec::new();
    for (i, a) in areas.iter().enumerate() {
        let known = match a.kind {
            AreaKind::Team => teams::Entity::find()
                .filter(teams::Column::Code.eq(&a.code))
                .one(db)
                .await?
                .is_some(),
            kind => area_rows::Entity::find()
                .filter(area_rows::Column::Code.eq(&a.code))
                .filter(area_rows::Column::Level.eq(kind.as_str()))
                .one(db)
                .await?
                .is_some(),
        };
        if !known {
            errors.push(FieldError::new(
                format!("areas[{i}].code"),
                "unknown_area",
                format!("没有编码为 {} 的{}", a.code, a.kind.name_zh()),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Creates a user with roles and areas in one transaction.
pub async fn create(db: &DatabaseConnection, new: NewAccount) -> ApiResult<UserView> {
    if new.roles.is_empty() {
        return Err(ApiError::invalid("roles", "min_items", "at least one role"));
    }
    // Hash before the transaction so no connection is held while argon2 runs.
    let hash = password::hash(new.password.expose().to_owned()).await?;
    let now = Utc::now();
    let id = Uuid::now_v7();
    let tx = crate::db::begin_write(db).await?;
    users::ActiveModel {
        id: Set(id),
        phone: Set(new.phone.as_str().to_owned()),
        name: Set(new.name.as_str().to_owned()),
        password_hash: Set(hash),
        disabled: Set(false),
        email: Set(new.email.as_ref().map(|e| e.as_str().to_owned())),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&tx)
    .await
    .map_err(phone_taken)?;
    replace_roles(&tx, id, &new.roles).await?;
    replace_areas(&tx, id, &new.areas).await?;
    tx.commit().await?;
    view(db, id).await
}

/// Display names of these users, for rosters and lists.
pub async fn names_of(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = Uuid>,
) -> ApiResult<std::collections::HashMap<Uuid, String>> {
    Ok(users::Entity::find()
        .filter(users::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect())
}

/// The user with this phone number, for login.
pub async fn find_by_phone(
    db: &DatabaseConnection,
    phone: &Phone,
) -> ApiResult<Option<users::Model>> {
    Ok(users::Entity::find()
        .filter(users::Column::Phone.eq(phone.as_str()))
        .one(db)
        .await?)
}

/// The areas a user serves.
pub async fn areas_of(db: &impl ConnectionTrait, user: Uuid) -> ApiResult<Vec<AreaRef>> {
    Ok(user_areas::Entity::find()
        .filter(user_areas::Column::UserId.eq(user))
        .all(db)
        .await?
        .into_iter()
        .map(|a| {
            Ok(AreaRef {
                kind: AreaKind::parse(&a.area_kind)?,
                code: a.area_code,
            })
        })
        .collect::<Result<_, Corrupt>>()?)
}

/// The roles of a user, in a stable order.
pub async fn roles_of(db: &impl ConnectionTrait, user: Uuid) -> ApiResult<Vec<Role>> {
    let mut roles: Vec<Role> = user_roles::Entity::find()
        .filter(user_roles::Column::UserId.eq(user))
        .all(db)
        .await?
        .iter()
        .map(|r| Role::parse(&r.role))
        .collect::<Result<_, _>>()?;
    roles.sort();
    Ok(roles)
}

async fn views(db: &impl ConnectionTrait, rows: Vec<users::Model>) -> ApiResult<Vec<UserView>> {
    let ids: Vec<Uuid> = rows.iter().map(|u| u.id).collect();
    let mut roles: HashMap<Uuid, Vec<Role>> = HashMap::new();
    for r in user_roles::Entity::find()
        .filter(user_roles::Column::UserId.is_in(ids.clone()))
        .all(db)
        .await?
    {
        let role = Role::parse(&r.role)?;
        roles.entry(r.user_id).or_default().push(role);
    }
    let mut areas: HashMap<Uuid, Vec<AreaRef>> = HashMap::new();
    for a in user_areas::Entity::find()
        .filter(user_areas::Column::UserId.is_in(ids))
        .all(db)
        .await?
    {
        let kind = AreaKind::parse(&a.area_kind)?;
        areas.entry(a.user_id).or_default().push(AreaRef {
            kind,
            code: a.area_code,
        });
    }
    Ok(rows
        .into_iter()
        .map(|u| {
            let mut r = roles.remove(&u.id).unwrap_or_default();
            r.sort();
            let mut a = areas.remove(&u.id).unwrap_or_default();
            a.sort();
            UserView {
                id: u.id,
                phone: u.phone,
                name: u.name,
                roles: r,
                areas: a,
                disabled: u.disabled,
                email: u.email,
                created_at: u.created_at,
                updated_at: u.updated_at,
            }
        })
        .collect())
}

/// One user with roles and areas; 404 when there is none.
pub async fn view(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<UserView> {
    let row = users::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    views(db, vec![row])
        .await?
        .pop()
        .ok_or(ApiError::NotFound("user"))
}

/// Which accounts a list shows.
#[derive(Debug, Default)]
pub struct UserFilter {
    /// Only those holding this role.
    pub role: Option<Role>,
    /// Part of the phone number or name.
    pub text: Option<String>,
    /// Only disabled (true) or active (false) accounts.
    pub disabled: Option<bool>,
}

/// A page of accounts, oldest first.
pub async fn list(
    db: &DatabaseConnection,
    page: PageRequest,
    filter: UserFilter,
) -> ApiResult<Page<UserView>> {
    let mut q = users::Entity::find().order_by_asc(users::Column::Id);
    if let Some(text) = filter.text.as_deref() {
        q = q.filter(
            sea_orm::Condition::any()
                .add(crate::db::containing(users::Column::Phone, text))
                .add(crate::db::containing(users::Column::Name, text)),
        );
    }
    if let Some(disabled) = filter.disabled {
        q = q.filter(users::Column::Disabled.eq(disabled));
    }
    let role = filter.role;
    if let Some(after) = page.after {
        q = q.filter(users::Column::Id.gt(after));
    }
    if let Some(role) = role {
        q = q.filter(
            users::Column::Id.in_subquery(
                Query::select()
                    .column(user_roles::Column::UserId)
                    .from(user_roles::Entity)
                    .and_where(user_roles::Column::Role.eq(role.as_str()))
                    .to_owned(),
            ),
        );
    }
    let rows = q.limit(page.fetch()).all(db).await?;
    let items = views(db, rows).await?;
    Ok(Page::from_rows(items, &page, |u| u.id))
}

/// Applies a change in one transaction. Disabling an account, changing its roles or resetting its
/// password ends its sessions, so old tokens with old roles stop working.
pub async fn update(
    db: &DatabaseConnection,
    id: Uuid,
    change: AccountChange,
) -> ApiResult<(UserView, Vec<Uuid>)> {
    if change.roles.as_ref().is_some_and(BTreeSet::is_empty) {
        return Err(ApiError::invalid("roles", "min_items", "at least one role"));
    }
    let hash = match &change.password {
        Some(p) => Some(password::hash(p.expose().to_owned()).await?),
        None => None,
    };
    let tx = crate::db::begin_write(db).await?;
    let row = users::Entity::find_by_id(id)
        .one(&tx)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let ends_sessions = change.disabled == Some(true) || change.roles.is_some() || hash.is_some();
    let mut active: users::ActiveModel = row.into();
    if let Some(name) = change.name {
        active.name = Set(name.as_str().to_owned());
    }
    if let Some(email) = change.email {
        active.email = Set(Some(email.as_str().to_owned()));
    }
    if let Some(disabled) = change.disabled {
        active.disabled = Set(disabled);
    }
    if let Some(hash) = hash {
        active.password_hash = Set(hash);
    }
    active.updated_at = Set(Utc::now());
    active.update(&tx).await?;
    if let Some(roles) = &change.roles {
        replace_roles(&tx, id, roles).await?;
    }
    if let Some(areas) = &change.areas {
        replace_areas(&tx, id, areas).await?;
    }
    let ended = if ends_sessions {
        sessions::revoke_all(&tx, id, RevokeReason::AccountChanged).await?
    } else {
        Vec::new()
    };
    let view = view(&tx, id).await?;
    tx.commit().await?;
    Ok((view, ended))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_refs_parse_from_the_command_line() {
        let a = AreaRef::parse_cli("grid:QSH-G001");
        assert_eq!(
            a,
            Ok(AreaRef {
                kind: AreaKind::Grid,
                code: "QSH-G001".into()
            })
        );
        assert!(AreaRef::parse_cli("planet:X").is_err());
        assert!(AreaRef::parse_cli("grid:").is_err());
        assert!(AreaRef::parse_cli("grid:有空格 ").is_err());
    }
}
