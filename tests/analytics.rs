//! The analytics report over HTTP, on both backends, after real conversations: one the bot
//! resolved, one a person handled. (Every definition is tested on hand-built histories in
//! `crates/analytics`; this proves the store reads the same story, bot decisions included.)

mod common;

use common::{Backend, TestApp};
use serde_json::{Value, json};

async fn body(resp: reqwest::Response) -> Value {
    resp.json().await.expect("a JSON body")
}

async fn post(app: &TestApp, path: &str, value: Value) -> Value {
    let resp = app
        .client
        .post(app.url(path))
        .json(&value)
        .send()
        .await
        .expect("sent");
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    if resp.status() == 204 {
        return Value::Null;
    }
    body(resp).await
}

/// A customer message on the web channel (through the messages API, as an integration relays
/// it), answered by the app's own workers: what the bot decided, once it has.
async fn customer_asks(app: &TestApp, name: &str, text: &str) -> Value {
    let accepted = post(
        app,
        "/api/v1/messages",
        json!({"channel": "web", "sender": {"external_id": format!("visitor-{name}"), "name": name}, "text": text}),
    )
    .await;
    let conversation = accepted["conversation_id"].clone();
    for _ in 0..300 {
        let view = body(
            app.get(&format!("/api/v1/conversations/{conversation}"))
                .await,
        )
        .await;
        let decision = view["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["author"] == "bot")
            .map(|m| m["metadata"]["trace"]["decision"].clone());
        if let Some(decision) = decision {
            return json!({
                "conversation_id": conversation,
                "decision": decision,
                "escalation_id": view["open_escalation"]["id"],
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the bot never answered {text:?}");
}

async fn a_resolved_and_a_handed_over_conversation_are_counted(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.with_faq_snippets().await;
    let answered = customer_asks(&app, "Ana", "how do I reset my password?").await;
    assert_eq!(answered["decision"], "answered");
    post(
        &app,
        &format!(
            "/api/v1/conversations/{}/resolve",
            answered["conversation_id"]
        ),
        json!({"resolution": "ai"}),
    )
    .await;
    let handed = customer_asks(&app, "Bo", "I want to talk to a human").await;
    assert_eq!(handed["decision"], "escalated");
    post(
        &app,
        &format!("/api/v1/escalations/{}/claim", handed["escalation_id"]),
        json!({}),
    )
    .await;
    post(
        &app,
        &format!(
            "/api/v1/conversations/{}/messages",
            handed["conversation_id"]
        ),
        json!({"text": "Hi Bo, Sam here."}),
    )
    .await;
    post(
        &app,
        &format!(
            "/api/v1/conversations/{}/resolve",
            handed["conversation_id"]
        ),
        json!({}),
    )
    .await;

    let report = body(app.get("/api/v1/analytics/report").await).await;
    let o = &report["report"]["overall"];
    assert_eq!(o["conversations"], 2, "{report}");
    assert_eq!(o["bot_involved"], 2);
    assert_eq!(o["escalated"], 1);
    assert_eq!(o["human_involved"], 1);
    assert_eq!(o["closed"], 2);
    assert_eq!(
        o["ai_resolved"], 1,
        "the bot's answer is read from its trace"
    );
    assert_eq!(o["ai_resolution_rate"], 0.5);
    assert_eq!(o["deflection_rate"], 0.5);
    assert_eq!(o["first_contact_resolution_rate"], 1.0);
    assert_eq!(o["human_first_response"]["count"], 1);
    assert_eq!(o["handle_time"]["count"], 1);
    assert_eq!(report["report"]["by_channel"]["web"]["conversations"], 2);
    assert_eq!(report["report"]["journeys"]["journeys"], 2);
    assert_eq!(report["report"]["journeys"]["paths"]["web"], 2);
    assert_eq!(report["report"]["by_day"].as_array().map(Vec::len), Some(1));
    assert_eq!(report["window_hours"], 72);

    let whatsapp_only = body(app.get("/api/v1/analytics/report?channel=whatsapp").await).await;
    assert_eq!(whatsapp_only["report"]["overall"]["conversations"], 0);
    let csv = app
        .get("/api/v1/analytics/report?format=csv")
        .await
        .text()
        .await
        .expect("text");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("date,conversations,escalated,ai_resolved")
    );
    assert!(lines.next().is_some_and(|l| l.ends_with(",2,1,1")), "{csv}");
    let backwards = app
        .get("/api/v1/analytics/report?from=2026-02-01&to=2026-01-01")
        .await;
    assert_eq!(backwards.status(), 400);
    let anonymous = reqwest::Client::new()
        .get(app.url("/api/v1/analytics/report"))
        .send()
        .await
        .expect("sent");
    assert_eq!(anonymous.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn a_resolved_and_a_handed_over_conversation_are_counted_on_sqlite() {
    a_resolved_and_a_handed_over_conversation_are_counted(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_resolved_and_a_handed_over_conversation_are_counted_on_postgres() {
    a_resolved_and_a_handed_over_conversation_are_counted(Backend::Postgres).await;
}

async fn questions_the_bot_could_not_answer_are_grouped_into_topics(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.with_faq_snippets().await;
    for (who, text) in [
        ("Ana", "can I pay with PayPal?"),
        ("Bo", "do you accept PayPal payments?"),
        ("Cy", "is there a dark mode in the mobile app?"),
        ("Di", "how do I reset my password?"),
    ] {
        customer_asks(&app, who, text).await;
    }
    let topics = body(app.get("/api/v1/analytics/unanswered").await).await;
    let topics = topics["topics"].as_array().cloned().unwrap_or_default();
    assert_eq!(topics.len(), 2, "{topics:?}");
    assert_eq!(
        topics[0]["count"], 2,
        "the PayPal questions are one topic: {topics:?}"
    );
    assert!(
        topics[0]["label"]
            .as_str()
            .unwrap_or_default()
            .contains("PayPal")
    );
    assert_eq!(topics[0]["channels"], json!(["web"]));
    assert!(
        topics
            .iter()
            .all(|t| !t["label"].as_str().unwrap_or_default().contains("password")),
        "answered questions are not knowledge gaps"
    );
    app.stop().await;
}

#[tokio::test]
async fn questions_the_bot_could_not_answer_are_grouped_into_topics_on_sqlite() {
    questions_the_bot_could_not_answer_are_grouped_into_topics(Backend::Sqlite).await;
}

#[tokio::test]
async fn questions_the_bot_could_not_answer_are_grouped_into_topics_on_postgres() {
    questions_the_bot_could_not_answer_are_grouped_into_topics(Backend::Postgres).await;
}

#[tokio::test]
async fn playground_conversations_are_left_out_of_the_figures_and_the_inbox() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    app.with_faq_snippets().await;
    customer_asks(&app, "Ana", "how do I reset my password?").await;
    for text in ["how do I reset my password?", "can I pay with PayPal?"] {
        post(
            &app,
            "/api/v1/playground/messages",
            json!({"customer": {"name": "Tester"}, "text": text}),
        )
        .await;
    }
    let report = body(app.get("/api/v1/analytics/report").await).await;
    assert_eq!(
        report["report"]["overall"]["conversations"], 1,
        "only the customer's conversation counts: {report}"
    );
    let topics = body(app.get("/api/v1/analytics/unanswered").await).await;
    assert_eq!(topics["topics"], json!([]), "{topics}");
    let inbox = body(app.get("/api/v1/escalations").await).await;
    assert_eq!(
        inbox["escalations"],
        json!([]),
        "a test hand-off is not agents' work: {inbox}"
    );
    app.stop().await;
}
