//! The behaviour every `VectorIndex` backend owes the port, written once on small hand-made
//! 8-dimension vectors, and the helpers to build them.
//!
//! Each backend's test file does `mod suite;` and calls [`behaviour_tests!`] with its own fixture:
//! one `#[tokio::test]` per behaviour below, named after it, each on a fresh, empty index.
//! Backend-specific tests (reopening, locking, reconnecting…) stay in the backend's own file.

use rapport_core::domain::SourceKind;
use rapport_core::ids::{ChunkId, DocumentId, SourceId, WorkspaceId};
use rapport_core::ports::{
    IndexHit, IndexPoint, IndexQuery, SearchMode, SparseVector, VectorIndex,
};

pub const DIMS: usize = 8;
pub const WS: WorkspaceId = WorkspaceId(1);
pub const OTHER_WS: WorkspaceId = WorkspaceId(2);

/// One `#[tokio::test]` per shared behaviour, each on a fixture of its own:
///
/// ```ignore
/// suite::behaviour_tests!(let Some(server) = Server::start().await; &server.index);
/// ```
///
/// The first part binds a fresh fixture, or returns (the test passes) when it is `None`; the
/// fixture lives to the end of the test, so a guard in it cleans up even after a panic. The
/// second part borrows the index from it.
macro_rules! behaviour_tests {
    (let Some($fixture:pat) = $start:expr; $index:expr) => {
        $crate::suite::behaviour_tests!(@each ($fixture) ($start) ($index);
            nearest_vector_ranks_first,
            search_respects_the_limit,
            search_never_returns_points_of_another_workspace,
            search_can_be_narrowed_to_some_sources,
            search_narrowed_to_kinds_returns_only_those_kinds,
            sparse_match_lifts_a_lexical_hit,
            empty_sparse_query_searches_dense_only,
            sparse_mode_ranks_by_terms_alone_and_dense_mode_ignores_them,
            deleted_document_disappears_from_search,
            deleting_documents_removes_all_their_points_and_only_theirs,
            deleted_source_disappears_from_search,
            deleted_chunks_disappear_from_search,
            upsert_of_same_chunk_replaces_it,
            count_is_per_workspace,
            vector_of_the_wrong_length_is_rejected,
            negative_chunk_id_is_rejected,
            optimize_keeps_search_results,
        );

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn concurrent_writes_and_searches_do_not_interfere() {
            let Some($fixture) = $start else {
                return;
            };
            $crate::suite::concurrent_writes_and_searches_do_not_interfere($index).await;
        }
    };
    (@each ($fixture:pat) ($start:expr) ($index:expr); $($behaviour:ident,)*) => {
        $(
            #[tokio::test]
            async fn $behaviour() {
                let Some($fixture) = $start else {
                    return;
                };
                $crate::suite::$behaviour($index).await;
            }
        )*
    };
}
pub(crate) use behaviour_tests;

/// A unit vector along `axis`, tilted slightly towards the next axis by `tilt`.
pub fn axis(axis: usize, tilt: f32) -> Vec<f32> {
    let mut v = vec![0.0; DIMS];
    v[axis % DIMS] = 1.0;
    v[(axis + 1) % DIMS] = tilt;
    v
}

pub fn point(chunk: i64, workspace: WorkspaceId, dense: Vec<f32>) -> IndexPoint {
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

pub fn query(workspace: WorkspaceId, dense: Vec<f32>) -> IndexQuery {
    IndexQuery::new(workspace, dense, None, 10)
}

pub fn sparse(terms: &[(u32, f32)]) -> SparseVector {
    SparseVector {
        indices: terms.iter().map(|(index, _)| *index).collect(),
        values: terms.iter().map(|(_, value)| *value).collect(),
    }
}

pub fn ids(hits: &[IndexHit]) -> Vec<i64> {
    hits.iter().map(|hit| hit.chunk_id.0).collect()
}

// The behaviours, in the order `behaviour_tests!` lists them.

pub async fn nearest_vector_ranks_first(index: &dyn VectorIndex) {
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

pub async fn search_respects_the_limit(index: &dyn VectorIndex) {
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

pub async fn search_never_returns_points_of_another_workspace(index: &dyn VectorIndex) {
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

pub async fn search_can_be_narrowed_to_some_sources(index: &dyn VectorIndex) {
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

pub async fn search_narrowed_to_kinds_returns_only_those_kinds(index: &dyn VectorIndex) {
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

pub async fn sparse_match_lifts_a_lexical_hit(index: &dyn VectorIndex) {
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

pub async fn empty_sparse_query_searches_dense_only(index: &dyn VectorIndex) {
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

pub async fn sparse_mode_ranks_by_terms_alone_and_dense_mode_ignores_them(index: &dyn VectorIndex) {
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

pub async fn deleted_document_disappears_from_search(index: &dyn VectorIndex) {
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

pub async fn deleting_documents_removes_all_their_points_and_only_theirs(index: &dyn VectorIndex) {
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

pub async fn deleted_source_disappears_from_search(index: &dyn VectorIndex) {
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

pub async fn deleted_chunks_disappear_from_search(index: &dyn VectorIndex) {
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

pub async fn upsert_of_same_chunk_replaces_it(index: &dyn VectorIndex) {
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

pub async fn count_is_per_workspace(index: &dyn VectorIndex) {
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

pub async fn vector_of_the_wrong_length_is_rejected(index: &dyn VectorIndex) {
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

pub async fn negative_chunk_id_is_rejected(index: &dyn VectorIndex) {
    let err = index
        .upsert(vec![point(-1, WS, axis(0, 0.0))])
        .await
        .expect_err("negative id");
    assert!(err.to_string().contains("negative"), "{err}");
}

pub async fn optimize_keeps_search_results(index: &dyn VectorIndex) {
    let points = (1..=50)
        .map(|chunk| point(chunk, WS, axis(chunk as usize, chunk as f32 / 50.0)))
        .collect();
    index.upsert(points).await.expect("upsert");

    let before = index.search(query(WS, axis(3, 0.0))).await.expect("search");
    index.optimize().await.expect("optimize");
    let after = index.search(query(WS, axis(3, 0.0))).await.expect("search");

    assert_eq!(ids(&before), ids(&after));
}

pub async fn concurrent_writes_and_searches_do_not_interfere<I: VectorIndex + Clone + 'static>(
    index: &I,
) {
    let mut tasks = Vec::new();
    for batch in 0..8_i64 {
        let index = index.clone();
        tasks.push(tokio::spawn(async move {
            let points = (0..25)
                .map(|i| {
                    let chunk = batch * 100 + i + 1;
                    point(chunk, WS, axis(chunk as usize, 0.5))
                })
                .collect();
            index.upsert(points).await.expect("upsert");
            index.search(query(WS, axis(0, 0.0))).await.expect("search");
            if batch % 2 == 0 {
                index.optimize().await.expect("optimize");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    assert_eq!(index.count(WS).await.expect("count"), 200);
}
