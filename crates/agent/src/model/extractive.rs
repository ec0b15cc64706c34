//! The default model: no network, no weights, no invention. It answers with a curated
//! snippet's answer or the passage of the best chunk that covers the question, rewrites
//! follow-ups from the customer's earlier turns, and builds summaries and facts by rules.

use std::collections::HashSet;
use std::sync::LazyLock;

use async_trait::async_trait;
use rapport_knowledge::Retrieved;
use rapport_knowledge::sparse::SparseEncoder;
use regex::Regex;

use super::passage::{self, Budget};
use super::{
    AnswerRequest, ChatModel, ConversationBrief, DeltaSink, FoundFact, Generated, MemoryUpdate,
    ModelAnswer, Persona,
};
use crate::Result;
use crate::context::{CustomerContext, Turn};
use crate::facts;
use crate::guards;
use crate::language;

pub const NAME: &str = "extractive";

/// How much closer than the best document's chunk a second document's may rank below it and
/// still be quoted beside it (dense similarity).
const SECOND_DOCUMENT_GAP: f32 = 0.04;

/// A second passage shorter than this says nothing useful.
const MIN_SECOND_PASSAGE_CHARS: usize = 160;

/// The extractive model. Cheap to clone.
#[derive(Clone, Default)]
pub struct Extractive {
    tokens: std::sync::Arc<SparseEncoder>,
}

impl Extractive {
    pub fn new() -> Self {
        Self::default()
    }

    fn terms(&self, text: &str) -> Vec<String> {
        self.tokens.tokens(text)
    }
}

/// Words that make a message lean on an earlier one ("any update on this?").
static FOLLOW_UP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(this|that|it|its|there|these|those|them|same|still|again|update|updates|news|status|anything|any luck|esto|eso|ça|cela|dies|das|isso)\b",
    )
    .expect("valid regex")
});

/// A curated Q&A chunk's answer (`Q: …\nA: …`), if the chunk is one: a snippet, a mined pair,
/// or a row of a Q&A CSV uploaded as a file.
fn qa_answer(chunk: &Retrieved) -> Option<&str> {
    let kind = chunk.chunk.source_kind.as_str();
    let text = chunk.chunk.text.as_str();
    let curated = kind == "snippets"
        || kind == "conversations"
        || (kind == "files" && text.starts_with("Q: "));
    if !curated {
        return None;
    }
    let (_, answer) = text.split_once("\nA: ")?;
    Some(answer.trim())
}

impl Extractive {
    /// The words of a message that carry its subject, as written: no stop words, numbers,
    /// addresses or ids (they would only match documents by accident).
    fn topic_words(&self, text: &str) -> String {
        let mut seen = HashSet::new();
        text.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\'' || c == '@'))
            .filter(|w| !w.is_empty())
            .filter(|w| !w.contains('@') && !w.chars().any(|c| c.is_ascii_digit()))
            .filter(|w| !self.terms(w).is_empty())
            .filter(|w| seen.insert(w.to_lowercase()))
            .take(12)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Extractive {
    /// The passage of `document`'s chunks that answers the question best, within the channel's
    /// budget.
    fn best_passage<'r>(
        &self,
        request: &AnswerRequest<'r>,
        document: i64,
        budget: Budget,
    ) -> Option<(String, &'r Retrieved)> {
        let mut best: Option<(f32, String, &Retrieved)> = None;
        for chunk in request
            .chunks
            .iter()
            .filter(|c| qa_answer(c).is_none() && c.chunk.document_id == document)
        {
            let section = chunk
                .chunk
                .heading_path
                .rsplit(" > ")
                .next()
                .filter(|h| *h != chunk.chunk.title)
                .unwrap_or_default();
            let (score, mut text) = passage::choose(
                &self.tokens,
                section,
                &chunk.chunk.text,
                request.query,
                budget,
            );
            if text.is_empty() {
                // Nothing but code or markup: quote the beginning as it is.
                text = truncate(&chunk.chunk.text, budget.chars);
            }
            if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
                best = Some((score, text, chunk));
            }
        }
        best.map(|(_, text, chunk)| (text, chunk))
    }

    /// The answer quoted from the knowledge: the best document's passage — an article's
    /// introduction and the section with the steps are two chunks, and the introduction often
    /// ranks first, so whichever chunk covers the question best — and, when the question also
    /// asks what only a second, almost as close document says, that document's passage too.
    /// Each quoted document ends with its "More:" line.
    fn quote<'r>(
        &self,
        request: &AnswerRequest<'r>,
        top: &'r Retrieved,
        more: &str,
    ) -> (String, Vec<&'r Retrieved>) {
        let budget = Budget::for_channel(request.channel);
        let Some((first, chunk)) = self.best_passage(request, top.chunk.document_id, budget) else {
            return (String::new(), vec![top]);
        };
        let mut passages = vec![(first, chunk)];
        if let Some(second) = self.second_passage(request, top, &passages[0].0, budget) {
            passages.push(second);
        }
        let mut text: Vec<String> = passages.iter().map(|(p, _)| p.clone()).collect();
        let more_lines: Vec<String> = passages
            .iter()
            .filter_map(|(_, c)| more_line(c, more))
            .collect();
        if !more_lines.is_empty() {
            text.push(more_lines.join("\n"));
        }
        (
            text.join("\n\n"),
            passages.into_iter().map(|(_, c)| c).collect(),
        )
    }

    /// A second document's passage, when the question needs it: its document ranks close to
    /// the first, and it covers at least two of the question's words the first passage does
    /// not. It gets what is left of the budget, if that is enough to say something.
    fn second_passage<'r>(
        &self,
        request: &AnswerRequest<'r>,
        top: &'r Retrieved,
        first: &str,
        budget: Budget,
    ) -> Option<(String, &'r Retrieved)> {
        let left = budget.chars.checked_sub(first.chars().count())?;
        if left < MIN_SECOND_PASSAGE_CHARS {
            return None;
        }
        let near = request.chunks.iter().find(|c| {
            c.chunk.document_id != top.chunk.document_id
                && qa_answer(c).is_none()
                && c.similarity >= top.similarity - SECOND_DOCUMENT_GAP
        })?;
        let budget = Budget {
            chars: left,
            pieces: budget.pieces / 2,
        };
        let (text, chunk) = self.best_passage(request, near.chunk.document_id, budget)?;
        let asked: HashSet<String> = self.terms(request.query).into_iter().collect();
        let said = |t: &str| -> HashSet<String> {
            self.terms(t)
                .into_iter()
                .filter(|w| asked.contains(w))
                .collect()
        };
        let new = said(&text).difference(&said(first)).count();
        (new >= 2).then_some((text, chunk))
    }
}

