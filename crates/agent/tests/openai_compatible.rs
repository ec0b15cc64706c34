//! The OpenAI-compatible client against a server on loopback that speaks the real
//! `/v1/chat/completions` wire format: `chat.completion` objects, SSE `chat.completion.chunk`
//! streams, structured output and its repair, retries, timeouts and the API key's secrecy.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures::StreamExt;
use rapport_agent::llm::{ChatMessage, JsonSchema, LlmError, LlmSettings, OpenAiCompatible};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// What the server answers to the next request.
#[derive(Clone)]
enum Reply {
    /// A `chat.completion` whose message has this content.
    Text(String),
    /// An SSE stream with one `chat.completion.chunk` per delta, then a finish chunk, a usage
    /// chunk and `[DONE]`. With `hold_at`, the server stops before that event until the test
    /// releases it (or two seconds pass).
    Stream {
        deltas: Vec<String>,
        hold_at: Option<usize>,
    },
    /// An error status with an OpenAI-style error body.
    Status {
        status: u16,
        message: String,
        retry_after: Option<&'static str>,
    },
    /// 200 with a body that is no chat completion.
    Garbage(&'static str),
    /// Answers only after this long.
    Slow(Duration),
}

fn text(content: &str) -> Reply {
    Reply::Text(content.to_owned())
}

fn stream(deltas: &[&str]) -> Reply {
    Reply::Stream {
        deltas: deltas.iter().map(|d| (*d).to_owned()).collect(),
        hold_at: None,
    }
}

fn status(status: u16, message: &str) -> Reply {
    Reply::Status {
        status,
        message: message.to_owned(),
        retry_after: None,
    }
}

/// A request as the server received it.
#[derive(Clone, Debug)]
struct Received {
    body: Value,
    authorization: Option<String>,
}

/// A scripted model server that remembers every request.
#[derive(Clone, Default)]
struct ModelServer {
    script: Arc<Mutex<VecDeque<Reply>>>,
    received: Arc<Mutex<Vec<Received>>>,
    /// Lets a held stream go on.
    release: Arc<Notify>,
    /// Set when a stream's last event has been handed to the connection.
    stream_finished: Arc<AtomicBool>,
}

impl ModelServer {
    /// Serves `replies` in order on 127.0.0.1; returns the server and its `/v1` base URL.
    async fn start(replies: impl IntoIterator<Item = Reply>) -> (Self, String) {
        let server = Self {
            script: Arc::new(Mutex::new(replies.into_iter().collect())),
            ..Self::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .with_state(server.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (server, format!("http://{addr}/v1"))
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn bodies(&self) -> Vec<Value> {
        self.received().into_iter().map(|r| r.body).collect()
    }
}

async fn chat_completions(
    State(server): State<ModelServer>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    server.received.lock().unwrap().push(Received {
        body,
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    let reply = server.script.lock().unwrap().pop_front();
    match reply {
        None => (StatusCode::INTERNAL_SERVER_ERROR, "no scripted reply left").into_response(),
        Some(Reply::Text(content)) => Json(completion(&content)).into_response(),
        Some(Reply::Stream { deltas, hold_at }) => sse(server, &deltas, hold_at),
        Some(Reply::Status {
            status,
            message,
            retry_after,
        }) => {
            let body = json!({
                "error": {"message": message, "type": "test_error", "param": null, "code": null}
            });
            let mut response = (StatusCode::from_u16(status).unwrap(), Json(body)).into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, seconds.parse().unwrap());
            }
            response
        }
        Some(Reply::Garbage(body)) => ([(header::CONTENT_TYPE, "text/html")], body).into_response(),
        Some(Reply::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            Json(completion("too late")).into_response()
        }
    }
}

const SERVED_MODEL: &str = "test-model-2024-06-01";

fn completion(content: &str) -> Value {
    json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": SERVED_MODEL,
        "system_fingerprint": "fp_test",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": null},
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    })
}

fn chunk(choices: Value, usage: Value) -> String {
    let chunk = json!({
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": SERVED_MODEL,
        "system_fingerprint": "fp_test",
        "choices": choices,
        "usage": usage,
    });
    format!("data: {chunk}\n\n")
}

fn sse(server: ModelServer, deltas: &[String], hold_at: Option<usize>) -> Response {
    let mut events: Vec<String> = deltas
        .iter()
        .enumerate()
        .map(|(i, delta)| {
            let delta = if i == 0 {
                json!({"role": "assistant", "content": delta})
            } else {
                json!({"content": delta})
            };
            chunk(
                json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": null}]),
                Value::Null,
            )
        })
        .collect();
    events.push(chunk(
        json!([{"index": 0, "delta": {}, "logprobs": null, "finish_reason": "stop"}]),
        Value::Null,
    ));
    events.push(chunk(
        json!([]),
        json!({"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}),
    ));
    events.push("data: [DONE]\n\n".to_owned());
    let last = events.len() - 1;
    let body = futures::stream::iter(events.into_iter().enumerate()).then(move |(i, event)| {
        let server = server.clone();
        async move {
            if Some(i) == hold_at {
                let _ =
                    tokio::time::timeout(Duration::from_secs(2), server.release.notified()).await;
            }
            if i == last {
                server.stream_finished.store(true, Ordering::SeqCst);
            }
            Ok::<_, Infallible>(event)
        }
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// Short limits so that retries and timeouts cost milliseconds.
fn settings(base_url: &str) -> LlmSettings {
    LlmSettings {
        timeout: Duration::from_millis(300),
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        ..LlmSettings::new(base_url, "test-model")
    }
}

fn client(base_url: &str) -> OpenAiCompatible {
    OpenAiCompatible::new(settings(base_url)).unwrap()
}

fn conversation() -> Vec<ChatMessage> {
    vec![
        ChatMessage::system("You are Rapport, a support agent. Answer briefly."),
        ChatMessage::user("Are you open today?"),
    ]
}

fn answer_schema() -> JsonSchema {
    JsonSchema::new(
        "support_answer",
        json!({
            "type": "object",
            "properties": {"answer": {"type": "string"}, "escalate": {"type": "boolean"}},
            "required": ["answer", "escalate"],
            "additionalProperties": false
        }),
    )
}

#[tokio::test]
async fn plain_completion_returns_the_text_and_usage() {
    let (server, url) = ModelServer::start([text("Yes, until 6 pm.")]).await;
    let client = OpenAiCompatible::new(LlmSettings {
        temperature: Some(0.5),
        max_tokens: Some(256),
        ..settings(&url)
    })
    .unwrap();

    let completion = client.complete(&conversation(), None).await.unwrap();

    assert_eq!(completion.text, "Yes, until 6 pm.");
    assert_eq!(completion.model, SERVED_MODEL);
    assert_eq!(completion.prompt_tokens, Some(12));
    assert_eq!(completion.completion_tokens, Some(5));
    assert_eq!(completion.attempts, 1);
    assert!(!completion.repaired);
    let body = &server.bodies()[0];
    assert_eq!(body["model"], "test-model");
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You are Rapport, a support agent. Answer briefly."},
            {"role": "user", "content": "Are you open today?"}
        ])
    );
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["max_tokens"], 256);
    assert_ne!(body["stream"], true);
    assert!(body.get("response_format").is_none());
}

#[tokio::test]
async fn a_leading_think_block_is_not_part_of_the_text() {
    let (_server, url) =
        ModelServer::start([text("<think>The user asks about hours.</think>\n\nYes.")]).await;

    let completion = client(&url).complete(&conversation(), None).await.unwrap();

    assert_eq!(completion.text, "Yes.");
}

#[tokio::test]
async fn json_schema_is_sent_as_response_format() {
    let (server, url) =
        ModelServer::start([text(r#"{"answer": "Yes, until 6 pm.", "escalate": false}"#)]).await;

    let (value, completion) = client(&url)
        .complete_json(&conversation(), &answer_schema())
        .await
        .unwrap();

    assert_eq!(
        value,
        json!({"answer": "Yes, until 6 pm.", "escalate": false})
    );
    assert_eq!(completion.attempts, 1);
    assert_eq!(
        server.bodies()[0]["response_format"],
        json!({
            "type": "json_schema",
            "json_schema": {
                "name": "support_answer",
                "schema": answer_schema().schema,
                "strict": true
            }
        })
    );
}

#[tokio::test]
async fn streaming_delivers_deltas_in_order_and_the_whole_text() {
    let (server, url) = ModelServer::start([stream(&["Yes", ", until", " 6 ", "pm."])]).await;
    let client = client(&url);

    // Spawned, which also proves the future can move between threads.
    let (completion, deltas) = tokio::spawn(async move {
        let mut deltas = Vec::new();
        let completion = client
            .complete_streaming(&conversation(), None, &mut |d| deltas.push(d.to_owned()))
            .await;
        (completion, deltas)
    })
    .await
    .unwrap();

    let completion = completion.unwrap();
    assert_eq!(deltas, ["Yes", ", until", " 6 ", "pm."]);
    assert_eq!(completion.text, "Yes, until 6 pm.");
    assert_eq!(completion.model, SERVED_MODEL);
    assert_eq!(completion.prompt_tokens, Some(12));
    assert_eq!(completion.completion_tokens, Some(5));
    let body = &server.bodies()[0];
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn streamed_answer_field_is_decoded_while_it_arrives() {
    // The object arrives fenced, with escapes cut in half between chunks.
    let deltas = [
        "```json\n{\"esc",
        "alate\": false, \"answer\": \"Caf",
        "\\u00",
        "e9 is open \\",
        "\"today\\",
        "\"\\n",
        "\"}\n```",
    ];
    let (server, url) = ModelServer::start([Reply::Stream {
        deltas: deltas.iter().map(|d| (*d).to_owned()).collect(),
        hold_at: Some(3),
    }])
    .await;
    let mut shown = Vec::new();
    let mut first_came_before_the_end = None;
    let (release, finished) = (server.release.clone(), server.stream_finished.clone());

    let (value, completion) = client(&url)
        .complete_json_streaming(&conversation(), &answer_schema(), "answer", &mut |text| {
            first_came_before_the_end.get_or_insert(!finished.load(Ordering::SeqCst));
            shown.push(text.to_owned());
            release.notify_one();
        })
        .await
        .unwrap();

    assert_eq!(first_came_before_the_end, Some(true));
    assert_eq!(shown, ["Caf", "é is open ", "\"today", "\"\n"]);
    assert_eq!(value["answer"], "Café is open \"today\"\n");
    assert_eq!(value["escalate"], false);
    assert_eq!(shown.concat(), value["answer"].as_str().unwrap());
    assert!(!completion.repaired);
    assert_eq!(server.bodies()[0]["stream"], true);
    assert_eq!(
        server.bodies()[0]["response_format"]["json_schema"]["name"],
        "support_answer"
    );
}

#[tokio::test]
async fn fenced_json_with_thinking_and_a_trailing_comma_needs_no_repair() {
    let reply = "<think>They want {hours}.</think>\nHere it is:\n```json\n{\"answer\": \"Yes\", \"escalate\": false,}\n```";
    let (server, url) = ModelServer::start([text(reply)]).await;

    let (value, completion) = client(&url)
        .complete_json(&conversation(), &answer_schema())
        .await
        .unwrap();

    assert_eq!(value, json!({"answer": "Yes", "escalate": false}));
    assert!(!completion.repaired);
    assert_eq!(server.bodies().len(), 1);
}

#[tokio::test]
async fn malformed_json_gets_one_repair_retry() {
    let (server, url) = ModelServer::start([
        text("Sure! We are open until 6 pm today."),
        text(r#"{"answer": "We are open until 6 pm today.", "escalate": false}"#),
    ])
    .await;

    let (value, completion) = client(&url)
        .complete_json(&conversation(), &answer_schema())
        .await
        .unwrap();

    assert_eq!(value["answer"], "We are open until 6 pm today.");
    assert!(completion.repaired);
    assert_eq!(completion.attempts, 2);
    assert_eq!(completion.prompt_tokens, Some(24));
    let bodies = server.bodies();
    assert_eq!(bodies.len(), 2);
    let repair = bodies[1]["messages"].as_array().unwrap();
    assert_eq!(repair.len(), 4);
    assert_eq!(
        repair[2],
        json!({"role": "assistant", "content": "Sure! We are open until 6 pm today."})
    );
    assert_eq!(repair[3]["role"], "user");
    let ask = repair[3]["content"].as_str().unwrap();
    assert!(ask.contains("only one valid JSON object"), "{ask}");
    assert!(
        ask.contains(r#""escalate""#),
        "the schema goes with it: {ask}"
    );
    assert_eq!(bodies[1]["response_format"], bodies[0]["response_format"]);
}

#[tokio::test]
async fn a_missing_required_field_gets_a_repair_naming_it() {
    let (server, url) = ModelServer::start([
        text(r#"{"answer": "Yes"}"#),
        text(r#"{"answer": "Yes", "escalate": false}"#),
    ])
    .await;

    let (value, completion) = client(&url)
        .complete_json(&conversation(), &answer_schema())
        .await
        .unwrap();

    assert_eq!(value, json!({"answer": "Yes", "escalate": false}));
    assert!(completion.repaired);
    let ask = server.bodies()[1]["messages"][3]["content"].clone();
    assert!(
        ask.as_str()
            .unwrap()
            .contains("lacks the required field(s) escalate")
    );
}

#[tokio::test]
async fn still_malformed_after_repair_is_a_clear_error() {
    let (server, url) = ModelServer::start([
        text("We are open until 6 pm."),
        text("As I said, we are open until 6 pm."),
    ])
    .await;

    let error = client(&url)
        .complete_json(&conversation(), &answer_schema())
        .await
        .unwrap_err();

    let LlmError::Malformed(message) = &error else {
        panic!("expected Malformed, got {error:?}");
    };
    assert!(message.contains("support_answer"), "{message}");
    assert!(message.contains("even after a repair request"), "{message}");
    assert!(message.contains("As I said"), "{message}");
    assert_eq!(server.bodies().len(), 2, "exactly one repair");
}

#[tokio::test]
async fn a_reply_that_is_no_chat_completion_is_malformed_and_not_retried() {
    let (server, url) =
        ModelServer::start([Reply::Garbage("<html>Welcome to nginx!</html>")]).await;

    let error = client(&url)
        .complete(&conversation(), None)
        .await
        .unwrap_err();

    assert!(matches!(error, LlmError::Malformed(_)), "{error:?}");
    assert!(error.to_string().contains("Welcome to nginx"), "{error}");
    assert_eq!(server.bodies().len(), 1);
}

#[tokio::test]
async fn rate_limited_then_success_is_retried() {
    let (server, url) = ModelServer::start([
        Reply::Status {
            status: 429,
            message: "Rate limit reached for requests".into(),
            retry_after: Some("0"),
        },
        text("Yes."),
    ])
    .await;

    let completion = client(&url).complete(&conversation(), None).await.unwrap();

    assert_eq!(completion.text, "Yes.");
    assert_eq!(completion.attempts, 2);
    assert_eq!(server.bodies().len(), 2);
}

#[tokio::test]
async fn rate_limited_every_time_gives_up_after_max_attempts() {
    let limited = status(429, "Rate limit reached for requests");
    let (server, url) = ModelServer::start([limited.clone(), limited.clone(), limited]).await;

    let error = client(&url)
        .complete(&conversation(), None)
        .await
        .unwrap_err();

    let LlmError::RateLimited { attempts, body, .. } = &error else {
        panic!("expected RateLimited, got {error:?}");
    };
    assert_eq!(*attempts, 3);
    assert!(body.contains("Rate limit reached"), "{body}");
    assert_eq!(server.bodies().len(), 3);
}

#[tokio::test]
async fn streaming_is_retried_when_rate_limited_before_any_text() {
    let (server, url) = ModelServer::start([status(429, "slow down"), stream(&["Yes", "."])]).await;
    let mut deltas = Vec::new();

    let completion = client(&url)
        .complete_streaming(&conversation(), None, &mut |d| deltas.push(d.to_owned()))
        .await
        .unwrap();

    assert_eq!(deltas, ["Yes", "."]);
    assert_eq!(completion.attempts, 2);
    assert_eq!(server.bodies().len(), 2);
}

#[tokio::test]
async fn server_error_is_retried_then_gives_up_with_the_status() {
    let overloaded = status(503, "The upstream model is overloaded");
    let (server, url) =
        ModelServer::start([overloaded.clone(), overloaded.clone(), overloaded]).await;

    let error = client(&url)
        .complete(&conversation(), None)
        .await
        .unwrap_err();

    let LlmError::Status { status, body } = &error else {
        panic!("expected Status, got {error:?}");
    };
    assert_eq!(*status, 503);
    assert!(body.contains("overloaded"), "{body}");
    assert_eq!(server.bodies().len(), 3);
}

#[tokio::test]
async fn unauthorized_and_bad_requests_are_not_retried() {
    for code in [401, 400, 404] {
        let (server, url) = ModelServer::start([status(code, "no"), text("never sent")]).await;

        let error = client(&url)
            .complete(&conversation(), None)
            .await
            .unwrap_err();

        assert!(
            matches!(error, LlmError::Status { status, .. } if status == code),
            "{error:?}"
        );
        assert_eq!(server.bodies().len(), 1, "HTTP {code} was retried");
    }
}

#[tokio::test]
async fn slow_server_times_out() {
    let slow = Reply::Slow(Duration::from_secs(3));
    let (server, url) = ModelServer::start([slow.clone(), slow]).await;
    let client = OpenAiCompatible::new(LlmSettings {
        max_attempts: 2,
        ..settings(&url)
    })
    .unwrap();
    let started = Instant::now();

    let error = client.complete(&conversation(), None).await.unwrap_err();

    let LlmError::Timeout { after, attempts } = error else {
        panic!("expected Timeout, got {error:?}");
    };
    assert_eq!(after, Duration::from_millis(300));
    assert_eq!(attempts, 2);
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(server.bodies().len(), 2);
}

#[tokio::test]
async fn a_stream_that_stalls_after_text_times_out_without_a_retry() {
    // Held before its second event, and nobody releases it.
    let (server, url) = ModelServer::start([
        Reply::Stream {
            deltas: vec!["Yes".into(), ", until 6 pm.".into()],
            hold_at: Some(1),
        },
        stream(&["Yes, until 6 pm."]),
    ])
    .await;
    let mut deltas = Vec::new();

    let error = client(&url)
        .complete_streaming(&conversation(), None, &mut |d| deltas.push(d.to_owned()))
        .await
        .unwrap_err();

    assert!(matches!(error, LlmError::Timeout { .. }), "{error:?}");
    assert_eq!(deltas, ["Yes"], "the customer must not see the text twice");
    assert_eq!(server.bodies().len(), 1);
}

#[tokio::test]
async fn an_unreachable_server_is_a_transport_error_after_retries() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);

    let error = client(&format!("http://{addr}/v1"))
        .complete(&conversation(), None)
        .await
        .unwrap_err();

    assert!(matches!(error, LlmError::Transport(_)), "{error:?}");
}

#[tokio::test]
async fn api_key_is_sent_as_bearer_and_never_in_errors() {
    const KEY: &str = "sk-test-secret-4242";
    let (server, url) =
        ModelServer::start([status(401, &format!("Incorrect API key provided: {KEY}."))]).await;
    let client = OpenAiCompatible::new(LlmSettings {
        api_key: Some(KEY.into()),
        ..settings(&url)
    })
    .unwrap();

    let error = client.complete(&conversation(), None).await.unwrap_err();

    assert_eq!(
        server.received()[0].authorization.as_deref(),
        Some("Bearer sk-test-secret-4242")
    );
    assert!(matches!(error, LlmError::Status { status: 401, .. }));
    for shown in [
        error.to_string(),
        format!("{error:?}"),
        format!("{client:?}"),
    ] {
        assert!(!shown.contains(KEY), "the key leaked: {shown}");
    }
    assert!(
        error
            .to_string()
            .contains("Incorrect API key provided: [redacted]")
    );
}

#[tokio::test]
async fn invalid_settings_are_rejected_without_quoting_the_key() {
    let broken = [
        LlmSettings::new("localhost:11434", "llama3"),
        LlmSettings::new("http://127.0.0.1:11434/v1", " "),
        LlmSettings {
            max_attempts: 0,
            ..LlmSettings::new("http://127.0.0.1:11434/v1", "llama3")
        },
        LlmSettings {
            api_key: Some("sk-line\nbreak".into()),
            ..LlmSettings::new("http://127.0.0.1:11434/v1", "llama3")
        },
    ];
    for settings in broken {
        let error = OpenAiCompatible::new(settings).unwrap_err();
        assert!(matches!(error, LlmError::Config(_)), "{error:?}");
        assert!(!error.to_string().contains("sk-line"), "{error}");
    }
}
