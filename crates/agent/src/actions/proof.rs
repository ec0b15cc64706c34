//! Who the customer is *proven* to be before an action reads or changes their account: the
//! channel's proof (WhatsApp's number, an accepted e-mail sender, a signed web-chat identity,
//! an API caller) or a one-time code they typed back. Only proven values are ever passed as
//! `identity.*` — a phone number or an address written in a message proves nothing.

use chrono::{DateTime, Duration, Utc};
use rapport_core::domain::Channel;
use rapport_core::ids::{ContactId, WorkspaceId};
use rapport_store::Store;
use rapport_store::actions::Verification;
use rapport_store::contacts::KeyKind;
use rapport_store::messages::TimelineMessage;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Result;

/// How one-time codes work: long enough to guess at 1 in a million, short-lived, few tries.
#[derive(Debug, Clone, Copy)]
pub struct CodePolicy {
    pub valid_for: Duration,
    /// Wrong codes before a code is spent.
    pub attempts: i32,
    /// Codes a customer may be sent in `window`.
    pub max_codes: usize,
    pub window: Duration,
    /// How long a right code proves the customer (`agent.verified_hours`).
    pub verified_for: Duration,
}

impl CodePolicy {
    pub fn with_verified_for(verified_for: Duration) -> CodePolicy {
        CodePolicy {
            verified_for,
            ..CodePolicy::default()
        }
    }
}

impl Default for CodePolicy {
    fn default() -> Self {
        CodePolicy {
            valid_for: Duration::minutes(10),
            attempts: 5,
            max_codes: 3,
            window: Duration::minutes(15),
            verified_for: Duration::hours(24),
        }
    }
}

/// What the customer is proven to be, and by what.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProvenIdentity {
    /// `channel`, `api` or `code`.
    pub by: &'static str,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// The business's own id from a signed web identity or the API caller.
    pub user_id: Option<String>,
}

impl ProvenIdentity {
    /// `identity` in templates.
    pub fn to_value(&self) -> Value {
        json!({ "phone": self.phone, "email": self.email, "user_id": self.user_id, "by": self.by })
    }

    /// Whether `value` (an e-mail address, a phone number or a user id) is this customer's.
    pub fn owns(&self, value: &str) -> bool {
        let v = value.trim().to_lowercase();
        let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
        self.email.as_deref().is_some_and(|e| e.to_lowercase() == v)
            || self
                .phone
                .as_deref()
                .is_some_and(|p| !digits(p).is_empty() && digits(p) == digits(&v))
            || self
                .user_id
                .as_deref()
                .is_some_and(|u| u.to_lowercase() == v)
    }
}

/// Where a code can be sent: an address or number on file for the customer, never one typed
/// in the conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeAddress {
    Email(String),
    Phone(String),
}

impl CodeAddress {
    pub fn as_str(&self) -> &str {
        match self {
            CodeAddress::Email(s) | CodeAddress::Phone(s) => s,
        }
    }

    /// The address as the customer is shown it: `j•••@example.com`, `•••• 78`.
    pub fn masked(&self) -> String {
        match self {
            CodeAddress::Email(e) => match e.split_once('@') {
                Some((user, domain)) => {
                    let first: String = user.chars().take(1).collect();
                    format!("{first}•••@{domain}")
                }
                None => "•••".into(),
            },
            CodeAddress::Phone(p) => {
                let digits: Vec<char> = p.chars().filter(char::is_ascii_digit).collect();
                let tail: String = digits[digits.len().saturating_sub(2)..].iter().collect();
                format!("•••• {tail}")
            }
        }
    }
}

/// What the store knows that proves the customer, read once per action turn.
pub struct Proof<'a> {
    pub store: &'a Store,
    pub ws: WorkspaceId,
    pub root: ContactId,
    pub cluster: Vec<ContactId>,
    pub policy: CodePolicy,
}

