//! Helpers every channel's sender shares; the contract itself ([`Delivery`], [`ChannelSender`])
//! is in `rapport_core::outbound`, because the store builds deliveries too.

pub use rapport_core::outbound::{ChannelSender, Delivery, SendError, Sent};

/// A network failure of a request to a provider: time-outs and connection errors are worth a
/// retry, anything else (a bad URL, a body that cannot be built) is not.
pub fn request_error(what: &str, e: &reqwest::Error) -> SendError {
    if e.is_timeout() || e.is_connect() || e.is_request() || e.is_body() {
        SendError::transient(format!("{what}: {e}"))
    } else {
        SendError::permanent(format!("{what}: {e}"))
    }
}

/// A provider's `Retry-After` in seconds, when it sent one.
pub fn retry_after(response: &reqwest::Response) -> Option<std::time::Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_secs)
}

/// The sender of a channel whose client reads our replies from Rapport itself (the web widget's
/// event stream, an integration that polls the API): nothing to send, the message is available
/// as soon as it is stored.
pub struct ReadByClient(pub rapport_core::domain::Channel);

#[async_trait::async_trait]
impl ChannelSender for ReadByClient {
    fn channel(&self) -> rapport_core::domain::Channel {
        self.0
    }

    async fn send(&self, _: &Delivery) -> Result<Sent, SendError> {
        Ok(Sent::sent(None))
    }
}

/// Splits `text` into parts of at most `max_chars` characters, at paragraph, line, sentence or
/// word boundaries where one falls in the second half of a part, so a long answer reaches a
/// channel with a length limit (WhatsApp 4,096, Instagram 1,000) as readable messages.
pub fn split_text(text: &str, max_chars: usize) -> Vec<String> {
    let max_chars = max_chars.max(1);
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while rest.chars().count() > max_chars {
        let cut = rest
            .char_indices()
            .nth(max_chars)
            .map_or(rest.len(), |(i, _)| i);
        let window = &rest[..cut];
        let half = window.len() / 2;
        let boundary = ["\n\n", "\n", ". ", "! ", "? ", " "]
            .iter()
            .find_map(|sep| {
                window
                    .rfind(sep)
                    .filter(|&i| i >= half)
                    .map(|i| i + sep.len())
            })
            .unwrap_or(cut);
        let (head, tail) = rest.split_at(boundary);
        parts.push(head.trim_end().to_owned());
        rest = tail.trim_start();
    }
    if !rest.is_empty() || parts.is_empty() {
        parts.push(rest.to_owned());
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split_text("Hello there.", 100), vec!["Hello there."]);
    }

    #[test]
    fn long_text_splits_at_sentence_boundaries_within_the_limit() {
        let text = "First sentence is here. Second sentence follows it. Third one ends it.";
        let parts = split_text(text, 30);
        assert!(parts.iter().all(|p| p.chars().count() <= 30), "{parts:?}");
        assert_eq!(parts[0], "First sentence is here.");
        assert_eq!(parts.join(" "), text);
    }

    #[test]
    fn a_word_longer_than_the_limit_is_cut_and_multibyte_text_stays_whole() {
        let text = "ééééééééééééééééééééé";
        let parts = split_text(text, 8);
        assert!(parts.iter().all(|p| p.chars().count() <= 8));
        assert_eq!(parts.concat(), text);
    }
}
