//! Activities (service, patrol, venue booking) with shifts of fixed capacity and optional
//! waitlists. Who gets a place is decided at the [`signups`] desk; who came, and the points for
//! it, in [`attendance`].

pub mod attendance;
pub mod signups;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use places::locate::LocateIndex;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::volunteers;
use crate::entities::{activities, shifts, signups as signup_rows};
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, PageRequest};
use crate::stored::{self, Corrupt};

pub use attendance::{attend_by_coordinator, attend_by_scan, attendance_code};
pub use signups::{SignupDesk, SignupStatus, SignupView, cancel, mine, roster, sign_up};

/// What an activity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// 志愿服务: a service activity.
    Service,
    /// 巡防: a patrol turn.
    Patrol,
    /// 场馆预约: booking a slot at a venue.
    Venue,
}

impl ActivityKind {
    const ALL: [ActivityKind; 3] = [Self::Service, Self::Patrol, Self::Venue];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Patrol => "patrol",
            Self::Venue => "venue",
        }
    }

    /// A stored kind; an unknown one is a corrupt row.
    fn parse(s: &str) -> Result<Self, Corrupt> {
        stored::lookup("activity kind", &Self::ALL, Self::as_str, s)
    }
}

/// A shift to create, validated.
pub struct ShiftSpec {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub capacity: i32,
    pub waitlist: bool,
}

/// An activity to create, validated.
pub struct ActivitySpec {
    pub title: String,
    pub kind: ActivityKind,
    pub description: String,
    pub area: Option<String>,
    pub team: Option<String>,
    pub skill: Option<String>,
    pub points_per_hour: i32,
    pub shifts: Vec<ShiftSpec>,
}

/// A shift with its places.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShiftView {
    pub id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub capacity: i32,
    /// Confirmed places.
    pub taken: i32,
    /// Whether a signup beyond capacity waits in line (otherwise it is refused).
    pub waitlist: bool,
    /// People in line.
    pub waitlisted: i64,
}

/// An activity with its shifts and who may sign up.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActivityView {
    pub id: Uuid,
    pub title: String,
    pub kind: ActivityKind,
    pub description: String,
    /// Only volunteers serving this area (or one above or below it) may sign up.
    pub area: Option<String>,
    /// Only active members of this volunteer team may sign up.
    pub team: Option<String>,
    /// Only volunteers with this skill may sign up.
    pub skill: Option<String>,
    /// Points per attended hour.
    pub points_per_hour: i32,
    pub shifts: Vec<ShiftView>,
    pub created_at: DateTime<Utc>,
}

const OPEN: &str = "open";

/// Publishes an activity with its shifts.
pub async fn create(
    db: &DatabaseConnection,
    index: &LocateIndex,
    creator: Uuid,
    spec: ActivitySpec,
) -> ApiResult<ActivityView> {
    if let Some(area) = &spec.area
        && index.node(area).is_none()
    {
        return Err(ApiError::invalid(
            "area",
            "unknown_area",
            format!("no area {area}"),
        ));
    }
    if let Some(team) = &spec.team {
        volunteers::find_team(db, team).await.map_err(|e| {
            e.when_not_found(|| {
                ApiError::invalid("team", "unknown_team", format!("no volunteer team {team}"))
            })
        })?;
    }
    let now = Utc::now();
    let id = Uuid::now_v7();
    let tx = crate::db::begin_write(db).await?;
    activities::ActiveModel {
        id: Set(id),
        title: Set(spec.title),
        kind: Set(spec.kind.as_str().to_owned()),
        description: Set(spec.description),
        area_code: Set(spec.area),
        team_code: Set(spec.team),
        skill: Set(spec.skill),
        points_per_hour: Set(spec.points_per_hour),
        status: Set(OPEN.to_owned()),
        created_by: Set(creator),
        created_at: Set(now),
    }
    .insert(&tx)
    .await?;
    shifts::Entity::insert_many(spec.shifts.into_iter().map(|s| shifts::ActiveModel {
        id: Set(Uuid::now_v7()),
        activity_id: Set(id),
        starts_at: Set(s.starts_at),
        ends_at: Set(s.ends_at),
        capacity: Set(s.capacity),
        waitlist: Set(s.waitlist),
        taken: Set(0),
        created_at: Set(now),
    }))
    .exec(&tx)
    .await?;
    tx.commit().await?;
    get(db, id).await
}

async fn find(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<activities::Model> {
    activities::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("activity"))
}

async fn find_shift(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<shifts::Model> {
    shifts::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("shift"))
}

