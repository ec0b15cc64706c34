//! Enumerations of the data model. Stored as snake_case text so the database stays readable and
//! a new variant never needs a schema change.

use serde::{Deserialize, Serialize};

use crate::Error;

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                match s {
                    $($text => Ok($name::$variant),)*
                    other => Err(Error::invalid(stringify!($name), format!("unknown value {other:?}"))),
                }
            }
        }
    };
}

text_enum!(
    /// Where a customer reached the business.
    Channel {
        Whatsapp = "whatsapp",
        Instagram = "instagram",
        Web = "web",
        Email = "email",
        Api = "api",
    }
);

text_enum!(
    /// Who owns a conversation right now.
    ConversationStatus {
        Bot = "bot",
        WaitingHuman = "waiting_human",
        Human = "human",
        Resolved = "resolved",
    }
);

text_enum!(
    /// How a resolved conversation ended.
    Resolution {
        Ai = "ai",
        Human = "human",
        Abandoned = "abandoned",
    }
);

text_enum!(
    Direction {
        Inbound = "inbound",
        Outbound = "outbound",
    }
);

text_enum!(
    /// Who wrote a message. `System` covers automatic notices (handoff, CSAT prompts).
    Author {
        Customer = "customer",
        Bot = "bot",
        Agent = "agent",
        System = "system",
    }
);

text_enum!(
    Role {
        Admin = "admin",
        Agent = "agent",
    }
);

text_enum!(
    /// Kinds of knowledge source an admin can add.
    SourceKind {
        Snippets = "snippets",
        Web = "web",
        Articles = "articles",
        Files = "files",
        Conversations = "conversations",
    }
);

text_enum!(
    SourceStatus {
        Queued = "queued",
        Running = "running",
        Ready = "ready",
        Failed = "failed",
    }
);

text_enum!(
    /// Review state of a Q&A pair mined from a resolved conversation.
    CandidateStatus {
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
    }
);

text_enum!(
    EscalationStatus {
        Open = "open",
        Claimed = "claimed",
        Resolved = "resolved",
    }
);

text_enum!(
    /// Delivery state of an outbound message, as far as the channel has told us.
    DeliveryStatus {
        Queued = "queued",
        Sent = "sent",
        Delivered = "delivered",
        Read = "read",
        Failed = "failed",
        Undeliverable = "undeliverable",
    }
);

text_enum!(
    /// Life cycle of a background job.
    JobState {
        Queued = "queued",
        Running = "running",
        Done = "done",
        Dead = "dead",
    }
);

/// What each satisfaction score means, from 1 to 5, as rating choices show it on every channel
/// (and as a picked choice is read back).
pub const RATING_LABELS: [&str; 5] = ["Poor", "Fair", "Okay", "Good", "Great"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_channel_round_trips_through_its_text() {
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>().unwrap(), *c);
        }
    }

    #[test]
    fn unknown_text_is_a_clear_error() {
        let err = "telegram".parse::<Channel>().unwrap_err();
        assert!(err.to_string().contains("telegram"), "{err}");
    }
}
