//! Connecting to the database and migrating it. SQLite is the embedded default (a file created on
//! first start); any `postgres://` URL selects PostgreSQL. Both run the same migrations.

use std::time::Duration;

use anyhow::Context;
use migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::config::DbArgs;

/// Rows whose column holds `text` anywhere: LIKE with its wildcards in the text escaped (people
/// type `_` in codes), both sides lowered so SQLite and PostgreSQL match alike.
pub fn containing(
    col: impl sea_orm::sea_query::IntoColumnRef,
    text: &str,
) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    Expr::expr(Func::lower(Expr::col(col))).like(LikeExpr::new(pattern).escape('\\'))
}

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

/// About the most bytes one statement should carry. sqlx 0.9 leaves Nagle's algorithm on, and
/// over TLS (which it uses whenever PostgreSQL offers it) a statement larger than one 16 KB
/// record waits ~40 ms for the server's delayed ACK; under it a statement goes out at once.
pub const STATEMENT_BUDGET: usize = 12 * 1024;

/// Splits `items` into runs of at most [`STATEMENT_BUDGET`] estimated bytes (an item larger than
/// that goes alone), in order, for multi-row statements.
pub fn by_size<T>(items: Vec<T>, size: impl Fn(&T) -> usize) -> Vec<Vec<T>> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    let mut bytes = 0;
    for item in items {
        let n = size(&item);
        if !run.is_empty() && bytes + n > STATEMENT_BUDGET {
            runs.push(std::mem::take(&mut run));
            bytes = 0;
        }
        bytes += n;
        run.push(item);
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
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
    use super::{STATEMENT_BUDGET, by_size, redact};

    #[test]
    fn runs_stay_under_the_budget_in_order() {
        let sizes = vec![5000, 5000, 5000, 20_000, 100, 100];
        let runs = by_size(sizes, |n| *n);
        assert_eq!(
            runs,
            vec![vec![5000, 5000], vec![5000], vec![20_000], vec![100, 100]]
        );
        assert!(
            runs.iter()
                .all(|r| r.len() == 1 || r.iter().sum::<usize>() <= STATEMENT_BUDGET)
        );
        assert!(by_size(Vec::<usize>::new(), |n| *n).is_empty());
    }

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
