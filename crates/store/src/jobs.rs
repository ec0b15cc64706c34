//! The durable job queue: rows in `jobs`, claimed with a lease so that a worker that dies mid-job
//! does not lose it (the lease expires and another worker claims it again).
//!
//! Every claim writes a fresh lease token; heartbeat, completion and failure only take effect for
//! the holder of the current token, so a worker that lost its lease cannot overwrite the outcome
//! of the worker that took over.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rapport_core::domain::JobState;
use rapport_core::ids::{JobId, WorkspaceId};
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;

use crate::db::{Db, on_db};
use crate::{Error, Result, Store};

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub payload: Value,
    pub workspace_id: Option<WorkspaceId>,
    pub run_at: Option<DateTime<Utc>>,
    pub max_attempts: i32,
    /// At most one queued or running job per key; enqueueing a duplicate is a no-op.
    pub dedupe_key: Option<String>,
    /// 0 for work a customer waits on; higher for background work, claimed after it and never
    /// by the workers kept for it (see [`Lane`]).
    pub priority: i32,
}

/// The jobs a worker takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Any job, customer-facing ones first.
    Any,
    /// Only priority 0: a worker kept free for replies whatever background work is queued.
    CustomerFacing,
}

impl Lane {
    fn max_priority(self) -> i32 {
        match self {
            Lane::Any => i32::MAX,
            Lane::CustomerFacing => 0,
        }
    }
}

impl NewJob {
    pub const DEFAULT_MAX_ATTEMPTS: i32 = 5;

    pub fn new(kind: impl Into<String>, payload: Value) -> Self {
        Self {
            kind: kind.into(),
            payload,
            workspace_id: None,
            run_at: None,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            dedupe_key: None,
            priority: 0,
        }
    }

    /// Background work (a knowledge sync): runs after customer-facing jobs.
    pub fn background(mut self) -> Self {
        self.priority = 1;
        self
    }

    pub fn workspace(mut self, id: WorkspaceId) -> Self {
        self.workspace_id = Some(id);
        self
    }

    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self
    }

    pub fn max_attempts(mut self, n: i32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    pub fn dedupe_key(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }
}

/// A job a worker holds the lease of.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: JobId,
    pub kind: String,
    pub payload: Value,
    pub workspace_id: Option<WorkspaceId>,
    /// 1 on the first run.
    pub attempt: i32,
    pub max_attempts: i32,
    pub lease_token: String,
}

/// A job as stored, for inspection (admin API, tests).
#[derive(Debug, Clone, Serialize)]
pub struct JobRecord {
    pub id: JobId,
    pub kind: String,
    pub payload: Value,
    pub state: JobState,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: i64,
    kind: String,
    payload: Json<Value>,
    state: String,
    attempts: i32,
    max_attempts: i32,
    run_at: DateTime<Utc>,
    lease_owner: Option<String>,
    lease_expires_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    finished_at: Option<DateTime<Utc>>,
}

impl TryFrom<JobRow> for JobRecord {
    type Error = Error;
    fn try_from(r: JobRow) -> Result<Self> {
        Ok(JobRecord {
            id: JobId(r.id),
            kind: r.kind,
            payload: r.payload.0,
            state: r.state.parse()?,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            run_at: r.run_at,
            lease_owner: r.lease_owner,
            lease_expires_at: r.lease_expires_at,
            last_error: r.last_error,
            finished_at: r.finished_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ClaimRow {
    id: i64,
    kind: String,
    payload: Json<Value>,
    workspace_id: Option<i64>,
    attempts: i32,
    max_attempts: i32,
}

/// How long to wait before retrying a failed job: `base · 2^(attempt-1)`, capped.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(5),
            max: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    pub fn delay(&self, attempt: i32) -> Duration {
        let exp = attempt.saturating_sub(1).clamp(0, 30) as u32;
        self.base
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.max)
    }
}

/// What happened to a job that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// Queued again to run at the given time.
    Retrying { at: DateTime<Utc> },
    /// Out of attempts; the error is kept on the row.
    Dead,
    /// This worker no longer held the lease; nothing was written.
    LeaseLost,
}

/// Number of jobs per state, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct JobCounts {
    pub queued: i64,
    pub running: i64,
    pub done: i64,
    pub dead: i64,
}

macro_rules! job_columns {
    () => {
        "id, kind, payload, state, attempts, max_attempts, run_at, lease_owner, lease_expires_at, last_error, finished_at"
    };
}

