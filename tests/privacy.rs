//! Past conversations teach general answers and never another customer's data: what mining
//! keeps of a conversation (no names, sign-offs, e-mails, phones, order numbers, addresses),
//! what a second customer asking the same question gets, and the guard that stops a reply
//! carrying another customer's order number. On SQLite and PostgreSQL, with the real embedder
//! and Qdrant Edge.

mod common;

use std::time::Duration;

use common::{Backend, TestApp};
use rapport_agent::identity::IdentityClaim;
use rapport_agent::{Decision, Inbound, ReplyOptions, ReplyOutcome};
use rapport_core::domain::Channel;
use rapport_core::ids::{ContactId, WorkspaceId};
use serde_json::{Value, json};

const WS: WorkspaceId = WorkspaceId::DEFAULT;

/// Everything personal in the conversations below; none of it may come out again.
const PERSONAL: &[&str] = &[
    "Marie",
    "Dubois",
    "Sam",
    "Dana",
    "Jordan",
    "marie.dubois@mail.example",
    "jordan.k@mail.example",
    "415 555 0199",
    "NH-121877",
    "NH-118406",
    "221B Baker Street",
    "T2A7K3920114",
    "4111 1111 1111 1111",
];

const EXPORT: &str = r#"{"id": "gift", "messages": [
  {"author": "customer", "text": "Hello,\n\nI want to send a Thermostat T2 to my parents as a Christmas present. Can they return it in January if their heating is not compatible?\n\nThanks,\nMarie Dubois\nmarie.dubois@mail.example, +1 415 555 0199"},
  {"author": "agent", "text": "Hi Marie,\n\nWhat a nice gift! Over the holidays we extend the return window: anything delivered between November 15 and December 24 can be returned until January 31 instead of within 30 days.\n\nYour parents can start the return themselves at nimbushome.example/returns with the order number.\n\nWarm regards,\nSam, Nimbus Home Support"},
  {"author": "customer", "text": "Perfect, ordered today (NH-121877), shipping to 221B Baker Street. Thank you Sam!"},
  {"author": "agent", "text": "You're welcome, Marie! I can see NH-121877 shipped today with Canada Post.\n\nSam"}
]}
{"id": "price", "messages": [
  {"author": "customer", "text": "hey! I bought the Hub H1 last week for $89 and now it's $69 in your sale, can I get the difference back?"},
  {"author": "agent", "text": "Hi, this is Dana from Nimbus support. If the price of an item drops within 14 days of your delivery date, we refund the difference once per item. Could you send me your order number?"},
  {"author": "customer", "text": "NH-118406, jordan.k@mail.example, card 4111 1111 1111 1111"},
  {"author": "agent", "text": "Thanks Jordan! Your hub was delivered on October 15, so I've refunded the $20 difference to your Visa."}
]}
{"id": "where", "messages": [
  {"author": "customer", "text": "Where is my order NH-118406? Serial T2A7K3920114."},
  {"author": "agent", "text": "Hi Jordan! I can see your order shipped yesterday."}
]}
"#;

async fn body(resp: reqwest::Response) -> Value {
    resp.json().await.expect("a JSON body")
}

async fn post(app: &TestApp, path: &str, value: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .json(&value)
        .send()
        .await
        .expect("request sent")
}

