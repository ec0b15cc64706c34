//! `rapport eval intents`: how well the agent reads what a message wants, on a labelled file
//! written apart from the example bank (or, with `--bank-only`, leave-one-out on the bank
//! itself, which is what tuning may look at). Precision and recall per intent, and for
//! "hand over" as one decision, since that is the one that must not be missed.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rapport_agent::intents::{
    ClassifierTuning, IntentBank, IntentClassifier, IntentKind, IntentReading,
};
use rapport_core::ports::Embedder;
use rapport_embed::LocalEmbedder;
use rapport_server::Config;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::eval_agent::read_jsonl;

#[derive(Deserialize)]
struct Labelled {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    lang: String,
    intent: String,
    text: String,
}

/// What `eval intents` is asked to do.
pub struct IntentEval<'a> {
    pub messages: Option<&'a Path>,
    pub bank_only: bool,
    /// Read with the keyword rules alone, as the agent did before the bank: the baseline.
    pub rules_only: bool,
    pub tuning: ClassifierTuning,
    pub misses: Option<&'a Path>,
}

pub async fn run(config: Config, eval: IntentEval<'_>) -> anyhow::Result<()> {
    let opts = config.embedder_options();
    let embedder: Arc<dyn Embedder> =
        Arc::new(tokio::task::spawn_blocking(move || LocalEmbedder::load(&opts)).await??);
    let classifier = IntentClassifier::new(IntentBank::builtin(), embedder)
        .with_cache_dir(config.model_dir().join("cache"))
        .with_tuning(eval.tuning);
    classifier.warm().await?;
    let mut rows: Vec<(String, IntentKind, IntentReading, String)> = Vec::new();
    if eval.bank_only {
        let bank = classifier.bank().clone();
        for (i, e) in bank.exemplars.iter().enumerate() {
            let reading = classifier.classify_left_out(i).await?;
            rows.push((e.lang.clone(), e.intent, reading, e.text.clone()));
        }
    } else {
        let path = eval
            .messages
            .context("give --messages FILE, or --bank-only")?;
        for m in read_jsonl::<Labelled>(path, "labelled message")? {
            let truth = IntentKind::from_id(&m.intent)
                .with_context(|| format!("message {}: no intent named {}", m.id, m.intent))?;
            let reading = if eval.rules_only {
                IntentReading::by_rule(by_rules_alone(&m.text))
            } else {
                classifier.understand(&m.text).await?.0
            };
            rows.push((m.lang, truth, reading, m.text));
        }
    }
    let report = figures(&rows, classifier.tuning());
    if let Some(path) = eval.misses {
        let mut out = String::new();
        for (lang, truth, reading, text) in rows.iter().filter(|r| r.1 != r.2.intent) {
            out.push_str(&serde_json::to_string(&json!({
                "lang": lang, "text": text, "truth": truth, "read": reading.intent,
                "score": reading.score, "by": reading.by,
                "nearest": reading.nearest.iter().take(3).collect::<Vec<_>>(),
            }))?);
            out.push('\n');
        }
        std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// The keyword rules' reading: a request for a person, anger, the legal topic, else the shape
/// of the message (greeting, thanks, question or statement).
fn by_rules_alone(text: &str) -> IntentKind {
    use rapport_agent::guards::{self, Intent, Trigger};
    match guards::check(text, &guards::default_topics()) {
        Some(Trigger::HumanRequested) => IntentKind::HumanRequest,
        Some(Trigger::Frustration) => IntentKind::Frustration,
        Some(_) => IntentKind::LegalPrivacy,
        None => match guards::intent(text) {
            Intent::Greeting => IntentKind::Greeting,
            Intent::Thanks => IntentKind::Thanks,
            Intent::Question => IntentKind::Question,
            Intent::Statement => IntentKind::Statement,
        },
    }
}

fn ratio(n: usize, of: usize) -> f64 {
    if of == 0 { 1.0 } else { n as f64 / of as f64 }
}

fn figures(
    rows: &[(String, IntentKind, IntentReading, String)],
    tuning: &ClassifierTuning,
) -> Value {
    let mut per_intent = BTreeMap::new();
    for kind in IntentKind::ALL {
        let truth = rows.iter().filter(|r| r.1 == kind).count();
        let read = rows.iter().filter(|r| r.2.intent == kind).count();
        let hit = rows
            .iter()
            .filter(|r| r.1 == kind && r.2.intent == kind)
            .count();
        per_intent.insert(
            kind.id(),
            json!({ "n": truth, "precision": ratio(hit, read), "recall": ratio(hit, truth) }),
        );
    }
    // Hand-over as one decision: a refund request read as a cancellation still reaches a person.
    let truth = rows.iter().filter(|r| r.1.hands_over()).count();
    let read = rows.iter().filter(|r| r.2.intent.hands_over()).count();
    let hit = rows
        .iter()
        .filter(|r| r.1.hands_over() && r.2.intent.hands_over())
        .count();
    let mut per_lang: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for r in rows {
        let e = per_lang.entry(r.0.as_str()).or_default();
        e.1 += 1;
        if r.1 == r.2.intent {
            e.0 += 1;
        }
    }
    let correct = rows.iter().filter(|r| r.1 == r.2.intent).count();
    json!({
        "n": rows.len(),
        "accuracy": ratio(correct, rows.len()),
        "handover": {
            "n": truth, "read": read, "precision": ratio(hit, read), "recall": ratio(hit, truth),
        },
        "intents": per_intent,
        "accuracy_by_language": per_lang
            .into_iter()
            .map(|(l, (c, n))| (l.to_owned(), json!(ratio(c, n))))
            .collect::<serde_json::Map<_, _>>(),
        "tuning": tuning,
    })
}
