//! Mail: rows queued in `email_outbox` inside the transaction that decided to send them, and a
//! sender that delivers them over SMTP with lettre, at least once, from any instance without two
//! instances sending the same row.
//!
//! Every instance runs the sender. A row is *claimed* before it is sent: in one write
//! transaction the sender picks due rows (on PostgreSQL locking them and skipping rows another
//! instance holds; SQLite's write lock serialises the claim), stamps them `claimed_until = now +
//! lease` and counts the attempt. Only then does it talk to the SMTP server, outside any
//! transaction. Success sets `sent_at`; a failure records `last_error` and moves
//! `claimed_until` to the end of a backoff, after which any instance may claim the row again.
//! An instance that dies mid-batch leaves its rows claimed until the lease ends; they are sent
//! then by whoever is alive, which is where "at least once" (rather than exactly once) comes
//! from: a crash between the server's 250 and the `sent_at` write repeats that one message.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::config::ServeArgs;
use crate::entities::email_outbox::{self, Column};
use crate::error::ApiResult;

/// How long a claim keeps other instances off a row. Longer than any batch can take (see
/// [`SEND_LIMIT`] and the check in `deliver_claimed`), short enough that mail held by a crashed
/// instance goes out a minute later.
const LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
/// After this many attempts a row stays in the table, unsent, for a person to look at.
pub const MAX_ATTEMPTS: i32 = 10;
/// Rows claimed at once; small, so one slow server cannot make a batch outlive its lease.
const BATCH: u64 = 10;
/// lettre's bound on connecting and on each exchange with the server.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Our bound on one whole message (connect, greeting, EHLO, STARTTLS, envelope, data).
const SEND_LIMIT: Duration = Duration::from_secs(30);
/// How often idle instances look for mail.
const POLL: Duration = Duration::from_secs(1);
/// `last_error` is varchar(500); counted in characters because PostgreSQL counts them so.
const ERROR_CHARS: usize = 480;

/// The SMTP client every send goes through.
pub type Mailer = AsyncSmtpTransport<Tokio1Executor>;

/// Mail settings that cannot work; start-up stops on these rather than losing mail later.
#[derive(Debug, thiserror::Error)]
pub enum MailSettingsError {
    /// `--smtp-url` does not parse, or names a scheme or `tls` mode lettre does not know.
    #[error(
        "--smtp-url / GRIDWING_SMTP_URL `{url}` is not a usable SMTP URL ({reason}); expected e.g. \
         smtp://127.0.0.1:2525, smtp://user:pass@host:587?tls=required or smtps://user:pass@host"
    )]
    SmtpUrl {
        /// The URL with any password hidden.
        url: String,
        reason: String,
    },
    /// `--mail-from` is not a mailbox.
    #[error(
        "--mail-from / GRIDWING_MAIL_FROM `{value}` is not a mailbox ({reason}); expected e.g. \
         `网格通知 <noreply@example.cn>` or `noreply@example.cn`"
    )]
    MailFrom { value: String, reason: String },
}

/// Checks `--smtp-url` and `--mail-from` at start-up, so a typo fails the start instead of
/// every send.
pub fn check_settings(settings: &ServeArgs) -> Result<(), MailSettingsError> {
    from_mailbox(settings)?;
    if let Some(url) = &settings.smtp_url {
        mailer(url)?;
    }
    Ok(())
}

fn from_mailbox(settings: &ServeArgs) -> Result<Mailbox, MailSettingsError> {
    settings
        .mail_from
        .parse()
        .map_err(
            |e: lettre::address::AddressError| MailSettingsError::MailFrom {
                value: settings.mail_from.clone(),
                reason: e.to_string(),
            },
        )
}

