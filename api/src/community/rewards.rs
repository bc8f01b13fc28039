//! The reward catalogue and redemptions (积分兑换). Coordinators keep the catalogue; anyone
//! signed in redeems. A redemption reserves one unit of stock and debits the points in one
//! transaction; it is then fulfilled, or cancelled, which returns the unit and refunds the
//! points exactly once (`redemption_refund`, source id = the redemption id).
//!
//! Stock is only ever changed by conditional UPDATEs (`stock > 0`, `stock + n >= 0`), so no
//! interleaving of instances oversells it; the points side goes through `points::debit`, which
//! locks the account before summing.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::entities::{redemptions, rewards};
use crate::error::{ApiError, ApiResult};
use crate::pagination::{Page, PageRequest};
use crate::points;
use crate::stored::{self, Corrupt};

/// What a reward is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RewardKind {
    /// Goods handed out (rice, oil, a towel).
    Goods,
    /// A service (a haircut, a repair visit).
    Service,
    /// Points given to a charity; stock is unlimited.
    Donation,
}

impl RewardKind {
    const ALL: [RewardKind; 3] = [RewardKind::Goods, RewardKind::Service, RewardKind::Donation];

    pub fn as_str(self) -> &'static str {
        match self {
            RewardKind::Goods => "goods",
            RewardKind::Service => "service",
            RewardKind::Donation => "donation",
        }
    }

    /// A stored kind; an unknown one is a corrupt row.
    pub fn parse(s: &str) -> Result<Self, Corrupt> {
        stored::lookup("reward kind", &Self::ALL, Self::as_str, s)
    }
}

