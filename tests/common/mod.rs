//! Spawns the real app — real database, real index, real embedder — on a random port.

#![allow(dead_code)]

pub mod fake_http;

use std::path::PathBuf;

use rapport_server::config::Secret;
use rapport_server::{App, Config, Running};
use rapport_store::testing::TestDb;
use tokio_util::sync::CancellationToken;

/// The admin every test app starts with; `client` calls as them.
pub const ADMIN_EMAIL: &str = "admin@rapport.test";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub address: String,
    pub app: App,
    pub client: reqwest::Client,
    running: Option<Running>,
    db: Option<TestDb>,
    _data_dir: tempfile::TempDir,
}

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn model_dir() -> PathBuf {
    std::env::var_os("RAPPORT_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".rapport/models"))
}

pub fn test_config(data_dir: &std::path::Path) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        model_dir: Some(model_dir()),
        port: 0,
        ..Config::default()
    };
    config.embedder.threads = Some(1);
    config.jobs.poll_interval_ms = 50;
    config.http.shutdown_grace_secs = 2;
    // Tests write their help centers into temporary folders.
    config.knowledge.server_folder = Some(std::env::temp_dir());
    config
}

impl TestApp {
    /// `None` when the backend is PostgreSQL and none is reachable outside CI (a notice is printed).
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(
        backend: Backend,
        customise: impl FnOnce(&mut Config),
    ) -> Option<TestApp> {
        // Server errors go to the failing test's output (the harness captures the rest).
        let _ = tracing_subscriber::fmt()
            .with_env_filter("warn,qdrant_edge=error")
            .with_test_writer()
            .try_init();
        let data_dir = tempfile::tempdir().expect("temp data dir");
        let mut config = test_config(data_dir.path());
        let db = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let db = TestDb::postgres().await?;
                config.secrets.database_url = Some(Secret::new(db.url.clone()));
                Some(db)
            }
        };
        customise(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a random port");
        let address = format!("http://{}", listener.local_addr().expect("bound address"));
        let app = App::build(config).await.expect("app builds");
        let running = app.clone().start(listener, CancellationToken::new());
        // The client acts as the workspace's admin, through an API token, as an integration
        // would; tests of sign-in and permissions use clients of their own.
        let admin = app
            .auth
            .create_user(
                rapport_core::ids::WorkspaceId::DEFAULT,
                ADMIN_EMAIL,
                "Test Admin",
                rapport_core::domain::Role::Admin,
                ADMIN_PASSWORD,
            )
            .await
            .expect("the test admin");
        let token = app
            .auth
            .issue_token(rapport_core::ids::WorkspaceId::DEFAULT, admin.id, "tests")
            .await
            .expect("the test admin's token");
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", token.token)
                .parse()
                .expect("a header value"),
        );
        Some(TestApp {
            address,
            app,
            // No pooled connections: after a refused upload (413) the server closes the
            // connection without reading the body, and a reused one would fail the next request.
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .default_headers(headers)
                .build()
                .expect("HTTP client"),
            running: Some(running),
            db,
            _data_dir: data_dir,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// Adds the FAQ most tests ask about (resetting a password, opening hours) and waits until
    /// it is indexed.
    pub async fn with_faq_snippets(&self) {
        let resp = self
            .client
            .post(self.url("/api/v1/knowledge/sources"))
            .json(&serde_json::json!({"kind": "snippets", "name": "FAQ", "snippets": [
                {"question": "How do I reset my password?",
                 "answer": "Use the Forgot password link on the sign-in page; the reset email arrives within 5 minutes."},
                {"question": "What are your opening hours?",
                 "answer": "Our team is available Monday to Friday, 9:00 to 18:00 CET."}
            ]}))
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), 201);
        let source: serde_json::Value = resp.json().await.expect("a JSON body");
        let id = source["id"].as_i64().expect("id");
        for _ in 0..600 {
            let source: serde_json::Value = self
                .get(&format!("/api/v1/knowledge/sources/{id}"))
                .await
                .json()
                .await
                .expect("a JSON body");
            if source["status"] == "ready" {
                return;
            }
            assert_ne!(source["status"], "failed", "{source}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the FAQ snippets did not sync");
    }

    /// An API token acting as a new user of `role` in workspace `ws`.
    #[allow(dead_code)] // Not every test binary signs in as someone else.
    pub async fn token_for_new_user(
        &self,
        ws: rapport_core::ids::WorkspaceId,
        email: &str,
        role: rapport_core::domain::Role,
    ) -> String {
        let user = self
            .app
            .auth
            .create_user(ws, email, "Someone", role, "a long enough password")
            .await
            .expect("user");
        self.app
            .auth
            .issue_token(ws, user.id, "test")
            .await
            .expect("token")
            .token
    }

    /// A client acting as a new user of the default workspace (by API token), and the user's id.
    #[allow(dead_code)]
    pub async fn client_for_new_user(
        &self,
        email: &str,
        name: &str,
        role: rapport_core::domain::Role,
    ) -> (reqwest::Client, i64) {
        let ws = rapport_core::ids::WorkspaceId::DEFAULT;
        let user = self
            .app
            .auth
            .create_user(ws, email, name, role, "a long enough password")
            .await
            .expect("user");
        let token = self
            .app
            .auth
            .issue_token(ws, user.id, "test")
            .await
            .expect("token")
            .token;
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("a header value"),
        );
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .default_headers(headers)
            .build()
            .expect("HTTP client");
        (client, user.id)
    }

    /// Stops the app gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown_token().cancel();
            running.stopped().await.expect("clean shutdown");
        }
        if let Some(db) = self.db.take() {
            db.cleanup().await;
        }
    }
}
