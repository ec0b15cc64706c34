//! Agents' presence as the app reports it: the status they chose and when they were last seen
//! (heartbeat) and last active. What that means (offline after missed heartbeats, away when
//! idle) is the desk's to decide; the rows are shared, so every node sees the same.

use chrono::{DateTime, Utc};
use rapport_core::ids::WorkspaceId;
use serde::Serialize;

use crate::db::on_db;
use crate::{Result, Store};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PresenceRow {
    pub user_id: i64,
    /// `online`, `away` or `offline`, as the agent chose.
    pub chosen: String,
    pub last_seen_at: DateTime<Utc>,
    pub last_active_at: DateTime<Utc>,
    pub changed_at: DateTime<Utc>,
}

const COLUMNS: &str = "user_id, chosen, last_seen_at, last_active_at, changed_at";

impl Store {
    /// Records a heartbeat from the app: seen now, active now when `active`, and the chosen
    /// status when one is given (else the one chosen before, `online` for a first beat).
    pub async fn beat(
        &self,
        ws: WorkspaceId,
        user: i64,
        chosen: Option<&str>,
        active: bool,
        now: DateTime<Utc>,
    ) -> Result<PresenceRow> {
        let sql = format!(
            "INSERT INTO agent_presence (user_id, workspace_id, chosen, last_seen_at, last_active_at, changed_at) \
             VALUES ($1, $2, COALESCE($3, 'online'), $4, $4, $4) \
             ON CONFLICT (user_id) DO UPDATE SET \
               changed_at = CASE WHEN $3 IS NULL OR $3 = agent_presence.chosen THEN agent_presence.changed_at ELSE $4 END, \
               chosen = COALESCE($3, agent_presence.chosen), \
               last_seen_at = $4, \
               last_active_at = CASE WHEN $5 THEN $4 ELSE agent_presence.last_active_at END \
             RETURNING {COLUMNS}"
        );
        Ok(on_db!(&self.db, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(user)
        .bind(ws.0)
        .bind(chosen)
        .bind(now)
        .bind(active)
        .fetch_one(p)
        .await?))
    }

    /// Every presence row of the workspace's active users.
    pub async fn presence(&self, ws: WorkspaceId) -> Result<Vec<PresenceRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM agent_presence WHERE workspace_id = $1 AND user_id IN \
             (SELECT id FROM users WHERE workspace_id = $1 AND disabled_at IS NULL) ORDER BY user_id"
        );
        on_db!(&self.db, |p| Ok(sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(ws.0)
        .fetch_all(p)
        .await?))
    }

    /// Every workspace's presence rows and how many active users there are, for `/metrics`.
    pub async fn all_presence(&self) -> Result<(Vec<PresenceRow>, i64)> {
        let sql = format!(
            "SELECT {COLUMNS} FROM agent_presence WHERE user_id IN \
             (SELECT id FROM users WHERE disabled_at IS NULL)"
        );
        let rows = on_db!(&self.db, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .fetch_all(p)
        .await?);
        let users: i64 = on_db!(&self.db, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE disabled_at IS NULL"
        )
        .fetch_one(p)
        .await?);
        Ok((rows, users))
    }
}
