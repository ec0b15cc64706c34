//! Knowledge sources, their documents and chunks. Chunk vectors live in the vector index under
//! the chunk id; these rows are the text, the structure and the bookkeeping that re-sync needs
//! (content hashes per document).

use chrono::{DateTime, Utc};
use rapport_core::domain::{SourceKind, SourceStatus};
use rapport_core::ids::{ChunkId, DocumentId, SourceId, WorkspaceId};
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
    pub title: String,
    pub url: Option<String>,
    pub external_ref: String,
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

    /// Inserts or updates a document by its external ref, telling whether its content changed.
    pub async fn upsert_document(
        &self,
        ws: WorkspaceId,
        source: SourceId,
        d: &DocumentUpsert,
    ) -> Result<DocumentChange> {
        let sql =
            "SELECT id, content_hash FROM documents WHERE source_id = $1 AND external_ref = $2";
        let existing: Option<(i64, String)> = on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(source.0)
            .bind(&d.external_ref)
            .fetch_optional(p)
            .await?);
        let now = Utc::now();
        match existing {
            Some((id, hash)) if hash == d.content_hash => {
                Ok(DocumentChange::Unchanged(DocumentId(id)))
            }
            Some((id, _)) => {
                let sql = "UPDATE documents SET title = $1, url = $2, content_hash = $3, metadata = $4, updated_at = $5 WHERE id = $6";
                on_db!(&self.db, |p| sqlx::query(sql)
                    .bind(&d.title)
                    .bind(&d.url)
                    .bind(&d.content_hash)
                    .bind(Json(&d.metadata))
                    .bind(now)
                    .bind(id)
                    .execute(p)
                    .await?
                    .rows_affected());
                Ok(DocumentChange::Changed(DocumentId(id)))
            }
            None => {
                let sql = "INSERT INTO documents (workspace_id, source_id, external_ref, title, url, content_hash, metadata, \
                           created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id";
                let id: i64 = on_db!(&self.db, |p| sqlx::query_scalar(sql)
                    .bind(ws.0)
                    .bind(source.0)
                    .bind(&d.external_ref)
                    .bind(&d.title)
                    .bind(&d.url)
                    .bind(&d.content_hash)
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
        let select_old = "SELECT id FROM chunks WHERE document_id = $1";
        let delete_old = "DELETE FROM chunks WHERE document_id = $1";
        let insert = "INSERT INTO chunks (workspace_id, source_id, document_id, ordinal, heading_path, text, hash, \
                      token_count, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
        let (old, new) = on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            let old: Vec<i64> = sqlx::query_scalar(select_old)
                .bind(document.0)
                .fetch_all(&mut *tx)
                .await?;
            sqlx::query(delete_old)
                .bind(document.0)
                .execute(&mut *tx)
                .await?;
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
        // One transaction: a re-sync never leaves half of the vanished documents behind.
        let gone: Vec<i64> = on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            let all: Vec<i64> = sqlx::query_scalar(select)
                .bind(source.0)
                .fetch_all(&mut *tx)
                .await?;
            let gone: Vec<i64> = all.into_iter().filter(|id| !keep.contains(id)).collect();
            for id in &gone {
                sqlx::query(delete).bind(*id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            gone
        });
        Ok(gone.into_iter().map(DocumentId).collect())
    }

    /// Chunks by id with their document's title and URL, in the order asked (unknown ids are
    /// skipped: a vector may outlive its chunk for a moment during re-sync).
    pub async fn chunks_by_ids(&self, ws: WorkspaceId, ids: &[ChunkId]) -> Result<Vec<ChunkView>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = "SELECT c.id, c.source_id, c.document_id, c.ordinal, c.heading_path, c.text, d.title, d.url, d.external_ref \
                   FROM chunks c JOIN documents d ON d.id = c.document_id \
                   WHERE c.workspace_id = $1 AND c.id = $2";
        // One indexed lookup per id keeps the SQL identical on both backends; retrieval asks for
        // tens of chunks, not thousands.
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let row: Option<ChunkView> = on_db!(&self.db, |p| sqlx::query_as(sql)
                .bind(ws.0)
                .bind(id.0)
                .fetch_optional(p)
                .await?);
            out.extend(row);
        }
        Ok(out)
    }

    pub async fn count_chunks(&self, source: SourceId) -> Result<i64> {
        let sql = "SELECT COUNT(*) FROM chunks WHERE source_id = $1";
        Ok(on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(source.0)
            .fetch_one(p)
            .await?))
    }
}
