//! One module per resource, each with its own `router()`.

pub mod actions;
pub mod analytics;
pub mod api_channel;
pub mod app;
pub mod auth;
pub mod csat;
pub mod customers;
pub mod desk;
pub mod email;
pub mod events;
pub mod health;
pub mod knowledge;
pub mod openapi;
pub mod playground;
pub mod settings;
pub mod webhooks;
pub mod widget;

use axum::Router;

use crate::App;

/// Everything under `/api/v1` but uploads.
pub fn api_v1() -> Router<App> {
    openapi::router()
        .nest("/knowledge", knowledge::router())
        .merge(customers::router())
        .merge(api_channel::router())
        .merge(auth::router())
        .merge(playground::router())
        .merge(settings::router())
        .merge(actions::router())
        .merge(desk::router())
        .merge(analytics::router())
        .merge(events::router())
}

/// The upload routes under `/api/v1`, to be given the upload body limit.
pub fn api_v1_uploads() -> Router<App> {
    Router::new().nest("/knowledge", knowledge::upload_router())
}
