//! `/webhooks/*`: where the providers call us. A webhook verifies, stores, queues and answers 200
//! at once; it never waits for the model.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use rapport_agent::Inbound;
use rapport_agent::identity::IdentityClaim;
use rapport_channels::{instagram, whatsapp};
use rapport_core::domain::Channel;
use rapport_core::ids::WorkspaceId;
use serde::Deserialize;

use crate::App;
use crate::auth::constant_time_eq;
use crate::config::Secret;
use crate::error::{ApiError, error_response};

/// Channels are configured per install for now; they feed the default workspace.
const WS: WorkspaceId = WorkspaceId::DEFAULT;

pub fn router() -> Router<App> {
    Router::new()
        .route("/whatsapp", get(verify_whatsapp).post(receive_whatsapp))
        .route("/instagram", get(verify_instagram).post(receive_instagram))
}

#[derive(Debug, Deserialize)]
pub struct Verification {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// Meta's subscription check of the WhatsApp webhook.
pub async fn verify_whatsapp(
    State(app): State<App>,
    Query(q): Query<Verification>,
) -> axum::response::Response {
    subscription_check(
        app.channels.config().secrets.whatsapp_verify_token.as_ref(),
        q,
    )
}

/// Meta's subscription check of the Instagram webhook.
pub async fn verify_instagram(
    State(app): State<App>,
    Query(q): Query<Verification>,
) -> axum::response::Response {
    subscription_check(
        app.channels
            .config()
            .secrets
            .instagram_verify_token
            .as_ref(),
        q,
    )
}

/// Echoes the challenge when the token matches the configured one, else 403.
fn subscription_check(expected: Option<&Secret>, q: Verification) -> axum::response::Response {
    use axum::response::IntoResponse;
    let token_ok = match (expected, &q.verify_token) {
        (Some(expected), Some(given)) => constant_time_eq(expected.expose(), given),
        _ => false,
    };
    match (q.mode.as_deref(), token_ok, q.challenge) {
        (Some("subscribe"), true, Some(challenge)) => (StatusCode::OK, challenge).into_response(),
        _ => error_response(
            StatusCode::FORBIDDEN,
            "forbidden",
            "webhook verification failed",
        ),
    }
}

/// Meta's `X-Hub-Signature-256` over the raw body, keyed with the app's secret (WhatsApp and
/// Instagram alike); 401 when missing or wrong.
fn verify_meta_signature(
    secret: Option<&Secret>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let secret = secret.map(|s| s.expose()).unwrap_or_default();
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    whatsapp::verify_signature(secret, body, signature)
        .map_err(|e| ApiError::Unauthorized(e.to_string()))
}

/// Messages and delivery statuses. Signed by Meta with the app secret over the raw body.
pub async fn receive_whatsapp(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, axum::response::Response> {
    verify_meta_signature(
        app.channels.config().secrets.whatsapp_app_secret.as_ref(),
        &headers,
        &body,
    )
    .map_err(axum::response::IntoResponse::into_response)?;
    let events = whatsapp::parse(&body)
        .map_err(|e| error_response(StatusCode::BAD_REQUEST, "bad_request", e.to_string()))?;
    for event in events {
        let handled = match event {
            whatsapp::Event::Message(m) => receive(&app, &inbound(m), true, "WhatsApp").await,
            whatsapp::Event::Status(s) => {
                let error = (!s.errors.is_empty()).then(|| s.errors.join("; "));
                app.store
                    .update_delivery_status(
                        WS,
                        Channel::Whatsapp,
                        &s.id,
                        &s.status,
                        error.as_deref(),
                    )
                    .await
                    .map(|_| ())
                    .map_err(ApiError::from)
            }
            whatsapp::Event::Ignored(what) => {
                tracing::debug!(%what, "WhatsApp webhook event ignored");
                Ok(())
            }
        };
        // Meta retries what was not acknowledged; stored messages are not stored twice.
        handled.map_err(axum::response::IntoResponse::into_response)?;
    }
    Ok(StatusCode::OK)
}

/// Instagram messages, postbacks, reactions and read receipts. Signed like WhatsApp's.
pub async fn receive_instagram(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, axum::response::Response> {
    verify_meta_signature(
        app.channels.config().secrets.instagram_app_secret.as_ref(),
        &headers,
        &body,
    )
    .map_err(axum::response::IntoResponse::into_response)?;
    let events = instagram::parse(&body)
        .map_err(|e| error_response(StatusCode::BAD_REQUEST, "bad_request", e.to_string()))?;
    for event in events {
        let handled = match event {
            instagram::Event::Message(m) => {
                let expects_reply = m.expects_reply;
                receive(&app, &instagram_inbound(m), expects_reply, "Instagram").await
            }
            instagram::Event::Read { mid } => app
                .store
                .update_delivery_status(WS, Channel::Instagram, &mid, "read", None)
                .await
                .map(|_| ())
                .map_err(ApiError::from),
            instagram::Event::Ignored(what) => {
                tracing::debug!(%what, "Instagram webhook event ignored");
                Ok(())
            }
        };
        handled.map_err(axum::response::IntoResponse::into_response)?;
    }
    Ok(StatusCode::OK)
}

/// Hands a parsed message to the agent. A message we cannot take will not improve with the
/// provider's retries: it is logged and acknowledged.
async fn receive(
    app: &App,
    inbound: &Inbound,
    queue_reply: bool,
    channel: &str,
) -> Result<(), ApiError> {
    match app.agent.receive(WS, inbound, queue_reply).await {
        Err(rapport_agent::Error::Invalid(reason)) => {
            tracing::warn!(%reason, "{channel} message refused");
            Ok(())
        }
        other => other.map(|_| ()).map_err(ApiError::from),
    }
}

fn instagram_inbound(m: instagram::IncomingMessage) -> Inbound {
    Inbound {
        claim: IdentityClaim {
            channel: Some(Channel::Instagram),
            external_id: m.sender_id,
            ..IdentityClaim::default()
        },
        provider_message_id: Some(m.id),
        kind: m.kind,
        text: m.text,
        attachments: m.attachments,
        sent_at: m
            .timestamp_ms
            .and_then(chrono::DateTime::from_timestamp_millis),
        ..Inbound::default()
    }
}

fn inbound(m: whatsapp::IncomingMessage) -> Inbound {
    Inbound {
        claim: IdentityClaim {
            channel: Some(Channel::Whatsapp),
            external_id: m.wa_id.clone(),
            name: m.name,
            // Meta verified the number: it is the customer's phone.
            verified_phone: m
                .wa_id
                .chars()
                .all(|c| c.is_ascii_digit())
                .then(|| format!("+{}", m.wa_id)),
            ..IdentityClaim::default()
        },
        provider_message_id: Some(m.id),
        kind: m.kind,
        text: m.text,
        attachments: m.attachments,
        sent_at: m
            .timestamp
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0)),
        ..Inbound::default()
    }
}
