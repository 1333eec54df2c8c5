//! The integration tests, one binary: the real server on an ephemeral port,
//! real databases, GraphQL over HTTP and WebSocket. One binary, not one per
//! file, so that the support code and the dependencies' generics are
//! compiled and linked once (most of CI's build time on two cores).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[macro_use]
mod common;

mod auth;
mod automation;
mod cases;
mod compiled;
mod conformance;
mod counts;
mod demo;
mod evidence;
mod explain;
mod frontend;
mod fuzz;
mod graphiql;
mod http;
mod live;
mod operations;
mod postgres_tls;
mod queue;
mod roles;
mod schema;
mod search;
mod sla;
mod statements;
mod statuses;
mod tenancy;
mod trust;
mod walkthrough;
mod web_example;
mod webhooks;
mod workflow;
