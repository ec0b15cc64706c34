//! What the agent knows about the customer when it answers: profile, memory and the latest
//! turns of *every* conversation on *every* channel, newest first until the token budget is
//! spent. Only the customer's own cluster of contacts is ever read, which is what keeps one
//! customer's data out of another's prompt.

use chrono::{DateTime, Utc};
use rapport_core::ids::{ContactId, MessageId, WorkspaceId};
use rapport_store::Store;
use rapport_store::contacts::Fact;
use rapport_store::messages::TimelineMessage;
use serde::Serialize;

use crate::Result;

/// One message of the customer's history as prompts and rules see it.
#[derive(Debug, Clone, Serialize)]
pub struct Turn {
    pub id: i64,
    pub conversation_id: i64,
    pub contact_id: i64,
    pub channel: String,
    pub author: String,
    pub text: String,
    pub at: String,
    #[serde(skip)]
    pub created_at: DateTime<Utc>,
}

impl Turn {
    fn from_message(m: &TimelineMessage) -> Turn {
        Turn {
            id: m.id,
            conversation_id: m.conversation_id,
            contact_id: m.contact_id,
            channel: m.channel.clone(),
            author: m.author.clone(),
            text: m.text.clone(),
            at: m.created_at.format("%Y-%m-%d %H:%M").to_string(),
            created_at: m.created_at,
        }
    }

    pub fn is_customer(&self) -> bool {
        self.author == "customer"
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FactView {
    pub key: String,
    pub value: String,
    pub message_id: Option<i64>,
}

impl From<&Fact> for FactView {
    fn from(f: &Fact) -> Self {
        FactView {
            key: f.key.clone(),
            value: f.value.clone(),
            message_id: f.source_message_id,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CustomerView {
    pub contact_id: i64,
    pub name: Option<String>,
    pub summary: String,
    pub facts: Vec<FactView>,
    /// Channels this customer has used, first use first.
    pub channels: Vec<String>,
}

/// The customer's side of an answer: who they are and what they said before.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerContext {
    pub customer: CustomerView,
    /// Earlier turns, oldest first (the message being answered is not among them).
    pub history: Vec<Turn>,
    /// The reason of an escalation that is still open on this customer's conversations.
    pub open_escalation: Option<String>,
}

/// Rough token count (4 characters a token) — close enough to budget a prompt.
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4) + 4
}

/// Turns kept in the context, however large the budget.
const MAX_TURNS: i64 = 60;

impl CustomerContext {
    /// Builds the context of customer `root` (its whole cluster), leaving out `current` and any
    /// internal note, within `budget` tokens of history.
    pub async fn assemble(
        store: &Store,
        ws: WorkspaceId,
        root: ContactId,
        current: Option<MessageId>,
        budget: usize,
    ) -> Result<CustomerContext> {
        let cluster = store.contact_cluster(ws, root).await?;
        let contact = store.contact(ws, root).await?;
        let facts = store.facts(ws, &cluster).await?;
        let timeline = store.timeline(ws, &cluster, Some(MAX_TURNS + 1)).await?;
        let channels = store.channels_of(ws, &cluster).await?;
        let mut history = Vec::new();
        let mut spent = 0;
        for m in timeline.iter().rev() {
            if Some(MessageId(m.id)) == current || m.internal_note || m.text.trim().is_empty() {
                continue;
            }
            let cost = estimate_tokens(&m.text);
            if spent + cost > budget && !history.is_empty() {
                break;
            }
            spent += cost;
            history.push(Turn::from_message(m));
        }
        history.reverse();
        let open_escalation = store
            .open_escalation_of(ws, &cluster)
            .await?
            .map(|e| e.reason);
        Ok(CustomerContext {
            customer: CustomerView {
                contact_id: root.0,
                name: contact.name,
                summary: contact.memory_summary,
                facts: facts.iter().map(FactView::from).collect(),
                channels,
            },
            history,
            open_escalation,
        })
    }

    /// Customer turns, newest first.
    pub fn customer_turns(&self) -> impl Iterator<Item = &Turn> {
        self.history.iter().rev().filter(|t| t.is_customer())
    }

    /// The context as plain text, as the trace records it (and as the scenario evaluation
    /// searches it for remembered facts).
    pub fn as_text(&self) -> String {
        let mut out = String::new();
        if let Some(name) = &self.customer.name {
            out.push_str(&format!("Name: {name}\n"));
        }
        if !self.customer.summary.is_empty() {
            out.push_str(&format!("Memory: {}\n", self.customer.summary));
        }
        for f in &self.customer.facts {
            out.push_str(&format!("Fact: {} = {}\n", f.key, f.value));
        }
        for t in &self.history {
            out.push_str(&format!(
                "[{} · {} · {}] {}\n",
                t.at, t.channel, t.author, t.text
            ));
        }
        out
    }
}