/// A reward of the catalogue.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RewardView {
    #[schema(example = "RICE-5KG")]
    pub code: String,
    #[schema(example = "五常大米 5 公斤")]
    pub name: String,
    pub kind: RewardKind,
    /// Points debited per redemption.
    pub cost: i32,
    /// Units left; absent when unlimited.
    pub stock: Option<i32>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn reward_view(r: rewards::Model) -> ApiResult<RewardView> {
    Ok(RewardView {
        kind: RewardKind::parse(&r.kind)?,
        code: r.code,
        name: r.name,
        cost: r.cost,
        stock: r.stock,
        active: r.active,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// A validated new reward.
pub struct NewReward {
    pub code: String,
    pub name: String,
    pub kind: RewardKind,
    pub cost: i32,
    pub stock: Option<i32>,
    pub active: bool,
}

/// A validated change of a reward; absent fields stay.
pub struct RewardChange {
    pub name: Option<String>,
    pub cost: Option<i32>,
    pub active: Option<bool>,
    /// Units added (or, negative, withdrawn) — a delta, so a restock never overwrites units a
    /// concurrent redemption just took.
    pub add_stock: Option<i32>,
}

pub async fn create(db: &DatabaseConnection, new: NewReward) -> ApiResult<RewardView> {
    let now = Utc::now();
    let row = rewards::ActiveModel {
        id: Set(Uuid::now_v7()),
        code: Set(new.code),
        name: Set(new.name),
        kind: Set(new.kind.as_str().to_owned()),
        cost: Set(new.cost),
        stock: Set(new.stock),
        active: Set(new.active),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => ApiError::Conflict {
            field: Some("code"),
            detail: "a reward with this code exists".to_owned(),
        },
        _ => ApiError::Database(e),
    })?;
    reward_view(row)
}

async fn find_reward(db: &impl ConnectionTrait, code: &str) -> ApiResult<rewards::Model> {
    rewards::Entity::find()
        .filter(rewards::Column::Code.eq(code))
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("reward"))
}

pub async fn update(
    db: &DatabaseConnection,
    code: &str,
    change: RewardChange,
) -> ApiResult<RewardView> {
    let tx = crate::db::begin_write(db).await?;
    let row = find_reward(&tx, code).await?;
    let mut q = rewards::Entity::update_many()
        .col_expr(rewards::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(rewards::Column::Id.eq(row.id));
    if let Some(name) = change.name {
        q = q.col_expr(rewards::Column::Name, Expr::value(name));
    }
    if let Some(cost) = change.cost {
        q = q.col_expr(rewards::Column::Cost, Expr::value(cost));
    }
    if let Some(active) = change.active {
        q = q.col_expr(rewards::Column::Active, Expr::value(active));
    }
    if let Some(n) = change.add_stock {
        if row.stock.is_none() {
            return Err(ApiError::invalid(
                "add_stock",
                "unlimited",
                "this reward has unlimited stock",
            ));
        }
        q = q
            .col_expr(
                rewards::Column::Stock,
                Expr::col(rewards::Column::Stock).add(n),
            )
            .filter(Expr::col(rewards::Column::Stock).add(n).gte(0));
    }
    if q.exec(&tx).await?.rows_affected == 0 {
        return Err(ApiError::invalid(
            "add_stock",
            "below_zero",
            "fewer units are left than would be withdrawn",
        ));
    }
    let row = find_reward(&tx, code).await?;
    tx.commit().await?;
    reward_view(row)
}

/// One reward; inactive ones only for those who manage the catalogue.
pub async fn get(db: &impl ConnectionTrait, code: &str, managers: bool) -> ApiResult<RewardView> {
    let row = find_reward(db, code).await?;
    if !row.active && !managers {
        return Err(ApiError::NotFound("reward"));
    }
    reward_view(row)
}

/// The catalogue in creation order; inactive rewards only when asked by a manager.
pub async fn list(
    db: &impl ConnectionTrait,
    page: PageRequest,
    include_inactive: bool,
) -> ApiResult<Page<RewardView>> {
    let mut q = rewards::Entity::find().order_by_asc(rewards::Column::Id);
    if !include_inactive {
        q = q.filter(rewards::Column::Active.eq(true));
    }
    if let Some(after) = page.after {
        q = q.filter(rewards::Column::Id.gt(after));
    }
    let rows = q.limit(page.fetch()).all(db).await?;
    let p = Page::from_rows(rows, &page, |r| r.id);
    Ok(Page {
        items: p
            .items
            .into_iter()
            .map(reward_view)
            .collect::<ApiResult<_>>()?,
        next_cursor: p.next_cursor,
    })
}

/// Where a redemption stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RedemptionStatus {
    /// Stock reserved and points debited; waiting to be handed out.
    Reserved,
    /// Handed out by a coordinator.
    Fulfilled,
    /// Cancelled: the unit is back in stock and the points refunded.
    Cancelled,
}

impl RedemptionStatus {
    const ALL: [RedemptionStatus; 3] = [
        RedemptionStatus::Reserved,
        RedemptionStatus::Fulfilled,
        RedemptionStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RedemptionStatus::Reserved => "reserved",
            RedemptionStatus::Fulfilled => "fulfilled",
            RedemptionStatus::Cancelled => "cancelled",
        }
    }

    /// A stored status; an unknown one is a corrupt row.
    pub fn parse(s: &str) -> Result<Self, Corrupt> {
        stored::lookup("redemption status", &Self::ALL, Self::as_str, s)
    }
}

/// A redemption with the reward it is for.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RedemptionView {
    pub id: Uuid,
    pub user_id: Uuid,
    pub reward_code: String,
    pub reward_name: String,
    /// Points debited (the reward's cost when redeemed).
    pub cost: i32,
    pub status: RedemptionStatus,
    pub created_at: DateTime<Utc>,
    pub fulfilled_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

async fn views(
    db: &impl ConnectionTrait,
    rows: Vec<redemptions::Model>,
) -> ApiResult<Vec<RedemptionView>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.reward_id).collect();
    let rewards: HashMap<Uuid, rewards::Model> = if ids.is_empty() {
        HashMap::new()
    } else {
        rewards::Entity::find()
            .filter(rewards::Column::Id.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect()
    };
    rows.into_iter()
        .map(|r| {
            // The foreign key keeps the reward; without it the row is corrupt, not nameless.
            let reward = rewards
                .get(&r.reward_id)
                .ok_or_else(|| Corrupt::new("redemption's reward", &r.reward_id.to_string()))?;
            Ok(RedemptionView {
                id: r.id,
                user_id: r.user_id,
                reward_code: reward.code.clone(),
                reward_name: reward.name.clone(),
                cost: r.cost,
                status: RedemptionStatus::parse(&r.status)?,
                created_at: r.created_at,
                fulfilled_at: r.fulfilled_at,
                cancelled_at: r.cancelled_at,
            })
        })
        .collect()
}

