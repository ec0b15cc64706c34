//! Teams and SLA policies as admins define them, and what people do to an escalation's
//! routing by hand: claim it, give it to a colleague, change its priority. Each is an event
//! on the conversation's timeline with who did it and why.

use chrono::Utc;
use rapport_core::ids::{ConversationId, EscalationId, WorkspaceId};
use rapport_store::escalations::Escalation;
use rapport_store::routing::{SlaPolicy, SlaText, Team, TeamText};
use serde::Deserialize;
use serde_json::json;

use crate::routing::{policy_for, schedule};
use crate::{AgentRef, Desk, Error, Result};

pub const PRIORITIES: [&str; 3] = ["normal", "high", "urgent"];
const CHANNELS: [&str; 5] = ["whatsapp", "instagram", "web", "email", "api"];
/// A year: longer is not a service level.
const MAX_MINUTES: i64 = 525_600;

#[derive(Debug, Clone, Deserialize)]
pub struct TeamInput {
    pub name: String,
    /// Hand-off topics and intents routed to the team (`billing`, `refund_request`); `*` for
    /// whatever no other team takes.
    #[serde(default)]
    pub topics: Vec<String>,
    /// Open conversations per member before routing passes them over (default 5).
    #[serde(default)]
    pub capacity: Option<i64>,
    /// User ids.
    #[serde(default)]
    pub members: Vec<i64>,
    /// A routing rule: the agent routing gives one of the team's escalations to gets a
    /// follow-up task due this many minutes later.
    #[serde(default)]
    pub follow_up_minutes: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SlaInput {
    pub name: String,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub priority: Option<String>,
    pub first_response_minutes: i64,
    pub resolution_minutes: i64,
    /// Count only business hours (default true).
    #[serde(default)]
    pub business_hours: Option<bool>,
}

impl Desk {
    pub async fn teams(&self, ws: WorkspaceId) -> Result<Vec<Team>> {
        Ok(self.store.teams(ws).await?)
    }

    pub async fn create_team(&self, ws: WorkspaceId, input: TeamInput) -> Result<Team> {
        let text = self.checked_team(ws, input).await?;
        Ok(self.store.create_team(ws, &text).await?)
    }

    pub async fn update_team(&self, ws: WorkspaceId, id: i64, input: TeamInput) -> Result<Team> {
        let text = self.checked_team(ws, input).await?;
        Ok(self.store.update_team(ws, id, &text).await?)
    }

    pub async fn delete_team(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        Ok(self.store.delete_team(ws, id).await?)
    }

    async fn checked_team(&self, ws: WorkspaceId, input: TeamInput) -> Result<TeamText> {
        let name = input.name.trim().to_owned();
        let mut problems = Vec::new();
        if name.is_empty() || name.chars().count() > 80 {
            problems.push("name: 1 to 80 characters".to_owned());
        }
        let mut topics: Vec<String> = input
            .topics
            .iter()
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty())
            .collect();
        topics.dedup();
        if topics.len() > 50 || topics.iter().any(|t| t.chars().count() > 80) {
            problems.push("topics: at most 50, each at most 80 characters".to_owned());
        }
        let capacity = input.capacity.unwrap_or(crate::routing::DEFAULT_CAPACITY);
        if !(1..=100).contains(&capacity) {
            problems.push("capacity: 1 to 100 open conversations per agent".to_owned());
        }
        if input
            .follow_up_minutes
            .is_some_and(|m| !(1..=MAX_MINUTES).contains(&m))
        {
            problems.push(format!(
                "follow_up_minutes: 1 to {MAX_MINUTES} minutes, or none"
            ));
        }
        let users = self.store.users(ws).await?;
        let mut members = input.members.clone();
        members.sort_unstable();
        members.dedup();
        for id in &members {
            match users.iter().find(|u| u.id == *id) {
                None => problems.push(format!("members: there is no user {id}")),
                Some(u) if u.disabled_at.is_some() => {
                    problems.push(format!("members: {} is disabled", u.email))
                }
                Some(_) => {}
            }
        }
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        Ok(TeamText {
            name,
            topics,
            capacity,
            follow_up_minutes: input.follow_up_minutes,
            members,
        })
    }

    pub async fn sla_policies(&self, ws: WorkspaceId) -> Result<Vec<SlaPolicy>> {
        Ok(self.store.sla_policies(ws).await?)
    }

