//! The knowledge base as the rest of Rapport sees it: adding, re-syncing and deleting sources,
//! editing snippets and reviewing mined Q&A pairs, the ingestion job itself, and retrieval.
//! HTTP handlers and the CLI call one method here each.
//!
//! Ingestion is incremental and safe to repeat: a document is (re)chunked and embedded only when
//! its content hash differs from the one last *indexed*, and that hash is recorded after its
//! vectors are written, so a job that dies half-way is simply run again by the queue.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use rapport_core::domain::{CandidateStatus, SourceKind, SourceStatus};
use rapport_core::ids::{CandidateId, DocumentId, SourceId, WorkspaceId};
use rapport_core::ports::{Embedder, IndexPoint, VectorIndex};
use rapport_store::Store;
use rapport_store::jobs::NewJob;
use rapport_store::knowledge::{Candidate, DocumentChange, Source};
use serde::Serialize;
use serde_json::{Value, json};

use crate::chunk::ChunkSizes;
use crate::connectors;
use crate::document::{PreparedChunk, SourceDocument};
use crate::fusion::Fusion;
use crate::late::TokenVectors;
use crate::mining::MiningReport;
use crate::server_folder::ServerFolder;
use crate::sources::{FilesConfig, SourceConfig, StoredFile, WebConfig};
use crate::sparse::{SparseEncoder, TermCounts};
use crate::web;
use crate::{Error, PairCondenser, Result};

/// The job kind that syncs one source.
pub const SYNC_JOB: &str = "knowledge.sync";

#[derive(Debug, Clone)]
pub struct KnowledgeSettings {
    /// Where uploaded files are kept (one folder per source).
    pub uploads_dir: PathBuf,
    /// The one server folder that sources made over the API may read (articles, conversation
    /// imports); `None`: none. See [`crate::server_folder`].
    pub server_folder: Option<PathBuf>,
    /// Lets the crawler fetch loopback and private addresses (off: SSRF guard).
    pub allow_private_addresses: bool,
    pub chunk_sizes: ChunkSizes,
    /// Chunks embedded and written to the index together. Each index write costs a flush, so
    /// larger batches approach the embedder's own rate.
    pub index_batch: usize,
    /// How hybrid search combines its dense and sparse rankings.
    pub fusion: Fusion,
    /// Weight of the match between the question and a document's title in hybrid search
    /// (0 turns it off).
    pub title_weight: f32,
    /// Weight of the word-by-word match between the question and each candidate chunk
    /// ([`crate::late`]) in hybrid search (0 turns it off).
    pub token_weight: f32,
}

impl KnowledgeSettings {
    pub fn new(uploads_dir: PathBuf) -> Self {
        Self {
            uploads_dir,
            server_folder: None,
            allow_private_addresses: false,
            chunk_sizes: ChunkSizes::default(),
            index_batch: 256,
            fusion: Fusion::default(),
            title_weight: 0.3,
            token_weight: 0.8,
        }
    }
}

/// What one sync did, also kept as the source's `progress`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SyncReport {
    pub phase: String,
    pub documents_total: usize,
    pub documents_done: usize,
    pub documents_changed: usize,
    pub documents_unchanged: usize,
    pub documents_removed: usize,
    pub chunks_indexed: usize,
    pub chunks_total: i64,
    /// What the crawler skipped and why (web sources only); never silent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crawl: Option<web::CrawlReport>,
    /// Candidates found by mining conversations (conversations sources only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates_added: Option<usize>,
    /// What mining the conversations kept, cleaned and left out (conversations sources only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mining: Option<MiningReport>,
    pub elapsed_ms: u64,
}

/// Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct KnowledgeBase {
    pub(crate) store: Store,
    embedder: Arc<dyn Embedder>,
    index: Arc<dyn VectorIndex>,
    sparse: Arc<SparseEncoder>,
    settings: Arc<KnowledgeSettings>,
    /// One writer per source at a time in this process: a snippet saved while its source syncs
    /// must not have its chunks and vectors rewritten by both at once.
    writers: Arc<std::sync::Mutex<HashMap<SourceId, Arc<tokio::sync::Mutex<()>>>>>,
    /// Rewrites mined Q&A pairs into reusable ones (a chat model, when one is configured).
    pub(crate) condenser: Option<Arc<dyn PairCondenser>>,
}

/// A document and the chunks it is cut into, waiting for the next index write.
struct Pending {
    id: DocumentId,
    hash: String,
    title: String,
    chunks: Vec<PreparedChunk>,
    /// Term counts of the whole document, which its chunks' BM25 vectors carry a share of; `None`
    /// for a one-chunk document, whose chunk already is the whole.
    context: Option<TermCounts>,
    /// A question and its answer (a snippet, or a row of a Q&A CSV in a files source): indexed
    /// as a snippet, so it is found as a curated answer and answered with its answer alone.
    curated: bool,
}

impl KnowledgeBase {
    pub fn new(
        store: Store,
        embedder: Arc<dyn Embedder>,
        index: Arc<dyn VectorIndex>,
        settings: KnowledgeSettings,
    ) -> Self {
        Self {
            store,
            embedder,
            index,
            sparse: Arc::new(SparseEncoder::default()),
            settings: Arc::new(settings),
            writers: Arc::default(),
            condenser: None,
        }
    }

    /// Mined conversations are condensed by `condenser` before they become candidates.
    pub fn with_condenser(mut self, condenser: Arc<dyn PairCondenser>) -> Self {
        self.condenser = Some(condenser);
        self
    }

