use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use qdrant_edge::{
    Condition, CountRequest, CreateIndex, Distance, EdgeConfig, EdgeOptimizersConfig, EdgeShard,
    EdgeSparseVectorParams, EdgeVectorParams, FieldCondition, FieldIndexOperations, Filter, Fusion,
    HnswIndexConfig, IntegerIndexParams, JsonPath, Match, Modifier, NamedQuery, PayloadFieldSchema,
    PayloadSchemaParams, PayloadSchemaType, PointId, PointInsertOperations, PointOperations,
    PointStruct, Prefetch, QueryEnum, QueryRequest, ScoredPoint, ScoringQuery, SparseVector,
    UpdateOperation, Vector, VectorInternal, Vectors, WithPayloadInterface, WithVector,
};
use rapport_core::domain::SourceKind;
use rapport_core::ids::{ChunkId, DocumentId, SourceId, WorkspaceId};
use rapport_core::ports::{self, IndexHit, IndexPoint, IndexQuery, SearchMode, VectorIndex};
use serde_json::json;

use crate::error::{Error, Result};

const DENSE: &str = "dense";
const SPARSE: &str = "sparse";

const WORKSPACE_ID: &str = "workspace_id";
const SOURCE_ID: &str = "source_id";
const DOCUMENT_ID: &str = "document_id";
const SOURCE_KIND: &str = "source_kind";

/// Threads an HNSW build may use. Qdrant's default (up to 8) would starve the API and the
/// embedder, which share a small host with it, for the length of an ingestion's optimisation.
const INDEXING_THREADS: usize = 2;

/// The RRF constant of Cormack et al. Qdrant's own default (2) lets the first few hits of either
/// list outrank a chunk that both lists place high, which is the agreement hybrid search is for.
const RRF_K: usize = 60;

/// Candidates each side of a hybrid search contributes, per hit asked for: a lexical hit that the
/// dense side ranks just outside the final limit must still reach the fusion.
const CANDIDATES_PER_HIT: usize = 4;
const MIN_CANDIDATES: usize = 40;

/// Points upserted since the last optimisation after which an upsert optimises on its own.
///
/// Ingestion calls [`EdgeIndex::optimize`] after each batch; this is the backstop for a writer
/// that never does, so search cannot degrade into brute force over an unbounded segment. It runs
/// inline, in the upsert that crosses the threshold, because that caller is a background job and
/// a detached build would compete for the same cores without anyone waiting for it. 10 000 is
/// about where Qdrant's default 10 MB indexing threshold is crossed for 256-dimension vectors and
/// above; below its threshold Qdrant declines to build, and the call costs only the planning.
const AUTO_OPTIMIZE_AFTER: usize = 10_000;

/// The vector index on Qdrant Edge: one shard in a directory, shared by all workspaces.
///
/// Every write is on disk when it returns, which costs one flush of the shard (about 150 ms on
/// the development machine, whatever the batch size): upsert in batches, not point by point.
/// Searches run concurrently with writes and with [`optimize`](Self::optimize).
///
/// Cheap to clone; clones share the shard.
#[derive(Debug, Clone)]
pub struct EdgeIndex {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Always `Some` until `Drop` takes it out to contain the panic Edge raises there.
    shard: Option<EdgeShard>,
    path: PathBuf,
    dimensions: usize,
    /// Serialises every write, flush and optimisation. `EdgeShard::flush` takes its locks with
    /// `try_lock` and panics when another writer holds them, and Edge 0.7 never replays its WAL
    /// on load, so each write is flushed before it returns and no two may overlap. Searches do
    /// not take it.
    writer: Mutex<()>,
    /// Points upserted since the last optimisation (in this process; see [`AUTO_OPTIMIZE_AFTER`]).
    unoptimized: AtomicUsize,
    auto_optimize_after: usize,
}

/// Knobs that production leaves at their defaults and tests turn down, so the HNSW path can be
/// exercised with a few hundred small vectors.
#[derive(Debug, Clone)]
struct Tuning {
    /// `None` keeps Qdrant's default (10 MB of vectors per segment before an HNSW build).
    indexing_threshold_kb: Option<usize>,
    auto_optimize_after: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            indexing_threshold_kb: None,
            auto_optimize_after: AUTO_OPTIMIZE_AFTER,
        }
    }
}

