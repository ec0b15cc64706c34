//! The intent evaluation set is held out: written apart from the example bank, it shares no
//! sentence with it, so `rapport eval intents` measures wording the bank never saw.

use std::collections::HashSet;

use rapport_agent::intents::{IntentBank, IntentKind};

const EVAL_SET: &str = include_str!("../../../eval/intents/messages.jsonl");

/// Sentences of a text, lower-cased, letters and digits only: punctuation or case changes do
/// not make a copied sentence new.
fn sentences(text: &str) -> Vec<String> {
    text.split(['.', '?', '!', '¿', '¡', '\n'])
        .map(|s| {
            s.chars()
                .filter(|c| c.is_alphanumeric() || c.is_whitespace())
                .collect::<String>()
                .to_lowercase()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        // "thanks" or "hola" alone are words, not sentences anyone wrote for the set.
        .filter(|s| s.split(' ').count() >= 3)
        .collect()
}

fn eval_messages() -> Vec<serde_json::Value> {
    EVAL_SET
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).expect("every line of eval/intents/messages.jsonl is JSON")
        })
        .collect()
}

#[test]
fn the_evaluation_set_shares_no_sentence_with_the_example_bank() {
    let bank: HashSet<String> = IntentBank::builtin()
        .exemplars
        .iter()
        .flat_map(|e| sentences(&e.text))
        .collect();
    let shared: Vec<String> = eval_messages()
        .iter()
        .flat_map(|m| sentences(m["text"].as_str().unwrap_or_default()))
        .filter(|s| bank.contains(s))
        .collect();
    assert!(shared.is_empty(), "sentences in both: {shared:?}");
}

#[test]
fn the_evaluation_set_is_large_labelled_and_in_every_language() {
    let messages = eval_messages();
    assert!(messages.len() >= 300, "{} messages", messages.len());
    for m in &messages {
        let intent = m["intent"].as_str().unwrap_or_default();
        assert!(
            IntentKind::from_id(intent).is_some(),
            "unknown intent in {m}"
        );
    }
    for lang in ["en", "es", "fr", "de", "pt", "it", "nl"] {
        for kind in IntentKind::ALL {
            assert!(
                messages
                    .iter()
                    .any(|m| m["lang"] == lang && m["intent"] == kind.id()),
                "no {lang} message for {}",
                kind.id()
            );
        }
    }
}
