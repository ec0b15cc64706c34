//! The Qdrant server backend through the port: the same shared behaviour as `edge_index.rs` (see
//! `suite`), so both backends are held to it, then what only the server does.
//!
//! Most tests need a running server and read its gRPC address from `QDRANT_URL` (and an API key
//! from `QDRANT_API_KEY`, if set). Without it they say so on stderr and pass, so a developer
//! without Docker can still run the suite. Each test works in a fresh collection of its own, which
//! is dropped when the test ends, pass or fail.

mod suite;

use std::io::Write as _;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use qdrant_client::Qdrant;
use rapport_core::ids::ChunkId;
use rapport_core::ports::{IndexPoint, IndexQuery, VectorIndex};
use rapport_index::{Error, QdrantServerIndex, QdrantServerOptions};
use suite::{DIMS, WS, axis, ids, point, query, sparse};

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

suite::behaviour_tests!(let Some(server) = Server::start().await; &server.index);

// What only the server does: several connections to one collection, which can vanish under them.

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