impl Tuning {
    fn config(&self, dimensions: usize) -> EdgeConfig {
        EdgeConfig::builder()
            .vector(
                DENSE,
                EdgeVectorParams::builder(dimensions, Distance::Cosine).build(),
            )
            // IDF is computed by Qdrant over the stored points at query time, so the ingestion only
            // has to send term frequencies and the weights stay right as the corpus grows.
            .sparse_vector(
                SPARSE,
                EdgeSparseVectorParams::builder()
                    .modifier(Modifier::Idf)
                    .build(),
            )
            .hnsw_config(hnsw_config(HnswIndexConfig::default()))
            .optimizers(EdgeOptimizersConfig {
                indexing_threshold: self.indexing_threshold_kb,
                ..EdgeOptimizersConfig::default()
            })
            .build()
    }

    /// Brings the settings of an existing shard in line with this build, so changing a constant
    /// here takes effect on the next start. Neither change forces a rebuild of existing segments.
    fn apply(&self, shard: &EdgeShard) -> Result<()> {
        let current = shard.config().clone();
        let hnsw = hnsw_config(current.hnsw_config);
        if hnsw != current.hnsw_config {
            shard.set_hnsw_config(hnsw)?;
        }
        if current.optimizers.indexing_threshold != self.indexing_threshold_kb {
            shard.set_optimizers_config(EdgeOptimizersConfig {
                indexing_threshold: self.indexing_threshold_kb,
                ..current.optimizers
            })?;
        }
        Ok(())
    }
}

fn hnsw_config(base: HnswIndexConfig) -> HnswIndexConfig {
    HnswIndexConfig {
        max_indexing_threads: INDEXING_THREADS,
        ..base
    }
}

impl EdgeIndex {
    /// Opens the index in `path`, creating the directory and an empty shard on first use.
    ///
    /// Blocks on disk I/O; call it at startup, or from `spawn_blocking`. Fails if the index there
    /// was built for vectors of another length, as happens when the embedding model changes.
    pub fn open(path: &Path, dimensions: usize) -> Result<Self> {
        Self::open_tuned(path, dimensions, Tuning::default())
    }

    fn open_tuned(path: &Path, dimensions: usize, tuning: Tuning) -> Result<Self> {
        if dimensions == 0 {
            return Err(Error::ZeroDimensions);
        }
        std::fs::create_dir_all(path).map_err(|source| Error::CreateDir {
            path: path.to_owned(),
            source,
        })?;

        let shard = match EdgeConfig::load(path) {
            None => {
                EdgeShard::new(path, tuning.config(dimensions)).map_err(|err| locked(path, err))?
            }
            Some(stored) => {
                let stored = stored?;
                let stored_dimensions = stored
                    .vectors
                    .get(DENSE)
                    .map(|params| params.size)
                    .ok_or_else(|| Error::MissingVector {
                        path: path.to_owned(),
                        name: DENSE,
                    })?;
                if stored_dimensions != dimensions {
                    return Err(Error::DimensionMismatch {
                        path: path.to_owned(),
                        stored: stored_dimensions,
                        expected: dimensions,
                    });
                }
                EdgeShard::load(path, None).map_err(|err| locked(path, err))?
            }
        };
        // Owned by `Inner` from here on, so a failure below drops it with the panic contained.
        let inner = Inner {
            shard: Some(shard),
            path: path.to_owned(),
            dimensions,
            writer: Mutex::new(()),
            unoptimized: AtomicUsize::new(0),
            auto_optimize_after: tuning.auto_optimize_after,
        };
        // Nothing else holds the shard yet, so no writer lock is needed for these writes.
        tuning.apply(inner.shard())?;
        ensure_payload_indexes(inner.shard())?;
        flush(inner.shard())?;

        tracing::debug!(path = %path.display(), dimensions, "vector index opened");
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Length of the dense vectors this index stores.
    pub fn dimensions(&self) -> usize {
        self.inner.dimensions
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Builds the HNSW graph (and merges or vacuums segments) where Qdrant's thresholds call for
    /// it, blocking until done; returns whether anything was rebuilt. Searches keep working
    /// meanwhile; writes wait. Ingestion calls this after each batch.
    pub async fn optimize(&self) -> Result<bool> {
        self.blocking(Inner::optimize).await
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner)).await?
    }

    async fn write(&self, operation: UpdateOperation) -> Result<()> {
        self.blocking(move |inner| {
            let _writer = inner.lock_writer();
            inner.shard().update(operation)?;
            flush(inner.shard())
        })
        .await
    }
}

