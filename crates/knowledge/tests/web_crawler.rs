//! The website crawler against a real HTTP server on loopback: links, limits, robots.txt,
//! sitemaps, filters, conditional GET, de-duplication, failures and the private-network guard.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rapport_knowledge::Error;
use rapport_knowledge::web::{
    CrawlReport, CrawlSettings, Crawler, Page, PageOutcome, Validators, links,
};
use url::Url;

#[derive(Clone)]
enum Reply {
    Html(String),
    Typed(&'static str, String),
    Redirect(String),
    Status(u16),
    /// Streamed without a Content-Length: `n` chunks of 1 KiB.
    Stream(usize),
}

/// A tiny website whose pages the test sets, and which remembers every request.
#[derive(Clone, Default)]
struct Site {
    replies: Arc<Mutex<HashMap<String, Reply>>>,
    /// (path and query, status answered)
    hits: Arc<Mutex<Vec<(String, u16)>>>,
}

impl Site {
    fn set(&self, path: &str, reply: Reply) -> &Self {
        self.replies.lock().unwrap().insert(path.into(), reply);
        self
    }

    fn html(&self, path: &str, body: impl Into<String>) -> &Self {
        self.set(path, Reply::Html(body.into()))
    }

    fn hits_of(&self, path: &str) -> Vec<u16> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, s)| *s)
            .collect()
    }

    fn requested(&self, path: &str) -> bool {
        !self.hits_of(path).is_empty()
    }

    fn request_count(&self) -> usize {
        self.hits.lock().unwrap().len()
    }

    /// Serves the site on 127.0.0.1; returns its root URL.
    async fn serve(&self) -> Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(answer).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Url::parse(&format!("http://{addr}/")).unwrap()
    }
}

