use thiserror::Error;

/// Errors that cross a port: what an embedder, an index or a parser can report to its caller.
#[derive(Debug, Error)]
pub enum Error {
    /// Input that does not satisfy a domain rule (an unknown channel name, an empty text…).
    #[error("invalid {what}: {message}")]
    Invalid { what: &'static str, message: String },
    /// The embedding model could not be loaded or failed to run.
    #[error("embedder: {0}")]
    Embedder(String),
    /// The vector index could not be opened, written or searched.
    #[error("vector index: {0}")]
    Index(String),
}

impl Error {
    pub fn invalid(what: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            what,
            message: message.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
