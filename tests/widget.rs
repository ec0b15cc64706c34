//! The web chat widget as a visitor's browser uses it: sessions that survive a reload, messages
//! answered live over server-sent events (typing, streamed text), origins and rate limits, signed
//! identities that join the customer's other channels — and one real headless Chromium that
//! loads a page with the widget, asks a question and sees the answer.
//! Everything is real: SQLite (and PostgreSQL), Qdrant Edge, the MiniLM embedder.

mod browser;
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use browser::Browser;
use common::{Backend, TestApp};
use rapport_agent::identity::SignedIdentity;
use rapport_core::domain::Channel;
use rapport_core::ids::{ContactId, MessageId, WorkspaceId};
use rapport_server::Config;
use rapport_server::config::Secret;
use serde_json::{Value, json};

const WS: WorkspaceId = WorkspaceId::DEFAULT;
const PASSWORD_ANSWER: &str = "Forgot password link";

async fn body(resp: reqwest::Response) -> Value {
    resp.json().await.expect("a JSON body")
}

/// A visitor's browser: no admin credentials, only the visitor token where a call needs one.
fn visitor() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("HTTP client")
}

async fn spawn(backend: Backend, customise: impl FnOnce(&mut Config)) -> Option<TestApp> {
    TestApp::spawn_with(backend, customise).await
}

async fn start(app: &TestApp, request: Value) -> reqwest::Response {
    visitor()
        .post(app.url("/api/v1/widget/sessions"))
        .json(&request)
        .send()
        .await
        .expect("sent")
}

