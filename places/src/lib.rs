//! Places: everything gridwing knows about where things are, as pure code without a database.
//!
//! - [`geometry`]: polygons as city GIS exports them (GeoJSON, WGS84) and the measures the import
//!   checks need (area, overlap, containment), computed in metres around the shape.
//! - [`tree`]: parsing and checking an area-tree import as a whole, reporting every bad feature.
//! - [`locate`]: the in-memory index that answers "which micro-grid is this point in".
//! - [`gcj02`]: the GCJ-02 ("Mars") datum Chinese map apps use, to and from WGS84.
//! - [`qr`]: signed building codes (屋联码) and their PNG, SVG and printable sheet renderings.
//! - [`demo_street`]: a generated street that looks real, for the demo and the benchmarks.

pub mod demo_street;
pub mod gcj02;
pub mod geometry;
pub mod locate;
pub mod qr;
pub mod tree;
