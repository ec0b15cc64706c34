//! Instagram Messaging: the webhook (`object: instagram`, `entry[].messaging[]`, signed like
//! WhatsApp's with the app secret) parsed into customer messages and read receipts, and replies
//! sent through the Send API.
//!
//! Instagram allows a business to answer within 24 hours of the customer's last message; a
//! person (not the bot) may answer up to 7 days later with the `HUMAN_AGENT` tag. Outside that,
//! a message is refused with a reason agents can read. Texts over Instagram's 1,000-character
//! limit go out in parts.

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use rapport_core::domain::Channel;
use serde_json::{Value, json};

use crate::graph::{GraphClient, GraphFailure};
use crate::outbound::{ChannelSender, Delivery, SendError, Sent, split_text};
use crate::{Error, Result};

/// Meta signs Instagram webhooks exactly as WhatsApp's: `X-Hub-Signature-256` over the raw body.
pub use crate::whatsapp::{sign, verify_signature};

/// Instagram's limit on a text message.
pub const MAX_TEXT_CHARS: usize = 1000;

/// A message from a customer (a text, attachments, a tapped button, a reaction).
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingMessage {
    /// The message id (`mid`), unique per message: a repeat is the same message. Reactions,
    /// which have no id of their own, get one made of the reacted message, the sender and time.
    pub id: String,
    /// The sender's Instagram-scoped id (IGSID).
    pub sender_id: String,
    /// `text`, `image`, `video`, `audio`, `file`, `share`, `story_mention`, `postback`,
    /// `reaction`, `unsupported`…
    pub kind: String,
    pub text: String,
    /// The raw message part, kept for agents.
    pub attachments: Value,
    /// `mid` of the message this one replies to.
    pub reply_to: Option<String>,
    /// Milliseconds since the epoch, as Meta sent it.
    pub timestamp_ms: Option<i64>,
    /// Whether the bot should answer it: a reaction is acknowledged by being stored.
    pub expects_reply: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Message(IncomingMessage),
    /// The customer read our messages up to `mid`.
    Read {
        mid: String,
    },
    /// Echoes of our own sends, deletions, and fields we do not handle: acknowledged.
    Ignored(String),
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// Every event of a webhook body, in order.
pub fn parse(body: &[u8]) -> Result<Vec<Event>> {
    let root: Value =
        serde_json::from_slice(body).map_err(|e| Error::Malformed(format!("not JSON: {e}")))?;
    let entries = root
        .get("entry")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Malformed("no entry[]".into()))?;
    let mut events = Vec::new();
    for entry in entries {
        let account = entry.get("id").and_then(Value::as_str).unwrap_or_default();
        let messaging = entry.get("messaging").and_then(Value::as_array);
        if messaging.is_none() && entry.get("changes").is_some() {
            events.push(Event::Ignored("changes (comments, mentions)".into()));
        }
        for m in messaging.into_iter().flatten() {
            events.push(parse_messaging(m, account));
        }
    }
    Ok(events)
}

fn parse_messaging(m: &Value, account: &str) -> Event {
    let Some(sender) = str_at(m, "/sender/id") else {
        return Event::Ignored("an event without a sender".into());
    };
    let timestamp_ms = m.get("timestamp").and_then(Value::as_i64);
    if let Some(message) = m.get("message") {
        // Our own sends come back as echoes (sent by the business account).
        if message.get("is_echo").and_then(Value::as_bool) == Some(true) || sender == account {
            return Event::Ignored("echo of a message the business sent".into());
        }
        if message.get("is_deleted").and_then(Value::as_bool) == Some(true) {
            return Event::Ignored("the customer deleted a message".into());
        }
        let Some(mid) = message.get("mid").and_then(Value::as_str) else {
            return Event::Ignored("a message without mid".into());
        };
        let (kind, text) = message_text(message);
        return Event::Message(IncomingMessage {
            id: mid.to_owned(),
            sender_id: sender.to_owned(),
            kind,
            text,
            attachments: message.clone(),
            reply_to: str_at(message, "/reply_to/mid").map(str::to_owned),
            timestamp_ms,
            expects_reply: true,
        });
    }
    if let Some(postback) = m.get("postback") {
        let title = str_at(postback, "/title")
            .or_else(|| str_at(postback, "/payload"))
            .unwrap_or("[button]");
        let id = str_at(postback, "/mid")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("postback:{sender}:{}", timestamp_ms.unwrap_or_default()));
        return Event::Message(IncomingMessage {
            id,
            sender_id: sender.to_owned(),
            kind: "postback".into(),
            text: title.to_owned(),
            attachments: postback.clone(),
            reply_to: None,
            timestamp_ms,
            expects_reply: true,
        });
    }
    if let Some(reaction) = m.get("reaction") {
        let mid = str_at(reaction, "/mid").unwrap_or_default();
        let text = match (str_at(reaction, "/action"), str_at(reaction, "/emoji")) {
            (Some("unreact"), _) => "[reaction removed]".to_owned(),
            (_, Some(emoji)) => format!("[reaction] {emoji}"),
            _ => format!(
                "[reaction] {}",
                str_at(reaction, "/reaction").unwrap_or_default()
            )
            .trim()
            .to_owned(),
        };
        return Event::Message(IncomingMessage {
            id: format!(
                "reaction:{mid}:{sender}:{}",
                timestamp_ms.unwrap_or_default()
            ),
            sender_id: sender.to_owned(),
            kind: "reaction".into(),
            text,
            attachments: reaction.clone(),
            reply_to: Some(mid.to_owned()).filter(|m| !m.is_empty()),
            timestamp_ms,
            expects_reply: false,
        });
    }
    if let Some(mid) = str_at(m, "/read/mid") {
        return Event::Read {
            mid: mid.to_owned(),
        };
    }
    Event::Ignored("a messaging event of another kind".into())
}

