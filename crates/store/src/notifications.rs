//! What agents are told about (an assignment, a customer's reply in their conversation, a task
//! due, an SLA at risk), read by the live feed and the app's bell.

use chrono::{DateTime, Utc};
use rapport_core::ids::{ConversationId, WorkspaceId};
use serde::Serialize;

use crate::db::on_db;
use crate::{Result, Store};

#[derive(Debug, Clone)]
pub struct NewNotification {
    pub user_id: i64,
    /// `assigned`, `customer_reply`, `task_due`, `sla_at_risk`.
    pub kind: String,
    pub title: String,
    pub body: String,
    pub conversation_id: Option<ConversationId>,
    pub task_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Notification {
    pub id: i64,
    pub user_id: i64,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub conversation_id: Option<i64>,
    pub task_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, user_id, kind, title, body, conversation_id, task_id, created_at, read_at";

impl Store {
    pub async fn notify(&self, ws: WorkspaceId, n: &NewNotification) -> Result<i64> {
        let sql = "INSERT INTO notifications (workspace_id, user_id, kind, title, body, \
                   conversation_id, task_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
        Ok(on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(ws.0)
            .bind(n.user_id)
            .bind(&n.kind)
            .bind(&n.title)
            .bind(&n.body)
            .bind(n.conversation_id.map(|c| c.0))
            .bind(n.task_id)
            .bind(Utc::now())
            .fetch_one(p)
            .await?))
    }

    /// A user's notifications after id `after`: newest first, or oldest first when `after` is
    /// given (the live feed catching up).
    pub async fn notifications(
        &self,
        ws: WorkspaceId,
        user: i64,
        after: Option<i64>,
        unread_only: bool,
        limit: i64,
    ) -> Result<Vec<Notification>> {
        let order = if after.is_some() { "ASC" } else { "DESC" };
        let sql = format!(
            "SELECT {COLUMNS} FROM notifications WHERE user_id = $1 AND +workspace_id = $2 \
             AND id > $3 AND (NOT $4 OR read_at IS NULL) ORDER BY id {order} LIMIT $5"
        );
        on_db!(&self.db, |p| Ok(sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(user)
        .bind(ws.0)
        .bind(after.unwrap_or(0))
        .bind(unread_only)
        .bind(limit)
        .fetch_all(p)
        .await?))
    }

    pub async fn unread_notifications(&self, ws: WorkspaceId, user: i64) -> Result<i64> {
        let sql = "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND +workspace_id = $2 \
                   AND read_at IS NULL";
        Ok(on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(user)
            .bind(ws.0)
            .fetch_one(p)
            .await?))
    }

    /// The newest notification id of a user (0 when none): where a live feed starts.
    pub async fn last_notification_id(&self, ws: WorkspaceId, user: i64) -> Result<i64> {
        let sql = "SELECT COALESCE(MAX(id), 0) FROM notifications WHERE user_id = $1 AND +workspace_id = $2";
        Ok(on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(user)
            .bind(ws.0)
            .fetch_one(p)
            .await?))
    }

    /// Marks the given notifications of the user read, or all of them when `ids` is empty.
    pub async fn mark_notifications_read(
        &self,
        ws: WorkspaceId,
        user: i64,
        ids: &[i64],
    ) -> Result<u64> {
        let only = if ids.is_empty() {
            String::new()
        } else {
            format!(
                " AND id IN ({})",
                crate::knowledge::placeholders(4, ids.len())
            )
        };
        let sql = format!(
            "UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND workspace_id = $3 \
             AND read_at IS NULL{only}"
        );
        on_db!(&self.db, |p| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(Utc::now())
                .bind(user)
                .bind(ws.0);
            for id in ids {
                q = q.bind(id);
            }
            Ok(q.execute(p).await?.rows_affected())
        })
    }
}
