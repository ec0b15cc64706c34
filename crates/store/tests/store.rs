//! The store's behaviour, run against both backends: SQLite on a temp file and PostgreSQL on the
//! test server (see `rapport_store::testing`).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use rapport_core::domain::{Author, Channel, Direction, JobState};
use rapport_core::ids::WorkspaceId;
use rapport_store::contacts::NewContact;
use rapport_store::jobs::{ClaimedJob, FailOutcome, Lane, NewJob, RetryPolicy};
use rapport_store::messages::{Inserted, NewMessage};
use rapport_store::runner::{HandlerError, JobHandler, JobRunner, RunnerConfig};
use rapport_store::{Store, backend_tests};
use serde_json::json;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

backend_tests!(
    default_workspace_exists_after_migration,
    migrating_twice_changes_nothing,
    an_identity_belongs_to_one_contact_per_workspace,
    a_repeated_provider_message_id_is_stored_once,
    a_merge_keeps_the_proven_customers_name_over_an_anonymous_one,
    a_claimed_job_is_not_claimed_again_while_leased,
    old_finished_jobs_are_forgotten_and_old_traces_keep_what_analytics_reads,
    a_reply_is_claimed_before_older_syncs_and_a_kept_worker_takes_only_replies,
    concurrent_claimers_never_share_a_job,
    two_workers_never_run_one_job_at_once,
    a_crashed_workers_job_is_run_again_after_its_lease_expires,
    a_failing_job_ends_dead_with_its_error_after_max_attempts,
    a_stale_worker_cannot_finish_a_job_it_lost,
    a_job_scheduled_later_is_not_claimed_early,
    a_duplicate_dedupe_key_is_not_enqueued_twice,
    a_job_wanted_now_brings_its_later_twin_forward,
    a_released_job_does_not_count_the_attempt,
    shutdown_hands_an_unfinished_job_back_to_the_queue,
);

const LEASE: Duration = Duration::from_secs(30);

async fn default_workspace_exists_after_migration(store: Store) {
    let ws = store.workspace(WorkspaceId::DEFAULT).await.unwrap();
    assert_eq!(ws.slug, "default");
    let other = store.create_workspace("acme", "Acme").await.unwrap();
    assert!(
        other.id > 1,
        "new workspaces get fresh ids, got {}",
        other.id
    );
}

async fn migrating_twice_changes_nothing(store: Store) {
    let before = store.applied_migrations().await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.applied_migrations().await.unwrap(), before);
    assert_eq!(store.workspaces().await.unwrap().len(), 1);
}

