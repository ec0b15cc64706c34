//! Connectors: each reads one kind of knowledge (snippets, help-center articles, files, past
//! conversations) into [`SourceDocument`]s. The web crawler lives in [`crate::web`]. Connectors
//! only read; storing, chunking and indexing are the pipeline's.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::document::{Body, SourceDocument, hex};
use crate::extract::{self, QaPair};
use crate::mining::Transcript;
use crate::sources::{CsvMode, StoredFile};
use crate::{Error, Result};

/// Files larger than this are refused before they are read: knowledge, not archives.
pub const MAX_FILE_BYTES: u64 = 50 * 1024 * 1024;

/// A snippet's document. Its question and answer are also its metadata, which is where an
/// edit through the API writes them.
pub fn snippet_document(external_ref: &str, question: &str, answer: &str) -> SourceDocument {
    SourceDocument {
        external_ref: external_ref.to_owned(),
        title: question.trim().to_owned(),
        url: None,
        body: Body::Qa {
            question: question.trim().to_owned(),
            answer: answer.trim().to_owned(),
        },
        metadata: json!({"question": question.trim(), "answer": answer.trim()}),
    }
}

/// Rebuilds a snippet from its stored metadata.
pub fn snippet_from_metadata(external_ref: &str, metadata: &Value) -> Option<SourceDocument> {
    let question = metadata.get("question")?.as_str()?;
    let answer = metadata.get("answer")?.as_str()?;
    Some(snippet_document(external_ref, question, answer))
}

/// A stable reference for a Q&A pair: the same question imported twice is the same document.
pub fn qa_ref(prefix: &str, question: &str) -> String {
    let normalised: String = question
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let digest = Sha256::digest(normalised.as_bytes());
    format!("{prefix}#{}", &hex(&digest)[..16])
}

/// Snippets from an upload: a CSV with question/answer columns, or JSON (an array of
/// `{question, answer}` objects, or JSONL of them).
pub fn parse_snippets(bytes: &[u8]) -> Result<Vec<QaPair>> {
    let text = std::str::from_utf8(bytes).map_err(|_| Error::Malformed {
        format: "snippets",
        message: "not UTF-8 text".into(),
    })?;
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if !(trimmed.starts_with('[') || trimmed.starts_with('{')) {
        return extract::qa_csv(bytes);
    }
    #[derive(Deserialize)]
    struct Pair {
        question: String,
        answer: String,
    }
    let pairs: Vec<Pair> = if trimmed.starts_with('[') {
        serde_json::from_str(trimmed).map_err(|e| json_error("JSON", e))?
    } else {
        trimmed
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).map_err(|e| json_error("JSONL", e)))
            .collect::<Result<_>>()?
    };
    let pairs: Vec<QaPair> = pairs
        .into_iter()
        .filter(|p| !p.question.trim().is_empty() && !p.answer.trim().is_empty())
        .map(|p| QaPair {
            question: p.question,
            answer: p.answer,
        })
        .collect();
    if pairs.is_empty() {
        return Err(Error::Empty {
            what: "snippet list",
        });
    }
    Ok(pairs)
}

fn json_error(format: &'static str, e: serde_json::Error) -> Error {
    Error::Malformed {
        format,
        message: e.to_string(),
    }
}

/// A help center on disk: a folder of Markdown/HTML articles (recursively), or one JSON/JSONL
/// export of `{id, title, url, body}` objects.
pub fn read_articles(path: &Path) -> Result<Vec<SourceDocument>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_file() {
        let text = read_text(path)?;
        return article_export(&text);
    }
    let mut files = Vec::new();
    walk(path, &mut files)?;
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        let relative = file
            .strip_prefix(path)
            .unwrap_or(&file)
            .to_string_lossy()
            .replace('\\', "/");
        let ext = extension(&file);
        let doc = match ext.as_str() {
            "md" | "markdown" | "txt" => markdown_document(&relative, &read_text(&file)?),
            "html" | "htm" => html_document(&relative, &read_text(&file)?),
            "json" | "jsonl" => {
                docs.extend(article_export(&read_text(&file)?)?);
                continue;
            }
            _ => continue,
        };
        docs.extend(doc);
    }
    if docs.is_empty() {
        return Err(Error::Empty {
            what: "folder (no Markdown, HTML or JSON articles)",
        });
    }
    Ok(docs)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if kind.is_dir() {
            walk(&path, out)?;
        } else if kind.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default()
}

