//! The playground as an agent uses it: chat with the bot as any customer on any channel and
//! read each reply's trace; run a batch of questions and export the table. Nothing is sent to
//! a channel.

mod common;

use common::{Backend, TestApp};
use serde_json::{Value, json};

async fn body(resp: reqwest::Response) -> Value {
    resp.json().await.expect("a JSON body")
}

#[tokio::test]
async fn a_playground_reply_comes_back_at_once_with_its_trace_and_the_same_customer_spans_channels()
{
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    app.with_faq_snippets().await;
    let ask = |value: Value| {
        app.client
            .post(app.url("/api/v1/playground/messages"))
            .json(&value)
            .send()
    };
    let first = ask(
        json!({"channel": "whatsapp", "customer": {"phone": "+1 415 555 0142", "name": "Ana"},
                            "text": "how do I reset my password?"}),
    )
    .await
    .expect("sent");
    assert_eq!(first.status(), 200);
    let first = body(first).await;
    assert_eq!(first["decision"], "answered");
    assert!(
        first["reply"]
            .as_str()
            .unwrap_or_default()
            .contains("Forgot password link")
    );
    let trace = &first["trace"];
    assert_eq!(trace["query"]["original"], "how do I reset my password?");
    assert!(trace["retrieved"][0]["similarity"].as_f64().is_some());
    assert!(trace["retrieved"][0]["token_match"].as_f64().is_some());
    assert!(trace["timings_ms"]["total"].as_u64().is_some());

    // The same phone, signed by the site, is the same customer on the web chat.
    let second = body(
        ask(
            json!({"channel": "web", "signed": true, "customer": {"phone": "(415) 555-0142"},
                   "text": "thanks!"}),
        )
        .await
        .expect("sent"),
    )
    .await;
    assert_eq!(second["contact_id"], first["contact_id"]);
    assert_eq!(
        second["trace"]["context"]["channels"],
        json!(["whatsapp", "web"])
    );

    let conversation = body(
        app.get(&format!(
            "/api/v1/conversations/{}",
            first["conversation_id"]
        ))
        .await,
    )
    .await;
    let bot = conversation["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["author"] == "bot").cloned())
        .expect("the reply is stored");
    assert_eq!(bot["delivery_status"], "sent", "never queued for WhatsApp");

    let bad = ask(json!({"channel": "whatsapp", "customer": {"name": "no phone"}, "text": "hi"}))
        .await
        .expect("sent");
    assert_eq!(bad.status(), 400);
    assert!(
        body(bad).await["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("phone")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_batch_of_questions_is_answered_as_a_table_and_exports_as_csv() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    app.with_faq_snippets().await;
    let questions = json!({"questions": [
        "I forgot my password, how do I reset it?",
        "Can I pay with Bitcoin on Mars?",
        "  "
    ]});
    let table = body(
        app.client
            .post(app.url("/api/v1/playground/batch"))
            .json(&questions)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(table["total"], 2, "blank lines are skipped: {table}");
    assert_eq!(table["answered"], 1);
    let rows = table["rows"].as_array().expect("rows");
    assert_eq!(rows[0]["decision"], "answered");
    assert_eq!(rows[0]["citations"], json!(["How do I reset my password?"]));
    assert!(rows[0]["support"].as_f64().is_some_and(|s| s > 0.5));
    assert_ne!(rows[1]["decision"], "answered");

    let csv = app
        .client
        .post(app.url("/api/v1/playground/batch?format=csv"))
        .json(&questions)
        .send()
        .await
        .expect("sent");
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/csv")
    );
    let text = csv.text().await.expect("text");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "question,decision,reason,answer,citations,support,answerability,top_similarity,total_ms,action,expected_action"
        )
    );
    assert!(lines.next().is_some_and(|l| {
        l.starts_with("\"I forgot my password, how do I reset it?\",\"answered\"")
    }));

    let too_many = app
        .client
        .post(app.url("/api/v1/playground/batch"))
        .json(&json!({"questions": vec!["hello?"; 51]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(too_many.status(), 413);
    let anonymous = reqwest::Client::new()
        .post(app.url("/api/v1/playground/batch"))
        .json(&questions)
        .send()
        .await
        .expect("sent");
    assert_eq!(anonymous.status(), 401);
    app.stop().await;
}
