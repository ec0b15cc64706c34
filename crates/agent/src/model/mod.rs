//! `ChatModel`: the language capabilities the agent needs — rewrite a question, answer from
//! knowledge, summarise a journey, update memory, turn a conversation into an FAQ entry.
//!
//! The port is task-shaped rather than "complete this prompt" so that the default model can be
//! [`Extractive`]: deterministic, offline, and unable to invent anything. [`LlmChatModel`] renders
//! the prompts in `prompts/` and calls any OpenAI-compatible server.

mod extractive;
mod fallback;
mod llm;
mod passage;

use async_trait::async_trait;
use rapport_core::domain::Channel;
use rapport_knowledge::Retrieved;
use serde::{Deserialize, Serialize};

pub use extractive::Extractive;
pub use fallback::{FallbackPolicy, Resilient};
pub use llm::LlmChatModel;

use crate::Result;
use crate::context::{CustomerContext, Turn};
use crate::language::Language;
use crate::prompts::PromptRef;

/// A model's output with what the trace records about how it was made.
#[derive(Debug, Clone)]
pub struct Generated<T> {
    pub value: T,
    pub model: String,
    /// `None` for the extractive model, which uses no prompt.
    pub prompt: Option<PromptRef>,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
}

impl<T> Generated<T> {
    /// A value no model call produced (the stage was skipped), under the model's name.
    pub fn without_call(value: T, model: &str) -> Self {
        Generated {
            value,
            model: model.to_owned(),
            prompt: None,
            prompt_tokens: None,
            completion_tokens: None,
        }
    }

    pub fn extractive(value: T) -> Self {
        Generated {
            value,
            model: extractive::NAME.to_owned(),
            prompt: None,
            prompt_tokens: None,
            completion_tokens: None,
        }
    }
}

/// How the bot presents itself.
#[derive(Debug, Clone, Serialize)]
pub struct Persona {
    pub bot_name: String,
    pub business_name: String,
    /// The business's tone and house rules, from the Settings page.
    pub instructions: Option<String>,
}

impl Default for Persona {
    fn default() -> Self {
        Persona {
            bot_name: "Rapport".into(),
            business_name: "our company".into(),
            instructions: None,
        }
    }
}

/// Everything an answer is made from.
pub struct AnswerRequest<'a> {
    /// The customer's latest message, as written.
    pub question: &'a str,
    /// The search query it was rewritten into.
    pub query: &'a str,
    pub channel: Channel,
    pub language: Language,
    pub customer: &'a CustomerContext,
    /// Retrieved knowledge, best first.
    pub chunks: &'a [Retrieved],
    pub persona: &'a Persona,
    pub handoff_topics: &'a [String],
}

/// The structured answer every model returns.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ModelAnswer {
    #[serde(default)]
    pub answer: String,
    /// Ids of the retrieved chunks the answer rests on.
    #[serde(default)]
    pub citations: Vec<i64>,
    #[serde(default)]
    pub confidence: f32,
    #[serde(default)]
    pub handoff: bool,
    #[serde(default)]
    pub reason: String,
}

/// A fact a memory update found, tied to the message that states it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FoundFact {
    pub key: String,
    pub value: String,
    #[serde(default, alias = "message_id")]
    pub message_id: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MemoryUpdate {
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub facts: Vec<FoundFact>,
}

/// One past conversation, as a memory summary needs it.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationBrief {
    pub channel: String,
    pub status: String,
    pub resolution: Option<String>,
    pub started: String,
    /// The customer's first substantive message.
    pub opening: String,
    pub escalation_reason: Option<String>,
}

/// A turn of the conversation with the workspace's actions offered to a model as tools.
pub struct ToolRequest<'a> {
    pub question: &'a str,
    pub customer: &'a CustomerContext,
    pub persona: &'a Persona,
    pub language: crate::language::Language,
    pub tools: &'a [crate::llm::Tool],
    /// This turn's calls and their results so far (raw chat messages), empty at first.
    pub exchange: &'a [serde_json::Value],
}

/// Streams answer text to a live client (web chat) while it is generated.
pub type DeltaSink<'a> = &'a mut (dyn FnMut(&str) + Send);

#[async_trait]
pub trait ChatModel: Send + Sync {
    /// Recorded in traces: `extractive` or the served model's name.
    fn name(&self) -> &str;

    /// Applies the model settings an admin saved; models without such settings ignore them.
    fn retune(&self, _tuning: &crate::settings::ModelTuning) {}

    /// A self-contained search query for the latest message, using earlier turns (from any
    /// channel) for what "this" or "it" refers to.
    async fn rewrite_query(
        &self,
        question: &str,
        customer: &CustomerContext,
    ) -> Result<Generated<String>>;

    async fn answer(
        &self,
        request: &AnswerRequest<'_>,
        on_delta: Option<DeltaSink<'_>>,
    ) -> Result<Generated<ModelAnswer>>;

    /// The hand-off note for a human agent: the whole journey across channels.
    async fn summarize_journey(
        &self,
        reason: &str,
        customer: &CustomerContext,
        persona: &Persona,
    ) -> Result<Generated<String>>;

    /// A new memory summary and facts from the customer's history.
    async fn update_memory(
        &self,
        customer: &CustomerContext,
        conversations: &[ConversationBrief],
        product_names: &[String],
    ) -> Result<Generated<MemoryUpdate>>;

    /// A reusable question and answer from a resolved conversation, if it holds one.
    async fn extract_faq(&self, turns: &[Turn]) -> Result<Generated<Option<(String, String)>>>;

    /// `text` in the `target` language (a name: "English", "Spanish"), and the language it was
    /// in. `None`: this model cannot translate (the extractive one).
    async fn translate(
        &self,
        _text: &str,
        _target: &str,
    ) -> Result<Option<Generated<Translation>>> {
        Ok(None)
    }

    /// One turn with actions offered as tools (function calling): the calls the model asks
    /// for, or its text. `None`: this model does not call tools, and actions are matched by
    /// their example messages instead.
    async fn tool_turn(
        &self,
        _request: &ToolRequest<'_>,
    ) -> Result<Option<Generated<crate::llm::ToolTurn>>> {
        Ok(None)
    }
}

/// A text in another language.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Translation {
    pub translation: String,
    /// The language the text was in, as the model names it.
    #[serde(default)]
    pub source_language: String,
}

/// A chunk's text as a trace keeps it: enough to recognise, not the whole page.
pub(crate) fn truncate_for_trace(text: &str) -> String {
    extractive::truncate(text, 600)
}

/// Condenses mined conversation pairs with the chat model (`faq_extraction`), for the knowledge
/// base's conversation sources.
pub struct FaqCondenser(pub std::sync::Arc<dyn ChatModel>);

#[async_trait]
impl rapport_knowledge::PairCondenser for FaqCondenser {
    async fn condense(&self, question: &str, answer: &str) -> Option<(String, String)> {
        let turn = |author: &str, text: &str| Turn {
            id: 0,
            conversation_id: 0,
            contact_id: 0,
            channel: String::new(),
            author: author.to_owned(),
            text: text.to_owned(),
            at: String::new(),
            created_at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        };
        match self
            .0
            .extract_faq(&[turn("customer", question), turn("agent", answer)])
            .await
        {
            Ok(generated) => generated.value,
            Err(e) => {
                tracing::warn!(error = %e, "could not condense a mined Q&A pair; keeping it as mined");
                None
            }
        }
    }
}
