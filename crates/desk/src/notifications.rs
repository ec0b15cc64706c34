//! The agent's bell: assignments, customers answering in their conversations, tasks due. Each
//! is a row per agent, so it survives a closed tab and reaches every node's live feed.

use rapport_core::ids::{ConversationId, WorkspaceId};
use rapport_store::notifications::{NewNotification, Notification};
use serde::Serialize;

use crate::{AgentRef, Desk, Result};

const PAGE: i64 = 50;

/// The bell's content: newest first, and how many are unread in all.
#[derive(Debug, Clone, Serialize)]
pub struct Inbox {
    pub unread: i64,
    pub notifications: Vec<Notification>,
}

impl Desk {
    pub async fn notifications(
        &self,
        ws: WorkspaceId,
        agent: &AgentRef,
        unread_only: bool,
    ) -> Result<Inbox> {
        let notifications = self
            .store
            .notifications(ws, agent.user_id, None, unread_only, PAGE)
            .await?;
        let unread = self.store.unread_notifications(ws, agent.user_id).await?;
        Ok(Inbox {
            unread,
            notifications,
        })
    }

    /// Marks the given notifications read (all of them when `ids` is empty); returns how many
    /// are still unread.
    pub async fn mark_read(&self, ws: WorkspaceId, agent: &AgentRef, ids: &[i64]) -> Result<i64> {
        self.store
            .mark_notifications_read(ws, agent.user_id, ids)
            .await?;
        Ok(self.store.unread_notifications(ws, agent.user_id).await?)
    }

    /// Tells an agent a conversation was handed to them, unless they took it themselves.
    pub async fn tell_assigned(
        &self,
        ws: WorkspaceId,
        by: Option<&AgentRef>,
        assignee: i64,
        conversation: ConversationId,
        subject: &str,
    ) -> Result<()> {
        if by.is_some_and(|a| a.user_id == assignee) {
            return Ok(());
        }
        let body = match by {
            Some(a) => format!("{} assigned it to you", a.name),
            None => "Assigned to you".to_owned(),
        };
        self.store
            .notify(
                ws,
                &NewNotification {
                    user_id: assignee,
                    kind: "assigned".into(),
                    title: format!("Conversation: {subject}"),
                    body,
                    conversation_id: Some(conversation),
                    task_id: None,
                },
            )
            .await?;
        Ok(())
    }

    /// Tells the agent working a conversation that the customer wrote again.
    pub async fn tell_customer_replied(
        &self,
        ws: WorkspaceId,
        assignee: i64,
        conversation: ConversationId,
        customer: &str,
        text: &str,
    ) -> Result<()> {
        let preview: String = text.chars().take(140).collect();
        self.store
            .notify(
                ws,
                &NewNotification {
                    user_id: assignee,
                    kind: "customer_reply".into(),
                    title: format!("{customer} replied"),
                    body: preview,
                    conversation_id: Some(conversation),
                    task_id: None,
                },
            )
            .await?;
        Ok(())
    }
}
