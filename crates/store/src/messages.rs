//! Conversations and their messages. Inserting a message is idempotent on the channel's own
//! message id, because every channel retries webhooks.

use chrono::{DateTime, Utc};
use rapport_core::domain::{Author, Channel, ConversationStatus, Direction, Resolution};
use rapport_core::ids::{ContactId, ConversationId, EscalationId, MessageId, WorkspaceId};
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;

use crate::db::on_db;
use crate::escalations::{NewEscalation, escalate_in};
use crate::jobs::NewJob;
use crate::knowledge::placeholders;
use crate::{Error, Result, Store};

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub conversation_id: ConversationId,
    pub contact_id: ContactId,
    pub direction: Direction,
    pub author: Author,
    pub channel: Channel,
    pub provider_message_id: Option<String>,
    pub kind: String,
    pub text: String,
    pub attachments: Value,
    pub sent_at: Option<DateTime<Utc>>,
}

/// Whether a message was new, or a repeat of one already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    New(MessageId),
    Duplicate(MessageId),
}

impl Inserted {
    pub fn id(self) -> MessageId {
        match self {
            Inserted::New(id) | Inserted::Duplicate(id) => id,
        }
    }
}

impl Store {
    pub async fn open_conversation(
        &self,
        ws: WorkspaceId,
        contact: ContactId,
        channel: Channel,
        test: bool,
    ) -> Result<ConversationId> {
        let sql = "INSERT INTO conversations (workspace_id, contact_id, channel, status, created_at, updated_at, test) \
                   VALUES ($1, $2, $3, 'bot', $4, $4, $5) RETURNING id";
        let id: i64 = on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(ws.0)
            .bind(contact.0)
            .bind(channel.as_str())
            .bind(Utc::now())
            .bind(test)
            .fetch_one(p)
            .await?);
        Ok(ConversationId(id))
    }

    /// Stores a message once per (workspace, channel, provider message id).
    pub async fn insert_message(&self, ws: WorkspaceId, m: &NewMessage) -> Result<Inserted> {
        let sql = "INSERT INTO messages (workspace_id, conversation_id, contact_id, direction, author, channel, \
                   provider_message_id, kind, text, attachments, sent_at, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                   ON CONFLICT DO NOTHING RETURNING id";
        let id: Option<i64> = on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(ws.0)
            .bind(m.conversation_id.0)
            .bind(m.contact_id.0)
            .bind(m.direction.as_str())
            .bind(m.author.as_str())
            .bind(m.channel.as_str())
            .bind(&m.provider_message_id)
            .bind(&m.kind)
            .bind(&m.text)
            .bind(Json(&m.attachments))
            .bind(m.sent_at)
            .bind(Utc::now())
            .fetch_optional(p)
            .await?);
        if let Some(id) = id {
            return Ok(Inserted::New(MessageId(id)));
        }
        let sql = "SELECT id FROM messages WHERE workspace_id = $1 AND channel = $2 AND provider_message_id = $3";
        let existing: i64 = on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(ws.0)
            .bind(m.channel.as_str())
            .bind(&m.provider_message_id)
            .fetch_one(p)
            .await?);
        Ok(Inserted::Duplicate(MessageId(existing)))
    }

    pub async fn count_messages(&self, conversation: ConversationId) -> Result<i64> {
        let sql = "SELECT COUNT(*) FROM messages WHERE conversation_id = $1";
        Ok(on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(conversation.0)
            .fetch_one(p)
            .await?))
    }

    /// Closes a conversation with how it was resolved.
    pub async fn resolve_conversation(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        resolution: Resolution,
    ) -> Result<()> {
        let now = Utc::now();
        let sql = "UPDATE conversations SET status = 'resolved', resolution = $1, resolved_at = $2, updated_at = $2 \
                   WHERE workspace_id = $3 AND id = $4";
        on_db!(&self.db, |p| sqlx::query(sql)
            .bind(resolution.as_str())
            .bind(now)
            .bind(ws.0)
            .bind(id.0)
            .execute(p)
            .await?
            .rows_affected());
        Ok(())
    }
}

