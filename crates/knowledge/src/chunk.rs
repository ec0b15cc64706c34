//! Structure-aware chunking: a document is cut along its headings into sections, a section into
//! paragraphs, and paragraphs are packed into chunks of a few hundred tokens. A chunk never spans
//! two sections, so its heading path says exactly where it came from, and a long section is split
//! with a little overlap so that no sentence loses the context just before it.

/// Sizes in approximate model tokens (words × 4/3, as for English with a WordPiece vocabulary).
#[derive(Debug, Clone, Copy)]
pub struct ChunkSizes {
    /// A chunk grows up to this size.
    pub max_tokens: usize,
    /// Sections smaller than this are merged with their neighbours under the same parent heading.
    pub min_tokens: usize,
    /// Tokens repeated at the start of the next chunk when a section is split.
    pub overlap_tokens: usize,
}

impl Default for ChunkSizes {
    fn default() -> Self {
        // MiniLM reads 256 tokens; the title and heading path prefixed to each chunk take some.
        Self {
            max_tokens: 220,
            min_tokens: 60,
            overlap_tokens: 40,
        }
    }
}

impl ChunkSizes {
    /// Sizes for chunks of at most `max_tokens`, with the default proportions of minimum and
    /// overlap.
    pub fn scaled(max_tokens: usize) -> Self {
        let max_tokens = max_tokens.max(16);
        let base = Self::default();
        Self {
            max_tokens,
            min_tokens: base.min_tokens * max_tokens / base.max_tokens,
            overlap_tokens: base.overlap_tokens * max_tokens / base.max_tokens,
        }
    }
}

/// A piece of a document, with the headings above it.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub ordinal: usize,
    pub heading_path: Vec<String>,
    pub text: String,
    pub tokens: usize,
}

impl Chunk {
    /// What is embedded and indexed: the chunk prefixed by its document title and headings, so
    /// that a chunk about "Step 3" still says what it is a step of.
    pub fn contextual_text(&self, title: &str) -> String {
        let mut out = String::new();
        if !title.trim().is_empty() {
            out.push_str(title.trim());
            out.push('\n');
        }
        let path: Vec<&str> = self
            .heading_path
            .iter()
            .map(String::as_str)
            .filter(|h| *h != title.trim())
            .collect();
        if !path.is_empty() {
            out.push_str(&path.join(" > "));
            out.push('\n');
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&self.text);
        out
    }
}

pub fn estimate_tokens(text: &str) -> usize {
    let words = text.split_whitespace().count();
    (words * 4).div_ceil(3)
}

/// A section of a document: its heading path and its blocks (paragraphs, lists, code).
#[derive(Debug, Clone, PartialEq)]
struct Section {
    path: Vec<String>,
    blocks: Vec<String>,
}

/// Chunks Markdown (or plain text, which is Markdown without headings).
pub fn chunk_markdown(text: &str, sizes: ChunkSizes) -> Vec<Chunk> {
    let sections = merge_small_sections(split_sections(text), sizes);
    let mut chunks = Vec::new();
    for section in sections {
        for text in pack_blocks(&section.blocks, sizes) {
            chunks.push(Chunk {
                ordinal: chunks.len(),
                heading_path: section.path.clone(),
                tokens: estimate_tokens(&text),
                text,
            });
        }
    }
    chunks
}

/// Splits at ATX headings (`#`…`######`) outside code fences, and each section into blocks at
/// blank lines (never inside a code fence).
fn split_sections(text: &str) -> Vec<Section> {
    let mut sections = vec![Section {
        path: Vec::new(),
        blocks: Vec::new(),
    }];
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut block = String::new();
    let mut in_fence = false;
    let flush = |block: &mut String, sections: &mut Vec<Section>| {
        let b = block.trim();
        if !b.is_empty()
            && let Some(s) = sections.last_mut()
        {
            s.blocks.push(b.to_owned());
        }
        block.clear();
    };
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
        }
        if !in_fence && let Some((level, heading)) = heading(trimmed) {
            flush(&mut block, &mut sections);
            while stack.last().is_some_and(|(l, _)| *l >= level) {
                stack.pop();
            }
            stack.push((level, heading));
            sections.push(Section {
                path: stack.iter().map(|(_, h)| h.clone()).collect(),
                blocks: Vec::new(),
            });
            continue;
        }
        if !in_fence && line.trim().is_empty() {
            flush(&mut block, &mut sections);
        } else {
            block.push_str(line);
            block.push('\n');
        }
    }
    flush(&mut block, &mut sections);
    sections.retain(|s| !s.blocks.is_empty() || !s.path.is_empty());
    sections
}

