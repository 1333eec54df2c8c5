//! Per-caller rate limiting by cost points: a token bucket per (tenant, user)
//! that holds a minute's worth of points and refills continuously. Each
//! operation spends [`super::Cost::points`]. Per process: replicas each keep
//! their own buckets.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::auth::Principal;

/// Buckets kept: past it, full ones (which equal a fresh bucket) are dropped,
/// then, if callers are that many at once, those closest to full.
const MAX_BUCKETS: usize = 100_000;

pub struct RateLimiter {
    /// Points per minute, which is also the bucket's size; 0 turns limiting off.
    per_minute: u64,
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    points: f64,
    updated: Instant,
}

/// Where a caller's budget stands after an operation was charged (or refused).
#[derive(Debug, Clone, Copy)]
pub struct RateStatus {
    /// The bucket's size: points per minute.
    pub limit: u64,
    /// Points left.
    pub remaining: u64,
    /// What this operation costs.
    pub cost: u64,
    /// When the bucket is full again.
    pub reset_at: SystemTime,
    /// When refused: how long until the operation would be admitted.
    pub retry_after: Option<Duration>,
}

impl RateLimiter {
    pub fn new(per_minute: u64) -> Self {
        RateLimiter { per_minute, buckets: Mutex::default() }
    }

    pub fn enabled(&self) -> bool {
        self.per_minute > 0
    }

    fn per_second(&self) -> f64 {
        self.per_minute as f64 / 60.0
    }

    /// Spends `cost` points of the caller's budget, or refuses (`retry_after` set).
    /// `None` when limiting is off.
    pub fn charge(&self, principal: &Principal, cost: u64) -> Option<RateStatus> {
        self.charge_at(principal, cost, Instant::now())
    }

    fn charge_at(&self, principal: &Principal, cost: u64, now: Instant) -> Option<RateStatus> {
        if !self.enabled() {
            return None;
        }
        let capacity = self.per_minute as f64;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS {
            let per_second = self.per_second();
            let level = |b: &Bucket| b.points + now.saturating_duration_since(b.updated).as_secs_f64() * per_second;
            buckets.retain(|_, b| level(b) < capacity);
            if buckets.len() >= MAX_BUCKETS {
                // Forgetting a bucket refills it: forget those that lose least, down to 90 %.
                let mut levels: Vec<f64> = buckets.values().map(level).collect();
                let keep = MAX_BUCKETS * 9 / 10;
                levels.select_nth_unstable_by(keep, |a, b| a.total_cmp(b));
                let cutoff = levels[keep];
                buckets.retain(|_, b| level(b) < cutoff);
            }
        }
        let key = (principal.tenant.clone(), principal.user_id.clone());
        let bucket = buckets.entry(key).or_insert(Bucket { points: capacity, updated: now });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.points = (bucket.points + elapsed * self.per_second()).min(capacity);
        bucket.updated = now;
        let wanted = cost as f64;
        let retry_after = if bucket.points >= wanted {
            bucket.points -= wanted;
            None
        } else if wanted > capacity {
            // Never affordable: say when the bucket is full, the best it gets.
            Some(Duration::from_secs_f64((capacity - bucket.points) / self.per_second()))
        } else {
            Some(Duration::from_secs_f64((wanted - bucket.points) / self.per_second()))
        };
        let to_full = Duration::from_secs_f64((capacity - bucket.points) / self.per_second());
        Some(RateStatus {
            limit: self.per_minute,
            remaining: bucket.points.floor() as u64,
            cost,
            reset_at: SystemTime::now() + to_full,
            retry_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn caller(user: &str) -> Principal {
        Principal {
            user_id: user.into(),
            tenant: "t".into(),
            display_name: None,
            email: None,
            permissions: BTreeSet::new(),
            expires_at: 0,
        }
    }

    #[test]
    fn spends_then_refuses_then_refills() {
        let limiter = RateLimiter::new(60); // one point a second
        let alice = caller("alice");
        let start = Instant::now();
        for spent in 1..=60 {
            let status = limiter.charge_at(&alice, 1, start).unwrap();
            assert!(status.retry_after.is_none());
            assert_eq!(status.remaining, 60 - spent);
        }
        let refused = limiter.charge_at(&alice, 1, start).unwrap();
        assert_eq!(refused.retry_after.map(|d| d.as_secs_f64().round()), Some(1.0));
        assert_eq!(refused.remaining, 0);
        // Two seconds later, two points are back.
        let later = start + Duration::from_secs(2);
        assert!(limiter.charge_at(&alice, 2, later).unwrap().retry_after.is_none());
        assert!(limiter.charge_at(&alice, 1, later).unwrap().retry_after.is_some());
    }

    #[test]
    fn callers_have_their_own_buckets() {
        let limiter = RateLimiter::new(10);
        let now = Instant::now();
        assert!(limiter.charge_at(&caller("a"), 10, now).unwrap().retry_after.is_none());
        assert!(limiter.charge_at(&caller("a"), 1, now).unwrap().retry_after.is_some());
        assert!(limiter.charge_at(&caller("b"), 1, now).unwrap().retry_after.is_none());
    }

    #[test]
    fn a_cost_above_the_bucket_is_refused_and_off_means_off() {
        let limiter = RateLimiter::new(10);
        let status = limiter.charge_at(&caller("a"), 11, Instant::now()).unwrap();
        assert!(status.retry_after.is_some());
        assert!(RateLimiter::new(0).charge(&caller("a"), 1_000_000).is_none());
    }
}
