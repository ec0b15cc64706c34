//! When to try a request again, and how long to wait first.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::time::Duration;

use reqwest::header::HeaderMap;

use super::LlmError;
use super::error::excerpt;

/// No single wait grows past this: a chat customer is waiting on the other end.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What one failed HTTP attempt tells the retry loop.
#[derive(Debug)]
pub(super) struct Failure {
    pub error: LlmError,
    pub retryable: bool,
    /// The server's own `Retry-After`, which beats our guess.
    pub retry_after: Option<Duration>,
}

impl Failure {
    pub fn retryable(error: LlmError) -> Self {
        Self {
            error,
            retryable: true,
            retry_after: None,
        }
    }

    pub fn fatal(error: LlmError) -> Self {
        Self {
            error,
            retryable: false,
            retry_after: None,
        }
    }

    /// 429, 408 and 5xx are worth another try; other statuses (400, 401, 404, …) would fail the
    /// same way again.
    pub fn from_status(status: u16, body: &str, retry_after: Option<Duration>) -> Self {
        let body = excerpt(body, 500);
        if status == 429 {
            // OpenAI answers 429 for an exhausted budget too; waiting does not refill it.
            let out_of_quota = body.contains("insufficient_quota");
            return Self {
                error: LlmError::RateLimited {
                    attempts: 1,
                    retry_after,
                    body,
                },
                retryable: !out_of_quota,
                retry_after,
            };
        }
        Self {
            error: LlmError::Status { status, body },
            retryable: status == 408 || (500..=599).contains(&status),
            retry_after,
        }
    }
}

/// Bounded exponential backoff with jitter, so that many conversations hitting a 429 at once do
/// not come back in lockstep.
#[derive(Debug)]
pub(super) struct Backoff {
    initial: Duration,
    max_attempts: u32,
    made: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max_attempts: u32) -> Self {
        Self {
            initial,
            max_attempts: max_attempts.max(1),
            made: 0,
        }
    }

    /// Counts an attempt about to be made; returns its number, from 1.
    pub fn start_attempt(&mut self) -> u32 {
        self.made += 1;
        self.made
    }

    pub fn attempts(&self) -> u32 {
        self.made
    }

    /// The wait before the next attempt, or `None` to give up with this failure.
    pub fn next_delay(&self, failure: &Failure) -> Option<Duration> {
        if !failure.retryable || self.made >= self.max_attempts {
            return None;
        }
        if let Some(asked) = failure.retry_after {
            // Asked to wait longer than we would ever wait: retrying sooner only earns more 429s.
            return (asked <= MAX_BACKOFF).then_some(asked);
        }
        let doubled = self
            .initial
            .saturating_mul(1u32 << (self.made - 1).min(20))
            .min(MAX_BACKOFF);
        Some(doubled / 2 + jitter(doubled / 2))
    }
}

/// A random duration in `0..=max`, without a random-number crate: `RandomState` is seeded
/// randomly per instance.
fn jitter(max: Duration) -> Duration {
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    let random = RandomState::new().build_hasher().finish();
    Duration::from_nanos(random % (nanos + 1))
}

/// `retry-after-ms` (Azure, OpenAI) or `retry-after` in seconds; an HTTP date is ignored.
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| -> Option<f64> {
        let value = headers
            .get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()?;
        (value.is_finite() && value >= 0.0).then_some(value)
    };
    if let Some(ms) = number("retry-after-ms") {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    number("retry-after").map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error() -> Failure {
        Failure::from_status(503, "overloaded", None)
    }

    #[test]
    fn backoff_doubles_with_jitter_and_stops_at_max_attempts() {
        let mut backoff = Backoff::new(Duration::from_millis(100), 3);
        backoff.start_attempt();
        let first = backoff.next_delay(&server_error()).unwrap();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        backoff.start_attempt();
        let second = backoff.next_delay(&server_error()).unwrap();
        assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
        backoff.start_attempt();
        assert_eq!(backoff.next_delay(&server_error()), None);
    }

    #[test]
    fn retry_after_overrides_backoff_unless_it_is_too_long() {
        let mut backoff = Backoff::new(Duration::from_millis(100), 3);
        backoff.start_attempt();
        let asked = Failure::from_status(429, "slow down", Some(Duration::from_millis(1500)));
        assert_eq!(
            backoff.next_delay(&asked),
            Some(Duration::from_millis(1500))
        );
        let too_long = Failure::from_status(429, "slow down", Some(Duration::from_secs(600)));
        assert_eq!(backoff.next_delay(&too_long), None);
    }

    #[test]
    fn client_errors_and_exhausted_quota_are_not_retried() {
        let backoff = {
            let mut b = Backoff::new(Duration::from_millis(1), 5);
            b.start_attempt();
            b
        };
        for status in [400, 401, 403, 404, 422] {
            assert_eq!(
                backoff.next_delay(&Failure::from_status(status, "", None)),
                None
            );
        }
        let quota = Failure::from_status(429, r#"{"error":{"type":"insufficient_quota"}}"#, None);
        assert_eq!(backoff.next_delay(&quota), None);
        assert!(
            backoff
                .next_delay(&Failure::from_status(408, "", None))
                .is_some()
        );
    }

    #[test]
    fn retry_after_headers_are_read_in_ms_or_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
        let mut dated = HeaderMap::new();
        dated.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&dated), None);
    }
}
