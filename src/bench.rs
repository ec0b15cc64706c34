//! `rapport bench …`: speed figures measured on the machine at hand, for closing notes and
//! regressions. Benchmarks print numbers; they never assert on time.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Subcommand;
use rapport_core::domain::SourceKind;
use rapport_core::ids::WorkspaceId;
use rapport_core::ports::{Embedder, IndexPoint, TokenEmbedding};
use rapport_embed::LocalEmbedder;
use rapport_knowledge::chunk::ChunkSizes;
use rapport_knowledge::late::TokenVectors;
use rapport_knowledge::sparse::SparseEncoder;
use rapport_knowledge::{KnowledgeBase, SearchOptions};
use rapport_server::{App, Config};
use rapport_store::knowledge::{DocumentChange, DocumentUpsert, NewChunk};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Embedding throughput (batch) and single-query latency.
    Embed {
        /// Number of chunks in the throughput run.
        #[arg(long, default_value_t = 256)]
        chunks: usize,
        /// Words per chunk.
        #[arg(long, default_value_t = 200)]
        words: usize,
        /// Single queries timed for the latency percentiles.
        #[arg(long, default_value_t = 200)]
        queries: usize,
    },
    /// Ingestion rate (extract, chunk, embed, store, index) against the raw embedder rate on
    /// the same chunks.
    Ingest {
        /// A help center: a folder of articles or a JSONL export (`id, title, url, text`).
        #[arg(long, default_value = "knowledge/articles")]
        corpus: PathBuf,
    },
    /// WhatsApp webhook acknowledgement latency: signed posts on loopback, each verified,
    /// parsed, its customer resolved, the message stored and its reply queued before the 200.
    /// The customers are stored first (one post each, timed apart), so the measured posts meet
    /// a database of that size; replies are not run.
    Webhook {
        #[arg(long, default_value_t = 1000)]
        posts: usize,
        /// Distinct customers, stored before the measured posts, which come from them in turn.
        #[arg(long, default_value_t = 100)]
        customers: usize,
        /// Senders posting at once (closed loop: each sends its next post on the 200).
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
    /// Query latency of hybrid search (embed, dense and sparse search, fusion, title and token
    /// rescoring, reading the chunks) with and without token rescoring, memory and sizes on
    /// disk at index sizes.
    Query {
        /// Index sizes to measure, in chunks.
        #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
        points: Vec<usize>,
        #[arg(long, default_value_t = 200)]
        queries: usize,
        /// Real chunks whose vectors seed the synthetic index (embedding 100k chunks would
        /// take over an hour on a small machine; the seeds are perturbed instead).
        #[arg(long, default_value = "knowledge/articles")]
        corpus: PathBuf,
    },
    /// What an action turn adds to a reply: playground turns that call an order-status action
    /// on a local shop that answers at once, against turns answered from the demo knowledge;
    /// the action's own stage time (`timings_ms.act`) less the shop call's latency.
    Action {
        #[arg(long, default_value_t = 50)]
        turns: usize,
    },
    /// The routing pass every node runs every 2 s, at queue sizes: escalations stored first
    /// (open, unrouted), agents online; then passes are timed until nothing is left to route,
    /// and once more in the steady state (agents full, the rest queued).
    Routing {
        #[arg(long, default_value_t = 20_000)]
        escalations: usize,
        #[arg(long, default_value_t = 20)]
        agents: usize,
    },
}

pub async fn run(command: BenchCommand, config: &Config) -> anyhow::Result<()> {
    match command {
        BenchCommand::Embed {
            chunks,
            words,
            queries,
        } => embed(config, chunks, words, queries).await,
        BenchCommand::Ingest { corpus } => ingest(config, &corpus).await,
        BenchCommand::Webhook {
            posts,
            customers,
            concurrency,
        } => webhook(config, posts, customers, concurrency).await,
        BenchCommand::Query {
            points,
            queries,
            corpus,
        } => query(config, &points, queries, &corpus).await,
        BenchCommand::Action { turns } => action(config, turns).await,
        BenchCommand::Routing {
            escalations,
            agents,
        } => routing(config, escalations, agents).await,
    }
}

