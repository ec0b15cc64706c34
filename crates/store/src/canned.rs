//! Canned replies: answers agents insert with `/shortcut`, shared by the team or one agent's own.
//! The store keeps the template text and how often it was used; rendering it is the desk's.

use chrono::{DateTime, Utc};
use rapport_core::ids::WorkspaceId;
use serde::Serialize;

use crate::db::{like_escaped, on_db};
use crate::{Error, Result, Store};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CannedReply {
    pub id: i64,
    /// The agent it belongs to; `None` when the whole team shares it.
    pub owner_id: Option<i64>,
    pub shortcut: String,
    pub title: String,
    pub body: String,
    pub uses: i64,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a canned reply says; its owner is fixed when it is created.
#[derive(Debug, Clone)]
pub struct CannedText {
    pub shortcut: String,
    pub title: String,
    pub body: String,
}

const COLUMNS: &str =
    "id, owner_id, shortcut, title, body, uses, last_used_at, created_by, created_at, updated_at";

impl Store {
    /// The replies `user` may use — the shared ones and their own — whose shortcut, title or
    /// body contains `query` (all when empty): shortcut matches first, then the most used.
    pub async fn canned_replies(
        &self,
        ws: WorkspaceId,
        user: i64,
        query: &str,
        limit: i64,
    ) -> Result<Vec<CannedReply>> {
        let pattern = format!("%{}%", like_escaped(&query.trim().to_lowercase()));
        let sql = format!(
            "SELECT {COLUMNS} FROM canned_replies WHERE workspace_id = $1 \
             AND (owner_id IS NULL OR owner_id = $2) \
             AND (LOWER(shortcut) LIKE $3 ESCAPE '\\' OR LOWER(title) LIKE $3 ESCAPE '\\' \
                  OR LOWER(body) LIKE $3 ESCAPE '\\') \
             ORDER BY CASE WHEN LOWER(shortcut) LIKE $3 ESCAPE '\\' THEN 0 ELSE 1 END, \
                      uses DESC, shortcut LIMIT $4"
        );
        on_db!(&self.db, |p| Ok(sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(ws.0)
        .bind(user)
        .bind(&pattern)
        .bind(limit)
        .fetch_all(p)
        .await?))
    }

    pub async fn canned_reply(&self, ws: WorkspaceId, id: i64) -> Result<CannedReply> {
        let sql =
            format!("SELECT {COLUMNS} FROM canned_replies WHERE workspace_id = $1 AND id = $2");
        let found: Option<CannedReply> = on_db!(&self.db, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(ws.0)
        .bind(id)
        .fetch_optional(p)
        .await?);
        found.ok_or(Error::NotFound {
            what: "canned reply",
            id,
        })
    }

    /// Creates a reply, shared when `owner` is `None`; a shortcut taken at that level is a conflict.
    pub async fn create_canned_reply(
        &self,
        ws: WorkspaceId,
        owner: Option<i64>,
        created_by: i64,
        text: &CannedText,
    ) -> Result<CannedReply> {
        let sql = format!(
            "INSERT INTO canned_replies (workspace_id, owner_id, shortcut, title, body, created_by, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {COLUMNS}"
        );
        let created = on_db!(&self.db, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(ws.0)
        .bind(owner)
        .bind(&text.shortcut)
        .bind(&text.title)
        .bind(&text.body)
        .bind(created_by)
        .bind(Utc::now())
        .fetch_one(p)
        .await);
        created.map_err(|e| shortcut_taken(e, &text.shortcut))
    }

    pub async fn update_canned_reply(
        &self,
        ws: WorkspaceId,
        id: i64,
        text: &CannedText,
    ) -> Result<CannedReply> {
        let sql = format!(
            "UPDATE canned_replies SET shortcut = $1, title = $2, body = $3, updated_at = $4 \
             WHERE workspace_id = $5 AND id = $6 RETURNING {COLUMNS}"
        );
        let updated: Option<CannedReply> = on_db!(&self.db, |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.clone())
        )
        .bind(&text.shortcut)
        .bind(&text.title)
        .bind(&text.body)
        .bind(Utc::now())
        .bind(ws.0)
        .bind(id)
        .fetch_optional(p)
        .await)
        .map_err(|e| shortcut_taken(e, &text.shortcut))?;
        updated.ok_or(Error::NotFound {
            what: "canned reply",
            id,
        })
    }

    pub async fn delete_canned_reply(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        let sql = "DELETE FROM canned_replies WHERE workspace_id = $1 AND id = $2";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(ws.0)
            .bind(id)
            .execute(p)
            .await?
            .rows_affected());
        Error::unless_touched(n, "canned reply", id)
    }

    /// Counts one use of the reply (an agent inserted it).
    pub async fn count_canned_use(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        let sql = "UPDATE canned_replies SET uses = uses + 1, last_used_at = $1 \
                   WHERE workspace_id = $2 AND id = $3";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(Utc::now())
            .bind(ws.0)
            .bind(id)
            .execute(p)
            .await?
            .rows_affected());
        Error::unless_touched(n, "canned reply", id)
    }
}

fn shortcut_taken(e: sqlx::Error, shortcut: &str) -> Error {
    Error::conflict_on_unique(e, format!("the shortcut /{shortcut} is taken"))
}
