//! The HTTP side of crawling: one guarded request at a time, bodies read under a size limit,
//! pacing between requests, and network errors turned into sentences an admin can act on.
//!
//! Redirects are not followed by reqwest: every hop has to pass the SSRF guard (and, for pages,
//! the same-site rule and robots.txt), so callers follow them here, one hop at a time.

use std::io::Read;
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Client, Response, StatusCode};
use tokio::time::Instant;
use url::Url;

use super::guard::{self, Classifier, GuardedResolver, Refusal};
use super::{Validators, normalise};

/// Redirect hops followed before giving up.
pub(crate) const MAX_REDIRECTS: usize = 5;
/// A robots.txt `Crawl-delay` above this is capped, so one line cannot stall a sync for days.
const MAX_CRAWL_DELAY: Duration = Duration::from_secs(30);

/// Why a request produced nothing usable.
#[derive(Debug, Clone)]
pub(crate) struct FetchError {
    pub(crate) message: String,
    /// Refused by the SSRF guard rather than failed.
    pub(crate) refused: bool,
    /// The HTTP status, when the server answered with an error.
    pub(crate) status: Option<u16>,
}

impl FetchError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            refused: false,
            status: None,
        }
    }

    fn refused(message: impl Into<String>) -> Self {
        Self {
            refused: true,
            ..Self::new(message)
        }
    }

    /// The server answered `status` where a page was expected.
    pub(crate) fn status(status: StatusCode) -> Self {
        Self {
            status: Some(status.as_u16()),
            ..Self::new(format!("the server answered {status}"))
        }
    }

    /// The same error, explained as happening after a redirect to `to`.
    pub(crate) fn after_redirect(self, to: &Url) -> Self {
        Self {
            message: format!("redirected to {to}: {}", self.message),
            ..self
        }
    }
}

/// The crawler's HTTP client with its guard.
pub(crate) struct Http {
    client: Client,
    classify: Option<Classifier>,
    timeout: Duration,
}

impl Http {
    /// `classify: None` turns the guard off.
    pub(crate) fn new(
        timeout: Duration,
        classify: Option<Classifier>,
    ) -> Result<Self, reqwest::Error> {
        let mut builder = Client::builder()
            .user_agent(super::USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            // Through a proxy the resolver would vet the proxy's address instead of the
            // target's, which would leave the guard blind.
            .no_proxy();
        if let Some(classify) = classify {
            builder = builder.dns_resolver(GuardedResolver {
                classify,
                hint: guard::CRAWL_HINT,
            });
        }
        Ok(Self {
            client: builder.build()?,
            classify,
            timeout,
        })
    }

    /// The guard's verdict on `url` before any connection (IP literals; names are vetted by the
    /// resolver when connecting).
    pub(crate) fn check(&self, url: &Url) -> Result<(), FetchError> {
        match self.classify {
            Some(classify) => guard::check_url(url, classify).map_err(FetchError::refused),
            None if super::is_http(url) => Ok(()),
            None => Err(FetchError::new(format!(
                "only http and https URLs can be crawled, not {}:",
                url.scheme()
            ))),
        }
    }

    /// One GET, no redirect following.
    pub(crate) async fn get(
        &self,
        url: &Url,
        accept: &'static str,
        validators: Option<&Validators>,
    ) -> Result<Response, FetchError> {
        self.check(url)?;
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(accept));
        if let Some(v) = validators {
            // A stored value that is not a valid header (it came from a server) is just not sent.
            let valid =
                |s: &Option<String>| s.as_deref().and_then(|s| HeaderValue::from_str(s).ok());
            if let Some(etag) = valid(&v.etag) {
                headers.insert(header::IF_NONE_MATCH, etag);
            }
            if let Some(date) = valid(&v.last_modified) {
                headers.insert(header::IF_MODIFIED_SINCE, date);
            }
        }
        self.client
            .get(url.clone())
            .headers(headers)
            .send()
            .await
            .map_err(|e| self.describe(&e))
    }

