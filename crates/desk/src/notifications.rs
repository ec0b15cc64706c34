//! The agent's bell: assignments, customers answering in their conversations, tasks due. Each
//! is a row per agent, so it survives a closed tab and reaches every node's live feed.

use rapport_core::ids::{ConversationId, EscalationId, WorkspaceId};
use rapport_store::escalations::Escalation;
use rapport_store::notifications::{NewNotification, Notification};
use serde::Serialize;

use crate::{AgentRef, Desk, Error, Result, Status};

const PAGE: i64 = 50;

/// The bell's content: newest first, and how many are unread in all.
#[derive(Debug, Clone, Serialize)]
pub struct Inbox {
    pub unread: i64,
    pub notifications: Vec<Notification>,
}

impl Desk {
    /// Gives an escalated conversation to a colleague — theirs as if they had claimed it — and
    /// tells them.
    pub async fn assign_escalation(
        &self,
        ws: WorkspaceId,
        by: &AgentRef,
        escalation: EscalationId,
        assignee: i64,
    ) -> Result<Escalation> {
        let user = self.store.user(ws, assignee).await?;
        if user.disabled_at.is_some() {
            return Err(Error::Invalid(vec![format!(
                "{} is disabled and cannot take conversations",
                user.email
            )]));
        }
        let escalation = self
            .store
            .claim_escalation(ws, escalation, Some(user.id))
            .await?;
        // "Kerry Fisher: the customer asked for a human" (the summary opens with who it is).
        let who = escalation
            .summary
            .lines()
            .next()
            .and_then(|l| l.split(" · ").next())
            .unwrap_or("")
            .trim();
        let subject = if who.is_empty() {
            escalation.reason.clone()
        } else {
            format!("{who}: {}", escalation.reason)
        };
        let subject: String = subject.chars().take(100).collect();
        let detail = serde_json::json!({
            "why": format!("{} gave it to {}", by.name, user.name),
            "user_id": user.id,
            "by": "agent",
        });
        self.store
            .add_conversation_event(
                ws,
                ConversationId(escalation.conversation_id),
                Some(escalation.id),
                "assigned",
                &detail,
                Some(by.user_id),
            )
            .await?;
        self.tell_assigned(
            ws,
            Some(by),
            user.id,
            ConversationId(escalation.conversation_id),
            &subject,
        )
        .await?;
        Ok(escalation)
    }

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
                    body: body.clone(),
                    conversation_id: Some(conversation),
                    task_id: None,
                },
            )
            .await?;
        self.email_if_offline(ws, assignee, conversation, subject, &body)
            .await
    }

    /// An agent given a conversation while offline would not see the bell: they get an
    /// e-mail through the outbox (when e-mail is configured), noted on the conversation.
    async fn email_if_offline(
        &self,
        ws: WorkspaceId,
        assignee: i64,
        conversation: ConversationId,
        subject: &str,
        body: &str,
    ) -> Result<()> {
        let Some(app_url) = &self.settings.assignment_emails else {
            return Ok(());
        };
        let team = self.team_presence(ws).await?;
        let Some(agent) = team.iter().find(|p| p.user_id == assignee) else {
            return Ok(());
        };
        if agent.status != Status::Offline {
            return Ok(());
        }
        let text = format!(
            "Hello {name},\n\n{body} while you were away: {subject}\n\nOpen it in Rapport: \
             {app_url}/app/inbox\n",
            name = agent.name
        );
        self.store
            .add_agent_notice(
                ws,
                conversation,
                &agent.email,
                &format!("Assigned to you: {subject}"),
                &text,
            )
            .await?;
        Ok(())
    }
}
