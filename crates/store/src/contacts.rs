//! Contacts and the channel identities that point at them.
//!
//! Resolving *which* contact an inbound identity belongs to (merge keys, signed identities) is
//! the agent's `IdentityResolver`; this module only stores and looks up what it decided.
//!
//! Merging never moves rows: the merged contact points at the survivor (`merged_into`) and keeps
//! its identities, keys and messages, so an unmerge is one pointer cleared. A customer is the
//! *cluster* of a root contact and every contact whose chain leads to it.

use chrono::{DateTime, Utc};
use rapport_core::domain::Channel;
use rapport_core::ids::{ContactId, IdentityId, MessageId, WorkspaceId};
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;

use crate::db::{like_escaped, on_db};
use crate::knowledge::placeholders;
use crate::{Error, Result, Store};

#[derive(Debug, Clone, Default)]
pub struct NewContact {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Contact {
    pub id: i64,
    pub workspace_id: i64,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub memory_summary: String,
    pub merged_into: Option<i64>,
    pub created_at: DateTime<Utc>,
}

macro_rules! contact_columns {
    () => {
        "id, workspace_id, name, email, phone, memory_summary, merged_into, created_at"
    };
}

impl Store {
    pub async fn create_contact(&self, ws: WorkspaceId, c: &NewContact) -> Result<Contact> {
        let now = Utc::now();
        let sql = concat!(
            "INSERT INTO contacts (workspace_id, name, email, phone, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING ",
            contact_columns!()
        );
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(&c.name)
            .bind(&c.email)
            .bind(&c.phone)
            .bind(now)
            .fetch_one(p)
            .await?))
    }

    /// A new contact that owns `channel`/`external_id`, both written in one transaction; `None`
    /// (and no contact) when a concurrent message of the same sender linked the identity
    /// first. A burst of retries of a new customer's first message leaves no orphan contacts.
    pub async fn create_contact_with_identity(
        &self,
        ws: WorkspaceId,
        c: &NewContact,
        channel: Channel,
        external_id: &str,
        verified: bool,
    ) -> Result<Option<ContactId>> {
        let now = Utc::now();
        let contact = "INSERT INTO contacts (workspace_id, name, email, phone, created_at, updated_at) \
                       VALUES ($1, $2, $3, $4, $5, $5) RETURNING id";
        let identity = "INSERT INTO contact_identities (workspace_id, contact_id, channel, external_id, verified, created_at) \
                        VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id";
        Ok(on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar(contact)
                .bind(ws.0)
                .bind(&c.name)
                .bind(&c.email)
                .bind(&c.phone)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            let linked: Option<i64> = sqlx::query_scalar(identity)
                .bind(ws.0)
                .bind(id)
                .bind(channel.as_str())
                .bind(external_id)
                .bind(verified)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            match linked {
                Some(_) => {
                    tx.commit().await?;
                    Some(ContactId(id))
                }
                // Dropping the transaction rolls the contact back.
                None => None,
            }
        }))
    }

    pub async fn contact(&self, ws: WorkspaceId, id: ContactId) -> Result<Contact> {
        let sql = concat!(
            "SELECT ",
            contact_columns!(),
            " FROM contacts WHERE workspace_id = $1 AND id = $2"
        );
        on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(id.0)
            .fetch_optional(p)
            .await?)
        .ok_or(Error::NotFound {
            what: "contact",
            id: id.0,
        })
    }

    /// Customers whose name, e-mail, phone or an identity on any channel contains `query`
    /// (case-insensitive), newest first; merged contacts are found through their root.
    pub async fn search_contacts(
        &self,
        ws: WorkspaceId,
        query: &str,
        limit: i64,
    ) -> Result<Vec<Contact>> {
        let pattern = format!("%{}%", like_escaped(&query.trim().to_lowercase()));
        let sql = concat!(
            "SELECT ",
            contact_columns!(),
            " FROM contacts WHERE workspace_id = $1 AND merged_into IS NULL AND id IN (\
               SELECT COALESCE(c.merged_into, c.id) FROM contacts c WHERE c.workspace_id = $1 AND (\
                 LOWER(COALESCE(c.name, '')) LIKE $2 ESCAPE '\\' \
                 OR LOWER(COALESCE(c.email, '')) LIKE $2 ESCAPE '\\' \
                 OR LOWER(COALESCE(c.phone, '')) LIKE $2 ESCAPE '\\' \
                 OR EXISTS (SELECT 1 FROM contact_identities i WHERE i.contact_id = c.id \
                            AND LOWER(i.external_id) LIKE $2 ESCAPE '\\'))) \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(&pattern)
            .bind(limit)
            .fetch_all(p)
            .await?))
    }

    /// Links `channel`/`external_id` to a contact. Returns `None` when that identity is already
    /// linked (to this or another contact): an identity belongs to exactly one contact.
    pub async fn add_identity(
        &self,
        ws: WorkspaceId,
        contact: ContactId,
        channel: Channel,
        external_id: &str,
        verified: bool,
    ) -> Result<Option<IdentityId>> {
        let sql = "INSERT INTO contact_identities (workspace_id, contact_id, channel, external_id, verified, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id";
        let id: Option<i64> = on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(ws.0)
            .bind(contact.0)
            .bind(channel.as_str())
            .bind(external_id)
            .bind(verified)
            .bind(Utc::now())
            .fetch_optional(p)
            .await?);
        Ok(id.map(IdentityId))
    }

    /// The contact an identity is linked to, if any.
    pub async fn contact_by_identity(
        &self,
        ws: WorkspaceId,
        channel: Channel,
        external_id: &str,
    ) -> Result<Option<ContactId>> {
        let sql = "SELECT contact_id FROM contact_identities \
                   WHERE workspace_id = $1 AND channel = $2 AND external_id = $3";
        let id: Option<i64> = on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(ws.0)
            .bind(channel.as_str())
            .bind(external_id)
            .fetch_optional(p)
            .await?);
        Ok(id.map(ContactId))
    }
}

