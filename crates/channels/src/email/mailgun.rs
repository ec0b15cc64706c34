//! Mailgun inbound routes: a route whose action forwards to a URL ending in `mime` posts the
//! raw message as `body-mime`, with `timestamp`, `token` and `signature` = hex
//! HMAC-SHA256(webhook signing key, timestamp + token).
//!
//! The signature covers the timestamp and token only, not the message: a captured request
//! could be replayed with another body. So a request must be recent ([`MAX_AGE`]), and a token
//! seen before must come with the same body ([`ReplayGuard`]): Mailgun's own retries pass,
//! a token reused for a different mail does not.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use rapport_store::Store;
use rapport_store::guards::TokenSeen;

use crate::{Error, Result};

/// How far a request's timestamp may be from our clock.
pub const MAX_AGE: chrono::Duration = chrono::Duration::minutes(15);

/// The signed fields of a Mailgun POST.
#[derive(Debug, Clone, Default)]
pub struct Signature<'a> {
    pub timestamp: Option<&'a str>,
    pub token: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Checks a Mailgun signature in constant time, and that it is at most `max_age` old (or
/// ahead of our clock).
pub fn verify(
    signing_key: &str,
    s: &Signature<'_>,
    now: DateTime<Utc>,
    max_age: chrono::Duration,
) -> Result<()> {
    let (Some(timestamp), Some(token), Some(signature)) = (s.timestamp, s.token, s.signature)
    else {
        return Err(Error::Signature("missing timestamp, token or signature"));
    };
    if signing_key.is_empty() {
        return Err(Error::Signature("no webhook signing key is configured"));
    }
    let expected =
        hex::decode(signature.trim()).map_err(|_| Error::Signature("signature is not hex"))?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(signing_key.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    mac.verify_slice(&expected)
        .map_err(|_| Error::Signature("signature does not match"))?;
    // Only a genuine timestamp is worth reading.
    let at = timestamp
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .ok_or(Error::Signature("timestamp is not a Unix time"))?;
    if (now - at).abs() > max_age {
        return Err(Error::Signature("timestamp is too old (a replay?)"));
    }
    Ok(())
}

/// The signature Mailgun would send (tests and tools).
pub fn sign(signing_key: &str, timestamp: &str, token: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(signing_key.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Remembers the tokens of recent signed requests with a digest of their message, for as long
/// as their signature is valid, so a captured token cannot carry another message. Kept in the
/// store: every node and every restart sees the same tokens.
#[derive(Debug, Clone)]
pub struct ReplayGuard {
    store: Store,
}

impl ReplayGuard {
    pub fn new(store: Store) -> Self {
        ReplayGuard { store }
    }

    /// Records `token` with `message`; refuses a token already seen with a different message.
    pub async fn check(&self, token: &str, message: &[u8], now: DateTime<Utc>) -> Result<()> {
        let digest = hex::encode(Sha256::digest(message));
        let seen = self
            .store
            .record_webhook_token("mailgun", token, &digest, now + MAX_AGE * 2, now)
            .await?;
        match seen {
            TokenSeen::New | TokenSeen::SameBody => Ok(()),
            TokenSeen::OtherBody => Err(Error::Signature("token already used for another message")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";

    fn signed(ts: &str, token: &str) -> String {
        sign(KEY, ts, token)
    }

    #[test]
    fn a_fresh_genuine_signature_verifies() {
        let now = Utc::now();
        let ts = now.timestamp().to_string();
        let token = "e0b5477167110d68991efc6b9f89f0a11066af27834600e123";
        let sig = signed(&ts, token);
        let s = Signature {
            timestamp: Some(&ts),
            token: Some(token),
            signature: Some(&sig),
        };
        assert!(verify(KEY, &s, now, MAX_AGE).is_ok());
        assert!(verify("another-key", &s, now, MAX_AGE).is_err());
        assert!(verify("", &s, now, MAX_AGE).is_err());
        let other_token = Signature {
            token: Some("x"),
            ..s.clone()
        };
        assert!(verify(KEY, &other_token, now, MAX_AGE).is_err());
        assert!(verify(KEY, &Signature::default(), now, MAX_AGE).is_err());
    }

    #[test]
    fn the_age_is_measured_against_the_given_clock() {
        // Mailgun's timestamps are Unix seconds; a request a minute old is fine, and so is a
        // clock a little behind Mailgun's.
        let ts = "1529006854";
        let sig = sign(KEY, ts, "token");
        let s = Signature {
            timestamp: Some(ts),
            token: Some("token"),
            signature: Some(&sig),
        };
        for now in [1_529_006_914, 1_529_006_800] {
            let now = DateTime::from_timestamp(now, 0).expect("time");
            assert!(verify(KEY, &s, now, MAX_AGE).is_ok());
        }
        let much_later = DateTime::from_timestamp(1_529_008_000, 0).expect("time");
        assert!(verify(KEY, &s, much_later, MAX_AGE).is_err());
    }

    #[test]
    fn an_old_signature_is_a_replay() {
        let now = Utc::now();
        let ts = (now - chrono::Duration::minutes(16))
            .timestamp()
            .to_string();
        let sig = signed(&ts, "t");
        let s = Signature {
            timestamp: Some(&ts),
            token: Some("t"),
            signature: Some(&sig),
        };
        let err = verify(KEY, &s, now, MAX_AGE).unwrap_err().to_string();
        assert!(err.contains("too old"), "{err}");
    }

    #[tokio::test]
    async fn a_token_may_come_again_only_with_the_same_message_even_after_a_restart() {
        let db = rapport_store::testing::TestDb::sqlite().await;
        let guard = ReplayGuard::new(db.store.clone());
        let now = Utc::now();
        assert!(guard.check("t1", b"mail one", now).await.is_ok());
        assert!(
            guard.check("t1", b"mail one", now).await.is_ok(),
            "Mailgun's retry"
        );
        assert!(guard.check("t1", b"mail two", now).await.is_err());
        assert!(guard.check("t2", b"mail two", now).await.is_ok());
        // A new process on the same database remembers.
        let restarted = ReplayGuard::new(db.store.clone());
        assert!(restarted.check("t1", b"mail two", now).await.is_err());
        // Once the signature would be stale anyway, the token is forgotten.
        let later = now + MAX_AGE * 3;
        assert!(restarted.check("t1", b"mail two", later).await.is_ok());
    }
}
