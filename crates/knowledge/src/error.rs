use thiserror::Error;

/// Why a piece of knowledge could not be read. Messages are shown to admins as the source's error.
#[derive(Debug, Error)]
pub enum Error {
    #[error("this {format} file cannot be read: {message}")]
    Malformed {
        format: &'static str,
        message: String,
    },
    #[error("this PDF is encrypted; upload an unprotected copy")]
    Encrypted,
    #[error("nothing to learn from this {what}")]
    Empty { what: &'static str },
    /// A website (or its sitemap) could not be crawled at all.
    #[error("could not fetch {url}: {message}")]
    Fetch { url: String, message: String },
    /// The private-network guard refused a URL.
    #[error("refused to fetch {url}: {reason}")]
    Refused { url: String, reason: String },
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    #[error("invalid source configuration: {0}")]
    InvalidConfig(String),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: i64 },
    #[error(transparent)]
    Store(#[from] rapport_store::Error),
    /// The embedder or the vector index failed.
    #[error(transparent)]
    Component(#[from] rapport_core::Error),
}

impl Error {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
