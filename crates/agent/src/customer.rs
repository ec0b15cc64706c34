//! The customer as agents see them: profile, identities on every channel, merge keys, memory
//! and facts, the unified timeline — and the explicit merge and unmerge agents can do.

use rapport_core::ids::{ContactId, WorkspaceId};
use rapport_store::contacts::{Contact, Fact, IdentityView, KeyView};
use rapport_store::messages::TimelineMessage;
use serde::Serialize;

use crate::Result;
use crate::agent::{Agent, Inbound, Received, ReplyOptions, ReplyOutcome};

#[derive(Debug, Clone, Serialize)]
pub struct CustomerProfile {
    /// The root contact: the customer as a whole.
    pub contact: Contact,
    /// Contacts merged into it (each keeps its identities and can be unmerged).
    pub merged_contacts: Vec<i64>,
    pub identities: Vec<IdentityView>,
    pub keys: Vec<KeyView>,
    pub facts: Vec<Fact>,
}

impl Agent {
    pub async fn customer(&self, ws: WorkspaceId, id: ContactId) -> Result<CustomerProfile> {
        let store = self.store();
        let root = store.root_contact(ws, id).await?;
        let cluster = store.contact_cluster(ws, root).await?;
        Ok(CustomerProfile {
            contact: store.contact(ws, root).await?,
            merged_contacts: cluster
                .iter()
                .filter(|c| **c != root)
                .map(|c| c.0)
                .collect(),
            identities: store.identities(ws, &cluster).await?,
            keys: store.keys(ws, &cluster).await?,
            facts: store.facts(ws, &cluster).await?,
        })
    }

    /// Every message of the customer on every channel, oldest first (the newest `limit`).
    pub async fn timeline(
        &self,
        ws: WorkspaceId,
        id: ContactId,
        limit: Option<i64>,
    ) -> Result<Vec<TimelineMessage>> {
        let root = self.store().root_contact(ws, id).await?;
        let cluster = self.store().contact_cluster(ws, root).await?;
        Ok(self.store().timeline(ws, &cluster, limit).await?)
    }

    /// An agent says two contacts are one customer.
    pub async fn merge(
        &self,
        ws: WorkspaceId,
        survivor: ContactId,
        other: ContactId,
    ) -> Result<CustomerProfile> {
        let root = self.store().merge_contacts(ws, survivor, other).await?;
        self.customer(ws, root).await
    }

    /// An agent undoes a merge: the contact leaves with its own identities and messages.
    pub async fn unmerge(&self, ws: WorkspaceId, id: ContactId) -> Result<CustomerProfile> {
        self.store().unmerge_contact(ws, id).await?;
        self.customer(ws, id).await
    }

    /// Receives a message and answers it at once, without the queue or the outbox: the
    /// playground and `rapport ask`. Memory is refreshed afterwards, as a quiet conversation
    /// would have it.
    pub async fn ask(
        &self,
        ws: WorkspaceId,
        inbound: &Inbound,
        options: ReplyOptions<'_>,
    ) -> Result<(Received, ReplyOutcome)> {
        let received = self.receive(ws, inbound, false).await?;
        let outcome = self
            .reply(ws, received.conversation_id, received.message_id, options)
            .await?;
        self.update_memory(ws, received.contact_id).await?;
        Ok((received, outcome))
    }
}
