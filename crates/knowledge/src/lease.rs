//! The leader lease of replicas sharing one store, and the fencing of journal claims.
//!
//! One row (`leader_lease`, name `leader`) says who leads, under which fencing epoch,
//! and until when. Every time is the database's clock, so replicas' clocks never need
//! to agree. The SQL is the same for both backends but for how "now" is read, so it is
//! written once here, parameterised by that expression.
//!
//! - **Acquire** ([`crate::LeaderLease::acquire_lease`]): one upsert that takes the row
//!   when it is missing, expired, or held under the caller's own replica id (a
//!   restarted replica); each take bumps the epoch. Concurrent acquirers serialise on
//!   the row.
//! - **Renew**: extends the expiry only while holder and epoch are still the caller's.
//! - **Claim** (a journal `Intent` row): inserted by one statement that also checks
//!   the lease — with a lease row the claim's epoch must be the current one and the
//!   lease must last at least its margin longer; without one only epoch 0 (a single
//!   replica that never took a lease) may claim. A stale leader's claim inserts
//!   nothing and is reported as [`crate::StoreError::Fenced`].
//!
//! Why the margin makes one statement enough: a claim succeeds only while
//! `expires_at > now + margin`, and a takeover only once `expires_at < now`, so a
//! takeover starts at least `margin` after any claim of the old epoch, and by then
//! the claim is committed and the new leader's recovery sees it.

use serde::Serialize;

/// The name of the single lease row.
pub(crate) const LEASE_NAME: &str = "leader";

/// The lease as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseRecord {
    /// The replica id of the holder.
    pub holder: String,
    /// The fencing epoch: grows by one whenever the lease is taken.
    pub epoch: u64,
    /// Milliseconds until the lease expires by the database's clock (negative once it
    /// has).
    pub expires_in_ms: i64,
}

/// What [`crate::LeaderLease::acquire_lease`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseGrant {
    /// The caller leads under this epoch until `expires_in_ms` from now.
    Acquired { epoch: u64, expires_in_ms: i64 },
    /// Somebody else holds an unexpired lease.
    HeldBy(LeaseRecord),
}

/// The acquire upsert; binds `$1` holder, `$2` ttl ms, `$3` margin ms; returns
/// `(epoch, expires_in_ms)` when the caller got the lease, no row otherwise.
pub(crate) fn acquire_sql(now_ms: &str) -> String {
    format!(
        "INSERT INTO leader_lease (name, holder, epoch, expires_at_ms, margin_ms, acquired_at_ms) \
         VALUES ('{LEASE_NAME}', $1, 1, {now_ms} + $2, $3, {now_ms}) \
         ON CONFLICT (name) DO UPDATE SET \
           holder = excluded.holder, epoch = leader_lease.epoch + 1, \
           expires_at_ms = excluded.expires_at_ms, margin_ms = excluded.margin_ms, \
           acquired_at_ms = excluded.acquired_at_ms \
         WHERE leader_lease.expires_at_ms < excluded.acquired_at_ms \
            OR leader_lease.holder = excluded.holder \
         RETURNING epoch, expires_at_ms - acquired_at_ms"
    )
}

/// The renewal; binds `$1` holder, `$2` epoch, `$3` ttl ms, `$4` margin ms; returns
/// the new `expires_in_ms` when holder and epoch still match.
pub(crate) fn renew_sql(now_ms: &str) -> String {
    format!(
        "UPDATE leader_lease SET expires_at_ms = {now_ms} + $3, margin_ms = $4 \
         WHERE name = '{LEASE_NAME}' AND holder = $1 AND epoch = $2 \
         RETURNING $3"
    )
}

/// Give the lease up at once (clean shutdown); binds `$1` holder, `$2` epoch.
pub(crate) const RELEASE_SQL: &str = "UPDATE leader_lease SET expires_at_ms = 0 \
     WHERE name = 'leader' AND holder = $1 AND epoch = $2";

/// The current lease; returns `(holder, epoch, expires_in_ms)`.
pub(crate) fn read_sql(now_ms: &str) -> String {
    format!(
        "SELECT holder, epoch, expires_at_ms - {now_ms} FROM leader_lease \
         WHERE name = '{LEASE_NAME}'"
    )
}

/// A journal row inserted only when its epoch may claim (see the module docs); binds
/// `$1`..`$9` like the plain insert (`$5` is the epoch). An intent of the same key
/// already there under an older epoch is claimed again: its epoch and time become
/// this claim's (startup recovery re-sending a compensation an older leader claimed
/// and never sent); under the same or a newer epoch it stays as it is.
pub(crate) fn fenced_journal_sql(now_ms: &str) -> String {
    format!(
        "INSERT INTO journal \
           (execution_id, step, status, idempotency_key, epoch, at_ms, action, detail, prior) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 \
         WHERE CASE \
           WHEN EXISTS (SELECT 1 FROM leader_lease WHERE name = '{LEASE_NAME}') \
             THEN EXISTS (SELECT 1 FROM leader_lease WHERE name = '{LEASE_NAME}' \
                          AND epoch = $5 AND expires_at_ms > {now_ms} + margin_ms) \
           ELSE $5 = 0 END \
         ON CONFLICT (execution_id, step, status) DO UPDATE \
           SET epoch = excluded.epoch, at_ms = excluded.at_ms \
           WHERE journal.idempotency_key = excluded.idempotency_key \
             AND journal.epoch < excluded.epoch"
    )
}

/// Milliseconds, as a database integer; lease durations are far below `i64::MAX`.
pub(crate) fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