fn heading(line: &str) -> Option<(usize, String)> {
    let level = line.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &line[level..];
    if !rest.starts_with(' ') && !rest.is_empty() {
        return None;
    }
    let title = rest.trim().trim_end_matches('#').trim();
    (!title.is_empty()).then(|| (level, title.to_owned()))
}

/// Folds sections too small to stand alone (a heading with one line under it) into the previous
/// section when they share a parent, keeping their heading as a line of text.
fn merge_small_sections(sections: Vec<Section>, sizes: ChunkSizes) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for s in sections {
        let tokens: usize = s.blocks.iter().map(|b| estimate_tokens(b)).sum();
        if let Some(prev) = out.last_mut() {
            let prev_tokens: usize = prev.blocks.iter().map(|b| estimate_tokens(b)).sum();
            let shared_parent = s.path.len() > 1
                && prev.path.len() >= s.path.len() - 1
                && prev.path[..s.path.len() - 1] == s.path[..s.path.len() - 1];
            let small = tokens < sizes.min_tokens || prev_tokens < sizes.min_tokens;
            if small && shared_parent && prev_tokens + tokens <= sizes.max_tokens {
                if let Some(h) = s.path.last() {
                    prev.blocks.push(format!("{h}:"));
                }
                prev.blocks.extend(s.blocks);
                prev.path.truncate(s.path.len() - 1);
                continue;
            }
        }
        if !s.blocks.is_empty() {
            out.push(s);
        }
    }
    out
}

/// Packs blocks into chunks of at most `max_tokens`; a block too large on its own is split into
/// sentences. A chunk that is cut mid-section hands its last sentences on as overlap.
fn pack_blocks(blocks: &[String], sizes: ChunkSizes) -> Vec<String> {
    let mut units: Vec<String> = Vec::new();
    for b in blocks {
        if estimate_tokens(b) <= sizes.max_tokens {
            units.push(b.clone());
        } else {
            units.extend(split_long(b, sizes.max_tokens));
        }
    }
    let mut chunks = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut current_tokens = 0;
    for unit in units {
        let t = estimate_tokens(&unit);
        if current_tokens + t > sizes.max_tokens && !current.is_empty() {
            chunks.push(current.join("\n\n"));
            let overlap = tail_sentences(&current.join(" "), sizes.overlap_tokens);
            current_tokens = estimate_tokens(&overlap);
            current = if overlap.is_empty() || current_tokens + t > sizes.max_tokens {
                Vec::new()
            } else {
                vec![overlap]
            };
            if current.is_empty() {
                current_tokens = 0;
            }
        }
        current_tokens += t;
        current.push(unit);
    }
    if !current.is_empty() {
        chunks.push(current.join("\n\n"));
    }
    chunks
}

