//! The web chat widget's rows: visitor sessions (only a hash of each token is kept) and the
//! web-chat messages a visitor may read back. A visitor reads the messages of their own web-chat
//! identity on the web channel and nothing else: not the customer's other channels (a shared
//! computer must not show someone's WhatsApp history), not internal notes, not the trace.

use chrono::{DateTime, Utc};
use rapport_core::domain::Channel;
use rapport_core::ids::{ContactId, WorkspaceId};
use serde::Serialize;

use crate::db::on_db;
use crate::{Result, Store};

/// A session as it is created; the caller made the token and hashed it.
#[derive(Debug, Clone, Default)]
pub struct NewWidgetSession {
    pub token_hash: String,
    pub visitor_id: String,
    /// The web-chat identity messages are sent as (`visitor:…` or `user:…`).
    pub external_id: String,
    /// What the site's signature vouched for.
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub origin: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct WidgetSession {
    pub id: i64,
    pub workspace_id: i64,
    pub visitor_id: String,
    pub external_id: String,
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub origin: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// A web-chat message as its visitor may see it: no trace, no citations' internals, no notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct WebMessage {
    pub id: i64,
    /// `customer`, `bot`, `agent` or `system`.
    pub author: String,
    pub kind: String,
    pub text: String,
    /// The id the widget gave a visitor's own message (scoped, see `rapport_channels::web`).
    pub provider_message_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

const SESSION_COLUMNS: &str = "id, workspace_id, visitor_id, external_id, user_id, email, phone, origin, \
                               created_at, last_seen_at";

impl Store {
    pub async fn create_widget_session(
        &self,
        ws: WorkspaceId,
        s: &NewWidgetSession,
    ) -> Result<WidgetSession> {
        let sql = format!(
            "INSERT INTO widget_sessions (workspace_id, token_hash, visitor_id, external_id, user_id, email, \
             phone, origin, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
             RETURNING {SESSION_COLUMNS}"
        );
        Ok(on_db!(&self.db, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(ws.0)
        .bind(&s.token_hash)
        .bind(&s.visitor_id)
        .bind(&s.external_id)
        .bind(&s.user_id)
        .bind(&s.email)
        .bind(&s.phone)
        .bind(&s.origin)
        .bind(Utc::now())
        .fetch_one(p)
        .await?))
    }

    /// The session a token hash names, in whatever workspace: the token alone says which.
    pub async fn widget_session_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<WidgetSession>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM widget_sessions WHERE token_hash = $1");
        Ok(on_db!(&self.db, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(token_hash)
        .fetch_optional(p)
        .await?))
    }

    /// Records that the session was used. Writes at most once a minute per session, so a
    /// chatty visitor does not turn every request into a write.
    pub async fn touch_widget_session(&self, id: i64) -> Result<()> {
        let now = Utc::now();
        let sql =
            "UPDATE widget_sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $3";
        on_db!(&self.db, |p| sqlx::query(sql)
            .bind(now)
            .bind(id)
            .bind(now - chrono::Duration::minutes(1))
            .execute(p)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Forgets sessions unused since `before` (their conversations stay with the contact).
    pub async fn delete_idle_widget_sessions(&self, before: DateTime<Utc>) -> Result<u64> {
        let sql = "DELETE FROM widget_sessions WHERE last_seen_at < $1";
        Ok(on_db!(&self.db, |p| sqlx::query(sql)
            .bind(before)
            .execute(p)
            .await?
            .rows_affected()))
    }

    /// What a web-chat identity may read, oldest first: its own messages on the web channel and
    /// every outbound web message of the conversations it wrote in on the web (an agent's
    /// reply may name another contact of the same customer). Those after `after`, or the newest
    /// `limit` before `before` (both message ids). Internal notes never.
    pub async fn web_messages(
        &self,
        ws: WorkspaceId,
        contact: ContactId,
        after: Option<i64>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<WebMessage>> {
        // Newest first when paging back, so LIMIT keeps the latest; reversed below.
        let (cmp, bound, order) = match (after, before) {
            (Some(a), _) => (">", a, "ASC"),
            (None, Some(b)) => ("<", b, "DESC"),
            (None, None) => (">", 0, "DESC"),
        };
        let sql = format!(
            "SELECT id, author, kind, text, provider_message_id, created_at FROM messages \
             WHERE workspace_id = $1 AND channel = $3 AND internal_note = $4 AND id {cmp} $5 \
             AND (contact_id = $2 OR (direction = 'outbound' AND conversation_id IN \
                 (SELECT conversation_id FROM messages WHERE workspace_id = $1 AND contact_id = $2 \
                  AND channel = $3 AND direction = 'inbound'))) \
             ORDER BY id {order} LIMIT {}",
            limit.clamp(1, 500)
        );
        let mut rows: Vec<WebMessage> = on_db!(&self.db, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(ws.0)
        .bind(contact.0)
        .bind(Channel::Web.as_str())
        .bind(false)
        .bind(bound)
        .fetch_all(p)
        .await?);
        if order == "DESC" {
            rows.reverse();
        }
        Ok(rows)
    }
}