async fn view(db: &impl ConnectionTrait, row: redemptions::Model) -> ApiResult<RedemptionView> {
    views(db, vec![row])
        .await?
        .pop()
        .ok_or(ApiError::NotFound("redemption"))
}

async fn by_key(
    db: &impl ConnectionTrait,
    user: Uuid,
    key: &str,
) -> Result<Option<redemptions::Model>, DbErr> {
    redemptions::Entity::find()
        .filter(redemptions::Column::UserId.eq(user))
        .filter(redemptions::Column::IdemKey.eq(key))
        .one(db)
        .await
}

/// A retry under a key answers with the first redemption, if it was for the same reward.
fn replay(row: redemptions::Model, reward: &rewards::Model) -> ApiResult<redemptions::Model> {
    if row.reward_id == reward.id {
        Ok(row)
    } else {
        Err(ApiError::invalid(
            "Idempotency-Key",
            "key_reused",
            "this key was used to redeem another reward",
        ))
    }
}

/// Redeems one unit of a reward for `user`, once per idempotency key. True in the second place
/// when this is the answer to a retry.
pub async fn redeem(
    db: &DatabaseConnection,
    user: Uuid,
    code: &str,
    key: &str,
) -> ApiResult<(RedemptionView, bool)> {
    let tx = crate::db::begin_write(db).await?;
    // First the account lock: it orders this user's redemptions, so the key check below and the
    // balance check in `debit` both see every earlier one.
    points::lock_account(&tx, user).await?;
    let reward = find_reward(&tx, code).await?;
    if let Some(first) = by_key(&tx, user, key).await? {
        let first = replay(first, &reward)?;
        return Ok((view(&tx, first).await?, true));
    }
    if !reward.active {
        return Err(ApiError::invalid(
            "code",
            "inactive",
            "this reward is not offered at the moment",
        ));
    }
    let id = Uuid::now_v7();
    let note = format!("兑换 {}", reward.name);
    points::debit(
        &tx,
        user,
        "redemption",
        &id.to_string(),
        reward.cost,
        Some(&note),
        "code",
    )
    .await?;
    // The stock row is locked from here to commit: taken after the balance check so that
    // redemptions of one reward queue behind each other only for this last step.
    if reward.stock.is_some() {
        let taken = rewards::Entity::update_many()
            .col_expr(
                rewards::Column::Stock,
                Expr::col(rewards::Column::Stock).sub(1),
            )
            .filter(rewards::Column::Id.eq(reward.id))
            .filter(rewards::Column::Stock.gt(0))
            .exec(&tx)
            .await?
            .rows_affected;
        if taken == 0 {
            return Err(ApiError::invalid(
                "code",
                "out_of_stock",
                "no units of this reward are left",
            ));
        }
    }
    let row = redemptions::ActiveModel {
        id: Set(id),
        user_id: Set(user),
        reward_id: Set(reward.id),
        idem_key: Set(key.to_owned()),
        cost: Set(reward.cost),
        status: Set(RedemptionStatus::Reserved.as_str().to_owned()),
        created_at: Set(Utc::now()),
        fulfilled_at: Set(None),
        cancelled_at: Set(None),
        closed_by: Set(None),
    }
    .insert(&tx)
    .await?;
    let view = view(&tx, row).await?;
    tx.commit().await?;
    Ok((view, false))
}

/// Who is closing a redemption.
#[derive(Debug, Clone, Copy)]
pub struct Closer {
    pub user: Uuid,
    /// A coordinator or admin: may close anyone's; others only their own.
    pub manager: bool,
}

async fn visible(
    db: &impl ConnectionTrait,
    id: Uuid,
    who: Closer,
) -> ApiResult<redemptions::Model> {
    redemptions::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|r| who.manager || r.user_id == who.user)
        .ok_or(ApiError::NotFound("redemption"))
}

