//! The numbers support leaders judge an AI agent by — resolution, escalation, deflection,
//! first-contact resolution, response and handle times, repeat contacts, CSAT — computed per
//! channel **and** per customer journey, from stored conversations, messages and escalations
//! only. The computation is pure ([`report`]): the store reads a [`History`], this crate
//! counts, so every definition is tested on hand-built histories.
//!
//! Definitions (also in the README):
//! - a conversation *counts* in the period it was opened;
//! - it is *closed* when resolved, or when nobody wrote for `idle` (the bot's conversations
//!   are rarely closed by hand);
//! - a *repeat contact* is the same customer (any channel, merged contacts included) opening
//!   another conversation within `window` after this one closed;
//! - *AI-resolved*: the bot replied, no person took part (no escalation, no agent message),
//!   the conversation is closed, the bot's last decision was an answer (or an acknowledgement),
//!   and there was no repeat contact;
//! - *AI resolution rate* = AI-resolved / conversations the bot replied in; *escalation rate*
//!   = escalated / conversations; *deflection* = conversations no person took part in /
//!   conversations; *first-contact resolution* = closed conversations without a repeat
//!   contact / closed conversations; *repeat-contact rate* = the rest of the closed ones;
//! - *first response*: customer's first message → first bot message (bot), escalation →
//!   first agent message (human); *handle time*: claim → resolution of an escalation;
//!   *agent reply time*: a customer message in a person's conversation → the agent's next
//!   message;
//! - a *journey* is one customer's conversations, on any channels, each opened within
//!   `window` of the previous one closing: WhatsApp then e-mail about the same thing is one
//!   journey.

mod load;
mod topics;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

pub use load::{history, unanswered_topics, workspace_report};
pub use topics::{Topic, topics};

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] rapport_store::Error),
    #[error(transparent)]
    Embedder(#[from] rapport_core::Error),
}

/// One conversation with what happened in it.
#[derive(Debug, Clone)]
pub struct ConversationFacts {
    pub id: i64,
    /// The customer: the root of the contact's merged cluster.
    pub customer: i64,
    pub channel: String,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub csat: Option<i32>,
    pub messages: Vec<MessageFact>,
    pub escalations: Vec<EscalationFact>,
}

#[derive(Debug, Clone)]
pub struct MessageFact {
    /// `customer`, `bot`, `agent` or `system`.
    pub author: String,
    pub at: DateTime<Utc>,
    /// The bot's decision (`answered`, `acknowledged`, `unknown`, `escalated`…), from its trace.
    pub decision: Option<String>,
    pub internal_note: bool,
}

#[derive(Debug, Clone, Default)]
pub struct EscalationFact {
    pub created_at: DateTime<Utc>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// SLA targets, when a policy applied.
    pub first_response_due_at: Option<DateTime<Utc>>,
    pub resolution_due_at: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    /// When routing saw a target missed.
    pub sla_breached_at: Option<DateTime<Utc>>,
}

impl EscalationFact {
    /// Whether a target (first response, resolution) was missed by `now`.
    fn breached(&self, now: DateTime<Utc>) -> bool {
        let missed = |due: Option<DateTime<Utc>>, done: Option<DateTime<Utc>>| {
            due.is_some_and(|due| done.unwrap_or(now) > due)
        };
        self.sla_breached_at.is_some()
            || missed(self.first_response_due_at, self.first_response_at)
            || missed(self.resolution_due_at, self.resolved_at)
    }
}

/// What the report is computed from: the conversations opened in the period, and the same
/// customers' later conversations (to see who came back).
#[derive(Debug, Clone, Default)]
pub struct History {
    pub conversations: Vec<ConversationFacts>,
    /// (customer, opened at) of conversations opened after the period, up to `window` later.
    pub later_openings: Vec<(i64, DateTime<Utc>)>,
}

#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub window: Duration,
    /// A conversation nobody wrote in for this long is closed.
    pub idle: Duration,
    pub now: DateTime<Utc>,
}

