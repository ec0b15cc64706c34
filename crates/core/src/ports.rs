//! The traits behind which the heavy components live, so the agent and the server depend on a
//! capability ("embed these texts", "find the nearest chunks") rather than on ONNX Runtime or
//! Qdrant.

use async_trait::async_trait;

use crate::Result;
use crate::domain::SourceKind;
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

    /// Embeds `texts` in order and also returns the contextual vector of each of their tokens,
    /// from the same model pass, for late-interaction scoring. An embedder that cannot see its
    /// tokens returns none, and scoring falls back to the pooled vectors.
    async fn embed_with_tokens(&self, texts: Vec<String>) -> Result<Vec<TokenEmbedding>> {
        Ok(self
            .embed(texts)
            .await?
            .into_iter()
            .map(|vector| TokenEmbedding {
                vector,
                tokens: Vec::new(),
            })
            .collect())
    }

    /// Whether the model's vocabulary holds `word` (lower case) as one whole piece: a common
    /// word of the language it was trained on, rather than a product name, jargon or a word of
    /// another language. `None` when the embedder cannot tell.
    fn knows_word(&self, word: &str) -> Option<bool> {
        let _ = word;
        None
    }
}

/// A text's pooled embedding and its tokens' own vectors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenEmbedding {
    /// The pooled, unit-length vector [`Embedder::embed`] returns.
    pub vector: Vec<f32>,
    /// Each token of the text in order (the model's special markers left out), unit length.
    pub tokens: Vec<EmbeddedToken>,
}

/// One token of an embedded text: the model's word piece and its contextual vector.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddedToken {
    /// The word piece as the model's tokenizer wrote it (`"refund"`, `"##ing"`, `"?"`).
    pub piece: String,
    pub vector: Vec<f32>,
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
    /// Lets a search be narrowed to kinds of knowledge (only snippets, no web pages…).
    pub source_kind: SourceKind,
    pub dense: Vec<f32>,
    pub sparse: Option<SparseVector>,
}

/// Which vectors a search scores by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    /// Dense and sparse candidates fused by reciprocal rank.
    #[default]
    Hybrid,
    /// Meaning only (the embedding).
    Dense,
    /// Words only (BM25).
    Sparse,
}

impl SearchMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Hybrid => "hybrid",
            SearchMode::Dense => "dense",
            SearchMode::Sparse => "sparse",
        }
    }
}

impl std::str::FromStr for SearchMode {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "hybrid" => Ok(SearchMode::Hybrid),
            "dense" => Ok(SearchMode::Dense),
            "sparse" => Ok(SearchMode::Sparse),
            other => Err(crate::Error::invalid(
                "SearchMode",
                format!("unknown value {other:?} (hybrid, dense or sparse)"),
            )),
        }
    }
}

/// A search within one workspace, optionally narrowed to some sources or kinds of source.
#[derive(Debug, Clone)]
pub struct IndexQuery {
    pub workspace_id: WorkspaceId,
    pub mode: SearchMode,
    /// Ignored (and may be empty) in [`SearchMode::Sparse`].
    pub dense: Vec<f32>,
    /// Ignored in [`SearchMode::Dense`]; a hybrid query without it is a dense query.
    pub sparse: Option<SparseVector>,
    pub source_ids: Option<Vec<SourceId>>,
    pub source_kinds: Option<Vec<SourceKind>>,
    pub limit: usize,
}

impl IndexQuery {
    /// A hybrid query over the whole workspace.
    pub fn new(
        workspace_id: WorkspaceId,
        dense: Vec<f32>,
        sparse: Option<SparseVector>,
        limit: usize,
    ) -> Self {
        Self {
            workspace_id,
            mode: SearchMode::Hybrid,
            dense,
            sparse,
            source_ids: None,
            source_kinds: None,
            limit,
        }
    }
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
    /// Deletes every point of these documents (one write, however many documents).
    async fn delete_documents(
        &self,
        workspace_id: WorkspaceId,
        document_ids: &[DocumentId],
    ) -> Result<()>;
    async fn delete_document(
        &self,
        workspace_id: WorkspaceId,
        document_id: DocumentId,
    ) -> Result<()> {
        self.delete_documents(workspace_id, &[document_id]).await
    }
    async fn delete_source(&self, workspace_id: WorkspaceId, source_id: SourceId) -> Result<()>;
    /// Best matches first. Never returns points of another workspace.
    async fn search(&self, query: IndexQuery) -> Result<Vec<IndexHit>>;

    /// Several searches, answered in order. An index that pays per call (a thread hand-off,
    /// a round trip) answers them in one.
    async fn search_many(&self, queries: Vec<IndexQuery>) -> Result<Vec<Vec<IndexHit>>> {
        let mut out = Vec::with_capacity(queries.len());
        for query in queries {
            out.push(self.search(query).await?);
        }
        Ok(out)
    }
    /// Number of points stored for a workspace.
    async fn count(&self, workspace_id: WorkspaceId) -> Result<u64>;
    /// Cheap check that the index can be read, for `/readyz`.
    async fn check(&self) -> Result<()>;
    /// Builds search structures after a bulk write, where the backend needs it. Returns once
    /// done; searches keep working meanwhile.
    async fn optimize(&self) -> Result<()> {
        Ok(())
    }
}

/// Seals the secrets an admin saves (channel credentials, an action's API keys) so they rest
/// encrypted in the database, and opens them when they are used. The server's implementation
/// keys it with `RAPPORT_SETTINGS_KEY`; without a key documents pass through as they are.
pub trait Sealer: Send + Sync {
    fn seal(&self, doc: &serde_json::Value) -> std::result::Result<serde_json::Value, String>;
    fn open(&self, stored: &serde_json::Value) -> std::result::Result<serde_json::Value, String>;
}

/// Keeps documents as they are: for tools and tests that run without a settings key.
pub struct Unsealed;

impl Sealer for Unsealed {
    fn seal(&self, doc: &serde_json::Value) -> std::result::Result<serde_json::Value, String> {
        Ok(doc.clone())
    }
    fn open(&self, stored: &serde_json::Value) -> std::result::Result<serde_json::Value, String> {
        if stored.get("sealed").is_some() {
            return Err("these secrets are sealed and no settings key is set".into());
        }
        Ok(stored.clone())
    }
}
