//! A raw RFC 5322 message, as a provider or mail server posts it, read into what Rapport keeps:
//! the sender, the thread headers, the customer's new words, the whole original body and the
//! attachments as references (name, type, size, content id, SHA-256; the bytes are not kept).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders, PartType};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::quotes;
use crate::{Error, Result};

/// Longest original body kept with the message; a longer one is cut (and says so).
pub const MAX_KEPT_BODY_BYTES: usize = 100 * 1024;
/// Thread ids kept from `References`: the most recent ones, which are the ones that matter.
const MAX_REFERENCES: usize = 30;

/// A file that came with a mail; the bytes stay with the provider and the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRef {
    pub name: Option<String>,
    pub content_type: String,
    pub size: usize,
    /// `Content-ID` (without `<>`), for images an HTML body shows inline.
    pub content_id: Option<String>,
    pub inline: bool,
    /// Hex SHA-256 of the decoded content: the same file sent twice is recognisable.
    pub sha256: String,
}

/// What the sender's domain proved about the `From` address, as the receiving side recorded
/// it (`Authentication-Results`, Mailgun's `X-Mailgun-Spf` / `X-Mailgun-Dkim-Check-Result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderCheck {
    /// DMARC, or DKIM or SPF for the From domain, passed.
    Pass,
    /// DMARC failed, or every check that was made failed: the From address may be forged.
    Fail,
    /// Nothing was recorded.
    Unknown,
}

/// One inbound mail.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingMail {
    /// `Message-ID` without `<>`; a mail without one gets `sha256.<hex>@rapport.invalid`, from
    /// its bytes, so a provider's retry is still the same message.
    pub message_id: String,
    /// The `From` address, lower-cased.
    pub from_address: String,
    pub from_name: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// As the sender wrote it, decoded (RFC 2047).
    pub subject: Option<String>,
    pub in_reply_to: Vec<String>,
    /// Oldest first, as in the header.
    pub references: Vec<String>,
    pub date: Option<DateTime<Utc>>,
    /// What the customer wrote now: quotes, signature and mobile trailers removed; attachments
    /// named at the end. Never empty.
    pub text: String,
    /// The whole text body (text/plain parts, or the HTML ones as text), at most
    /// [`MAX_KEPT_BODY_BYTES`].
    pub body: String,
    pub body_truncated: bool,
    pub attachments: Vec<AttachmentRef>,
    /// Why the mail was sent by a program (`Auto-Submitted: auto-replied`, `Precedence: bulk`,
    /// an out-of-office): such mail is stored, never answered, or two robots would talk forever.
    pub automatic: Option<String>,
    pub sender_check: SenderCheck,
}

impl IncomingMail {
    /// The ids this mail answers, the most direct first: `In-Reply-To`, then `References`
    /// newest first, without repeats.
    pub fn thread_refs(&self) -> Vec<String> {
        let mut refs: Vec<String> = Vec::new();
        for id in self.in_reply_to.iter().chain(self.references.iter().rev()) {
            if !refs.contains(id) {
                refs.push(id.clone());
            }
        }
        refs
    }

    /// What the bot and agents read: the new text, led by the subject when the mail starts a
    /// thread (a first mail's subject often is the question: "Password reset not working").
    pub fn readable_text(&self) -> String {
        match self.subject.as_deref().map(normalize_subject) {
            Some(subject)
                if self.in_reply_to.is_empty()
                    && self.references.is_empty()
                    && !subject.is_empty()
                    && !self.text.to_lowercase().contains(&subject.to_lowercase()) =>
            {
                format!("{subject}\n\n{}", self.text)
            }
            _ => self.text.clone(),
        }
    }

    /// What the message's `attachments` column keeps: the headers that matter, the whole body
    /// (so nothing the stripping removed is lost) and the files as references.
    pub fn attachments_json(&self) -> Value {
        json!({
            "type": "email",
            "email": {
                "message_id": self.message_id,
                "from": self.from_address,
                "from_name": self.from_name,
                "to": self.to,
                "cc": self.cc,
                "subject": self.subject,
                "date": self.date,
                "in_reply_to": self.in_reply_to,
                "references": self.references,
                "body": self.body,
                "body_truncated": self.body_truncated,
                "automatic": self.automatic,
            },
            "files": self.attachments.iter().map(|a| json!({
                "name": a.name,
                "content_type": a.content_type,
                "size": a.size,
                "content_id": a.content_id,
                "inline": a.inline,
                "sha256": a.sha256,
            })).collect::<Vec<_>>(),
        })
    }
}