impl Inner {
    fn shard(&self) -> &EdgeShard {
        self.shard
            .as_ref()
            .expect("the shard is only taken out when Inner is dropped")
    }

    fn lock_writer(&self) -> MutexGuard<'_, ()> {
        // The mutex guards no data, only exclusion; a writer that panicked leaves nothing to
        // repair, so poisoning is ignored.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn optimize(&self) -> Result<bool> {
        let _writer = self.lock_writer();
        self.optimize_locked()
    }

    fn optimize_locked(&self) -> Result<bool> {
        let shard = self.shard();
        let optimized = shard.optimize()?;
        // Segments the optimiser creates afresh may lack the payload indexes (Edge keeps no
        // shard-wide index schema), so they are re-requested; existing ones make this a no-op.
        ensure_payload_indexes(shard)?;
        flush(shard)?;
        self.unoptimized.store(0, Ordering::Relaxed);
        if optimized {
            let info = shard.info();
            tracing::info!(
                points = info.points_count,
                indexed = info.indexed_vectors_count,
                segments = info.segments_count,
                "vector index optimized"
            );
        }
        Ok(optimized)
    }

    fn upsert(&self, points: Vec<qdrant_edge::PointStructPersisted>) -> Result<()> {
        let count = points.len();
        let _writer = self.lock_writer();
        self.shard().update(UpdateOperation::PointOperation(
            PointOperations::UpsertPoints(PointInsertOperations::PointsList(points)),
        ))?;
        flush(self.shard())?;
        let pending = self.unoptimized.fetch_add(count, Ordering::Relaxed) + count;
        if pending >= self.auto_optimize_after {
            tracing::debug!(pending, "optimizing the vector index after many upserts");
            // The points are written and durable; failing the upsert now would only make the
            // caller redo it. The counter is left as is, so the next upsert tries again.
            if let Err(err) = self.optimize_locked() {
                tracing::warn!(error = %err, "automatic optimization of the vector index failed");
            }
        }
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping an EdgeShard flushes it and panics if that fails (a full disk, a removed
        // directory). Unwinding out of a drop at shutdown helps nobody, so it is contained here.
        if let Some(shard) = self.shard.take()
            && let Err(panic) = catch_unwind(AssertUnwindSafe(move || drop(shard)))
        {
            tracing::error!(
                path = %self.path.display(),
                error = panic_message(panic.as_ref()),
                "vector index could not be flushed on close"
            );
        }
    }
}

/// Edge reports a WAL held by someone else only as an I/O `WouldBlock` inside its message; the
/// match is on that text, and anything else passes through unchanged.
fn locked(path: &Path, err: qdrant_edge::OperationError) -> Error {
    if err.to_string().contains("WouldBlock") {
        Error::Locked {
            path: path.to_owned(),
        }
    } else {
        Error::Edge(err)
    }
}

/// `EdgeShard::flush` reports failure by panicking; this turns that into an error for the caller.
fn flush(shard: &EdgeShard) -> Result<()> {
    catch_unwind(AssertUnwindSafe(|| shard.flush()))
        .map_err(|panic| Error::Flush(panic_message(panic.as_ref()).to_owned()))
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic")
}

/// Creates the payload indexes the filters use. Idempotent: Qdrant skips an index that exists.
fn ensure_payload_indexes(shard: &EdgeShard) -> Result<()> {
    for field in [WORKSPACE_ID, SOURCE_ID, DOCUMENT_ID] {
        let params = IntegerIndexParams {
            // Only equality is ever asked of these ids.
            lookup: Some(true),
            range: Some(false),
            // Every request filters by workspace first; Qdrant lays out storage around it.
            is_principal: Some(field == WORKSPACE_ID),
            ..IntegerIndexParams::default()
        };
        shard.update(UpdateOperation::FieldIndexOperation(
            FieldIndexOperations::CreateIndex(CreateIndex {
                field_name: key(field),
                field_schema: Some(PayloadFieldSchema::FieldParams(
                    PayloadSchemaParams::Integer(params),
                )),
            }),
        ))?;
    }
    shard.update(UpdateOperation::FieldIndexOperation(
        FieldIndexOperations::CreateIndex(CreateIndex {
            field_name: key(SOURCE_KIND),
            field_schema: Some(PayloadFieldSchema::FieldType(PayloadSchemaType::Keyword)),
        }),
    ))?;
    Ok(())
}

