//! Failed-login throttling, per account and per client address, in memory (dashmap).
//!
//! Each failure adds one to a score that drains by one every [`DRAIN`]. An account that has
//! used up [`ACCOUNT_LIMIT`] failures (its score is above `ACCOUNT_LIMIT - 1`) is refused — even
//! with the right password — until the score drains below; an address likewise at
//! [`ADDRESS_LIMIT`]. So the sixth rapid attempt is refused, the lock lasts about a minute, and
//! an attacker gets about one guess per minute per account after that.

use std::time::{Duration, Instant};

use dashmap::DashMap;

pub const ACCOUNT_LIMIT: f64 = 5.0;
pub const ADDRESS_LIMIT: f64 = 30.0;
/// One failure is forgiven per this much time.
pub const DRAIN: Duration = Duration::from_secs(60);
/// Entries idle this long are dropped (bounds memory).
const FORGET_AFTER: Duration = Duration::from_secs(3600);

#[derive(Clone, Copy, Debug)]
struct Bucket {
    score: f64,
    at: Instant,
}

impl Bucket {
    fn drained(self, now: Instant) -> f64 {
        let gone = now.saturating_duration_since(self.at).as_secs_f64() / DRAIN.as_secs_f64();
        (self.score - gone).max(0.0)
    }
}

#[derive(Default, Debug)]
pub struct LoginThrottle {
    accounts: DashMap<String, Bucket>,
    addresses: DashMap<String, Bucket>,
}

/// Why a login attempt is refused before the password is even checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocked {
    Account { retry_after: Duration },
    Address { retry_after: Duration },
}

fn account_key(username: &str) -> String {
    username.trim().to_lowercase()
}

/// Whether a drained score has used up `limit` attempts.
fn exhausted(score: f64, limit: f64) -> bool {
    score > limit - 1.0
}

fn retry_after(score: f64, limit: f64) -> Duration {
    Duration::from_secs_f64((score - (limit - 1.0)).max(0.0) * DRAIN.as_secs_f64())
}

impl LoginThrottle {
    /// Counts an attempt *before* the password is checked, atomically (under the map entries'
    /// locks), so parallel attempts cannot all pass one check: refused when the address or the
    /// account has used up its attempts (nothing is counted then), else counted against both.
    /// A successful login gives the count back ([`Self::success`]).
    pub fn attempt(&self, username: &str, address: Option<&str>) -> Result<(), Blocked> {
        self.attempt_at(username, address, Instant::now())
    }

    pub fn attempt_at(
        &self,
        username: &str,
        address: Option<&str>,
        now: Instant,
    ) -> Result<(), Blocked> {
        let fresh = Bucket {
            score: 0.0,
            at: now,
        };
        // Always the address's entry first, then the account's: one order, no deadlock.
        let mut address_entry =
            address.map(|a| self.addresses.entry(a.to_owned()).or_insert(fresh));
        if let Some(b) = &address_entry {
            let s = b.drained(now);
            if exhausted(s, ADDRESS_LIMIT) {
                return Err(Blocked::Address {
                    retry_after: retry_after(s, ADDRESS_LIMIT),
                });
            }
        }
        {
            let mut account = self.accounts.entry(account_key(username)).or_insert(fresh);
            let s = account.drained(now);
            if exhausted(s, ACCOUNT_LIMIT) {
                return Err(Blocked::Account {
                    retry_after: retry_after(s, ACCOUNT_LIMIT),
                });
            }
            // Capped a little above the limit so a lock never lasts more than a few minutes.
            *account = Bucket {
                score: (s + 1.0).min(ACCOUNT_LIMIT + 2.0),
                at: now,
            };
        }
        if let Some(b) = address_entry.as_mut() {
            let s = b.drained(now);
            **b = Bucket {
                score: (s + 1.0).min(ADDRESS_LIMIT + 5.0),
                at: now,
            };
        }
        drop(address_entry);
        if self.accounts.len() + self.addresses.len() > 10_000 {
            self.accounts
                .retain(|_, b| now.saturating_duration_since(b.at) < FORGET_AFTER);
            self.addresses
                .retain(|_, b| now.saturating_duration_since(b.at) < FORGET_AFTER);
        }
        Ok(())
    }

    /// A successful login clears the account's failures and gives the address back the
    /// attempt counted for it.
    pub fn success(&self, username: &str, address: Option<&str>) {
        self.accounts.remove(&account_key(username));
        if let Some(a) = address
            && let Some(mut b) = self.addresses.get_mut(a)
        {
            let now = Instant::now();
            let s = b.drained(now);
            *b = Bucket {
                score: (s - 1.0).max(0.0),
                at: now,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixth_attempt_is_refused_then_drains() {
        let t = LoginThrottle::default();
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(t.attempt_at("Zhang", Some("1.2.3.4"), t0).is_ok());
        }
        assert!(matches!(
            t.attempt_at("zhang ", Some("1.2.3.4"), t0),
            Err(Blocked::Account { .. })
        ));
        // Another account from the same address is still fine.
        assert!(t.attempt_at("li", Some("1.2.3.4"), t0).is_ok());
        // Still locked a moment later; after one drain period one more attempt is allowed.
        assert!(t.attempt_at("zhang", None, t0 + DRAIN / 2).is_err());
        assert!(t.attempt_at("zhang", None, t0 + DRAIN).is_ok());
        assert!(t.attempt_at("zhang", None, t0 + DRAIN).is_err());
        t.success("zhang", None);
        assert!(t.attempt_at("zhang", None, t0).is_ok());
    }

    #[test]
    fn parallel_attempts_are_counted_before_they_run() {
        let t = LoginThrottle::default();
        let passed = std::thread::scope(|s| {
            let handles: Vec<_> = (0..25)
                .map(|_| s.spawn(|| t.attempt("zhang", Some("1.2.3.4")).is_ok()))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(false))
                .filter(|ok| *ok)
                .count()
        });
        assert_eq!(passed, 5);
    }

    #[test]
    fn address_limit() {
        let t = LoginThrottle::default();
        let t0 = Instant::now();
        for i in 0..30 {
            assert!(
                t.attempt_at(&format!("user{i}"), Some("9.9.9.9"), t0)
                    .is_ok()
            );
        }
        assert!(matches!(
            t.attempt_at("someone", Some("9.9.9.9"), t0),
            Err(Blocked::Address { .. })
        ));
        assert!(t.attempt_at("someone", Some("8.8.8.8"), t0).is_ok());
    }
}
