//! `rapport bench …`: speed figures measured on the machine at hand, for closing notes and
//! regressions. Benchmarks print numbers; they never assert on time.

use std::time::Instant;

use clap::Subcommand;
use rapport_core::ports::Embedder;
use rapport_embed::LocalEmbedder;
use rapport_server::Config;

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
}

pub async fn run(command: BenchCommand, config: &Config) -> anyhow::Result<()> {
    match command {
        BenchCommand::Embed {
            chunks,
            words,
            queries,
        } => embed(config, chunks, words, queries).await,
    }
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
