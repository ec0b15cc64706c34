//! The Qdrant Edge backend through the port: the behaviour shared with every backend (see
//! `suite`), each test on a fresh index in a temporary directory, then what only Edge does.

mod suite;

use rapport_core::ids::ChunkId;
use rapport_core::ports::{IndexPoint, IndexQuery, VectorIndex};
use rapport_index::{EdgeIndex, Error};
use suite::{DIMS, OTHER_WS, WS, axis, ids, point, query, sparse};
use tempfile::TempDir;

fn open() -> (TempDir, EdgeIndex) {
    let dir = tempfile::tempdir().expect("temp dir");
    let index = EdgeIndex::open(dir.path(), DIMS).expect("open index");
    (dir, index)
}

suite::behaviour_tests!(let Some((_dir, index)) = Some(open()); &index);

// What only Edge does: one directory, reopened, locked, crashed.

#[tokio::test]
async fn reopened_index_keeps_its_points() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let index = EdgeIndex::open(dir.path(), DIMS).expect("open");
        index
            .upsert(vec![
                IndexPoint {
                    sparse: Some(sparse(&[(42, 1.0)])),
                    ..point(1, WS, axis(0, 0.0))
                },
                point(2, WS, axis(3, 0.0)),
                point(3, OTHER_WS, axis(0, 0.0)),
            ])
            .await
            .expect("upsert");
        index.delete_chunks(&[ChunkId(2)]).await.expect("delete");
    }

    let index = EdgeIndex::open(dir.path(), DIMS).expect("reopen");
    assert_eq!(index.count(WS).await.expect("count"), 1);
    assert_eq!(index.count(OTHER_WS).await.expect("count"), 1);
    let hits = index
        .search(IndexQuery {
            sparse: Some(sparse(&[(42, 1.0)])),
            ..query(WS, axis(0, 0.0))
        })
        .await
        .expect("search");
    assert_eq!(ids(&hits), vec![1]);
    index.check().await.expect("check");
}

#[tokio::test]
async fn reopening_with_other_dimensions_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    drop(EdgeIndex::open(dir.path(), DIMS).expect("open"));

    let err = EdgeIndex::open(dir.path(), 16).expect_err("dimensions changed");
    assert!(
        matches!(
            err,
            Error::DimensionMismatch {
                stored: 8,
                expected: 16,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn check_passes_on_an_empty_index_and_fails_once_its_directory_is_gone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("index");
    let index = EdgeIndex::open(&path, DIMS).expect("open");
    index.check().await.expect("check");

    std::fs::remove_dir_all(&path).expect("remove");
    assert!(index.check().await.is_err());
}

/// Set in the child process of `written_points_survive_a_crash`: the directory it writes to.
const CRASH_DIR_VAR: &str = "RAPPORT_INDEX_CRASH_TEST_DIR";

#[tokio::test]
async fn written_points_survive_a_crash() {
    if let Some(dir) = std::env::var_os(CRASH_DIR_VAR) {
        // Child: write, then exit without running any destructor, as a killed process would.
        let index = EdgeIndex::open(std::path::Path::new(&dir), DIMS).expect("open");
        index
            .upsert(vec![point(1, WS, axis(0, 0.0)), point(2, WS, axis(1, 0.0))])
            .await
            .expect("upsert");
        index.delete_chunks(&[ChunkId(2)]).await.expect("delete");
        std::process::exit(0);
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "written_points_survive_a_crash", "--nocapture"])
        .env(CRASH_DIR_VAR, dir.path())
        .status()
        .expect("run child");
    assert!(status.success(), "child failed: {status}");

    let index = EdgeIndex::open(dir.path(), DIMS).expect("reopen");
    let hits = index.search(query(WS, axis(0, 0.0))).await.expect("search");
    assert_eq!(ids(&hits), vec![1]);
}

#[tokio::test]
async fn second_open_of_the_same_directory_is_refused() {
    let (dir, _index) = open();
    let err = EdgeIndex::open(dir.path(), DIMS).expect_err("already open");
    assert!(matches!(err, Error::Locked { .. }), "{err}");
}
