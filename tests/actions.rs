//! Actions as customers meet them: the agent looks up an order in a shop's API (a fake shop on
//! loopback, speaking plain JSON) for a customer the channel proves, asks a visitor it cannot
//! place for a one-time code first, confirms a cancellation before writing, never reads or
//! returns another customer's order, and owns up to a failing API with a hand-over.

mod common;

use std::time::Duration;

use common::fake_http::{FakeHttp, Recorded, Reply};
use common::{Backend, TestApp};
use rapport_channels::whatsapp::sign;
use rapport_core::ids::{MessageId, WorkspaceId};
use rapport_server::config::Secret;
use serde_json::{Value, json};

const WS: WorkspaceId = WorkspaceId::DEFAULT;
const WA_SECRET: &str = "test-app-secret";
const JANE_PHONE: &str = "+14155550123";
const JANE_EMAIL: &str = "jane@example.com";

/// The shop's orders: number → (owner's phone, owner's e-mail, status).
const ORDERS: &[(&str, &str, &str, &str)] = &[
    ("4821", JANE_PHONE, JANE_EMAIL, "shipped"),
    ("5555", "+14155550100", "bob@example.com", "processing"),
];

fn query_pairs(r: &Recorded) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://shop.test/?{}", r.query))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

/// The fake shop: `GET /orders/{n}?phone=…&email=…` answers an order only to its owner;
/// `POST /orders/{n}/cancel` cancels it for its owner.
fn shop(r: &Recorded, _n: usize) -> Reply {
    let parts: Vec<&str> = r.path.trim_matches('/').split('/').collect();
    let asked = query_pairs(r);
    let said = |k: &str| {
        asked
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .or_else(|| r.body[k].as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let Some((number, phone, email, status)) = parts
        .get(1)
        .and_then(|n| ORDERS.iter().find(|o| o.0 == *n))
        .copied()
    else {
        return Reply::json(404, json!({"error": "no such order"}));
    };
    if said("phone") != phone && said("email") != email {
        return Reply::json(404, json!({"error": "no such order"}));
    }
    match (r.method.as_str(), parts.get(2)) {
        ("GET", None) => Reply::json(
            200,
            json!({"order": number, "status": status, "eta": "2026-12-05",
                   "customer": {"phone": phone, "email": email}}),
        ),
        ("POST", Some(&"cancel")) => {
            Reply::json(200, json!({"order": number, "status": "cancelled"}))
        }
        _ => Reply::json(405, json!({"error": "method"})),
    }
}

fn order_status(shop: &str) -> Value {
    json!({
        "name": "order_status",
        "definition": {
            "description": "Looks up where the customer's order is",
            "examples": ["where is my order?", "has my order shipped yet?", "any news on my order?",
                         "what is the status of my order"],
            "url": format!("{shop}/orders/{{{{ order_id }}}}?phone={{{{ identity.phone or '' }}}}&email={{{{ identity.email or '' }}}}"),
            "headers": [{"name": "Authorization", "value": "Bearer shop-key-1", "secret": true}],
            "inputs": [{"name": "order_id", "kind": "order_id", "fact": "order_number",
                        "question": "What is your order number?"}],
            "reply": "Order {{ order_id }} is {{ response.status }}, arriving {{ response.eta }}.",
            "owner": "{{ response.customer.phone }} {{ response.customer.email }}",
            "allow_private_addresses": true
        }
    })
}

fn cancel_order(shop: &str) -> Value {
    json!({
        "name": "cancel_order",
        "definition": {
            "description": "Cancels an order",
            "examples": ["cancel my order", "I want to cancel my order", "please cancel order"],
            "method": "POST",
            "url": format!("{shop}/orders/{{{{ order_id }}}}/cancel"),
            "body": "{\"phone\": {{ identity.phone }}, \"email\": {{ identity.email }}}",
            "writes": true,
            "confirm": "Cancel order {{ order_id }}? Reply yes to confirm.",
            "inputs": [{"name": "order_id", "kind": "order_id", "source": "memory", "fact": "order_number",
                        "question": "Which order should I cancel?"}],
            "reply": "Order {{ order_id }} is {{ response.status }}.",
            "allow_private_addresses": true
        }
    })
}

async fn app(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, |c| {
        c.secrets.whatsapp_app_secret = Some(Secret::new(WA_SECRET));
        c.secrets.whatsapp_verify_token = Some(Secret::new("verify-me"));
        c.secrets.identity_secret = Some(Secret::new("site-secret"));
    })
    .await
}

async fn define(app: &TestApp, action: Value) -> Value {
    let resp = app
        .client
        .post(app.url("/api/v1/actions"))
        .json(&action)
        .send()
        .await
        .expect("sent");
    let status = resp.status();
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(status, 201, "{body}");
    body
}

/// One message from a simulated customer in the playground, answered at once.
async fn ask(app: &TestApp, channel: &str, customer: Value, text: &str) -> Value {
    ask_as(app, channel, customer, false, text).await
}

async fn ask_as(app: &TestApp, channel: &str, customer: Value, signed: bool, text: &str) -> Value {
    let resp = app
        .client
        .post(app.url("/api/v1/playground/messages"))
        .json(&json!({"channel": channel, "customer": customer, "signed": signed, "text": text}))
        .send()
        .await
        .expect("sent");
    let status = resp.status();
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(status, 200, "{body}");
    body
}

fn whatsapp_text(wa_id: &str, id: &str, text: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": "123"},
            "contacts": [{"profile": {"name": "Jane"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": id, "timestamp": chrono::Utc::now().timestamp().to_string(),
                          "type": "text", "text": {"body": text}}]
        }
    }]}]}))
    .expect("JSON")
}

