//! Every figure on a hand-built history whose expected values were worked out by hand:
//!
//! | conv | customer | channel | story | closed | repeat | AI-resolved |
//! | --- | --- | --- | --- | --- | --- | --- |
//! | 1 | A | whatsapp | 11-10 09:00 asked, bot answered in 2 s | idle | yes (conv 2 within 72 h) | no |
//! | 2 | A | email | 11-11 10:00 asked, bot escalated in 4 s; claimed 10 min later, first agent reply 20 min after the escalation, customer, agent 5 min later, resolved 50 min after the claim, CSAT 4 | resolved | no | no |
//! | 3 | B | web | 11-12 14:00 asked, bot answered in 1 s, CSAT 5 | idle | no | yes |
//! | 4 | C | web | 11-20 11:00 asked, bot answered in 3 s (an hour before "now") | open | – | no |
//! | 5 | D | whatsapp | 11-15 08:00 asked, bot did not know, in 5 s; D came back 11-16 | idle | yes (later opening) | no |

use chrono::TimeZone;

use super::*;

fn at(day: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, h, m, s)
        .single()
        .expect("a valid time")
}

fn msg(author: &str, when: DateTime<Utc>, decision: Option<&str>) -> MessageFact {
    MessageFact {
        author: author.into(),
        at: when,
        decision: decision.map(str::to_owned),
        internal_note: false,
    }
}

fn conv(id: i64, customer: i64, channel: &str, messages: Vec<MessageFact>) -> ConversationFacts {
    ConversationFacts {
        id,
        customer,
        channel: channel.into(),
        created_at: messages[0].at,
        resolved_at: None,
        last_message_at: messages.last().map(|m| m.at),
        csat: None,
        messages,
        escalations: Vec::new(),
    }
}

fn history() -> History {
    let c1 = conv(
        1,
        1,
        "whatsapp",
        vec![
            msg("customer", at(10, 9, 0, 0), None),
            msg("bot", at(10, 9, 0, 2), Some("answered")),
        ],
    );
    let mut c2 = conv(
        2,
        1,
        "email",
        vec![
            msg("customer", at(11, 10, 0, 0), None),
            msg("bot", at(11, 10, 0, 4), Some("escalated")),
            MessageFact {
                internal_note: true,
                ..msg("agent", at(11, 10, 5, 0), None)
            },
            msg("agent", at(11, 10, 20, 4), None),
            msg("customer", at(11, 10, 25, 4), None),
            msg("agent", at(11, 10, 30, 4), None),
        ],
    );
    c2.escalations = vec![EscalationFact {
        created_at: at(11, 10, 0, 4),
        claimed_at: Some(at(11, 10, 10, 4)),
        resolved_at: Some(at(11, 11, 0, 4)),
        ..EscalationFact::default()
    }];
    c2.resolved_at = Some(at(11, 11, 0, 4));
    c2.csat = Some(4);
    let mut c3 = conv(
        3,
        2,
        "web",
        vec![
            msg("customer", at(12, 14, 0, 0), None),
            msg("bot", at(12, 14, 0, 1), Some("answered")),
        ],
    );
    c3.csat = Some(5);
    let c4 = conv(
        4,
        3,
        "web",
        vec![
            msg("customer", at(20, 11, 0, 0), None),
            msg("bot", at(20, 11, 0, 3), Some("answered")),
        ],
    );
    let c5 = conv(
        5,
        4,
        "whatsapp",
        vec![
            msg("customer", at(15, 8, 0, 0), None),
            msg("bot", at(15, 8, 0, 5), Some("unknown")),
        ],
    );
    History {
        conversations: vec![c1, c2, c3, c4, c5],
        later_openings: vec![(4, at(16, 8, 0, 0))],
    }
}

fn params() -> Params {
    Params {
        window: Duration::hours(72),
        idle: Duration::hours(24),
        now: at(20, 12, 0, 0),
    }
}

