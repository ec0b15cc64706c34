//! Answerability: does the knowledge found for a question really answer it?
//!
//! One cosine threshold cannot tell a long, informal question that the knowledge answers from a
//! question about a product the knowledge never mentions but that shares words with some
//! passage. So the decision is a small logistic model over what can be measured of the retrieval
//! — dense, title and token similarity, the margin to the next document, how much of the
//! question the best document covers, and how much of it the knowledge never uses at all —
//! fitted on the dev sets with cross-validation (`rapport eval fit-answerability`) and shipped as
//! a versioned file, `prompts/answerability.json`. The Settings "strictness" slider moves the
//! model's threshold.
//!
//! Words the knowledge never uses and that the language model does not know as common words are
//! usually names — an integration, a product, a certification — and are what the customer is
//! told is not covered.

use std::collections::HashSet;
use std::sync::LazyLock;

use rapport_knowledge::sparse::SparseEncoder;
use rapport_knowledge::{CURATED_MATCH, QuestionTerm, Retrieved};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The strictness at which the fitted threshold applies (the configured default of the Settings
/// slider, `support_threshold`).
pub const DEFAULT_STRICTNESS: f32 = 0.52;

/// How far one unit of strictness moves the threshold, in log-odds: the slider's range
/// (0.30–0.90) spans from answering almost anything retrieved (a threshold of 0.03) to
/// answering only the closest matches (0.99).
const STRICTNESS_SLOPE: f32 = 14.0;

/// What a curated answer that matches the question is trusted with, at least.
const CURATED_PROBABILITY: f32 = 0.95;

/// At most this many not-covered words are named to the customer.
const MAX_NAMED: usize = 2;

/// When more of the question than this is unknown to the knowledge, the question is more likely
/// in another language than about unknown things: nothing is named. ("¿Puedo conectar Chatwoot
/// con Pipedrive?" still names Pipedrive: one word in four is known.)
const MAX_ABSENT_SHARE_TO_NAME: f32 = 0.8;

/// What is measured of a question's retrieval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Features {
    /// Best dense similarity of a retrieved chunk.
    pub dense: f32,
    /// Best similarity of a retrieved document's title.
    pub title: f32,
    /// Best late-interaction match of the question's tokens in a chunk.
    pub token: f32,
    /// How far the best document leads the next one (chunk or title similarity).
    pub margin: f32,
    /// Share of the three measures (dense, title, token match) whose best document is the
    /// top-ranked one: independent signals agreeing on one article mean a real match.
    pub agreement: f32,
    /// Share of the question's content words found in the best document.
    pub coverage: f32,
    /// Share of the question's content words the knowledge never uses.
    pub absent: f32,
    /// How many of those the language model does not know as common words (at most 3).
    pub absent_rare: f32,
}

/// The features' names, in [`Features::values`]' order.
pub const FEATURE_NAMES: [&str; 8] = [
    "dense",
    "title",
    "token",
    "margin",
    "agreement",
    "coverage",
    "absent",
    "absent_rare",
];

impl Features {
    pub fn values(&self) -> [f32; 8] {
        [
            self.dense,
            self.title,
            self.token,
            self.margin,
            self.agreement,
            self.coverage,
            self.absent,
            self.absent_rare,
        ]
    }