/// Builds the SMTP client from a URL (`smtp://`, `smtp://…?tls=required|opportunistic`,
/// `smtps://`); nothing is connected until the first send.
pub fn mailer(url: &str) -> Result<Mailer, MailSettingsError> {
    let builder = Mailer::from_url(url).map_err(|e| MailSettingsError::SmtpUrl {
        url: crate::db::redact(url),
        reason: e.to_string(),
    })?;
    Ok(builder.timeout(Some(SMTP_TIMEOUT)).build())
}

/// Queues a message inside the caller's transaction.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    to: &str,
    subject: &str,
    body: &str,
) -> ApiResult<()> {
    enqueue_many(db, vec![to], subject, body).await
}

/// Queues the same message to many addresses inside the caller's transaction, in statements
/// that each stay within [`crate::db::STATEMENT_BUDGET`].
pub async fn enqueue_many(
    db: &impl ConnectionTrait,
    to: Vec<&str>,
    subject: &str,
    body: &str,
) -> ApiResult<()> {
    let now = Utc::now();
    let rows = to
        .into_iter()
        .map(|to| email_outbox::ActiveModel {
            id: Set(Uuid::now_v7()),
            to_addr: Set(to.to_owned()),
            subject: Set(subject.to_owned()),
            body: Set(body.to_owned()),
            attempts: Set(0),
            claimed_until: Set(None),
            sent_at: Set(None),
            last_error: Set(None),
            created_at: Set(now),
        })
        .collect();
    for run in crate::db::by_size(rows, |_| 200 + subject.len() + body.len()) {
        email_outbox::Entity::insert_many(run).exec(db).await?;
    }
    Ok(())
}

/// Starts this instance's sender. Without `--smtp-url` it only says, once, that mail stays
/// queued: the rows are kept, and go out once an instance with an SMTP server runs.
pub fn spawn_sender(
    db: DatabaseConnection,
    settings: &ServeArgs,
    workers: &mut crate::workers::Supervisor,
) {
    let Some(url) = settings.smtp_url.clone() else {
        tracing::warn!(
            "no --smtp-url: mail is queued in email_outbox and kept, but not sent by this instance"
        );
        return;
    };
    // The server checked both when it started; this only fails if that check was bypassed.
    let (mailer, from) = match (mailer(&url), from_mailbox(settings)) {
        (Ok(m), Ok(f)) => (m, f),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "mail sender not started");
            return;
        }
    };
    tracing::info!(smtp = %crate::db::redact(&url), from = %from, "mail sender started");
    workers.spawn("mailer", move |mut stop| {
        let (db, mailer, from) = (db.clone(), mailer.clone(), from.clone());
        Box::pin(async move {
            let mut tick = tokio::time::interval(POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = stop.requested() => return,
                }
                // A full batch hints at a backlog: keep going without waiting for the next
                // tick, unless the instance stops (what is left stays queued for the next).
                loop {
                    match deliver_due(&db, &mailer, &from).await {
                        Ok(n) if n as u64 == BATCH && !stop.is_requested() => continue,
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "mail sender: database error; retrying");
                            break;
                        }
                    }
                }
            }
        })
    });
}

/// The condition of a row any instance may claim now.
fn due(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(Column::SentAt.is_null())
        .add(
            Condition::any()
                .add(Column::ClaimedUntil.is_null())
                .add(Column::ClaimedUntil.lt(now)),
        )
        .add(Column::Attempts.lt(MAX_ATTEMPTS))
}

