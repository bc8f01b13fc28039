//! Where photos live: files under their content hash in the photo directory, one row each in
//! `photos`, and the rules for who may see one.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::Utc;
use places::locate::LocateIndex;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
    TryInsertResult,
};
use uuid::Uuid;

use super::process::Processed;
use crate::auth::roles::Role;
use crate::auth::user::CurrentUser;
use crate::entities::{event_photos, photo_owners, photos};
use crate::error::ApiResult;

/// The media type of every stored photo and thumbnail.
pub const MIME: &str = "image/jpeg";

/// Whether `s` can name a photo: 64 lower-case hex digits. Anything else names nothing, and never
/// reaches the file system.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Which of a photo's two files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The photo itself.
    Full,
    /// Its thumbnail.
    Thumb,
}

/// The file of a photo: `DIR/ab/cdef….jpg` (the first two hex digits as a folder keep folders
/// small), the thumbnail beside it as `….thumb.jpg`. `sha256` must have passed [`is_sha256`].
pub fn path_of(dir: &Path, sha256: &str, variant: Variant) -> PathBuf {
    let (folder, rest) = sha256.split_at(2.min(sha256.len()));
    let name = match variant {
        Variant::Full => format!("{rest}.jpg"),
        Variant::Thumb => format!("{rest}.thumb.jpg"),
    };
    dir.join(folder).join(name)
}

/// Writes a photo's two files, each to a temporary file first and then renamed into place, so a
/// reader or a crash never sees half a file. Files already there are the same bytes (the name is
/// their hash) and are left alone. Blocking: call from a blocking thread.
pub fn write_files(dir: &Path, p: &Processed) -> std::io::Result<()> {
    write_atomic(&path_of(dir, &p.sha256, Variant::Thumb), &p.thumb)?;
    write_atomic(&path_of(dir, &p.sha256, Variant::Full), &p.jpeg)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let folder = path
        .parent()
        .ok_or_else(|| std::io::Error::other("a photo path has no folder"))?;
    if std::fs::metadata(path).is_ok_and(|m| m.len() == bytes.len() as u64) {
        return Ok(());
    }
    std::fs::create_dir_all(folder)?;
    let tmp = folder.join(format!(".{}.tmp", Uuid::new_v4().simple()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    // The rename is durable only once the folder itself is synced (best effort: not every
    // platform can open a folder for this).
    if let Ok(d) = std::fs::File::open(folder) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Records a stored photo and `uploader`'s ownership of it. Returns the row and whether this
/// uploader's ownership is new. The bytes are stored once, under their hash, whoever sends them;
/// but each uploader owns their own upload, so a second person sending the same image gets the
/// same answer as the first did (and may attach it to their reports) and learns nothing of the
/// first. Only the same person sending it again is told it is already theirs.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    p: &Processed,
    uploader: Uuid,
) -> ApiResult<(photos::Model, bool)> {
    let now = Utc::now();
    let row = photos::ActiveModel {
        sha256: Set(p.sha256.clone()),
        mime: Set(MIME.to_owned()),
        width: Set(i32::try_from(p.width).unwrap_or(i32::MAX)),
        height: Set(i32::try_from(p.height).unwrap_or(i32::MAX)),
        bytes: Set(i64::try_from(p.jpeg.len()).unwrap_or(i64::MAX)),
        uploaded_by: Set(uploader),
        created_at: Set(now),
    };
    photos::Entity::insert(row)
        .on_conflict_do_nothing_on([photos::Column::Sha256])
        .exec_without_returning(db)
        .await?;
    let owner = photo_owners::ActiveModel {
        sha256: Set(p.sha256.clone()),
        user_id: Set(uploader),
        created_at: Set(now),
    };
    let inserted = photo_owners::Entity::insert(owner)
        .on_conflict_do_nothing_on([photo_owners::Column::Sha256, photo_owners::Column::UserId])
        .exec_without_returning(db)
        .await?;
    let created = matches!(inserted, TryInsertResult::Inserted(n) if n > 0);
    let model = photos::Entity::find_by_id(p.sha256.clone())
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("photo row {} vanished after insert", p.sha256))?;
    Ok((model, created))
}

/// The photo's row, if `sha256` names a stored photo.
pub async fn find<C: ConnectionTrait>(db: &C, sha256: &str) -> ApiResult<Option<photos::Model>> {
    if !is_sha256(sha256) {
        return Ok(None);
    }
    Ok(photos::Entity::find_by_id(sha256.to_owned())
        .one(db)
        .await?)
}

/// Whether `sha256` names a stored photo that `uploader` uploaded (first or not): what a report
/// or feedback may attach. Works inside a transaction.
pub async fn exists_for<C: ConnectionTrait>(
    db: &C,
    sha256: &str,
    uploader: Uuid,
) -> ApiResult<bool> {
    if !is_sha256(sha256) {
        return Ok(false);
    }
    Ok(owns(db, sha256, uploader).await?)
}

async fn owns<C: ConnectionTrait>(
    db: &C,
    sha256: &str,
    user: Uuid,
) -> Result<bool, sea_orm::DbErr> {
    Ok(photo_owners::Entity::find_by_id((sha256.to_owned(), user))
        .one(db)
        .await?
        .is_some())
}

/// Whether `user` may see the photo: its uploader, the command centre (dispatchers) and admins,
/// and whoever may see an event the photo is attached to. False for a photo that does not exist,
/// so callers answer both the same way (404).
pub async fn may_see(
    index: &LocateIndex,
    db: &impl ConnectionTrait,
    user: &CurrentUser,
    sha256: &str,
) -> ApiResult<bool> {
    match find(db, sha256).await? {
        Some(row) => may_see_row(index, db, user, &row).await,
        None => Ok(false),
    }
}

/// [`may_see`] for a row already loaded.
pub async fn may_see_row(
    index: &LocateIndex,
    db: &impl ConnectionTrait,
    user: &CurrentUser,
    row: &photos::Model,
) -> ApiResult<bool> {
    if user.has(Role::Admin) || user.has(Role::Dispatcher) || owns(db, &row.sha256, user.id).await?
    {
        return Ok(true);
    }
    let events: Vec<Uuid> = event_photos::Entity::find()
        .select_only()
        .column(event_photos::Column::EventId)
        .filter(event_photos::Column::Sha256.eq(row.sha256.clone()))
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    for event_id in events {
        if crate::events::access::may_see_event(index, db, user, event_id).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lower_case_hex_of_the_right_length_names_a_photo() {
        let good = "ab".repeat(32);
        assert!(is_sha256(&good));
        assert!(!is_sha256(&good.to_uppercase()));
        assert!(!is_sha256(&good[1..]));
        assert!(!is_sha256(&format!("../{}", &good[3..])));
        assert!(!is_sha256(""));
    }

    #[test]
    fn files_are_sharded_by_the_first_two_digits() {
        let sha = format!("ab{}", "c".repeat(62));
        let p = path_of(Path::new("/d"), &sha, Variant::Full);
        assert_eq!(
            p,
            Path::new("/d/ab").join(format!("{}.jpg", "c".repeat(62)))
        );
        let t = path_of(Path::new("/d"), &sha, Variant::Thumb);
        assert_eq!(
            t,
            Path::new("/d/ab").join(format!("{}.thumb.jpg", "c".repeat(62)))
        );
    }
}
