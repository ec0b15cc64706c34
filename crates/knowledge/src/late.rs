//! Late interaction: scoring a chunk by how well each word piece of the question finds its best
//! match among the chunk's own token vectors (MaxSim, as in ColBERT), on top of the one pooled
//! vector per chunk that dense search uses.
//!
//! A pooled vector blurs a chunk into its average topic, so "tag every conversation that
//! mentions refund" lands on whatever article is most about conversations. Matching word for word
//! keeps the specifics ("tag", "refund", "automatically") that decide between neighbouring
//! articles. The token vectors come from the same model pass as the pooled vector, so ingestion
//! costs no extra embedding; only the candidates hybrid search already found are rescored, so a
//! query reads a few dozen small blobs.
//!
//! What is kept per chunk: the vectors of its content word pieces (punctuation and stop words
//! dropped, repeats of one piece averaged: on the help-center dev set that halved the vectors
//! kept and lost nothing), each as int8 with its own scale (lossless on the same set). That is
//! about 18 KB per chunk.

use std::collections::HashMap;

use rapport_core::ports::EmbeddedToken;

use crate::sparse::is_stop_word;

/// Layout version, the first byte of an encoded set.
const VERSION: u8 = 1;
/// Version, dimensions (u16), count (u16).
const HEADER: usize = 5;

/// A chunk's token vectors as stored: unit vectors quantised to int8, one scale each.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenVectors {
    dims: usize,
    scales: Vec<f32>,
    values: Vec<i8>,
}

impl TokenVectors {
    /// The vectors worth keeping of a chunk's tokens (none when it has none: that is stored
    /// too, so the chunk is not taken for one indexed before token vectors were kept).
    pub fn of_chunk(tokens: &[EmbeddedToken]) -> Self {
        Self::content_of(tokens).unwrap_or(Self {
            dims: 0,
            scales: Vec::new(),
            values: Vec::new(),
        })
    }

    fn content_of(tokens: &[EmbeddedToken]) -> Option<Self> {
        let content: Vec<&EmbeddedToken> = tokens.iter().filter(|t| is_content(&t.piece)).collect();
        // A chunk of nothing but stop words and symbols still gets vectors.
        let kept = if content.is_empty() {
            tokens.iter().collect()
        } else {
            content
        };
        let dims = kept.first()?.vector.len();
        // Repeats of one piece averaged, in order of first use.
        let mut order: Vec<&str> = Vec::new();
        let mut sums: HashMap<&str, Vec<f32>> = HashMap::new();
        for token in kept.iter().filter(|t| t.vector.len() == dims) {
            let sum = sums.entry(token.piece.as_str()).or_insert_with(|| {
                order.push(token.piece.as_str());
                vec![0.0; dims]
            });
            sum.iter_mut().zip(&token.vector).for_each(|(s, v)| *s += v);
        }
        let vectors: Vec<Vec<f32>> = order
            .iter()
            .filter_map(|piece| sums.remove(piece))
            .map(unit)
            .collect();
        Self::quantise(&vectors)
    }

    /// Quantises unit vectors of one length; `None` for none.
    fn quantise(vectors: &[Vec<f32>]) -> Option<Self> {
        let dims = vectors.first()?.len();
        if dims == 0 || dims > usize::from(u16::MAX) {
            return None;
        }
        let mut scales = Vec::new();
        let mut values = Vec::new();
        for vector in vectors
            .iter()
            .filter(|v| v.len() == dims)
            .take(usize::from(u16::MAX))
        {
            let largest = vector.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            let scale = if largest > 0.0 { largest / 127.0 } else { 1.0 };
            scales.push(scale);
            values.extend(
                vector
                    .iter()
                    .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8),
            );
        }
        Some(Self {
            dims,
            scales,
            values,
        })
    }

    pub fn len(&self) -> usize {
        self.scales.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scales.is_empty()
    }

    /// The stored form (see [`Self::from_bytes`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.scales.len() * 4 + self.values.len());
        out.push(VERSION);
        out.extend((self.dims as u16).to_le_bytes());
        out.extend((self.scales.len() as u16).to_le_bytes());
        for scale in &self.scales {
            out.extend(scale.to_le_bytes());
        }
        out.extend(self.values.iter().map(|v| *v as u8));
        out
    }

    /// Reads what [`Self::to_bytes`] wrote; `None` for anything else (another version, a
    /// truncated blob), which is then scored as if absent.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (&version, rest) = bytes.split_first()?;
        if version != VERSION || rest.len() < 4 {
            return None;
        }
        let dims = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let count = usize::from(u16::from_le_bytes([rest[2], rest[3]]));
        let body = &rest[4..];
        if (dims == 0 && count > 0) || body.len() != count * 4 + count * dims {
            return None;
        }
        let (scale_bytes, value_bytes) = body.split_at(count * 4);
        Some(Self {
            dims,
            scales: scale_bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            values: value_bytes.iter().map(|b| *b as i8).collect(),
        })
    }

    /// MaxSim: for each of the question's token vectors (`query`), the cosine of its closest
    /// vector here, averaged over the question's tokens. 0 when either side is empty or their
    /// lengths differ. [`max_sims`] scores many chunks at once.
    pub fn max_sim(&self, query: &[Vec<f32>]) -> f32 {
        max_sims(query, &[self])[0]
    }
}

