//! Fusing the dense (meaning) and sparse (words) rankings of one question into one.
//!
//! The fusion runs here rather than inside the vector index so that both backends (Qdrant Edge
//! and a Qdrant server) rank identically and the method can be measured and tuned with
//! `rapport eval retrieval` without touching the index.

use std::collections::HashMap;
use std::str::FromStr;

use rapport_core::ids::ChunkId;
use rapport_core::ports::IndexHit;
use serde::{Deserialize, Serialize};

/// How the two rankings are combined.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Fusion {
    /// Reciprocal rank fusion: `w / (k + rank)` summed over the lists; uses ranks only.
    Rrf { k: f32, dense_weight: f32 },
    /// Convex combination of scores normalised per list (the best hit of each list scores 1):
    /// `alpha · dense + (1 − alpha) · sparse`. Keeps how far ahead a hit is, which ranks drop.
    Convex { alpha: f32 },
}

impl Default for Fusion {
    fn default() -> Self {
        Fusion::Convex { alpha: 0.6 }
    }
}

impl FromStr for Fusion {
    type Err = String;
    /// `rrf`, `rrf:60`, `rrf:60:0.6` (k, dense weight), `convex`, `convex:0.7`.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.split(':');
        let method = parts.next().unwrap_or_default();
        let mut number = |default: f32| -> Result<f32, String> {
            parts.next().map_or(Ok(default), |p| {
                p.parse::<f32>().map_err(|e| format!("{p:?} in {s:?}: {e}"))
            })
        };
        match method {
            "rrf" => Ok(Fusion::Rrf {
                k: number(60.0)?,
                dense_weight: number(0.5)?,
            }),
            "convex" => Ok(Fusion::Convex {
                alpha: number(0.6)?,
            }),
            other => Err(format!(
                "unknown fusion {other:?} (rrf[:k[:w]] or convex[:alpha])"
            )),
        }
    }
}

impl Fusion {
    /// Combines two best-first lists into one, best first.
    pub fn fuse(&self, dense: &[IndexHit], sparse: &[IndexHit]) -> Vec<IndexHit> {
        let mut scores: HashMap<ChunkId, f32> = HashMap::new();
        match *self {
            Fusion::Rrf { k, dense_weight } => {
                for (list, weight) in [(dense, dense_weight), (sparse, 1.0 - dense_weight)] {
                    for (rank, hit) in list.iter().enumerate() {
                        *scores.entry(hit.chunk_id).or_default() +=
                            weight / (k + rank as f32 + 1.0);
                    }
                }
            }
            Fusion::Convex { alpha } => {
                for (list, weight) in [(dense, alpha), (sparse, 1.0 - alpha)] {
                    let (low, high) = bounds(list);
                    let span = (high - low).max(f32::EPSILON);
                    for hit in list {
                        // Min-max within the list: the last candidate scores 0, the first 1.
                        let normalised = (hit.score - low) / span;
                        *scores.entry(hit.chunk_id).or_default() += weight * normalised;
                    }
                }
            }
        }
        let mut fused: Vec<IndexHit> = scores
            .into_iter()
            .map(|(chunk_id, score)| IndexHit { chunk_id, score })
            .collect();
        // Ties break on the chunk id so the order is stable from one run to the next.
        fused.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.chunk_id.cmp(&b.chunk_id))
        });
        fused
    }
}

fn bounds(list: &[IndexHit]) -> (f32, f32) {
    let high = list.iter().map(|h| h.score).fold(f32::MIN, f32::max);
    let low = list.iter().map(|h| h.score).fold(f32::MAX, f32::min);
    if list.len() < 2 {
        // One candidate: it is the best and the worst; count it fully.
        (high - 1.0, high)
    } else {
        (low, high)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(list: &[(i64, f32)]) -> Vec<IndexHit> {
        list.iter()
            .map(|&(id, score)| IndexHit {
                chunk_id: ChunkId(id),
                score,
            })
            .collect()
    }

    fn ids(list: &[IndexHit]) -> Vec<i64> {
        list.iter().map(|h| h.chunk_id.0).collect()
    }

    #[test]
    fn a_hit_both_lists_rank_high_wins() {
        let dense = hits(&[(1, 0.9), (2, 0.8), (3, 0.7)]);
        let sparse = hits(&[(4, 12.0), (2, 11.0), (5, 3.0)]);
        for fusion in [Fusion::default(), "rrf".parse().unwrap()] {
            assert_eq!(ids(&fusion.fuse(&dense, &sparse))[0], 2, "{fusion:?}");
        }
    }

    #[test]
    fn convex_keeps_a_clear_lead() {
        // Dense barely prefers 1 over 2; sparse strongly prefers 2.
        let dense = hits(&[(1, 0.80), (2, 0.79), (3, 0.2)]);
        let sparse = hits(&[(2, 20.0), (1, 2.0), (3, 1.0)]);
        assert_eq!(
            ids(&Fusion::Convex { alpha: 0.6 }.fuse(&dense, &sparse))[0],
            2
        );
    }

    #[test]
    fn fusions_parse_from_the_command_line() {
        assert_eq!(
            "rrf:30:0.7".parse::<Fusion>().unwrap(),
            Fusion::Rrf {
                k: 30.0,
                dense_weight: 0.7
            }
        );
        assert_eq!(
            "convex:0.5".parse::<Fusion>().unwrap(),
            Fusion::Convex { alpha: 0.5 }
        );
        assert!("max".parse::<Fusion>().is_err());
    }
}
