//! The reply pipeline (DESIGN.md "Reply" and "Escalation"): an inbound message is stored and
//! queued; a worker answers it from the business's knowledge and the customer's cross-channel
//! history, or hands it to a human with the whole journey. Every bot message keeps its trace.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rapport_core::domain::{Author, ConversationStatus, Direction, Resolution};
use rapport_core::ids::{ContactId, ConversationId, EscalationId, MessageId, WorkspaceId};
use rapport_core::ports::{Sealer, Unsealed};
use rapport_knowledge::KnowledgeBase;
use rapport_store::Store;
use rapport_store::jobs::NewJob;
use rapport_store::messages::{Inserted, NewMessage};
use serde::Serialize;
use serde_json::{Value, json};

use crate::actions::call::ActionHttp;
use crate::context::CustomerContext;
use crate::guards::{self, HandoffTopic};
use crate::identity::{IdentityClaim, IdentityResolver};
use crate::intents::{IntentBank, IntentClassifier};
use crate::model::{ChatModel, ConversationBrief, DeltaSink, Persona};
use crate::settings::{BusinessHours, WorkspaceSettings};
use crate::{Error, Result, facts};

/// Job kinds the agent registers with the runner.
pub const REPLY_JOB: &str = "agent.reply";
pub const MEMORY_JOB: &str = "agent.memory";

#[derive(Debug, Clone)]
pub struct AgentSettings {
    pub persona: Persona,
    /// Answer strictness (0–1): moves the answerability model's threshold
    /// ([`crate::answerability`]); [`crate::answerability::DEFAULT_STRICTNESS`] is the fitted
    /// balance. Also the similarity a hand-over's topic must reach to be named.
    pub support_threshold: f32,
    /// Hand an unanswerable question to a human at once (true) or only after
    /// `max_unhelpful_replies` "I don't know"s (false).
    pub escalate_when_unsure: bool,
    pub max_unhelpful_replies: u32,
    pub handoff_topics: Vec<HandoffTopic>,
    /// Token budget of the customer history put in the context.
    pub context_tokens: usize,
    pub retrieval_limit: usize,
    /// A customer message after this much silence opens a new conversation.
    pub conversation_idle: chrono::Duration,
    /// Memory is updated once a conversation has been quiet this long (and on resolution).
    pub memory_quiet: chrono::Duration,
    /// Region for reading phone numbers written without a country code (ISO 3166 alpha-2).
    pub default_region: String,
    /// Where rating links point (`{base}/csat/{token}`); `None` asks for no ratings.
    pub csat_link_base: Option<String>,
    /// When people answer; `None`: hand-offs never mention hours.
    pub business_hours: Option<BusinessHours>,
    /// While a person has the conversation, a customer who writes hears that their message is
    /// with the team (once per quiet stretch) instead of silence.
    pub holding_replies: bool,
    /// No holding reply when a person wrote to the customer this recently: they are on it.
    pub agent_active: chrono::Duration,
    /// At most one holding reply per channel in this long.
    pub holding_quiet: chrono::Duration,
    /// How long a right one-time code proves the customer to actions.
    pub verified_for: chrono::Duration,
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            persona: Persona::default(),
            support_threshold: crate::answerability::DEFAULT_STRICTNESS,
            escalate_when_unsure: true,
            max_unhelpful_replies: 2,
            handoff_topics: guards::default_topics(),
            context_tokens: 1_500,
            retrieval_limit: 6,
            conversation_idle: chrono::Duration::hours(24),
            memory_quiet: chrono::Duration::minutes(15),
            default_region: "US".into(),
            csat_link_base: None,
            business_hours: None,
            holding_replies: true,
            agent_active: chrono::Duration::minutes(5),
            holding_quiet: chrono::Duration::minutes(30),
            verified_for: chrono::Duration::hours(24),
        }
    }
}

