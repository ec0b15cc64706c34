//! Asking for a rating when a conversation closes, and hearing it: the request goes out on the
//! customer's channel through the outbox with a rating link; a bare "5" (or ⭐⭐⭐⭐⭐) that the
//! customer sends back soon after is the answer, kept on the closed conversation rather than
//! opening a new one for the bot to puzzle over.

use chrono::Utc;
use rapport_core::domain::{Author, Channel, RATING_LABELS};
use rapport_core::ids::{ContactId, ConversationId, WorkspaceId};
use rapport_store::messages::NewReply;
use serde_json::json;

use crate::{Agent, Result};

/// How long after the request a bare number still counts as the rating.
pub fn rating_window() -> chrono::Duration {
    chrono::Duration::days(7)
}

/// A message that is only a score: "5", "4/5", "3 stars", "⭐⭐⭐⭐", or a pick from the rating
/// list we send on WhatsApp ("⭐⭐⭐⭐ — Good").
pub fn score_of(text: &str) -> Option<i32> {
    let t = text.trim().trim_end_matches(['.', '!']).to_lowercase();
    let t = match t.split_once(" — ") {
        Some((stars, label))
            if RATING_LABELS
                .iter()
                .any(|l| l.eq_ignore_ascii_case(label.trim())) =>
        {
            stars.to_owned()
        }
        _ => t,
    };
    let stars = t.chars().filter(|c| *c == '⭐' || *c == '★').count();
    if stars > 0
        && t.chars()
            .all(|c| c == '⭐' || c == '★' || c.is_whitespace())
    {
        return (1..=5).contains(&stars).then_some(stars as i32);
    }
    let digits = t
        .strip_suffix("/5")
        .or_else(|| t.strip_suffix(" stars"))
        .or_else(|| t.strip_suffix(" star"))
        .unwrap_or(&t)
        .trim();
    match digits {
        "1" | "2" | "3" | "4" | "5" => digits.parse().ok(),
        _ => None,
    }
}

impl Agent {
    /// Asks the customer to rate a closed conversation, on the channel they last wrote on,
    /// when rating links are configured and the conversation had a customer to ask.
    pub(crate) async fn request_rating(
        &self,
        ws: WorkspaceId,
        conversation: &rapport_store::messages::Conversation,
    ) -> Result<()> {
        let conversation_id = ConversationId(conversation.id);
        let Some(base) = self.settings().csat_link_base.as_deref() else {
            return Ok(());
        };
        let messages = self
            .store()
            .conversation_messages(ws, conversation_id)
            .await?;
        let has_customer = messages.iter().any(|m| m.author == "customer");
        let was_answered = messages
            .iter()
            .any(|m| m.author == "bot" || m.author == "agent");
        if !has_customer || !was_answered {
            return Ok(());
        }
        let channel = crate::inbox::reply_channel_of(conversation, &messages)?;
        let token = uuid::Uuid::new_v4().simple().to_string();
        let link = format!("{}/csat/{token}", base.trim_end_matches('/'));
        let text = match channel {
            Channel::Email => format!(
                "Thanks for contacting us. How did we do? Rate this conversation here: {link}"
            ),
            _ => format!(
                "Thanks for contacting us! How did we do? Reply with a number from 1 (poor) to 5 \
                 (great), or rate us here: {link}"
            ),
        };
        let customer = messages
            .iter()
            .rev()
            .find(|m| m.author == "customer")
            .map_or(0, |m| m.contact_id);
        self.store()
            .mark_csat_requested(ws, conversation_id, &token)
            .await?;
        self.store()
            .add_reply(
                ws,
                &NewReply {
                    conversation_id,
                    contact_id: ContactId(customer),
                    author: Author::System,
                    channel,
                    text,
                    citations: json!([]),
                    metadata: json!({ "kind": "csat_prompt", "csat_link": link }),
                    deliver: true,
                },
            )
            .await?;
        Ok(())
    }

    /// The conversation a bare score from this customer rates, if one asked recently.
    pub(crate) async fn rated_conversation(
        &self,
        ws: WorkspaceId,
        contacts: &[ContactId],
        channel: Channel,
        text: &str,
    ) -> Result<Option<(ConversationId, i32)>> {
        let Some(score) = score_of(text) else {
            return Ok(None);
        };
        let since = Utc::now() - rating_window();
        Ok(self
            .store()
            .awaiting_rating(ws, contacts, channel, since)
            .await?
            .map(|c| (c, score)))
    }
}

#[cfg(test)]
mod tests {
    use super::score_of;

    #[test]
    fn a_bare_score_is_read_and_anything_else_is_not() {
        for (text, score) in [
            ("5", Some(5)),
            (" 4 ", Some(4)),
            ("3/5", Some(3)),
            ("2 stars", Some(2)),
            ("⭐⭐⭐⭐", Some(4)),
            ("⭐⭐⭐⭐ — Good", Some(4)),
            ("⭐ — poor", Some(1)),
            ("⭐⭐ — whatever you say", None),
            ("1!", Some(1)),
            ("6", None),
            ("0", None),
            ("5 orders are missing", None),
            ("order 5", None),
            ("", None),
        ] {
            assert_eq!(score_of(text), score, "{text:?}");
        }
    }
}

/// What a rating link names, for its page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatingPage {
    /// The score already given, if any.
    pub current: Option<i32>,
}

impl Agent {
    /// The conversation behind a rating link; `None` for a token we never issued.
    pub async fn rating_page(&self, token: &str) -> Result<Option<RatingPage>> {
        Ok(self
            .store()
            .rating_link(token)
            .await?
            .map(|l| RatingPage { current: l.csat }))
    }

    /// Keeps the score given through a rating link. `false` for a token we never issued.
    pub async fn rate_by_link(&self, token: &str, score: i32) -> Result<bool> {
        if !(1..=5).contains(&score) {
            return Err(crate::Error::Invalid(
                "a score is a whole number from 1 to 5".into(),
            ));
        }
        let Some(link) = self.store().rating_link(token).await? else {
            return Ok(false);
        };
        self.store()
            .record_csat(
                WorkspaceId(link.workspace_id),
                ConversationId(link.conversation_id),
                score,
            )
            .await?;
        Ok(true)
    }
}
