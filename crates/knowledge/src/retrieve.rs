//! Retrieval: the question in, the best chunks out, with what a citation needs (title, URL,
//! page). Dense and sparse candidates are fused by the index; a curated answer (a snippet or an
//! approved Q&A pair) that matches the question closely is moved to the top, because an admin
//! wrote it for exactly that question.

use std::collections::HashMap;

use rapport_core::domain::SourceKind;
use rapport_core::ids::{ChunkId, SourceId, WorkspaceId};
use rapport_core::ports::{IndexHit, IndexQuery, SearchMode};
use rapport_store::knowledge::ChunkView;
use serde::Serialize;

use crate::base::KnowledgeBase;
use crate::late::{TokenVectors, max_sims};
use crate::{Error, Result};

/// Cosine similarity between the question and a curated Q&A chunk above which that chunk is
/// put first. MiniLM scores paraphrases of one question around 0.7–0.9 and merely related
/// questions below 0.6.
pub const CURATED_MATCH: f32 = 0.72;

/// Longest question text that is searched; the rest is cut (a pasted e-mail thread is not a
/// better query for being long).
const MAX_QUERY_CHARS: usize = 2_000;

#[derive(Debug, Clone)]
pub struct SearchOptions {
    pub mode: SearchMode,
    pub limit: usize,
    pub source_kinds: Option<Vec<SourceKind>>,
    pub source_ids: Option<Vec<SourceId>>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            mode: SearchMode::Hybrid,
            limit: 8,
            source_kinds: None,
            source_ids: None,
        }
    }
}

/// A retrieved chunk, best first.
#[derive(Debug, Clone, Serialize)]
pub struct Retrieved {
    /// Rank score (fused and boosted in hybrid mode): orders results, but is relative to the
    /// other candidates of this question.
    pub score: f32,
    /// Cosine similarity between the question and the chunk's embedding: an absolute measure of
    /// how well the chunk matches, which is what "is the answer supported?" needs. Zero when the
    /// chunk was found by words alone (sparse mode, or beyond the dense candidates).
    pub similarity: f32,
    /// Cosine similarity between the question and the title of the chunk's document (zero in
    /// sparse mode or for untitled documents): a help-center title often *is* the question.
    pub title_similarity: f32,
    #[serde(flatten)]
    pub chunk: ChunkView,
}

impl KnowledgeBase {
    /// The chunks of this workspace's knowledge that best answer `question`.
    pub async fn search(
        &self,
        ws: WorkspaceId,
        question: &str,
        options: &SearchOptions,
    ) -> Result<Vec<Retrieved>> {
        let question: String = question.trim().chars().take(MAX_QUERY_CHARS).collect();
        if question.is_empty() {
            return Err(Error::Invalid("the question is empty".into()));
        }
        if options.limit == 0 {
            return Ok(Vec::new());
        }
        let (dense, question_tokens) = match options.mode {
            SearchMode::Sparse => (Vec::new(), Vec::new()),
            SearchMode::Dense => (self.embedder().embed_one(&question).await?, Vec::new()),
            SearchMode::Hybrid => {
                let embedded = self
                    .embedder()
                    .embed_with_tokens(vec![question.clone()])
                    .await?
                    .pop()
                    .ok_or_else(|| Error::Invalid("the embedder returned no vector".into()))?;
                let tokens = embedded.tokens.into_iter().map(|t| t.vector).collect();
                (embedded.vector, tokens)
            }
        };
        let sparse = self.sparse().query(&question);
        let query = IndexQuery {
            workspace_id: ws,
            mode: options.mode,
            dense: dense.clone(),
            sparse: Some(sparse),
            source_ids: options.source_ids.clone(),
            source_kinds: options.source_kinds.clone(),
            limit: options.limit,
        };
        let (mut hits, mut similarities, mut title_similarities) = match options.mode {
            SearchMode::Hybrid => self.hybrid(&query, &question_tokens).await?,
            SearchMode::Dense => {
                let hits = self.index().search(query.clone()).await?;
                let similarities = hits.iter().map(|h| (h.chunk_id, h.score)).collect();
                (hits, similarities, HashMap::new())
            }
            SearchMode::Sparse => (
                self.index().search(query.clone()).await?,
                HashMap::new(),
                HashMap::new(),
            ),
        };
        if options.mode != SearchMode::Sparse
            && let Some(curated) = self.promote_curated(&query, &mut hits).await?
        {
            similarities.insert(curated.chunk_id, curated.score);
        }
        let ids: Vec<ChunkId> = hits.iter().map(|h| h.chunk_id).collect();
        let views = self.store().chunks_by_ids(ws, &ids).await?;
        // Hybrid search has them for its candidates already; a promoted curated answer (or dense
        // mode) still needs them read.
        let unread: Vec<ChunkId> = ids
            .iter()
            .copied()
            .filter(|id| !title_similarities.contains_key(id))
            .collect();
        title_similarities.extend(self.title_similarities(ws, &unread, &dense).await?);
        let score_of = |id: i64| {
            hits.iter()
                .find(|h| h.chunk_id.0 == id)
                .map_or(0.0, |h| h.score)
        };
        Ok(views
            .into_iter()
            .map(|chunk| Retrieved {
                score: score_of(chunk.id),
                similarity: similarities.get(&ChunkId(chunk.id)).copied().unwrap_or(0.0),
                title_similarity: title_similarities
                    .get(&ChunkId(chunk.id))
                    .copied()
                    .unwrap_or(0.0),
                chunk,
            })
            .collect())
    }

