//! [`OpenAiCompatible`]: completions, streaming, and structured output with one repair request.

use std::fmt;
use std::sync::Arc;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    ChatCompletionStreamOptions, CreateChatCompletionRequest, ResponseFormat,
    ResponseFormatJsonSchema,
};
use futures::StreamExt;
use reqwest::header::HeaderValue;
use serde_json::Value;
use tokio::time::{sleep, timeout};
use tracing::{debug, instrument, warn};

use super::error::excerpt;
use super::lenient::strip_reasoning;
use super::retry::{Backoff, Failure};
use super::transport::{StatusAware, classify};
use super::wire::{self, Usage};
use super::{
    ChatMessage, Completion, FieldStream, JsonSchema, LlmError, LlmSettings, Result, Role, Tool,
    ToolCall, ToolTurn, parse_json_lenient,
};

/// A chat model behind an OpenAI-compatible API. Cheap to clone: clones share one connection
/// pool.
#[derive(Clone)]
pub struct OpenAiCompatible {
    inner: Arc<Inner>,
}

struct Inner {
    settings: LlmSettings,
    /// What admins chose on the Settings page, over `settings`; read by every request.
    tuning: std::sync::RwLock<Tuning>,
    client: Client<OpenAIConfig>,
}

/// The request parameters an admin may change while the service runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    pub model: String,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
}

