//! Rapport's vector index: chunk vectors on Qdrant Edge, in process and on disk, behind the
//! [`rapport_core::ports::VectorIndex`] port.
//!
//! It exists so a single binary can do retrieval without running a Qdrant server: the index is a
//! directory next to the database, searched by the same process that serves the API. One shard
//! holds every workspace; isolation comes from a `workspace_id` payload filter applied to every
//! search, count and delete, never from the caller.
//!
//! Qdrant Edge is a blocking library, so every call into it runs on Tokio's blocking pool.
//! Search is exact (brute force) until [`EdgeIndex::optimize`] builds an HNSW graph, which Qdrant
//! only does once a segment passes its indexing threshold; below that, brute force is both correct
//! and fast enough.
//!
//! [`QdrantServerIndex`] stores the same points in a collection of a Qdrant server instead, for
//! installations that run several `rapport serve` processes against one index.

mod edge;
mod error;
mod server;

pub use edge::EdgeIndex;
pub use error::{Error, Result};
pub use server::{QdrantServerIndex, QdrantServerOptions};
