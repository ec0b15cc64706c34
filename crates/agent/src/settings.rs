//! What admins change on the app's Settings page, laid over the server's configuration: how the
//! bot presents itself, how sure it must be to answer, when it hands over, the team's business
//! hours and the model's tuning. Every field is optional — unset means "as configured" — so a
//! workspace that never saved settings behaves exactly as the configuration says.

use serde::{Deserialize, Serialize};

pub use rapport_core::hours::{BusinessHours, NextOpening};

use crate::AgentSettings;
use crate::guards::HandoffTopic;

/// Longest free text an admin may save (persona, away message).
const MAX_TEXT: usize = 2_000;

/// The workspace's own settings; `None` keeps the configured value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkspaceSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_name: Option<String>,
    /// Tone and house rules, given to the language model with every answer ("Use first names;
    /// never promise delivery dates").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persona: Option<String>,
    /// Answer strictness (0–1; higher is stricter): moves the answerability model's threshold
    /// ([`crate::answerability`]); 0.52 is the fitted balance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support_threshold: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalate_when_unsure: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unhelpful_replies: Option<u32>,
    /// Topics that always go to a person (refunds, legal…), with the words that name them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoff_topics: Option<Vec<HandoffTopic>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_hours: Option<BusinessHours>,
    /// While a person has the conversation, the bot tells a customer who writes that their
    /// message is with the team (once per quiet stretch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holding_replies: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelTuning>,
}

/// The language model's tuning (when a model is configured at all).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelTuning {
    /// Model name sent to the OpenAI-compatible server; `None` keeps the configured one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
}

impl WorkspaceSettings {
    /// Every problem with the settings, in words an admin can act on; empty when they are fine.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, value, max) in [
            ("bot name", &self.bot_name, 80),
            ("business name", &self.business_name, 120),
            ("persona", &self.persona, MAX_TEXT),
        ] {
            if let Some(v) = value {
                if name != "persona" && v.trim().is_empty() {
                    problems.push(format!("the {name} cannot be blank"));
                }
                if v.chars().count() > max {
                    problems.push(format!("the {name} is longer than {max} characters"));
                }
            }
        }
        if let Some(t) = self.support_threshold
            && !(0.0..=1.0).contains(&t)
        {
            problems.push("the answer strictness must be between 0 and 1".into());
        }
        if self.max_unhelpful_replies == Some(0) {
            problems.push("allow at least one \"I don't know\" before handing over".into());
        }
        for topic in self.handoff_topics.iter().flatten() {
            if topic.name.trim().is_empty() {
                problems.push("every hand-off topic needs a name".into());
            }
            if topic
                .keywords
                .iter()
                .chain(&topic.examples)
                .all(|k| k.trim().is_empty())
            {
                problems.push(format!(
                    "the hand-off topic \"{}\" needs at least one keyword or example",
                    topic.name
                ));
            }
            if topic.examples.iter().any(|e| e.chars().count() > 300) {
                problems.push(format!(
                    "an example of the hand-off topic \"{}\" is longer than 300 characters",
                    topic.name
                ));
            }
        }
        if let Some(hours) = &self.business_hours {
            problems.extend(hours.problems());
        }
        if let Some(m) = &self.model {
            if m.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
                problems.push("the temperature must be between 0 and 2".into());
            }
            if m.max_tokens.is_some_and(|t| !(16..=32_000).contains(&t)) {
                problems.push("the reply length limit must be between 16 and 32000 tokens".into());
            }
            if m.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
                problems.push("the model name cannot be blank".into());
            }
        }
        problems
    }

    /// The agent's settings with these laid over the configured ones.
    pub fn apply(&self, base: &AgentSettings) -> AgentSettings {
        let mut s = base.clone();
        if let Some(v) = &self.bot_name {
            s.persona.bot_name = v.trim().to_owned();
        }
        if let Some(v) = &self.business_name {
            s.persona.business_name = v.trim().to_owned();
        }
        if let Some(v) = &self.persona {
            let v = v.trim();
            s.persona.instructions = (!v.is_empty()).then(|| v.to_owned());
        }
        if let Some(v) = self.support_threshold {
            s.support_threshold = v;
        }
        if let Some(v) = self.escalate_when_unsure {
            s.escalate_when_unsure = v;
        }
        if let Some(v) = self.max_unhelpful_replies {
            s.max_unhelpful_replies = v.max(1);
        }
        if let Some(v) = &self.handoff_topics {
            s.handoff_topics = v.clone();
        }
        if let Some(v) = &self.business_hours {
            s.business_hours = Some(v.clone());
        }
        if let Some(v) = self.holding_replies {
            s.holding_replies = v;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn office() -> BusinessHours {
        BusinessHours {
            timezone: "Europe/Paris".into(),
            days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            open: "09:00".into(),
            close: "18:00".into(),
            away_message: "We answer on weekdays from 9 to 6.".into(),
        }
    }

    #[test]
    fn problems_are_worded_for_admins() {
        let s = WorkspaceSettings {
            bot_name: Some(" ".into()),
            support_threshold: Some(1.5),
            business_hours: Some(BusinessHours {
                timezone: "Mars/Olympus".into(),
                days: vec!["someday".into()],
                open: "9".into(),
                close: "17:00".into(),
                away_message: String::new(),
            }),
            ..WorkspaceSettings::default()
        };
        let p = s.problems().join("; ");
        assert!(p.contains("bot name cannot be blank"), "{p}");
        assert!(p.contains("between 0 and 1"), "{p}");
        assert!(p.contains("Mars/Olympus"), "{p}");
        assert!(p.contains("someday"), "{p}");
        assert!(p.contains("HH:MM"), "{p}");
        assert!(office().problems().is_empty());
    }

    #[test]
    fn unset_fields_keep_the_configuration() {
        let base = AgentSettings::default();
        let applied = WorkspaceSettings::default().apply(&base);
        assert_eq!(applied.persona.bot_name, base.persona.bot_name);
        assert_eq!(applied.support_threshold, base.support_threshold);
        let applied = WorkspaceSettings {
            bot_name: Some("Vela".into()),
            support_threshold: Some(0.7),
            ..WorkspaceSettings::default()
        }
        .apply(&base);
        assert_eq!(applied.persona.bot_name, "Vela");
        assert_eq!(applied.support_threshold, 0.7);
    }
}