fn not_reserved(row: &redemptions::Model) -> ApiError {
    ApiError::Conflict {
        field: None,
        detail: format!("the redemption is already {}", row.status),
    }
}

/// Moves a reserved redemption on; of two racing closes exactly one wins, the other gets 409.
async fn close(
    tx: &impl ConnectionTrait,
    row: &redemptions::Model,
    to: RedemptionStatus,
    by: Uuid,
) -> ApiResult<()> {
    let now = Utc::now();
    let mut q = redemptions::Entity::update_many()
        .col_expr(redemptions::Column::Status, Expr::value(to.as_str()))
        .col_expr(redemptions::Column::ClosedBy, Expr::value(by))
        .filter(redemptions::Column::Id.eq(row.id))
        .filter(redemptions::Column::Status.eq(RedemptionStatus::Reserved.as_str()));
    q = match to {
        RedemptionStatus::Fulfilled => {
            q.col_expr(redemptions::Column::FulfilledAt, Expr::value(now))
        }
        _ => q.col_expr(redemptions::Column::CancelledAt, Expr::value(now)),
    };
    if q.exec(tx).await?.rows_affected == 0 {
        return Err(not_reserved(row));
    }
    Ok(())
}

/// Hands a reserved redemption out.
pub async fn fulfil(db: &DatabaseConnection, id: Uuid, by: Closer) -> ApiResult<RedemptionView> {
    let tx = crate::db::begin_write(db).await?;
    let row = visible(&tx, id, by).await?;
    close(&tx, &row, RedemptionStatus::Fulfilled, by.user).await?;
    let row = visible(&tx, id, by).await?;
    let view = view(&tx, row).await?;
    tx.commit().await?;
    Ok(view)
}

/// Cancels a reserved redemption: the unit goes back to stock and the points are refunded, once.
pub async fn cancel(db: &DatabaseConnection, id: Uuid, by: Closer) -> ApiResult<RedemptionView> {
    let tx = crate::db::begin_write(db).await?;
    let row = visible(&tx, id, by).await?;
    close(&tx, &row, RedemptionStatus::Cancelled, by.user).await?;
    rewards::Entity::update_many()
        .col_expr(
            rewards::Column::Stock,
            Expr::col(rewards::Column::Stock).add(1),
        )
        .filter(rewards::Column::Id.eq(row.reward_id))
        .filter(rewards::Column::Stock.is_not_null())
        .exec(&tx)
        .await?;
    points::refund(
        &tx,
        row.user_id,
        &row.id.to_string(),
        row.cost,
        "兑换取消退还",
    )
    .await?;
    let row = visible(&tx, id, by).await?;
    let view = view(&tx, row).await?;
    tx.commit().await?;
    Ok(view)
}

/// One redemption, for its redeemer or a manager (others get 404).
pub async fn get_redemption(
    db: &impl ConnectionTrait,
    id: Uuid,
    who: Closer,
) -> ApiResult<RedemptionView> {
    let row = visible(db, id, who).await?;
    view(db, row).await
}

/// Redemptions newest first, of one user or of everyone, optionally of one status.
pub async fn list_redemptions(
    db: &impl ConnectionTrait,
    user: Option<Uuid>,
    status: Option<RedemptionStatus>,
    page: PageRequest,
) -> ApiResult<Page<RedemptionView>> {
    let mut q = redemptions::Entity::find().order_by_desc(redemptions::Column::Id);
    if let Some(u) = user {
        q = q.filter(redemptions::Column::UserId.eq(u));
    }
    if let Some(s) = status {
        q = q.filter(redemptions::Column::Status.eq(s.as_str()));
    }
    if let Some(after) = page.after {
        q = q.filter(redemptions::Column::Id.lt(after));
    }
    let rows = q.limit(page.fetch()).all(db).await?;
    let p = Page::from_rows(rows, &page, |r| r.id);
    Ok(Page {
        items: views(db, p.items).await?,
        next_cursor: p.next_cursor,
    })
}
