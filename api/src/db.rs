//! Connecting to the database and migrating it. SQLite is the embedded default (a file created on
//! first start); any `postgres://` URL selects PostgreSQL. Both run the same migrations.

use std::time::Duration;

use anyhow::Context;
use migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

use crate::config::DbArgs;

/// Opens a pool on the configured database.
pub async fn connect(args: &DbArgs) -> anyhow::Result<DatabaseConnection> {
    let url = &args.database_url;
    let mut opts = ConnectOptions::new(url.clone());
    opts.max_connections(args.db_max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        // WAL lets readers run beside the one writer; the busy timeout queues writers instead of
        // failing them, and foreign keys are off in SQLite unless asked for.
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    }
    Database::connect(opts)
        .await
        .with_context(|| format!("connecting to {}", redact(url)))
}

/// Starts a transaction that will write. On SQLite it takes the write lock at BEGIN (IMMEDIATE):
/// a deferred transaction that reads first cannot upgrade its lock while another writer holds
/// it and fails at once with "database is locked", whereas waiting at BEGIN honours the busy
/// timeout. PostgreSQL ignores the option.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Runs several INSERT statements. On PostgreSQL they go as one statement (a data-modifying
/// CTE: one round trip, parse and plan), since an intake's cost there is its round trips, not
/// its rows; elsewhere one after another. All of it stands or fails together either way.
pub async fn insert_all(db: &impl ConnectionTrait, inserts: Vec<Statement>) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres || inserts.len() < 2 {
        for statement in inserts {
            db.execute_raw(statement).await?;
        }
        return Ok(());
    }
    let last = inserts.len() - 1;
    let mut sql = String::from("WITH ");
    let mut values = Vec::new();
    for (i, statement) in inserts.into_iter().enumerate() {
        let own = shift_placeholders(&statement.sql, values.len());
        if i < last {
            sql.push_str(&format!("w{i} AS ({own}), "));
        } else {
            sql.truncate(sql.len() - 2);
            sql.push(' ');
            sql.push_str(&own);
        }
        values.extend(statement.values.map(|v| v.0).unwrap_or_default());
    }
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
    .await?;
    Ok(())
}

/// Renumbers the `$n` parameters of one statement to follow `by` earlier ones. Statements built
/// by sea-query carry every value as a parameter, never as a literal, so each `$` followed by
/// digits is a parameter.
fn shift_placeholders(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut n = String::new();
        while let Some(&(_, d)) = chars.peek()
            && d.is_ascii_digit()
        {
            n.push(d);
            chars.next();
        }
        match n.parse::<usize>() {
            Ok(k) => out.push_str(&(k + by).to_string()),
            Err(_) => out.push_str(&n),
        }
    }
    out
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("running migrations")
}

/// A URL fit for logs: the password, if any, replaced.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_the_log() {
        assert_eq!(
            redact("postgres://gw:s3cret@db:5432/gridwing"),
            "postgres://gw:***@db:5432/gridwing"
        );
        assert_eq!(redact("postgres://gw@db/x"), "postgres://gw@db/x");
        assert_eq!(
            redact("sqlite://gridwing.sqlite?mode=rwc"),
            "sqlite://gridwing.sqlite?mode=rwc"
        );
    }
}
