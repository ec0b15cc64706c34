//! WhatsApp Cloud API: the webhook's `X-Hub-Signature-256` check and the parsing of
//! `entry[].changes[].value` into customer messages and delivery statuses (here), sending
//! replies ([`WhatsappSender`]) and fetching media when an agent opens it ([`MediaFetcher`]).
//!
//! Every message type becomes a message with a readable text (a caption, a button's title, a
//! location's address…) and the raw part kept as an attachment, so an agent sees what came in and
//! nothing is lost; types we do not know are stored as such, never refused.

mod media;
mod send;

pub use crate::graph::{GRAPH_BASE_URL, GRAPH_VERSION};
pub use media::{Media, MediaFetcher, media_id};
pub use send::{MAX_TEXT_CHARS, SenderSettings, Template, WhatsappSender, service_window};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{Error, Result};

/// Checks `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the raw body keyed with the
/// app secret, in constant time.
pub fn verify_signature(app_secret: &str, body: &[u8], header: Option<&str>) -> Result<()> {
    let header = header.ok_or(Error::Signature("missing X-Hub-Signature-256"))?;
    let hex_sig = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(Error::Signature("X-Hub-Signature-256 is not sha256=<hex>"))?;
    let expected = hex::decode(hex_sig).map_err(|_| Error::Signature("signature is not hex"))?;
    if app_secret.is_empty() {
        return Err(Error::Signature("no app secret is configured"));
    }
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| Error::Signature("signature does not match"))
}

/// The signature header Meta would send for `body` (tests and tools).
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A message from a customer.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingMessage {
    /// `wamid`: a repeat is the same message (Meta retries).
    pub id: String,
    /// The sender's WhatsApp id: their phone number in international form, without `+`.
    pub wa_id: String,
    pub name: Option<String>,
    /// `text`, `image`, `interactive`, `location`…, or what Meta called an unknown type.
    pub kind: String,
    /// What an agent (and the bot) reads.
    pub text: String,
    /// The raw typed part (media id, coordinates, button payload…), and `context` when set.
    pub attachments: Value,
    /// `wamid` of the message this one replies to.
    pub reply_to: Option<String>,
    /// Unix seconds, as Meta sent it.
    pub timestamp: Option<i64>,
}

/// A delivery update of a message we sent.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    pub id: String,
    /// `sent`, `delivered`, `read`, `failed` (and `played`, `deleted`… passed through).
    pub status: String,
    /// Provider errors, "code: title — details", for agents.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Message(IncomingMessage),
    Status(StatusUpdate),
    /// Something the webhook may carry that is not a customer message or a status (template
    /// reviews, echoes of our own sends): acknowledged and logged.
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
        for change in entry
            .get("changes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let field = change.get("field").and_then(Value::as_str).unwrap_or("");
            let value = change.get("value").unwrap_or(&Value::Null);
            if field != "messages" {
                events.push(Event::Ignored(format!("field {field}")));
                continue;
            }
            parse_value(value, &mut events);
        }
    }
    Ok(events)
}

fn parse_value(value: &Value, events: &mut Vec<Event>) {
    let contacts = value.get("contacts").and_then(Value::as_array);
    let name_of = |wa_id: &str| {
        contacts.into_iter().flatten().find_map(|c| {
            (c.get("wa_id").and_then(Value::as_str) == Some(wa_id))
                .then(|| str_at(c, "/profile/name").map(str::to_owned))
                .flatten()
        })
    };
    for m in value
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(id), Some(from)) = (
            m.get("id").and_then(Value::as_str),
            m.get("from").and_then(Value::as_str),
        ) else {
            events.push(Event::Ignored("a message without id or sender".into()));
            continue;
        };
        let kind = m.get("type").and_then(Value::as_str).unwrap_or("unknown");
        let part = m.get(kind).cloned().unwrap_or(Value::Null);
        let mut attachments = json!({ "type": kind });
        if !part.is_null() {
            attachments[kind] = part.clone();
        }
        if let Some(context) = m.get("context") {
            attachments["context"] = context.clone();
        }
        if let Some(errors) = m.get("errors") {
            attachments["errors"] = errors.clone();
        }
        events.push(Event::Message(IncomingMessage {
            id: id.to_owned(),
            wa_id: from.to_owned(),
            name: name_of(from),
            kind: kind.to_owned(),
            text: text_of(kind, &part),
            attachments,
            reply_to: str_at(m, "/context/id").map(str::to_owned),
            timestamp: m
                .get("timestamp")
                .and_then(Value::as_str)
                .and_then(|t| t.parse().ok()),
        }));
    }
    for s in value
        .get("statuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(id), Some(status)) = (
            s.get("id").and_then(Value::as_str),
            s.get("status").and_then(Value::as_str),
        ) else {
            events.push(Event::Ignored("a status without id".into()));
            continue;
        };
        let errors = s
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|e| {
                let code = e.get("code").map(Value::to_string).unwrap_or_default();
                let title = e.get("title").and_then(Value::as_str).unwrap_or("error");
                match str_at(e, "/error_data/details") {
                    Some(details) => format!("{code}: {title} — {details}"),
                    None => format!("{code}: {title}"),
                }
            })
            .collect();
        events.push(Event::Status(StatusUpdate {
            id: id.to_owned(),
            status: status.to_owned(),
            errors,
        }));
    }
    if value.get("message_echoes").is_some() {
        events.push(Event::Ignored(
            "echoes of messages the business sent".into(),
        ));
    }
}