/// [`TokenVectors::max_sim`] of each chunk, in order.
///
/// A question of 20 tokens against 80 candidates of ~50 vectors each is some 30 million
/// multiply-adds. With AVX2 and FMA (checked at run time, so the binary still runs on any
/// x86-64) they take a millisecond or two; the portable build takes several times longer.
pub fn max_sims(query: &[Vec<f32>], chunks: &[&TokenVectors]) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        return unsafe { max_sims_fma(query, chunks) };
    }
    max_sims_with::<false>(query, chunks)
}

/// [`max_sims_with`] compiled for AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn max_sims_fma(query: &[Vec<f32>], chunks: &[&TokenVectors]) -> Vec<f32> {
    max_sims_with::<true>(query, chunks)
}

// Plain loops, no closures: a closure is a function of its own, compiled without the target
// features of `max_sims_fma` unless it happens to be inlined.
#[inline(always)]
fn max_sims_with<const FMA: bool>(query: &[Vec<f32>], chunks: &[&TokenVectors]) -> Vec<f32> {
    let dims = query.first().map_or(0, Vec::len);
    let mut questions: Vec<&[f32]> = Vec::with_capacity(query.len());
    for q in query {
        if q.len() == dims {
            questions.push(q);
        }
    }
    let mut scores = Vec::with_capacity(chunks.len());
    let mut best = vec![0.0f32; questions.len()];
    let mut row = vec![0.0f32; dims];
    for chunk in chunks {
        if dims == 0 || chunk.is_empty() || chunk.dims != dims {
            scores.push(0.0);
            continue;
        }
        best.fill(f32::MIN);
        for (values, scale) in chunk.values.chunks_exact(dims).zip(&chunk.scales) {
            dequantise(values, *scale, &mut row);
            for (q, best) in questions.iter().zip(best.iter_mut()) {
                let similarity = dot::<FMA>(&row, q);
                if similarity > *best {
                    *best = similarity;
                }
            }
        }
        let mut total = 0.0;
        for b in &best {
            total += b;
        }
        scores.push(total / best.len() as f32);
    }
    scores
}

#[inline(always)]
fn dequantise(values: &[i8], scale: f32, out: &mut [f32]) {
    for (o, v) in out.iter_mut().zip(values) {
        *o = f32::from(*v) * scale;
    }
}

/// Dot product over 32 independent lanes: float addition is not reassociated by the compiler,
/// so a single running sum would be neither vectorised nor pipelined.
#[inline(always)]
fn dot<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    let (a32, a_rest) = a.as_chunks::<32>();
    let (b32, b_rest) = b.as_chunks::<32>();
    let mut lanes = [0.0f32; 32];
    for (x, y) in a32.iter().zip(b32) {
        for i in 0..32 {
            lanes[i] = if FMA {
                x[i].mul_add(y[i], lanes[i])
            } else {
                lanes[i] + x[i] * y[i]
            };
        }
    }
    let mut total = 0.0;
    for lane in lanes {
        total += lane;
    }
    for (x, y) in a_rest.iter().zip(b_rest) {
        total += x * y;
    }
    total
}