/// Claims up to one batch of due rows for this instance and returns them as claimed.
async fn claim(db: &DatabaseConnection) -> Result<Vec<email_outbox::Model>, DbErr> {
    // Microseconds, as PostgreSQL keeps them, so `release` can match the stored value exactly.
    let now = Utc::now().trunc_subsecs(6);
    let until = now + LEASE;
    let tx = crate::db::begin_write(db).await?;
    // SKIP LOCKED lets two PostgreSQL instances claim disjoint batches side by side instead of
    // queueing behind each other; SQLite has no row locks (sea-query leaves the clause out) and
    // needs none, since the IMMEDIATE transaction already excludes every other writer.
    let rows = email_outbox::Entity::find()
        .filter(due(now))
        .order_by_asc(Column::Id)
        .limit(BATCH)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(&tx)
        .await?;
    if rows.is_empty() {
        tx.rollback().await?;
        return Ok(rows);
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    // Repeating the condition makes the update itself the arbiter, whatever the isolation.
    let res = email_outbox::Entity::update_many()
        .col_expr(Column::ClaimedUntil, Expr::value(until))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .filter(Column::Id.is_in(ids))
        .filter(due(now))
        .exec(&tx)
        .await?;
    if res.rows_affected != rows.len() as u64 {
        // Someone changed a row between our select and update, which the locks rule out; take
        // nothing rather than guess which rows are ours.
        tx.rollback().await?;
        tracing::warn!("mail sender: claim raced with another writer; trying again later");
        return Ok(Vec::new());
    }
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|mut r| {
            r.attempts += 1;
            r.claimed_until = Some(until);
            r
        })
        .collect())
}

/// Claims a batch and sends it; returns how many rows were claimed.
async fn deliver_due(
    db: &DatabaseConnection,
    mailer: &Mailer,
    from: &Mailbox,
) -> Result<usize, DbErr> {
    let claimed = claim(db).await?;
    let n = claimed.len();
    let mut rows = claimed.into_iter();
    for row in rows.by_ref() {
        // Never start a send that could still be running when the lease ends: another instance
        // could claim the row by then and send it a second time.
        let worst_end = Utc::now() + SEND_LIMIT;
        if row.claimed_until.is_none_or(|until| worst_end >= until) {
            release(db, &row).await?;
            break;
        }
        let outcome = send(mailer, from, &row).await;
        record(db, &row, outcome).await?;
    }
    for row in rows {
        release(db, &row).await?;
    }
    Ok(n)
}

/// Why one message did not go out.
enum Failure {
    /// The server (or the address itself) says it will never work: do not retry.
    Permanent(String),
    /// Worth trying again later: connection refused, timeouts, 4xx answers.
    Transient(String),
}

async fn send(mailer: &Mailer, from: &Mailbox, row: &email_outbox::Model) -> Result<(), Failure> {
    let to: Mailbox = row.to_addr.parse().map_err(|e| {
        Failure::Permanent(format!(
            "recipient `{}` is not an address: {e}",
            row.to_addr
        ))
    })?;
    // lettre encodes a non-ASCII subject as RFC 2047 words and picks a transfer encoding for
    // the body, so Chinese text arrives intact through servers that only speak 7-bit.
    let message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(row.subject.as_str())
        // The row's id, so a message sent twice (see the module comment) carries the same
        // Message-ID both times and receiving systems can drop the copy.
        .message_id(Some(format!("<{}@{}>", row.id, from.email.domain())))
        .header(ContentType::TEXT_PLAIN)
        .body(row.body.clone())
        .map_err(|e| Failure::Permanent(format!("building the message: {e}")))?;
    match tokio::time::timeout(SEND_LIMIT, mailer.send(message)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.is_permanent() => Err(Failure::Permanent(e.to_string())),
        Ok(Err(e)) => Err(Failure::Transient(e.to_string())),
        Err(_) => Err(Failure::Transient(format!(
            "no answer from the SMTP server within {} s",
            SEND_LIMIT.as_secs()
        ))),
    }
}

/// Wait before the next try after `attempts` tries: 2 s, 4 s, 8 s … capped at 15 minutes, so
/// a server that is briefly down costs seconds and a long outage is tried for about 17 minutes.
fn backoff(attempts: i32) -> chrono::TimeDelta {
    let exp = u32::try_from(attempts.clamp(1, 10)).unwrap_or(1);
    chrono::TimeDelta::seconds(std::cmp::min(1i64 << exp, 900))
}

fn truncate(s: &str) -> String {
    s.chars().take(ERROR_CHARS).collect()
}

