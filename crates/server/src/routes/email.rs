//! `/webhooks/email/mailgun/mime`: inbound mail from a Mailgun route (`forward()` to a URL
//! ending in `mime`, so Mailgun posts the raw message). Verify, read, hand the mail to the
//! agent, answer at once; the reply goes out by SMTP through the outbox.
//!
//! Mailgun retries every answer but 200 and 406 for hours. A mail we will never be able to use
//! (no sender, not a message) is answered 406 — Mailgun's documented "rejected, do not retry" —
//! and logged; a failure of ours (the database) is a 500, and the retry brings the mail again.
//! A repeated Message-ID is stored once and answered once.

use std::sync::Arc;

use tokio::sync::Semaphore;

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Form, Router};
use chrono::Utc;
use rapport_agent::Inbound;
use rapport_agent::identity::IdentityClaim;
use rapport_channels::email::mailgun::{self, ReplayGuard, Signature};
use rapport_channels::email::{self, IncomingMail, SenderCheck};
use rapport_core::domain::Channel;
use rapport_core::ids::WorkspaceId;

use crate::App;
use crate::error::{ApiError, error_response, multipart_error};

/// Channels are configured per install for now; they feed the default workspace.
const WS: WorkspaceId = WorkspaceId::DEFAULT;

/// Routes under `/webhooks`, to be given the inbound mail body limit (attachments are large).
pub fn router() -> Router<App> {
    Router::new()
        .route("/email/mailgun/mime", post(receive_mailgun))
        // The same handler; without the `mime` suffix Mailgun posts parsed fields, and the
        // answer says so.
        .route("/email/mailgun", post(receive_mailgun))
        .layer(Extension(Arc::new(Semaphore::new(MAILS_READ_AT_ONCE))))
}

/// Mails read at once by this process. A mail is read before its signature can be checked
/// when Mailgun puts the signature after it, so the memory unsigned posts can take is bounded
/// by this times the body limit; more posts wait their turn.
const MAILS_READ_AT_ONCE: usize = 4;

/// The fields of a Mailgun route POST that we read.
#[derive(Debug, Default)]
struct MailgunPost {
    timestamp: Option<String>,
    token: Option<String>,
    signature: Option<String>,
    body_mime: Option<Vec<u8>>,
}

impl MailgunPost {
    fn set(&mut self, name: &str, value: Vec<u8>) {
        let text = || String::from_utf8_lossy(&value).into_owned();
        match name {
            "timestamp" => self.timestamp = Some(text()),
            "token" => self.token = Some(text()),
            "signature" => self.signature = Some(text()),
            "body-mime" => self.body_mime = Some(value),
            _ => {}
        }
    }

    fn signature(&self) -> Signature<'_> {
        Signature {
            timestamp: self.timestamp.as_deref(),
            token: self.token.as_deref(),
            signature: self.signature.as_deref(),
        }
    }

    fn signed(&self) -> bool {
        self.timestamp.is_some() && self.token.is_some() && self.signature.is_some()
    }

    /// Mailgun posts multipart/form-data (always with attachments) or a URL-encoded form. In
    /// a multipart post the signature is checked as soon as its fields are in, before any
    /// larger field is read.
    async fn read(
        req: Request,
        verify: impl Fn(&Signature<'_>) -> rapport_channels::Result<()>,
    ) -> Result<MailgunPost, Response> {
        let multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
        let mut post = MailgunPost::default();
        let mut verified = false;
        if multipart {
            let mut form = Multipart::from_request(req, &())
                .await
                .map_err(IntoResponse::into_response)?;
            while let Some(field) = form
                .next_field()
                .await
                .map_err(|e| multipart_error(e).into_response())?
            {
                if !verified && post.signed() {
                    verify(&post.signature()).map_err(unauthorized)?;
                    verified = true;
                }
                let name = field.name().unwrap_or_default().to_owned();
                let value = field
                    .bytes()
                    .await
                    .map_err(|e| multipart_error(e).into_response())?;
                post.set(&name, value.to_vec());
            }
        } else {
            let Form(fields): Form<Vec<(String, String)>> = Form::from_request(req, &())
                .await
                .map_err(IntoResponse::into_response)?;
            for (name, value) in fields {
                post.set(&name, value.into_bytes());
            }
        }
        if !verified {
            verify(&post.signature()).map_err(unauthorized)?;
        }
        Ok(post)
    }
}

