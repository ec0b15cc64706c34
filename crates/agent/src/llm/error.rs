use std::time::Duration;

use thiserror::Error;

/// Why a completion failed. Messages are meant for operators' logs: they say what the model
/// server did, never carry the API key (server bodies that echo it are redacted), and cut long
/// bodies short.
#[derive(Debug, Error)]
pub enum LlmError {
    #[error("the model server did not answer within {after:?} ({attempts} attempt(s))")]
    Timeout { after: Duration, attempts: u32 },
    #[error("the model server kept rate limiting (429) after {attempts} attempt(s): {body}")]
    RateLimited {
        attempts: u32,
        /// What the last 429 asked us to wait, if it said.
        retry_after: Option<Duration>,
        body: String,
    },
    #[error("the model server answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the model's reply could not be understood: {0}")]
    Malformed(String),
    #[error("could not talk to the model server: {0}")]
    Transport(String),
    #[error("invalid model settings: {0}")]
    Config(String),
}

impl LlmError {
    /// Records how many attempts were made once the retry loop gives up.
    pub(super) fn with_attempts(mut self, made: u32) -> Self {
        match &mut self {
            Self::Timeout { attempts, .. } | Self::RateLimited { attempts, .. } => *attempts = made,
            _ => {}
        }
        self
    }

    /// Replaces the key wherever a server or transport message quoted it.
    pub(super) fn redact(self, secret: Option<&str>) -> Self {
        // A very short "key" (a placeholder such as "x") would blank out ordinary words.
        let Some(secret) = secret.filter(|s| s.len() >= 4) else {
            return self;
        };
        let clean = |s: String| s.replace(secret, "[redacted]");
        match self {
            Self::RateLimited {
                attempts,
                retry_after,
                body,
            } => Self::RateLimited {
                attempts,
                retry_after,
                body: clean(body),
            },
            Self::Status { status, body } => Self::Status {
                status,
                body: clean(body),
            },
            Self::Malformed(m) => Self::Malformed(clean(m)),
            Self::Transport(m) => Self::Transport(clean(m)),
            Self::Config(m) => Self::Config(clean(m)),
            other @ Self::Timeout { .. } => other,
        }
    }
}

/// Error bodies can be whole HTML pages from a proxy; a log line needs the start.
pub(super) fn excerpt(text: &str, max_chars: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_removes_the_key_from_bodies() {
        let e = LlmError::Status {
            status: 401,
            body: "Incorrect API key provided: sk-secret-1".into(),
        }
        .redact(Some("sk-secret-1"));
        assert_eq!(
            e.to_string(),
            "the model server answered HTTP 401: Incorrect API key provided: [redacted]"
        );
    }

    #[test]
    fn excerpt_cuts_on_a_char_boundary() {
        assert_eq!(excerpt("  héllo wörld ", 4), "héll…");
        assert_eq!(excerpt("short", 10), "short");
    }
}
