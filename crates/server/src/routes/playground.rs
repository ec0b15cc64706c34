//! `/api/v1/playground`: agents and admins test the bot as a simulated customer on any channel
//! with any identity, and see why it answered as it did (the trace); or run a batch of
//! questions and read the outcome as a table (JSON or CSV). Replies are computed and stored
//! like any other, but never delivered to a channel.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use rapport_agent::identity::{SimulatedCustomer, simulated_claim};
use rapport_agent::{Inbound, ReplyOptions, ReplyOutcome};
use rapport_core::domain::Channel;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::App;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::customers::MAX_TEXT_CHARS;

/// Questions one batch may hold: a batch runs while the request waits.
pub const MAX_BATCH: usize = 50;

/// Signs simulated web identities when no identity secret is configured (the playground plays
/// the business's own site, which is what signing stands for).
const LOCAL_IDENTITY_SECRET: &str = "rapport-local-identity-secret";

pub fn router() -> Router<App> {
    Router::new()
        .route("/playground/messages", post(ask))
        .route("/playground/batch", post(batch))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaygroundMessage {
    /// The channel the simulated customer writes on (default `web`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub channel: Option<Channel>,
    /// Who they are: a phone (WhatsApp), an address (e-mail), an Instagram id, a name. The same
    /// description reaches the same contact, so a conversation can move between channels.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub customer: SimulatedCustomer,
    /// Web chat: the site signs the phone/e-mail, so they merge with other channels.
    #[serde(default)]
    pub signed: bool,
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlaygroundReply {
    pub contact_id: i64,
    pub conversation_id: i64,
    pub message_id: i64,
    pub reply_message_id: Option<i64>,
    /// answered, acknowledged, unknown, escalated or silent.
    #[schema(value_type = String)]
    pub decision: rapport_agent::Decision,
    pub reason: Option<String>,
    pub reply: Option<String>,
    pub escalation_id: Option<i64>,
    /// Rewritten query, retrieved chunks with scores, citations, support, timings.
    #[schema(value_type = Object)]
    pub trace: Value,
}

fn claim(
    app: &App,
    channel: Channel,
    customer: &SimulatedCustomer,
    signed: bool,
) -> Result<rapport_agent::identity::IdentityClaim, ApiError> {
    let config = app.channels.config();
    let secret = config
        .secrets
        .identity_secret
        .as_ref()
        .map_or(LOCAL_IDENTITY_SECRET, |s| s.expose());
    Ok(simulated_claim(
        channel,
        customer,
        signed,
        secret,
        &app.config.agent.default_region,
    )?)
}

fn checked(text: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::BadRequest("text is empty".into()));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::TooLarge(format!(
            "text is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    Ok(())
}

/// Sends one message as a simulated customer and answers it at once, with the trace.
#[utoipa::path(post, path = "/api/v1/playground/messages", tag = "playground", request_body = PlaygroundMessage,
    responses((status = 200, body = PlaygroundReply), (status = 400, body = crate::error::ErrorBody)))]
pub async fn ask(
    State(app): State<App>,
    caller: Caller,
    Json(body): Json<PlaygroundMessage>,
) -> Result<Json<PlaygroundReply>, ApiError> {
    checked(&body.text)?;
    let channel = body.channel.unwrap_or(Channel::Web);
    let inbound = Inbound {
        claim: claim(&app, channel, &body.customer, body.signed)?,
        kind: "text".into(),
        test: true,
        text: body.text,
        ..Inbound::default()
    };
    let (received, outcome) = app
        .agent
        .ask(
            caller.workspace,
            &inbound,
            ReplyOptions {
                deliver: false,
                on_delta: None,
            },
        )
        .await?;
    Ok(Json(PlaygroundReply {
        contact_id: received.contact_id.0,
        conversation_id: received.conversation_id.0,
        message_id: received.message_id.0,
        reply_message_id: outcome.message_id.map(|m| m.0),
        decision: outcome.decision,
        reason: outcome.reason,
        reply: outcome.reply,
        escalation_id: outcome.escalation_id.map(|e| e.0),
        trace: outcome.trace,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub questions: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub channel: Option<Channel>,
    /// The action each question should run, in the same order (`""`: none); each row then
    /// says whether it did.
    #[serde(default)]
    pub expected_actions: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct BatchFormat {
    /// `csv` for a spreadsheet; JSON otherwise.
    pub format: Option<String>,
}

/// One question's outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchRow {
    pub question: String,
    #[schema(value_type = String)]
    pub decision: rapport_agent::Decision,
    pub reason: Option<String>,
    pub answer: Option<String>,
    /// Titles of the cited documents.
    pub citations: Vec<String>,
    /// How well the cited knowledge matches the question.
    pub support: Option<f64>,
    /// Probability that the knowledge answers the question (it is answered from the
    /// strictness's threshold); none when the message did not need the knowledge.
    pub answerability: Option<f64>,
    /// Similarity of the best retrieved chunk.
    pub top_similarity: Option<f64>,
    pub total_ms: Option<u64>,
    /// The action that ran for the question, if one did.
    pub action: Option<String>,
    /// What the batch expected (`""`: no action), when it said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_as_expected: Option<bool>,
}

impl BatchRow {
    fn of(question: String, outcome: ReplyOutcome) -> Self {
        let trace = &outcome.trace;
        let retrieved = trace["retrieved"].as_array().cloned().unwrap_or_default();
        let title_of = |citation: &Value| {
            let id = citation.get("chunk_id").unwrap_or(citation);
            retrieved
                .iter()
                .find(|r| &r["chunk_id"] == id)
                .and_then(|r| r["title"].as_str())
                .map(str::to_owned)
        };
        let mut citations: Vec<String> = trace["citations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(title_of)
            .collect();
        citations.dedup();
        // What the model pointed at without the answer going out is no citation.
        if outcome.decision != rapport_agent::Decision::Answered {
            citations.clear();
        }
        BatchRow {
            question,
            decision: outcome.decision,
            reason: outcome.reason,
            answer: outcome.reply,
            citations,
            support: trace["support"].as_f64(),
            answerability: trace["answerability"]["probability"].as_f64(),
            top_similarity: retrieved.first().and_then(|r| r["similarity"].as_f64()),
            total_ms: trace["timings_ms"]["total"].as_u64(),
            action: trace["action"]["name"].as_str().map(str::to_owned),
            expected_action: None,
            action_as_expected: None,
        }
    }

    fn expecting(mut self, expected: Option<&String>) -> Self {
        if let Some(e) = expected {
            let e = e.trim().to_owned();
            self.action_as_expected = Some(self.action.as_deref().unwrap_or_default() == e);
            self.expected_action = Some(e);
        }
        self
    }
}

/// Runs each question as a new simulated web visitor and returns the outcomes as a table.
#[utoipa::path(post, path = "/api/v1/playground/batch", tag = "playground", request_body = Batch,
    params(("format" = Option<String>, Query, description = "csv for a CSV file")),
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody)))]
pub async fn batch(
    State(app): State<App>,
    caller: Caller,
    Query(format): Query<BatchFormat>,
    Json(body): Json<Batch>,
) -> Result<Response, ApiError> {
    let questions: Vec<String> = body
        .questions
        .into_iter()
        .map(|q| q.trim().to_owned())
        .filter(|q| !q.is_empty())
        .collect();
    if questions.is_empty() {
        return Err(ApiError::BadRequest("no questions".into()));
    }
    if questions.len() > MAX_BATCH {
        return Err(ApiError::TooLarge(format!(
            "a batch holds at most {MAX_BATCH} questions"
        )));
    }
    let channel = body.channel.unwrap_or(Channel::Web);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut rows = Vec::with_capacity(questions.len());
    for (i, question) in questions.into_iter().enumerate() {
        checked(&question)?;
        // A new customer per question: one answer must not lean on another's history.
        let customer = SimulatedCustomer {
            name: Some(format!("Batch {} #{}", &run[..8], i + 1)),
            phone: (channel == Channel::Whatsapp).then(|| format!("+1555{:07}", i + 1)),
            email: (channel == Channel::Email)
                .then(|| format!("batch-{}-{}@example.invalid", &run[..8], i + 1)),
            instagram_id: (channel == Channel::Instagram).then(|| format!("batch-{run}-{i}")),
        };
        let inbound = Inbound {
            claim: claim(&app, channel, &customer, false)?,
            kind: "text".into(),
            test: true,
            text: question.clone(),
            ..Inbound::default()
        };
        let (_, outcome) = app
            .agent
            .ask(caller.workspace, &inbound, ReplyOptions::default())
            .await?;
        rows.push(BatchRow::of(question, outcome).expecting(body.expected_actions.get(i)));
    }
    if format.format.as_deref() == Some("csv") {
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"rapport-batch.csv\"",
                ),
            ],
            to_csv(&rows),
        )
            .into_response());
    }
    let answered = rows
        .iter()
        .filter(|r| r.decision == rapport_agent::Decision::Answered)
        .count();
    let escalated = rows
        .iter()
        .filter(|r| r.decision == rapport_agent::Decision::Escalated)
        .count();
    let expected: Vec<bool> = rows.iter().filter_map(|r| r.action_as_expected).collect();
    Ok(Json(serde_json::json!({
        "total": rows.len(),
        "answered": answered,
        "escalated": escalated,
        "actions_as_expected": (!expected.is_empty())
            .then(|| expected.iter().filter(|ok| **ok).count()),
        "rows": rows,
    }))
    .into_response())
}

