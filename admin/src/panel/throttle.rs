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
    /// Whether an attempt may go ahead now.
    pub fn check(&self, username: &str, address: Option<&str>) -> Result<(), Blocked> {
        self.check_at(username, address, Instant::now())
    }

    pub fn check_at(
        &self,
        username: &str,
        address: Option<&str>,
        now: Instant,
    ) -> Result<(), Blocked> {
        if let Some(a) = address
            && let Some(b) = self.addresses.get(a)
        {
            let s = b.drained(now);
            if exhausted(s, ADDRESS_LIMIT) {
                return Err(Blocked::Address {
                    retry_after: retry_after(s, ADDRESS_LIMIT),
                });
            }
        }
        if let Some(b) = self.accounts.get(&account_key(username)) {
            let s = b.drained(now);
            if exhausted(s, ACCOUNT_LIMIT) {
                return Err(Blocked::Account {
                    retry_after: retry_after(s, ACCOUNT_LIMIT),
                });
            }
        }
        Ok(())
    }

    /// Counts a failed attempt (wrong password, unknown user, or refused while blocked).
    pub fn failure(&self, username: &str, address: Option<&str>) {
        self.failure_at(username, address, Instant::now());
    }

    pub fn failure_at(&self, username: &str, address: Option<&str>, now: Instant) {
        let bump = |map: &DashMap<String, Bucket>, key: String, cap: f64| {
            let mut e = map.entry(key).or_insert(Bucket {
                score: 0.0,
                at: now,
            });
            let score = (e.drained(now) + 1.0).min(cap);
            *e = Bucket { score, at: now };
        };
        // Capped a little above the limit so a lock never lasts more than a few minutes.
        bump(&self.accounts, account_key(username), ACCOUNT_LIMIT + 2.0);
        if let Some(a) = address {
            bump(&self.addresses, a.to_owned(), ADDRESS_LIMIT + 5.0);
        }
        if self.accounts.len() + self.addresses.len() > 10_000 {
            self.accounts
                .retain(|_, b| now.saturating_duration_since(b.at) < FORGET_AFTER);
            self.addresses
                .retain(|_, b| now.saturating_duration_since(b.at) < FORGET_AFTER);
        }
    }

    /// A successful login clears the account's failures (not the address's).
    pub fn success(&self, username: &str) {
        self.accounts.remove(&account_key(username));
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
            assert!(t.check_at("Zhang", Some("1.2.3.4"), t0).is_ok());
            t.failure_at("zhang", Some("1.2.3.4"), t0);
        }
        assert!(matches!(
            t.check_at("zhang ", Some("1.2.3.4"), t0),
            Err(Blocked::Account { .. })
        ));
        // Another account from the same address is still fine.
        assert!(t.check_at("li", Some("1.2.3.4"), t0).is_ok());
        // Still locked a moment later; after one drain period one more attempt is allowed.
        assert!(t.check_at("zhang", None, t0 + DRAIN / 2).is_err());
        assert!(t.check_at("zhang", None, t0 + DRAIN).is_ok());
        t.failure_at("zhang", None, t0 + DRAIN);
        assert!(t.check_at("zhang", None, t0 + DRAIN).is_err());
        t.success("zhang");
        assert!(t.check_at("zhang", None, t0).is_ok());
    }

    #[test]
    fn address_limit() {
        let t = LoginThrottle::default();
        let t0 = Instant::now();
        for i in 0..30 {
            t.failure_at(&format!("user{i}"), Some("9.9.9.9"), t0);
        }
        assert!(matches!(
            t.check_at("someone", Some("9.9.9.9"), t0),
            Err(Blocked::Address { .. })
        ));
        assert!(t.check_at("someone", Some("8.8.8.8"), t0).is_ok());
    }
}