    /// The features of a retrieval: `terms` are the question's words as the knowledge knows
    /// them, `retrieved` the chunks found, best first.
    pub fn of(terms: &[QuestionTerm], retrieved: &[Retrieved], encoder: &SparseEncoder) -> Self {
        let best = |r: &Retrieved| r.similarity.max(r.title_similarity);
        let top_document = retrieved.first().map(|r| r.chunk.document_id);
        let mut documents: Vec<(i64, f32)> = Vec::new();
        for r in retrieved {
            match documents
                .iter_mut()
                .find(|(d, _)| *d == r.chunk.document_id)
            {
                Some((_, s)) => *s = s.max(best(r)),
                None => documents.push((r.chunk.document_id, best(r))),
            }
        }
        documents.sort_by(|a, b| b.1.total_cmp(&a.1));
        let margin = match documents.as_slice() {
            [] => 0.0,
            [(_, only)] => *only,
            [(_, first), (_, second), ..] => first - second,
        };
        let best_by = |measure: fn(&Retrieved) -> f32| {
            retrieved
                .iter()
                .max_by(|a, b| measure(a).total_cmp(&measure(b)))
                .map(|r| r.chunk.document_id)
        };
        let agreeing = [
            best_by(|r| r.similarity),
            best_by(|r| r.title_similarity),
            best_by(|r| r.token_match),
        ]
        .iter()
        .filter(|d| top_document.is_some() && **d == top_document)
        .count();
        let document_words: HashSet<String> = retrieved
            .iter()
            .filter(|r| Some(r.chunk.document_id) == top_document)
            .flat_map(|r| {
                [
                    r.chunk.title.as_str(),
                    r.chunk.heading_path.as_str(),
                    r.chunk.text.as_str(),
                ]
            })
            .flat_map(|t| encoder.tokens(t))
            .collect();
        let n = terms.len().max(1) as f32;
        let covered = terms
            .iter()
            .filter(|t| document_words.contains(&t.term))
            .count();
        let absent: Vec<&QuestionTerm> = terms.iter().filter(|t| !t.in_knowledge).collect();
        let rare = absent.iter().filter(|t| t.common != Some(true)).count();
        Features {
            dense: retrieved.iter().map(|r| r.similarity).fold(0.0, f32::max),
            title: retrieved
                .iter()
                .map(|r| r.title_similarity)
                .fold(0.0, f32::max),
            token: retrieved.iter().map(|r| r.token_match).fold(0.0, f32::max),
            margin,
            agreement: agreeing as f32 / 3.0,
            coverage: covered as f32 / n,
            absent: absent.len() as f32 / n,
            absent_rare: rare.min(3) as f32,
        }
    }
}

/// A fitted answerability model: standardised features, weights and the threshold on the
/// probability that balances answering answerable questions against escalating the rest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnswerabilityModel {
    pub version: u32,
    /// The feature names the weights belong to, in order.
    pub features: Vec<String>,
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    pub weights: Vec<f32>,
    pub bias: f32,
    /// Probability at or above which a question is answered, at the default strictness.
    pub threshold: f32,
    /// How the model was fitted and what cross-validation measured (for people; not read).
    #[serde(default)]
    pub fitted: Value,
}

static BUILTIN: LazyLock<AnswerabilityModel> = LazyLock::new(|| {
    // Checked by a test; a broken file is a build defect, not a runtime condition.
    serde_json::from_str(include_str!("../../../prompts/answerability.json"))
        .expect("prompts/answerability.json is a valid answerability model")
});