fn unauthorized(e: rapport_channels::Error) -> Response {
    error_response(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string())
}

fn rejected(reason: impl Into<String>) -> Response {
    error_response(StatusCode::NOT_ACCEPTABLE, "not_acceptable", reason)
}

/// A mail from a Mailgun route, signed with the webhook signing key.
pub async fn receive_mailgun(
    State(app): State<App>,
    Extension(readers): Extension<Arc<Semaphore>>,
    req: Request,
) -> Result<StatusCode, Response> {
    let key = app
        .config
        .secrets
        .email_webhook_secret
        .as_ref()
        .map(|s| s.expose().to_owned())
        .unwrap_or_default();
    let now = Utc::now();
    let max_age = chrono::Duration::seconds(app.config.email.webhook_max_age_secs.max(1) as i64);
    let verify = |s: &Signature<'_>| mailgun::verify(&key, s, now, max_age);
    let post = {
        let _reading = readers
            .acquire()
            .await
            .map_err(|_| ApiError::Unavailable("shutting down".into()).into_response())?;
        MailgunPost::read(req, verify).await?
    };
    let Some(raw) = post.body_mime else {
        tracing::warn!(
            "Mailgun posted no body-mime: the route must forward to a URL ending in `mime`"
        );
        return Err(rejected(
            "no body-mime: forward the route to /webhooks/email/mailgun/mime",
        ));
    };
    match ReplayGuard::new(app.store.clone())
        .check(post.token.as_deref().unwrap_or_default(), &raw, now)
        .await
    {
        Ok(()) => {}
        Err(rapport_channels::Error::Store(e)) => {
            return Err(ApiError::from(e).into_response());
        }
        Err(e) => return Err(unauthorized(e)),
    }
    let mail = match email::parse(&raw) {
        Ok(mail) => mail,
        Err(e) => {
            tracing::warn!(error = %e, bytes = raw.len(), "inbound mail refused");
            return Err(rejected(e.to_string()));
        }
    };
    if app.channels.config().email_from_address().as_deref() == Some(mail.from_address.as_str()) {
        tracing::info!(message_id = %mail.message_id, "inbound mail from our own address ignored");
        return Ok(StatusCode::OK);
    }
    if mail.sender_check == SenderCheck::Fail {
        tracing::warn!(from = %mail.from_address, "the sender's domain did not authenticate the From address; it will not be merged with other identities");
    }
    // Out-of-office notes and bounces are kept for agents, never answered: two robots would
    // write to each other forever.
    let answer = mail.automatic.is_none();
    match app.agent.receive(WS, &inbound(&mail), answer).await {
        Ok(received) => {
            tracing::debug!(message = %received.message_id, duplicate = received.duplicate, automatic = ?mail.automatic, "inbound mail stored");
            Ok(StatusCode::OK)
        }
        Err(rapport_agent::Error::Invalid(reason)) => {
            tracing::warn!(%reason, from = %mail.from_address, "inbound mail refused");
            Err(rejected(reason))
        }
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

fn inbound(mail: &IncomingMail) -> Inbound {
    // The provider took the mail from this address; unless the sender's domain says it was
    // forged, the address is the customer's and proves their e-mail merge key.
    let proven = mail.sender_check != SenderCheck::Fail;
    Inbound {
        claim: IdentityClaim {
            channel: Some(Channel::Email),
            external_id: mail.from_address.clone(),
            name: mail.from_name.clone(),
            verified_email: proven.then(|| mail.from_address.clone()),
            email_hint: (!proven).then(|| mail.from_address.clone()),
            ..IdentityClaim::default()
        },
        provider_message_id: Some(mail.message_id.clone()),
        kind: "text".into(),
        text: mail.readable_text(),
        attachments: mail.attachments_json(),
        sent_at: mail.date,
        thread_refs: mail.thread_refs(),
        subject: mail
            .subject
            .as_deref()
            .map(email::normalize_subject)
            .filter(|s| !s.is_empty()),
        test: false,
    }
}
