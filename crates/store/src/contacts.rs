//! Contacts and the channel identities that point at them.
//!
//! Resolving *which* contact an inbound identity belongs to (merge keys, signed identities) is
//! the agent's `IdentityResolver`; this module only stores and looks up what it decided.

use chrono::{DateTime, Utc};
use rapport_core::domain::Channel;
use rapport_core::ids::{ContactId, IdentityId, WorkspaceId};
use serde::Serialize;

use crate::db::on_db;
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
