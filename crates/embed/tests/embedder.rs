//! The real model on the real runtime, from the files `scripts/fetch-models` placed.

use std::path::PathBuf;

use rapport_core::ports::Embedder;
use rapport_embed::{DIMENSIONS, EmbedderOptions, LocalEmbedder};

fn model_root() -> PathBuf {
    std::env::var_os("RAPPORT_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.rapport/models"))
}

fn embedder() -> LocalEmbedder {
    LocalEmbedder::load(&EmbedderOptions::in_model_root(&model_root()))
        .expect("models present (make test runs scripts/fetch-models first)")
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[tokio::test]
async fn paraphrases_score_far_above_unrelated_sentences() {
    let e = embedder();
    let v = e
        .embed(vec![
            "How do I reset my password?".into(),
            "I forgot my password, how can I change it?".into(),
            "What are your shipping costs to Canada?".into(),
            "The thermostat shows an offline icon".into(),
        ])
        .await
        .unwrap();
    assert_eq!(v.len(), 4);
    assert!(v.iter().all(|x| x.len() == DIMENSIONS));
    let paraphrase = cosine(&v[0], &v[1]);
    let unrelated = cosine(&v[0], &v[2]).max(cosine(&v[0], &v[3]));
    assert!(paraphrase > 0.7, "paraphrase similarity {paraphrase}");
    assert!(unrelated < 0.3, "unrelated similarity {unrelated}");
    assert!(paraphrase - unrelated > 0.4);
}

#[tokio::test]
async fn vectors_are_unit_length() {
    let v = embedder()
        .embed_one("Where is my order NH-104233?")
        .await
        .unwrap();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
}

#[tokio::test]
async fn batch_and_single_results_agree() {
    let e = embedder();
    let texts: Vec<String> = (0..20)
        .map(|i| format!("Question number {i}: can I return an opened smart plug?"))
        .collect();
    let batch = e.embed(texts.clone()).await.unwrap();
    for (i, text) in texts.iter().enumerate().step_by(7) {
        let single = e.embed_one(text).await.unwrap();
        let sim = cosine(&single, &batch[i]);
        assert!(
            sim > 0.9999,
            "text {i}: batch and single differ (cosine {sim})"
        );
    }
}

#[tokio::test]
async fn empty_input_gives_no_vectors() {
    assert!(embedder().embed(vec![]).await.unwrap().is_empty());
}

#[test]
fn a_missing_model_names_the_fetch_script() {
    let opts = EmbedderOptions::in_model_root(std::path::Path::new("/nonexistent/models"));
    let err = LocalEmbedder::load(&opts)
        .err()
        .expect("loading must fail")
        .to_string();
    assert!(err.contains("scripts/fetch-models"), "{err}");
}

#[tokio::test]
async fn token_vectors_come_with_the_same_pooled_vector() {
    let e = embedder();
    let texts = vec![
        "Can I get a refund?".to_owned(),
        "Where is my order NH-104233? It was due on Monday.".to_owned(),
    ];
    let pooled = e.embed(texts.clone()).await.unwrap();
    let with_tokens = e.embed_with_tokens(texts).await.unwrap();
    assert_eq!(with_tokens.len(), 2);
    for (plain, rich) in pooled.iter().zip(&with_tokens) {
        assert!(
            cosine(plain, &rich.vector) > 0.9999,
            "pooled the way embed() pools"
        );
    }
    let pieces: Vec<&str> = with_tokens[0]
        .tokens
        .iter()
        .map(|t| t.piece.as_str())
        .collect();
    assert_eq!(
        pieces,
        vec!["can", "i", "get", "a", "ref", "##und", "?"],
        "word pieces in order, without [CLS] and [SEP]"
    );
    for token in &with_tokens[1].tokens {
        let norm = token.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{} has norm {norm}", token.piece);
        assert_eq!(token.vector.len(), DIMENSIONS);
    }
}
