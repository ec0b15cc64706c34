//! Reading a [`History`] from the store: rows grouped by conversation, contacts folded into
//! the customer they were merged into.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rapport_core::ids::WorkspaceId;
use rapport_store::Store;
use rapport_store::analytics::AnalyticsRows;

use crate::{ConversationFacts, EscalationFact, History, MessageFact, Params, Report, report};

/// The customer a contact belongs to: the end of its `merged_into` chain.
fn customer_of(merges: &HashMap<i64, i64>, contact: i64) -> i64 {
    let mut at = contact;
    // A chain is short; the bound only guards against a cycle in bad data.
    for _ in 0..64 {
        match merges.get(&at) {
            Some(next) => at = *next,
            None => break,
        }
    }
    at
}

pub fn history(rows: AnalyticsRows) -> History {
    let merges: HashMap<i64, i64> = rows.merges.into_iter().collect();
    let mut messages: HashMap<i64, Vec<MessageFact>> = HashMap::new();
    for m in rows.messages {
        messages
            .entry(m.conversation_id)
            .or_default()
            .push(MessageFact {
                author: m.author,
                at: m.created_at,
                decision: m.decision,
                internal_note: m.internal_note,
            });
    }
    let mut escalations: HashMap<i64, Vec<EscalationFact>> = HashMap::new();
    for e in rows.escalations {
        escalations
            .entry(e.conversation_id)
            .or_default()
            .push(EscalationFact {
                created_at: e.created_at,
                claimed_at: e.claimed_at,
                resolved_at: e.resolved_at,
                first_response_due_at: e.first_response_due_at,
                resolution_due_at: e.resolution_due_at,
                first_response_at: e.first_response_at,
                sla_breached_at: e.sla_breached_at,
            });
    }
    History {
        conversations: rows
            .conversations
            .into_iter()
            .map(|c| ConversationFacts {
                id: c.id,
                customer: customer_of(&merges, c.contact_id),
                channel: c.channel,
                created_at: c.created_at,
                resolved_at: c.resolved_at,
                last_message_at: c.last_message_at,
                csat: c.csat,
                messages: messages.remove(&c.id).unwrap_or_default(),
                escalations: escalations.remove(&c.id).unwrap_or_default(),
            })
            .collect(),
        later_openings: rows
            .later
            .into_iter()
            .map(|c| (customer_of(&merges, c.contact_id), c.created_at))
            .collect(),
    }
}

/// The report of a workspace's conversations opened in `[from, until)`.
pub async fn workspace_report(
    store: &Store,
    ws: WorkspaceId,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    channel: Option<&str>,
    params: Params,
) -> rapport_store::Result<Report> {
    let rows = store.analytics_rows(ws, from, until, params.window).await?;
    Ok(report(&history(rows), params, channel))
}

/// The groups of questions the bot could not answer in `[from, until)`, embedded with
/// `embedder` and grouped at `threshold` similarity.
pub async fn unanswered_topics(
    store: &Store,
    embedder: &dyn rapport_core::ports::Embedder,
    ws: WorkspaceId,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    threshold: f32,
) -> Result<Vec<crate::Topic>, crate::Error> {
    let questions = store.unanswered_questions(ws, from, until, 500).await?;
    if questions.is_empty() {
        return Ok(Vec::new());
    }
    let vectors = embedder
        .embed(questions.iter().map(|(q, _)| q.clone()).collect())
        .await?;
    Ok(crate::topics(&questions, &vectors, threshold))
}
