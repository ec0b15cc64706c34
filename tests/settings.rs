//! The Settings page's API: admins change how the bot behaves and connect channels while the
//! service runs; the next reply, webhook and delivery follow. Secrets are never read back, agents
//! cannot change settings, and one workspace's settings never touch another's.

mod common;

use std::time::Duration;

use chrono::{Timelike, Utc};
use common::fake_http::{FakeHttp, graph_ok};
use common::{Backend, TestApp};
use rapport_channels::whatsapp::sign;
use rapport_core::domain::Role;
use rapport_core::ids::WorkspaceId;
use serde_json::{Value, json};

async fn body(resp: reqwest::Response) -> Value {
    resp.json().await.expect("a JSON body")
}

async fn put(app: &TestApp, value: Value) -> reqwest::Response {
    app.client
        .put(app.url("/api/v1/settings"))
        .json(&value)
        .send()
        .await
        .expect("sent")
}

async fn ask(app: &TestApp, name: &str, text: &str) -> Value {
    let resp = app
        .client
        .post(app.url("/api/v1/playground/messages"))
        .json(&json!({"customer": {"name": name}, "text": text}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
    body(resp).await
}

async fn token_in(app: &TestApp, ws: WorkspaceId, email: &str, role: Role) -> String {
    app.token_for_new_user(ws, email, role).await
}

fn bare() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

async fn settings_change_the_next_reply(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.with_faq_snippets().await;
    let view = body(app.get("/api/v1/settings").await).await;
    assert_eq!(view["settings"], json!({}), "nothing saved yet: {view}");
    assert_eq!(view["defaults"]["bot_name"], "Rapport");
    assert_eq!(view["owns_channels"], true);

    let before = ask(&app, "Ana", "I forgot my password, what should I do?").await;
    assert_eq!(before["decision"], "answered", "{before}");
    assert!(before["trace"]["support"].as_f64().unwrap_or(1.0) < 0.99);

    // Business hours that are closed now: an hour-long window two hours away, every day.
    let hour = |h: u32| format!("{:02}:00", (Utc::now().hour() + h) % 24);
    let saved = put(
        &app,
        json!({"settings": {
            "bot_name": "Vela",
            "persona": "Warm and brief.",
            "support_threshold": 0.99,
            "handoff_topics": [{"name": "billing", "keywords": ["invoice"]}],
            "business_hours": {"timezone": "UTC", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                               "open": hour(2), "close": hour(3),
                               "away_message": "Our team is back at the top of the next shift."}
        }}),
    )
    .await;
    assert_eq!(saved.status(), 200);
    let saved = body(saved).await;
    assert_eq!(saved["settings"]["bot_name"], "Vela");
    assert!(saved["updated_at"].is_string());

    let strict = ask(&app, "Bo", "I forgot my password, what should I do?").await;
    assert_ne!(
        strict["decision"], "answered",
        "strictness 0.99 refuses what 0.52 answered: {strict}"
    );
    assert_eq!(
        strict["trace"]["support_threshold"].as_f64(),
        Some(0.99_f32 as f64)
    );

    let billing = ask(&app, "Cy", "where can I find my invoice?").await;
    assert_eq!(billing["decision"], "escalated");
    assert!(
        billing["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("billing"),
        "{billing}"
    );
    assert!(
        billing["reply"]
            .as_str()
            .unwrap_or_default()
            .ends_with("Our team is back at the top of the next shift."),
        "after hours the hand-off says when people are back: {billing}"
    );
    assert_eq!(billing["trace"]["after_hours"], true);

    // Going back to the configuration is saving settings without the field.
    let reset = put(&app, json!({"settings": {}})).await;
    assert_eq!(reset.status(), 200);
    let again = ask(&app, "Di", "I forgot my password, what should I do?").await;
    assert_eq!(again["decision"], "answered");
    app.stop().await;
}

#[tokio::test]
async fn settings_change_the_next_reply_on_sqlite() {
    settings_change_the_next_reply(Backend::Sqlite).await;
}

#[tokio::test]
async fn settings_change_the_next_reply_on_postgres() {
    settings_change_the_next_reply(Backend::Postgres).await;
}

#[tokio::test]
async fn settings_that_cannot_work_are_refused_with_every_reason() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let resp = put(
        &app,
        json!({"settings": {
            "support_threshold": 3,
            "business_hours": {"timezone": "Mars/Olympus", "days": ["mon"], "open": "9", "close": "17:00", "away_message": ""}
        }}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let message = body(resp).await["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for words in ["between 0 and 1", "Mars/Olympus", "HH:MM"] {
        assert!(message.contains(words), "{message}");
    }
    let unknown = put(&app, json!({"settings": {"mood": "grumpy"}})).await;
    assert!(unknown.status().is_client_error());
    let not_a_credential = put(&app, json!({"credentials": {"root_password": "x"}})).await;
    assert_eq!(not_a_credential.status(), 400);
    let no_from = put(
        &app,
        json!({"credentials": {"smtp_url": "smtp://mail.example.test:25"}}),
    )
    .await;
    assert_eq!(no_from.status(), 400, "SMTP without a From address");
    assert_eq!(
        body(app.get("/api/v1/settings").await).await["credentials"]["smtp_url"]["set"],
        false,
        "a refused change saves nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn channel_credentials_are_write_only_and_apply_without_a_restart() {
    let graph = FakeHttp::start(graph_ok).await;
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.graph.base_url = graph.url.clone();
        c.outbox.poll_interval_ms = 20;
        c.secrets.settings_key = Some(rapport_server::config::Secret::new("test settings key"));
    })
    .await
    .expect("app");
    let payload = |wamid: &str| {
        serde_json::to_vec(&json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                "contacts": [{"profile": {"name": "Kerry"}, "wa_id": "16315551234"}],
                "messages": [{"from": "16315551234", "id": wamid, "timestamp": Utc::now().timestamp().to_string(),
                              "type": "text", "text": {"body": "I want to talk to a human"}}]
            }}]}]
        }))
        .expect("json")
    };
    let post_signed = |secret: &'static str, body: Vec<u8>| {
        bare()
            .post(app.url("/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sign(secret, &body))
            .body(body)
    };
    let unsigned_yet = post_signed("meta-app-secret", payload("wamid.1"))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        unsigned_yet.status(),
        401,
        "no app secret is configured yet"
    );

    let saved = put(
        &app,
        json!({"credentials": {
            "whatsapp_phone_number_id": "106540352242922",
            "whatsapp_access_token": "EAAG-saved-token",
            "whatsapp_app_secret": "meta-app-secret",
            "whatsapp_verify_token": "verify-me"
        }}),
    )
    .await;
    assert_eq!(saved.status(), 200);
    let text = saved.text().await.expect("text");
    assert!(
        !text.contains("EAAG-saved-token")
            && !text.contains("meta-app-secret")
            && !text.contains("verify-me"),
        "secrets are never read back: {text}"
    );
    let view: Value = serde_json::from_str(&text).expect("json");
    // In the database the secrets are sealed with RAPPORT_SETTINGS_KEY.
    let stored = app
        .app
        .store
        .workspace_settings(WorkspaceId::DEFAULT)
        .await
        .expect("stored");
    let raw = stored.secrets.to_string();
    assert!(stored.secrets["sealed"].is_string(), "{raw}");
    assert!(
        !raw.contains("EAAG-saved-token") && !raw.contains("106540352242922"),
        "{raw}"
    );
    assert_eq!(view["credentials"]["whatsapp_access_token"]["set"], true);
    assert_eq!(
        view["credentials"]["whatsapp_phone_number_id"]["value"],
        "106540352242922"
    );

    let challenge = bare()
        .get(app.url(
            "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=42",
        ))
        .send()
        .await
        .expect("sent");
    assert_eq!(challenge.status(), 200);
    assert_eq!(challenge.text().await.expect("text"), "42");

    let forged = post_signed("old-secret", payload("wamid.2"))
        .send()
        .await
        .expect("sent");
    assert_eq!(forged.status(), 401);
    let signed = post_signed("meta-app-secret", payload("wamid.3"))
        .send()
        .await
        .expect("sent");
    assert_eq!(signed.status(), 200);
    // The hand-off notice goes out with the saved token, through the new sender.
    let sent = graph.wait_for(1, Duration::from_secs(20)).await;
    let send = sent
        .iter()
        .find(|r| r.path.ends_with("/106540352242922/messages"))
        .expect("a send from the saved number");
    assert_eq!(
        send.headers.get("authorization").map(String::as_str),
        Some("Bearer EAAG-saved-token")
    );
    app.stop().await;
}

