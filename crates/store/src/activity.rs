//! What changed in a workspace since an agent last looked: the agents' live updates poll these
//! two cheap queries (by id, so they read the same on SQLite and PostgreSQL) and turn the
//! differences into events.

use rapport_core::ids::WorkspaceId;

use crate::db::on_db;
use crate::{Result, Store};

/// An escalation's identity and status: a change of status is a claim or a resolution.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct EscalationState {
    pub id: i64,
    pub conversation_id: i64,
    pub status: String,
}

/// A message stored after a known id.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct NewMessage {
    pub id: i64,
    pub conversation_id: i64,
    pub contact_id: i64,
    pub author: String,
}

impl Store {
    /// The newest escalations of the workspace with their status (the inbox's working set).
    pub async fn escalation_states(
        &self,
        ws: WorkspaceId,
        limit: i64,
    ) -> Result<Vec<EscalationState>> {
        let sql = "SELECT id, conversation_id, status FROM escalations WHERE +workspace_id = $1 \
                   ORDER BY id DESC LIMIT $2";
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(limit)
            .fetch_all(p)
            .await?))
    }

    /// Messages of the workspace stored after `after` (an id), oldest first.
    pub async fn messages_after(
        &self,
        ws: WorkspaceId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<NewMessage>> {
        let sql = "SELECT id, conversation_id, contact_id, author FROM messages \
                   WHERE +workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3";
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(after)
            .bind(limit)
            .fetch_all(p)
            .await?))
    }

    /// The id of the workspace's newest message (0 when none): where a new watcher starts.
    pub async fn last_message_id(&self, ws: WorkspaceId) -> Result<i64> {
        let sql = "SELECT COALESCE(MAX(id), 0) FROM messages WHERE workspace_id = $1";
        let row: (i64,) = on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .fetch_one(p)
            .await?);
        Ok(row.0)
    }
}
