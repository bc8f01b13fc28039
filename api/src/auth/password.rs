//! Password hashing with argon2id (OWASP parameters: 19 MiB, 2 passes). Hashing is slow on
//! purpose, so it runs on the blocking pool behind a semaphore: a burst of logins queues instead
//! of taking every core and a few hundred MiB at once.

use std::sync::LazyLock;

use anyhow::Context;
use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

static HASHING: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Semaphore::new(cores * 2)
});

/// A hash of a password nobody has, checked when the account does not exist so that a wrong
/// phone number costs the same time as a wrong password.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_blocking("gridwing-no-such-account-0").unwrap_or_default());

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("reading random salt: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Ok(hash.to_string())
}

fn verify_blocking(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

async fn on_blocking_pool<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    let _permit = HASHING
        .acquire()
        .await
        .context("hashing semaphore closed")?;
    tokio::task::spawn_blocking(f)
        .await
        .context("hashing task failed")
}

/// Hashes a password for storage (PHC string format).
pub async fn hash(password: String) -> anyhow::Result<String> {
    on_blocking_pool(move || hash_blocking(&password)).await?
}

/// Checks a password against a stored hash; with `None` it checks a dummy hash and fails, taking
/// the same time.
pub async fn verify(password: String, hash: Option<String>) -> anyhow::Result<bool> {
    on_blocking_pool(move || match hash {
        Some(h) => verify_blocking(&password, &h),
        None => {
            verify_blocking(&password, &DUMMY_HASH);
            false
        }
    })
    .await
}

/// Computes the dummy hash now, so the first failed login is not the one that pays for it.
pub async fn warm_up() -> anyhow::Result<()> {
    on_blocking_pool(|| LazyLock::force(&DUMMY_HASH).len()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ_by_salt() -> anyhow::Result<()> {
        let a = hash("网格2026巡查".into()).await?;
        let b = hash("网格2026巡查".into()).await?;
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        assert!(verify("网格2026巡查".into(), Some(a.clone())).await?);
        assert!(!verify("网格2026巡查x".into(), Some(a)).await?);
        assert!(!verify("anything".into(), None).await?);
        assert!(!verify("x".into(), Some("not a hash".into())).await?);
        Ok(())
    }
}
