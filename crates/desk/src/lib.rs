//! The agents' workspace around the inbox: canned replies with variables, follow-up tasks and
//! their reminders, notifications and presence. It is the helpdesk side of Rapport — what a
//! support team does between escalations — and depends on the store alone.

pub mod canned;
mod error;
pub mod notifications;
pub mod presence;
pub mod tasks;

pub use error::{Error, Result};
pub use presence::{Presence, PresencePolicy, Status};

use rapport_store::Store;

/// Who is working: the signed-in agent a request is made for.
#[derive(Debug, Clone)]
pub struct AgentRef {
    pub user_id: i64,
    pub name: String,
    pub email: String,
    pub is_admin: bool,
}

/// The workspace's desk. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Desk {
    store: Store,
    presence: PresencePolicy,
}

impl Desk {
    pub fn new(store: Store, presence: PresencePolicy) -> Desk {
        Desk { store, presence }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
