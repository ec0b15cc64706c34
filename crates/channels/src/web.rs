//! The web chat channel: the widget a business embeds with one `<script>` tag talks to Rapport
//! itself, so this channel has no provider. What it owns:
//!
//! - **Visitor sessions.** A session is a random bearer token (256 bits) the widget keeps in
//!   `localStorage`; only its SHA-256 is stored. Presenting it again resumes the session, so the
//!   conversation survives a page reload. A session sends as one web-chat identity:
//!   `visitor:<visitor_id>` when anonymous, `user:<user_id>` when the site signed who is logged
//!   in (the same user on two devices is one identity). A session is resumed only for the same
//!   signed identity: after a log-out or a switch of user the browser gets a fresh one, so a
//!   shared computer never shows the previous person's chat.
//! - **What a visitor may read**: the messages of their own web identity on the web channel,
//!   without notes or traces (see `rapport_store::widget`).
//! - **The live hub** ([`Live`]): in-process news for the widget's event stream — something new
//!   is stored, the bot is typing, the answer as the model writes it. Several Rapport processes
//!   each have their own; the event stream also polls the store, so a reply written by another
//!   process still arrives (without typing dots or streaming).
//! - **The sender** ([`WebSender`]): the outbox delivers web replies by waking the visitor's
//!   event stream; the message itself is read from the store.
//!
//! Verifying the site's signature is the caller's (`rapport_agent::identity::SignedIdentity`):
//! this module receives what it proved, as [`VerifiedIdentity`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::RngCore;
use rapport_core::domain::Channel;
use rapport_core::ids::{ContactId, WorkspaceId};
use rapport_core::outbound::{ChannelSender, Delivery, SendError, Sent};
use rapport_store::Store;
use rapport_store::widget::{NewWidgetSession, WebMessage, WidgetSession};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::{Error, Result};

/// Visitor tokens start with this, so a leaked one is recognisable in logs and scanners.
pub const TOKEN_PREFIX: &str = "rwv_";

/// Longest id a widget may give its message (it sends a random one; retries reuse it).
pub const MAX_CLIENT_ID_LEN: usize = 64;

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// A fresh visitor token: 256 random bits.
pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_hex(32))
}

/// What is stored of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// What the business's site signed about the logged-in user (already verified by the caller).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifiedIdentity {
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl VerifiedIdentity {
    fn of(session: &WidgetSession) -> Option<VerifiedIdentity> {
        let id = VerifiedIdentity {
            user_id: session.user_id.clone(),
            email: session.email.clone(),
            phone: session.phone.clone(),
        };
        (id != VerifiedIdentity::default()).then_some(id)
    }

    fn normalised(identity: Option<&VerifiedIdentity>) -> Option<VerifiedIdentity> {
        let clean = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let id = identity.map(|i| VerifiedIdentity {
            user_id: clean(&i.user_id),
            email: clean(&i.email),
            phone: clean(&i.phone),
        })?;
        (id != VerifiedIdentity::default()).then_some(id)
    }
}

/// The web-chat identity a session sends as.
pub fn external_id(visitor_id: &str, identity: Option<&VerifiedIdentity>) -> String {
    match identity.and_then(|i| i.user_id.as_deref()) {
        Some(user) => format!("user:{user}"),
        None => format!("visitor:{visitor_id}"),
    }
}

/// The provider message id of a visitor's message: the widget's own id, scoped by the identity
/// so that one visitor's id can never collide with (and be answered as) another's.
pub fn provider_message_id(external_id: &str, client_id: &str) -> Result<String> {
    let ok = !client_id.is_empty()
        && client_id.len() <= MAX_CLIENT_ID_LEN
        && client_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        return Err(Error::Malformed(format!(
            "client_id must be 1 to {MAX_CLIENT_ID_LEN} letters, digits, '-' or '_'"
        )));
    }
    Ok(format!("{external_id}#{client_id}"))
}

/// A visitor's message, parsed: what the agent stores and answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebInbound {
    pub external_id: String,
    pub verified_phone: Option<String>,
    pub verified_email: Option<String>,
    pub provider_message_id: Option<String>,
    pub text: String,
}

/// A message as its visitor sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VisitorMessage {
    pub id: i64,
    /// `customer` (the visitor), `bot`, `agent` or `system`.
    pub author: String,
    pub kind: String,
    pub text: String,
    /// The widget's id of a visitor's own message, so an open tab can match what it sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl VisitorMessage {
    fn of(session: &WidgetSession, m: WebMessage) -> Self {
        let prefix = format!("{}#", session.external_id);
        VisitorMessage {
            client_id: m
                .provider_message_id
                .as_deref()
                .and_then(|p| p.strip_prefix(&prefix))
                .map(str::to_owned),
            id: m.id,
            author: m.author,
            kind: m.kind,
            text: m.text,
            created_at: m.created_at,
        }
    }
}

