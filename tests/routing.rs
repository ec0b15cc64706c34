//! Automatic assignment and SLAs over the API: escalations go to the team their topic names,
//! round-robin among its online agents within capacity, wait in the queue when nobody is
//! online, come back when their agent leaves; due times count business hours; two nodes
//! routing at once never give one escalation to two agents.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use common::{Backend, TestApp};
use rapport_core::domain::Role;
use rapport_core::hours::BusinessHours;
use rapport_core::ids::{ConversationId, WorkspaceId};
use rapport_desk::{Desk, DeskSettings};
use rapport_store::escalations::NewEscalation;
use serde_json::{Value, json};

async fn body(resp: reqwest::Response) -> Value {
    resp.json().await.expect("a JSON body")
}

struct Agent {
    id: i64,
    client: reqwest::Client,
}

async fn agent(app: &TestApp, email: &str, name: &str) -> Agent {
    let (client, id) = app.client_for_new_user(email, name, Role::Agent).await;
    Agent { id, client }
}

impl Agent {
    async fn set_status(&self, app: &TestApp, status: &str) {
        let resp = self
            .client
            .post(app.url("/api/v1/presence"))
            .json(&json!({"status": status, "active": true}))
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), 200);
    }
}

async fn post(app: &TestApp, path: &str, payload: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .json(&payload)
        .send()
        .await
        .expect("sent")
}