/// A customer message as a channel adapter hands it over.
#[derive(Debug, Clone, Default)]
pub struct Inbound {
    pub claim: IdentityClaim,
    /// The channel's own message id: a repeat is stored once and answered once.
    pub provider_message_id: Option<String>,
    /// `text`, `image`, `location`… (the channel's type, kept for agents).
    pub kind: String,
    pub text: String,
    pub attachments: Value,
    pub sent_at: Option<DateTime<Utc>>,
    /// Provider ids of the earlier messages this one answers, the most direct first (e-mail
    /// `In-Reply-To`, then `References` newest first). The message joins their conversation
    /// when it is this customer's and not resolved, rather than the newest open one; only a
    /// conversation a person owns comes first.
    pub thread_refs: Vec<String>,
    /// The subject the channel gives the conversation (e-mail), kept on a conversation that
    /// has none so replies can say `Re: <subject>`.
    pub subject: Option<String>,
    /// A test (playground, batch test): a new conversation is marked so analytics and Q&A
    /// mining leave it out.
    pub test: bool,
}

impl Inbound {
    /// The message as it can be stored on every backend: PostgreSQL refuses the NUL character
    /// in text and JSON, and a provider resends a refused message for days. Each NUL becomes
    /// U+FFFD (the replacement character), so the message is kept and shows that something was
    /// there; nothing else is changed.
    fn storable(&self) -> Inbound {
        let clean = without_nul;
        let clean_opt = |s: &Option<String>| s.as_deref().map(without_nul);
        Inbound {
            claim: IdentityClaim {
                channel: self.claim.channel,
                external_id: clean(&self.claim.external_id),
                name: clean_opt(&self.claim.name),
                verified_phone: clean_opt(&self.claim.verified_phone),
                verified_email: clean_opt(&self.claim.verified_email),
                phone_hint: clean_opt(&self.claim.phone_hint),
                email_hint: clean_opt(&self.claim.email_hint),
            },
            provider_message_id: clean_opt(&self.provider_message_id),
            kind: clean(&self.kind),
            text: clean(&self.text),
            attachments: json_without_nul(&self.attachments),
            sent_at: self.sent_at,
            thread_refs: self.thread_refs.iter().map(|r| clean(r)).collect(),
            subject: clean_opt(&self.subject),
            test: self.test,
        }
    }
}

