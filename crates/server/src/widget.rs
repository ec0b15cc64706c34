//! The web chat widget's server-side state: the channel's sessions and live hub
//! ([`rapport_channels::web`]), which page origins may use it, the per-visitor and per-address
//! rate limits, and the hook that shows reply jobs live (typing dots, streamed answer). The
//! HTTP face is `routes::widget`.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap, header};
use rapport_agent::identity::{SignedIdentity, normalize_email, normalize_phone};
use rapport_agent::{ReplyObserver, ReplyProgress, ReplyTo};
use rapport_channels::web::{
    Live, LiveEvent, LiveUpdate, VerifiedIdentity, VisitorMessage, WebChat,
};
use rapport_core::domain::Channel;
use rapport_core::ids::{ContactId, WorkspaceId};
use rapport_store::Store;
use rapport_store::widget::WidgetSession;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};

use crate::config::{Config, WidgetConfig};
use crate::error::ApiError;
use crate::rate_limit::RateLimiter;
use crate::{Error, Result};

/// Cheap to clone.
#[derive(Clone)]
pub struct Widget {
    inner: Arc<Inner>,
}

struct Inner {
    chat: WebChat,
    origins: OriginPolicy,
    visitors: RateLimiter,
    addresses: RateLimiter,
    trust_forwarded_for: bool,
    poll_interval: Duration,
    /// Changed on the Settings page while running.
    identity_secret: std::sync::RwLock<Option<String>>,
    default_region: String,
    appearance: std::sync::RwLock<Appearance>,
}

/// How the widget presents itself; sent with the session.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Appearance {
    pub title: String,
    pub bot_name: String,
    pub greeting: String,
    pub color: String,
}

fn colour(c: &str) -> Option<String> {
    let hex = c.trim().strip_prefix('#')?;
    (matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| format!("#{hex}"))
}

impl Widget {
    pub fn new(config: &Config, store: Store) -> Result<Widget> {
        let w: &WidgetConfig = &config.widget;
        let ttl = chrono::Duration::days(i64::from(w.session_ttl_days.max(1)));
        let color = colour(&w.color).ok_or_else(|| {
            Error::Config(format!(
                "widget.color: {:?} is not a colour such as #2563eb",
                w.color
            ))
        })?;
        Ok(Widget {
            inner: Arc::new(Inner {
                chat: WebChat::new(store, Live::new(), ttl),
                origins: OriginPolicy {
                    origins: w.origins()?,
                },
                visitors: RateLimiter::per_minute(w.visitor_messages_per_minute),
                addresses: RateLimiter::per_minute(w.ip_requests_per_minute),
                trust_forwarded_for: w.trust_forwarded_for,
                poll_interval: Duration::from_millis(w.poll_interval_ms.max(100)),
                identity_secret: std::sync::RwLock::new(
                    config
                        .secrets
                        .identity_secret
                        .as_ref()
                        .map(|s| s.expose().to_owned()),
                ),
                default_region: config.agent.default_region.clone(),
                appearance: std::sync::RwLock::new(Appearance {
                    title: config.agent.business_name.clone(),
                    bot_name: config.agent.bot_name.clone(),
                    greeting: w.greeting.clone(),
                    color,
                }),
            }),
        })
    }

    pub fn chat(&self) -> &WebChat {
        &self.inner.chat
    }

    pub fn live(&self) -> &Live {
        self.inner.chat.live()
    }

    pub fn appearance(&self) -> Appearance {
        self.inner
            .appearance
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Applies what an admin saved: the names the widget shows and the identity secret.
    pub fn configure(&self, title: &str, bot_name: &str, identity_secret: Option<String>) {
        {
            let mut a = self
                .inner
                .appearance
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            a.title = title.to_owned();
            a.bot_name = bot_name.to_owned();
        }
        *self
            .inner
            .identity_secret
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = identity_secret;
    }

    pub fn poll_interval(&self) -> Duration {
        self.inner.poll_interval
    }

    /// Shows this process's reply jobs to the web chat's event streams.
    pub fn reply_observer(&self) -> Arc<dyn ReplyObserver> {
        Arc::new(LiveReplies(self.live().clone()))
    }

    pub fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        self.inner.origins.allows(origin, host)
    }

