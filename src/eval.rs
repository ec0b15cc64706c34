//! `rapport eval …`: quality figures on evaluation sets. Each run ingests the corpus into a
//! throwaway data dir (SQLite and Qdrant Edge in a temporary folder), so it never touches the
//! real knowledge and always measures the pipeline the product runs.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use rapport_core::domain::SourceKind;
use rapport_core::ids::WorkspaceId;
use rapport_core::ports::SearchMode;
use rapport_knowledge::eval::{EvalQuestion, evaluate_retrieval};
use rapport_server::{App, Config};
use serde_json::json;

#[derive(Subcommand)]
pub enum EvalCommand {
    /// Recall@k, MRR and nDCG of retrieval on a corpus and its questions.
    Retrieval {
        /// JSONL, one document a line: `id`, `title`, `url`, `text`.
        #[arg(long)]
        corpus: PathBuf,
        /// JSONL: `id`, `question`, `gold_doc_ids`, `answerable`.
        #[arg(long)]
        questions: PathBuf,
        #[arg(long, default_value_t = 10)]
        k: usize,
        #[arg(long, value_enum, default_value_t = ModeArg::Hybrid)]
        mode: ModeArg,
        /// Print one JSON object (one per line with `--mode all`).
        #[arg(long)]
        json: bool,
        /// Write the questions whose gold document was not first to this JSONL file.
        #[arg(long)]
        misses: Option<PathBuf>,
        /// Write each question's raw dense and sparse candidates (document, score) to this JSONL
        /// file, to study fusion without re-ingesting.
        #[arg(long)]
        dump: Option<PathBuf>,
        /// Weight of the question–title match instead of the configured one.
        #[arg(long)]
        title_weight: Option<f32>,
        /// Weight of the question's word-by-word match with each chunk (late interaction)
        /// instead of the configured one; 0 turns it off.
        #[arg(long)]
        token_weight: Option<f32>,
        /// Chunk size in tokens to use instead of the default (overlap and minimum scale with it).
        #[arg(long)]
        chunk_tokens: Option<usize>,
        /// Hybrid fusion to use instead of the configured one: `rrf[:k[:dense_weight]]` or
        /// `convex[:alpha]`.
        #[arg(long)]
        fusion: Option<rapport_knowledge::fusion::Fusion>,
        /// Ingest into this folder and keep it instead of a temporary one; a later run on the
        /// same folder re-syncs only what changed, so trying ranking settings costs only the
        /// questions. Use one folder per corpus and chunk size.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Answered vs escalated per question (`answerable` true/false), with citation hits; the
    /// last line printed is one JSON object of figures.
    Answers {
        #[arg(long)]
        corpus: PathBuf,
        /// JSONL: `id`, `question`, `gold_doc_ids`, `answerable`.
        #[arg(long)]
        questions: PathBuf,
        /// Every n-th question, to run a sample.
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long)]
        json: bool,
        /// Write the wrongly handled questions to this JSONL file.
        #[arg(long)]
        misses: Option<PathBuf>,
        /// Similarity threshold to use instead of the configured one.
        #[arg(long)]
        support_threshold: Option<f32>,
        /// Write every question's outcome (not only the wrong ones) to the `--misses` file.
        #[arg(long, requires = "misses")]
        all: bool,
        /// Write every question's answerability features and label (JSONL), the input of
        /// `eval fit-answerability`.
        #[arg(long)]
        features: Option<PathBuf>,
    },
    /// Fits the answerability model on `eval answers --features` files with grouped k-fold
    /// cross-validation; prints the cross-validated rates per set and, with `--write`, saves
    /// the model fitted on everything.
    FitAnswerability {
        /// One file per dev set (repeat the flag).
        #[arg(long, required = true)]
        features: Vec<PathBuf>,
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// L2 penalty on the standardised weights.
        #[arg(long, default_value_t = 0.01)]
        l2: f64,
        /// Where to write the fitted model (e.g. `prompts/answerability.json`).
        #[arg(long)]
        write: Option<PathBuf>,
        /// The version the written model carries.
        #[arg(long, default_value_t = 1)]
        version: u32,
    },
    /// Precision and recall per intent on a labelled JSONL file (`lang`, `intent`, `text`),
    /// or leave-one-out on the example bank (`--bank-only`); one JSON object of figures.
    Intents {
        #[arg(long, required_unless_present = "bank_only")]
        messages: Option<PathBuf>,
        #[arg(long)]
        bank_only: bool,
        /// The keyword rules alone (the reading before the example bank), as a baseline.
        #[arg(long)]
        rules_only: bool,
        /// Write the misread messages to this JSONL file.
        #[arg(long)]
        misses: Option<PathBuf>,
        /// Weight of the embedding against letter trigrams (0–1).
        #[arg(long)]
        dense_weight: Option<f32>,
        /// Closest examples per intent that make its score.
        #[arg(long)]
        k: Option<usize>,
        /// Best score below which a message is read as a question.
        #[arg(long)]
        floor: Option<f32>,
        /// Lead a hand-over intent needs over the best other intent.
        #[arg(long)]
        handover_margin: Option<f32>,
        /// Score below which a hand-over intent is not trusted.
        #[arg(long)]
        handover_floor: Option<f32>,
    },
    /// Cross-channel conversations step by step, each in a fresh data dir; the last line
    /// printed is one JSON object: `passed`, `total`, `scenarios`.
    Scenarios {
        #[arg(long)]
        corpus: PathBuf,
        #[arg(long)]
        scenarios: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Hybrid,
    Dense,
    Sparse,
    /// The three modes on one ingestion.
    All,
}

