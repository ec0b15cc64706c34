//! Retrieval evaluation: how often the document that answers a question is among the first k
//! documents retrieval returns. Chunks collapse to their document (its external ref, which is
//! the corpus id), because a customer is answered from a document, not from chunk 3 of it.

use std::time::Instant;

use rapport_core::ids::WorkspaceId;
use rapport_core::ports::SearchMode;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::base::KnowledgeBase;
use crate::retrieve::SearchOptions;

/// One line of a questions file.
#[derive(Debug, Clone, Deserialize)]
pub struct EvalQuestion {
    pub id: String,
    pub question: String,
    #[serde(default)]
    pub gold_doc_ids: Vec<String>,
    #[serde(default = "yes")]
    pub answerable: bool,
}

fn yes() -> bool {
    true
}

/// The figures `rapport eval retrieval --json` prints.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RetrievalMetrics {
    pub n: usize,
    #[serde(rename = "recall@1")]
    pub recall_at_1: f64,
    #[serde(rename = "recall@5")]
    pub recall_at_5: f64,
    #[serde(rename = "recall@10")]
    pub recall_at_10: f64,
    pub mrr: f64,
    #[serde(rename = "ndcg@10")]
    pub ndcg_at_10: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub mode: String,
    pub k: usize,
}

/// A question whose gold document was not first, for looking into.
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    pub id: String,
    pub question: String,
    pub gold: Vec<String>,
    /// Rank of the first gold document (1-based) within k, if any.
    pub rank: Option<usize>,
    pub retrieved: Vec<String>,
}

/// Asks every answerable question and scores the ranking of distinct documents.
pub async fn evaluate_retrieval(
    kb: &KnowledgeBase,
    ws: WorkspaceId,
    questions: &[EvalQuestion],
    mode: SearchMode,
    k: usize,
) -> Result<(RetrievalMetrics, Vec<Miss>)> {
    let k = k.max(1);
    let options = SearchOptions {
        mode,
        // Several chunks of one document often rank together; ask for enough to fill k
        // distinct documents.
        limit: (k * 5).max(50),
        ..SearchOptions::default()
    };
    let mut ranks: Vec<Option<usize>> = Vec::new();
    let mut ndcg = 0.0;
    let mut latencies = Vec::new();
    let mut misses = Vec::new();
    for q in questions
        .iter()
        .filter(|q| q.answerable && !q.gold_doc_ids.is_empty())
    {
        let started = Instant::now();
        let results = kb.search(ws, &q.question, &options).await?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        let mut docs: Vec<String> = Vec::new();
        for r in results {
            if !docs.contains(&r.chunk.external_ref) {
                docs.push(r.chunk.external_ref);
            }
            if docs.len() == k.max(10) {
                break;
            }
        }
        let is_gold = |d: &String| q.gold_doc_ids.contains(d);
        let rank = docs.iter().take(k).position(is_gold).map(|i| i + 1);
        ndcg += ndcg_at(&docs, &q.gold_doc_ids, 10);
        if rank != Some(1) {
            misses.push(Miss {
                id: q.id.clone(),
                question: q.question.clone(),
                gold: q.gold_doc_ids.clone(),
                rank,
                retrieved: docs.iter().take(5).cloned().collect(),
            });
        }
        ranks.push(rank);
    }
    let n = ranks.len();
    let share = |cut: usize| {
        if n == 0 {
            return 0.0;
        }
        ranks.iter().filter(|r| r.is_some_and(|r| r <= cut)).count() as f64 / n as f64
    };
    let mrr = if n == 0 {
        0.0
    } else {
        ranks.iter().flatten().map(|r| 1.0 / *r as f64).sum::<f64>() / n as f64
    };
    latencies.sort_by(f64::total_cmp);
    let metrics = RetrievalMetrics {
        n,
        recall_at_1: share(1),
        recall_at_5: share(5),
        recall_at_10: share(10),
        mrr,
        ndcg_at_10: if n == 0 { 0.0 } else { ndcg / n as f64 },
        p50_ms: percentile(&latencies, 0.50),
        p95_ms: percentile(&latencies, 0.95),
        mode: mode.as_str().to_owned(),
        k,
    };
    Ok((metrics, misses))
}

/// Binary-relevance nDCG over the first `cut` documents.
fn ndcg_at(docs: &[String], gold: &[String], cut: usize) -> f64 {
    let dcg: f64 = docs
        .iter()
        .take(cut)
        .enumerate()
        .filter(|(_, d)| gold.contains(d))
        .map(|(i, _)| 1.0 / ((i + 2) as f64).log2())
        .sum();
    let ideal: f64 = (0..gold.len().min(cut))
        .map(|i| 1.0 / ((i + 2) as f64).log2())
        .sum();
    if ideal == 0.0 { 0.0 } else { dcg / ideal }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndcg_rewards_gold_documents_ranked_high() {
        let docs: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(ndcg_at(&docs, &["a".into()], 10), 1.0);
        let second = ndcg_at(&docs, &["b".into()], 10);
        assert!((second - 1.0 / 3f64.log2()).abs() < 1e-9);
        assert_eq!(ndcg_at(&docs, &["z".into()], 10), 0.0);
        let two = ndcg_at(&docs, &["a".into(), "c".into()], 10);
        assert!(two > 0.9 && two < 1.0);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
