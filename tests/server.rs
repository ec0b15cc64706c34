//! The service as an HTTP client sees it: health, readiness, metrics, errors, OpenAPI, shutdown.

mod common;

use common::{Backend, TestApp};
use serde_json::Value;

async fn json(resp: reqwest::Response) -> Value {
    resp.json().await.expect("a JSON body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_says_the_process_is_up() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let resp = app.get("/healthz").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json(resp).await["status"], "ok");
    app.stop().await;
}

async fn readyz_checks_database_index_and_embedder(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let resp = app.get("/readyz").await;
    assert_eq!(resp.status(), 200);
    let body = json(resp).await;
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["index"], "ok");
    assert_eq!(body["checks"]["embedder"], "ok");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_checks_database_index_and_embedder_on_sqlite() {
    readyz_checks_database_index_and_embedder(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_checks_database_index_and_embedder_on_postgres() {
    readyz_checks_database_index_and_embedder(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_and_says_why_when_the_database_is_gone() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.app.store.close().await;
    let resp = app.get("/readyz").await;
    assert_eq!(resp.status(), 503);
    let body = json(resp).await;
    assert_eq!(body["status"], "unavailable");
    assert_ne!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["embedder"], "ok");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_and_show_the_job_queue() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.app
        .store
        .enqueue_job(
            rapport_store::jobs::NewJob::new("later", serde_json::json!({}))
                .run_at(chrono::Utc::now() + chrono::Duration::hours(1)),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        app.get("/healthz").await;
    }
    let resp = app.get("/metrics").await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = resp.text().await.unwrap();
    assert!(
        text.contains(
            r#"rapport_http_requests_total{method="GET",route="/healthz",status="200"} 3"#
        ),
        "{text}"
    );
    assert!(
        text.contains("rapport_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains(r#"rapport_jobs{state="queued"} 1"#), "{text}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_endpoints_get_a_json_404() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let resp = app.get("/api/v1/nope").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(json(resp).await["error"]["code"], "not_found");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_is_refused_with_413_in_json() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.http.body_limit = 1024)
        .await
        .unwrap();
    let resp = app
        .client
        .post(app.url("/healthz"))
        .body(vec![b'x'; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body = json(resp).await;
    assert_eq!(body["error"]["code"], "payload_too_large");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_gets_a_json_405() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let resp = app.client.delete(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(json(resp).await["error"]["code"], "method_not_allowed");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_the_api() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let resp = app.get("/api/v1/openapi.json").await;
    assert_eq!(resp.status(), 200);
    let doc = json(resp).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    for path in ["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_listening_and_leaves_no_job_leased() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let address = app.address.clone();
    let store = app.app.store.clone();
    app.stop().await;
    assert!(
        reqwest::get(format!("{address}/healthz")).await.is_err(),
        "still listening after shutdown"
    );
    assert_eq!(store.job_counts().await.unwrap().running, 0);
}

/// Opens a connection and sends half a request head, as a slowloris client does.
async fn half_sent_request(app: &TestApp) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    stream
        .write_all(b"POST /webhooks/whatsapp HTTP/1.1\r\nHost: rapport\r\nX-Slow: ")
        .await
        .expect("write");
    stream
}

/// Found by a hostile run: 1,100 half-sent requests took every file descriptor and `/healthz`
/// timed out. Half-sent requests do not stop others being served, and each is cut once the
/// header timeout passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_cut_and_do_not_starve_others() {
    use tokio::io::AsyncReadExt;
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.http.header_read_timeout_secs = 1)
        .await
        .expect("app");
    let mut slow = Vec::new();
    for _ in 0..50 {
        slow.push(half_sent_request(&app).await);
    }
    assert_eq!(app.get("/healthz").await.status(), 200);
    for mut stream in slow {
        let mut rest = Vec::new();
        // The server answers (408) or closes; either way the connection ends.
        tokio::time::timeout(
            std::time::Duration::from_secs(30),
            stream.read_to_end(&mut rest),
        )
        .await
        .expect("the server cut the half-sent request")
        .ok();
    }
    app.stop().await;
}

/// Found by a hostile run: past capacity, webhooks queued without bound (p99 20 s). Beyond
/// the in-flight limit an inbound message is refused at once with 503 and Retry-After.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_messages_past_capacity_are_refused_with_retry_after() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.http.max_inflight_messages = 1)
        .await
        .expect("app");
    // One inbound message in flight: a mail whose body is still arriving.
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut held = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    held.write_all(
        b"POST /webhooks/email/mailgun/mime HTTP/1.1\r\nHost: rapport\r\n\
          Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 100000\r\n\r\n--XyZ\r\n",
    )
    .await
    .expect("write");
    let mut refused = None;
    for _ in 0..100 {
        let resp = app
            .client
            .post(app.url("/webhooks/whatsapp"))
            .body("{}")
            .send()
            .await
            .expect("sent");
        if resp.status() == 503 {
            refused = Some(resp);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let refused = refused.expect("a message past capacity is refused");
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(json(refused).await["error"]["code"], "overloaded");
    drop(held);
    // Capacity comes back: an unsigned post is checked (and refused) again.
    let mut status = 0;
    for _ in 0..100 {
        status = app
            .client
            .post(app.url("/webhooks/whatsapp"))
            .body("{}")
            .send()
            .await
            .expect("sent")
            .status()
            .as_u16();
        if status != 503 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, 401);
    app.stop().await;
}