/// A proven way to reach a customer that two channels can share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// E.164 phone number (WhatsApp `wa_id`, a signed web-chat phone).
    Phone,
    /// Lower-cased e-mail address (the sender on the e-mail channel, a signed web-chat email).
    Email,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Phone => "phone",
            KeyKind::Email => "email",
        }
    }
}

/// A channel identity as agents see it in the contact panel.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct IdentityView {
    pub id: i64,
    pub contact_id: i64,
    pub channel: String,
    pub external_id: String,
    pub verified: bool,
    pub created_at: DateTime<Utc>,
}

/// A merge key of a contact.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct KeyView {
    pub contact_id: i64,
    pub kind: String,
    pub value: String,
}

/// Something Rapport remembers about a customer, with the message it came from.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Fact {
    pub id: i64,
    pub contact_id: i64,
    pub key: String,
    pub value: String,
    pub source_message_id: Option<i64>,
    /// Set when an agent wrote or corrected it.
    pub corrected_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// Longest merge chain followed; longer means a corrupt pointer loop.
const MAX_MERGE_DEPTH: usize = 32;

impl Store {
    /// The contact a (possibly merged) contact resolves to today.
    pub async fn root_contact(&self, ws: WorkspaceId, id: ContactId) -> Result<ContactId> {
        let mut current = id;
        for _ in 0..MAX_MERGE_DEPTH {
            let contact = self.contact(ws, current).await?;
            match contact.merged_into {
                Some(next) => current = ContactId(next),
                None => return Ok(current),
            }
        }
        Err(Error::Corrupt(format!(
            "contact {id} has a merge chain longer than {MAX_MERGE_DEPTH}"
        )))
    }

