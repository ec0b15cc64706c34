//! Counters and records that protect the service and must be the same on every node and after
//! a restart: sign-in attempts per key, and signed-webhook tokens already seen. Each check is
//! one atomic statement, so concurrent requests (on one node or several) cannot slip past it.

use chrono::{DateTime, Utc};

use crate::db::on_db;
use crate::{Result, Store};

/// The attempts counted for a key in its current window, this one included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts {
    pub count: i64,
    pub window_started_at: DateTime<Utc>,
}

/// Whether a webhook token was new, a repeat with the same body, or a replay with another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSeen {
    New,
    SameBody,
    OtherBody,
}

impl Store {
    /// Counts one sign-in attempt for `key`; a window that began before `window_start` is over
    /// and a new one begins now.
    pub async fn count_sign_in_attempt(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window_start: DateTime<Utc>,
    ) -> Result<Attempts> {
        let sql = "INSERT INTO sign_in_attempts (key, attempts, window_started_at) VALUES ($1, 1, $2) \
                   ON CONFLICT (key) DO UPDATE SET \
                     attempts = CASE WHEN sign_in_attempts.window_started_at < $3 THEN 1 \
                                ELSE sign_in_attempts.attempts + 1 END, \
                     window_started_at = CASE WHEN sign_in_attempts.window_started_at < $3 THEN $2 \
                                         ELSE sign_in_attempts.window_started_at END \
                   RETURNING attempts, window_started_at";
        let (count, window_started_at): (i64, DateTime<Utc>) =
            on_db!(&self.db, |p| sqlx::query_as(sql)
                .bind(key)
                .bind(now)
                .bind(window_start)
                .fetch_one(p)
                .await?);
        Ok(Attempts {
            count,
            window_started_at,
        })
    }

    /// Forgets the attempts of `key` (a right password for an e-mail address).
    pub async fn clear_sign_in_attempts(&self, key: &str) -> Result<()> {
        let sql = "DELETE FROM sign_in_attempts WHERE key = $1";
        on_db!(&self.db, |p| sqlx::query(sql)
            .bind(key)
            .execute(p)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Records that `provider` signed a request with `token` over a body of `digest` (hex),
    /// unless the token is known; says which. Expired tokens are forgotten on the way.
    pub async fn record_webhook_token(
        &self,
        provider: &str,
        token: &str,
        digest: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<TokenSeen> {
        let sweep = "DELETE FROM webhook_tokens WHERE expires_at < $1";
        let insert = "INSERT INTO webhook_tokens (provider, token, digest, expires_at) VALUES ($1, $2, $3, $4) \
                      ON CONFLICT (provider, token) DO NOTHING RETURNING provider";
        let known = "SELECT digest FROM webhook_tokens WHERE provider = $1 AND token = $2";
        // The digest the token came with before, if it did.
        let before: Option<String> = on_db!(&self.db, |p| {
            sqlx::query(sweep)
                .bind(now)
                .execute(p)
                .await?
                .rows_affected();
            let inserted: Option<String> = sqlx::query_scalar(insert)
                .bind(provider)
                .bind(token)
                .bind(digest)
                .bind(expires_at)
                .fetch_optional(p)
                .await?;
            match inserted {
                Some(_) => None,
                None => Some(
                    sqlx::query_scalar::<_, String>(known)
                        .bind(provider)
                        .bind(token)
                        .fetch_optional(p)
                        .await?
                        .unwrap_or_default(),
                ),
            }
        });
        Ok(match before {
            None => TokenSeen::New,
            Some(stored) if stored == digest => TokenSeen::SameBody,
            Some(_) => TokenSeen::OtherBody,
        })
    }
}