    /// The client's address: the peer, or the last `X-Forwarded-For` hop when a proxy is
    /// trusted to append it.
    pub fn client_ip(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<IpAddr> {
        if self.inner.trust_forwarded_for
            && let Some(ip) = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|v| v.trim().parse().ok())
        {
            return Some(ip);
        }
        extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
    }

    /// Counts a widget API request against its address.
    pub fn limit_address(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let key = ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        self.inner
            .addresses
            .check(&key)
            .map_err(|retry_after| ApiError::TooManyRequests {
                message: "too many requests from this address; try again shortly".into(),
                retry_after,
            })
    }

    /// Counts a message against its visitor (a signed user on several devices is one).
    pub fn limit_visitor(&self, session: &WidgetSession) -> Result<(), ApiError> {
        self.inner
            .visitors
            .check(&format!("{}:{}", session.workspace_id, session.external_id))
            .map_err(|retry_after| ApiError::TooManyRequests {
                message: "you are sending messages too fast; wait a moment".into(),
                retry_after,
            })
    }

    /// Checks a signed identity with the workspace's identity secret and normalises what it
    /// proves, so a session never carries a phone or address that its messages would fail on.
    pub fn verify(&self, signed: SignedIdentity) -> Result<VerifiedIdentity, ApiError> {
        let secret = self
            .inner
            .identity_secret
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let Some(secret) = secret.as_deref() else {
            return Err(ApiError::Unauthorized(
                "signed users cannot be verified: the server has no RAPPORT_IDENTITY_SECRET".into(),
            ));
        };
        signed
            .verify(secret)
            .map_err(|_| ApiError::Unauthorized("the identity signature does not match".into()))?;
        let phone =
            match signed.phone.as_deref().filter(|p| !p.trim().is_empty()) {
                Some(p) => Some(normalize_phone(p, &self.inner.default_region).ok_or_else(
                    || ApiError::BadRequest(format!("{p:?} is not a valid phone number")),
                )?),
                None => None,
            };
        let email = match signed.email.as_deref().filter(|e| !e.trim().is_empty()) {
            Some(e) => Some(normalize_email(e).ok_or_else(|| {
                ApiError::BadRequest(format!("{e:?} is not a valid e-mail address"))
            })?),
            None => None,
        };
        Ok(VerifiedIdentity {
            user_id: signed.user_id.filter(|u| !u.trim().is_empty()),
            email,
            phone,
        })
    }

    pub fn header_origin(headers: &HeaderMap) -> Option<&str> {
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
    }

    /// Follows a visitor's chat: what the event stream sends, until the client goes away or the
    /// server shuts down. Messages after `after` (default: from now on).
    pub fn watch(&self, session: WidgetSession, after: Option<i64>) -> mpsc::Receiver<StreamItem> {
        let (tx, rx) = mpsc::channel(64);
        let follower = Follower {
            chat: self.chat().clone(),
            live: self.live().clone(),
            ws: WorkspaceId(session.workspace_id),
            session,
            contact: None,
            early: VecDeque::new(),
            tx,
        };
        let poll = self.poll_interval();
        tokio::spawn(async move {
            let visitor = follower.session.visitor_id.clone();
            match follower.run(after, poll).await {
                Ok(()) | Err(Stop::Gone) => {}
                // The client reconnects and starts from the last message it got.
                Err(Stop::Failed(e)) => {
                    tracing::warn!(error = %e, %visitor, "widget event stream ended")
                }
            }
        });
        rx
    }
}

/// Why a follower stopped early.
enum Stop {
    /// The client went away.
    Gone,
    Failed(rapport_channels::Error),
}

impl From<rapport_channels::Error> for Stop {
    fn from(e: rapport_channels::Error) -> Self {
        Stop::Failed(e)
    }
}

/// Typing and streamed text kept while a stream does not know its contact yet (before the
/// visitor's first message is stored), replayed once it does.
const EARLY_NEWS: usize = 256;

