//! Which of a question's words the knowledge uses at all. A question about "HubSpot" put to a
//! help center that never mentions it is not covered, however close its other words bring some
//! passage: answerability needs to know, and the customer deserves to hear what is not covered.

use rapport_core::ids::WorkspaceId;
use rapport_core::ports::{IndexQuery, SearchMode};
use serde::Serialize;

use crate::Result;
use crate::base::KnowledgeBase;
use crate::shorthand::spell_out;

/// Most words of one question looked up (a pasted e-mail is not read to the end).
const MAX_TERMS: usize = 16;

/// A word of the question and what the knowledge and the language model know of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuestionTerm {
    /// The word as the customer wrote it, lower case, accents folded.
    pub word: String,
    /// Its index term (the stem search matches on).
    pub term: String,
    /// Whether any chunk of the workspace's knowledge has it (stemmed, as search matches).
    pub in_knowledge: bool,
    /// Whether the embedding model knows it as a common word, rather than a name, jargon or a
    /// word of another language; `None` when the model cannot tell.
    pub common: Option<bool>,
}

impl KnowledgeBase {
    /// The question's content words, each looked up in the workspace's knowledge: one sparse
    /// lookup per word, all in one call to the index.
    pub async fn question_terms(
        &self,
        ws: WorkspaceId,
        question: &str,
    ) -> Result<Vec<QuestionTerm>> {
        let question = spell_out(question);
        let mut words = self.sparse().words_and_terms(&question);
        words.truncate(MAX_TERMS);
        let lookups = words
            .iter()
            .map(|(_, term)| IndexQuery {
                workspace_id: ws,
                mode: SearchMode::Sparse,
                dense: Vec::new(),
                sparse: Some(self.sparse().term_query(term)),
                source_ids: None,
                source_kinds: None,
                limit: 1,
            })
            .collect();
        let found = self.index().search_many(lookups).await?;
        Ok(words
            .into_iter()
            .zip(found)
            .map(|((word, term), hits)| QuestionTerm {
                common: self.embedder().knows_word(&word),
                in_knowledge: !hits.is_empty(),
                word,
                term,
            })
            .collect())
    }
}