impl fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiCompatible")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl OpenAiCompatible {
    /// Checks the settings and prepares the HTTP client; nothing is sent yet.
    pub fn new(settings: LlmSettings) -> Result<Self> {
        validate(&settings)?;
        let http = reqwest::Client::builder()
            // The per-request limit is enforced around each call (see `LlmSettings::timeout`):
            // a client-wide total timeout would also cut long streams short.
            .connect_timeout(settings.timeout)
            .user_agent(concat!("rapport/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::Config(format!("could not build the HTTP client: {e}")))?;
        // Every field is set explicitly: `OpenAIConfig::new` would otherwise pick up the
        // OPENAI_* environment variables, and a local model server must not be sent the
        // operator's OpenAI key.
        let config = OpenAIConfig::new()
            .with_api_base(settings.base_url.trim_end_matches('/'))
            .with_api_key(settings.api_key.clone().unwrap_or_default())
            .with_org_id("")
            .with_project_id("");
        let client = Client::with_config(config)
            .with_http_client(http.clone())
            .with_http_service(StatusAware { http });
        let tuning = std::sync::RwLock::new(Tuning {
            model: settings.model.clone(),
            temperature: settings.temperature,
            max_tokens: settings.max_tokens,
        });
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                tuning,
                client,
            }),
        })
    }

    /// The configured model (requests may ask for another one: see [`Self::retune`]).
    pub fn model(&self) -> &str {
        &self.inner.settings.model
    }

    /// Changes the model, temperature and length limit of the requests that follow; `None`
    /// goes back to the configured value.
    pub fn retune(&self, model: Option<&str>, temperature: Option<f32>, max_tokens: Option<u32>) {
        let s = &self.inner.settings;
        let tuning = Tuning {
            model: model
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .unwrap_or(&s.model)
                .to_owned(),
            temperature: temperature.filter(|t| t.is_finite()).or(s.temperature),
            max_tokens: max_tokens.or(s.max_tokens),
        };
        match self.inner.tuning.write() {
            Ok(mut t) => *t = tuning,
            Err(poisoned) => *poisoned.into_inner() = tuning,
        }
    }

    /// The parameters the next request uses.
    pub fn tuning(&self) -> Tuning {
        match self.inner.tuning.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A plain completion; with a schema, `response_format` asks for JSON matching it (strict).
    #[instrument(skip_all, fields(model = %self.model()))]
    pub async fn complete(
        &self,
        messages: &[ChatMessage],
        schema: Option<&JsonSchema>,
    ) -> Result<Completion> {
        let request = self.request(messages, schema, false)?;
        let mut backoff = self.backoff();
        loop {
            let attempt = backoff.start_attempt();
            match self.complete_once(&request).await {
                Ok(completion) => {
                    return Ok(Completion {
                        attempts: attempt,
                        ..completion
                    });
                }
                Err(failure) => self.wait_or_give_up(&backoff, failure).await?,
            }
        }
    }

    /// A completion streamed over SSE: `on_delta` gets each piece of text as it arrives, and
    /// the whole completion is returned at the end.
    ///
    /// Deltas are the model's raw output (a leading `<think>` block included). A failure is
    /// retried only while nothing has been passed to `on_delta`, since shown text cannot be
    /// taken back.
    #[instrument(skip_all, fields(model = %self.model()))]
    pub async fn complete_streaming(
        &self,
        messages: &[ChatMessage],
        schema: Option<&JsonSchema>,
        on_delta: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Completion> {
        let request = self.request(messages, schema, true)?;
        let mut backoff = self.backoff();
        loop {
            let attempt = backoff.start_attempt();
            match self.stream_once(&request, on_delta).await {
                Ok(completion) => {
                    return Ok(Completion {
                        attempts: attempt,
                        ..completion
                    });
                }
                Err(failure) => self.wait_or_give_up(&backoff, failure).await?,
            }
        }
    }

    /// Structured output: asks for JSON matching `schema` and reads the reply tolerantly (see
    /// [`parse_json_lenient`]). A reply with no usable object, or one missing a top-level
    /// `required` field, gets one repair request: the bad reply goes back as the assistant's
    /// turn, followed by a request for only valid JSON. [`Completion::attempts`] counts it.
    #[instrument(skip_all, fields(model = %self.model(), schema = %schema.name))]
    pub async fn complete_json(
        &self,
        messages: &[ChatMessage],
        schema: &JsonSchema,
    ) -> Result<(Value, Completion)> {
        let first = self.complete(messages, Some(schema)).await?;
        self.read_or_repair(messages, schema, first).await
    }

    /// Like [`Self::complete_json`], but streams the decoded text of the top-level string
    /// `field` (e.g. `"answer"`) to `on_delta` as the model writes it, for the web chat. The
    /// repair request, when needed, is not streamed: check [`Completion::repaired`] and show
    /// the returned value's field instead of what was streamed.
    #[instrument(skip_all, fields(model = %self.model(), schema = %schema.name))]
    pub async fn complete_json_streaming(
        &self,
        messages: &[ChatMessage],
        schema: &JsonSchema,
        field: &str,
        on_delta: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(Value, Completion)> {
        let mut decoder = FieldStream::new(field);
        let mut forward = |raw: &str| {
            let text = decoder.push(raw);
            if !text.is_empty() {
                on_delta(&text);
            }
        };
        let first = self
            .complete_streaming(messages, Some(schema), &mut forward)
            .await?;
        self.read_or_repair(messages, schema, first).await
    }

    /// One turn with `tools` offered (`tool_choice: auto`): the model answers in text or asks
    /// for calls. Not streamed; retried like [`Self::complete`].
    #[instrument(skip_all, fields(model = %self.model(), tools = tools.len()))]
    pub async fn complete_with_tools(
        &self,
        messages: &[Value],
        tools: &[Tool],
    ) -> Result<ToolTurn> {
        if messages.is_empty() {
            return Err(LlmError::Config(
                "a completion needs at least one message".into(),
            ));
        }
        let s = self.tuning();
        let mut request = serde_json::json!({
            "model": s.model,
            "messages": messages,
            "tools": tools.iter().map(|t| serde_json::json!({
                "type": "function",
                "function": { "name": t.name, "description": t.description, "parameters": t.parameters },
            })).collect::<Vec<_>>(),
            "tool_choice": "auto",
            "stream": false,
        });
        if let Some(t) = s.temperature {
            request["temperature"] = serde_json::json!(t);
        }
        if let Some(m) = s.max_tokens {
            request["max_tokens"] = serde_json::json!(m);
        }
        let mut backoff = self.backoff();
        loop {
            backoff.start_attempt();
            match self.tool_turn_once(&request).await {
                Ok(turn) => return Ok(turn),
                Err(failure) => self.wait_or_give_up(&backoff, failure).await?,
            }
        }
    }

    async fn tool_turn_once(&self, request: &Value) -> std::result::Result<ToolTurn, Failure> {
        let limit = self.inner.settings.timeout;
        let chat = self.inner.client.chat();
        let call = chat.create_byot::<_, wire::ChatCompletion>(request);
        let reply = match timeout(limit, call).await {
            Err(_) => return Err(self.timed_out()),
            Ok(reply) => reply.map_err(|e| classify(e, limit))?,
        };
        if let Some(error) = &reply.error {
            return Err(server_reported(error));
        }
        let message = reply
            .choices
            .and_then(|choices| choices.into_iter().next())
            .and_then(|c| c.message)
            .ok_or_else(|| {
                Failure::fatal(LlmError::Malformed("the reply has no message".into()))
            })?;
        let calls = message
            .tool_calls
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, c)| {
                let f = c.function.as_ref()?;
                Some(ToolCall {
                    id: c.id.clone().unwrap_or_else(|| format!("call_{i}")),
                    name: f.name.clone()?,
                    arguments: match &f.arguments {
                        Some(Value::String(s)) => s.clone(),
                        Some(other) => other.to_string(),
                        None => "{}".into(),
                    },
                })
            })
            .collect();
        let usage = reply.usage.unwrap_or_default();
        let text = message.text().unwrap_or_default();
        Ok(ToolTurn {
            text: strip_reasoning(&text).to_owned(),
            calls,
            model: reply
                .model
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| self.inner.settings.model.clone()),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
        })
    }

    async fn read_or_repair(
        &self,
        messages: &[ChatMessage],
        schema: &JsonSchema,
        first: Completion,
    ) -> Result<(Value, Completion)> {
        let problem = match read_object(&first.text, schema) {
            Ok(value) => return Ok((value, first)),
            Err(problem) => problem,
        };
        warn!(%problem, schema = %schema.name, "unusable JSON reply; asking for a repair");
        // The reply may quote the customer: only at debug level.
        debug!(reply = %excerpt(&first.text, 200), "the unusable reply");
        let mut conversation = messages.to_vec();
        conversation.push(ChatMessage::assistant(first.text.clone()));
        conversation.push(ChatMessage::user(repair_request(schema, &problem)));
        let second = self.complete(&conversation, Some(schema)).await?;
        let total = Completion {
            prompt_tokens: sum(first.prompt_tokens, second.prompt_tokens),
            completion_tokens: sum(first.completion_tokens, second.completion_tokens),
            attempts: first.attempts + second.attempts,
            repaired: true,
            ..second
        };
        match read_object(&total.text, schema) {
            Ok(value) => Ok((value, total)),
            Err(problem) => Err(LlmError::Malformed(format!(
                "no JSON object matching schema `{}` even after a repair request: {problem}; the \
                 last reply began: {}",
                schema.name,
                excerpt(&total.text, 200)
            ))),
        }
    }

    async fn complete_once(
        &self,
        request: &CreateChatCompletionRequest,
    ) -> std::result::Result<Completion, Failure> {
        let limit = self.inner.settings.timeout;
        let chat = self.inner.client.chat();
        let call = chat.create_byot::<_, wire::ChatCompletion>(request);
        let reply = match timeout(limit, call).await {
            Err(_) => return Err(self.timed_out()),
            Ok(reply) => reply.map_err(|e| classify(e, limit))?,
        };
        if let Some(error) = &reply.error {
            return Err(server_reported(error));
        }
        let choice = reply
            .choices
            .and_then(|choices| choices.into_iter().next())
            .ok_or_else(|| {
                Failure::fatal(LlmError::Malformed("the reply has no choices".into()))
            })?;
        let message = choice.message.ok_or_else(|| {
            Failure::fatal(LlmError::Malformed(
                "the reply's choice has no message".into(),
            ))
        })?;
        let text = match (message.text(), message.refusal) {
            (Some(text), _) => text,
            (None, Some(refusal)) => {
                return Err(Failure::fatal(LlmError::Malformed(format!(
                    "the model refused: {}",
                    excerpt(&refusal, 300)
                ))));
            }
            (None, None) => {
                return Err(Failure::fatal(LlmError::Malformed(
                    "the reply's message has no content".into(),
                )));
            }
        };
        warn_if_cut_off(choice.finish_reason.as_deref());
        Ok(self.completion(&text, reply.model, reply.usage.unwrap_or_default()))
    }

    async fn stream_once(
        &self,
        request: &CreateChatCompletionRequest,
        on_delta: &mut (dyn FnMut(&str) + Send),
    ) -> std::result::Result<Completion, Failure> {
        let limit = self.inner.settings.timeout;
        let chat = self.inner.client.chat();
        let call = chat.create_stream_byot::<_, wire::ChatChunk>(request);
        let mut stream = match timeout(limit, call).await {
            Err(_) => return Err(self.timed_out()),
            Ok(stream) => stream.map_err(|e| classify(e, limit))?,
        };
        let mut text = String::new();
        let mut model = None;
        let mut usage = Usage::default();
        let mut finish_reason = None;
        let mut chunks = 0usize;
        loop {
            let chunk = match timeout(limit, stream.next()).await {
                Err(_) => Err(self.timed_out()),
                Ok(None) => break,
                Ok(Some(Err(e))) => Err(classify(e, limit)),
                Ok(Some(Ok(chunk))) => match &chunk.error {
                    Some(error) => Err(server_reported(error)),
                    None => Ok(chunk),
                },
            };
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(mut failure) => {
                    // Retrying would show the customer the same words twice.
                    failure.retryable &= text.is_empty();
                    return Err(failure);
                }
            };
            chunks += 1;
            model = chunk.model.or(model);
            usage = chunk.usage.unwrap_or(usage);
            // We ask for one choice; some servers still number it, none send others.
            if let Some(choice) = chunk.choices.and_then(|c| c.into_iter().next()) {
                finish_reason = choice.finish_reason.or(finish_reason);
                if let Some(delta) = choice.delta.and_then(|d| d.content)
                    && !delta.is_empty()
                {
                    on_delta(&delta);
                    text.push_str(&delta);
                }
            }
        }
        if chunks == 0 {
            return Err(Failure::retryable(LlmError::Transport(
                "the event stream ended before any chunk".into(),
            )));
        }
        warn_if_cut_off(finish_reason.as_deref());
        Ok(self.completion(&text, model, usage))
    }

    /// Sleeps before the next attempt, or returns the failure as the final error.
    async fn wait_or_give_up(&self, backoff: &Backoff, failure: Failure) -> Result<()> {
        match backoff.next_delay(&failure) {
            Some(delay) => {
                warn!(
                    attempt = backoff.attempts(),
                    ?delay,
                    error = %failure.error,
                    "model request failed; retrying"
                );
                sleep(delay).await;
                Ok(())
            }
            None => Err(failure
                .error
                .with_attempts(backoff.attempts())
                .redact(self.inner.settings.api_key.as_deref())),
        }
    }

    fn backoff(&self) -> Backoff {
        let s = &self.inner.settings;
        Backoff::new(s.initial_backoff, s.max_attempts)
    }

    fn timed_out(&self) -> Failure {
        Failure::retryable(LlmError::Timeout {
            after: self.inner.settings.timeout,
            attempts: 1,
        })
    }

    fn completion(&self, text: &str, model: Option<String>, usage: Usage) -> Completion {
        Completion {
            text: strip_reasoning(text).to_owned(),
            model: model
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| self.inner.settings.model.clone()),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            attempts: 1,
            repaired: false,
        }
    }

    #[allow(deprecated)] // `max_tokens`: the field local servers understand (see `LlmSettings`).
    fn request(
        &self,
        messages: &[ChatMessage],
        schema: Option<&JsonSchema>,
        stream: bool,
    ) -> Result<CreateChatCompletionRequest> {
        if messages.is_empty() {
            return Err(LlmError::Config(
                "a completion needs at least one message".into(),
            ));
        }
        let response_format = schema.map(response_format).transpose()?;
        let s = self.tuning();
        Ok(CreateChatCompletionRequest {
            model: s.model,
            messages: messages.iter().map(to_request_message).collect(),
            temperature: s.temperature,
            max_tokens: s.max_tokens,
            response_format,
            stream: Some(stream),
            stream_options: stream.then_some(ChatCompletionStreamOptions {
                include_usage: Some(true),
                include_obfuscation: None,
            }),
            ..Default::default()
        })
    }
}

