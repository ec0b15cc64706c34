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
    /// A call to the Qdrant server failed: unreachable, refused (a wrong API key, a collection
    /// removed behind Rapport's back) or timed out. The server's own message rarely says which
    /// call it answered, so `operation` does.
    #[error("qdrant server, {operation}: {}", describe_server_error(.source))]
    Server {
        operation: &'static str,
        /// Boxed: the gRPC status inside is large, and every `Result` of this crate would carry it.
        source: Box<qdrant_client::QdrantError>,
    },
    /// The server's collection was made for another embedding size; as with
    /// [`Error::DimensionMismatch`], it has to be rebuilt, or Rapport pointed at another one.
    #[error(
        "qdrant collection {collection:?} holds {stored}-dimensional vectors, but {expected} \
         were configured; reindex into another collection or drop this one"
    )]
    CollectionDimensionMismatch {
        collection: String,
        stored: usize,
        expected: usize,
    },
    /// A collection of that name exists but lacks the vectors Rapport writes; writing into it
    /// would fail point by point, or worse, succeed beside someone else's data.
    #[error("qdrant collection {collection:?} was not created by Rapport: {reason}")]
    ForeignCollection { collection: String, reason: String },
    /// Hybrid search sends RRF with its `k`, which servers before this version do not understand:
    /// they would reject every hybrid query, so the connection is refused up front instead.
    #[error("qdrant server {version} is too old; Rapport needs {required} or newer")]
    ServerTooOld {
        version: String,
        required: &'static str,
    },
}

/// The status code and message of a refused call, without the response metadata that
/// `QdrantError`'s own `Display` appends.
fn describe_server_error(err: &qdrant_client::QdrantError) -> String {
    match err {
        qdrant_client::QdrantError::ResponseError { status }
        | qdrant_client::QdrantError::ResourceExhaustedError { status, .. } => {
            format!("{} ({:?})", status.message(), status.code())
        }
        other => other.to_string(),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for rapport_core::Error {
    fn from(err: Error) -> Self {
        rapport_core::Error::Index(err.to_string())
    }
}
