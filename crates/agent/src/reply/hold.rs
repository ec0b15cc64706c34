//! Hold: while a person has the conversation (waiting for one, or claimed) the bot does not
//! answer, but a customer who writes — on any channel — is not met with silence: once per
//! quiet stretch they hear that their question is with the team, and where the reply will
//! come; after hours, when people are back. Not when a person wrote to them moments ago, and
//! not in reply to a thank-you.

use chrono::Utc;
use rapport_core::domain::Author;
use rapport_store::notifications::NewNotification;
use serde_json::json;

use super::{Incoming, TRACE_VERSION, Understanding};
use crate::Result;
use crate::agent::{Agent, AgentSettings, Decision, ReplyOutcome};
use crate::intents::IntentKind;
use crate::language::{self, Language};

/// Longest topic named in a holding reply; a longer title is cut at a word.
const TOPIC_CHARS: usize = 80;

/// Why no holding reply goes out, if none does.
fn quiet_reason(
    incoming: &Incoming,
    understood: &Understanding,
    now: chrono::DateTime<Utc>,
) -> Option<&'static str> {
    let settings = &incoming.settings;
    if !settings.holding_replies {
        return Some("a human owns the conversation");
    }
    if understood.intent.intent == IntentKind::Thanks {
        return Some("a human owns the conversation; the customer only said thanks");
    }
    let earlier = incoming
        .messages
        .iter()
        .filter(|m| m.id < incoming.message.id);
    let mut agent_active = false;
    let mut held_here = false;
    for m in earlier {
        if m.author == Author::Agent.as_str() && m.created_at >= now - settings.agent_active {
            agent_active = true;
        }
        if m.author == Author::Bot.as_str()
            && m.channel == incoming.message.channel
            && m.created_at >= now - settings.holding_quiet
        {
            held_here = true;
        }
    }
    if agent_active {
        Some("a human owns the conversation and wrote moments ago")
    } else if held_here {
        Some("a human owns the conversation; the customer was told on this channel")
    } else {
        None
    }
}

/// `text` with the away message (or when people are back) when the team is off now.
pub(super) fn with_hours(settings: &AgentSettings, text: String, lang: Language) -> (String, bool) {
    let Some(hours) = settings.business_hours.as_ref() else {
        return (text, false);
    };
    let now = Utc::now();
    if hours.is_open(now) {
        return (text, false);
    }
    let note = if !hours.away_message.trim().is_empty() {
        hours.away_message.trim().to_owned()
    } else {
        match hours.next_open(now) {
            Some(at) => language::back_at(lang, at),
            None => return (text, true),
        }
    };
    (format!("{text}\n\n{note}"), true)
}

impl Agent {
    pub(super) async fn hold(
        &self,
        incoming: &Incoming,
        understood: &Understanding,
        deliver: bool,
    ) -> Result<ReplyOutcome> {
        let now = Utc::now();
        self.tell_assignee(incoming).await?;
        let mut trace = json!({
            "version": TRACE_VERSION,
            "language": understood.language.code,
            "intent": understood.trace(),
            "context": incoming.context_trace(),
        });
        if let Some(reason) = quiet_reason(incoming, understood, now) {
            // Agents see the message in the inbox; the customer hears from them.
            trace["decision"] = json!(Decision::Silent);
            trace["reason"] = json!(reason);
            return Ok(ReplyOutcome {
                decision: Decision::Silent,
                reason: Some(reason.into()),
                reply: None,
                message_id: None,
                escalation_id: None,
                trace,
            });
        }
        let topic = self.pending_topic(incoming).await?;
        let lang = understood.language;
        let p = language::phrases(lang);
        let text = match &topic {
            Some(t) => p.holding_about.replace("{topic}", t),
            None => p.holding.to_owned(),
        };
        let (text, after_hours) = with_hours(
            &incoming.settings,
            p.on(&text, lang, incoming.channel),
            lang,
        );
        let reason = "a human owns the conversation; the customer was told it is with the team";
        trace["decision"] = json!(Decision::Held);
        trace["reason"] = json!(reason);
        trace["pending_topic"] = json!(topic);
        trace["after_hours"] = json!(after_hours);
        let reply_id = self
            .send_bot_reply(incoming, &text, json!([]), &trace, deliver)
            .await?;
        tracing::info!(workspace = %incoming.ws, conversation = %incoming.conversation.id, "held for the team");
        Ok(ReplyOutcome {
            decision: Decision::Held,
            reason: Some(reason.into()),
            reply: Some(text),
            message_id: Some(reply_id),
            escalation_id: None,
            trace,
        })
    }

    /// The agent who has the conversation hears that the customer wrote (their bell, the live
    /// feed); nobody is told while it waits for someone to claim it.
    async fn tell_assignee(&self, incoming: &Incoming) -> Result<()> {
        let Some(assignee) = incoming.conversation.assignee_id else {
            return Ok(());
        };
        let who = incoming
            .customer
            .customer
            .name
            .clone()
            .unwrap_or_else(|| "The customer".to_owned());
        let note = NewNotification {
            user_id: assignee,
            kind: "customer_reply".into(),
            title: format!("{who} replied"),
            body: incoming.message.text.chars().take(140).collect(),
            conversation_id: Some(incoming.conversation_id()),
            task_id: None,
        };
        self.store.notify(incoming.ws, &note).await?;
        Ok(())
    }

    /// What the team has in hand, from the open escalation: the title of the first source it
    /// was handed over with that matches the question as well as an answer must. A source that
    /// only shares words would name the wrong topic, and then none is named.
    async fn pending_topic(&self, incoming: &Incoming) -> Result<Option<String>> {
        let Some(escalation) = self
            .store
            .open_escalation(incoming.ws, incoming.conversation_id())
            .await?
        else {
            return Ok(None);
        };
        let threshold = incoming.settings.support_threshold as f64;
        let sources = escalation.context["sources"].as_array().cloned();
        let title = sources.iter().flatten().find_map(|s| {
            let close = s["similarity"]
                .as_f64()
                .unwrap_or(0.0)
                .max(s["title_similarity"].as_f64().unwrap_or(0.0));
            s["title"]
                .as_str()
                .map(str::trim)
                .filter(|t| !t.is_empty() && close >= threshold)
        });
        Ok(title.map(shortened))
    }
}

fn shortened(title: &str) -> String {
    if title.chars().count() <= TOPIC_CHARS {
        return title.to_owned();
    }
    let cut: String = title.chars().take(TOPIC_CHARS).collect();
    match cut.rfind(' ') {
        Some(at) => format!("{}…", &cut[..at]),
        None => format!("{cut}…"),
    }
}
