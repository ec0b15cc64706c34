//! The reply pipeline, stage by stage (DESIGN.md "Reply"): a customer message is
//! **understood** (language, intent, hand-over triggers), knowledge is **retrieved** for it, the
//! model **drafts** an answer, the agent **decides** (answer, acknowledge, say it does not know,
//! or hand over), a last **check** keeps another customer's data out, and the agent
//! **responds** (reply, escalation, trace). While a person has the conversation the bot only
//! **holds** it. Each stage is a function with typed input and output, and each output
//! records itself in the trace, so a new stage (an action, say) slots in between two others.

mod act;
mod decide;
mod hold;
mod understand;

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use rapport_core::domain::{Author, Channel, ConversationStatus};
use rapport_core::ids::{ContactId, ConversationId, MessageId, WorkspaceId};
use rapport_knowledge::sparse::SparseEncoder;
use rapport_knowledge::{QuestionTerm, Retrieved, SearchOptions};
use rapport_store::escalations::NewEscalation;
use rapport_store::messages::{Conversation, NewReply, TimelineMessage};
use serde_json::{Value, json};

use crate::Result;
use crate::agent::{Agent, AgentSettings, Decision, ReplyOptions, ReplyOutcome};
use crate::answerability::{AnswerabilityModel, Judgement};
use crate::context::CustomerContext;
use crate::disclosure::{self, Disclosure};
use crate::language::{self, Language};
use crate::model::{AnswerRequest, DeltaSink, Generated, ModelAnswer};

pub use decide::Verdict;
pub use understand::Understanding;

/// Version of the trace's JSON shape.
pub(crate) const TRACE_VERSION: u32 = 2;

/// Tokenises documents the way search does, for answerability's coverage of the question.
static QUESTION_WORDS: LazyLock<SparseEncoder> = LazyLock::new(SparseEncoder::default);

pub(crate) fn ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

/// The customer message being answered, with what the pipeline knows around it.
pub struct Incoming {
    pub ws: WorkspaceId,
    pub settings: Arc<AgentSettings>,
    pub conversation: Conversation,
    /// The conversation's messages, oldest first.
    pub messages: Vec<TimelineMessage>,
    pub message: TimelineMessage,
    pub channel: Channel,
    /// The customer (root of the contact cluster).
    pub root: ContactId,
    /// The customer's history across channels, without this message.
    pub customer: CustomerContext,
    /// The language the channel suggests (a WhatsApp number's country), for short messages.
    pub locale: Option<Language>,
    pub context_ms: u64,
}

impl Incoming {
    pub fn conversation_id(&self) -> ConversationId {
        ConversationId(self.conversation.id)
    }

    pub fn human_owned(&self) -> Result<bool> {
        Ok(matches!(
            self.conversation.status()?,
            ConversationStatus::WaitingHuman | ConversationStatus::Human
        ))
    }

    /// Messages before this one since the bot last took the conversation back: the guards
    /// count from there.
    pub fn since_hand_back(&self) -> Vec<&TimelineMessage> {
        let bot_since = self.conversation.bot_since;
        self.messages
            .iter()
            .filter(|m| m.id < self.message.id && bot_since.is_none_or(|s| m.created_at >= s))
            .collect()
    }

    fn context_trace(&self) -> Value {
        json!({
            "contact_id": self.root.0,
            "channels": self.customer.customer.channels,
            "turns": self.customer.history.len(),
            "facts": self.customer.customer.facts,
            "text": self.customer.as_text(),
        })
    }
}

/// What the search found for the message.
pub struct Retrieval {
    /// The message as a standalone query (the model may borrow words from earlier turns).
    pub rewrite: Generated<String>,
    pub retrieved: Vec<Retrieved>,
    /// The message's words, as the knowledge knows them.
    pub terms: Vec<QuestionTerm>,
    pub rewrite_ms: u64,
    pub retrieve_ms: u64,
}

impl Retrieval {
    fn none(text: &str, model: &str) -> Retrieval {
        Retrieval {
            rewrite: Generated::without_call(text.trim().to_owned(), model),
            retrieved: Vec::new(),
            terms: Vec::new(),
            rewrite_ms: 0,
            retrieve_ms: 0,
        }
    }