/// A shop on loopback that answers every request at once with one order's status.
async fn instant_shop() -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let body = r#"{"order": "4821", "status": "shipped", "eta": "2026-12-05"}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    Ok(url)
}

async fn action(config: &Config, turns: usize) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let app = App::build(scratch_config(config, scratch.path())).await?;
    let ws = WorkspaceId::DEFAULT;
    let articles = std::fs::canonicalize("knowledge/articles")?;
    let source = app
        .knowledge
        .upsert_source(
            ws,
            SourceKind::Articles,
            "Demo articles",
            &serde_json::json!({"path": articles}),
        )
        .await?;
    app.knowledge.sync(ws, source.id).await?;
    let admin = app
        .auth
        .create_user(
            ws,
            "bench@rapport.test",
            "Bench",
            rapport_core::domain::Role::Admin,
            "bench password 1",
        )
        .await?;
    let token = app.auth.issue_token(ws, admin.id, "bench").await?.token;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = app.start(listener, shutdown.clone());
    let client = reqwest::Client::new();
    let shop = instant_shop().await?;
    let defined = client
        .post(format!("{base}/api/v1/actions"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "order_status", "definition": {
            "description": "Looks up where the customer's order is",
            "examples": ["where is my order?", "has my order shipped yet?", "what is the status of my order"],
            "url": format!("{shop}/orders/{{{{ order_id }}}}"),
            "inputs": [{"name": "order_id", "kind": "order_id", "question": "What is your order number?"}],
            "reply": "Order {{ order_id }} is {{ response.status }}, arriving {{ response.eta }}.",
            "allow_private_addresses": true
        }}))
        .send()
        .await?;
    anyhow::ensure!(
        defined.status() == 201,
        "the action was refused: {}",
        defined.text().await?
    );
    let turn = |n: usize, text: &'static str| {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        async move {
            let t = Instant::now();
            let body: serde_json::Value = client
                .post(format!("{base}/api/v1/playground/messages"))
                .bearer_auth(&token)
                .json(&serde_json::json!({"channel": "whatsapp",
                    "customer": {"phone": format!("+1415555{n:04}")}, "text": text}))
                .send()
                .await?
                .json()
                .await?;
            anyhow::Ok((t.elapsed().as_secs_f64() * 1000.0, body))
        }
    };
    let (mut action_turns, mut answer_turns, mut act_less_call) =
        (Vec::new(), Vec::new(), Vec::new());
    for n in 0..turns + 5 {
        let (ms, body) = turn(n, "where is my order 4821?").await?;
        let trace = &body["trace"];
        anyhow::ensure!(
            trace["action"]["name"] == "order_status",
            "no action ran: {body}"
        );
        let (ms_answer, _) = turn(n, "how do I reset my thermostat?").await?;
        // The first few warm the embedder's cache and the connections.
        if n >= 5 {
            action_turns.push(ms);
            answer_turns.push(ms_answer);
            let act = trace["timings_ms"]["act"].as_f64().unwrap_or_default();
            let call = trace["action"]["call"]["latency_ms"]
                .as_f64()
                .unwrap_or_default();
            act_less_call.push(act - call);
        }
    }
    shutdown.cancel();
    running.stopped().await?;
    let p50 = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "turns": turns,
            "action_turn_p50_ms": p50(&mut action_turns),
            "knowledge_turn_p50_ms": p50(&mut answer_turns),
            "act_stage_less_shop_call_p50_ms": p50(&mut act_less_call),
        }))?
    );
    Ok(())
}

/// A configuration whose data (database, index, uploads) lives in `dir`, models where they are.
fn scratch_config(config: &Config, dir: &Path) -> Config {
    let mut scratch = config.clone();
    scratch.model_dir = Some(config.model_dir());
    scratch.data_dir = dir.to_path_buf();
    scratch.secrets.database_url = None;
    // Never a configured Qdrant server: scratch chunk ids would overwrite its points.
    scratch.index.qdrant_url = None;
    scratch
}

const WEBHOOK_SECRET: &str = "bench-app-secret";