/// The kind and readable text of a message; never an empty text.
fn message_text(message: &Value) -> (String, String) {
    if message.get("is_unsupported").and_then(Value::as_bool) == Some(true) {
        return ("unsupported".into(), "[unsupported message]".into());
    }
    let text = str_at(message, "/text")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let attachments: Vec<&Value> = message
        .get("attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    if let Some(first) = attachments.first() {
        let kind = str_at(first, "/type").unwrap_or("attachment").to_owned();
        let labels: Vec<String> = attachments
            .iter()
            .map(|a| format!("[{}]", str_at(a, "/type").unwrap_or("attachment")))
            .collect();
        let readable = if text.is_empty() {
            labels.join(" ")
        } else {
            format!("{} {text}", labels.join(" "))
        };
        return (kind, readable);
    }
    if let Some(payload) = str_at(message, "/quick_reply/payload")
        && text.is_empty()
    {
        return ("quick_reply".into(), payload.to_owned());
    }
    if text.is_empty() {
        ("unknown".into(), "[message]".into())
    } else {
        ("text".into(), text)
    }
}

#[derive(Debug, Clone)]
pub struct SenderSettings {
    pub graph_base_url: String,
    pub graph_version: String,
    /// The Instagram professional account (or its Page) replies are sent from; `me` lets the
    /// token decide.
    pub account_id: String,
    pub access_token: String,
    pub timeout: Duration,
}

/// Delivers outbound messages of the Instagram channel through the Send API.
pub struct InstagramSender {
    graph: GraphClient,
    account_id: String,
}

/// Free-form replies are allowed this long after the customer's last message.
pub fn standard_window() -> chrono::Duration {
    chrono::Duration::hours(24)
}

/// A person (tag `HUMAN_AGENT`) may answer this long after it.
pub fn human_agent_window() -> chrono::Duration {
    chrono::Duration::days(7)
}

impl InstagramSender {
    pub fn new(settings: SenderSettings) -> std::result::Result<Self, SendError> {
        Ok(InstagramSender {
            graph: GraphClient::new(
                &settings.graph_base_url,
                &settings.graph_version,
                &settings.access_token,
                settings.timeout,
            )?,
            account_id: settings.account_id,
        })
    }
}

#[async_trait]
impl ChannelSender for InstagramSender {
    fn channel(&self) -> Channel {
        Channel::Instagram
    }