/// A conversation as the agent and the inbox see it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Conversation {
    pub id: i64,
    pub contact_id: i64,
    pub channel: String,
    pub status: String,
    pub assignee_id: Option<i64>,
    pub resolution: Option<String>,
    pub bot_since: Option<DateTime<Utc>>,
    pub last_customer_message_at: Option<DateTime<Utc>>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl Conversation {
    pub fn status(&self) -> Result<ConversationStatus> {
        Ok(self.status.parse()?)
    }
    pub fn channel(&self) -> Result<Channel> {
        Ok(self.channel.parse()?)
    }
}

macro_rules! conversation_columns {
    () => {
        "id, contact_id, channel, status, assignee_id, resolution, bot_since, last_customer_message_at, \
         last_message_at, created_at, resolved_at"
    };
}

/// One message of a customer's timeline, whatever the conversation or channel.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TimelineMessage {
    pub id: i64,
    pub conversation_id: i64,
    pub contact_id: i64,
    pub direction: String,
    pub author: String,
    pub channel: String,
    pub kind: String,
    pub text: String,
    pub internal_note: bool,
    pub delivery_status: Option<String>,
    /// Why delivery failed, or why it is being retried: agents read it on the message.
    pub delivery_error: Option<String>,
    #[sqlx(json)]
    pub citations: Value,
    #[sqlx(json)]
    pub metadata: Value,
    pub created_at: DateTime<Utc>,
}

macro_rules! timeline_columns {
    () => {
        "id, conversation_id, contact_id, direction, author, channel, kind, text, internal_note, \
         delivery_status, delivery_error, citations, metadata, created_at"
    };
}

/// What a message carries besides its text.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct MessageAttachments {
    pub id: i64,
    pub channel: String,
    pub kind: String,
    #[sqlx(json)]
    pub attachments: Value,
}

/// A message Rapport (the bot or the system) sends, stored with its outbox row in one
/// transaction so nothing is lost if the process dies before delivery.
#[derive(Debug, Clone)]
pub struct NewReply {
    pub conversation_id: ConversationId,
    pub contact_id: ContactId,
    pub author: Author,
    pub channel: Channel,
    pub text: String,
    pub citations: Value,
    /// The decision trace, shown in the playground and the inbox.
    pub metadata: Value,
    /// Whether the channel needs delivering (false for channels whose client reads replies
    /// from the store, such as the CLI).
    pub deliver: bool,
}

