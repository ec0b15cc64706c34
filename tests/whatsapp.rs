//! The WhatsApp Cloud API webhook as Meta calls it: subscription check, signatures over the raw
//! body, and every payload of the pywa fixtures (real webhook bodies, `tests/fixtures/whatsapp`)
//! stored as the right message or delivery status. Duplicates are no-ops.

mod common;

use std::path::PathBuf;

use common::{Backend, TestApp};
use rapport_channels::whatsapp::sign;
use rapport_core::domain::{Author, Channel, Direction};
use rapport_core::ids::WorkspaceId;
use rapport_server::config::Secret;
use rapport_store::contacts::NewContact;
use rapport_store::messages::NewMessage;
use serde_json::{Value, json};

const WS: WorkspaceId = WorkspaceId::DEFAULT;
const SECRET: &str = "test-app-secret";

/// Real webhook bodies from pywa's tests (see the README there for origin and license).
fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/whatsapp/pywa")
}

async fn app() -> TestApp {
    app_on(Backend::Sqlite).await.expect("app")
}

async fn app_on(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, |c| {
        c.secrets.whatsapp_app_secret = Some(Secret::new(SECRET));
        c.secrets.whatsapp_verify_token = Some(Secret::new("verify-me"));
    })
    .await
}

async fn post_signed(app: &TestApp, body: &[u8]) -> reqwest::Response {
    app.client
        .post(app.url("/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign(SECRET, body))
        .body(body.to_vec())
        .send()
        .await
        .expect("sent")
}

/// Gives every message and status id of a body a suffix, so that scenarios sharing pywa's
/// placeholder ids can be told apart in one database.
fn unique_ids(body: &mut Value, suffix: &str) {
    for entry in body["entry"].as_array_mut().into_iter().flatten() {
        for change in entry["changes"].as_array_mut().into_iter().flatten() {
            for list in ["messages", "statuses"] {
                for item in change["value"][list].as_array_mut().into_iter().flatten() {
                    if let Some(id) = item["id"].as_str() {
                        item["id"] = json!(format!("{id}#{suffix}"));
                    }
                }
            }
        }
    }
}

/// pywa's plain text message webhook.
fn text_message() -> Value {
    let scenarios: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("message.json")).expect("read"),
    )
    .expect("JSON");
    scenarios["text"].clone()
}

fn items<'a>(body: &'a Value, list: &str) -> Vec<&'a Value> {
    body["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["changes"].as_array().into_iter().flatten())
        .flat_map(|c| c["value"][list].as_array().into_iter().flatten())
        .collect()
}

#[tokio::test]
async fn every_fixture_payload_is_accepted_and_stored_as_the_right_message_or_status() {
    let app = app().await;
    let store = &app.app.store;
    // Our own earlier sends, which statuses refer to.
    let contact = store
        .create_contact(WS, &NewContact::default())
        .await
        .expect("contact");
    let conversation = store
        .open_conversation(WS, contact.id.into(), Channel::Whatsapp, false)
        .await
        .expect("conversation");

    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    let mut checked_messages = 0;
    let mut checked_statuses = 0;
    for file in files {
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let scenarios: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("JSON");
        for (scenario, body) in scenarios.as_object().expect("object of scenarios") {
            let mut body = body.clone();
            unique_ids(&mut body, &format!("{name}/{scenario}"));
            for status in items(&body, "statuses") {
                store
                    .insert_message(
                        WS,
                        &NewMessage {
                            conversation_id: conversation,
                            contact_id: contact.id.into(),
                            direction: Direction::Outbound,
                            author: Author::Bot,
                            channel: Channel::Whatsapp,
                            provider_message_id: status["id"].as_str().map(str::to_owned),
                            kind: "text".into(),
                            text: "our reply".into(),
                            attachments: json!([]),
                            sent_at: None,
                        },
                    )
                    .await
                    .expect("outbound message");
            }
            let raw = serde_json::to_vec(&body).expect("body");
            let resp = post_signed(&app, &raw).await;
            assert_eq!(
                resp.status(),
                200,
                "{name}/{scenario}: {}",
                resp.text().await.unwrap_or_default()
            );

            for message in items(&body, "messages") {
                let id = message["id"].as_str().expect("id");
                let stored = store
                    .message_by_provider_id(WS, Channel::Whatsapp, id)
                    .await
                    .expect("query")
                    .unwrap_or_else(|| panic!("{name}/{scenario}: message {id} not stored"));
                let kind = message["type"].as_str().unwrap_or("unknown");
                assert_eq!(stored.kind, kind, "{name}/{scenario}");
                assert_eq!(stored.author, "customer");
                assert!(!stored.text.is_empty(), "{name}/{scenario}: no text");
                let expected = match kind {
                    "text" => message["text"]["body"].as_str().map(str::to_owned),
                    "interactive" => message["interactive"]["button_reply"]["title"]
                        .as_str()
                        .or(message["interactive"]["list_reply"]["title"].as_str())
                        .map(str::to_owned),
                    "button" => message["button"]["text"].as_str().map(str::to_owned),
                    "image" | "video" | "document" | "audio" | "sticker" | "location"
                    | "contacts" | "reaction" => Some(format!("[{kind}")),
                    _ => None,
                };
                if let Some(expected) = expected {
                    assert!(
                        stored.text.starts_with(&expected) || stored.text.contains(&expected),
                        "{name}/{scenario}: {:?} should show {expected:?}",
                        stored.text
                    );
                }
                checked_messages += 1;
            }
            for status in items(&body, "statuses") {
                let id = status["id"].as_str().expect("id");
                let stored = store
                    .message_by_provider_id(WS, Channel::Whatsapp, id)
                    .await
                    .expect("query")
                    .expect("outbound message");
                assert_eq!(
                    stored.delivery_status.as_deref(),
                    status["status"].as_str(),
                    "{name}/{scenario}"
                );
                checked_statuses += 1;
            }

            // Meta retries: the same body again changes nothing.
            let before = store.count_messages(conversation).await.expect("count");
            let resp = post_signed(&app, &raw).await;
            assert_eq!(resp.status(), 200);
            assert_eq!(
                store.count_messages(conversation).await.expect("count"),
                before
            );
        }
    }
    assert!(checked_messages >= 30, "{checked_messages}");
    assert!(checked_statuses >= 6, "{checked_statuses}");
    app.stop().await;
}