impl AnswerabilityModel {
    /// The model shipped in `prompts/answerability.json`.
    pub fn builtin() -> &'static AnswerabilityModel {
        &BUILTIN
    }

    /// Problems that make the model unusable (lengths that do not match the features).
    pub fn problems(&self) -> Vec<String> {
        let n = FEATURE_NAMES.len();
        let mut problems = Vec::new();
        if self.features != FEATURE_NAMES {
            problems.push(format!(
                "features {:?}, expected {FEATURE_NAMES:?}",
                self.features
            ));
        }
        for (name, len) in [
            ("mean", self.mean.len()),
            ("scale", self.scale.len()),
            ("weights", self.weights.len()),
        ] {
            if len != n {
                problems.push(format!("{name} has {len} values, expected {n}"));
            }
        }
        if !(0.0..1.0).contains(&self.threshold) {
            problems.push("the threshold must be a probability".into());
        }
        problems
    }

    /// The model's log-odds that the knowledge answers the question.
    pub fn logit(&self, features: &Features) -> f32 {
        let x = features.values();
        self.bias
            + x.iter()
                .zip(&self.mean)
                .zip(&self.scale)
                .zip(&self.weights)
                .map(|(((x, m), s), w)| w * (x - m) / s.max(1e-6))
                .sum::<f32>()
    }

    pub fn probability(&self, features: &Features) -> f32 {
        sigmoid(self.logit(features))
    }

    /// The probability threshold at a strictness of the Settings slider (0–1).
    pub fn threshold_at(&self, strictness: f32) -> f32 {
        let t = self.threshold.clamp(1e-4, 1.0 - 1e-4);
        sigmoid((t / (1.0 - t)).ln() + STRICTNESS_SLOPE * (strictness - DEFAULT_STRICTNESS))
    }

    /// Judges a retrieval at a strictness.
    pub fn judge(
        &self,
        question: &str,
        terms: &[QuestionTerm],
        retrieved: &[Retrieved],
        encoder: &SparseEncoder,
        strictness: f32,
    ) -> Judgement {
        let features = Features::of(terms, retrieved, encoder);
        let probability = self.probability(&features);
        let threshold = self.threshold_at(strictness);
        // An answer an admin wrote for this very question is trusted at any but the strictest
        // settings.
        let curated = retrieved.first().is_some_and(|r| {
            matches!(r.chunk.source_kind.as_str(), "snippets" | "conversations")
                && r.similarity >= CURATED_MATCH
        });
        let probability = if curated {
            probability.max(CURATED_PROBABILITY)
        } else {
            probability
        };
        let absent: Vec<String> = terms
            .iter()
            .filter(|t| !t.in_knowledge)
            .map(|t| t.word.clone())
            .collect();
        let not_covered = if features.absent <= MAX_ABSENT_SHARE_TO_NAME {
            terms
                .iter()
                .filter(|t| !t.in_knowledge && t.common != Some(true))
                .filter(|t| written_as_name(question, &t.word))
                .take(MAX_NAMED)
                .map(|t| t.word.clone())
                .collect()
        } else {
            Vec::new()
        };
        Judgement {
            answerable: probability >= threshold,
            probability,
            threshold,
            features,
            absent,
            not_covered,
        }
    }
}

/// Whether the knowledge answers a question, and what that was judged on.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Judgement {
    pub answerable: bool,
    pub probability: f32,
    pub threshold: f32,
    pub features: Features,
    /// The question's words that the knowledge never uses.
    pub absent: Vec<String>,
    /// Those of them that name something (not common words): what the customer is told is not
    /// covered.
    pub not_covered: Vec<String>,
}

/// Whether `word` (lower case) is written in `question` the way names are: with a capital
/// letter other than a sentence's first ("HubSpot", "Okta", "GDPR"). A word the knowledge
/// lacks that is written in lower case is as likely a typo or a compound ("coworker") as a
/// name, and naming it to the customer would sound absurd.
fn written_as_name(question: &str, word: &str) -> bool {
    let mut sentence_start = true;
    for w in question.split_whitespace() {
        let bare = w.trim_matches(|c: char| !c.is_alphanumeric());
        let named = !sentence_start && bare.chars().any(char::is_uppercase);
        if bare.to_lowercase() == word && (named || bare.chars().skip(1).any(char::is_uppercase)) {
            return true;
        }
        sentence_start = w.ends_with(['.', '!', '?', ':']);
    }
    false
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// One labelled question for fitting: its features, whether the knowledge answers it, its
/// weight (so that each set and each class count as much as the others) and which dev set it
/// comes from.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub features: Features,
    pub answerable: bool,
    pub weight: f64,
    pub set: usize,
}

