//! `/api/v1/knowledge`: sources (create, list, get, delete, re-sync), their documents and chunks,
//! snippets one by one, file uploads, the review of Q&A pairs mined from conversations, and a
//! search endpoint that shows what retrieval finds. Each handler parses, calls one method of
//! [`rapport_knowledge::KnowledgeBase`] and maps its errors.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use rapport_core::domain::{CandidateStatus, SourceKind};
use rapport_core::ids::{CandidateId, DocumentId, SourceId};
use rapport_core::ports::SearchMode;
use rapport_knowledge::SearchOptions;
use rapport_store::knowledge::{Candidate, ChunkView, DocumentView, Source};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::App;
use crate::auth::{Admin, Caller};
use crate::error::{ApiError, multipart_error};

/// The routes that take file uploads, which have their own (larger) body limit.
pub fn upload_router() -> Router<App> {
    Router::new()
        .route("/sources/{id}/files", post(upload_files))
        .route("/sources/{id}/snippets/import", post(import_snippets))
}

pub fn router() -> Router<App> {
    Router::new()
        .route("/sources", get(list_sources).post(create_source))
        .route("/sources/{id}", get(get_source).delete(delete_source))
        .route("/sources/{id}/resync", post(resync_source))
        .route("/sources/{id}/documents", get(list_documents))
        .route(
            "/sources/{id}/documents/{doc}",
            get(get_document).delete(delete_document),
        )
        .route("/sources/{id}/snippets", post(add_snippets))
        .route(
            "/sources/{id}/snippets/{doc}",
            put(edit_snippet).delete(delete_document),
        )
        .route("/candidates", get(list_candidates))
        .route("/candidates/{id}/approve", post(approve_candidate))
        .route("/candidates/{id}/reject", post(reject_candidate))
        .route("/search", post(search))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSource {
    /// snippets | web | articles | files | conversations
    #[schema(value_type = String)]
    pub kind: SourceKind,
    pub name: String,
    /// Kind-specific settings, e.g. `{"start_url": "https://help.example.com", "max_pages": 200}`
    /// for web, `{"path": "/srv/help-center"}` for articles.
    #[serde(default)]
    pub config: Value,
    /// Snippets to add at once (snippets sources only).
    #[serde(default)]
    pub snippets: Vec<SnippetBody>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnippetBody {
    pub question: String,
    pub answer: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnippetList {
    pub snippets: Vec<SnippetBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SourceList {
    #[schema(value_type = Vec<Object>)]
    pub sources: Vec<Source>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Page {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentPage {
    pub total: i64,
    #[schema(value_type = Vec<Object>)]
    pub documents: Vec<DocumentView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentWithChunks {
    #[schema(value_type = Object)]
    pub document: DocumentView,
    #[schema(value_type = Vec<Object>)]
    pub chunks: Vec<ChunkView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    pub ids: Vec<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CandidateFilter {
    /// pending | approved | rejected; all when absent.
    pub status: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CandidateList {
    #[schema(value_type = Vec<Object>)]
    pub candidates: Vec<Candidate>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// The question as it should be indexed, if the admin edited it.
    pub question: Option<String>,
    pub answer: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    pub query: String,
    /// hybrid (default) | dense | sparse
    #[schema(value_type = Option<String>)]
    pub mode: Option<SearchMode>,
    pub limit: Option<usize>,
    #[schema(value_type = Option<Vec<String>>)]
    pub source_kinds: Option<Vec<SourceKind>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<rapport_knowledge::Retrieved>,
}

type ApiResult<T> = Result<T, ApiError>;

/// All knowledge sources with their status and progress.
#[utoipa::path(get, path = "/api/v1/knowledge/sources", tag = "knowledge",
    responses((status = 200, body = SourceList)))]
pub async fn list_sources(State(app): State<App>, caller: Caller) -> ApiResult<Json<SourceList>> {
    let sources = app.store.sources(caller.workspace).await?;
    Ok(Json(SourceList { sources }))
}

/// Adds a source and queues its first sync.
#[utoipa::path(post, path = "/api/v1/knowledge/sources", tag = "knowledge", request_body = CreateSource,
    responses((status = 201, description = "The source, status `queued`", body = Object),
              (status = 400, body = crate::error::ErrorBody)))]
pub async fn create_source(
    State(app): State<App>,
    caller: Admin,
    Json(body): Json<CreateSource>,
) -> ApiResult<(StatusCode, Json<Source>)> {
    if !body.snippets.is_empty() && body.kind != SourceKind::Snippets {
        return Err(ApiError::BadRequest(
            "snippets can only be given to a snippets source".into(),
        ));
    }
    let source = app
        .knowledge
        .create_source(caller.workspace, body.kind, &body.name, &body.config)
        .await?;
    if !body.snippets.is_empty() {
        app.knowledge
            .add_snippets(caller.workspace, source.id, &pairs(body.snippets))
            .await?;
    }
    Ok((
        StatusCode::CREATED,
        Json(app.store.source(caller.workspace, source.id).await?),
    ))
}

fn pairs(snippets: Vec<SnippetBody>) -> Vec<(String, String)> {
    snippets
        .into_iter()
        .map(|s| (s.question, s.answer))
        .collect()
}

#[utoipa::path(get, path = "/api/v1/knowledge/sources/{id}", tag = "knowledge",
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_source(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Source>> {
    Ok(Json(
        app.store.source(caller.workspace, SourceId(id)).await?,
    ))
}

/// Deletes the source with its documents, chunks and vectors: nothing of it can be retrieved
/// afterwards.
#[utoipa::path(delete, path = "/api/v1/knowledge/sources/{id}", tag = "knowledge",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_source(
    State(app): State<App>,
    caller: Admin,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    app.knowledge
        .delete_source(caller.workspace, SourceId(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queues a re-sync: changed documents are re-embedded, vanished ones removed.
#[utoipa::path(post, path = "/api/v1/knowledge/sources/{id}/resync", tag = "knowledge",
    responses((status = 202, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub async fn resync_source(
    State(app): State<App>,
    caller: Admin,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, Json<Source>)> {
    let source = app.knowledge.resync(caller.workspace, SourceId(id)).await?;
    Ok((StatusCode::ACCEPTED, Json(source)))
}

#[utoipa::path(get, path = "/api/v1/knowledge/sources/{id}/documents", tag = "knowledge",
    params(("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = DocumentPage)))]
pub async fn list_documents(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(page): Query<Page>,
) -> ApiResult<Json<DocumentPage>> {
    let source = app.store.source(caller.workspace, SourceId(id)).await?;
    let limit = page.limit.unwrap_or(50).clamp(1, 500);
    let offset = page.offset.unwrap_or(0).max(0);
    let documents = app
        .store
        .documents(caller.workspace, source.id, limit, offset)
        .await?;
    let total = app.store.count_documents(source.id).await?;
    Ok(Json(DocumentPage { total, documents }))
}

/// A document with its chunks, as they are indexed.
#[utoipa::path(get, path = "/api/v1/knowledge/sources/{id}/documents/{doc}", tag = "knowledge",
    responses((status = 200, body = DocumentWithChunks), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_document(
    State(app): State<App>,
    caller: Caller,
    Path((id, doc)): Path<(i64, i64)>,
) -> ApiResult<Json<DocumentWithChunks>> {
    let document = app
        .store
        .document(caller.workspace, DocumentId(doc))
        .await?;
    if document.source_id != id {
        return Err(ApiError::NotFound(format!("document {doc} not found")));
    }
    let chunks = app
        .store
        .document_chunks(caller.workspace, DocumentId(doc))
        .await?;
    Ok(Json(DocumentWithChunks { document, chunks }))
}

#[utoipa::path(delete, path = "/api/v1/knowledge/sources/{id}/documents/{doc}", tag = "knowledge",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_document(
    State(app): State<App>,
    caller: Admin,
    Path((id, doc)): Path<(i64, i64)>,
) -> ApiResult<StatusCode> {
    app.knowledge
        .delete_document(caller.workspace, SourceId(id), DocumentId(doc))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds one snippet (`{question, answer}`) or several (`{snippets: [...]}`); they are
/// searchable when this returns.
#[utoipa::path(post, path = "/api/v1/knowledge/sources/{id}/snippets", tag = "knowledge",
    request_body = SnippetBody, responses((status = 201, body = Created), (status = 400, body = crate::error::ErrorBody)))]
pub async fn add_snippets(
    State(app): State<App>,
    caller: Admin,
    Path(id): Path<i64>,
    Json(body): Json<Value>,
) -> ApiResult<(StatusCode, Json<Created>)> {
    let snippets = if body.get("snippets").is_some() {
        serde_json::from_value::<SnippetList>(body).map(|l| l.snippets)
    } else {
        serde_json::from_value::<SnippetBody>(body).map(|s| vec![s])
    }
    .map_err(|e| ApiError::BadRequest(format!("expected {{question, answer}}: {e}")))?;
    let ids = app
        .knowledge
        .add_snippets(caller.workspace, SourceId(id), &pairs(snippets))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            ids: ids.into_iter().map(|d| d.0).collect(),
        }),
    ))
}

/// Imports snippets from an uploaded CSV (question, answer columns) or JSON file (multipart
/// field `file`).
#[utoipa::path(post, path = "/api/v1/knowledge/sources/{id}/snippets/import", tag = "knowledge",
    responses((status = 201, body = Created), (status = 400, body = crate::error::ErrorBody), (status = 413, body = crate::error::ErrorBody)))]
pub async fn import_snippets(
    State(app): State<App>,
    caller: Admin,
    Path(id): Path<i64>,
    multipart: Multipart,
) -> ApiResult<(StatusCode, Json<Created>)> {
    let files = read_files(multipart).await?;
    let mut pairs = Vec::new();
    for (name, bytes) in files {
        let parsed = rapport_knowledge::connectors::parse_snippets(&bytes)
            .map_err(|e| ApiError::BadRequest(format!("{name}: {e}")))?;
        pairs.extend(parsed.into_iter().map(|p| (p.question, p.answer)));
    }
    let ids = app
        .knowledge
        .add_snippets(caller.workspace, SourceId(id), &pairs)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            ids: ids.into_iter().map(|d| d.0).collect(),
        }),
    ))
}

#[utoipa::path(put, path = "/api/v1/knowledge/sources/{id}/snippets/{doc}", tag = "knowledge",
    request_body = SnippetBody, responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn edit_snippet(
    State(app): State<App>,
    caller: Admin,
    Path((id, doc)): Path<(i64, i64)>,
    Json(body): Json<SnippetBody>,
) -> ApiResult<StatusCode> {
    app.knowledge
        .edit_snippet(
            caller.workspace,
            SourceId(id),
            DocumentId(doc),
            &body.question,
            &body.answer,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Uploads files (multipart, any number of `file` fields) into a files source and queues its
/// sync. PDF, CSV, TXT, Markdown and HTML.
#[utoipa::path(post, path = "/api/v1/knowledge/sources/{id}/files", tag = "knowledge",
    responses((status = 202, body = Object), (status = 400, body = crate::error::ErrorBody), (status = 413, body = crate::error::ErrorBody)))]
pub async fn upload_files(
    State(app): State<App>,
    caller: Admin,
    Path(id): Path<i64>,
    multipart: Multipart,
) -> ApiResult<(StatusCode, Json<Source>)> {
    let files = read_files(multipart).await?;
    let source = app
        .knowledge
        .add_files(caller.workspace, SourceId(id), files)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(source)))
}

