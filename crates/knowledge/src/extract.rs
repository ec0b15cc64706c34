//! Getting text with its structure out of the formats knowledge arrives in: Markdown with front
//! matter, HTML pages (main content only), PDF (page by page), and question/answer CSV.
//!
//! Every extractor returns an error for input it cannot read — never panics the process — so a
//! bad upload fails its own source with a message the admin can act on.

use std::collections::HashMap;

use scraper::node::Node;
use scraper::{ElementRef, Html, Selector};

use crate::{Error, Result};

/// `---`-delimited front matter of `key: value` lines, and the body after it.
pub fn front_matter(text: &str) -> (HashMap<String, String>, &str) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return (HashMap::new(), text);
    };
    let Some(end) = rest.find("\n---") else {
        return (HashMap::new(), text);
    };
    let header = &rest[..end];
    let body = rest[end + 4..]
        .trim_start_matches(['-'])
        .trim_start_matches(['\r', '\n']);
    let mut fields = HashMap::new();
    for line in header.lines() {
        if let Some((k, v)) = line.split_once(':') {
            let v = unquote(v.trim());
            if !k.trim().is_empty() && !v.is_empty() {
                fields.insert(k.trim().to_lowercase(), v.to_owned());
            }
        }
    }
    (fields, body)
}

/// A YAML-style scalar without its surrounding quotes, when it has a matching pair
/// (`"Offline"` inside a title keeps its quotes).
fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].trim();
        }
    }
    v
}

/// The readable part of an HTML page.
#[derive(Debug, Clone, PartialEq)]
pub struct HtmlPage {
    pub title: String,
    /// `<link rel="canonical">`, when the page names one.
    pub canonical: Option<String>,
    /// Main content as Markdown-like text: headings as `#` lines, paragraphs and list items as
    /// blocks, so the chunker sees the page's structure.
    pub text: String,
}

/// Elements that never hold the content a customer asks about.
const SKIPPED_TAGS: &[&str] = &[
    "script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe", "svg",
    "template", "button", "dialog",
];
/// Class or id fragments of boilerplate blocks (cookie banners, menus, sidebars).
const SKIPPED_MARKERS: &[&str] = &[
    "cookie",
    "consent",
    "gdpr-banner",
    "navbar",
    "menu",
    "sidebar",
    "breadcrumb",
    "footer",
    "newsletter",
    "feedback",
];

pub fn html_page(html: &str) -> HtmlPage {
    let doc = Html::parse_document(html);
    let select = |css: &str| Selector::parse(css).ok();
    let title = select("title")
        .and_then(|s| doc.select(&s).next())
        .map(|e| collapse_ws(&e.text().collect::<String>()))
        .filter(|t| !t.is_empty())
        .or_else(|| {
            select("h1")
                .and_then(|s| doc.select(&s).next())
                .map(|e| collapse_ws(&e.text().collect::<String>()))
        })
        .unwrap_or_default();
    let canonical = select(r#"link[rel="canonical"]"#)
        .and_then(|s| doc.select(&s).next())
        .and_then(|e| e.attr("href"))
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty());
    let root = ["main", "article", "[role=main]", "body"]
        .iter()
        .filter_map(|css| select(css))
        .find_map(|s| doc.select(&s).next())
        .unwrap_or_else(|| doc.root_element());
    let mut out = String::new();
    render(root, &mut out);
    HtmlPage {
        title,
        canonical,
        text: tidy_blocks(&out),
    }
}

fn render(el: ElementRef<'_>, out: &mut String) {
    for child in el.children() {
        match child.value() {
            Node::Text(t) => {
                let text = collapse_ws(t);
                if !text.is_empty() {
                    if !out.ends_with([' ', '\n'])
                        && !out.is_empty()
                        && t.starts_with(char::is_whitespace)
                    {
                        out.push(' ');
                    }
                    out.push_str(&text);
                    if t.ends_with(char::is_whitespace) {
                        out.push(' ');
                    }
                }
            }
            Node::Element(e) => {
                let Some(child_el) = ElementRef::wrap(child) else {
                    continue;
                };
                let tag = e.name();
                if SKIPPED_TAGS.contains(&tag) || is_boilerplate(e) {
                    continue;
                }
                match tag {
                    "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                        let level = tag[1..].parse::<usize>().unwrap_or(2);
                        let text = collapse_ws(&child_el.text().collect::<String>());
                        if !text.is_empty() {
                            out.push_str(&format!("\n\n{} {}\n\n", "#".repeat(level), text));
                        }
                    }
                    "br" => out.push('\n'),
                    "li" => {
                        out.push_str("\n- ");
                        render(child_el, out);
                    }
                    "p" | "div" | "section" | "ul" | "ol" | "table" | "tr" | "blockquote"
                    | "pre" | "dl" | "dd" | "dt" | "figure" => {
                        out.push_str("\n\n");
                        render(child_el, out);
                        out.push_str("\n\n");
                    }
                    "td" | "th" => {
                        render(child_el, out);
                        out.push_str(" | ");
                    }
                    _ => render(child_el, out),
                }
            }
            _ => {}
        }
    }
}

