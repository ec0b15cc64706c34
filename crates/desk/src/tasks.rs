//! Follow-up tasks: "call her back Tuesday", "check the refund went through". A task hangs on a
//! conversation or straight on a customer, belongs to an agent, and reminds them when it falls
//! due — once, on whichever node claims it first. Tasks show in the agent's list and on the
//! customer's timeline.

use chrono::{DateTime, Utc};
use rapport_core::ids::{ContactId, ConversationId, WorkspaceId};
use rapport_store::notifications::NewNotification;
use rapport_store::tasks::{NewTask, Task, TaskChange, TaskFilter};
use serde::Deserialize;

use crate::{AgentRef, Desk, Error, Result};

const MAX_TITLE: usize = 200;
const MAX_NOTE: usize = 4_000;
const LIST_LIMIT: i64 = 200;

/// A task as an agent writes it.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskInput {
    pub title: String,
    #[serde(default)]
    pub note: String,
    /// The conversation it follows up; the customer is taken from it.
    #[serde(default)]
    pub conversation_id: Option<i64>,
    /// The customer, when the task is not about one conversation.
    #[serde(default)]
    pub contact_id: Option<i64>,
    /// Whose task it is; absent means the author's own.
    #[serde(default)]
    pub assignee_id: Option<i64>,
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
}

/// Which tasks to show.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TaskQuery {
    /// `me`, a user id, or absent for everyone's.
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub contact_id: Option<i64>,
    #[serde(default)]
    pub conversation_id: Option<i64>,
    /// Leave out done tasks.
    #[serde(default)]
    pub open: bool,
}

impl Desk {
    pub async fn tasks(
        &self,
        ws: WorkspaceId,
        agent: &AgentRef,
        q: &TaskQuery,
    ) -> Result<Vec<Task>> {
        let assignee_id = match q.assignee.as_deref().map(str::trim) {
            None | Some("") | Some("all") => None,
            Some("me") => Some(agent.user_id),
            Some(id) => Some(id.parse::<i64>().map_err(|_| {
                Error::Invalid(vec![format!(
                    "assignee `{id}` is neither `me` nor a user id"
                )])
            })?),
        };
        let contacts = match q.contact_id {
            Some(id) => self.customer(ws, ContactId(id)).await?,
            None => Vec::new(),
        };
        let filter = TaskFilter {
            assignee_id,
            contacts,
            conversation_id: q.conversation_id.map(ConversationId),
            open_only: q.open,
            limit: LIST_LIMIT,
        };
        Ok(self.store.tasks(ws, &filter).await?)
    }

    /// Every task on the customer (any contact of their cluster), open ones first.
    pub async fn customer_tasks(&self, ws: WorkspaceId, contact: ContactId) -> Result<Vec<Task>> {
        let filter = TaskFilter {
            contacts: self.customer(ws, contact).await?,
            limit: LIST_LIMIT,
            ..TaskFilter::default()
        };
        Ok(self.store.tasks(ws, &filter).await?)
    }

    pub async fn create_task(
        &self,
        ws: WorkspaceId,
        agent: &AgentRef,
        input: TaskInput,
    ) -> Result<Task> {
        let (title, note) = checked_text(&input.title, &input.note)?;
        let assignee_id = input.assignee_id.unwrap_or(agent.user_id);
        self.check_assignee(ws, assignee_id).await?;
        let (conversation_id, contact_id) = self
            .subject(ws, input.conversation_id, input.contact_id)
            .await?;
        let task = self
            .store
            .create_task(
                ws,
                &NewTask {
                    conversation_id,
                    contact_id,
                    title,
                    note,
                    assignee_id: Some(assignee_id),
                    created_by: Some(agent.user_id),
                    source: "agent".into(),
                    due_at: input.due_at,
                },
            )
            .await?;
        self.tell_assignee(ws, agent, &task).await?;
        Ok(task)
    }

    /// Edits title, note, assignee and due time; what the task is about stays.
    pub async fn update_task(
        &self,
        ws: WorkspaceId,
        agent: &AgentRef,
        id: i64,
        input: TaskInput,
    ) -> Result<Task> {
        let before = self.store.task(ws, id).await?;
        let (title, note) = checked_text(&input.title, &input.note)?;
        let assignee_id = input.assignee_id.or(before.assignee_id);
        if let Some(user) = assignee_id {
            self.check_assignee(ws, user).await?;
        }
        let task = self
            .store
            .update_task(
                ws,
                id,
                &TaskChange {
                    title,
                    note,
                    assignee_id,
                    due_at: input.due_at,
                },
            )
            .await?;
        if task.assignee_id != before.assignee_id {
            self.tell_assignee(ws, agent, &task).await?;
        }
        Ok(task)
    }

