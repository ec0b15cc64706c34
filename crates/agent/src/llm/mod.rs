//! Talking to a chat model over the OpenAI-compatible `/v1/chat/completions` API, which OpenAI,
//! Azure OpenAI (its `/openai/v1` endpoint), vLLM, the llama.cpp server and Ollama all speak.
//!
//! Structured output is asked for with `response_format: json_schema` and read back with a
//! tolerant parser plus one repair request, never with tool calling: small local models often
//! ignore tool-call tags, but almost all of them can be talked into writing a JSON object.
//!
//! Retries (429, 5xx, timeouts, connection errors) are ours, not async-openai's, so that their
//! count and delays follow [`LlmSettings`] and every attempt shows up in [`Completion::attempts`].

mod client;
mod error;
mod field_stream;
mod lenient;
mod retry;
mod transport;
mod wire;

use std::fmt;
use std::time::Duration;

pub use client::{OpenAiCompatible, chat_message_json};
pub use error::LlmError;
pub use field_stream::FieldStream;
pub use lenient::parse_json_lenient;

pub type Result<T, E = LlmError> = std::result::Result<T, E>;

/// Where the model lives and how patiently to talk to it.
#[derive(Clone)]
pub struct LlmSettings {
    /// The API root including the version, e.g. `http://127.0.0.1:11434/v1` (Ollama) or
    /// `https://api.openai.com/v1`; `/chat/completions` is appended.
    pub base_url: String,
    pub model: String,
    /// Sent as `Authorization: Bearer …`; local servers usually need none.
    pub api_key: Option<String>,
    /// Per HTTP request: the whole exchange when not streaming; when streaming, the wait for
    /// the response headers and then for each next chunk.
    pub timeout: Duration,
    /// HTTP attempts per completion, the first included (so 1 means no retry).
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles for each further one (with jitter).
    pub initial_backoff: Duration,
    pub temperature: Option<f32>,
    /// Sent as `max_tokens`, the name every OpenAI-compatible server understands.
    pub max_tokens: Option<u32>,
}

impl LlmSettings {
    /// Settings with defaults suited to a support chat: 60 s per request, 3 attempts, 500 ms
    /// initial backoff, the server's own temperature and length limit.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            timeout: Duration::from_secs(60),
            max_attempts: 3,
            initial_backoff: Duration::from_millis(500),
            temperature: None,
            max_tokens: None,
        }
    }
}

/// The key is a secret: `Debug` output ends up in logs.
impl fmt::Debug for LlmSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .field("initial_backoff", &self.initial_backoff)
            .field("temperature", &self.temperature)
            .field("max_tokens", &self.max_tokens)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// What the model answered, and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The reply, without a leading `<think>…</think>` block: reasoning models served by Ollama
    /// or vLLM put their chain of thought there, and it must not reach a customer.
    pub text: String,
    /// The model the server says answered (it may differ from the one asked for, e.g. a dated
    /// snapshot); the configured one when the server does not say.
    pub model: String,
    /// Summed over the requests that made this completion, when the server reports usage.
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    /// HTTP requests made, retries and a JSON repair request included.
    pub attempts: u32,
    /// Whether a JSON repair request was needed. Text streamed before the repair came from the
    /// rejected reply, so a caller that showed it should replace it with the final value.
    pub repaired: bool,
}

/// A function the model may call: an action offered as a tool.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// `a-z A-Z 0-9 _ -`, at most 64 characters.
    pub name: String,
    pub description: String,
    /// The JSON schema of its arguments.
    pub parameters: serde_json::Value,
}

/// One call the model asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them (JSON text, maybe invalid).
    pub arguments: String,
}

/// A turn of a conversation with tools: what the model said, the calls it asked for, and the
/// cost. A message of the conversation is a raw chat-completions message (`role`, `content`,
/// `tool_calls`, `tool_call_id`), since tool turns carry more than text.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolTurn {
    pub text: String,
    pub calls: Vec<ToolCall>,
    pub model: String,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
}

/// A JSON schema for structured output, sent as `response_format: {type: json_schema}`.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonSchema {
    /// OpenAI allows `a-z A-Z 0-9 _ -`, at most 64 characters.
    pub name: String,
    pub schema: serde_json::Value,
}

impl JsonSchema {
    pub fn new(name: impl Into<String>, schema: serde_json::Value) -> Self {
        Self {
            name: name.into(),
            schema,
        }
    }
}