fn without_nul(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

fn json_without_nul(value: &Value) -> Value {
    let clean = without_nul;
    match value {
        Value::String(s) => Value::String(clean(s)),
        Value::Array(items) => Value::Array(items.iter().map(json_without_nul).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (clean(k), json_without_nul(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// What `receive` stored.
#[derive(Debug, Clone, Serialize)]
pub struct Received {
    pub contact_id: ContactId,
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub duplicate: bool,
    /// A human owns the conversation: the bot will stay silent.
    pub human_owned: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Answered,
    /// Greetings, thanks, or a statement that asks nothing: acknowledged, nothing to look up.
    Acknowledged,
    /// The bot said it does not know, without handing off (escalation when unsure is off).
    Unknown,
    Escalated,
    /// A human owns the conversation; the bot said nothing.
    Silent,
    /// A human owns the conversation; the bot told the customer it is with the team.
    Held,
    /// Nothing to do: a newer message will be answered, or this one already was.
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplyOutcome {
    pub decision: Decision,
    pub reason: Option<String>,
    /// What the customer is told (absent when silent or skipped).
    pub reply: Option<String>,
    pub message_id: Option<MessageId>,
    pub escalation_id: Option<EscalationId>,
    pub trace: Value,
}

impl ReplyOutcome {
    pub(crate) fn skipped(reason: &str) -> ReplyOutcome {
        ReplyOutcome {
            decision: Decision::Skipped,
            reason: Some(reason.to_owned()),
            reply: None,
            message_id: None,
            escalation_id: None,
            trace: Value::Null,
        }
    }
}

/// How a reply is produced and sent.
#[derive(Default)]
pub struct ReplyOptions<'a> {
    /// Write the reply to the outbox for its channel to deliver. Off for callers that read the
    /// reply themselves (`rapport ask`, the playground).
    pub deliver: bool,
    /// Receives answer text as it is generated.
    pub on_delta: Option<DeltaSink<'a>>,
}

/// The agent: resolves customers, answers them, escalates, remembers.
#[derive(Clone)]
pub struct Agent {
    pub(crate) store: Store,
    pub(crate) knowledge: KnowledgeBase,
    pub(crate) model: Arc<dyn ChatModel>,
    resolver: IdentityResolver,
    pub(crate) settings: Arc<AgentSettings>,
    /// Words of a message as retrieval sees them, for the repeated-question guard.
    pub(crate) terms: Arc<rapport_knowledge::sparse::SparseEncoder>,
    /// What a message wants, read on the local embedder.
    pub(crate) intents: IntentClassifier,
    /// Opens an action's sealed API keys.
    pub(crate) sealer: Arc<dyn Sealer>,
    /// The guarded HTTP clients actions call with (`None` only if TLS could not start).
    pub(crate) action_http: Option<ActionHttp>,
}

impl Agent {
    pub fn new(
        store: Store,
        knowledge: KnowledgeBase,
        model: Arc<dyn ChatModel>,
        settings: AgentSettings,
    ) -> Agent {
        Agent {
            resolver: IdentityResolver::new(store.clone(), settings.default_region.clone()),
            intents: IntentClassifier::new(IntentBank::builtin(), knowledge.embedder_handle()),
            store,
            knowledge,
            model,
            settings: Arc::new(settings),
            terms: Arc::default(),
            sealer: Arc::new(Unsealed),
            action_http: ActionHttp::new()
                .map_err(|e| tracing::error!(error = %e, "actions cannot call out"))
                .ok(),
        }
    }

    /// Seals and opens the secrets of actions (the server's settings key).
    pub fn with_sealer(mut self, sealer: Arc<dyn Sealer>) -> Agent {
        self.sealer = sealer;
        self
    }

    /// Keeps the intent examples' vectors in `dir`, so a restart does not embed them again.
    pub fn with_intent_cache(mut self, dir: impl Into<std::path::PathBuf>) -> Agent {
        self.intents = self.intents.with_cache_dir(dir);
        self
    }

    pub fn intents(&self) -> &IntentClassifier {
        &self.intents
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
    pub fn resolver(&self) -> &IdentityResolver {
        &self.resolver
    }
    pub fn settings(&self) -> &AgentSettings {
        &self.settings
    }

    /// The settings one workspace's replies follow: the configured ones with what its admins
    /// saved on the Settings page laid over them.
    pub async fn settings_for(&self, ws: WorkspaceId) -> Result<Arc<AgentSettings>> {
        let stored = self.store.workspace_settings(ws).await?;
        if stored.updated_at.is_none() {
            return Ok(self.settings.clone());
        }
        match serde_json::from_value::<WorkspaceSettings>(stored.settings) {
            Ok(saved) => Ok(Arc::new(saved.apply(&self.settings))),
            Err(e) => {
                // Saved settings are validated on the way in; an unreadable document (an older
                // shape) must not stop the bot from answering.
                tracing::warn!(workspace = %ws, error = %e, "saved settings ignored: unreadable");
                Ok(self.settings.clone())
            }
        }
    }
    pub fn model_name(&self) -> &str {
        self.model.name()
    }

    /// Applies the model settings an admin saved (model, temperature, length limit).
    pub fn retune_model(&self, tuning: &crate::settings::ModelTuning) {
        self.model.retune(tuning);
    }

    /// Stores an inbound message — contact resolved, conversation found or opened — and, when
    /// `queue_reply`, queues its reply job in the same transaction. A repeated provider id is a
    /// no-op.
    pub async fn receive(
        &self,
        ws: WorkspaceId,
        inbound: &Inbound,
        queue_reply: bool,
    ) -> Result<Received> {
        let inbound = &inbound.storable();
        let channel = inbound
            .claim
            .channel
            .ok_or_else(|| Error::Invalid("the message has no channel".into()))?;
        // A provider retry changes nothing: not even a conversation is opened for it.
        if let Some(id) = inbound.provider_message_id.as_deref()
            && let Some(existing) = self.store.message_by_provider_id(ws, channel, id).await?
        {
            let conversation = self
                .store
                .conversation(ws, ConversationId(existing.conversation_id))
                .await?;
            return Ok(Received {
                contact_id: self
                    .store
                    .root_contact(ws, ContactId(existing.contact_id))
                    .await?,
                conversation_id: ConversationId(existing.conversation_id),
                message_id: MessageId(existing.id),
                duplicate: true,
                human_owned: matches!(
                    conversation.status()?,
                    ConversationStatus::WaitingHuman | ConversationStatus::Human
                ),
            });
        }
        let resolved = self.resolver.resolve(ws, &inbound.claim).await?;
        let cluster = self.store.contact_cluster(ws, resolved.contact).await?;
        let since = Utc::now() - self.settings.conversation_idle;
        let active = self
            .store
            .active_conversation(ws, &cluster, channel, since)
            .await?;
        // "5" after we asked for a rating is the rating: kept on the closed conversation, no
        // reply, no new conversation.
        if active.is_none()
            && let Some((rated, score)) = self
                .rated_conversation(ws, &cluster, channel, &inbound.text)
                .await?
        {
            let message = NewMessage {
                conversation_id: rated,
                contact_id: resolved.identity_contact,
                direction: Direction::Inbound,
                author: Author::Customer,
                channel,
                provider_message_id: inbound.provider_message_id.clone(),
                kind: "csat".into(),
                text: inbound.text.clone(),
                attachments: json!([]),
                sent_at: inbound.sent_at,
            };
            let inserted = self.store.receive_message(ws, &message, None).await?;
            self.store.record_csat(ws, rated, score).await?;
            return Ok(Received {
                contact_id: resolved.contact,
                conversation_id: rated,
                message_id: inserted.id(),
                duplicate: matches!(inserted, Inserted::Duplicate(_)),
                human_owned: false,
            });
        }
        let owned_by_a_human = |c: &rapport_store::messages::Conversation| {
            matches!(
                c.status(),
                Ok(ConversationStatus::WaitingHuman | ConversationStatus::Human)
            )
        };
        // A reply names its thread: the customer's conversation there, unless resolved. A
        // conversation a person owns still comes first, on any channel: the bot must not
        // answer beside them.
        let threaded = if active.as_ref().is_some_and(owned_by_a_human) {
            None
        } else {
            self.store
                .conversations_by_provider_ids(ws, channel, &inbound.thread_refs)
                .await?
                .into_iter()
                .find(|c| {
                    c.status != ConversationStatus::Resolved.as_str()
                        && cluster.contains(&ContactId(c.contact_id))
                })
        };
        let conversation = match threaded.or(active) {
            Some(c) => c,
            None => {
                let id = self
                    .store
                    .open_conversation(ws, resolved.identity_contact, channel, inbound.test)
                    .await?;
                self.store.conversation(ws, id).await?
            }
        };
        let conversation_id = ConversationId(conversation.id);
        if let Some(subject) = inbound.subject.as_deref().filter(|s| !s.trim().is_empty()) {
            self.store
                .set_conversation_subject(ws, conversation_id, subject.trim())
                .await?;
        }
        let human_owned = matches!(
            conversation.status()?,
            ConversationStatus::WaitingHuman | ConversationStatus::Human
        );
        let message = NewMessage {
            conversation_id,
            contact_id: resolved.identity_contact,
            direction: Direction::Inbound,
            author: Author::Customer,
            channel,
            provider_message_id: inbound.provider_message_id.clone(),
            kind: if inbound.kind.is_empty() {
                "text".into()
            } else {
                inbound.kind.clone()
            },
            text: inbound.text.clone(),
            attachments: if inbound.attachments.is_null() {
                json!([])
            } else {
                inbound.attachments.clone()
            },
            sent_at: inbound.sent_at,
        };
        let job = queue_reply.then(|| {
            NewJob::new(
                REPLY_JOB,
                json!({ "workspace_id": ws.0, "conversation_id": conversation_id.0 }),
            )
            .workspace(ws)
        });
        let inserted = self.store.receive_message(ws, &message, job).await?;
        if let Inserted::New(_) = inserted
            && queue_reply
        {
            self.schedule_memory_update(ws, resolved.contact, self.settings.memory_quiet)
                .await?;
        }
        Ok(Received {
            contact_id: resolved.contact,
            conversation_id,
            message_id: inserted.id(),
            duplicate: matches!(inserted, Inserted::Duplicate(_)),
            human_owned,
        })
    }

    /// Queues a memory update of the customer after `delay` (one live job per customer).
    pub async fn schedule_memory_update(
        &self,
        ws: WorkspaceId,
        contact: ContactId,
        delay: chrono::Duration,
    ) -> Result<()> {
        self.store
            .enqueue_or_bring_forward(
                NewJob::new(
                    MEMORY_JOB,
                    json!({ "workspace_id": ws.0, "contact_id": contact.0 }),
                )
                .workspace(ws)
                .run_at(Utc::now() + delay)
                .dedupe_key(format!("memory:{}:{}", ws.0, contact.0)),
            )
            .await?;
        Ok(())
    }

    /// Refreshes the customer's memory: summary and facts from their whole history.
    pub async fn update_memory(&self, ws: WorkspaceId, contact: ContactId) -> Result<()> {
        let root = self.store.root_contact(ws, contact).await?;
        let customer = CustomerContext::assemble(
            &self.store,
            ws,
            root,
            None,
            self.settings.context_tokens * 4,
        )
        .await?;
        let cluster = self.store.contact_cluster(ws, root).await?;
        let mut briefs = Vec::new();
        for c in self
            .store
            .conversations_of(ws, &cluster)
            .await?
            .iter()
            .take(10)
        {
            let messages = self
                .store
                .conversation_messages(ws, ConversationId(c.id))
                .await?;
            let opening = messages
                .iter()
                .find(|m| m.author == "customer" && m.text.split_whitespace().count() >= 3)
                .map(|m| m.text.clone())
                .unwrap_or_default();
            let escalation_reason = self
                .store
                .open_escalation(ws, ConversationId(c.id))
                .await?
                .map(|e| e.reason);
            briefs.push(ConversationBrief {
                channel: c.channel.clone(),
                status: c.status.clone(),
                resolution: c.resolution.clone(),
                started: c.created_at.format("%Y-%m-%d").to_string(),
                opening,
                escalation_reason,
            });
        }
        let titles = self.store.document_titles(ws, 2_000).await?;
        let products = facts::product_names(&titles);
        let update = self
            .model
            .update_memory(&customer, &briefs, &products)
            .await?;
        self.store
            .set_memory_summary(ws, root, &update.value.summary)
            .await?;
        for fact in &update.value.facts {
            // The fact belongs to the contact whose message stated it, so an unmerge takes it
            // along; a fact with no (or a foreign) message goes to the customer's root.
            let owner = fact
                .message_id
                .and_then(|id| customer.history.iter().find(|t| t.id == id))
                .map_or(root, |t| ContactId(t.contact_id));
            self.store
                .remember_fact(
                    ws,
                    owner,
                    fact.key.trim(),
                    fact.value.trim(),
                    fact.message_id
                        .filter(|id| customer.history.iter().any(|t| t.id == *id))
                        .map(MessageId),
                )
                .await?;
        }
        Ok(())
    }

    /// Closes a conversation; its customer's memory is updated right away.
    pub async fn resolve(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        resolution: Resolution,
    ) -> Result<()> {
        let c = self.store.conversation(ws, conversation).await?;
        self.store
            .resolve_conversation(ws, conversation, resolution)
            .await?;
        self.store.resolve_escalations(ws, conversation).await?;
        if c.resolved_at.is_none() {
            self.request_rating(ws, &c).await?;
        }
        self.schedule_memory_update(ws, ContactId(c.contact_id), chrono::Duration::zero())
            .await
    }
}