    /// Waits until no other task of this process writes documents of `source`.
    async fn write_lock(&self, source: SourceId) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut writers = self
                .writers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            writers.entry(source).or_default().clone()
        };
        lock.lock_owned().await
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
    /// The embedder, for other readers of meaning (the agent's intent classifier).
    pub fn embedder_handle(&self) -> Arc<dyn Embedder> {
        self.embedder.clone()
    }

    pub(crate) fn embedder(&self) -> &dyn Embedder {
        self.embedder.as_ref()
    }
    pub(crate) fn index(&self) -> &dyn VectorIndex {
        self.index.as_ref()
    }
    pub(crate) fn sparse(&self) -> &SparseEncoder {
        &self.sparse
    }
    pub(crate) fn settings(&self) -> &KnowledgeSettings {
        &self.settings
    }

    // ---- admin operations -------------------------------------------------------------------

    /// Creates a source and queues its first sync. The configuration is checked first, and the
    /// server paths it names must lie in the deployment's knowledge folder: this is how sources
    /// are made over the API.
    pub async fn create_source(
        &self,
        ws: WorkspaceId,
        kind: SourceKind,
        name: &str,
        config: &Value,
    ) -> Result<Source> {
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::Invalid("a source needs a name".into()));
        }
        let config = ServerFolder::new(
            self.settings.server_folder.clone(),
            vec![self.settings.uploads_dir.clone()],
        )
        .confine(SourceConfig::parse(kind, config)?)?;
        let source = self
            .store
            .create_source(ws, kind, name, &config.to_value())
            .await?;
        self.enqueue_sync(ws, source.id).await?;
        Ok(source)
    }

    /// The source of this kind and name, created or with its configuration replaced; no sync is
    /// queued (the caller runs [`KnowledgeBase::sync`] itself). Lets the CLI ingest a folder
    /// again and again into the same sources.
    pub async fn upsert_source(
        &self,
        ws: WorkspaceId,
        kind: SourceKind,
        name: &str,
        config: &Value,
    ) -> Result<Source> {
        let config = SourceConfig::parse(kind, config)?.to_value();
        match self.store.source_by_name(ws, name).await? {
            Some(existing) if existing.kind == kind => {
                if existing.config != config {
                    self.store.set_source_config(existing.id, &config).await?;
                }
                Ok(self.store.source(ws, existing.id).await?)
            }
            Some(existing) => Err(Error::Invalid(format!(
                "a {} source is already called {name:?}",
                existing.kind
            ))),
            None => Ok(self.store.create_source(ws, kind, name, &config).await?),
        }
    }

    /// Queues a sync of the source (a no-op if one is already queued or running).
    pub async fn resync(&self, ws: WorkspaceId, id: SourceId) -> Result<Source> {
        let source = self.store.source(ws, id).await?;
        if source.status != SourceStatus::Running {
            self.store
                .set_source_status(id, SourceStatus::Queued, None)
                .await?;
        }
        self.enqueue_sync(ws, id).await?;
        Ok(self.store.source(ws, id).await?)
    }

    async fn enqueue_sync(&self, ws: WorkspaceId, id: SourceId) -> Result<()> {
        self.store
            .enqueue_job(
                NewJob::new(SYNC_JOB, json!({"workspace_id": ws.0, "source_id": id.0}))
                    .workspace(ws)
                    .dedupe_key(format!("{SYNC_JOB}:{id}"))
                    .background(),
            )
            .await?;
        Ok(())
    }

    /// Deletes a source with its documents, chunks, vectors and uploaded files.
    pub async fn delete_source(&self, ws: WorkspaceId, id: SourceId) -> Result<()> {
        // Fails with NotFound for another workspace's source before anything is deleted.
        self.store.source(ws, id).await?;
        // Vectors first: a crash between the two leaves rows without vectors (invisible and
        // deleted on retry), never vectors that search would return without their text.
        self.index.delete_source(ws, id).await?;
        self.store.delete_source(ws, id).await?;
        let uploads = self.source_uploads(id);
        if uploads.exists()
            && let Err(e) = std::fs::remove_dir_all(&uploads)
        {
            tracing::warn!(path = %uploads.display(), error = %e, "could not remove uploaded files");
        }
        Ok(())
    }

    fn source_uploads(&self, id: SourceId) -> PathBuf {
        self.settings.uploads_dir.join(id.0.to_string())
    }

    /// Adds snippets to a snippets source and indexes them at once: a support team expects a
    /// saved answer to be live, not queued.
    pub async fn add_snippets(
        &self,
        ws: WorkspaceId,
        source: SourceId,
        pairs: &[(String, String)],
    ) -> Result<Vec<DocumentId>> {
        self.require_kind(ws, source, SourceKind::Snippets).await?;
        let mut docs = Vec::with_capacity(pairs.len());
        for (question, answer) in pairs {
            if question.trim().is_empty() || answer.trim().is_empty() {
                return Err(Error::Invalid(
                    "a snippet needs a question and an answer".into(),
                ));
            }
            let reference = format!("snippet-{}", uuid::Uuid::new_v4().simple());
            docs.push(connectors::snippet_document(&reference, question, answer));
        }
        let mut report = SyncReport::default();
        let ids = self.store_and_index(ws, source, &docs, &mut report).await?;
        self.refresh_counts(source, &mut report).await?;
        Ok(ids)
    }

    /// Makes the snippets of a source exactly `pairs` (an import of a whole FAQ file): pairs
    /// already there keep their embeddings, new ones are indexed, the rest are removed.
    pub async fn replace_snippets(
        &self,
        ws: WorkspaceId,
        source: SourceId,
        pairs: &[(String, String)],
    ) -> Result<SyncReport> {
        self.require_kind(ws, source, SourceKind::Snippets).await?;
        let started = Instant::now();
        let docs: Vec<SourceDocument> = pairs
            .iter()
            .filter(|(q, a)| !q.trim().is_empty() && !a.trim().is_empty())
            .map(|(q, a)| connectors::snippet_document(&connectors::qa_ref("snippet", q), q, a))
            .collect();
        let mut report = SyncReport {
            documents_total: docs.len(),
            ..SyncReport::default()
        };
        let kept = self.store_and_index(ws, source, &docs, &mut report).await?;
        let gone = {
            let _writer = self.write_lock(source).await;
            let gone = self.store.delete_documents_except(source, &kept).await?;
            self.index.delete_documents(ws, &gone).await?;
            gone
        };
        report.documents_removed = gone.len();
        self.refresh_counts(source, &mut report).await?;
        report.phase = "done".into();
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        self.record_ready(source, &report).await?;
        Ok(report)
    }

    /// Keeps a finished sync's report as the source's progress and marks it ready.
    async fn record_ready(&self, source: SourceId, report: &SyncReport) -> Result<()> {
        self.store
            .set_source_progress(source, &progress_value(report))
            .await?;
        self.store
            .set_source_status(source, SourceStatus::Ready, None)
            .await?;
        Ok(())
    }

    /// Replaces a snippet's question and answer and re-indexes it.
    pub async fn edit_snippet(
        &self,
        ws: WorkspaceId,
        source: SourceId,
        id: DocumentId,
        question: &str,
        answer: &str,
    ) -> Result<()> {
        self.require_kind(ws, source, SourceKind::Snippets).await?;
        let doc = self.store.document(ws, id).await?;
        if doc.source_id != source.0 {
            return Err(Error::NotFound {
                what: "snippet",
                id: id.0,
            });
        }
        if question.trim().is_empty() || answer.trim().is_empty() {
            return Err(Error::Invalid(
                "a snippet needs a question and an answer".into(),
            ));
        }
        let snippet = connectors::snippet_document(&doc.external_ref, question, answer);
        let mut report = SyncReport::default();
        self.store_and_index(ws, source, &[snippet], &mut report)
            .await?;
        Ok(())
    }

    /// Deletes one document (a snippet, a page) with its chunks and vectors.
    pub async fn delete_document(
        &self,
        ws: WorkspaceId,
        source: SourceId,
        id: DocumentId,
    ) -> Result<()> {
        let doc = self.store.document(ws, id).await?;
        if doc.source_id != source.0 {
            return Err(Error::NotFound {
                what: "document",
                id: id.0,
            });
        }
        let _writer = self.write_lock(source).await;
        self.index.delete_documents(ws, &[id]).await?;
        self.store.delete_document(ws, id).await?;
        Ok(())
    }

    async fn require_kind(
        &self,
        ws: WorkspaceId,
        id: SourceId,
        kind: SourceKind,
    ) -> Result<Source> {
        let source = self.store.source(ws, id).await?;
        if source.kind != kind {
            return Err(Error::Invalid(format!(
                "source {id} holds {}, not {}",
                source.kind, kind
            )));
        }
        Ok(source)
    }

    /// Saves uploaded files into a files source and queues its sync. A file with the name of
    /// one already there replaces it.
    pub async fn add_files(
        &self,
        ws: WorkspaceId,
        source: SourceId,
        files: Vec<(String, Vec<u8>)>,
    ) -> Result<Source> {
        let existing = self.require_kind(ws, source, SourceKind::Files).await?;
        let SourceConfig::Files(mut config) =
            SourceConfig::parse(SourceKind::Files, &existing.config)?
        else {
            return Err(Error::Invalid("not a files source".into()));
        };
        let dir = self.source_uploads(source);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        for (name, bytes) in files {
            let name = safe_file_name(&name)?;
            let path = dir.join(&name);
            std::fs::write(&path, &bytes).map_err(|e| Error::io(&path, e))?;
            config.files.retain(|f| f.name != name);
            config.files.push(StoredFile {
                name,
                path: path.display().to_string(),
            });
        }
        self.store
            .set_source_config(source, &SourceConfig::Files(config).to_value())
            .await?;
        self.resync(ws, source).await
    }

    /// Approves (optionally edited) or rejects a mined Q&A pair. Approved pairs are indexed at
    /// once; rejecting an approved pair removes it from the index.
    pub async fn review_candidate(
        &self,
        ws: WorkspaceId,
        id: CandidateId,
        approve: bool,
        question: Option<&str>,
        answer: Option<&str>,
    ) -> Result<Candidate> {
        let status = if approve {
            CandidateStatus::Approved
        } else {
            CandidateStatus::Rejected
        };
        let edited = match (question, answer) {
            (None, None) => None,
            (q, a) => {
                let current = self.store.candidate(ws, id).await?;
                Some(
                    self.clean_edit(
                        ws,
                        q.unwrap_or(&current.question),
                        a.unwrap_or(&current.answer),
                    )
                    .await?,
                )
            }
        };
        let candidate = self
            .store
            .review_candidate(
                ws,
                id,
                status,
                edited.as_ref().map(|(q, _)| q.as_str()),
                edited.as_ref().map(|(_, a)| a.as_str()),
            )
            .await?;
        let reference = candidate_ref(candidate.id);
        if approve {
            let doc = candidate_document(&candidate);
            let mut report = SyncReport::default();
            self.store_and_index(ws, candidate.source_id, &[doc], &mut report)
                .await?;
        } else if let Some(doc) = self
            .store
            .stored_documents(candidate.source_id)
            .await?
            .into_iter()
            .find(|d| d.external_ref == reference)
        {
            self.delete_document(ws, candidate.source_id, DocumentId(doc.id))
                .await?;
        }
        Ok(candidate)
    }

    // ---- ingestion --------------------------------------------------------------------------

    /// Runs one sync of a source: reads it, indexes what changed, removes what vanished, and
    /// records the outcome on the source. A permanent failure (a bad file, a refused URL) marks
    /// the source `failed` and returns Ok; a transient one is returned for the queue to retry.
    pub async fn sync(&self, ws: WorkspaceId, id: SourceId) -> Result<SyncReport> {
        let mut source = self.store.source(ws, id).await?;
        self.store
            .set_source_status(id, SourceStatus::Running, None)
            .await?;
        // A change that lands while this sync runs (files uploaded right after the source was
        // created) queues no second job — this one is live — so the sync goes round again
        // with what the source holds now.
        let mut result = self.sync_source(&source).await;
        for _ in 0..3 {
            let Ok(now) = self.store.source(ws, id).await else {
                break;
            };
            if result.is_err() || now.config == source.config {
                break;
            }
            source = now;
            result = self.sync_source(&source).await;
        }
        match result {
            Ok(report) => {
                self.record_ready(id, &report).await?;
                Ok(report)
            }
            Err(e) if e.is_permanent() => {
                tracing::warn!(source = %id, error = %e, "knowledge source failed");
                self.store
                    .set_source_status(id, SourceStatus::Failed, Some(&e.to_string()))
                    .await?;
                Ok(SyncReport {
                    phase: "failed".into(),
                    ..SyncReport::default()
                })
            }
            Err(e) => Err(e),
        }
    }

    async fn sync_source(&self, source: &Source) -> Result<SyncReport> {
        let started = Instant::now();
        let ws = source.workspace_id;
        let mut report = SyncReport {
            phase: "reading".into(),
            ..SyncReport::default()
        };
        self.store
            .set_source_progress(source.id, &progress_value(&report))
            .await?;
        let config = SourceConfig::parse(source.kind, &source.config)?;
        let stored = self.store.stored_documents(source.id).await?;
        // Documents the connector could not re-read this time but that still exist (a page
        // that timed out, a page the server says is not modified) are kept as they are.
        let mut keep_refs: HashSet<String> = HashSet::new();
        let documents: Vec<SourceDocument> = match &config {
            SourceConfig::Snippets(_) => stored
                .iter()
                .filter_map(|d| connectors::snippet_from_metadata(&d.external_ref, &d.metadata))
                .collect(),
            SourceConfig::Articles(a) => {
                let path = PathBuf::from(&a.path);
                tokio::task::spawn_blocking(move || connectors::read_articles(&path))
                    .await
                    .map_err(|e| Error::Invalid(format!("article reader panicked: {e}")))??
            }
            SourceConfig::Files(f) => read_files(f.clone()).await?,
            SourceConfig::Web(w) => {
                let (docs, crawl, keep) = self.crawl(source.id, w, &stored).await?;
                report.crawl = Some(crawl);
                keep_refs = keep;
                docs
            }
            SourceConfig::Conversations(c) => {
                let mining = self.mine_conversations(source, c).await?;
                report.candidates_added = Some(mining.candidates_added);
                report.mining = Some(mining);
                self.store
                    .approved_candidates(source.id)
                    .await?
                    .iter()
                    .map(candidate_document)
                    .collect()
            }
        };
        report.documents_total = documents.len();
        report.phase = "indexing".into();
        let mut kept = self
            .store_and_index(ws, source.id, &documents, &mut report)
            .await?;
        // A page is named by its canonical URL, but a 304 or a failure names the URL it was
        // fetched from: either identifies the document.
        kept.extend(
            stored
                .iter()
                .filter(|d| {
                    keep_refs.contains(&d.external_ref)
                        || d.metadata
                            .get("fetched_url")
                            .and_then(Value::as_str)
                            .is_some_and(|u| keep_refs.contains(u))
                })
                .map(|d| DocumentId(d.id)),
        );
        // Vanished = stored when this sync began and not read now. Documents added meanwhile
        // (a snippet saved through the API during the sync) are not this sync's to judge.
        let kept: HashSet<DocumentId> = kept.into_iter().collect();
        let gone: Vec<DocumentId> = stored
            .iter()
            .map(|d| DocumentId(d.id))
            .filter(|id| !kept.contains(id))
            .collect();
        {
            let _writer = self.write_lock(source.id).await;
            self.index.delete_documents(ws, &gone).await?;
            self.store.delete_documents_in(source.id, &gone).await?;
        }
        report.documents_removed = gone.len();
        self.index.optimize().await?;
        self.refresh_counts(source.id, &mut report).await?;
        report.phase = "done".into();
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            source = %source.id,
            documents = report.documents_total,
            changed = report.documents_changed,
            removed = report.documents_removed,
            chunks = report.chunks_indexed,
            elapsed_ms = report.elapsed_ms,
            "knowledge source synced"
        );
        Ok(report)
    }

    async fn refresh_counts(&self, source: SourceId, report: &mut SyncReport) -> Result<()> {
        report.chunks_total = self.store.count_chunks(source).await?;
        Ok(())
    }

    /// Stores the documents and indexes the changed ones in batches; returns every document's
    /// id (changed or not) so vanished ones can be told apart.
    async fn store_and_index(
        &self,
        ws: WorkspaceId,
        source: SourceId,
        documents: &[SourceDocument],
        report: &mut SyncReport,
    ) -> Result<Vec<DocumentId>> {
        let _writer = self.write_lock(source).await;
        let kind = self.store.source(ws, source).await?.kind;
        let mut ids = Vec::with_capacity(documents.len());
        let mut seen = HashSet::new();
        let mut batch: Vec<Pending> = Vec::new();
        let mut batch_chunks = 0;
        for doc in documents {
            // Two documents of one source with one reference would overwrite each other.
            if !seen.insert(doc.external_ref.as_str()) {
                continue;
            }
            let upsert = doc.upsert();
            match self.store.upsert_document(ws, source, &upsert).await? {
                DocumentChange::Unchanged(id) => {
                    report.documents_unchanged += 1;
                    report.documents_done += 1;
                    ids.push(id);
                }
                DocumentChange::Changed(id) => {
                    let chunks = doc.chunks(self.settings.chunk_sizes);
                    batch_chunks += chunks.len();
                    let context = (chunks.len() > 1).then(|| self.sparse.counts(&doc.full_text()));
                    batch.push(Pending {
                        id,
                        hash: upsert.content_hash,
                        title: doc.title.clone(),
                        chunks,
                        context,
                        curated: matches!(doc.body, crate::document::Body::Qa { .. }),
                    });
                    ids.push(id);
                    if batch_chunks >= self.settings.index_batch {
                        self.index_batch(ws, source, kind, std::mem::take(&mut batch), report)
                            .await?;
                        batch_chunks = 0;
                    }
                }
            }
        }
        if !batch.is_empty() {
            self.index_batch(ws, source, kind, batch, report).await?;
        }
        Ok(ids)
    }

    /// Embeds, stores and indexes a batch of changed documents: one embedding call, one index
    /// delete and one upsert for the whole batch.
    async fn index_batch(
        &self,
        ws: WorkspaceId,
        source: SourceId,
        kind: SourceKind,
        batch: Vec<Pending>,
        report: &mut SyncReport,
    ) -> Result<()> {
        let texts: Vec<String> = batch
            .iter()
            .flat_map(|p| p.chunks.iter().map(|c| c.indexed_text.clone()))
            .collect();
        let chunk_count = texts.len();
        let embedded = self.embedder.embed_with_tokens(texts).await?;
        if embedded.len() != chunk_count {
            return Err(Error::Invalid(format!(
                "the embedder returned {} vectors for {chunk_count} chunks",
                embedded.len()
            )));
        }
        // Titles get their own call: retrieval compares them with the question, and their
        // token vectors are not wanted.
        let titles = self
            .embedder
            .embed(batch.iter().map(|p| p.title.clone()).collect())
            .await?;
        let mut points = Vec::new();
        let mut embedded = embedded.into_iter();
        for pending in &batch {
            let mut vectors = Vec::with_capacity(pending.chunks.len());
            let mut rows = Vec::with_capacity(pending.chunks.len());
            for chunk in &pending.chunks {
                let text = embedded.next().ok_or_else(|| {
                    Error::Invalid("the embedder returned too few vectors".into())
                })?;
                let mut row = chunk.row.clone();
                row.token_vectors = Some(TokenVectors::of_chunk(&text.tokens).to_bytes());
                rows.push(row);
                vectors.push(text.vector);
            }
            let (_, new_ids) = self
                .store
                .replace_chunks(ws, source, pending.id, &rows)
                .await?;
            for ((chunk, chunk_id), vector) in pending.chunks.iter().zip(new_ids).zip(vectors) {
                points.push(IndexPoint {
                    chunk_id,
                    workspace_id: ws,
                    source_id: source,
                    document_id: pending.id,
                    source_kind: if pending.curated {
                        SourceKind::Snippets
                    } else {
                        kind
                    },
                    dense: vector,
                    sparse: Some(match &pending.context {
                        Some(document) => self.sparse.document_in(&chunk.indexed_text, document),
                        None => self.sparse.document(&chunk.indexed_text),
                    }),
                });
            }
        }
        let doc_ids: Vec<DocumentId> = batch.iter().map(|p| p.id).collect();
        // Every vector of these documents goes, including any left by an earlier run that died
        // between its store and index writes.
        self.index.delete_documents(ws, &doc_ids).await?;
        report.chunks_indexed += points.len();
        self.index.upsert(points).await?;
        for (pending, title) in batch.iter().zip(titles.iter()) {
            let title = (!pending.title.trim().is_empty()).then_some(title.as_slice());
            self.store
                .mark_document_indexed(pending.id, &pending.hash, title)
                .await?;
        }
        report.documents_changed += batch.len();
        report.documents_done += batch.len();
        self.store
            .set_source_progress(source, &progress_value(report))
            .await?;
        Ok(())
    }

    async fn crawl(
        &self,
        source: SourceId,
        config: &WebConfig,
        stored: &[rapport_store::knowledge::StoredDocument],
    ) -> Result<(Vec<SourceDocument>, web::CrawlReport, HashSet<String>)> {
        let settings = web_settings(config, self.settings.allow_private_addresses)?;
        // A page whose chunks lack token vectors is fetched in full: a 304 would keep it
        // without them for good.
        let previous: HashMap<String, web::Validators> = stored
            .iter()
            .filter(|d| !d.lacks_token_vectors)
            .filter_map(|d| {
                let v = serde_json::from_value(d.metadata.get("validators")?.clone()).ok()?;
                Some((d.external_ref.clone(), v))
            })
            .collect();
        let crawler = web::Crawler::new(settings)?;
        let store = self.store.clone();
        let progress = move |done: usize, known: usize| {
            let store = store.clone();
            let value = json!({"phase": "crawling", "pages_done": done, "pages_known": known});
            tokio::spawn(async move {
                let _ = store.set_source_progress(source, &value).await;
            });
        };
        let (outcomes, report) = crawler.crawl(&previous, &progress).await?;
        let mut docs = Vec::new();
        let mut keep = HashSet::new();
        for outcome in outcomes {
            match outcome {
                web::PageOutcome::Fetched(page) => docs.push(SourceDocument {
                    external_ref: page.url.clone(),
                    title: page.title,
                    url: Some(page.url),
                    body: crate::document::Body::Text(page.text),
                    metadata: json!({"validators": page.validators, "fetched_url": page.fetched_url}),
                }),
                web::PageOutcome::NotModified { url } => {
                    keep.insert(url);
                }
            }
        }
        // A page that failed for a passing reason (timeout, 5xx) keeps its last good copy; one
        // that is gone (404, 410) is removed with the other vanished pages.
        for failed in &report.failed {
            if !page_is_gone(failed) {
                keep.insert(failed.url.clone());
            }
        }
        Ok((docs, report, keep))
    }
}