    /// GET following redirects (guarded, any site), for robots.txt and sitemaps. The body is read
    /// only for a success, up to `limit` bytes; past it, `truncate` keeps the first `limit`
    /// bytes instead of failing.
    pub(crate) async fn get_resource(
        &self,
        pacer: &Pacer,
        url: &Url,
        limit: usize,
        truncate: bool,
    ) -> Result<(StatusCode, Vec<u8>), FetchError> {
        let mut url = url.clone();
        for hop in 0..=MAX_REDIRECTS {
            pacer.wait().await;
            let annotate = |e: FetchError| if hop > 0 { e.after_redirect(&url) } else { e };
            let mut response = self.get(&url, "*/*", None).await.map_err(annotate)?;
            let status = response.status();
            if status.is_redirection() {
                url = redirect_target(&response, &url)?;
                continue;
            }
            if !status.is_success() {
                return Ok((status, Vec::new()));
            }
            let body = read_body(&mut response, limit, truncate)
                .await
                .map_err(|e| annotate(self.describe_body(e)))?;
            return Ok((status, body));
        }
        Err(FetchError::new(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    }

    fn describe(&self, err: &reqwest::Error) -> FetchError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
        let mut innermost = err.to_string();
        while let Some(e) = source {
            if let Some(refusal) = e.downcast_ref::<Refusal>() {
                return FetchError::refused(refusal.0.clone());
            }
            innermost = e.to_string();
            source = e.source();
        }
        FetchError::new(if err.is_timeout() {
            format!(
                "no complete answer within {} (knowledge.web.timeout)",
                human_duration(self.timeout)
            )
        } else if err.is_connect() {
            format!("could not connect: {innermost}")
        } else {
            innermost
        })
    }

    pub(crate) fn describe_body(&self, err: BodyError) -> FetchError {
        match err {
            BodyError::TooLarge(limit) => FetchError::new(format!(
                "the page is larger than {} (knowledge.web.max_page_bytes)",
                human_bytes(limit)
            )),
            BodyError::Network(e) => self.describe(&e),
        }
    }
}

/// Where a 3xx sends us, resolved and normalised.
pub(crate) fn redirect_target(response: &Response, from: &Url) -> Result<Url, FetchError> {
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            FetchError::new(format!(
                "the server answered {} without a valid Location",
                response.status()
            ))
        })?;
    from.join(location)
        .map(normalise)
        .map_err(|e| FetchError::new(format!("the redirect to {location:?} is invalid: {e}")))
}

pub(crate) enum BodyError {
    TooLarge(usize),
    Network(reqwest::Error),
}

/// The body, refused (or cut, with `truncate`) past `limit` bytes without reading further.
pub(crate) async fn read_body(
    response: &mut Response,
    limit: usize,
    truncate: bool,
) -> Result<Vec<u8>, BodyError> {
    let announced = response
        .content_length()
        .and_then(|n| usize::try_from(n).ok());
    if !truncate && announced.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut body = Vec::with_capacity(announced.unwrap_or(0).min(limit));
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Network)? {
        if body.len() + chunk.len() > limit {
            if truncate {
                let room = limit - body.len();
                body.extend_from_slice(&chunk[..room]);
                break;
            }
            return Err(BodyError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Gzip-compressed sitemaps (`.xml.gz`) are common; the output is bounded like any body.
pub(crate) fn gunzip_if_needed(body: Vec<u8>, limit: usize) -> Result<Vec<u8>, String> {
    if !body.starts_with(&[0x1f, 0x8b]) {
        return Ok(body);
    }
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::GzDecoder::new(body.as_slice())
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| format!("the compressed file cannot be read: {e}"))?;
    if out.len() > limit {
        return Err(format!(
            "the file is larger than {} uncompressed",
            human_bytes(limit)
        ));
    }
    Ok(out)
}

/// `ETag` and `Last-Modified` of a response.
pub(crate) fn validators(headers: &HeaderMap) -> Validators {
    let get = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    Validators {
        etag: get(header::ETAG),
        last_modified: get(header::LAST_MODIFIED),
    }
}

/// The media type of a `Content-Type`, lowercase, without parameters.
pub(crate) fn mime(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

pub(crate) fn is_html_mime(mime: &str) -> bool {
    mime == "text/html" || mime == "application/xhtml+xml"
}

/// For responses without a `Content-Type`: whether the body looks like an HTML document.
pub(crate) fn sniff_html(body: &[u8]) -> bool {
    let start = &body[..body.len().min(512)];
    let text = String::from_utf8_lossy(start)
        .trim_start()
        .to_ascii_lowercase();
    text.starts_with("<!doctype html") || text.starts_with("<html") || text.contains("<body")
}

/// The body as text, honouring a BOM, the header's charset or a `<meta charset>`; undeclared
/// non-UTF-8 bytes are read as Windows-1252, the usual legacy web encoding.
pub(crate) fn decode(body: &[u8], content_type: Option<&str>) -> String {
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(body) {
        return encoding
            .decode_without_bom_handling(&body[bom..])
            .0
            .into_owned();
    }
    let declared = content_type
        .and_then(charset_param)
        .or_else(|| meta_charset(body))
        .and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes()))
        // A page that says UTF-16 in ASCII is not UTF-16 (HTML spec).
        .map(|e| e.output_encoding());
    match declared {
        Some(encoding) => encoding.decode_without_bom_handling(body).0.into_owned(),
        None => match std::str::from_utf8(body) {
            Ok(text) => text.to_owned(),
            Err(_) => encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(body)
                .0
                .into_owned(),
        },
    }
}

fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches(['"', '\'']).to_owned())
    })
}