    /// Dense and sparse candidates, fused here (see [`crate::fusion`]) and rescored by title
    /// and by the question's tokens, with the dense similarity of every dense candidate and the
    /// title similarity of every candidate.
    async fn hybrid(
        &self,
        query: &IndexQuery,
        question_tokens: &[Vec<f32>],
    ) -> Result<(Vec<IndexHit>, HashMap<ChunkId, f32>, HashMap<ChunkId, f32>)> {
        // Independent of the limit beyond 40, so that asking for more results does not change
        // how the first ones are ranked (scores are normalised over the candidates).
        let candidates = query.limit.max(40);
        let side = |mode| IndexQuery {
            mode,
            limit: candidates,
            ..query.clone()
        };
        let dense = self.index().search(side(SearchMode::Dense)).await?;
        let sparse = self.index().search(side(SearchMode::Sparse)).await?;
        let mut fused = self.settings().fusion.fuse(&dense, &sparse);
        let ids: Vec<ChunkId> = fused.iter().map(|h| h.chunk_id).collect();
        let titles = self
            .title_similarities(query.workspace_id, &ids, &query.dense)
            .await?;
        self.boost_by_title(&titles, &mut fused);
        self.boost_by_tokens(query.workspace_id, question_tokens, &mut fused)
            .await?;
        fused.truncate(query.limit);
        let similarities = dense.iter().map(|h| (h.chunk_id, h.score)).collect();
        Ok((fused, similarities, titles))
    }

    /// Cosine similarity between the question and the title of each chunk's document, for the
    /// chunks whose document has a title embedding (none without a question embedding).
    async fn title_similarities(
        &self,
        ws: WorkspaceId,
        ids: &[ChunkId],
        question: &[f32],
    ) -> Result<HashMap<ChunkId, f32>> {
        if ids.is_empty() || question.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(self
            .store()
            .chunk_documents(ws, ids)
            .await?
            .into_iter()
            .filter_map(|(chunk, _, title)| {
                let title = title?;
                (title.len() == question.len()).then(|| (chunk, dot(&title, question)))
            })
            .collect())
    }

    /// Adds to each chunk's fused score how well its document's title matches the question,
    /// scaled among the candidate documents (the best title adds `title_weight`, the worst
    /// nothing). A chunk that mentions the right words in the wrong article loses to one whose
    /// article is about what was asked.
    fn boost_by_title(&self, titles: &HashMap<ChunkId, f32>, fused: &mut [IndexHit]) {
        let weight = self.settings().title_weight;
        if weight <= 0.0 || fused.is_empty() {
            return;
        }
        let scores: Vec<Option<f32>> = fused
            .iter()
            .map(|hit| titles.get(&hit.chunk_id).copied())
            .collect();
        add_scaled(fused, &scores, weight);
    }

