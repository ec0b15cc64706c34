//! The queue's side of the agent: `agent.reply` answers one customer message, `agent.memory`
//! refreshes one customer's memory. Both are safe to run twice (a reply is skipped when the
//! message already has one; memory updates are idempotent).

use async_trait::async_trait;
use rapport_core::ids::{ContactId, ConversationId, MessageId, WorkspaceId};
use rapport_store::jobs::ClaimedJob;
use rapport_store::runner::{HandlerError, JobHandler};
use serde::Deserialize;

use crate::agent::{Agent, ReplyOptions};

pub struct ReplyJob(pub Agent);
pub struct MemoryJob(pub Agent);

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
        self.0
            .reply(
                WorkspaceId(p.workspace_id),
                ConversationId(p.conversation_id),
                MessageId(p.message_id),
                ReplyOptions {
                    deliver: true,
                    on_delta: None,
                },
            )
            .await?;
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
