//! `/api/v1/actions`: the HTTP calls the agent may make for a customer (order status, a
//! cancellation), and the audit of every call. Admins only; secret header values are
//! write-only. The definition's fields are documented in README "Actions".

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use rapport_agent::actions::catalog::ActionInput;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::App;
use crate::auth::Admin;
use crate::error::ApiError;

pub fn router() -> Router<App> {
    Router::new()
        .route("/actions", get(list_actions).post(create_action))
        .route(
            "/actions/{id}",
            get(get_action).put(update_action).delete(delete_action),
        )
        .route("/actions/{id}/calls", get(list_action_calls))
        .route("/action-calls", get(list_all_calls))
}

/// An action to create or replace.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ActionBody {
    /// Letters, digits, `_` and `-`; unique in the workspace.
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// description, examples, method, url, headers, body, inputs, writes, confirm, identity,
    /// timeout_ms, max_response_bytes, reply, facts, owner, allowed_hosts,
    /// allow_private_addresses, max_calls_per_hour.
    #[schema(value_type = Object)]
    pub definition: Value,
}

fn yes() -> bool {
    true
}

impl From<ActionBody> for ActionInput {
    fn from(b: ActionBody) -> Self {
        ActionInput {
            name: b.name,
            enabled: b.enabled,
            definition: b.definition,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CallsQuery {
    /// At most this many, newest first (default 50, at most 500).
    pub limit: Option<i64>,
}

/// The workspace's actions (secret header values never included).
#[utoipa::path(get, path = "/api/v1/actions", tag = "actions",
    responses((status = 200, body = Object), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_actions(State(app): State<App>, admin: Admin) -> Result<Json<Value>, ApiError> {
    let actions = app.agent.list_actions(admin.workspace).await?;
    Ok(Json(json!({ "actions": actions })))
}

/// Creates an action; every problem of the definition comes back in one 400.
#[utoipa::path(post, path = "/api/v1/actions", tag = "actions", request_body = ActionBody,
    responses((status = 201, body = Object), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
pub async fn create_action(
    State(app): State<App>,
    admin: Admin,
    Json(body): Json<ActionBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let action = app
        .agent
        .create_action(admin.workspace, body.into())
        .await?;
    Ok((StatusCode::CREATED, Json(json!(action))))
}

#[utoipa::path(get, path = "/api/v1/actions/{id}", tag = "actions",
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_action(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        app.agent.get_action(admin.workspace, id).await?
    )))
}

/// Replaces an action. A secret header sent with an empty value keeps the saved one.
#[utoipa::path(put, path = "/api/v1/actions/{id}", tag = "actions", request_body = ActionBody,
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn update_action(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
    Json(body): Json<ActionBody>,
) -> Result<Json<Value>, ApiError> {
    let action = app
        .agent
        .update_action(admin.workspace, id, body.into())
        .await?;
    Ok(Json(json!(action)))
}

#[utoipa::path(delete, path = "/api/v1/actions/{id}", tag = "actions",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_action(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    app.agent.delete_action(admin.workspace, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The action's latest calls: inputs (personal data redacted), outcome, HTTP status,
/// latency, a summary of the result, the message that confirmed a write.
#[utoipa::path(get, path = "/api/v1/actions/{id}/calls", tag = "actions", params(CallsQuery),
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_action_calls(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
    Query(q): Query<CallsQuery>,
) -> Result<Json<Value>, ApiError> {
    let calls = app
        .agent
        .action_calls(admin.workspace, Some(id), q.limit.unwrap_or(50))
        .await?;
    Ok(Json(json!({ "calls": calls })))
}

/// Every action's latest calls.
#[utoipa::path(get, path = "/api/v1/action-calls", tag = "actions", params(CallsQuery),
    responses((status = 200, body = Object), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_all_calls(
    State(app): State<App>,
    admin: Admin,
    Query(q): Query<CallsQuery>,
) -> Result<Json<Value>, ApiError> {
    let calls = app
        .agent
        .action_calls(admin.workspace, None, q.limit.unwrap_or(50))
        .await?;
    Ok(Json(json!({ "calls": calls })))
}
