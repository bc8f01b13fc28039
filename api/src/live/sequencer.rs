//! Giving committed outbox rows their cursor positions, in commit order.
//!
//! Rows are written with no position by whatever transaction makes the change. A sequencer
//! transaction takes the rows it can see without a position and numbers them after the highest
//! position so far. Sequencer transactions take turns (an advisory lock on PostgreSQL, the one
//! write lock on SQLite), and each sees everything committed before it started, so a row that
//! commits later than another gets a later position even if it was written first; and because a
//! reader sees all or none of one sequencer transaction, the positions it sees are a prefix of
//! those that will ever exist. A client's cursor therefore never skips a row.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use uuid::Uuid;

use crate::entities::outbox;

/// The most rows one sequencer transaction positions.
pub const BATCH: usize = 1000;

/// The advisory lock the sequencers of every instance take turns on ("gwlive" in ASCII).
const LOCK_KEY: i64 = 0x6777_6c69_7665;

/// The highest position given so far; 0 before the first.
pub async fn max_pos(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let max: Option<Option<i64>> = outbox::Entity::find()
        .select_only()
        .expr_as(Expr::col(outbox::Column::Pos).max(), "max_pos")
        .into_tuple()
        .one(db)
        .await?;
    Ok(max.flatten().unwrap_or(0))
}

/// Positions the committed rows that have none, up to [`BATCH`] of them, in id order, and
/// returns them in position order; empty when there was nothing to do.
pub async fn sequence(db: &DatabaseConnection) -> Result<Vec<outbox::Model>, DbErr> {
    // A plain read first: the write transaction (and on SQLite the write lock) is taken only
    // when there is work, not on every tick of every instance.
    let pending: Option<Uuid> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Id)
        .filter(outbox::Column::Pos.is_null())
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    if pending.is_none() {
        return Ok(Vec::new());
    }
    let tx = crate::db::begin_write(db).await?;
    let backend = tx.get_database_backend();
    if backend == DbBackend::Postgres {
        tx.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({LOCK_KEY})"))
            .await?;
    }
    // Read after the lock: under READ COMMITTED each statement sees what committed before it,
    // including the previous sequencer's positions.
    let base = max_pos(&tx).await?;
    let param = if backend == DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let sql = format!(
        "WITH next AS (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM outbox \
         WHERE pos IS NULL ORDER BY id LIMIT {BATCH}) \
         UPDATE outbox SET pos = {param} + next.rn FROM next WHERE outbox.id = next.id"
    );
    tx.execute_raw(Statement::from_sql_and_values(backend, sql, [base.into()]))
        .await?;
    let rows = outbox::Entity::find()
        .filter(outbox::Column::Pos.gt(base))
        .order_by_asc(outbox::Column::Pos)
        .all(&tx)
        .await?;
    tx.commit().await?;
    Ok(rows)
}

/// Positioned rows after `after`, in position order, at most `limit`, whoever they are for.
pub async fn after(
    db: &impl ConnectionTrait,
    after: i64,
    below: Option<i64>,
    limit: u64,
) -> Result<Vec<outbox::Model>, DbErr> {
    let mut q = outbox::Entity::find().filter(outbox::Column::Pos.gt(after));
    if let Some(below) = below {
        q = q.filter(outbox::Column::Pos.lt(below));
    }
    q.order_by_asc(outbox::Column::Pos)
        .limit(limit)
        .all(db)
        .await
}
