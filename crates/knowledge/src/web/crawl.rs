//! The crawl itself: from the start URL (and the sitemap), breadth first, within the site and
//! the limits, into de-duplicated pages and a report that accounts for every URL met.
//!
//! The start URL is fetched on its own before anything else, because it decides two things:
//! whether the crawl can go on at all (a site that cannot be reached fails the sync instead of
//! looking empty, which would delete its documents), and which site the crawl is on (a start URL
//! that redirects from `http://example.com` to `https://www.example.com` moves the site).
//!
//! Unchanged pages are recognised through `ETag` / `Last-Modified`. Conditional requests are
//! only sent for pages whose links will not be followed: a `304` has no body, so a `304` for the
//! home page would hide the rest of the site. For the others the full page is fetched and
//! compared with the stored validators instead.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use futures::stream::{FuturesUnordered, StreamExt};
use reqwest::StatusCode;
use reqwest::header;
use url::Url;

use super::fetch::{self, FetchError, Http, MAX_REDIRECTS, Pacer};
use super::guard::{self, Classifier};
use super::html;
use super::robots::Robots;
use super::sitemap::{self, Sitemap};
use super::{
    CrawlReport, CrawlSettings, FailedPage, Page, PageOutcome, PathFilter, ROBOTS_TOKEN,
    Validators, is_http, normalise, origin,
};
use crate::{Error, Result, extract};

/// robots.txt is read up to this size (RFC 9309 asks for at least 500 KiB); the rest is ignored.
const ROBOTS_MAX_BYTES: usize = 512 * 1024;
/// The sitemap protocol's own limit for one (uncompressed) sitemap.
const SITEMAP_MAX_BYTES: usize = 50 * 1024 * 1024;
/// Sitemaps read per crawl, and how deep indexes may nest (index → index → urlset).
const MAX_SITEMAPS: usize = 50;
const MAX_SITEMAP_LEVELS: usize = 3;
/// Page URLs kept from sitemaps; more are only counted, as they could never be fetched anyway.
const MAX_SITEMAP_URLS: usize = 50_000;
const ACCEPT_HTML: &str = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1";

/// Crawls one website source. Cheap to keep: one HTTP client, reused by every crawl.
pub struct Crawler {
    settings: CrawlSettings,
    http: Http,
    filter: PathFilter,
}

impl Crawler {
    pub fn new(settings: CrawlSettings) -> Result<Self> {
        let classify = if settings.allow_private_addresses {
            None
        } else {
            Some(guard::classify as Classifier)
        };
        Self::with_guard(settings, classify)
    }

    /// `classify: None` crawls anything; tests swap in their own classifier to exercise the
    /// guard on loopback servers.
    fn with_guard(settings: CrawlSettings, classify: Option<Classifier>) -> Result<Self> {
        for url in std::iter::once(&settings.start_url).chain(&settings.sitemap_url) {
            if !is_http(url) {
                return Err(Error::InvalidUrl(format!(
                    "{url} (only http and https URLs can be crawled)"
                )));
            }
        }
        let http = Http::new(settings.timeout, classify).map_err(|e| Error::Fetch {
            url: settings.start_url.to_string(),
            message: format!("the HTTP client could not be set up: {e}"),
        })?;
        let filter = PathFilter::new(&settings.include, &settings.exclude);
        Ok(Self {
            settings,
            http,
            filter,
        })
    }

    pub fn settings(&self) -> &CrawlSettings {
        &self.settings
    }

