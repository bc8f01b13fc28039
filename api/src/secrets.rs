//! Server secrets generated on first start and kept in the database, so that every instance on
//! the same database signs and checks with the same key without any set-up.

use chrono::Utc;
use sea_orm::{DatabaseConnection, EntityTrait, Set};

use crate::auth::tokens;
use crate::entities::server_secrets;

/// Returns the named secret, creating it if no instance has yet. Two instances starting at once
/// both try to insert; the loser's insert is ignored and both read the winner's value.
pub async fn get_or_create(db: &DatabaseConnection, name: &str) -> anyhow::Result<String> {
    let candidate = tokens::random_hex(32)?;
    server_secrets::Entity::insert(server_secrets::ActiveModel {
        name: Set(name.to_owned()),
        value: Set(candidate),
        created_at: Set(Utc::now()),
    })
    .on_conflict_do_nothing_on([server_secrets::Column::Name])
    .exec(db)
    .await?;
    server_secrets::Entity::find_by_id(name.to_owned())
        .one(db)
        .await?
        .map(|s| s.value)
        .ok_or_else(|| anyhow::anyhow!("secret {name} vanished after insert"))
}