async fn answer(State(site): State<Site>, uri: Uri, headers: HeaderMap) -> Response {
    let key = uri
        .path_and_query()
        .map_or(uri.path().to_owned(), |p| p.as_str().to_owned());
    let reply = site.replies.lock().unwrap().get(&key).cloned();
    let response = match reply {
        None => StatusCode::NOT_FOUND.into_response(),
        Some(Reply::Html(body)) => {
            let mut h = DefaultHasher::new();
            body.hash(&mut h);
            let etag = format!("\"{:x}\"", h.finish());
            let matches = headers
                .get(header::IF_NONE_MATCH)
                .is_some_and(|v| v.as_bytes() == etag.as_bytes());
            if matches {
                (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response()
            } else {
                (
                    [
                        (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
                        (header::ETAG, etag),
                    ],
                    body,
                )
                    .into_response()
            }
        }
        Some(Reply::Typed(content_type, body)) => {
            ([(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Some(Reply::Redirect(to)) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
        Some(Reply::Status(code)) => StatusCode::from_u16(code).unwrap().into_response(),
        Some(Reply::Stream(n)) => {
            let chunks =
                futures::stream::iter((0..n).map(|_| Ok::<_, std::io::Error>(vec![b'a'; 1024])));
            (
                [(header::CONTENT_TYPE, "text/html")],
                Body::from_stream(chunks),
            )
                .into_response()
        }
    };
    site.hits
        .lock()
        .unwrap()
        .push((key, response.status().as_u16()));
    response
}

/// A page with a heading, some text and links.
fn page(title: &str, links: &[&str]) -> String {
    let anchors: String = links
        .iter()
        .map(|l| format!(r#"<li><a href="{l}">{l}</a></li>"#))
        .collect();
    format!(
        "<html><head><title>{title}</title></head><body><main><h1>{title}</h1>\
         <p>All about {title}.</p><ul>{anchors}</ul></main></body></html>"
    )
}

fn settings(start: &Url) -> CrawlSettings {
    CrawlSettings {
        delay: Duration::ZERO,
        timeout: Duration::from_secs(5),
        allow_private_addresses: true,
        ..CrawlSettings::new(start.clone())
    }
}

async fn crawl(settings: CrawlSettings) -> (Vec<PageOutcome>, CrawlReport) {
    crawl_with(settings, &HashMap::new()).await
}

async fn crawl_with(
    settings: CrawlSettings,
    previous: &HashMap<String, Validators>,
) -> (Vec<PageOutcome>, CrawlReport) {
    Crawler::new(settings)
        .unwrap()
        .crawl(previous, &|_, _| {})
        .await
        .unwrap()
}

fn fetched(outcomes: &[PageOutcome]) -> Vec<&Page> {
    outcomes
        .iter()
        .filter_map(|o| match o {
            PageOutcome::Fetched(p) => Some(p),
            PageOutcome::NotModified { .. } => None,
        })
        .collect()
}

/// Paths of the fetched pages, sorted.
fn paths(outcomes: &[PageOutcome]) -> Vec<String> {
    let mut paths: Vec<String> = fetched(outcomes)
        .iter()
        .map(|p| Url::parse(&p.url).unwrap().path().to_owned())
        .collect();
    paths.sort();
    paths
}

#[tokio::test]
async fn links_are_followed_to_the_depth_limit() {
    let site = Site::default();
    site.html("/", page("Home", &["/a"]))
        .html("/a", page("A", &["b"]))
        .html("/b", page("B", &["/c#part"]))
        .html("/c", page("C", &["/d"]))
        .html("/d", page("D", &[]));
    let base = site.serve().await;

    let (outcomes, report) = crawl(CrawlSettings {
        max_depth: 2,
        ..settings(&base)
    })
    .await;
    assert_eq!(paths(&outcomes), ["/", "/a", "/b"], "{report:?}");
    assert!(!site.requested("/c"));
    assert_eq!(report.fetched, 3);
    assert!(report.failed.is_empty(), "{report:?}");

    let (outcomes, _) = crawl(settings(&base)).await;
    assert_eq!(paths(&outcomes), ["/", "/a", "/b", "/c"]);
}

#[tokio::test]
async fn max_pages_stops_the_crawl_and_counts_what_was_left() {
    let site = Site::default();
    let children: Vec<String> = (0..10).map(|i| format!("/p{i}")).collect();
    let refs: Vec<&str> = children.iter().map(String::as_str).collect();
    site.html("/", page("Home", &refs));
    for (i, child) in children.iter().enumerate() {
        site.html(child, page(&format!("Page {i}"), &[]));
    }
    let base = site.serve().await;

    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    let crawler = Crawler::new(CrawlSettings {
        max_pages: 4,
        concurrency: 2,
        ..settings(&base)
    })
    .unwrap();
    let (outcomes, report) = crawler
        .crawl(&HashMap::new(), &move |done, known| {
            seen.lock().unwrap().push((done, known))
        })
        .await
        .unwrap();
    assert_eq!(report.fetched, 4, "{report:?}");
    assert_eq!(outcomes.len(), 4);
    assert_eq!(report.skipped_over_limit, 7);
    // robots.txt and the 4 pages.
    assert_eq!(site.request_count(), 5);
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 4);
    assert_eq!(calls.last(), Some(&(4, 4)));
}

#[tokio::test]
async fn robots_txt_keeps_the_crawler_out() {
    let site = Site::default();
    site.set(
        "/robots.txt",
        Reply::Typed(
            "text/plain",
            "User-agent: *\nDisallow: /private/\nAllow: /private/open\n".into(),
        ),
    )
    .html(
        "/",
        page(
            "Home",
            &["/private/a", "/private/b", "/private/open", "/public"],
        ),
    )
    .html("/private/a", page("Secret A", &[]))
    .html("/private/b", page("Secret B", &[]))
    .html("/private/open", page("Open", &[]))
    .html("/public", page("Public", &[]));
    let base = site.serve().await;

    let (outcomes, report) = crawl(settings(&base)).await;
    assert_eq!(paths(&outcomes), ["/", "/private/open", "/public"]);
    assert_eq!(report.skipped_robots, 2);
    assert!(!site.requested("/private/a") && !site.requested("/private/b"));
    assert_eq!(site.hits_of("/robots.txt").len(), 1, "read once per crawl");
}

#[tokio::test]
async fn our_own_robots_group_wins_over_star() {
    let site = Site::default();
    site.set(
        "/robots.txt",
        Reply::Typed(
            "text/plain",
            "User-agent: *\nDisallow: /\n\nUser-agent: RapportBot\nDisallow: /drafts/\n".into(),
        ),
    )
    .html("/", page("Home", &["/guide", "/drafts/x"]))
    .html("/guide", page("Guide", &[]))
    .html("/drafts/x", page("Draft", &[]));
    let base = site.serve().await;

    let (outcomes, report) = crawl(settings(&base)).await;
    assert_eq!(paths(&outcomes), ["/", "/guide"]);
    assert_eq!(report.skipped_robots, 1);
}

#[tokio::test]
async fn sitemap_indexes_lead_to_pages() {
    let site = Site::default();
    let base = site.serve().await;
    let url = |p: &str| base.join(p).unwrap().to_string();
    site.set(
        "/sitemap_index.xml",
        Reply::Typed(
            "application/xml",
            format!(
                r#"<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
                <sitemap><loc>{}</loc></sitemap><sitemap><loc>{}</loc></sitemap></sitemapindex>"#,
                url("/sitemaps/a.xml"),
                url("/sitemaps/b.xml")
            ),
        ),
    )
    .set(
        "/sitemaps/a.xml",
        Reply::Typed(
            "application/xml",
            format!(
                "<urlset><url><loc>{}</loc></url><url><loc>{}</loc></url></urlset>",
                url("/docs/1"),
                url("/docs/2")
            ),
        ),
    )
    .set(
        "/sitemaps/b.xml",
        Reply::Typed(
            "text/xml",
            format!(
                "<urlset><url><loc>{}</loc></url><url><loc>https://elsewhere.example/x</loc></url></urlset>",
                url("/docs/3")
            ),
        ),
    )
    .html("/", page("Home", &[]))
    .html("/docs/1", page("Doc 1", &[]))
    .html("/docs/2", page("Doc 2", &[]))
    .html("/docs/3", page("Doc 3", &[]));

    let (outcomes, report) = crawl(CrawlSettings {
        sitemap_url: Some(base.join("/sitemap_index.xml").unwrap()),
        max_depth: 0,
        ..settings(&base)
    })
    .await;
    assert_eq!(
        paths(&outcomes),
        ["/", "/docs/1", "/docs/2", "/docs/3"],
        "{report:?}"
    );
    assert!(report.failed.is_empty(), "{report:?}");

    // A sitemap that cannot be read fails the crawl, with the reason.
    let err = Crawler::new(CrawlSettings {
        sitemap_url: Some(base.join("/missing.xml").unwrap()),
        ..settings(&base)
    })
    .unwrap()
    .crawl(&HashMap::new(), &|_, _| {})
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Fetch { .. }), "{err}");
    assert!(err.to_string().contains("404"), "{err}");
}

#[tokio::test]
async fn sitemaps_named_in_robots_txt_seed_the_crawl() {
    let site = Site::default();
    let base = site.serve().await;
    site.set(
        "/robots.txt",
        Reply::Typed(
            "text/plain",
            format!(
                "User-agent: *\nDisallow:\nSitemap: {}\n",
                base.join("/sm.xml").unwrap()
            ),
        ),
    )
    .set(
        "/sm.xml",
        Reply::Typed(
            "application/xml",
            format!(
                "<urlset><url><loc>{}</loc></url></urlset>",
                base.join("/hidden").unwrap()
            ),
        ),
    )
    .html("/", page("Home", &[]))
    .html("/hidden", page("Hidden", &[]));

    let (outcomes, _) = crawl(settings(&base)).await;
    assert_eq!(paths(&outcomes), ["/", "/hidden"]);
}

#[tokio::test]
async fn include_and_exclude_patterns_choose_the_pages() {
    let site = Site::default();
    site.html(
        "/",
        page(
            "Home",
            &["/docs/a", "/docs/internal/x", "/blog/b", "/docs/guide/c"],
        ),
    )
    .html("/docs/a", page("Doc A", &[]))
    .html("/docs/internal/x", page("Internal", &[]))
    .html("/blog/b", page("Blog", &[]))
    .html("/docs/guide/c", page("Guide C", &[]));
    let base = site.serve().await;

    let (outcomes, report) = crawl(CrawlSettings {
        include: vec!["/docs/*".into()],
        exclude: vec!["/docs/internal/*".into()],
        ..settings(&base)
    })
    .await;
    // The start page is read for its links but is not a page of its own here.
    assert_eq!(paths(&outcomes), ["/docs/a", "/docs/guide/c"]);
    assert_eq!(report.skipped_filtered, 3, "{report:?}");
    assert!(!site.requested("/blog/b") && !site.requested("/docs/internal/x"));
}

#[tokio::test]
async fn a_second_crawl_recognises_unchanged_pages() {
    let site = Site::default();
    site.html("/", page("Home", &["/a", "/b"]))
        .html("/a", page("A", &[]))
        .html("/b", page("B", &[]));
    let base = site.serve().await;
    let settings = CrawlSettings {
        max_depth: 1,
        ..settings(&base)
    };

    let (first, report) = crawl(settings.clone()).await;
    assert_eq!(report.fetched, 3);
    let previous: HashMap<String, Validators> = fetched(&first)
        .into_iter()
        .map(|p| {
            assert!(p.validators.etag.is_some());
            (p.url.clone(), p.validators.clone())
        })
        .collect();

    site.html("/b", page("B, revised", &[]));
    let (second, report) = crawl_with(settings, &previous).await;
    assert_eq!(report.not_modified, 2, "{report:?}");
    assert_eq!(report.fetched, 1);
    let mut unchanged: Vec<String> = second
        .iter()
        .filter_map(|o| match o {
            PageOutcome::NotModified { url } => Some(url.clone()),
            PageOutcome::Fetched(_) => None,
        })
        .collect();
    unchanged.sort();
    assert_eq!(
        unchanged,
        [
            base.join("/").unwrap().to_string(),
            base.join("/a").unwrap().to_string()
        ]
    );
    assert_eq!(fetched(&second)[0].title, "B, revised");
    // The leaf was asked conditionally and answered 304; the home page (whose links were
    // needed) was fetched in full and compared.
    assert_eq!(site.hits_of("/a"), [200, 304]);
    assert_eq!(site.hits_of("/"), [200, 200]);
}

#[tokio::test]
async fn page_text_is_the_content_and_duplicates_collapse() {
    let site = Site::default();
    site.html(
        "/",
        page("Home", &["/article", "/x?ref=1", "/x?ref=2", "/same-1", "/same-2"]),
    )
    .html(
        "/article",
        r#"<html><head><title>Reset your thermostat</title><script>var tracking = "SCRIPTTEXT";</script></head>
        <body><nav><a href="/">NAVTEXT</a></nav><header>HEADERTEXT</header>
        <main><h1>Reset</h1><p>Hold the button for ten seconds.</p></main>
        <footer>FOOTERTEXT</footer></body></html>"#,
    );
    let canonical = r#"<html><head><title>Shipping</title><link rel="canonical" href="/x"></head>
        <body><main><p>Orders ship in 2 days.</p>{}</main></body></html>"#;
    site.html("/x?ref=1", canonical.replace("{}", ""))
        .html("/x?ref=2", canonical.replace("{}", "<p>Tracking 2.</p>"))
        .html("/same-1", page("Same", &[]))
        .html("/same-2", page("Same", &[]));
    let base = site.serve().await;

    let (outcomes, report) = crawl(settings(&base)).await;
    let pages = fetched(&outcomes);
    let article = pages
        .iter()
        .find(|p| p.url.ends_with("/article"))
        .expect("the article");
    assert_eq!(article.title, "Reset your thermostat");
    assert!(article.text.contains("# Reset"), "{}", article.text);
    assert!(article.text.contains("Hold the button for ten seconds."));
    for chrome in ["NAVTEXT", "HEADERTEXT", "FOOTERTEXT", "SCRIPTTEXT"] {
        assert!(
            !article.text.contains(chrome),
            "{chrome} in {}",
            article.text
        );
    }
    let shipping: Vec<_> = pages.iter().filter(|p| p.title == "Shipping").collect();
    assert_eq!(shipping.len(), 1);
    assert_eq!(shipping[0].url, base.join("/x").unwrap().to_string());
    assert_eq!(pages.iter().filter(|p| p.title == "Same").count(), 1);
    assert_eq!(report.duplicates, 2, "{report:?}");
    assert!(
        !site.requested("/x"),
        "the canonical URL is not fetched again"
    );
}

#[tokio::test]
async fn pages_that_fail_are_reported_and_the_rest_goes_on() {
    let site = Site::default();
    let base = site.serve().await;
    let other_host = format!("http://localhost:{}/elsewhere", base.port().unwrap());
    site.html(
        "/",
        page(
            "Home",
            &[
                "/ok", "/big", "/stream", "/missing", "/data", "/broken", "/offsite", "/loop",
                "/moved", "/noindex", "/nofollow", "/empty",
            ],
        ),
    )
    .html("/ok", page("OK", &[]))
    .html("/big", page(&"big ".repeat(5_000), &[]))
    .set("/stream", Reply::Stream(20))
    .set("/data", Reply::Typed("application/json", "{}".into()))
    .set("/broken", Reply::Status(500))
    .set("/offsite", Reply::Redirect(other_host))
    .set("/loop", Reply::Redirect("/loop".into()))
    .set("/moved", Reply::Redirect("/moved-here".into()))
    .html("/moved-here", page("Moved", &[]))
    .html(
        "/noindex",
        r#"<head><meta name="robots" content="noindex"></head><main><p>Hidden</p><a href="/via-noindex">x</a></main>"#,
    )
    .html("/via-noindex", page("Via noindex", &[]))
    .html(
        "/nofollow",
        r#"<head><meta name="robots" content="nofollow"></head><main><p>Shown</p><a href="/via-nofollow">x</a></main>"#,
    )
    .html("/via-nofollow", page("Via nofollow", &[]))
    .html("/empty", "<html><body><main></main></body></html>");

    let (outcomes, report) = crawl(CrawlSettings {
        max_page_bytes: 10 * 1024,
        ..settings(&base)
    })
    .await;
    assert_eq!(
        paths(&outcomes),
        ["/", "/moved-here", "/nofollow", "/ok", "/via-noindex"],
        "{report:?}"
    );
    assert!(!site.requested("/via-nofollow"));
    assert_eq!(report.skipped_robots, 1, "the noindex page");
    let error_of = |path: &str| {
        let url = base.join(path).unwrap().to_string();
        report
            .failed
            .iter()
            .find(|f| f.url == url)
            .map(|f| f.error.clone())
            .unwrap_or_else(|| panic!("{path} should have failed: {report:?}"))
    };
    assert!(error_of("/big").contains("larger than 10 KiB"));
    assert!(error_of("/stream").contains("larger than 10 KiB"));
    assert!(error_of("/missing").contains("404"));
    let status_of = |path: &str| {
        let url = base.join(path).unwrap().to_string();
        report
            .failed
            .iter()
            .find(|f| f.url == url)
            .and_then(|f| f.status)
    };
    assert_eq!(status_of("/missing"), Some(404), "a gone page says so");
    assert_eq!(status_of("/broken"), Some(500));
    assert_eq!(status_of("/big"), None);
    assert!(error_of("/data").contains("not an HTML page (application/json)"));
    assert!(error_of("/broken").contains("500"));
    assert!(error_of("/offsite").contains("off the site"));
    assert!(error_of("/loop").contains("redirects"));
    assert!(error_of("/empty").contains("no readable text"));
    assert_eq!(report.failed.len(), 8, "{report:?}");
}

#[tokio::test]
async fn the_start_url_must_work() {
    let site = Site::default();
    site.set("/gone", Reply::Status(404))
        .set("/robots.txt", Reply::Status(503));
    let base = site.serve().await;
    let err = Crawler::new(settings(&base.join("/gone").unwrap()))
        .unwrap()
        .crawl(&HashMap::new(), &|_, _| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");

    let site = Site::default();
    site.set("/gone", Reply::Status(404));
    let base = site.serve().await;
    let err = Crawler::new(settings(&base.join("/gone").unwrap()))
        .unwrap()
        .crawl(&HashMap::new(), &|_, _| {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Fetch { .. }), "{err}");
    assert!(err.to_string().contains("404"), "{err}");

    assert!(matches!(
        Crawler::new(CrawlSettings::new(
            Url::parse("ftp://example.com/").unwrap()
        )),
        Err(Error::InvalidUrl(_))
    ));
}

#[tokio::test]
async fn a_start_url_that_redirects_moves_the_site() {
    let site = Site::default();
    let base = site.serve().await;
    let moved = format!("http://localhost:{}/home", base.port().unwrap());
    site.set("/", Reply::Redirect(moved))
        .html("/home", page("Home", &["/guide"]))
        .html("/guide", page("Guide", &[]));
    let (outcomes, report) = crawl(settings(&base)).await;
    let urls: Vec<&str> = fetched(&outcomes).iter().map(|p| p.url.as_str()).collect();
    assert_eq!(urls.len(), 2, "{report:?}");
    assert!(
        urls.iter().all(|u| u.starts_with("http://localhost:")),
        "{urls:?}"
    );
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    let site = Site::default();
    site.html("/", page("Home", &[]));
    let base = site.serve().await;

    let guarded = |start: Url| CrawlSettings {
        allow_private_addresses: false,
        ..settings(&start)
    };
    let err = Crawler::new(guarded(base.clone()))
        .unwrap()
        .crawl(&HashMap::new(), &|_, _| {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Refused { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "refused to fetch {base}: 127.0.0.1 is a loopback address"
        )) && message.contains("knowledge.web.allow_private_addresses"),
        "{message}"
    );

    // A name is vetted by the resolver, at connection time.
    let by_name = Url::parse(&format!("http://localhost:{}/", base.port().unwrap())).unwrap();
    let err = Crawler::new(guarded(by_name))
        .unwrap()
        .crawl(&HashMap::new(), &|_, _| {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Refused { .. }), "{err}");
    assert!(err.to_string().contains("loopback"), "{err}");

    // The guard is on by default, and covers every private range.
    let err = Crawler::new(CrawlSettings::new(Url::parse("http://10.0.0.1/").unwrap()))
        .unwrap()
        .crawl(&HashMap::new(), &|_, _| {})
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("10.0.0.1 is a private address"),
        "{err}"
    );

    assert_eq!(site.request_count(), 0, "nothing reached the server");
}

#[tokio::test]
async fn the_crawl_can_run_on_another_task() {
    let site = Site::default();
    site.html("/", page("Home", &[]));
    let base = site.serve().await;
    let crawler = Arc::new(Crawler::new(settings(&base)).unwrap());
    let task = tokio::spawn(async move {
        let previous = HashMap::new();
        crawler
            .crawl(&previous, &|_, _| {})
            .await
            .map(|(o, _)| o.len())
    });
    assert_eq!(task.await.unwrap().unwrap(), 1);
}

#[test]
fn links_helper_resolves_against_the_page() {
    let base = Url::parse("https://help.example/docs/").unwrap();
    let found = links(
        r#"<a href="a#x">a</a><a href="/b?q=1">b</a><a href="/c.zip">c</a>"#,
        &base,
    );
    let found: Vec<&str> = found.iter().map(Url::as_str).collect();
    assert_eq!(
        found,
        ["https://help.example/docs/a", "https://help.example/b?q=1"]
    );
}