    /// Crawls the site. `previous` holds the validators stored by the last sync, by page URL;
    /// `progress` gets (pages done, pages to do so far) after each page.
    ///
    /// Fails only when the site itself cannot be crawled: the start URL or the sitemap cannot be
    /// fetched, is refused by the private-network guard, or robots.txt cannot be read. Failures
    /// of single pages are in the report.
    pub async fn crawl(
        &self,
        previous: &HashMap<String, Validators>,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> Result<(Vec<PageOutcome>, CrawlReport)> {
        let run = Run {
            crawler: self,
            previous,
            pacer: Pacer::new(self.settings.delay),
            robots: Mutex::new(HashMap::new()),
            sites: Mutex::new(HashSet::new()),
        };
        let mut tally = Tally::default();

        let start = normalise(self.settings.start_url.clone());
        run.open_site(&start).await?;
        let mut seeds = Vec::new();
        if let Some(sitemap_url) = &self.settings.sitemap_url {
            let sitemap_url = normalise(sitemap_url.clone());
            run.open_site(&sitemap_url).await?;
            seeds = run
                .sitemap_pages(vec![sitemap_url], true, &mut tally)
                .await?;
        } else {
            // Sitemaps robots.txt points to on the same site are the owner's page list too.
            let declared: Vec<Url> = run
                .robots_of(&start)
                .map(|r| r.sitemaps().to_vec())
                .unwrap_or_default()
                .iter()
                .filter_map(|s| Url::parse(s).ok())
                .map(normalise)
                .filter(|u| origin(u) == origin(&start))
                .collect();
            if !declared.is_empty() {
                seeds = run.sitemap_pages(declared, false, &mut tally).await?;
            }
        }

        let start_admitted = tally.admit_start(&run, &start);
        for url in seeds {
            if run.is_site(&url) {
                tally.admit(&run, url, 0);
            } else {
                tracing::debug!(%url, "sitemap URL on another site ignored");
            }
        }
        if start_admitted {
            let outcome = run.fetch_page(start.clone(), 0, true).await;
            if let Outcome::Failed { error, .. } = &outcome
                && tally.frontier.is_empty()
            {
                return Err(if error.refused {
                    Error::Refused {
                        url: start.to_string(),
                        reason: error.message.clone(),
                    }
                } else {
                    Error::Fetch {
                        url: start.to_string(),
                        message: error.message.clone(),
                    }
                });
            }
            tally.record(&run, outcome, 0, true);
            progress(tally.done, tally.admitted);
        }

        let concurrency = self.settings.concurrency.max(1);
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < concurrency {
                let Some((url, depth)) = tally.frontier.pop_front() else {
                    break;
                };
                let run = &run;
                in_flight.push(async move { (run.fetch_page(url, depth, false).await, depth) });
            }
            let Some((outcome, depth)) = in_flight.next().await else {
                break;
            };
            tally.record(&run, outcome, depth, false);
            progress(tally.done, tally.admitted);
        }
        tracing::debug!(report = ?tally.report, "crawl finished");
        Ok((tally.outcomes, tally.report))
    }
}

/// What one crawl shares between its concurrent requests.
struct Run<'a> {
    crawler: &'a Crawler,
    previous: &'a HashMap<String, Validators>,
    pacer: Pacer,
    /// robots.txt by origin, read once per crawl.
    robots: Mutex<HashMap<String, Arc<Robots>>>,
    /// Origins links may lead to.
    sites: Mutex<HashSet<String>>,
}

/// How fetching one page ended.
enum Outcome {
    Page {
        /// Where the page was finally fetched from, after redirects.
        url: Url,
        validators: Validators,
        parsed: Parsed,
    },
    NotModified {
        url: Url,
    },
    /// A redirect led to a URL robots.txt disallows.
    Robots,
    Failed {
        /// The URL that was asked for, which is the one the admin can find on the site.
        url: Url,
        error: FetchError,
    },
}

/// What a page gives the crawl, extracted off the async runtime.
struct Parsed {
    title: String,
    text: String,
    canonical: Option<Url>,
    links: Vec<Url>,
    noindex: bool,
    nofollow: bool,
}

