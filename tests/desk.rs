//! The agents' workspace over the API: canned replies filled in for the customer at hand and
//! who may change them, follow-up tasks that remind their assignee once (however many nodes
//! look), presence, and the notifications an agent gets.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{Backend, TestApp};
use rapport_core::domain::Role;
use rapport_core::ids::WorkspaceId;
use serde_json::{Value, json};

async fn body(resp: reqwest::Response) -> Value {
    resp.json().await.expect("a JSON body")
}

async fn colleague(app: &TestApp, email: &str, name: &str, role: Role) -> (reqwest::Client, i64) {
    app.client_for_new_user(email, name, role).await
}

async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    payload: Value,
) -> reqwest::Response {
    client
        .request(method, url)
        .json(&payload)
        .send()
        .await
        .expect("sent")
}

/// A customer writes in over the API; returns the accepted message.
async fn customer_writes(app: &TestApp, external_id: &str, name: &str, text: &str) -> Value {
    let resp = send(
        &app.client,
        reqwest::Method::POST,
        app.url("/api/v1/messages"),
        json!({"sender": {"external_id": external_id, "name": name}, "text": text}),
    )
    .await;
    assert_eq!(resp.status(), 202, "the message is accepted");
    body(resp).await
}

async fn open_escalation(app: &TestApp, conversation: &Value) -> Value {
    for _ in 0..600 {
        let view = body(
            app.get(&format!("/api/v1/conversations/{conversation}"))
                .await,
        )
        .await;
        if view["open_escalation"].is_object() {
            return view["open_escalation"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "conversation {conversation} was not escalated: {}",
        body(
            app.get(&format!("/api/v1/conversations/{conversation}"))
                .await
        )
        .await
    );
}

async fn canned_reply_is_filled_in_for_the_customer_and_the_agent(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let accepted = customer_writes(&app, "c-ana", "Ana Lopez", "Where is my parcel?").await;
    let contact = &accepted["contact_id"];
    let fact = send(
        &app.client,
        reqwest::Method::POST,
        app.url(&format!("/api/v1/contacts/{contact}/facts")),
        json!({"key": "order_number", "value": "4821"}),
    )
    .await;
    assert_eq!(fact.status(), 201, "{}", body(fact).await);
    let created = send(
        &app.client,
        reqwest::Method::POST,
        app.url("/api/v1/canned-replies"),
        json!({"shortcut": "parcel", "title": "Parcel on its way", "shared": true,
               "body": "Hi {{ contact.first_name | default(\"there\") }}, order {{ facts.order_number }} left our warehouse. {{ facts.tracking | default(\"Tracking follows by e-mail.\") }} — {{ agent.first_name }} ({{ conversation.channel }})"}),
    )
    .await;
    assert_eq!(created.status(), 201);
    let reply = body(created).await;
    assert_eq!(reply["owner_id"], Value::Null, "shared with the team");

    let found = body(app.get("/api/v1/canned-replies?q=/parc").await).await;
    assert_eq!(found["canned_replies"][0]["shortcut"], "parcel", "{found}");
    let rendered = send(
        &app.client,
        reqwest::Method::POST,
        app.url(&format!("/api/v1/canned-replies/{}/render", reply["id"])),
        json!({"conversation_id": accepted["conversation_id"]}),
    )
    .await;
    assert_eq!(rendered.status(), 200);
    assert_eq!(
        body(rendered).await["text"],
        "Hi Ana, order 4821 left our warehouse. Tracking follows by e-mail. — Test (api)"
    );
    let listed = body(app.get("/api/v1/canned-replies").await).await;
    assert_eq!(listed["canned_replies"][0]["uses"], 1, "a use is counted");

    let broken = send(
        &app.client,
        reqwest::Method::POST,
        app.url("/api/v1/canned-replies"),
        json!({"shortcut": "bad", "title": "Bad", "body": "Hi {{ contact.first_name"}),
    )
    .await;
    assert_eq!(
        broken.status(),
        400,
        "a template that cannot render is refused"
    );
    app.stop().await;
}

#[tokio::test]
async fn canned_reply_is_filled_in_for_the_customer_and_the_agent_on_sqlite() {
    canned_reply_is_filled_in_for_the_customer_and_the_agent(Backend::Sqlite).await;
}

#[tokio::test]
async fn canned_reply_is_filled_in_for_the_customer_and_the_agent_on_postgres() {
    canned_reply_is_filled_in_for_the_customer_and_the_agent(Backend::Postgres).await;
}

#[tokio::test]
async fn agents_keep_their_own_replies_and_only_admins_change_the_teams() {
    async fn post(client: &reqwest::Client, app: &TestApp, payload: Value) -> reqwest::Response {
        send(
            client,
            reqwest::Method::POST,
            app.url("/api/v1/canned-replies"),
            payload,
        )
        .await
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let (sam, _) = colleague(&app, "sam@rapport.test", "Sam", Role::Agent).await;
    let shared = body(
        post(
            &app.client,
            &app,
            json!({"shortcut": "hours", "title": "Hours", "body": "9 to 6.", "shared": true}),
        )
        .await,
    )
    .await;

    let refused = post(
        &sam,
        &app,
        json!({"shortcut": "mine", "title": "Mine", "body": "x", "shared": true}),
    )
    .await;
    assert_eq!(refused.status(), 403, "an agent cannot add a shared reply");
    let own = post(&sam, &app, json!({"shortcut": "thanks", "title": "Thanks", "body": "Thanks, {{ contact.first_name }}!"})).await;
    assert_eq!(own.status(), 201);
    let own = body(own).await;
    let again = post(
        &sam,
        &app,
        json!({"shortcut": "thanks", "title": "Again", "body": "y"}),
    )
    .await;
    assert_eq!(again.status(), 409, "a shortcut is taken once per agent");

    let sams = body(
        sam.get(app.url("/api/v1/canned-replies"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    let shortcuts: Vec<&str> = sams["canned_replies"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r["shortcut"].as_str())
        .collect();
    assert!(
        shortcuts.contains(&"hours") && shortcuts.contains(&"thanks"),
        "{sams}"
    );
    let admins = body(app.get("/api/v1/canned-replies").await).await;
    assert!(
        !admins.to_string().contains("thanks"),
        "personal replies are private: {admins}"
    );

    let edit_shared = send(
        &sam,
        reqwest::Method::PUT,
        app.url(&format!("/api/v1/canned-replies/{}", shared["id"])),
        json!({"shortcut": "hours", "title": "Hours", "body": "Always open!"}),
    )
    .await;
    assert_eq!(
        edit_shared.status(),
        403,
        "the team's replies are the admins'"
    );
    let delete_theirs = app
        .client
        .delete(app.url(&format!("/api/v1/canned-replies/{}", own["id"])))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        delete_theirs.status(),
        404,
        "another agent's reply is not there for others"
    );
    let edit_own = send(
        &sam,
        reqwest::Method::PUT,
        app.url(&format!("/api/v1/canned-replies/{}", own["id"])),
        json!({"shortcut": "thanks", "title": "Thanks", "body": "Thank you!"}),
    )
    .await;
    assert_eq!(edit_own.status(), 200);
    assert_eq!(body(edit_own).await["body"], "Thank you!");
    app.stop().await;
}

async fn a_due_task_reminds_its_assignee_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (sam, sam_id) = colleague(&app, "sam@rapport.test", "Sam Rivera", Role::Agent).await;
    let accepted = customer_writes(&app, "c-bo", "Bo Chen", "My refund has not arrived").await;
    let due = Utc::now() - chrono::Duration::minutes(1);
    let created = send(
        &app.client,
        reqwest::Method::POST,
        app.url("/api/v1/tasks"),
        json!({"title": "Check the refund went through", "note": "Bank said 3 days",
               "conversation_id": accepted["conversation_id"], "assignee_id": sam_id,
               "due_at": due.to_rfc3339()}),
    )
    .await;
    assert_eq!(created.status(), 201);
    let task = body(created).await;
    assert_eq!(
        task["contact_id"], accepted["contact_id"],
        "the conversation's customer"
    );
    assert_eq!(task["contact_name"], "Bo Chen");

    let bell = body(
        sam.get(app.url("/api/v1/notifications"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(bell["notifications"][0]["kind"], "task_assigned", "{bell}");

    // Two nodes look for due tasks at the same moment: the reminder goes out once.
    let now = Utc::now();
    let (a, b) = tokio::join!(
        app.app.desk.send_due_reminders(now),
        app.app.desk.send_due_reminders(now)
    );
    let sent = a.expect("reminders").len() + b.expect("reminders").len();
    assert!(sent <= 1, "claimed once, not {sent} times");
    app.app
        .desk
        .send_due_reminders(Utc::now())
        .await
        .expect("reminders");
    let bell = body(
        sam.get(app.url("/api/v1/notifications?unread=true"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    let due_notes: Vec<&Value> = bell["notifications"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|n| n["kind"] == "task_due")
        .collect();
    assert_eq!(due_notes.len(), 1, "one reminder: {bell}");
    assert_eq!(
        due_notes[0]["title"],
        "Task due: Check the refund went through"
    );
    assert_eq!(due_notes[0]["body"], "Bo Chen: Bank said 3 days");
    assert_eq!(bell["unread"], 2);

    let mine = body(
        sam.get(app.url("/api/v1/tasks?assignee=me&open=true"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(mine["tasks"][0]["id"], task["id"], "{mine}");
    let timeline = body(
        app.get(&format!(
            "/api/v1/contacts/{}/timeline",
            accepted["contact_id"]
        ))
        .await,
    )
    .await;
    assert_eq!(
        timeline["tasks"][0]["title"], "Check the refund went through",
        "on the customer's timeline"
    );

    let done = send(
        &sam,
        reqwest::Method::POST,
        app.url(&format!("/api/v1/tasks/{}/done", task["id"])),
        json!({"outcome": "Refund confirmed by phone"}),
    )
    .await;
    assert_eq!(done.status(), 200);
    let done = body(done).await;
    assert_eq!(done["done_by"], sam_id);
    assert_eq!(done["outcome"], "Refund confirmed by phone");
    let mine = body(
        sam.get(app.url("/api/v1/tasks?assignee=me&open=true"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(mine["tasks"], json!([]), "done tasks leave the open list");

    // A new due time reminds again.
    let later = Utc::now() - chrono::Duration::seconds(5);
    send(
        &sam,
        reqwest::Method::POST,
        app.url(&format!("/api/v1/tasks/{}/reopen", task["id"])),
        json!({}),
    )
    .await;
    let moved = send(
        &sam,
        reqwest::Method::PUT,
        app.url(&format!("/api/v1/tasks/{}", task["id"])),
        json!({"title": "Check the refund went through", "due_at": later.to_rfc3339()}),
    )
    .await;
    assert_eq!(moved.status(), 200);
    let sent = app
        .app
        .desk
        .send_due_reminders(Utc::now())
        .await
        .expect("reminders");
    assert_eq!(sent.len(), 1, "the moved task reminds again");

    let read = send(
        &sam,
        reqwest::Method::POST,
        app.url("/api/v1/notifications/read"),
        json!({"ids": []}),
    )
    .await;
    assert_eq!(body(read).await["unread"], 0);
    let nameless = send(
        &app.client,
        reqwest::Method::POST,
        app.url("/api/v1/tasks"),
        json!({"title": "  ", "assignee_id": 999_999}),
    )
    .await;
    assert_eq!(nameless.status(), 400);
    let problems = body(nameless).await;
    assert!(
        problems["error"]["message"]
            .as_str()
            .expect("message")
            .contains("title is empty"),
        "{problems}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_due_task_reminds_its_assignee_once_on_sqlite() {
    a_due_task_reminds_its_assignee_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_due_task_reminds_its_assignee_once_on_postgres() {
    a_due_task_reminds_its_assignee_once(Backend::Postgres).await;
}

#[tokio::test]
async fn agents_hear_of_conversations_given_to_them_and_of_customers_writing_back() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let (sam, sam_id) = colleague(&app, "sam@rapport.test", "Sam", Role::Agent).await;
    let accepted = customer_writes(&app, "c-cy", "Cy Park", "I want a human").await;
    let escalation = open_escalation(&app, &accepted["conversation_id"]).await;
    let assigned = send(
        &app.client,
        reqwest::Method::POST,
        app.url(&format!("/api/v1/escalations/{}/assign", escalation["id"])),
        json!({"user_id": sam_id}),
    )
    .await;
    assert_eq!(assigned.status(), 200);

    customer_writes(
        &app,
        "c-cy",
        "Cy Park",
        "Are you there? Order 77 still missing",
    )
    .await;
    let mut kinds = Vec::new();
    for _ in 0..200 {
        let bell = body(
            sam.get(app.url("/api/v1/notifications"))
                .send()
                .await
                .expect("sent"),
        )
        .await;
        kinds = bell["notifications"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|n| n["kind"].as_str().map(str::to_owned))
            .collect();
        if kinds.iter().any(|k| k == "customer_reply") {
            let reply = bell["notifications"]
                .as_array()
                .expect("list")
                .iter()
                .find(|n| n["kind"] == "customer_reply")
                .expect("reply")
                .clone();
            assert_eq!(reply["title"], "Cy Park replied");
            assert_eq!(reply["conversation_id"], accepted["conversation_id"]);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(kinds.iter().any(|k| k == "assigned"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "customer_reply"), "{kinds:?}");
    let admins = body(app.get("/api/v1/notifications").await).await;
    assert_eq!(
        admins["unread"], 0,
        "the one who assigned is not told: {admins}"
    );
    app.stop().await;
}

#[tokio::test]
async fn presence_says_who_is_online_away_or_gone() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let (sam, sam_id) = colleague(&app, "sam@rapport.test", "Sam", Role::Agent).await;
    colleague(&app, "lee@rapport.test", "Lee", Role::Agent).await;
    let beat = send(
        &sam,
        reqwest::Method::POST,
        app.url("/api/v1/presence"),
        json!({"active": true}),
    )
    .await;
    assert_eq!(beat.status(), 200);
    assert_eq!(body(beat).await["status"], "online");

    let team = body(app.get("/api/v1/presence").await).await;
    let status_of = |team: &Value, name: &str| {
        team["presence"]
            .as_array()
            .expect("list")
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["status"].clone())
            .expect(name)
    };
    assert_eq!(status_of(&team, "Sam"), "online");
    assert_eq!(status_of(&team, "Lee"), "offline", "never seen");

    let away = send(
        &sam,
        reqwest::Method::POST,
        app.url("/api/v1/presence"),
        json!({"status": "away"}),
    )
    .await;
    assert_eq!(body(away).await["status"], "away");
    let team = body(app.get("/api/v1/presence").await).await;
    assert_eq!(status_of(&team, "Sam"), "away");
    assert!(
        app.app
            .desk
            .online_agents(WorkspaceId::DEFAULT)
            .await
            .expect("online")
            .iter()
            .all(|id| *id != sam_id)
    );

    let wrong = send(
        &sam,
        reqwest::Method::POST,
        app.url("/api/v1/presence"),
        json!({"status": "napping"}),
    )
    .await;
    assert_eq!(wrong.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn conversations_are_found_by_what_was_said_and_who_said_it() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let ana = customer_writes(
        &app,
        "c-ana",
        "Ana Lopez",
        "My refund for order 4821 never came",
    )
    .await;
    customer_writes(
        &app,
        "c-bo",
        "Bo Chen",
        "How do I change my delivery address?",
    )
    .await;

    let found = body(app.get("/api/v1/conversations?q=REFUND").await).await;
    let list = found["conversations"].as_array().expect("list");
    assert_eq!(list.len(), 1, "{found}");
    assert_eq!(list[0]["id"], ana["conversation_id"]);
    assert_eq!(list[0]["contact_name"], "Ana Lopez");
    assert!(
        list[0]["snippet"]
            .as_str()
            .expect("snippet")
            .contains("refund"),
        "{found}"
    );

    let by_name = body(
        app.get("/api/v1/conversations?q=bo%20chen&channel=api")
            .await,
    )
    .await;
    assert_eq!(
        by_name["conversations"].as_array().expect("list").len(),
        1,
        "{by_name}"
    );
    let none = body(
        app.get("/api/v1/conversations?q=refund&channel=whatsapp")
            .await,
    )
    .await;
    assert_eq!(none["conversations"], json!([]));
    let mine = body(app.get("/api/v1/conversations?assignee=me").await).await;
    assert_eq!(
        mine["conversations"],
        json!([]),
        "nothing is assigned to the admin"
    );
    let today = Utc::now().date_naive();
    let dated = body(
        app.get(&format!("/api/v1/conversations?from={today}&to={today}"))
            .await,
    )
    .await;
    assert_eq!(dated["conversations"].as_array().expect("list").len(), 2);
    let wrong = app.get("/api/v1/conversations?status=lost").await;
    assert_eq!(wrong.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn the_copilot_suggests_a_cited_reply_and_summarises_the_journey() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    app.with_faq_snippets().await;
    let accepted = customer_writes(
        &app,
        "c-dee",
        "Dee",
        "I forgot my password, how do I reset it?",
    )
    .await;
    let conversation = &accepted["conversation_id"];
    let suggested = send(
        &app.client,
        reqwest::Method::POST,
        app.url(&format!(
            "/api/v1/conversations/{conversation}/copilot/reply"
        )),
        json!({}),
    )
    .await;
    assert_eq!(suggested.status(), 200);
    let suggested = body(suggested).await;
    assert!(
        suggested["text"]
            .as_str()
            .expect("text")
            .contains("Forgot password"),
        "{suggested}"
    );
    assert_eq!(suggested["supported"], true, "{suggested}");
    assert_eq!(
        suggested["citations"][0]["title"], "How do I reset my password?",
        "{suggested}"
    );
    assert_eq!(suggested["message_id"], accepted["message_id"]);

    let summary = send(
        &app.client,
        reqwest::Method::POST,
        app.url(&format!(
            "/api/v1/conversations/{conversation}/copilot/summary"
        )),
        json!({}),
    )
    .await;
    assert_eq!(summary.status(), 200);
    let summary = body(summary).await;
    assert!(
        summary["summary"]
            .as_str()
            .expect("summary")
            .contains("password"),
        "{summary}"
    );
    let missing = send(
        &app.client,
        reqwest::Method::POST,
        app.url("/api/v1/conversations/999999/copilot/reply"),
        json!({}),
    )
    .await;
    assert_eq!(missing.status(), 404);
    app.stop().await;
}
