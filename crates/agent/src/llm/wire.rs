//! What we read from `/chat/completions` replies: only the fields we use, each optional.
//!
//! async-openai's own response types follow OpenAI's spec to the letter, and llama.cpp, Ollama
//! and older vLLM builds leave out or null fields it requires (`created`, `index`, `object`…),
//! which would turn a perfectly good answer into a deserialization error. Requests still use
//! async-openai's types.

use serde::Deserialize;
use serde_json::Value;

/// A `chat.completion` object.
#[derive(Debug, Deserialize)]
pub(super) struct ChatCompletion {
    pub model: Option<String>,
    pub choices: Option<Vec<Choice>>,
    pub usage: Option<Usage>,
    /// Some servers answer 200 with an error object.
    pub error: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Choice {
    pub message: Option<Message>,
    pub finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Message {
    /// A string, or (rarely) an array of `{type: text, text}` parts.
    pub content: Option<Value>,
    pub refusal: Option<String>,
    /// The functions the model calls, when it was offered tools.
    pub tool_calls: Option<Vec<ToolCall>>,
}

/// `{"id", "type": "function", "function": {"name", "arguments"}}`.
#[derive(Debug, Deserialize)]
pub(super) struct ToolCall {
    pub id: Option<String>,
    pub function: Option<FunctionCall>,
}

#[derive(Debug, Deserialize)]
pub(super) struct FunctionCall {
    pub name: Option<String>,
    /// A JSON object as a string (some servers send the object itself).
    pub arguments: Option<Value>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(super) struct Usage {
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
}

/// A `chat.completion.chunk` object, one per SSE `data:` line.
#[derive(Debug, Deserialize)]
pub(super) struct ChatChunk {
    pub model: Option<String>,
    pub choices: Option<Vec<ChunkChoice>>,
    /// Only on the last chunk, when `stream_options.include_usage` was honoured.
    pub usage: Option<Usage>,
    /// llama.cpp and vLLM report a failure mid-stream this way.
    pub error: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ChunkChoice {
    pub delta: Option<Delta>,
    pub finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Delta {
    pub content: Option<String>,
}

impl Message {
    pub fn text(&self) -> Option<String> {
        match self.content.as_ref()? {
            Value::String(s) => Some(s.clone()),
            Value::Array(parts) => Some(
                parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect(),
            ),
            _ => None,
        }
    }
}

/// The human part of an error object: `{"error": {"message": …}}`, `{"error": "…"}`, or the
/// JSON itself.
pub(super) fn error_message(error: &Value) -> String {
    error
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| error.as_str().map(str::to_owned))
        .unwrap_or_else(|| error.to_string())
}
