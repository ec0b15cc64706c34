//! Slows password guessing: a few sign-in attempts per e-mail address, and more per client
//! address, in a window; further tries wait for the window to end. Each attempt is counted in
//! the shared store *before* its password is checked (one atomic statement), so sixty guesses
//! sent at once get no more tries than sixty sent one by one, on one node or several, and a
//! restart forgets nothing.

use std::time::Duration;

use chrono::Utc;
use rapport_store::Store;

use crate::Result;

/// Attempts allowed per e-mail address within `WINDOW`.
const MAX_ATTEMPTS: i64 = 5;
/// A client address may try more often (an office behind one NAT).
const MAX_ATTEMPTS_PER_CLIENT: i64 = 20;
const WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone)]
pub struct LoginThrottle {
    store: Store,
}

fn keys(email: &str, client: &str) -> [(String, i64); 2] {
    [
        (format!("email:{email}"), MAX_ATTEMPTS),
        (format!("client:{client}"), MAX_ATTEMPTS_PER_CLIENT),
    ]
}

impl LoginThrottle {
    pub fn new(store: Store) -> Self {
        LoginThrottle { store }
    }

    /// Counts an attempt for this e-mail and client; `Err` says how long until one may try
    /// again.
    pub async fn attempt(&self, email: &str, client: &str) -> Result<Result<(), Duration>> {
        let now = Utc::now();
        let window = chrono::Duration::from_std(WINDOW).unwrap_or_default();
        let mut wait = None;
        for (key, max) in keys(email, client) {
            let attempts = self
                .store
                .count_sign_in_attempt(&key, now, now - window)
                .await?;
            if attempts.count > max {
                let until = attempts.window_started_at + window;
                let left = (until - now).to_std().unwrap_or(Duration::from_secs(1));
                wait = wait.max(Some(left));
            }
        }
        Ok(wait.map_or(Ok(()), Err))
    }

    /// A right password clears the e-mail's attempts (not the client's: one right password
    /// must not reset a spray across many accounts).
    pub async fn succeeded(&self, email: &str) -> Result<()> {
        Ok(self
            .store
            .clear_sign_in_attempts(&format!("email:{email}"))
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_store::testing::TestDb;

    #[tokio::test]
    async fn five_attempts_a_window_per_email_and_other_emails_stay_open() {
        let db = TestDb::sqlite().await;
        let t = LoginThrottle::new(db.store.clone());
        for _ in 0..5 {
            assert!(
                t.attempt("ana@example.com", "10.0.0.1")
                    .await
                    .unwrap()
                    .is_ok()
            );
        }
        let wait = t
            .attempt("ana@example.com", "10.0.0.2")
            .await
            .unwrap()
            .expect_err("locked");
        assert!(wait > Duration::from_secs(14 * 60));
        assert!(
            t.attempt("bo@example.com", "10.0.0.1")
                .await
                .unwrap()
                .is_ok()
        );
        t.succeeded("bo@example.com").await.unwrap();
    }

    #[tokio::test]
    async fn concurrent_guesses_are_counted_before_they_are_checked() {
        let db = TestDb::sqlite().await;
        let t = LoginThrottle::new(db.store.clone());
        let guesses = (0..60).map(|i| {
            let t = t.clone();
            tokio::spawn(async move { t.attempt("ana@example.com", &format!("10.1.0.{i}")).await })
        });
        let mut let_through = 0;
        for g in guesses {
            if g.await.unwrap().unwrap().is_ok() {
                let_through += 1;
            }
        }
        assert_eq!(let_through, 5);
    }

    #[tokio::test]
    async fn one_client_spraying_many_emails_is_locked_too() {
        let db = TestDb::sqlite().await;
        let t = LoginThrottle::new(db.store.clone());
        for i in 0..20 {
            assert!(
                t.attempt(&format!("user{i}@example.com"), "10.9.9.9")
                    .await
                    .unwrap()
                    .is_ok()
            );
        }
        assert!(
            t.attempt("new@example.com", "10.9.9.9")
                .await
                .unwrap()
                .is_err()
        );
        assert!(
            t.attempt("new@example.com", "10.9.9.8")
                .await
                .unwrap()
                .is_ok()
        );
    }
}