#[tokio::test]
async fn a_failed_status_keeps_the_providers_error_for_agents() {
    let app = app().await;
    let store = &app.app.store;
    let contact = store
        .create_contact(WS, &NewContact::default())
        .await
        .expect("contact");
    let conversation = store
        .open_conversation(WS, contact.id.into(), Channel::Whatsapp, false)
        .await
        .expect("conversation");
    store
        .insert_message(
            WS,
            &NewMessage {
                conversation_id: conversation,
                contact_id: contact.id.into(),
                direction: Direction::Outbound,
                author: Author::Bot,
                channel: Channel::Whatsapp,
                provider_message_id: Some("wamid.xyzxyz".into()),
                kind: "text".into(),
                text: "our reply".into(),
                attachments: json!([]),
                sent_at: None,
            },
        )
        .await
        .expect("outbound");
    let scenarios: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("message_status.json")).expect("read"),
    )
    .expect("JSON");
    let raw = serde_json::to_vec(&scenarios["failed"]).expect("body");
    assert_eq!(post_signed(&app, &raw).await.status(), 200);
    let stored = store
        .message_by_provider_id(WS, Channel::Whatsapp, "wamid.xyzxyz")
        .await
        .expect("query")
        .expect("message");
    assert_eq!(stored.delivery_status.as_deref(), Some("failed"));
    let timeline = store
        .conversation_messages(WS, conversation)
        .await
        .expect("messages");
    assert!(
        timeline
            .iter()
            .any(|m| m.delivery_status.as_deref() == Some("failed"))
    );
    app.stop().await;
}

/// Found by a hostile run: a NUL character in a text gave a 500 on PostgreSQL, on every one of
/// Meta's retries. It is stored (as U+FFFD) on both backends, and the retry is a duplicate.
#[tokio::test]
async fn a_nul_character_in_a_whatsapp_text_is_stored_on_both_backends() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = app_on(backend).await else {
            continue;
        };
        let mut body = text_message();
        unique_ids(&mut body, "nul");
        let value = &mut body["entry"][0]["changes"][0]["value"];
        value["messages"][0]["text"]["body"] = json!("where is\u{0} my order");
        value["contacts"][0]["profile"]["name"] = json!("Ni\u{0}na");
        let id = value["messages"][0]["id"].as_str().expect("id").to_owned();
        let raw = serde_json::to_vec(&body).expect("body");
        for attempt in ["first", "Meta's retry"] {
            let resp = post_signed(&app, &raw).await;
            assert_eq!(resp.status(), 200, "{backend:?}, {attempt}");
        }
        let stored = app
            .app
            .store
            .message_by_provider_id(WS, Channel::Whatsapp, &id)
            .await
            .expect("query")
            .expect("stored");
        assert_eq!(stored.text, "where is\u{FFFD} my order", "{backend:?}");
        app.stop().await;
    }
}