fn is_boilerplate(e: &scraper::node::Element) -> bool {
    let marks = [e.attr("class"), e.attr("id"), e.attr("role")];
    marks.iter().flatten().any(|v| {
        let v = v.to_ascii_lowercase();
        SKIPPED_MARKERS.iter().any(|m| v.contains(m))
            || v == "navigation"
            || v == "banner"
            || v == "contentinfo"
    }) || e.attr("aria-hidden") == Some("true")
        || e.attr("hidden").is_some()
}

fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Trims every line and squeezes runs of blank lines to one.
fn tidy_blocks(s: &str) -> String {
    let mut out = String::new();
    let mut blank = 0;
    for line in s.lines().map(str::trim) {
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

/// Most pages read from one PDF: past it the admin is asked to split the file.
pub const MAX_PDF_PAGES: usize = 2_000;
/// Most bytes a PDF's compressed streams may inflate to (a 2 MB "zip bomb" inflated to 2 GB
/// and took the server's memory with it).
pub const MAX_PDF_INFLATED_BYTES: u64 = 256 * 1024 * 1024;
/// Most rows read from one CSV.
pub const MAX_CSV_ROWS: usize = 50_000;

/// Text of each page of a PDF, in order (page 1 first). A PDF with more than
/// [`MAX_PDF_PAGES`] pages, or whose streams inflate past [`MAX_PDF_INFLATED_BYTES`], is
/// refused before its text is extracted.
pub fn pdf_pages(bytes: &[u8]) -> Result<Vec<String>> {
    if !bytes.starts_with(b"%PDF") {
        return Err(Error::Malformed {
            format: "PDF",
            message: "the file does not start with %PDF".into(),
        });
    }
    check_pdf_size(bytes)?;
    // pdf-extract panics on some malformed files; a bad upload must fail its source, not the worker.
    let outcome = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem_by_pages(bytes));
    let pages = match outcome {
        Ok(Ok(pages)) => pages,
        Ok(Err(e)) => {
            let message = e.to_string();
            if message.to_lowercase().contains("encrypt") {
                return Err(Error::Encrypted);
            }
            return Err(Error::Malformed {
                format: "PDF",
                message,
            });
        }
        Err(_) => {
            return Err(Error::Malformed {
                format: "PDF",
                message: "the file could not be parsed".into(),
            });
        }
    };
    if pages.iter().all(|p| p.trim().is_empty()) {
        return Err(Error::Empty {
            what: "PDF (no extractable text; scanned PDFs need OCR first)",
        });
    }
    Ok(pages.into_iter().map(|p| tidy_blocks(&p)).collect())
}

/// Counts the pages and inflates every Flate stream into nothing, stopping at the limits, so
/// that extraction only runs on a PDF whose size is known to be bounded.
fn check_pdf_size(bytes: &[u8]) -> Result<()> {
    use std::io::Read;
    // A file lopdf cannot load is left for pdf-extract to explain.
    let Ok(doc) = lopdf::Document::load_mem(bytes) else {
        return Ok(());
    };
    let pages = doc.get_pages().len();
    if pages > MAX_PDF_PAGES {
        return Err(Error::Invalid(format!(
            "this PDF has {pages} pages; at most {MAX_PDF_PAGES} are read from one file — split it"
        )));
    }
    let mut inflated: u64 = 0;
    for object in doc.objects.values() {
        let lopdf::Object::Stream(stream) = object else {
            continue;
        };
        let flate = stream
            .filters()
            .is_ok_and(|f| f.iter().any(|f| *f == b"FlateDecode".as_slice()));
        if !flate {
            continue;
        }
        let left = MAX_PDF_INFLATED_BYTES - inflated;
        let mut decoder = flate2::read::ZlibDecoder::new(stream.content.as_slice()).take(left + 1);
        inflated += std::io::copy(&mut decoder, &mut std::io::sink()).unwrap_or(0);
        if inflated > MAX_PDF_INFLATED_BYTES {
            return Err(Error::Invalid(format!(
                "this PDF's contents inflate to more than {} MB; it cannot be read",
                MAX_PDF_INFLATED_BYTES / (1024 * 1024)
            )));
        }
    }
    Ok(())
}

pub(crate) fn too_many_rows() -> Error {
    Error::Invalid(format!(
        "this CSV has more than {MAX_CSV_ROWS} rows; at most {MAX_CSV_ROWS} are read from one file — split it"
    ))
}

/// One question and its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct QaPair {
    pub question: String,
    pub answer: String,
}

