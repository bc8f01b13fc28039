//! gridwing's server: the REST API, authentication and roles, storage on SQLite or PostgreSQL.
//!
//! `main.rs` only parses the command line and calls [`commands::run`]; everything else lives
//! here so that the end-to-end tests start the very same server on a random port.

pub mod access;
pub mod accounts;
pub mod auth;
pub mod batch;
pub mod client_addr;
pub mod commands;
pub mod community;
pub mod config;
pub mod console;
pub mod db;
pub mod demo;
pub mod domain;
pub mod entities;
pub mod error;
pub mod events;
pub mod extract;
pub mod health;
pub mod live;
pub mod mail;
pub mod middleware;
pub mod pagination;
pub mod photos;
pub mod places;
pub mod points;
pub mod reviews;
pub mod routes;
pub mod secrets;
pub mod server;
pub mod simulate;
pub mod state;
pub mod stored;
pub mod street_rules;
pub mod sync;
pub mod telemetry;
#[cfg(test)]
mod testing;
pub mod upgraded;
pub mod wire;
pub mod workers;
pub mod ws_caps;