    pub fn query(&self) -> &str {
        &self.rewrite.value
    }
}

/// The model's answer and how well the knowledge it cites supports it.
pub struct Draft {
    pub answer: Generated<ModelAnswer>,
    /// Cited chunks that were retrieved, in order, without repeats.
    pub citations: Vec<i64>,
    /// Best similarity of a cited document to the question (chunk or title).
    pub support: f32,
    /// Whether the knowledge found answers the question at all ([`crate::answerability`]).
    pub answerability: Judgement,
    /// An answer that cites retrieved knowledge, for a question the knowledge answers.
    pub supported: bool,
    pub generate_ms: u64,
}

impl Draft {
    /// No answer drafted: an action answered instead.
    fn none(model: &str) -> Draft {
        Draft {
            answer: Generated::without_call(ModelAnswer::default(), model),
            citations: Vec::new(),
            support: 0.0,
            answerability: Judgement::default(),
            supported: false,
            generate_ms: 0,
        }
    }
}

impl Agent {
    /// Answers the customer message `message_id` of a conversation, or hands it to a human.
    pub async fn reply(
        &self,
        ws: WorkspaceId,
        conversation_id: ConversationId,
        message_id: MessageId,
        options: ReplyOptions<'_>,
    ) -> Result<ReplyOutcome> {
        let started = Instant::now();
        let Some(incoming) = self.incoming(ws, conversation_id, message_id).await? else {
            return Ok(ReplyOutcome::skipped(
                "a newer message is answered instead, or this one already was",
            ));
        };
        let understood = self.understand(&incoming).await?;
        if incoming.human_owned()? {
            return self.hold(&incoming, &understood, options.deliver).await;
        }
        let t = Instant::now();
        if let Some(mut verdict) = self.act(&incoming, &understood, options.deliver).await? {
            if let Some(action) = verdict.action.as_mut() {
                action["ms"] = json!(ms(t));
            }
            let retrieval = Retrieval::none(&incoming.message.text, self.model.name());
            let draft = Draft::none(self.model.name());
            let (verdict, withheld) = self
                .check_disclosure(&incoming, &retrieval, verdict)
                .await?;
            return self
                .respond(
                    &incoming,
                    &understood,
                    &retrieval,
                    &draft,
                    verdict,
                    withheld,
                    options.deliver,
                    started,
                )
                .await;
        }
        let retrieval = self.retrieve_for(&incoming, &understood).await?;
        // A message that goes to a human anyway is not streamed to the customer.
        let sink = if understood.trigger.is_none() {
            options.on_delta
        } else {
            None
        };
        let draft = self.draft(&incoming, &understood, &retrieval, sink).await?;
        let verdict = self.decide(&incoming, &understood, &draft);
        let (verdict, withheld) = self
            .check_disclosure(&incoming, &retrieval, verdict)
            .await?;
        self.respond(
            &incoming,
            &understood,
            &retrieval,
            &draft,
            verdict,
            withheld,
            options.deliver,
            started,
        )
        .await
    }

    /// Loads the message and its conversation; `None` when a newer message will be answered
    /// instead, or this one already was.
    async fn incoming(
        &self,
        ws: WorkspaceId,
        conversation_id: ConversationId,
        message_id: MessageId,
    ) -> Result<Option<Incoming>> {
        let incoming = self.load_incoming(ws, conversation_id, message_id).await?;
        let answered = incoming.messages.iter().any(|m| {
            m.id > incoming.message.id && (m.author == "customer" || m.direction == "outbound")
        });
        Ok((!answered).then_some(incoming))
    }