fn meta_charset(body: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(&body[..body.len().min(2048)]).to_ascii_lowercase();
    let at = head.find("charset=")? + "charset=".len();
    let value: String = head[at..]
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
        .collect();
    (!value.is_empty()).then_some(value)
}

pub(crate) fn human_bytes(n: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= MIB {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    } else if n >= 1024 {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

fn human_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Spaces the starts of requests by a delay, across all concurrent requests of one crawl.
pub(crate) struct Pacer {
    state: std::sync::Mutex<(Instant, Duration)>,
}

impl Pacer {
    pub(crate) fn new(delay: Duration) -> Self {
        Self {
            state: std::sync::Mutex::new((Instant::now(), delay)),
        }
    }

    /// Lengthens the delay to a robots.txt `Crawl-delay` (capped).
    pub(crate) fn at_least(&self, delay: Duration) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.1 = state.1.max(delay.min(MAX_CRAWL_DELAY));
    }

    /// Waits for this request's turn.
    pub(crate) async fn wait(&self) {
        let slot = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let slot = state.0.max(Instant::now());
            state.0 = slot + state.1;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_follows_declarations() {
        assert_eq!(decode("héllo".as_bytes(), None), "héllo");
        assert_eq!(decode(b"h\xe9llo", None), "héllo");
        assert_eq!(
            decode(b"h\xe9llo", Some("text/html; charset=ISO-8859-1")),
            "héllo"
        );
        assert_eq!(
            decode(b"<meta charset=\"windows-1252\">\x93q\x94", None),
            "<meta charset=\"windows-1252\">\u{201c}q\u{201d}"
        );
        assert_eq!(
            decode(b"\xef\xbb\xbfok", Some("text/html; charset=latin1")),
            "ok"
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(mime("Text/HTML; charset=utf-8"), "text/html");
        assert!(is_html_mime(&mime("application/xhtml+xml")));
        assert!(!is_html_mime(&mime("application/json")));
        assert!(sniff_html(b"  <!DOCTYPE html><html>"));
        assert!(!sniff_html(b"{\"a\":1}"));
    }

    #[test]
    fn gzip_is_bounded() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&vec![b'a'; 10_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip_if_needed(gz.clone(), 20_000).unwrap().len(), 10_000);
        assert!(gunzip_if_needed(gz, 1_000).is_err());
        assert_eq!(gunzip_if_needed(b"plain".to_vec(), 10).unwrap(), b"plain");
        assert!(gunzip_if_needed(vec![0x1f, 0x8b, 0, 0], 10).is_err());
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(5 * 1024 * 1024), "5 MiB");
        assert_eq!(human_bytes(2048), "2 KiB");
        assert_eq!(human_bytes(100), "100 bytes");
    }

    #[tokio::test]
    async fn the_pacer_spaces_request_starts() {
        let pacer = Pacer::new(Duration::from_millis(40));
        let start = Instant::now();
        pacer.wait().await;
        pacer.wait().await;
        pacer.wait().await;
        assert!(start.elapsed() >= Duration::from_millis(80));
        pacer.at_least(Duration::from_secs(3600));
        let delay = pacer.state.lock().unwrap().1;
        assert_eq!(delay, MAX_CRAWL_DELAY);
    }
}