fn validate(settings: &LlmSettings) -> Result<()> {
    let config = |m: String| Err(LlmError::Config(m));
    match reqwest::Url::parse(&settings.base_url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => {}
        _ => {
            return config(format!(
                "base_url `{}` is not an http(s) URL such as http://127.0.0.1:11434/v1",
                settings.base_url
            ));
        }
    }
    if settings.model.trim().is_empty() {
        return config("the model name is empty".into());
    }
    if settings.max_attempts == 0 {
        return config("max_attempts must be at least 1 (the first attempt counts)".into());
    }
    if settings.timeout.is_zero() {
        return config("the request timeout must be more than zero".into());
    }
    if settings.temperature.is_some_and(|t| !t.is_finite()) {
        return config("the temperature must be a finite number".into());
    }
    if let Some(key) = &settings.api_key
        && HeaderValue::from_str(&format!("Bearer {key}")).is_err()
    {
        return config("the API key holds characters that cannot go in an HTTP header".into());
    }
    Ok(())
}

fn response_format(schema: &JsonSchema) -> Result<ResponseFormat> {
    let name_ok = (1..=64).contains(&schema.name.len())
        && schema
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !name_ok {
        return Err(LlmError::Config(format!(
            "schema name `{}` must be 1 to 64 of a-z, A-Z, 0-9, _ and -",
            schema.name
        )));
    }
    Ok(ResponseFormat::JsonSchema {
        json_schema: ResponseFormatJsonSchema {
            description: None,
            name: schema.name.clone(),
            schema: schema.schema.clone(),
            strict: Some(true),
        },
    })
}

