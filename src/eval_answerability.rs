//! `rapport eval fit-answerability`: fits the answerability model
//! ([`rapport_agent::answerability`]) on the features `eval answers --features` wrote for each dev
//! set, and measures it by grouped k-fold cross-validation: paraphrases of one information need
//! (or questions about one document) are never split between fitting and testing, so the figures
//! say how the model does on questions it has not seen.
//!
//! Each set weighs the same in the fit, and within a set each class (answerable or not) weighs
//! the same, so the small set and the rare class are not drowned.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rapport_agent::answerability::{self, AnswerabilityModel, Features, Sample};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::eval_agent::read_jsonl;

#[derive(Deserialize)]
struct Line {
    set: String,
    group: String,
    answerable: bool,
    /// Absent when the question never reached the knowledge (a hand-over intent, small talk).
    #[serde(default)]
    features: Option<Features>,
    decision: String,
    /// Handed over on what the message wants, before the knowledge had a say.
    #[serde(default)]
    triggered: bool,
}

struct Question {
    set: String,
    set_index: usize,
    fold: usize,
    answerable: bool,
    features: Option<Features>,
    triggered: bool,
    answered_before: bool,
}

/// Answered of answerable and escalated of unanswerable, per set.
#[derive(Default, Clone, Copy)]
struct Rates {
    answered: usize,
    answerable: usize,
    escalated: usize,
    unanswerable: usize,
}

impl Rates {
    fn add(&mut self, answerable: bool, answered: bool) {
        if answerable {
            self.answerable += 1;
            self.answered += usize::from(answered);
        } else {
            self.unanswerable += 1;
            self.escalated += usize::from(!answered);
        }
    }

    fn to_json(self) -> Value {
        let rate = |n: usize, of: usize| {
            if of == 0 {
                0.0
            } else {
                (n as f64 / of as f64 * 1000.0).round() / 1000.0
            }
        };
        json!({
            "answer_rate": rate(self.answered, self.answerable),
            "escalation_rate": rate(self.escalated, self.unanswerable),
            "answerable": self.answerable,
            "unanswerable": self.unanswerable,
        })
    }
}

pub fn fit(
    files: &[PathBuf],
    folds: usize,
    l2: f64,
    write: Option<&Path>,
    version: u32,
) -> anyhow::Result<()> {
    let folds = folds.max(2);
    let mut questions = Vec::new();
    for (set_index, file) in files.iter().enumerate() {
        let lines: Vec<Line> = read_jsonl(file, "features line")?;
        // Groups in a stable order, dealt to folds in turn.
        let groups: BTreeSet<&str> = lines.iter().map(|l| l.group.as_str()).collect();
        let fold_of: BTreeMap<&str, usize> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| (*g, i % folds))
            .collect();
        for l in &lines {
            questions.push(Question {
                set: l.set.clone(),
                set_index,
                fold: fold_of[l.group.as_str()],
                answerable: l.answerable,
                features: l.features,
                triggered: l.triggered,
                answered_before: l.decision == "answered",
            });
        }
    }
    anyhow::ensure!(!questions.is_empty(), "no questions in the feature files");
    let weights = class_weights(&questions);
    let samples_where = |keep: &dyn Fn(&Question) -> bool| -> Vec<Sample> {
        questions
            .iter()
            .filter(|q| keep(q))
            .filter_map(|q| {
                Some(Sample {
                    features: q.features?,
                    answerable: q.answerable,
                    weight: weights[&(q.set.clone(), q.answerable)],
                    set: q.set_index,
                })
            })
            .collect()
    };
    let mut cross_validated: BTreeMap<String, Rates> = BTreeMap::new();
    let mut before: BTreeMap<String, Rates> = BTreeMap::new();
    for fold in 0..folds {
        let model = answerability::fit(&samples_where(&|q| q.fold != fold), l2);
        for q in questions.iter().filter(|q| q.fold == fold) {
            cross_validated
                .entry(q.set.clone())
                .or_default()
                .add(q.answerable, answered_by(&model, q));
            before
                .entry(q.set.clone())
                .or_default()
                .add(q.answerable, q.answered_before);
        }
    }
    let mut model = answerability::fit(&samples_where(&|_| true), l2);
    model.version = version;
    let mut in_sample: BTreeMap<String, Rates> = BTreeMap::new();
    for q in &questions {
        in_sample
            .entry(q.set.clone())
            .or_default()
            .add(q.answerable, answered_by(&model, q));
    }
    let per_set = |rates: &BTreeMap<String, Rates>| -> Value {
        rates
            .iter()
            .map(|(set, r)| (set.clone(), r.to_json()))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let figures = json!({
        "folds": folds,
        "l2": l2,
        "questions": questions.len(),
        "cross_validated": per_set(&cross_validated),
        "in_sample": per_set(&in_sample),
        "before": per_set(&before),
    });
    model.fitted = json!({
        "by": "rapport eval fit-answerability",
        "on": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        "figures": figures,
    });
    if let Some(path) = write {
        let text = serde_json::to_string_pretty(&model)? + "\n";
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!(
        "{}",
        json!({
            "figures": model.fitted["figures"],
            "weights": model.features.iter().zip(&model.weights).map(|(f, w)| (f.clone(), json!(w))).collect::<serde_json::Map<_, _>>(),
            "bias": model.bias,
            "threshold": model.threshold,
        })
    );
    Ok(())
}

/// Whether the agent would answer the question under `model`: a question decided before the
/// knowledge had a say keeps what was decided for it.
fn answered_by(model: &AnswerabilityModel, q: &Question) -> bool {
    match &q.features {
        Some(f) if !q.triggered => model.probability(f) >= model.threshold,
        _ => q.answered_before,
    }
}

/// Each set weighs 1, split evenly between its answerable and unanswerable questions.
fn class_weights(questions: &[Question]) -> BTreeMap<(String, bool), f64> {
    let mut counts: BTreeMap<(String, bool), usize> = BTreeMap::new();
    for q in questions.iter().filter(|q| q.features.is_some()) {
        *counts.entry((q.set.clone(), q.answerable)).or_default() += 1;
    }
    let classes_per_set = |set: &str| counts.keys().filter(|(s, _)| s == set).count() as f64;
    counts
        .iter()
        .map(|((set, answerable), n)| {
            (
                (set.clone(), *answerable),
                1.0 / (*n as f64 * classes_per_set(set)),
            )
        })
        .collect()
}