#[tokio::test]
async fn agents_cannot_read_or_change_settings_and_workspaces_keep_their_own() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let agent = token_in(
        &app,
        WorkspaceId::DEFAULT,
        "agent@rapport.test",
        Role::Agent,
    )
    .await;
    for request in [
        bare().get(app.url("/api/v1/settings")),
        bare()
            .put(app.url("/api/v1/settings"))
            .json(&json!({"settings": {"bot_name": "Mine"}})),
    ] {
        let resp = request.bearer_auth(&agent).send().await.expect("sent");
        assert_eq!(resp.status(), 403);
    }
    let team = body(
        bare()
            .get(app.url("/api/v1/team"))
            .bearer_auth(&agent)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert!(
        team["members"]
            .as_array()
            .is_some_and(|m| m.iter().any(|u| u["email"] == "agent@rapport.test")),
        "agents see who they can hand a conversation to: {team}"
    );

    let other = app
        .app
        .store
        .create_workspace("other", "Other Co")
        .await
        .expect("workspace");
    let admin_b = token_in(&app, WorkspaceId(other.id), "boss@other.test", Role::Admin).await;
    let as_b = |value: Value| {
        bare()
            .put(app.url("/api/v1/settings"))
            .bearer_auth(&admin_b)
            .json(&value)
            .send()
    };
    assert_eq!(
        as_b(json!({"settings": {"bot_name": "Other bot"}}))
            .await
            .expect("sent")
            .status(),
        200
    );
    let channels = as_b(json!({"credentials": {"whatsapp_access_token": "theirs"}}))
        .await
        .expect("sent");
    assert_eq!(
        channels.status(),
        400,
        "channels belong to the workspace that receives their webhooks"
    );
    let ours = body(app.get("/api/v1/settings").await).await;
    assert_eq!(ours["settings"], json!({}), "B's bot name is B's: {ours}");
    app.stop().await;
}

