use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error(
        "model file {path} is missing: run scripts/fetch-models (or set RAPPORT_MODEL_DIR to where it put them)"
    )]
    Missing { path: PathBuf },
    #[error("could not read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not load ONNX Runtime from {path}: {message}")]
    Runtime { path: PathBuf, message: String },
    #[error("embedding model failed: {0}")]
    Model(String),
}

impl From<Error> for rapport_core::Error {
    fn from(e: Error) -> Self {
        rapport_core::Error::Embedder(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
