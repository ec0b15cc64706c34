//! Making an action's HTTP call safely: the request is rendered from the definition (host
//! fixed by the admin, values escaped), checked against the action's hosts and the SSRF guard,
//! sent with the action's timeout, and its answer read as JSON under a size cap. Redirects are
//! never followed — a shop API that redirects is a failure to look at, not a hop to trust.

use std::time::{Duration, Instant};

use futures::StreamExt;
use rapport_knowledge::web::guard::{self, GuardedResolver};
use reqwest::Client;
use serde_json::Value;
use url::Url;

use super::definition::ActionDefinition;
use super::template::{self, Escape};

/// What the refusals tell an admin to change.
const HINT: &str = "set allow_private_addresses on the action to call private networks";

/// A request ready to send.
#[derive(Debug, Clone)]
pub struct PreparedCall {
    pub method: reqwest::Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    pub timeout: Duration,
    pub max_bytes: usize,
    pub guarded: bool,
}

/// What the API answered.
#[derive(Debug, Clone)]
pub struct CallAnswer {
    pub status: u16,
    pub body: Value,
    pub latency_ms: u64,
}

/// Why a call produced nothing usable.
#[derive(Debug, Clone, PartialEq)]
pub struct CallFailure {
    /// `refused`, `timeout`, `status`, `bad_response`, `network`.
    pub kind: &'static str,
    pub message: String,
    pub status: Option<u16>,
    pub latency_ms: u64,
}

impl CallFailure {
    fn new(kind: &'static str, message: impl Into<String>) -> CallFailure {
        CallFailure {
            kind,
            message: message.into(),
            status: None,
            latency_ms: 0,
        }
    }
}

/// Renders the request of `definition` over `context` (inputs, `identity`, `customer`) with
/// the header `secrets` (`{"headers": {"Authorization": "Bearer …"}}`, already opened).
pub fn prepare(
    definition: &ActionDefinition,
    secrets: &Value,
    context: &Value,
) -> Result<PreparedCall, CallFailure> {
    let refused = |m: String| CallFailure::new("refused", m);
    let rendered = template::render(&definition.url, context, Escape::Url).map_err(refused)?;
    let url =
        Url::parse(rendered.trim()).map_err(|e| refused(format!("the URL is invalid: {e}")))?;
    let host = url.host_str().unwrap_or_default().to_lowercase();
    if !definition.hosts().contains(&host) {
        return Err(refused(format!("{host} is not one of the action's hosts")));
    }
    let guarded = !definition.allow_private_addresses;
    if guarded {
        guard::check_url_hinted(&url, guard::classify, HINT).map_err(refused)?;
    }
    let mut headers = Vec::new();
    for h in &definition.headers {
        let value = if h.secret {
            secrets["headers"][&h.name]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        } else {
            template::render(&h.value, context, Escape::Text).map_err(refused)?
        };
        headers.push((h.name.clone(), value));
    }
    let body = match &definition.body {
        Some(b) if !b.trim().is_empty() => {
            let text = template::render(b, context, Escape::Json).map_err(refused)?;
            Some(
                serde_json::from_str(&text)
                    .map_err(|e| refused(format!("the body is not JSON once filled in: {e}")))?,
            )
        }
        _ => None,
    };
    Ok(PreparedCall {
        method: definition.method.as_reqwest(),
        url,
        headers,
        body,
        timeout: Duration::from_millis(definition.timeout_ms),
        max_bytes: definition.max_response_bytes,
        guarded,
    })
}

/// The HTTP clients actions call with: one behind the SSRF guard's resolver, one without it
/// for the actions an admin allowed onto private networks.
#[derive(Clone)]
pub struct ActionHttp {
    guarded: Client,
    open: Client,
}

impl ActionHttp {
    pub fn new() -> Result<ActionHttp, String> {
        let builder = || {
            Client::builder()
                .user_agent(concat!("Rapport/", env!("CARGO_PKG_VERSION"), " (actions)"))
                .redirect(reqwest::redirect::Policy::none())
                // Through a proxy the resolver would vet the proxy, not the API.
                .no_proxy()
        };
        Ok(ActionHttp {
            guarded: builder()
                .dns_resolver(GuardedResolver {
                    classify: guard::classify,
                    hint: HINT,
                })
                .build()
                .map_err(|e| e.to_string())?,
            open: builder().build().map_err(|e| e.to_string())?,
        })
    }