#[tokio::test]
async fn escalations_can_be_given_to_a_colleague() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let colleague = app
        .app
        .auth
        .create_user(
            WorkspaceId::DEFAULT,
            "sam@rapport.test",
            "Sam",
            Role::Agent,
            "a long enough password",
        )
        .await
        .expect("user");
    let handed = body(
        app.client
            .post(app.url("/api/v1/messages"))
            .json(
                &json!({"sender": {"external_id": "c-1", "name": "Ana"}, "text": "I want a human"}),
            )
            .send()
            .await
            .expect("sent"),
    )
    .await;
    let conversation = handed["conversation_id"].clone();
    let mut escalation = Value::Null;
    for _ in 0..200 {
        let view = body(
            app.get(&format!("/api/v1/conversations/{conversation}"))
                .await,
        )
        .await;
        if view["open_escalation"].is_object() {
            escalation = view["open_escalation"].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(escalation.is_object(), "the conversation was escalated");
    let list = body(app.get("/api/v1/escalations?status=open").await).await;
    assert_eq!(list["escalations"][0]["channel"], "api", "{list}");

    let assigned = app
        .client
        .post(app.url(&format!("/api/v1/escalations/{}/assign", escalation["id"])))
        .json(&json!({"user_id": colleague.id}))
        .send()
        .await
        .expect("sent");
    assert_eq!(assigned.status(), 200);
    let assigned = body(assigned).await;
    assert_eq!(assigned["assignee_id"], colleague.id);
    assert_eq!(assigned["status"], "claimed");

    let nobody = app
        .client
        .post(app.url(&format!("/api/v1/escalations/{}/assign", escalation["id"])))
        .json(&json!({"user_id": 999_999}))
        .send()
        .await
        .expect("sent");
    assert_eq!(nobody.status(), 404);
    app.stop().await;
}
