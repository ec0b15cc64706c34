//! The outbox sender (DESIGN.md "Outbound"): takes due outbox rows, hands each to its channel's
//! [`ChannelSender`] and records what happened, on the row and on the message agents see.
//!
//! Delivery is at least once: a sender that dies between the provider's answer and the write
//! of the outcome leaves a lease that expires, and the message is sent again with the same
//! idempotency key. Transient failures are retried with exponential backoff and jitter (or the
//! provider's `Retry-After`), up to a number of attempts; permanent ones fail at once, with the
//! provider's reason on the message. Each channel has its own pace, so a burst on one provider's
//! rate limit does not hold back another channel.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rapport_core::domain::Channel;
use rapport_store::Store;
use rapport_store::outbox::ClaimedDelivery;
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::outbound::{ChannelSender, Delivery, SendError};

#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// Deliveries in flight at once in this process; 0 sends nothing (an API-only node).
    pub concurrency: usize,
    /// How long a claim is valid: longer than the slowest provider call.
    pub lease: Duration,
    /// Tries before a message is marked `failed`…
    pub max_attempts: i32,
    /// …or how long after it was written, whichever comes first. Long enough to outlast a
    /// provider's outage (minutes to hours); a day is also as long as WhatsApp and Instagram
    /// let a business answer.
    pub give_up_after: Duration,
    /// Delay before the second try; it doubles each time, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// How long an idle sender waits before looking again (it is also woken by new messages
    /// written in this process).
    pub poll_interval: Duration,
    /// Most sends per second, per channel; unlisted channels are not paced.
    pub rate_per_second: HashMap<Channel, f64>,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        OutboxSettings {
            concurrency: 2,
            lease: Duration::from_secs(60),
            max_attempts: 200,
            give_up_after: Duration::from_secs(24 * 3600),
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(600),
            poll_interval: Duration::from_secs(1),
            // Meta's defaults: WhatsApp Cloud API 80 messages/s per number; Instagram far
            // fewer per account. SMTP servers vary; stay polite.
            rate_per_second: HashMap::from([
                (Channel::Whatsapp, 80.0),
                (Channel::Instagram, 10.0),
                (Channel::Email, 10.0),
                (Channel::Api, 50.0),
            ]),
        }
    }
}

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sent {
        message_id: i64,
        provider_message_id: Option<String>,
    },
    Retrying {
        message_id: i64,
        at: DateTime<Utc>,
        reason: String,
    },
    Failed {
        message_id: i64,
        reason: String,
    },
    /// Another sender took the row over (our lease expired); it records the outcome.
    LeaseLost {
        message_id: i64,
    },
}

/// Told of every delivery's outcome (metrics).
type Observer = dyn Fn(Channel, &Outcome) + Send + Sync;

/// Spaces sends on one channel at least `1 / rate` apart.
struct Pace {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pace {
    fn new(rate_per_second: f64) -> Option<Pace> {
        (rate_per_second.is_finite() && rate_per_second > 0.0).then(|| Pace {
            interval: Duration::from_secs_f64(1.0 / rate_per_second),
            next: Mutex::new(Instant::now()),
        })
    }

    async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().await;
            let at = (*next).max(Instant::now());
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

/// Delivers the outbox through the registered channel senders.
#[derive(Clone)]
pub struct OutboxSender {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// Replaced while running when an admin changes channel credentials.
    senders: std::sync::RwLock<HashMap<Channel, Arc<dyn ChannelSender>>>,
    paces: HashMap<Channel, Pace>,
    settings: OutboxSettings,
    observer: Option<Arc<Observer>>,
}

impl OutboxSender {
    pub fn new(store: Store, settings: OutboxSettings) -> Self {
        let paces = settings
            .rate_per_second
            .iter()
            .filter_map(|(c, r)| Pace::new(*r).map(|p| (*c, p)))
            .collect();
        OutboxSender {
            inner: Arc::new(Inner {
                store,
                senders: std::sync::RwLock::new(HashMap::new()),
                paces,
                settings,
                observer: None,
            }),
        }
    }

    /// Registers the sender of one channel. Call before [`OutboxSender::start`].
    pub fn with_sender(mut self, sender: Arc<dyn ChannelSender>) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("the outbox sender is configured before it is cloned")
            .senders
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(sender.channel(), sender);
        self
    }

    /// Puts `sender` in place of its channel's current one; deliveries already in hand finish
    /// with the old one.
    pub fn replace_sender(&self, sender: Arc<dyn ChannelSender>) {
        self.senders_mut().insert(sender.channel(), sender);
    }

    /// Stops sending on `channel`: its messages wait (and fail as unconfigured when due).
    pub fn remove_sender(&self, channel: Channel) {
        self.senders_mut().remove(&channel);
    }

