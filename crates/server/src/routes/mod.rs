//! One module per resource, each with its own `router()`.

pub mod health;
pub mod openapi;

use axum::Router;

use crate::App;

/// Everything under `/api/v1`.
pub fn api_v1() -> Router<App> {
    openapi::router()
}