impl Run<'_> {
    fn http(&self) -> &Http {
        &self.crawler.http
    }

    fn settings(&self) -> &CrawlSettings {
        &self.crawler.settings
    }

    /// Makes `url`'s site part of the crawl: guard check and robots.txt. Failing here fails the
    /// crawl, since it is the start URL's or the sitemap's own site.
    async fn open_site(&self, url: &Url) -> Result<()> {
        let fail = |e: FetchError| {
            if e.refused {
                Error::Refused {
                    url: url.to_string(),
                    reason: e.message,
                }
            } else {
                Error::Fetch {
                    url: url.to_string(),
                    message: format!("robots.txt could not be read: {}", e.message),
                }
            }
        };
        self.http().check(url).map_err(fail)?;
        self.robots_for(url).await.map_err(fail)?;
        self.add_site(url);
        Ok(())
    }

    fn add_site(&self, url: &Url) {
        lock(&self.sites).insert(origin(url));
    }

    fn is_site(&self, url: &Url) -> bool {
        lock(&self.sites).contains(&origin(url))
    }

    fn robots_of(&self, url: &Url) -> Option<Arc<Robots>> {
        lock(&self.robots).get(&origin(url)).cloned()
    }

    /// robots.txt of `url`'s site, fetched on first use. An unreachable or failing (5xx, 429)
    /// robots.txt is an error: RFC 9309 says to crawl nothing then, and failing lets the sync
    /// keep what it had instead of dropping a site that is only down.
    async fn robots_for(&self, url: &Url) -> Result<Arc<Robots>, FetchError> {
        if let Some(robots) = self.robots_of(url) {
            return Ok(robots);
        }
        let robots_url = url
            .join("/robots.txt")
            .map_err(|e| FetchError::new(e.to_string()))?;
        let (status, body) = self
            .http()
            .get_resource(&self.pacer, &robots_url, ROBOTS_MAX_BYTES, true)
            .await?;
        let robots = if status.is_success() {
            Robots::parse(&String::from_utf8_lossy(&body), ROBOTS_TOKEN)
        } else if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(FetchError::new(format!(
                "the server answered {status} for {robots_url}; try again later"
            )));
        } else {
            // 4xx: there are no rules.
            Robots::allow_all()
        };
        if let Some(delay) = robots.crawl_delay() {
            self.pacer.at_least(delay);
        }
        let robots = Arc::new(robots);
        lock(&self.robots).insert(origin(url), robots.clone());
        Ok(robots)
    }

    fn robots_allow(&self, url: &Url) -> bool {
        // Every site in `sites` had its robots.txt read first.
        self.robots_of(url).is_none_or(|r| r.allowed(url))
    }

    /// Page URLs listed by `roots` and the sitemaps they index. A root that cannot be read
    /// fails the crawl when `required` (it is the configured sitemap); other failures are
    /// reported.
    async fn sitemap_pages(
        &self,
        roots: Vec<Url>,
        required: bool,
        tally: &mut Tally,
    ) -> Result<Vec<Url>> {
        let mut queue: VecDeque<(Url, usize)> = roots.into_iter().map(|u| (u, 0)).collect();
        let mut visited = HashSet::new();
        let mut pages = Vec::new();
        let mut read = 0;
        while let Some((url, level)) = queue.pop_front() {
            if !visited.insert(url.to_string()) {
                continue;
            }
            if read == MAX_SITEMAPS {
                let e = format!("not read: a crawl reads at most {MAX_SITEMAPS} sitemaps");
                tally.fail(&url, FetchError::new(e));
                continue;
            }
            read += 1;
            let listed = match self.read_sitemap(&url).await {
                Ok(listed) => listed,
                Err(e) if required && level == 0 => {
                    return Err(if e.refused {
                        Error::Refused {
                            url: url.to_string(),
                            reason: e.message,
                        }
                    } else {
                        Error::Fetch {
                            url: url.to_string(),
                            message: e.message,
                        }
                    });
                }
                Err(e) => {
                    tally.fail(&url, e);
                    continue;
                }
            };
            match listed {
                Sitemap::Index(children) if level + 1 < MAX_SITEMAP_LEVELS => {
                    let children = children
                        .iter()
                        .filter_map(|c| url.join(c).ok())
                        .filter(is_http)
                        .map(normalise);
                    queue.extend(children.map(|c| (c, level + 1)));
                }
                Sitemap::Index(_) => {
                    let e = format!(
                        "not read: sitemap indexes nest deeper than {MAX_SITEMAP_LEVELS} levels"
                    );
                    tally.fail(&url, FetchError::new(e));
                }
                Sitemap::Pages(locs) => {
                    if locs.is_empty() {
                        tally.fail(&url, FetchError::new("the sitemap lists no pages"));
                    }
                    for loc in locs {
                        let Some(page) = url.join(&loc).ok().filter(is_http).map(normalise) else {
                            continue;
                        };
                        if pages.len() < MAX_SITEMAP_URLS {
                            pages.push(page);
                        } else {
                            tally.report.skipped_over_limit += 1;
                        }
                    }
                }
            }
        }
        Ok(pages)
    }

    async fn read_sitemap(&self, url: &Url) -> Result<Sitemap, FetchError> {
        self.http().check(url)?;
        let (status, body) = self
            .http()
            .get_resource(&self.pacer, url, SITEMAP_MAX_BYTES, false)
            .await?;
        if !status.is_success() {
            return Err(FetchError::status(status));
        }
        let body = fetch::gunzip_if_needed(body, SITEMAP_MAX_BYTES).map_err(FetchError::new)?;
        let text = fetch::decode(&body, None);
        tokio::task::spawn_blocking(move || sitemap::parse(&text))
            .await
            .map_err(|_| FetchError::new("the sitemap could not be parsed"))
    }

    /// Fetches one page, following redirects by hand so every hop is checked: guard, same site
    /// (except for the start URL, whose redirects move the site), robots.txt.
    async fn fetch_page(&self, requested: Url, depth: u32, is_start: bool) -> Outcome {
        let fail = |error: FetchError, at: &Url, hop: usize| Outcome::Failed {
            url: requested.clone(),
            error: if hop > 0 {
                error.after_redirect(at)
            } else {
                error
            },
        };
        let mut url = requested.clone();
        for hop in 0..=MAX_REDIRECTS {
            if hop > 0 {
                if let Err(e) = self.http().check(&url) {
                    return fail(e, &url, hop);
                }
                if !is_start && !self.is_site(&url) {
                    let e = FetchError::new("that is off the site being crawled");
                    return fail(e, &url, hop);
                }
                match self.robots_for(&url).await {
                    Ok(robots) if robots.allowed(&url) => {}
                    Ok(_) => return Outcome::Robots,
                    Err(e) => return fail(e, &url, hop),
                }
                if is_start {
                    self.add_site(&url);
                }
            }
            // A 304 has no links to follow, so only pages at the depth limit are asked
            // conditionally (see the module doc).
            let conditional = (depth >= self.settings().max_depth)
                .then(|| self.previous.get(url.as_str()))
                .flatten()
                .filter(|v| !v.is_empty());
            self.pacer.wait().await;
            let mut response = match self.http().get(&url, ACCEPT_HTML, conditional).await {
                Ok(response) => response,
                Err(e) => return fail(e, &url, hop),
            };
            let status = response.status();
            if status == StatusCode::NOT_MODIFIED && conditional.is_some() {
                return Outcome::NotModified { url };
            }
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                match fetch::redirect_target(&response, &url) {
                    Ok(next) => {
                        url = next;
                        continue;
                    }
                    Err(e) => return fail(e, &url, hop),
                }
            }
            if !status.is_success() {
                return fail(FetchError::status(status), &url, hop);
            }
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if let Some(mime) = content_type.as_deref().map(fetch::mime)
                && !fetch::is_html_mime(&mime)
            {
                let e = FetchError::new(format!("not an HTML page ({mime})"));
                return fail(e, &url, hop);
            }
            let validators = fetch::validators(response.headers());
            let (header_noindex, header_nofollow) = x_robots_tag(response.headers());
            let max = self.settings().max_page_bytes;
            let body = match fetch::read_body(&mut response, max, false).await {
                Ok(body) => body,
                Err(e) => return fail(self.http().describe_body(e), &url, hop),
            };
            if content_type.is_none() && !fetch::sniff_html(&body) {
                let e = FetchError::new("not an HTML page (no Content-Type)");
                return fail(e, &url, hop);
            }
            let page_url = url.clone();
            let parsed = tokio::task::spawn_blocking(move || {
                parse(&body, content_type.as_deref(), &page_url)
            })
            .await;
            let Ok(mut parsed) = parsed else {
                return fail(FetchError::new("the page could not be parsed"), &url, hop);
            };
            parsed.noindex |= header_noindex;
            parsed.nofollow |= header_nofollow;
            return Outcome::Page {
                url,
                validators,
                parsed,
            };
        }
        let e = FetchError::new(format!("more than {MAX_REDIRECTS} redirects"));
        Outcome::Failed {
            url: requested,
            error: e,
        }
    }
}

