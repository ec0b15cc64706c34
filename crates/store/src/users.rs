//! The people who use Rapport (admins and agents), their API tokens and their signed-in
//! sessions. Secrets are never stored: a password as its argon2 hash, a token or session cookie
//! as its SHA-256; hashing is the auth crate's.

use chrono::{DateTime, Utc};
use rapport_core::ids::WorkspaceId;
use serde::Serialize;

use crate::db::on_db;
use crate::{Error, Result, Store};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub workspace_id: i64,
    pub email: String,
    pub name: String,
    /// `admin` or `agent`.
    pub role: String,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

macro_rules! user_columns {
    () => {
        "u.id, u.workspace_id, u.email, u.name, u.role, u.disabled_at, u.created_at"
    };
}

/// A user and their password hash, for signing in.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApiToken {
    pub id: i64,
    pub workspace_id: i64,
    pub user_id: Option<i64>,
    pub name: String,
    /// The first characters of the token, so people can tell their tokens apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A live session: whose it is and the CSRF token its requests must carry.
#[derive(Debug, Clone)]
pub struct SessionOf {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// A user is not signed in while disabled.
const ACTIVE: &str = "u.disabled_at IS NULL";

impl Store {
    /// Adds a user; an e-mail already used in the workspace is a conflict.
    pub async fn create_user(
        &self,
        ws: WorkspaceId,
        email: &str,
        name: &str,
        role: &str,
        password_hash: Option<&str>,
    ) -> Result<User> {
        let sql = "INSERT INTO users (workspace_id, email, name, role, password_hash, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id";
        let email = email.trim().to_lowercase();
        let id: Option<i64> = on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(ws.0)
            .bind(&email)
            .bind(name.trim())
            .bind(role)
            .bind(password_hash)
            .bind(Utc::now())
            .fetch_optional(p)
            .await?);
        match id {
            Some(id) => self.user(ws, id).await,
            None => Err(Error::Conflict(format!(
                "a user with the e-mail {email} already exists"
            ))),
        }
    }

    pub async fn user(&self, ws: WorkspaceId, id: i64) -> Result<User> {
        let sql = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.workspace_id = $1 AND u.id = $2"
        );
        on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(id)
            .fetch_optional(p)
            .await?)
        .ok_or(Error::NotFound { what: "user", id })
    }

    pub async fn users(&self, ws: WorkspaceId) -> Result<Vec<User>> {
        let sql = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.workspace_id = $1 ORDER BY u.id"
        );
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .fetch_all(p)
            .await?))
    }

    /// Every active user with this e-mail (one per workspace), with their password hashes.
    pub async fn credentials(&self, email: &str) -> Result<Vec<Credentials>> {
        let sql = format!(
            "SELECT {}, u.password_hash FROM users u WHERE u.email = $1 AND {ACTIVE} ORDER BY u.id",
            user_columns!()
        );
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: User,
            password_hash: Option<String>,
        }
        let rows: Vec<Row> = on_db!(&self.db, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(email.trim().to_lowercase())
        .fetch_all(p)
        .await?);
        Ok(rows
            .into_iter()
            .map(|r| Credentials {
                user: r.user,
                password_hash: r.password_hash,
            })
            .collect())
    }

    /// The password hash of one user (to check the current password before a change).
    pub async fn password_hash(&self, ws: WorkspaceId, user: i64) -> Result<Option<String>> {
        let sql = "SELECT password_hash FROM users WHERE workspace_id = $1 AND id = $2";
        on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(ws.0)
            .bind(user)
            .fetch_optional(p)
            .await?)
        .ok_or(Error::NotFound {
            what: "user",
            id: user,
        })
    }

    /// Sets a password and signs the user out everywhere.
    pub async fn set_password(&self, ws: WorkspaceId, user: i64, hash: &str) -> Result<()> {
        let sql = "UPDATE users SET password_hash = $1 WHERE workspace_id = $2 AND id = $3";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(hash)
            .bind(ws.0)
            .bind(user)
            .execute(p)
            .await?
            .rows_affected());
        Error::unless_touched(n, "user", user)?;
        self.delete_sessions_of(user).await
    }

    /// Changes a user's name, role or disabled state; disabling signs them out and revokes
    /// their tokens.
    pub async fn update_user(
        &self,
        ws: WorkspaceId,
        user: i64,
        name: Option<&str>,
        role: Option<&str>,
        disabled: Option<bool>,
    ) -> Result<User> {
        let now = Utc::now();
        let sql = "UPDATE users SET name = COALESCE($1, name), role = COALESCE($2, role), \
                   disabled_at = CASE WHEN $3 = 1 THEN COALESCE(disabled_at, $4) \
                                      WHEN $3 = 0 THEN NULL ELSE disabled_at END \
                   WHERE workspace_id = $5 AND id = $6";
        let flag: i32 = match disabled {
            Some(true) => 1,
            Some(false) => 0,
            None => -1,
        };
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(name.map(str::trim))
            .bind(role)
            .bind(flag)
            .bind(now)
            .bind(ws.0)
            .bind(user)
            .execute(p)
            .await?
            .rows_affected());
        Error::unless_touched(n, "user", user)?;
        if disabled == Some(true) {
            self.delete_sessions_of(user).await?;
            let sql =
                "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL";
            on_db!(&self.db, |p| sqlx::query(sql)
                .bind(now)
                .bind(user)
                .execute(p)
                .await?
                .rows_affected());
        }
        self.user(ws, user).await
    }

    /// Active admins of a workspace: the last one may not be demoted or disabled.
    pub async fn count_admins(&self, ws: WorkspaceId) -> Result<i64> {
        let sql = "SELECT COUNT(*) FROM users WHERE workspace_id = $1 AND role = 'admin' AND disabled_at IS NULL";
        Ok(on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(ws.0)
            .fetch_one(p)
            .await?))
    }

    pub async fn count_users(&self) -> Result<i64> {
        Ok(on_db!(&self.db, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM users"
        )
        .fetch_one(p)
        .await?))
    }
}