    /// The message, its conversation and its customer, whether or not it was answered.
    pub(crate) async fn load_incoming(
        &self,
        ws: WorkspaceId,
        conversation_id: ConversationId,
        message_id: MessageId,
    ) -> Result<Incoming> {
        let settings = self.settings_for(ws).await?;
        let conversation = self.store.conversation(ws, conversation_id).await?;
        let messages = self
            .store
            .conversation_messages(ws, conversation_id)
            .await?;
        let Some(message) = messages.iter().find(|m| m.id == message_id.0).cloned() else {
            return Err(rapport_store::Error::NotFound {
                what: "message",
                id: message_id.0,
            }
            .into());
        };
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
        let locale = self.locale(ws, &message, channel).await?;
        Ok(Incoming {
            ws,
            settings,
            conversation,
            messages,
            message,
            channel,
            root,
            customer,
            locale,
            context_ms,
        })
    }

    /// The language the channel suggests: on WhatsApp, the country of the sender's number.
    async fn locale(
        &self,
        ws: WorkspaceId,
        message: &TimelineMessage,
        channel: Channel,
    ) -> Result<Option<Language>> {
        if channel != Channel::Whatsapp {
            return Ok(None);
        }
        let identities = self
            .store
            .identities(ws, &[ContactId(message.contact_id)])
            .await?;
        Ok(identities
            .iter()
            .find(|i| i.channel == "whatsapp")
            .and_then(|i| language::of_phone(&i.external_id)))
    }

    /// Knowledge for the message, unless it is small talk or goes to a person on a rule.
    pub(crate) async fn retrieve_for(
        &self,
        incoming: &Incoming,
        understood: &Understanding,
    ) -> Result<Retrieval> {
        let text = &incoming.message.text;
        if !understood.needs_knowledge() {
            return Ok(Retrieval::none(text, self.model.name()));
        }
        let t = Instant::now();
        let rewrite = self.model.rewrite_query(text, &incoming.customer).await?;
        let rewrite_ms = ms(t);
        let t = Instant::now();
        if rewrite.value.trim().is_empty() {
            return Ok(Retrieval {
                rewrite,
                rewrite_ms,
                ..Retrieval::none(text, self.model.name())
            });
        }
        let (retrieved, terms) =
            futures::try_join!(self.search_both(incoming.ws, text, &rewrite.value), async {
                Ok(self.knowledge.question_terms(incoming.ws, text).await?)
            },)?;
        Ok(Retrieval {
            rewrite,
            retrieved,
            terms,
            rewrite_ms,
            retrieve_ms: ms(t),
        })
    }

