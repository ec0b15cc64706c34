//! `rapport ingest …`: adds or re-syncs knowledge from the command line, in process, with a
//! progress bar. Sources are found by name, so running the same command again re-syncs (only
//! changed documents are embedded). The server must not be running on the same data dir: the
//! vector index is opened by one process at a time.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};
use rapport_core::domain::SourceKind;
use rapport_core::ids::{SourceId, WorkspaceId};
use rapport_knowledge::{KnowledgeBase, SyncReport};
use rapport_server::{App, Config};
use serde_json::{Value, json};

const WS: WorkspaceId = WorkspaceId::DEFAULT;

#[derive(Subcommand)]
pub enum IngestCommand {
    /// A knowledge folder laid out like `knowledge/`: `articles/`, `snippets.csv`, `files/`,
    /// `conversations/*.jsonl`. Each part becomes a source named "<prefix> <part>".
    Dir {
        path: PathBuf,
        #[arg(long, default_value = "Demo")]
        prefix: String,
    },
    /// A help center: a folder of Markdown/HTML articles, or a JSON/JSONL export.
    Articles {
        path: PathBuf,
        #[arg(long)]
        name: Option<String>,
    },
    /// Snippets from a CSV (question, answer) or JSON file; replaces the source's snippets.
    Snippets {
        file: PathBuf,
        #[arg(long)]
        name: Option<String>,
    },
    /// Files: PDF, CSV, TXT, Markdown, HTML.
    Files {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long)]
        name: Option<String>,
        /// How CSV files are read.
        #[arg(long, value_enum, default_value_t = CsvModeArg::Qa)]
        csv_mode: CsvModeArg,
    },
    /// Crawl a web site.
    Web {
        start_url: String,
        #[arg(long)]
        sitemap: Option<String>,
        #[arg(long, default_value_t = 200)]
        max_pages: usize,
        #[arg(long, default_value_t = 3)]
        max_depth: u32,
        #[arg(long)]
        include: Vec<String>,
        #[arg(long)]
        exclude: Vec<String>,
        #[arg(long)]
        name: Option<String>,
    },
    /// Past conversations exported as JSONL; mined into Q&A candidates.
    Conversations {
        file: PathBuf,
        /// Index the pairs without review (for curated exports).
        #[arg(long)]
        approve: bool,
        #[arg(long)]
        name: Option<String>,
    },
    /// Re-sync existing sources (all of them without ids).
    Resync { ids: Vec<i64> },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum CsvModeArg {
    Qa,
    Rows,
}

pub async fn run(command: IngestCommand, config: Config) -> anyhow::Result<()> {
    let app = App::build(config)
        .await
        .context("could not open the data dir (is `rapport serve` running on it?)")?;
    let kb = app.knowledge.clone();
    let targets: Vec<(SourceKind, String, Value)> = match command {
        IngestCommand::Dir { path, prefix } => folder_sources(&path, &prefix)?,
        IngestCommand::Articles { path, name } => vec![(
            SourceKind::Articles,
            name.unwrap_or_else(|| default_name("Articles", &path)),
            json!({"path": absolute(&path)?}),
        )],
        IngestCommand::Snippets { file, name } => {
            let name = name.unwrap_or_else(|| default_name("Snippets", &file));
            import_snippets(&kb, &file, &name).await?;
            return report_sources(&kb, &[name]).await;
        }
        IngestCommand::Files {
            paths,
            name,
            csv_mode,
        } => {
            let name = name.unwrap_or_else(|| default_name("Files", &paths[0]));
            vec![(SourceKind::Files, name, files_config(&paths, csv_mode)?)]
        }
        IngestCommand::Web {
            start_url,
            sitemap,
            max_pages,
            max_depth,
            include,
            exclude,
            name,
        } => {
            let mut config = json!({
                "start_url": start_url, "max_pages": max_pages, "max_depth": max_depth,
                "include": include, "exclude": exclude,
            });
            if let Some(sitemap) = sitemap {
                config["sitemap_url"] = json!(sitemap);
            }
            vec![(SourceKind::Web, name.unwrap_or(start_url), config)]
        }
        IngestCommand::Conversations {
            file,
            approve,
            name,
        } => vec![(
            SourceKind::Conversations,
            name.unwrap_or_else(|| default_name("Conversations", &file)),
            json!({"import_path": absolute(&file)?, "auto_approve": approve, "mine_resolved": true}),
        )],
        IngestCommand::Resync { ids } => {
            let sources = app.store.sources(WS).await?;
            let chosen: Vec<_> = sources
                .into_iter()
                .filter(|s| ids.is_empty() || ids.contains(&s.id.0))
                .collect();
            if chosen.is_empty() {
                bail!("no such source");
            }
            for source in chosen {
                sync_with_progress(&kb, source.id, &source.name).await?;
            }
            return Ok(());
        }
    };
    for (kind, name, config) in targets {
        if kind == SourceKind::Snippets {
            let file = config["file"].as_str().unwrap_or_default().to_owned();
            import_snippets(&kb, Path::new(&file), &name).await?;
            continue;
        }
        let source = kb.upsert_source(WS, kind, &name, &config).await?;
        sync_with_progress(&kb, source.id, &name).await?;
    }
    Ok(())
}