/// Claims the next due job: queued and due, or running with an expired lease, most urgent
/// first. `$1` worker, `$2` lease token, `$3` lease expiry, `$4` now, `$5` highest priority.
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $1, \
             lease_token = $2, lease_expires_at = $3, updated_at = $4 \
             WHERE id = (SELECT id FROM jobs \
                 WHERE ((state = 'queued' AND run_at <= $4) \
                    OR (state = 'running' AND lease_expires_at < $4)) AND priority <= $5 \
                 ORDER BY priority, run_at, id LIMIT 1 ",
            $lock,
            ") RETURNING id, kind, payload, workspace_id, attempts, max_attempts"
        )
    };
}

fn lease_until(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX)
}

impl Store {
    /// Adds a job. Returns `None` when a live job with the same dedupe key already exists.
    pub async fn enqueue_job(&self, job: NewJob) -> Result<Option<JobId>> {
        let now = Utc::now();
        let sql = "INSERT INTO jobs (workspace_id, kind, payload, max_attempts, run_at, dedupe_key, \
                   created_at, updated_at, priority) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) \
                   ON CONFLICT DO NOTHING RETURNING id";
        let id: Option<i64> = on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(job.workspace_id.map(|w| w.0))
            .bind(&job.kind)
            .bind(Json(&job.payload))
            .bind(job.max_attempts)
            .bind(job.run_at.unwrap_or(now))
            .bind(&job.dedupe_key)
            .bind(now)
            .bind(job.priority)
            .fetch_optional(p)
            .await?);
        if id.is_some() {
            self.job_notify.notify_waiters();
        }
        Ok(id.map(JobId))
    }

    /// Adds a job, or — when a queued job with the same dedupe key waits to run later — brings
    /// that one forward to this job's time. A "now" never waits behind a "later" (a memory
    /// update on resolve, with the quiet-time one already queued).
    pub async fn enqueue_or_bring_forward(&self, job: NewJob) -> Result<()> {
        let (key, run_at) = (job.dedupe_key.clone(), job.run_at.unwrap_or_else(Utc::now));
        if self.enqueue_job(job).await?.is_some() {
            return Ok(());
        }
        let Some(key) = key else { return Ok(()) };
        let sql = "UPDATE jobs SET run_at = $1, updated_at = $2 \
                   WHERE dedupe_key = $3 AND state = 'queued' AND run_at > $1";
        let moved = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(run_at)
            .bind(Utc::now())
            .bind(&key)
            .execute(p)
            .await?
            .rows_affected());
        if moved > 0 {
            self.job_notify.notify_waiters();
        }
        Ok(())
    }

    /// Takes the next due job — queued and due, or running with an expired lease — and leases it
    /// to `worker` for `lease`. Jobs whose lease expired once too often end dead here.
    pub async fn claim_job(
        &self,
        worker: &str,
        lease: Duration,
        lane: Lane,
    ) -> Result<Option<ClaimedJob>> {
        loop {
            let now = Utc::now();
            let token = uuid::Uuid::new_v4().to_string();
            // PostgreSQL: SKIP LOCKED lets concurrent claimers pass over a row another transaction
            // is taking. SQLite: the single UPDATE statement runs under the database write lock,
            // so two claimers are serialised and the second sees the row already running.
            let sql = match self.db {
                Db::Postgres(_) => claim_sql!("FOR UPDATE SKIP LOCKED"),
                Db::Sqlite(_) => claim_sql!(""),
            };
            let row: Option<ClaimRow> = on_db!(&self.db, |p| sqlx::query_as(sql)
                .bind(worker)
                .bind(&token)
                .bind(lease_until(now, lease))
                .bind(now)
                .bind(lane.max_priority())
                .fetch_optional(p)
                .await?);
            let Some(row) = row else { return Ok(None) };
            let job = ClaimedJob {
                id: JobId(row.id),
                kind: row.kind,
                payload: row.payload.0,
                workspace_id: row.workspace_id.map(WorkspaceId),
                attempt: row.attempts,
                max_attempts: row.max_attempts,
                lease_token: token,
            };
            if job.attempt > job.max_attempts {
                // Only a lease that expired can push attempts past the limit: the job keeps
                // killing (or outliving) its workers, so stop retrying it.
                let error = format!(
                    "lease expired on its last attempt ({} attempts)",
                    job.max_attempts
                );
                self.finish_job(&job, JobState::Dead, Some(&error), job.max_attempts)
                    .await?;
                tracing::warn!(job = %job.id, kind = %job.kind, "job dead: {error}");
                continue;
            }
            return Ok(Some(job));
        }
    }

    /// Extends the lease. `false` means the lease was lost (expired and claimed by another worker).
    pub async fn heartbeat_job(&self, job: &ClaimedJob, lease: Duration) -> Result<bool> {
        let now = Utc::now();
        let sql = "UPDATE jobs SET lease_expires_at = $1, updated_at = $2 \
                   WHERE id = $3 AND lease_token = $4 AND state = 'running'";
        let done = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(lease_until(now, lease))
            .bind(now)
            .bind(job.id.0)
            .bind(&job.lease_token)
            .execute(p)
            .await?
            .rows_affected());
        Ok(done == 1)
    }

    /// Marks the job done. `false` means the lease was lost and nothing was written.
    pub async fn complete_job(&self, job: &ClaimedJob) -> Result<bool> {
        self.finish_job(job, JobState::Done, None, job.attempt)
            .await
    }

    /// Records a failure: the job is queued again with backoff, or dead when out of attempts.
    pub async fn fail_job(
        &self,
        job: &ClaimedJob,
        error: &str,
        retry: &RetryPolicy,
    ) -> Result<FailOutcome> {
        if job.attempt >= job.max_attempts {
            let written = self
                .finish_job(job, JobState::Dead, Some(error), job.attempt)
                .await?;
            return Ok(if written {
                FailOutcome::Dead
            } else {
                FailOutcome::LeaseLost
            });
        }
        let now = Utc::now();
        let at = lease_until(now, retry.delay(job.attempt));
        let sql = "UPDATE jobs SET state = 'queued', run_at = $1, last_error = $2, lease_owner = NULL, \
                   lease_token = NULL, lease_expires_at = NULL, updated_at = $3 \
                   WHERE id = $4 AND lease_token = $5 AND state = 'running'";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(at)
            .bind(error)
            .bind(now)
            .bind(job.id.0)
            .bind(&job.lease_token)
            .execute(p)
            .await?
            .rows_affected());
        Ok(if n == 1 {
            FailOutcome::Retrying { at }
        } else {
            FailOutcome::LeaseLost
        })
    }

    /// Hands a job back without counting the attempt (graceful shutdown).
    pub async fn release_job(&self, job: &ClaimedJob) -> Result<bool> {
        let now = Utc::now();
        let sql = "UPDATE jobs SET state = 'queued', attempts = attempts - 1, run_at = $1, \
                   lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = $1 \
                   WHERE id = $2 AND lease_token = $3 AND state = 'running'";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(now)
            .bind(job.id.0)
            .bind(&job.lease_token)
            .execute(p)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    async fn finish_job(
        &self,
        job: &ClaimedJob,
        state: JobState,
        error: Option<&str>,
        attempts: i32,
    ) -> Result<bool> {
        let now = Utc::now();
        let sql = "UPDATE jobs SET state = $1, last_error = COALESCE($2, last_error), attempts = $3, \
                   finished_at = $4, updated_at = $4, lease_owner = NULL, lease_token = NULL, \
                   lease_expires_at = NULL \
                   WHERE id = $5 AND lease_token = $6 AND state = 'running'";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(state.as_str())
            .bind(error)
            .bind(attempts)
            .bind(now)
            .bind(job.id.0)
            .bind(&job.lease_token)
            .execute(p)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    pub async fn job(&self, id: JobId) -> Result<JobRecord> {
        let sql = concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = $1");
        let row: Option<JobRow> = on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(id.0)
            .fetch_optional(p)
            .await?);
        row.ok_or(Error::NotFound {
            what: "job",
            id: id.0,
        })?
        .try_into()
    }

    pub async fn job_counts(&self) -> Result<JobCounts> {
        let sql = "SELECT state, COUNT(*) FROM jobs GROUP BY state";
        let rows: Vec<(String, i64)> =
            on_db!(&self.db, |p| sqlx::query_as(sql).fetch_all(p).await?);
        let mut counts = JobCounts::default();
        for (state, n) in rows {
            match state.parse::<JobState>()? {
                JobState::Queued => counts.queued = n,
                JobState::Running => counts.running = n,
                JobState::Done => counts.done = n,
                JobState::Dead => counts.dead = n,
            }
        }
        Ok(counts)
    }

    /// Resolves when a job may have been enqueued by this process (or after `max_wait`), so idle
    /// workers pick up local work at once and still poll for work enqueued elsewhere.
    pub async fn wait_for_jobs(&self, max_wait: Duration) {
        let _ = tokio::time::timeout(max_wait, self.job_notify.notified()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::RetryPolicy;
    use std::time::Duration;

    #[test]
    fn retry_delay_doubles_and_is_capped() {
        let p = RetryPolicy {
            base: Duration::from_secs(2),
            max: Duration::from_secs(60),
        };
        assert_eq!(p.delay(1), Duration::from_secs(2));
        assert_eq!(p.delay(2), Duration::from_secs(4));
        assert_eq!(p.delay(4), Duration::from_secs(16));
        assert_eq!(p.delay(10), Duration::from_secs(60));
        assert_eq!(p.delay(1000), Duration::from_secs(60));
    }
}