    fn senders_mut(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, HashMap<Channel, Arc<dyn ChannelSender>>> {
        self.inner
            .senders
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn sender_of(&self, channel: Channel) -> Option<Arc<dyn ChannelSender>> {
        self.inner
            .senders
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&channel)
            .cloned()
    }

    /// Called with every outcome (metrics). Call before [`OutboxSender::start`].
    pub fn observe(mut self, f: impl Fn(Channel, &Outcome) + Send + Sync + 'static) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("the outbox sender is configured before it is cloned")
            .observer = Some(Arc::new(f));
        self
    }

    pub fn channels(&self) -> Vec<Channel> {
        self.inner
            .senders
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .copied()
            .collect()
    }

    /// Starts `concurrency` delivery loops; they stop when `shutdown` is cancelled, after the
    /// delivery in hand.
    pub fn start(self, shutdown: CancellationToken) -> JoinSet<()> {
        let mut set = JoinSet::new();
        for _ in 0..self.inner.settings.concurrency {
            let me = self.clone();
            let shutdown = shutdown.clone();
            set.spawn(async move { me.run(shutdown).await });
        }
        set
    }

    async fn run(&self, shutdown: CancellationToken) {
        let poll = self
            .inner
            .settings
            .poll_interval
            .max(Duration::from_millis(10));
        while !shutdown.is_cancelled() {
            match self.deliver_next().await {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "outbox: could not claim a delivery"),
            }
            tokio::select! {
                _ = self.inner.store.wait_for_outbox(poll) => {}
                _ = shutdown.cancelled() => {}
            }
        }
    }

    /// Claims and delivers one due message. `None` when nothing is due.
    pub async fn deliver_next(&self) -> rapport_store::Result<Option<Outcome>> {
        let Some(claim) = self
            .inner
            .store
            .claim_delivery(self.inner.settings.lease)
            .await?
        else {
            return Ok(None);
        };
        let outcome = self.deliver(&claim).await?;
        if let Some(observe) = &self.inner.observer {
            observe(claim.delivery.channel, &outcome);
        }
        Ok(Some(outcome))
    }

    /// Delivers everything due now (tests and the CLI); returns the outcomes in order.
    pub async fn drain(&self) -> rapport_store::Result<Vec<Outcome>> {
        let mut out = Vec::new();
        while let Some(o) = self.deliver_next().await? {
            out.push(o);
        }
        Ok(out)
    }

    async fn deliver(&self, claim: &ClaimedDelivery) -> rapport_store::Result<Outcome> {
        let d = &claim.delivery;
        let store = &self.inner.store;
        let message_id = d.message_id;
        let result = match self.sender_of(d.channel) {
            None => Err(SendError::permanent(format!(
                "the {} channel is not configured for sending",
                d.channel
            ))),
            Some(_) if d.recipient.is_none() => Err(SendError::permanent(format!(
                "the customer has no {} identity to send to",
                d.channel
            ))),
            Some(sender) => {
                if let Some(pace) = self.inner.paces.get(&d.channel) {
                    pace.wait().await;
                }
                sender.send(d).await
            }
        };
        let outcome = match result {
            Ok(sent) => {
                let written = store
                    .delivery_sent(
                        claim,
                        sent.provider_message_id.as_deref(),
                        sent.status,
                        sent.note.as_deref(),
                    )
                    .await?;
                if written {
                    tracing::debug!(message = message_id, channel = %d.channel, "delivered");
                    Outcome::Sent {
                        message_id,
                        provider_message_id: sent.provider_message_id,
                    }
                } else {
                    Outcome::LeaseLost { message_id }
                }
            }
            Err(SendError::Transient {
                reason,
                retry_after,
            }) if self.may_retry(d) => {
                let delay = retry_after
                    .map(|r| r.min(self.inner.settings.max_delay))
                    .unwrap_or_else(|| self.backoff(d.attempt));
                let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                tracing::warn!(message = message_id, channel = %d.channel, attempt = d.attempt, %reason, "delivery failed; will retry");
                if store.delivery_retry(claim, &reason, at).await? {
                    Outcome::Retrying {
                        message_id,
                        at,
                        reason,
                    }
                } else {
                    Outcome::LeaseLost { message_id }
                }
            }
            Err(e) => {
                let reason = match &e {
                    SendError::Transient { reason, .. } => {
                        let age = (Utc::now() - d.created_at).num_minutes();
                        format!(
                            "{reason} (gave up after {} attempts in {age} minutes)",
                            d.attempt
                        )
                    }
                    SendError::Permanent { reason } => reason.clone(),
                };
                tracing::warn!(message = message_id, channel = %d.channel, %reason, "delivery failed");
                if store.delivery_failed(claim, &reason).await? {
                    Outcome::Failed { message_id, reason }
                } else {
                    Outcome::LeaseLost { message_id }
                }
            }
        };
        Ok(outcome)
    }

    fn may_retry(&self, d: &Delivery) -> bool {
        let s = &self.inner.settings;
        let age = (Utc::now() - d.created_at).to_std().unwrap_or_default();
        d.attempt < s.max_attempts && age < s.give_up_after
    }

    /// Exponential backoff with jitter: between half and all of `base · 2^(attempt-1)`, capped,
    /// so senders that failed together do not retry together.
    fn backoff(&self, attempt: i32) -> Duration {
        let s = &self.inner.settings;
        let exp = s
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.clamp(1, 31) as u32 - 1))
            .min(s.max_delay);
        exp.mul_f64(0.5 + rand::random::<f64>() * 0.5)
    }
}
