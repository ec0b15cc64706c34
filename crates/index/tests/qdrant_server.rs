//! The Qdrant server backend through the port, on the same small hand-made 8-dimension vectors as
//! `edge_index.rs`, so both backends are held to the same behaviour.
//!
//! Most tests need a running server and read its gRPC address from `QDRANT_URL` (and an API key
//! from `QDRANT_API_KEY`, if set). Without it they say so on stderr and pass, so a developer
//! without Docker can still run the suite. Each test works in a fresh collection of its own, which
//! is dropped when the test ends, pass or fail.

use std::io::Write as _;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use qdrant_client::Qdrant;
use rapport_core::domain::SourceKind;
use rapport_core::ids::{ChunkId, DocumentId, SourceId, WorkspaceId};
use rapport_core::ports::{
    IndexHit, IndexPoint, IndexQuery, SearchMode, SparseVector, VectorIndex,
};
use rapport_index::{Error, QdrantServerIndex, QdrantServerOptions};

const DIMS: usize = 8;
const WS: WorkspaceId = WorkspaceId(1);
const OTHER_WS: WorkspaceId = WorkspaceId(2);

const URL_VAR: &str = "QDRANT_URL";
const API_KEY_VAR: &str = "QDRANT_API_KEY";

/// A connected index in a collection of its own, dropped from the server with the fixture.
struct Server {
    index: QdrantServerIndex,
    options: QdrantServerOptions,
}

impl Server {
    /// `None`, after a notice on stderr, when no server is configured.
    async fn start() -> Option<Self> {
        let options = options()?;
        let index = QdrantServerIndex::connect(options.clone())
            .await
            .expect("connect to the Qdrant server in QDRANT_URL");
        Some(Self { index, options })
    }

    /// Another process's view of the same collection.
    async fn connect_again(&self, dimensions: usize) -> rapport_index::Result<QdrantServerIndex> {
        QdrantServerIndex::connect(QdrantServerOptions {
            dimensions,
            ..self.options.clone()
        })
        .await
    }

    async fn drop_collection(&self) {
        client(&self.options)
            .delete_collection(self.options.collection.as_str())
            .await
            .expect("drop test collection");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be the one this thread is running; a
        // runtime of its own on another thread removes the collection even after a panic.
        let options = self.options.clone();
        let removed = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime")
                .block_on(async {
                    client(&options)
                        .delete_collection(options.collection.as_str())
                        .await
                })
        })
        .join();
        if !matches!(removed, Ok(Ok(_))) {
            eprintln!(
                "could not drop test collection {}: {removed:?}",
                self.options.collection
            );
        }
    }
}

fn options() -> Option<QdrantServerOptions> {
    let Some(url) = std::env::var(URL_VAR).ok().filter(|url| !url.is_empty()) else {
        skipped();
        return None;
    };
    Some(QdrantServerOptions {
        url,
        api_key: std::env::var(API_KEY_VAR)
            .ok()
            .filter(|key| !key.is_empty()),
        collection: unique_collection(),
        dimensions: DIMS,
        timeout: Duration::from_secs(30),
    })
}

/// Says that the test did not run. `eprintln!` is captured by the test harness and shown only
/// for a failing test, so the first notice of the run goes to stderr directly, where a passing
/// run still shows it; the rest stay captured, one per skipped test.
fn skipped() {
    const NOTICE: &str = "SKIPPED: Qdrant server tests need QDRANT_URL (e.g. http://localhost:6334); \
                          only the Edge half of the index suite ran";
    static LOUD: Once = Once::new();
    let mut shown = false;
    LOUD.call_once(|| {
        shown = writeln!(std::io::stderr(), "\n{NOTICE}\n").is_ok();
    });
    if !shown {
        eprintln!("{NOTICE}");
    }
}

/// Unique across the tests of this run and across runs sharing a server.
fn unique_collection() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    format!(
        "rapport_test_{}_{nanos}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn client(options: &QdrantServerOptions) -> Qdrant {
    Qdrant::from_url(&options.url)
        .api_key(options.api_key.clone())
        .skip_compatibility_check()
        .build()
        .expect("qdrant client")
}

