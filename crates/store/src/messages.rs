//! Conversations and their messages. Inserting a message is idempotent on the channel's own
//! message id, because every channel retries webhooks.

use chrono::{DateTime, Utc};
use rapport_core::domain::{Author, Channel, Direction, Resolution};
use rapport_core::ids::{ContactId, ConversationId, MessageId, WorkspaceId};
use serde_json::Value;
use sqlx::types::Json;

use crate::Result;
use crate::Store;
use crate::db::on_db;

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub conversation_id: ConversationId,
    pub contact_id: ContactId,
    pub direction: Direction,
    pub author: Author,
    pub channel: Channel,
    pub provider_message_id: Option<String>,
    pub kind: String,
    pub text: String,
    pub attachments: Value,
    pub sent_at: Option<DateTime<Utc>>,
}

/// Whether a message was new, or a repeat of one already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    New(MessageId),
    Duplicate(MessageId),
}

impl Inserted {
    pub fn id(self) -> MessageId {
        match self {
            Inserted::New(id) | Inserted::Duplicate(id) => id,
        }
    }
}

impl Store {
    pub async fn open_conversation(
        &self,
        ws: WorkspaceId,
        contact: ContactId,
        channel: Channel,
    ) -> Result<ConversationId> {
        let sql = "INSERT INTO conversations (workspace_id, contact_id, channel, status, created_at, updated_at) \
                   VALUES ($1, $2, $3, 'bot', $4, $4) RETURNING id";
        let id: i64 = on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(ws.0)
            .bind(contact.0)
            .bind(channel.as_str())
            .bind(Utc::now())
            .fetch_one(p)
            .await?);
        Ok(ConversationId(id))
    }

    /// Stores a message once per (workspace, channel, provider message id).
    pub async fn insert_message(&self, ws: WorkspaceId, m: &NewMessage) -> Result<Inserted> {
        let sql = "INSERT INTO messages (workspace_id, conversation_id, contact_id, direction, author, channel, \
                   provider_message_id, kind, text, attachments, sent_at, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                   ON CONFLICT DO NOTHING RETURNING id";
        let id: Option<i64> = on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(ws.0)
            .bind(m.conversation_id.0)
            .bind(m.contact_id.0)
            .bind(m.direction.as_str())
            .bind(m.author.as_str())
            .bind(m.channel.as_str())
            .bind(&m.provider_message_id)
            .bind(&m.kind)
            .bind(&m.text)
            .bind(Json(&m.attachments))
            .bind(m.sent_at)
            .bind(Utc::now())
            .fetch_optional(p)
            .await?);
        if let Some(id) = id {
            return Ok(Inserted::New(MessageId(id)));
        }
        let sql = "SELECT id FROM messages WHERE workspace_id = $1 AND channel = $2 AND provider_message_id = $3";
        let existing: i64 = on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(ws.0)
            .bind(m.channel.as_str())
            .bind(&m.provider_message_id)
            .fetch_one(p)
            .await?);
        Ok(Inserted::Duplicate(MessageId(existing)))
    }

    pub async fn count_messages(&self, conversation: ConversationId) -> Result<i64> {
        let sql = "SELECT COUNT(*) FROM messages WHERE conversation_id = $1";
        Ok(on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(conversation.0)
            .fetch_one(p)
            .await?))
    }

    /// Closes a conversation with how it was resolved.
    pub async fn resolve_conversation(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        resolution: Resolution,
    ) -> Result<()> {
        let now = Utc::now();
        let sql = "UPDATE conversations SET status = 'resolved', resolution = $1, resolved_at = $2, updated_at = $2 \
                   WHERE workspace_id = $3 AND id = $4";
        on_db!(&self.db, |p| sqlx::query(sql)
            .bind(resolution.as_str())
            .bind(now)
            .bind(ws.0)
            .bind(id.0)
            .execute(p)
            .await?
            .rows_affected());
        Ok(())
    }
}