/// The sources of a `knowledge/`-style folder.
fn folder_sources(root: &Path, prefix: &str) -> anyhow::Result<Vec<(SourceKind, String, Value)>> {
    if !root.is_dir() {
        bail!("{} is not a folder", root.display());
    }
    let mut out = Vec::new();
    let articles = root.join("articles");
    if articles.is_dir() {
        out.push((
            SourceKind::Articles,
            format!("{prefix} articles"),
            json!({"path": absolute(&articles)?}),
        ));
    }
    let snippets = root.join("snippets.csv");
    if snippets.is_file() {
        out.push((
            SourceKind::Snippets,
            format!("{prefix} snippets"),
            json!({"file": absolute(&snippets)?}),
        ));
    }
    let files_dir = root.join("files");
    if files_dir.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&files_dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
                ["pdf", "csv", "txt", "md", "html", "htm"].contains(&ext)
            })
            .collect();
        files.sort();
        if !files.is_empty() {
            out.push((
                SourceKind::Files,
                format!("{prefix} files"),
                files_config(&files, CsvModeArg::Qa)?,
            ));
        }
    }
    let conversations = root.join("conversations");
    if conversations.is_dir() {
        for entry in std::fs::read_dir(&conversations)? {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) == Some("jsonl") {
                // The folder is the admin's own curated knowledge: its conversations are approved.
                out.push((
                    SourceKind::Conversations,
                    format!("{prefix} conversations"),
                    json!({"import_path": absolute(&path)?, "auto_approve": true, "mine_resolved": false}),
                ));
            }
        }
    }
    if out.is_empty() {
        bail!(
            "{} holds no articles/, snippets.csv, files/ or conversations/",
            root.display()
        );
    }
    Ok(out)
}

fn files_config(paths: &[PathBuf], mode: CsvModeArg) -> anyhow::Result<Value> {
    let files = paths
        .iter()
        .map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .context("a file path has no file name")?;
            Ok(json!({"name": name, "path": absolute(p)?}))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mode = match mode {
        CsvModeArg::Qa => "qa",
        CsvModeArg::Rows => "rows",
    };
    Ok(json!({"files": files, "csv_mode": mode}))
}

/// Replaces the snippets of the named snippets source with those of the file: unchanged ones
/// keep their embeddings, removed ones leave the index.
async fn import_snippets(kb: &KnowledgeBase, file: &Path, name: &str) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let pairs = rapport_knowledge::connectors::parse_snippets(&bytes)
        .with_context(|| file.display().to_string())?;
    let source = kb
        .upsert_source(WS, SourceKind::Snippets, name, &json!({}))
        .await?;
    let pairs: Vec<(String, String)> = pairs.into_iter().map(|p| (p.question, p.answer)).collect();
    let report = kb.replace_snippets(WS, source.id, &pairs).await?;
    print_report(name, &report);
    Ok(())
}