/// A message id as it may appear in a header: `<` and `>` stripped, and only when it is one
/// token of printable ASCII (an id from a stranger's mail goes into our headers, so nothing
/// that could break a header line gets through).
pub fn normalize_message_id(raw: &str) -> Option<String> {
    let id = raw
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    let ok = !id.is_empty()
        && id.len() <= 250
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>');
    ok.then(|| id.to_owned())
}

/// The subject without the `Re:`/`Fwd:` prefixes clients add (in several languages), so a
/// thread has one subject and our replies say `Re: <subject>` once.
pub fn normalize_subject(raw: &str) -> String {
    const PREFIXES: &[&str] = &[
        "re", "fw", "fwd", "aw", "wg", "sv", "vs", "antw", "tr", "rv", "ref", "r", "rif", "res",
        "odp", "vá", "ynt",
    ];
    let mut s = raw.trim();
    while let Some((head, rest)) = s.split_once(':') {
        // "Re[2]:" and "RE :" too.
        let word = head
            .trim()
            .trim_end_matches(|c: char| c == ']' || c.is_ascii_digit())
            .trim_end_matches('[')
            .to_lowercase();
        if PREFIXES.contains(&word.as_str()) {
            s = rest.trim_start();
        } else {
            break;
        }
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(t) => t
            .split_whitespace()
            .filter_map(normalize_message_id)
            .collect(),
        HeaderValue::TextList(list) => list
            .iter()
            .filter_map(|t| normalize_message_id(t))
            .collect(),
        _ => Vec::new(),
    }
}

fn addresses(a: Option<&Address<'_>>) -> Vec<String> {
    a.into_iter()
        .flat_map(|a| a.iter())
        .filter_map(|a| a.address())
        .map(|a| a.trim().to_lowercase())
        .filter(|a| !a.is_empty())
        .collect()
}

fn automatic_reason(message: &mail_parser::Message<'_>) -> Option<String> {
    let raw = |name: &'static str| {
        message
            .header_raw(name)
            .map(|v| v.trim().to_ascii_lowercase())
    };
    if let Some(v) = raw("Auto-Submitted").filter(|v| !v.starts_with("no")) {
        return Some(format!("Auto-Submitted: {v}"));
    }
    if let Some(v) =
        raw("Precedence").filter(|v| matches!(v.as_str(), "bulk" | "junk" | "list" | "auto_reply"))
    {
        return Some(format!("Precedence: {v}"));
    }
    for name in ["X-Autoreply", "X-Autorespond"] {
        if let Some(v) = raw(name) {
            return Some(format!("{name}: {v}"));
        }
    }
    // A bounce: the mailer daemon reports a failed delivery of one of our replies.
    if raw("Return-Path").is_some_and(|v| v == "<>")
        || message.content_type().is_some_and(|ct| {
            ct.subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        })
    {
        return Some("a delivery status notification".into());
    }
    None
}

fn sender_check(message: &mail_parser::Message<'_>, from_domain: &str) -> SenderCheck {
    let mut passed = false;
    let mut failed = 0;
    let mut checks = 0;
    for (name, value) in message.headers_raw() {
        let value = value.to_ascii_lowercase();
        match name.to_ascii_lowercase().as_str() {
            "authentication-results" => {
                if value.contains("dmarc=pass") {
                    passed = true;
                } else if value.contains("dmarc=fail") {
                    return SenderCheck::Fail;
                }
                for method in ["dkim", "spf"] {
                    if value.contains(&format!("{method}=pass")) {
                        checks += 1;
                        // Only a pass for the From domain itself proves the From address.
                        if value.contains(from_domain) {
                            passed = true;
                        }
                    } else if value.contains(&format!("{method}=fail"))
                        || value.contains(&format!("{method}=softfail"))
                    {
                        checks += 1;
                        failed += 1;
                    }
                }
            }
            "x-mailgun-spf" | "x-mailgun-dkim-check-result" => {
                checks += 1;
                if value.trim() == "pass" {
                    passed = true;
                } else if value.trim() == "fail" || value.trim() == "softfail" {
                    failed += 1;
                }
            }
            _ => {}
        }
    }
    if passed {
        SenderCheck::Pass
    } else if checks > 0 && failed == checks {
        SenderCheck::Fail
    } else {
        SenderCheck::Unknown
    }
}

