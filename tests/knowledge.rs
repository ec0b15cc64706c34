//! Knowledge as an admin and a client see it through the HTTP API: every kind of source from
//! creation to search, re-sync, deletion, failures, the SSRF guard and a crash mid-ingestion.
//! Everything is real: SQLite, Qdrant Edge, the MiniLM embedder, a web site on loopback.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use common::{Backend, TestApp};
use rapport_core::domain::Author;
use rapport_core::ids::{ContactId, SourceId, WorkspaceId};
use serde_json::{Value, json};

const WS: WorkspaceId = WorkspaceId::DEFAULT;

async fn body(resp: reqwest::Response) -> Value {
    resp.json().await.expect("a JSON body")
}

async fn post(app: &TestApp, path: &str, value: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .json(&value)
        .send()
        .await
        .expect("request sent")
}

async fn create_source(app: &TestApp, kind: &str, name: &str, config: Value) -> Value {
    let resp = post(
        app,
        "/api/v1/knowledge/sources",
        json!({"kind": kind, "name": name, "config": config}),
    )
    .await;
    assert_eq!(resp.status(), 201);
    body(resp).await
}

/// Polls the source until its sync is over; returns it.
async fn settled(app: &TestApp, id: i64) -> Value {
    for _ in 0..600 {
        let source = body(app.get(&format!("/api/v1/knowledge/sources/{id}")).await).await;
        if source["status"] == "ready" || source["status"] == "failed" {
            return source;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("source {id} did not finish syncing in 60 s");
}

/// Asks for a re-sync; the caller waits for it with [`settled`].
async fn resync(app: &TestApp, id: i64) {
    let resp = post(
        app,
        &format!("/api/v1/knowledge/sources/{id}/resync"),
        json!({}),
    )
    .await;
    assert_eq!(resp.status(), 202);
}

async fn search(app: &TestApp, query: &str) -> Vec<Value> {
    let resp = post(
        app,
        "/api/v1/knowledge/search",
        json!({"query": query, "limit": 5}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    body(resp).await["results"]
        .as_array()
        .expect("results")
        .clone()
}

fn texts(results: &[Value]) -> String {
    results
        .iter()
        .map(|r| r["text"].as_str().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n---\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snippets_are_searchable_once_added_and_gone_once_deleted() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let resp = post(
        &app,
        "/api/v1/knowledge/sources",
        json!({"kind": "snippets", "name": "FAQ", "snippets": [
            {"question": "Can I pause my subscription?", "answer": "Yes, for up to three months from the billing page."},
            {"question": "What is your phone number?", "answer": "Call +1 206 555 0142 on weekdays."}
        ]}),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let source = body(resp).await;
    let id = source["id"].as_i64().unwrap();

    let hits = search(&app, "is it possible to put my plan on hold for a while?").await;
    assert!(
        hits[0]["text"].as_str().unwrap().contains("three months"),
        "{hits:?}"
    );
    assert_eq!(hits[0]["source_kind"], "snippets");

    // Add one, edit it, delete it: each is live when the call returns.
    let resp = post(
        &app,
        &format!("/api/v1/knowledge/sources/{id}/snippets"),
        json!({"question": "Do you ship to Norway?", "answer": "Not yet; we ship within the EU."}),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let doc = body(resp).await["ids"][0].as_i64().unwrap();
    let resp = app
        .client
        .put(app.url(&format!("/api/v1/knowledge/sources/{id}/snippets/{doc}")))
        .json(&json!({"question": "Do you ship to Norway?", "answer": "Yes, since October, in 5 days."}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let hits = search(&app, "shipping to norway").await;
    assert!(texts(&hits).contains("since October"), "{hits:?}");
    assert!(!texts(&hits).contains("Not yet"), "{hits:?}");

    let resp = app
        .client
        .delete(app.url(&format!("/api/v1/knowledge/sources/{id}/snippets/{doc}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert!(!texts(&search(&app, "shipping to norway").await).contains("Norway"));

    let bad = post(
        &app,
        &format!("/api/v1/knowledge/sources/{id}/snippets"),
        json!({"question": "", "answer": "x"}),
    )
    .await;
    assert_eq!(bad.status(), 400);

    // Deleting the source removes everything it taught.
    let resp = app
        .client
        .delete(app.url(&format!("/api/v1/knowledge/sources/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert!(search(&app, "pause my subscription").await.is_empty());
    assert_eq!(app.app.index.count(WS).await.unwrap(), 0);
    let gone = app.get(&format!("/api/v1/knowledge/sources/{id}")).await;
    assert_eq!(gone.status(), 404);
    app.stop().await;
}

fn write(dir: &std::path::Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write fixture");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_markdown_help_center_is_ingested_with_titles_and_urls_for_citations() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "reset.md",
        "---\ntitle: Reset your password\nurl: https://help.example/reset\n---\n\n# Reset your password\n\n\
         Open the sign-in page and choose *Forgot password*. We e-mail you a link that works for one hour.\n",
    );
    write(
        dir.path(),
        "refunds.md",
        "---\ntitle: Refunds\nurl: https://help.example/refunds\n---\n\n## How long refunds take\n\n\
         Refunds reach your card within 5 to 10 business days after we receive the return.\n",
    );
    std::fs::create_dir(dir.path().join("devices")).unwrap();
    write(
        &dir.path().join("devices"),
        "wifi.html",
        "<html><head><title>Wi-Fi setup</title><link rel=\"canonical\" href=\"https://help.example/wifi\"></head>\
         <body><nav>Home | Shop | Cookie settings</nav><main><h1>Wi-Fi setup</h1>\
         <p>The thermostat only joins 2.4 GHz networks; 5 GHz is not supported.</p></main>\
         <footer>© Nimbus</footer></body></html>",
    );
    let source = create_source(
        &app,
        "articles",
        "Help center",
        json!({"path": dir.path().display().to_string()}),
    )
    .await;
    let id = source["id"].as_i64().unwrap();
    let source = settled(&app, id).await;
    assert_eq!(source["status"], "ready", "{source}");
    assert_eq!(source["progress"]["documents_total"], 3);

    let hits = search(&app, "how many days until I get my money back").await;
    assert_eq!(hits[0]["title"], "Refunds", "{hits:?}");
    assert_eq!(hits[0]["url"], "https://help.example/refunds");
    assert_eq!(hits[0]["heading_path"], "How long refunds take");

    let hits = search(&app, "my router is 5ghz only").await;
    assert_eq!(hits[0]["url"], "https://help.example/wifi", "{hits:?}");
    assert!(!texts(&hits).contains("Cookie settings"));

    // Chat shorthand is searched spelled out: by words alone, "pw" finds "password".
    let resp = post(
        &app,
        "/api/v1/knowledge/search",
        json!({"query": "new pw pls", "mode": "sparse", "limit": 5}),
    )
    .await;
    let hits = body(resp).await["results"].clone();
    assert_eq!(hits[0]["title"], "Reset your password", "{hits}");

    let docs = body(
        app.get(&format!("/api/v1/knowledge/sources/{id}/documents"))
            .await,
    )
    .await;
    assert_eq!(docs["total"], 3);
    let doc = docs["documents"][0]["id"].as_i64().unwrap();
    let one = body(
        app.get(&format!("/api/v1/knowledge/sources/{id}/documents/{doc}"))
            .await,
    )
    .await;
    assert!(!one["chunks"].as_array().unwrap().is_empty());

    // A re-sync of unchanged articles embeds nothing.
    resync(&app, id).await;
    let again = settled(&app, id).await;
    assert_eq!(again["progress"]["documents_unchanged"], 3, "{again}");
    assert_eq!(again["progress"]["chunks_indexed"], 0);

    let missing = create_source_raw(
        &app,
        json!({"kind": "articles", "name": "x", "config": {"path": "/nope"}}),
    )
    .await;
    assert_eq!(missing.status(), 400);
    app.stop().await;
}

/// A database from before token vectors were kept still answers, and the next sync of a source
/// re-embeds what lacks them (once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_indexed_before_token_vectors_get_them_on_the_next_sync() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "refunds.md",
        "---\ntitle: Refunds\n---\n\nRefunds reach your card within 5 to 10 business days.\n",
    );
    write(
        dir.path(),
        "labels.md",
        "---\ntitle: Labels\n---\n\nCreate a label under Settings, then tag conversations with it.\n",
    );
    let id = create_source(
        &app,
        "articles",
        "Help center",
        json!({"path": dir.path().display().to_string()}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    assert_eq!(settled(&app, id).await["status"], "ready");
    let chunk_ids: Vec<rapport_core::ids::ChunkId> = search(&app, "refund")
        .await
        .iter()
        .map(|hit| rapport_core::ids::ChunkId(hit["id"].as_i64().unwrap()))
        .collect();
    assert_eq!(chunk_ids.len(), 2);
    let stored = app.app.store.chunk_rescoring(WS, &chunk_ids).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert!(
        stored
            .iter()
            .all(|r| r.token_vectors.as_ref().is_some_and(|b| b.len() > 1_000)),
        "every chunk keeps its token vectors"
    );

    assert_eq!(app.app.store.forget_token_vectors().await.unwrap(), 2);
    let hits = search(&app, "how long until my money is back on my card").await;
    assert_eq!(hits[0]["title"], "Refunds", "ranked without them: {hits:?}");
    assert_eq!(hits[0]["token_match"], 0.0, "{hits:?}");

    resync(&app, id).await;
    let again = settled(&app, id).await;
    assert_eq!(again["progress"]["documents_changed"], 2, "{again}");
    let hits = search(&app, "how long until my money is back on my card").await;
    assert_eq!(hits[0]["title"], "Refunds", "{hits:?}");
    let matched = hits[0]["token_match"].as_f64().unwrap();
    assert!(matched > 0.3 && matched <= 1.0, "{hits:?}");
    let ids: Vec<rapport_core::ids::ChunkId> = hits
        .iter()
        .map(|hit| rapport_core::ids::ChunkId(hit["id"].as_i64().unwrap()))
        .collect();
    let stored = app.app.store.chunk_rescoring(WS, &ids).await.unwrap();
    assert!(
        stored.iter().all(|r| r.token_vectors.is_some()),
        "{stored:?}"
    );
    resync(&app, id).await;
    assert_eq!(
        settled(&app, id).await["progress"]["documents_unchanged"],
        2,
        "once they have them, nothing is embedded again"
    );
    app.stop().await;
}

/// Found by a hostile run: an admin could point an articles source at any server path and read
/// it back. Only the deployment's knowledge folder is readable, and what lies outside it gets
/// one answer whether it exists or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_cannot_read_server_files_through_a_source() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::create_dir(folder.path().join("help")).unwrap();
    write(
        &folder.path().join("help"),
        "refunds.md",
        "---\ntitle: Refunds\n---\n\nRefunds take 5 days.\n",
    );
    let root = folder.path().to_path_buf();
    let app = TestApp::spawn_with(Backend::Sqlite, move |c| {
        c.knowledge.server_folder = Some(root)
    })
    .await
    .unwrap();
    let files = create_source(&app, "files", "Uploads", json!({})).await;
    let uploaded = upload(
        &app,
        files["id"].as_i64().unwrap(),
        vec![("secret.txt", b"the other team's notes".to_vec())],
    )
    .await;
    assert_eq!(uploaded.status(), 202);
    let upload_path = body(
        app.get(&format!("/api/v1/knowledge/sources/{}", files["id"]))
            .await,
    )
    .await["config"]["files"][0]["path"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_default();

    let mut answers = Vec::new();
    for path in [
        "/etc/shadow",
        "/etc/no-such-file",
        "/proc/self/cwd",
        "help/../../..",
        &upload_path,
    ] {
        let resp = create_source_raw(
            &app,
            json!({"kind": "articles", "name": format!("probe {path}"), "config": {"path": path}}),
        )
        .await;
        assert_eq!(resp.status(), 400, "{path}");
        answers.push(
            body(resp).await["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .replace(path, "PATH"),
        );
    }
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:#?}");
    assert!(answers[0].contains("outside"), "{}", answers[0]);

    let named = create_source_raw(
        &app,
        json!({"kind": "files", "name": "named", "config": {"files": [{"name": "passwd", "path": "/etc/passwd"}]}}),
    )
    .await;
    assert_eq!(named.status(), 400);
    let import = create_source_raw(
        &app,
        json!({"kind": "conversations", "name": "import", "config": {"import_path": "/etc/passwd"}}),
    )
    .await;
    assert_eq!(import.status(), 400);

    // Inside the folder, a relative name is enough.
    let help = create_source(&app, "articles", "Help", json!({"path": "help"})).await;
    let help = settled(&app, help["id"].as_i64().unwrap()).await;
    assert_eq!(help["status"], "ready", "{help}");
    assert_eq!(help["progress"]["documents_total"], 1);
    app.stop().await;
}

async fn create_source_raw(app: &TestApp, value: Value) -> reqwest::Response {
    post(app, "/api/v1/knowledge/sources", value).await
}

fn fixture_pdf() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/knowledge/files/nimbus-thermostat-t2-quick-start.pdf"
    );
    std::fs::read(path).expect("the demo PDF is committed")
}

async fn upload(app: &TestApp, id: i64, files: Vec<(&str, Vec<u8>)>) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new();
    for (name, bytes) in files {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
    }
    app.client
        .post(app.url(&format!("/api/v1/knowledge/sources/{id}/files")))
        .multipart(form)
        .send()
        .await
        .expect("upload sent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_pdf_csv_and_text_files_are_searchable_with_page_numbers() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let source = create_source(&app, "files", "Manuals", json!({})).await;
    let id = source["id"].as_i64().unwrap();
    settled(&app, id).await;
    let resp = upload(
        &app,
        id,
        vec![
            ("quick-start.pdf", fixture_pdf()),
            (
                "faq.csv",
                b"question,answer\n\"Does the hub need Ethernet?\",\"No, the Hub H1 joins Wi-Fi; Ethernet is optional.\"\n"
                    .to_vec(),
            ),
            (
                "returns.txt",
                b"Returns are free within 30 days. Pack the device in its original box.".to_vec(),
            ),
        ],
    )
    .await;
    assert_eq!(resp.status(), 202);
    let source = settled(&app, id).await;
    assert_eq!(source["status"], "ready", "{source}");
    assert_eq!(source["progress"]["documents_total"], 3);

    let hits = search(&app, "which wires are compatible with the thermostat").await;
    let pdf_hit = hits
        .iter()
        .find(|h| h["external_ref"] == "quick-start.pdf")
        .expect("the PDF answers");
    assert_eq!(pdf_hit["page"], 2, "{hits:?}");
    assert!(
        texts(&search(&app, "hub ethernet cable required?").await).contains("Ethernet is optional")
    );
    assert!(texts(&search(&app, "free returns").await).contains("30 days"));

    // Found by a new user (issue 20): a Q&A CSV's rows were answered as "Q: … A: …". They are
    // snippets: the answer, alone.
    let asked: Value = body(
        post(
            &app,
            "/api/v1/playground/messages",
            json!({"channel": "web", "customer": {"name": "Ivo"}, "text": "Does the hub need Ethernet?"}),
        )
        .await,
    )
    .await;
    assert_eq!(asked["decision"], "answered", "{asked}");
    assert_eq!(
        asked["reply"], "No, the Hub H1 joins Wi-Fi; Ethernet is optional.",
        "{asked}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_file_fails_its_source_with_a_clear_error_and_nothing_else() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.knowledge.max_upload_bytes = 64 * 1024
    })
    .await
    .unwrap();
    let source = create_source(&app, "files", "Broken", json!({})).await;
    let id = source["id"].as_i64().unwrap();
    settled(&app, id).await;
    let resp = upload(&app, id, vec![("manual.pdf", b"%PDF-1.4 garbage".to_vec())]).await;
    assert_eq!(resp.status(), 202);
    let source = settled(&app, id).await;
    assert_eq!(source["status"], "failed");
    let error = source["error"].as_str().unwrap();
    assert!(
        error.contains("manual.pdf") && error.contains("PDF"),
        "{error}"
    );

    let too_big = upload(&app, id, vec![("big.txt", vec![b'a'; 100 * 1024])]).await;
    assert_eq!(too_big.status(), 413);
    assert_eq!(body(too_big).await["error"]["code"], "payload_too_large");
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.stop().await;
}

/// A small help site with a sitemap, robots.txt and ETags, whose pages a test can change.
#[derive(Clone, Default)]
struct Site {
    pages: Arc<Mutex<HashMap<String, String>>>,
    hits: Arc<Mutex<Vec<String>>>,
}

fn page(title: &str, body: &str, links: &[&str]) -> String {
    let links: String = links
        .iter()
        .map(|l| format!("<a href=\"{l}\">{l}</a> "))
        .collect();
    format!(
        "<html><head><title>{title}</title></head><body><nav>Menu {links}</nav>\
         <main><h1>{title}</h1><p>{body}</p><p>{links}</p></main><footer>Footer</footer></body></html>"
    )
}

async fn serve_site(State(site): State<Site>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_owned();
    site.hits.lock().unwrap().push(path.clone());
    if path == "/robots.txt" {
        return "User-agent: *\nDisallow: /internal/\n".into_response();
    }
    let Some(html) = site.pages.lock().unwrap().get(&path).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if path == "/sitemap.xml" {
        return ([(header::CONTENT_TYPE, "application/xml")], html).into_response();
    }
    let etag = format!(
        "\"{:x}\"",
        html.len() * 31 + html.bytes().map(usize::from).sum::<usize>()
    );
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.to_str().ok() == Some(etag.as_str()))
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
            (header::ETAG, etag),
        ],
        html,
    )
        .into_response()
}

async fn start_site(site: Site) -> String {
    let router = axum::Router::new().fallback(serve_site).with_state(site);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

fn demo_site(address: &str) -> Site {
    let site = Site::default();
    let mut pages = site.pages.lock().unwrap();
    pages.insert(
        "/".into(),
        page(
            "Help home",
            "Welcome to the help center of Skyline Bikes.",
            &["/bikes/", "/internal/secrets"],
        ),
    );
    pages.insert(
        "/bikes/".into(),
        page(
            "Bikes",
            "Everything about our e-bikes.",
            &["/bikes/battery", "/bikes/brakes"],
        ),
    );
    pages.insert(
        "/bikes/battery".into(),
        page(
            "Battery care",
            "Charge the battery to 80 percent for daily rides; a full charge takes four hours.",
            &["/bikes/battery/storage"],
        ),
    );
    pages.insert(
        "/bikes/battery/storage".into(),
        page(
            "Winter storage",
            "Store the battery indoors above 5 degrees Celsius over winter.",
            &[],
        ),
    );
    pages.insert(
        "/bikes/brakes".into(),
        page(
            "Brake pads",
            "Replace the brake pads every 2000 kilometres.",
            &[],
        ),
    );
    pages.insert(
        "/internal/secrets".into(),
        page("Internal", "The staff discount code is SECRET42.", &[]),
    );
    pages.insert(
        "/sitemap.xml".into(),
        format!("<?xml version=\"1.0\"?><urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\"><url><loc>{address}/</loc></url><url><loc>{address}/bikes/brakes</loc></url></urlset>"),
    );
    drop(pages);
    site
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_site_is_crawled_and_resynced_page_by_page() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.knowledge.allow_private_addresses = true
    })
    .await
    .unwrap();
    let placeholder = Site::default();
    let address = start_site(placeholder.clone()).await;
    let site = demo_site(&address);
    *placeholder.pages.lock().unwrap() = site.pages.lock().unwrap().clone();
    let site = placeholder;

    let source = create_source(
        &app,
        "web",
        "Skyline help",
        json!({"start_url": format!("{address}/"), "sitemap_url": format!("{address}/sitemap.xml"),
               "max_depth": 5, "delay_ms": 0}),
    )
    .await;
    let id = source["id"].as_i64().unwrap();
    let source = settled(&app, id).await;
    assert_eq!(source["status"], "ready", "{source}");
    // Home, bikes, battery, storage (three links deep), brakes; robots.txt keeps /internal/ out.
    assert_eq!(source["progress"]["documents_total"], 5, "{source}");
    assert!(
        source["progress"]["crawl"]["skipped_robots"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert!(
        !site
            .hits
            .lock()
            .unwrap()
            .iter()
            .any(|p| p.starts_with("/internal"))
    );
    let hits = search(&app, "how should I store the battery in winter").await;
    assert!(
        hits[0]["url"]
            .as_str()
            .unwrap()
            .ends_with("/bikes/battery/storage"),
        "{hits:?}"
    );
    assert!(!texts(&hits).contains("Menu"));
    assert!(!texts(&search(&app, "staff discount code").await).contains("SECRET42"));

    // One page changes, one disappears: only the changed one is embedded again.
    {
        let mut pages = site.pages.lock().unwrap();
        pages.insert(
            "/bikes/brakes".into(),
            page(
                "Brake pads",
                "Replace the brake pads every 1500 kilometres or once a year.",
                &[],
            ),
        );
        pages.remove("/bikes/battery/storage");
        if let Some(battery) = pages.get_mut("/bikes/battery") {
            *battery = page(
                "Battery care",
                "Charge the battery to 80 percent for daily rides; a full charge takes four hours.",
                &[],
            );
        }
    }
    resync(&app, id).await;
    let source = settled(&app, id).await;
    let progress = &source["progress"];
    assert_eq!(source["status"], "ready", "{source}");
    assert_eq!(progress["documents_removed"], 1, "{progress}");
    // The battery page lost its link (changed), the brakes page its text; the rest answered 304.
    assert_eq!(progress["documents_changed"], 2, "{progress}");
    assert!(
        progress["crawl"]["not_modified"].as_u64().unwrap() >= 2,
        "{progress}"
    );
    assert!(texts(&search(&app, "how often do brake pads need replacing").await).contains("1500"));
    let storage = search(&app, "winter storage of the battery").await;
    assert!(
        !storage
            .iter()
            .any(|h| h["url"].as_str().unwrap().ends_with("/storage")),
        "{storage:?}"
    );

    // Pages indexed before token vectors were kept are fetched in full (a 304 would keep them
    // without), then answer 304 again.
    assert_eq!(app.app.store.forget_token_vectors().await.unwrap(), 4);
    resync(&app, id).await;
    let progress = settled(&app, id).await["progress"].clone();
    assert_eq!(progress["documents_changed"], 4, "{progress}");
    assert_eq!(progress["crawl"]["not_modified"], 0, "{progress}");
    resync(&app, id).await;
    let progress = settled(&app, id).await["progress"].clone();
    assert_eq!(progress["documents_changed"], 0, "{progress}");
    assert_eq!(progress["crawl"]["not_modified"], 4, "{progress}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crawler_refuses_the_servers_own_network_by_default() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let site = Site::default();
    let address = start_site(site.clone()).await;
    site.pages
        .lock()
        .unwrap()
        .insert("/".into(), page("Home", "Hello", &[]));
    let source = create_source(
        &app,
        "web",
        "Loopback",
        json!({"start_url": format!("{address}/")}),
    )
    .await;
    let source = settled(&app, source["id"].as_i64().unwrap()).await;
    assert_eq!(source["status"], "failed");
    assert!(
        source["error"].as_str().unwrap().contains("loopback"),
        "{source}"
    );
    assert!(
        site.hits.lock().unwrap().is_empty(),
        "no request reached the site"
    );

    let bad = create_source_raw(
        &app,
        json!({"kind": "web", "name": "x", "config": {"start_url": "file:///etc/passwd"}}),
    )
    .await;
    assert_eq!(bad.status(), 400);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolved_conversations_become_candidates_indexed_once_approved() {
    use rapport_core::domain::{Channel, Direction, Resolution};
    use rapport_store::contacts::NewContact;
    use rapport_store::messages::NewMessage;

    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let store = &app.app.store;
    let contact: ContactId = store
        .create_contact(WS, &NewContact::default())
        .await
        .unwrap()
        .id
        .into();
    let conversation = store
        .open_conversation(WS, contact, Channel::Whatsapp, false)
        .await
        .unwrap();
    for (author, text) in [
        (
            Author::Customer,
            "My thermostat shows error E7 after the update, what now?",
        ),
        (
            Author::Agent,
            "E7 means the firmware did not finish. Hold the dial for 15 seconds to restart the update.",
        ),
    ] {
        store
            .insert_message(
                WS,
                &NewMessage {
                    conversation_id: conversation,
                    contact_id: contact,
                    direction: if author == Author::Customer {
                        Direction::Inbound
                    } else {
                        Direction::Outbound
                    },
                    author,
                    channel: Channel::Whatsapp,
                    provider_message_id: None,
                    kind: "text".into(),
                    text: text.into(),
                    attachments: json!([]),
                    sent_at: None,
                },
            )
            .await
            .unwrap();
    }
    store
        .resolve_conversation(WS, conversation, Resolution::Human)
        .await
        .unwrap();

    let source = create_source(&app, "conversations", "Past chats", json!({})).await;
    let source = settled(&app, source["id"].as_i64().unwrap()).await;
    assert_eq!(source["progress"]["candidates_added"], 1, "{source}");
    assert!(!texts(&search(&app, "error E7 on my thermostat").await).contains("Hold the dial"));

    let pending = body(app.get("/api/v1/knowledge/candidates?status=pending").await).await;
    let candidate = &pending["candidates"][0];
    assert!(candidate["question"].as_str().unwrap().contains("E7"));
    let id = candidate["id"].as_i64().unwrap();
    let resp = post(
        &app,
        &format!("/api/v1/knowledge/candidates/{id}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body(resp).await["status"], "approved");
    let hits = search(&app, "error E7 on my thermostat").await;
    assert!(
        hits[0]["text"].as_str().unwrap().contains("Hold the dial"),
        "{hits:?}"
    );

    let resp = post(
        &app,
        &format!("/api/v1/knowledge/candidates/{id}/reject"),
        json!({}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(!texts(&search(&app, "error E7 on my thermostat").await).contains("Hold the dial"));
    let missing = post(&app, "/api/v1/knowledge/candidates/999/approve", json!({})).await;
    assert_eq!(missing.status(), 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingestion_that_dies_midway_is_resumed_and_ends_ready_without_duplicates() {
    // No workers in the app: the test plays the worker that dies, then starts a healthy one.
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.jobs.workers = 0;
        c.jobs.lease_secs = 1;
        c.knowledge.index_batch = 2;
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for n in 0..8 {
        write(
            dir.path(),
            &format!("article-{n}.md"),
            &format!(
                "# Article {n}\n\nParagraph about topic number {n} with enough words to be a chunk of its own.\n"
            ),
        );
    }
    let source = create_source(
        &app,
        "articles",
        "Articles",
        json!({"path": dir.path().display().to_string()}),
    )
    .await;
    let id = SourceId(source["id"].as_i64().unwrap());
    let store = app.app.store.clone();

    let job = store
        .claim_job(
            "worker-that-dies",
            Duration::from_secs(1),
            rapport_store::jobs::Lane::Any,
        )
        .await
        .unwrap()
        .expect("the sync job is queued");
    assert_eq!(job.kind, rapport_knowledge::SYNC_JOB);
    let kb = app.app.knowledge.clone();
    let doomed = tokio::spawn(async move { kb.sync(WS, id).await });
    loop {
        let source = store.source(WS, id).await.unwrap();
        if source.progress["documents_done"].as_u64().unwrap_or(0) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    doomed.abort();
    let _ = doomed.await;
    assert_eq!(
        store.source(WS, id).await.unwrap().status.as_str(),
        "running"
    );

    // A healthy worker takes the job over once the dead one's lease expires.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let config = rapport_store::runner::RunnerConfig {
        workers: 1,
        poll_interval: Duration::from_millis(100),
        lease: Duration::from_secs(5),
        ..Default::default()
    };
    let mut workers = rapport_store::runner::JobRunner::new(store.clone(), config)
        .handle(
            rapport_knowledge::SYNC_JOB,
            rapport_knowledge::SyncSourceJob(app.app.knowledge.clone()),
        )
        .start(shutdown.clone());
    let source = settled(&app, id.0).await;
    shutdown.cancel();
    while workers.join_next().await.is_some() {}

    assert_eq!(source["status"], "ready", "{source}");
    let docs = body(
        app.get(&format!("/api/v1/knowledge/sources/{}/documents", id.0))
            .await,
    )
    .await;
    assert_eq!(docs["total"], 8);
    let chunks = store.count_chunks(id).await.unwrap();
    assert_eq!(chunks, 8, "one chunk per article, none twice");
    assert_eq!(
        app.app.index.count(WS).await.unwrap(),
        8,
        "one vector per chunk"
    );
    app.stop().await;
}
