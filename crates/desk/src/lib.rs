//! The agents' workspace around the inbox: canned replies with variables, follow-up tasks and
//! their reminders, notifications and presence. It is the helpdesk side of Rapport — what a
//! support team does between escalations — and depends on the store alone.

pub mod canned;
mod error;
pub mod notifications;
pub mod presence;
pub mod routing;
pub mod search;
pub mod tasks;
pub mod teams;

pub use error::{Error, Result};
pub use presence::{Presence, PresencePolicy, Status};

use chrono::Duration;
use rapport_core::hours::BusinessHours;
use rapport_store::Store;

/// Who is working: the signed-in agent a request is made for.
#[derive(Debug, Clone)]
pub struct AgentRef {
    pub user_id: i64,
    pub name: String,
    pub email: String,
    pub is_admin: bool,
}

/// How the desk runs, from the server's configuration.
#[derive(Debug, Clone)]
pub struct DeskSettings {
    pub presence: PresencePolicy,
    /// An assignee offline this long (after the heartbeats stop) loses their open
    /// conversations back to the queue.
    pub reassign_after: Duration,
    /// The configured business hours; hours saved in Settings win.
    pub business_hours: Option<BusinessHours>,
    /// Where the web app is, for the e-mail an agent gets when given a conversation while
    /// offline; `None` when no e-mail can be sent (no SMTP configured).
    pub assignment_emails: Option<String>,
}

impl Default for DeskSettings {
    fn default() -> Self {
        DeskSettings {
            presence: PresencePolicy::default(),
            reassign_after: Duration::minutes(10),
            business_hours: None,
            assignment_emails: None,
        }
    }
}

/// The workspace's desk. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Desk {
    store: Store,
    presence: PresencePolicy,
    settings: DeskSettings,
}

impl Desk {
    pub fn new(store: Store, settings: DeskSettings) -> Desk {
        Desk {
            store,
            presence: settings.presence,
            settings,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