    pub async fn create_sla_policy(&self, ws: WorkspaceId, input: SlaInput) -> Result<SlaPolicy> {
        Ok(self
            .store
            .create_sla_policy(ws, &checked_sla(input)?)
            .await?)
    }

    pub async fn update_sla_policy(
        &self,
        ws: WorkspaceId,
        id: i64,
        input: SlaInput,
    ) -> Result<SlaPolicy> {
        Ok(self
            .store
            .update_sla_policy(ws, id, &checked_sla(input)?)
            .await?)
    }

    pub async fn delete_sla_policy(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        Ok(self.store.delete_sla_policy(ws, id).await?)
    }

    /// The agent takes an escalation (from the queue, or from a colleague).
    pub async fn claim_escalation(
        &self,
        ws: WorkspaceId,
        agent: &AgentRef,
        id: EscalationId,
    ) -> Result<Escalation> {
        let escalation = self
            .store
            .claim_escalation(ws, id, Some(agent.user_id))
            .await?;
        let detail = json!({ "why": format!("{} took it", agent.name), "user_id": agent.user_id, "by": "agent" });
        self.store
            .add_conversation_event(
                ws,
                ConversationId(escalation.conversation_id),
                Some(escalation.id),
                "assigned",
                &detail,
                Some(agent.user_id),
            )
            .await?;
        Ok(escalation)
    }

    /// Changes an escalation's priority; its SLA due times follow the policy for it.
    pub async fn set_priority(
        &self,
        ws: WorkspaceId,
        agent: &AgentRef,
        id: EscalationId,
        priority: &str,
    ) -> Result<Escalation> {
        let priority = priority.trim().to_lowercase();
        if !PRIORITIES.contains(&priority.as_str()) {
            return Err(Error::Invalid(vec![format!(
                "priority `{priority}` is not one of {}",
                PRIORITIES.join(", ")
            )]));
        }
        let escalation = self.store.escalation(ws, id).await?;
        let policies = self.store.sla_policies(ws).await?;
        let channel = escalation.channel.clone().unwrap_or_default();
        let policy = policy_for(&policies, &channel, &priority);
        let hours = self.business_hours(ws).await?;
        let routed = schedule(
            escalation.team_id,
            &priority,
            policy,
            hours.as_ref(),
            escalation.created_at,
        );
        self.store.reschedule_sla(ws, id.0, &routed).await?;
        let detail = json!({
            "why": format!("{} set the priority to {priority}", agent.name),
            "priority": priority,
            "first_response_due_at": routed.first_response_due_at,
            "resolution_due_at": routed.resolution_due_at,
            "at": Utc::now(),
        });
        self.store
            .add_conversation_event(
                ws,
                ConversationId(escalation.conversation_id),
                Some(escalation.id),
                "priority",
                &detail,
                Some(agent.user_id),
            )
            .await?;
        Ok(self.store.escalation(ws, id).await?)
    }
}

fn checked_sla(input: SlaInput) -> Result<SlaText> {
    let name = input.name.trim().to_owned();
    let channel = input
        .channel
        .map(|c| c.trim().to_lowercase())
        .filter(|c| !c.is_empty());
    let priority = input
        .priority
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty());
    let mut problems = Vec::new();
    if name.is_empty() || name.chars().count() > 80 {
        problems.push("name: 1 to 80 characters".to_owned());
    }
    if let Some(c) = &channel
        && !CHANNELS.contains(&c.as_str())
    {
        problems.push(format!(
            "channel `{c}` is not one of {}",
            CHANNELS.join(", ")
        ));
    }
    if let Some(p) = &priority
        && !PRIORITIES.contains(&p.as_str())
    {
        problems.push(format!(
            "priority `{p}` is not one of {}",
            PRIORITIES.join(", ")
        ));
    }
    for (what, m) in [
        ("first_response_minutes", input.first_response_minutes),
        ("resolution_minutes", input.resolution_minutes),
    ] {
        if !(1..=MAX_MINUTES).contains(&m) {
            problems.push(format!("{what}: 1 to {MAX_MINUTES}"));
        }
    }
    if input.resolution_minutes < input.first_response_minutes {
        problems
            .push("resolution_minutes cannot be shorter than first_response_minutes".to_owned());
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    Ok(SlaText {
        name,
        channel,
        priority,
        first_response_minutes: input.first_response_minutes,
        resolution_minutes: input.resolution_minutes,
        business_hours: input.business_hours.unwrap_or(true),
    })
}