/// Writes the outcome of one send.
async fn record(
    db: &DatabaseConnection,
    row: &email_outbox::Model,
    outcome: Result<(), Failure>,
) -> Result<(), DbErr> {
    let now = Utc::now();
    let update = email_outbox::Entity::update_many().filter(Column::Id.eq(row.id));
    let update = match outcome {
        Ok(()) => {
            tracing::info!(id = %row.id, to = %row.to_addr, attempts = row.attempts, "mail sent");
            update.col_expr(Column::SentAt, Expr::value(now))
        }
        Err(Failure::Transient(e)) => {
            let last = row.attempts >= MAX_ATTEMPTS;
            if last {
                tracing::error!(id = %row.id, to = %row.to_addr, error = %e, "mail not sent; giving up after {MAX_ATTEMPTS} attempts");
            } else {
                tracing::warn!(id = %row.id, to = %row.to_addr, attempts = row.attempts, error = %e, "mail not sent; will retry");
            }
            update
                .col_expr(Column::LastError, Expr::value(truncate(&e)))
                .col_expr(
                    Column::ClaimedUntil,
                    Expr::value(now + backoff(row.attempts)),
                )
        }
        Err(Failure::Permanent(e)) => {
            tracing::error!(id = %row.id, to = %row.to_addr, error = %e, "mail refused; not retrying");
            update
                .col_expr(Column::LastError, Expr::value(truncate(&e)))
                .col_expr(Column::Attempts, Expr::value(MAX_ATTEMPTS))
                .col_expr(
                    Column::ClaimedUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
        }
    };
    update.exec(db).await?;
    Ok(())
}

/// Hands back a claimed row this instance did not get to, without counting the attempt.
async fn release(db: &DatabaseConnection, row: &email_outbox::Model) -> Result<(), DbErr> {
    email_outbox::Entity::update_many()
        .col_expr(
            Column::ClaimedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            Column::Attempts,
            ExprTrait::sub(Expr::col(Column::Attempts), 1),
        )
        .filter(Column::Id.eq(row.id))
        .filter(Column::ClaimedUntil.eq(row.claimed_until))
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Result<ServeArgs, clap::Error> {
        crate::config::serve_args_from(extra.iter().copied())
    }

    #[test]
    fn good_settings_pass() -> Result<(), Box<dyn std::error::Error>> {
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://user:pass@mail.example.cn:587?tls=required",
            "smtp://mail.example.cn?tls=opportunistic",
            "smtps://user:pass@mail.example.cn",
        ] {
            check_settings(&args(&["--smtp-url", url])?)?;
        }
        check_settings(&args(&["--mail-from", "网格通知 <notify@example.cn>"])?)?;
        Ok(())
    }

    #[test]
    fn bad_settings_name_the_setting_and_hide_the_password()
    -> Result<(), Box<dyn std::error::Error>> {
        let e = check_settings(&args(&["--smtp-url", "ftp://u:s3cret@mail.example.cn"])?)
            .err()
            .ok_or("ftp accepted")?
            .to_string();
        assert!(e.contains("--smtp-url"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        let e = check_settings(&args(&["--smtp-url", "smtp://h?tls=always"])?)
            .err()
            .ok_or("tls=always accepted")?
            .to_string();
        assert!(e.contains("--smtp-url"), "{e}");
        let e = check_settings(&args(&["--mail-from", "not an address"])?)
            .err()
            .ok_or("bad From accepted")?
            .to_string();
        assert!(e.contains("--mail-from"), "{e}");
        Ok(())
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1).num_seconds(), 2);
        assert_eq!(backoff(2).num_seconds(), 4);
        assert_eq!(backoff(9).num_seconds(), 512);
        assert_eq!(backoff(10).num_seconds(), 900);
    }

    #[test]
    fn errors_fit_the_column() {
        let long = "错".repeat(1000);
        assert_eq!(truncate(&long).chars().count(), ERROR_CHARS);
    }
}