/// One signed WhatsApp text from customer `customer`, message number `n`.
fn whatsapp_post(customer: usize, n: usize) -> anyhow::Result<(Vec<u8>, String)> {
    let wa_id = format!("1415{customer:07}");
    let body = serde_json::to_vec(&serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": "1"},
            "contacts": [{"profile": {"name": "Bench"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": format!("wamid.bench.{n}"), "timestamp": "1700000000",
                          "type": "text", "text": {"body": "Where is my order? It has not arrived yet."}}]
        }}]}]
    }))?;
    let signature = rapport_channels::whatsapp::sign(WEBHOOK_SECRET, &body);
    Ok((body, signature))
}

/// Posts messages `from..to` (customer `n % customers`) with `concurrency` senders; returns
/// each post's latency in ms and the wall time in seconds.
async fn post_webhooks(
    url: &str,
    from: usize,
    to: usize,
    customers: usize,
    concurrency: usize,
) -> anyhow::Result<(Vec<f64>, f64)> {
    let client = reqwest::Client::new();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(from));
    let started = Instant::now();
    let senders: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (client, next, url) = (client.clone(), next.clone(), url.to_owned());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= to {
                        return anyhow::Ok(latencies);
                    }
                    let (body, signature) = whatsapp_post(n % customers.max(1), n)?;
                    let t = Instant::now();
                    let resp = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("x-hub-signature-256", signature)
                        .body(body)
                        .send()
                        .await?;
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    anyhow::ensure!(resp.status() == 200, "post {n} answered {}", resp.status());
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(to - from);
    for sender in senders {
        latencies.extend(sender.await??);
    }
    Ok((latencies, started.elapsed().as_secs_f64()))
}

async fn webhook(
    config: &Config,
    posts: usize,
    customers: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let mut config = scratch_config(config, scratch.path());
    config.secrets.whatsapp_app_secret = Some(rapport_server::config::Secret::new(WEBHOOK_SECRET));
    // The acknowledgement alone: replies would compete for the same two cores.
    config.jobs.workers = 0;
    let app = App::build(config).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhooks/whatsapp", listener.local_addr()?);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let backend = app.store.backend().as_str();
    let store = app.store.clone();
    let running = app.start(listener, shutdown.clone());
    let customers = customers.max(1);
    let (_, seeding) = post_webhooks(&url, 0, customers, customers, concurrency).await?;
    let (mut latencies, total) =
        post_webhooks(&url, customers, customers + posts, customers, concurrency).await?;
    // Every acknowledged message is stored, once.
    let stored: i64 = store
        .message_counts()
        .await?
        .iter()
        .filter(|(channel, direction, _)| channel == "whatsapp" && direction == "inbound")
        .map(|(_, _, n)| n)
        .sum();
    shutdown.cancel();
    running.stopped().await?;
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "posts": posts,
            "customers": customers,
            "concurrency": concurrency,
            "backend": backend,
            "seeding_posts_per_second": customers as f64 / seeding,
            "p50_ms": pct(0.5),
            "p99_ms": pct(0.99),
            "max_ms": latencies.last(),
            "posts_per_second": posts as f64 / total,
            "messages_stored": stored,
            "messages_expected": customers + posts,
        }))?
    );
    Ok(())
}

fn corpus_chunks(corpus: &Path) -> anyhow::Result<Vec<String>> {
    let docs = rapport_knowledge::connectors::read_articles(corpus)?;
    Ok(docs
        .iter()
        .flat_map(|d| d.chunks(ChunkSizes::default()))
        .map(|c| c.indexed_text)
        .collect())
}