fn key(field: &str) -> JsonPath {
    JsonPath {
        first_key: field.to_owned(),
        rest: Vec::new(),
    }
}

fn equals(field: &str, value: i64) -> Condition {
    Condition::Field(FieldCondition::new_match(key(field), Match::from(value)))
}

fn all_of(conditions: Vec<Condition>) -> Filter {
    Filter {
        must: Some(conditions),
        ..Filter::default()
    }
}

fn workspace_filter(
    workspace_id: WorkspaceId,
    sources: Option<&[SourceId]>,
    kinds: Option<&[SourceKind]>,
) -> Filter {
    let mut conditions = vec![equals(WORKSPACE_ID, workspace_id.0)];
    if let Some(sources) = sources {
        let ids: Vec<i64> = sources.iter().map(|source| source.0).collect();
        conditions.push(Condition::Field(FieldCondition::new_match(
            key(SOURCE_ID),
            Match::from(ids),
        )));
    }
    if let Some(kinds) = kinds {
        let kinds: Vec<String> = kinds.iter().map(|kind| kind.as_str().to_owned()).collect();
        conditions.push(Condition::Field(FieldCondition::new_match(
            key(SOURCE_KIND),
            Match::from(kinds),
        )));
    }
    all_of(conditions)
}

fn point_id(chunk_id: ChunkId) -> Result<PointId> {
    u64::try_from(chunk_id.0)
        .map(PointId::NumId)
        .map_err(|_| Error::NegativeChunkId(chunk_id.0))
}

fn chunk_id(point_id: PointId) -> Result<ChunkId> {
    match point_id {
        PointId::NumId(id) => i64::try_from(id)
            .map(ChunkId)
            .map_err(|_| Error::ForeignPointId(id.to_string())),
        PointId::Uuid(uuid) => Err(Error::ForeignPointId(uuid.to_string())),
    }
}

/// `None` for an empty vector: a chunk or query without lexical terms simply has no sparse side.
fn sparse_vector(sparse: ports::SparseVector) -> Result<Option<SparseVector>> {
    if sparse.indices.is_empty() {
        return Ok(None);
    }
    let mut vector = SparseVector::new(sparse.indices, sparse.values)
        .map_err(|err| Error::InvalidSparse(err.to_string()))?;
    vector.sort_by_indices();
    Ok(Some(vector))
}

fn to_point(point: IndexPoint, dimensions: usize) -> Result<qdrant_edge::PointStructPersisted> {
    if point.dense.len() != dimensions {
        return Err(Error::WrongLength {
            chunk: point.chunk_id.0,
            actual: point.dense.len(),
            expected: dimensions,
        });
    }
    let id = point_id(point.chunk_id)?;
    let mut vectors = vec![(DENSE, Vector::new_dense(point.dense))];
    if let Some(sparse) = point.sparse.map(sparse_vector).transpose()?.flatten() {
        vectors.push((SPARSE, Vector::from(sparse)));
    }
    let payload = json!({
        WORKSPACE_ID: point.workspace_id.0,
        SOURCE_ID: point.source_id.0,
        DOCUMENT_ID: point.document_id.0,
        SOURCE_KIND: point.source_kind.as_str(),
    });
    Ok(PointStruct::new(id, Vectors::new_named(vectors), payload).into())
}

fn nearest(vector: VectorInternal, using: &str) -> ScoringQuery {
    ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery::new(vector, using)))
}

fn prefetch(query: ScoringQuery, limit: usize) -> Prefetch {
    Prefetch {
        prefetches: Vec::new(),
        query: Some(query),
        limit,
        params: None,
        filter: None,
        score_threshold: None,
    }
}