/// Averages and medians of durations, in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timing {
    pub count: usize,
    pub avg_seconds: Option<f64>,
    pub p50_seconds: Option<f64>,
}

impl Timing {
    fn of(mut secs: Vec<f64>) -> Self {
        if secs.is_empty() {
            return Timing::default();
        }
        secs.sort_by(f64::total_cmp);
        let avg = secs.iter().sum::<f64>() / secs.len() as f64;
        let mid = secs.len() / 2;
        let p50 = if secs.len().is_multiple_of(2) {
            (secs[mid - 1] + secs[mid]) / 2.0
        } else {
            secs[mid]
        };
        Timing {
            count: secs.len(),
            avg_seconds: Some(avg),
            p50_seconds: Some(p50),
        }
    }
}

/// How escalations with an SLA fared.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sla {
    /// Escalations an SLA policy applied to.
    pub with_target: usize,
    /// Of those, how many missed a target (first response or resolution).
    pub breached: usize,
    /// Share that met every target.
    pub met_rate: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Csat {
    pub responses: usize,
    pub average: Option<f64>,
    /// Responses per score, 1 to 5.
    pub distribution: [usize; 5],
}

/// The figures of a set of conversations.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    pub conversations: usize,
    /// The bot replied at least once.
    pub bot_involved: usize,
    pub escalated: usize,
    /// A person took part (escalation or agent message).
    pub human_involved: usize,
    pub closed: usize,
    pub ai_resolved: usize,
    pub repeat_contacts: usize,
    pub ai_resolution_rate: Option<f64>,
    pub escalation_rate: Option<f64>,
    pub deflection_rate: Option<f64>,
    pub first_contact_resolution_rate: Option<f64>,
    pub repeat_contact_rate: Option<f64>,
    pub bot_first_response: Timing,
    pub human_first_response: Timing,
    pub handle_time: Timing,
    pub agent_reply_time: Timing,
    pub csat: Csat,
    pub sla: Sla,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Journeys {
    pub journeys: usize,
    /// Journeys that used more than one channel.
    pub multichannel: usize,
    /// Journeys in which no person took part and every conversation was AI-resolved.
    pub ai_resolved: usize,
    pub escalated: usize,
    pub ai_resolution_rate: Option<f64>,
    /// Journeys by their channels in order of use, e.g. `whatsapp → email`.
    pub paths: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Day {
    pub date: NaiveDate,
    pub conversations: usize,
    pub escalated: usize,
    pub ai_resolved: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub overall: Figures,
    pub by_channel: BTreeMap<String, Figures>,
    pub journeys: Journeys,
    pub by_day: Vec<Day>,
}

/// What one conversation amounts to.
#[derive(Debug, Clone)]
struct Judged<'a> {
    c: &'a ConversationFacts,
    bot_involved: bool,
    escalated: bool,
    human_involved: bool,
    closed_at: Option<DateTime<Utc>>,
    repeat: bool,
    ai_resolved: bool,
}

fn rate(n: usize, of: usize) -> Option<f64> {
    (of > 0).then(|| n as f64 / of as f64)
}

fn secs(d: Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

fn judge<'a>(
    c: &'a ConversationFacts,
    openings: &HashMap<i64, Vec<DateTime<Utc>>>,
    p: &Params,
) -> Judged<'a> {
    let visible = || c.messages.iter().filter(|m| !m.internal_note);
    let bot_involved = visible().any(|m| m.author == "bot");
    let escalated = !c.escalations.is_empty();
    let human_involved = escalated || visible().any(|m| m.author == "agent");
    let last = c.last_message_at.unwrap_or(c.created_at);
    let closed_at = c
        .resolved_at
        .or_else(|| (p.now - last >= p.idle).then_some(last));
    let repeat = closed_at.is_some_and(|closed| {
        openings.get(&c.customer).is_some_and(|times| {
            times
                .iter()
                .any(|t| *t > closed && *t - closed <= p.window && *t != c.created_at)
        })
    });
    let last_decision = visible()
        .filter(|m| m.author == "bot")
        .filter_map(|m| m.decision.as_deref())
        .next_back();
    let ai_resolved = bot_involved
        && !human_involved
        && closed_at.is_some()
        && !repeat
        && matches!(last_decision, Some("answered") | Some("acknowledged"));
    Judged {
        c,
        bot_involved,
        escalated,
        human_involved,
        closed_at,
        repeat,
        ai_resolved,
    }
}