async fn settled(app: &TestApp, id: i64) -> Value {
    for _ in 0..600 {
        let source = body(app.get(&format!("/api/v1/knowledge/sources/{id}")).await).await;
        if source["status"] == "ready" {
            return source;
        }
        assert_ne!(source["status"], "failed", "{source}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("source {id} did not sync");
}

/// A source of `kind`: `config` is its configuration, or for snippets `{"snippets": […]}`.
async fn source_of(app: &TestApp, kind: &str, config: Value) -> Value {
    let mut request = json!({"kind": kind, "name": kind});
    if kind == "snippets" {
        request["snippets"] = config["snippets"].clone();
    } else {
        request["config"] = config;
    }
    let resp = post(app, "/api/v1/knowledge/sources", request).await;
    assert_eq!(resp.status(), 201);
    let id = body(resp).await["id"].as_i64().expect("id");
    settled(app, id).await
}

/// Every chunk of a source, as the knowledge browser shows it.
async fn chunk_texts(app: &TestApp, source: i64) -> String {
    let page = body(
        app.get(&format!("/api/v1/knowledge/sources/{source}/documents"))
            .await,
    )
    .await;
    let mut out = String::new();
    for doc in page["documents"].as_array().expect("documents") {
        let detail = body(
            app.get(&format!(
                "/api/v1/knowledge/sources/{source}/documents/{}",
                doc["id"]
            ))
            .await,
        )
        .await;
        out.push_str(&detail.to_string());
    }
    out
}

fn assert_nothing_personal(what: &str, text: &str) {
    assert_none_of(PERSONAL, what, text);
}

fn assert_none_of(personal: &[&str], what: &str, text: &str) {
    let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).collect();
    for p in personal {
        // A name is a whole word ("Sam", not "Same"); identifiers are looked for as written.
        let found = if p.chars().all(char::is_alphabetic) {
            words.contains(p)
        } else {
            text.contains(p)
        };
        assert!(!found, "{what} contains {p:?}: {text}");
    }
}

fn whatsapp(phone: &str) -> IdentityClaim {
    IdentityClaim {
        channel: Some(Channel::Whatsapp),
        external_id: phone.trim_start_matches('+').into(),
        ..IdentityClaim::default()
    }
}

async fn ask(app: &TestApp, claim: IdentityClaim, text: &str) -> ReplyOutcome {
    ask_as(app, claim, text).await.1
}

async fn ask_as(app: &TestApp, claim: IdentityClaim, text: &str) -> (ContactId, ReplyOutcome) {
    let inbound = Inbound {
        claim,
        kind: "text".into(),
        text: text.into(),
        ..Inbound::default()
    };
    let (received, outcome) = app
        .app
        .agent
        .ask(WS, &inbound, ReplyOptions::default())
        .await
        .expect("the pipeline runs");
    (received.contact_id, outcome)
}

async fn past_conversations_teach_general_answers_without_anyones_personal_data(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let export = dir.path().join("past.jsonl");
    std::fs::write(
        &export,
        EXPORT
            .replace("\n  ", " ")
            .replace("[\n", "[")
            .replace("\n]}", "]}"),
    )
    .expect("write export");
    let source = source_of(
        &app,
        "conversations",
        json!({"import_path": export.display().to_string(), "mine_resolved": false, "auto_approve": true}),
    )
    .await;
    let mining = &source["progress"]["mining"];
    assert_eq!(mining["conversations"], 3, "{source}");
    assert_eq!(mining["pairs"], 2, "{source}");
    assert_eq!(mining["cleaned"], 2, "{source}");
    assert_eq!(mining["left_out"]["only_about_the_customer"], 1, "{source}");

    let candidates = body(app.get("/api/v1/knowledge/candidates").await).await;
    assert_nothing_personal("a candidate", &candidates.to_string());
    let pairs = candidates["candidates"].as_array().expect("candidates");
    let gift = pairs
        .iter()
        .find(|c| c["answer"].as_str().unwrap_or("").contains("January 31"))
        .expect("the holiday returns pair");
    // Clean, spaced text: the customer's messages are sentences, not glued lines.
    assert_eq!(
        gift["question"],
        "I want to send a Thermostat T2 to my parents as a Christmas present. Can they return it in January if their heating is not compatible?"
    );
    assert_nothing_personal(
        "a chunk",
        &chunk_texts(&app, source["id"].as_i64().expect("id")).await,
    );

    // Another customer asking the same general question gets the general answer.
    let outcome = ask(
        &app,
        whatsapp("+31612345678"),
        "Can a Christmas gift be returned in January?",
    )
    .await;
    assert_eq!(outcome.decision, Decision::Answered, "{:?}", outcome.trace);
    let reply = outcome.reply.clone().expect("a reply");
    assert!(reply.contains("January 31"), "{reply}");
    assert_nothing_personal("the reply", &reply);
    assert_nothing_personal("the trace", &outcome.trace.to_string());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_conversations_teach_general_answers_without_anyones_personal_data_on_sqlite() {
    past_conversations_teach_general_answers_without_anyones_personal_data(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_conversations_teach_general_answers_without_anyones_personal_data_on_postgres() {
    past_conversations_teach_general_answers_without_anyones_personal_data(Backend::Postgres).await;
}

async fn a_reply_that_would_show_another_customers_order_number_is_handed_over(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    // An admin's snippets quote one customer's case by mistake.
    source_of(
        &app,
        "snippets",
        json!({"snippets": [
            {"question": "Has the delayed DHL parcel from Lyon left the warehouse?",
             "answer": "Yes: order NH-555123 left the Lyon warehouse with DHL on Monday."},
            {"question": "Who handles the parcel pickup at the Lyon depot?",
             "answer": "Marie collects the parcels at the Lyon depot every morning before nine."}
        ]}),
    )
    .await;
    // The customer the order belongs to asks, and hears about it: it is theirs.
    let (owner, own) = ask_as(
        &app,
        IdentityClaim {
            name: Some("Marie Dubois".into()),
            ..whatsapp("+33612345678")
        },
        "Has the delayed DHL parcel from Lyon left the warehouse? My order is NH-555123.",
    )
    .await;
    assert_eq!(own.decision, Decision::Answered, "{:?}", own.trace);
    assert!(own.reply.unwrap_or_default().contains("NH-555123"));
    app.app
        .agent
        .update_memory(WS, owner)
        .await
        .expect("memory updated");

    // Another customer asks without the number: the answer would carry it, so a person takes over.
    let outcome = ask(
        &app,
        whatsapp("+4915112345678"),
        "Has the delayed DHL parcel from Lyon left the warehouse?",
    )
    .await;
    assert_eq!(outcome.decision, Decision::Escalated, "{:?}", outcome.trace);
    let reply = outcome.reply.clone().expect("a hand-off notice");
    assert!(!reply.contains("NH-555123"), "{reply}");
    assert_eq!(
        outcome.reason.as_deref(),
        Some("the reply would have shown another customer's order or reference number")
    );
    assert_eq!(
        outcome.trace["privacy"]["withheld"],
        "order or reference number"
    );
    assert!(
        !outcome.trace["model_answer"]
            .to_string()
            .contains("NH-555123"),
        "{}",
        outcome.trace
    );
    let escalation = outcome.escalation_id.expect("an escalation");
    let draft = app
        .app
        .store
        .escalation(WS, escalation)
        .await
        .expect("escalation")
        .draft;
    assert!(draft.is_none_or(|d| !d.contains("NH-555123")));

    // A name the store knows as another contact's stops a reply too.
    let outcome = ask(
        &app,
        whatsapp("+4915187654321"),
        "Who handles the parcel pickup at the Lyon depot?",
    )
    .await;
    assert_eq!(outcome.decision, Decision::Escalated, "{:?}", outcome.trace);
    assert_eq!(outcome.trace["privacy"]["withheld"], "name");
    assert!(!outcome.reply.unwrap_or_default().contains("Marie"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_would_show_another_customers_order_number_is_handed_over_on_sqlite() {
    a_reply_that_would_show_another_customers_order_number_is_handed_over(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_would_show_another_customers_order_number_is_handed_over_on_postgres() {
    a_reply_that_would_show_another_customers_order_number_is_handed_over(Backend::Postgres).await;
}

/// The demo knowledge's conversations go through the same path as any other: the pairs `make
/// run` answers from hold no customer's or agent's name and no order number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_conversations_become_general_pairs() {
    let knowledge = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge");
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.knowledge.server_folder = Some(knowledge.clone())
    })
    .await
    .expect("app");
    let demo = knowledge.join("conversations/past-conversations.jsonl");
    let source = source_of(
        &app,
        "conversations",
        json!({"import_path": demo.display().to_string(), "mine_resolved": false, "auto_approve": true}),
    )
    .await;
    let mining = &source["progress"]["mining"];
    assert_eq!(mining["conversations"], 6, "{source}");
    assert!(mining["pairs"].as_u64().expect("pairs") >= 5, "{source}");
    let candidates = body(app.get("/api/v1/knowledge/candidates").await).await;
    let text = candidates.to_string();
    assert_none_of(
        &[
            "Dana",
            "Marie",
            "Sam",
            "Priya",
            "Jordan",
            "Greg",
            "Alex",
            "Lukas",
            "NH-1",
            "jordan.k@",
            "T2A7K3920114",
        ],
        "a demo pair",
        &text,
    );
    // The knowledge in them stays.
    assert!(text.contains("Target Wake Time"), "{text}");
    assert!(text.contains("January 31"), "{text}");
    app.stop().await;
}
