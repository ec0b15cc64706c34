//! Escalations: a conversation handed to a human, with everything they need to pick it up
//! (reason, journey summary, sources consulted, the bot's draft).

use chrono::{DateTime, Utc};
use rapport_core::domain::EscalationStatus;
use rapport_core::ids::{ContactId, ConversationId, EscalationId, WorkspaceId};
use serde::Serialize;
use serde_json::Value;

use crate::db::on_db;
use crate::knowledge::placeholders;
use crate::{Error, Result, Store};

#[derive(Debug, Clone)]
pub struct NewEscalation {
    pub conversation_id: ConversationId,
    pub reason: String,
    pub summary: String,
    /// Sources consulted and the decision trace.
    pub context: Value,
    pub draft: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Escalation {
    pub id: i64,
    pub conversation_id: i64,
    pub reason: String,
    pub summary: String,
    #[sqlx(json)]
    pub context: Value,
    pub draft: Option<String>,
    pub status: String,
    pub assignee_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The channel of the escalated conversation, for the inbox list.
    pub channel: Option<String>,
    /// The team routing gave it to (none: the whole workspace's).
    pub team_id: Option<i64>,
    /// `normal`, `high` or `urgent`.
    pub priority: String,
    pub first_response_due_at: Option<DateTime<Utc>>,
    pub resolution_due_at: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    /// When an SLA target was first missed.
    pub sla_breached_at: Option<DateTime<Utc>>,
}

macro_rules! escalation_columns {
    () => {
        "id, conversation_id, reason, summary, context, draft, status, assignee_id, created_at, \
         claimed_at, resolved_at, team_id, priority, first_response_due_at, resolution_due_at, \
         first_response_at, sla_breached_at, \
         (SELECT c.channel FROM conversations c WHERE c.id = escalations.conversation_id) AS channel"
    };
}

/// Inserts the escalation and puts its conversation in the human queue, on `$tx` (either
/// backend's transaction): the id. Shared by [`Store::escalate`] and the hand-off that stores
/// the bot's notice in the same transaction.
macro_rules! escalate_in {
    ($tx:expr, $ws:expr, $e:expr, $now:expr) => {{
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO escalations (workspace_id, conversation_id, reason, summary, context, draft, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'open', $7) RETURNING id",
        )
        .bind($ws.0)
        .bind($e.conversation_id.0)
        .bind(&$e.reason)
        .bind(&$e.summary)
        .bind(sqlx::types::Json(&$e.context))
        .bind(&$e.draft)
        .bind($now)
        .fetch_one($tx)
        .await?;
        sqlx::query(
            "UPDATE conversations SET status = 'waiting_human', updated_at = $1 WHERE workspace_id = $2 AND id = $3",
        )
        .bind($now)
        .bind($ws.0)
        .bind($e.conversation_id.0)
        .execute($tx)
        .await?;
        id
    }};
}
pub(crate) use escalate_in;