    /// Adds to each chunk's fused score how well the question's tokens match the chunk's own
    /// ([`crate::late`]), scaled among the candidates (the best adds `token_weight`, the worst
    /// nothing). Skipped when any candidate has no stored token vectors (indexed before they
    /// were kept): scoring only some would rank by when a chunk was indexed.
    async fn boost_by_tokens(
        &self,
        ws: WorkspaceId,
        question_tokens: &[Vec<f32>],
        fused: &mut [IndexHit],
    ) -> Result<()> {
        let weight = self.settings().token_weight;
        if weight <= 0.0 || fused.len() < 2 || question_tokens.is_empty() {
            return Ok(());
        }
        let ids: Vec<ChunkId> = fused.iter().map(|h| h.chunk_id).collect();
        let stored: HashMap<ChunkId, TokenVectors> = self
            .store()
            .chunk_token_vectors(ws, &ids)
            .await?
            .into_iter()
            .filter_map(|(id, bytes)| Some((id, TokenVectors::from_bytes(&bytes)?)))
            .collect();
        let candidates: Option<Vec<&TokenVectors>> =
            fused.iter().map(|hit| stored.get(&hit.chunk_id)).collect();
        let Some(candidates) = candidates else {
            tracing::debug!(
                candidates = ids.len(),
                with_token_vectors = stored.len(),
                "token rescoring skipped: some candidates were indexed without token vectors"
            );
            return Ok(());
        };
        let scores: Vec<Option<f32>> = max_sims(question_tokens, &candidates)
            .into_iter()
            .map(Some)
            .collect();
        add_scaled(fused, &scores, weight);
        Ok(())
    }

    /// The raw dense and sparse candidate lists of a question with their chunks' document refs,
    /// for studying fusion offline (`rapport eval retrieval --dump`).
    pub async fn candidates(
        &self,
        ws: WorkspaceId,
        question: &str,
        limit: usize,
    ) -> Result<Vec<(SearchMode, Vec<(String, i64, f32)>)>> {
        let query = IndexQuery::new(
            ws,
            self.embedder().embed_one(question).await?,
            Some(self.sparse().query(question)),
            limit,
        );
        let mut out = Vec::new();
        for mode in [SearchMode::Dense, SearchMode::Sparse] {
            let hits = self
                .index()
                .search(IndexQuery {
                    mode,
                    ..query.clone()
                })
                .await?;
            let ids: Vec<ChunkId> = hits.iter().map(|h| h.chunk_id).collect();
            let views = self.store().chunks_by_ids(ws, &ids).await?;
            let list = hits
                .iter()
                .filter_map(|h| {
                    let view = views.iter().find(|v| v.id == h.chunk_id.0)?;
                    Some((view.external_ref.clone(), view.id, h.score))
                })
                .collect();
            out.push((mode, list));
        }
        Ok(out)
    }

    /// Puts the closest curated Q&A chunk first when it matches the question closely, and
    /// returns it with its similarity.
    async fn promote_curated(
        &self,
        query: &IndexQuery,
        hits: &mut Vec<IndexHit>,
    ) -> Result<Option<IndexHit>> {
        let curated = [SourceKind::Snippets, SourceKind::Conversations];
        let kinds: Vec<SourceKind> = match &query.source_kinds {
            Some(kinds) => curated.into_iter().filter(|k| kinds.contains(k)).collect(),
            None => curated.to_vec(),
        };
        if kinds.is_empty() {
            return Ok(None);
        }
        let best = self
            .index()
            .search(IndexQuery {
                mode: SearchMode::Dense,
                source_kinds: Some(kinds),
                limit: 1,
                ..query.clone()
            })
            .await?;
        let Some(best) = best.into_iter().next() else {
            return Ok(None);
        };
        if best.score < CURATED_MATCH {
            return Ok(None);
        }
        let top = hits.first().map_or(0.0, |h| h.score);
        hits.retain(|h| h.chunk_id != best.chunk_id);
        hits.insert(
            0,
            IndexHit {
                chunk_id: best.chunk_id,
                score: top.max(best.score),
            },
        );
        hits.truncate(query.limit);
        Ok(Some(best))
    }
}

/// Adds each hit's score (`scores`, in the hits' order; `None` adds nothing) scaled among the
/// hits that have one, so the best adds `weight` and the worst nothing, then re-sorts the hits.
fn add_scaled(hits: &mut [IndexHit], scores: &[Option<f32>], weight: f32) {
    let (low, high) = scores
        .iter()
        .flatten()
        .fold((f32::MAX, f32::MIN), |(lo, hi), s| (lo.min(*s), hi.max(*s)));
    let span = (high - low).max(f32::EPSILON);
    for (hit, score) in hits.iter_mut().zip(scores) {
        if let Some(s) = score {
            hit.score += weight * (s - low) / span;
        }
    }
    // Ties break on the chunk id so the order is stable from one run to the next.
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.chunk_id.cmp(&b.chunk_id))
    });
}

/// Cosine of two unit vectors.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