async fn read_files(config: FilesConfig) -> Result<Vec<SourceDocument>> {
    tokio::task::spawn_blocking(move || {
        let mut docs = Vec::new();
        for file in &config.files {
            let read = connectors::read_file(file, config.csv_mode)
                .map_err(|e| Error::Invalid(format!("{}: {e}", file.name)))?;
            docs.extend(read);
        }
        Ok(docs)
    })
    .await
    .map_err(|e| Error::Invalid(format!("file reader panicked: {e}")))?
}

fn web_settings(config: &WebConfig, allow_private: bool) -> Result<web::CrawlSettings> {
    let parse = |s: &str| {
        url::Url::parse(s).map_err(|e| Error::InvalidConfig(format!("{s:?} is not a URL: {e}")))
    };
    let mut settings = web::CrawlSettings::new(parse(&config.start_url)?);
    settings.sitemap_url = config.sitemap_url.as_deref().map(parse).transpose()?;
    settings.max_depth = config.max_depth;
    settings.max_pages = config.max_pages;
    settings.include = config.include.clone();
    settings.exclude = config.exclude.clone();
    settings.concurrency = config.concurrency;
    settings.delay = std::time::Duration::from_millis(config.delay_ms);
    settings.allow_private_addresses = allow_private;
    Ok(settings)
}

/// Whether the site says the page no longer exists (as opposed to failing for now).
fn page_is_gone(failed: &web::FailedPage) -> bool {
    failed.status.is_some_and(|s| s == 404 || s == 410)
}

fn candidate_ref(id: CandidateId) -> String {
    format!("candidate-{id}")
}

fn candidate_document(c: &Candidate) -> SourceDocument {
    let mut doc = connectors::snippet_document(&candidate_ref(c.id), &c.question, &c.answer);
    doc.metadata["conversation"] = json!(c.conversation_ref);
    doc
}

fn progress_value(report: &SyncReport) -> Value {
    serde_json::to_value(report).unwrap_or(Value::Null)
}

/// A file name that stays inside the upload folder.
fn safe_file_name(name: &str) -> Result<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if base.is_empty() || base == "." || base == ".." || base.starts_with('.') {
        return Err(Error::Invalid(format!(
            "{name:?} is not a usable file name"
        )));
    }
    Ok(base.to_owned())
}

impl Error {
    /// Errors that another attempt cannot fix: the admin has to change something.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, Error::Store(_) | Error::Component(_))
    }
}
