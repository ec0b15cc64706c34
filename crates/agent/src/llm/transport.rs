//! The HTTP layer under async-openai, and how its errors read to the retry loop.
//!
//! async-openai's default executor retries 429s and 5xx on its own schedule and drops the
//! response headers; this service replaces it so that every attempt is ours to count and time,
//! and a failed status reaches us with its body and `Retry-After` intact.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use serde_json::Value;

use super::LlmError;
use super::error::excerpt;
use super::retry::{self, Failure};
use super::wire;

/// Sends requests with our `reqwest::Client`, turning any non-2xx answer into an
/// [`HttpFailure`] before async-openai tries to parse it.
#[derive(Clone)]
pub(super) struct StatusAware {
    pub http: reqwest::Client,
}

type ResponseFuture = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

impl tower::Service<HttpRequestFactory> for StatusAware {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: HttpRequestFactory) -> Self::Future {
        let http = self.http.clone();
        Box::pin(async move {
            let response = http.execute(request.build().await?).await?;
            if response.status().is_success() {
                return Ok(response);
            }
            let status = response.status().as_u16();
            let retry_after = retry::retry_after(response.headers());
            // The status matters more than the body; a body that breaks off is still an error.
            let body = response.text().await.unwrap_or_default();
            Err(OpenAIError::Boxed(Box::new(HttpFailure {
                status,
                retry_after,
                body,
            })))
        })
    }
}

/// A non-2xx answer, carried through async-openai as a boxed error.
#[derive(Debug, thiserror::Error)]
#[error("HTTP {status}")]
struct HttpFailure {
    status: u16,
    retry_after: Option<Duration>,
    body: String,
}

/// What an async-openai error means for the retry loop. `timeout` is the configured one, for
/// the message.
pub(super) fn classify(error: OpenAIError, timeout: Duration) -> Failure {
    match error {
        OpenAIError::Boxed(boxed) => match boxed.downcast::<HttpFailure>() {
            Ok(failure) => Failure::from_status(
                failure.status,
                &readable(&failure.body),
                failure.retry_after,
            ),
            Err(other) => Failure::retryable(LlmError::Transport(chain(other.as_ref()))),
        },
        OpenAIError::Reqwest(e) if e.is_timeout() => Failure::retryable(LlmError::Timeout {
            after: timeout,
            attempts: 1,
        }),
        OpenAIError::Reqwest(e) if e.is_builder() => Failure::fatal(LlmError::Config(chain(&e))),
        // Refused or reset connections, a body that broke off: the next try may well work.
        OpenAIError::Reqwest(e) => Failure::retryable(LlmError::Transport(chain(&e))),
        OpenAIError::JSONDeserialize(e, body) => Failure::fatal(LlmError::Malformed(format!(
            "the server's reply is not a chat completion ({e}); it began: {}",
            excerpt(&body, 300)
        ))),
        OpenAIError::StreamError(e) => {
            Failure::retryable(LlmError::Transport(format!("the event stream broke: {e}")))
        }
        // Only reached if a status slipped past `StatusAware`.
        OpenAIError::ApiError(api) => {
            Failure::from_status(api.status_code.as_u16(), &api.api_error.to_string(), None)
        }
        OpenAIError::InvalidArgument(m) => Failure::fatal(LlmError::Config(m)),
        other => Failure::fatal(LlmError::Transport(other.to_string())),
    }
}

/// The message of an OpenAI-style error body (`{"error": {"message", "type", "code"}}`) with
/// its type and code, which say whether waiting helps (`insufficient_quota` does not); any
/// other body as it is.
fn readable(body: &str) -> String {
    let Some(error) = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").cloned())
    else {
        return body.to_owned();
    };
    let mut text = wire::error_message(&error);
    for label in ["type", "code"] {
        if let Some(value) = error.get(label).and_then(Value::as_str) {
            text.push_str(&format!(" ({label}: {value})"));
        }
    }
    text
}

/// An error with its causes: reqwest's own message ("error sending request for url …") hides
/// the useful part ("connection refused") in its sources.
fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
