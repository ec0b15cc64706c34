//! The queue's side of the agent: `agent.reply` answers one customer message, `agent.memory`
//! refreshes one customer's memory. Both are safe to run twice (a reply is skipped when the
//! message already has one; memory updates are idempotent).
//!
//! A reply job can be watched ([`ReplyObserver`]): the web chat shows typing dots while it runs
//! and the answer as the model writes it. Watching is best effort and in-process; the stored
//! reply is what counts.

use std::sync::Arc;

use async_trait::async_trait;
use rapport_core::domain::Channel;
use rapport_core::ids::{ContactId, ConversationId, MessageId, WorkspaceId};
use rapport_store::jobs::ClaimedJob;
use rapport_store::runner::{HandlerError, JobHandler};
use serde::Deserialize;

use crate::agent::{Agent, ReplyOptions, ReplyOutcome};
use crate::model::DeltaSink;

/// Answers queued customer messages; see [`ReplyJob::observed_by`].
pub struct ReplyJob {
    agent: Agent,
    observers: Vec<Arc<dyn ReplyObserver>>,
}
pub struct MemoryJob(pub Agent);

/// The customer message a reply job answers.
#[derive(Debug, Clone)]
pub struct ReplyTo {
    pub workspace: WorkspaceId,
    pub conversation: ConversationId,
    pub message: MessageId,
    /// The contact row of the message's sender (its identity's, not the merged root).
    pub contact: ContactId,
    pub channel: Channel,
}

/// What a reply job is doing, as it happens.
#[derive(Debug, Clone, Copy)]
pub enum ReplyProgress<'a> {
    Started,
    /// Answer text as the model writes it (models that stream only). The stored reply may
    /// still differ: a guard can turn the answer into a hand-over.
    Delta(&'a str),
    /// Done, whatever the outcome (answered, handed over, skipped, failed); a reply is stored
    /// by now if there is one. The outcome, when the pipeline ran to the end.
    Finished(Option<&'a ReplyOutcome>),
}

/// Told what reply jobs do. Called on the job's task: must not block.
pub trait ReplyObserver: Send + Sync {
    fn progress(&self, reply: &ReplyTo, progress: ReplyProgress<'_>);
}

impl ReplyJob {
    pub fn new(agent: Agent) -> Self {
        ReplyJob {
            agent,
            observers: Vec::new(),
        }
    }

    /// Adds a watcher (the web chat's live stream, metrics); each is told everything.
    pub fn observed_by(mut self, observer: Arc<dyn ReplyObserver>) -> Self {
        self.observers.push(observer);
        self
    }

    fn tell(&self, reply: &ReplyTo, progress: ReplyProgress<'_>) {
        for o in &self.observers {
            o.progress(reply, progress);
        }
    }
}

#[derive(Deserialize)]
struct ReplyPayload {
    workspace_id: i64,
    conversation_id: i64,
    message_id: i64,
}

#[derive(Deserialize)]
struct MemoryPayload {
    workspace_id: i64,
    contact_id: i64,
}

#[async_trait]
impl JobHandler for ReplyJob {
    async fn handle(&self, job: &ClaimedJob) -> Result<(), HandlerError> {
        let p: ReplyPayload = serde_json::from_value(job.payload.clone())?;
        let (ws, conversation, message) = (
            WorkspaceId(p.workspace_id),
            ConversationId(p.conversation_id),
            MessageId(p.message_id),
        );
        if self.observers.is_empty() {
            self.agent
                .reply(
                    ws,
                    conversation,
                    message,
                    ReplyOptions {
                        deliver: true,
                        on_delta: None,
                    },
                )
                .await?;
            return Ok(());
        }
        // The observer needs the sender and channel; the pipeline reads the message again, but
        // a primary-key read is nothing next to retrieval and generation.
        let row = self.agent.store().message(ws, message).await?;
        let reply_to = ReplyTo {
            workspace: ws,
            conversation,
            message,
            contact: ContactId(row.contact_id),
            channel: row.channel.parse().map_err(rapport_store::Error::from)?,
        };
        self.tell(&reply_to, ReplyProgress::Started);
        let mut forward = |text: &str| self.tell(&reply_to, ReplyProgress::Delta(text));
        let sink: DeltaSink<'_> = &mut forward;
        let result = self
            .agent
            .reply(
                ws,
                conversation,
                message,
                ReplyOptions {
                    deliver: true,
                    on_delta: Some(sink),
                },
            )
            .await;
        self.tell(&reply_to, ReplyProgress::Finished(result.as_ref().ok()));
        result?;
        Ok(())
    }
}

#[async_trait]
impl JobHandler for MemoryJob {
    async fn handle(&self, job: &ClaimedJob) -> Result<(), HandlerError> {
        let p: MemoryPayload = serde_json::from_value(job.payload.clone())?;
        self.0
            .update_memory(WorkspaceId(p.workspace_id), ContactId(p.contact_id))
            .await?;
        Ok(())
    }
}
