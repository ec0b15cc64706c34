//! The vector index on a Qdrant server or cluster, over gRPC.
//!
//! [`EdgeIndex`](crate::EdgeIndex) keeps the index inside the process and locks it there, which
//! suits one `rapport serve` and rules out a second. This backend is the scale-out path: several
//! `rapport serve` processes share one Qdrant server (or cluster), so a chunk ingested through any
//! of them can be found through all of them, and the index can outgrow one host.
//!
//! It stores what Edge stores — named vectors `dense` (cosine) and `sparse` (IDF), payload
//! `workspace_id`, `source_id`, `document_id` and `source_kind` — and asks the same questions, so
//! the two backends are interchangeable behind the port and rank alike. As with Edge, isolation
//! comes from a `workspace_id` filter on every search, count and delete, never from the caller.
//!
//! Where it differs from Edge:
//! - a write returns once the server has applied it (`wait`), rather than once it is flushed here;
//! - the server builds its HNSW graphs by itself, so [`VectorIndex::optimize`] is a no-op;
//! - hybrid search sends RRF's `k`, which only Qdrant 1.16 and later accept, so
//!   [`QdrantServerIndex::connect`] refuses an older server instead of failing every hybrid query.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use qdrant_client::qdrant::point_id::PointIdOptions;
use qdrant_client::qdrant::vectors_config::Config as VectorsConfigKind;
use qdrant_client::qdrant::{
    CollectionInfo, Condition, CountPointsBuilder, CreateCollectionBuilder,
    CreateFieldIndexCollectionBuilder, DeletePointsBuilder, Distance, FieldType, Filter,
    IntegerIndexParamsBuilder, Modifier, NamedVectors, PayloadSchemaInfo, PointId, PointStruct,
    PointsIdsList, PrefetchQueryBuilder, Query, QueryPoints, QueryPointsBuilder, RrfBuilder,
    ScoredPoint, SparseVectorParamsBuilder, SparseVectorsConfigBuilder, UpsertPointsBuilder, Value,
    Vector, VectorInput, VectorParamsBuilder, VectorsConfigBuilder,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use rapport_core::domain::SourceKind;
use rapport_core::ids::{ChunkId, DocumentId, SourceId, WorkspaceId};
use rapport_core::ports::{self, IndexHit, IndexPoint, IndexQuery, SearchMode, VectorIndex};

use crate::error::{Error, Result};

/// The collection Rapport uses unless told otherwise; one collection holds every workspace.
const DEFAULT_COLLECTION: &str = "rapport_chunks";

// The names below are Edge's: a collection is laid out exactly like an Edge shard, so moving an
// installation from one backend to the other is a reindex, not a schema change.
const DENSE: &str = "dense";
const SPARSE: &str = "sparse";

const WORKSPACE_ID: &str = "workspace_id";
const SOURCE_ID: &str = "source_id";
const DOCUMENT_ID: &str = "document_id";
const SOURCE_KIND: &str = "source_kind";

/// Edge's constant, for the same reason (see `edge.rs`): Qdrant's default of 2 lets the top few
/// hits of either list outrank a chunk both lists place high.
const RRF_K: u32 = 60;

/// The first Qdrant release whose Query API takes RRF with a `k` (`Query::Rrf`); an older one
/// does not know that variant and refuses the query.
const MIN_SERVER_VERSION: (u64, u64) = (1, 16);
const MIN_SERVER_VERSION_TEXT: &str = "1.16";

/// As in Edge: a lexical hit the dense side ranks just outside the limit must still reach fusion.
const CANDIDATES_PER_HIT: usize = 4;
const MIN_CANDIDATES: usize = 40;

/// Points per upsert request. A request of this many 384-dimension points is about 2 MB, well
/// under the 32 MB a Qdrant server accepts by default, whatever batch a caller hands over.
const UPSERT_CHUNK: usize = 1_000;

/// Where the server is and which collection to use.
#[derive(Clone)]
pub struct QdrantServerOptions {
    /// The gRPC endpoint, e.g. `http://localhost:6334` (6334: the REST port, 6333, does not
    /// speak gRPC). `https://` uses TLS with the system's root certificates.
    pub url: String,
    pub api_key: Option<String>,
    /// Created on first use. Processes that share a collection share its points.
    pub collection: String,
    /// Length of the dense vectors; an existing collection must have been made for the same.
    pub dimensions: usize,
    /// Per request, and for establishing the connection. An upsert waits until the server has
    /// applied it, so this bounds the largest batch as well as a stalled server.
    pub timeout: Duration,
}

impl QdrantServerOptions {
    pub fn new(url: impl Into<String>, dimensions: usize) -> Self {
        Self {
            url: url.into(),
            dimensions,
            ..Self::default()
        }
    }
}

impl Default for QdrantServerOptions {
    fn default() -> Self {
        Self {
            url: "http://localhost:6334".to_owned(),
            api_key: None,
            collection: DEFAULT_COLLECTION.to_owned(),
            // The size of Rapport's default embedding model.
            dimensions: 384,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Written by hand so the API key never reaches a log line.
impl fmt::Debug for QdrantServerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QdrantServerOptions")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("collection", &self.collection)
            .field("dimensions", &self.dimensions)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The vector index in a collection of a Qdrant server, shared by all workspaces and by every
/// process connected to it.
///
/// Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct QdrantServerIndex {
    client: Qdrant,
    url: String,
    collection: String,
    dimensions: usize,
}

impl fmt::Debug for QdrantServerIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QdrantServerIndex")
            .field("url", &self.url)
            .field("collection", &self.collection)
            .field("dimensions", &self.dimensions)
            .finish_non_exhaustive()
    }
}

impl QdrantServerIndex {
    /// Connects to the server and makes sure the collection is ready: created with its vectors
    /// and payload indexes if missing, checked against `dimensions` if not.
    ///
    /// Fails when the server cannot be reached, is older than Qdrant 1.16, or holds a collection
    /// of that name made for other vectors.
    pub async fn connect(options: QdrantServerOptions) -> Result<Self> {
        if options.dimensions == 0 {
            return Err(Error::ZeroDimensions);
        }
        let client = Qdrant::from_url(&options.url)
            .api_key(options.api_key)
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            // The client's own check blocks this thread on a runtime of its own and reports by
            // printing to stdout; `check_server_version` does the same asynchronously, and fails.
            .skip_compatibility_check()
            .build()
            .map_err(server("connect"))?;
        let index = Self {
            client,
            url: options.url,
            collection: options.collection,
            dimensions: options.dimensions,
        };
        index.check_server_version().await?;
        let info = index.ensure_collection().await?;
        index.check_collection(&info)?;
        index.ensure_payload_indexes(&info.payload_schema).await?;
        tracing::debug!(
            url = %index.url,
            collection = %index.collection,
            dimensions = index.dimensions,
            "vector index connected"
        );
        Ok(index)
    }

    /// Length of the dense vectors this index stores.
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    pub fn collection(&self) -> &str {
        &self.collection
    }

    async fn check_server_version(&self) -> Result<()> {
        let health = self
            .client
            .health_check()
            .await
            .map_err(server("health check"))?;
        match major_minor(&health.version) {
            Some(version) if version < MIN_SERVER_VERSION => Err(Error::ServerTooOld {
                version: health.version,
                required: MIN_SERVER_VERSION_TEXT,
            }),
            Some(_) => Ok(()),
            // A development build may report anything; the first hybrid query will tell.
            None => {
                tracing::warn!(version = %health.version, "unrecognised Qdrant server version");
                Ok(())
            }
        }
    }

    /// Returns the collection's description, creating the collection first if it is missing.
    async fn ensure_collection(&self) -> Result<CollectionInfo> {
        let exists = self
            .client
            .collection_exists(self.collection.as_str())
            .await
            .map_err(server("collection exists"))?;
        if !exists {
            if let Err(err) = self.create_collection().await {
                // Several processes starting together race to create it; losing the race is fine.
                let exists_now = self
                    .client
                    .collection_exists(self.collection.as_str())
                    .await
                    .map_err(server("collection exists"))?;
                if !exists_now {
                    return Err(err);
                }
            } else {
                tracing::info!(
                    collection = %self.collection,
                    dimensions = self.dimensions,
                    "qdrant collection created"
                );
            }
        }
        self.client
            .collection_info(self.collection.as_str())
            .await
            .map_err(server("collection info"))?
            .result
            .ok_or_else(|| self.foreign("the server returned no description of it"))
    }

    async fn create_collection(&self) -> Result<()> {
        let mut vectors = VectorsConfigBuilder::default();
        vectors.add_named_vector_params(
            DENSE,
            VectorParamsBuilder::new(self.dimensions as u64, Distance::Cosine),
        );
        // IDF is computed by the server over the stored points at query time, so ingestion only
        // sends term frequencies and the weights stay right as the corpus grows (as with Edge).
        let mut sparse = SparseVectorsConfigBuilder::default();
        sparse.add_named_vector_params(
            SPARSE,
            SparseVectorParamsBuilder::default().modifier(Modifier::Idf),
        );
        self.client
            .create_collection(
                CreateCollectionBuilder::new(self.collection.as_str())
                    .vectors_config(vectors)
                    .sparse_vectors_config(sparse),
            )
            .await
            .map_err(server("create collection"))?;
        Ok(())
    }

    /// Refuses a collection whose vectors Rapport's could not be compared with.
    fn check_collection(&self, info: &CollectionInfo) -> Result<()> {
        let params = info
            .config
            .as_ref()
            .and_then(|config| config.params.as_ref());
        let dense = match params
            .and_then(|params| params.vectors_config.as_ref())
            .and_then(|vectors| vectors.config.as_ref())
        {
            Some(VectorsConfigKind::ParamsMap(map)) => map.map.get(DENSE),
            _ => None,
        }
        .ok_or_else(|| self.foreign(format!("it has no dense vector named {DENSE:?}")))?;
        let stored = usize::try_from(dense.size).unwrap_or(usize::MAX);
        if stored != self.dimensions {
            return Err(Error::CollectionDimensionMismatch {
                collection: self.collection.clone(),
                stored,
                expected: self.dimensions,
            });
        }
        if dense.distance != Distance::Cosine as i32 {
            return Err(self.foreign(format!("its {DENSE:?} vector is not compared by cosine")));
        }
        let sparse = params
            .and_then(|params| params.sparse_vectors_config.as_ref())
            .and_then(|sparse| sparse.map.get(SPARSE))
            .ok_or_else(|| self.foreign(format!("it has no sparse vector named {SPARSE:?}")))?;
        if sparse.modifier != Some(Modifier::Idf as i32) {
            // Searches still work; lexical scores just ignore how rare a term is.
            tracing::warn!(
                collection = %self.collection,
                "the sparse vector of this qdrant collection has no IDF modifier"
            );
        }
        Ok(())
    }

    /// Creates the payload indexes the filters use, where missing; an existing one is kept.
    async fn ensure_payload_indexes(
        &self,
        existing: &HashMap<String, PayloadSchemaInfo>,
    ) -> Result<()> {
        for field in [WORKSPACE_ID, SOURCE_ID, DOCUMENT_ID] {
            if existing.contains_key(field) {
                continue;
            }
            // Only equality is ever asked of these ids. Every request filters by workspace
            // first, so the server lays out storage around it (`is_tenant`, which would also
            // co-locate each workspace's vectors, exists only for keyword and UUID fields).
            let params = IntegerIndexParamsBuilder::new(true, false)
                .is_principal(field == WORKSPACE_ID)
                .build();
            self.create_field_index(
                CreateFieldIndexCollectionBuilder::new(
                    self.collection.as_str(),
                    field,
                    FieldType::Integer,
                )
                .field_index_params(params),
            )
            .await?;
        }
        if !existing.contains_key(SOURCE_KIND) {
            self.create_field_index(CreateFieldIndexCollectionBuilder::new(
                self.collection.as_str(),
                SOURCE_KIND,
                FieldType::Keyword,
            ))
            .await?;
        }
        Ok(())
    }

    async fn create_field_index(&self, request: CreateFieldIndexCollectionBuilder) -> Result<()> {
        self.client
            .create_field_index(request.wait(true))
            .await
            .map_err(server("create payload index"))?;
        Ok(())
    }

    fn foreign(&self, reason: impl Into<String>) -> Error {
        Error::ForeignCollection {
            collection: self.collection.clone(),
            reason: reason.into(),
        }
    }

    async fn delete_by_filter(&self, filter: Filter) -> Result<()> {
        self.client
            .delete_points(
                DeletePointsBuilder::new(self.collection.as_str())
                    .points(filter)
                    .wait(true),
            )
            .await
            .map_err(server("delete"))?;
        Ok(())
    }
}

fn server(operation: &'static str) -> impl FnOnce(QdrantError) -> Error {
    move |source| Error::Server {
        operation,
        source: Box::new(source),
    }
}

/// `(major, minor)` of a version such as `1.16.2` or `v1.17.0-dev`.
fn major_minor(version: &str) -> Option<(u64, u64)> {
    let mut parts = version.trim().trim_start_matches('v').split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts
        .next()?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some((major, minor))
}

fn equals(field: &str, value: i64) -> Condition {
    Condition::matches(field, value)
}

fn workspace_filter(
    workspace_id: WorkspaceId,
    sources: Option<&[SourceId]>,
    kinds: Option<&[SourceKind]>,
) -> Filter {
    let mut conditions = vec![equals(WORKSPACE_ID, workspace_id.0)];
    if let Some(sources) = sources {
        let ids: Vec<i64> = sources.iter().map(|source| source.0).collect();
        conditions.push(Condition::matches(SOURCE_ID, ids));
    }
    if let Some(kinds) = kinds {
        // A list always matches as keywords; a single string with a space would become a
        // full-text match.
        let kinds: Vec<String> = kinds.iter().map(|kind| kind.as_str().to_owned()).collect();
        conditions.push(Condition::matches(SOURCE_KIND, kinds));
    }
    Filter::must(conditions)
}

fn point_id(chunk_id: ChunkId) -> Result<PointId> {
    u64::try_from(chunk_id.0)
        .map(PointId::from)
        .map_err(|_| Error::NegativeChunkId(chunk_id.0))
}

fn chunk_id(point_id: Option<PointId>) -> Result<ChunkId> {
    match point_id.and_then(|id| id.point_id_options) {
        Some(PointIdOptions::Num(id)) => i64::try_from(id)
            .map(ChunkId)
            .map_err(|_| Error::ForeignPointId(id.to_string())),
        Some(PointIdOptions::Uuid(uuid)) => Err(Error::ForeignPointId(uuid)),
        None => Err(Error::ForeignPointId("(none)".to_owned())),
    }
}

/// `None` for an empty vector: a chunk or query without lexical terms simply has no sparse side.
/// Checked here, as Edge checks it, so a malformed vector fails the same way on either backend.
fn sparse_vector(sparse: ports::SparseVector) -> Result<Option<ports::SparseVector>> {
    if sparse.indices.is_empty() {
        return Ok(None);
    }
    if sparse.indices.len() != sparse.values.len() {
        return Err(Error::InvalidSparse(format!(
            "{} indices but {} values",
            sparse.indices.len(),
            sparse.values.len()
        )));
    }
    let mut seen = HashSet::with_capacity(sparse.indices.len());
    if let Some(index) = sparse.indices.iter().find(|index| !seen.insert(**index)) {
        return Err(Error::InvalidSparse(format!("index {index} appears twice")));
    }
    Ok(Some(sparse))
}

fn to_point(point: IndexPoint, dimensions: usize) -> Result<PointStruct> {
    if point.dense.len() != dimensions {
        return Err(Error::WrongLength {
            chunk: point.chunk_id.0,
            actual: point.dense.len(),
            expected: dimensions,
        });
    }
    let id = point_id(point.chunk_id)?;
    let mut vectors = NamedVectors::default().add_vector(DENSE, point.dense);
    if let Some(sparse) = point.sparse.map(sparse_vector).transpose()?.flatten() {
        vectors = vectors.add_vector(SPARSE, Vector::new_sparse(sparse.indices, sparse.values));
    }
    let payload = Payload::from([
        (WORKSPACE_ID, Value::from(point.workspace_id.0)),
        (SOURCE_ID, Value::from(point.source_id.0)),
        (DOCUMENT_ID, Value::from(point.document_id.0)),
        (SOURCE_KIND, Value::from(point.source_kind.as_str())),
    ]);
    Ok(PointStruct::new(id, vectors, payload))
}

fn nearest_dense(dense: Vec<f32>) -> Query {
    Query::new_nearest(VectorInput::new_dense(dense))
}

fn nearest_sparse(sparse: ports::SparseVector) -> Query {
    Query::new_nearest(VectorInput::new_sparse(sparse.indices, sparse.values))
}

/// `None` when the query cannot match anything (a sparse search without lexical terms).
fn query_points(
    collection: &str,
    query: IndexQuery,
    dimensions: usize,
) -> Result<Option<QueryPoints>> {
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
    let filter = workspace_filter(
        query.workspace_id,
        query.source_ids.as_deref(),
        query.source_kinds.as_deref(),
    );
    let request = QueryPointsBuilder::new(collection)
        .filter(filter.clone())
        .limit(query.limit as u64)
        .with_payload(false)
        .with_vectors(false);
    let request = match (query.mode, sparse) {
        (SearchMode::Sparse, None) => return Ok(None),
        (SearchMode::Sparse, Some(sparse)) => request.query(nearest_sparse(sparse)).using(SPARSE),
        (_, None) => request.query(nearest_dense(query.dense)).using(DENSE),
        (_, Some(sparse)) => {
            let candidates = query
                .limit
                .saturating_mul(CANDIDATES_PER_HIT)
                .max(MIN_CANDIDATES) as u64;
            // The server propagates the root filter into prefetches; it is repeated on each so
            // that neither side of a hybrid search could surface another workspace's chunk even
            // if that ever changed.
            request
                .add_prefetch(
                    PrefetchQueryBuilder::default()
                        .query(nearest_dense(query.dense))
                        .using(DENSE)
                        .filter(filter.clone())
                        .limit(candidates),
                )
                .add_prefetch(
                    PrefetchQueryBuilder::default()
                        .query(nearest_sparse(sparse))
                        .using(SPARSE)
                        .filter(filter)
                        .limit(candidates),
                )
                .query(Query::new_rrf(RrfBuilder::with_k(RRF_K)))
        }
    };
    Ok(Some(request.build()))
}

fn to_hit(point: ScoredPoint) -> Result<IndexHit> {
    Ok(IndexHit {
        chunk_id: chunk_id(point.id)?,
        score: point.score,
    })
}

#[async_trait]
impl VectorIndex for QdrantServerIndex {
    async fn upsert(&self, points: Vec<IndexPoint>) -> rapport_core::Result<()> {
        let mut points = points
            .into_iter()
            .map(|point| to_point(point, self.dimensions))
            .collect::<Result<Vec<_>>>()?;
        // Every point is converted before the first request, so a malformed one writes nothing.
        // A failure between requests leaves the earlier ones written; upserting by chunk id makes
        // a retry of the whole batch harmless.
        while !points.is_empty() {
            let rest = points.split_off(points.len().min(UPSERT_CHUNK));
            self.client
                .upsert_points(
                    UpsertPointsBuilder::new(self.collection.as_str(), points).wait(true),
                )
                .await
                .map_err(server("upsert"))?;
            points = rest;
        }
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
        self.client
            .delete_points(
                DeletePointsBuilder::new(self.collection.as_str())
                    .points(PointsIdsList { ids })
                    .wait(true),
            )
            .await
            .map_err(server("delete"))?;
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
        self.delete_by_filter(Filter::must([
            equals(WORKSPACE_ID, workspace_id.0),
            Condition::matches(DOCUMENT_ID, ids),
        ]))
        .await?;
        Ok(())
    }

    async fn delete_source(
        &self,
        workspace_id: WorkspaceId,
        source_id: SourceId,
    ) -> rapport_core::Result<()> {
        self.delete_by_filter(Filter::must([
            equals(WORKSPACE_ID, workspace_id.0),
            equals(SOURCE_ID, source_id.0),
        ]))
        .await?;
        Ok(())
    }

    async fn search(&self, query: IndexQuery) -> rapport_core::Result<Vec<IndexHit>> {
        // An explicit empty list of sources or kinds narrows the search to nothing.
        if query.limit == 0
            || query.source_ids.as_ref().is_some_and(Vec::is_empty)
            || query.source_kinds.as_ref().is_some_and(Vec::is_empty)
        {
            return Ok(Vec::new());
        }
        let Some(request) = query_points(&self.collection, query, self.dimensions)? else {
            return Ok(Vec::new());
        };
        let response = self.client.query(request).await.map_err(server("search"))?;
        Ok(response
            .result
            .into_iter()
            .map(to_hit)
            .collect::<Result<Vec<_>>>()?)
    }

    async fn count(&self, workspace_id: WorkspaceId) -> rapport_core::Result<u64> {
        let response = self
            .client
            .count(
                CountPointsBuilder::new(self.collection.as_str())
                    .filter(workspace_filter(workspace_id, None, None))
                    .exact(true),
            )
            .await
            .map_err(server("count"))?;
        Ok(response.result.map_or(0, |result| result.count))
    }

    async fn check(&self) -> rapport_core::Result<()> {
        // Collection info rather than the server's health check: a server that is up but has
        // lost the collection (deleted, or a fresh node without it) cannot serve a search.
        self.client
            .collection_info(self.collection.as_str())
            .await
            .map_err(server("check"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_leniently() {
        assert_eq!(major_minor("1.16.0"), Some((1, 16)));
        assert_eq!(major_minor("v1.17.2-dev"), Some((1, 17)));
        assert_eq!(major_minor("1.9"), Some((1, 9)));
        assert_eq!(major_minor("dev"), None);
        assert!(major_minor("1.15.5").is_some_and(|version| version < MIN_SERVER_VERSION));
    }

    #[test]
    fn malformed_sparse_vectors_are_refused() {
        let sparse = |indices: Vec<u32>, values: Vec<f32>| ports::SparseVector { indices, values };
        assert!(matches!(sparse_vector(sparse(vec![], vec![])), Ok(None)));
        assert!(matches!(
            sparse_vector(sparse(vec![1, 2], vec![1.0])),
            Err(Error::InvalidSparse(_))
        ));
        assert!(matches!(
            sparse_vector(sparse(vec![3, 1, 3], vec![1.0; 3])),
            Err(Error::InvalidSparse(_))
        ));
        assert!(matches!(
            sparse_vector(sparse(vec![3, 1], vec![1.0; 2])),
            Ok(Some(_))
        ));
    }

    #[test]
    fn negative_chunk_ids_have_no_point_id() {
        assert!(matches!(
            point_id(ChunkId(-1)),
            Err(Error::NegativeChunkId(-1))
        ));
        assert_eq!(
            chunk_id(Some(point_id(ChunkId(7)).unwrap())).unwrap(),
            ChunkId(7)
        );
        assert!(matches!(
            chunk_id(Some(PointId::from(u64::MAX))),
            Err(Error::ForeignPointId(_))
        ));
    }

    #[test]
    fn hybrid_query_fuses_two_filtered_prefetches_with_k_60() {
        let query = IndexQuery {
            source_ids: Some(vec![SourceId(10)]),
            ..IndexQuery::new(
                WorkspaceId(1),
                vec![1.0, 0.0],
                Some(ports::SparseVector {
                    indices: vec![42],
                    values: vec![1.0],
                }),
                5,
            )
        };
        let request = query_points("c", query, 2).unwrap().unwrap();
        assert_eq!(request.limit, Some(5));
        assert_eq!(request.prefetch.len(), 2);
        assert!(request.prefetch.iter().all(|prefetch| {
            prefetch.filter == request.filter && prefetch.limit == Some(MIN_CANDIDATES as u64)
        }));
        assert_eq!(
            request.query,
            Some(Query::new_rrf(RrfBuilder::with_k(RRF_K)))
        );
    }

    #[test]
    fn sparse_query_without_terms_asks_nothing() {
        let query = IndexQuery {
            mode: SearchMode::Sparse,
            ..IndexQuery::new(WorkspaceId(1), Vec::new(), None, 5)
        };
        assert!(query_points("c", query, 2).unwrap().is_none());
    }

    #[test]
    fn debug_output_hides_the_api_key() {
        let options = QdrantServerOptions {
            api_key: Some("secret-key".to_owned()),
            ..QdrantServerOptions::default()
        };
        let debug = format!("{options:?}");
        assert!(!debug.contains("secret-key"), "{debug}");
        assert!(debug.contains("redacted"), "{debug}");
    }
}