fn read_text(path: &Path) -> Result<String> {
    let bytes = read_bytes(path)?;
    String::from_utf8(bytes).map_err(|_| Error::Malformed {
        format: "text",
        message: format!("{} is not UTF-8", path.display()),
    })
}

fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(Error::Invalid(format!(
            "{} is {} MB; the limit is {} MB",
            path.display(),
            meta.len() / 1_000_000,
            MAX_FILE_BYTES / 1_000_000
        )));
    }
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// A Markdown article: front matter `title` and `url`, else its first `#` heading.
fn markdown_document(reference: &str, text: &str) -> Option<SourceDocument> {
    let (fields, body) = extract::front_matter(text);
    let body = body.trim();
    if body.is_empty() {
        return None;
    }
    let title = fields
        .get("title")
        .cloned()
        .or_else(|| first_heading(body))
        .unwrap_or_else(|| title_from_name(reference));
    let mut metadata = json!({});
    for (key, value) in &fields {
        if key != "title" && key != "url" {
            metadata[key] = json!(value);
        }
    }
    Some(SourceDocument {
        external_ref: reference.to_owned(),
        title,
        url: fields.get("url").cloned(),
        body: Body::Text(body.to_owned()),
        metadata,
    })
}

fn html_document(reference: &str, html: &str) -> Option<SourceDocument> {
    let page = extract::html_page(html);
    if page.text.trim().is_empty() {
        return None;
    }
    Some(SourceDocument {
        external_ref: reference.to_owned(),
        title: if page.title.is_empty() {
            title_from_name(reference)
        } else {
            page.title
        },
        url: page.canonical,
        body: Body::Text(page.text),
        metadata: json!({}),
    })
}

fn first_heading(body: &str) -> Option<String> {
    body.lines()
        .find_map(|l| l.strip_prefix("# "))
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

fn title_from_name(reference: &str) -> String {
    let stem = reference
        .rsplit('/')
        .next()
        .unwrap_or(reference)
        .split('.')
        .next()
        .unwrap_or(reference);
    let words = stem.replace(['-', '_'], " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => reference.to_owned(),
    }
}

/// A help-center export: a JSON array or JSONL of `{id, title, url, body}` (`text` or
/// `content` also name the body). HTML bodies are reduced to their text.
pub fn article_export(text: &str) -> Result<Vec<SourceDocument>> {
    #[derive(Deserialize)]
    struct Article {
        id: Option<Value>,
        #[serde(default)]
        title: String,
        url: Option<String>,
        #[serde(alias = "text", alias = "content")]
        body: String,
    }
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let articles: Vec<Article> = if trimmed.starts_with('[') {
        serde_json::from_str(trimmed).map_err(|e| json_error("JSON", e))?
    } else {
        trimmed
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, l)| {
                serde_json::from_str(l).map_err(|e| Error::Malformed {
                    format: "JSONL",
                    message: format!("line {}: {e}", n + 1),
                })
            })
            .collect::<Result<_>>()?
    };
    let mut docs = Vec::with_capacity(articles.len());
    for (n, a) in articles.into_iter().enumerate() {
        let reference = match a.id {
            Some(Value::String(s)) => s,
            Some(Value::Number(n)) => n.to_string(),
            _ => a
                .url
                .clone()
                .unwrap_or_else(|| format!("article-{}", n + 1)),
        };
        let body = if looks_like_html(&a.body) {
            extract::html_page(&a.body).text
        } else {
            a.body
        };
        if body.trim().is_empty() {
            continue;
        }
        docs.push(SourceDocument {
            title: if a.title.trim().is_empty() {
                first_heading(&body).unwrap_or_else(|| reference.clone())
            } else {
                a.title
            },
            external_ref: reference,
            url: a.url,
            body: Body::Text(body),
            metadata: json!({}),
        });
    }
    if docs.is_empty() {
        return Err(Error::Empty {
            what: "article export",
        });
    }
    Ok(docs)
}

