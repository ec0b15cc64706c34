//! Finding conversations the way agents ask: "what did Ana write about the refund", "Sam's
//! open WhatsApp conversations last week".

use chrono::{DateTime, NaiveDate, Utc};
use rapport_core::ids::WorkspaceId;
use rapport_store::search::{ConversationQuery, FoundConversation};
use serde::Deserialize;

use crate::{AgentRef, Desk, Error, Result};

const STATUSES: [&str; 4] = ["bot", "waiting_human", "human", "resolved"];

/// A search as the API takes it; every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SearchInput {
    /// Words in a message, or the customer's name, e-mail, phone or channel id.
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    /// `me` or a user id.
    #[serde(default)]
    pub assignee: Option<String>,
    /// First day (YYYY-MM-DD), inclusive.
    #[serde(default)]
    pub from: Option<NaiveDate>,
    /// Last day (YYYY-MM-DD), inclusive.
    #[serde(default)]
    pub to: Option<NaiveDate>,
    #[serde(default)]
    pub limit: Option<i64>,
}

impl Desk {
    pub async fn search_conversations(
        &self,
        ws: WorkspaceId,
        agent: &AgentRef,
        input: SearchInput,
    ) -> Result<Vec<FoundConversation>> {
        let mut problems = Vec::new();
        let assignee_id = match input.assignee.as_deref().map(str::trim) {
            None | Some("") => None,
            Some("me") => Some(agent.user_id),
            Some(id) => match id.parse::<i64>() {
                Ok(id) => Some(id),
                Err(_) => {
                    problems.push(format!("assignee `{id}` is neither `me` nor a user id"));
                    None
                }
            },
        };
        let status = input
            .status
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty());
        if let Some(s) = &status
            && !STATUSES.contains(&s.as_str())
        {
            problems.push(format!(
                "status `{s}` is not one of {}",
                STATUSES.join(", ")
            ));
        }
        if let (Some(from), Some(to)) = (input.from, input.to)
            && to < from
        {
            problems.push("`to` is before `from`".to_owned());
        }
        let text = input
            .q
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty());
        if text.as_ref().is_some_and(|t| t.chars().count() > 200) {
            problems.push("q: at most 200 characters".to_owned());
        }
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        let query = ConversationQuery {
            text,
            channel: input
                .channel
                .map(|c| c.trim().to_lowercase())
                .filter(|c| !c.is_empty()),
            status,
            assignee_id,
            from: input.from.map(start_of),
            to: input.to.and_then(|d| d.succ_opt()).map(start_of),
            limit: input.limit.unwrap_or(50).clamp(1, 200),
        };
        Ok(self.store.search_conversations(ws, &query).await?)
    }
}

fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}
