//! How an area row's stored columns are read back: its level and its geometry. The tree's
//! views and imports (`areas.rs`) and the in-memory index (`index.rs`) both read rows, and
//! neither should need the other for it.

use places::geometry::Shape;
use places::tree::Level;

use crate::stored::{self, Corrupt};

/// An area's stored level; an unknown one is a corrupt row.
pub fn stored_level(raw: &str) -> Result<Level, Corrupt> {
    Level::parse(raw).ok_or_else(|| Corrupt::new("area level", raw))
}

/// An area's stored GeoJSON geometry, if it has one. It was checked on import, so JSON that
/// does not parse is a corrupt row, not an area without a shape.
pub fn stored_geometry(raw: Option<&str>) -> Result<Option<serde_json::Value>, Corrupt> {
    raw.map(|g| stored::json("area geometry", g)).transpose()
}

/// An area's stored geometry as a shape.
pub fn stored_shape(raw: Option<&str>) -> Result<Option<Shape>, Corrupt> {
    stored_geometry(raw)?
        .map(|v| Shape::from_geojson(&v).map_err(|_| Corrupt::new("area geometry", &v.to_string())))
        .transpose()
}
