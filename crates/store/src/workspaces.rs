//! Workspaces: the tenants. Every other row belongs to one.

use chrono::{DateTime, Utc};
use rapport_core::ids::WorkspaceId;
use serde::Serialize;

use crate::db::on_db;
use crate::{Error, Result, Store};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Workspace {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl Store {
    pub async fn workspace(&self, id: WorkspaceId) -> Result<Workspace> {
        let sql = "SELECT id, slug, name, created_at FROM workspaces WHERE id = $1";
        on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(id.0)
            .fetch_optional(p)
            .await?)
        .ok_or(Error::NotFound {
            what: "workspace",
            id: id.0,
        })
    }

    pub async fn create_workspace(&self, slug: &str, name: &str) -> Result<Workspace> {
        let sql = "INSERT INTO workspaces (slug, name, created_at) VALUES ($1, $2, $3) \
                   RETURNING id, slug, name, created_at";
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(slug)
            .bind(name)
            .bind(Utc::now())
            .fetch_one(p)
            .await?))
    }

    pub async fn workspaces(&self) -> Result<Vec<Workspace>> {
        let sql = "SELECT id, slug, name, created_at FROM workspaces ORDER BY id";
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .fetch_all(p)
            .await?))
    }
}
