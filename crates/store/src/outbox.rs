//! The outbox: every outbound message has a row here, written in the same transaction as the
//! message (see [`Store::add_reply`]). A sender claims due rows with a lease, delivers them and
//! records the outcome on the row *and* on the message, where agents see it. A sender that dies
//! mid-delivery leaves a lease that expires, and the row is claimed again: delivery is at least
//! once, and channels hand their provider an idempotency key where it takes one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rapport_core::domain::Channel;
use rapport_core::ids::{ContactId, MessageId, WorkspaceId};
use rapport_core::outbound::Delivery;
use serde_json::Value;
use sqlx::types::Json;

use crate::db::{Db, on_db};
use crate::knowledge::placeholders;
use crate::{Error, Result, Store};

/// A claimed outbox row: the delivery and the token that proves the claim.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub outbox_id: i64,
    pub lease_token: String,
    pub delivery: Delivery,
}

/// What the outbox holds, for metrics and the inbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct OutboxCounts {
    pub pending: i64,
    pub sending: i64,
    pub sent: i64,
    pub failed: i64,
}

macro_rules! claim_outbox_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1, lease_token = $1, \
             lease_expires_at = $2, updated_at = $3 \
             WHERE id = (SELECT id FROM outbox \
                 WHERE (state = 'pending' AND next_attempt_at <= $3) \
                    OR (state = 'sending' AND lease_expires_at < $3) \
                 ORDER BY next_attempt_at, id LIMIT 1 ",
            $lock,
            ") RETURNING id, message_id, attempts"
        )
    };
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    workspace_id: i64,
    conversation_id: i64,
    contact_id: i64,
    channel: String,
    author: String,
    kind: String,
    text: String,
    #[sqlx(json)]
    metadata: Value,
    subject: Option<String>,
    created_at: DateTime<Utc>,
}

