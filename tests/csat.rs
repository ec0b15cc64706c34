//! CSAT as a customer meets it: when their conversation is resolved they are asked, on their
//! channel, to rate it; a bare "5" sent back is the rating (no bot reply, no new conversation),
//! and the rating link's page records a score too. The analytics report counts them.

mod common;

use std::time::Duration;

use common::fake_http::{FakeHttp, graph_ok};
use common::{Backend, TestApp};
use rapport_channels::whatsapp::sign;
use rapport_core::domain::Channel;
use rapport_core::ids::WorkspaceId;
use rapport_server::config::Secret;
use serde_json::{Value, json};

const SECRET: &str = "test-app-secret";
const CUSTOMER: &str = "16315551234";

async fn app(graph: &FakeHttp) -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, |c| {
        c.secrets.whatsapp_app_secret = Some(Secret::new(SECRET));
        c.secrets.whatsapp_access_token = Some(Secret::new("token"));
        c.secrets.whatsapp_phone_number_id = Some(Secret::new("106540352242922"));
        c.graph.base_url = graph.url.clone();
        c.outbox.poll_interval_ms = 20;
        c.analytics.public_url = Some("https://support.example.test".into());
    })
    .await
    .expect("app")
}

async fn whatsapp(app: &TestApp, wamid: &str, text: &str) {
    whatsapp_message(
        app,
        json!({"from": CUSTOMER, "id": wamid, "timestamp": chrono::Utc::now().timestamp().to_string(),
               "type": "text", "text": {"body": text}}),
    )
    .await;
}

