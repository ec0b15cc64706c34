//! The REST API channel, for custom integrations (a Telegram bridge, a mobile app): they post
//! customer messages to `/api/v1/channels/api/messages`, and we deliver replies to their
//! callback URL as signed JSON.
//!
//! The signature is `X-Rapport-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
//! keyed with the callback secret: the time is signed with the body, so an integration can
//! refuse replays. Every delivery carries `Idempotency-Key: rapport-msg-<id>`, the same on every
//! retry, because the outbox delivers at least once.

use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use rapport_core::domain::Channel;
use serde_json::json;
use sha2::Sha256;

use crate::outbound::{ChannelSender, Delivery, SendError, Sent, request_error};
use crate::{Error, Result};

/// An integration's `Idempotency-Key` names a message among *its sender's* messages: two
/// customers may send the same key. The stored provider id is the sender's id and the key,
/// joined by this separator (a character no header value can hold).
const KEY_SEPARATOR: char = '\u{1F}';

/// The provider id an inbound API message is stored under.
pub fn scoped_message_id(sender: &str, idempotency_key: &str) -> String {
    format!("{sender}{KEY_SEPARATOR}{idempotency_key}")
}

/// The integration's own key inside a stored provider id.
fn idempotency_key_of(provider_message_id: &str) -> &str {
    provider_message_id
        .rsplit_once(KEY_SEPARATOR)
        .map_or(provider_message_id, |(_, key)| key)
}

/// Header of the callback signature.
pub const SIGNATURE_HEADER: &str = "x-rapport-signature";

/// `t=<unix>,v1=<hex>` for `body` sent at `timestamp`.
pub fn sign_callback(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac(secret, timestamp, body))
    )
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// What an integration does with our callback: checks the signature in constant time and that
/// it was made within `tolerance` of `now` (unix seconds).
pub fn verify_callback(
    secret: &str,
    header: Option<&str>,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<()> {
    let header = header.ok_or(Error::Signature("missing X-Rapport-Signature"))?;
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signature = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(Error::Signature("X-Rapport-Signature is not t=…,v1=…"));
    };
    if (now - timestamp).unsigned_abs() > tolerance.as_secs() {
        return Err(Error::Signature("the signature is too old"));
    }
    let mut check =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    check.update(timestamp.to_string().as_bytes());
    check.update(b".");
    check.update(body);
    check
        .verify_slice(&signature)
        .map_err(|_| Error::Signature("signature does not match"))
}

/// Delivers the API channel's replies to the integration's callback URL.
pub struct CallbackSender {
    http: reqwest::Client,
    url: String,
    secret: String,
}

impl CallbackSender {
    pub fn new(url: &str, secret: &str, timeout: Duration) -> std::result::Result<Self, SendError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("Rapport/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SendError::permanent(format!("HTTP client: {e}")))?;
        Ok(CallbackSender {
            http,
            url: url.to_owned(),
            secret: secret.to_owned(),
        })
    }
}

#[async_trait]
impl ChannelSender for CallbackSender {
    fn channel(&self) -> Channel {
        Channel::Api
    }

    async fn send(&self, d: &Delivery) -> std::result::Result<Sent, SendError> {
        let key = d.idempotency_key();
        let body = serde_json::to_vec(&json!({
            "id": key,
            "message_id": d.message_id,
            "conversation_id": d.conversation_id,
            "contact_id": d.contact_id,
            "recipient": d.recipient,
            "reply_to": d.reply_to.as_deref().map(idempotency_key_of),
            "author": d.author,
            "kind": d.kind,
            "text": d.text,
        }))
        .map_err(|e| SendError::permanent(format!("callback body: {e}")))?;
        let now = chrono::Utc::now().timestamp();
        let response = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("idempotency-key", &key)
            .header(SIGNATURE_HEADER, sign_callback(&self.secret, now, &body))
            .body(body)
            .send()
            .await
            .map_err(|e| request_error("callback", &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(Sent::sent(Some(key)));
        }
        let retry_after = crate::outbound::retry_after(&response);
        let text: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        let reason = format!("callback answered {status}: {}", text.trim())
            .trim_end_matches([' ', ':'])
            .to_owned();
        if status.as_u16() == 408 || status.as_u16() == 429 || status.is_server_error() {
            Err(SendError::Transient {
                reason,
                retry_after,
            })
        } else {
            Err(SendError::permanent(reason))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_callback_verifies_and_a_replayed_or_altered_one_does_not() {
        let body = br#"{"text":"hi"}"#;
        let header = sign_callback("s3cret", 1_700_000_000, body);
        let tolerance = Duration::from_secs(300);
        assert!(verify_callback("s3cret", Some(&header), body, 1_700_000_010, tolerance).is_ok());
        assert!(verify_callback("s3cret", Some(&header), body, 1_700_001_000, tolerance).is_err());
        assert!(verify_callback("other", Some(&header), body, 1_700_000_010, tolerance).is_err());
        assert!(verify_callback("s3cret", Some(&header), b"{}", 1_700_000_010, tolerance).is_err());
        assert!(verify_callback("s3cret", None, body, 1_700_000_010, tolerance).is_err());
    }
}