fn parse(body: &[u8], content_type: Option<&str>, url: &Url) -> Parsed {
    let html = fetch::decode(body, content_type);
    let page = extract::html_page(&html);
    let nav = html::navigation(&html, url);
    let base = nav.base.as_ref().unwrap_or(url);
    let canonical = page
        .canonical
        .and_then(|c| base.join(&c).ok())
        .filter(is_http)
        .map(normalise);
    Parsed {
        title: page.title,
        text: page.text,
        canonical,
        links: nav.links,
        noindex: nav.noindex,
        nofollow: nav.nofollow,
    }
}

/// `X-Robots-Tag` directives meant for every crawler or for us.
fn x_robots_tag(headers: &header::HeaderMap) -> (bool, bool) {
    let mut out = (false, false);
    for value in headers.get_all("x-robots-tag") {
        let Ok(value) = value.to_str() else { continue };
        // "googlebot: noindex" addresses another crawler; "noindex" everyone.
        let directives = match value.split_once(':') {
            Some((agent, rest)) if agent.trim().eq_ignore_ascii_case(ROBOTS_TOKEN) => rest,
            Some((agent, _)) if !agent.contains(',') => continue,
            _ => value,
        };
        let (noindex, nofollow) = html::robots_directives(directives);
        out.0 |= noindex;
        out.1 |= nofollow;
    }
    out
}