/// What a person reads of a message part; never empty, so an agent always sees something.
fn text_of(kind: &str, part: &Value) -> String {
    let text = readable(kind, part);
    if text.trim().is_empty() {
        format!("[{kind}]")
    } else {
        text
    }
}

fn readable(kind: &str, part: &Value) -> String {
    let s = |p: &str| str_at(part, p).map(str::to_owned);
    match kind {
        "text" => s("/body").unwrap_or_default(),
        "image" | "video" | "document" | "audio" | "sticker" => {
            let label = s("/caption").or_else(|| s("/filename")).unwrap_or_default();
            if label.is_empty() {
                format!("[{kind}]")
            } else {
                format!("[{kind}] {label}")
            }
        }
        "interactive" => s("/button_reply/title")
            .or_else(|| {
                s("/list_reply/title").map(|t| match s("/list_reply/description") {
                    Some(d) => format!("{t} — {d}"),
                    None => t,
                })
            })
            .or_else(|| s("/nfm_reply/body"))
            .unwrap_or_else(|| "[interactive reply]".into()),
        "button" => s("/text")
            .or_else(|| s("/payload"))
            .unwrap_or_else(|| "[button]".into()),
        "location" => {
            let place = [s("/name"), s("/address")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            let at = match (part.get("latitude"), part.get("longitude")) {
                (Some(lat), Some(lon)) => format!("({lat}, {lon})"),
                _ => String::new(),
            };
            format!("[location] {place} {at}").trim().to_owned()
        }
        "contacts" => {
            let names: Vec<String> = part
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| str_at(c, "/name/formatted_name").map(str::to_owned))
                .collect();
            format!("[contacts] {}", names.join(", ")).trim().to_owned()
        }
        "reaction" => match s("/emoji").filter(|e| !e.is_empty()) {
            Some(emoji) => format!("[reaction] {emoji}"),
            None => "[reaction removed]".into(),
        },
        "order" => {
            let items = part
                .get("product_items")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let note = s("/text").unwrap_or_default();
            format!("[order] {items} item(s) {note}").trim().to_owned()
        }
        "system" => s("/body").unwrap_or_else(|| "[system]".into()),
        other => format!("[{other}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_of_the_raw_body_verifies_and_a_forged_one_does_not() {
        let body = br#"{"entry":[]}"#;
        let header = sign("secret", body);
        assert!(verify_signature("secret", body, Some(&header)).is_ok());
        assert!(verify_signature("other", body, Some(&header)).is_err());
        assert!(verify_signature("secret", b"{\"entry\": []}", Some(&header)).is_err());
        assert!(verify_signature("secret", body, None).is_err());
        assert!(verify_signature("secret", body, Some("sha1=abc")).is_err());
    }

    #[test]
    fn a_text_message_names_its_sender() {
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
            "contacts":[{"profile":{"name":"Ana"},"wa_id":"14155550142"}],
            "messages":[{"from":"14155550142","id":"wamid.1","timestamp":"1697043223","type":"text","text":{"body":"Hi"}}]}}]}]}"#;
        let events = parse(body).expect("parses");
        let Event::Message(m) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(m.text, "Hi");
        assert_eq!(m.name.as_deref(), Some("Ana"));
        assert_eq!(m.timestamp, Some(1_697_043_223));
    }

    #[test]
    fn garbage_is_a_clear_error() {
        assert!(parse(b"not json").is_err());
        assert!(parse(b"{}").is_err());
    }
}
