//! The queue's side of ingestion: a `knowledge.sync` job runs one sync of one source. Running it
//! twice is harmless (see [`crate::base`]), which is what a job whose lease expired needs.

use async_trait::async_trait;
use rapport_core::ids::{SourceId, WorkspaceId};
use rapport_store::jobs::ClaimedJob;
use rapport_store::runner::{HandlerError, JobHandler};
use serde::Deserialize;

use crate::Error;
use crate::base::KnowledgeBase;

pub struct SyncSourceJob(pub KnowledgeBase);

#[derive(Deserialize)]
struct Payload {
    workspace_id: i64,
    source_id: i64,
}

#[async_trait]
impl JobHandler for SyncSourceJob {
    async fn handle(&self, job: &ClaimedJob) -> Result<(), HandlerError> {
        let payload: Payload = serde_json::from_value(job.payload.clone())?;
        let (ws, source) = (
            WorkspaceId(payload.workspace_id),
            SourceId(payload.source_id),
        );
        match self.0.sync(ws, source).await {
            Ok(_) => Ok(()),
            // Deleted while queued: nothing left to do.
            Err(Error::Store(rapport_store::Error::NotFound { .. })) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
