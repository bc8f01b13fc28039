//! Places on the server side: the stored area tree and its in-memory index, teams, buildings and
//! their QR keys. Every path that touches them — REST, the command line, the demo data — goes
//! through these modules.

pub mod area_rows;
pub mod areas;
pub mod buildings;
pub mod coords;
pub mod index;
pub mod qr_keys;
pub mod teams;