/// `None` when the query cannot match anything (a sparse search without lexical terms).
fn query_request(query: IndexQuery, dimensions: usize) -> Result<Option<QueryRequest>> {
    if query.mode != SearchMode::Sparse && query.dense.len() != dimensions {
        return Err(Error::WrongQueryLength {
            actual: query.dense.len(),
            expected: dimensions,
        });
    }
    let sparse = match query.mode {
        SearchMode::Dense => None,
        _ => query.sparse.map(sparse_vector).transpose()?.flatten(),
    };
    let dense = nearest(VectorInternal::Dense(query.dense), DENSE);
    let (prefetches, scoring) = match (query.mode, sparse) {
        (SearchMode::Sparse, None) => return Ok(None),
        (SearchMode::Sparse, Some(sparse)) => {
            (Vec::new(), nearest(VectorInternal::Sparse(sparse), SPARSE))
        }
        (_, None) => (Vec::new(), dense),
        (_, Some(sparse)) => {
            let candidates = query
                .limit
                .saturating_mul(CANDIDATES_PER_HIT)
                .max(MIN_CANDIDATES);
            let lexical = nearest(VectorInternal::Sparse(sparse), SPARSE);
            (
                vec![prefetch(dense, candidates), prefetch(lexical, candidates)],
                ScoringQuery::Fusion(Fusion::Rrf {
                    k: RRF_K,
                    weights: None,
                }),
            )
        }
    };
    Ok(Some(QueryRequest {
        prefetches,
        query: Some(scoring),
        // The root filter is propagated into every prefetch, so neither side of a hybrid search
        // can surface another workspace's chunk.
        filter: Some(workspace_filter(
            query.workspace_id,
            query.source_ids.as_deref(),
            query.source_kinds.as_deref(),
        )),
        score_threshold: None,
        limit: query.limit,
        offset: 0,
        params: None,
        with_vector: WithVector::Bool(false),
        with_payload: WithPayloadInterface::Bool(false),
    }))
}

fn to_hit(point: ScoredPoint) -> Result<IndexHit> {
    Ok(IndexHit {
        chunk_id: chunk_id(point.id)?,
        score: point.score,
    })
}

#[async_trait]
impl VectorIndex for EdgeIndex {
    async fn upsert(&self, points: Vec<IndexPoint>) -> rapport_core::Result<()> {
        if points.is_empty() {
            return Ok(());
        }
        let dimensions = self.inner.dimensions;
        let points = points
            .into_iter()
            .map(|point| to_point(point, dimensions))
            .collect::<Result<Vec<_>>>()?;
        self.blocking(move |inner| inner.upsert(points)).await?;
        Ok(())
    }

    async fn delete_chunks(&self, chunk_ids: &[ChunkId]) -> rapport_core::Result<()> {
        if chunk_ids.is_empty() {
            return Ok(());
        }
        let ids = chunk_ids
            .iter()
            .copied()
            .map(point_id)
            .collect::<Result<Vec<_>>>()?;
        self.write(UpdateOperation::PointOperation(
            PointOperations::DeletePoints { ids },
        ))
        .await?;
        Ok(())
    }

    async fn delete_documents(
        &self,
        workspace_id: WorkspaceId,
        document_ids: &[DocumentId],
    ) -> rapport_core::Result<()> {
        if document_ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = document_ids.iter().map(|document| document.0).collect();
        let filter = all_of(vec![
            equals(WORKSPACE_ID, workspace_id.0),
            Condition::Field(FieldCondition::new_match(
                key(DOCUMENT_ID),
                Match::from(ids),
            )),
        ]);
        self.write(UpdateOperation::PointOperation(
            PointOperations::DeletePointsByFilter(filter),
        ))
        .await?;
        Ok(())
    }

    async fn delete_source(
        &self,
        workspace_id: WorkspaceId,
        source_id: SourceId,
    ) -> rapport_core::Result<()> {
        let filter = all_of(vec![
            equals(WORKSPACE_ID, workspace_id.0),
            equals(SOURCE_ID, source_id.0),
        ]);
        self.write(UpdateOperation::PointOperation(
            PointOperations::DeletePointsByFilter(filter),
        ))
        .await?;
        Ok(())
    }

    async fn search(&self, query: IndexQuery) -> rapport_core::Result<Vec<IndexHit>> {
        let mut found = self.search_many(vec![query]).await?;
        Ok(found.pop().unwrap_or_default())
    }

