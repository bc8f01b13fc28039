//! Connecting to the database and migrating it. SQLite is the embedded default (a file created on
//! first start); any `postgres://` URL selects PostgreSQL. Both run the same migrations.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use anyhow::Context;
use migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, ExecResult, QueryResult, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
///
/// SQLite has one writer at a time, and a writer waiting at BEGIN would hold a pool connection
/// all the while, so readers would queue behind writers for connections. Writers to a SQLite
/// file wait at its writer gate instead, holding nothing, and take a connection once it is
/// their turn; the transaction holds the gate until it ends.
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTx, DbErr> {
    let gate = match sqlite_writer_gate(db) {
        Some(gate) => Some(
            tokio::time::timeout(GATE_WAIT, gate.acquire_owned())
                .await
                .map_err(|_| DbErr::Custom("timed out waiting for the SQLite writer".into()))?
                .map_err(|_| DbErr::Custom("the SQLite writer gate closed".into()))?,
        ),
        None => None,
    };
    let tx = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    Ok(WriteTx { tx, _gate: gate })
}

/// As long as SQLite's busy timeout: a writer waits at the gate as it would have at BEGIN.
const GATE_WAIT: Duration = Duration::from_secs(10);

/// The gate of the SQLite file `db` writes to; None on PostgreSQL, which takes writers side by
/// side. Keyed by file, so every pool on one file (several servers in one process, as the tests
/// run them) shares it.
fn sqlite_writer_gate(db: &DatabaseConnection) -> Option<Arc<Semaphore>> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return None;
    }
    static GATES: LazyLock<Mutex<HashMap<PathBuf, Arc<Semaphore>>>> =
        LazyLock::new(Default::default);
    let file = db
        .get_sqlite_connection_pool()
        .connect_options()
        .get_filename()
        .to_path_buf();
    let mut gates = GATES.lock().unwrap_or_else(|e| e.into_inner());
    Some(
        gates
            .entry(file)
            .or_insert_with(|| Arc::new(Semaphore::new(1)))
            .clone(),
    )
}

/// A transaction that writes, from [`begin_write`]: what a [`DatabaseTransaction`] is, holding
/// the SQLite writer gate (if any) until it commits, rolls back or is dropped.
pub struct WriteTx {
    tx: DatabaseTransaction,
    // Declared after the transaction, so it is released after the transaction is dropped.
    _gate: Option<OwnedSemaphorePermit>,
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.tx.rollback().await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTx {
    fn get_database_backend(&self) -> DbBackend {
        self.tx.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.tx.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.tx.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.tx.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.tx.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.tx.support_returning()
    }
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

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[tokio::test]
    async fn a_writer_waiting_for_another_leaves_the_connections_to_readers() -> TestResult {
        use sea_orm::ConnectionTrait;
        let dir = tempfile::tempdir()?;
        let args = crate::config::DbArgs {
            database_url: format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("gate.sqlite").display()
            ),
            db_max_connections: 2,
        };
        let db = super::connect(&args).await?;
        db.execute_unprepared("CREATE TABLE t (n INTEGER)").await?;
        let first = super::begin_write(&db).await?;
        first.execute_unprepared("INSERT INTO t VALUES (1)").await?;
        let second = tokio::spawn({
            let db = db.clone();
            async move {
                let tx = super::begin_write(&db).await?;
                tx.execute_unprepared("INSERT INTO t VALUES (2)").await?;
                tx.commit().await
            }
        });
        // The second writer gets going and waits for the first.
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        assert!(!second.is_finished());
        // The pool's other connection is free: a read does not queue behind the waiting writer
        // (waiting at BEGIN IMMEDIATE, it would hold that connection for up to the busy timeout).
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(3),
            db.query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT count(*) AS n FROM t",
            )),
        )
        .await??
        .ok_or("no count")?;
        assert_eq!(read.try_get::<i64>("", "n")?, 0);
        first.commit().await?;
        second.await??;
        let all = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT count(*) AS n FROM t",
            ))
            .await?
            .ok_or("no count")?;
        assert_eq!(all.try_get::<i64>("", "n")?, 2);
        Ok(())
    }

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
