//! Typed identifiers, so a contact id can never be passed where a conversation id is expected.
//!
//! Every id is the row's `BIGINT` primary key: compact, ordered, identical on SQLite and
//! PostgreSQL, and usable as a vector index point id (chunks).

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<i64> for $name {
            fn from(v: i64) -> Self { Self(v) }
        }
    )*};
}

id_type!(
    /// A tenant: one business with its own contacts, knowledge and settings.
    WorkspaceId,
    UserId,
    ContactId,
    IdentityId,
    ConversationId,
    MessageId,
    SourceId,
    DocumentId,
    /// Also the point id of the chunk's vectors in the index.
    ChunkId,
    EscalationId,
    /// A Q&A pair mined from a conversation, awaiting review.
    CandidateId,
    JobId,
);

impl WorkspaceId {
    /// The workspace the first migration creates; single-tenant installs live in it.
    pub const DEFAULT: WorkspaceId = WorkspaceId(1);
}
