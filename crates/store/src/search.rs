//! Finding conversations: by what was written in them, who the customer is, channel, status,
//! assignee and date. Text matches a substring, case-insensitive (`LIKE`): good for the tens of
//! thousands of conversations a self-hosted team holds; a full-text index is the next step when
//! that stops being enough.

use chrono::{DateTime, Utc};
use rapport_core::ids::WorkspaceId;
use serde::Serialize;

use crate::db::{like_escaped, on_db};
use crate::{Result, Store};

/// What to look for; every field narrows the search.
#[derive(Debug, Clone, Default)]
pub struct ConversationQuery {
    /// Words in a message, or the customer's name, e-mail, phone or channel id.
    pub text: Option<String>,
    pub channel: Option<String>,
    /// `bot`, `waiting_human`, `human` or `resolved`.
    pub status: Option<String>,
    pub assignee_id: Option<i64>,
    /// Conversations with a message at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// … and before this one.
    pub to: Option<DateTime<Utc>>,
    pub limit: i64,
}

/// One conversation found: who, where, and the newest message that matched.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct FoundConversation {
    pub id: i64,
    pub contact_id: i64,
    pub contact_name: Option<String>,
    pub channel: String,
    pub status: String,
    pub assignee_id: Option<i64>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The newest message matching the text, else the newest message.
    pub snippet: Option<String>,
    /// The newest escalation, to open the conversation in the inbox.
    pub escalation_id: Option<i64>,
}

impl Store {
    /// Conversations matching the query, most recently active first. Playground conversations
    /// are tests and never found.
    pub async fn search_conversations(
        &self,
        ws: WorkspaceId,
        q: &ConversationQuery,
    ) -> Result<Vec<FoundConversation>> {
        let pattern = q
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| format!("%{}%", like_escaped(&t.to_lowercase())));
        let text_match = "LOWER(m.text) LIKE $2 ESCAPE '\\'";
        let sql = format!(
            "SELECT v.id, v.contact_id, \
               (SELECT COALESCE(k.name, k.email, k.phone) FROM contacts k WHERE k.id = v.contact_id) AS contact_name, \
               v.channel, v.status, v.assignee_id, v.last_message_at, v.created_at, \
               (SELECT m.text FROM messages m WHERE m.conversation_id = v.id AND NOT m.internal_note \
                  AND ($2 IS NULL OR {text_match}) ORDER BY m.id DESC LIMIT 1) AS snippet, \
               (SELECT MAX(e.id) FROM escalations e WHERE e.conversation_id = v.id) AS escalation_id \
             FROM conversations v WHERE v.workspace_id = $1 AND NOT v.test \
             AND ($3 IS NULL OR v.channel = $3) AND ($4 IS NULL OR v.status = $4) \
             AND ($5 IS NULL OR v.assignee_id = $5) \
             AND ($6 IS NULL OR COALESCE(v.last_message_at, v.created_at) >= $6) \
             AND ($7 IS NULL OR v.created_at < $7) \
             AND ($2 IS NULL \
               OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = v.id AND {text_match}) \
               OR EXISTS (SELECT 1 FROM contacts c WHERE c.workspace_id = $1 \
                  AND (c.id = v.contact_id OR c.merged_into = v.contact_id) AND ( \
                  LOWER(COALESCE(c.name, '')) LIKE $2 ESCAPE '\\' OR LOWER(COALESCE(c.email, '')) LIKE $2 ESCAPE '\\' \
                  OR LOWER(COALESCE(c.phone, '')) LIKE $2 ESCAPE '\\' \
                  OR EXISTS (SELECT 1 FROM contact_identities i WHERE i.contact_id = c.id \
                             AND LOWER(i.external_id) LIKE $2 ESCAPE '\\')))) \
             ORDER BY COALESCE(v.last_message_at, v.created_at) DESC, v.id DESC LIMIT $8"
        );
        on_db!(&self.db, |p| Ok(sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(ws.0)
        .bind(&pattern)
        .bind(&q.channel)
        .bind(&q.status)
        .bind(q.assignee_id)
        .bind(q.from)
        .bind(q.to)
        .bind(q.limit)
        .fetch_all(p)
        .await?))
    }
}