impl Store {
    pub async fn conversation(&self, ws: WorkspaceId, id: ConversationId) -> Result<Conversation> {
        let sql = concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations WHERE workspace_id = $1 AND id = $2"
        );
        on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(id.0)
            .fetch_optional(p)
            .await?)
        .ok_or(Error::NotFound {
            what: "conversation",
            id: id.0,
        })
    }

    /// Conversations of these contacts (one customer), newest first.
    pub async fn conversations_of(
        &self,
        ws: WorkspaceId,
        contacts: &[ContactId],
    ) -> Result<Vec<Conversation>> {
        if contacts.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {} FROM conversations WHERE workspace_id = $1 AND contact_id IN ({}) ORDER BY created_at DESC, id DESC",
            conversation_columns!(),
            placeholders(2, contacts.len())
        );
        on_db!(&self.db, |p| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(ws.0);
            for c in contacts {
                q = q.bind(c.0);
            }
            Ok(q.fetch_all(p).await?)
        })
    }

    /// The conversation a new customer message joins: one a human owns or is about to (on any
    /// channel: the customer's new message belongs to the escalated thread), else the open bot
    /// conversation on this channel that saw a message since `since`.
    pub async fn active_conversation(
        &self,
        ws: WorkspaceId,
        contacts: &[ContactId],
        channel: Channel,
        since: DateTime<Utc>,
    ) -> Result<Option<Conversation>> {
        let all = self.conversations_of(ws, contacts).await?;
        if let Some(owned) = all
            .iter()
            .find(|c| c.status == "waiting_human" || c.status == "human")
        {
            return Ok(Some(owned.clone()));
        }
        Ok(all.into_iter().find(|c| {
            c.status == "bot"
                && c.channel == channel.as_str()
                && c.last_message_at.unwrap_or(c.created_at) >= since
        }))
    }

    /// Stores an inbound message and, when it is new, queues `job` (the reply) in the same
    /// transaction: a stored message always gets its reply job, a repeat never a second one.
    pub async fn receive_message(
        &self,
        ws: WorkspaceId,
        m: &NewMessage,
        job: Option<NewJob>,
    ) -> Result<Inserted> {
        let insert = "INSERT INTO messages (workspace_id, conversation_id, contact_id, direction, author, channel, \
                      provider_message_id, kind, text, attachments, sent_at, created_at) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                      ON CONFLICT DO NOTHING RETURNING id";
        let touch = "UPDATE conversations SET last_message_at = $1, last_customer_message_at = $1, updated_at = $1 \
                     WHERE id = $2";
        let enqueue = "INSERT INTO jobs (workspace_id, kind, payload, max_attempts, run_at, dedupe_key, \
                       created_at, updated_at, priority) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) ON CONFLICT DO NOTHING";
        let now = Utc::now();
        let id: Option<i64> = on_db!(&self.db, |p| {
            // First statement writes (see replace_chunks on SQLite transactions).
            let mut tx = p.begin().await?;
            let id: Option<i64> = sqlx::query_scalar(insert)
                .bind(ws.0)
                .bind(m.conversation_id.0)
                .bind(m.contact_id.0)
                .bind(m.direction.as_str())
                .bind(m.author.as_str())
                .bind(m.channel.as_str())
                .bind(&m.provider_message_id)
                .bind(&m.kind)
                .bind(&m.text)
                .bind(Json(&m.attachments))
                .bind(m.sent_at)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(id) = id {
                sqlx::query(touch)
                    .bind(now)
                    .bind(m.conversation_id.0)
                    .execute(&mut *tx)
                    .await?;
                if let Some(job) = &job {
                    let mut payload = job.payload.clone();
                    if let Some(obj) = payload.as_object_mut() {
                        obj.insert("message_id".into(), Value::from(id));
                    }
                    sqlx::query(enqueue)
                        .bind(job.workspace_id.map(|w| w.0))
                        .bind(&job.kind)
                        .bind(Json(&payload))
                        .bind(job.max_attempts)
                        .bind(job.run_at.unwrap_or(now))
                        .bind(&job.dedupe_key)
                        .bind(now)
                        .bind(job.priority)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            id
        });
        if let Some(id) = id {
            if job.is_some() {
                self.job_notify.notify_waiters();
            }
            return Ok(Inserted::New(MessageId(id)));
        }
        let sql = "SELECT id FROM messages WHERE workspace_id = $1 AND channel = $2 AND provider_message_id = $3";
        let existing: i64 = on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(ws.0)
            .bind(m.channel.as_str())
            .bind(&m.provider_message_id)
            .fetch_one(p)
            .await?);
        Ok(Inserted::Duplicate(MessageId(existing)))
    }

    /// Stores a reply of the bot or the system with its outbox row, in one transaction.
    pub async fn add_reply(&self, ws: WorkspaceId, r: &NewReply) -> Result<MessageId> {
        Ok(self.write_reply(ws, r, None).await?.0)
    }

    /// Hands the conversation to a person and stores the bot's hand-off notice to the customer,
    /// in one transaction: a crash between the two cannot leave an escalation whose customer
    /// was never told (a re-run of the reply finds a person owning the conversation and would
    /// stay quiet).
    pub async fn escalate_with_reply(
        &self,
        ws: WorkspaceId,
        e: &NewEscalation,
        r: &NewReply,
    ) -> Result<(EscalationId, MessageId)> {
        let (message, escalation) = self.write_reply(ws, r, Some(e)).await?;
        let escalation =
            escalation.ok_or_else(|| Error::Corrupt("escalation not written".into()))?;
        Ok((escalation, message))
    }

    async fn write_reply(
        &self,
        ws: WorkspaceId,
        r: &NewReply,
        escalation: Option<&NewEscalation>,
    ) -> Result<(MessageId, Option<EscalationId>)> {
        let insert = "INSERT INTO messages (workspace_id, conversation_id, contact_id, direction, author, channel, \
                      kind, text, citations, metadata, delivery_status, created_at) \
                      VALUES ($1, $2, $3, 'outbound', $4, $5, $11, $6, $7, $8, $9, $10) RETURNING id";
        let outbox = "INSERT INTO outbox (workspace_id, message_id, channel, next_attempt_at, created_at, updated_at) \
                      VALUES ($1, $2, $3, $4, $4, $4)";
        let touch = "UPDATE conversations SET last_message_at = $1, updated_at = $1 WHERE id = $2";
        let now = Utc::now();
        let status = if r.deliver { "queued" } else { "sent" };
        // A channel-neutral kind (`csat_prompt`) lets channels render the message richly.
        let kind = r
            .metadata
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("text");
        let (id, escalated): (i64, Option<i64>) = on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            let escalated = match escalation {
                Some(e) => Some(escalate_in!(&mut *tx, ws, e, now)),
                None => None,
            };
            let id: i64 = sqlx::query_scalar(insert)
                .bind(ws.0)
                .bind(r.conversation_id.0)
                .bind(r.contact_id.0)
                .bind(r.author.as_str())
                .bind(r.channel.as_str())
                .bind(&r.text)
                .bind(Json(&r.citations))
                .bind(Json(&r.metadata))
                .bind(status)
                .bind(now)
                .bind(kind)
                .fetch_one(&mut *tx)
                .await?;
            if r.deliver {
                sqlx::query(outbox)
                    .bind(ws.0)
                    .bind(id)
                    .bind(r.channel.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(touch)
                .bind(now)
                .bind(r.conversation_id.0)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            (id, escalated)
        });
        if r.deliver {
            self.outbox_notify.notify_waiters();
        }
        Ok((MessageId(id), escalated.map(EscalationId)))
    }

    /// An e-mail to an agent about this conversation (they were given it while away), through
    /// the outbox like every outbound message. It is an internal note on the conversation —
    /// agents see that it was sent, the customer never does — addressed by `metadata.to`.
    pub async fn add_agent_notice(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        to: &str,
        subject: &str,
        text: &str,
    ) -> Result<MessageId> {
        // On the conversation's own contact.
        let insert = "INSERT INTO messages (workspace_id, conversation_id, contact_id, direction, author, channel, \
                      kind, text, internal_note, metadata, delivery_status, created_at) \
                      SELECT $1, $2, c.contact_id, 'outbound', 'system', 'email', 'agent_notice', $3, TRUE, $4, 'queued', $5 \
                      FROM conversations c WHERE c.workspace_id = $1 AND c.id = $2 \
                      RETURNING id";
        let outbox = "INSERT INTO outbox (workspace_id, message_id, channel, next_attempt_at, created_at, updated_at) \
                      VALUES ($1, $2, 'email', $3, $3, $3)";
        let metadata = serde_json::json!({ "to": to, "subject": subject });
        let now = Utc::now();
        let id: i64 = on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar(insert)
                .bind(ws.0)
                .bind(conversation.0)
                .bind(text)
                .bind(Json(&metadata))
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(Error::NotFound {
                    what: "conversation",
                    id: conversation.0,
                })?;
            sqlx::query(outbox)
                .bind(ws.0)
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            id
        });
        self.outbox_notify.notify_waiters();
        Ok(MessageId(id))
    }

    /// Stores what a person (an agent) writes in a conversation: a reply to the customer on
    /// `channel`, with its outbox row, or an internal note that only agents see. A reply takes
    /// a conversation that was waiting for a human: the bot stays silent from now on.
    pub async fn add_agent_message(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        channel: Channel,
        text: &str,
        internal_note: bool,
        user: Option<i64>,
    ) -> Result<MessageId> {
        let c = self.conversation(ws, conversation).await?;
        let insert = "INSERT INTO messages (workspace_id, conversation_id, contact_id, direction, author, \
                      author_user_id, channel, kind, text, internal_note, delivery_status, created_at) \
                      VALUES ($1, $2, $3, 'outbound', 'agent', $4, $5, $6, $7, $8, $9, $10) RETURNING id";
        let outbox = "INSERT INTO outbox (workspace_id, message_id, channel, next_attempt_at, created_at, updated_at) \
                      VALUES ($1, $2, $3, $4, $4, $4)";
        let touch = "UPDATE conversations SET last_message_at = $1, updated_at = $1, \
                     status = CASE WHEN status = 'waiting_human' THEN 'human' ELSE status END, \
                     assignee_id = COALESCE(assignee_id, $2) WHERE id = $3";
        let now = Utc::now();
        let (kind, status) = if internal_note {
            ("note", None)
        } else {
            ("text", Some("queued"))
        };
        let id: i64 = on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar(insert)
                .bind(ws.0)
                .bind(conversation.0)
                .bind(c.contact_id)
                .bind(user)
                .bind(channel.as_str())
                .bind(kind)
                .bind(text)
                .bind(internal_note)
                .bind(status)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            if !internal_note {
                sqlx::query(outbox)
                    .bind(ws.0)
                    .bind(id)
                    .bind(channel.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(touch)
                    .bind(now)
                    .bind(user)
                    .bind(conversation.0)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            id
        });
        if !internal_note {
            self.outbox_notify.notify_waiters();
        }
        Ok(MessageId(id))
    }

    /// The message a channel knows by its own id.
    pub async fn message_by_provider_id(
        &self,
        ws: WorkspaceId,
        channel: Channel,
        provider_message_id: &str,
    ) -> Result<Option<TimelineMessage>> {
        let sql = concat!(
            "SELECT ",
            timeline_columns!(),
            " FROM messages WHERE workspace_id = $1 AND channel = $2 AND provider_message_id = $3"
        );
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(channel.as_str())
            .bind(provider_message_id)
            .fetch_optional(p)
            .await?))
    }

    /// A message's channel and raw attachments (media ids, file references).
    pub async fn message_with_attachments(
        &self,
        ws: WorkspaceId,
        id: MessageId,
    ) -> Result<MessageAttachments> {
        let sql = "SELECT id, channel, kind, attachments FROM messages WHERE workspace_id = $1 AND id = $2";
        on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(id.0)
            .fetch_optional(p)
            .await?)
        .ok_or(Error::NotFound {
            what: "message",
            id: id.0,
        })
    }

    pub async fn message(&self, ws: WorkspaceId, id: MessageId) -> Result<TimelineMessage> {
        let sql = concat!(
            "SELECT ",
            timeline_columns!(),
            " FROM messages WHERE workspace_id = $1 AND id = $2"
        );
        on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(id.0)
            .fetch_optional(p)
            .await?)
        .ok_or(Error::NotFound {
            what: "message",
            id: id.0,
        })
    }

    /// Every message of these contacts (one customer) on every channel, oldest first; the
    /// newest `limit` when given.
    pub async fn timeline(
        &self,
        ws: WorkspaceId,
        contacts: &[ContactId],
        limit: Option<i64>,
    ) -> Result<Vec<TimelineMessage>> {
        if contacts.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {} FROM messages WHERE workspace_id = $1 AND contact_id IN ({}) ORDER BY created_at DESC, id DESC LIMIT {}",
            timeline_columns!(),
            placeholders(2, contacts.len()),
            limit.unwrap_or(i64::MAX / 2).max(0)
        );
        let mut rows: Vec<TimelineMessage> = on_db!(&self.db, |p| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(ws.0);
            for c in contacts {
                q = q.bind(c.0);
            }
            q.fetch_all(p).await?
        });
        rows.reverse();
        Ok(rows)
    }

    /// The channels these contacts (one customer) wrote or were written on, first use first.
    pub async fn channels_of(
        &self,
        ws: WorkspaceId,
        contacts: &[ContactId],
    ) -> Result<Vec<String>> {
        if contacts.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT channel FROM messages WHERE +workspace_id = $1 AND contact_id IN ({}) \
             GROUP BY channel ORDER BY MIN(id)",
            placeholders(2, contacts.len())
        );
        on_db!(&self.db, |p| {
            let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone())).bind(ws.0);
            for c in contacts {
                q = q.bind(c.0);
            }
            Ok(q.fetch_all(p).await?)
        })
    }

    pub async fn conversation_messages(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
    ) -> Result<Vec<TimelineMessage>> {
        let sql = concat!(
            "SELECT ",
            timeline_columns!(),
            " FROM messages WHERE workspace_id = $1 AND conversation_id = $2 ORDER BY created_at, id"
        );
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(id.0)
            .fetch_all(p)
            .await?))
    }

    /// Gives a conversation back to the bot: open escalations are resolved and the guards start
    /// counting afresh from now.
    pub async fn hand_back_to_bot(&self, ws: WorkspaceId, id: ConversationId) -> Result<()> {
        let now = Utc::now();
        let conv = "UPDATE conversations SET status = 'bot', assignee_id = NULL, bot_since = $1, updated_at = $1 \
                    WHERE workspace_id = $2 AND id = $3";
        let esc = "UPDATE escalations SET status = 'resolved', resolved_at = $1 \
                   WHERE workspace_id = $2 AND conversation_id = $3 AND status <> 'resolved'";
        let n = on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            let n = sqlx::query(conv)
                .bind(now)
                .bind(ws.0)
                .bind(id.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(esc)
                .bind(now)
                .bind(ws.0)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            n
        });
        Error::unless_touched(n, "conversation", id.0)
    }

    /// A human takes a conversation over (claim): the bot stays silent until hand-back.
    pub async fn set_conversation_status(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        status: ConversationStatus,
    ) -> Result<()> {
        let sql = "UPDATE conversations SET status = $1, updated_at = $2 WHERE workspace_id = $3 AND id = $4";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(status.as_str())
            .bind(Utc::now())
            .bind(ws.0)
            .bind(id.0)
            .execute(p)
            .await?
            .rows_affected());
        Error::unless_touched(n, "conversation", id.0)
    }
}