    async fn send(&self, d: &Delivery) -> std::result::Result<Sent, SendError> {
        let to = d
            .recipient
            .as_deref()
            .ok_or_else(|| SendError::permanent("no Instagram user to send to"))?;
        let now = Utc::now();
        let tag = if d.within_window(standard_window(), now) {
            None
        } else if d.author == "agent" && d.within_window(human_agent_window(), now) {
            Some("HUMAN_AGENT")
        } else {
            return Err(SendError::permanent(
                "undeliverable: the customer has not written on Instagram in the last 24 hours \
                 (7 days for a person's reply)",
            ));
        };
        let path = format!("{}/messages", self.account_id);
        let mut first = None;
        let parts = split_text(&d.text, MAX_TEXT_CHARS);
        let last = parts.len().saturating_sub(1);
        for (i, part) in parts.into_iter().enumerate() {
            let mut body = json!({
                "recipient": { "id": to },
                "message": { "text": part },
            });
            // A rating request offers the five ratings as quick replies: a tap comes back as
            // the stars, which read as the score.
            if d.kind == "csat_prompt" && i == last {
                body["message"]["quick_replies"] = json!(
                    (1..=5)
                        .rev()
                        .map(|n: usize| json!({
                            "content_type": "text",
                            "title": "⭐".repeat(n),
                            "payload": format!("csat:{n}"),
                        }))
                        .collect::<Vec<_>>()
                );
            }
            match tag {
                Some(tag) => {
                    body["messaging_type"] = json!("MESSAGE_TAG");
                    body["tag"] = json!(tag);
                }
                None => body["messaging_type"] = json!("RESPONSE"),
            }
            let answer = self.graph.post(&path, &body).await.map_err(|e| match e {
                GraphFailure::Api(e) if e.is_outside_window() => SendError::permanent(format!(
                    "undeliverable: outside Instagram's messaging window ({})",
                    e.describe()
                )),
                other => other.into_send_error(),
            })?;
            let id = answer["message_id"].as_str().unwrap_or_default().to_owned();
            first.get_or_insert(id);
        }
        Ok(Sent {
            provider_message_id: first.filter(|id| !id.is_empty()),
            status: "sent",
            note: tag.map(|t| format!("sent with the {t} tag")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(messaging: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "object": "instagram",
            "entry": [{ "id": "17841400000000001", "time": 1_700_000_000_500i64, "messaging": [messaging] }]
        }))
        .expect("json")
    }

    #[test]
    fn a_text_message_and_its_reply_to_are_read() {
        let events = parse(&body(json!({
            "sender": { "id": "5544332211" },
            "recipient": { "id": "17841400000000001" },
            "timestamp": 1_700_000_000_000i64,
            "message": { "mid": "aWdfZAG1", "text": "Is my order shipped?", "reply_to": { "mid": "aWdfZAG0" } }
        })))
        .expect("parses");
        let Event::Message(m) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(m.id, "aWdfZAG1");
        assert_eq!(m.sender_id, "5544332211");
        assert_eq!(m.kind, "text");
        assert_eq!(m.text, "Is my order shipped?");
        assert_eq!(m.reply_to.as_deref(), Some("aWdfZAG0"));
        assert!(m.expects_reply);
    }

    #[test]
    fn attachments_echoes_postbacks_reactions_and_reads_are_told_apart() {
        let image = parse(&body(json!({
            "sender": { "id": "1" }, "recipient": { "id": "17841400000000001" }, "timestamp": 1,
            "message": { "mid": "m2", "attachments": [{ "type": "image", "payload": { "url": "https://cdn.example/x.jpg" } }] }
        })))
        .expect("parses");
        assert!(matches!(&image[0], Event::Message(m) if m.kind == "image" && m.text == "[image]"));

        let echo = parse(&body(json!({
            "sender": { "id": "17841400000000001" }, "recipient": { "id": "1" }, "timestamp": 1,
            "message": { "mid": "m3", "text": "our reply", "is_echo": true }
        })))
        .expect("parses");
        assert!(matches!(&echo[0], Event::Ignored(_)));

        let postback = parse(&body(json!({
            "sender": { "id": "1" }, "recipient": { "id": "17841400000000001" }, "timestamp": 2,
            "postback": { "mid": "m4", "title": "Talk to a person", "payload": "HUMAN" }
        })))
        .expect("parses");
        assert!(
            matches!(&postback[0], Event::Message(m) if m.text == "Talk to a person" && m.id == "m4")
        );

        let reaction = parse(&body(json!({
            "sender": { "id": "1" }, "recipient": { "id": "17841400000000001" }, "timestamp": 3,
            "reaction": { "mid": "m3", "action": "react", "reaction": "love", "emoji": "❤️" }
        })))
        .expect("parses");
        assert!(
            matches!(&reaction[0], Event::Message(m) if m.kind == "reaction" && !m.expects_reply && m.text == "[reaction] ❤️")
        );

        let read = parse(&body(json!({
            "sender": { "id": "1" }, "recipient": { "id": "17841400000000001" }, "timestamp": 4,
            "read": { "mid": "m3" }
        })))
        .expect("parses");
        assert_eq!(read[0], Event::Read { mid: "m3".into() });
    }

    #[test]
    fn a_body_without_entries_is_malformed() {
        assert!(parse(b"{}").is_err());
        assert!(parse(b"not json").is_err());
    }
}
