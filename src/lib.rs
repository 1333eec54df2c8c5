//! casebook: a GraphQL API, with real-time subscriptions, for security-operations
//! case management.

pub mod auth;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod jobs;
mod named;
pub mod observe;
pub mod server;
pub mod store;

pub use http::{AppState, app};