    pub async fn complete_task(
        &self,
        ws: WorkspaceId,
        agent: &AgentRef,
        id: i64,
        outcome: Option<&str>,
    ) -> Result<Task> {
        let outcome = outcome.map(str::trim).filter(|o| !o.is_empty());
        if outcome.is_some_and(|o| o.chars().count() > MAX_NOTE) {
            return Err(Error::Invalid(vec![format!(
                "outcome is longer than {MAX_NOTE} characters"
            )]));
        }
        Ok(self
            .store
            .set_task_done(ws, id, Some(agent.user_id), outcome)
            .await?)
    }

    pub async fn reopen_task(&self, ws: WorkspaceId, id: i64) -> Result<Task> {
        Ok(self.store.set_task_done(ws, id, None, None).await?)
    }

    pub async fn delete_task(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        Ok(self.store.delete_task(ws, id).await?)
    }

    /// Sends the reminders of every task due by `now` (any workspace), each once across nodes.
    pub async fn send_due_reminders(&self, now: DateTime<Utc>) -> Result<Vec<Task>> {
        let sent = self.store.send_task_reminders(now, 100).await?;
        if !sent.is_empty() {
            tracing::info!(reminders = sent.len(), "task reminders sent");
        }
        Ok(sent)
    }

    async fn customer(&self, ws: WorkspaceId, contact: ContactId) -> Result<Vec<ContactId>> {
        let root = self.store.root_contact(ws, contact).await?;
        Ok(self.store.contact_cluster(ws, root).await?)
    }

    /// The conversation and customer a new task is about; the conversation's customer wins.
    async fn subject(
        &self,
        ws: WorkspaceId,
        conversation: Option<i64>,
        contact: Option<i64>,
    ) -> Result<(Option<ConversationId>, Option<ContactId>)> {
        if let Some(id) = conversation {
            let conversation = self.store.conversation(ws, ConversationId(id)).await?;
            return Ok((
                Some(ConversationId(id)),
                Some(ContactId(conversation.contact_id)),
            ));
        }
        match contact {
            Some(id) => {
                self.store.contact(ws, ContactId(id)).await?;
                Ok((None, Some(ContactId(id))))
            }
            None => Ok((None, None)),
        }
    }

    async fn check_assignee(&self, ws: WorkspaceId, user: i64) -> Result<()> {
        match self.store.user(ws, user).await {
            Ok(u) if u.disabled_at.is_none() => Ok(()),
            Ok(_) => Err(Error::Invalid(vec![format!(
                "user {user} is disabled and cannot be given tasks"
            )])),
            Err(rapport_store::Error::NotFound { .. }) => Err(Error::Invalid(vec![format!(
                "there is no user {user} in this workspace"
            )])),
            Err(e) => Err(e.into()),
        }
    }

    /// A task someone else gave you lands in your notifications.
    async fn tell_assignee(&self, ws: WorkspaceId, agent: &AgentRef, task: &Task) -> Result<()> {
        let Some(user) = task.assignee_id.filter(|u| *u != agent.user_id) else {
            return Ok(());
        };
        let body = match &task.contact_name {
            Some(name) => format!("{} gave you a task about {name}", agent.name),
            None => format!("{} gave you a task", agent.name),
        };
        self.store
            .notify(
                ws,
                &NewNotification {
                    user_id: user,
                    kind: "task_assigned".into(),
                    title: format!("New task: {}", task.title),
                    body,
                    conversation_id: task.conversation_id.map(ConversationId),
                    task_id: Some(task.id),
                },
            )
            .await?;
        Ok(())
    }
}

fn checked_text(title: &str, note: &str) -> Result<(String, String)> {
    let title = title.trim().to_owned();
    let note = note.trim().to_owned();
    let mut problems = Vec::new();
    if title.is_empty() {
        problems.push("title is empty".to_owned());
    }
    if title.chars().count() > MAX_TITLE {
        problems.push(format!("title is longer than {MAX_TITLE} characters"));
    }
    if note.chars().count() > MAX_NOTE {
        problems.push(format!("note is longer than {MAX_NOTE} characters"));
    }
    if problems.is_empty() {
        Ok((title, note))
    } else {
        Err(Error::Invalid(problems))
    }
}