impl Store {
    /// Records what a channel reports about a message we sent, found by the channel's id for
    /// it. A status never goes backwards (a late "delivered" after "read" is ignored), except
    /// to `failed`. Returns whether a message was updated.
    pub async fn update_delivery_status(
        &self,
        ws: WorkspaceId,
        channel: Channel,
        provider_message_id: &str,
        status: &str,
        error: Option<&str>,
    ) -> Result<bool> {
        let rank = |s: &str| match s {
            "queued" => 0,
            "sent" => 1,
            "delivered" => 2,
            "read" | "played" => 3,
            _ => 4,
        };
        let sql = "SELECT delivery_status FROM messages WHERE workspace_id = $1 AND channel = $2 \
                   AND provider_message_id = $3 AND direction = 'outbound'";
        let current: Option<Option<String>> = on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(ws.0)
            .bind(channel.as_str())
            .bind(provider_message_id)
            .fetch_optional(p)
            .await?);
        let Some(current) = current else {
            return Ok(false);
        };
        if status != "failed" && rank(current.as_deref().unwrap_or("queued")) > rank(status) {
            return Ok(false);
        }
        let sql = "UPDATE messages SET delivery_status = $1, delivery_error = $2 WHERE workspace_id = $3 \
                   AND channel = $4 AND provider_message_id = $5 AND direction = 'outbound'";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(status)
            .bind(error)
            .bind(ws.0)
            .bind(channel.as_str())
            .bind(provider_message_id)
            .execute(p)
            .await?
            .rows_affected());
        Ok(n > 0)
    }
}