/// A word piece that carries meaning: some letter or digit, and not a stop word (continuations
/// like `##s` are judged without their marker).
fn is_content(piece: &str) -> bool {
    let word = piece.trim_start_matches("##");
    word.chars().any(char::is_alphanumeric)
        && !is_stop_word(word)
        && !QUESTION_WORDS.contains(&word)
}

/// Words every question has; BM25 keeps them (they can matter there), but as token vectors of a
/// chunk they only match the question's own phrasing.
const QUESTION_WORDS: &[&str] = &[
    "how", "what", "why", "where", "when", "which", "who", "can", "do", "does",
];

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > f32::EPSILON {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(vectors: &[Vec<f32>]) -> Vec<Vec<f32>> {
        vectors.iter().cloned().map(unit).collect()
    }

    fn token(piece: &str, vector: &[f32]) -> EmbeddedToken {
        EmbeddedToken {
            piece: piece.into(),
            vector: unit(vector.to_vec()),
        }
    }

    #[test]
    fn stored_form_round_trips_within_int8_precision() {
        let vectors = vec![
            unit(vec![0.3, -0.8, 0.1, 0.5]),
            unit(vec![1.0, 0.0, 0.0, 0.0]),
        ];
        let stored = TokenVectors::quantise(&vectors).unwrap();
        let back = TokenVectors::from_bytes(&stored.to_bytes()).unwrap();
        assert_eq!(back, stored);
        assert_eq!(back.len(), 2);
        let self_match = back.max_sim(&query(&[vectors[0].clone()]));
        assert!((self_match - 1.0).abs() < 0.01, "{self_match}");
    }

    #[test]
    fn other_layouts_and_truncated_blobs_are_not_read() {
        let stored = TokenVectors::quantise(&[unit(vec![1.0, 2.0])])
            .unwrap()
            .to_bytes();
        assert!(TokenVectors::from_bytes(&stored[..stored.len() - 1]).is_none());
        let mut other_version = stored.clone();
        other_version[0] = 9;
        assert!(TokenVectors::from_bytes(&other_version).is_none());
        assert!(TokenVectors::from_bytes(&[]).is_none());
    }

    #[test]
    fn each_query_token_takes_its_best_match() {
        let chunk = TokenVectors::quantise(&[vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0]]).unwrap();
        // One query token matches the first exactly, the other is orthogonal to both.
        let score = chunk.max_sim(&query(&[vec![1.0, 0.0, 0.0], vec![0.0, 0.0, 1.0]]));
        assert!((score - 0.5).abs() < 0.01, "{score}");
        assert_eq!(chunk.max_sim(&[]), 0.0);
        assert_eq!(
            chunk.max_sim(&query(&[vec![1.0, 0.0]])),
            0.0,
            "other lengths are ignored"
        );
    }

    #[test]
    fn chunks_keep_content_pieces_once_each() {
        let tokens = vec![
            token("how", &[1.0, 0.0, 0.0]),
            token("refund", &[0.0, 1.0, 0.0]),
            token("the", &[0.0, 0.0, 1.0]),
            token("refund", &[0.0, 1.0, 0.2]),
            token("?", &[1.0, 1.0, 0.0]),
            token("##s", &[0.5, 0.5, 0.5]),
            token("##ing", &[0.0, 0.3, 1.0]),
        ];
        let kept = TokenVectors::of_chunk(&tokens);
        assert_eq!(kept.len(), 2, "refund (twice, averaged) and ##ing");
        // The averaged "refund" still matches its own direction closely.
        assert!(kept.max_sim(&query(&[vec![0.0, 1.0, 0.0]])) > 0.99);
        // A chunk with nothing but stop words keeps what it has.
        let only_stop = TokenVectors::of_chunk(&[token("the", &[1.0, 0.0, 0.0])]);
        assert_eq!(only_stop.len(), 1);
        // No tokens at all is stored as an empty set, which scores 0.
        let none = TokenVectors::from_bytes(&TokenVectors::of_chunk(&[]).to_bytes()).unwrap();
        assert!(none.is_empty());
        assert_eq!(none.max_sim(&query(&[vec![1.0, 0.0, 0.0]])), 0.0);
    }
}
