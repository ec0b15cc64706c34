use std::path::PathBuf;

use thiserror::Error;

/// What can go wrong inside the index. Callers behind the port only see
/// `rapport_core::Error::Index` with this message; the variants exist so the crate's own callers
/// (startup, ingestion) and tests can tell a misconfiguration from a storage failure.
#[derive(Debug, Error)]
pub enum Error {
    #[error("cannot create index directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The index on disk was built for another embedding size; the vectors in it cannot be
    /// compared with the embedder's, so it has to be rebuilt rather than reused.
    #[error(
        "index at {path} holds {stored}-dimensional vectors, but {expected} were configured; \
         reindex or point the index at another directory"
    )]
    DimensionMismatch {
        path: PathBuf,
        stored: usize,
        expected: usize,
    },
    #[error("index at {path} has no dense vector named {name:?}; it was not created by Rapport")]
    MissingVector { path: PathBuf, name: &'static str },
    /// Qdrant Edge locks its write-ahead log; a second open (another process, or a second
    /// `EdgeIndex` in this one) is refused rather than left to corrupt the shard.
    #[error("index at {path} is already open, by another process or another index in this one")]
    Locked { path: PathBuf },
    #[error("vector dimensions must be at least 1")]
    ZeroDimensions,
    #[error("chunk {chunk}: dense vector has {actual} dimensions, the index expects {expected}")]
    WrongLength {
        chunk: i64,
        actual: usize,
        expected: usize,
    },
    #[error("query vector has {actual} dimensions, the index expects {expected}")]
    WrongQueryLength { actual: usize, expected: usize },
    /// Point ids are unsigned in Qdrant; chunk ids are positive database keys.
    #[error("chunk id {0} cannot be a point id (it is negative)")]
    NegativeChunkId(i64),
    /// A point whose id Rapport could not have written (a UUID, or above `i64::MAX`).
    #[error("index holds a point with a foreign id {0}")]
    ForeignPointId(String),
    #[error("invalid sparse vector: {0}")]
    InvalidSparse(String),
    /// Qdrant Edge could not write its WAL or segments to disk.
    #[error("flushing the index failed: {0}")]
    Flush(String),
    #[error("qdrant edge: {0}")]
    Edge(#[from] qdrant_edge::OperationError),
    /// The blocking task running a Qdrant call panicked or was cancelled.
    #[error("index task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for rapport_core::Error {
    fn from(err: Error) -> Self {
        rapport_core::Error::Index(err.to_string())
    }
}