/// Question/answer pairs from a CSV with a header row. The columns are found by name
/// (`question`/`q`/`title`, `answer`/`a`/`response`/`body`), else the first two are taken.
pub fn qa_csv(bytes: &[u8]) -> Result<Vec<QaPair>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader.headers().map_err(csv_error)?.clone();
    let find = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.contains(&h.to_lowercase().as_str()))
    };
    let q = find(&["question", "questions", "q", "title", "prompt"]).unwrap_or(0);
    let a = find(&["answer", "answers", "a", "response", "body", "reply"]).unwrap_or(1);
    if headers.len() < 2 {
        return Err(Error::Malformed {
            format: "CSV",
            message: "expected a question column and an answer column".into(),
        });
    }
    let mut pairs = Vec::new();
    for (i, row) in reader.records().enumerate() {
        if i >= MAX_CSV_ROWS {
            return Err(too_many_rows());
        }
        let row = row.map_err(csv_error)?;
        let (question, answer) = (
            row.get(q).unwrap_or("").trim(),
            row.get(a).unwrap_or("").trim(),
        );
        match (question.is_empty(), answer.is_empty()) {
            (true, true) => continue,
            (false, false) => pairs.push(QaPair {
                question: question.to_owned(),
                answer: answer.to_owned(),
            }),
            _ => {
                return Err(Error::Malformed {
                    format: "CSV",
                    message: format!(
                        "row {} has a question without an answer or an answer without a question",
                        i + 2
                    ),
                });
            }
        }
    }
    if pairs.is_empty() {
        return Err(Error::Empty {
            what: "CSV (no question/answer rows)",
        });
    }
    Ok(pairs)
}