/// A unit vector along `axis`, tilted slightly towards the next axis by `tilt`.
fn axis(axis: usize, tilt: f32) -> Vec<f32> {
    let mut v = vec![0.0; DIMS];
    v[axis % DIMS] = 1.0;
    v[(axis + 1) % DIMS] = tilt;
    v
}

fn point(chunk: i64, workspace: WorkspaceId, dense: Vec<f32>) -> IndexPoint {
    IndexPoint {
        chunk_id: ChunkId(chunk),
        workspace_id: workspace,
        source_id: SourceId(10),
        document_id: DocumentId(100),
        source_kind: SourceKind::Articles,
        dense,
        sparse: None,
    }
}

fn query(workspace: WorkspaceId, dense: Vec<f32>) -> IndexQuery {
    IndexQuery::new(workspace, dense, None, 10)
}

fn sparse(terms: &[(u32, f32)]) -> SparseVector {
    SparseVector {
        indices: terms.iter().map(|(index, _)| *index).collect(),
        values: terms.iter().map(|(_, value)| *value).collect(),
    }
}

fn ids(hits: &[IndexHit]) -> Vec<i64> {
    hits.iter().map(|hit| hit.chunk_id.0).collect()
}

#[tokio::test]
async fn nearest_vector_ranks_first() {
    let Some(server) = Server::start().await else {
        return;
    };
    let index: &dyn VectorIndex = &server.index;
    index
        .upsert(vec![
            point(1, WS, axis(0, 0.0)),
            point(2, WS, axis(0, 0.5)),
            point(3, WS, axis(3, 0.0)),
            point(4, WS, axis(0, 2.0)),
        ])
        .await
        .expect("upsert");

    let hits = index.search(query(WS, axis(0, 0.1))).await.expect("search");

    assert_eq!(ids(&hits), vec![1, 2, 4, 3]);
    assert!(hits.windows(2).all(|pair| pair[0].score >= pair[1].score));
    assert!(
        (hits[0].score - 0.995).abs() < 0.01,
        "cosine score {}",
        hits[0].score
    );
}

#[tokio::test]
async fn search_respects_the_limit() {
    let Some(server) = Server::start().await else {
        return;
    };
    let index: &dyn VectorIndex = &server.index;
    let points = (1..=20)
        .map(|chunk| point(chunk, WS, axis(chunk as usize, 0.3)))
        .collect();
    index.upsert(points).await.expect("upsert");

    let hits = index
        .search(IndexQuery {
            limit: 3,
            ..query(WS, axis(0, 0.0))
        })
        .await
        .expect("search");

    assert_eq!(hits.len(), 3);
}

#[tokio::test]
async fn search_never_returns_points_of_another_workspace() {
    let Some(server) = Server::start().await else {
        return;
    };
    let index: &dyn VectorIndex = &server.index;
    // The other workspace holds the exact query vector; ours only a poor match.
    index
        .upsert(vec![
            point(1, OTHER_WS, axis(0, 0.0)),
            point(2, OTHER_WS, axis(0, 0.1)),
            point(3, WS, axis(5, 0.0)),
        ])
        .await
        .expect("upsert");

    let hits = index.search(query(WS, axis(0, 0.0))).await.expect("search");
    assert_eq!(ids(&hits), vec![3]);

    let sparse_hits = index
        .search(IndexQuery {
            sparse: Some(sparse(&[(7, 1.0)])),
            ..query(WS, axis(0, 0.0))
        })
        .await
        .expect("hybrid search");
    assert_eq!(ids(&sparse_hits), vec![3]);

    let empty = index
        .search(query(WorkspaceId(3), axis(0, 0.0)))
        .await
        .expect("search");
    assert!(empty.is_empty());
}

