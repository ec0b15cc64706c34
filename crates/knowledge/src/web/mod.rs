//! The website connector: crawling a business's help site (or any site it points us at) into
//! pages the pipeline can chunk and index.
//!
//! A crawler that runs inside someone's infrastructure on URLs typed by an admin is an SSRF tool
//! waiting to happen, and one that hammers a site or ignores robots.txt gets the business's IP
//! blocked. So this module is as much about what it refuses as about what it fetches:
//!
//! - [`guard`] keeps requests off private networks (loopback, RFC 1918, link-local, cloud
//!   metadata…), checked on every redirect hop and on every address a name resolves to;
//! - [`robots`] honours robots.txt (our own group first, then `*`), and `Crawl-delay`;
//! - the crawl stays on the site it was given, is bounded in depth, pages, bytes and time, and
//!   accounts for every URL it did not fetch in its [`CrawlReport`] rather than dropping it
//!   silently;
//! - unchanged pages are recognised through `ETag` / `Last-Modified` so a re-sync does not
//!   re-embed the whole site.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

mod crawl;
mod fetch;
pub mod guard;
mod html;
pub mod robots;
pub mod sitemap;

pub use crawl::Crawler;
pub use html::links;

/// Sent with every request, so site owners can recognise us and find who to contact.
pub const USER_AGENT: &str = "RapportBot/0.1 (+https://github.com/rapport-ai/rapport)";
/// The product token robots.txt groups are matched against.
pub const ROBOTS_TOKEN: &str = "rapportbot";

/// How one website source is crawled. [`CrawlSettings::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct CrawlSettings {
    /// Where the crawl starts. Only links on the same site (scheme, host and port) are followed;
    /// if the start URL itself redirects (`http` → `https`, bare domain → `www`), the site it
    /// lands on counts as the same site too.
    pub start_url: Url,
    /// Seeds the crawl with the URLs listed in this sitemap (or sitemap index), at depth 0.
    /// URLs on the sitemap's own site are accepted as well as the start URL's.
    pub sitemap_url: Option<Url>,
    /// Link hops followed from a seed; 0 fetches only the seeds.
    pub max_depth: u32,
    /// Requests for pages are bounded by this; further URLs are counted in
    /// [`CrawlReport::skipped_over_limit`].
    pub max_pages: usize,
    /// Path patterns (`*` matches anything, e.g. `/docs/*`) a page must match; empty = all.
    pub include: Vec<String>,
    /// Path patterns a page must not match; wins over `include`.
    pub exclude: Vec<String>,
    /// Simultaneous requests.
    pub concurrency: usize,
    /// Minimum time between the starts of two requests; a larger robots.txt `Crawl-delay` wins.
    pub delay: Duration,
    /// Limit for one request, from connecting to the last byte of the body.
    pub timeout: Duration,
    /// Bodies larger than this fail their page; we stop reading at the limit.
    pub max_page_bytes: usize,
    /// Turns the private-network guard off (for intranets and tests).
    pub allow_private_addresses: bool,
}

impl CrawlSettings {
    pub fn new(start_url: Url) -> Self {
        Self {
            start_url,
            sitemap_url: None,
            max_depth: 3,
            max_pages: 200,
            include: Vec::new(),
            exclude: Vec::new(),
            concurrency: 4,
            delay: Duration::from_millis(250),
            timeout: Duration::from_secs(15),
            max_page_bytes: 5 * 1024 * 1024,
            allow_private_addresses: false,
        }
    }
}