/// Found by a hostile run: 50 copies at once of a new customer's first message left 49
/// orphan contacts. One message, one contact, on both backends.
#[tokio::test]
async fn a_duplicate_storm_of_a_new_customers_first_message_makes_one_contact() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = app_on(backend).await else {
            continue;
        };
        let mut body = text_message();
        unique_ids(&mut body, "storm");
        let raw = serde_json::to_vec(&body).expect("body");
        let posts: Vec<_> = (0..50)
            .map(|_| {
                let request = app
                    .client
                    .post(app.url("/webhooks/whatsapp"))
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", sign(SECRET, &raw))
                    .body(raw.clone());
                tokio::spawn(async move { request.send().await.expect("sent").status() })
            })
            .collect();
        for post in posts {
            assert_eq!(post.await.expect("joined"), 200, "{backend:?}");
        }
        let contacts = app
            .app
            .store
            .search_contacts(WS, "", 100)
            .await
            .expect("contacts");
        assert_eq!(contacts.len(), 1, "{backend:?}: {contacts:#?}");
        app.stop().await;
    }
}

/// Found by a hostile run: with PostgreSQL restarting, webhooks got 500s. A database that
/// cannot be reached is a 503 with Retry-After, which Meta retries.
#[tokio::test]
async fn a_database_that_is_gone_answers_503_with_retry_after() {
    let app = app().await;
    let raw = serde_json::to_vec(&text_message()).expect("body");
    app.app.store.close().await;
    let resp = post_signed(&app, &raw).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "5");
    app.stop().await;
}

#[tokio::test]
async fn unsigned_or_forged_posts_are_refused_and_nothing_is_stored() {
    let app = app().await;
    let raw = serde_json::to_vec(&text_message()).expect("body");
    let unsigned = app
        .client
        .post(app.url("/webhooks/whatsapp"))
        .body(raw.clone())
        .send()
        .await
        .expect("sent");
    assert_eq!(unsigned.status(), 401);
    let forged = app
        .client
        .post(app.url("/webhooks/whatsapp"))
        .header("x-hub-signature-256", sign("not-the-secret", &raw))
        .body(raw.clone())
        .send()
        .await
        .expect("sent");
    assert_eq!(forged.status(), 401);
    assert_eq!(
        forged.json::<Value>().await.expect("json")["error"]["code"],
        "unauthorized"
    );
    assert!(
        app.app
            .store
            .message_by_provider_id(WS, Channel::Whatsapp, "wamid.xyzxyz")
            .await
            .expect("query")
            .is_none()
    );
    app.stop().await;
}

#[tokio::test]
async fn meta_verifies_the_subscription_with_the_configured_token_only() {
    let app = app().await;
    let ok = app
        .get("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444")
        .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.expect("body"), "1158201444");
    let wrong = app
        .get("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1")
        .await;
    assert_eq!(wrong.status(), 403);
    app.stop().await;
}

#[tokio::test]
async fn a_whatsapp_message_is_answered_and_the_same_phone_on_the_web_chat_is_the_same_customer() {
    let app = app().await;
    let raw = serde_json::to_vec(&text_message()).expect("body");
    assert_eq!(post_signed(&app, &raw).await.status(), 200);
    let stored = app
        .app
        .store
        .message_by_provider_id(WS, Channel::Whatsapp, "wamid.xyzxyz")
        .await
        .expect("query")
        .expect("stored");
    // The reply job runs: with no knowledge, the bot hands over honestly, on WhatsApp.
    let mut replied = false;
    for _ in 0..100 {
        let messages = app
            .app
            .store
            .conversation_messages(WS, stored.conversation_id.into())
            .await
            .expect("messages");
        if messages.iter().any(|m| m.author == "bot") {
            replied = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(replied, "the reply job answered");
    let web = app
        .app
        .agent
        .resolver()
        .resolve(
            WS,
            &rapport_agent::identity::IdentityClaim {
                channel: Some(Channel::Web),
                external_id: "user:u-1".into(),
                verified_phone: Some("+972 98-765-4321".into()),
                ..Default::default()
            },
        )
        .await
        .expect("resolved");
    assert_eq!(web.contact.0, stored.contact_id);
    app.stop().await;
}
