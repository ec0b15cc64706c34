//! Sending e-mail over SMTP (`RAPPORT_SMTP_URL`): a plain-text reply with the headers that keep
//! the customer's mail client on one thread — `In-Reply-To` the customer's latest mail,
//! `References` the conversation's earlier ids, `Subject: Re: <subject>` — and a Message-ID
//! derived from our message id, so a re-send after a lost acknowledgement (the outbox delivers
//! at least once) is the same mail to the customer's client, and their answer to it finds its
//! way back to the conversation.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, SinglePart};
use lettre::transport::smtp::Error as SmtpError;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rapport_core::domain::Channel;

use super::parse::{normalize_message_id, normalize_subject};
use crate::outbound::{ChannelSender, Delivery, SendError, Sent};
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// `smtp://user:pass@host:587?tls=required`, `smtps://user:pass@host:465`, or for a relay
    /// on the same machine `smtp://localhost:25` (lettre's connection URL).
    pub smtp_url: String,
    /// The From of every reply: `Acme Support <support@acme.test>`.
    pub from: String,
    /// Connecting and each SMTP command.
    pub timeout: Duration,
    /// Subject of a reply in a conversation that has none (one that started on another channel).
    pub default_subject: String,
}

/// Delivers outbound messages of the e-mail channel.
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    default_subject: String,
}

/// Our Message-ID for one of our messages (without `<>`): stable across re-sends.
pub fn message_id_for(workspace_id: i64, message_id: i64, domain: &str) -> String {
    format!("rapport.{workspace_id}.{message_id}@{domain}")
}

/// `Re: <subject>`, once, whatever prefixes the customer's client added.
pub fn reply_subject(subject: &str) -> String {
    format!("Re: {}", normalize_subject(subject))
}

impl EmailSender {
    pub fn new(settings: EmailSettings) -> Result<Self> {
        let from: Mailbox = settings.from.parse().map_err(|e| {
            Error::Config(format!(
                "the e-mail From {:?} is not an address such as `Acme Support <support@acme.test>`: {e}",
                settings.from
            ))
        })?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.smtp_url)
            // lettre's error says what is wrong with the URL, never its password.
            .map_err(|e| Error::Config(format!("RAPPORT_SMTP_URL: {e}")))?
            .timeout(Some(settings.timeout))
            .build();
        Ok(EmailSender {
            transport,
            from,
            default_subject: settings.default_subject,
        })
    }

    /// The mail of a delivery and its Message-ID (without `<>`).
    pub fn compose(&self, d: &Delivery) -> Result<(Message, String), SendError> {
        let recipient = d
            .recipient
            .as_deref()
            .ok_or_else(|| SendError::permanent("no e-mail address to send to"))?;
        let to: Address = recipient.trim().parse().map_err(|e| {
            SendError::permanent(format!("{recipient:?} is not an e-mail address: {e}"))
        })?;
        let id = message_id_for(d.workspace_id, d.message_id, self.from.email.domain());
        let subject = d
            .subject
            .as_deref()
            .filter(|s| !normalize_subject(s).is_empty())
            .unwrap_or(&self.default_subject);
        // A notice to an agent starts a mail of its own; everything else answers the customer.
        let subject = if d.kind == "agent_notice" {
            normalize_subject(subject)
        } else {
            reply_subject(subject)
        };
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(subject)
            .message_id(Some(format!("<{id}>")));
        let parent = d.reply_to.as_deref().and_then(normalize_message_id);
        // References: the thread oldest first, ending with the mail this one answers.
        let mut references: Vec<String> = Vec::new();
        for r in d.thread.iter().filter_map(|r| normalize_message_id(r)) {
            if r != id && Some(&r) != parent.as_ref() && !references.contains(&r) {
                references.push(r);
            }
        }
        if let Some(parent) = &parent {
            builder = builder.in_reply_to(format!("<{parent}>"));
            references.push(parent.clone());
        }
        if !references.is_empty() {
            let list: Vec<String> = references.iter().map(|r| format!("<{r}>")).collect();
            builder = builder.references(list.join(" "));
        }
        if d.author != "agent" {
            // RFC 3834: the customer's out-of-office must not answer the bot's answer.
            builder = builder.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-replied".into(),
            ));
        }
        let message = builder
            .singlepart(SinglePart::plain(d.text.clone()))
            .map_err(|e| SendError::permanent(format!("the mail cannot be built: {e}")))?;
        Ok((message, id))
    }
}

/// SMTP's own classes decide: 4xx (greylisting, a full queue, rate limits) and anything on the
/// way (refused connections, time-outs, TLS hiccups) pass with time; 5xx (unknown user,
/// rejected content) will be refused again.
fn classify(e: &SmtpError) -> SendError {
    if e.is_permanent() {
        SendError::permanent(format!("the SMTP server refused the mail: {e}"))
    } else if e.is_transient() {
        SendError::transient(format!("the SMTP server deferred the mail: {e}"))
    } else if e.is_client() {
        SendError::permanent(format!("SMTP: {e}"))
    } else {
        SendError::transient(format!("SMTP: {e}"))
    }
}