fn more_line(chunk: &Retrieved, more: &str) -> Option<String> {
    let title = chunk.chunk.title.trim();
    match (&chunk.chunk.url, title.is_empty()) {
        (Some(url), true) => Some(format!("{more}: {url}")),
        (Some(url), false) => Some(format!("{more}: {title} — {url}")),
        (None, false) => Some(format!("{more}: {title}")),
        (None, true) => None,
    }
}

#[async_trait]
impl ChatModel for Extractive {
    fn name(&self) -> &str {
        NAME
    }

    async fn rewrite_query(
        &self,
        question: &str,
        customer: &CustomerContext,
    ) -> Result<Generated<String>> {
        let content = self.terms(question).len();
        let leans_on_history = (FOLLOW_UP.is_match(question) && content <= 5) || content <= 1;
        if !leans_on_history {
            return Ok(Generated::extractive(question.trim().to_owned()));
        }
        // The topic is the customer's earlier message (on whichever channel) that shares the
        // most words with this one — "the survey problem" points at the message about the
        // survey — or else their latest message that says something.
        let asked: HashSet<String> = self.terms(question).into_iter().collect();
        // Ties go to a question over a statement ("our number is …" names no topic), then to
        // the most recent.
        let mut best: Option<((usize, bool), &Turn)> = None;
        for turn in customer.customer_turns().take(12) {
            let terms: HashSet<String> = self.terms(&turn.text).into_iter().collect();
            if terms.len() < 3 {
                continue;
            }
            let score = (
                terms.intersection(&asked).count(),
                guards::intent(&turn.text) == guards::Intent::Question,
            );
            if best.is_none_or(|(best, _)| score > best) {
                best = Some((score, turn));
            }
        }
        let Some((_, topic)) = best else {
            return Ok(Generated::extractive(question.trim().to_owned()));
        };
        Ok(Generated::extractive(format!(
            "{} {}",
            question.trim(),
            self.topic_words(&topic.text)
        )))
    }

    async fn answer(
        &self,
        request: &AnswerRequest<'_>,
        on_delta: Option<DeltaSink<'_>>,
    ) -> Result<Generated<ModelAnswer>> {
        let Some(top) = request.chunks.first() else {
            return Ok(Generated::extractive(ModelAnswer {
                handoff: true,
                reason: "no supporting knowledge".into(),
                ..ModelAnswer::default()
            }));
        };
        let phrases = language::phrases(request.language);
        let (answer, cited) = match qa_answer(top) {
            Some(answer) => (answer.to_owned(), vec![top]),
            None => self.quote(request, top, phrases.more),
        };
        if let Some(sink) = on_delta {
            sink(&answer);
        }
        Ok(Generated::extractive(ModelAnswer {
            handoff: answer.trim().is_empty(),
            reason: if answer.trim().is_empty() {
                "no supporting knowledge".into()
            } else {
                String::new()
            },
            answer,
            citations: cited.iter().map(|c| c.chunk.id).collect(),
            confidence: cited.first().map_or(0.0, |c| c.similarity),
        }))
    }

