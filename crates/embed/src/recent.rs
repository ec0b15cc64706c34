//! The last texts embedded, kept for a moment: the reply pipeline embeds a customer's message
//! to read its intent and again to search the knowledge for it, and the second time costs
//! nothing. Only texts embedded with their tokens are kept, so either kind of call is served.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rapport_core::Result;
use rapport_core::ports::{Embedder, TokenEmbedding};

/// Longest batch whose texts are looked up and remembered (a question and its sentences).
const REMEMBERED_BATCH: usize = 8;

/// An embedder that remembers its last `capacity` texts (with their token vectors).
pub struct RecentEmbeddings {
    inner: Arc<dyn Embedder>,
    recent: Mutex<VecDeque<(String, TokenEmbedding)>>,
    capacity: usize,
}

impl RecentEmbeddings {
    pub fn new(inner: Arc<dyn Embedder>, capacity: usize) -> Self {
        Self {
            inner,
            recent: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity: capacity.max(1),
        }
    }

    fn remembered(&self, text: &str) -> Option<TokenEmbedding> {
        let recent = self.recent.lock().ok()?;
        recent
            .iter()
            .find(|(t, _)| t == text.trim())
            .map(|(_, e)| e.clone())
    }

    fn remember(&self, text: &str, embedding: &TokenEmbedding) {
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() >= self.capacity {
                recent.pop_front();
            }
            recent.push_back((text.trim().to_owned(), embedding.clone()));
        }
    }
}

#[async_trait]
impl Embedder for RecentEmbeddings {
    fn dimensions(&self) -> usize {
        self.inner.dimensions()
    }

    fn model_name(&self) -> &str {
        self.inner.model_name()
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
        if let [text] = texts.as_slice()
            && let Some(e) = self.remembered(text)
        {
            return Ok(vec![e.vector]);
        }
        self.inner.embed(texts).await
    }

    async fn embed_with_tokens(&self, texts: Vec<String>) -> Result<Vec<TokenEmbedding>> {
        // Ingestion's batches go straight through: only a question and its sentences recur.
        if texts.len() > REMEMBERED_BATCH {
            return self.inner.embed_with_tokens(texts).await;
        }
        let mut out: Vec<Option<TokenEmbedding>> =
            texts.iter().map(|t| self.remembered(t)).collect();
        let missing: Vec<String> = texts
            .iter()
            .zip(&out)
            .filter(|(_, known)| known.is_none())
            .map(|(t, _)| t.clone())
            .collect();
        if !missing.is_empty() {
            let computed = self.inner.embed_with_tokens(missing.clone()).await?;
            let mut computed = missing.iter().zip(computed);
            for slot in out.iter_mut().filter(|slot| slot.is_none()) {
                let (text, e) = computed.next().ok_or_else(|| {
                    rapport_core::Error::Embedder("fewer embeddings than texts".into())
                })?;
                self.remember(text, &e);
                *slot = Some(e);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    fn knows_word(&self, word: &str) -> Option<bool> {
        self.inner.knows_word(word)
    }
}
