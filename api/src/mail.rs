//! Mail: rows queued in `email_outbox` inside the transaction that decided to send them, and
//! (being written) a sender that delivers them over SMTP with lettre, at least once, from any
//! instance without two instances sending the same row.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use uuid::Uuid;

use crate::entities::email_outbox;
use crate::error::ApiResult;

/// Queues a message inside the caller's transaction.
pub async fn enqueue(db: &impl ConnectionTrait, to: &str, subject: &str, body: &str) -> ApiResult<()> {
    email_outbox::ActiveModel {
        id: Set(Uuid::now_v7()),
        to_addr: Set(to.to_owned()),
        subject: Set(subject.to_owned()),
        body: Set(body.to_owned()),
        attempts: Set(0),
        claimed_until: Set(None),
        sent_at: Set(None),
        last_error: Set(None),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?;
    Ok(())
}