#[tokio::test]
async fn search_can_be_narrowed_to_some_sources() {
    let Some(server) = Server::start().await else {
        return;
    };
    let index: &dyn VectorIndex = &server.index;
    let in_source = |chunk, source| IndexPoint {
        source_id: SourceId(source),
        ..point(chunk, WS, axis(0, chunk as f32 / 10.0))
    };
    index
        .upsert(vec![in_source(1, 10), in_source(2, 20), in_source(3, 30)])
        .await
        .expect("upsert");

    let hits = index
        .search(IndexQuery {
            source_ids: Some(vec![SourceId(20), SourceId(30)]),
            ..query(WS, axis(0, 0.0))
        })
        .await
        .expect("search");
    assert_eq!(ids(&hits), vec![2, 3]);

    let none = index
        .search(IndexQuery {
            source_ids: Some(Vec::new()),
            ..query(WS, axis(0, 0.0))
        })
        .await
        .expect("search");
    assert!(none.is_empty());
}

#[tokio::test]
async fn search_narrowed_to_kinds_returns_only_those_kinds() {
    let Some(server) = Server::start().await else {
        return;
    };
    let index: &dyn VectorIndex = &server.index;
    let of_kind = |chunk, kind| IndexPoint {
        source_kind: kind,
        ..point(chunk, WS, axis(0, chunk as f32 / 10.0))
    };
    index
        .upsert(vec![
            of_kind(1, SourceKind::Web),
            of_kind(2, SourceKind::Snippets),
            of_kind(3, SourceKind::Files),
        ])
        .await
        .expect("upsert");

    let hits = index
        .search(IndexQuery {
            source_kinds: Some(vec![SourceKind::Snippets, SourceKind::Files]),
            ..query(WS, axis(0, 0.0))
        })
        .await
        .expect("search");
    assert_eq!(ids(&hits), vec![2, 3]);

    let none = index
        .search(IndexQuery {
            source_kinds: Some(Vec::new()),
            ..query(WS, axis(0, 0.0))
        })
        .await
        .expect("search");
    assert!(none.is_empty());
}

#[tokio::test]
async fn sparse_match_lifts_a_lexical_hit() {
    let Some(server) = Server::start().await else {
        return;
    };
    let index: &dyn VectorIndex = &server.index;
    // Dense ranks 1..5 in order; only chunk 5 contains the query's term 42 (an error code, say,
    // that the embedding model blurs).
    let mut points: Vec<IndexPoint> = (1..=5)
        .map(|chunk| IndexPoint {
            sparse: Some(sparse(&[(chunk as u32 + 100, 1.0)])),
            ..point(chunk, WS, axis(0, chunk as f32 / 4.0))
        })
        .collect();
    points[4].sparse = Some(sparse(&[(105, 1.0), (42, 2.0)]));
    index.upsert(points).await.expect("upsert");

    let dense_only = index.search(query(WS, axis(0, 0.0))).await.expect("search");
    assert_eq!(dense_only[0].chunk_id, ChunkId(1));
    assert_eq!(dense_only.last().map(|hit| hit.chunk_id), Some(ChunkId(5)));

    let hybrid = index
        .search(IndexQuery {
            sparse: Some(sparse(&[(42, 1.0), (7, 1.0)])),
            ..query(WS, axis(0, 0.0))
        })
        .await
        .expect("hybrid search");
    assert_eq!(hybrid[0].chunk_id, ChunkId(5), "{hybrid:?}");
    assert_eq!(hybrid.len(), 5);
}

#[tokio::test]
async fn empty_sparse_query_searches_dense_only() {
    let Some(server) = Server::start().await else {
        return;
    };
    let index: &dyn VectorIndex = &server.index;
    index
        .upsert(vec![point(1, WS, axis(0, 0.0)), point(2, WS, axis(2, 0.0))])
        .await
        .expect("upsert");

    let hits = index
        .search(IndexQuery {
            sparse: Some(SparseVector::default()),
            ..query(WS, axis(0, 0.0))
        })
        .await
        .expect("search");
    assert_eq!(ids(&hits), vec![1, 2]);
    assert!(
        hits[0].score > 0.99,
        "dense score, not a fused rank: {}",
        hits[0].score
    );
}

