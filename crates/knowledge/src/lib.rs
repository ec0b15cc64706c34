//! Turning a business's knowledge into retrievable chunks: structure-aware chunking and the
//! lexical (BM25) side of hybrid search. Connectors (snippets, web, articles, files, past
//! conversations) and the ingestion pipeline build on these.

pub mod chunk;
pub mod sparse;