/// One event stream's task: reads the store when there is news (or at each poll), forwards
/// typing and streamed text as they come.
struct Follower {
    chat: WebChat,
    live: Live,
    ws: WorkspaceId,
    session: WidgetSession,
    /// The contact row of the session's identity, once it exists.
    contact: Option<ContactId>,
    early: VecDeque<Arc<LiveUpdate>>,
    tx: mpsc::Sender<StreamItem>,
}

impl Follower {
    async fn send(&self, item: StreamItem) -> Result<(), Stop> {
        self.tx.send(item).await.map_err(|_| Stop::Gone)
    }

    async fn run(mut self, after: Option<i64>, poll: Duration) -> Result<(), Stop> {
        // Subscribed before the store is read, so nothing stored meanwhile is missed.
        let mut updates = self.live.subscribe();
        let closed = self.live.closed();
        self.contact = self.chat.contact(&self.session).await?;
        let mut last = match after {
            Some(id) => id,
            None => self
                .chat
                .history(&self.session, None, 1)
                .await?
                .last()
                .map_or(0, |m| m.id),
        };
        self.send(StreamItem::Ready).await?;
        // A reply may be under way already (a page reload while the bot writes).
        self.reply_in_progress().await?;
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let client = self.tx.clone();
        loop {
            if let Some(contact) = self.contact {
                loop {
                    let batch = self
                        .chat
                        .messages_after(&self.session, contact, last, 100)
                        .await?;
                    let full = batch.len() == 100;
                    for m in batch {
                        last = m.id;
                        self.send(StreamItem::Message(m)).await?;
                    }
                    if !full {
                        break;
                    }
                }
            }
            // Wait for a reason to read the store again.
            loop {
                tokio::select! {
                    _ = closed.cancelled() => return Ok(()),
                    _ = client.closed() => return Ok(()),
                    _ = tick.tick() => {
                        if self.contact.is_none() {
                            self.learn_contact().await?;
                        }
                        break;
                    }
                    update = updates.recv() => match update {
                        Ok(u) => {
                            if self.take(u).await? {
                                break;
                            }
                        }
                        // Fell behind: whatever was missed is in the store.
                        Err(broadcast::error::RecvError::Lagged(_)) => break,
                        Err(broadcast::error::RecvError::Closed) => return Ok(()),
                    },
                }
            }
        }
    }