#[tokio::test]
async fn sparse_mode_ranks_by_terms_alone_and_dense_mode_ignores_them() {
    let Some(server) = Server::start().await else {
        return;
    };
    let index: &dyn VectorIndex = &server.index;
    index
        .upsert(vec![
            // Nearest by meaning, but without the word.
            point(1, WS, axis(0, 0.0)),
            IndexPoint {
                sparse: Some(sparse(&[(42, 1.0)])),
                ..point(2, WS, axis(5, 0.0))
            },
        ])
        .await
        .expect("upsert");

    let lexical = index
        .search(IndexQuery {
            mode: SearchMode::Sparse,
            dense: Vec::new(),
            sparse: Some(sparse(&[(42, 1.0)])),
            ..query(WS, Vec::new())
        })
        .await
        .expect("sparse search");
    assert_eq!(ids(&lexical), vec![2]);

    let no_terms = index
        .search(IndexQuery {
            mode: SearchMode::Sparse,
            ..query(WS, Vec::new())
        })
        .await
        .expect("sparse search without terms");
    assert!(no_terms.is_empty());

    let dense = index
        .search(IndexQuery {
            mode: SearchMode::Dense,
            sparse: Some(sparse(&[(42, 1.0)])),
            ..query(WS, axis(0, 0.0))
        })
        .await
        .expect("dense search");
    assert_eq!(ids(&dense)[0], 1);
}

#[tokio::test]
async fn deleted_document_disappears_from_search() {
    let Some(server) = Server::start().await else {
        return;
    };
    let index: &dyn VectorIndex = &server.index;
    let in_document = |chunk, workspace, document| IndexPoint {
        document_id: DocumentId(document),
        ..point(chunk, workspace, axis(0, chunk as f32 / 10.0))
    };
    index
        .upsert(vec![
            in_document(1, WS, 100),
            in_document(2, WS, 100),
            in_document(3, WS, 200),
            // Same document id in another workspace: must survive.
            in_document(4, OTHER_WS, 100),
        ])
        .await
        .expect("upsert");

    index
        .delete_document(WS, DocumentId(100))
        .await
        .expect("delete");

    let hits = index.search(query(WS, axis(0, 0.0))).await.expect("search");
    assert_eq!(ids(&hits), vec![3]);
    assert_eq!(index.count(WS).await.expect("count"), 1);
    assert_eq!(index.count(OTHER_WS).await.expect("count"), 1);
}

#[tokio::test]
async fn deleting_documents_removes_all_their_points_and_only_theirs() {
    let Some(server) = Server::start().await else {
        return;
    };
    let index: &dyn VectorIndex = &server.index;
    let in_document = |chunk, document| IndexPoint {
        document_id: DocumentId(document),
        ..point(chunk, WS, axis(0, chunk as f32 / 10.0))
    };
    index
        .upsert(vec![
            in_document(1, 100),
            in_document(2, 200),
            in_document(3, 200),
            in_document(4, 300),
        ])
        .await
        .expect("upsert");

    index
        .delete_documents(WS, &[DocumentId(100), DocumentId(200)])
        .await
        .expect("delete");
    let hits = index.search(query(WS, axis(0, 0.0))).await.expect("search");
    assert_eq!(ids(&hits), vec![4]);
    index.delete_documents(WS, &[]).await.expect("empty delete");
}

#[tokio::test]
async fn deleted_source_disappears_from_search() {
    let Some(server) = Server::start().await else {
        return;
    };
    let index: &dyn VectorIndex = &server.index;
    let in_source = |chunk, workspace, source| IndexPoint {
        source_id: SourceId(source),
        ..point(chunk, workspace, axis(0, chunk as f32 / 10.0))
    };
    index
        .upsert(vec![
            in_source(1, WS, 10),
            in_source(2, WS, 20),
            in_source(3, OTHER_WS, 10),
        ])
        .await
        .expect("upsert");

    index.delete_source(WS, SourceId(10)).await.expect("delete");

    let hits = index.search(query(WS, axis(0, 0.0))).await.expect("search");
    assert_eq!(ids(&hits), vec![2]);
    assert_eq!(index.count(OTHER_WS).await.expect("count"), 1);
}