/// Any WhatsApp message object, signed and posted as Meta does.
async fn whatsapp_message(app: &TestApp, message: Value) {
    let body = serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Kerry"}, "wa_id": CUSTOMER}],
            "messages": [message]
        }}]}]
    }))
    .expect("json");
    let resp = app
        .client
        .post(app.url("/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign(SECRET, &body))
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
}

async fn conversation(app: &TestApp, id: i64) -> Value {
    app.get(&format!("/api/v1/conversations/{id}"))
        .await
        .json()
        .await
        .expect("json")
}

async fn wait_until(app: &TestApp, id: i64, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    for _ in 0..400 {
        let c = conversation(app, id).await;
        let messages = c["messages"].as_array().cloned().unwrap_or_default();
        if done(&messages) {
            return messages;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "conversation {id} never got there: {}",
        conversation(app, id).await
    );
}

async fn csat_figures(app: &TestApp) -> Value {
    let report: Value = app
        .get("/api/v1/analytics/report")
        .await
        .json()
        .await
        .expect("json");
    report["report"]["overall"]["csat"].clone()
}

/// A WhatsApp customer answered by the bot, whose conversation an agent resolves: returns
/// the conversation and the rating link the customer was sent.
async fn resolved_with_a_rating_request(app: &TestApp, graph: &FakeHttp) -> (i64, String) {
    app.with_faq_snippets().await;
    whatsapp(app, "wamid.Q1", "how do I reset my password?").await;
    let id = loop {
        if let Some(m) = app
            .app
            .store
            .message_by_provider_id(WorkspaceId::DEFAULT, Channel::Whatsapp, "wamid.Q1")
            .await
            .expect("store")
        {
            break m.conversation_id;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    wait_until(app, id, |m| m.iter().any(|m| m["author"] == "bot")).await;
    let resolved = app
        .client
        .post(app.url(&format!("/api/v1/conversations/{id}/resolve")))
        .json(&json!({"resolution": "ai"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resolved.status(), 204);
    let messages = wait_until(app, id, |m| {
        m.iter()
            .any(|m| m["metadata"]["kind"] == "csat_prompt" && m["delivery_status"] == "sent")
    })
    .await;
    let prompt = messages
        .iter()
        .find(|m| m["metadata"]["kind"] == "csat_prompt")
        .expect("the rating request");
    assert_eq!(prompt["author"], "system");
    assert_eq!(prompt["channel"], "whatsapp");
    let link = prompt["metadata"]["csat_link"]
        .as_str()
        .expect("a link")
        .to_owned();
    assert!(
        link.starts_with("https://support.example.test/csat/"),
        "{link}"
    );
    let sent = graph.requests();
    let last = sent.last().expect("sent on WhatsApp");
    // Within the service window the request is a one-tap list of five ratings.
    assert_eq!(last.body["type"], "interactive", "{}", last.body);
    let list = &last.body["interactive"];
    assert_eq!(list["type"], "list");
    let text = list["body"]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("1 (poor) to 5 (great)") && text.contains(&link),
        "{text}"
    );
    let rows = list["action"]["sections"][0]["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(rows.len(), 5);
    assert_eq!(
        rows[0],
        json!({"id": "csat:5", "title": "⭐⭐⭐⭐⭐", "description": "Great"})
    );
    (id, link)
}

#[tokio::test]
async fn a_resolved_conversation_asks_for_a_rating_and_a_bare_5_is_the_answer() {
    let graph = FakeHttp::start(graph_ok).await;
    let app = app(&graph).await;
    let (id, _) = resolved_with_a_rating_request(&app, &graph).await;
    let sends_before = graph.requests().len();

    whatsapp(&app, "wamid.RATE", "5").await;
    let rated = app
        .app
        .store
        .message_by_provider_id(WorkspaceId::DEFAULT, Channel::Whatsapp, "wamid.RATE")
        .await
        .expect("store")
        .expect("stored");
    assert_eq!(rated.conversation_id, id, "kept on the rated conversation");
    assert_eq!(rated.kind, "csat");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        graph.requests().len(),
        sends_before,
        "the bot does not answer a rating"
    );
    assert_eq!(
        csat_figures(&app).await,
        json!({"responses": 1, "average": 5.0, "distribution": [0, 0, 0, 0, 1]})
    );
    let c = conversation(&app, id).await;
    assert_eq!(c["conversation"]["status"], "resolved");

    // Anything else afterwards is a new question, answered as usual.
    whatsapp(&app, "wamid.NEXT", "what are your opening hours?").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let next = app
        .app
        .store
        .message_by_provider_id(WorkspaceId::DEFAULT, Channel::Whatsapp, "wamid.NEXT")
        .await
        .expect("store")
        .expect("stored");
    assert_ne!(next.conversation_id, id);
    app.stop().await;
}

#[tokio::test]
async fn a_pick_from_the_whatsapp_rating_list_is_the_rating() {
    let graph = FakeHttp::start(graph_ok).await;
    let app = app(&graph).await;
    let (id, _) = resolved_with_a_rating_request(&app, &graph).await;
    whatsapp_message(
        &app,
        json!({"from": CUSTOMER, "id": "wamid.PICK", "timestamp": chrono::Utc::now().timestamp().to_string(),
               "type": "interactive", "interactive": {"type": "list_reply",
                 "list_reply": {"id": "csat:4", "title": "⭐⭐⭐⭐", "description": "Good"}}}),
    )
    .await;
    let rated = app
        .app
        .store
        .message_by_provider_id(WorkspaceId::DEFAULT, Channel::Whatsapp, "wamid.PICK")
        .await
        .expect("store")
        .expect("stored");
    assert_eq!(rated.conversation_id, id);
    assert_eq!(rated.kind, "csat");
    assert_eq!(
        csat_figures(&app).await,
        json!({"responses": 1, "average": 4.0, "distribution": [0, 0, 0, 1, 0]})
    );
    app.stop().await;
}

#[tokio::test]
async fn the_rating_link_shows_five_choices_and_keeps_the_score() {
    let graph = FakeHttp::start(graph_ok).await;
    let app = app(&graph).await;
    let (_, link) = resolved_with_a_rating_request(&app, &graph).await;
    let path = link.trim_start_matches("https://support.example.test");

    let page = reqwest::get(app.url(path)).await.expect("sent");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert_eq!(html.matches("<button name=\"score\"").count(), 5);
    assert_eq!(
        csat_figures(&app).await["responses"],
        0,
        "opening the page rates nothing"
    );

    let client = reqwest::Client::new();
    let thanks = client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("score=4")
        .send()
        .await
        .expect("sent");
    assert_eq!(thanks.status(), 200);
    assert!(thanks.text().await.expect("html").contains("4 out of 5"));
    assert_eq!(csat_figures(&app).await["average"], 4.0);

    let wrong = client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("score=9")
        .send()
        .await
        .expect("sent");
    assert_eq!(wrong.status(), 400);
    let unknown = reqwest::get(app.url("/csat/not-a-token"))
        .await
        .expect("sent");
    assert_eq!(unknown.status(), 404);
    app.stop().await;
}
