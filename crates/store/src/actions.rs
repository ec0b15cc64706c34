//! Actions the agent can take for a customer (HTTP calls an admin defined), the audit of every
//! call, the action a customer is in the middle of (an input asked for, a write to confirm),
//! and the one-time codes that verify a customer before their account data is read.
//!
//! The store keeps a definition as a JSON document; its shape belongs to the agent crate.

use chrono::{DateTime, Utc};
use rapport_core::ids::{ContactId, ConversationId, MessageId, WorkspaceId};
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;

use crate::db::on_db;
use crate::{Error, Result, Store};

/// An action as stored: the definition and its sealed header secrets.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StoredAction {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    #[sqlx(json)]
    pub definition: Value,
    #[serde(skip)]
    #[sqlx(json)]
    pub secrets: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One call to record.
#[derive(Debug, Clone)]
pub struct NewActionCall {
    pub action_id: Option<i64>,
    pub action_name: String,
    pub conversation_id: Option<ConversationId>,
    pub message_id: Option<MessageId>,
    pub contact_id: Option<ContactId>,
    /// Inputs with personal data and secrets redacted.
    pub inputs: Value,
    /// `ok`, `failed`, `refused`, `timeout`, `declined`.
    pub outcome: String,
    pub http_status: Option<i32>,
    pub latency_ms: i64,
    pub summary: String,
    pub error: Option<String>,
    /// The customer's message that confirmed a write.
    pub confirmed_by: Option<MessageId>,
}

/// A recorded call.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ActionCall {
    pub id: i64,
    pub action_id: Option<i64>,
    pub action_name: String,
    pub conversation_id: Option<i64>,
    pub message_id: Option<i64>,
    pub contact_id: Option<i64>,
    #[sqlx(json)]
    pub inputs: Value,
    pub outcome: String,
    pub http_status: Option<i32>,
    pub latency_ms: i64,
    pub summary: String,
    pub error: Option<String>,
    pub confirmed_by: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// What an action waits for from the customer.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ActionSession {
    pub action_id: i64,
    #[sqlx(json)]
    pub inputs: Value,
    /// `input:<name>`, `confirm` or `code`.
    pub awaiting: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A one-time code sent to the customer.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Verification {
    pub id: i64,
    pub code_hash: String,
    pub sent_to: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
    pub verified_until: Option<DateTime<Utc>>,
}

const ACTION_COLUMNS: &str = "id, name, enabled, definition, secrets, created_at, updated_at";
const CALL_COLUMNS: &str = "id, action_id, action_name, conversation_id, message_id, contact_id, \
     inputs, outcome, http_status, latency_ms, summary, error, confirmed_by, created_at";

impl Store {
    pub async fn actions(&self, ws: WorkspaceId) -> Result<Vec<StoredAction>> {
        let sql =
            format!("SELECT {ACTION_COLUMNS} FROM actions WHERE workspace_id = $1 ORDER BY name");
        on_db!(&self.db, |p| Ok(sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(ws.0)
        .fetch_all(p)
        .await?))
    }