/// What starting (or resuming) a session gave.
#[derive(Debug, Clone)]
pub struct Started {
    pub session: WidgetSession,
    /// The token to keep: the presented one when resumed, a new one otherwise.
    pub token: String,
    pub resumed: bool,
}

/// Sessions and what a visitor reads: the web chat's side of the store.
#[derive(Clone)]
pub struct WebChat {
    store: Store,
    live: Live,
    /// A session unused this long is refused (the widget then starts a new one).
    session_ttl: chrono::Duration,
}

impl WebChat {
    pub fn new(store: Store, live: Live, session_ttl: chrono::Duration) -> Self {
        WebChat {
            store,
            live,
            session_ttl,
        }
    }

    pub fn live(&self) -> &Live {
        &self.live
    }

    /// Resumes the session of `presented` when it is live and was started for the same signed
    /// identity (or both are anonymous); starts a new one otherwise.
    pub async fn start(
        &self,
        ws: WorkspaceId,
        presented: Option<&str>,
        identity: Option<&VerifiedIdentity>,
        origin: Option<&str>,
    ) -> Result<Started> {
        let identity = VerifiedIdentity::normalised(identity);
        if let Some(token) = presented.filter(|t| !t.trim().is_empty())
            && let Ok(session) = self.session(token).await
            && session.workspace_id == ws.0
            && VerifiedIdentity::of(&session) == identity
        {
            return Ok(Started {
                session,
                token: token.trim().to_owned(),
                resumed: true,
            });
        }
        // Now and then, forget sessions nobody has used for longer than they live.
        if rand::random_ratio(1, 64) {
            let swept = self
                .store
                .delete_idle_widget_sessions(Utc::now() - self.session_ttl)
                .await?;
            tracing::debug!(swept, "idle widget sessions forgotten");
        }
        let token = new_token();
        let visitor_id = random_hex(16);
        let session = self
            .store
            .create_widget_session(
                ws,
                &NewWidgetSession {
                    token_hash: token_hash(&token),
                    external_id: external_id(&visitor_id, identity.as_ref()),
                    visitor_id,
                    user_id: identity.as_ref().and_then(|i| i.user_id.clone()),
                    email: identity.as_ref().and_then(|i| i.email.clone()),
                    phone: identity.as_ref().and_then(|i| i.phone.clone()),
                    origin: origin.map(|o| o.chars().take(200).collect()),
                },
            )
            .await?;
        Ok(Started {
            session,
            token,
            resumed: false,
        })
    }

    /// The live session of a token, or [`Error::UnknownSession`].
    pub async fn session(&self, token: &str) -> Result<WidgetSession> {
        let token = token.trim();
        if !token.starts_with(TOKEN_PREFIX) {
            return Err(Error::UnknownSession);
        }
        let session = self
            .store
            .widget_session_by_token_hash(&token_hash(token))
            .await?
            .ok_or(Error::UnknownSession)?;
        if session.last_seen_at < Utc::now() - self.session_ttl {
            return Err(Error::UnknownSession);
        }
        if session.last_seen_at < Utc::now() - chrono::Duration::minutes(1) {
            self.store.touch_widget_session(session.id).await?;
        }
        Ok(session)
    }

    /// The visitor's message as the agent takes it.
    pub fn inbound(
        &self,
        session: &WidgetSession,
        text: String,
        client_id: Option<&str>,
    ) -> Result<WebInbound> {
        let provider_message_id = client_id
            .map(|id| provider_message_id(&session.external_id, id.trim()))
            .transpose()?;
        Ok(WebInbound {
            external_id: session.external_id.clone(),
            verified_phone: session.phone.clone(),
            verified_email: session.email.clone(),
            provider_message_id,
            text,
        })
    }

    /// The contact row of the session's identity, once it has written.
    pub async fn contact(&self, session: &WidgetSession) -> Result<Option<ContactId>> {
        Ok(self
            .store
            .contact_by_identity(
                WorkspaceId(session.workspace_id),
                Channel::Web,
                &session.external_id,
            )
            .await?)
    }