/// Splits an oversized block at sentence ends, and a sentence that is still too long at words.
fn split_long(block: &str, max_tokens: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for sentence in sentences(block) {
        for part in split_words(&sentence, max_tokens) {
            if !current.is_empty()
                && estimate_tokens(&current) + estimate_tokens(&part) > max_tokens
            {
                pieces.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(&part);
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

fn split_words(sentence: &str, max_tokens: usize) -> Vec<String> {
    let max_words = (max_tokens * 3 / 4).max(1);
    let words: Vec<&str> = sentence.split_whitespace().collect();
    words.chunks(max_words).map(|w| w.join(" ")).collect()
}

/// Sentence ends: `.`, `!`, `?` followed by whitespace, and line breaks (list items).
fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if *c == '\n' {
            if !current.trim().is_empty() {
                out.push(current.trim().to_owned());
            }
            current.clear();
            continue;
        }
        current.push(*c);
        let next_is_space = chars.get(i + 1).is_none_or(|n| n.is_whitespace());
        if matches!(c, '.' | '!' | '?') && next_is_space {
            out.push(current.trim().to_owned());
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

/// The last whole sentences of `text` that fit in `budget` tokens.
fn tail_sentences(text: &str, budget: usize) -> String {
    let mut picked: Vec<String> = Vec::new();
    let mut tokens = 0;
    for s in sentences(text).into_iter().rev() {
        let t = estimate_tokens(&s);
        if tokens + t > budget {
            break;
        }
        tokens += t;
        picked.push(s);
    }
    picked.reverse();
    picked.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(n: usize, word: &str) -> String {
        (0..n)
            .map(|i| {
                if i % 12 == 11 {
                    format!("{word}.")
                } else {
                    word.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn headings_become_the_path_of_their_chunks() {
        let md = format!(
            "# Returns\n\n{}\n\n## Refund timing\n\n{}\n",
            words(80, "intro"),
            words(80, "refund")
        );
        let chunks = chunk_markdown(&md, ChunkSizes::default());
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].heading_path, vec!["Returns"]);
        assert_eq!(chunks[1].heading_path, vec!["Returns", "Refund timing"]);
        assert!(chunks[1].text.starts_with("refund"));
    }

    #[test]
    fn a_long_section_is_split_with_overlap_and_within_size() {
        let md = format!(
            "## Setup\n\n{}",
            (0..12)
                .map(|_| words(60, "step"))
                .collect::<Vec<_>>()
                .join("\n\n")
        );
        let sizes = ChunkSizes::default();
        let chunks = chunk_markdown(&md, sizes);
        assert!(chunks.len() >= 4, "{} chunks", chunks.len());
        for c in &chunks {
            assert!(
                c.tokens <= sizes.max_tokens + 5,
                "chunk of {} tokens",
                c.tokens
            );
            assert_eq!(c.heading_path, vec!["Setup"]);
        }
    }

    #[test]
    fn one_huge_paragraph_is_cut_at_sentences() {
        let chunks = chunk_markdown(&words(900, "wifi"), ChunkSizes::default());
        assert!(chunks.len() >= 4);
        assert!(chunks.iter().all(|c| c.tokens <= 230));
    }

    #[test]
    fn tiny_sibling_sections_are_merged_under_their_parent() {
        let md = "# Glossary\n\n## Inbox\n\nWhere messages arrive.\n\n## Label\n\nA tag on a conversation.\n\n## Team\n\nA group of agents.\n";
        let chunks = chunk_markdown(md, ChunkSizes::default());
        assert_eq!(chunks.len(), 1, "{chunks:#?}");
        assert_eq!(chunks[0].heading_path, vec!["Glossary"]);
        assert!(chunks[0].text.contains("Label:") && chunks[0].text.contains("A group of agents."));
    }

    #[test]
    fn headings_inside_code_fences_are_code() {
        let md = "## Install\n\n```sh\n# not a heading\nmake run\n```\n";
        let chunks = chunk_markdown(md, ChunkSizes::default());
        assert_eq!(chunks.len(), 1);
        assert!(chunks[0].text.contains("# not a heading"));
    }

    #[test]
    fn plain_text_without_headings_is_one_section() {
        let chunks = chunk_markdown(
            "Refunds take 5 days.\n\nExchanges are free.",
            ChunkSizes::default(),
        );
        assert_eq!(chunks.len(), 1);
        assert!(chunks[0].heading_path.is_empty());
    }

    #[test]
    fn contextual_text_names_the_document_and_its_headings() {
        let c = Chunk {
            ordinal: 0,
            heading_path: vec!["Setup".into(), "Step 3".into()],
            text: "Tighten the screws.".into(),
            tokens: 4,
        };
        assert_eq!(
            c.contextual_text("Thermostat T2 setup"),
            "Thermostat T2 setup\nSetup > Step 3\n\nTighten the screws."
        );
    }

    #[test]
    fn empty_text_gives_no_chunks() {
        assert!(chunk_markdown("  \n\n ", ChunkSizes::default()).is_empty());
    }
}
