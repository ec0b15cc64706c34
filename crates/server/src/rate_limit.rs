//! In-memory token buckets, one per key (a visitor, an IP address). Per process: behind a load
//! balancer each process allows the configured rate, which is what a limit against abuse of a
//! public endpoint needs; exact global quotas would need the database on every request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Allows `per_minute` requests a minute per key, in bursts of up to `per_minute`.
pub struct RateLimiter {
    /// Tokens per second; 0 turns the limiter off.
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
    calls: AtomicU64,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// How often idle buckets are swept (in calls).
const SWEEP_EVERY: u64 = 4096;

impl RateLimiter {
    pub fn per_minute(per_minute: u32) -> Self {
        RateLimiter {
            rate: f64::from(per_minute) / 60.0,
            burst: f64::from(per_minute.max(1)),
            buckets: Mutex::default(),
            calls: AtomicU64::new(0),
        }
    }

    /// Takes one request's token for `key`, or says how long until one is free.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        // A panic while holding the lock leaves at worst one bucket's count behind.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.calls.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            // A bucket that has refilled is the same as no bucket.
            let full = Duration::from_secs_f64(self.burst / self.rate);
            buckets.retain(|_, b| now.duration_since(b.updated) < full);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_until_a_token_refills() {
        let limiter = RateLimiter::per_minute(3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at("a", t0).is_ok());
        }
        let wait = limiter.check_at("a", t0).unwrap_err();
        assert!(
            wait > Duration::from_secs(19) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(limiter.check_at("b", t0).is_ok(), "keys are independent");
        assert!(limiter.check_at("a", t0 + Duration::from_secs(20)).is_ok());
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let limiter = RateLimiter::per_minute(0);
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert!(limiter.check_at("a", t0).is_ok());
        }
    }
}