#[test]
fn overall_figures_match_the_hand_count() {
    let r = report(&history(), params(), None);
    let o = &r.overall;
    assert_eq!(
        (
            o.conversations,
            o.bot_involved,
            o.escalated,
            o.human_involved
        ),
        (5, 5, 1, 1)
    );
    assert_eq!((o.closed, o.ai_resolved, o.repeat_contacts), (4, 1, 2));
    assert_eq!(o.ai_resolution_rate, Some(0.2));
    assert_eq!(o.escalation_rate, Some(0.2));
    assert_eq!(o.deflection_rate, Some(0.8));
    assert_eq!(o.first_contact_resolution_rate, Some(0.5));
    assert_eq!(o.repeat_contact_rate, Some(0.5));
    assert_eq!(
        o.bot_first_response,
        Timing {
            count: 5,
            avg_seconds: Some(3.0),
            p50_seconds: Some(3.0)
        }
    );
    assert_eq!(o.human_first_response.avg_seconds, Some(1200.0));
    assert_eq!(o.handle_time.avg_seconds, Some(3000.0));
    assert_eq!(
        o.agent_reply_time,
        Timing {
            count: 1,
            avg_seconds: Some(300.0),
            p50_seconds: Some(300.0)
        },
        "the customer's message before the claim and the internal note do not count"
    );
    assert_eq!(
        o.csat,
        Csat {
            responses: 2,
            average: Some(4.5),
            distribution: [0, 0, 0, 1, 1]
        }
    );
}

#[test]
fn each_channel_has_its_own_figures() {
    let r = report(&history(), params(), None);
    let channels: Vec<&str> = r.by_channel.keys().map(String::as_str).collect();
    assert_eq!(channels, ["email", "web", "whatsapp"]);
    let web = &r.by_channel["web"];
    assert_eq!((web.conversations, web.closed, web.ai_resolved), (2, 1, 1));
    assert_eq!(web.ai_resolution_rate, Some(0.5));
    let whatsapp = &r.by_channel["whatsapp"];
    assert_eq!((whatsapp.conversations, whatsapp.repeat_contacts), (2, 2));
    assert_eq!(whatsapp.first_contact_resolution_rate, Some(0.0));
    assert_eq!(r.by_channel["email"].escalation_rate, Some(1.0));
}

#[test]
fn a_customer_who_moved_from_whatsapp_to_email_is_one_journey() {
    let j = report(&history(), params(), None).journeys;
    assert_eq!(
        (j.journeys, j.multichannel, j.ai_resolved, j.escalated),
        (4, 1, 1, 1)
    );
    assert_eq!(j.ai_resolution_rate, Some(0.25));
    assert_eq!(j.paths["whatsapp → email"], 1);
    assert_eq!(j.paths["web"], 2);
    assert_eq!(j.paths["whatsapp"], 1);
}

#[test]
fn a_channel_filter_counts_its_conversations_but_journeys_keep_every_channel() {
    let r = report(&history(), params(), Some("whatsapp"));
    assert_eq!(r.overall.conversations, 2);
    assert_eq!(r.overall.ai_resolved, 0);
    assert_eq!(r.journeys.journeys, 2);
    assert_eq!(r.journeys.paths["whatsapp → email"], 1);
}

#[test]
fn days_count_conversations_by_the_day_they_opened() {
    let r = report(&history(), params(), None);
    let days: Vec<(u32, usize, usize, usize)> = r
        .by_day
        .iter()
        .map(|d| {
            use chrono::Datelike;
            (d.date.day(), d.conversations, d.escalated, d.ai_resolved)
        })
        .collect();
    assert_eq!(
        days,
        vec![
            (10, 1, 0, 0),
            (11, 1, 1, 0),
            (12, 1, 0, 1),
            (15, 1, 0, 0),
            (20, 1, 0, 0)
        ]
    );
}

#[test]
fn a_resolution_long_after_the_window_is_not_a_repeat_and_an_empty_history_has_no_rates() {
    let mut h = history();
    h.later_openings = vec![(4, at(19, 8, 0, 1))];
    let r = report(&h, params(), Some("whatsapp"));
    assert_eq!(r.overall.repeat_contacts, 1, "only conv 1 now");
    let empty = report(&History::default(), params(), None);
    assert_eq!(empty.overall.conversations, 0);
    assert_eq!(empty.overall.ai_resolution_rate, None);
    assert!(empty.by_day.is_empty());
}