impl Store {
    /// Takes the next due outbox row (pending and due, or abandoned by a sender whose lease
    /// expired) for `lease`, with everything its channel needs to deliver it.
    pub async fn claim_delivery(&self, lease: Duration) -> Result<Option<ClaimedDelivery>> {
        let now = Utc::now();
        let token = uuid::Uuid::new_v4().to_string();
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let sql = match self.db {
            Db::Postgres(_) => claim_outbox_sql!("FOR UPDATE SKIP LOCKED"),
            Db::Sqlite(_) => claim_outbox_sql!(""),
        };
        let row: Option<(i64, i64, i32)> = on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(&token)
            .bind(until)
            .bind(now)
            .fetch_optional(p)
            .await?);
        let Some((outbox_id, message_id, attempts)) = row else {
            return Ok(None);
        };
        let delivery = self.delivery(MessageId(message_id), attempts).await?;
        Ok(Some(ClaimedDelivery {
            outbox_id,
            lease_token: token,
            delivery,
        }))
    }

    /// Builds the delivery of an outbound message: who it goes to on its channel, what it
    /// answers, and how long the customer's messaging window has been open.
    async fn delivery(&self, message_id: MessageId, attempt: i32) -> Result<Delivery> {
        let sql = "SELECT m.workspace_id, m.conversation_id, m.contact_id, m.channel, m.author, m.kind, \
                   m.text, m.metadata, c.subject, m.created_at \
                   FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id = $1";
        let m: MessageRow = on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(message_id.0)
            .fetch_optional(p)
            .await?)
        .ok_or(Error::NotFound {
            what: "message",
            id: message_id.0,
        })?;
        let ws = WorkspaceId(m.workspace_id);
        let channel: Channel = m.channel.parse()?;
        // The customer this conversation talks to on this channel is whoever last wrote in it
        // there; a conversation that moved channels (an escalation answered on the channel the
        // customer came back on) may have none, and then the customer's cluster is asked.
        let sql = "SELECT contact_id, provider_message_id FROM messages \
                   WHERE conversation_id = $1 AND channel = $2 AND direction = 'inbound' \
                   ORDER BY created_at DESC, id DESC LIMIT 1";
        let latest: Option<(i64, Option<String>)> = on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(m.conversation_id)
            .bind(&m.channel)
            .fetch_optional(p)
            .await?);
        let (recipient_contact, reply_to) = match latest {
            Some((contact, provider_id)) => (vec![ContactId(contact)], provider_id),
            None => {
                let root = self.root_contact(ws, ContactId(m.contact_id)).await?;
                (self.contact_cluster(ws, root).await?, None)
            }
        };
        let sql = format!(
            "SELECT contact_id, external_id FROM contact_identities \
             WHERE workspace_id = $1 AND channel = $2 AND contact_id IN ({}) \
             ORDER BY verified DESC, id DESC LIMIT 1",
            placeholders(3, recipient_contact.len())
        );
        let identity: Option<(i64, String)> = on_db!(&self.db, |p| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(ws.0)
                .bind(&m.channel);
            for c in &recipient_contact {
                q = q.bind(c.0);
            }
            q.fetch_optional(p).await?
        });
        let last_customer_message_at = match &identity {
            Some((contact, _)) => {
                let sql = "SELECT MAX(COALESCE(sent_at, created_at)) FROM messages \
                           WHERE workspace_id = $1 AND contact_id = $2 AND channel = $3 \
                           AND direction = 'inbound'";
                on_db!(&self.db, |p| {
                    sqlx::query_scalar::<_, Option<DateTime<Utc>>>(sql)
                        .bind(ws.0)
                        .bind(contact)
                        .bind(&m.channel)
                        .fetch_one(p)
                        .await?
                })
            }
            None => None,
        };
        let sql = "SELECT provider_message_id FROM messages WHERE conversation_id = $1 AND channel = $2 \
                   AND provider_message_id IS NOT NULL AND id <> $3 ORDER BY created_at, id";
        let mut thread: Vec<String> = on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(m.conversation_id)
            .bind(&m.channel)
            .bind(message_id.0)
            .fetch_all(p)
            .await?);
        // Mail clients cope with long References, but there is no point in more than this.
        if thread.len() > 20 {
            thread.drain(..thread.len() - 20);
        }
        // A message addressed by the agent itself (a verification code to the e-mail address
        // on file) goes there, outside any thread.
        if let Some(to) = m.metadata.get("to").and_then(Value::as_str) {
            let subject = m
                .metadata
                .get("subject")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or(m.subject);
            return Ok(Delivery {
                workspace_id: m.workspace_id,
                message_id: message_id.0,
                conversation_id: m.conversation_id,
                contact_id: m.contact_id,
                channel,
                author: m.author,
                kind: m.kind,
                text: m.text,
                recipient: Some(to.to_owned()),
                metadata: m.metadata,
                reply_to: None,
                thread: Vec::new(),
                subject,
                last_customer_message_at,
                created_at: m.created_at,
                attempt,
            });
        }
        Ok(Delivery {
            workspace_id: m.workspace_id,
            message_id: message_id.0,
            conversation_id: m.conversation_id,
            contact_id: m.contact_id,
            channel,
            author: m.author,
            kind: m.kind,
            text: m.text,
            metadata: m.metadata,
            recipient: identity.map(|(_, id)| id),
            reply_to,
            thread,
            subject: m.subject,
            last_customer_message_at,
            created_at: m.created_at,
            attempt,
        })
    }

    /// Records a delivery that went: the row is done, the message gets the provider's id (for
    /// the statuses that come back) and its status. `false` when the claim was lost.
    pub async fn delivery_sent(
        &self,
        claim: &ClaimedDelivery,
        provider_message_id: Option<&str>,
        status: &str,
        note: Option<&str>,
    ) -> Result<bool> {
        let now = Utc::now();
        let outbox = "UPDATE outbox SET state = 'sent', lease_token = NULL, lease_expires_at = NULL, \
                      last_error = NULL, updated_at = $1 WHERE id = $2 AND lease_token = $3 AND state = 'sending'";
        // A status that already came back (a fast webhook) is not moved backwards.
        let message = "UPDATE messages SET provider_message_id = COALESCE($1, provider_message_id), \
                       delivery_status = CASE WHEN delivery_status IN ('delivered', 'read', 'played') \
                           THEN delivery_status ELSE $2 END, \
                       delivery_error = NULL, sent_at = $3, metadata = $4 WHERE id = $5";
        let mut metadata = claim.delivery.metadata.clone();
        if let (Some(note), Some(obj)) = (note, metadata.as_object_mut()) {
            obj.insert("delivery_note".into(), Value::from(note));
        }
        let done = on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            let n = sqlx::query(outbox)
                .bind(now)
                .bind(claim.outbox_id)
                .bind(&claim.lease_token)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                sqlx::query(message)
                    .bind(provider_message_id)
                    .bind(status)
                    .bind(now)
                    .bind(Json(&metadata))
                    .bind(claim.delivery.message_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            n == 1
        });
        Ok(done)
    }

    /// Puts a delivery back for another try at `at`; the message shows why it is late.
    pub async fn delivery_retry(
        &self,
        claim: &ClaimedDelivery,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let now = Utc::now();
        let outbox = "UPDATE outbox SET state = 'pending', next_attempt_at = $1, last_error = $2, \
                      lease_token = NULL, lease_expires_at = NULL, updated_at = $3 \
                      WHERE id = $4 AND lease_token = $5 AND state = 'sending'";
        let message = "UPDATE messages SET delivery_error = $1 WHERE id = $2";
        let done = on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            let n = sqlx::query(outbox)
                .bind(at)
                .bind(error)
                .bind(now)
                .bind(claim.outbox_id)
                .bind(&claim.lease_token)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                sqlx::query(message)
                    .bind(format!("retrying: {error}"))
                    .bind(claim.delivery.message_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            n == 1
        });
        Ok(done)
    }

    /// Gives a delivery up: the message is `failed` with the provider's reason.
    pub async fn delivery_failed(&self, claim: &ClaimedDelivery, error: &str) -> Result<bool> {
        let now = Utc::now();
        let outbox = "UPDATE outbox SET state = 'failed', last_error = $1, lease_token = NULL, \
                      lease_expires_at = NULL, updated_at = $2 \
                      WHERE id = $3 AND lease_token = $4 AND state = 'sending'";
        let message =
            "UPDATE messages SET delivery_status = 'failed', delivery_error = $1 WHERE id = $2";
        let done = on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            let n = sqlx::query(outbox)
                .bind(error)
                .bind(now)
                .bind(claim.outbox_id)
                .bind(&claim.lease_token)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                sqlx::query(message)
                    .bind(error)
                    .bind(claim.delivery.message_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            n == 1
        });
        Ok(done)
    }

    /// Queues a failed message again (an agent's "retry" after fixing the cause), with its
    /// attempts counted afresh. `false` when the message has no failed delivery.
    pub async fn retry_delivery(&self, ws: WorkspaceId, message: MessageId) -> Result<bool> {
        let now = Utc::now();
        let outbox = "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $1, \
                      updated_at = $1 WHERE workspace_id = $2 AND message_id = $3 AND state = 'failed'";
        let msg = "UPDATE messages SET delivery_status = 'queued', delivery_error = NULL \
                   WHERE workspace_id = $1 AND id = $2";
        let done = on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            let n = sqlx::query(outbox)
                .bind(now)
                .bind(ws.0)
                .bind(message.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                sqlx::query(msg)
                    .bind(ws.0)
                    .bind(message.0)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            n == 1
        });
        if done {
            self.outbox_notify.notify_waiters();
        }
        Ok(done)
    }

    /// Rows by state, for `/metrics`.
    pub async fn outbox_counts(&self) -> Result<OutboxCounts> {
        let sql = "SELECT state, COUNT(*) FROM outbox GROUP BY state";
        let rows: Vec<(String, i64)> =
            on_db!(&self.db, |p| sqlx::query_as(sql).fetch_all(p).await?);
        let mut counts = OutboxCounts::default();
        for (state, n) in rows {
            match state.as_str() {
                "pending" => counts.pending = n,
                "sending" => counts.sending = n,
                "sent" => counts.sent = n,
                "failed" => counts.failed = n,
                _ => {}
            }
        }
        Ok(counts)
    }

    /// Messages by channel and direction, for `/metrics` (every workspace).
    pub async fn message_counts(&self) -> Result<Vec<(String, String, i64)>> {
        let sql = "SELECT channel, direction, COUNT(*) FROM messages WHERE internal_note = $1 \
                   GROUP BY channel, direction";
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(false)
            .fetch_all(p)
            .await?))
    }

    /// Escalations by status, for `/metrics` (every workspace).
    pub async fn escalation_counts(&self) -> Result<Vec<(String, i64)>> {
        let sql = "SELECT status, COUNT(*) FROM escalations GROUP BY status";
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .fetch_all(p)
            .await?))
    }

    /// Waits until this process writes an outbox row, or `max_wait`.
    pub async fn wait_for_outbox(&self, max_wait: Duration) {
        let _ = tokio::time::timeout(max_wait, self.outbox_notify.notified()).await;
    }
}
