//! The OpenAPI document of the whole HTTP API. Each resource module adds its paths and schemas
//! to [`ApiDoc`] as it lands.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

use crate::App;
use crate::error::{ErrorBody, ErrorDetail};
use crate::routes::health;

#[derive(OpenApi)]
#[openapi(
    info(title = "Rapport API", description = "Self-hostable AI support agent. Errors are `{\"error\":{\"code\",\"message\"}}`."),
    paths(health::healthz, health::readyz, health::metrics, openapi_json),
    components(schemas(ErrorBody, ErrorDetail, health::Health, health::Readiness, health::ReadinessChecks)),
    tags((name = "operations", description = "Health, readiness, metrics"))
)]
pub struct ApiDoc;

pub fn router() -> Router<App> {
    Router::new().route("/openapi.json", get(openapi_json))
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