async fn token(app: &TestApp) -> String {
    let resp = start(app, json!({})).await;
    assert_eq!(resp.status(), 201);
    body(resp).await["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

async fn say(app: &TestApp, token: &str, text: &str, client_id: &str) -> reqwest::Response {
    visitor()
        .post(app.url("/api/v1/widget/messages"))
        .bearer_auth(token)
        .json(&json!({"text": text, "client_id": client_id}))
        .send()
        .await
        .expect("sent")
}

async fn history(app: &TestApp, token: &str, query: &str) -> Value {
    let resp = visitor()
        .get(app.url(&format!("/api/v1/widget/messages{query}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
    body(resp).await
}

/// Polls the history until it holds a message of `author`.
async fn wait_for_history(app: &TestApp, token: &str, author: &str) -> Vec<Value> {
    for _ in 0..300 {
        let h = history(app, token, "").await;
        let messages = h["messages"].as_array().cloned().unwrap_or_default();
        if messages.iter().any(|m| m["author"] == author) {
            return messages;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {author} message in the widget history");
}

/// A server-sent event stream, read as the widget reads it.
struct Events {
    resp: reqwest::Response,
    buf: String,
}

impl Events {
    async fn open(app: &TestApp, url: &str, token: Option<&str>) -> Events {
        let mut req = visitor().get(app.url(url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("sent");
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap_or_default()
                .starts_with("text/event-stream")
        );
        let mut events = Events {
            resp,
            buf: String::new(),
        };
        let (name, _) = events.next(Duration::from_secs(10)).await.expect("ready");
        assert_eq!(name, "ready");
        events
    }

    /// The next event (name, JSON data); keep-alive comments are skipped.
    async fn next(&mut self, wait: Duration) -> Option<(String, Value)> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(i) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..i + 2).collect();
                let mut name = "message".to_owned();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return Some((name, serde_json::from_str(&data).expect("JSON data")));
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            let chunk = tokio::time::timeout(left, self.resp.chunk()).await.ok()?;
            let chunk = chunk.expect("stream readable")?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Events until one matches `done` (inclusive).
    async fn until(
        &mut self,
        what: &str,
        done: impl Fn(&str, &Value) -> bool,
    ) -> Vec<(String, Value)> {
        let mut seen = Vec::new();
        loop {
            let Some((name, data)) = self.next(Duration::from_secs(30)).await else {
                panic!("no {what} on the event stream; saw {seen:?}");
            };
            let stop = done(&name, &data);
            seen.push((name, data));
            if stop {
                return seen;
            }
        }
    }
}

#[tokio::test]
async fn the_widget_script_is_served_small_from_the_binary() {
    let app = spawn(Backend::Sqlite, |_| {}).await.expect("app");
    let resp = app.get("/widget.js").await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/javascript")
    );
    assert!(resp.headers().contains_key("cache-control"));
    let script = resp.text().await.expect("text");
    assert!(script.contains("attachShadow"), "styles are isolated");
    assert!(
        script.len() < 16 * 1024,
        "the widget stays small: {} bytes",
        script.len()
    );
    let spec = body(
        visitor()
            .get(app.url("/api/v1/openapi.json"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    for path in [
        "/api/v1/widget/sessions",
        "/api/v1/widget/messages",
        "/api/v1/widget/events",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} is documented");
    }
    let demo = app.get("/widget/demo").await;
    assert_eq!(demo.status(), 200);
    assert!(demo.text().await.expect("text").contains("/widget.js"));
    app.stop().await;
}

async fn a_visitor_chats_and_sees_the_reply_live(backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else {
        return;
    };
    app.with_faq_snippets().await;
    let resp = start(&app, json!({})).await;
    assert_eq!(resp.status(), 201);
    let session = body(resp).await;
    let token = session["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("rwv_") && token.len() >= 36, "{token}");
    assert_eq!(session["resumed"], false);
    assert!(session["widget"]["greeting"].is_string());

    // EventSource cannot set headers: the token may ride in the query.
    let mut events =
        Events::open(&app, &format!("/api/v1/widget/events?token={token}"), None).await;
    let resp = say(&app, &token, "how can I reset my password?", "c-1").await;
    assert_eq!(resp.status(), 202);
    let accepted = body(resp).await;
    assert_eq!(accepted["duplicate"], false);

    let seen = events
        .until("the bot's reply", |name, data| {
            name == "message" && data["author"] == "bot"
        })
        .await;
    let own = seen
        .iter()
        .find(|(n, d)| n == "message" && d["author"] == "customer")
        .expect("the visitor's own message is echoed for other tabs");
    assert_eq!(own.1["client_id"], "c-1");
    assert_eq!(own.1["id"], accepted["id"]);
    assert!(
        seen.iter()
            .any(|(n, d)| n == "typing" && d["typing"] == true),
        "typing dots while the bot works: {seen:?}"
    );
    let (_, reply) = seen.last().expect("reply");
    assert!(
        reply["text"]
            .as_str()
            .unwrap_or_default()
            .contains(PASSWORD_ANSWER),
        "{reply}"
    );
    assert!(reply.get("metadata").is_none(), "no trace for visitors");
    let rest = events
        .until("the end of typing", |name, data| {
            name == "typing" && data["typing"] == false
        })
        .await;
    assert!(rest.iter().all(|(n, _)| n != "message"), "{rest:?}");

    // The reply went through the outbox like every channel's.
    let reply_id = MessageId(reply["id"].as_i64().expect("id"));
    let mut status = None;
    for _ in 0..100 {
        status = app
            .app
            .store
            .message(WS, reply_id)
            .await
            .expect("message")
            .delivery_status;
        if status.as_deref() == Some("sent") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status.as_deref(), Some("sent"));
    app.stop().await;
}

#[tokio::test]
async fn a_visitor_chats_and_sees_the_reply_live_on_sqlite() {
    a_visitor_chats_and_sees_the_reply_live(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_visitor_chats_and_sees_the_reply_live_on_postgres() {
    a_visitor_chats_and_sees_the_reply_live(Backend::Postgres).await;
}

#[tokio::test]
async fn widget_history_survives_a_page_reload() {
    let app = spawn(Backend::Sqlite, |_| {}).await.expect("app");
    app.with_faq_snippets().await;
    let first = body(start(&app, json!({})).await).await;
    let token = first["token"].as_str().expect("token").to_owned();
    assert_eq!(
        say(&app, &token, "What are your opening hours?", "h-1")
            .await
            .status(),
        202
    );
    wait_for_history(&app, &token, "bot").await;

    // The page reloads: the widget presents the token it kept.
    let resp = start(&app, json!({ "token": token })).await;
    assert_eq!(resp.status(), 200);
    let again = body(resp).await;
    assert_eq!(again["resumed"], true);
    assert_eq!(again["token"], first["token"]);
    assert_eq!(again["visitor_id"], first["visitor_id"]);
    let h = history(&app, &token, "").await;
    let messages = h["messages"].as_array().expect("messages");
    let authors: Vec<&str> = messages
        .iter()
        .filter_map(|m| m["author"].as_str())
        .collect();
    assert_eq!(authors, ["customer", "bot"], "{h}");
    assert_eq!(messages[0]["text"], "What are your opening hours?");
    assert_eq!(messages[0]["client_id"], "h-1");
    assert!(
        messages[1]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Monday to Friday")
    );
    assert_eq!(h["more"], false);

    // Paging back from the newest.
    let newest = history(&app, &token, "?limit=1").await;
    assert_eq!(newest["messages"][0]["author"], "bot");
    assert_eq!(newest["more"], true);
    let before = newest["messages"][0]["id"].as_i64().expect("id");
    let older = history(&app, &token, &format!("?limit=1&before={before}")).await;
    assert_eq!(older["messages"][0]["author"], "customer");

    // A stream that resumes after the last message it got replays nothing old.
    let after = newest["messages"][0]["id"].as_i64().expect("id");
    let mut events = Events::open(
        &app,
        &format!("/api/v1/widget/events?after={after}"),
        Some(&token),
    )
    .await;
    assert!(events.next(Duration::from_millis(700)).await.is_none());
    app.stop().await;
}

#[tokio::test]
async fn a_message_retried_with_the_same_client_id_is_stored_and_answered_once() {
    let app = spawn(Backend::Sqlite, |_| {}).await.expect("app");
    app.with_faq_snippets().await;
    let token = token(&app).await;
    let first = body(say(&app, &token, "How do I reset my password?", "same").await).await;
    let retry = body(say(&app, &token, "How do I reset my password?", "same").await).await;
    assert_eq!(retry["duplicate"], true);
    assert_eq!(retry["id"], first["id"]);
    wait_for_history(&app, &token, "bot").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let h = history(&app, &token, "").await;
    assert_eq!(h["messages"].as_array().map(Vec::len), Some(2), "{h}");

    // Another visitor's identical client id is their own message.
    let other = token_of_new_visitor(&app).await;
    let theirs = body(say(&app, &other, "Hello", "same").await).await;
    assert_eq!(theirs["duplicate"], false);
    assert_ne!(theirs["id"], first["id"]);

    let bad = say(&app, &token, "Hi", "not an id!").await;
    assert_eq!(bad.status(), 400);
    app.stop().await;
}

async fn token_of_new_visitor(app: &TestApp) -> String {
    token(app).await
}

#[tokio::test]
async fn a_visitor_never_reads_another_visitors_chat() {
    let app = spawn(Backend::Sqlite, |_| {}).await.expect("app");
    let ana = token(&app).await;
    let bob = token(&app).await;
    assert_ne!(ana, bob);
    assert_eq!(
        say(&app, &ana, "my order 48213 is late", "a-1")
            .await
            .status(),
        202
    );
    let h = history(&app, &bob, "").await;
    assert_eq!(h["messages"], json!([]), "{h}");
    let mut events = Events::open(&app, "/api/v1/widget/events?after=0", Some(&bob)).await;
    assert!(
        events.next(Duration::from_millis(700)).await.is_none(),
        "Bob's stream carries nothing of Ana's"
    );

    for (what, auth) in [("no token", None), ("a made-up token", Some("rwv_0123"))] {
        let mut req = visitor().get(app.url("/api/v1/widget/messages"));
        if let Some(t) = auth {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("sent");
        assert_eq!(resp.status(), 401, "{what}");
        assert_eq!(body(resp).await["error"]["code"], "unauthorized", "{what}");
    }
    let empty = say(&app, &ana, "   ", "a-2").await;
    assert_eq!(empty.status(), 400);
    let long = say(&app, &ana, &"x".repeat(8_001), "a-3").await;
    assert_eq!(long.status(), 413);
    app.stop().await;
}

#[tokio::test]
async fn widget_refuses_an_origin_that_is_not_allowed() {
    let app = spawn(Backend::Sqlite, |c| {
        c.widget.allowed_origins = vec!["https://shop.example".into()];
    })
    .await
    .expect("app");
    let preflight = |origin: &'static str| {
        visitor()
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/widget/messages"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let ok = preflight("https://shop.example").await.expect("sent");
    assert_eq!(ok.status(), 204);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let allowed_headers = ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        allowed_headers.contains("authorization"),
        "{allowed_headers}"
    );

    let resp = visitor()
        .post(app.url("/api/v1/widget/sessions"))
        .header("origin", "https://shop.example")
        .json(&json!({}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 201);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let token = body(resp).await["token"]
        .as_str()
        .expect("token")
        .to_owned();

    assert_eq!(
        preflight("https://evil.example")
            .await
            .expect("sent")
            .status(),
        403
    );
    let refused = visitor()
        .post(app.url("/api/v1/widget/messages"))
        .header("origin", "https://evil.example")
        .bearer_auth(&token)
        .json(&json!({"text": "hello from elsewhere", "client_id": "e-1"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status(), 403);
    let error = body(refused).await;
    assert_eq!(error["error"]["code"], "origin_not_allowed");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("allowed_origins"),
        "{error}"
    );
    assert_eq!(
        history(&app, &token, "").await["messages"],
        json!([]),
        "nothing stored"
    );
    app.stop().await;
}

#[tokio::test]
async fn widget_rate_limits_each_visitor_and_each_address() {
    let app = spawn(Backend::Sqlite, |c| {
        c.widget.visitor_messages_per_minute = 2;
        c.widget.ip_requests_per_minute = 8;
    })
    .await
    .expect("app");
    let ana = token(&app).await; // 1 request from this address
    assert_eq!(say(&app, &ana, "one", "r-1").await.status(), 202); // 2
    assert_eq!(say(&app, &ana, "two", "r-2").await.status(), 202); // 3
    let slow_down = say(&app, &ana, "three", "r-3").await; // 4
    assert_eq!(slow_down.status(), 429);
    let wait: u64 = slow_down.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=30).contains(&wait), "{wait}");
    assert_eq!(body(slow_down).await["error"]["code"], "too_many_requests");

    // Another visitor on the same address still gets through, until the address's limit.
    let bob = token(&app).await; // 5
    assert_eq!(say(&app, &bob, "hello", "r-4").await.status(), 202); // 6
    history(&app, &bob, "").await; // 7
    history(&app, &bob, "").await; // 8
    let resp = start(&app, json!({})).await; // 9
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    app.stop().await;
}

#[tokio::test]
async fn an_agents_reply_reaches_the_widget_live_and_internal_notes_never_do() {
    let app = spawn(Backend::Sqlite, |_| {}).await.expect("app");
    let session = body(start(&app, json!({})).await).await;
    let token = session["token"].as_str().expect("token").to_owned();
    let visitor_id = session["visitor_id"].as_str().expect("visitor id");
    let mut events = Events::open(&app, "/api/v1/widget/events", Some(&token)).await;
    assert_eq!(
        say(&app, &token, "I need a person, please", "p-1")
            .await
            .status(),
        202
    );
    // Nothing in the knowledge: the bot hands over and says so in the chat.
    events
        .until("the hand-over notice", |name, data| {
            name == "message" && data["author"] == "bot"
        })
        .await;
    let asked = app
        .app
        .store
        .message_by_provider_id(WS, Channel::Web, &format!("visitor:{visitor_id}#p-1"))
        .await
        .expect("query")
        .expect("stored");
    let conversation = asked.conversation_id;
    for (text, internal) in [
        ("Note for the team: VIP customer", true),
        ("Hi, I'm Sam from the support team — how can I help?", false),
    ] {
        let resp = app
            .client
            .post(app.url(&format!("/api/v1/conversations/{conversation}/messages")))
            .json(&json!({"text": text, "internal": internal}))
            .send()
            .await
            .expect("sent");
        assert_eq!(
            resp.status(),
            201,
            "{}",
            resp.text().await.unwrap_or_default()
        );
    }
    let seen = events
        .until("the agent's reply", |name, data| {
            name == "message" && data["author"] == "agent"
        })
        .await;
    assert!(
        seen.iter()
            .all(|(_, d)| d["text"] != "Note for the team: VIP customer"),
        "{seen:?}"
    );
    let h = history(&app, &token, "").await;
    let authors: Vec<&str> = h["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["author"].as_str())
        .collect();
    assert_eq!(authors, ["customer", "bot", "agent"], "{h}");
    app.stop().await;
}

fn whatsapp_text(wa_id: &str, id: &str, text: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": "123"},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": id, "timestamp": chrono::Utc::now().timestamp().to_string(),
                          "type": "text", "text": {"body": text}}]
        }
    }]}]}))
    .expect("JSON")
}

#[tokio::test]
async fn a_signed_widget_user_and_whatsapp_with_the_same_phone_are_one_contact() {
    let (site_secret, app_secret) = ("site-secret", "meta-app-secret");
    let app = spawn(Backend::Sqlite, |c| {
        c.secrets.identity_secret = Some(Secret::new(site_secret));
        c.secrets.whatsapp_app_secret = Some(Secret::new(app_secret));
    })
    .await
    .expect("app");

    let raw = whatsapp_text(
        "14155550142",
        "wamid.widget-1",
        "Hi, my order 48213 has not arrived",
    );
    let resp = app
        .client
        .post(app.url("/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            rapport_channels::whatsapp::sign(app_secret, &raw),
        )
        .body(raw)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
    let on_whatsapp = app
        .app
        .store
        .message_by_provider_id(WS, Channel::Whatsapp, "wamid.widget-1")
        .await
        .expect("query")
        .expect("stored");

    // The site signs who is logged in; the phone is written the national way.
    let signed = SignedIdentity::sign(site_secret, Some("u-42"), None, Some("(415) 555-0142"));
    let resp = start(&app, json!({ "user": signed })).await;
    assert_eq!(resp.status(), 201);
    let session = body(resp).await;
    assert_eq!(session["user"]["phone"], "+14155550142");
    let token = session["token"].as_str().expect("token").to_owned();
    assert_eq!(
        say(&app, &token, "any news on my order?", "w-1")
            .await
            .status(),
        202
    );

    let store = &app.app.store;
    let whatsapp_root = store
        .root_contact(WS, ContactId(on_whatsapp.contact_id))
        .await
        .expect("root");
    let web_contact = store
        .contact_by_identity(WS, Channel::Web, "user:u-42")
        .await
        .expect("query")
        .expect("linked");
    assert_eq!(
        store.root_contact(WS, web_contact).await.expect("root"),
        whatsapp_root,
        "one contact"
    );
    let timeline = body(
        app.get(&format!("/api/v1/contacts/{}/timeline", whatsapp_root.0))
            .await,
    )
    .await;
    let texts: Vec<(&str, &str)> = timeline["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["author"] == "customer")
        .map(|m| {
            (
                m["channel"].as_str().unwrap_or(""),
                m["text"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        texts,
        [
            ("whatsapp", "Hi, my order 48213 has not arrived"),
            ("web", "any news on my order?")
        ],
        "one timeline"
    );

    // The widget shows this chat only: the WhatsApp message stays off a possibly shared screen.
    let h = history(&app, &token, "").await;
    let shown: Vec<&str> = h["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert!(shown.contains(&"any news on my order?"), "{h}");
    assert!(!shown.iter().any(|t| t.contains("48213")), "{h}");

    // The same user on a second device is the same identity, with the same chat.
    let phone = body(start(&app, json!({ "user": signed })).await).await;
    assert_ne!(phone["token"], session["token"]);
    let there = history(&app, phone["token"].as_str().expect("token"), "").await;
    assert_eq!(there["messages"][0]["text"], "any news on my order?");

    // After a log-out the browser's old token does not reopen the user's chat.
    let logged_out = body(start(&app, json!({ "token": token })).await).await;
    assert_eq!(logged_out["resumed"], false);
    let fresh = history(&app, logged_out["token"].as_str().expect("token"), "").await;
    assert_eq!(fresh["messages"], json!([]));

    // A forged identity is refused.
    let mut forged = signed.clone();
    forged.user_id = Some("u-1".into());
    let resp = start(&app, json!({ "user": forged })).await;
    assert_eq!(resp.status(), 401);
    app.stop().await;
}

/// A local stand-in for an OpenAI-compatible server that streams its answers.
#[derive(Clone, Default)]
struct FakeModel {
    requests: Arc<Mutex<u32>>,
}

fn first_knowledge_id(text: &str) -> Option<i64> {
    let start = text.find("<knowledge id=\"")? + "<knowledge id=\"".len();
    let end = text[start..].find('"')? + start;
    text[start..end].parse().ok()
}

async fn completions(
    State(fake): State<FakeModel>,
    Json(body): Json<Value>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    *fake.requests.lock().expect("lock") += 1;
    let schema = body["response_format"]["json_schema"]["name"]
        .as_str()
        .unwrap_or_default();
    let user = body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default();
    let content = match schema {
        "query" => json!({"query": "how to reset the thermostat"}),
        "answer" => json!({
            "answer": "Hold the dial for 10 seconds until the ring blinks blue.",
            "citations": first_knowledge_id(user).into_iter().collect::<Vec<_>>(),
            "confidence": 0.9, "handoff": false, "reason": ""
        }),
        "summary" => json!({"summary": "Asked about the thermostat."}),
        "memory" => json!({"summary": "Asked about the thermostat.", "facts": []}),
        _ => json!({}),
    }
    .to_string();
    if body["stream"] != true {
        return Json(json!({
            "id": "c-1", "object": "chat.completion", "created": 1_700_000_000, "model": "fake",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
        }))
        .into_response();
    }
    let chars: Vec<char> = content.chars().collect();
    let mut events = String::new();
    for piece in chars.chunks(7) {
        let chunk = json!({"id": "c-1", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "fake",
            "choices": [{"index": 0, "delta": {"content": piece.iter().collect::<String>()}, "finish_reason": null}]});
        events.push_str(&format!("data: {chunk}\n\n"));
    }
    let done = json!({"id": "c-1", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "fake",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    events.push_str(&format!("data: {done}\n\ndata: [DONE]\n\n"));
    (
        [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
        events,
    )
        .into_response()
}

#[tokio::test]
async fn widget_streams_the_answer_while_the_model_writes_it() {
    let fake = FakeModel::default();
    let router = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(completions))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let app = spawn(Backend::Sqlite, move |c| {
        c.llm.base_url = url;
        c.llm.model = Some("fake".into());
        c.llm.max_attempts = 1;
    })
    .await
    .expect("app");
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("thermostat.md"),
        "---\ntitle: Resetting the Thermostat T2\n---\n\n# Resetting the Thermostat T2\n\nHold the dial for 10 \
         seconds until the ring blinks blue.\n",
    )
    .expect("write");
    let source = app
        .app
        .knowledge
        .upsert_source(
            WS,
            rapport_core::domain::SourceKind::Articles,
            "Help",
            &json!({"path": dir.path()}),
        )
        .await
        .expect("source");
    app.app.knowledge.sync(WS, source.id).await.expect("sync");

    let token = token(&app).await;
    let mut events = Events::open(&app, "/api/v1/widget/events", Some(&token)).await;
    assert_eq!(
        say(&app, &token, "How do I reset the thermostat?", "s-1")
            .await
            .status(),
        202
    );
    let seen = events
        .until("the bot's reply", |name, data| {
            name == "message" && data["author"] == "bot"
        })
        .await;
    let streamed: String = seen
        .iter()
        .filter(|(n, _)| n == "delta")
        .map(|(_, d)| d["text"].as_str().unwrap_or_default())
        .collect();
    let pieces = seen.iter().filter(|(n, _)| n == "delta").count();
    assert!(pieces > 3, "the answer arrived in pieces: {seen:?}");
    let (_, reply) = seen.last().expect("reply");
    assert_eq!(reply["text"].as_str(), Some(streamed.as_str()));
    assert!(*fake.requests.lock().expect("lock") > 0);
    app.stop().await;
}

/// A shop's page on its own origin, with the widget tag pointing at Rapport.
fn shop_page(rapport: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Nimbus Home</title>
<style>body{{margin:0;font-family:Georgia,serif;color:#1f2937;background:#fafaf9}}
header{{background:#0f172a;color:#fff;padding:18px 40px;font:600 20px system-ui}}
main{{max-width:760px;margin:48px 40px}}h1{{font-size:38px;margin:0 0 12px}}p{{font-size:18px;line-height:1.6}}
.card{{display:inline-block;width:200px;height:120px;margin:16px 16px 0 0;border-radius:12px;background:#e7e5e4}}</style></head>
<body><header>Nimbus Home</header><main><h1>Smart thermostats that just work</h1>
<p>Keep every room comfortable, save energy and control your heating from anywhere.
Questions about your account or an order? Our assistant answers right away.</p>
<div class="card"></div><div class="card"></div><div class="card"></div></main>
<script src="{rapport}/widget.js" defer></script></body></html>"#
    )
}

#[tokio::test]
async fn the_widget_in_headless_chromium_answers_a_visitor() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    // The shop's page is served from another origin than Rapport, as on a real site.
    let shop = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let shop_origin = format!("http://{}", shop.local_addr().expect("address"));
    let allowed = shop_origin.clone();
    let app = spawn(Backend::Sqlite, move |c| {
        c.widget.allowed_origins = vec![allowed];
        c.agent.business_name = "Nimbus Home".into();
        c.agent.bot_name = "Nimbus assistant".into();
    })
    .await
    .expect("app");
    app.with_faq_snippets().await;
    let page = shop_page(&app.address);
    let router = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = page.clone();
            async move { axum::response::Html(page) }
        }),
    );
    tokio::spawn(async move { axum::serve(shop, router).await });

    browser.goto(&format!("{shop_origin}/")).await;
    let launcher = browser.shadow_element("#rapport-widget", ".btn").await;
    browser.click(&launcher).await;
    let input = browser.shadow_element("#rapport-widget", "textarea").await;
    browser
        .wait_for(
            "the greeting",
            "return document.querySelector('#rapport-widget').shadowRoot.querySelector('.log .m.in') !== null",
            Duration::from_secs(20),
        )
        .await;
    browser
        .type_into(&input, "How do I reset my password?\u{E007}")
        .await;
    let answer = browser
        .wait_for(
            "the bot's reply in the widget",
            &format!(
                "var r = document.querySelector('#rapport-widget').shadowRoot;\
                 var m = Array.from(r.querySelectorAll('.m.in')).map(e => e.textContent)\
                 .find(t => t.includes('{PASSWORD_ANSWER}')); return m || null;"
            ),
            Duration::from_secs(30),
        )
        .await;
    assert!(
        answer.as_str().unwrap_or_default().contains("sign-in page"),
        "{answer}"
    );
    let sent = browser
        .execute(
            "return Array.from(document.querySelector('#rapport-widget').shadowRoot\
             .querySelectorAll('.m.out')).map(e => e.textContent)",
            json!([]),
        )
        .await;
    assert_eq!(sent, json!(["How do I reset my password?"]));
    let shot = browser::screenshot_dir().join("widget.png");
    browser.screenshot(&shot).await;
    eprintln!("screenshot: {}", shot.display());

    // A reload keeps the conversation (the token is in localStorage).
    browser.goto(&format!("{shop_origin}/")).await;
    let launcher = browser.shadow_element("#rapport-widget", ".btn").await;
    browser.click(&launcher).await;
    browser
        .wait_for(
            "the history after a reload",
            &format!(
                "var r = document.querySelector('#rapport-widget').shadowRoot;\
                 return r.querySelectorAll('.m.out').length === 1 && \
                 Array.from(r.querySelectorAll('.m.in')).some(e => e.textContent.includes('{PASSWORD_ANSWER}'));"
            ),
            Duration::from_secs(20),
        )
        .await;

    // Resolved, the conversation asks for a rating as five stars; a tap is the rating.
    let answer_id = browser
        .execute(
            &format!(
                "var r = document.querySelector('#rapport-widget').shadowRoot;\
                 return Number(Array.from(r.querySelectorAll('.m.in'))\
                 .find(e => e.textContent.includes('{PASSWORD_ANSWER}')).dataset.id);"
            ),
            json!([]),
        )
        .await;
    let answer = app
        .app
        .store
        .message(
            WorkspaceId::DEFAULT,
            rapport_core::ids::MessageId(answer_id.as_i64().expect("the answer's id")),
        )
        .await
        .expect("the answer");
    let resolved = app
        .client
        .post(app.url(&format!(
            "/api/v1/conversations/{}/resolve",
            answer.conversation_id
        )))
        .json(&json!({"resolution": "ai"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resolved.status(), 204);
    browser
        .wait_for(
            "the rating stars, then a tap on the fourth",
            "var r = document.querySelector('#rapport-widget').shadowRoot;\
             var b = r.querySelectorAll('.stars button'); if (b.length !== 5) return null;\
             b[3].click(); return true;",
            Duration::from_secs(20),
        )
        .await;
    browser
        .screenshot(&browser::screenshot_dir().join("widget-rating.png"))
        .await;
    let mut csat = Value::Null;
    for _ in 0..200 {
        let report: Value = app
            .get("/api/v1/analytics/report")
            .await
            .json()
            .await
            .expect("json");
        csat = report["report"]["overall"]["csat"].clone();
        if csat["responses"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(csat["average"], 4.0, "{csat}");
    browser.quit().await;
    app.stop().await;
}