/// The crawl's bookkeeping, owned by the loop that drives the requests.
#[derive(Default)]
struct Tally {
    frontier: VecDeque<(Url, u32)>,
    /// URLs met so far, so that each is considered once.
    seen: HashSet<String>,
    /// Page requests allowed so far (bounded by `max_pages`).
    admitted: usize,
    done: usize,
    /// Document URLs already produced.
    emitted: HashSet<String>,
    /// Hashes of the texts already produced.
    texts: HashSet<u64>,
    outcomes: Vec<PageOutcome>,
    report: CrawlReport,
}

impl Tally {
    fn fail(&mut self, url: &Url, error: FetchError) {
        self.report.failed.push(FailedPage {
            url: url.to_string(),
            error: error.message,
            status: error.status,
        });
    }

    /// The start URL is fetched for its links even when the include/exclude patterns leave it
    /// out — otherwise `/` with `include: ["/docs/*"]` would crawl nothing.
    fn admit_start(&mut self, run: &Run<'_>, url: &Url) -> bool {
        self.seen.insert(url.to_string());
        if !run.robots_allow(url) {
            self.report.skipped_robots += 1;
            return false;
        }
        if self.admitted >= run.settings().max_pages {
            self.report.skipped_over_limit += 1;
            return false;
        }
        self.admitted += 1;
        true
    }

    fn admit(&mut self, run: &Run<'_>, url: Url, depth: u32) {
        if !run.is_site(&url) || !self.seen.insert(url.to_string()) {
            return;
        }
        if !run.crawler.filter.allows(&url) {
            self.report.skipped_filtered += 1;
        } else if !run.robots_allow(&url) {
            self.report.skipped_robots += 1;
        } else if self.admitted >= run.settings().max_pages {
            self.report.skipped_over_limit += 1;
        } else {
            self.admitted += 1;
            self.frontier.push_back((url, depth));
        }
    }