impl Store {
    /// Records the escalation and puts the conversation in the human queue, in one transaction.
    pub async fn escalate(&self, ws: WorkspaceId, e: &NewEscalation) -> Result<EscalationId> {
        let now = Utc::now();
        let id: i64 = on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            let id = escalate_in!(&mut *tx, ws, e, now);
            tx.commit().await?;
            id
        });
        Ok(EscalationId(id))
    }

    pub async fn escalation(&self, ws: WorkspaceId, id: EscalationId) -> Result<Escalation> {
        let sql = concat!(
            "SELECT ",
            escalation_columns!(),
            " FROM escalations WHERE workspace_id = $1 AND id = $2"
        );
        on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(id.0)
            .fetch_optional(p)
            .await?)
        .ok_or(Error::NotFound {
            what: "escalation",
            id: id.0,
        })
    }

    /// Escalations of the workspace, optionally of one status: unresolved ones with an SLA
    /// soonest due first, then newest first. Hand-offs in test
    /// conversations (the playground) are not agents' work and are left out.
    pub async fn escalations(
        &self,
        ws: WorkspaceId,
        status: Option<EscalationStatus>,
        limit: i64,
    ) -> Result<Vec<Escalation>> {
        let sql = concat!(
            "SELECT ",
            escalation_columns!(),
            " FROM escalations WHERE workspace_id = $1 AND ($2 IS NULL OR status = $2) \
             AND NOT EXISTS (SELECT 1 FROM conversations t WHERE t.id = escalations.conversation_id AND t.test) \
             ORDER BY CASE WHEN status <> 'resolved' THEN COALESCE(CASE WHEN first_response_at IS NULL \
                 THEN first_response_due_at END, resolution_due_at) END IS NULL, \
               CASE WHEN status <> 'resolved' THEN COALESCE(CASE WHEN first_response_at IS NULL \
                 THEN first_response_due_at END, resolution_due_at) END, \
               created_at DESC, id DESC LIMIT $3"
        );
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(status.map(|s| s.as_str()))
            .bind(limit)
            .fetch_all(p)
            .await?))
    }

    /// The escalation of a conversation that is not resolved yet, if any.
    pub async fn open_escalation(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
    ) -> Result<Option<Escalation>> {
        let sql = concat!(
            "SELECT ",
            escalation_columns!(),
            " FROM escalations WHERE +workspace_id = $1 AND conversation_id = $2 AND status <> 'resolved' \
             ORDER BY id DESC LIMIT 1"
        );
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(conversation.0)
            .fetch_optional(p)
            .await?))
    }

    /// The newest unresolved escalation on any conversation of these contacts (one customer).
    pub async fn open_escalation_of(
        &self,
        ws: WorkspaceId,
        contacts: &[ContactId],
    ) -> Result<Option<Escalation>> {
        if contacts.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {} FROM escalations WHERE +workspace_id = $1 AND status <> 'resolved' AND conversation_id IN \
             (SELECT id FROM conversations WHERE workspace_id = $1 AND contact_id IN ({})) \
             ORDER BY id DESC LIMIT 1",
            escalation_columns!(),
            placeholders(2, contacts.len())
        );
        on_db!(&self.db, |p| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(ws.0);
            for c in contacts {
                q = q.bind(c.0);
            }
            Ok(q.fetch_optional(p).await?)
        })
    }

    /// A human claims the escalation: the conversation becomes theirs (status `human`).
    pub async fn claim_escalation(
        &self,
        ws: WorkspaceId,
        id: EscalationId,
        assignee: Option<i64>,
    ) -> Result<Escalation> {
        let escalation = self.escalation(ws, id).await?;
        if escalation.status == "resolved" {
            return Err(Error::Conflict(format!(
                "escalation {id} is already resolved"
            )));
        }
        let now = Utc::now();
        let esc = "UPDATE escalations SET status = 'claimed', assignee_id = $1, claimed_at = $2 WHERE workspace_id = $3 AND id = $4";
        let conv = "UPDATE conversations SET status = 'human', assignee_id = $1, updated_at = $2 WHERE workspace_id = $3 AND id = $4";
        on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            sqlx::query(esc)
                .bind(assignee)
                .bind(now)
                .bind(ws.0)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            sqlx::query(conv)
                .bind(assignee)
                .bind(now)
                .bind(ws.0)
                .bind(escalation.conversation_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        self.escalation(ws, id).await
    }
}

impl Store {
    /// Marks every unresolved escalation of a conversation resolved (the conversation closed).
    pub async fn resolve_escalations(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
    ) -> Result<()> {
        let sql = "UPDATE escalations SET status = 'resolved', resolved_at = $1 \
                   WHERE workspace_id = $2 AND conversation_id = $3 AND status <> 'resolved'";
        on_db!(&self.db, |p| sqlx::query(sql)
            .bind(Utc::now())
            .bind(ws.0)
            .bind(conversation.0)
            .execute(p)
            .await?
            .rows_affected());
        Ok(())
    }
}
