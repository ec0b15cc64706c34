//! Threads a channel keeps itself. An e-mail names the mails it answers (`In-Reply-To`,
//! `References`) by the ids the store keeps as provider message ids, ours and the customer's:
//! the conversation those belong to is where the answer goes. The thread's subject is kept on
//! the conversation, for the replies.

use rapport_core::domain::Channel;
use rapport_core::ids::{ConversationId, WorkspaceId};

use crate::db::on_db;
use crate::knowledge::placeholders;
use crate::messages::Conversation;
use crate::{Result, Store};

/// References looked up at most: a long thread's oldest ids add nothing.
const MAX_REFS: usize = 50;

impl Store {
    /// The conversations of the messages `provider_ids` name on `channel`, in the order of the
    /// ids (callers put the most direct reference first), each once.
    pub async fn conversations_by_provider_ids(
        &self,
        ws: WorkspaceId,
        channel: Channel,
        provider_ids: &[String],
    ) -> Result<Vec<Conversation>> {
        let ids = &provider_ids[..provider_ids.len().min(MAX_REFS)];
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT provider_message_id, conversation_id FROM messages \
             WHERE workspace_id = $1 AND channel = $2 AND provider_message_id IN ({})",
            placeholders(3, ids.len())
        );
        let rows: Vec<(String, i64)> = on_db!(&self.db, |p| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(ws.0)
                .bind(channel.as_str());
            for id in ids {
                q = q.bind(id);
            }
            q.fetch_all(p).await?
        });
        let mut found: Vec<i64> = Vec::new();
        for id in ids {
            for (_, conversation) in rows.iter().filter(|(p, _)| p == id) {
                if !found.contains(conversation) {
                    found.push(*conversation);
                }
            }
        }
        let mut conversations = Vec::with_capacity(found.len());
        for id in found {
            conversations.push(self.conversation(ws, ConversationId(id)).await?);
        }
        Ok(conversations)
    }

    /// Gives a conversation its subject, unless it has one. Returns whether it was set.
    pub async fn set_conversation_subject(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        subject: &str,
    ) -> Result<bool> {
        let sql = "UPDATE conversations SET subject = $1 WHERE workspace_id = $2 AND id = $3 \
                   AND (subject IS NULL OR subject = '')";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(subject)
            .bind(ws.0)
            .bind(id.0)
            .execute(p)
            .await?
            .rows_affected());
        Ok(n > 0)
    }
}