#[async_trait]
impl ChannelSender for EmailSender {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    async fn send(&self, d: &Delivery) -> Result<Sent, SendError> {
        let (message, id) = self.compose(d)?;
        self.transport
            .send(message)
            .await
            .map_err(|e| classify(&e))?;
        Ok(Sent::sent(Some(id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sender() -> EmailSender {
        EmailSender::new(EmailSettings {
            smtp_url: "smtp://127.0.0.1:2525".into(),
            from: "Acme Support <support@acme.test>".into(),
            timeout: Duration::from_secs(5),
            default_subject: "Your request".into(),
        })
        .expect("valid settings")
    }

    fn delivery() -> Delivery {
        Delivery {
            workspace_id: 1,
            message_id: 42,
            conversation_id: 7,
            contact_id: 3,
            channel: Channel::Email,
            author: "bot".into(),
            kind: "text".into(),
            text: "Use the Forgot password link — it arrives within 5 minutes.".into(),
            metadata: json!({}),
            recipient: Some("ana.silva@example.com".into()),
            reply_to: Some("reply-2@mail.example.com".into()),
            thread: vec![
                "first-1@mail.example.com".into(),
                "rapport.1.40@acme.test".into(),
                "reply-2@mail.example.com".into(),
            ],
            subject: Some("RE: Password reset".into()),
            last_customer_message_at: None,
            created_at: chrono::Utc::now(),
            attempt: 1,
        }
    }

    fn formatted(d: &Delivery) -> (String, String) {
        let (message, id) = sender().compose(d).expect("composes");
        (String::from_utf8(message.formatted()).expect("UTF-8"), id)
    }

    #[test]
    fn a_reply_carries_the_threading_headers_and_a_stable_message_id() {
        let (mail, id) = formatted(&delivery());
        assert_eq!(id, "rapport.1.42@acme.test");
        assert!(
            mail.contains("Message-ID: <rapport.1.42@acme.test>\r\n"),
            "{mail}"
        );
        assert!(
            mail.contains("In-Reply-To: <reply-2@mail.example.com>\r\n"),
            "{mail}"
        );
        assert!(
            mail.contains(
                "References: <first-1@mail.example.com> <rapport.1.40@acme.test>\r\n <reply-2@mail.example.com>\r\n"
            ) || mail.contains(
                "References: <first-1@mail.example.com> <rapport.1.40@acme.test> <reply-2@mail.example.com>\r\n"
            ),
            "{mail}"
        );
        assert!(mail.contains("Subject: Re: Password reset\r\n"), "{mail}");
        assert!(mail.contains("To: ana.silva@example.com\r\n"), "{mail}");
        assert!(mail.contains("Auto-Submitted: auto-replied\r\n"), "{mail}");
        assert!(
            mail.contains("Content-Type: text/plain; charset=utf-8"),
            "{mail}"
        );
        // The same delivery again is the same mail to the customer's client.
        assert_eq!(formatted(&delivery()).1, id);
    }

    #[test]
    fn an_agents_reply_is_not_marked_automatic_and_a_conversation_without_subject_gets_one() {
        let d = Delivery {
            author: "agent".into(),
            subject: None,
            reply_to: None,
            thread: vec![],
            ..delivery()
        };
        let (mail, _) = formatted(&d);
        assert!(!mail.contains("Auto-Submitted"), "{mail}");
        assert!(mail.contains("Subject: Re: Your request\r\n"), "{mail}");
        assert!(!mail.contains("In-Reply-To"), "{mail}");
        assert!(!mail.contains("References"), "{mail}");
    }

    #[test]
    fn a_bad_recipient_or_thread_id_never_reaches_the_headers() {
        let d = Delivery {
            recipient: Some("not an address".into()),
            ..delivery()
        };
        assert!(matches!(
            sender().compose(&d),
            Err(SendError::Permanent { .. })
        ));
        let d = Delivery {
            reply_to: Some("x\r\nBcc: victim@example.com".into()),
            ..delivery()
        };
        let (mail, _) = formatted(&d);
        assert!(!mail.contains("Bcc"), "{mail}");
    }

    #[test]
    fn a_from_that_is_not_an_address_is_a_configuration_error() {
        let settings = EmailSettings {
            smtp_url: "smtp://127.0.0.1:2525".into(),
            from: "Acme Support".into(),
            timeout: Duration::from_secs(5),
            default_subject: "x".into(),
        };
        assert!(matches!(EmailSender::new(settings), Err(Error::Config(_))));
        let settings = EmailSettings {
            smtp_url: "http://example.com".into(),
            from: "support@acme.test".into(),
            timeout: Duration::from_secs(5),
            default_subject: "x".into(),
        };
        assert!(matches!(EmailSender::new(settings), Err(Error::Config(_))));
    }
}