    /// Knowledge for a message and its rewritten query. When the rewrite borrowed words from an
    /// earlier turn, the message alone is searched too and each chunk keeps its better
    /// similarity: "and can I import tasks into it?" is about importing, even though the
    /// earlier turn was about exporting.
    async fn search_both(
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

    /// The model's answer from the retrieved knowledge, and whether that knowledge supports it.
    pub(crate) async fn draft(
        &self,
        incoming: &Incoming,
        understood: &Understanding,
        retrieval: &Retrieval,
        sink: Option<DeltaSink<'_>>,
    ) -> Result<Draft> {
        let t = Instant::now();
        let answer = if understood.needs_knowledge() {
            let topics: Vec<String> = incoming
                .settings
                .handoff_topics
                .iter()
                .map(|t| t.name.clone())
                .collect();
            let request = AnswerRequest {
                question: &incoming.message.text,
                query: retrieval.query(),
                channel: incoming.channel,
                language: understood.language,
                customer: &incoming.customer,
                chunks: &retrieval.retrieved,
                persona: &incoming.settings.persona,
                handoff_topics: &topics,
            };
            self.model.answer(&request, sink).await?
        } else {
            Generated::without_call(ModelAnswer::default(), self.model.name())
        };
        let generate_ms = ms(t);
        let retrieved = &retrieval.retrieved;
        // Grounding: only retrieved chunks can be cited, and the best of them must match.
        let retrieved_ids: HashSet<i64> = retrieved.iter().map(|r| r.chunk.id).collect();
        let mut citations: Vec<i64> = Vec::new();
        for c in &answer.value.citations {
            if retrieved_ids.contains(c) && !citations.contains(c) {
                citations.push(*c);
            }
        }
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
        let answerability = if retrieved.is_empty() {
            Judgement::default()
        } else {
            AnswerabilityModel::builtin().judge(
                &incoming.message.text,
                &retrieval.terms,
                retrieved,
                &QUESTION_WORDS,
                incoming.settings.support_threshold,
            )
        };
        let supported = !answer.value.answer.trim().is_empty()
            && !citations.is_empty()
            && answerability.answerable;
        Ok(Draft {
            answer,
            citations,
            support,
            answerability,
            supported,
            generate_ms,
        })
    }

    /// The last check: nothing of another customer's goes out in an answer. A reply that would
    /// carry it becomes a hand-over.
    async fn check_disclosure(
        &self,
        incoming: &Incoming,
        retrieval: &Retrieval,
        verdict: Verdict,
    ) -> Result<(Verdict, Option<Disclosure>)> {
        if verdict.decision != Decision::Answered {
            return Ok((verdict, None));
        }
        let found = disclosure::check(
            &self.store,
            incoming.ws,
            incoming.root,
            &incoming.customer,
            &incoming.message.text,
            &verdict.text,
            &knowledge_words(&retrieval.retrieved),
        )
        .await?;
        Ok(match found {
            Some(d) => (
                Verdict {
                    action: verdict.action.clone(),
                    ..Verdict::handover(incoming, verdict.language, d.reason())
                },
                Some(d),
            ),
            None => (verdict, None),
        })
    }

    /// Sends the reply (through the outbox when `deliver`), opens the escalation with the
    /// journey when handing over, and keeps the trace on the bot's message.
    #[allow(clippy::too_many_arguments)]
    async fn respond(
        &self,
        incoming: &Incoming,
        understood: &Understanding,
        retrieval: &Retrieval,
        draft: &Draft,
        verdict: Verdict,
        withheld: Option<Disclosure>,
        deliver: bool,
        started: Instant,
    ) -> Result<ReplyOutcome> {
        let ws = incoming.ws;
        let settings = &incoming.settings;
        let Verdict {
            decision,
            reason,
            text,
            action,
            ..
        } = verdict;
        // Outside business hours a hand-off says when people are back.
        let (text, after_hours) = if decision == Decision::Escalated {
            hold::with_hours(settings, text, understood.language)
        } else {
            (text, false)
        };
        let mut trace = self.trace(
            incoming,
            understood,
            retrieval,
            draft,
            decision,
            &reason,
            withheld.as_ref(),
        );
        trace["after_hours"] = json!(after_hours);
        if let Some(action) = action {
            // The knowledge was not consulted: nothing was judged answerable or not.
            trace["answerability"] = Value::Null;
            trace["action"] = action;
            trace["timings_ms"]["act"] = trace["action"]["ms"].clone();
        }
        let mut escalation = None;
        if decision == Decision::Escalated {
            let t = Instant::now();
            // The journey includes the message that is being handed over.
            let journey = CustomerContext::assemble(
                &self.store,
                ws,
                incoming.root,
                None,
                settings.context_tokens * 2,
            )
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
            // What was withheld is not kept either: not as the agent's draft.
            let answer = &draft.answer.value.answer;
            let draft_text =
                (withheld.is_none() && !answer.trim().is_empty()).then(|| answer.clone());
            escalation = Some(NewEscalation {
                conversation_id: incoming.conversation_id(),
                reason: reason.clone(),
                summary: summary.value,
                context: json!({
                    "sources": retrieval.retrieved.iter().map(trace_chunk).collect::<Vec<_>>(),
                    "message_id": incoming.message.id,
                    "trace": trace.clone(),
                }),
                draft: draft_text,
            });
        }
        trace["timings_ms"]["total"] = json!(ms(started));
        let citations = if decision == Decision::Answered {
            json!(draft.citations)
        } else {
            json!([])
        };
        let reply = bot_reply(incoming, &text, citations, &trace, deliver);
        // The hand-off and the customer's notice of it are one write.
        let (reply_id, escalation_id) = match &escalation {
            Some(e) => {
                let (escalation, reply) = self.store.escalate_with_reply(ws, e, &reply).await?;
                (reply, Some(escalation))
            }
            None => (self.store.add_reply(ws, &reply).await?, None),
        };
        tracing::info!(workspace = %ws, conversation = %incoming.conversation.id, decision = ?decision, reason = %reason, "replied");
        Ok(ReplyOutcome {
            decision,
            reason: (!reason.is_empty()).then_some(reason),
            reply: Some(text),
            message_id: Some(reply_id),
            escalation_id,
            trace,
        })
    }

    /// Stores the bot's message with its trace, through the outbox when `deliver`.
    pub(super) async fn send_bot_reply(
        &self,
        incoming: &Incoming,
        text: &str,
        citations: Value,
        trace: &Value,
        deliver: bool,
    ) -> Result<MessageId> {
        let reply = bot_reply(incoming, text, citations, trace, deliver);
        Ok(self.store.add_reply(incoming.ws, &reply).await?)
    }

    /// The trace every bot message keeps: what each stage saw and decided.
    #[allow(clippy::too_many_arguments)]
    fn trace(
        &self,
        incoming: &Incoming,
        understood: &Understanding,
        retrieval: &Retrieval,
        draft: &Draft,
        decision: Decision,
        reason: &str,
        withheld: Option<&Disclosure>,
    ) -> Value {
        let answer = &draft.answer;
        let prompts: Vec<Value> = [&retrieval.rewrite.prompt, &answer.prompt]
            .into_iter()
            .flatten()
            .map(|p| json!({ "name": p.name, "version": p.version }))
            .collect();
        json!({
            "version": TRACE_VERSION,
            "decision": decision,
            "reason": (!reason.is_empty()).then_some(reason),
            "language": understood.language.code,
            "intent": understood.trace(),
            "query": { "original": incoming.message.text, "rewritten": retrieval.query() },
            "retrieved": retrieval.retrieved.iter().map(trace_chunk).collect::<Vec<_>>(),
            "citations": draft.citations,
            "support": draft.support,
            "support_threshold": incoming.settings.support_threshold,
            "answerability": understood.needs_knowledge().then_some(&draft.answerability),
            "model": answer.model,
            "prompts": prompts,
            "tokens": {
                "prompt": answer.prompt_tokens.unwrap_or(0) + retrieval.rewrite.prompt_tokens.unwrap_or(0),
                "completion": answer.completion_tokens.unwrap_or(0) + retrieval.rewrite.completion_tokens.unwrap_or(0),
            },
            "privacy": { "withheld": withheld.map(|d| d.kind) },
            "model_answer": {
                "answer": match withheld {
                    Some(d) => format!("[withheld: {}]", d.reason()),
                    None => answer.value.answer.clone(),
                },
                "confidence": answer.value.confidence,
                "handoff": answer.value.handoff,
                "reason": answer.value.reason,
            },
            "context": incoming.context_trace(),
            "timings_ms": {
                "context": incoming.context_ms,
                "understand": understood.ms,
                "rewrite": retrieval.rewrite_ms,
                "retrieve": retrieval.retrieve_ms,
                "generate": draft.generate_ms,
            },
        })
    }
}

/// Lower-cased words of the retrieved knowledge's titles and headings: the knowledge's own
/// vocabulary, never a person's name.
/// The bot's message with its trace, through the outbox when `deliver`.
fn bot_reply(
    incoming: &Incoming,
    text: &str,
    citations: Value,
    trace: &Value,
    deliver: bool,
) -> NewReply {
    NewReply {
        conversation_id: incoming.conversation_id(),
        contact_id: ContactId(incoming.message.contact_id),
        author: Author::Bot,
        channel: incoming.channel,
        text: text.to_owned(),
        citations,
        metadata: json!({ "trace": trace }),
        deliver,
    }
}

fn knowledge_words(retrieved: &[Retrieved]) -> HashSet<String> {
    retrieved
        .iter()
        .flat_map(|r| [r.chunk.title.as_str(), r.chunk.heading_path.as_str()])
        .flat_map(|t| t.split(|c: char| !c.is_alphanumeric()))
        .filter(|w| w.len() > 2)
        .map(str::to_lowercase)
        .collect()
}

pub(crate) fn trace_chunk(r: &Retrieved) -> Value {
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
