//! Rapport's relational storage: one `Store` over SQLite (the embedded default) or PostgreSQL
//! (scale-out), the migrations of both, and the durable job queue the workers poll.
//!
//! Queries are written once with runtime `sqlx::query*` calls and `$n` placeholders, which both
//! backends accept; [`Db`] dispatches them to the right pool. Where the SQL must differ (row
//! locking on PostgreSQL) the code branches explicitly.
//!
//! `+workspace_id = $1` (a unary plus) appears where a query has a better key than the workspace
//! (a contact, a conversation, a message id): SQLite keeps no statistics here and takes
//! `workspace_id = ?` for a selective condition, so it would walk every row of the workspace
//! through a `(workspace_id, …)` index — one customer's lookup growing with all the others (at
//! 20,000 customers the contact cluster took 10.7 ms instead of 8 µs). The plus keeps the
//! condition and takes the index off the table; PostgreSQL reads it the same way.

pub mod actions;
pub mod activity;
pub mod analytics;
pub mod canned;
pub mod contacts;
pub mod csat;
mod db;
mod error;
pub mod escalations;
pub mod guards;
pub mod jobs;
pub mod knowledge;
pub mod messages;
pub mod notifications;
pub mod outbox;
mod ownership;
pub mod presence;
pub mod retention;
pub mod routing;
pub mod runner;
pub mod search;
pub mod settings;
pub mod tasks;
#[cfg(feature = "testing")]
pub mod testing;
pub mod threads;
pub mod users;
pub mod widget;
pub mod workspaces;

pub use db::{Backend, Store, StoreOptions, redact_url};
pub use error::{Error, Result};