async fn read_files(mut multipart: Multipart) -> ApiResult<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e)),
        };
        let Some(name) = field.file_name().map(str::to_owned) else {
            continue;
        };
        let bytes = field.bytes().await.map_err(multipart_error)?;
        files.push((name, bytes.to_vec()));
    }
    if files.is_empty() {
        return Err(ApiError::BadRequest(
            "no file in the upload (multipart field with a file name)".into(),
        ));
    }
    Ok(files)
}

/// Q&A pairs mined from resolved conversations, newest first.
#[utoipa::path(get, path = "/api/v1/knowledge/candidates", tag = "knowledge",
    params(("status" = Option<String>, Query)), responses((status = 200, body = CandidateList)))]
pub async fn list_candidates(
    State(app): State<App>,
    caller: Caller,
    Query(filter): Query<CandidateFilter>,
) -> ApiResult<Json<CandidateList>> {
    let status = filter
        .status
        .as_deref()
        .map(str::parse::<CandidateStatus>)
        .transpose()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let candidates = app.store.candidates(caller.workspace, status).await?;
    Ok(Json(CandidateList { candidates }))
}

/// Approves a candidate (optionally edited); it is searchable when this returns.
#[utoipa::path(post, path = "/api/v1/knowledge/candidates/{id}/approve", tag = "knowledge",
    request_body = Review, responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub async fn approve_candidate(
    State(app): State<App>,
    caller: Admin,
    Path(id): Path<i64>,
    body: Option<Json<Review>>,
) -> ApiResult<Json<Candidate>> {
    let review = body.map(|Json(r)| r).unwrap_or_default();
    let candidate = app
        .knowledge
        .review_candidate(
            caller.workspace,
            CandidateId(id),
            true,
            review.question.as_deref(),
            review.answer.as_deref(),
        )
        .await?;
    Ok(Json(candidate))
}

