//! A stand-in for third-party HTTP APIs we cannot reach from tests (Meta's Graph API, an
//! integration's callback): a real HTTP server on loopback that records every request and
//! answers with scripted replies in the provider's own shapes, then a default reply.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// The query string, without `?` (empty when there is none).
    pub query: String,
    /// Lower-case header names.
    pub headers: HashMap<String, String>,
    pub raw: Vec<u8>,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: Value,
}

/// What the fake answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
    /// A body that is not JSON (a file download), sent instead of `body`.
    pub raw: Option<Vec<u8>>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            body,
            headers: Vec::new(),
            raw: None,
        }
    }

    pub fn bytes(content_type: &str, bytes: &[u8]) -> Self {
        Reply {
            status: 200,
            body: Value::Null,
            headers: vec![("content-type".into(), content_type.into())],
            raw: Some(bytes.to_vec()),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

type DefaultReply = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

struct State {
    requests: Vec<Recorded>,
    script: VecDeque<Reply>,
    default: Box<DefaultReply>,
}

#[derive(Clone)]
pub struct FakeHttp {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FakeHttp {
    /// Starts the server; requests beyond the script get `default(request, n)` (n counts from 1).
    pub async fn start(
        default: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let state = Arc::new(Mutex::new(State {
            requests: Vec::new(),
            script: VecDeque::new(),
            default: Box::new(default),
        }));
        let shared = state.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = shared.clone();
                async move { answer(&state, method, uri, headers, body) }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeHttp { url, state }
    }

    /// The next requests get these replies, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state
            .lock()
            .expect("fake state")
            .script
            .extend(replies);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().expect("fake state").requests.clone()
    }

    /// Waits until at least `n` requests came in (or panics after `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {n} requests, got {}: {got:#?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn answer(
    state: &Mutex<State>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        raw: body.to_vec(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    let mut state = state.lock().expect("fake state");
    state.requests.push(recorded.clone());
    let n = state.requests.len();
    let reply = match state.script.pop_front() {
        Some(r) => r,
        None => (state.default)(&recorded, n),
    };
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match reply.raw {
        Some(bytes) => (status, bytes).into_response(),
        None => (status, axum::Json(reply.body)).into_response(),
    };
    for (name, value) in reply.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// What the Graph API answers to a send: WhatsApp's shape for `/messages` of a phone number,
/// Instagram's for the Send API.
pub fn graph_ok(r: &Recorded, n: usize) -> Reply {
    if r.body["messaging_product"] == "whatsapp" {
        let to = r.body["to"].as_str().unwrap_or_default();
        Reply::json(
            200,
            json!({
                "messaging_product": "whatsapp",
                "contacts": [{ "input": to, "wa_id": to }],
                "messages": [{ "id": format!("wamid.FAKE{n}") }]
            }),
        )
    } else {
        Reply::json(
            200,
            json!({ "recipient_id": r.body["recipient"]["id"], "message_id": format!("mid.FAKE{n}") }),
        )
    }
}

/// A Graph API error body as Meta sends it.
pub fn graph_error(status: u16, code: i64, message: &str, details: Option<&str>) -> Reply {
    let mut error = json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEfGhIjK"
    });
    if let Some(details) = details {
        error["error_data"] = json!({ "messaging_product": "whatsapp", "details": details });
    }
    Reply::json(status, json!({ "error": error }))
}