async fn an_identity_belongs_to_one_contact_per_workspace(store: Store) {
    let ws = WorkspaceId::DEFAULT;
    let other_ws = WorkspaceId(store.create_workspace("other", "Other").await.unwrap().id);
    let alice = store
        .create_contact(
            ws,
            &NewContact {
                name: Some("Alice".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let bob = store
        .create_contact(ws, &NewContact::default())
        .await
        .unwrap();
    let carol = store
        .create_contact(other_ws, &NewContact::default())
        .await
        .unwrap();

    let first = store
        .add_identity(ws, alice.id.into(), Channel::Whatsapp, "14155550142", true)
        .await
        .unwrap();
    assert!(first.is_some());
    let again = store
        .add_identity(ws, bob.id.into(), Channel::Whatsapp, "14155550142", true)
        .await
        .unwrap();
    assert!(
        again.is_none(),
        "the same identity must not attach to a second contact"
    );
    let same_id_other_channel = store
        .add_identity(ws, bob.id.into(), Channel::Instagram, "14155550142", false)
        .await
        .unwrap();
    assert!(same_id_other_channel.is_some());
    let same_id_other_ws = store
        .add_identity(
            other_ws,
            carol.id.into(),
            Channel::Whatsapp,
            "14155550142",
            true,
        )
        .await
        .unwrap();
    assert!(same_id_other_ws.is_some(), "workspaces are independent");

    let owner = store
        .contact_by_identity(ws, Channel::Whatsapp, "14155550142")
        .await
        .unwrap();
    assert_eq!(owner, Some(alice.id.into()));
    let owner = store
        .contact_by_identity(other_ws, Channel::Whatsapp, "14155550142")
        .await
        .unwrap();
    assert_eq!(owner, Some(carol.id.into()));
}

/// Found by a new user (issue 20): merging an anonymous visitor who typed "Guest" with the
/// WhatsApp customer it was kept "Guest".
async fn a_merge_keeps_the_proven_customers_name_over_an_anonymous_one(store: Store) {
    let ws = WorkspaceId::DEFAULT;
    let named = |name: &str| NewContact {
        name: Some(name.into()),
        ..NewContact::default()
    };
    let guest = store.create_contact(ws, &named("Guest")).await.unwrap();
    store
        .add_identity(ws, guest.id.into(), Channel::Web, "visitor-1", false)
        .await
        .unwrap();
    let ana = store
        .create_contact(
            ws,
            &NewContact {
                name: Some("Ana Silva".into()),
                email: Some("ana@example.com".into()),
                ..NewContact::default()
            },
        )
        .await
        .unwrap();
    store
        .add_identity(ws, ana.id.into(), Channel::Whatsapp, "14155550123", true)
        .await
        .unwrap();
    store
        .merge_contacts(ws, guest.id.into(), ana.id.into())
        .await
        .unwrap();
    let merged = store.contact(ws, guest.id.into()).await.unwrap();
    assert_eq!(merged.name.as_deref(), Some("Ana Silva"));
    assert_eq!(
        merged.email.as_deref(),
        Some("ana@example.com"),
        "empty fields are filled"
    );

    // Between two anonymous contacts the survivor's own name stays.
    let first = store.create_contact(ws, &named("Kim")).await.unwrap();
    let second = store.create_contact(ws, &named("K.")).await.unwrap();
    store
        .merge_contacts(ws, first.id.into(), second.id.into())
        .await
        .unwrap();
    assert_eq!(
        store
            .contact(ws, first.id.into())
            .await
            .unwrap()
            .name
            .as_deref(),
        Some("Kim")
    );
}

async fn a_repeated_provider_message_id_is_stored_once(store: Store) {
    let ws = WorkspaceId::DEFAULT;
    let contact = store
        .create_contact(ws, &NewContact::default())
        .await
        .unwrap();
    let conversation = store
        .open_conversation(ws, contact.id.into(), Channel::Whatsapp, false)
        .await
        .unwrap();
    let msg = |provider_id: Option<&str>| NewMessage {
        conversation_id: conversation,
        contact_id: contact.id.into(),
        direction: Direction::Inbound,
        author: Author::Customer,
        channel: Channel::Whatsapp,
        provider_message_id: provider_id.map(str::to_owned),
        kind: "text".into(),
        text: "Where is my order?".into(),
        attachments: json!([]),
        sent_at: None,
    };
    let first = store
        .insert_message(ws, &msg(Some("wamid.ABC")))
        .await
        .unwrap();
    let retry = store
        .insert_message(ws, &msg(Some("wamid.ABC")))
        .await
        .unwrap();
    assert!(matches!(first, Inserted::New(_)));
    assert_eq!(retry, Inserted::Duplicate(first.id()));
    // Messages without a provider id (bot replies before sending) never collide.
    store.insert_message(ws, &msg(None)).await.unwrap();
    store.insert_message(ws, &msg(None)).await.unwrap();
    assert_eq!(store.count_messages(conversation).await.unwrap(), 3);
}

async fn a_claimed_job_is_not_claimed_again_while_leased(store: Store) {
    let id = store
        .enqueue_job(NewJob::new("noop", json!({"n": 1})))
        .await
        .unwrap()
        .unwrap();
    let job = store
        .claim_job("w1", LEASE, Lane::Any)
        .await
        .unwrap()
        .expect("a due job");
    assert_eq!(job.id, id);
    assert_eq!(job.attempt, 1);
    assert_eq!(job.payload, json!({"n": 1}));
    assert!(
        store
            .claim_job("w2", LEASE, Lane::Any)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.heartbeat_job(&job, LEASE).await.unwrap());
    assert!(store.complete_job(&job).await.unwrap());
    let record = store.job(id).await.unwrap();
    assert_eq!(record.state, JobState::Done);
    assert!(record.finished_at.is_some());
    assert!(
        store
            .claim_job("w2", LEASE, Lane::Any)
            .await
            .unwrap()
            .is_none()
    );
}

/// Found by a hostile run: after two large uploads a customer got no reply within 240 s,
/// every worker being busy with syncs.
async fn a_reply_is_claimed_before_older_syncs_and_a_kept_worker_takes_only_replies(store: Store) {
    for i in 0..2 {
        store
            .enqueue_job(NewJob::new("sync", json!({ "i": i })).background())
            .await
            .unwrap();
    }
    let kept = store
        .claim_job("kept", LEASE, Lane::CustomerFacing)
        .await
        .unwrap();
    assert!(kept.is_none(), "a kept worker leaves syncs alone");
    store
        .enqueue_job(NewJob::new("reply", json!({})))
        .await
        .unwrap();
    let first = store
        .claim_job("any", LEASE, Lane::Any)
        .await
        .unwrap()
        .expect("a job");
    assert_eq!(first.kind, "reply", "the newer reply goes first");
    let next = store
        .claim_job("any", LEASE, Lane::Any)
        .await
        .unwrap()
        .expect("a job");
    assert_eq!(next.kind, "sync");
}

async fn old_finished_jobs_are_forgotten_and_old_traces_keep_what_analytics_reads(store: Store) {
    let ws = WorkspaceId::DEFAULT;
    store
        .enqueue_job(NewJob::new("noop", json!({})))
        .await
        .unwrap();
    let job = store
        .claim_job("w", LEASE, Lane::Any)
        .await
        .unwrap()
        .expect("a job");
    store.complete_job(&job).await.unwrap();
    let queued = store
        .enqueue_job(NewJob::new("later", json!({})))
        .await
        .unwrap()
        .unwrap();
    let contact = store
        .create_contact(ws, &NewContact::default())
        .await
        .unwrap();
    let conversation = store
        .open_conversation(ws, contact.id.into(), Channel::Whatsapp, false)
        .await
        .unwrap();
    let trace = json!({"decision": "answered", "reason": "", "query": {"original": "where is my order", "rewritten": "order"},
                       "retrieved": ["a long list"], "timings_ms": {"total": 12}});
    let reply = store
        .add_reply(
            ws,
            &rapport_store::messages::NewReply {
                conversation_id: conversation,
                contact_id: contact.id.into(),
                author: Author::Bot,
                channel: Channel::Whatsapp,
                text: "It ships tomorrow.".into(),
                citations: json!([]),
                metadata: json!({ "trace": trace }),
                deliver: false,
            },
        )
        .await
        .unwrap();
    let later = chrono::Utc::now() + chrono::Duration::seconds(5);
    let forgotten = store.forget_old(later, later, later).await.unwrap();
    assert_eq!((forgotten.jobs, forgotten.traces), (1, 1));
    assert!(store.job(job.id).await.is_err(), "the done job is gone");
    assert_eq!(store.job(queued).await.unwrap().state, JobState::Queued);
    let kept = store.message(ws, reply).await.unwrap().metadata["trace"].clone();
    assert_eq!(
        kept,
        json!({"decision": "answered", "reason": "", "query": {"original": "where is my order"}, "slim": true})
    );
    let again = store.forget_old(later, later, later).await.unwrap();
    assert_eq!((again.jobs, again.traces), (0, 0));
}

async fn concurrent_claimers_never_share_a_job(store: Store) {
    for i in 0..40 {
        store
            .enqueue_job(NewJob::new("noop", json!({ "i": i })))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(job) = store
                .claim_job(&format!("w{w}"), LEASE, Lane::Any)
                .await
                .unwrap()
            {
                mine.push(job.id);
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().copied().collect();
    assert_eq!(all.len(), 40, "every job claimed exactly once");
    assert_eq!(unique.len(), 40);
}

/// Records, per job, how many workers are running it right now and how often it ran.
#[derive(Default)]
struct Tracker {
    running: Mutex<HashSet<i64>>,
    overlaps: AtomicUsize,
    runs: AtomicUsize,
}

struct TrackingHandler(Arc<Tracker>);

#[async_trait]
impl JobHandler for TrackingHandler {
    async fn handle(&self, job: &ClaimedJob) -> Result<(), HandlerError> {
        if !self.0.running.lock().await.insert(job.id.0) {
            self.0.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.0.running.lock().await.remove(&job.id.0);
        self.0.runs.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn fast_runner_config() -> RunnerConfig {
    RunnerConfig {
        workers: 3,
        customer_facing_workers: 0,
        poll_interval: Duration::from_millis(20),
        lease: Duration::from_secs(30),
        heartbeat_interval: Duration::from_millis(100),
        shutdown_grace: Duration::from_millis(200),
        retry: RetryPolicy {
            base: Duration::from_millis(10),
            max: Duration::from_millis(50),
        },
    }
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn two_workers_never_run_one_job_at_once(store: Store) {
    let tracker = Arc::new(Tracker::default());
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(
            store
                .enqueue_job(NewJob::new("track", json!({ "i": i })))
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let shutdown = CancellationToken::new();
    // Two runners, as two `rapport serve` processes would have, three workers each.
    let mut a = JobRunner::new(store.clone(), fast_runner_config())
        .named("a")
        .handle("track", TrackingHandler(tracker.clone()))
        .start(shutdown.clone());
    let mut b = JobRunner::new(store.clone(), fast_runner_config())
        .named("b")
        .handle("track", TrackingHandler(tracker.clone()))
        .start(shutdown.clone());
    wait_until("all jobs ran", || async {
        store.job_counts().await.unwrap().done == 30
    })
    .await;
    shutdown.cancel();
    while a.join_next().await.is_some() {}
    while b.join_next().await.is_some() {}
    assert_eq!(
        tracker.overlaps.load(Ordering::SeqCst),
        0,
        "a job ran on two workers at once"
    );
    assert_eq!(
        tracker.runs.load(Ordering::SeqCst),
        30,
        "every job ran exactly once"
    );
    for id in ids {
        assert_eq!(store.job(id).await.unwrap().attempts, 1);
    }
}

struct CountingHandler(Arc<AtomicUsize>);

#[async_trait]
impl JobHandler for CountingHandler {
    async fn handle(&self, _job: &ClaimedJob) -> Result<(), HandlerError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

async fn a_crashed_workers_job_is_run_again_after_its_lease_expires(store: Store) {
    let id = store
        .enqueue_job(NewJob::new("count", json!({})))
        .await
        .unwrap()
        .unwrap();
    // A worker claims the job with a short lease, then "dies": it never heartbeats or finishes.
    let lost = store
        .claim_job("crashed", Duration::from_millis(300), Lane::Any)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lost.id, id);

    let runs = Arc::new(AtomicUsize::new(0));
    let shutdown = CancellationToken::new();
    let mut workers = JobRunner::new(store.clone(), fast_runner_config())
        .handle("count", CountingHandler(runs.clone()))
        .start(shutdown.clone());
    wait_until("the job is done", || async {
        store.job(id).await.unwrap().state == JobState::Done
    })
    .await;
    shutdown.cancel();
    while workers.join_next().await.is_some() {}
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(
        store.job(id).await.unwrap().attempts,
        2,
        "the crashed run counts as an attempt"
    );
}

struct FailingHandler;

#[async_trait]
impl JobHandler for FailingHandler {
    async fn handle(&self, job: &ClaimedJob) -> Result<(), HandlerError> {
        Err(format!("mail server refused attempt {}", job.attempt).into())
    }
}

async fn a_failing_job_ends_dead_with_its_error_after_max_attempts(store: Store) {
    let id = store
        .enqueue_job(NewJob::new("fail", json!({})).max_attempts(3))
        .await
        .unwrap()
        .unwrap();
    let shutdown = CancellationToken::new();
    let mut workers = JobRunner::new(store.clone(), fast_runner_config())
        .handle("fail", FailingHandler)
        .start(shutdown.clone());
    wait_until("the job is dead", || async {
        store.job(id).await.unwrap().state == JobState::Dead
    })
    .await;
    shutdown.cancel();
    while workers.join_next().await.is_some() {}
    let job = store.job(id).await.unwrap();
    assert_eq!(job.attempts, 3);
    assert_eq!(
        job.last_error.as_deref(),
        Some("mail server refused attempt 3")
    );
    assert_eq!(store.job_counts().await.unwrap().dead, 1);
}

async fn a_stale_worker_cannot_finish_a_job_it_lost(store: Store) {
    let id = store
        .enqueue_job(NewJob::new("noop", json!({})))
        .await
        .unwrap()
        .unwrap();
    let stale = store
        .claim_job("slow", Duration::from_millis(50), Lane::Any)
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    let fresh = store
        .claim_job("fast", LEASE, Lane::Any)
        .await
        .unwrap()
        .expect("expired lease is claimable");
    assert_eq!(fresh.id, id);
    assert!(!store.heartbeat_job(&stale, LEASE).await.unwrap());
    assert!(!store.complete_job(&stale).await.unwrap());
    let retry = RetryPolicy::default();
    assert_eq!(
        store.fail_job(&stale, "late", &retry).await.unwrap(),
        FailOutcome::LeaseLost
    );
    assert!(store.complete_job(&fresh).await.unwrap());
    let record = store.job(id).await.unwrap();
    assert_eq!(record.state, JobState::Done);
    assert_eq!(record.last_error, None);
}

async fn a_job_scheduled_later_is_not_claimed_early(store: Store) {
    let later = chrono::Utc::now() + chrono::Duration::milliseconds(400);
    store
        .enqueue_job(NewJob::new("noop", json!({})).run_at(later))
        .await
        .unwrap();
    assert!(
        store
            .claim_job("w", LEASE, Lane::Any)
            .await
            .unwrap()
            .is_none()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        store
            .claim_job("w", LEASE, Lane::Any)
            .await
            .unwrap()
            .is_some()
    );
}

/// Found by a new user (issue 20): memory was not updated on resolve, the immediate job being
/// de-duplicated against the quiet-time one queued for later.
async fn a_job_wanted_now_brings_its_later_twin_forward(store: Store) {
    let later = chrono::Utc::now() + chrono::Duration::minutes(30);
    let job = || NewJob::new("memory", json!({})).dedupe_key("memory:1:7");
    store
        .enqueue_or_bring_forward(job().run_at(later))
        .await
        .unwrap();
    assert!(
        store
            .claim_job("w", LEASE, Lane::Any)
            .await
            .unwrap()
            .is_none()
    );
    store.enqueue_or_bring_forward(job()).await.unwrap();
    let claimed = store.claim_job("w", LEASE, Lane::Any).await.unwrap();
    assert!(claimed.is_some(), "the queued job runs now");
    // A later wish never delays an earlier one.
    let other = || NewJob::new("memory", json!({})).dedupe_key("memory:1:8");
    store.enqueue_or_bring_forward(other()).await.unwrap();
    store
        .enqueue_or_bring_forward(other().run_at(later))
        .await
        .unwrap();
    assert!(
        store
            .claim_job("w", LEASE, Lane::Any)
            .await
            .unwrap()
            .is_some()
    );
}

async fn a_duplicate_dedupe_key_is_not_enqueued_twice(store: Store) {
    let job = || NewJob::new("memory", json!({})).dedupe_key("memory:contact:7");
    let first = store.enqueue_job(job()).await.unwrap();
    assert!(first.is_some());
    assert!(store.enqueue_job(job()).await.unwrap().is_none());
    let claimed = store
        .claim_job("w", LEASE, Lane::Any)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store.enqueue_job(job()).await.unwrap().is_none(),
        "still live while running"
    );
    store.complete_job(&claimed).await.unwrap();
    assert!(
        store.enqueue_job(job()).await.unwrap().is_some(),
        "a finished job frees its key"
    );
}

async fn a_released_job_does_not_count_the_attempt(store: Store) {
    let id = store
        .enqueue_job(NewJob::new("noop", json!({})))
        .await
        .unwrap()
        .unwrap();
    let job = store
        .claim_job("w", LEASE, Lane::Any)
        .await
        .unwrap()
        .unwrap();
    assert!(store.release_job(&job).await.unwrap());
    let record = store.job(id).await.unwrap();
    assert_eq!((record.state, record.attempts), (JobState::Queued, 0));
    let again = store
        .claim_job("w", LEASE, Lane::Any)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.attempt, 1);
}

struct SlowHandler(Arc<AtomicUsize>);

#[async_trait]
impl JobHandler for SlowHandler {
    async fn handle(&self, _job: &ClaimedJob) -> Result<(), HandlerError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(())
    }
}

async fn shutdown_hands_an_unfinished_job_back_to_the_queue(store: Store) {
    let id = store
        .enqueue_job(NewJob::new("slow", json!({})))
        .await
        .unwrap()
        .unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let shutdown = CancellationToken::new();
    let mut workers = JobRunner::new(store.clone(), fast_runner_config())
        .handle("slow", SlowHandler(started.clone()))
        .start(shutdown.clone());
    wait_until("the job started", || async {
        started.load(Ordering::SeqCst) == 1
    })
    .await;
    shutdown.cancel();
    while workers.join_next().await.is_some() {}
    let job = store.job(id).await.unwrap();
    assert_eq!(
        job.state,
        JobState::Queued,
        "released, not left running until its lease expires"
    );
    assert_eq!(job.attempts, 0, "an interrupted run does not count");
    assert!(job.lease_owner.is_none());
}