/// RFC 4180: every field quoted, quotes doubled; a leading `=`, `+`, `-` or `@` is prefixed
/// with `'` so a spreadsheet does not run a customer's text as a formula.
fn to_csv(rows: &[BatchRow]) -> String {
    fn field(s: &str) -> String {
        let s = if s.starts_with(['=', '+', '-', '@']) {
            format!("'{s}")
        } else {
            s.to_owned()
        };
        format!("\"{}\"", s.replace('"', "\"\""))
    }
    let mut out = String::from(
        "question,decision,reason,answer,citations,support,answerability,top_similarity,total_ms,action,expected_action\r\n",
    );
    for r in rows {
        let decision = serde_json::to_value(r.decision)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let cells = [
            field(&r.question),
            field(&decision),
            field(r.reason.as_deref().unwrap_or_default()),
            field(r.answer.as_deref().unwrap_or_default()),
            field(&r.citations.join("; ")),
            r.support.map(|s| format!("{s:.3}")).unwrap_or_default(),
            r.answerability
                .map(|s| format!("{s:.3}"))
                .unwrap_or_default(),
            r.top_similarity
                .map(|s| format!("{s:.3}"))
                .unwrap_or_default(),
            r.total_ms.map(|s| s.to_string()).unwrap_or_default(),
            field(r.action.as_deref().unwrap_or_default()),
            field(r.expected_action.as_deref().unwrap_or_default()),
        ];
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_every_field_and_defuses_formulas() {
        let rows = vec![BatchRow {
            question: "=HYPERLINK(\"x\")".into(),
            decision: rapport_agent::Decision::Answered,
            reason: None,
            answer: Some("Say \"hi\",\nthen go".into()),
            citations: vec!["Reset".into(), "Login".into()],
            support: Some(0.61234),
            answerability: Some(0.9),
            top_similarity: None,
            total_ms: Some(12),
            action: None,
            expected_action: None,
            action_as_expected: None,
        }];
        let csv = to_csv(&rows);
        let line = csv.lines().nth(1).expect("a row");
        assert!(
            line.starts_with("\"'=HYPERLINK(\"\"x\"\")\",\"answered\""),
            "{csv}"
        );
        assert!(csv.contains("\"Say \"\"hi\"\",\nthen go\""));
        assert!(csv.contains("\"Reset; Login\",0.612,0.900,,12"));
    }
}