    /// Handles one piece of news; true when the store should be read again.
    async fn take(&mut self, u: Arc<LiveUpdate>) -> Result<bool, Stop> {
        if u.workspace != self.ws.0 {
            return Ok(false);
        }
        let by_identity = u.external_id.as_deref() == Some(self.session.external_id.as_str());
        if self.contact.is_none() && !by_identity {
            if !matches!(u.event, LiveEvent::Changed) {
                self.early.push_back(u);
                if self.early.len() > EARLY_NEWS {
                    self.early.pop_front();
                }
            }
            return Ok(false);
        }
        if self.contact.is_none() {
            self.learn_contact().await?;
        }
        let by_contact = self.contact.is_some_and(|c| c.0 == u.contact);
        if !(by_contact || by_identity) {
            return Ok(false);
        }
        match &u.event {
            LiveEvent::Changed => Ok(true),
            other if by_contact => {
                if let Some(item) = item_of(other) {
                    self.send(item).await?;
                }
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    /// Reads the contact from the store — never from the news — and catches up on the reply
    /// being written, if any.
    async fn learn_contact(&mut self) -> Result<(), Stop> {
        self.contact = self.chat.contact(&self.session).await?;
        let Some(contact) = self.contact else {
            return Ok(());
        };
        let early: Vec<_> = self
            .early
            .drain(..)
            .filter(|u| u.contact == contact.0)
            .collect();
        if early.is_empty() {
            return self.reply_in_progress().await;
        }
        for u in early {
            if let Some(item) = item_of(&u.event) {
                self.send(item).await?;
            }
        }
        Ok(())
    }

    async fn reply_in_progress(&self) -> Result<(), Stop> {
        let Some(p) = self.contact.and_then(|c| self.live.in_progress(self.ws, c)) else {
            return Ok(());
        };
        self.send(StreamItem::Typing {
            reply_to: p.reply_to,
            typing: true,
        })
        .await?;
        if !p.draft.is_empty() {
            self.send(StreamItem::Delta {
                reply_to: p.reply_to,
                text: p.draft,
                replace: true,
            })
            .await?;
        }
        Ok(())
    }
}

fn item_of(event: &LiveEvent) -> Option<StreamItem> {
    match event {
        LiveEvent::Changed => None,
        LiveEvent::Typing { reply_to, typing } => Some(StreamItem::Typing {
            reply_to: *reply_to,
            typing: *typing,
        }),
        LiveEvent::Delta { reply_to, text } => Some(StreamItem::Delta {
            reply_to: *reply_to,
            text: text.clone(),
            replace: false,
        }),
    }
}

/// What a visitor's event stream carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem {
    /// Connected; everything after is live.
    Ready,
    Message(VisitorMessage),
    Typing {
        reply_to: i64,
        typing: bool,
    },
    /// Answer text as the model writes it; `replace` when it is the whole draft so far (a stream
    /// that joined in the middle).
    Delta {
        reply_to: i64,
        text: String,
        replace: bool,
    },
}

/// Which pages may call the widget API.
struct OriginPolicy {
    /// Normalised origins (see [`WidgetConfig::origins`]); `*` allows any page.
    origins: Vec<String>,
}

impl OriginPolicy {
    /// With no configured origins only Rapport's own pages may (the origin's host is the
    /// request's `Host`); a list replaces that default.
    fn allows(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        if self.origins.iter().any(|o| o == "*" || *o == origin) {
            return true;
        }
        let own = origin
            .split_once("://")
            .map(|(_, h)| h)
            .zip(host)
            .is_some_and(|(h, host)| h.eq_ignore_ascii_case(host.trim()));
        self.origins.is_empty() && own
    }
}

/// Publishes reply jobs on web-chat messages to the live hub.
struct LiveReplies(Live);

impl ReplyObserver for LiveReplies {
    fn progress(&self, reply: &ReplyTo, progress: ReplyProgress<'_>) {
        if reply.channel != Channel::Web {
            return;
        }
        let (ws, contact, id) = (reply.workspace, reply.contact, reply.message.0);
        match progress {
            ReplyProgress::Started => self.0.reply_started(ws, contact, id),
            ReplyProgress::Delta(text) => self.0.reply_delta(ws, contact, id, text),
            ReplyProgress::Finished(_) => self.0.reply_finished(ws, contact, id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn widget(origins: &[&str]) -> OriginPolicy {
        let config = WidgetConfig {
            allowed_origins: origins.iter().map(|o| o.to_string()).collect(),
            ..WidgetConfig::default()
        };
        OriginPolicy {
            origins: config.origins().unwrap(),
        }
    }

    #[test]
    fn only_listed_origins_are_allowed_and_none_listed_means_rapports_own_pages() {
        let w = widget(&["https://shop.example", "http://127.0.0.1:3000"]);
        assert!(w.allows("https://shop.example", None));
        assert!(w.allows("https://SHOP.example/", None));
        assert!(w.allows("http://127.0.0.1:3000", None));
        assert!(!w.allows("http://127.0.0.1:3001", None));
        assert!(!w.allows("https://shop.example.evil.test", None));
        assert!(!w.allows("http://shop.example", None), "scheme matters");
        assert!(
            !w.allows("http://rapport.local:8080", Some("rapport.local:8080")),
            "a list replaces the own-origin default"
        );

        let own = widget(&[]);
        assert!(own.allows("http://rapport.local:8080", Some("rapport.local:8080")));
        assert!(!own.allows("https://elsewhere.example", Some("rapport.local:8080")));
        assert!(!own.allows("null", Some("rapport.local:8080")));

        assert!(widget(&["*"]).allows("https://anyone.example", None));
    }

    #[test]
    fn colours_are_checked() {
        assert_eq!(colour("#2563EB").as_deref(), Some("#2563EB"));
        assert_eq!(colour("#abc").as_deref(), Some("#abc"));
        assert_eq!(colour("red"), None);
        assert_eq!(colour("#12345g"), None);
        assert_eq!(colour("#123;}body{"), None);
    }
}
