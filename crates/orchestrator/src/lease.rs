//! Leadership of one replica among several on a shared store: the [`Fence`] a leader
//! acts under.
//!
//! The lease itself lives in the store ([`charter_knowledge::lease`]); the daemon
//! renews it. A `Fence` is this process's view of it: the fencing epoch, and the
//! local deadline after which it must not start anything — the last successful
//! renewal's send time plus the lease's ttl minus its margin, on the monotonic clock.
//! The send time, not the answer time, so that a slow answer cannot stretch it; and
//! the monotonic clock keeps running while the process is stopped (SIGSTOP), so a
//! leader that wakes up after its lease ended knows it at once. The clock is tokio's
//! (the monotonic clock in production), so tests drive fences in paused time.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// What a leader acts under: its fencing epoch and how long it may act.
#[derive(Debug)]
pub struct Fence {
    epoch: u64,
    deadline: Mutex<Option<Instant>>,
}

impl Fence {
    /// A fence of `epoch`, valid until `deadline`.
    pub fn new(epoch: u64, deadline: Instant) -> Self {
        Fence {
            epoch,
            deadline: Mutex::new(Some(deadline)),
        }
    }

    /// The deadline for a lease renewed (or taken) by a request sent at `sent`.
    pub fn deadline_after(sent: Instant, ttl: Duration, margin: Duration) -> Instant {
        sent + ttl.saturating_sub(margin)
    }

    /// The fencing epoch, for journal claims and actuators.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A renewal succeeded: act until `deadline` (never moves it back, and never
    /// revives a revoked fence).
    pub fn extend(&self, deadline: Instant) {
        if let Ok(mut d) = self.deadline.lock()
            && let Some(old) = *d
        {
            *d = Some(old.max(deadline));
        }
    }

    /// The lease is lost (or given up): stop acting for good.
    pub fn revoke(&self) {
        if let Ok(mut d) = self.deadline.lock() {
            *d = None;
        }
    }

    /// Whether it may still start a side effect now.
    pub fn may_act(&self) -> bool {
        self.remaining().is_some()
    }

    /// How long it may still act; `None` once the deadline passed or it was revoked.
    pub fn remaining(&self) -> Option<Duration> {
        let d = (*self.deadline.lock().ok()?)?;
        d.checked_duration_since(Instant::now())
            .filter(|r| !r.is_zero())
    }

    /// Whether it was revoked (as opposed to merely past its deadline).
    pub fn is_revoked(&self) -> bool {
        self.deadline.lock().map(|d| d.is_none()).unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_expires_extends_forward_only_and_stays_revoked() {
        let now = Instant::now();
        let f = Fence::new(3, now + Duration::from_secs(60));
        assert_eq!(f.epoch(), 3);
        assert!(f.may_act());
        f.extend(now + Duration::from_secs(1));
        assert!(f.remaining().is_some_and(|r| r > Duration::from_secs(50)));
        f.revoke();
        assert!(!f.may_act() && f.is_revoked());
        f.extend(now + Duration::from_secs(120));
        assert!(!f.may_act(), "a revoked fence is never revived");

        let past = Fence::new(1, now);
        assert!(!past.may_act() && !past.is_revoked());
        assert_eq!(
            Fence::deadline_after(now, Duration::from_secs(15), Duration::from_secs(5)),
            now + Duration::from_secs(10)
        );
    }
}
