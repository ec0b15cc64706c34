//! Business hours: when a team is at work, in its own time zone. The agent uses them to tell
//! a customer when people are back; SLAs count only the time inside them.

use chrono::{DateTime, Datelike, Duration, NaiveTime, Timelike, Utc, Weekday};
use serde::{Deserialize, Serialize};

const MAX_TEXT: usize = 2_000;

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
    /// Every problem with the hours, in words an admin can act on.
    pub fn problems(&self) -> Vec<String> {
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
    /// The next opening after `at`, within a week, as the customer is told it; `None` when the
    /// hours cannot be read.
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<NextOpening> {
        let tz = self.timezone.parse::<chrono_tz::Tz>().ok()?;
        let starts = self.next_opening_at(at)?.with_timezone(&tz);
        Some(NextOpening {
            weekday: starts.weekday(),
            time: self.open.trim().to_owned(),
            timezone: self.timezone.clone(),
        })
    }
}

impl BusinessHours {
    /// When the hours next open after `at` (at itself excluded), within a week.
    pub fn next_opening_at(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let tz = self.timezone.parse::<chrono_tz::Tz>().ok()?;
        let open = parse_time(&self.open)?;
        let days: Vec<Weekday> = self.days.iter().filter_map(|d| weekday(d)).collect();
        let local = at.with_timezone(&tz);
        (0..8).find_map(|ahead| {
            let date = local.date_naive() + Duration::days(ahead);
            let starts = date.and_time(open).and_local_timezone(tz).earliest()?;
            (days.contains(&date.weekday()) && starts > local).then(|| starts.with_timezone(&Utc))
        })
    }

    /// The moment `work` of business time has passed after `start`: time outside the hours
    /// does not count (a 4-hour target set at 17:00 on a 9–18 Friday falls due at 12:00 on
    /// Monday). Hours that cannot be read count every minute, like `is_open`.
    pub fn add_business_time(&self, start: DateTime<Utc>, work: Duration) -> DateTime<Utc> {
        let step = Duration::minutes(1);
        let mut at = start;
        let mut left = work;
        // A target longer than four weeks of open time is not an SLA anyone keeps; stop there.
        let mut guard = 4 * 7 * 24 * 60;
        while left > Duration::zero() && guard > 0 {
            guard -= 1;
            if self.is_open(at) {
                let chunk = if left < step { left } else { step };
                at += chunk;
                left -= chunk;
            } else {
                match self.next_opening_at(at) {
                    Some(next) => at = next,
                    None => return at + left,
                }
            }
        }
        at + left
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
    fn business_time_skips_nights_and_weekends() {
        let h = office();
        // Friday 2026-11-27 16:00 UTC = 17:00 in Paris: one hour left that day, three on Monday.
        let start = Utc.with_ymd_and_hms(2026, 11, 27, 16, 0, 0).unwrap();
        let due = h.add_business_time(start, Duration::hours(4));
        assert_eq!(due, Utc.with_ymd_and_hms(2026, 11, 30, 11, 0, 0).unwrap());
        // Starting on Saturday, the clock starts on Monday at 09:00 Paris (08:00 UTC).
        let saturday = Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap();
        assert_eq!(
            h.add_business_time(saturday, Duration::minutes(30)),
            Utc.with_ymd_and_hms(2026, 11, 30, 8, 30, 0).unwrap()
        );
    }

    #[test]
    fn business_time_runs_overnight_for_a_night_shift() {
        let h = BusinessHours {
            timezone: "UTC".into(),
            days: vec!["fri".into()],
            open: "22:00".into(),
            close: "06:00".into(),
            away_message: String::new(),
        };
        let start = Utc.with_ymd_and_hms(2026, 11, 27, 23, 0, 0).unwrap();
        assert_eq!(
            h.add_business_time(start, Duration::hours(2)),
            Utc.with_ymd_and_hms(2026, 11, 28, 1, 0, 0).unwrap()
        );
    }
}
