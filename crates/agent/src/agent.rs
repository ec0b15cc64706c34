//! The reply pipeline (DESIGN.md "Reply" and "Escalation"): an inbound message is stored and
//! queued; a worker answers it from the business's knowledge and the customer's cross-channel
//! history, or hands it to a human with the whole journey. Every bot message keeps its trace.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use rapport_core::domain::{Author, Channel, ConversationStatus, Direction, Resolution};
use rapport_core::ids::{ContactId, ConversationId, EscalationId, MessageId, WorkspaceId};
use rapport_knowledge::{KnowledgeBase, Retrieved, SearchOptions};
use rapport_store::Store;
use rapport_store::escalations::NewEscalation;
use rapport_store::jobs::NewJob;
use rapport_store::messages::{Inserted, NewMessage, NewReply};
use serde::Serialize;
use serde_json::{Value, json};

use crate::context::CustomerContext;
use crate::disclosure;
use crate::guards::{self, HandoffTopic, Intent, Trigger};
use crate::identity::{IdentityClaim, IdentityResolver};
use crate::language;
use crate::model::{
    AnswerRequest, ChatModel, ConversationBrief, DeltaSink, Generated, ModelAnswer, Persona,
};
use crate::settings::{BusinessHours, WorkspaceSettings};
use crate::{Error, Result, facts};

/// Job kinds the agent registers with the runner.
pub const REPLY_JOB: &str = "agent.reply";
pub const MEMORY_JOB: &str = "agent.memory";

/// Version of the trace's JSON shape.
const TRACE_VERSION: u32 = 1;

#[derive(Debug, Clone)]
pub struct AgentSettings {
    pub persona: Persona,
    /// Cosine similarity between the question and the best cited chunk (or its document's
    /// title) below which the bot says it does not know rather than answer.
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
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            persona: Persona::default(),
            support_threshold: 0.52,
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
    store: Store,
    knowledge: KnowledgeBase,
    model: Arc<dyn ChatModel>,
    resolver: IdentityResolver,
    settings: Arc<AgentSettings>,
    /// Words of a message as retrieval sees them, for the repeated-question guard.
    terms: Arc<rapport_knowledge::sparse::SparseEncoder>,
}

fn ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

/// Share of the shorter message's words found in the other: "same question again".
fn overlap(a: &HashSet<String>, b: &HashSet<String>) -> f32 {
    let smaller = a.len().min(b.len());
    if smaller == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f32 / smaller as f32
}

fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Whatsapp => "WhatsApp",
        Channel::Instagram => "Instagram",
        Channel::Web => "this chat",
        Channel::Email => "email",
        Channel::Api => "this channel",
    }
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
            store,
            knowledge,
            model,
            settings: Arc::new(settings),
            terms: Arc::default(),
        }
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
            .enqueue_job(
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

    /// Answers the customer message `message_id` of a conversation, or hands it to a human.
    pub async fn reply(
        &self,
        ws: WorkspaceId,
        conversation_id: ConversationId,
        message_id: MessageId,
        options: ReplyOptions<'_>,
    ) -> Result<ReplyOutcome> {
        let started = Instant::now();
        let settings = self.settings_for(ws).await?;
        let conversation = self.store.conversation(ws, conversation_id).await?;
        let messages = self
            .store
            .conversation_messages(ws, conversation_id)
            .await?;
        let skipped = |reason: &str| ReplyOutcome {
            decision: Decision::Skipped,
            reason: Some(reason.to_owned()),
            reply: None,
            message_id: None,
            escalation_id: None,
            trace: Value::Null,
        };
        let Some(message) = messages.iter().find(|m| m.id == message_id.0) else {
            return Err(rapport_store::Error::NotFound {
                what: "message",
                id: message_id.0,
            }
            .into());
        };
        if messages
            .iter()
            .any(|m| m.id > message.id && (m.author == "customer" || m.direction == "outbound"))
        {
            return Ok(skipped(
                "a newer message is answered instead, or this one already was",
            ));
        }
        let channel: Channel = message
            .channel
            .parse()
            .map_err(rapport_store::Error::from)?;
        let root = self
            .store
            .root_contact(ws, ContactId(message.contact_id))
            .await?;

        let t = Instant::now();
        let customer = CustomerContext::assemble(
            &self.store,
            ws,
            root,
            Some(message_id),
            settings.context_tokens,
        )
        .await?;
        let context_ms = ms(t);
        if matches!(
            conversation.status()?,
            ConversationStatus::WaitingHuman | ConversationStatus::Human
        ) {
            // Agents are notified by the inbox; the customer hears from them, not the bot.
            return Ok(ReplyOutcome {
                decision: Decision::Silent,
                reason: Some("a human owns the conversation".into()),
                trace: json!({
                    "version": TRACE_VERSION,
                    "decision": Decision::Silent,
                    "reason": "a human owns the conversation",
                    "context": {
                        "contact_id": root.0,
                        "channels": customer.customer.channels,
                        "turns": customer.history.len(),
                        "text": customer.as_text(),
                    },
                }),
                ..skipped("")
            });
        }
        let lang = language::of_customer(
            &message.text,
            customer.customer_turns().map(|t| t.text.as_str()),
        );

        // Guards that stand whatever the model says, counted from the last hand-back.
        let bot_since = conversation.bot_since;
        let recent: Vec<_> = messages
            .iter()
            .filter(|m| m.id < message.id && bot_since.is_none_or(|s| m.created_at >= s))
            .collect();
        let unhelpful = recent
            .iter()
            .filter(|m| {
                m.author == "bot"
                    && m.metadata
                        .pointer("/trace/decision")
                        .and_then(Value::as_str)
                        == Some("unknown")
            })
            .count() as u32;
        let mut trigger = guards::check(&message.text, &settings.handoff_topics);
        if trigger.is_none() {
            trigger = self.repeated_question(&message.text, &recent);
        }
        let intent = guards::intent(&message.text);
        let small_talk = trigger.is_none() && matches!(intent, Intent::Greeting | Intent::Thanks);

        let t = Instant::now();
        let rewrite = if small_talk {
            Generated {
                value: message.text.trim().to_owned(),
                model: self.model.name().to_owned(),
                prompt: None,
                prompt_tokens: None,
                completion_tokens: None,
            }
        } else {
            self.model.rewrite_query(&message.text, &customer).await?
        };
        let rewrite_ms = ms(t);
        let query = rewrite.value.clone();

        let t = Instant::now();
        let retrieved = if query.trim().is_empty() || small_talk {
            Vec::new()
        } else {
            self.retrieve(ws, &message.text, &query).await?
        };
        let retrieve_ms = ms(t);

        let t = Instant::now();
        let request = AnswerRequest {
            question: &message.text,
            query: &query,
            channel,
            language: lang,
            customer: &customer,
            chunks: &retrieved,
            persona: &settings.persona,
            handoff_topics: &self
                .settings
                .handoff_topics
                .iter()
                .map(|t| t.name.clone())
                .collect::<Vec<_>>(),
        };
        // A message that goes to a human anyway is not streamed to the customer.
        let sink = if trigger.is_none() {
            options.on_delta
        } else {
            None
        };
        let answer = if small_talk {
            Generated {
                value: ModelAnswer::default(),
                model: self.model.name().to_owned(),
                prompt: None,
                prompt_tokens: None,
                completion_tokens: None,
            }
        } else {
            self.model.answer(&request, sink).await?
        };
        let generate_ms = ms(t);

        // Grounding: only retrieved chunks can be cited, and the best of them must match.
        let retrieved_ids: HashSet<i64> = retrieved.iter().map(|r| r.chunk.id).collect();
        let citations: Vec<i64> = answer
            .value
            .citations
            .iter()
            .copied()
            .filter(|c| retrieved_ids.contains(c))
            .fold(Vec::new(), |mut v, c| {
                if !v.contains(&c) {
                    v.push(c);
                }
                v
            });
        // The answer is supported when a cited document matches the question: one of its
        // retrieved chunks, or its title (a help-center title is often the question itself).
        let cited_documents: HashSet<i64> = retrieved
            .iter()
            .filter(|r| citations.contains(&r.chunk.id))
            .map(|r| r.chunk.document_id)
            .collect();
        let support = retrieved
            .iter()
            .filter(|r| cited_documents.contains(&r.chunk.document_id))
            .map(|r| r.similarity.max(r.title_similarity))
            .fold(0.0_f32, f32::max);
        let supported = !answer.value.answer.trim().is_empty()
            && !citations.is_empty()
            && support >= settings.support_threshold;

        let phrases = language::phrases(lang);
        let channel_label = channel_name(channel);
        let (decision, reason, text) = match (&trigger, answer.value.handoff, supported) {
            (None, _, _) if small_talk => (
                Decision::Acknowledged,
                "small talk".to_owned(),
                if intent == Intent::Greeting {
                    phrases.small_talk.to_owned()
                } else {
                    phrases.welcome.to_owned()
                },
            ),
            (Some(Trigger::HumanRequested), _, _) => (
                Decision::Escalated,
                Trigger::HumanRequested.reason(),
                phrases.human_requested.replace("{channel}", channel_label),
            ),
            (Some(trigger), _, _) => (
                Decision::Escalated,
                trigger.reason(),
                phrases.handoff.replace("{channel}", channel_label),
            ),
            (None, true, _) if !answer.value.reason.contains("no supporting") => (
                Decision::Escalated,
                if answer.value.reason.is_empty() {
                    "the model asked for a human".to_owned()
                } else {
                    answer.value.reason.clone()
                },
                phrases.handoff.replace("{channel}", channel_label),
            ),
            (None, _, true) => (
                Decision::Answered,
                String::new(),
                answer.value.answer.clone(),
            ),
            (None, _, false) if intent == Intent::Statement => (
                Decision::Acknowledged,
                "nothing was asked".to_owned(),
                phrases.noted.to_owned(),
            ),
            (None, _, false) => {
                let escalate = settings.escalate_when_unsure
                    || unhelpful + 1 >= settings.max_unhelpful_replies;
                let reason = if settings.escalate_when_unsure || unhelpful == 0 {
                    "no supporting knowledge".to_owned()
                } else {
                    format!("no supporting knowledge, {} times in a row", unhelpful + 1)
                };
                (
                    if escalate {
                        Decision::Escalated
                    } else {
                        Decision::Unknown
                    },
                    reason,
                    phrases.unknown.replace("{channel}", channel_label),
                )
            }
        };

        // The last check: nothing of another customer's goes out in an answer.
        let disclosure = if decision == Decision::Answered {
            disclosure::check(
                &self.store,
                ws,
                root,
                &customer,
                &message.text,
                &text,
                &knowledge_words(&retrieved),
            )
            .await?
        } else {
            None
        };
        let (decision, reason, text) = match &disclosure {
            Some(d) => (
                Decision::Escalated,
                d.reason(),
                phrases.handoff.replace("{channel}", channel_label),
            ),
            None => (decision, reason, text),
        };
        // What was withheld is not kept either: not in the trace, not as the agent's draft.
        let model_text = match &disclosure {
            Some(d) => format!("[withheld: {}]", d.reason()),
            None => answer.value.answer.clone(),
        };

        // Outside business hours a hand-off says when people are back.
        let after_hours = decision == Decision::Escalated
            && settings
                .business_hours
                .as_ref()
                .is_some_and(|h| !h.is_open(Utc::now()));
        let text = match settings.business_hours.as_ref() {
            Some(h) if after_hours && !h.away_message.trim().is_empty() => {
                format!("{text}\n\n{}", h.away_message.trim())
            }
            _ => text,
        };

        let mut prompts = Vec::new();
        for p in [&rewrite.prompt, &answer.prompt].into_iter().flatten() {
            prompts.push(json!({ "name": p.name, "version": p.version }));
        }
        let mut trace = json!({
            "version": TRACE_VERSION,
            "decision": decision,
            "reason": (!reason.is_empty()).then_some(&reason),
            "language": lang.code,
            "query": { "original": message.text, "rewritten": query },
            "retrieved": retrieved.iter().map(trace_chunk).collect::<Vec<_>>(),
            "citations": citations,
            "support": support,
            "support_threshold": settings.support_threshold,
            "after_hours": after_hours,
            "model": answer.model,
            "prompts": prompts,
            "tokens": {
                "prompt": answer.prompt_tokens.unwrap_or(0) + rewrite.prompt_tokens.unwrap_or(0),
                "completion": answer.completion_tokens.unwrap_or(0) + rewrite.completion_tokens.unwrap_or(0),
            },
            "privacy": { "withheld": disclosure.as_ref().map(|d| d.kind) },
            "model_answer": {
                "answer": model_text,
                "confidence": answer.value.confidence,
                "handoff": answer.value.handoff,
                "reason": answer.value.reason,
            },
            "context": {
                "contact_id": root.0,
                "channels": customer.customer.channels,
                "turns": customer.history.len(),
                "facts": customer.customer.facts,
                "text": customer.as_text(),
            },
            "timings_ms": {
                "context": context_ms,
                "rewrite": rewrite_ms,
                "retrieve": retrieve_ms,
                "generate": generate_ms,
            },
        });

        let mut escalation_id = None;
        if decision == Decision::Escalated {
            let t = Instant::now();
            // The journey includes the message that is being handed over.
            let journey =
                CustomerContext::assemble(&self.store, ws, root, None, settings.context_tokens * 2)
                    .await?;
            let summary = self
                .model
                .summarize_journey(&reason, &journey, &settings.persona)
                .await?;
            trace["timings_ms"]["summary"] = json!(ms(t));
            if let Some(p) = &summary.prompt
                && let Some(list) = trace["prompts"].as_array_mut()
            {
                list.push(json!({ "name": p.name, "version": p.version }));
            }
            let draft = (disclosure.is_none() && !answer.value.answer.trim().is_empty())
                .then(|| answer.value.answer.clone());
            escalation_id = Some(
                self.store
                    .escalate(
                        ws,
                        &NewEscalation {
                            conversation_id,
                            reason: reason.clone(),
                            summary: summary.value,
                            context: json!({
                                "sources": retrieved.iter().map(trace_chunk).collect::<Vec<_>>(),
                                "message_id": message_id.0,
                                "trace": trace.clone(),
                            }),
                            draft,
                        },
                    )
                    .await?,
            );
        }
        trace["timings_ms"]["total"] = json!(ms(started));
        let reply_id = self
            .store
            .add_reply(
                ws,
                &NewReply {
                    conversation_id,
                    contact_id: ContactId(message.contact_id),
                    author: Author::Bot,
                    channel,
                    text: text.clone(),
                    citations: if decision == Decision::Answered {
                        json!(citations)
                    } else {
                        json!([])
                    },
                    metadata: json!({ "trace": trace }),
                    deliver: options.deliver,
                },
            )
            .await?;
        tracing::info!(workspace = %ws, conversation = %conversation_id, decision = ?decision, reason = %reason, "replied");
        Ok(ReplyOutcome {
            decision,
            reason: (!reason.is_empty()).then_some(reason),
            reply: Some(text),
            message_id: Some(reply_id),
            escalation_id,
            trace,
        })
    }

    /// Knowledge for a message and its rewritten query. When the rewrite borrowed words from an
    /// earlier turn, the message alone is searched too and each chunk keeps its better
    /// similarity: "and can I import tasks into it?" is about importing, even though the
    /// earlier turn was about exporting.
    async fn retrieve(
        &self,
        ws: WorkspaceId,
        original: &str,
        query: &str,
    ) -> Result<Vec<Retrieved>> {
        let options = SearchOptions {
            limit: self.settings.retrieval_limit,
            ..SearchOptions::default()
        };
        let rewritten = self.knowledge.search(ws, query, &options).await?;
        if original.trim() == query.trim() {
            return Ok(rewritten);
        }
        let alone = self.knowledge.search(ws, original, &options).await?;
        let mut merged: Vec<Retrieved> = Vec::new();
        for r in rewritten.into_iter().chain(alone) {
            match merged.iter_mut().find(|m| m.chunk.id == r.chunk.id) {
                Some(m) => {
                    m.similarity = m.similarity.max(r.similarity);
                    m.title_similarity = m.title_similarity.max(r.title_similarity);
                    m.token_match = m.token_match.max(r.token_match);
                }
                None => merged.push(r),
            }
        }
        merged.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        merged.truncate(self.settings.retrieval_limit);
        Ok(merged)
    }

    /// The customer asks again what the bot just answered: the answer did not help.
    fn repeated_question(
        &self,
        text: &str,
        recent: &[&rapport_store::messages::TimelineMessage],
    ) -> Option<Trigger> {
        let now: HashSet<String> = self.terms.tokens(text).into_iter().collect();
        if now.len() < 3 {
            return None;
        }
        let mut saw_bot_answer = false;
        for m in recent.iter().rev() {
            if m.author == "bot" {
                saw_bot_answer = true;
                continue;
            }
            if m.author == "customer" && saw_bot_answer {
                let before: HashSet<String> = self.terms.tokens(&m.text).into_iter().collect();
                if overlap(&now, &before) >= 0.8 {
                    return Some(Trigger::Topic("the same question again".into()));
                }
                return None;
            }
        }
        None
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

/// Lower-cased words of the retrieved knowledge's titles and headings: the knowledge's own
/// vocabulary, never a person's name.
fn knowledge_words(retrieved: &[Retrieved]) -> HashSet<String> {
    retrieved
        .iter()
        .flat_map(|r| [r.chunk.title.as_str(), r.chunk.heading_path.as_str()])
        .flat_map(|t| t.split(|c: char| !c.is_alphanumeric()))
        .filter(|w| w.len() > 2)
        .map(str::to_lowercase)
        .collect()
}

fn trace_chunk(r: &Retrieved) -> Value {
    json!({
        "chunk_id": r.chunk.id,
        "document_id": r.chunk.document_id,
        "source_id": r.chunk.source_id,
        "source_kind": r.chunk.source_kind,
        "external_ref": r.chunk.external_ref,
        "title": r.chunk.title,
        "url": r.chunk.url,
        "page": r.chunk.page,
        "score": r.score,
        "similarity": r.similarity,
        "title_similarity": r.title_similarity,
        "token_match": r.token_match,
        "text": crate::model::truncate_for_trace(&r.chunk.text),
    })
}
