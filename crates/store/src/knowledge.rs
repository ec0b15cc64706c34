//! Knowledge sources, their documents and chunks, and the Q&A candidates mined from
//! conversations. Chunk vectors live in the vector index under the chunk id; these rows are the
//! text, the structure and the bookkeeping that re-sync needs (content hashes per document).
//!
//! A document's content hash is recorded only once its chunks and vectors are written
//! ([`Store::mark_document_indexed`]): an ingestion that dies half-way leaves the hash stale, so
//! the next run sees the document as changed and redoes it.

use chrono::{DateTime, Utc};
use rapport_core::domain::{CandidateStatus, SourceKind, SourceStatus};
use rapport_core::ids::{CandidateId, ChunkId, DocumentId, SourceId, WorkspaceId};
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;

use crate::db::on_db;
use crate::{Error, Result, Store};

#[derive(Debug, Clone, Serialize)]
pub struct Source {
    pub id: SourceId,
    pub workspace_id: WorkspaceId,
    pub kind: SourceKind,
    pub name: String,
    pub config: Value,
    pub status: SourceStatus,
    pub progress: Value,
    pub error: Option<String>,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct SourceRow {
    id: i64,
    workspace_id: i64,
    kind: String,
    name: String,
    config: Json<Value>,
    status: String,
    progress: Json<Value>,
    error: Option<String>,
    last_synced_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl TryFrom<SourceRow> for Source {
    type Error = Error;
    fn try_from(r: SourceRow) -> Result<Self> {
        Ok(Source {
            id: SourceId(r.id),
            workspace_id: WorkspaceId(r.workspace_id),
            kind: r.kind.parse()?,
            name: r.name,
            config: r.config.0,
            status: r.status.parse()?,
            progress: r.progress.0,
            error: r.error,
            last_synced_at: r.last_synced_at,
            created_at: r.created_at,
        })
    }
}

macro_rules! source_columns {
    () => {
        "id, workspace_id, kind, name, config, status, progress, error, last_synced_at, created_at"
    };
}

/// A document as the connector produced it, before chunking.
#[derive(Debug, Clone)]
pub struct DocumentUpsert {
    pub external_ref: String,
    pub title: String,
    pub url: Option<String>,
    pub content_hash: String,
    pub metadata: Value,
}

/// What storing a document changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentChange {
    /// New, or its content changed: it must be (re)chunked and embedded.
    Changed(DocumentId),
    /// Same content hash as stored: nothing to embed.
    Unchanged(DocumentId),
}

#[derive(Debug, Clone)]
pub struct NewChunk {
    pub ordinal: i32,
    pub heading_path: String,
    pub text: String,
    pub hash: String,
    pub token_count: i32,
    /// Page of the file the chunk came from (PDFs).
    pub page: Option<i32>,
    /// The chunk's token vectors for late-interaction scoring, in the knowledge crate's
    /// encoding (opaque here).
    pub token_vectors: Option<Vec<u8>>,
}

/// A candidate chunk as hybrid search rescores it ([`Store::chunk_rescoring`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkRescoring {
    pub chunk: ChunkId,
    pub document: DocumentId,
    /// The embedding of the document's title, if it has one.
    pub title_vector: Option<Vec<f32>>,
    /// The chunk's token vectors as stored, if it was indexed with them.
    pub token_vectors: Option<Vec<u8>>,
}

/// A chunk with what a citation needs from its document.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ChunkView {
    pub id: i64,
    pub source_id: i64,
    pub document_id: i64,
    pub ordinal: i32,
    pub heading_path: String,
    pub text: String,
    pub page: Option<i32>,
    pub title: String,
    pub url: Option<String>,
    pub external_ref: String,
    pub source_kind: String,
}

/// A document as the knowledge browser lists it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DocumentView {
    pub id: i64,
    pub source_id: i64,
    pub external_ref: String,
    pub title: String,
    pub url: Option<String>,
    #[sqlx(json)]
    pub metadata: Value,
    pub chunk_count: i64,
    pub updated_at: DateTime<Utc>,
}

