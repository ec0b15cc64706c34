use thiserror::Error;

use crate::llm::LlmError;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] rapport_store::Error),
    #[error(transparent)]
    Knowledge(#[from] rapport_knowledge::Error),
    /// The embedder failed (reading a message's intent).
    #[error(transparent)]
    Core(#[from] rapport_core::Error),
    #[error("language model: {0}")]
    Model(#[from] LlmError),
    #[error("prompt {name}: {message}")]
    Prompt { name: String, message: String },
    /// The caller sent something unusable (an unparsable phone number, a bad signature…).
    #[error("{0}")]
    Invalid(String),
    /// A signed identity whose signature does not match: never trusted, never merged.
    #[error("the identity signature does not match")]
    BadSignature,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