/// The bot's reply to the customer message `id`, once the worker wrote it.
async fn bot_reply_after(app: &TestApp, message: MessageId) -> Value {
    let store = &app.app.store;
    let m = store.message(WS, message).await.expect("message");
    for _ in 0..400 {
        let c: Value = app
            .get(&format!("/api/v1/conversations/{}", m.conversation_id))
            .await
            .json()
            .await
            .expect("JSON");
        if let Some(reply) = c["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["id"].as_i64() > Some(message.0) && r["author"] == "bot")
        {
            return json!({ "reply": reply, "conversation": c });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no bot reply to message {}", message.0);
}

async fn whatsapp_customer_gets_their_order_status(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let shop = FakeHttp::start(shop).await;
    define(&app, order_status(&shop.url)).await;
    let wa_id = JANE_PHONE.trim_start_matches('+');
    let body = whatsapp_text(wa_id, "wamid.ORDER1", "where is my order 4821?");
    let resp = app
        .client
        .post(app.url("/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign(WA_SECRET, &body))
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
    let stored = app
        .app
        .store
        .message_by_provider_id(WS, rapport_core::domain::Channel::Whatsapp, "wamid.ORDER1")
        .await
        .expect("query")
        .expect("stored");
    let seen = bot_reply_after(&app, MessageId(stored.id)).await;
    let reply = &seen["reply"];
    assert_eq!(
        reply["text"], "Order 4821 is shipped, arriving 2026-12-05.",
        "{reply}"
    );
    let action = &reply["metadata"]["trace"]["action"];
    assert_eq!(action["name"], "order_status", "{action}");
    assert_eq!(action["identity"], "channel");
    assert_eq!(action["call"]["status"], 200);
    // The shop was asked with the number WhatsApp proved, and the sealed key.
    let calls = shop.requests();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(calls[0].path, "/orders/4821");
    assert!(
        query_pairs(&calls[0]).contains(&("phone".into(), JANE_PHONE.into())),
        "{}",
        calls[0].query
    );
    assert_eq!(calls[0].headers["authorization"], "Bearer shop-key-1");
    // The inbox shows the call as an event of the conversation, personal data redacted.
    let events = seen["conversation"]["actions"].as_array().expect("actions");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["outcome"], "ok");
    assert_eq!(events[0]["inputs"]["order_id"], "4821");
    assert_eq!(events[0]["http_status"], 200);
    // The secret never comes back from the API.
    let listed: Value = app.get("/api/v1/actions").await.json().await.expect("JSON");
    assert!(!listed.to_string().contains("shop-key-1"), "{listed}");
    assert_eq!(
        listed["actions"][0]["secret_headers"],
        json!(["Authorization"])
    );
    app.stop().await;
}

#[tokio::test]
async fn whatsapp_customer_gets_their_order_status_on_sqlite() {
    whatsapp_customer_gets_their_order_status(Backend::Sqlite).await;
}

#[tokio::test]
async fn whatsapp_customer_gets_their_order_status_on_postgres() {
    whatsapp_customer_gets_their_order_status(Backend::Postgres).await;
}

#[tokio::test]
async fn the_order_number_given_on_whatsapp_is_used_when_the_customer_writes_by_email() {
    let app = app(Backend::Sqlite).await.expect("app");
    let shop = FakeHttp::start(shop).await;
    define(&app, order_status(&shop.url)).await;
    let on_whatsapp = json!({"phone": JANE_PHONE, "name": "Jane"});
    let first = ask(&app, "whatsapp", on_whatsapp, "where is my order 4821?").await;
    assert_eq!(first["decision"], "answered", "{first}");
    // The site signs Jane in with both: her WhatsApp and her e-mail are one customer.
    let signed = ask_as(
        &app,
        "web",
        json!({"phone": JANE_PHONE, "email": JANE_EMAIL}),
        true,
        "thanks!",
    )
    .await;
    assert_eq!(signed["contact_id"], first["contact_id"], "{signed}");
    let by_email = ask(
        &app,
        "email",
        json!({"email": JANE_EMAIL}),
        "Any news on my order?",
    )
    .await;
    assert_eq!(by_email["contact_id"], first["contact_id"]);
    assert_eq!(
        by_email["reply"], "Order 4821 is shipped, arriving 2026-12-05.",
        "{by_email}"
    );
    let calls = shop.requests();
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert_eq!(calls[1].path, "/orders/4821");
    app.stop().await;
}

#[tokio::test]
async fn a_missing_order_number_is_asked_for_and_the_answer_survives_a_question_in_between() {
    let app = app(Backend::Sqlite).await.expect("app");
    app.with_faq_snippets().await;
    let shop = FakeHttp::start(shop).await;
    define(&app, order_status(&shop.url)).await;
    let jane = json!({"phone": JANE_PHONE});
    let asked = ask(&app, "whatsapp", jane.clone(), "Where is my order?").await;
    assert_eq!(asked["reply"], "What is your order number?", "{asked}");
    assert_eq!(asked["trace"]["action"]["step"], "asked");
    // A question in between is answered from the knowledge; the action keeps waiting.
    let between = ask(
        &app,
        "whatsapp",
        jane.clone(),
        "What are your opening hours?",
    )
    .await;
    assert!(
        between["reply"]
            .as_str()
            .unwrap_or_default()
            .contains("Monday"),
        "{between}"
    );
    assert!(between["trace"]["action"].is_null(), "{between}");
    let answered = ask(&app, "whatsapp", jane, "it's 4821").await;
    assert_eq!(
        answered["reply"], "Order 4821 is shipped, arriving 2026-12-05.",
        "{answered}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_cancellation_is_written_only_after_the_customer_says_yes() {
    let app = app(Backend::Sqlite).await.expect("app");
    let shop = FakeHttp::start(shop).await;
    define(&app, cancel_order(&shop.url)).await;
    let jane = json!({"phone": JANE_PHONE});
    let asked = ask(
        &app,
        "whatsapp",
        jane.clone(),
        "Please cancel my order 4821",
    )
    .await;
    assert_eq!(
        asked["reply"], "Cancel order 4821? Reply yes to confirm.",
        "{asked}"
    );
    let no = ask(&app, "whatsapp", jane.clone(), "no").await;
    assert_eq!(no["reply"], "OK, I haven't changed anything.", "{no}");
    assert!(
        shop.requests().is_empty(),
        "nothing may be written without a yes"
    );

    let again = ask(
        &app,
        "whatsapp",
        jane.clone(),
        "I want to cancel my order 4821",
    )
    .await;
    assert_eq!(again["trace"]["action"]["step"], "confirm", "{again}");
    let yes = ask(&app, "whatsapp", jane, "yes").await;
    assert_eq!(yes["reply"], "Order 4821 is cancelled.", "{yes}");
    let writes = shop.requests();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert_eq!(writes[0].method, "POST");
    assert_eq!(writes[0].body["phone"], JANE_PHONE);
    // The audit names the message that confirmed it.
    let calls: Value = app
        .get("/api/v1/action-calls")
        .await
        .json()
        .await
        .expect("JSON");
    let ok = calls["calls"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["outcome"] == "ok")
        .expect("the write's call");
    assert_eq!(ok["confirmed_by"], yes["message_id"], "{calls}");
    assert!(
        calls["calls"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["outcome"] == "declined")
    );
    app.stop().await;
}

#[tokio::test]
async fn nothing_of_another_customers_order_reaches_the_customer_or_the_shop() {
    let app = app(Backend::Sqlite).await.expect("app");
    let shop = FakeHttp::start(shop).await;
    define(&app, order_status(&shop.url)).await;
    // Bob is on file: he wrote by e-mail once.
    ask(&app, "email", json!({"email": "bob@example.com"}), "hello").await;
    let jane = json!({"phone": JANE_PHONE});
    // Naming Bob: refused before any call.
    let by_name = ask(
        &app,
        "whatsapp",
        jane.clone(),
        "Where is my order? It is under bob@example.com",
    )
    .await;
    assert_eq!(
        by_name["reply"],
        "I can only help with your own account, so I can't share anything about another customer.",
        "{by_name}"
    );
    assert!(shop.requests().is_empty());
    // Bob's order, by number: the shop is asked with Jane's proven number only, and says no.
    let theirs = ask(&app, "whatsapp", jane, "where is my order 5555?").await;
    let text = theirs["reply"].as_str().unwrap_or_default();
    assert!(!text.contains("processing"), "{theirs}");
    assert_eq!(theirs["decision"], "escalated", "{theirs}");
    let calls = shop.requests();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    for c in &calls {
        let pairs = query_pairs(c);
        assert!(
            pairs.contains(&("phone".into(), JANE_PHONE.into())),
            "{}",
            c.query
        );
        assert!(!c.query.contains("bob"), "{}", c.query);
    }
    app.stop().await;
}

#[tokio::test]
async fn an_answer_naming_someone_else_is_withheld_even_when_the_shop_returns_it() {
    let app = app(Backend::Sqlite).await.expect("app");
    // A careless shop API that answers any order by number.
    let shop = FakeHttp::start(|_: &Recorded, _| {
        Reply::json(
            200,
            json!({"status": "processing", "eta": "2026-12-09",
                   "customer": {"phone": "+14155550100", "email": "bob@example.com"}}),
        )
    })
    .await;
    define(&app, order_status(&shop.url)).await;
    let out = ask(
        &app,
        "whatsapp",
        json!({"phone": JANE_PHONE}),
        "where is my order 5555?",
    )
    .await;
    assert!(
        !out["reply"]
            .as_str()
            .unwrap_or_default()
            .contains("processing"),
        "{out}"
    );
    assert_eq!(
        out["trace"]["action"]["call"]["outcome"], "refused",
        "{out}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_failing_shop_api_gets_an_honest_message_and_a_hand_over_with_the_failure() {
    let app = app(Backend::Sqlite).await.expect("app");
    let shop = FakeHttp::start(shop).await;
    shop.script([Reply::json(500, json!({"error": "database is down"}))]);
    let mut slow = order_status(&shop.url);
    slow["definition"]["timeout_ms"] = json!(300);
    define(&app, slow).await;
    let jane = json!({"phone": JANE_PHONE});
    let failed = ask(&app, "whatsapp", jane.clone(), "where is my order 4821?").await;
    assert_eq!(failed["decision"], "escalated", "{failed}");
    assert!(
        failed["reply"]
            .as_str()
            .unwrap_or_default()
            .contains("couldn't get that done"),
        "{failed}"
    );
    let reason = failed["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("order_status failed") && reason.contains("500"),
        "{reason}"
    );
    let escalation: Value = app
        .get(&format!(
            "/api/v1/escalations/{}",
            failed["escalation_id"].as_i64().expect("escalation")
        ))
        .await
        .json()
        .await
        .expect("JSON");
    assert!(
        escalation.to_string().contains("database is down"),
        "{escalation}"
    );
    app.stop().await;

    // Down altogether: nothing listens on the port.
    let app = self::app(Backend::Sqlite).await.expect("app");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    define(&app, order_status(&closed)).await;
    let down = ask(&app, "whatsapp", jane, "where is my order 4821?").await;
    assert_eq!(down["decision"], "escalated", "{down}");
    assert_eq!(
        down["trace"]["action"]["call"]["outcome"], "failed",
        "{down}"
    );
    app.stop().await;
}

/// The code the agent sent for the conversation of `message`, read from the outbox's e-mail.
async fn code_sent(app: &TestApp, message: i64) -> (String, Value) {
    let m = app
        .app
        .store
        .message(WS, MessageId(message))
        .await
        .expect("message");
    let c: Value = app
        .get(&format!("/api/v1/conversations/{}", m.conversation_id))
        .await
        .json()
        .await
        .expect("JSON");
    let mail = c["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .find(|m| m["kind"] == "verification_code")
        .cloned()
        .expect("a code message");
    let code: String = mail["text"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .take(6)
        .collect();
    (code, mail)
}

async fn widget_say(app: &TestApp, token: &str, text: &str) -> (i64, Value) {
    let resp = reqwest::Client::new()
        .post(app.url("/api/v1/widget/messages"))
        .bearer_auth(token)
        .json(&json!({"text": text}))
        .send()
        .await
        .expect("sent");
    let body: Value = resp.json().await.expect("JSON");
    let id = body["id"].as_i64().expect("id");
    let seen = bot_reply_after(app, MessageId(id)).await;
    (id, seen["reply"].clone())
}

#[tokio::test]
async fn an_unsigned_visitor_proves_who_they_are_with_the_code_sent_to_the_address_on_file() {
    let app = app(Backend::Sqlite).await.expect("app");
    let shop = FakeHttp::start(shop).await;
    define(&app, order_status(&shop.url)).await;
    // Jane is on file: she once wrote by e-mail.
    ask(&app, "email", json!({"email": JANE_EMAIL}), "hello").await;
    let session: Value = reqwest::Client::new()
        .post(app.url("/api/v1/widget/sessions"))
        .json(&json!({}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let token = session["token"].as_str().expect("token");
    let (first, asked) =
        widget_say(&app, token, "where is my order 4821? I'm jane@example.com").await;
    assert_eq!(
        asked["text"],
        "To keep your account safe, I've sent a 6-digit code to j•••@example.com. Please type it here.",
        "{asked}"
    );
    let (code, mail) = code_sent(&app, first).await;
    assert_eq!(mail["channel"], "email", "{mail}");
    assert_eq!(mail["metadata"]["to"], JANE_EMAIL);
    // The visitor's chat never shows the code.
    let history: Value = reqwest::Client::new()
        .get(app.url("/api/v1/widget/messages"))
        .bearer_auth(token)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert!(!history.to_string().contains(&code), "{history}");
    assert!(shop.requests().is_empty());

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (_, refused) = widget_say(&app, token, wrong).await;
    assert_eq!(
        refused["text"],
        "That code isn't right. Please check it and type it again."
    );
    assert!(shop.requests().is_empty());
    let (_, answered) = widget_say(&app, token, &code).await;
    assert_eq!(
        answered["text"], "Thanks, that's confirmed. Order 4821 is shipped, arriving 2026-12-05.",
        "{answered}"
    );
    let calls = shop.requests();
    assert_eq!(calls.len(), 1);
    assert!(query_pairs(&calls[0]).contains(&("email".into(), JANE_EMAIL.into())));
    app.stop().await;
}

#[tokio::test]
async fn wrong_codes_lock_the_check_and_codes_are_throttled() {
    let app = app(Backend::Sqlite).await.expect("app");
    let shop = FakeHttp::start(shop).await;
    define(&app, order_status(&shop.url)).await;
    let visitor = json!({"name": "Visitor", "email": JANE_EMAIL});
    let asked = ask(&app, "web", visitor.clone(), "where is my order 4821?").await;
    assert_eq!(asked["trace"]["action"]["step"], "code_sent", "{asked}");
    let code = asked["trace"]["action"]["test_code"]
        .as_str()
        .expect("the tester sees the code");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let mut last = Value::Null;
    for _ in 0..5 {
        last = ask(&app, "web", visitor.clone(), wrong).await;
    }
    assert_eq!(last["decision"], "escalated", "{last}");
    assert_eq!(last["trace"]["action"]["step"], "code_locked", "{last}");
    assert!(shop.requests().is_empty());
    app.stop().await;

    let app = self::app(Backend::Sqlite).await.expect("app");
    define(&app, order_status(&shop.url)).await;
    for n in 0..3 {
        let sent = ask(&app, "web", visitor.clone(), "where is my order 4821?").await;
        // Asked again without typing the code: a new code each time, up to the limit.
        assert_eq!(
            sent["trace"]["action"]["step"], "code_sent",
            "code {n}: {sent}"
        );
    }
    let throttled = ask(&app, "web", visitor, "where is my order 4821?").await;
    assert_eq!(
        throttled["trace"]["action"]["step"], "code_throttled",
        "{throttled}"
    );
    assert_eq!(throttled["decision"], "escalated");
    app.stop().await;
}

#[tokio::test]
async fn a_definition_that_could_be_steered_or_cannot_work_is_refused_with_every_reason() {
    let app = app(Backend::Sqlite).await.expect("app");
    let resp = app
        .client
        .post(app.url("/api/v1/actions"))
        .json(&json!({"name": "bad one!", "definition": {
            "url": "https://{{ host }}/orders", "reply": "{{ oops", "writes": true}}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 400);
    let message = resp.text().await.expect("text");
    for part in ["name", "host", "reply template", "GET"] {
        assert!(message.contains(part), "{part}: {message}");
    }
    define(&app, order_status("http://127.0.0.1:9")).await;
    let again = app
        .client
        .post(app.url("/api/v1/actions"))
        .json(&order_status("http://127.0.0.1:9"))
        .send()
        .await
        .expect("sent");
    assert_eq!(again.status(), 409);
    // Agents do not define actions.
    let agent = app
        .token_for_new_user(WS, "agent@rapport.test", rapport_core::domain::Role::Agent)
        .await;
    let as_agent = reqwest::Client::new()
        .get(app.url("/api/v1/actions"))
        .bearer_auth(agent)
        .send()
        .await
        .expect("sent");
    assert_eq!(as_agent.status(), 403);
    app.stop().await;
}

#[tokio::test]
async fn a_private_address_needs_the_admins_permission() {
    let app = app(Backend::Sqlite).await.expect("app");
    let shop = FakeHttp::start(shop).await;
    let mut guarded = order_status(&shop.url);
    guarded["definition"]["allow_private_addresses"] = json!(false);
    define(&app, guarded).await;
    let out = ask(
        &app,
        "whatsapp",
        json!({"phone": JANE_PHONE}),
        "where is my order 4821?",
    )
    .await;
    assert_eq!(out["decision"], "escalated", "{out}");
    assert_eq!(
        out["trace"]["action"]["call"]["outcome"], "refused",
        "{out}"
    );
    assert!(shop.requests().is_empty());
    app.stop().await;
}

/// How the fake model uses the tools it is offered.
#[derive(Clone, Copy, PartialEq)]
enum ToolUse {
    /// Calls `order_status` with the order number, then phrases the result.
    OrderStatus,
    /// Calls a tool nobody defined, then gives up.
    Unknown,
    /// Calls `order_status` with an argument that is not an order number.
    Invalid,
}

#[derive(Clone)]
struct FakeModel {
    requests: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    mode: ToolUse,
}

async fn chat_completions(
    axum::extract::State(fake): axum::extract::State<FakeModel>,
    axum::Json(body): axum::Json<Value>,
) -> axum::Json<Value> {
    fake.requests.lock().expect("lock").push(body.clone());
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let message = if body.get("tools").is_some() {
        let result = messages
            .iter()
            .rev()
            .find(|m| m["role"] == "tool")
            .and_then(|m| m["content"].as_str())
            .map(str::to_owned);
        let call = |name: &str, arguments: Value| {
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                   "function": {"name": name, "arguments": arguments.to_string()}}]})
        };
        match (fake.mode, result) {
            (ToolUse::OrderStatus, None) => call("order_status", json!({"order_id": "4821"})),
            (ToolUse::OrderStatus, Some(r)) => {
                let said: Value = serde_json::from_str(&r).unwrap_or_default();
                json!({"role": "assistant", "content": format!("Good news: {}", said["result"].as_str().unwrap_or_default())})
            }
            (ToolUse::Unknown, None) => call("delete_everything", json!({})),
            (ToolUse::Unknown, Some(_)) => json!({"role": "assistant", "content": ""}),
            (ToolUse::Invalid, _) => call(
                "order_status",
                json!({"order_id": "'; DROP TABLE orders; --"}),
            ),
        }
    } else {
        let schema = body["response_format"]["json_schema"]["name"]
            .as_str()
            .unwrap_or_default();
        let content = match schema {
            "query" => json!({"query": "opening hours"}),
            "answer" => json!({"answer": "", "citations": [], "confidence": 0.1, "handoff": true,
                               "reason": "no supporting knowledge"}),
            "summary" => json!({"summary": "Asked about an order."}),
            "memory" => json!({"summary": "Asked about an order.", "facts": []}),
            _ => json!({}),
        };
        json!({"role": "assistant", "content": content.to_string()})
    };
    axum::Json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000, "model": "fake-model",
        "choices": [{"index": 0, "finish_reason": if message.get("tool_calls").is_some() { "tool_calls" } else { "stop" },
                     "message": message}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60}
    }))
}

async fn app_with_model(mode: ToolUse) -> (TestApp, FakeModel) {
    let fake = FakeModel {
        requests: Default::default(),
        mode,
    };
    let router = axum::Router::new()
        .route(
            "/v1/chat/completions",
            axum::routing::post(chat_completions),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let app = TestApp::spawn_with(Backend::Sqlite, move |c| {
        c.llm.base_url = url;
        c.llm.model = Some("fake-model".into());
        c.llm.max_attempts = 1;
    })
    .await
    .expect("app");
    (app, fake)
}

#[tokio::test]
async fn a_model_calls_the_order_tool_and_phrases_its_result() {
    let (app, model) = app_with_model(ToolUse::OrderStatus).await;
    let shop = FakeHttp::start(shop).await;
    define(&app, order_status(&shop.url)).await;
    let out = ask(
        &app,
        "whatsapp",
        json!({"phone": JANE_PHONE}),
        "where's my parcel? order 4821",
    )
    .await;
    assert_eq!(
        out["reply"], "Good news: Order 4821 is shipped, arriving 2026-12-05.",
        "{out}"
    );
    assert_eq!(out["trace"]["action"]["name"], "order_status");
    let calls = shop.requests();
    assert_eq!(calls.len(), 1);
    assert!(query_pairs(&calls[0]).contains(&("phone".into(), JANE_PHONE.into())));
    // The tool offered: the order number only; whose order it is never was the model's choice.
    let requests = model.requests.lock().expect("lock").clone();
    let offered = requests
        .iter()
        .find(|r| r.get("tools").is_some())
        .expect("tools offered");
    let tool = &offered["tools"][0]["function"];
    assert_eq!(tool["name"], "order_status");
    assert!(
        tool["parameters"]["properties"].get("order_id").is_some(),
        "{tool}"
    );
    assert_eq!(
        tool["parameters"]["properties"]
            .as_object()
            .map(|p| p.len()),
        Some(1),
        "{tool}"
    );
    // The result went back to the model as the customer would read it, not the shop's JSON.
    let fed = requests
        .iter()
        .filter(|r| r.get("tools").is_some())
        .nth(1)
        .expect("result fed back");
    let fed = fed.to_string();
    assert!(fed.contains("tool_call_id"), "{fed}");
    assert!(
        !fed.contains("bob@example.com") && !fed.contains("\\\"customer\\\""),
        "{fed}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_model_calling_an_unknown_tool_or_passing_bad_arguments_runs_nothing() {
    let (app, _) = app_with_model(ToolUse::Unknown).await;
    let shop = FakeHttp::start(shop).await;
    define(&app, order_status(&shop.url)).await;
    let out = ask(
        &app,
        "whatsapp",
        json!({"phone": JANE_PHONE}),
        "where is my order 4821?",
    )
    .await;
    assert!(out["trace"]["action"].is_null(), "{out}");
    assert!(shop.requests().is_empty());
    app.stop().await;

    let (app, _) = app_with_model(ToolUse::Invalid).await;
    define(&app, order_status(&shop.url)).await;
    let out = ask(
        &app,
        "whatsapp",
        json!({"phone": JANE_PHONE}),
        "where is my order?",
    )
    .await;
    assert_eq!(out["reply"], "What is your order number?", "{out}");
    assert_eq!(
        out["trace"]["action"]["tool_call"]["invalid_arguments"],
        json!(["order_id"]),
        "{out}"
    );
    assert!(shop.requests().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn the_batch_test_says_whether_each_question_ran_the_expected_action() {
    let app = app(Backend::Sqlite).await.expect("app");
    let shop = FakeHttp::start(shop).await;
    define(&app, order_status(&shop.url)).await;
    let resp = app
        .client
        .post(app.url("/api/v1/playground/batch"))
        .json(&json!({
            "channel": "whatsapp",
            "questions": ["where is my order 4821?", "what are your opening hours?"],
            "expected_actions": ["order_status", ""],
        }))
        .send()
        .await
        .expect("sent");
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(body["rows"][0]["action"], "order_status", "{body}");
    assert_eq!(body["rows"][0]["action_as_expected"], true, "{body}");
    assert_eq!(body["rows"][1]["action_as_expected"], true, "{body}");
    assert_eq!(body["actions_as_expected"], 2, "{body}");
    app.stop().await;
}
