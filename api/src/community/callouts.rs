//! Call-outs (紧急召集): a coordinator calls every volunteer of an area or a team at once. Each
//! hears it live and by email where they gave an address, answers yes or no, and the coordinator
//! watches the roll fill in live.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use places::locate::LocateIndex;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::volunteers;
use crate::auth::roles::{Coordinators, RoleSet};
use crate::auth::user::CurrentUser;
use crate::entities::{callout_answers, callouts, users};
use crate::error::{ApiError, ApiResult};
use crate::live::Live;
use crate::live::outbox::{self, Entry};
use crate::pagination::{Page, PageRequest};
use crate::stored::{self, Corrupt};

/// Whom a call-out reaches.
pub enum Target {
    /// Volunteers serving this area or an area below it.
    Area(String),
    /// Active members of this volunteer team.
    Team(String),
}

/// A call-out to make, validated.
pub struct NewCallout {
    pub title: String,
    pub message: String,
    pub target: Target,
}

/// An answer to a call-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// 到场: coming.
    Yes,
    /// Cannot come.
    No,
}

impl Answer {
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Yes => "yes",
            Answer::No => "no",
        }
    }

    /// A stored answer; an unknown one is a corrupt row, not an unanswered call.
    fn parse(s: &str) -> Result<Self, Corrupt> {
        stored::lookup(
            "call-out answer",
            &[Answer::Yes, Answer::No],
            Self::as_str,
            s,
        )
    }
}

/// How the roll stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Tally {
    pub called: i64,
    pub yes: i64,
    pub no: i64,
    /// Not answered yet.
    pub pending: i64,
}

/// A call-out and its roll.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CalloutView {
    pub id: Uuid,
    pub title: String,
    pub message: String,
    pub area: Option<String>,
    pub team: Option<String>,
    pub tally: Tally,
    /// The caller's own answer, when they were called.
    pub my_answer: Option<Answer>,
    pub created_at: DateTime<Utc>,
}

/// One line of the roll.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RollEntry {
    pub user_id: Uuid,
    pub name: String,
    pub answer: Option<Answer>,
    pub answered_at: Option<DateTime<Utc>>,
}

/// Makes a call-out: one roll line, one live message and (where an address is known) one mail
/// per volunteer reached, all in one transaction.
pub async fn create(
    db: &DatabaseConnection,
    index: &LocateIndex,
    live: &Live,
    coordinator: Uuid,
    new: NewCallout,
) -> ApiResult<CalloutView> {
    let (area, team, called): (Option<String>, Option<String>, BTreeSet<Uuid>) = match &new.target {
        Target::Area(code) => {
            if index.node(code).is_none() {
                return Err(ApiError::invalid(
                    "area",
                    "unknown_area",
                    format!("no area {code}"),
                ));
            }
            (
                Some(code.clone()),
                None,
                volunteers::in_area(db, index, code).await?,
            )
        }
        Target::Team(code) => {
            let t = volunteers::find_team(db, code).await.map_err(|e| {
                e.when_not_found(|| {
                    ApiError::invalid("team", "unknown_team", format!("no volunteer team {code}"))
                })
            })?;
            (
                None,
                Some(code.clone()),
                volunteers::active_members(db, t.id).await?,
            )
        }
    };
    if called.is_empty() {
        return Err(ApiError::invalid(
            if area.is_some() { "area" } else { "team" },
            "no_volunteers",
            "no volunteer would be reached",
        ));
    }
    let emails: HashMap<Uuid, String> = users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .column(users::Column::Email)
        .filter(users::Column::Id.is_in(called.iter().copied()))
        .filter(users::Column::Email.is_not_null())
        .into_tuple::<(Uuid, Option<String>)>()
        .all(db)
        .await?
        .into_iter()
        .filter_map(|(id, e)| Some((id, e?)))
        .collect();
    let now = Utc::now();
    let id = Uuid::now_v7();
    let payload = serde_json::json!({
        "callout_id": id,
        "title": new.title,
        "message": new.message,
        "area": area,
        "team": team,
        "answer_with": format!("POST /api/v1/callouts/{id}/answer"),
    });
    let tx = crate::db::begin_write(db).await?;
    callouts::ActiveModel {
        id: Set(id),
        title: Set(new.title.clone()),
        message: Set(new.message.clone()),
        area_code: Set(area),
        team_code: Set(team),
        created_by: Set(coordinator),
        called: Set(called.len() as i32),
        created_at: Set(now),
    }
    .insert(&tx)
    .await?;
    let people: Vec<Uuid> = called.into_iter().collect();
    let lines = people.iter().map(|u| callout_answers::ActiveModel {
        id: Set(Uuid::now_v7()),
        callout_id: Set(id),
        user_id: Set(*u),
        answer: Set(None),
        answered_at: Set(None),
        created_at: Set(now),
    });
    // Three ids and a time a line.
    for run in crate::db::by_size(lines.collect(), |_| 160) {
        callout_answers::Entity::insert_many(run).exec(&tx).await?;
    }
    outbox::record_many(
        &tx,
        people
            .iter()
            .map(|u| Entry {
                event_id: id,
                kind: "callout.created",
                grid_code: None,
                micro_grid_code: None,
                team_code: None,
                user_id: Some(*u),
                street_code: None,
                payload: payload.clone(),
            })
            .collect(),
    )
    .await?;
    let subject = format!("【紧急召集】{}", new.title);
    let body = format!(
        "{}\n\n请在小程序中回复能否到场（是/否）。\n召集编号：{id}\n",
        new.message
    );
    let to = people
        .iter()
        .filter_map(|u| emails.get(u).map(String::as_str))
        .collect();
    crate::mail::enqueue_many(&tx, to, &subject, &body).await?;
    tx.commit().await?;
    live.poke();
    view(db, id, coordinator).await
}