/// People in line per shift.
async fn waitlisted(db: &impl ConnectionTrait, shifts: &[Uuid]) -> ApiResult<HashMap<Uuid, i64>> {
    let rows: Vec<(Uuid, i64)> = signup_rows::Entity::find()
        .select_only()
        .column(signup_rows::Column::ShiftId)
        .column_as(signup_rows::Column::Id.count(), "n")
        .filter(signup_rows::Column::ShiftId.is_in(shifts.iter().copied()))
        .filter(signup_rows::Column::Status.eq(SignupStatus::Waitlisted.as_str()))
        .group_by(signup_rows::Column::ShiftId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

async fn views(
    db: &impl ConnectionTrait,
    rows: Vec<activities::Model>,
) -> ApiResult<Vec<ActivityView>> {
    let all_shifts = shifts::Entity::find()
        .filter(shifts::Column::ActivityId.is_in(rows.iter().map(|a| a.id)))
        .order_by_asc(shifts::Column::StartsAt)
        .order_by_asc(shifts::Column::Id)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = all_shifts.iter().map(|s| s.id).collect();
    let lines = waitlisted(db, &ids).await?;
    let mut by_activity: HashMap<Uuid, Vec<ShiftView>> = HashMap::new();
    for s in all_shifts {
        by_activity
            .entry(s.activity_id)
            .or_default()
            .push(ShiftView {
                id: s.id,
                starts_at: s.starts_at,
                ends_at: s.ends_at,
                capacity: s.capacity,
                taken: s.taken,
                waitlist: s.waitlist,
                waitlisted: lines.get(&s.id).copied().unwrap_or(0),
            });
    }
    rows.into_iter()
        .map(|a| {
            Ok(ActivityView {
                shifts: by_activity.remove(&a.id).unwrap_or_default(),
                id: a.id,
                title: a.title,
                kind: ActivityKind::parse(&a.kind)?,
                description: a.description,
                area: a.area_code,
                team: a.team_code,
                skill: a.skill,
                points_per_hour: a.points_per_hour,
                created_at: a.created_at,
            })
        })
        .collect()
}

/// One activity.
pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<ActivityView> {
    views(db, vec![find(db, id).await?])
        .await?
        .pop()
        .ok_or(ApiError::NotFound("activity"))
}

/// Activities, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    page: PageRequest,
    kind: Option<ActivityKind>,
) -> ApiResult<Page<ActivityView>> {
    let mut q = activities::Entity::find().order_by_desc(activities::Column::Id);
    if let Some(k) = kind {
        q = q.filter(activities::Column::Kind.eq(k.as_str()));
    }
    if let Some(after) = page.after {
        q = q.filter(activities::Column::Id.lt(after));
    }
    let rows = Page::from_rows(q.limit(page.fetch()).all(db).await?, &page, |a| a.id);
    Ok(Page {
        items: views(db, rows.items).await?,
        next_cursor: rows.next_cursor,
    })
}

/// What the unit tests of the signup desk and of attendance build alike: a database with the
/// test tree's areas, the desk writing to it, and activities with shifts placed around now.
#[cfg(test)]
pub(crate) mod fixture {
    use chrono::{Duration, Utc};
    use places::locate::LocateIndex;
    use sea_orm::DatabaseConnection;
    use uuid::Uuid;

    use super::{ActivityKind, ActivitySpec, ActivityView, ShiftSpec, SignupDesk, create};
    use crate::auth::roles::Role;
    use crate::auth::user::CurrentUser;
    use crate::live::Live;
    use crate::places::qr_keys::QrKeys;
    use crate::testing::{database, enrol, store_tree, tree, user};

    pub type Fallible<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

    /// The handles the route handlers pass the desk and attendance.
    pub struct Desk {
        pub db: DatabaseConnection,
        pub desk: SignupDesk,
        pub index: LocateIndex,
        pub live: Live,
        pub qr: QrKeys,
        pub coordinator: CurrentUser,
    }

    impl Desk {
        pub async fn new() -> Fallible<Self> {
            let db = database().await?;
            store_tree(&db).await?;
            let coordinator = user(&[Role::Coordinator]);
            enrol(&db, &coordinator, &[]).await?;
            Ok(Self {
                desk: SignupDesk::new(db.clone()),
                qr: QrKeys::load(&db).await?,
                index: tree(),
                live: Live::default(),
                coordinator,
                db,
            })
        }

        /// A signed-in citizen, written to the database.
        pub async fn person(&self) -> Fallible<CurrentUser> {
            let p = user(&[Role::Citizen]);
            enrol(&self.db, &p, &[]).await?;
            Ok(p)
        }

        /// A service activity open to all, worth `points_per_hour`, with these shifts.
        pub async fn activity(
            &self,
            points_per_hour: i32,
            shifts: Vec<ShiftSpec>,
        ) -> Fallible<ActivityView> {
            self.limited(points_per_hour, None, None, shifts).await
        }

        /// An activity limited to volunteers serving `area` and having `skill`, where given.
        pub async fn limited(
            &self,
            points_per_hour: i32,
            area: Option<&str>,
            skill: Option<&str>,
            shifts: Vec<ShiftSpec>,
        ) -> Fallible<ActivityView> {
            let spec = ActivitySpec {
                title: "社区清扫".to_owned(),
                kind: ActivityKind::Service,
                description: String::new(),
                area: area.map(str::to_owned),
                team: None,
                skill: skill.map(str::to_owned),
                points_per_hour,
                shifts,
            };
            Ok(create(&self.db, &self.index, self.coordinator.id, spec).await?)
        }

        /// The id of the activity's first shift.
        pub fn first_shift(a: &ActivityView) -> Fallible<Uuid> {
            Ok(a.shifts.first().ok_or("the activity has a shift")?.id)
        }
    }

    /// A shift starting `starts_in` minutes from now (negative: already running) and lasting
    /// `minutes`.
    pub fn shift(starts_in: i64, minutes: i64, capacity: i32, waitlist: bool) -> ShiftSpec {
        let starts_at = Utc::now() + Duration::minutes(starts_in);
        ShiftSpec {
            starts_at,
            ends_at: starts_at + Duration::minutes(minutes),
            capacity,
            waitlist,
        }
    }
}
