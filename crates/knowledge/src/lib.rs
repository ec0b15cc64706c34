//! A business's knowledge, from the formats it comes in to the chunks that answer a question:
//! connectors (snippets, web, articles, files, past conversations), extraction, structure-aware
//! chunking, the ingestion pipeline on the job queue, and hybrid retrieval.
//!
//! The crate depends on the concrete `rapport-store` rather than a storage trait: there is one
//! store (over two SQL backends), and a trait would only restate its methods.

mod base;
pub mod chunk;
pub mod connectors;
mod conversations;
pub mod document;
mod error;
pub mod eval;
pub mod extract;
pub mod fusion;
mod job;
pub mod late;
pub mod mining;
mod retrieve;
pub mod server_folder;
mod shorthand;
pub mod sources;
pub mod sparse;
mod vocabulary;
pub mod web;

pub use base::{KnowledgeBase, KnowledgeSettings, SYNC_JOB, SyncReport};
pub use job::SyncSourceJob;

/// Turns a Q&A pair mined from a conversation (the customer's messages, the agent's replies)
/// into a reusable one: the question phrased generally, without personal data. `None` keeps the
/// pair as mined (no reusable answer, or the model failed); an admin reviews it either way.
#[async_trait::async_trait]
pub trait PairCondenser: Send + Sync {
    async fn condense(&self, question: &str, answer: &str) -> Option<(String, String)>;
}
pub use retrieve::{CURATED_MATCH, Retrieved, SearchOptions};
pub use vocabulary::QuestionTerm;

pub use error::{Error, Result};