    /// All on one blocking thread: a question's word lookups are a dozen tiny queries, and a
    /// thread hand-off each would cost more than the queries.
    async fn search_many(
        &self,
        queries: Vec<IndexQuery>,
    ) -> rapport_core::Result<Vec<Vec<IndexHit>>> {
        let mut requests = Vec::with_capacity(queries.len());
        for query in queries {
            // An explicit empty list of sources or kinds narrows the search to nothing.
            let nothing = query.limit == 0
                || query.source_ids.as_ref().is_some_and(Vec::is_empty)
                || query.source_kinds.as_ref().is_some_and(Vec::is_empty);
            requests.push(if nothing {
                None
            } else {
                query_request(query, self.inner.dimensions)?
            });
        }
        if requests.iter().all(Option::is_none) {
            return Ok(vec![Vec::new(); requests.len()]);
        }
        let answers = self
            .blocking(move |inner| {
                requests
                    .into_iter()
                    .map(|r| match r {
                        Some(request) => Ok(inner.shard().query(request)?),
                        None => Ok(Vec::new()),
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .await?;
        Ok(answers
            .into_iter()
            .map(|points| points.into_iter().map(to_hit).collect::<Result<Vec<_>>>())
            .collect::<Result<Vec<_>>>()?)
    }

    async fn optimize(&self) -> rapport_core::Result<()> {
        EdgeIndex::optimize(self).await?;
        Ok(())
    }

    async fn count(&self, workspace_id: WorkspaceId) -> rapport_core::Result<u64> {
        let request = CountRequest {
            filter: Some(workspace_filter(workspace_id, None, None)),
            exact: true,
        };
        let count = self
            .blocking(move |inner| Ok(inner.shard().count(request)?))
            .await?;
        Ok(count as u64)
    }

    async fn check(&self) -> rapport_core::Result<()> {
        self.blocking(|inner| {
            // The shard answers from memory even after its directory is removed; a readiness
            // probe should notice that before a write fails.
            std::fs::metadata(&inner.path).map_err(|source| Error::CreateDir {
                path: inner.path.clone(),
                source,
            })?;
            inner.shard().info();
            Ok(())
        })
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuning_that_indexes_early() -> Tuning {
        Tuning {
            indexing_threshold_kb: Some(1),
            auto_optimize_after: usize::MAX,
        }
    }

    /// Deterministic, spread-out 8-dimension vectors.
    fn vector(seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (0..8)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect()
    }

    fn point(chunk: i64, workspace: i64) -> IndexPoint {
        IndexPoint {
            chunk_id: ChunkId(chunk),
            workspace_id: WorkspaceId(workspace),
            source_id: SourceId(1),
            document_id: DocumentId(chunk),
            source_kind: SourceKind::Articles,
            dense: vector(chunk as u64),
            sparse: None,
        }
    }

    #[tokio::test]
    async fn search_after_hnsw_build_still_finds_the_exact_vector_of_its_workspace() {
        let dir = tempfile::tempdir().expect("temp dir");
        let index =
            EdgeIndex::open_tuned(dir.path(), 8, tuning_that_indexes_early()).expect("open");
        // Two workspaces interleaved, so the HNSW graph mixes them and only the filter separates.
        let points = (1..=600).map(|chunk| point(chunk, chunk % 2 + 1)).collect();
        index.upsert(points).await.expect("upsert");

        assert!(
            index.optimize().await.expect("optimize"),
            "HNSW was not built"
        );
        let info = index.inner.shard().info();
        assert!(info.indexed_vectors_count > 0, "{info:?}");
        for field in [WORKSPACE_ID, SOURCE_ID, DOCUMENT_ID] {
            assert!(
                info.payload_schema.contains_key(&key(field)),
                "{field} not indexed"
            );
        }

        for chunk in [2_i64, 101, 344, 599] {
            let workspace = chunk % 2 + 1;
            let hits = index
                .search(IndexQuery::new(
                    WorkspaceId(workspace),
                    vector(chunk as u64),
                    None,
                    5,
                ))
                .await
                .expect("search");
            assert_eq!(hits.first().map(|hit| hit.chunk_id), Some(ChunkId(chunk)));
            assert!(hits.iter().all(|hit| hit.chunk_id.0 % 2 + 1 == workspace));
        }
        assert_eq!(index.count(WorkspaceId(1)).await.expect("count"), 300);
    }

    #[tokio::test]
    async fn upserts_past_the_threshold_optimize_on_their_own() {
        let dir = tempfile::tempdir().expect("temp dir");
        let tuning = Tuning {
            auto_optimize_after: 300,
            ..tuning_that_indexes_early()
        };
        let index = EdgeIndex::open_tuned(dir.path(), 8, tuning).expect("open");
        let points = (1..=400).map(|chunk| point(chunk, 1)).collect();
        index.upsert(points).await.expect("upsert");

        assert!(index.inner.shard().info().indexed_vectors_count > 0);
        assert_eq!(index.inner.unoptimized.load(Ordering::Relaxed), 0);
    }
}
