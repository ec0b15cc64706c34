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
use crate::shorthand::spell_out;
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
    /// How well the question's word pieces find their match in the chunk's own (late
    /// interaction, [`crate::late`]): the mean best cosine, up to 1. Zero outside hybrid mode and
    /// for chunks indexed before token vectors were kept.
    pub token_match: f32,
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
        let question = spell_out(&question);
        let query = IndexQuery {
            workspace_id: ws,
            mode: options.mode,
            dense: Vec::new(),
            sparse: Some(self.sparse().query(&question)),
            source_ids: options.source_ids.clone(),
            source_kinds: options.source_kinds.clone(),
            limit: options.limit,
        };
        let Ranked {
            mut hits,
            mut similarities,
            mut title_similarities,
            token_matches,
            curated,
            dense,
        } = match options.mode {
            SearchMode::Hybrid => self.hybrid(query, &question).await?,
            SearchMode::Dense => self.dense(query, &question).await?,
            SearchMode::Sparse => Ranked {
                hits: self.index().search(query).await?,
                ..Ranked::default()
            },
        };
        if let Some(curated) = curated
            && promote(&curated, &mut hits, options.limit)
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
                token_match: token_matches
                    .get(&ChunkId(chunk.id))
                    .copied()
                    .unwrap_or(0.0),
                chunk,
            })
            .collect())
    }

    /// Dense candidates, with the closest curated answer looked up at the same time.
    async fn dense(&self, mut query: IndexQuery, question: &str) -> Result<Ranked> {
        query.dense = self.embedder().embed_one(question).await?;
        let (hits, curated) =
            futures::try_join!(self.candidates_of(query.clone()), self.best_curated(&query))?;
        Ok(Ranked {
            similarities: hits.iter().map(|h| (h.chunk_id, h.score)).collect(),
            hits,
            curated,
            dense: query.dense,
            ..Ranked::default()
        })
    }

    /// Dense and sparse candidates, fused here (see [`crate::fusion`]) and rescored by title
    /// and by the question's tokens, with the dense similarity of every dense candidate and the
    /// title similarity of every candidate.
    ///
    /// What does not depend on each other runs at once: the sparse search while the question is
    /// embedded, the curated-answer lookup beside the dense search.
    async fn hybrid(&self, mut query: IndexQuery, question: &str) -> Result<Ranked> {
        // Independent of the limit beyond 40, so that asking for more results does not change
        // how the first ones are ranked (scores are normalised over the candidates).
        let candidates = query.limit.max(40);
        let side = |query: &IndexQuery, mode| IndexQuery {
            mode,
            limit: candidates,
            ..query.clone()
        };
        let sparse_side = side(&query, SearchMode::Sparse);
        let (embedded, sparse) = futures::try_join!(
            self.embed_question(question),
            self.candidates_of(sparse_side)
        )?;
        query.dense = embedded.vector;
        let dense_side = side(&query, SearchMode::Dense);
        let sentence_sides = embedded.sentences.iter().map(|vector| IndexQuery {
            dense: vector.clone(),
            ..side(&query, SearchMode::Dense)
        });
        let (dense, by_sentence, curated) = futures::try_join!(
            self.candidates_of(dense_side),
            futures::future::try_join_all(sentence_sides.map(|q| self.candidates_of(q))),
            self.best_curated(&query),
        )?;
        let mut fused = self
            .settings()
            .fusion
            .fuse(&with_sentences(&dense, &by_sentence), &sparse);
        let ids: Vec<ChunkId> = fused.iter().map(|h| h.chunk_id).collect();
        let rescoring = self
            .store()
            .chunk_rescoring(query.workspace_id, &ids)
            .await?;
        let titles: HashMap<ChunkId, f32> = rescoring
            .iter()
            .filter_map(|r| {
                let title = r.title_vector.as_deref()?;
                let whole = title_match(title, &query.dense)?;
                let best = embedded
                    .sentences
                    .iter()
                    .filter_map(|sentence| title_match(title, sentence))
                    .fold(whole, f32::max);
                Some((r.chunk, best))
            })
            .collect();
        self.boost_by_title(&titles, &mut fused);
        let token_vectors: HashMap<ChunkId, TokenVectors> = rescoring
            .iter()
            .filter_map(|r| {
                Some((
                    r.chunk,
                    TokenVectors::from_bytes(r.token_vectors.as_deref()?)?,
                ))
            })
            .collect();
        let token_matches = self.boost_by_tokens(&embedded.tokens, &token_vectors, &mut fused);
        fused.truncate(query.limit);
        Ok(Ranked {
            hits: fused,
            similarities: dense.iter().map(|h| (h.chunk_id, h.score)).collect(),
            title_similarities: titles,
            token_matches,
            curated,
            dense: query.dense,
        })
    }

    /// The index's answer to one query.
    async fn candidates_of(&self, query: IndexQuery) -> Result<Vec<IndexHit>> {
        Ok(self.index().search(query).await?)
    }

    /// The question's pooled embedding and its token vectors, and the pooled embedding of each
    /// of its sentences when it has several ([`sentences_of`]); one call to the model.
    async fn embed_question(&self, question: &str) -> Result<QuestionEmbedding> {
        let mut texts = vec![question.to_owned()];
        texts.extend(sentences_of(question));
        let mut embedded = self.embedder().embed_with_tokens(texts).await?.into_iter();
        let whole = embedded
            .next()
            .ok_or_else(|| Error::Invalid("the embedder returned no vector".into()))?;
        Ok(QuestionEmbedding {
            vector: whole.vector,
            tokens: whole.tokens.into_iter().map(|t| t.vector).collect(),
            sentences: embedded.map(|e| e.vector).collect(),
        })
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
            .filter_map(|(chunk, _, title)| Some((chunk, title_match(&title?, question)?)))
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
    /// were kept): scoring only some would rank by when a chunk was indexed. Returns each
    /// candidate's match.
    fn boost_by_tokens(
        &self,
        question_tokens: &[Vec<f32>],
        stored: &HashMap<ChunkId, TokenVectors>,
        fused: &mut [IndexHit],
    ) -> HashMap<ChunkId, f32> {
        let weight = self.settings().token_weight;
        if weight <= 0.0 || fused.len() < 2 || question_tokens.is_empty() {
            return HashMap::new();
        }
        let candidates: Option<Vec<&TokenVectors>> =
            fused.iter().map(|hit| stored.get(&hit.chunk_id)).collect();
        let Some(candidates) = candidates else {
            tracing::debug!(
                candidates = fused.len(),
                with_token_vectors = stored.len(),
                "token rescoring skipped: some candidates were indexed without token vectors"
            );
            return HashMap::new();
        };
        let scores = max_sims(question_tokens, &candidates);
        let matches = fused
            .iter()
            .map(|h| h.chunk_id)
            .zip(scores.iter().copied())
            .collect();
        let scores: Vec<Option<f32>> = scores.into_iter().map(Some).collect();
        add_scaled(fused, &scores, weight);
        matches
    }

    /// The raw dense and sparse candidate lists of a question with their chunks' document refs,
    /// for studying fusion offline (`rapport eval retrieval --dump`).
    pub async fn candidates(
        &self,
        ws: WorkspaceId,
        question: &str,
        limit: usize,
    ) -> Result<Vec<(SearchMode, Vec<(String, i64, f32)>)>> {
        // Searched as `search` would search it.
        let question = spell_out(question);
        let query = IndexQuery::new(
            ws,
            self.embedder().embed_one(&question).await?,
            Some(self.sparse().query(&question)),
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

    /// The curated Q&A chunk (snippet or approved pair) closest to the question, if any is
    /// searched (the query's kinds allow one).
    async fn best_curated(&self, query: &IndexQuery) -> Result<Option<IndexHit>> {
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
        Ok(best.into_iter().next())
    }
}

/// A question's ranking before its chunks are read.
#[derive(Default)]
struct Ranked {
    hits: Vec<IndexHit>,
    /// Dense similarity of each dense candidate.
    similarities: HashMap<ChunkId, f32>,
    /// Question–title similarity of each candidate.
    title_similarities: HashMap<ChunkId, f32>,
    /// Late-interaction match of each candidate (hybrid mode).
    token_matches: HashMap<ChunkId, f32>,
    /// The closest curated answer, to be promoted if it matches closely.
    curated: Option<IndexHit>,
    /// The question's embedding (empty in sparse mode).
    dense: Vec<f32>,
}

struct QuestionEmbedding {
    vector: Vec<f32>,
    tokens: Vec<Vec<f32>>,
    /// One vector a sentence, for questions of several sentences; empty otherwise.
    sentences: Vec<Vec<f32>>,
}

/// Most sentences of one question searched on their own.
const MAX_SENTENCES: usize = 4;

/// The sentences of a question that tells its context before (or after) what it asks — "we have a
/// shared tablet in our store. when one customer logs out…" — each of at least three words; none
/// for a question of one sentence. A pooled embedding of the whole blurs the part that is asked
/// with the part that sets the scene, so each sentence is also searched on its own.
fn sentences_of(question: &str) -> Vec<String> {
    let mut sentences = Vec::new();
    let mut current = String::new();
    let mut chars = question.chars().peekable();
    while let Some(c) = chars.next() {
        let ends = c == '\n'
            || (matches!(c, '.' | '?' | '!') && chars.peek().is_none_or(|n| n.is_whitespace()));
        if c != '\n' {
            current.push(c);
        }
        if ends || chars.peek().is_none() {
            let sentence = current.trim();
            if sentence.split_whitespace().count() >= 3 {
                sentences.push(sentence.to_owned());
            }
            current.clear();
        }
    }
    if sentences.len() < 2 {
        return Vec::new();
    }
    sentences.truncate(MAX_SENTENCES);
    sentences
}

/// The dense candidates of a question of several sentences: a chunk the whole question found
/// moves halfway from its score towards its best score for one sentence, when that is higher; a
/// chunk only a sentence found keeps that sentence's score. On the help-center dev set this took
/// hybrid recall@1 from 0.723 to 0.738 (MRR 0.819 to 0.826) and changed nothing on StackFAQ,
/// whose questions are one sentence; moving all the way to the sentence's score lost a question
/// at recall@5.
fn with_sentences(whole: &[IndexHit], by_sentence: &[Vec<IndexHit>]) -> Vec<IndexHit> {
    if by_sentence.is_empty() {
        return whole.to_vec();
    }
    let mut scores: HashMap<ChunkId, (Option<f32>, f32)> = whole
        .iter()
        .map(|h| (h.chunk_id, (Some(h.score), f32::MIN)))
        .collect();
    for hit in by_sentence.iter().flatten() {
        let entry = scores.entry(hit.chunk_id).or_insert((None, f32::MIN));
        entry.1 = entry.1.max(hit.score);
    }
    let mut merged: Vec<IndexHit> = scores
        .into_iter()
        .map(|(chunk_id, (whole, sentence))| {
            let score = match whole {
                Some(whole) => whole + ((sentence - whole) / 2.0).max(0.0),
                None => sentence,
            };
            IndexHit { chunk_id, score }
        })
        .collect();
    merged.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.chunk_id.cmp(&b.chunk_id))
    });
    merged.truncate(whole.len());
    merged
}