    async fn summarize_journey(
        &self,
        reason: &str,
        customer: &CustomerContext,
        _persona: &Persona,
    ) -> Result<Generated<String>> {
        let mut lines = Vec::new();
        let who = customer.customer.name.as_deref().unwrap_or("Customer");
        let channels = if customer.customer.channels.is_empty() {
            String::new()
        } else {
            format!(" · channels: {}", customer.customer.channels.join(", "))
        };
        lines.push(format!("{who}{channels}"));
        lines.push(format!("Escalated because: {reason}"));
        // Remembered facts, and what the journey itself states (memory may lag behind it).
        let mut known: Vec<(String, String)> = customer
            .customer
            .facts
            .iter()
            .map(|f| (f.key.clone(), f.value.clone()))
            .collect();
        for t in customer.history.iter().filter(|t| t.is_customer()) {
            for (key, value) in facts::extract(&t.text, &[]) {
                if !known.iter().any(|(k, v)| k == key && *v == value) {
                    known.push((key.to_owned(), value));
                }
            }
        }
        if !known.is_empty() {
            let known: Vec<String> = known
                .iter()
                .take(8)
                .map(|(k, v)| format!("{} {v}", k.replace('_', " ")))
                .collect();
            lines.push(format!("Known: {}", known.join("; ")));
        }
        if !customer.customer.summary.is_empty() {
            lines.push(format!("Memory: {}", customer.customer.summary));
        }
        let recent: Vec<&Turn> = customer
            .history
            .iter()
            .rev()
            .filter(|t| t.author != "system")
            .take(8)
            .collect();
        for t in recent.into_iter().rev() {
            lines.push(format!(
                "- [{} · {} · {}] {}",
                t.at,
                t.channel,
                t.author,
                truncate(&t.text, 160)
            ));
        }
        Ok(Generated::extractive(lines.join("\n")))
    }

    async fn update_memory(
        &self,
        customer: &CustomerContext,
        conversations: &[ConversationBrief],
        product_names: &[String],
    ) -> Result<Generated<MemoryUpdate>> {
        let mut found: Vec<FoundFact> = Vec::new();
        for t in customer.history.iter().filter(|t| t.is_customer()) {
            for (key, value) in facts::extract(&t.text, product_names) {
                if !found.iter().any(|f| f.key == key && f.value == value) {
                    found.push(FoundFact {
                        key: key.to_owned(),
                        value,
                        message_id: Some(t.id),
                    });
                }
            }
        }
        let mut open = Vec::new();
        let mut past = Vec::new();
        for c in conversations.iter().filter(|c| !c.opening.is_empty()) {
            let line = format!(
                "{} on {} ({})",
                truncate(&c.opening, 90),
                c.channel,
                c.started
            );
            match c.status.as_str() {
                "resolved" => past.push(format!(
                    "{line}: resolved{}",
                    c.resolution
                        .as_deref()
                        .map(|r| format!(" by {}", if r == "ai" { "the bot" } else { r }))
                        .unwrap_or_default()
                )),
                "waiting_human" | "human" => open.push(format!(
                    "{line}: with a human{}",
                    c.escalation_reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                )),
                _ => open.push(line),
            }
        }
        let mut summary = String::new();
        if !open.is_empty() {
            summary.push_str(&format!(
                "Open: {}.",
                open.into_iter().take(3).collect::<Vec<_>>().join("; ")
            ));
        }
        if !past.is_empty() {
            if !summary.is_empty() {
                summary.push(' ');
            }
            summary.push_str(&format!(
                "Past: {}.",
                past.into_iter().take(3).collect::<Vec<_>>().join("; ")
            ));
        }
        Ok(Generated::extractive(MemoryUpdate {
            summary,
            facts: found,
        }))
    }

    async fn extract_faq(&self, turns: &[Turn]) -> Result<Generated<Option<(String, String)>>> {
        let question: Vec<&str> = turns
            .iter()
            .take_while(|t| t.author != "agent")
            .filter(|t| t.is_customer())
            .map(|t| t.text.trim())
            .collect();
        let answer: Vec<&str> = turns
            .iter()
            .filter(|t| t.author == "agent")
            .map(|t| t.text.trim())
            .collect();
        Ok(Generated::extractive(
            (!question.is_empty() && !answer.is_empty())
                .then(|| (question.join(" "), answer.join("\n"))),
        ))
    }
}

pub(crate) fn truncate(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{}…", cut.trim_end())
}
