//! The local text embedder: all-MiniLM-L6-v2 (int8 ONNX) run by ONNX Runtime through fastembed,
//! from files that `scripts/fetch-models` placed on disk. Nothing is downloaded at run time.
//!
//! ONNX Runtime is loaded dynamically from the configured library path (or `ORT_DYLIB_PATH`) so
//! the binary has no build-time link to it. Inference is CPU-bound and runs on the blocking
//! thread pool, never on the async runtime; batches keep the per-call overhead low.

mod error;
mod recent;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use fastembed::{
    InitOptionsUserDefined, Pooling, QuantizationMode, TextEmbedding, TokenizerFiles,
    UserDefinedEmbeddingModel,
};

pub use error::{Error, Result};
use rapport_core::ports::{EmbeddedToken, TokenEmbedding};
pub use recent::RecentEmbeddings;

/// Where the model files are and how to run them.
#[derive(Debug, Clone)]
pub struct EmbedderOptions {
    /// Folder with `model.onnx`, `tokenizer.json`, `config.json`, `special_tokens_map.json`,
    /// `tokenizer_config.json`.
    pub model_dir: PathBuf,
    /// The ONNX Runtime shared library (`libonnxruntime.so.*`).
    pub onnxruntime_path: PathBuf,
    /// Texts per inference call. Measured on 2 cores: 8–16 is fastest for ~200-token chunks.
    pub batch_size: usize,
    /// ONNX Runtime intra-op threads.
    pub threads: usize,
    /// Tokens kept per text; MiniLM was trained on 256.
    pub max_length: usize,
}

impl EmbedderOptions {
    /// The layout `scripts/fetch-models` writes under a model directory.
    pub fn in_model_root(root: &Path) -> Self {
        Self {
            model_dir: root.join(MODEL_FOLDER),
            onnxruntime_path: root.join("onnxruntime").join(ONNXRUNTIME_FILE),
            batch_size: 16,
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .min(4),
            max_length: 256,
        }
    }
}

pub const MODEL_FOLDER: &str = "all-minilm-l6-v2-int8";
pub const ONNXRUNTIME_FILE: &str = "libonnxruntime.so.1.31.1";
pub const MODEL_NAME: &str = "sentence-transformers/all-MiniLM-L6-v2 (int8)";
pub const DIMENSIONS: usize = 384;

/// fastembed's model handle needs `&mut` to run; one model instance is shared behind a lock, as
/// ONNX Runtime already spreads one batch over all intra-op threads.
pub struct LocalEmbedder {
    model: Arc<Mutex<TextEmbedding>>,
    batch_size: usize,
    /// The tokenizer's whole-word pieces (no `##` continuations, no `[SPECIAL]` tokens).
    words: HashSet<String>,
}

impl LocalEmbedder {
    /// Loads ONNX Runtime and the model. Blocking (a second or so): call it at start-up, or from
    /// `spawn_blocking`.
    pub fn load(opts: &EmbedderOptions) -> Result<Self> {
        let runtime = std::env::var_os("ORT_DYLIB_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| opts.onnxruntime_path.clone());
        require_file(&runtime)?;
        // A bad path makes ort panic on first use, so it is checked above and loaded explicitly.
        ort::init_from(&runtime).map_err(|e| Error::Runtime {
            path: runtime.clone(),
            message: e.to_string(),
        })?;

        let read = |name: &str| -> Result<Vec<u8>> {
            let path = opts.model_dir.join(name);
            require_file(&path)?;
            std::fs::read(&path).map_err(|source| Error::Read { path, source })
        };
        let tokenizer = read("tokenizer.json")?;
        let words = whole_words(&tokenizer);
        let model = UserDefinedEmbeddingModel::new(
            read("model.onnx")?,
            TokenizerFiles {
                tokenizer_file: tokenizer,
                config_file: read("config.json")?,
                special_tokens_map_file: read("special_tokens_map.json")?,
                tokenizer_config_file: read("tokenizer_config.json")?,
            },
        )
        // The model outputs `last_hidden_state`; sentence-transformers pools it by the mean.
        .with_pooling(Pooling::Mean)
        .with_quantization(QuantizationMode::None);
        let options = InitOptionsUserDefined::new()
            .with_max_length(opts.max_length)
            .with_intra_threads(opts.threads.max(1));
        let model = TextEmbedding::try_new_from_user_defined(model, options)
            .map_err(|e| Error::Model(e.to_string()))?;
        Ok(Self {
            model: Arc::new(Mutex::new(model)),
            batch_size: opts.batch_size.max(1),
            words,
        })
    }

    /// Runs `work` on the model on the blocking thread pool: inference is CPU-bound and must
    /// not hold up the async runtime.
    async fn off_runtime<T: Send + 'static>(
        &self,
        texts: Vec<String>,
        work: fn(&Mutex<TextEmbedding>, &[String], usize) -> Result<T>,
    ) -> rapport_core::Result<T> {
        let model = self.model.clone();
        let batch_size = self.batch_size;
        tokio::task::spawn_blocking(move || work(&model, &texts, batch_size))
            .await
            .map_err(|e| rapport_core::Error::Embedder(format!("embedding task failed: {e}")))?
            .map_err(Into::into)
    }

    /// Embeds on the calling thread. Prefer the async [`rapport_core::ports::Embedder`] API.
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        embed_with(&self.model, texts, self.batch_size)
    }
}

fn embed_with(
    model: &Mutex<TextEmbedding>,
    texts: &[String],
    batch_size: usize,
) -> Result<Vec<Vec<f32>>> {
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let mut model = model
        .lock()
        .map_err(|_| Error::Model("a previous embedding call panicked".into()))?;
    let mut vectors = model
        .embed(texts, Some(batch_size))
        .map_err(|e| Error::Model(e.to_string()))?;
    for v in &mut vectors {
        l2_normalise(v);
    }
    Ok(vectors)
}

