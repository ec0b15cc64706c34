//! `/api/v1/settings`: the workspace's Settings page — bot name and persona, answer strictness,
//! hand-off rules, business hours, model tuning and channel credentials (write-only). Admins
//! only: agents work conversations, they do not change how the bot behaves.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use crate::App;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::settings::{Refusal, SaveError, SettingsChange};

pub fn router() -> Router<App> {
    Router::new().route("/settings", get(get_settings).put(put_settings))
}

/// The saved settings, what applies where a field is unset, and which credentials are set
/// (never their values).
#[utoipa::path(get, path = "/api/v1/settings", tag = "settings",
    responses((status = 200, body = Object), (status = 403, body = crate::error::ErrorBody)))]
pub async fn get_settings(State(app): State<App>, admin: Admin) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.settings_view(admin.workspace).await?))
}

/// Saves a change; it applies to the next reply (and, for credentials, the next delivery and
/// webhook) without a restart. A change that cannot work is refused whole, with every reason.
#[utoipa::path(put, path = "/api/v1/settings", tag = "settings", request_body = SettingsChange,
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)))]
pub async fn put_settings(
    State(app): State<App>,
    admin: Admin,
    Json(change): Json<SettingsChange>,
) -> Result<Json<Value>, ApiError> {
    app.save_settings(admin.workspace, admin.user_id, change)
        .await
        .map_err(|r| match r {
            SaveError::Refused(Refusal::Unknown(m)) => ApiError::BadRequest(m),
            SaveError::Refused(Refusal::Invalid(problems)) => {
                ApiError::BadRequest(problems.join("; "))
            }
            SaveError::Store(e) => e.into(),
        })?;
    Ok(Json(app.settings_view(admin.workspace).await?))
}