pub async fn run(command: EvalCommand, config: Config) -> anyhow::Result<()> {
    match command {
        EvalCommand::Retrieval {
            corpus,
            questions,
            k,
            mode,
            json,
            misses,
            dump,
            fusion,
            chunk_tokens,
            title_weight,
            token_weight,
            data_dir,
        } => {
            let mut config = config;
            if let Some(weight) = title_weight {
                config.knowledge.title_weight = weight;
            }
            if let Some(weight) = token_weight {
                config.knowledge.token_weight = weight;
            }
            if let Some(tokens) = chunk_tokens {
                config.knowledge.chunk_max_tokens = tokens;
            }
            if let Some(fusion) = fusion {
                config.knowledge.fusion = fusion;
            }
            let outputs = Outputs {
                misses: misses.as_deref(),
                dump: dump.as_deref(),
                data_dir: data_dir.as_deref(),
            };
            retrieval(config, &corpus, &questions, k, mode, json, outputs).await
        }
        EvalCommand::Answers {
            corpus,
            questions,
            limit,
            json,
            misses,
            support_threshold,
            all,
            features,
        } => {
            let mut config = config;
            if let Some(t) = support_threshold {
                config.agent.support_threshold = t;
            }
            let run = crate::eval_agent::AnswerRun {
                corpus: &corpus,
                questions: &questions,
                limit,
                json,
                misses: misses.as_deref(),
                all,
                features: features.as_deref(),
            };
            crate::eval_agent::answers(config, run).await
        }
        EvalCommand::FitAnswerability {
            features,
            folds,
            l2,
            write,
            version,
        } => crate::eval_answerability::fit(&features, folds, l2, write.as_deref(), version),
        EvalCommand::Scenarios {
            corpus,
            scenarios,
            json,
        } => crate::eval_agent::scenarios(config, &corpus, &scenarios, json).await,
        EvalCommand::Intents {
            messages,
            bank_only,
            rules_only,
            misses,
            dense_weight,
            k,
            floor,
            handover_margin,
            handover_floor,
        } => {
            let d = rapport_agent::intents::ClassifierTuning::default();
            let tuning = rapport_agent::intents::ClassifierTuning {
                dense_weight: dense_weight.unwrap_or(d.dense_weight),
                k: k.unwrap_or(d.k),
                floor: floor.unwrap_or(d.floor),
                handover_margin: handover_margin.unwrap_or(d.handover_margin),
                handover_floor: handover_floor.unwrap_or(d.handover_floor),
                ..d
            };
            let eval = crate::eval_intents::IntentEval {
                messages: messages.as_deref(),
                bank_only,
                rules_only,
                tuning,
                misses: misses.as_deref(),
            };
            crate::eval_intents::run(config, eval).await
        }
    }
}

