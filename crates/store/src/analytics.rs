//! The rows analytics are computed from: the conversations opened in a period with their
//! messages and escalations, the contacts' merges (one customer across channels), and the same
//! customers' conversations opened soon after (did they come back?). Counting is the
//! analytics crate's.

use chrono::{DateTime, Utc};
use rapport_core::ids::WorkspaceId;

use crate::db::{Db, on_db};
use crate::{Result, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConversationRow {
    pub id: i64,
    pub contact_id: i64,
    pub channel: String,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub csat: Option<i32>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub conversation_id: i64,
    pub author: String,
    pub created_at: DateTime<Utc>,
    pub internal_note: bool,
    /// The bot's decision, from the message's trace.
    pub decision: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EscalationRow {
    pub conversation_id: i64,
    pub created_at: DateTime<Utc>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub first_response_due_at: Option<DateTime<Utc>>,
    pub resolution_due_at: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub sla_breached_at: Option<DateTime<Utc>>,
}

/// Everything one analytics report reads.
#[derive(Debug, Clone, Default)]
pub struct AnalyticsRows {
    /// Opened in `[from, until)`.
    pub conversations: Vec<ConversationRow>,
    pub messages: Vec<MessageRow>,
    pub escalations: Vec<EscalationRow>,
    /// Opened in `[until, until + window)`: only who and when matter.
    pub later: Vec<ConversationRow>,
    /// `(contact, merged_into)` of every merged contact of the workspace.
    pub merges: Vec<(i64, i64)>,
}

macro_rules! conversation_rows {
    () => {
        "SELECT id, contact_id, channel, created_at, resolved_at, last_message_at, csat \
         FROM conversations WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3 AND NOT test \
         ORDER BY created_at, id"
    };
}

impl Store {
    pub async fn analytics_rows(
        &self,
        ws: WorkspaceId,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        window: chrono::Duration,
    ) -> Result<AnalyticsRows> {
        let conversations: Vec<ConversationRow> =
            on_db!(&self.db, |p| sqlx::query_as(conversation_rows!())
                .bind(ws.0)
                .bind(from)
                .bind(until)
                .fetch_all(p)
                .await?);
        let later: Vec<ConversationRow> =
            on_db!(&self.db, |p| sqlx::query_as(conversation_rows!())
                .bind(ws.0)
                .bind(until)
                .bind(until + window)
                .fetch_all(p)
                .await?);
        // The decision sits in each bot message's trace; read just it, not the whole trace.
        let messages_sql = match self.db {
            Db::Postgres(_) => {
                "SELECT m.conversation_id, m.author, m.created_at, m.internal_note, \
                 m.metadata->'trace'->>'decision' AS decision FROM messages m \
                 JOIN conversations c ON c.id = m.conversation_id \
                 WHERE c.workspace_id = $1 AND c.created_at >= $2 AND c.created_at < $3 AND NOT c.test \
                 ORDER BY m.created_at, m.id"
            }
            Db::Sqlite(_) => {
                "SELECT m.conversation_id, m.author, m.created_at, m.internal_note, \
                 json_extract(m.metadata, '$.trace.decision') AS decision FROM messages m \
                 JOIN conversations c ON c.id = m.conversation_id \
                 WHERE c.workspace_id = $1 AND c.created_at >= $2 AND c.created_at < $3 AND NOT c.test \
                 ORDER BY m.created_at, m.id"
            }
        };
        let messages: Vec<MessageRow> = on_db!(&self.db, |p| sqlx::query_as(messages_sql)
            .bind(ws.0)
            .bind(from)
            .bind(until)
            .fetch_all(p)
            .await?);
        let escalations_sql = "SELECT e.conversation_id, e.created_at, e.claimed_at, e.resolved_at, \
                               e.first_response_due_at, e.resolution_due_at, e.first_response_at, e.sla_breached_at \
                               FROM escalations e JOIN conversations c ON c.id = e.conversation_id \
                               WHERE c.workspace_id = $1 AND c.created_at >= $2 AND c.created_at < $3 AND NOT c.test \
                               ORDER BY e.created_at, e.id";
        let escalations: Vec<EscalationRow> = on_db!(&self.db, |p| sqlx::query_as(escalations_sql)
            .bind(ws.0)
            .bind(from)
            .bind(until)
            .fetch_all(p)
            .await?);
        let merges_sql = "SELECT id, merged_into FROM contacts \
                          WHERE workspace_id = $1 AND merged_into IS NOT NULL";
        let merges: Vec<(i64, i64)> = on_db!(&self.db, |p| sqlx::query_as(merges_sql)
            .bind(ws.0)
            .fetch_all(p)
            .await?);
        Ok(AnalyticsRows {
            conversations,
            messages,
            escalations,
            later,
            merges,
        })
    }
}

impl Store {
    /// The questions the bot could not answer from the knowledge in a period: the customer's
    /// words (as the bot's trace recorded them) of replies that said "I don't know", or that
    /// handed over because nothing supported an answer. Newest first, at most `limit`.
    pub async fn unanswered_questions(
        &self,
        ws: WorkspaceId,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<(String, String)>> {
        let sql = match self.db {
            Db::Postgres(_) => {
                "SELECT m.metadata->'trace'->'query'->>'original', m.channel FROM messages m \
                 JOIN conversations c ON c.id = m.conversation_id AND NOT c.test \
                 WHERE m.workspace_id = $1 AND m.author = 'bot' AND m.created_at >= $2 AND m.created_at < $3 \
                 AND (m.metadata->'trace'->>'decision' = 'unknown' OR (m.metadata->'trace'->>'decision' = 'escalated' \
                      AND (m.metadata->'trace'->>'reason' LIKE 'no supporting knowledge%' \
                           OR m.metadata->'trace'->>'reason' LIKE 'not covered%'))) \
                 AND m.metadata->'trace'->'query'->>'original' IS NOT NULL \
                 ORDER BY m.created_at DESC LIMIT $4"
            }
            Db::Sqlite(_) => {
                "SELECT json_extract(m.metadata, '$.trace.query.original'), m.channel FROM messages m \
                 JOIN conversations c ON c.id = m.conversation_id AND NOT c.test \
                 WHERE m.workspace_id = $1 AND m.author = 'bot' AND m.created_at >= $2 AND m.created_at < $3 \
                 AND (json_extract(m.metadata, '$.trace.decision') = 'unknown' \
                      OR (json_extract(m.metadata, '$.trace.decision') = 'escalated' \
                          AND (json_extract(m.metadata, '$.trace.reason') LIKE 'no supporting knowledge%' \
                               OR json_extract(m.metadata, '$.trace.reason') LIKE 'not covered%'))) \
                 AND json_extract(m.metadata, '$.trace.query.original') IS NOT NULL \
                 ORDER BY m.created_at DESC LIMIT $4"
            }
        };
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(from)
            .bind(until)
            .bind(limit)
            .fetch_all(p)
            .await?))
    }
}