    fn record(&mut self, run: &Run<'_>, outcome: Outcome, depth: u32, is_start: bool) {
        self.done += 1;
        let (url, validators, parsed) = match outcome {
            Outcome::Robots => {
                self.report.skipped_robots += 1;
                return;
            }
            Outcome::Failed { url, error } => {
                tracing::debug!(%url, error = %error.message, "page failed");
                self.fail(&url, error);
                return;
            }
            Outcome::NotModified { url } => {
                if self.emitted.insert(url.to_string()) {
                    self.report.not_modified += 1;
                    self.outcomes
                        .push(PageOutcome::NotModified { url: url.into() });
                } else {
                    self.report.duplicates += 1;
                }
                return;
            }
            Outcome::Page {
                url,
                validators,
                parsed,
            } => (url, validators, parsed),
        };
        self.seen.insert(url.to_string());
        let id = parsed
            .canonical
            .filter(|c| run.is_site(c))
            .unwrap_or_else(|| url.clone());
        // The canonical URL is this document; fetching it again would only find a duplicate.
        self.seen.insert(id.to_string());
        if !parsed.nofollow && depth < run.settings().max_depth {
            for link in parsed.links {
                self.admit(run, link, depth + 1);
            }
        }
        if parsed.noindex {
            self.report.skipped_robots += 1;
            return;
        }
        if is_start && !run.crawler.filter.allows(&url) {
            self.report.skipped_filtered += 1;
            return;
        }
        if !self.emitted.insert(id.to_string()) {
            self.report.duplicates += 1;
            return;
        }
        if parsed.text.trim().is_empty() {
            let e = "the page has no readable text (is its content rendered by JavaScript?)";
            self.fail(&id, FetchError::new(e));
            return;
        }
        let mut hasher = DefaultHasher::new();
        parsed.text.hash(&mut hasher);
        if !self.texts.insert(hasher.finish()) {
            self.report.duplicates += 1;
            return;
        }
        let id = id.to_string();
        if run
            .previous
            .get(&id)
            .is_some_and(|p| p.same_version(&validators))
        {
            self.report.not_modified += 1;
            self.outcomes.push(PageOutcome::NotModified { url: id });
            return;
        }
        self.report.fetched += 1;
        self.outcomes.push(PageOutcome::Fetched(Page {
            url: id,
            fetched_url: url.to_string(),
            title: parsed.title,
            text: parsed.text,
            validators,
        }));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded data stays consistent across a panic elsewhere (plain inserts).
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    use axum::Router;
    use axum::http::{StatusCode as Status, header as h};
    use axum::response::IntoResponse;
    use axum::routing::get;

    use super::*;

    /// Plays the guard for tests: 127.0.0.1 (the test server) passes, 127.0.0.2 does not.
    fn refuse_127_0_0_2(ip: IpAddr) -> Option<&'static str> {
        (ip == IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))).then_some("a loopback address")
    }

    async fn serve(router: Router) -> Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Url::parse(&format!("http://{addr}/")).unwrap()
    }

    fn html(body: &'static str) -> impl IntoResponse {
        ([(h::CONTENT_TYPE, "text/html")], body)
    }

    fn settings(start: Url) -> CrawlSettings {
        CrawlSettings {
            delay: Duration::ZERO,
            timeout: Duration::from_secs(5),
            ..CrawlSettings::new(start)
        }
    }

    #[tokio::test]
    async fn every_redirect_hop_passes_the_guard() {
        let port_holder = std::sync::Arc::new(std::sync::OnceLock::<u16>::new());
        let p = port_holder.clone();
        let router = Router::new()
            .route(
                "/",
                get(|| async {
                    html(r#"<main><p>Home</p><a href="/go">go</a><a href="/ok">ok</a></main>"#)
                }),
            )
            .route(
                "/ok",
                get(|| async { html("<main><p>Fine page</p></main>") }),
            )
            .route(
                "/go",
                get(move || {
                    let port = p.get().copied().unwrap_or(0);
                    async move {
                        (
                            Status::FOUND,
                            [(h::LOCATION, format!("http://127.0.0.2:{port}/secret"))],
                        )
                    }
                }),
            );
        let base = serve(router).await;
        port_holder.set(base.port().unwrap()).unwrap();
        let crawler = Crawler::with_guard(settings(base.clone()), Some(refuse_127_0_0_2)).unwrap();
        let (pages, report) = crawler.crawl(&HashMap::new(), &|_, _| {}).await.unwrap();
        assert_eq!(pages.len(), 2, "{report:?}");
        assert_eq!(report.failed.len(), 1, "{report:?}");
        let failed = &report.failed[0];
        assert_eq!(failed.url, base.join("/go").unwrap().as_str());
        assert!(
            failed.error.contains("redirected to http://127.0.0.2")
                && failed.error.contains("127.0.0.2 is a loopback address"),
            "{failed:?}"
        );
    }

    #[tokio::test]
    async fn a_start_url_redirecting_to_a_refused_address_fails_the_crawl() {
        let router = Router::new().route(
            "/",
            get(|| async {
                (
                    Status::MOVED_PERMANENTLY,
                    [(h::LOCATION, "http://127.0.0.2/")],
                )
            }),
        );
        let base = serve(router).await;
        let crawler = Crawler::with_guard(settings(base), Some(refuse_127_0_0_2)).unwrap();
        let err = crawler
            .crawl(&HashMap::new(), &|_, _| {})
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Refused { .. }), "{err}");
        assert!(err.to_string().contains("loopback"), "{err}");
    }
}
