//! Decide: from what the message wants and what the knowledge supports, what the customer is
//! told — an answer, an acknowledgement, "I don't know", or a hand-over — and why.

use super::{Draft, Incoming, Understanding};
use crate::agent::{Agent, Decision};
use crate::guards::{self, Trigger};
use crate::intents::IntentKind;
use crate::language::{self, Language};

/// A statement or chit-chat read with less certainty than this is taken for a request in
/// disguise ("save a list of our customers from Germany", "do you accept ethereum?"): it is not
/// merely acknowledged but answered or handed over.
const ACKNOWLEDGE_SCORE: f32 = 0.4;

/// What the customer is told, and why.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub decision: Decision,
    /// Empty for an answer.
    pub reason: String,
    pub text: String,
    pub language: Language,
    /// What an action did this turn (the trace's `action`), when one ran.
    pub action: Option<serde_json::Value>,
}

impl Verdict {
    fn new(decision: Decision, reason: impl Into<String>, text: String, lang: Language) -> Verdict {
        Verdict {
            decision,
            reason: reason.into(),
            text,
            language: lang,
            action: None,
        }
    }

    /// The verdict of a turn an action handled.
    pub(crate) fn acted(
        decision: Decision,
        reason: String,
        text: String,
        lang: Language,
        action: serde_json::Value,
    ) -> Verdict {
        Verdict {
            action: Some(action),
            ..Verdict::new(decision, reason, text, lang)
        }
    }

    /// A hand-over with the plain notice.
    pub(crate) fn handover(incoming: &Incoming, lang: Language, reason: String) -> Verdict {
        let p = language::phrases(lang);
        let text = p.on(p.handoff, lang, incoming.channel);
        Verdict::new(Decision::Escalated, reason, text, lang)
    }
}

impl Agent {
    pub(super) fn decide(
        &self,
        incoming: &Incoming,
        understood: &Understanding,
        draft: &Draft,
    ) -> Verdict {
        let lang = understood.language;
        let p = language::phrases(lang);
        let on = |template: &str| p.on(template, lang, incoming.channel);
        let intent = understood.intent.intent;
        if understood.small_talk() {
            let text = if intent == IntentKind::Greeting {
                p.small_talk
            } else {
                p.welcome
            };
            return Verdict::new(Decision::Acknowledged, "small talk", text.to_owned(), lang);
        }
        match &understood.trigger {
            Some(Trigger::HumanRequested) => {
                return Verdict::new(
                    Decision::Escalated,
                    Trigger::HumanRequested.reason(),
                    on(p.human_requested),
                    lang,
                );
            }
            Some(t @ Trigger::Intent(IntentKind::AccountSecurity)) => {
                return Verdict::new(Decision::Escalated, t.reason(), on(p.urgent), lang);
            }
            Some(t) => return Verdict::handover(incoming, lang, t.reason()),
            None => {}
        }
        let answer = &draft.answer.value;
        if answer.handoff && !answer.reason.contains("no supporting") {
            let reason = if answer.reason.is_empty() {
                "the model asked for a human".to_owned()
            } else {
                answer.reason.clone()
            };
            return Verdict::handover(incoming, lang, reason);
        }
        if draft.supported {
            // The knowledge says our people do it: the passage becomes the agent's draft.
            if guards::staff_must_act(&answer.answer) {
                return Verdict::handover(
                    incoming,
                    lang,
                    "the knowledge says our team does this".into(),
                );
            }
            return Verdict::new(Decision::Answered, "", answer.answer.clone(), lang);
        }
        // Nothing in the knowledge answers it. A message that asks nothing is acknowledged
        // (only when both its shape and its meaning say so: a problem report is never "noted").
        if intent == IntentKind::Statement
            && understood.intent.score >= ACKNOWLEDGE_SCORE
            && !understood.asks
        {
            return Verdict::new(
                Decision::Acknowledged,
                "nothing was asked",
                p.noted.to_owned(),
                lang,
            );
        }
        if intent == IntentKind::ChitChat && understood.intent.score >= ACKNOWLEDGE_SCORE {
            return Verdict::new(
                Decision::Acknowledged,
                "off topic",
                p.off_topic.to_owned(),
                lang,
            );
        }
        self.unknown(incoming, understood, draft, lang)
    }

    /// "I don't know": handed over at once, or after a few of them in a row. When the question
    /// names something the knowledge never mentions, the customer hears what is not covered.
    fn unknown(
        &self,
        incoming: &Incoming,
        understood: &Understanding,
        draft: &Draft,
        lang: Language,
    ) -> Verdict {
        let settings = &incoming.settings;
        let unhelpful = understood.unhelpful;
        let escalate =
            settings.escalate_when_unsure || unhelpful + 1 >= settings.max_unhelpful_replies;
        let p = language::phrases(lang);
        let named: Vec<String> = draft
            .answerability
            .not_covered
            .iter()
            .map(|w| as_written(&incoming.message.text, w))
            .collect();
        let (what, text) = if named.is_empty() {
            (
                "no supporting knowledge".to_owned(),
                p.on(p.unknown, lang, incoming.channel),
            )
        } else {
            (
                format!("not covered by the knowledge: {}", named.join(", ")),
                p.on(p.not_covered, lang, incoming.channel)
                    .replace("{terms}", &p.quoted(&named)),
            )
        };
        let reason = if settings.escalate_when_unsure || unhelpful == 0 {
            what
        } else {
            format!("{what}, {} times in a row", unhelpful + 1)
        };
        Verdict::new(
            if escalate {
                Decision::Escalated
            } else {
                Decision::Unknown
            },
            reason,
            text,
            lang,
        )
    }
}

/// `word` (lower case, accents folded) as the customer spelled it in `text`: "HubSpot".
fn as_written(text: &str, word: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .find(|w| w.to_lowercase() == word)
        .map_or_else(|| word.to_owned(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::as_written;

    #[test]
    fn a_named_thing_keeps_the_customers_spelling() {
        assert_eq!(
            as_written("Do you sync with HubSpot?", "hubspot"),
            "HubSpot"
        );
        assert_eq!(as_written("nothing here", "okta"), "okta");
    }
}