/// A customer writes something the bot hands over; returns the escalation once it exists.
async fn escalated(app: &TestApp, customer: &str, text: &str) -> Value {
    let accepted = body(
        post(
            app,
            "/api/v1/messages",
            json!({"sender": {"external_id": customer, "name": customer}, "text": text}),
        )
        .await,
    )
    .await;
    let conversation = &accepted["conversation_id"];
    for _ in 0..300 {
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
    panic!("{customer}'s conversation was not escalated");
}

/// Runs routing passes until the escalation's assignee is what `want` says (or panics).
async fn routed_until(app: &TestApp, escalation: &Value, want: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        app.app
            .desk
            .route_once(Utc::now())
            .await
            .expect("routing pass");
        let now = body(
            app.get(&format!("/api/v1/escalations/{}", escalation["id"]))
                .await,
        )
        .await;
        if want(&now) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("escalation {} never got there", escalation["id"]);
}

async fn events(app: &TestApp, escalation: &Value) -> Vec<Value> {
    let view = body(
        app.get(&format!(
            "/api/v1/conversations/{}",
            escalation["conversation_id"]
        ))
        .await,
    )
    .await;
    view["events"].as_array().cloned().unwrap_or_default()
}

async fn escalations_go_round_robin_to_the_teams_online_agents_within_capacity(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.inbox.reassign_after_minutes = 0).await
    else {
        return;
    };
    let saved = app
        .client
        .put(app.url("/api/v1/settings"))
        .json(&json!({"settings": {"handoff_topics": [{"name": "billing", "keywords": ["invoice"]}]}}))
        .send()
        .await
        .expect("sent");
    assert_eq!(saved.status(), 200);
    let (ana, bo, cy) = (
        agent(&app, "ana@rapport.test", "Ana").await,
        agent(&app, "bo@rapport.test", "Bo").await,
        agent(&app, "cy@rapport.test", "Cy").await,
    );
    let billing = post(
        &app,
        "/api/v1/teams",
        json!({"name": "Billing", "topics": ["billing"], "capacity": 1, "members": [ana.id, bo.id]}),
    )
    .await;
    assert_eq!(billing.status(), 201);
    let billing = body(billing).await;
    let general = post(
        &app,
        "/api/v1/teams",
        json!({"name": "General", "topics": ["*"], "members": [cy.id]}),
    )
    .await;
    assert_eq!(general.status(), 201);

    // Nobody online: the escalation waits in Billing's queue.
    let first = escalated(&app, "c1", "I have a question about my invoice").await;
    let queued = routed_until(&app, &first, |e| e["team_id"] == billing["id"]).await;
    assert_eq!(
        queued["status"], "open",
        "queued while nobody is online: {queued}"
    );
    assert_eq!(queued["assignee_id"], Value::Null);

    // Ana and Bo come online: first to Ana (never given work, lower id), next to Bo.
    ana.set_status(&app, "online").await;
    bo.set_status(&app, "online").await;
    let first = routed_until(&app, &first, |e| !e["assignee_id"].is_null()).await;
    assert_eq!(first["assignee_id"], ana.id);
    assert_eq!(first["status"], "claimed");
    let second = escalated(&app, "c2", "Another invoice question").await;
    let second = routed_until(&app, &second, |e| !e["assignee_id"].is_null()).await;
    assert_eq!(second["assignee_id"], bo.id, "round-robin");
    // Both are at capacity (1): the third waits.
    let third = escalated(&app, "c3", "My invoice is wrong").await;
    let third = routed_until(&app, &third, |e| e["team_id"] == billing["id"]).await;
    assert_eq!(
        third["assignee_id"],
        Value::Null,
        "capacity 1 each: {third}"
    );
    // Something else goes to the catch-all team, whose agent is offline.
    let other = escalated(&app, "c4", "I want to talk to a human").await;
    let other = routed_until(&app, &other, |e| !e["team_id"].is_null()).await;
    assert_ne!(other["team_id"], billing["id"]);
    assert_eq!(other["assignee_id"], Value::Null);

    let why: Vec<String> = events(&app, &first)
        .await
        .iter()
        .filter(|e| e["kind"] == "assigned")
        .filter_map(|e| e["detail"]["why"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        why,
        ["round-robin in Billing to Ana: 1 of 1 open"],
        "the reason is on the timeline"
    );
    let bell = body(
        ana.client
            .get(app.url("/api/v1/notifications"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(bell["notifications"][0]["kind"], "assigned", "{bell}");

    // Ana leaves: her conversation goes back to the queue and, once Bo is free, to Bo.
    ana.set_status(&app, "offline").await;
    let back = routed_until(&app, &first, |e| e["assignee_id"].is_null()).await;
    assert_eq!(back["status"], "open");
    let resolved = post(
        &app,
        &format!(
            "/api/v1/conversations/{}/resolve",
            second["conversation_id"]
        ),
        json!({}),
    )
    .await;
    assert_eq!(resolved.status(), 204);
    let again = routed_until(&app, &first, |e| !e["assignee_id"].is_null()).await;
    assert_eq!(again["assignee_id"], bo.id, "the oldest queued goes first");
    let kinds: Vec<String> = events(&app, &first)
        .await
        .iter()
        .filter_map(|e| e["kind"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        kinds,
        ["routed", "assigned", "unassigned", "assigned"],
        "{kinds:?}"
    );

    // Anyone can take one from the queue.
    let taken = cy
        .client
        .post(app.url(&format!("/api/v1/escalations/{}/claim", third["id"])))
        .send()
        .await
        .expect("sent");
    assert_eq!(taken.status(), 200);
    assert_eq!(body(taken).await["assignee_id"], cy.id);
    app.stop().await;
}

#[tokio::test]
async fn escalations_go_round_robin_to_the_teams_online_agents_within_capacity_on_sqlite() {
    escalations_go_round_robin_to_the_teams_online_agents_within_capacity(Backend::Sqlite).await;
}

#[tokio::test]
async fn escalations_go_round_robin_to_the_teams_online_agents_within_capacity_on_postgres() {
    escalations_go_round_robin_to_the_teams_online_agents_within_capacity(Backend::Postgres).await;
}

async fn two_nodes_routing_at_once_give_each_escalation_to_one_agent(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let mut agents = Vec::new();
    for name in ["Ana", "Bo", "Cy"] {
        let a = agent(&app, &format!("{}@rapport.test", name.to_lowercase()), name).await;
        a.set_status(&app, "online").await;
        agents.push(a);
    }
    // Ten escalations at once, straight into the store.
    let store = &app.app.store;
    let mut ids = Vec::new();
    for n in 0..10 {
        let accepted = body(
            post(
                &app,
                "/api/v1/messages",
                json!({"sender": {"external_id": format!("n{n}")}, "text": "hello"}),
            )
            .await,
        )
        .await;
        let id = store
            .escalate(
                WorkspaceId::DEFAULT,
                &NewEscalation {
                    conversation_id: ConversationId(
                        accepted["conversation_id"].as_i64().expect("id"),
                    ),
                    reason: "the customer asked for a human".into(),
                    summary: String::new(),
                    context: json!({}),
                    draft: None,
                },
            )
            .await
            .expect("escalated");
        ids.push(id.0);
    }
    // Two more nodes besides the app's own ticker, each with its own connection pool.
    let other_store = rapport_store::Store::connect(&app.app.config.store_options())
        .await
        .expect("a second node's store");
    let node_a = Desk::new(store.clone(), DeskSettings::default());
    let node_b = Desk::new(other_store, DeskSettings::default());
    for _ in 0..5 {
        let now = Utc::now();
        let (a, b) = tokio::join!(node_a.route_once(now), node_b.route_once(now));
        a.expect("node a");
        b.expect("node b");
    }
    let mut per_agent: HashMap<i64, usize> = HashMap::new();
    for id in &ids {
        let e = body(app.get(&format!("/api/v1/escalations/{id}")).await).await;
        let assignee = e["assignee_id"]
            .as_i64()
            .unwrap_or_else(|| panic!("escalation {id} assigned: {e}"));
        *per_agent.entry(assignee).or_default() += 1;
        let assigned = events(&app, &e)
            .await
            .iter()
            .filter(|ev| ev["kind"] == "assigned")
            .count();
        assert_eq!(assigned, 1, "escalation {id} was assigned once");
    }
    assert_eq!(per_agent.values().sum::<usize>(), 10);
    assert!(
        per_agent.values().all(|n| *n <= 5),
        "capacity 5 holds: {per_agent:?}"
    );
    let notified: i64 = {
        let mut total = 0;
        for a in &agents {
            let bell = body(
                a.client
                    .get(app.url("/api/v1/notifications?unread=true"))
                    .send()
                    .await
                    .expect("sent"),
            )
            .await;
            total += bell["unread"].as_i64().expect("unread");
        }
        total
    };
    assert_eq!(notified, 10, "one assignment notice each");
    app.stop().await;
}

#[tokio::test]
async fn two_nodes_routing_at_once_give_each_escalation_to_one_agent_on_sqlite() {
    two_nodes_routing_at_once_give_each_escalation_to_one_agent(Backend::Sqlite).await;
}

#[tokio::test]
async fn two_nodes_routing_at_once_give_each_escalation_to_one_agent_on_postgres() {
    two_nodes_routing_at_once_give_each_escalation_to_one_agent(Backend::Postgres).await;
}

async fn sla_due_times_count_business_hours_and_breaches_are_flagged(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    // A night shift, 22:00 to 06:00 UTC every day: 90 minutes of work started at 05:00 end at
    // 22:30; outside the shift the clock waits for it.
    let hours = json!({"timezone": "UTC", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                       "open": "22:00", "close": "06:00", "away_message": ""});
    let saved = app
        .client
        .put(app.url("/api/v1/settings"))
        .json(&json!({"settings": {"business_hours": hours}}))
        .send()
        .await
        .expect("sent");
    assert_eq!(saved.status(), 200);
    let policy = post(
        &app,
        "/api/v1/sla-policies",
        json!({"name": "Night shift", "first_response_minutes": 90, "resolution_minutes": 600}),
    )
    .await;
    assert_eq!(policy.status(), 201);
    let urgent = post(
        &app,
        "/api/v1/sla-policies",
        json!({"name": "Urgent", "priority": "urgent", "first_response_minutes": 1, "resolution_minutes": 5, "business_hours": false}),
    )
    .await;
    assert_eq!(urgent.status(), 201);
    let bad = post(&app, "/api/v1/sla-policies", json!({"name": "", "channel": "fax", "first_response_minutes": 10, "resolution_minutes": 5})).await;
    assert_eq!(bad.status(), 400);
    let problems = body(bad).await["error"]["message"]
        .as_str()
        .expect("message")
        .to_owned();
    assert!(
        problems.contains("fax") && problems.contains("shorter"),
        "{problems}"
    );

    let escalation = escalated(&app, "night", "I want to talk to a human").await;
    let routed = routed_until(&app, &escalation, |e| !e["first_response_due_at"].is_null()).await;
    let hours: BusinessHours = serde_json::from_value(hours).expect("hours");
    let created: chrono::DateTime<Utc> =
        serde_json::from_value(routed["created_at"].clone()).expect("created_at");
    let due: chrono::DateTime<Utc> =
        serde_json::from_value(routed["first_response_due_at"].clone()).expect("due");
    assert_eq!(
        due,
        hours.add_business_time(created, chrono::Duration::minutes(90))
    );
    assert!(due - created >= chrono::Duration::minutes(90));

    // Made urgent: one minute, round the clock. Two minutes on, it is missed, once.
    let sam = agent(&app, "sam@rapport.test", "Sam").await;
    let claimed = sam
        .client
        .post(app.url(&format!("/api/v1/escalations/{}/claim", escalation["id"])))
        .send()
        .await
        .expect("sent");
    assert_eq!(claimed.status(), 200);
    let urgent = post(
        &app,
        &format!("/api/v1/escalations/{}/priority", escalation["id"]),
        json!({"priority": "urgent"}),
    )
    .await;
    assert_eq!(urgent.status(), 200);
    let urgent = body(urgent).await;
    let due: chrono::DateTime<Utc> =
        serde_json::from_value(urgent["first_response_due_at"].clone()).expect("due");
    assert_eq!(due, created + chrono::Duration::minutes(1));
    let later = Utc::now() + chrono::Duration::minutes(2);
    let report = app.app.desk.route_once(later).await.expect("pass");
    let again = app.app.desk.route_once(later).await.expect("pass");
    assert!(
        report.breached <= 1 && again.breached == 0,
        "{report:?} {again:?}"
    );
    let now = body(
        app.get(&format!("/api/v1/escalations/{}", escalation["id"]))
            .await,
    )
    .await;
    assert!(now["sla_breached_at"].is_string(), "{now}");
    let bell = body(
        sam.client
            .get(app.url("/api/v1/notifications"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    let breaches = bell["notifications"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|n| n["kind"] == "sla_breached")
        .count();
    assert_eq!(breaches, 1, "{bell}");
    let report = body(app.get("/api/v1/analytics/report").await).await;
    assert_eq!(
        report["report"]["overall"]["sla"]["breached"], 1,
        "{}",
        report["report"]["overall"]["sla"]
    );
    let metrics = app.get("/metrics").await.text().await.expect("text");
    assert!(
        metrics.contains("rapport_sla_breached_escalations 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rapport_agents{status=\"offline\"}"),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn sla_due_times_count_business_hours_and_breaches_are_flagged_on_sqlite() {
    sla_due_times_count_business_hours_and_breaches_are_flagged(Backend::Sqlite).await;
}

#[tokio::test]
async fn sla_due_times_count_business_hours_and_breaches_are_flagged_on_postgres() {
    sla_due_times_count_business_hours_and_breaches_are_flagged(Backend::Postgres).await;
}

/// A team's routing rule: the agent routing gives one of its conversations to gets a
/// follow-up task, due when the rule says, on the conversation and in their tasks.
#[tokio::test]
async fn a_teams_routing_rule_gives_the_assigned_agent_a_follow_up_task() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let dee = agent(&app, "dee@rapport.test", "Dee").await;
    let refused = post(
        &app,
        "/api/v1/teams",
        json!({"name": "Care", "topics": ["*"], "members": [dee.id], "follow_up_minutes": 0}),
    )
    .await;
    assert_eq!(refused.status(), 400);
    let care = post(
        &app,
        "/api/v1/teams",
        json!({"name": "Care", "topics": ["*"], "members": [dee.id], "follow_up_minutes": 30}),
    )
    .await;
    assert_eq!(care.status(), 201);
    assert_eq!(body(care).await["follow_up_minutes"], 30);
    dee.set_status(&app, "online").await;
    let escalation = escalated(&app, "c9", "I want to talk to a human please").await;
    let assigned = routed_until(&app, &escalation, |e| e["assignee_id"] == dee.id).await;
    let tasks = body(
        dee.client
            .get(app.url("/api/v1/tasks?assignee=me&open=true"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    let tasks = tasks["tasks"].as_array().cloned().unwrap_or_default();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let task = &tasks[0];
    assert_eq!(task["source"], "rule");
    assert_eq!(task["conversation_id"], assigned["conversation_id"]);
    assert!(
        task["note"].as_str().unwrap_or_default().contains("Care"),
        "{task}"
    );
    let due: chrono::DateTime<Utc> = task["due_at"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("a due time");
    let claimed: chrono::DateTime<Utc> = assigned["claimed_at"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("claimed");
    let after = (due - claimed).num_seconds();
    assert!(
        (1790..=1810).contains(&after),
        "{after} s: {task} {assigned}"
    );
    app.stop().await;
}
