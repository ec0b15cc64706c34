//! The agents' live event stream (`GET /api/v1/events`): only signed-in agents get it, and a
//! WhatsApp handoff reaches it as an escalation and a message event.

mod common;

use std::time::Duration;

use common::{Backend, TestApp};
use rapport_channels::whatsapp::sign;
use rapport_server::config::Secret;
use serde_json::json;

const APP_SECRET: &str = "test-app-secret";
const PHONE_NUMBER_ID: &str = "106540352242922";
const CUSTOMER: &str = "16315551234";
const WAIT: Duration = Duration::from_secs(30);

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> &'a str {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn whatsapp_text(wamid: &str, text: &str) -> Vec<u8> {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Kerry Fisher"}, "wa_id": CUSTOMER}],
            "messages": [{"from": CUSTOMER, "id": wamid, "timestamp": timestamp.to_string(),
                          "type": "text", "text": {"body": text}}]
        }}]}]
    }))
    .expect("json")
}

/// Posts a customer's WhatsApp message as Meta signs it.
async fn whatsapp_message(app: &TestApp, wamid: &str, text: &str) {
    let body = whatsapp_text(wamid, text);
    let posted = app
        .client
        .post(app.url("/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign(APP_SECRET, &body))
        .body(body)
        .send()
        .await
        .expect("webhook");
    assert!(posted.status().is_success());
}

/// Reads the stream until `done` holds for what arrived so far; returns it.
async fn read_until(resp: &mut reqwest::Response, done: impl Fn(&str) -> bool) -> String {
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + WAIT;
    while !done(&seen) {
        let left = deadline
            .checked_duration_since(std::time::Instant::now())
            .unwrap_or_else(|| panic!("the events never came; saw {seen}"));
        let chunk = tokio::time::timeout(left, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("the events never came; saw {seen}"))
            .expect("readable")
            .expect("stream open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

#[tokio::test]
async fn the_event_stream_needs_a_signed_in_agent() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let resp = reqwest::get(app.url("/api/v1/events"))
        .await
        .expect("request");
    assert_eq!(resp.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn a_handoff_on_whatsapp_reaches_the_event_stream_as_escalation_and_message_events() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.secrets.whatsapp_app_secret = Some(Secret::new(APP_SECRET));
    })
    .await
    .expect("app");
    let mut resp = app.get("/api/v1/events").await;
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "content-type").starts_with("text/event-stream"));
    whatsapp_message(&app, "wamid.EVENTS", "I want to talk to a human please").await;
    let seen = read_until(&mut resp, |seen| {
        seen.contains("event: escalation")
            && seen.contains("\"status\":\"open\"")
            && seen.contains("event: message")
            && seen.contains("\"author\":\"customer\"")
    })
    .await;
    assert!(seen.contains("event: ready"), "{seen}");
    drop(resp);
    app.stop().await;
}

#[tokio::test]
async fn a_reconnecting_client_is_sent_the_messages_it_missed() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.secrets.whatsapp_app_secret = Some(Secret::new(APP_SECRET));
    })
    .await
    .expect("app");
    whatsapp_message(&app, "wamid.MISSED", "is anyone there?").await;
    // The client saw nothing of it: it was disconnected, and its last event was id 0.
    let mut resp = app
        .client
        .get(app.url("/api/v1/events"))
        .header("last-event-id", "0")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    read_until(&mut resp, |seen| {
        seen.contains("event: message") && seen.contains("\"author\":\"customer\"")
    })
    .await;
    drop(resp);
    app.stop().await;
}