impl Proof<'_> {
    /// The customer as the conversation proves them, if it does.
    pub async fn identity(
        &self,
        message: &TimelineMessage,
        channel: Channel,
    ) -> Result<Option<ProvenIdentity>> {
        let contact = ContactId(message.contact_id);
        let identities = self.store.identities(self.ws, &[contact]).await?;
        let on_channel = identities.iter().find(|i| i.channel == channel.as_str());
        let by = match (channel, on_channel) {
            (Channel::Api, Some(_)) => Some("api"),
            (_, Some(i)) if i.verified => Some("channel"),
            // Only a signature makes a web visitor `user:` (identity.rs).
            (Channel::Web, Some(i)) if i.external_id.starts_with("user:") => Some("channel"),
            _ => None,
        };
        let mut identity = ProvenIdentity {
            by: by.unwrap_or("code"),
            user_id: on_channel.and_then(|i| match channel {
                Channel::Api => Some(i.external_id.clone()),
                Channel::Web => i.external_id.strip_prefix("user:").map(str::to_owned),
                _ => None,
            }),
            ..ProvenIdentity::default()
        };
        // Merge keys are only ever recorded from proof, and a cluster only forms on them.
        let keys = self.store.keys(self.ws, &self.cluster).await?;
        let key = |kind: &str| {
            keys.iter()
                .filter(|k| k.kind == kind)
                .max_by_key(|k| k.contact_id == contact.0)
                .map(|k| k.value.clone())
        };
        if by.is_some() {
            identity.phone = key("phone");
            identity.email = key("email");
            return Ok(Some(identity));
        }
        let now = Utc::now();
        let verified = self
            .verifications(now - self.policy.verified_for)
            .await?
            .into_iter()
            .find(|v| v.verified_until.is_some_and(|u| u > now));
        Ok(verified.map(|v| {
            if v.sent_to.contains('@') {
                identity.email = Some(v.sent_to);
                identity.phone = key("phone");
            } else {
                identity.phone = Some(v.sent_to);
                identity.email = key("email");
            }
            identity.user_id = None;
            identity
        }))
    }

    /// Where a code may go: a proven address of the customer first, then the one on their
    /// profile; else an address they named in the conversation *that belongs to a customer on
    /// file* (a visitor saying "I'm jane@example.com"): the code goes to that customer, never to
    /// an address only the message knows.
    pub async fn code_address(&self, named: &[CodeAddress]) -> Result<Option<CodeAddress>> {
        let keys = self.store.keys(self.ws, &self.cluster).await?;
        let contact = self.store.contact(self.ws, self.root).await?;
        let key = |kind: &str| {
            keys.iter()
                .find(|k| k.kind == kind)
                .map(|k| k.value.clone())
        };
        let email = key("email").or(contact.email.filter(|e| e.contains('@')));
        if let Some(e) = email {
            return Ok(Some(CodeAddress::Email(e.trim().to_lowercase())));
        }
        let phone = key("phone").or(contact
            .phone
            .filter(|p| p.chars().any(|c| c.is_ascii_digit())));
        if let Some(p) = phone {
            return Ok(Some(CodeAddress::Phone(p)));
        }
        for address in named {
            let kind = match address {
                CodeAddress::Email(_) => KeyKind::Email,
                CodeAddress::Phone(_) => KeyKind::Phone,
            };
            if self
                .store
                .contact_by_key(self.ws, kind, address.as_str())
                .await?
                .is_some()
            {
                return Ok(Some(address.clone()));
            }
        }
        Ok(None)
    }

    pub async fn verifications(&self, since: DateTime<Utc>) -> Result<Vec<Verification>> {
        Ok(self.store.verifications(self.ws, self.root, since).await?)
    }
}

/// A fresh six-digit code.
pub fn new_code() -> String {
    let bytes = uuid::Uuid::new_v4();
    let b = bytes.as_bytes();
    let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) % 1_000_000;
    format!("{n:06}")
}

/// What the store keeps of a code: its hash, salted with who it was for.
pub fn code_hash(ws: WorkspaceId, contact: ContactId, code: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!("{}:{}:{}", ws.0, contact.0, code.trim()).as_bytes());
    hex::encode(h.finalize())
}

/// The code a customer typed: six digits, alone or in a short sentence ("it's 123 456").
pub fn typed_code(text: &str) -> Option<String> {
    // A code comes alone or in a few words, not inside a sentence about an order number.
    if text.chars().count() > 60 || text.chars().filter(|c| c.is_alphabetic()).count() > 12 {
        return None;
    }
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    (digits.len() == 6).then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_hashed_per_customer() {
        let code = new_code();
        assert_eq!(code.len(), 6);
        assert!(code.chars().all(|c| c.is_ascii_digit()));
        let a = code_hash(WorkspaceId(1), ContactId(7), "123456");
        assert_eq!(a, code_hash(WorkspaceId(1), ContactId(7), " 123456 "));
        assert_ne!(a, code_hash(WorkspaceId(1), ContactId(8), "123456"));
    }

    #[test]
    fn a_typed_code_is_found_in_a_short_reply_only() {
        assert_eq!(typed_code("123456").as_deref(), Some("123456"));
        assert_eq!(typed_code("it's 123 456").as_deref(), Some("123456"));
        assert_eq!(typed_code("12345"), None);
        assert_eq!(typed_code("where is my order 482155?"), None);
        assert_eq!(typed_code("my code is 123456").as_deref(), Some("123456"));
        assert_eq!(typed_code(&format!("{} 123456", "x".repeat(80))), None);
    }

    #[test]
    fn addresses_are_masked_and_ownership_is_exact() {
        assert_eq!(
            CodeAddress::Email("jane@example.com".into()).masked(),
            "j•••@example.com"
        );
        assert_eq!(
            CodeAddress::Phone("+34612345678".into()).masked(),
            "•••• 78"
        );
        let me = ProvenIdentity {
            by: "channel",
            phone: Some("+34612345678".into()),
            email: Some("jane@example.com".into()),
            user_id: None,
        };
        assert!(me.owns("Jane@Example.com"));
        assert!(me.owns("+34 612 345 678"));
        assert!(!me.owns("bob@example.com"));
        assert!(!me.owns("+34612345679"));
    }
}