#[tokio::test]
async fn deleted_chunks_disappear_from_search() {
    let Some(server) = Server::start().await else {
        return;
    };
    let index: &dyn VectorIndex = &server.index;
    index
        .upsert(vec![
            point(1, WS, axis(0, 0.0)),
            point(2, WS, axis(0, 0.2)),
            point(3, WS, axis(0, 0.4)),
        ])
        .await
        .expect("upsert");

    index
        .delete_chunks(&[ChunkId(1), ChunkId(3), ChunkId(99)])
        .await
        .expect("delete");

    let hits = index.search(query(WS, axis(0, 0.0))).await.expect("search");
    assert_eq!(ids(&hits), vec![2]);
}

#[tokio::test]
async fn upsert_of_same_chunk_replaces_it() {
    let Some(server) = Server::start().await else {
        return;
    };
    let index: &dyn VectorIndex = &server.index;
    index
        .upsert(vec![point(1, WS, axis(0, 0.0)), point(2, WS, axis(4, 0.0))])
        .await
        .expect("upsert");

    // Chunk 1 is re-embedded after an edit and moves to another document.
    index
        .upsert(vec![IndexPoint {
            document_id: DocumentId(300),
            ..point(1, WS, axis(4, 0.1))
        }])
        .await
        .expect("re-upsert");

    assert_eq!(index.count(WS).await.expect("count"), 2);
    let near_new = index.search(query(WS, axis(4, 0.1))).await.expect("search");
    assert_eq!(ids(&near_new), vec![1, 2]);
    assert!(near_new[0].score > 0.99);

    // The payload was replaced too: deleting the old document leaves it, the new one removes it.
    index
        .delete_document(WS, DocumentId(100))
        .await
        .expect("delete");
    assert_eq!(
        ids(&index.search(query(WS, axis(4, 0.1))).await.expect("search")),
        vec![1]
    );
    index
        .delete_document(WS, DocumentId(300))
        .await
        .expect("delete");
    assert_eq!(index.count(WS).await.expect("count"), 0);
}

#[tokio::test]
async fn count_is_per_workspace() {
    let Some(server) = Server::start().await else {
        return;
    };
    let index: &dyn VectorIndex = &server.index;
    index
        .upsert(vec![
            point(1, WS, axis(0, 0.0)),
            point(2, WS, axis(1, 0.0)),
            point(3, OTHER_WS, axis(2, 0.0)),
        ])
        .await
        .expect("upsert");

    assert_eq!(index.count(WS).await.expect("count"), 2);
    assert_eq!(index.count(OTHER_WS).await.expect("count"), 1);
    assert_eq!(index.count(WorkspaceId(3)).await.expect("count"), 0);
}

#[tokio::test]
async fn vector_of_the_wrong_length_is_rejected() {
    let Some(server) = Server::start().await else {
        return;
    };
    let index: &dyn VectorIndex = &server.index;
    let err = index
        .upsert(vec![point(1, WS, vec![1.0; DIMS + 1])])
        .await
        .expect_err("wrong length");
    assert!(matches!(err, rapport_core::Error::Index(_)), "{err}");

    let err = index
        .search(query(WS, vec![1.0; 3]))
        .await
        .expect_err("wrong query length");
    assert!(matches!(err, rapport_core::Error::Index(_)), "{err}");
    assert_eq!(index.count(WS).await.expect("count"), 0);
}

#[tokio::test]
async fn negative_chunk_id_is_rejected() {
    let Some(server) = Server::start().await else {
        return;
    };
    let index: &dyn VectorIndex = &server.index;
    let err = index
        .upsert(vec![point(-1, WS, axis(0, 0.0))])
        .await
        .expect_err("negative id");
    assert!(err.to_string().contains("negative"), "{err}");
}