fn cut_to(s: &str, max_bytes: usize) -> (String, bool) {
    if s.len() <= max_bytes {
        return (s.to_owned(), false);
    }
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (s[..end].to_owned(), true)
}

/// Reads one raw message. Fails only when there is no usable `From` address or the bytes
/// are not a message at all; everything else is optional.
pub fn parse(raw: &[u8]) -> Result<IncomingMail> {
    let message = MessageParser::default()
        .parse(raw)
        .filter(|m| !m.headers().is_empty())
        .ok_or_else(|| Error::Malformed("not an e-mail message".into()))?;
    let from = message
        .from()
        .and_then(Address::first)
        .ok_or_else(|| Error::Malformed("the mail has no From address".into()))?;
    let from_address = from
        .address()
        .map(|a| a.trim().to_lowercase())
        .filter(|a| {
            a.split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
        })
        .ok_or_else(|| Error::Malformed("the From address is not an e-mail address".into()))?;
    let from_domain = from_address
        .rsplit_once('@')
        .map(|(_, d)| d.to_owned())
        .unwrap_or_default();
    let from_name = from
        .name()
        .map(|n| n.trim().trim_matches('"').trim().to_owned())
        .filter(|n| !n.is_empty() && n.to_lowercase() != from_address);

    let message_id = message
        .message_id()
        .and_then(normalize_message_id)
        .unwrap_or_else(|| {
            let digest = hex::encode(Sha256::digest(raw));
            format!("sha256.{}@rapport.invalid", &digest[..32])
        });
    let mut references = ids(message.references());
    if references.len() > MAX_REFERENCES {
        references.drain(..references.len() - MAX_REFERENCES);
    }

    let mut body = String::new();
    for i in 0..message.text_body_count() {
        if let Some(part) = message.body_text(i) {
            if !body.is_empty() {
                body.push('\n');
            }
            body.push_str(part.trim_end());
        }
    }
    // A body that is not text (a lone attachment) was just listed as a text body by the
    // parser when it had nothing better: the attachment list says it.
    let (kept_body, body_truncated) = cut_to(&body, MAX_KEPT_BODY_BYTES);

    let attachments: Vec<AttachmentRef> = message
        .attachments()
        .map(|part| {
            let content_type = part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".into())
                .to_ascii_lowercase();
            let name = part.attachment_name().map(str::to_owned).or_else(|| {
                part.message()
                    .and_then(|m| m.subject())
                    .map(|s| format!("{s}.eml"))
            });
            AttachmentRef {
                name,
                content_type,
                size: part.len(),
                content_id: part.content_id().and_then(normalize_message_id),
                inline: matches!(part.body, PartType::InlineBinary(_))
                    || part.content_disposition().is_some_and(|cd| cd.is_inline()),
                sha256: hex::encode(Sha256::digest(part.contents())),
            }
        })
        .collect();

    let stripped = quotes::strip(&body);
    let mut text = stripped.text;
    let listed: Vec<Cow<'_, str>> = attachments
        .iter()
        .filter(|a| !a.inline)
        .map(|a| {
            a.name
                .as_deref()
                .map_or(Cow::Owned(format!("[{}]", a.content_type)), Cow::Borrowed)
        })
        .collect();
    if !listed.is_empty() {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&format!("[attachment] {}", listed.join(", ")));
    }
    let subject = message
        .subject()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty());
    if text.is_empty() {
        // Nothing new (a bare quote, an empty body): what there is, so agents see something.
        text = body.trim().to_owned();
    }
    if text.is_empty() {
        text = subject
            .clone()
            .unwrap_or_else(|| "[empty e-mail]".to_owned());
    }

    Ok(IncomingMail {
        message_id,
        from_address,
        from_name,
        to: addresses(message.to()),
        cc: addresses(message.cc()),
        subject,
        in_reply_to: ids(message.in_reply_to()),
        references,
        date: message
            .date()
            .filter(|d| d.is_valid())
            .and_then(|d| DateTime::from_timestamp(d.to_timestamp(), 0)),
        text,
        body: kept_body,
        body_truncated,
        attachments,
        automatic: automatic_reason(&message),
        sender_check: sender_check(&message, &from_domain),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GMAIL_NEW: &str = "Return-Path: <ana.silva@example.com>\r\n\
Authentication-Results: mx.acme.test; dkim=pass header.d=example.com; spf=pass smtp.mailfrom=ana.silva@example.com; dmarc=pass header.from=example.com\r\n\
MIME-Version: 1.0\r\n\
Date: Tue, 12 Mar 2024 09:58:01 +0100\r\n\
Message-ID: <CAF=abc123+XyZ@mail.example.com>\r\n\
Subject: =?UTF-8?Q?Passwort_zur=C3=BCcksetzen_=E2=80=93_help?=\r\n\
From: \"Ana Silva\" <Ana.Silva@Example.com>\r\n\
To: Acme Support <support@acme.test>\r\n\
Content-Type: multipart/mixed; boundary=\"mixed\"\r\n\
\r\n\
--mixed\r\n\
Content-Type: multipart/alternative; boundary=\"alt\"\r\n\
\r\n\
--alt\r\n\
Content-Type: text/plain; charset=\"UTF-8\"\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Hi, how can I reset my password? The link gives me an =C3=A9rror.\r\n\
\r\n\
--alt\r\n\
Content-Type: text/html; charset=\"UTF-8\"\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
<div>Hi, how can I reset my password? The link gives me an =C3=A9rror.</div>\r\n\
\r\n\
--alt--\r\n\
--mixed\r\n\
Content-Type: image/png; name=\"screenshot.png\"\r\n\
Content-Disposition: attachment; filename=\"screenshot.png\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-ID: <shot@example.com>\r\n\
\r\n\
iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\r\n\
--mixed--\r\n";

    #[test]
    fn a_multipart_mail_gives_sender_subject_text_and_attachment_references() {
        let mail = parse(GMAIL_NEW.as_bytes()).expect("parses");
        assert_eq!(mail.message_id, "CAF=abc123+XyZ@mail.example.com");
        assert_eq!(mail.from_address, "ana.silva@example.com");
        assert_eq!(mail.from_name.as_deref(), Some("Ana Silva"));
        assert_eq!(mail.to, ["support@acme.test"]);
        assert_eq!(
            mail.subject.as_deref(),
            Some("Passwort zurücksetzen – help")
        );
        assert_eq!(
            mail.text,
            "Hi, how can I reset my password? The link gives me an érror.\n\n[attachment] screenshot.png"
        );
        assert_eq!(mail.attachments.len(), 1);
        let a = &mail.attachments[0];
        assert_eq!(a.name.as_deref(), Some("screenshot.png"));
        assert_eq!(a.content_type, "image/png");
        assert_eq!(a.size, 70);
        assert_eq!(a.content_id.as_deref(), Some("shot@example.com"));
        assert_eq!(a.sha256.len(), 64);
        assert_eq!(mail.sender_check, SenderCheck::Pass);
        assert_eq!(mail.automatic, None);
        assert_eq!(
            mail.date,
            DateTime::from_timestamp(1_710_233_881, 0),
            "09:58:01 +0100"
        );
        assert!(mail.thread_refs().is_empty());
        let json = mail.attachments_json();
        assert_eq!(json["files"][0]["name"], "screenshot.png");
        assert!(
            json["email"]["body"]
                .as_str()
                .is_some_and(|b| b.contains("érror"))
        );
    }

    #[test]
    fn a_reply_names_its_thread_most_direct_first_and_keeps_only_the_new_text() {
        let raw = "From: ana.silva@example.com\r\n\
To: support@acme.test\r\n\
Subject: Re: Password reset\r\n\
Message-ID: <reply-2@mail.example.com>\r\n\
In-Reply-To: <rapport.1.42@acme.test>\r\n\
References: <first-1@mail.example.com>\r\n <rapport.1.42@acme.test>\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
It worked, thanks!\r\n\
\r\n\
On Tue, 12 Mar 2024 at 10:04, Acme Support <support@acme.test> wrote:\r\n\
> Use the Forgot password link.\r\n";
        let mail = parse(raw.as_bytes()).expect("parses");
        assert_eq!(mail.in_reply_to, ["rapport.1.42@acme.test"]);
        assert_eq!(
            mail.references,
            ["first-1@mail.example.com", "rapport.1.42@acme.test"]
        );
        assert_eq!(
            mail.thread_refs(),
            ["rapport.1.42@acme.test", "first-1@mail.example.com"]
        );
        assert_eq!(mail.text, "It worked, thanks!");
        assert!(mail.body.contains("Use the Forgot password link."));
        assert_eq!(mail.sender_check, SenderCheck::Unknown);
    }

    #[test]
    fn an_html_only_mail_is_read_as_text() {
        let raw = "From: Bob <bob@example.org>\r\nSubject: Hello\r\nMessage-ID: <h1@example.org>\r\n\
Content-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Where is <b>order 48213</b>?</p></body></html>\r\n";
        let mail = parse(raw.as_bytes()).expect("parses");
        assert!(mail.text.contains("Where is order 48213?"), "{}", mail.text);
        assert!(!mail.text.contains('<'), "{}", mail.text);
    }

    #[test]
    fn an_out_of_office_reply_is_marked_automatic() {
        let raw = "From: ana@example.com\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\nI am away.\r\n";
        let mail = parse(raw.as_bytes()).expect("parses");
        assert_eq!(
            mail.automatic.as_deref(),
            Some("Auto-Submitted: auto-replied")
        );
        let raw = "From: ana@example.com\r\nSubject: Hi\r\nAuto-Submitted: no\r\n\r\nHi\r\n";
        assert_eq!(parse(raw.as_bytes()).expect("parses").automatic, None);
    }

    #[test]
    fn a_mail_without_message_id_gets_a_stable_one() {
        let raw = b"From: ana@example.com\r\nSubject: Hi\r\n\r\nHello\r\n";
        let a = parse(raw).expect("parses");
        let b = parse(raw).expect("parses");
        assert_eq!(a.message_id, b.message_id);
        assert!(a.message_id.ends_with("@rapport.invalid"));
    }

    #[test]
    fn a_dmarc_failure_marks_the_sender_as_unproven() {
        let raw = "Authentication-Results: mx.acme.test; dmarc=fail header.from=bank.example\r\nFrom: ceo@bank.example\r\nSubject: Hi\r\n\r\nHello\r\n";
        assert_eq!(
            parse(raw.as_bytes()).expect("parses").sender_check,
            SenderCheck::Fail
        );
    }

    #[test]
    fn mail_without_a_usable_sender_is_refused() {
        assert!(parse(b"Subject: no sender\r\n\r\nHello\r\n").is_err());
        assert!(parse(b"From: not-an-address\r\n\r\nHello\r\n").is_err());
        assert!(parse(b"").is_err());
    }

    #[test]
    fn message_ids_that_could_break_a_header_are_refused() {
        assert_eq!(normalize_message_id(" <a.b@c> ").as_deref(), Some("a.b@c"));
        assert_eq!(normalize_message_id("a b@c"), None);
        assert_eq!(normalize_message_id("a\r\nBcc: x@y"), None);
        assert_eq!(normalize_message_id("<>"), None);
    }

    #[test]
    fn reply_prefixes_in_several_languages_are_removed_from_subjects() {
        assert_eq!(normalize_subject("Re: RE: Fwd: Order 48213"), "Order 48213");
        assert_eq!(normalize_subject("AW: Passwort"), "Passwort");
        assert_eq!(normalize_subject("Re[2]: SV: Hello  there"), "Hello there");
        assert_eq!(normalize_subject("Ticket: 12"), "Ticket: 12");
    }
}
