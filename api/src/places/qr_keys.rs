//! The keys that sign building QR codes. They live in the database (`qr_key_v1`, `qr_key_v2`, …)
//! so every instance signs and checks alike; the newest version signs, every version still
//! verifies, so codes already on walls keep working after a rotation.

use std::collections::BTreeMap;
use std::sync::RwLock;

use places::qr::{self, QrKey, VerifyError};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::entities::server_secrets;
use crate::error::ApiResult;
use crate::secrets;

const PREFIX: &str = "qr_key_v";

/// Codes signed with the same keys that name something other than a building: a patrol
/// checkpoint's plate (`cp.<code>`), an activity's attendance (`act.<id>`) or a checkpoint's
/// rotating screen code (`cpt.<step>.<code>`). No building may be registered under them, or its
/// genuine plate would pass for one.
pub const NON_BUILDING_PREFIXES: [&str; 3] = ["cp.", "act.", "cpt."];

/// Whether a code lies in a namespace kept for checkpoints and activities.
pub fn is_reserved(code: &str) -> bool {
    NON_BUILDING_PREFIXES.iter().any(|p| code.starts_with(p))
}

/// The signing keys, cached; reloaded when a code names a version this instance has not seen.
#[derive(Default)]
pub struct QrKeys {
    keys: RwLock<BTreeMap<u32, Vec<u8>>>,
}

async fn read_all(db: &DatabaseConnection) -> ApiResult<BTreeMap<u32, Vec<u8>>> {
    Ok(server_secrets::Entity::find()
        .filter(server_secrets::Column::Name.starts_with(PREFIX))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|s| {
            let v = s.name.strip_prefix(PREFIX)?.parse().ok()?;
            Some((v, s.value.into_bytes()))
        })
        .collect())
}

impl QrKeys {
    /// Loads the keys, creating version 1 on the first start.
    pub async fn load(db: &DatabaseConnection) -> anyhow::Result<Self> {
        secrets::get_or_create(db, &format!("{PREFIX}1")).await?;
        let keys = Self::default();
        keys.reload(db).await?;
        Ok(keys)
    }

    async fn reload(&self, db: &DatabaseConnection) -> ApiResult<()> {
        let fresh = read_all(db).await?;
        match self.keys.write() {
            Ok(mut g) => *g = fresh,
            Err(p) => *p.into_inner() = fresh,
        }
        Ok(())
    }

    fn snapshot(&self) -> BTreeMap<u32, Vec<u8>> {
        match self.keys.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The payload to print on a building, signed with the newest key.
    pub fn sign(&self, building_code: &str) -> String {
        let keys = self.snapshot();
        match keys.last_key_value() {
            Some((&version, secret)) => qr::sign(&QrKey { version, secret }, building_code),
            // `load` always creates version 1, so an empty set means a broken database row.
            None => String::new(),
        }
    }

    /// The building code of a scanned payload, or why it is not one of ours.
    pub async fn verify(
        &self,
        db: &DatabaseConnection,
        scanned: &str,
    ) -> ApiResult<Result<String, VerifyError>> {
        let check = |keys: &BTreeMap<u32, Vec<u8>>| qr::verify(scanned, &|v| keys.get(&v).cloned());
        match check(&self.snapshot()) {
            Err(VerifyError::UnknownKeyVersion(_)) => {
                // Another instance may have rotated since this one loaded.
                self.reload(db).await?;
                Ok(check(&self.snapshot()))
            }
            other => Ok(other),
        }
    }
}

/// Adds the next key version; new codes are signed with it from the next start of each instance.
pub async fn rotate(db: &DatabaseConnection) -> anyhow::Result<u32> {
    let next = read_all(db).await?.keys().max().copied().unwrap_or(0) + 1;
    secrets::get_or_create(db, &format!("{PREFIX}{next}")).await?;
    Ok(next)
}