/// What re-sync needs to know of a stored document.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredDocument {
    pub id: i64,
    pub external_ref: String,
    pub content_hash: String,
    #[sqlx(json)]
    pub metadata: Value,
    /// Some chunk was indexed before token vectors were kept: the next sync embeds the
    /// document again, so its content must be read even where the source says it is unchanged.
    pub lacks_token_vectors: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub id: CandidateId,
    pub source_id: SourceId,
    pub conversation_ref: String,
    pub question: String,
    pub answer: String,
    pub status: CandidateStatus,
    /// The version of the mining rules that removed personal data from the pair; `None` for a
    /// pair mined before they did.
    pub privacy_version: Option<i64>,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct CandidateRow {
    id: i64,
    source_id: i64,
    conversation_ref: String,
    question: String,
    answer: String,
    status: String,
    privacy_version: Option<i64>,
    created_at: DateTime<Utc>,
}

impl TryFrom<CandidateRow> for Candidate {
    type Error = Error;
    fn try_from(r: CandidateRow) -> Result<Self> {
        Ok(Candidate {
            id: CandidateId(r.id),
            source_id: SourceId(r.source_id),
            conversation_ref: r.conversation_ref,
            question: r.question,
            answer: r.answer,
            status: r.status.parse()?,
            privacy_version: r.privacy_version,
            created_at: r.created_at,
        })
    }
}

/// One message of a resolved conversation, for mining Q&A pairs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TranscriptLine {
    pub conversation_id: i64,
    pub author: String,
    pub text: String,
    /// The customer's name as the contact has it, to be kept out of the pair.
    pub contact_name: Option<String>,
}

/// A mined Q&A pair to keep as a candidate.
#[derive(Debug, Clone, Copy)]
pub struct NewCandidate<'a> {
    pub conversation_ref: &'a str,
    pub question: &'a str,
    pub answer: &'a str,
    pub status: CandidateStatus,
    /// See [`Candidate::privacy_version`].
    pub privacy_version: i64,
}

macro_rules! chunk_view_select {
    () => {
        "SELECT c.id, c.source_id, c.document_id, c.ordinal, c.heading_path, c.text, c.page, d.title, d.url, \
         d.external_ref, s.kind AS source_kind \
         FROM chunks c JOIN documents d ON d.id = c.document_id JOIN knowledge_sources s ON s.id = c.source_id "
    };
}

macro_rules! candidate_columns {
    () => {
        "id, source_id, conversation_ref, question, answer, status, privacy_version, created_at"
    };
}