#[tokio::test]
async fn optimize_keeps_search_results() {
    let Some(server) = Server::start().await else {
        return;
    };
    let index: &dyn VectorIndex = &server.index;
    let points = (1..=50)
        .map(|chunk| point(chunk, WS, axis(chunk as usize, chunk as f32 / 50.0)))
        .collect();
    index.upsert(points).await.expect("upsert");

    let before = index.search(query(WS, axis(3, 0.0))).await.expect("search");
    index.optimize().await.expect("optimize");
    let after = index.search(query(WS, axis(3, 0.0))).await.expect("search");

    assert_eq!(ids(&before), ids(&after));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_and_searches_do_not_interfere() {
    let Some(server) = Server::start().await else {
        return;
    };
    let mut tasks = Vec::new();
    for batch in 0..8_i64 {
        let index = server.index.clone();
        tasks.push(tokio::spawn(async move {
            let points = (0..25)
                .map(|i| {
                    let chunk = batch * 100 + i + 1;
                    point(chunk, WS, axis(chunk as usize, 0.5))
                })
                .collect();
            index.upsert(points).await.expect("upsert");
            index.search(query(WS, axis(0, 0.0))).await.expect("search");
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    assert_eq!(server.index.count(WS).await.expect("count"), 200);
}

/// The point of the server backend: processes that connect to one collection see each other's
/// writes, where a second Edge index on the same directory is refused.
#[tokio::test]
async fn second_connection_shares_the_collection() {
    let Some(server) = Server::start().await else {
        return;
    };
    let other = server.connect_again(DIMS).await.expect("second connection");
    server
        .index
        .upsert(vec![IndexPoint {
            sparse: Some(sparse(&[(42, 1.0)])),
            ..point(1, WS, axis(0, 0.0))
        }])
        .await
        .expect("upsert");

    assert_eq!(other.count(WS).await.expect("count"), 1);
    let hits = other
        .search(IndexQuery {
            sparse: Some(sparse(&[(42, 1.0)])),
            ..query(WS, axis(0, 0.0))
        })
        .await
        .expect("search");
    assert_eq!(ids(&hits), vec![1]);

    other.delete_chunks(&[ChunkId(1)]).await.expect("delete");
    assert_eq!(server.index.count(WS).await.expect("count"), 0);
}

#[tokio::test]
async fn reconnecting_with_other_dimensions_is_refused() {
    let Some(server) = Server::start().await else {
        return;
    };
    let err = server
        .connect_again(16)
        .await
        .expect_err("dimensions changed");
    assert!(
        matches!(
            err,
            Error::CollectionDimensionMismatch {
                stored: 8,
                expected: 16,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn check_passes_on_an_empty_index_and_fails_once_its_collection_is_gone() {
    let Some(server) = Server::start().await else {
        return;
    };
    server.index.check().await.expect("check");

    server.drop_collection().await;
    assert!(server.index.check().await.is_err());
    // Reconnecting creates it afresh, as on first start.
    server.connect_again(DIMS).await.expect("reconnect");
    server.index.check().await.expect("check after reconnect");
}

// These need no server.

#[tokio::test]
async fn unreachable_server_fails_to_connect() {
    // Port 1 on the loopback: nothing listens there, so the connection is refused at once.
    let err = QdrantServerIndex::connect(QdrantServerOptions {
        timeout: Duration::from_secs(5),
        ..QdrantServerOptions::new("http://127.0.0.1:1", DIMS)
    })
    .await
    .expect_err("nothing listens there");
    assert!(matches!(err, Error::Server { .. }), "{err}");
}

#[tokio::test]
async fn zero_dimensions_are_refused_before_connecting() {
    let err = QdrantServerIndex::connect(QdrantServerOptions::new("http://127.0.0.1:1", 0))
        .await
        .expect_err("zero dimensions");
    assert!(matches!(err, Error::ZeroDimensions), "{err}");
}

#[test]
fn options_default_to_the_local_server_and_rapport_collection() {
    let options = QdrantServerOptions::default();
    assert_eq!(options.url, "http://localhost:6334");
    assert_eq!(options.collection, "rapport_chunks");
    assert_eq!(options.dimensions, 384);
    assert!(options.api_key.is_none());
}
