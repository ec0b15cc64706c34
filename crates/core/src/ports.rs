//! The traits behind which the heavy components live, so the agent and the server depend on a
//! capability ("embed these texts", "find the nearest chunks") rather than on ONNX Runtime or
//! Qdrant.

use async_trait::async_trait;

use crate::Result;
use crate::ids::{ChunkId, DocumentId, SourceId, WorkspaceId};

/// Turns texts into dense vectors. Implementations must be safe to call from async code: any
/// CPU-bound work runs off the async runtime.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// Length of every vector this embedder returns.
    fn dimensions(&self) -> usize;
    /// A stable name of the model, recorded with indexed vectors and traces.
    fn model_name(&self) -> &str;
    /// Embeds `texts` in order; the result has one vector per text.
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>>;

    async fn embed_one(&self, text: &str) -> Result<Vec<f32>> {
        let mut v = self.embed(vec![text.to_owned()]).await?;
        v.pop()
            .ok_or_else(|| crate::Error::Embedder("no vector returned".into()))
    }
}

/// A sparse vector (for BM25-style lexical scoring): parallel lists of term ids and weights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVector {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

/// One chunk's vectors and the payload that search filters on.
#[derive(Debug, Clone)]
pub struct IndexPoint {
    pub chunk_id: ChunkId,
    pub workspace_id: WorkspaceId,
    pub source_id: SourceId,
    pub document_id: DocumentId,
    pub dense: Vec<f32>,
    pub sparse: Option<SparseVector>,
}

/// A search within one workspace, optionally narrowed to some sources.
#[derive(Debug, Clone)]
pub struct IndexQuery {
    pub workspace_id: WorkspaceId,
    pub dense: Vec<f32>,
    pub sparse: Option<SparseVector>,
    pub source_ids: Option<Vec<SourceId>>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IndexHit {
    pub chunk_id: ChunkId,
    pub score: f32,
}

/// Where chunk vectors live: Qdrant Edge in process by default, a Qdrant server when configured.
#[async_trait]
pub trait VectorIndex: Send + Sync {
    /// Inserts or replaces points (by chunk id).
    async fn upsert(&self, points: Vec<IndexPoint>) -> Result<()>;
    async fn delete_chunks(&self, chunk_ids: &[ChunkId]) -> Result<()>;
    async fn delete_document(
        &self,
        workspace_id: WorkspaceId,
        document_id: DocumentId,
    ) -> Result<()>;
    async fn delete_source(&self, workspace_id: WorkspaceId, source_id: SourceId) -> Result<()>;
    /// Best matches first. Never returns points of another workspace.
    async fn search(&self, query: IndexQuery) -> Result<Vec<IndexHit>>;
    /// Number of points stored for a workspace.
    async fn count(&self, workspace_id: WorkspaceId) -> Result<u64>;
    /// Cheap check that the index can be read, for `/readyz`.
    async fn check(&self) -> Result<()>;
}
