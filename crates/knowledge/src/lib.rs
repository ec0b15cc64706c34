//! Turning a business's knowledge into retrievable chunks: extraction from the formats it comes
//! in, structure-aware chunking, and the lexical (BM25) side of hybrid search. Connectors
//! (snippets, web, articles, files, past conversations) and the ingestion pipeline build on these.

pub mod chunk;
mod error;
pub mod extract;
pub mod sparse;

pub use error::{Error, Result};