fn looks_like_html(text: &str) -> bool {
    let head: String = text.chars().take(2000).collect::<String>().to_lowercase();
    [
        "<p>", "<p ", "<div", "<h1", "<h2", "<br", "</", "<ul", "<html",
    ]
    .iter()
    .any(|tag| head.contains(tag))
}

/// One file of a files source. A CSV gives one document per row; other formats one document.
pub fn read_file(file: &StoredFile, csv_mode: CsvMode) -> Result<Vec<SourceDocument>> {
    let path = Path::new(&file.path);
    let bytes = read_bytes(path)?;
    let name = file.name.as_str();
    let ext = extension(Path::new(name));
    let title = title_from_name(name);
    let single = |body: Body, title: String, url: Option<String>| {
        vec![SourceDocument {
            external_ref: name.to_owned(),
            title,
            url,
            body,
            metadata: json!({"file": name}),
        }]
    };
    let docs = match ext.as_str() {
        "pdf" => {
            let pages = extract::pdf_pages(&bytes)?;
            single(Body::Pages(pages), title, None)
        }
        "csv" => csv_documents(name, &bytes, csv_mode)?,
        "md" | "markdown" | "txt" | "text" => {
            let text = utf8(&bytes, "text")?;
            match markdown_document(name, &text) {
                Some(mut doc) => {
                    doc.metadata["file"] = json!(name);
                    vec![doc]
                }
                None => Vec::new(),
            }
        }
        "html" | "htm" => {
            let page = extract::html_page(&utf8(&bytes, "HTML")?);
            let title = if page.title.is_empty() {
                title
            } else {
                page.title
            };
            single(Body::Text(page.text), title, page.canonical)
        }
        other => {
            return Err(Error::Invalid(format!(
                "{name}: .{other} files are not supported (PDF, CSV, TXT, Markdown or HTML)"
            )));
        }
    };
    let has_text = docs.iter().any(|d| match &d.body {
        Body::Text(t) => !t.trim().is_empty(),
        Body::Pages(p) => p.iter().any(|p| !p.trim().is_empty()),
        Body::Qa { .. } => true,
    });
    if !has_text {
        return Err(Error::Empty { what: "file" });
    }
    Ok(docs)
}

fn utf8(bytes: &[u8], format: &'static str) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| Error::Malformed {
        format,
        message: "not UTF-8 text".into(),
    })
}

fn csv_documents(name: &str, bytes: &[u8], mode: CsvMode) -> Result<Vec<SourceDocument>> {
    match mode {
        CsvMode::Qa => Ok(extract::qa_csv(bytes)?
            .into_iter()
            .map(|p| {
                let mut doc = snippet_document(&qa_ref(name, &p.question), &p.question, &p.answer);
                doc.metadata["file"] = json!(name);
                doc
            })
            .collect()),
        CsvMode::Rows => {
            let mut reader = csv::ReaderBuilder::new()
                .flexible(true)
                .trim(csv::Trim::All)
                .from_reader(bytes);
            let headers = reader
                .headers()
                .map_err(|e| Error::Malformed {
                    format: "CSV",
                    message: e.to_string(),
                })?
                .clone();
            let mut docs = Vec::new();
            for (n, row) in reader.records().enumerate() {
                if n >= extract::MAX_CSV_ROWS {
                    return Err(extract::too_many_rows());
                }
                let row = row.map_err(|e| Error::Malformed {
                    format: "CSV",
                    message: e.to_string(),
                })?;
                let lines: Vec<String> = headers
                    .iter()
                    .zip(row.iter())
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(h, v)| format!("{h}: {v}"))
                    .collect();
                if lines.is_empty() {
                    continue;
                }
                let first = row.get(0).unwrap_or_default();
                docs.push(SourceDocument {
                    external_ref: format!("{name}#row{}", n + 1),
                    title: format!("{} — {first}", title_from_name(name)),
                    url: None,
                    body: Body::Text(lines.join("\n")),
                    metadata: json!({"file": name, "row": n + 1}),
                });
            }
            Ok(docs)
        }
    }
}