#[utoipa::path(post, path = "/api/v1/knowledge/candidates/{id}/reject", tag = "knowledge",
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub async fn reject_candidate(
    State(app): State<App>,
    caller: Admin,
    Path(id): Path<i64>,
) -> ApiResult<Json<Candidate>> {
    let candidate = app
        .knowledge
        .review_candidate(caller.workspace, CandidateId(id), false, None, None)
        .await?;
    Ok(Json(candidate))
}

/// What retrieval finds for a question: chunks with scores, titles, URLs and pages.
#[utoipa::path(post, path = "/api/v1/knowledge/search", tag = "knowledge",
    request_body = SearchRequest, responses((status = 200, body = SearchResults), (status = 400, body = crate::error::ErrorBody)))]
pub async fn search(
    State(app): State<App>,
    caller: Caller,
    Json(body): Json<SearchRequest>,
) -> ApiResult<Json<SearchResults>> {
    let options = SearchOptions {
        mode: body.mode.unwrap_or_default(),
        limit: body.limit.unwrap_or(8).clamp(1, 50),
        source_kinds: body.source_kinds,
        source_ids: None,
    };
    let results = app
        .knowledge
        .search(caller.workspace, &body.query, &options)
        .await?;
    Ok(Json(SearchResults { results }))
}