/// Puts a curated Q&A chunk first when it matches the question closely ([`CURATED_MATCH`]);
/// says whether it did.
fn promote(curated: &IndexHit, hits: &mut Vec<IndexHit>, limit: usize) -> bool {
    if curated.score < CURATED_MATCH {
        return false;
    }
    let top = hits.first().map_or(0.0, |h| h.score);
    hits.retain(|h| h.chunk_id != curated.chunk_id);
    hits.insert(
        0,
        IndexHit {
            chunk_id: curated.chunk_id,
            score: top.max(curated.score),
        },
    );
    hits.truncate(limit);
    true
}

/// The question–title similarity: the cosine of two unit vectors, `None` when their lengths
/// differ (a title embedded by another model).
fn title_match(title: &[f32], question: &[f32]) -> Option<f32> {
    (!question.is_empty() && title.len() == question.len()).then(|| dot(title, question))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: i64, score: f32) -> IndexHit {
        IndexHit {
            chunk_id: ChunkId(id),
            score,
        }
    }

    #[test]
    fn a_question_of_several_sentences_is_split_into_them() {
        assert_eq!(
            sentences_of(
                "We have a shared tablet in our store. When one customer logs out, the next \
                 still sees the chat! How do we clear it?"
            ),
            vec![
                "We have a shared tablet in our store.",
                "When one customer logs out, the next still sees the chat!",
                "How do we clear it?",
            ]
        );
        // One sentence, short fragments, and a decimal point are not several sentences.
        assert!(sentences_of("how do I reset my password?").is_empty());
        assert!(sentences_of("Hi. Thanks! how do I reset my password?").is_empty());
        assert!(sentences_of("our router only does 2.4 GHz networks").is_empty());
        assert_eq!(
            sentences_of("line one has words\nline two has words").len(),
            2
        );
    }

    #[test]
    fn a_sentence_lifts_a_chunk_halfway_and_adds_what_only_it_found() {
        let whole = vec![hit(1, 0.6), hit(2, 0.5), hit(3, 0.4)];
        let by_sentence = vec![vec![hit(2, 0.9), hit(4, 0.45)], vec![hit(1, 0.3)]];
        let merged = with_sentences(&whole, &by_sentence);
        let scores: Vec<(i64, f32)> = merged.iter().map(|h| (h.chunk_id.0, h.score)).collect();
        // 2 moves halfway to 0.9; 1 keeps its own (its sentence score is lower); 4 is new at
        // 0.45; the list keeps the whole question's length.
        assert_eq!(scores.len(), 3);
        assert_eq!(scores[0].0, 2);
        assert!((scores[0].1 - 0.7).abs() < 1e-6, "{scores:?}");
        assert_eq!(scores[1], (1, 0.6));
        assert_eq!(scores[2], (4, 0.45));
        assert_eq!(with_sentences(&whole, &[]).len(), 3);
    }
}