async fn report_sources(kb: &KnowledgeBase, names: &[String]) -> anyhow::Result<()> {
    for name in names {
        if let Some(source) = kb.store().source_by_name(WS, name).await? {
            eprintln!(
                "{}: {} ({} chunks)",
                source.name,
                source.status,
                kb.store().count_chunks(source.id).await?
            );
        }
    }
    Ok(())
}

/// Runs the sync here and now, drawing the source's progress as it goes.
async fn sync_with_progress(kb: &KnowledgeBase, id: SourceId, name: &str) -> anyhow::Result<()> {
    let store = kb.store().clone();
    let label = name.to_owned();
    let tty = std::io::stderr().is_terminal();
    let drawer = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(if tty { 200 } else { 5000 })).await;
            if let Ok(source) = store.source(WS, id).await {
                draw(&label, &source.progress, tty);
            }
        }
    });
    let result = kb.sync(WS, id).await;
    drawer.abort();
    if tty {
        eprint!("\r\x1b[K");
    }
    let report = result?;
    let source = kb.store().source(WS, id).await?;
    if let Some(error) = source.error {
        bail!("{name}: failed: {error}");
    }
    print_report(name, &report);
    Ok(())
}

fn draw(label: &str, progress: &Value, tty: bool) {
    let get = |k: &str| progress.get(k).and_then(Value::as_u64).unwrap_or(0);
    let phase = progress.get("phase").and_then(Value::as_str).unwrap_or("");
    let line = if phase == "reading" {
        format!("{label}: reading…")
    } else if phase == "crawling" {
        format!(
            "{label}: crawling {}/{} pages",
            get("pages_done"),
            get("pages_known")
        )
    } else {
        let (done, total) = (get("documents_done"), get("documents_total"));
        let width = 30;
        let filled = (done * width).checked_div(total).unwrap_or(0) as usize;
        format!(
            "{label}: [{}{}] {done}/{total} documents, {} chunks embedded",
            "#".repeat(filled),
            "-".repeat(width as usize - filled.min(width as usize)),
            get("chunks_indexed")
        )
    };
    if tty {
        eprint!("\r\x1b[K{line}");
        let _ = std::io::stderr().flush();
    } else {
        eprintln!("{line}");
    }
}

fn print_report(name: &str, r: &SyncReport) {
    let mut line = format!(
        "{name}: {} documents ({} changed, {} unchanged, {} removed), {} chunks embedded, {} in the source, {:.1} s",
        r.documents_total,
        r.documents_changed,
        r.documents_unchanged,
        r.documents_removed,
        r.chunks_indexed,
        r.chunks_total,
        r.elapsed_ms as f64 / 1000.0
    );
    if let Some(added) = r.candidates_added {
        line.push_str(&format!(", {added} new Q&A candidates"));
    }
    if let Some(m) = &r.mining {
        let left_out: usize = m.left_out.values().sum();
        line.push_str(&format!(
            " ({} conversations: {} general pairs, {} of them with personal data removed, {left_out} left out)",
            m.conversations, m.pairs, m.cleaned
        ));
    }
    eprintln!("{line}");
    if let Some(crawl) = &r.crawl {
        eprintln!(
            "  crawl: {}",
            serde_json::to_string(crawl).unwrap_or_default()
        );
    }
}

fn default_name(kind: &str, path: &Path) -> String {
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{kind}: {stem}")
}

fn absolute(path: &Path) -> anyhow::Result<String> {
    let abs = std::fs::canonicalize(path)
        .with_context(|| format!("{} does not exist", path.display()))?;
    Ok(abs.display().to_string())
}