/// Conversations exported from another tool, one JSON object a line:
/// `{id, messages: [{author: customer|agent|…, text}]}`.
pub fn read_conversation_export(path: &Path) -> Result<Vec<Transcript>> {
    #[derive(Deserialize)]
    struct Conversation {
        id: Value,
        messages: Vec<Message>,
    }
    #[derive(Deserialize)]
    struct Message {
        author: String,
        #[serde(default)]
        text: String,
    }
    let text = read_text(path)?;
    let mut transcripts = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let c: Conversation = serde_json::from_str(line).map_err(|e| Error::Malformed {
            format: "conversations JSONL",
            message: format!("line {}: {e}", n + 1),
        })?;
        let reference = match c.id {
            Value::String(s) => s,
            other => other.to_string(),
        };
        let messages: Vec<(String, String)> = c
            .messages
            .into_iter()
            .map(|m| (m.author.to_lowercase(), m.text))
            .collect();
        transcripts.push(Transcript {
            conversation_ref: format!("import:{reference}"),
            messages,
            names: Vec::new(),
        });
    }
    Ok(transcripts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_read_from_csv_json_and_jsonl() {
        let csv = parse_snippets(b"question,answer\nHours?,9 to 5\n").expect("csv");
        let json =
            parse_snippets(br#"[{"question": "Hours?", "answer": "9 to 5"}]"#).expect("json");
        let jsonl = parse_snippets(b"{\"question\": \"Hours?\", \"answer\": \"9 to 5\"}\n\n")
            .expect("jsonl");
        assert_eq!(csv, json);
        assert_eq!(json, jsonl);
        assert!(parse_snippets(b"[]").is_err());
    }

    #[test]
    fn the_same_question_gets_the_same_reference() {
        assert_eq!(
            qa_ref("faq.csv", "How do I  reset?"),
            qa_ref("faq.csv", "how do i reset?")
        );
        assert_ne!(qa_ref("faq.csv", "a"), qa_ref("faq.csv", "b"));
    }

    #[test]
    fn export_articles_take_id_title_url_and_html_or_text_bodies() {
        let docs = article_export(
            "{\"id\": 7, \"title\": \"Billing\", \"url\": \"https://x/7\", \"body\": \"<p>Pay <b>monthly</b>.</p>\"}\n\
             {\"id\": \"a\", \"title\": \"T\", \"text\": \"Plain words\"}\n",
        )
        .expect("export");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].external_ref, "7");
        assert_eq!(docs[0].body, Body::Text("Pay monthly.".into()));
        assert_eq!(docs[1].url, None);
    }

    #[test]
    fn unsupported_and_empty_files_fail_with_a_clear_error() {
        let dir = tempfile::tempdir().expect("dir");
        let zip = dir.path().join("a.zip");
        std::fs::write(&zip, b"PK").expect("write");
        let err = read_file(
            &StoredFile {
                name: "a.zip".into(),
                path: zip.display().to_string(),
            },
            CsvMode::Qa,
        )
        .expect_err("zip");
        assert!(err.to_string().contains("not supported"), "{err}");
        let empty = dir.path().join("e.txt");
        std::fs::write(&empty, b"  \n").expect("write");
        let err = read_file(
            &StoredFile {
                name: "e.txt".into(),
                path: empty.display().to_string(),
            },
            CsvMode::Qa,
        )
        .expect_err("empty");
        assert!(err.to_string().contains("nothing to learn"), "{err}");
    }
}