impl Store {
    pub async fn create_api_token(
        &self,
        ws: WorkspaceId,
        user: i64,
        name: &str,
        token_hash: &str,
        prefix: &str,
    ) -> Result<ApiToken> {
        let sql = "INSERT INTO api_tokens (workspace_id, user_id, name, token_hash, prefix, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) \
                   RETURNING id, workspace_id, user_id, name, prefix, created_at, last_used_at, revoked_at";
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(user)
            .bind(name.trim())
            .bind(token_hash)
            .bind(prefix)
            .bind(Utc::now())
            .fetch_one(p)
            .await?))
    }

    /// The tokens of a workspace, or of one user in it.
    pub async fn api_tokens(&self, ws: WorkspaceId, user: Option<i64>) -> Result<Vec<ApiToken>> {
        let sql = "SELECT id, workspace_id, user_id, name, prefix, created_at, last_used_at, revoked_at \
                   FROM api_tokens WHERE workspace_id = $1 AND ($2 IS NULL OR user_id = $2) ORDER BY id";
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(user)
            .fetch_all(p)
            .await?))
    }

    /// Revokes a token (of `user` only, when given). `false` when there is no such live token.
    pub async fn revoke_api_token(
        &self,
        ws: WorkspaceId,
        id: i64,
        user: Option<i64>,
    ) -> Result<bool> {
        let sql = "UPDATE api_tokens SET revoked_at = $1 WHERE workspace_id = $2 AND id = $3 \
                   AND ($4 IS NULL OR user_id = $4) AND revoked_at IS NULL";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(Utc::now())
            .bind(ws.0)
            .bind(id)
            .bind(user)
            .execute(p)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// The active user a live token belongs to; notes when it was last used (at most once a
    /// minute, so reads stay reads).
    pub async fn user_by_token(&self, token_hash: &str) -> Result<Option<User>> {
        let sql = format!(
            "SELECT {}, t.id AS token_id FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND {ACTIVE}",
            user_columns!()
        );
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: User,
            token_id: i64,
        }
        let row: Option<Row> = on_db!(&self.db, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(token_hash)
        .fetch_optional(p)
        .await?);
        let Some(row) = row else { return Ok(None) };
        let now = Utc::now();
        let touch = "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 \
                     AND (last_used_at IS NULL OR last_used_at < $3)";
        on_db!(&self.db, |p| sqlx::query(touch)
            .bind(now)
            .bind(row.token_id)
            .bind(now - chrono::Duration::minutes(1))
            .execute(p)
            .await?
            .rows_affected());
        Ok(Some(row.user))
    }
}

impl Store {
    pub async fn create_session(
        &self,
        user: &User,
        token_hash: &str,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let now = Utc::now();
        let sql = "INSERT INTO sessions (workspace_id, user_id, token_hash, csrf_token, created_at, expires_at, last_seen_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $5)";
        on_db!(&self.db, |p| sqlx::query(sql)
            .bind(user.workspace_id)
            .bind(user.id)
            .bind(token_hash)
            .bind(csrf_token)
            .bind(now)
            .bind(expires_at)
            .execute(p)
            .await?
            .rows_affected());
        Ok(())
    }

    /// The session of a cookie, if it is live and its user active.
    pub async fn session(&self, token_hash: &str) -> Result<Option<SessionOf>> {
        let sql = format!(
            "SELECT {}, s.csrf_token, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND {ACTIVE}",
            user_columns!()
        );
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: User,
            csrf_token: String,
            expires_at: DateTime<Utc>,
        }
        let row: Option<Row> = on_db!(&self.db, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(token_hash)
        .bind(Utc::now())
        .fetch_optional(p)
        .await?);
        Ok(row.map(|r| SessionOf {
            user: r.user,
            csrf_token: r.csrf_token,
            expires_at: r.expires_at,
        }))
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        on_db!(&self.db, |p| sqlx::query(
            "DELETE FROM sessions WHERE token_hash = $1"
        )
        .bind(token_hash)
        .execute(p)
        .await?
        .rows_affected());
        Ok(())
    }

    async fn delete_sessions_of(&self, user: i64) -> Result<()> {
        on_db!(&self.db, |p| sqlx::query(
            "DELETE FROM sessions WHERE user_id = $1"
        )
        .bind(user)
        .execute(p)
        .await?
        .rows_affected());
        Ok(())
    }
}