    /// The newest `limit` messages before `before` (a message id), oldest first.
    pub async fn history(
        &self,
        session: &WidgetSession,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<VisitorMessage>> {
        let Some(contact) = self.contact(session).await? else {
            return Ok(Vec::new());
        };
        let rows = self
            .store
            .web_messages(
                WorkspaceId(session.workspace_id),
                contact,
                None,
                before,
                limit,
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|m| VisitorMessage::of(session, m))
            .collect())
    }

    /// Messages after `after` (a message id), oldest first.
    pub async fn messages_after(
        &self,
        session: &WidgetSession,
        contact: ContactId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<VisitorMessage>> {
        let rows = self
            .store
            .web_messages(
                WorkspaceId(session.workspace_id),
                contact,
                Some(after),
                None,
                limit,
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|m| VisitorMessage::of(session, m))
            .collect())
    }
}

/// News for the web chat's event streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveEvent {
    /// Something new is stored for this contact on the web channel: read the store again.
    Changed,
    /// A reply to the customer message `reply_to` is being worked on (true) or done (false).
    Typing { reply_to: i64, typing: bool },
    /// Answer text as the model writes it.
    Delta { reply_to: i64, text: String },
}

#[derive(Debug, Clone)]
pub struct LiveUpdate {
    pub workspace: i64,
    /// The contact row of the web identity (messages' `contact_id`).
    pub contact: i64,
    /// The web identity, when the publisher knows it: it lets a stream that has not met its
    /// contact yet (before a visitor's first message) learn it.
    pub external_id: Option<String>,
    pub event: LiveEvent,
}

/// A reply being written, for a stream that joins in the middle of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InProgress {
    pub reply_to: i64,
    /// The answer so far, when the model streams.
    pub draft: String,
    jobs: usize,
    started: Instant,
}

/// A reply job that has not finished after this long is not shown as typing to new streams
/// (its worker died or hangs; the queue will run it again).
const STALE_REPLY: Duration = Duration::from_secs(300);

/// The in-process hub the event streams listen to. Cheap to clone.
#[derive(Clone)]
pub struct Live {
    inner: Arc<LiveInner>,
}