    pub async fn action(&self, ws: WorkspaceId, id: i64) -> Result<StoredAction> {
        let sql =
            format!("SELECT {ACTION_COLUMNS} FROM actions WHERE workspace_id = $1 AND id = $2");
        let found: Option<StoredAction> = on_db!(&self.db, |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.clone())
        )
        .bind(ws.0)
        .bind(id)
        .fetch_optional(p)
        .await?);
        found.ok_or(Error::NotFound { what: "action", id })
    }

    /// Creates an action; a name already used in the workspace is a conflict.
    pub async fn create_action(
        &self,
        ws: WorkspaceId,
        name: &str,
        enabled: bool,
        definition: &Value,
        secrets: &Value,
    ) -> Result<StoredAction> {
        let now = Utc::now();
        let sql = format!(
            "INSERT INTO actions (workspace_id, name, enabled, definition, secrets, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {ACTION_COLUMNS}"
        );
        let created = on_db!(&self.db, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(ws.0)
        .bind(name)
        .bind(enabled)
        .bind(Json(definition))
        .bind(Json(secrets))
        .bind(now)
        .fetch_one(p)
        .await);
        created.map_err(|e| name_taken(e, name))
    }

    /// Replaces an action's name, state, definition and secrets.
    pub async fn update_action(
        &self,
        ws: WorkspaceId,
        id: i64,
        name: &str,
        enabled: bool,
        definition: &Value,
        secrets: &Value,
    ) -> Result<StoredAction> {
        let sql = format!(
            "UPDATE actions SET name = $1, enabled = $2, definition = $3, secrets = $4, updated_at = $5 \
             WHERE workspace_id = $6 AND id = $7 RETURNING {ACTION_COLUMNS}"
        );
        let updated: Option<StoredAction> = on_db!(&self.db, |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.clone())
        )
        .bind(name)
        .bind(enabled)
        .bind(Json(definition))
        .bind(Json(secrets))
        .bind(Utc::now())
        .bind(ws.0)
        .bind(id)
        .fetch_optional(p)
        .await)
        .map_err(|e| name_taken(e, name))?;
        updated.ok_or(Error::NotFound { what: "action", id })
    }

    pub async fn delete_action(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        let sql = "DELETE FROM actions WHERE workspace_id = $1 AND id = $2";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(ws.0)
            .bind(id)
            .execute(p)
            .await?
            .rows_affected());
        Error::unless_touched(n, "action", id)
    }

    pub async fn record_action_call(&self, ws: WorkspaceId, call: &NewActionCall) -> Result<i64> {
        let sql = "INSERT INTO action_calls (workspace_id, action_id, action_name, conversation_id, \
                   message_id, contact_id, inputs, outcome, http_status, latency_ms, summary, error, \
                   confirmed_by, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id";
        on_db!(&self.db, |p| Ok(sqlx::query_scalar(sql)
            .bind(ws.0)
            .bind(call.action_id)
            .bind(&call.action_name)
            .bind(call.conversation_id.map(|c| c.0))
            .bind(call.message_id.map(|m| m.0))
            .bind(call.contact_id.map(|c| c.0))
            .bind(Json(&call.inputs))
            .bind(&call.outcome)
            .bind(call.http_status)
            .bind(call.latency_ms)
            .bind(&call.summary)
            .bind(&call.error)
            .bind(call.confirmed_by.map(|m| m.0))
            .bind(Utc::now())
            .fetch_one(p)
            .await?))
    }

    /// Calls made in a conversation, oldest first (the timeline's events).
    pub async fn action_calls_of(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
    ) -> Result<Vec<ActionCall>> {
        let sql = format!(
            "SELECT {CALL_COLUMNS} FROM action_calls WHERE +workspace_id = $1 \
             AND conversation_id = $2 ORDER BY id"
        );
        on_db!(&self.db, |p| Ok(sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(ws.0)
        .bind(conversation.0)
        .fetch_all(p)
        .await?))
    }

    /// The latest calls of the workspace (or of one action), newest first.
    pub async fn recent_action_calls(
        &self,
        ws: WorkspaceId,
        action: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ActionCall>> {
        let sql = format!(
            "SELECT {CALL_COLUMNS} FROM action_calls WHERE workspace_id = $1 \
             AND ($2 IS NULL OR action_id = $2) ORDER BY id DESC LIMIT $3"
        );
        on_db!(&self.db, |p| Ok(sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(ws.0)
        .bind(action)
        .bind(limit)
        .fetch_all(p)
        .await?))
    }

    /// Calls of `action` made for the customer since `since` that reached the API or were
    /// refused for them (declined writes do not count): the per-customer rate limit.
    pub async fn count_action_calls(
        &self,
        ws: WorkspaceId,
        contact: ContactId,
        action: i64,
        since: DateTime<Utc>,
    ) -> Result<i64> {
        let sql = "SELECT COUNT(*) FROM action_calls WHERE workspace_id = $1 AND contact_id = $2 \
                   AND created_at >= $3 AND action_id = $4 AND outcome <> 'declined'";
        on_db!(&self.db, |p| Ok(sqlx::query_scalar(sql)
            .bind(ws.0)
            .bind(contact.0)
            .bind(since)
            .bind(action)
            .fetch_one(p)
            .await?))
    }

    /// The customer's action in progress, unless it has expired.
    pub async fn action_session(
        &self,
        ws: WorkspaceId,
        contact: ContactId,
    ) -> Result<Option<ActionSession>> {
        let sql = "SELECT action_id, inputs, awaiting, created_at, expires_at FROM action_sessions \
                   WHERE workspace_id = $1 AND contact_id = $2 AND expires_at > $3";
        on_db!(&self.db, |p| Ok(sqlx::query_as(sql)
            .bind(ws.0)
            .bind(contact.0)
            .bind(Utc::now())
            .fetch_optional(p)
            .await?))
    }

    /// Starts or moves on the customer's action in progress (one per customer).
    pub async fn save_action_session(
        &self,
        ws: WorkspaceId,
        contact: ContactId,
        action_id: i64,
        inputs: &Value,
        awaiting: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let sql = "INSERT INTO action_sessions (workspace_id, contact_id, action_id, inputs, awaiting, created_at, expires_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7) \
                   ON CONFLICT (workspace_id, contact_id) DO UPDATE SET action_id = excluded.action_id, \
                   inputs = excluded.inputs, awaiting = excluded.awaiting, created_at = excluded.created_at, \
                   expires_at = excluded.expires_at";
        on_db!(&self.db, |p| sqlx::query(sql)
            .bind(ws.0)
            .bind(contact.0)
            .bind(action_id)
            .bind(Json(inputs))
            .bind(awaiting)
            .bind(Utc::now())
            .bind(expires_at)
            .execute(p)
            .await?
            .rows_affected());
        Ok(())
    }

    pub async fn end_action_session(&self, ws: WorkspaceId, contact: ContactId) -> Result<()> {
        let sql = "DELETE FROM action_sessions WHERE workspace_id = $1 AND contact_id = $2";
        on_db!(&self.db, |p| sqlx::query(sql)
            .bind(ws.0)
            .bind(contact.0)
            .execute(p)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Records a code sent to the customer (its hash only).
    pub async fn add_verification(
        &self,
        ws: WorkspaceId,
        contact: ContactId,
        code_hash: &str,
        sent_to: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<i64> {
        let sql = "INSERT INTO contact_verifications (workspace_id, contact_id, code_hash, sent_to, created_at, expires_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
        on_db!(&self.db, |p| Ok(sqlx::query_scalar(sql)
            .bind(ws.0)
            .bind(contact.0)
            .bind(code_hash)
            .bind(sent_to)
            .bind(Utc::now())
            .bind(expires_at)
            .fetch_one(p)
            .await?))
    }

    /// The customer's codes sent since `since`, newest first.
    pub async fn verifications(
        &self,
        ws: WorkspaceId,
        contact: ContactId,
        since: DateTime<Utc>,
    ) -> Result<Vec<Verification>> {
        let sql = "SELECT id, code_hash, sent_to, attempts, created_at, expires_at, verified_at, verified_until \
                   FROM contact_verifications WHERE workspace_id = $1 AND contact_id = $2 \
                   AND (created_at >= $3 OR verified_until >= $3) ORDER BY id DESC";
        on_db!(&self.db, |p| Ok(sqlx::query_as(sql)
            .bind(ws.0)
            .bind(contact.0)
            .bind(since)
            .fetch_all(p)
            .await?))
    }

    /// Counts a wrong code against the verification.
    pub async fn count_verification_attempt(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        let sql = "UPDATE contact_verifications SET attempts = attempts + 1 WHERE workspace_id = $1 AND id = $2";
        on_db!(&self.db, |p| sqlx::query(sql)
            .bind(ws.0)
            .bind(id)
            .execute(p)
            .await?
            .rows_affected());
        Ok(())
    }

    /// The right code came back: the customer is verified until `until`.
    pub async fn complete_verification(
        &self,
        ws: WorkspaceId,
        id: i64,
        until: DateTime<Utc>,
    ) -> Result<()> {
        let sql = "UPDATE contact_verifications SET verified_at = $1, verified_until = $2 \
                   WHERE workspace_id = $3 AND id = $4";
        on_db!(&self.db, |p| sqlx::query(sql)
            .bind(Utc::now())
            .bind(until)
            .bind(ws.0)
            .bind(id)
            .execute(p)
            .await?
            .rows_affected());
        Ok(())
    }
}

/// The workspace's `UNIQUE (workspace_id, name)` turned into a conflict the admin can read.
fn name_taken(e: sqlx::Error, name: &str) -> Error {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            Error::Conflict(format!("an action named {name:?} exists"))
        }
        _ => Error::Database(e),
    }
}