    /// The root contact and every contact merged into it, directly or not: one customer.
    pub async fn contact_cluster(
        &self,
        ws: WorkspaceId,
        root: ContactId,
    ) -> Result<Vec<ContactId>> {
        let sql = "WITH RECURSIVE cluster(id) AS ( \
                       SELECT id FROM contacts WHERE workspace_id = $1 AND id = $2 \
                       UNION SELECT c.id FROM contacts c JOIN cluster ON c.merged_into = cluster.id \
                       WHERE +c.workspace_id = $1) \
                   SELECT id FROM cluster ORDER BY id";
        let ids: Vec<i64> = on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(ws.0)
            .bind(root.0)
            .fetch_all(p)
            .await?);
        Ok(ids.into_iter().map(ContactId).collect())
    }

    /// Points `merged` (and so its whole cluster) at `survivor`'s root, whose profile takes
    /// what the merged one knows: empty fields are filled, and the name of a customer a channel
    /// proved (a verified identity) wins over one an anonymous visitor typed. Refuses to merge
    /// a customer into itself.
    pub async fn merge_contacts(
        &self,
        ws: WorkspaceId,
        survivor: ContactId,
        merged: ContactId,
    ) -> Result<ContactId> {
        let root = self.root_contact(ws, survivor).await?;
        let merged_root = self.root_contact(ws, merged).await?;
        if root == merged_root {
            return Err(Error::Conflict(format!(
                "contacts {survivor} and {merged} are already the same customer"
            )));
        }
        let (kept, other) = (
            self.contact(ws, root).await?,
            self.contact(ws, merged_root).await?,
        );
        let proven = async |root: ContactId| -> Result<bool> {
            let cluster = self.contact_cluster(ws, root).await?;
            Ok(self
                .identities(ws, &cluster)
                .await?
                .iter()
                .any(|i| i.verified))
        };
        let name = if other.name.is_some() && !proven(root).await? && proven(merged_root).await? {
            other.name.clone()
        } else {
            kept.name.clone().or(other.name.clone())
        };
        let sql = "UPDATE contacts SET merged_into = $1, updated_at = $2 WHERE workspace_id = $3 AND id = $4";
        let profile = "UPDATE contacts SET name = $1, email = COALESCE(email, $2), phone = COALESCE(phone, $3), \
                       updated_at = $4 WHERE workspace_id = $5 AND id = $6";
        on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            sqlx::query(sql)
                .bind(root.0)
                .bind(Utc::now())
                .bind(ws.0)
                .bind(merged_root.0)
                .execute(&mut *tx)
                .await?;
            sqlx::query(profile)
                .bind(&name)
                .bind(&other.email)
                .bind(&other.phone)
                .bind(Utc::now())
                .bind(ws.0)
                .bind(root.0)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(root)
    }

    /// Detaches a merged contact (with whatever was merged into it) from its survivor.
    pub async fn unmerge_contact(&self, ws: WorkspaceId, id: ContactId) -> Result<()> {
        let contact = self.contact(ws, id).await?;
        if contact.merged_into.is_none() {
            return Err(Error::Conflict(format!(
                "contact {id} is not merged into another contact"
            )));
        }
        let sql = "UPDATE contacts SET merged_into = NULL, updated_at = $1 WHERE workspace_id = $2 AND id = $3";
        on_db!(&self.db, |p| sqlx::query(sql)
            .bind(Utc::now())
            .bind(ws.0)
            .bind(id.0)
            .execute(p)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Fills the profile fields that are still empty (a name learned later never overwrites
    /// one an agent typed). Writes nothing when nothing would change: it runs on every inbound
    /// message.
    pub async fn fill_contact_profile(
        &self,
        ws: WorkspaceId,
        id: ContactId,
        c: &NewContact,
    ) -> Result<()> {
        let sql = "UPDATE contacts SET name = COALESCE(name, $1), email = COALESCE(email, $2), \
                   phone = COALESCE(phone, $3), updated_at = $4 WHERE workspace_id = $5 AND id = $6 \
                   AND ((name IS NULL AND $1 IS NOT NULL) OR (email IS NULL AND $2 IS NOT NULL) \
                        OR (phone IS NULL AND $3 IS NOT NULL))";
        on_db!(&self.db, |p| sqlx::query(sql)
            .bind(&c.name)
            .bind(&c.email)
            .bind(&c.phone)
            .bind(Utc::now())
            .bind(ws.0)
            .bind(id.0)
            .execute(p)
            .await?
            .rows_affected());
        Ok(())
    }

    /// The contact that proved this key, if any.
    pub async fn contact_by_key(
        &self,
        ws: WorkspaceId,
        kind: KeyKind,
        value: &str,
    ) -> Result<Option<ContactId>> {
        let sql = "SELECT contact_id FROM contact_keys WHERE workspace_id = $1 AND kind = $2 AND value = $3";
        let id: Option<i64> = on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(ws.0)
            .bind(kind.as_str())
            .bind(value)
            .fetch_optional(p)
            .await?);
        Ok(id.map(ContactId))
    }

    /// Records that `contact` proved `value`. False when the key already belongs to a contact.
    pub async fn add_key(
        &self,
        ws: WorkspaceId,
        contact: ContactId,
        kind: KeyKind,
        value: &str,
    ) -> Result<bool> {
        let sql = "INSERT INTO contact_keys (workspace_id, contact_id, kind, value, created_at) \
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";
        let done = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(ws.0)
            .bind(contact.0)
            .bind(kind.as_str())
            .bind(value)
            .bind(Utc::now())
            .execute(p)
            .await?
            .rows_affected());
        Ok(done == 1)
    }

    pub async fn identities(
        &self,
        ws: WorkspaceId,
        contacts: &[ContactId],
    ) -> Result<Vec<IdentityView>> {
        if contacts.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT id, contact_id, channel, external_id, verified, created_at FROM contact_identities \
             WHERE workspace_id = $1 AND contact_id IN ({}) ORDER BY id",
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

    pub async fn keys(&self, ws: WorkspaceId, contacts: &[ContactId]) -> Result<Vec<KeyView>> {
        if contacts.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT contact_id, kind, value FROM contact_keys WHERE workspace_id = $1 AND contact_id IN ({}) ORDER BY id",
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

    pub async fn set_memory_summary(
        &self,
        ws: WorkspaceId,
        id: ContactId,
        summary: &str,
    ) -> Result<()> {
        let now = Utc::now();
        let sql = "UPDATE contacts SET memory_summary = $1, memory_updated_at = $2, updated_at = $2 \
                   WHERE workspace_id = $3 AND id = $4";
        on_db!(&self.db, |p| sqlx::query(sql)
            .bind(summary)
            .bind(now)
            .bind(ws.0)
            .bind(id.0)
            .execute(p)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Profile attributes (free-form JSON an integration or an agent set).
    pub async fn contact_attributes(&self, ws: WorkspaceId, id: ContactId) -> Result<Value> {
        let sql = "SELECT attributes FROM contacts WHERE workspace_id = $1 AND id = $2";
        let v: Option<Json<Value>> = on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(ws.0)
            .bind(id.0)
            .fetch_optional(p)
            .await?);
        Ok(v.map(|j| j.0).unwrap_or(Value::Null))
    }

    // ---- facts ---------------------------------------------------------------------------------

    /// Live facts of these contacts (one customer's cluster), newest first.
    pub async fn facts(&self, ws: WorkspaceId, contacts: &[ContactId]) -> Result<Vec<Fact>> {
        if contacts.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT id, contact_id, key, value, source_message_id, corrected_at, updated_at FROM contact_facts \
             WHERE +workspace_id = $1 AND deleted_at IS NULL AND contact_id IN ({}) ORDER BY updated_at DESC, id DESC",
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

    /// Records an automatically extracted fact. Leaves alone a key an agent corrected and a
    /// value an agent removed. Returns whether anything was written.
    pub async fn remember_fact(
        &self,
        ws: WorkspaceId,
        contact: ContactId,
        key: &str,
        value: &str,
        source: Option<MessageId>,
    ) -> Result<bool> {
        let corrected = "SELECT COUNT(*) FROM contact_facts WHERE workspace_id = $1 AND contact_id = $2 \
                         AND key = $3 AND corrected_at IS NOT NULL";
        let n: i64 = on_db!(&self.db, |p| sqlx::query_scalar(corrected)
            .bind(ws.0)
            .bind(contact.0)
            .bind(key)
            .fetch_one(p)
            .await?);
        if n > 0 {
            return Ok(false);
        }
        let now = Utc::now();
        let sql = "INSERT INTO contact_facts (workspace_id, contact_id, key, value, source_message_id, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT DO NOTHING";
        let done = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(ws.0)
            .bind(contact.0)
            .bind(key)
            .bind(value)
            .bind(source.map(|m| m.0))
            .bind(now)
            .execute(p)
            .await?
            .rows_affected());
        Ok(done == 1)
    }

    /// An agent adds a fact (or restores one they removed).
    pub async fn add_fact(
        &self,
        ws: WorkspaceId,
        contact: ContactId,
        key: &str,
        value: &str,
    ) -> Result<Fact> {
        let now = Utc::now();
        let sql = "INSERT INTO contact_facts (workspace_id, contact_id, key, value, corrected_at, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $5, $5) \
                   ON CONFLICT (contact_id, key, value) DO UPDATE SET deleted_at = NULL, corrected_at = $5, updated_at = $5 \
                   RETURNING id, contact_id, key, value, source_message_id, corrected_at, updated_at";
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(contact.0)
            .bind(key)
            .bind(value)
            .bind(now)
            .fetch_one(p)
            .await?))
    }

    /// An agent corrects a fact's value (or key).
    pub async fn edit_fact(
        &self,
        ws: WorkspaceId,
        id: i64,
        key: &str,
        value: &str,
    ) -> Result<Fact> {
        let now = Utc::now();
        let sql = "UPDATE contact_facts SET key = $1, value = $2, corrected_at = $3, updated_at = $3 \
                   WHERE workspace_id = $4 AND id = $5 AND deleted_at IS NULL \
                   RETURNING id, contact_id, key, value, source_message_id, corrected_at, updated_at";
        on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(key)
            .bind(value)
            .bind(now)
            .bind(ws.0)
            .bind(id)
            .fetch_optional(p)
            .await?)
        .ok_or(Error::NotFound { what: "fact", id })
    }

    /// An agent removes a fact; it stays as a tombstone so memory updates do not bring it back.
    pub async fn delete_fact(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        let now = Utc::now();
        let sql = "UPDATE contact_facts SET deleted_at = $1, corrected_at = $1, updated_at = $1 \
                   WHERE workspace_id = $2 AND id = $3 AND deleted_at IS NULL";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(now)
            .bind(ws.0)
            .bind(id)
            .execute(p)
            .await?
            .rows_affected());
        Error::unless_touched(n, "fact", id)
    }
}
