//! Slows password guessing: after a few failed sign-ins for one e-mail address, or from one
//! client address, further tries are refused for a while. Kept in memory: a restart forgets,
//! which costs an attacker nothing they could not get by waiting.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per key within `WINDOW` before it is locked for `LOCKOUT`.
const MAX_FAILURES: u32 = 5;
const WINDOW: Duration = Duration::from_secs(15 * 60);
const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// A client address may fail more often (an office behind one NAT).
const MAX_FAILURES_PER_CLIENT: u32 = 20;
/// Entries kept at most; the oldest are dropped first.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    first: Instant,
    locked_until: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, Failures>>,
}

fn keys(email: &str, client: &str) -> [(String, u32); 2] {
    [
        (format!("email:{email}"), MAX_FAILURES),
        (format!("client:{client}"), MAX_FAILURES_PER_CLIENT),
    ]
}

impl LoginThrottle {
    /// How long this e-mail or client must wait, if locked out.
    pub fn blocked(&self, email: &str, client: &str) -> Option<Duration> {
        let now = Instant::now();
        let map = self.failures.lock().ok()?;
        keys(email, client)
            .iter()
            .filter_map(|(k, _)| map.get(k)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    pub fn failed(&self, email: &str, client: &str) {
        let now = Instant::now();
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, f| now.duration_since(f.first) < WINDOW);
        }
        for (key, max) in keys(email, client) {
            let f = map.entry(key).or_insert(Failures {
                count: 0,
                first: now,
                locked_until: None,
            });
            if now.duration_since(f.first) > WINDOW {
                *f = Failures {
                    count: 0,
                    first: now,
                    locked_until: None,
                };
            }
            f.count += 1;
            if f.count >= max {
                f.locked_until = Some(now + LOCKOUT);
            }
        }
    }

    /// A good password clears the e-mail's failures (not the client's: one right password
    /// must not reset a spray across many accounts).
    pub fn succeeded(&self, email: &str, _client: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&format!("email:{email}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_the_email_and_other_emails_stay_open() {
        let t = LoginThrottle::default();
        for _ in 0..4 {
            t.failed("ana@example.com", "10.0.0.1");
            assert!(t.blocked("ana@example.com", "10.0.0.1").is_none());
        }
        t.failed("ana@example.com", "10.0.0.1");
        let wait = t.blocked("ana@example.com", "10.0.0.2").expect("locked");
        assert!(wait > Duration::from_secs(14 * 60));
        assert!(t.blocked("bo@example.com", "10.0.0.1").is_none());
    }

    #[test]
    fn one_client_spraying_many_emails_is_locked_too() {
        let t = LoginThrottle::default();
        for i in 0..20 {
            t.failed(&format!("user{i}@example.com"), "10.9.9.9");
        }
        assert!(t.blocked("new@example.com", "10.9.9.9").is_some());
        assert!(t.blocked("new@example.com", "10.9.9.8").is_none());
    }
}
