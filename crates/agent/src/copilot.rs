//! The agent's copilot: what the bot would say, offered to a person working a conversation at
//! any point (not only at hand-over). A summary of the customer's journey so far, and a reply
//! to their latest message drafted from the knowledge with its citations — by the configured
//! model, or extractively (the best-matching passages) without one. Nothing is sent: the
//! person edits and sends it themselves.

use rapport_core::ids::{ConversationId, MessageId, WorkspaceId};
use serde::Serialize;
use serde_json::Value;

use crate::context::CustomerContext;
use crate::reply::trace_chunk;
use crate::{Agent, Error, Result};

/// The journey in a few lines, for whoever picks the conversation up.
#[derive(Debug, Clone, Serialize)]
pub struct CopilotSummary {
    pub summary: String,
    pub model: String,
}

/// A reply the agent may use.
#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    /// The customer message it answers.
    pub message_id: i64,
    pub text: String,
    /// The knowledge the text rests on: chunk id, title, URL.
    pub citations: Vec<Value>,
    /// The knowledge answers the question (as the bot would judge before answering itself).
    pub supported: bool,
    pub answerable_probability: f32,
    pub model: String,
}

/// A message in another language.
#[derive(Debug, Clone, Serialize)]
pub struct CopilotTranslation {
    pub text: String,
    pub source_language: String,
    pub model: String,
}

/// Longest text translated at once.
const MAX_TRANSLATE: usize = 4_000;

impl Agent {
    /// `text` — the customer's message or the agent's draft — in the `target` language. Needs a
    /// language model: the extractive fallback cannot translate.
    pub async fn copilot_translate(&self, text: &str, target: &str) -> Result<CopilotTranslation> {
        let (text, target) = (text.trim(), target.trim());
        if text.is_empty() || text.chars().count() > MAX_TRANSLATE {
            return Err(Error::Invalid(format!(
                "text: 1 to {MAX_TRANSLATE} characters"
            )));
        }
        if target.is_empty() || target.chars().count() > 40 {
            return Err(Error::Invalid(
                "target: a language, e.g. English or es".into(),
            ));
        }
        let Some(translated) = self.model.translate(text, target).await? else {
            return Err(Error::Invalid(
                "translation needs a language model (set RAPPORT_LLM_MODEL)".into(),
            ));
        };
        Ok(CopilotTranslation {
            text: translated.value.translation,
            source_language: translated.value.source_language,
            model: translated.model,
        })
    }

    /// The customer's journey on every channel, summarised.
    pub async fn copilot_summary(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
    ) -> Result<CopilotSummary> {
        let settings = self.settings_for(ws).await?;
        let conversation = self.store.conversation(ws, conversation).await?;
        let root = self
            .store
            .root_contact(ws, rapport_core::ids::ContactId(conversation.contact_id))
            .await?;
        let journey =
            CustomerContext::assemble(&self.store, ws, root, None, settings.context_tokens * 2)
                .await?;
        let summary = self
            .model
            .summarize_journey("an agent asked for a summary", &journey, &settings.persona)
            .await?;
        Ok(CopilotSummary {
            summary: summary.value,
            model: summary.model,
        })
    }

    /// A reply to the customer's latest message in the conversation, from the knowledge.
    pub async fn copilot_suggest(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
    ) -> Result<Suggestion> {
        // A conversation that is not there is a 404, not "nobody wrote".
        self.store.conversation(ws, conversation).await?;
        let messages = self.store.conversation_messages(ws, conversation).await?;
        let last = messages
            .iter()
            .rev()
            .find(|m| m.author == "customer")
            .ok_or_else(|| {
                Error::Invalid("the customer has not written in this conversation".into())
            })?;
        let incoming = self
            .load_incoming(ws, conversation, MessageId(last.id))
            .await?;
        let understood = self.understand(&incoming).await?;
        let retrieval = self.retrieve_for(&incoming, &understood).await?;
        let draft = self.draft(&incoming, &understood, &retrieval, None).await?;
        let citations = retrieval
            .retrieved
            .iter()
            .filter(|r| draft.citations.contains(&r.chunk.id))
            .map(|r| {
                let t = trace_chunk(r);
                serde_json::json!({ "chunk_id": t["chunk_id"], "title": t["title"], "url": t["url"] })
            })
            .collect();
        Ok(Suggestion {
            message_id: last.id,
            text: draft.answer.value.answer.trim().to_owned(),
            citations,
            supported: draft.supported,
            answerable_probability: draft.answerability.probability,
            model: draft.answer.model,
        })
    }
}