/// The pooled vector and the token vectors of each text, from one model pass per batch.
///
/// fastembed pools inside `embed`; here its raw output (`last_hidden_state`) is read instead and
/// pooled the same way (the mean over the attended positions), so the pooled vectors match
/// [`embed_with`]'s and the token vectors come for free.
fn embed_tokens_with(
    model: &Mutex<TextEmbedding>,
    texts: &[String],
    batch_size: usize,
) -> Result<Vec<TokenEmbedding>> {
    let mut model = model
        .lock()
        .map_err(|_| Error::Model("a previous embedding call panicked".into()))?;
    let mut out = Vec::with_capacity(texts.len());
    for batch in texts.chunks(batch_size) {
        let inputs: Vec<&str> = batch.iter().map(String::as_str).collect();
        // The same tokenizer (padding and truncation included) that `transform` runs, so its
        // positions line up with the model's output.
        let encodings = model
            .tokenizer
            .encode_batch(inputs.clone(), true)
            .map_err(|e| Error::Model(format!("tokenizing: {e}")))?;
        let output = model
            .transform(&inputs, Some(inputs.len()))
            .map_err(|e| Error::Model(e.to_string()))?;
        for single in output.into_raw() {
            let hidden = single
                .outputs
                .iter()
                .find(|(name, _)| name == "last_hidden_state" || name == "token_embeddings")
                .or_else(|| single.outputs.first())
                .map(|(_, value)| value)
                .ok_or_else(|| Error::Model("the model returned no output".into()))?;
            let (shape, data) = hidden
                .try_extract_tensor::<f32>()
                .map_err(|e| Error::Model(format!("reading the model output: {e}")))?;
            let [rows, positions, dims] = shape[..] else {
                return Err(Error::Model(format!("unexpected output shape {shape:?}")));
            };
            let (rows, positions, dims) = (rows as usize, positions as usize, dims as usize);
            if rows != encodings.len() {
                return Err(Error::Model(format!(
                    "{rows} outputs for {} texts",
                    encodings.len()
                )));
            }
            for (row, encoding) in encodings.iter().enumerate() {
                if encoding.len() != positions {
                    return Err(Error::Model(format!(
                        "{} tokens but {positions} output positions",
                        encoding.len()
                    )));
                }
                let at = |position: usize| {
                    let start = (row * positions + position) * dims;
                    &data[start..start + dims]
                };
                let mut pooled = vec![0.0f32; dims];
                let mut attended = 0usize;
                let mut tokens = Vec::new();
                let pieces = encoding.get_tokens();
                let special = encoding.get_special_tokens_mask();
                for (position, mask) in encoding.get_attention_mask().iter().enumerate() {
                    if *mask == 0 {
                        continue;
                    }
                    let vector = at(position);
                    pooled.iter_mut().zip(vector).for_each(|(p, v)| *p += v);
                    attended += 1;
                    if special.get(position) == Some(&0) {
                        let mut vector = vector.to_vec();
                        l2_normalise(&mut vector);
                        tokens.push(EmbeddedToken {
                            piece: pieces.get(position).cloned().unwrap_or_default(),
                            vector,
                        });
                    }
                }
                pooled.iter_mut().for_each(|p| *p /= attended.max(1) as f32);
                l2_normalise(&mut pooled);
                out.push(TokenEmbedding {
                    vector: pooled,
                    tokens,
                });
            }
        }
    }
    Ok(out)
}

/// The whole words of a WordPiece `tokenizer.json`'s vocabulary; empty when it has none (another
/// kind of tokenizer), so that no word is taken for a rare one by mistake.
fn whole_words(tokenizer_json: &[u8]) -> HashSet<String> {
    let Ok(parsed) = serde_json::from_slice::<serde_json::Value>(tokenizer_json) else {
        return HashSet::new();
    };
    parsed["model"]["vocab"]
        .as_object()
        .map(|vocab| {
            vocab
                .keys()
                .filter(|w| w.chars().all(char::is_alphanumeric))
                .map(|w| w.to_lowercase())
                .collect()
        })
        .unwrap_or_default()
}

fn require_file(path: &Path) -> Result<()> {
    if path.is_file() {
        Ok(())
    } else {
        Err(Error::Missing {
            path: path.to_path_buf(),
        })
    }
}

/// Scales to unit length so that a dot product is the cosine similarity.
fn l2_normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > f32::EPSILON {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

#[async_trait]
impl rapport_core::ports::Embedder for LocalEmbedder {
    fn dimensions(&self) -> usize {
        DIMENSIONS
    }

    fn model_name(&self) -> &str {
        MODEL_NAME
    }

    async fn embed(&self, texts: Vec<String>) -> rapport_core::Result<Vec<Vec<f32>>> {
        self.off_runtime(texts, embed_with).await
    }

    fn knows_word(&self, word: &str) -> Option<bool> {
        (!self.words.is_empty()).then(|| self.words.contains(word))
    }

    async fn embed_with_tokens(
        &self,
        texts: Vec<String>,
    ) -> rapport_core::Result<Vec<TokenEmbedding>> {
        self.off_runtime(texts, embed_tokens_with).await
    }
}

#[cfg(test)]
mod tests {
    use super::l2_normalise;

    #[test]
    fn normalised_vectors_have_unit_length() {
        let mut v = vec![3.0, 4.0];
        l2_normalise(&mut v);
        assert_eq!(v, vec![0.6, 0.8]);
        let mut zero = vec![0.0, 0.0];
        l2_normalise(&mut zero);
        assert_eq!(zero, vec![0.0, 0.0]);
    }
}