/// Fits a logistic model by Newton's method with an L2 penalty `l2` on the standardised weights
/// (not the bias), then picks the threshold that maximises the worst of the answer rates on
/// answerable samples and escalation rates on the rest, set by set.
#[allow(clippy::needless_range_loop)] // Newton's step over the gradient and Hessian by index.
pub fn fit(samples: &[Sample], l2: f64) -> AnswerabilityModel {
    const N: usize = FEATURE_NAMES.len();
    let total: f64 = samples.iter().map(|s| s.weight).sum::<f64>().max(1e-9);
    let mut mean = [0.0f64; N];
    for s in samples {
        for (m, x) in mean.iter_mut().zip(s.features.values()) {
            *m += s.weight * f64::from(x) / total;
        }
    }
    let mut scale = [0.0f64; N];
    for s in samples {
        for ((v, x), m) in scale.iter_mut().zip(s.features.values()).zip(&mean) {
            *v += s.weight * (f64::from(x) - m).powi(2) / total;
        }
    }
    let scale: Vec<f64> = scale.iter().map(|v| v.sqrt().max(1e-6)).collect();
    // Standardised rows with a leading 1 for the bias.
    let rows: Vec<[f64; N + 1]> = samples
        .iter()
        .map(|s| {
            let mut row = [1.0; N + 1];
            for (i, x) in s.features.values().iter().enumerate() {
                row[i + 1] = (f64::from(*x) - mean[i]) / scale[i];
            }
            row
        })
        .collect();
    let mut beta = [0.0f64; N + 1];
    for _ in 0..50 {
        let mut gradient = [0.0f64; N + 1];
        let mut hessian = [[0.0f64; N + 1]; N + 1];
        for (row, s) in rows.iter().zip(samples) {
            let z: f64 = row.iter().zip(&beta).map(|(x, b)| x * b).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let y = if s.answerable { 1.0 } else { 0.0 };
            for i in 0..=N {
                gradient[i] += s.weight * (p - y) * row[i];
                for j in 0..=N {
                    hessian[i][j] += s.weight * p * (1.0 - p) * row[i] * row[j];
                }
            }
        }
        for i in 1..=N {
            gradient[i] += l2 * total * beta[i];
            hessian[i][i] += l2 * total;
        }
        let Some(step) = solve(hessian, gradient) else {
            break;
        };
        let mut moved = 0.0f64;
        for i in 0..=N {
            beta[i] -= step[i];
            moved = moved.max(step[i].abs());
        }
        if moved < 1e-8 {
            break;
        }
    }
    let mut model = AnswerabilityModel {
        version: 0,
        features: FEATURE_NAMES.iter().map(|s| (*s).to_owned()).collect(),
        mean: mean.iter().map(|m| *m as f32).collect(),
        scale: scale.iter().map(|s| *s as f32).collect(),
        weights: beta[1..].iter().map(|w| *w as f32).collect(),
        bias: beta[0] as f32,
        threshold: 0.5,
        fitted: Value::Null,
    };
    model.threshold = balanced_threshold(&model, samples);
    model
}

/// The threshold that maximises the worst rate of any set — its answer rate on answerable
/// samples or its escalation rate on the rest; ties go to the middle of the best run of
/// candidates.
pub fn balanced_threshold(model: &AnswerabilityModel, samples: &[Sample]) -> f32 {
    let scored: Vec<(f32, &Sample)> = samples
        .iter()
        .map(|s| (model.probability(&s.features), s))
        .collect();
    let sets = samples.iter().map(|s| s.set + 1).max().unwrap_or(0);
    let candidates: Vec<f32> = (1..200).map(|i| i as f32 / 200.0).collect();
    let worst_rate = |t: f32| {
        // Per set and class: how many are decided right, of how many.
        let mut right = vec![[0.0f64; 2]; sets];
        let mut all = vec![[0.0f64; 2]; sets];
        for (p, s) in &scored {
            let class = usize::from(!s.answerable);
            all[s.set][class] += s.weight;
            if (*p >= t) == s.answerable {
                right[s.set][class] += s.weight;
            }
        }
        right
            .iter()
            .zip(&all)
            .flat_map(|(r, a)| (0..2).filter(|c| a[*c] > 0.0).map(|c| r[c] / a[c]))
            .fold(1.0, f64::min)
    };
    let rates: Vec<f64> = candidates.iter().map(|t| worst_rate(*t)).collect();
    let best = rates.iter().copied().fold(0.0, f64::max);
    let run: Vec<f32> = candidates
        .iter()
        .zip(&rates)
        .filter(|(_, r)| (best - **r).abs() < 1e-12)
        .map(|(t, _)| *t)
        .collect();
    run.get(run.len() / 2).copied().unwrap_or(0.5)
}

