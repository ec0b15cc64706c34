//! Customer satisfaction: a closed conversation is marked as asked (with the token of its
//! rating link), and the score the customer gives — by replying with a number on their channel
//! or through the link — is kept on the conversation.

use chrono::{DateTime, Utc};
use rapport_core::domain::Channel;
use rapport_core::ids::{ContactId, ConversationId, WorkspaceId};

use crate::db::on_db;
use crate::knowledge::placeholders;
use crate::{Error, Result, Store};

/// The conversation a rating link names.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RatingLink {
    pub workspace_id: i64,
    pub conversation_id: i64,
    pub csat: Option<i32>,
    pub requested_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Notes that the customer was asked to rate the conversation, with the link's token.
    pub async fn mark_csat_requested(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        token: &str,
    ) -> Result<()> {
        let sql = "UPDATE conversations SET csat_token = $1, csat_requested_at = $2 \
                   WHERE workspace_id = $3 AND id = $4";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(token)
            .bind(Utc::now())
            .bind(ws.0)
            .bind(conversation.0)
            .execute(p)
            .await?
            .rows_affected());
        Error::unless_touched(n, "conversation", conversation.0)
    }

    /// The latest conversation of these contacts (one customer) on `channel` that asked for a
    /// rating since `since` and has none yet: a bare "5" from the customer answers it.
    pub async fn awaiting_rating(
        &self,
        ws: WorkspaceId,
        contacts: &[ContactId],
        channel: Channel,
        since: DateTime<Utc>,
    ) -> Result<Option<ConversationId>> {
        if contacts.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT id FROM conversations WHERE workspace_id = $1 AND channel = $2 \
             AND csat_requested_at >= $3 AND csat IS NULL AND contact_id IN ({}) \
             ORDER BY csat_requested_at DESC LIMIT 1",
            placeholders(4, contacts.len())
        );
        let id: Option<i64> = on_db!(&self.db, |p| {
            let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
                .bind(ws.0)
                .bind(channel.as_str())
                .bind(since);
            for c in contacts {
                q = q.bind(c.0);
            }
            q.fetch_optional(p).await?
        });
        Ok(id.map(ConversationId))
    }

    /// Keeps the customer's score (a later one replaces an earlier one).
    pub async fn record_csat(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        score: i32,
    ) -> Result<()> {
        if !(1..=5).contains(&score) {
            return Err(Error::Conflict(format!(
                "{score} is not a score from 1 to 5"
            )));
        }
        let sql =
            "UPDATE conversations SET csat = $1, csat_at = $2 WHERE workspace_id = $3 AND id = $4";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(score)
            .bind(Utc::now())
            .bind(ws.0)
            .bind(conversation.0)
            .execute(p)
            .await?
            .rows_affected());
        Error::unless_touched(n, "conversation", conversation.0)
    }

    /// The conversation a rating link's token names.
    pub async fn rating_link(&self, token: &str) -> Result<Option<RatingLink>> {
        let sql = "SELECT workspace_id, id AS conversation_id, csat, csat_requested_at AS requested_at \
                   FROM conversations WHERE csat_token = $1";
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(token)
            .fetch_optional(p)
            .await?))
    }
}
