//! The HTTP face of Rapport (axum): health and readiness, metrics, the OpenAPI document, and —
//! as the product grows — webhooks, the public chat API and the admin/agent APIs. It also owns
//! the process life cycle: wiring the store, index and embedder together, running the job
//! workers, and shutting everything down gracefully.

mod app;
pub mod auth;
pub mod config;
mod error;
mod http;
mod metrics;
mod rate_limit;
mod routes;
mod serve;
pub mod settings;
mod widget;

pub use app::{App, Running, bind};
pub use config::Config;
pub use error::{ApiError, Error, Result};