fn csv_error(e: csv::Error) -> Error {
    Error::Malformed {
        format: "CSV",
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn front_matter_values_lose_only_a_matching_pair_of_quotes() {
        let (fields, body) = super::front_matter(
            "---\ntitle: A device that shows \"Offline\"\nurl: 'https://x/y'\n---\nBody",
        );
        assert_eq!(fields["title"], "A device that shows \"Offline\"");
        assert_eq!(fields["url"], "https://x/y");
        assert_eq!(body, "Body");
    }

    use super::*;

    #[test]
    fn front_matter_gives_fields_and_body() {
        let (fields, body) = front_matter(
            "---\ntitle: \"Reset your password\"\nurl: https://help.example/reset\n---\n\n# Reset\n\nSteps.",
        );
        assert_eq!(fields["title"], "Reset your password");
        assert_eq!(fields["url"], "https://help.example/reset");
        assert_eq!(body, "# Reset\n\nSteps.");
        let (none, all) = front_matter("# No front matter");
        assert!(none.is_empty());
        assert_eq!(all, "# No front matter");
    }

    #[test]
    fn html_keeps_the_article_and_drops_the_chrome() {
        let html = r#"<html><head><title>Shipping | Help</title><link rel="canonical" href="https://help.example/shipping"></head>
            <body><header>Logo <a href="/">Home</a></header><nav><a href="/a">Menu item</a></nav>
            <div class="cookie-banner">We use cookies. <button>Accept</button></div>
            <main><article><h1>Shipping times</h1><p>Orders ship in <b>2 days</b>.</p>
            <h2>Canada</h2><ul><li>Standard: 4–8 days</li><li>Express: 2 days</li></ul>
            <script>track()</script></article></main>
            <footer>© Nimbus</footer></body></html>"#;
        let page = html_page(html);
        assert_eq!(page.title, "Shipping | Help");
        assert_eq!(
            page.canonical.as_deref(),
            Some("https://help.example/shipping")
        );
        assert_eq!(
            page.text,
            "# Shipping times\n\nOrders ship in 2 days.\n\n## Canada\n\n- Standard: 4–8 days\n- Express: 2 days"
        );
    }

    #[test]
    fn qa_csv_finds_its_columns_by_name() {
        let csv = "id,answer,question\n1,\"Within 5 days, usually.\",How long do refunds take?\n2,Yes,Do you ship to Canada?\n";
        let pairs = qa_csv(csv.as_bytes()).unwrap();
        assert_eq!(
            pairs[0],
            QaPair {
                question: "How long do refunds take?".into(),
                answer: "Within 5 days, usually.".into()
            }
        );
        assert_eq!(pairs.len(), 2);
    }

    #[test]
    fn a_half_filled_csv_row_is_a_clear_error() {
        let err = qa_csv(b"question,answer\nWhere?,\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("row 2"), "{err}");
        assert!(qa_csv(b"question,answer\n").is_err());
    }

    #[test]
    fn not_a_pdf_is_refused_without_panicking() {
        assert!(matches!(pdf_pages(b"hello"), Err(Error::Malformed { .. })));
        assert!(pdf_pages(b"%PDF-1.4\n garbage garbage").is_err());
    }

    /// A PDF of `pages` empty pages, the first with a content stream of `stream` (compressed).
    fn built_pdf(pages: usize, stream: &[u8]) -> Vec<u8> {
        use lopdf::{Dictionary, Document, Object, Stream};
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let mut content = Stream::new(Dictionary::new(), stream.to_vec());
        content.compress().expect("compressed");
        let content_id = doc.add_object(content);
        let kids: Vec<Object> = (0..pages)
            .map(|i| {
                let mut page = Dictionary::new();
                page.set("Type", "Page");
                page.set("Parent", pages_id);
                if i == 0 {
                    page.set("Contents", content_id);
                }
                doc.add_object(page).into()
            })
            .collect();
        let mut tree = Dictionary::new();
        tree.set("Type", "Pages");
        tree.set("Count", pages as i64);
        tree.set("Kids", kids);
        tree.set("MediaBox", vec![0.into(), 0.into(), 595.into(), 842.into()]);
        doc.objects.insert(pages_id, Object::Dictionary(tree));
        let mut catalog = Dictionary::new();
        catalog.set("Type", "Catalog");
        catalog.set("Pages", pages_id);
        let catalog_id = doc.add_object(catalog);
        doc.trailer.set("Root", catalog_id);
        let mut out = Vec::new();
        doc.save_to(&mut out).expect("saved");
        out
    }

    /// Found by a hostile run: a 2 MB PDF inflating to 2 GB took the server to 4.4 GB of memory,
    /// and a 50,000-page PDF ran for tens of minutes.
    #[test]
    fn a_pdf_bomb_or_a_huge_pdf_is_refused_with_a_clear_error() {
        let bomb = built_pdf(
            1,
            &vec![b' '; (MAX_PDF_INFLATED_BYTES + 1024 * 1024) as usize],
        );
        assert!(bomb.len() < 2 * 1024 * 1024, "{} bytes", bomb.len());
        let err = pdf_pages(&bomb).expect_err("refused").to_string();
        assert!(err.contains("inflate"), "{err}");

        let err = pdf_pages(&built_pdf(MAX_PDF_PAGES + 1, b"BT ET"))
            .expect_err("refused")
            .to_string();
        assert!(err.contains("split it"), "{err}");
    }

    #[test]
    fn a_csv_past_the_row_limit_is_refused_with_a_clear_error() {
        let mut csv = String::from("question,answer\n");
        for i in 0..=MAX_CSV_ROWS {
            csv.push_str(&format!("q{i},a{i}\n"));
        }
        let err = qa_csv(csv.as_bytes()).expect_err("refused").to_string();
        assert!(err.contains("split it"), "{err}");
    }

    #[test]
    fn the_demo_pdf_keeps_its_pages() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../knowledge/files/nimbus-thermostat-t2-quick-start.pdf"
        );
        let pages = pdf_pages(&std::fs::read(path).unwrap()).unwrap();
        assert_eq!(pages.len(), 3);
        assert!(pages.iter().all(|p| !p.trim().is_empty()));
    }
}
