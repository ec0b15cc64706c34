//! What the crawler needs from a page besides its text: where it links to, and what the page
//! tells robots (`<meta name="robots">`) — `extract` deals with content, this with navigation.

use std::collections::HashSet;

use scraper::{Html, Selector};
use url::Url;

use super::{is_http, normalise};

/// Extensions of files that are not pages; fetching them would only end in a "not HTML" failure.
const NOT_PAGES: &[&str] = &[
    "7z", "apk", "atom", "avi", "bin", "bmp", "css", "csv", "deb", "dmg", "doc", "docx", "eot",
    "epub", "exe", "gif", "gz", "heic", "ico", "iso", "jpeg", "jpg", "js", "json", "m4a", "m4v",
    "map", "mjs", "mkv", "mov", "mp3", "mp4", "mpeg", "msi", "odp", "ods", "odt", "ogg", "otf",
    "pdf", "pkg", "png", "ppt", "pptx", "rar", "rpm", "rss", "svg", "tar", "tgz", "tif", "tiff",
    "ttf", "txt", "wasm", "wav", "webm", "webp", "woff", "woff2", "xls", "xlsx", "xml", "zip",
];

/// A page's navigation facts.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Navigation {
    /// `<base href>` if valid, else the page's own URL: what relative URLs resolve against.
    pub(crate) base: Option<Url>,
    pub(crate) links: Vec<Url>,
    /// `<meta name="robots" content="noindex">`: the page must not become a document.
    pub(crate) noindex: bool,
    /// `<meta name="robots" content="nofollow">`: its links must not be followed.
    pub(crate) nofollow: bool,
}

/// The pages `html` links to: `<a href>` resolved against `base` (or the page's `<base href>`),
/// http(s) only, without fragments, without `rel=nofollow` links or links to obvious non-page
/// files, each once, in page order. Off-site links are kept; the crawler decides about them.
pub fn links(html: &str, base: &Url) -> Vec<Url> {
    navigation(html, base).links
}

pub(crate) fn navigation(html: &str, page_url: &Url) -> Navigation {
    let doc = Html::parse_document(html);
    let select = |css: &str| Selector::parse(css).ok();
    let base = select("base[href]")
        .and_then(|s| doc.select(&s).next())
        .and_then(|e| e.attr("href"))
        .and_then(|href| page_url.join(href.trim()).ok())
        .filter(is_http);
    let (mut noindex, mut nofollow) = (false, false);
    if let Some(s) = select("meta[name][content]") {
        for meta in doc.select(&s) {
            let name = meta.attr("name").unwrap_or("").trim().to_ascii_lowercase();
            if name != "robots" && name != super::ROBOTS_TOKEN {
                continue;
            }
            let (i, f) = robots_directives(meta.attr("content").unwrap_or(""));
            noindex |= i;
            nofollow |= f;
        }
    }
    let resolve_against = base.as_ref().unwrap_or(page_url);
    let mut seen = HashSet::new();
    let mut links = Vec::new();
    if let Some(s) = select("a[href], area[href]") {
        for a in doc.select(&s) {
            let rel = a.attr("rel").unwrap_or("");
            if rel
                .split_ascii_whitespace()
                .any(|r| r.eq_ignore_ascii_case("nofollow"))
            {
                continue;
            }
            let href = a.attr("href").unwrap_or("").trim();
            if href.is_empty() || href.starts_with('#') {
                continue;
            }
            let Ok(url) = resolve_against.join(href) else {
                continue;
            };
            if !is_http(&url) || !looks_like_page(&url) {
                continue;
            }
            let url = normalise(url);
            if seen.insert(url.as_str().to_owned()) {
                links.push(url);
            }
        }
    }
    Navigation {
        base,
        links,
        noindex,
        nofollow,
    }
}

/// `(noindex, nofollow)` from a robots meta `content` or an `X-Robots-Tag` header value.
pub(crate) fn robots_directives(content: &str) -> (bool, bool) {
    let mut out = (false, false);
    for d in content.split([',', ' ']).map(str::trim) {
        if d.eq_ignore_ascii_case("noindex") || d.eq_ignore_ascii_case("none") {
            out.0 = true;
        }
        if d.eq_ignore_ascii_case("nofollow") || d.eq_ignore_ascii_case("none") {
            out.1 = true;
        }
    }
    out
}

fn looks_like_page(url: &Url) -> bool {
    let last = url.path().rsplit('/').next().unwrap_or("");
    match last.rsplit_once('.') {
        Some((_, ext)) => !NOT_PAGES.contains(&ext.to_ascii_lowercase().as_str()),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(urls: &[Url]) -> Vec<&str> {
        urls.iter().map(Url::as_str).collect()
    }

    #[test]
    fn links_are_resolved_cleaned_and_filtered() {
        let page = Url::parse("https://help.example/docs/start").unwrap();
        let html = r##"<a href="intro#top">Intro</a>
            <a href="/docs/intro">Again</a>
            <a href="../faq?q=1#a">FAQ</a>
            <a href="#section">Same page</a>
            <a href="mailto:help@example.com">Mail</a>
            <a href="javascript:void(0)">JS</a>
            <a href="/guide.PDF">PDF</a>
            <a href="/logo.png">Logo</a>
            <a href="/login" rel="nofollow noopener">Login</a>
            <a href="HTTPS://Other.Example:443/x">Elsewhere</a>
            <a href="http://[::1">Broken</a>
            <a>No href</a>"##;
        assert_eq!(
            strs(&links(html, &page)),
            [
                "https://help.example/docs/intro",
                "https://help.example/faq?q=1",
                "https://other.example/x"
            ]
        );
    }

    #[test]
    fn base_href_changes_resolution() {
        let page = Url::parse("https://help.example/a/b").unwrap();
        let html = r#"<head><base href="https://help.example/kb/"></head><a href="reset">R</a>"#;
        assert_eq!(strs(&links(html, &page)), ["https://help.example/kb/reset"]);
    }

    #[test]
    fn meta_robots_is_read() {
        let page = Url::parse("https://help.example/").unwrap();
        let nav = navigation(
            r#"<meta name="ROBOTS" content="noindex, nofollow"><a href="/x">x</a>"#,
            &page,
        );
        assert!(nav.noindex && nav.nofollow);
        let nav = navigation(r#"<meta name="rapportbot" content="none">"#, &page);
        assert!(nav.noindex && nav.nofollow);
        let nav = navigation(r#"<meta name="googlebot" content="noindex">"#, &page);
        assert!(!nav.noindex && !nav.nofollow);
        assert_eq!(robots_directives("index,follow"), (false, false));
    }
}
