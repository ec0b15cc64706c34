//! Workspace settings as admins saved them: two JSON documents, the readable settings and the
//! write-only secrets. The store does not interpret them — the agent and the server own their
//! shapes — so adding a setting needs no migration.

use chrono::{DateTime, Utc};
use rapport_core::ids::WorkspaceId;
use serde_json::Value;
use sqlx::types::Json;

use crate::db::on_db;
use crate::{Result, Store};

/// One workspace's saved settings.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct StoredSettings {
    #[sqlx(json)]
    pub settings: Value,
    #[sqlx(json)]
    pub secrets: Value,
    pub updated_by: Option<i64>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Store {
    /// The workspace's saved settings; empty documents when nothing was ever saved.
    pub async fn workspace_settings(&self, ws: WorkspaceId) -> Result<StoredSettings> {
        let sql = "SELECT settings, secrets, updated_by, updated_at FROM workspace_settings \
                   WHERE workspace_id = $1";
        let row: Option<StoredSettings> = on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .fetch_optional(p)
            .await?);
        Ok(row.unwrap_or_else(|| StoredSettings {
            settings: Value::Object(Default::default()),
            secrets: Value::Object(Default::default()),
            updated_by: None,
            updated_at: None,
        }))
    }

    /// Replaces both documents (the caller merged what changed into what was there).
    pub async fn save_workspace_settings(
        &self,
        ws: WorkspaceId,
        settings: &Value,
        secrets: &Value,
        updated_by: Option<i64>,
    ) -> Result<StoredSettings> {
        let now = Utc::now();
        let sql = "INSERT INTO workspace_settings (workspace_id, settings, secrets, updated_by, updated_at) \
                   VALUES ($1, $2, $3, $4, $5) \
                   ON CONFLICT (workspace_id) DO UPDATE SET settings = excluded.settings, \
                   secrets = excluded.secrets, updated_by = excluded.updated_by, \
                   updated_at = excluded.updated_at";
        on_db!(&self.db, |p| sqlx::query(sql)
            .bind(ws.0)
            .bind(Json(settings))
            .bind(Json(secrets))
            .bind(updated_by)
            .bind(now)
            .execute(p)
            .await?
            .rows_affected());
        Ok(StoredSettings {
            settings: settings.clone(),
            secrets: secrets.clone(),
            updated_by,
            updated_at: Some(now),
        })
    }
}