/// Solves `a · x = b` by Gaussian elimination with partial pivoting; `None` when singular.
// Row and column indices read as the textbook algorithm does.
#[allow(clippy::needless_range_loop)]
fn solve<const M: usize>(mut a: [[f64; M]; M], mut b: [f64; M]) -> Option<[f64; M]> {
    for col in 0..M {
        let pivot = (col..M).max_by(|i, j| a[*i][col].abs().total_cmp(&a[*j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..M {
            let f = a[row][col] / a[col][col];
            for k in col..M {
                a[row][k] -= f * a[col][k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0f64; M];
    for row in (0..M).rev() {
        let rest: f64 = (row + 1..M).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - rest) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dense: f32, absent: f32, answerable: bool) -> Sample {
        Sample {
            features: Features {
                dense,
                absent,
                ..Features::default()
            },
            answerable,
            weight: 1.0,
            set: 0,
        }
    }

    #[test]
    fn the_shipped_model_is_complete() {
        let model = AnswerabilityModel::builtin();
        assert!(model.problems().is_empty(), "{:?}", model.problems());
        assert!(model.version >= 1);
    }

    #[test]
    fn a_close_match_that_stands_out_is_answerable_and_a_vague_one_is_not() {
        let model = AnswerabilityModel::builtin();
        let close = Features {
            dense: 0.7,
            title: 0.7,
            token: 0.65,
            margin: 0.3,
            agreement: 1.0,
            coverage: 0.8,
            absent: 0.0,
            absent_rare: 0.0,
        };
        let vague = Features {
            dense: 0.3,
            title: 0.25,
            token: 0.35,
            margin: 0.01,
            agreement: 0.33,
            coverage: 0.2,
            absent: 0.3,
            absent_rare: 2.0,
        };
        assert!(model.probability(&close) >= model.threshold);
        assert!(model.probability(&vague) < model.threshold);
    }

    #[test]
    fn only_words_written_like_names_are_named() {
        assert!(written_as_name("Do you integrate with HubSpot?", "hubspot"));
        assert!(written_as_name("can we use Okta for logins", "okta"));
        assert!(written_as_name("GDPR? we need it", "gdpr"));
        assert!(!written_as_name("Coworker access please", "coworker"));
        assert!(!written_as_name("how do i add my coworker", "coworker"));
    }

    #[test]
    fn stricter_settings_raise_the_threshold() {
        let model = AnswerabilityModel::builtin();
        let default = model.threshold_at(DEFAULT_STRICTNESS);
        assert!((default - model.threshold).abs() < 1e-4);
        assert!(model.threshold_at(0.8) > default);
        assert!(model.threshold_at(0.3) < default);
    }

    #[test]
    fn fitting_separates_what_the_features_separate() {
        let mut samples = Vec::new();
        for i in 0..40 {
            let jitter = (i % 7) as f32 * 0.01;
            samples.push(sample(0.6 + jitter, 0.0, true));
            samples.push(sample(0.3 + jitter, 0.4, false));
        }
        let model = fit(&samples, 0.01);
        assert!(model.problems().is_empty(), "{:?}", model.problems());
        for s in &samples {
            let p = model.probability(&s.features);
            assert_eq!(p >= model.threshold, s.answerable, "p {p}");
        }
    }
}
