//! `/api/v1/channels/api/messages`: the REST API channel for custom integrations (a Telegram
//! bridge, a mobile app). The integration authenticates with its bearer token and names each
//! message with an `Idempotency-Key`, so its retries are stored and answered once; replies go
//! to its callback URL through the outbox (see `rapport_channels::api`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use rapport_agent::Inbound;
use rapport_core::domain::Channel;
use rapport_core::ids::WorkspaceId;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::App;
use crate::auth::constant_time_eq;
use crate::error::ApiError;
use crate::routes::customers::{Accepted, MAX_TEXT_CHARS, Sender, claim_of};

/// Integrations feed the default workspace until tokens carry one (the web app's issue).
const WS: WorkspaceId = WorkspaceId::DEFAULT;

pub fn router() -> Router<App> {
    Router::new().route("/channels/api/messages", post(post_api_message))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiChannelMessage {
    pub sender: Sender,
    pub text: String,
    /// References to files the integration keeps (`[{url, name, content_type}]`).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub attachments: Option<Value>,
}

/// Stores a customer message from an integration and queues the bot's reply, which is
/// delivered to the integration's callback (202: the reply comes later).
#[utoipa::path(post, path = "/api/v1/channels/api/messages", tag = "channels", request_body = ApiChannelMessage,
    params(("Idempotency-Key" = String, Header, description = "the integration's id of this message; a retry with the same key is a no-op")),
    responses((status = 202, body = Accepted), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn post_api_message(
    State(app): State<App>,
    headers: HeaderMap,
    Json(body): Json<ApiChannelMessage>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    authenticate(&app, &headers)?;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 200)
        .ok_or_else(|| {
            ApiError::BadRequest("an Idempotency-Key header (1–200 characters) is required".into())
        })?;
    if body.text.trim().is_empty() && body.attachments.is_none() {
        return Err(ApiError::BadRequest("text is empty".into()));
    }
    if body.text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::TooLarge(format!(
            "text is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    let claim = claim_of(&app, Channel::Api, body.sender)?;
    let inbound = Inbound {
        provider_message_id: Some(rapport_channels::api::scoped_message_id(
            &claim.external_id,
            key,
        )),
        claim,
        kind: "text".into(),
        text: body.text,
        attachments: body.attachments.unwrap_or(Value::Null),
        ..Inbound::default()
    };
    let r = app.agent.receive(WS, &inbound, true).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted::from(r))))
}

/// The channel is off until a token is configured; a wrong token is a 401.
fn authenticate(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = app.config.secrets.api_channel_token.as_ref() else {
        return Err(ApiError::Forbidden(
            "the API channel is not enabled (set RAPPORT_API_CHANNEL_TOKEN)".into(),
        ));
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if constant_time_eq(given, expected.expose()) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(
            "missing or wrong bearer token".into(),
        ))
    }
}
