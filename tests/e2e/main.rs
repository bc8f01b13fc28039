//! End-to-end tests: each starts a real gridwing server on a random port with a database of its
//! own and talks to it over HTTP, as a phone or a console would.

mod api_keys;
mod api_style;
mod areas;
mod auth;
mod buildings;
mod events;
mod lifecycle;
mod live;
mod mail;
mod openapi;
mod patrols;
mod photos;
mod roles;
mod support;
mod teams;