/// What an earlier sync stored for a page, for conditional GET.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    /// Whether a response carrying `current` is the version these validators describe. The
    /// entity tag decides when both sides have one; otherwise the modification date.
    pub fn same_version(&self, current: &Validators) -> bool {
        match (&self.etag, &current.etag) {
            (Some(a), Some(b)) => a == b,
            _ => {
                matches!((&self.last_modified, &current.last_modified), (Some(a), Some(b)) if a == b)
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// One crawled page, ready for chunking.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The document's identity: the page's `rel=canonical` when it is on the same site, else the
    /// URL it was finally fetched from; without fragment.
    pub url: String,
    /// Where it was fetched from (after redirects). Failures and 304s on a later crawl name this
    /// URL, not the canonical one, so the pipeline keeps it to recognise the document.
    pub fetched_url: String,
    pub title: String,
    /// Main content as Markdown-like text (see [`crate::extract::html_page`]).
    pub text: String,
    pub validators: Validators,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PageOutcome {
    Fetched(Page),
    /// The page is the version the previous sync stored under `url`.
    NotModified {
        url: String,
    },
}

/// A page the crawl could not turn into a document, and why (shown to the admin).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FailedPage {
    pub url: String,
    pub error: String,
    /// The HTTP status the server answered, when the failure is one (404, 410, 500…): tells a
    /// page that is gone from one that failed for now.
    pub status: Option<u16>,
}

/// What happened to every URL the crawl came across on the site.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct CrawlReport {
    pub fetched: usize,
    pub not_modified: usize,
    /// Disallowed by robots.txt, or marked `noindex` by the page itself.
    pub skipped_robots: usize,
    /// Left out by the include/exclude patterns.
    pub skipped_filtered: usize,
    /// Same-site URLs not fetched because `max_pages` was reached.
    pub skipped_over_limit: usize,
    /// Pages whose canonical URL or text was already seen under another URL.
    pub duplicates: usize,
    pub failed: Vec<FailedPage>,
}

/// The form URLs are compared and stored in: no fragment, no empty query. (The `url` crate
/// already lowercases hosts and drops default ports.)
pub(crate) fn normalise(mut url: Url) -> Url {
    url.set_fragment(None);
    if url.query() == Some("") {
        url.set_query(None);
    }
    url
}

pub(crate) fn is_http(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https") && url.host().is_some()
}

/// `scheme://host:port`, the unit "same site" and robots.txt are about.
pub(crate) fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Whether `text` matches `pattern` as a whole, `*` standing for any run of bytes.
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was and how much of the text it has swallowed, to backtrack to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// Include/exclude patterns, matched against the URL's path.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathFilter {
    include: Vec<String>,
    exclude: Vec<String>,
}

impl PathFilter {
    pub(crate) fn new(include: &[String], exclude: &[String]) -> Self {
        // Admins write `docs/*` as often as `/docs/*`; paths always start with `/`.
        let prepare = |patterns: &[String]| {
            patterns
                .iter()
                .map(|p| p.trim())
                .filter(|p| !p.is_empty())
                .map(|p| {
                    if p.starts_with(['/', '*']) {
                        p.to_owned()
                    } else {
                        format!("/{p}")
                    }
                })
                .collect()
        };
        Self {
            include: prepare(include),
            exclude: prepare(exclude),
        }
    }

    pub(crate) fn allows(&self, url: &Url) -> bool {
        let path = url.path().as_bytes();
        let hit = |p: &String| glob_match(p.as_bytes(), path);
        (self.include.is_empty() || self.include.iter().any(hit)) && !self.exclude.iter().any(hit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_whole_strings_with_stars() {
        assert!(glob_match(b"/docs/*", b"/docs/a/b"));
        assert!(glob_match(b"/docs/*", b"/docs/"));
        assert!(!glob_match(b"/docs/*", b"/docs"));
        assert!(!glob_match(b"/docs/*", b"/blog/docs/a"));
        assert!(glob_match(b"*.html", b"/a/b.html"));
        assert!(!glob_match(b"*.html", b"/a/b.htm"));
        assert!(glob_match(b"/a*b*c", b"/axxbyybc"));
        assert!(glob_match(b"", b""));
        assert!(glob_match(b"**", b""));
        assert!(!glob_match(b"/a", b"/ab"));
    }

    #[test]
    fn filters_exclude_wins_and_patterns_get_a_slash() {
        let f = PathFilter::new(&["docs/*".into()], &["/docs/internal/*".into()]);
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(f.allows(&u("https://x.example/docs/a")));
        assert!(!f.allows(&u("https://x.example/docs/internal/a")));
        assert!(!f.allows(&u("https://x.example/blog")));
        assert!(PathFilter::new(&[], &[]).allows(&u("https://x.example/anything")));
    }

    #[test]
    fn normalising_drops_fragments_default_ports_and_empty_queries() {
        let u = normalise(Url::parse("HTTPS://Help.Example:443/a?#top").unwrap());
        assert_eq!(u.as_str(), "https://help.example/a");
        let u = normalise(Url::parse("http://help.example:8080/a?b=1#x").unwrap());
        assert_eq!(u.as_str(), "http://help.example:8080/a?b=1");
    }

    #[test]
    fn versions_compare_by_etag_then_date() {
        let v = |e: Option<&str>, m: Option<&str>| Validators {
            etag: e.map(Into::into),
            last_modified: m.map(Into::into),
        };
        assert!(v(Some("\"1\""), None).same_version(&v(Some("\"1\""), Some("x"))));
        assert!(!v(Some("\"1\""), Some("d")).same_version(&v(Some("\"2\""), Some("d"))));
        assert!(v(None, Some("d")).same_version(&v(Some("\"2\""), Some("d"))));
        assert!(!v(None, None).same_version(&v(None, None)));
    }
}