fn figures(judged: &[&Judged<'_>], now: DateTime<Utc>) -> Figures {
    let n = judged.len();
    let count = |f: fn(&Judged<'_>) -> bool| judged.iter().filter(|j| f(j)).count();
    let bot_involved = count(|j| j.bot_involved);
    let escalated = count(|j| j.escalated);
    let human_involved = count(|j| j.human_involved);
    let closed = count(|j| j.closed_at.is_some());
    let ai_resolved = count(|j| j.ai_resolved);
    let repeat_contacts = count(|j| j.closed_at.is_some() && j.repeat);

    let mut bot_first = Vec::new();
    let mut human_first = Vec::new();
    let mut handle = Vec::new();
    let mut agent_reply = Vec::new();
    let mut csat = Csat::default();
    let mut sla = Sla::default();
    for j in judged {
        for e in &j.c.escalations {
            if e.first_response_due_at.is_some() || e.resolution_due_at.is_some() {
                sla.with_target += 1;
                sla.breached += usize::from(e.breached(now));
            }
        }
        let msgs: Vec<&MessageFact> = j.c.messages.iter().filter(|m| !m.internal_note).collect();
        if let (Some(first_customer), Some(first_bot)) = (
            msgs.iter().find(|m| m.author == "customer"),
            msgs.iter().find(|m| m.author == "bot"),
        ) && first_bot.at >= first_customer.at
        {
            bot_first.push(secs(first_bot.at - first_customer.at));
        }
        if let Some(e) = j.c.escalations.first() {
            if let Some(agent) = msgs
                .iter()
                .find(|m| m.author == "agent" && m.at >= e.created_at)
            {
                human_first.push(secs(agent.at - e.created_at));
            }
            for e in &j.c.escalations {
                if let (Some(claimed), Some(resolved)) = (e.claimed_at, e.resolved_at)
                    && resolved >= claimed
                {
                    handle.push(secs(resolved - claimed));
                }
            }
            // A person's reply time: each customer message after the first claim, to the
            // agent's next message.
            if let Some(claimed) = j.c.escalations.iter().filter_map(|e| e.claimed_at).min() {
                let mut waiting: Option<DateTime<Utc>> = None;
                for m in msgs.iter().filter(|m| m.at >= claimed) {
                    match m.author.as_str() {
                        "customer" => {
                            waiting.get_or_insert(m.at);
                        }
                        "agent" => {
                            if let Some(since) = waiting.take() {
                                agent_reply.push(secs(m.at - since));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        if let Some(score) = j.c.csat.filter(|s| (1..=5).contains(s)) {
            csat.responses += 1;
            csat.distribution[(score - 1) as usize] += 1;
        }
    }
    if csat.responses > 0 {
        let total: usize = csat
            .distribution
            .iter()
            .enumerate()
            .map(|(i, n)| (i + 1) * n)
            .sum();
        csat.average = Some(total as f64 / csat.responses as f64);
    }
    Figures {
        conversations: n,
        bot_involved,
        escalated,
        human_involved,
        closed,
        ai_resolved,
        repeat_contacts,
        ai_resolution_rate: rate(ai_resolved, bot_involved),
        escalation_rate: rate(escalated, n),
        deflection_rate: rate(n - human_involved, n),
        first_contact_resolution_rate: rate(closed - repeat_contacts, closed),
        repeat_contact_rate: rate(repeat_contacts, closed),
        bot_first_response: Timing::of(bot_first),
        human_first_response: Timing::of(human_first),
        handle_time: Timing::of(handle),
        agent_reply_time: Timing::of(agent_reply),
        csat,
        sla: Sla {
            met_rate: rate(sla.with_target - sla.breached, sla.with_target),
            ..sla
        },
    }
}

fn journeys(judged: &[Judged<'_>], window: Duration) -> Journeys {
    let mut by_customer: BTreeMap<i64, Vec<&Judged<'_>>> = BTreeMap::new();
    for j in judged {
        by_customer.entry(j.c.customer).or_default().push(j);
    }
    let mut out = Journeys::default();
    for convs in by_customer.values_mut() {
        convs.sort_by_key(|j| j.c.created_at);
        let mut journey: Vec<&Judged<'_>> = Vec::new();
        let flush = |journey: &mut Vec<&Judged<'_>>, out: &mut Journeys| {
            if journey.is_empty() {
                return;
            }
            out.journeys += 1;
            let mut path: Vec<&str> = Vec::new();
            for j in journey.iter() {
                if path.last() != Some(&j.c.channel.as_str()) {
                    path.push(&j.c.channel);
                }
            }
            let channels: BTreeSet<&str> = path.iter().copied().collect();
            if channels.len() > 1 {
                out.multichannel += 1;
            }
            *out.paths.entry(path.join(" → ")).or_default() += 1;
            let escalated = journey.iter().any(|j| j.escalated);
            if escalated {
                out.escalated += 1;
            }
            let last = journey.last().map(|j| j.ai_resolved).unwrap_or(false);
            if last && journey.iter().all(|j| !j.human_involved) {
                out.ai_resolved += 1;
            }
            journey.clear();
        };
        for j in convs.iter() {
            let continues = journey.last().is_some_and(|prev| {
                let end = prev
                    .closed_at
                    .unwrap_or_else(|| prev.c.last_message_at.unwrap_or(prev.c.created_at));
                j.c.created_at - end <= window
            });
            if !continues {
                flush(&mut journey, &mut out);
            }
            journey.push(j);
        }
        flush(&mut journey, &mut out);
    }
    out.ai_resolution_rate = rate(out.ai_resolved, out.journeys);
    out
}

/// Every figure of `history`; `channel` narrows the conversations counted (journeys still see
/// every channel of the customers counted).
pub fn report(history: &History, params: Params, channel: Option<&str>) -> Report {
    let mut openings: HashMap<i64, Vec<DateTime<Utc>>> = HashMap::new();
    for c in &history.conversations {
        openings.entry(c.customer).or_default().push(c.created_at);
    }
    for (customer, at) in &history.later_openings {
        openings.entry(*customer).or_default().push(*at);
    }
    let judged: Vec<Judged<'_>> = history
        .conversations
        .iter()
        .map(|c| judge(c, &openings, &params))
        .collect();
    let counted: Vec<&Judged<'_>> = judged
        .iter()
        .filter(|j| channel.is_none_or(|ch| j.c.channel == ch))
        .collect();

    let mut by_channel: BTreeMap<String, Vec<&Judged<'_>>> = BTreeMap::new();
    for j in &counted {
        by_channel.entry(j.c.channel.clone()).or_default().push(j);
    }
    let mut days: BTreeMap<NaiveDate, Day> = BTreeMap::new();
    for j in &counted {
        let date = j.c.created_at.date_naive();
        let d = days.entry(date).or_insert_with(|| Day {
            date,
            ..Day::default()
        });
        d.conversations += 1;
        d.escalated += usize::from(j.escalated);
        d.ai_resolved += usize::from(j.ai_resolved);
    }
    let customers: BTreeSet<i64> = counted.iter().map(|j| j.c.customer).collect();
    let journey_convs: Vec<Judged<'_>> = judged
        .iter()
        .filter(|j| customers.contains(&j.c.customer))
        .cloned()
        .collect();
    Report {
        overall: figures(&counted, params.now),
        by_channel: by_channel
            .into_iter()
            .map(|(ch, js)| (ch, figures(&js, params.now)))
            .collect(),
        journeys: journeys(&journey_convs, params.window),
        by_day: days.into_values().collect(),
    }
}

#[cfg(test)]
mod tests;
