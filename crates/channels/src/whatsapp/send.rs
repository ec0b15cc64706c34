//! Sending on WhatsApp Cloud API: `POST {graph}/{version}/{phone_number_id}/messages`.
//!
//! Free-form messages are only allowed within 24 hours of the customer's last message. Inside
//! that window a reply is sent as text (quoting the message it answers); outside it, the
//! configured approved template is sent instead, or the message is refused with a reason agents
//! can read. Meta has the last word: a 131047 answer means the window closed, and the template
//! is tried then too.

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use rapport_core::domain::{Channel, RATING_LABELS};
use serde_json::{Value, json};

use crate::graph::{GraphClient, GraphFailure};
use crate::outbound::{ChannelSender, Delivery, SendError, Sent, split_text};

/// WhatsApp's limit on a text message body.
pub const MAX_TEXT_CHARS: usize = 4096;
/// Longest body of an interactive message.
const MAX_INTERACTIVE_BODY: usize = 1024;

/// Longest text put in a template's `{{1}}` parameter.
const MAX_TEMPLATE_PARAMETER_CHARS: usize = 1000;

/// The approved message template sent outside the customer-service window.
#[derive(Debug, Clone)]
pub struct Template {
    pub name: String,
    /// Language code as approved, e.g. `en_US`.
    pub language: String,
    /// Whether the body has one `{{1}}` parameter that takes (the start of) the message.
    pub takes_text: bool,
}

#[derive(Debug, Clone)]
pub struct SenderSettings {
    pub graph_base_url: String,
    pub graph_version: String,
    pub phone_number_id: String,
    pub access_token: String,
    pub template: Option<Template>,
    pub timeout: Duration,
}

/// Delivers outbound messages of the WhatsApp channel.
pub struct WhatsappSender {
    graph: GraphClient,
    phone_number_id: String,
    template: Option<Template>,
}

/// How long after the customer's last message free-form messages are allowed.
pub fn service_window() -> chrono::Duration {
    chrono::Duration::hours(24)
}

impl WhatsappSender {
    pub fn new(settings: SenderSettings) -> Result<Self, SendError> {
        Ok(WhatsappSender {
            graph: GraphClient::new(
                &settings.graph_base_url,
                &settings.graph_version,
                &settings.access_token,
                settings.timeout,
            )?,
            phone_number_id: settings.phone_number_id,
            template: settings.template,
        })
    }

    fn path(&self) -> String {
        format!("{}/messages", self.phone_number_id)
    }

    async fn post(&self, body: Value) -> Result<String, GraphFailure> {
        let answer = self.graph.post(&self.path(), &body).await?;
        Ok(answer["messages"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// A rating request as an interactive list: the customer picks 1–5 stars in one tap, and
    /// the pick comes back as a `list_reply` whose title and description read as the score.
    async fn send_rating_list(&self, to: &str, d: &Delivery) -> Result<Sent, GraphFailure> {
        let rows: Vec<Value> = (1..=5)
            .rev()
            .map(|n: usize| {
                json!({
                    "id": format!("csat:{n}"),
                    "title": "⭐".repeat(n),
                    "description": RATING_LABELS[n - 1],
                })
            })
            .collect();
        let body: String = d.text.chars().take(MAX_INTERACTIVE_BODY).collect();
        let id = self
            .post(json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": to,
                "type": "interactive",
                "interactive": {
                    "type": "list",
                    "body": { "text": body },
                    "action": {
                        "button": "Rate us",
                        "sections": [{ "title": "Your rating", "rows": rows }],
                    },
                },
                "biz_opaque_callback_data": d.idempotency_key(),
            }))
            .await?;
        Ok(Sent::sent(Some(id).filter(|id| !id.is_empty())))
    }

    async fn send_text(&self, to: &str, d: &Delivery) -> Result<Sent, GraphFailure> {
        let mut first = None;
        for (i, part) in split_text(&d.text, MAX_TEXT_CHARS).into_iter().enumerate() {
            let mut body = json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": to,
                "type": "text",
                "text": { "body": part, "preview_url": false },
                // Echoed in status webhooks: which of our messages a status is about.
                "biz_opaque_callback_data": d.idempotency_key(),
            });
            if i == 0
                && let Some(reply_to) = &d.reply_to
            {
                body["context"] = json!({ "message_id": reply_to });
            }
            let id = self.post(body).await?;
            first.get_or_insert(id);
        }
        Ok(Sent::sent(first.filter(|id| !id.is_empty())))
    }

    async fn send_template(&self, to: &str, d: &Delivery) -> Result<Sent, SendError> {
        let Some(t) = &self.template else {
            return Err(SendError::permanent(
                "undeliverable: the customer has not written on WhatsApp in the last 24 hours, \
                 and no message template is configured (RAPPORT_WHATSAPP_TEMPLATE)",
            ));
        };
        let mut template = json!({ "name": t.name, "language": { "code": t.language } });
        if t.takes_text {
            let text: String = d.text.chars().take(MAX_TEMPLATE_PARAMETER_CHARS).collect();
            // Template parameters may not hold newlines or long runs of spaces.
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            template["components"] =
                json!([{ "type": "body", "parameters": [{ "type": "text", "text": text }] }]);
        }
        let body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "template",
            "template": template,
            "biz_opaque_callback_data": d.idempotency_key(),
        });
        let id = self
            .post(body)
            .await
            .map_err(GraphFailure::into_send_error)?;
        Ok(Sent {
            provider_message_id: Some(id).filter(|id| !id.is_empty()),
            status: "sent",
            note: Some(format!(
                "sent as template {} (outside the 24-hour window)",
                t.name
            )),
        })
    }
}

#[async_trait]
impl ChannelSender for WhatsappSender {
    fn channel(&self) -> Channel {
        Channel::Whatsapp
    }

    async fn send(&self, d: &Delivery) -> Result<Sent, SendError> {
        let to = d
            .recipient
            .as_deref()
            .ok_or_else(|| SendError::permanent("no WhatsApp number to send to"))?;
        if !d.within_window(service_window(), Utc::now()) {
            return self.send_template(to, d).await;
        }
        let sent = if d.kind == "csat_prompt" {
            self.send_rating_list(to, d).await
        } else {
            self.send_text(to, d).await
        };
        match sent {
            Ok(sent) => Ok(sent),
            // Our clock and Meta's disagree about the window: Meta decides.
            Err(GraphFailure::Api(e)) if e.is_outside_window() => self.send_template(to, d).await,
            Err(e) => Err(e.into_send_error()),
        }
    }
}
