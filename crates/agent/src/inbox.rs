//! What a person does in a conversation the bot handed over: answer the customer (on the
//! channel they last wrote on, through the outbox) or leave an internal note for colleagues.

use rapport_core::domain::Channel;
use rapport_core::ids::{ConversationId, MessageId, WorkspaceId};

use crate::{Agent, Error, Result};

/// Longest message an agent may send in one go; channels split what they must.
pub const MAX_AGENT_TEXT_CHARS: usize = 8_000;

impl Agent {
    /// Sends `text` to the customer as a person. It goes out on the channel the customer last
    /// wrote on in this conversation (a customer who came back on e-mail to a WhatsApp
    /// escalation is answered by e-mail), or on `channel` when the agent chose one.
    pub async fn send_as_agent(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        text: &str,
        channel: Option<Channel>,
        user: Option<i64>,
    ) -> Result<MessageId> {
        let text = checked(text)?;
        let channel = match channel {
            Some(c) => c,
            None => self.reply_channel(ws, conversation).await?,
        };
        Ok(self
            .store()
            .add_agent_message(ws, conversation, channel, text, false, user)
            .await?)
    }

    /// An internal note: stored in the conversation, never sent to the customer.
    pub async fn add_note(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        text: &str,
        user: Option<i64>,
    ) -> Result<MessageId> {
        let text = checked(text)?;
        let channel = self
            .store()
            .conversation(ws, conversation)
            .await?
            .channel()?;
        Ok(self
            .store()
            .add_agent_message(ws, conversation, channel, text, true, user)
            .await?)
    }

    async fn reply_channel(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
    ) -> Result<Channel> {
        let c = self.store().conversation(ws, conversation).await?;
        let messages = self.store().conversation_messages(ws, conversation).await?;
        reply_channel_of(&c, &messages)
    }
}

/// Where a person's message to the customer goes: the channel the customer last wrote on in the
/// conversation, else the conversation's own.
pub(crate) fn reply_channel_of(
    conversation: &rapport_store::messages::Conversation,
    messages: &[rapport_store::messages::TimelineMessage],
) -> Result<Channel> {
    let last_inbound = messages
        .iter()
        .rev()
        .find(|m| m.direction == "inbound")
        .map(|m| m.channel.as_str());
    Ok(last_inbound
        .unwrap_or(&conversation.channel)
        .parse()
        .map_err(rapport_store::Error::from)?)
}

fn checked(text: &str) -> Result<&str> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::Invalid("text is empty".into()));
    }
    if text.chars().count() > MAX_AGENT_TEXT_CHARS {
        return Err(Error::Invalid(format!(
            "text is longer than {MAX_AGENT_TEXT_CHARS} characters"
        )));
    }
    Ok(text)
}