fn to_request_message(message: &ChatMessage) -> ChatCompletionRequestMessage {
    let content = message.content.clone();
    match message.role {
        Role::System => ChatCompletionRequestSystemMessage::from(content).into(),
        Role::User => ChatCompletionRequestUserMessage::from(content).into(),
        Role::Assistant => ChatCompletionRequestAssistantMessage::from(content).into(),
    }
}

/// A chat message as the raw request JSON (for [`OpenAiCompatible::complete_with_tools`]).
pub fn chat_message_json(message: &ChatMessage) -> Value {
    let role = match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    serde_json::json!({ "role": role, "content": message.content })
}

/// The parsed object, or what is wrong with the reply, in words the model can act on.
fn read_object(text: &str, schema: &JsonSchema) -> std::result::Result<Value, String> {
    let value = parse_json_lenient(text).ok_or("it does not contain a JSON object")?;
    let missing: Vec<&str> = schema
        .schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|key| value.get(key).is_none())
        .collect();
    if missing.is_empty() {
        Ok(value)
    } else {
        Err(format!(
            "its JSON object lacks the required field(s) {}",
            missing.join(", ")
        ))
    }
}

fn repair_request(schema: &JsonSchema, problem: &str) -> String {
    format!(
        "Your previous reply could not be used: {problem}. Reply again with only one valid JSON \
         object matching this JSON schema, with no other text and no Markdown code fences:\n{}",
        schema.schema
    )
}

/// A 200 answer carrying `{"error": …}`: the server failed, like a 5xx.
fn server_reported(error: &Value) -> Failure {
    Failure::retryable(LlmError::Transport(format!(
        "the model server reported an error: {}",
        excerpt(&wire::error_message(error), 500)
    )))
}

fn warn_if_cut_off(finish_reason: Option<&str>) {
    if finish_reason == Some("length") {
        warn!("the model's reply was cut off by max_tokens");
    }
}

fn sum(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (None, None) => None,
        _ => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
    }
}