async fn retrieval(
    config: Config,
    corpus: &Path,
    questions: &Path,
    k: usize,
    mode: ModeArg,
    json: bool,
    outputs: Outputs<'_>,
) -> anyhow::Result<()> {
    let misses_path = outputs.misses;
    let questions = read_questions(questions)?;
    let (kept, scratch);
    let app: &App = match outputs.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            kept = ingested_app(config, corpus, dir).await?;
            &kept
        }
        None => {
            scratch = scratch_app(config, corpus).await?;
            &scratch.app
        }
    };
    let ws = WorkspaceId::DEFAULT;
    if let Some(path) = outputs.dump {
        let mut out = String::new();
        for q in questions.iter().filter(|q| q.answerable) {
            let lists = app.knowledge.candidates(ws, &q.question, 100).await?;
            let mut line = json!({"id": q.id, "gold": q.gold_doc_ids});
            for (mode, list) in lists {
                line[mode.as_str()] = json!(list);
            }
            out.push_str(&serde_json::to_string(&line)?);
            out.push('\n');
        }
        std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let modes = match mode {
        ModeArg::Hybrid => vec![SearchMode::Hybrid],
        ModeArg::Dense => vec![SearchMode::Dense],
        ModeArg::Sparse => vec![SearchMode::Sparse],
        ModeArg::All => vec![SearchMode::Hybrid, SearchMode::Dense, SearchMode::Sparse],
    };
    let mut all_misses = Vec::new();
    for mode in modes {
        let (metrics, misses) = evaluate_retrieval(&app.knowledge, ws, &questions, mode, k).await?;
        if json {
            println!("{}", serde_json::to_string(&metrics)?);
        } else {
            println!(
                "{:<7} n={} recall@1={:.3} recall@5={:.3} recall@10={:.3} mrr={:.3} ndcg@10={:.3} p50={:.1}ms p95={:.1}ms",
                metrics.mode,
                metrics.n,
                metrics.recall_at_1,
                metrics.recall_at_5,
                metrics.recall_at_10,
                metrics.mrr,
                metrics.ndcg_at_10,
                metrics.p50_ms,
                metrics.p95_ms
            );
        }
        all_misses.extend(misses.into_iter().map(|m| (metrics.mode.clone(), m)));
    }
    if let Some(path) = misses_path {
        let mut out = String::new();
        for (mode, miss) in all_misses {
            let mut value = serde_json::to_value(miss)?;
            value["mode"] = json!(mode);
            out.push_str(&serde_json::to_string(&value)?);
            out.push('\n');
        }
        std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// An app on a throwaway data dir (SQLite and Qdrant Edge in a temporary folder) with `corpus`
/// ingested as a help center. Keep the returned directory alive as long as the app.
pub(crate) async fn scratch_app(config: Config, corpus: &Path) -> anyhow::Result<Scratch> {
    let scratch = tempfile::tempdir().context("cannot create a scratch data dir")?;
    let app = ingested_app(config, corpus, scratch.path()).await?;
    Ok(Scratch { app, dir: scratch })
}

/// The app of [`scratch_app`] on a data dir of the caller's (`--data-dir`), which outlives the
/// run: the corpus is synced into it, so only documents new or changed since the last run are
/// embedded.
async fn ingested_app(mut config: Config, corpus: &Path, data_dir: &Path) -> anyhow::Result<App> {
    let corpus = std::fs::canonicalize(corpus)
        .with_context(|| format!("{} does not exist", corpus.display()))?;
    config.model_dir = Some(config.model_dir());
    config.data_dir = data_dir.to_path_buf();
    // Always SQLite and Qdrant Edge in the data dir, even where DATABASE_URL or QDRANT_URL point
    // at real ones: the eval database numbers its chunks from 1, and those ids would overwrite
    // the points of a live collection.
    config.secrets.database_url = None;
    config.index.qdrant_url = None;
    // Queued work (memory updates) is run by the evaluation itself, when it matters.
    config.jobs.workers = 0;
    let app = App::build(config)
        .await
        .context("could not start the pipeline")?;
    let ws = WorkspaceId::DEFAULT;
    let source = app
        .knowledge
        .upsert_source(
            ws,
            SourceKind::Articles,
            "eval corpus",
            &json!({"path": corpus.display().to_string()}),
        )
        .await?;
    let report = app.knowledge.sync(ws, source.id).await?;
    let source = app.store.source(ws, source.id).await?;
    if let Some(error) = source.error {
        anyhow::bail!("the corpus could not be ingested: {error}");
    }
    eprintln!(
        "ingested {} documents into {} chunks in {:.1} s",
        report.documents_total,
        report.chunks_total,
        report.elapsed_ms as f64 / 1000.0
    );
    Ok(app)
}

/// An app on a temporary data dir. The app is dropped (and its index closed) before the
/// directory is removed: fields drop in declaration order.
pub(crate) struct Scratch {
    pub app: App,
    pub dir: tempfile::TempDir,
}

/// Optional files a run writes besides its figures.
struct Outputs<'a> {
    misses: Option<&'a Path>,
    dump: Option<&'a Path>,
    data_dir: Option<&'a Path>,
}

fn read_questions(path: &Path) -> anyhow::Result<Vec<EvalQuestion>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{} line {}: not a question", path.display(), n + 1))
        })
        .collect()
}