struct LiveInner {
    tx: broadcast::Sender<Arc<LiveUpdate>>,
    replies: Mutex<HashMap<(i64, i64), InProgress>>,
    closed: CancellationToken,
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    pub fn new() -> Self {
        // A stream that falls this far behind re-reads the store (it loses typing/deltas only).
        let (tx, _) = broadcast::channel(1024);
        Live {
            inner: Arc::new(LiveInner {
                tx,
                replies: Mutex::default(),
                closed: CancellationToken::new(),
            }),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveUpdate>> {
        self.inner.tx.subscribe()
    }

    /// Cancelled when the server shuts down: event streams end so it can.
    pub fn closed(&self) -> CancellationToken {
        self.inner.closed.clone()
    }

    pub fn close(&self) {
        self.inner.closed.cancel();
    }

    fn publish(
        &self,
        ws: WorkspaceId,
        contact: ContactId,
        external_id: Option<&str>,
        event: LiveEvent,
    ) {
        // No receiver is not an error: nobody is watching.
        let _ = self.inner.tx.send(Arc::new(LiveUpdate {
            workspace: ws.0,
            contact: contact.0,
            external_id: external_id.map(str::to_owned),
            event,
        }));
    }

    fn replies(&self) -> std::sync::MutexGuard<'_, HashMap<(i64, i64), InProgress>> {
        // The map holds no invariant a panicking holder could break half-way.
        self.inner
            .replies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Something was stored for this contact's web identity.
    pub fn changed(&self, ws: WorkspaceId, contact: ContactId, external_id: Option<&str>) {
        self.publish(ws, contact, external_id, LiveEvent::Changed);
    }

    /// The bot started on a reply to `reply_to`.
    pub fn reply_started(&self, ws: WorkspaceId, contact: ContactId, reply_to: i64) {
        {
            let mut replies = self.replies();
            let entry = replies
                .entry((ws.0, contact.0))
                .or_insert_with(|| InProgress {
                    reply_to,
                    draft: String::new(),
                    jobs: 0,
                    started: Instant::now(),
                });
            entry.jobs += 1;
            entry.reply_to = reply_to;
            entry.draft.clear();
            entry.started = Instant::now();
        }
        self.publish(
            ws,
            contact,
            None,
            LiveEvent::Typing {
                reply_to,
                typing: true,
            },
        );
    }

    pub fn reply_delta(&self, ws: WorkspaceId, contact: ContactId, reply_to: i64, text: &str) {
        if let Some(entry) = self.replies().get_mut(&(ws.0, contact.0)) {
            entry.draft.push_str(text);
        }
        self.publish(
            ws,
            contact,
            None,
            LiveEvent::Delta {
                reply_to,
                text: text.to_owned(),
            },
        );
    }

    /// The reply job ended (answered, handed over, skipped or failed).
    pub fn reply_finished(&self, ws: WorkspaceId, contact: ContactId, reply_to: i64) {
        let still_working = {
            let mut replies = self.replies();
            match replies.get_mut(&(ws.0, contact.0)) {
                Some(entry) if entry.jobs > 1 => {
                    entry.jobs -= 1;
                    true
                }
                Some(_) => {
                    replies.remove(&(ws.0, contact.0));
                    false
                }
                None => false,
            }
        };
        // The reply, if any, is stored by now.
        self.changed(ws, contact, None);
        if !still_working {
            self.publish(
                ws,
                contact,
                None,
                LiveEvent::Typing {
                    reply_to,
                    typing: false,
                },
            );
        }
    }

    /// The reply being written for this contact, if any.
    pub fn in_progress(&self, ws: WorkspaceId, contact: ContactId) -> Option<InProgress> {
        let mut replies = self.replies();
        let key = (ws.0, contact.0);
        if replies
            .get(&key)
            .is_some_and(|p| p.started.elapsed() > STALE_REPLY)
        {
            replies.remove(&key);
        }
        replies.get(&key).cloned()
    }
}

/// Delivers web-chat messages: they are read from the store by the widget, so delivering means
/// waking the visitor's event stream in this process (others poll).
pub struct WebSender {
    live: Live,
}

impl WebSender {
    pub fn new(live: Live) -> Self {
        WebSender { live }
    }
}

#[async_trait::async_trait]
impl ChannelSender for WebSender {
    fn channel(&self) -> Channel {
        Channel::Web
    }

    async fn send(&self, d: &Delivery) -> std::result::Result<Sent, SendError> {
        self.live.changed(
            WorkspaceId(d.workspace_id),
            ContactId(d.contact_id),
            d.recipient.as_deref(),
        );
        Ok(Sent::sent(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_only_their_hash_is_kept() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64, "256 bits");
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
        assert_eq!(token_hash(&a), token_hash(&format!(" {a} ")));
    }

    #[test]
    fn a_signed_user_is_one_identity_on_every_device() {
        let user = VerifiedIdentity {
            user_id: Some("u-1".into()),
            ..VerifiedIdentity::default()
        };
        assert_eq!(external_id("aaa", Some(&user)), "user:u-1");
        assert_eq!(external_id("bbb", Some(&user)), "user:u-1");
        assert_eq!(external_id("aaa", None), "visitor:aaa");
        let phone_only = VerifiedIdentity {
            phone: Some("+14155550142".into()),
            ..VerifiedIdentity::default()
        };
        assert_eq!(external_id("aaa", Some(&phone_only)), "visitor:aaa");
    }

    #[test]
    fn client_ids_are_scoped_to_the_identity_and_checked() {
        assert_eq!(
            provider_message_id("visitor:a", "m-1").unwrap(),
            "visitor:a#m-1"
        );
        assert_ne!(
            provider_message_id("visitor:a", "m-1").unwrap(),
            provider_message_id("visitor:b", "m-1").unwrap()
        );
        assert!(provider_message_id("visitor:a", "").is_err());
        assert!(provider_message_id("visitor:a", "has space").is_err());
        assert!(provider_message_id("visitor:a", &"x".repeat(65)).is_err());
    }

    #[test]
    fn typing_lasts_until_the_last_overlapping_reply_ends() {
        let live = Live::new();
        let mut rx = live.subscribe();
        let (ws, c) = (WorkspaceId(1), ContactId(7));
        live.reply_started(ws, c, 10);
        live.reply_started(ws, c, 11);
        live.reply_delta(ws, c, 11, "Hel");
        live.reply_delta(ws, c, 11, "lo");
        assert_eq!(live.in_progress(ws, c).unwrap().draft, "Hello");
        live.reply_finished(ws, c, 10);
        assert!(live.in_progress(ws, c).is_some());
        live.reply_finished(ws, c, 11);
        assert!(live.in_progress(ws, c).is_none());
        let mut events = Vec::new();
        while let Ok(u) = rx.try_recv() {
            events.push(u.event.clone());
        }
        assert_eq!(
            events.last(),
            Some(&LiveEvent::Typing {
                reply_to: 11,
                typing: false
            })
        );
        let stops = events
            .iter()
            .filter(|e| matches!(e, LiveEvent::Typing { typing: false, .. }))
            .count();
        assert_eq!(stops, 1, "{events:?}");
    }
}
