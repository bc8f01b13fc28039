//! End-to-end tests: each starts a real gridwing server on a random port with a database of its
//! own and talks to it over HTTP, as a phone or a console would.

mod access_table;
mod activities;
mod api_keys;
mod api_style;
mod areas;
mod auth;
mod buildings;
mod callouts;
mod connections;
mod console;
mod events;
mod grid_health;
mod lifecycle;
mod live;
mod mail;
mod openapi;
mod patrols;
mod phone;
mod photos;
mod poppler;
mod ranking_files;
mod rankings;
mod refusals;
mod review_files;
mod reviews;
mod rewards;
mod roles;
mod simulated_month;
mod sorting;
mod support;
mod sync;
mod teams;
mod volunteers;
