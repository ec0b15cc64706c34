//! The one shape every connector produces, whatever the knowledge came from, so chunking,
//! hashing and indexing are written once.

use rapport_store::knowledge::{DocumentUpsert, NewChunk};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::chunk::{ChunkSizes, chunk_markdown, estimate_tokens};

/// A document as a connector read it, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceDocument {
    /// Stable key inside the source (URL, file path, snippet id): re-sync matches on it.
    pub external_ref: String,
    pub title: String,
    pub url: Option<String>,
    pub body: Body,
    /// Kept with the document (validators of a web page, the question and answer of a snippet).
    /// Not part of the content hash.
    pub metadata: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Markdown or plain text, chunked along its headings.
    Text(String),
    /// A paged file (PDF): page `n` of the list is page `n + 1` of the file.
    Pages(Vec<String>),
    /// A question and its answer: always exactly one chunk.
    Qa { question: String, answer: String },
}

/// A chunk ready to be stored and indexed.
#[derive(Debug, Clone)]
pub struct PreparedChunk {
    pub row: NewChunk,
    /// What is embedded and encoded for BM25: the chunk with its document's title and headings.
    pub indexed_text: String,
}

impl SourceDocument {
    /// Hash of everything that changes what is indexed (title, URL, body), so metadata-only
    /// changes (a new ETag) cost no embedding.
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.title.as_bytes());
        h.update([0]);
        h.update(self.url.as_deref().unwrap_or("").as_bytes());
        h.update([0]);
        match &self.body {
            Body::Text(text) => {
                h.update(b"text\0");
                h.update(text.as_bytes());
            }
            Body::Pages(pages) => {
                h.update(b"pages\0");
                for page in pages {
                    h.update(page.as_bytes());
                    h.update([0]);
                }
            }
            Body::Qa { question, answer } => {
                h.update(b"qa\0");
                h.update(question.as_bytes());
                h.update([0]);
                h.update(answer.as_bytes());
            }
        }
        hex(&h.finalize())
    }

    pub fn upsert(&self) -> DocumentUpsert {
        DocumentUpsert {
            external_ref: self.external_ref.clone(),
            title: self.title.clone(),
            url: self.url.clone(),
            content_hash: self.content_hash(),
            metadata: self.metadata.clone(),
        }
    }

    /// The title and all of the body as one text (what the document is about, as a whole).
    pub fn full_text(&self) -> String {
        let body = match &self.body {
            Body::Text(text) => text.clone(),
            Body::Pages(pages) => pages.join("\n\n"),
            Body::Qa { question, answer } => format!("{question}\n{answer}"),
        };
        format!("{}\n{body}", self.title)
    }

    /// Cuts the document into chunks along its structure.
    pub fn chunks(&self, sizes: ChunkSizes) -> Vec<PreparedChunk> {
        match &self.body {
            Body::Qa { question, answer } => {
                let text = format!("Q: {}\nA: {}", question.trim(), answer.trim());
                vec![prepared(0, Vec::new(), text.clone(), text, None)]
            }
            Body::Text(text) => chunk_markdown(text, sizes)
                .into_iter()
                .map(|c| {
                    let indexed = c.contextual_text(&self.title);
                    prepared(c.ordinal, c.heading_path, c.text, indexed, None)
                })
                .collect(),
            Body::Pages(pages) => {
                let mut out = Vec::new();
                for (n, page) in pages.iter().enumerate() {
                    for c in chunk_markdown(page, sizes) {
                        let indexed = c.contextual_text(&self.title);
                        let page_number = i32::try_from(n + 1).ok();
                        out.push(prepared(
                            out.len(),
                            c.heading_path,
                            c.text,
                            indexed,
                            page_number,
                        ));
                    }
                }
                out
            }
        }
    }
}

fn prepared(
    ordinal: usize,
    heading_path: Vec<String>,
    text: String,
    indexed_text: String,
    page: Option<i32>,
) -> PreparedChunk {
    PreparedChunk {
        row: NewChunk {
            ordinal: i32::try_from(ordinal).unwrap_or(i32::MAX),
            heading_path: heading_path.join(" > "),
            hash: hex(&Sha256::digest(indexed_text.as_bytes())),
            token_count: i32::try_from(estimate_tokens(&text)).unwrap_or(i32::MAX),
            text,
            page,
            token_vectors: None,
        },
        indexed_text,
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(body: Body) -> SourceDocument {
        SourceDocument {
            external_ref: "a".into(),
            title: "Reset your password".into(),
            url: Some("https://help.example/reset".into()),
            body,
            metadata: Value::Null,
        }
    }

    #[test]
    fn a_qa_pair_is_one_chunk_with_question_and_answer() {
        let chunks = doc(Body::Qa {
            question: "How do I reset my password?".into(),
            answer: "Use the link on the sign-in page.".into(),
        })
        .chunks(ChunkSizes::default());
        assert_eq!(chunks.len(), 1);
        assert_eq!(
            chunks[0].row.text,
            "Q: How do I reset my password?\nA: Use the link on the sign-in page."
        );
    }

    #[test]
    fn pages_keep_their_page_numbers() {
        let chunks = doc(Body::Pages(vec![
            "Warranty covers two years.".into(),
            String::new(),
            "Returns within 30 days.".into(),
        ]))
        .chunks(ChunkSizes::default());
        let pages: Vec<_> = chunks.iter().map(|c| c.row.page).collect();
        assert_eq!(pages, vec![Some(1), Some(3)]);
        assert_eq!(
            chunks.iter().map(|c| c.row.ordinal).collect::<Vec<_>>(),
            vec![0, 1]
        );
    }

    #[test]
    fn indexed_text_carries_the_title_and_metadata_does_not_change_the_hash() {
        let a = doc(Body::Text("# Steps\n\nOpen settings.".into()));
        let chunks = a.chunks(ChunkSizes::default());
        assert!(chunks[0].indexed_text.starts_with("Reset your password\n"));
        let mut b = a.clone();
        b.metadata = serde_json::json!({"etag": "\"v2\""});
        assert_eq!(a.content_hash(), b.content_hash());
        b.body = Body::Text("# Steps\n\nOpen the settings.".into());
        assert_ne!(a.content_hash(), b.content_hash());
    }
}