async fn find(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<callouts::Model> {
    callouts::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("call-out"))
}

async fn line(
    db: &impl ConnectionTrait,
    callout: Uuid,
    user: Uuid,
) -> ApiResult<Option<callout_answers::Model>> {
    Ok(callout_answers::Entity::find()
        .filter(callout_answers::Column::CalloutId.eq(callout))
        .filter(callout_answers::Column::UserId.eq(user))
        .one(db)
        .await?)
}

async fn tally(db: &impl ConnectionTrait, c: &callouts::Model) -> ApiResult<Tally> {
    let count = |answer: &'static str| {
        callout_answers::Entity::find()
            .filter(callout_answers::Column::CalloutId.eq(c.id))
            .filter(callout_answers::Column::Answer.eq(answer))
            .count(db)
    };
    let yes = count("yes").await? as i64;
    let no = count("no").await? as i64;
    let called = i64::from(c.called);
    Ok(Tally {
        called,
        yes,
        no,
        pending: called - yes - no,
    })
}

async fn view_of(
    db: &impl ConnectionTrait,
    c: callouts::Model,
    viewer: Uuid,
) -> ApiResult<CalloutView> {
    let tally = tally(db, &c).await?;
    let my_answer = line(db, c.id, viewer)
        .await?
        .and_then(|l| l.answer)
        .map(|a| Answer::parse(&a))
        .transpose()?;
    Ok(CalloutView {
        id: c.id,
        title: c.title,
        message: c.message,
        area: c.area_code,
        team: c.team_code,
        tally,
        my_answer,
        created_at: c.created_at,
    })
}

async fn view(db: &impl ConnectionTrait, id: Uuid, viewer: Uuid) -> ApiResult<CalloutView> {
    view_of(db, find(db, id).await?, viewer).await
}

/// A call-out as the caller may see it: coordinators see every call-out, a volunteer only those
/// they were called to (others answer 404).
pub async fn get(db: &impl ConnectionTrait, id: Uuid, who: &CurrentUser) -> ApiResult<CalloutView> {
    let c = find(db, id).await?;
    if !Coordinators::admits(&who.roles) && line(db, id, who.id).await?.is_none() {
        return Err(ApiError::NotFound("call-out"));
    }
    view_of(db, c, who.id).await
}

/// Records (or changes) a volunteer's answer and tells the coordinator live.
pub async fn answer(
    db: &DatabaseConnection,
    live: &Live,
    id: Uuid,
    user: Uuid,
    answer: Answer,
) -> ApiResult<CalloutView> {
    let c = find(db, id).await?;
    let tx = crate::db::begin_write(db).await?;
    let done = callout_answers::Entity::update_many()
        .col_expr(
            callout_answers::Column::Answer,
            Expr::value(answer.as_str()),
        )
        .col_expr(callout_answers::Column::AnsweredAt, Expr::value(Utc::now()))
        .filter(callout_answers::Column::CalloutId.eq(id))
        .filter(callout_answers::Column::UserId.eq(user))
        .exec(&tx)
        .await?;
    if done.rows_affected == 0 {
        return Err(ApiError::NotFound("call-out"));
    }
    let tally = tally(&tx, &c).await?;
    outbox::record(
        &tx,
        Entry {
            event_id: id,
            kind: "callout.answered",
            grid_code: None,
            micro_grid_code: None,
            team_code: None,
            user_id: Some(c.created_by),
            street_code: None,
            payload: serde_json::json!({
                "callout_id": id,
                "user_id": user,
                "answer": answer.as_str(),
                "tally": tally,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    live.poke();
    view_of(db, c, user).await
}

/// The roll in calling order, for coordinators.
pub async fn roll(
    db: &impl ConnectionTrait,
    id: Uuid,
    page: PageRequest,
) -> ApiResult<Page<RollEntry>> {
    find(db, id).await?;
    let mut q = callout_answers::Entity::find()
        .filter(callout_answers::Column::CalloutId.eq(id))
        .order_by_asc(callout_answers::Column::Id);
    if let Some(after) = page.after {
        q = q.filter(callout_answers::Column::Id.gt(after));
    }
    let rows = Page::from_rows(q.limit(page.fetch()).all(db).await?, &page, |l| l.id);
    let names: HashMap<Uuid, String> =
        crate::accounts::names_of(db, rows.items.iter().map(|l| l.user_id)).await?;
    Ok(Page {
        items: rows
            .items
            .into_iter()
            .map(|l| {
                Ok(RollEntry {
                    name: names.get(&l.user_id).cloned().unwrap_or_default(),
                    user_id: l.user_id,
                    answer: l.answer.as_deref().map(Answer::parse).transpose()?,
                    answered_at: l.answered_at,
                })
            })
            .collect::<Result<_, Corrupt>>()?,
        next_cursor: rows.next_cursor,
    })
}

/// The call-outs a volunteer was called to, newest first.
pub async fn mine(
    db: &impl ConnectionTrait,
    user: Uuid,
    page: PageRequest,
) -> ApiResult<Page<CalloutView>> {
    let mut q = callout_answers::Entity::find()
        .filter(callout_answers::Column::UserId.eq(user))
        .order_by_desc(callout_answers::Column::Id);
    if let Some(after) = page.after {
        q = q.filter(callout_answers::Column::Id.lt(after));
    }
    let rows = Page::from_rows(q.limit(page.fetch()).all(db).await?, &page, |l| l.id);
    let mut items = Vec::with_capacity(rows.items.len());
    for l in rows.items {
        items.push(view(db, l.callout_id, user).await?);
    }
    Ok(Page {
        items,
        next_cursor: rows.next_cursor,
    })
}