    /// Sends the call and reads its JSON answer.
    pub async fn send(&self, call: &PreparedCall) -> Result<CallAnswer, CallFailure> {
        let started = Instant::now();
        let at = |mut f: CallFailure| {
            f.latency_ms = started.elapsed().as_millis() as u64;
            f
        };
        let client = if call.guarded {
            &self.guarded
        } else {
            &self.open
        };
        let mut request = client
            .request(call.method.clone(), call.url.clone())
            .timeout(call.timeout)
            .header(reqwest::header::ACCEPT, "application/json");
        for (name, value) in &call.headers {
            request = request.header(name, value);
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        let read = async {
            let response = request.send().await.map_err(network)?;
            let status = response.status();
            let json_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| t.contains("json"));
            let bytes = capped_body(response, call.max_bytes).await?;
            if !status.is_success() {
                let mut f = CallFailure::new(
                    "status",
                    format!("the API answered {status}{}", excerpt(&bytes)),
                );
                f.status = Some(status.as_u16());
                return Err(f);
            }
            if bytes.is_empty() {
                return Ok((status.as_u16(), Value::Null));
            }
            if !json_type {
                return Err(CallFailure::new(
                    "bad_response",
                    "the API did not answer JSON",
                ));
            }
            let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
                CallFailure::new("bad_response", format!("the API's JSON is invalid: {e}"))
            })?;
            Ok((status.as_u16(), body))
        };
        // reqwest's timeout covers the whole exchange, body included.
        let (status, body) = read.await.map_err(at)?;
        Ok(CallAnswer {
            status,
            body,
            latency_ms: started.elapsed().as_millis() as u64,
        })
    }
}

async fn capped_body(response: reqwest::Response, max: usize) -> Result<Vec<u8>, CallFailure> {
    if response.content_length().is_some_and(|n| n as usize > max) {
        return Err(too_large(max));
    }
    let mut stream = response.bytes_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(network)?;
        if bytes.len() + chunk.len() > max {
            return Err(too_large(max));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn too_large(max: usize) -> CallFailure {
    CallFailure::new(
        "bad_response",
        format!("the API's answer is over the action's limit of {max} bytes"),
    )
}

fn network(e: reqwest::Error) -> CallFailure {
    // The guard's refusal travels in the error's sources.
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<guard::Refusal>() {
            return CallFailure::new("refused", r.0.clone());
        }
        source = s.source();
    }
    if e.is_timeout() {
        return CallFailure::new("timeout", "the API did not answer in time");
    }
    let what = if e.is_connect() {
        "the API could not be reached"
    } else {
        "the call failed"
    };
    CallFailure::new("network", what)
}

/// The start of an error answer, for the escalation.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let cut: String = text.chars().take(160).collect();
    format!(": {cut}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn definition(url: &str) -> ActionDefinition {
        ActionDefinition::from_value(&json!({
            "url": url,
            "headers": [
                {"name": "Authorization", "secret": true},
                {"name": "X-Customer", "value": "{{ identity.phone }}"}
            ],
            "reply": "ok"
        }))
        .expect("definition")
    }

    #[test]
    fn private_and_foreign_hosts_are_refused_before_any_connection() {
        for url in [
            "http://127.0.0.1/orders",
            "http://[::ffff:127.0.0.1]/orders",
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.8/orders",
        ] {
            let err = prepare(&definition(url), &json!({}), &json!({})).expect_err(url);
            assert_eq!(err.kind, "refused", "{url}");
            assert!(err.message.contains("allow_private_addresses"), "{err:?}");
        }
        let mut d = definition("https://shop.example/orders");
        d.allowed_hosts = vec!["other.example".into()];
        assert!(prepare(&d, &json!({}), &json!({})).is_ok());
    }

    #[test]
    fn secret_headers_come_from_the_sealed_document() {
        let call = prepare(
            &definition("https://shop.example/orders"),
            &json!({"headers": {"Authorization": "Bearer s3cret"}}),
            &json!({"identity": {"phone": "+34612345678"}}),
        )
        .expect("prepared");
        assert_eq!(
            call.headers,
            vec![
                ("Authorization".to_owned(), "Bearer s3cret".to_owned()),
                ("X-Customer".to_owned(), "+34612345678".to_owned())
            ]
        );
    }
}