async fn ingest(config: &Config, corpus: &Path) -> anyhow::Result<()> {
    let corpus = std::fs::canonicalize(corpus)?;
    let texts = corpus_chunks(&corpus)?;
    let scratch = tempfile::tempdir()?;
    let app = App::build(scratch_config(config, scratch.path())).await?;

    app.embedder
        .embed(texts[..texts.len().min(8)].to_vec())
        .await?; // warm-up
    let started = Instant::now();
    app.embedder.embed(texts.clone()).await?;
    let raw = texts.len() as f64 / started.elapsed().as_secs_f64();

    let ws = WorkspaceId::DEFAULT;
    let source = app
        .knowledge
        .upsert_source(
            ws,
            SourceKind::Articles,
            "bench",
            &serde_json::json!({"path": corpus.display().to_string()}),
        )
        .await?;
    let started = Instant::now();
    let report = app.knowledge.sync(ws, source.id).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let pipeline = report.chunks_indexed as f64 / elapsed;
    let started = Instant::now();
    let resync = app.knowledge.sync(ws, source.id).await?;
    let resync_s = started.elapsed().as_secs_f64();
    let report = serde_json::json!({
        "documents": report.documents_total,
        "chunks": report.chunks_indexed,
        "raw_embedder_chunks_per_second": raw,
        "pipeline_chunks_per_second": pipeline,
        "pipeline_vs_embedder": pipeline / raw,
        "pipeline_seconds": elapsed,
        "unchanged_resync_seconds": resync_s,
        "unchanged_resync_chunks_embedded": resync.chunks_indexed,
        "index_batch": config.knowledge.index_batch,
        "embed_batch_size": config.embedder.batch_size,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

async fn query(
    config: &Config,
    sizes: &[usize],
    queries: usize,
    corpus: &Path,
) -> anyhow::Result<()> {
    let texts = corpus_chunks(corpus)?;
    let questions: Vec<String> = texts
        .iter()
        .map(|t| {
            t.split_whitespace()
                .skip(3)
                .take(9)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let sparse = SparseEncoder::default();
    let mut results = Vec::new();
    for &size in sizes {
        // The product's own path: SQLite and Qdrant Edge in a scratch data dir, searched by
        // `KnowledgeBase::search` (embedding, dense and sparse search, fusion, title and token
        // rescoring, reading the chunks).
        let scratch = tempfile::tempdir()?;
        let scratch_config = scratch_config(config, scratch.path());
        let app = App::build(scratch_config.clone()).await?;
        let seeds = app.embedder.embed_with_tokens(texts.clone()).await?;
        let seed_tokens: Vec<Vec<u8>> = seeds
            .iter()
            .map(|s| TokenVectors::of_chunk(&s.tokens).to_bytes())
            .collect();
        let started = Instant::now();
        store_synthetic_chunks(&app, size, &texts, &seeds, &seed_tokens, &sparse).await?;
        app.index.optimize().await?;
        let build_s = started.elapsed().as_secs_f64();

        let mut without_tokens = scratch_config.knowledge_settings();
        without_tokens.token_weight = 0.0;
        let plain = KnowledgeBase::new(
            app.store.clone(),
            app.embedder.clone(),
            app.index.clone(),
            without_tokens,
        );
        let mut measured = serde_json::Map::new();
        for (label, knowledge) in [
            ("hybrid", &app.knowledge),
            ("hybrid_without_token_rescoring", &plain),
        ] {
            let mut latencies = Vec::with_capacity(queries);
            for i in 0..queries {
                let q = &questions[(i * 7) % questions.len()];
                let t = Instant::now();
                let hits = knowledge
                    .search(WorkspaceId::DEFAULT, q, &SearchOptions::default())
                    .await?;
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                anyhow::ensure!(!hits.is_empty(), "no hits at {size} chunks");
            }
            latencies.sort_by(f64::total_cmp);
            measured.insert(
                label.into(),
                serde_json::json!({
                    "p50": rapport_knowledge::eval::percentile(&latencies, 0.5),
                    "p95": rapport_knowledge::eval::percentile(&latencies, 0.95),
                }),
            );
        }
        results.push(serde_json::json!({
            "chunks": size,
            "store_and_index_seconds": build_s,
            "query_ms": measured,
            "index_bytes_on_disk": dir_size(&scratch_config.index_dir()),
            "database_bytes_on_disk": dir_size(scratch.path()) - dir_size(&scratch_config.index_dir()),
            "rss_mb": memory_mb("VmRSS:"),
            "peak_rss_mb": memory_mb("VmHWM:"),
        }));
        drop(plain);
        app.store.close().await;
        drop(app);
    }
    println!("{}", serde_json::to_string_pretty(&results)?);
    Ok(())
}

/// Stores `size` chunks (eight to a document) and indexes them, each a perturbed copy of a real
/// chunk's vectors: embedding 100k chunks would take over an hour on a small machine.
async fn store_synthetic_chunks(
    app: &App,
    size: usize,
    texts: &[String],
    seeds: &[TokenEmbedding],
    seed_tokens: &[Vec<u8>],
    sparse: &SparseEncoder,
) -> anyhow::Result<()> {
    let ws = WorkspaceId::DEFAULT;
    let source = app
        .store
        .create_source(ws, SourceKind::Articles, "Bench", &serde_json::json!({}))
        .await?;
    let mut points = Vec::new();
    for document in 0..size.div_ceil(8) {
        let chunks = document * 8..(document * 8 + 8).min(size);
        let upsert = DocumentUpsert {
            external_ref: format!("bench-{document}"),
            title: format!("Article {document}"),
            url: None,
            content_hash: format!("bench-{document}"),
            metadata: serde_json::json!({}),
        };
        let DocumentChange::Changed(document_id) =
            app.store.upsert_document(ws, source.id, &upsert).await?
        else {
            anyhow::bail!("bench document {document} already stored");
        };
        let rows: Vec<NewChunk> = chunks
            .clone()
            .map(|i| NewChunk {
                ordinal: (i % 8) as i32,
                heading_path: String::new(),
                text: texts[i % texts.len()].clone(),
                hash: format!("bench-{i}"),
                token_count: 200,
                page: None,
                token_vectors: Some(seed_tokens[i % seeds.len()].clone()),
            })
            .collect();
        let (_, ids) = app
            .store
            .replace_chunks(ws, source.id, document_id, &rows)
            .await?;
        for (chunk_id, i) in ids.into_iter().zip(chunks) {
            let seed = i % seeds.len();
            points.push(IndexPoint {
                chunk_id,
                workspace_id: ws,
                source_id: source.id,
                document_id,
                source_kind: SourceKind::Articles,
                dense: perturb(&seeds[seed].vector, i),
                sparse: Some(sparse.document(&texts[seed])),
            });
        }
        let title = perturb(&seeds[document % seeds.len()].vector, document);
        app.store
            .mark_document_indexed(document_id, &upsert.content_hash, Some(&title))
            .await?;
        if points.len() >= 5_000 {
            app.index.upsert(std::mem::take(&mut points)).await?;
        }
    }
    if !points.is_empty() {
        app.index.upsert(points).await?;
    }
    Ok(())
}

/// A distinct unit vector near `seed`, so that synthetic points spread like real chunks.
fn perturb(seed: &[f32], i: usize) -> Vec<f32> {
    let mut state = (i as u64)
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1);
    let mut v: Vec<f32> = seed
        .iter()
        .map(|x| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let noise = ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5;
            x + noise * 0.08
        })
        .collect();
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::EPSILON);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => dir_size(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        })
        .unwrap_or(0)
}

/// A line of /proc/self/status, in MB.
fn memory_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

const VOCABULARY: &[&str] = &[
    "thermostat",
    "order",
    "refund",
    "shipping",
    "password",
    "account",
    "wifi",
    "router",
    "hub",
    "plug",
    "schedule",
    "invoice",
    "subscription",
    "warranty",
    "return",
    "the",
    "a",
    "my",
    "is",
    "not",
    "working",
    "since",
    "yesterday",
    "please",
    "help",
    "with",
    "device",
    "firmware",
    "update",
    "app",
    "settings",
    "temperature",
    "heating",
    "cooling",
    "energy",
    "report",
    "battery",
    "replace",
    "support",
    "delivery",
];

/// Deterministic filler text: every chunk differs, so no cache can help.
fn chunk_text(i: usize, words: usize) -> String {
    (0..words)
        .map(|w| VOCABULARY[(i * 31 + w * 7 + w * w) % VOCABULARY.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

async fn embed(config: &Config, chunks: usize, words: usize, queries: usize) -> anyhow::Result<()> {
    let opts = config.embedder_options();
    let load_started = Instant::now();
    let embedder = tokio::task::spawn_blocking(move || LocalEmbedder::load(&opts)).await??;
    let load = load_started.elapsed();

    let texts: Vec<String> = (0..chunks).map(|i| chunk_text(i, words)).collect();
    embedder.embed(texts[..chunks.min(8)].to_vec()).await?; // warm-up
    let started = Instant::now();
    let vectors = embedder.embed(texts).await?;
    let batch = started.elapsed();
    anyhow::ensure!(
        vectors.len() == chunks,
        "expected {chunks} vectors, got {}",
        vectors.len()
    );

    let mut latencies = Vec::with_capacity(queries);
    for i in 0..queries {
        let q = format!(
            "how do I fix my {} {}?",
            VOCABULARY[i % VOCABULARY.len()],
            i
        );
        let t = Instant::now();
        embedder.embed_one(&q).await?;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    let report = serde_json::json!({
        "model": rapport_embed::MODEL_NAME,
        "threads": config.embedder_options().threads,
        "batch_size": config.embedder_options().batch_size,
        "load_ms": load.as_millis(),
        "chunks": chunks,
        "words_per_chunk": words,
        "batch_seconds": batch.as_secs_f64(),
        "chunks_per_second": chunks as f64 / batch.as_secs_f64(),
        "single_query_ms": { "p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99) },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

async fn routing(config: &Config, escalations: usize, agents: usize) -> anyhow::Result<()> {
    use rapport_core::domain::Channel;
    use rapport_store::contacts::NewContact;
    use rapport_store::escalations::NewEscalation;
    let scratch = tempfile::tempdir()?;
    let mut config = scratch_config(config, scratch.path());
    config.jobs.workers = 0;
    let app = App::build(config).await?;
    let ws = WorkspaceId::DEFAULT;
    let store = app.store.clone();
    let seeding = Instant::now();
    for n in 0..escalations {
        let contact = store.create_contact(ws, &NewContact::default()).await?;
        let conversation = store
            .open_conversation(ws, contact.id.into(), Channel::Whatsapp, false)
            .await?;
        store
            .escalate(
                ws,
                &NewEscalation {
                    conversation_id: conversation,
                    reason: if n % 3 == 0 {
                        "billing dispute"
                    } else {
                        "the customer asked for a human"
                    }
                    .into(),
                    summary: format!("Customer {n}"),
                    context: serde_json::json!({}),
                    draft: None,
                },
            )
            .await?;
    }
    let seeded_s = seeding.elapsed().as_secs_f64();
    let now = chrono::Utc::now();
    for a in 0..agents {
        let user = app
            .auth
            .create_user(
                ws,
                &format!("agent{a}@rapport.test"),
                &format!("Agent {a}"),
                rapport_core::domain::Role::Agent,
                "bench password 1",
            )
            .await?;
        store.beat(ws, user.id, Some("online"), true, now).await?;
    }
    let (mut passes, mut routed, mut assigned) = (Vec::new(), 0, 0);
    loop {
        let t = Instant::now();
        let report = app.desk.route_once(chrono::Utc::now()).await?;
        passes.push(t.elapsed().as_secs_f64() * 1000.0);
        routed += report.routed;
        assigned += report.assigned;
        if report.routed == 0 && report.assigned == 0 {
            break;
        }
    }
    let mut steady = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        app.desk.route_once(chrono::Utc::now()).await?;
        steady.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    steady.sort_by(f64::total_cmp);
    let mut busy = passes.clone();
    busy.sort_by(f64::total_cmp);
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "escalations": escalations,
            "agents_online": agents,
            "seeded_in_s": seeded_s,
            "passes_to_route_all": passes.len(),
            "routed": routed,
            "assigned": assigned,
            "busy_pass_p50_ms": busy[busy.len() / 2],
            "busy_pass_max_ms": busy.last(),
            "steady_pass_p50_ms": steady[steady.len() / 2],
        }))?
    );
    Ok(())
}
