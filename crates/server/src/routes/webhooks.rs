//! `/webhooks/*`: where the providers call us. A webhook verifies, stores, queues and answers 200
//! at once; it never waits for the model.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use rapport_agent::Inbound;
use rapport_agent::identity::IdentityClaim;
use rapport_channels::whatsapp::{self, Event};
use rapport_core::domain::Channel;
use rapport_core::ids::WorkspaceId;
use serde::Deserialize;

use crate::App;
use crate::error::{ApiError, error_response};

/// Channels are configured per install for now; they feed the default workspace.
const WS: WorkspaceId = WorkspaceId::DEFAULT;

pub fn router() -> Router<App> {
    Router::new().route("/whatsapp", get(verify_whatsapp).post(receive_whatsapp))
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

/// Meta's subscription check: echo the challenge when the token matches, else 403.
pub async fn verify_whatsapp(
    State(app): State<App>,
    Query(q): Query<Verification>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let expected = app
        .config
        .secrets
        .whatsapp_verify_token
        .as_ref()
        .map(|s| s.expose().to_owned());
    let token_ok = match (&expected, &q.verify_token) {
        (Some(expected), Some(given)) => {
            // Constant time: the token is a secret.
            expected.len() == given.len()
                && expected
                    .bytes()
                    .zip(given.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        }
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

/// Messages and delivery statuses. Signed by Meta with the app secret over the raw body.
pub async fn receive_whatsapp(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, axum::response::Response> {
    let secret = app
        .config
        .secrets
        .whatsapp_app_secret
        .as_ref()
        .map(|s| s.expose().to_owned())
        .unwrap_or_default();
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    whatsapp::verify_signature(&secret, &body, signature)
        .map_err(|e| error_response(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string()))?;
    let events = whatsapp::parse(&body)
        .map_err(|e| error_response(StatusCode::BAD_REQUEST, "bad_request", e.to_string()))?;
    for event in events {
        let handled = match event {
            Event::Message(m) => match app.agent.receive(WS, &inbound(m), true).await {
                // A message we cannot take will not improve with Meta's retries: log it.
                Err(rapport_agent::Error::Invalid(reason)) => {
                    tracing::warn!(%reason, "WhatsApp message refused");
                    Ok(())
                }
                other => other.map(|_| ()).map_err(ApiError::from),
            },
            Event::Status(s) => {
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
            Event::Ignored(what) => {
                tracing::debug!(%what, "WhatsApp webhook event ignored");
                Ok(())
            }
        };
        // Meta retries what was not acknowledged; stored messages are not stored twice.
        handled.map_err(axum::response::IntoResponse::into_response)?;
    }
    Ok(StatusCode::OK)
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
