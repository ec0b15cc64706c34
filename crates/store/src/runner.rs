//! Workers that poll the job queue and run each job with the handler registered for its kind.
//!
//! A running job's lease is renewed by heartbeats; if the process dies, the lease expires and
//! another worker (in this or another `rapport serve`) runs it again. On shutdown a worker gives
//! the job in hand a grace period to finish, then hands it back without counting the attempt.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::Store;
use crate::jobs::{ClaimedJob, FailOutcome, Lane, RetryPolicy};

/// Why a job handler failed; its text is kept on the job row.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Runs the jobs of one kind. Handlers must be idempotent: a job can run more than once when a
/// worker dies after the work but before recording it.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    async fn handle(&self, job: &ClaimedJob) -> Result<(), HandlerError>;
}

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Concurrent jobs in this process; 0 runs none (a node that only serves the API).
    pub workers: usize,
    /// Of those, how many take only customer-facing jobs (replies), so that background work
    /// (knowledge syncs) can never hold every worker. At least one worker takes any job.
    pub customer_facing_workers: usize,
    /// How long an idle worker waits before polling again.
    pub poll_interval: Duration,
    /// How long a claim is valid without a heartbeat.
    pub lease: Duration,
    pub heartbeat_interval: Duration,
    /// How long a job in hand may still run once shutdown begins.
    pub shutdown_grace: Duration,
    pub retry: RetryPolicy,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            customer_facing_workers: 1,
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            heartbeat_interval: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }
}

/// The set of handlers, by job kind, and the workers that run them.
pub struct JobRunner {
    store: Store,
    handlers: HashMap<String, Arc<dyn JobHandler>>,
    config: RunnerConfig,
    name: String,
}

impl JobRunner {
    pub fn new(store: Store, config: RunnerConfig) -> Self {
        let name = format!("{}-{}", hostname(), std::process::id());
        Self {
            store,
            handlers: HashMap::new(),
            config,
            name,
        }
    }

    /// Names this runner's workers in `lease_owner` (default: host and pid).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    pub fn handle(mut self, kind: impl Into<String>, handler: impl JobHandler) -> Self {
        self.handlers.insert(kind.into(), Arc::new(handler));
        self
    }

    /// Starts the workers; they stop when `shutdown` is cancelled. Awaiting the returned set
    /// waits until every worker has stopped and handed back its job.
    pub fn start(self, shutdown: CancellationToken) -> JoinSet<()> {
        let shared = Arc::new(self);
        let mut set = JoinSet::new();
        let workers = shared.config.workers;
        let kept = shared
            .config
            .customer_facing_workers
            .min(workers.saturating_sub(1));
        for i in 0..workers {
            let runner = shared.clone();
            let shutdown = shutdown.clone();
            let lane = if i < kept {
                Lane::CustomerFacing
            } else {
                Lane::Any
            };
            set.spawn(async move {
                runner
                    .work(format!("{}/{i}", runner.name), lane, shutdown)
                    .await
            });
        }
        set
    }

    async fn work(&self, worker: String, lane: Lane, shutdown: CancellationToken) {
        tracing::debug!(%worker, ?lane, "job worker started");
        while !shutdown.is_cancelled() {
            match self.store.claim_job(&worker, self.config.lease, lane).await {
                Ok(Some(job)) => self.run(job, &shutdown).await,
                Ok(None) => {
                    tokio::select! {
                        _ = self.store.wait_for_jobs(self.config.poll_interval) => {}
                        _ = shutdown.cancelled() => {}
                    }
                }
                Err(e) => {
                    tracing::error!(%worker, error = %e, "could not claim a job");
                    tokio::select! {
                        _ = tokio::time::sleep(self.config.poll_interval) => {}
                        _ = shutdown.cancelled() => {}
                    }
                }
            }
        }
        tracing::debug!(%worker, "job worker stopped");
    }

    async fn run(&self, job: ClaimedJob, shutdown: &CancellationToken) {
        let span =
            tracing::info_span!("job", id = %job.id, kind = %job.kind, attempt = job.attempt);
        self.run_in_span(job, shutdown).instrument(span).await
    }

    async fn run_in_span(&self, job: ClaimedJob, shutdown: &CancellationToken) {
        let Some(handler) = self.handlers.get(&job.kind).cloned() else {
            let error = format!("no handler for job kind {:?}", job.kind);
            self.record_failure(&job, &error).await;
            return;
        };
        let started = std::time::Instant::now();
        let work = handler.handle(&job);
        tokio::pin!(work);
        let mut heartbeat = tokio::time::interval(self.config.heartbeat_interval);
        heartbeat.tick().await;
        let mut deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
        let outcome = loop {
            tokio::select! {
                result = &mut work => break Some(result),
                _ = heartbeat.tick() => match self.store.heartbeat_job(&job, self.config.lease).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!("lease lost; another worker owns the job now");
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
                },
                _ = shutdown.cancelled(), if deadline.is_none() => {
                    deadline = Some(Box::pin(tokio::time::sleep(self.config.shutdown_grace)));
                }
                _ = async { deadline.as_mut().expect("guarded by is_some").await }, if deadline.is_some() => break None,
            }
        };
        match outcome {
            Some(Ok(())) => match self.store.complete_job(&job).await {
                Ok(true) => tracing::info!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "job done"
                ),
                Ok(false) => tracing::warn!("job finished after its lease was lost"),
                Err(e) => tracing::error!(error = %e, "could not record job completion"),
            },
            Some(Err(e)) => self.record_failure(&job, &e.to_string()).await,
            None => match self.store.release_job(&job).await {
                Ok(_) => tracing::info!("shutting down: job handed back to the queue"),
                Err(e) => {
                    tracing::error!(error = %e, "could not hand the job back; its lease will expire")
                }
            },
        }
    }

    async fn record_failure(&self, job: &ClaimedJob, error: &str) {
        match self.store.fail_job(job, error, &self.config.retry).await {
            Ok(FailOutcome::Retrying { at }) => {
                tracing::warn!(%error, retry_at = %at, "job failed; will retry")
            }
            Ok(FailOutcome::Dead) => {
                tracing::error!(%error, "job failed for the last time; it is dead")
            }
            Ok(FailOutcome::LeaseLost) => {
                tracing::warn!(%error, "job failed after its lease was lost")
            }
            Err(e) => tracing::error!(error = %e, "could not record job failure"),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "rapport".to_owned())
}
