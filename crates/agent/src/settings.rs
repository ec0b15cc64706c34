//! What admins change on the app's Settings page, laid over the server's configuration: how the
//! bot presents itself, how sure it must be to answer, when it hands over, the team's business
//! hours and the model's tuning. Every field is optional — unset means "as configured" — so a
//! workspace that never saved settings behaves exactly as the configuration says.

use chrono::{DateTime, Datelike, NaiveTime, Timelike, Utc, Weekday};
use serde::{Deserialize, Serialize};

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

/// When people answer. Outside these hours a hand-off tells the customer when to expect them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// IANA time zone, e.g. `Europe/Paris`.
    pub timezone: String,
    /// Open days: `mon` … `sun`.
    pub days: Vec<String>,
    /// `HH:MM`, local time.
    pub open: String,
    pub close: String,
    /// Added to the hand-off message outside business hours.
    pub away_message: String,
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

fn parse_time(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()
}

fn weekday(s: &str) -> Option<Weekday> {
    match s.trim().to_ascii_lowercase().get(..3)? {
        "mon" => Some(Weekday::Mon),
        "tue" => Some(Weekday::Tue),
        "wed" => Some(Weekday::Wed),
        "thu" => Some(Weekday::Thu),
        "fri" => Some(Weekday::Fri),
        "sat" => Some(Weekday::Sat),
        "sun" => Some(Weekday::Sun),
        _ => None,
    }
}

impl BusinessHours {
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            problems.push(format!(
                "\"{}\" is not a time zone (use a name such as Europe/Paris)",
                self.timezone
            ));
        }
        if self.days.is_empty() {
            problems.push("business hours need at least one open day".into());
        }
        for d in &self.days {
            if weekday(d).is_none() {
                problems.push(format!("\"{d}\" is not a day (use mon … sun)"));
            }
        }
        match (parse_time(&self.open), parse_time(&self.close)) {
            (Some(open), Some(close)) if open == close => {
                problems.push("opening and closing times are the same".into())
            }
            (Some(_), Some(_)) => {}
            _ => problems.push("opening and closing times are written HH:MM".into()),
        }
        if self.away_message.chars().count() > MAX_TEXT {
            problems.push(format!(
                "the away message is longer than {MAX_TEXT} characters"
            ));
        }
        problems
    }

    /// Whether people are at work at `at`. Hours that close before they open run past
    /// midnight (22:00–06:00 is open at 23:00 and at 05:00 of the next day). Hours that cannot
    /// be read count as open, so a typo never silences the team.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let (Ok(tz), Some(open), Some(close)) = (
            self.timezone.parse::<chrono_tz::Tz>(),
            parse_time(&self.open),
            parse_time(&self.close),
        ) else {
            return true;
        };
        let local = at.with_timezone(&tz);
        let now = NaiveTime::from_hms_opt(local.hour(), local.minute(), 0).unwrap_or(open);
        let days: Vec<Weekday> = self.days.iter().filter_map(|d| weekday(d)).collect();
        let today = local.weekday();
        if open < close {
            days.contains(&today) && now >= open && now < close
        } else {
            (days.contains(&today) && now >= open) || (days.contains(&today.pred()) && now < close)
        }
    }
}

/// When people are next at work, as the customer is told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextOpening {
    pub weekday: Weekday,
    /// `HH:MM`, local time.
    pub time: String,
    pub timezone: String,
}

impl BusinessHours {
    /// The next opening after `at`, within a week; `None` when the hours cannot be read.
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<NextOpening> {
        let tz = self.timezone.parse::<chrono_tz::Tz>().ok()?;
        let open = parse_time(&self.open)?;
        let days: Vec<Weekday> = self.days.iter().filter_map(|d| weekday(d)).collect();
        let local = at.with_timezone(&tz);
        (0..8).find_map(|ahead| {
            let date = local.date_naive() + chrono::Duration::days(ahead);
            let starts = date.and_time(open).and_local_timezone(tz).earliest()?;
            (days.contains(&date.weekday()) && starts > local).then(|| NextOpening {
                weekday: date.weekday(),
                time: self.open.trim().to_owned(),
                timezone: self.timezone.clone(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

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
    fn business_hours_follow_the_local_clock() {
        let h = office();
        // Friday 2026-11-27, 08:30 UTC = 09:30 in Paris.
        assert!(h.is_open(Utc.with_ymd_and_hms(2026, 11, 27, 8, 30, 0).unwrap()));
        // 17:30 UTC = 18:30 in Paris: closed.
        assert!(!h.is_open(Utc.with_ymd_and_hms(2026, 11, 27, 17, 30, 0).unwrap()));
        // Saturday.
        assert!(!h.is_open(Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap()));
    }

    #[test]
    fn the_next_opening_skips_closed_days() {
        let h = office();
        // Friday 17:30 UTC is after hours in Paris; the team is back on Monday morning.
        let next = h
            .next_open(Utc.with_ymd_and_hms(2026, 11, 27, 17, 30, 0).unwrap())
            .expect("opens");
        assert_eq!(next.weekday, Weekday::Mon);
        assert_eq!(next.time, h.open);
    }

    #[test]
    fn night_shift_runs_past_midnight() {
        let h = BusinessHours {
            timezone: "UTC".into(),
            days: vec!["fri".into()],
            open: "22:00".into(),
            close: "06:00".into(),
            away_message: String::new(),
        };
        assert!(h.is_open(Utc.with_ymd_and_hms(2026, 11, 27, 23, 0, 0).unwrap()));
        assert!(h.is_open(Utc.with_ymd_and_hms(2026, 11, 28, 5, 0, 0).unwrap()));
        assert!(!h.is_open(Utc.with_ymd_and_hms(2026, 11, 28, 7, 0, 0).unwrap()));
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