impl Store {
    pub async fn create_source(
        &self,
        ws: WorkspaceId,
        kind: SourceKind,
        name: &str,
        config: &Value,
    ) -> Result<Source> {
        let now = Utc::now();
        let sql = concat!(
            "INSERT INTO knowledge_sources (workspace_id, kind, name, config, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'queued', $5, $5) RETURNING ",
            source_columns!()
        );
        let row: SourceRow = on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(kind.as_str())
            .bind(name)
            .bind(Json(config))
            .bind(now)
            .fetch_one(p)
            .await?);
        row.try_into()
    }

    pub async fn source(&self, ws: WorkspaceId, id: SourceId) -> Result<Source> {
        let sql = concat!(
            "SELECT ",
            source_columns!(),
            " FROM knowledge_sources WHERE workspace_id = $1 AND id = $2"
        );
        let row: Option<SourceRow> = on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(id.0)
            .fetch_optional(p)
            .await?);
        row.ok_or(Error::NotFound {
            what: "knowledge source",
            id: id.0,
        })?
        .try_into()
    }

    pub async fn sources(&self, ws: WorkspaceId) -> Result<Vec<Source>> {
        let sql = concat!(
            "SELECT ",
            source_columns!(),
            " FROM knowledge_sources WHERE workspace_id = $1 ORDER BY id"
        );
        let rows: Vec<SourceRow> = on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .fetch_all(p)
            .await?);
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Records a status change; `error` is kept only for `failed`, and `ready` stamps the sync time.
    pub async fn set_source_status(
        &self,
        id: SourceId,
        status: SourceStatus,
        error: Option<&str>,
    ) -> Result<()> {
        let now = Utc::now();
        let synced = (status == SourceStatus::Ready).then_some(now);
        let sql = "UPDATE knowledge_sources SET status = $1, error = $2, \
                   last_synced_at = COALESCE($3, last_synced_at), updated_at = $4 WHERE id = $5";
        on_db!(&self.db, |p| sqlx::query(sql)
            .bind(status.as_str())
            .bind(error)
            .bind(synced)
            .bind(now)
            .bind(id.0)
            .execute(p)
            .await?
            .rows_affected());
        Ok(())
    }

    pub async fn set_source_progress(&self, id: SourceId, progress: &Value) -> Result<()> {
        let sql = "UPDATE knowledge_sources SET progress = $1, updated_at = $2 WHERE id = $3";
        on_db!(&self.db, |p| sqlx::query(sql)
            .bind(Json(progress))
            .bind(Utc::now())
            .bind(id.0)
            .execute(p)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Deletes the source with its documents and chunks (the caller removes the vectors).
    pub async fn delete_source(&self, ws: WorkspaceId, id: SourceId) -> Result<bool> {
        let sql = "DELETE FROM knowledge_sources WHERE workspace_id = $1 AND id = $2";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(ws.0)
            .bind(id.0)
            .execute(p)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Inserts or updates a document by its external ref, telling whether its content must be
    /// (re)indexed: it is unchanged only when its hash matches the one last *indexed* and every
    /// chunk has its token vectors (chunks indexed before those were kept get them on the next
    /// sync).
    pub async fn upsert_document(
        &self,
        ws: WorkspaceId,
        source: SourceId,
        d: &DocumentUpsert,
    ) -> Result<DocumentChange> {
        let sql = "SELECT id, CASE WHEN EXISTS (SELECT 1 FROM chunks c WHERE c.document_id = d.id \
                   AND c.token_vectors IS NULL) THEN '' ELSE content_hash END, title, url, metadata \
                   FROM documents d WHERE source_id = $1 AND external_ref = $2";
        type Existing = (i64, String, String, Option<String>, Json<Value>);
        let existing: Option<Existing> = on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(source.0)
            .bind(&d.external_ref)
            .fetch_optional(p)
            .await?);
        let now = Utc::now();
        match existing {
            Some((id, hash, title, url, metadata)) if hash == d.content_hash => {
                // Same content; a page's new ETag or a renamed title is still worth keeping.
                if title != d.title || url != d.url || metadata.0 != d.metadata {
                    let sql =
                        "UPDATE documents SET title = $1, url = $2, metadata = $3 WHERE id = $4";
                    on_db!(&self.db, |p| sqlx::query(sql)
                        .bind(&d.title)
                        .bind(&d.url)
                        .bind(Json(&d.metadata))
                        .bind(id)
                        .execute(p)
                        .await?
                        .rows_affected());
                }
                Ok(DocumentChange::Unchanged(DocumentId(id)))
            }
            Some((id, ..)) => {
                // The hash stays stale until the new chunks are indexed (see the module doc).
                let sql = "UPDATE documents SET title = $1, url = $2, metadata = $3, updated_at = $4 WHERE id = $5";
                on_db!(&self.db, |p| sqlx::query(sql)
                    .bind(&d.title)
                    .bind(&d.url)
                    .bind(Json(&d.metadata))
                    .bind(now)
                    .bind(id)
                    .execute(p)
                    .await?
                    .rows_affected());
                Ok(DocumentChange::Changed(DocumentId(id)))
            }
            None => {
                // An empty hash marks a document whose chunks are not indexed yet.
                let sql = "INSERT INTO documents (workspace_id, source_id, external_ref, title, url, content_hash, metadata, \
                           created_at, updated_at) VALUES ($1, $2, $3, $4, $5, '', $6, $7, $7) RETURNING id";
                let id: i64 = on_db!(&self.db, |p| sqlx::query_scalar(sql)
                    .bind(ws.0)
                    .bind(source.0)
                    .bind(&d.external_ref)
                    .bind(&d.title)
                    .bind(&d.url)
                    .bind(Json(&d.metadata))
                    .bind(now)
                    .fetch_one(p)
                    .await?);
                Ok(DocumentChange::Changed(DocumentId(id)))
            }
        }
    }

    /// Replaces a document's chunks, returning the removed chunk ids (whose vectors must go) and
    /// the new ones, in ordinal order. One transaction: readers never see half a document.
    pub async fn replace_chunks(
        &self,
        ws: WorkspaceId,
        source: SourceId,
        document: DocumentId,
        chunks: &[NewChunk],
    ) -> Result<(Vec<ChunkId>, Vec<ChunkId>)> {
        let now = Utc::now();
        // The transaction's first statement writes: on SQLite a read-then-write transaction fails
        // at once (no busy wait) when another connection committed in between.
        let delete_old = "DELETE FROM chunks WHERE document_id = $1 RETURNING id";
        let insert = "INSERT INTO chunks (workspace_id, source_id, document_id, ordinal, heading_path, text, hash, \
                      token_count, page, token_vectors, created_at) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id";
        let (old, new) = on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            let mut old: Vec<i64> = sqlx::query_scalar(delete_old)
                .bind(document.0)
                .fetch_all(&mut *tx)
                .await?;
            old.sort_unstable();
            let mut new = Vec::with_capacity(chunks.len());
            for c in chunks {
                let id: i64 = sqlx::query_scalar(insert)
                    .bind(ws.0)
                    .bind(source.0)
                    .bind(document.0)
                    .bind(c.ordinal)
                    .bind(&c.heading_path)
                    .bind(&c.text)
                    .bind(&c.hash)
                    .bind(c.token_count)
                    .bind(c.page)
                    .bind(&c.token_vectors)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                new.push(id);
            }
            tx.commit().await?;
            (old, new)
        });
        Ok((
            old.into_iter().map(ChunkId).collect(),
            new.into_iter().map(ChunkId).collect(),
        ))
    }

    /// Documents of a source that are not in `keep` (vanished on re-sync): deleted with their
    /// chunks; their ids are returned so their vectors can be removed.
    pub async fn delete_documents_except(
        &self,
        source: SourceId,
        keep: &[DocumentId],
    ) -> Result<Vec<DocumentId>> {
        let select = "SELECT id FROM documents WHERE source_id = $1";
        let delete = "DELETE FROM documents WHERE id = $1";
        let keep: std::collections::HashSet<i64> = keep.iter().map(|d| d.0).collect();
        // Read outside the transaction, so that its first statement writes (see replace_chunks);
        // a document added meanwhile is simply not judged.
        let all: Vec<i64> = on_db!(&self.db, |p| sqlx::query_scalar(select)
            .bind(source.0)
            .fetch_all(p)
            .await?);
        let gone: Vec<i64> = all.into_iter().filter(|id| !keep.contains(id)).collect();
        // One transaction: a re-sync never leaves half of the vanished documents behind.
        let gone: Vec<i64> = on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            for id in &gone {
                sqlx::query(delete).bind(*id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            gone
        });
        Ok(gone.into_iter().map(DocumentId).collect())
    }

    /// The document of each chunk and that document's title embedding, for the chunks found
    /// (one round trip, whatever the number of chunks).
    pub async fn chunk_documents(
        &self,
        ws: WorkspaceId,
        ids: &[ChunkId],
    ) -> Result<Vec<(ChunkId, DocumentId, Option<Vec<f32>>)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Only placeholders are formatted into the text; every value is bound.
        let sql = format!(
            "SELECT c.id, c.document_id, d.title_vector FROM chunks c JOIN documents d ON d.id = c.document_id \
             WHERE c.workspace_id = $1 AND c.id IN ({})",
            placeholders(2, ids.len())
        );
        type Row = (i64, i64, Option<Vec<u8>>);
        let rows: Vec<Row> = on_db!(&self.db, |p| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(ws.0);
            for id in ids {
                query = query.bind(id.0);
            }
            query.fetch_all(p).await?
        });
        Ok(rows
            .into_iter()
            .map(|(chunk, document, bytes)| {
                (
                    ChunkId(chunk),
                    DocumentId(document),
                    bytes.map(|b| f32s_from_le(&b)),
                )
            })
            .collect())
    }

    /// What hybrid search rescores these chunks by, in one round trip: each chunk's document,
    /// that document's title embedding and the chunk's token vectors (see
    /// [`NewChunk::token_vectors`]), either absent where none is stored. Stale ids and other
    /// workspaces' chunks are left out.
    pub async fn chunk_rescoring(
        &self,
        ws: WorkspaceId,
        ids: &[ChunkId],
    ) -> Result<Vec<ChunkRescoring>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Only placeholders are formatted into the text; every value is bound.
        let sql = format!(
            "SELECT c.id, c.document_id, d.title_vector, c.token_vectors \
             FROM chunks c JOIN documents d ON d.id = c.document_id \
             WHERE c.workspace_id = $1 AND c.id IN ({})",
            placeholders(2, ids.len())
        );
        type Row = (i64, i64, Option<Vec<u8>>, Option<Vec<u8>>);
        let rows: Vec<Row> = on_db!(&self.db, |p| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(ws.0);
            for id in ids {
                query = query.bind(id.0);
            }
            query.fetch_all(p).await?
        });
        Ok(rows
            .into_iter()
            .map(|(chunk, document, title, tokens)| ChunkRescoring {
                chunk: ChunkId(chunk),
                document: DocumentId(document),
                title_vector: title.map(|b| f32s_from_le(&b)),
                token_vectors: tokens,
            })
            .collect())
    }

    /// Deletes these documents of a source with their chunks, in one transaction.
    pub async fn delete_documents_in(&self, source: SourceId, ids: &[DocumentId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let delete = "DELETE FROM documents WHERE source_id = $1 AND id = $2";
        on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            for id in ids {
                sqlx::query(delete)
                    .bind(source.0)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            0u64
        });
        Ok(())
    }

    /// Chunks by id with their document's title and URL, in the order asked (unknown ids are
    /// skipped: a vector may outlive its chunk for a moment during re-sync).
    pub async fn chunks_by_ids(&self, ws: WorkspaceId, ids: &[ChunkId]) -> Result<Vec<ChunkView>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Only placeholders are formatted into the text; every value is bound.
        let sql = format!(
            "{}WHERE c.workspace_id = $1 AND c.id IN ({})",
            chunk_view_select!(),
            placeholders(2, ids.len())
        );
        let rows: Vec<ChunkView> = on_db!(&self.db, |p| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(ws.0);
            for id in ids {
                query = query.bind(id.0);
            }
            query.fetch_all(p).await?
        });
        // The database returns rows in its own order; callers rank them.
        let mut by_id: std::collections::HashMap<i64, ChunkView> =
            rows.into_iter().map(|row| (row.id, row)).collect();
        Ok(ids.iter().filter_map(|id| by_id.remove(&id.0)).collect())
    }

    pub async fn count_chunks(&self, source: SourceId) -> Result<i64> {
        let sql = "SELECT COUNT(*) FROM chunks WHERE source_id = $1";
        Ok(on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(source.0)
            .fetch_one(p)
            .await?))
    }

    /// Records that a document's chunks and vectors for `content_hash` are written, with the
    /// embedding of its title.
    pub async fn mark_document_indexed(
        &self,
        id: DocumentId,
        content_hash: &str,
        title_vector: Option<&[f32]>,
    ) -> Result<()> {
        let bytes: Option<Vec<u8>> =
            title_vector.map(|v| v.iter().flat_map(|x| x.to_le_bytes()).collect());
        let sql = "UPDATE documents SET content_hash = $1, title_vector = $2, updated_at = $3 WHERE id = $4";
        on_db!(&self.db, |p| sqlx::query(sql)
            .bind(content_hash)
            .bind(&bytes)
            .bind(Utc::now())
            .bind(id.0)
            .execute(p)
            .await?
            .rows_affected());
        Ok(())
    }

    pub async fn source_by_name(&self, ws: WorkspaceId, name: &str) -> Result<Option<Source>> {
        let sql = concat!(
            "SELECT ",
            source_columns!(),
            " FROM knowledge_sources WHERE workspace_id = $1 AND name = $2 ORDER BY id LIMIT 1"
        );
        let row: Option<SourceRow> = on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(name)
            .fetch_optional(p)
            .await?);
        row.map(TryInto::try_into).transpose()
    }

    pub async fn set_source_config(&self, id: SourceId, config: &Value) -> Result<()> {
        let sql = "UPDATE knowledge_sources SET config = $1, updated_at = $2 WHERE id = $3";
        on_db!(&self.db, |p| sqlx::query(sql)
            .bind(Json(config))
            .bind(Utc::now())
            .bind(id.0)
            .execute(p)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Every document of a source with its indexed hash and metadata, for re-sync.
    pub async fn stored_documents(&self, source: SourceId) -> Result<Vec<StoredDocument>> {
        let sql = "SELECT d.id, d.external_ref, d.content_hash, d.metadata, \
                   EXISTS (SELECT 1 FROM chunks c WHERE c.document_id = d.id \
                   AND c.token_vectors IS NULL) AS lacks_token_vectors \
                   FROM documents d WHERE d.source_id = $1 ORDER BY d.id";
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(source.0)
            .fetch_all(p)
            .await?))
    }

    /// A page of a source's documents, oldest first, with their chunk counts.
    pub async fn documents(
        &self,
        ws: WorkspaceId,
        source: SourceId,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<DocumentView>> {
        let sql = "SELECT d.id, d.source_id, d.external_ref, d.title, d.url, d.metadata, d.updated_at, \
                   (SELECT COUNT(*) FROM chunks c WHERE c.document_id = d.id) AS chunk_count \
                   FROM documents d WHERE d.workspace_id = $1 AND d.source_id = $2 \
                   ORDER BY d.id LIMIT $3 OFFSET $4";
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(source.0)
            .bind(limit)
            .bind(offset)
            .fetch_all(p)
            .await?))
    }

    pub async fn count_documents(&self, source: SourceId) -> Result<i64> {
        let sql = "SELECT COUNT(*) FROM documents WHERE source_id = $1";
        Ok(on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(source.0)
            .fetch_one(p)
            .await?))
    }

    pub async fn document(&self, ws: WorkspaceId, id: DocumentId) -> Result<DocumentView> {
        let sql = "SELECT d.id, d.source_id, d.external_ref, d.title, d.url, d.metadata, d.updated_at, \
                   (SELECT COUNT(*) FROM chunks c WHERE c.document_id = d.id) AS chunk_count \
                   FROM documents d WHERE d.workspace_id = $1 AND d.id = $2";
        let row: Option<DocumentView> = on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(id.0)
            .fetch_optional(p)
            .await?);
        row.ok_or(Error::NotFound {
            what: "document",
            id: id.0,
        })
    }

    /// A document's chunks in reading order.
    pub async fn document_chunks(&self, ws: WorkspaceId, id: DocumentId) -> Result<Vec<ChunkView>> {
        let sql = concat!(
            chunk_view_select!(),
            "WHERE c.workspace_id = $1 AND c.document_id = $2 ORDER BY c.ordinal"
        );
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(id.0)
            .fetch_all(p)
            .await?))
    }

    /// Replaces a document's title and metadata (an edited snippet) and marks it for
    /// re-indexing.
    pub async fn edit_document(
        &self,
        ws: WorkspaceId,
        id: DocumentId,
        title: &str,
        metadata: &Value,
    ) -> Result<()> {
        let sql = "UPDATE documents SET title = $1, metadata = $2, content_hash = '', updated_at = $3 \
                   WHERE workspace_id = $4 AND id = $5";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(title)
            .bind(Json(metadata))
            .bind(Utc::now())
            .bind(ws.0)
            .bind(id.0)
            .execute(p)
            .await?
            .rows_affected());
        Error::unless_touched(n, "document", id.0)
    }

    /// Deletes one document and its chunks (the caller removes the vectors).
    pub async fn delete_document(&self, ws: WorkspaceId, id: DocumentId) -> Result<bool> {
        let sql = "DELETE FROM documents WHERE workspace_id = $1 AND id = $2";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(ws.0)
            .bind(id.0)
            .execute(p)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Adds a mined Q&A pair unless this conversation already gave one to the source.
    pub async fn add_candidate(
        &self,
        ws: WorkspaceId,
        source: SourceId,
        candidate: &NewCandidate<'_>,
    ) -> Result<bool> {
        let now = Utc::now();
        let reviewed = (candidate.status != CandidateStatus::Pending).then_some(now);
        let sql = "INSERT INTO knowledge_candidates (workspace_id, source_id, conversation_ref, question, answer, \
                   status, privacy_version, reviewed_at, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
                   ON CONFLICT (source_id, conversation_ref) DO NOTHING";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(ws.0)
            .bind(source.0)
            .bind(candidate.conversation_ref)
            .bind(candidate.question)
            .bind(candidate.answer)
            .bind(candidate.status.as_str())
            .bind(candidate.privacy_version)
            .bind(reviewed)
            .bind(now)
            .execute(p)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Candidates of a source that older mining rules (or none) cleaned: `privacy_version`
    /// missing or below `version`.
    pub async fn candidates_cleaned_before(
        &self,
        source: SourceId,
        version: i64,
    ) -> Result<Vec<Candidate>> {
        let sql = concat!(
            "SELECT ",
            candidate_columns!(),
            " FROM knowledge_candidates WHERE source_id = $1 \
              AND (privacy_version IS NULL OR privacy_version < $2) ORDER BY id"
        );
        let rows: Vec<CandidateRow> = on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(source.0)
            .bind(version)
            .fetch_all(p)
            .await?);
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Replaces a candidate's pair with its cleaned text; its review status stays.
    pub async fn reclean_candidate(
        &self,
        id: CandidateId,
        question: &str,
        answer: &str,
        privacy_version: i64,
    ) -> Result<()> {
        let sql = "UPDATE knowledge_candidates SET question = $1, answer = $2, privacy_version = $3, \
                   updated_at = $4 WHERE id = $5";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(question)
            .bind(answer)
            .bind(privacy_version)
            .bind(Utc::now())
            .bind(id.0)
            .execute(p)
            .await?
            .rows_affected());
        Error::unless_touched(n, "knowledge candidate", id.0)
    }

    /// Removes a candidate that cannot be made general (its document goes on the next sync).
    pub async fn delete_candidate(&self, id: CandidateId) -> Result<()> {
        let sql = "DELETE FROM knowledge_candidates WHERE id = $1";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(id.0)
            .execute(p)
            .await?
            .rows_affected());
        Error::unless_touched(n, "knowledge candidate", id.0)
    }

    /// Conversation sources with a candidate that older mining rules (or none) cleaned, to be
    /// synced again: `(workspace, source)`.
    pub async fn sources_with_uncleaned_candidates(
        &self,
        version: i64,
    ) -> Result<Vec<(WorkspaceId, SourceId)>> {
        let sql = "SELECT DISTINCT workspace_id, source_id FROM knowledge_candidates \
                   WHERE privacy_version IS NULL OR privacy_version < $1 ORDER BY source_id";
        let rows: Vec<(i64, i64)> = on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(version)
            .fetch_all(p)
            .await?);
        Ok(rows
            .into_iter()
            .map(|(ws, source)| (WorkspaceId(ws), SourceId(source)))
            .collect())
    }

    /// Whether any chunk of the workspace's knowledge, other than what past conversations
    /// taught, contains `needle` (case-insensitive): the business's own phone number or e-mail.
    pub async fn knowledge_mentions(&self, ws: WorkspaceId, needle: &str) -> Result<bool> {
        let pattern = format!(
            "%{}%",
            needle
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let sql = "SELECT EXISTS (SELECT 1 FROM chunks c JOIN knowledge_sources s ON s.id = c.source_id \
                   WHERE s.workspace_id = $1 AND s.kind <> 'conversations' \
                   AND lower(c.text) LIKE $2 ESCAPE '\\')";
        let found: bool = on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(ws.0)
            .bind(&pattern)
            .fetch_one(p)
            .await?);
        Ok(found)
    }

    /// The conversations a source already took a candidate from.
    pub async fn candidate_refs(
        &self,
        source: SourceId,
    ) -> Result<std::collections::HashSet<String>> {
        let sql = "SELECT conversation_ref FROM knowledge_candidates WHERE source_id = $1";
        let refs: Vec<String> = on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(source.0)
            .fetch_all(p)
            .await?);
        Ok(refs.into_iter().collect())
    }

    /// Candidates of a workspace, newest first, optionally of one status.
    pub async fn candidates(
        &self,
        ws: WorkspaceId,
        status: Option<CandidateStatus>,
    ) -> Result<Vec<Candidate>> {
        let sql = concat!(
            "SELECT ",
            candidate_columns!(),
            " FROM knowledge_candidates WHERE workspace_id = $1 AND ($2 IS NULL OR status = $2) ORDER BY id DESC"
        );
        let rows: Vec<CandidateRow> = on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(status.map(|s| s.as_str()))
            .fetch_all(p)
            .await?);
        rows.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn candidate(&self, ws: WorkspaceId, id: CandidateId) -> Result<Candidate> {
        let sql = concat!(
            "SELECT ",
            candidate_columns!(),
            " FROM knowledge_candidates WHERE workspace_id = $1 AND id = $2"
        );
        let row: Option<CandidateRow> = on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(id.0)
            .fetch_optional(p)
            .await?);
        row.ok_or(Error::NotFound {
            what: "knowledge candidate",
            id: id.0,
        })?
        .try_into()
    }

    /// Approved candidates of a source: the ones to index.
    pub async fn approved_candidates(&self, source: SourceId) -> Result<Vec<Candidate>> {
        let sql = concat!(
            "SELECT ",
            candidate_columns!(),
            " FROM knowledge_candidates WHERE source_id = $1 AND status = 'approved' ORDER BY id"
        );
        let rows: Vec<CandidateRow> = on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(source.0)
            .fetch_all(p)
            .await?);
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Approves or rejects a candidate, optionally with the admin's edits of the pair.
    pub async fn review_candidate(
        &self,
        ws: WorkspaceId,
        id: CandidateId,
        status: CandidateStatus,
        question: Option<&str>,
        answer: Option<&str>,
    ) -> Result<Candidate> {
        let now = Utc::now();
        let sql = concat!(
            "UPDATE knowledge_candidates SET status = $1, question = COALESCE($2, question), \
             answer = COALESCE($3, answer), reviewed_at = $4, updated_at = $4 \
             WHERE workspace_id = $5 AND id = $6 RETURNING ",
            candidate_columns!()
        );
        let row: Option<CandidateRow> = on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(status.as_str())
            .bind(question)
            .bind(answer)
            .bind(now)
            .bind(ws.0)
            .bind(id.0)
            .fetch_optional(p)
            .await?);
        row.ok_or(Error::NotFound {
            what: "knowledge candidate",
            id: id.0,
        })?
        .try_into()
    }

    /// The visible messages of resolved conversations in which a human agent replied, in order,
    /// for mining Q&A pairs.
    pub async fn resolved_transcripts(&self, ws: WorkspaceId) -> Result<Vec<TranscriptLine>> {
        let sql = "SELECT m.conversation_id, m.author, m.text, ct.name AS contact_name FROM messages m \
                   JOIN conversations c ON c.id = m.conversation_id \
                   LEFT JOIN contacts ct ON ct.id = c.contact_id \
                   WHERE c.workspace_id = $1 AND c.status = 'resolved' AND NOT c.test AND m.internal_note = $2 \
                   AND m.author IN ('customer', 'agent') \
                   AND EXISTS (SELECT 1 FROM messages a WHERE a.conversation_id = c.id AND a.author = 'agent' \
                               AND a.internal_note = $2) \
                   ORDER BY m.conversation_id, m.created_at, m.id";
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(false)
            .fetch_all(p)
            .await?))
    }

    /// Titles of the workspace's documents (product names are read off them). Past
    /// conversations' pairs are left out: their titles are customers' questions.
    pub async fn document_titles(&self, ws: WorkspaceId, limit: i64) -> Result<Vec<String>> {
        let sql = "SELECT DISTINCT d.title FROM documents d JOIN knowledge_sources s ON s.id = d.source_id \
                   WHERE d.workspace_id = $1 AND d.title <> '' AND s.kind <> 'conversations' \
                   ORDER BY d.title LIMIT $2";
        Ok(on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(ws.0)
            .bind(limit)
            .fetch_all(p)
            .await?))
    }
}

/// `$first, $first+1, …`: `count` numbered placeholders for an `IN` list.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Little-endian f32s, as vectors are stored (a trailing partial value is dropped).
fn f32s_from_le(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
