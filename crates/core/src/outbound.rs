//! The contract between the outbox and a channel: what one delivery carries, and how a channel
//! says it went. Each channel implements [`ChannelSender`]; the store builds [`Delivery`]s from
//! outbox rows and the outbox sender (in the channels crate) decides when to send, retries and
//! records the outcome, so a channel only has to speak its provider's wire format and classify
//! the provider's errors.

use std::time::Duration;

use crate::domain::Channel;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// One outbound message, with everything a channel needs to address and thread it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub workspace_id: i64,
    /// Our message id. `rapport-msg-<id>` is the idempotency key a channel hands its provider
    /// where the provider takes one: the outbox delivers at least once.
    pub message_id: i64,
    pub conversation_id: i64,
    pub contact_id: i64,
    pub channel: Channel,
    /// `bot`, `agent` or `system`.
    pub author: String,
    /// `text`, or a channel-neutral kind such as `csat_prompt` that a channel may render richly.
    pub kind: String,
    pub text: String,
    /// The message's metadata (trace, template choice, CSAT options…).
    pub metadata: Value,
    /// The customer's id on this channel (WhatsApp `wa_id`, Instagram-scoped id, e-mail
    /// address, the integration's own id, the web visitor). `None` when the customer never
    /// wrote on this channel: such a message cannot be delivered.
    pub recipient: Option<String>,
    /// The provider's id of the customer's latest message in this conversation on this channel
    /// (WhatsApp `context.message_id`, e-mail `In-Reply-To`).
    pub reply_to: Option<String>,
    /// Provider ids of the conversation's earlier messages on this channel, oldest first
    /// (e-mail `References`).
    pub thread: Vec<String>,
    /// The conversation's subject, when the channel has one (e-mail).
    pub subject: Option<String>,
    /// When this customer last wrote on this channel: WhatsApp and Instagram only allow
    /// free-form replies within 24 hours of it.
    pub last_customer_message_at: Option<DateTime<Utc>>,
    /// When the message was written: retries stop once it is older than the outbox's
    /// give-up age, however many tries that took.
    pub created_at: DateTime<Utc>,
    /// 1 on the first try.
    pub attempt: i32,
}

impl Delivery {
    /// The key a provider can de-duplicate retries of this message with.
    pub fn idempotency_key(&self) -> String {
        format!("rapport-msg-{}", self.message_id)
    }

    /// Whether the customer wrote on this channel within `window` before `now`.
    pub fn within_window(&self, window: chrono::Duration, now: DateTime<Utc>) -> bool {
        self.last_customer_message_at
            .is_some_and(|at| now - at <= window)
    }
}

/// How a delivery went, when it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The provider's id of the sent message (`wamid`, Instagram `mid`, e-mail `Message-ID`):
    /// delivery statuses are matched on it. When a long text went out in parts, the first one.
    pub provider_message_id: Option<String>,
    /// `sent` (the provider took it) or `delivered` (the client read it from us, as the web
    /// widget does).
    pub status: &'static str,
    /// What was sent, when it is not the plain text (`template:<name>`), for agents to see.
    pub note: Option<String>,
}

impl Sent {
    /// The provider took the message (`Sent::sent(id)` reads as what happened).
    #[allow(clippy::self_named_constructors)]
    pub fn sent(provider_message_id: Option<String>) -> Self {
        Sent {
            provider_message_id,
            status: "sent",
            note: None,
        }
    }
}

/// Why a delivery did not go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth another try later: rate limits, 5xx, time-outs, refused connections.
    #[error("{reason}")]
    Transient {
        reason: String,
        /// The provider's `Retry-After`, when it gave one.
        retry_after: Option<Duration>,
    },
    /// Will not go as it is: the provider refused it (invalid recipient, outside the messaging
    /// window with no template, bad credentials), or the channel is not configured. Agents see
    /// the reason on the message.
    #[error("{reason}")]
    Permanent { reason: String },
}

impl SendError {
    pub fn transient(reason: impl Into<String>) -> Self {
        SendError::Transient {
            reason: reason.into(),
            retry_after: None,
        }
    }
    pub fn permanent(reason: impl Into<String>) -> Self {
        SendError::Permanent {
            reason: reason.into(),
        }
    }
    pub fn reason(&self) -> &str {
        match self {
            SendError::Transient { reason, .. } | SendError::Permanent { reason } => reason,
        }
    }
}

/// Delivers messages on one channel.
#[async_trait]
pub trait ChannelSender: Send + Sync {
    fn channel(&self) -> Channel;
    async fn send(&self, delivery: &Delivery) -> Result<Sent, SendError>;
}
