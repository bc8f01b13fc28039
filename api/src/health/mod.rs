//! Grid health (五色网格): events landing in a grid, its late and lit tasks, repeated reports,
//! patrol coverage and building freshness score it by its street's rules; the score gives one of
//! five colours (green, blue, yellow, orange, red), each with a response level.
//!
//! - [`colour`]: the five colours.
//! - [`rules`]: the rules as data per street, checked, read and kept.
//! - [`score`]: the pure weighing of what was counted (unit-tested alone).
//! - [`gather`]: counting a grid's inputs over a connection.
//! - [`rankings`]: grids and communities ranked side by side (晾晒比拼) over a period.
//! - [`ranking_files`]: the rankings as XLSX, CSV and PDF.
//! - [`store`]: keeping a day's figures, the colour and its live row; reading them back.
//! - [`worker`]: the supervised worker that recomputes touched grids and every grid nightly.

pub mod colour;
pub mod gather;
pub mod ranking_files;
pub mod rankings;
pub mod rules;
pub mod score;
pub mod store;
pub mod worker;

pub use worker::HealthDesk;
