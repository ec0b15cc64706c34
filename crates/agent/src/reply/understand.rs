//! Understand: what the message wants (intent), in which language to answer, and whether a
//! person must take over before anything is looked up. Keyword rules decide where they are
//! sure; the intent bank reads everything else by meaning.

use std::collections::HashSet;
use std::time::Instant;

use serde_json::{Value, json};

use super::{Incoming, ms};
use crate::Result;
use crate::agent::Agent;
use crate::guards::{self, HandoffTopic, Intent, Trigger};
use crate::intents::{EncodedText, IntentKind, IntentReading};
use crate::language::{self, Language};

/// Similarity to an admin's example message from which a hand-off topic is raised.
const TOPIC_SIMILARITY: f32 = 0.72;

/// What the understand stage read in the message.
pub struct Understanding {
    pub language: Language,
    pub intent: IntentReading,
    /// Why a person must take over before the knowledge is consulted, if one must.
    pub trigger: Option<Trigger>,
    /// The message has the shape of a question or a problem report (a question mark, a
    /// question word, "not working"…): it is never merely acknowledged.
    pub asks: bool,
    /// "I don't know" replies since the bot last took the conversation back.
    pub unhelpful: u32,
    /// The message as the intent bank reads it, for matching other examples (actions).
    pub(crate) encoded: EncodedText,
    /// The message's text, trimmed.
    pub(crate) text: String,
    pub ms: u64,
}

impl Understanding {
    /// A greeting or thanks: answered in kind, nothing looked up.
    pub fn small_talk(&self) -> bool {
        self.trigger.is_none()
            && matches!(
                self.intent.intent,
                IntentKind::Greeting | IntentKind::Thanks
            )
    }

    pub fn needs_knowledge(&self) -> bool {
        !self.small_talk()
    }

    pub fn trace(&self) -> Value {
        json!({
            "name": self.intent.intent,
            "score": self.intent.score,
            "by": self.intent.by,
            "runner_up": self.intent.runner_up.map(|(k, s)| json!({ "name": k, "score": s })),
            "nearest": self.intent.nearest,
            "trigger": self.trigger.as_ref().map(Trigger::reason),
        })
    }
}

impl Agent {
    pub(crate) async fn understand(&self, incoming: &Incoming) -> Result<Understanding> {
        let started = Instant::now();
        let text = incoming.message.text.as_str();
        let topics = &incoming.settings.handoff_topics;
        let (reading, encoded) = self.intents.understand(text).await?;
        let recent = incoming.since_hand_back();
        // The bot answered here, or on another channel last: the customer's history holds
        // every channel's turns (a hand-off there would have brought this message to a person).
        let bot_answered = recent
            .iter()
            .any(|m| m.author == "bot" && bot_decision(m) == Some("answered"))
            || incoming
                .customer
                .history
                .iter()
                .rev()
                .find(|t| t.author != "customer")
                .is_some_and(|t| t.author == "bot");
        let trigger = match guards::check(text, topics) {
            Some(t) => Some(t),
            None if reading.intent == IntentKind::HumanRequest => Some(Trigger::HumanRequested),
            None if reading.intent.hands_over() => Some(Trigger::Intent(reading.intent)),
            None => match self.topic_by_example(topics, &encoded).await? {
                Some(topic) => Some(Trigger::Topic(topic)),
                // After an answer, a report that the problem remains means the answer did not
                // solve it: a person looks, with what the customer already tried.
                None if bot_answered
                    && ((reading.intent == IntentKind::ProblemPersists
                        && reading.score >= self.intents.tuning().handover_floor)
                        || guards::reports_persisting_problem(text)) =>
                {
                    Some(Trigger::ProblemPersists)
                }
                None => self.repeated_question(text, &recent),
            },
        };
        let unhelpful = recent
            .iter()
            .filter(|m| m.author == "bot" && bot_decision(m) == Some("unknown"))
            .count() as u32;
        let language = language::of_customer(
            text,
            incoming.customer.customer_turns().map(|t| t.text.as_str()),
            reading.nearest_lang.as_deref(),
            incoming.locale,
        );
        Ok(Understanding {
            language,
            intent: reading,
            trigger,
            asks: guards::intent(text) == Intent::Question,
            unhelpful,
            encoded,
            text: text.trim().to_owned(),
            ms: ms(started),
        })
    }

    /// The admin's hand-off topic whose example messages the message is closest to, if close.
    async fn topic_by_example(
        &self,
        topics: &[HandoffTopic],
        message: &EncodedText,
    ) -> Result<Option<String>> {
        let examples: Vec<String> = topics
            .iter()
            .flat_map(|t| t.examples.iter())
            .filter(|e| !e.trim().is_empty())
            .cloned()
            .collect();
        if examples.is_empty() {
            return Ok(None);
        }
        let encoded = self.intents.encode_remembered(&examples).await?;
        let tuning = *self.intents.tuning();
        let best = examples
            .iter()
            .zip(&encoded)
            .map(|(e, v)| (e, message.similarity(v, &tuning)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        Ok(best
            .filter(|(_, s)| *s >= TOPIC_SIMILARITY)
            .and_then(|(e, _)| topics.iter().find(|t| t.examples.contains(e)))
            .map(|t| t.name.clone()))
    }

    /// The customer asks again what the bot just answered: the answer did not help.
    fn repeated_question(
        &self,
        text: &str,
        recent: &[&rapport_store::messages::TimelineMessage],
    ) -> Option<Trigger> {
        let now: HashSet<String> = self.terms.tokens(text).into_iter().collect();
        if now.len() < 3 {
            return None;
        }
        let mut saw_bot_answer = false;
        for m in recent.iter().rev() {
            if m.author == "bot" {
                saw_bot_answer = true;
                continue;
            }
            if m.author == "customer" && saw_bot_answer {
                let before: HashSet<String> = self.terms.tokens(&m.text).into_iter().collect();
                if overlap(&now, &before) >= 0.8 {
                    return Some(Trigger::Topic("the same question again".into()));
                }
                return None;
            }
        }
        None
    }
}

fn bot_decision(m: &rapport_store::messages::TimelineMessage) -> Option<&str> {
    m.metadata
        .pointer("/trace/decision")
        .and_then(Value::as_str)
}

/// Share of the shorter message's words found in the other: "same question again".
fn overlap(a: &HashSet<String>, b: &HashSet<String>) -> f32 {
    let smaller = a.len().min(b.len());
    if smaller == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f32 / smaller as f32
}
