//! The area index every caller shares: loaded from the `areas` table at start, swapped whole when
//! an import commits (readers never see half a tree), and refreshed when another instance on the
//! same database changed the tree.

use std::sync::{Arc, RwLock};

use places::locate::{LocateIndex, Node};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QuerySelect};

use crate::entities::areas;
use crate::error::ApiResult;

/// What the loaded tree was built from: row count and latest change. Any import changes one of
/// them, so comparing stamps tells an instance its index is stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TreeStamp {
    rows: i64,
    latest: Option<chrono::DateTime<chrono::Utc>>,
}

/// The index and the stamp it was built from.
pub struct SharedIndex {
    current: RwLock<(Arc<LocateIndex>, TreeStamp)>,
}

impl Default for SharedIndex {
    fn default() -> Self {
        Self {
            current: RwLock::new((Arc::new(LocateIndex::empty()), TreeStamp::default())),
        }
    }
}

impl SharedIndex {
    /// The index as of now; cheap (an Arc clone), and stays valid while a rebuild swaps in.
    pub fn get(&self) -> Arc<LocateIndex> {
        match self.current.read() {
            Ok(g) => g.0.clone(),
            Err(poisoned) => poisoned.into_inner().0.clone(),
        }
    }

    fn stamp(&self) -> TreeStamp {
        match self.current.read() {
            Ok(g) => g.1,
            Err(poisoned) => poisoned.into_inner().1,
        }
    }

    /// Installs an index built inside the transaction that changed the tree, with that
    /// transaction's stamp, so a concurrent change elsewhere still looks stale.
    pub fn swap(&self, index: LocateIndex, stamp: TreeStamp) {
        let next = (Arc::new(index), stamp);
        match self.current.write() {
            Ok(mut g) => *g = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }

    /// Rebuilds from the database now.
    pub async fn reload(&self, db: &impl ConnectionTrait) -> ApiResult<()> {
        let stamp = stamp_of(db).await?;
        let index = load(db).await?;
        self.swap(index, stamp);
        Ok(())
    }

    /// Rebuilds only when the stored tree changed since the last load; true when it did.
    pub async fn refresh_if_stale(&self, db: &impl ConnectionTrait) -> ApiResult<bool> {
        if stamp_of(db).await? == self.stamp() {
            return Ok(false);
        }
        self.reload(db).await?;
        Ok(true)
    }
}

/// The stamp of the tree as `db` sees it.
pub async fn stamp_of(db: &impl ConnectionTrait) -> ApiResult<TreeStamp> {
    let row: Option<(i64, Option<chrono::DateTime<chrono::Utc>>)> = areas::Entity::find()
        .select_only()
        .column_as(areas::Column::Id.count(), "rows")
        .column_as(areas::Column::UpdatedAt.max(), "latest")
        .into_tuple()
        .one(db)
        .await?;
    let (rows, latest) = row.unwrap_or_default();
    Ok(TreeStamp { rows, latest })
}

/// Builds the index from every stored area.
pub async fn load(db: &impl ConnectionTrait) -> ApiResult<LocateIndex> {
    let rows = areas::Entity::find().all(db).await?;
    let mut nodes = Vec::with_capacity(rows.len());
    for row in rows {
        // A row that cannot be read fails the load: an area quietly missing from the index
        // would route its reports to the dispatchers' queue as if the point were nowhere.
        let level = super::area_rows::stored_level(&row.level)?;
        let shape = super::area_rows::stored_shape(row.geometry.as_deref())?;
        nodes.push((
            Node {
                code: row.code,
                name: row.name,
                level,
                parent: row.parent_code,
            },
            shape,
        ));
    }
    // Building is CPU work over thousands of polygons; keep it off the async worker.
    tokio::task::spawn_blocking(move || LocateIndex::build(nodes))
        .await
        .map_err(|e| anyhow::anyhow!("building the area index: {e}").into())
}
