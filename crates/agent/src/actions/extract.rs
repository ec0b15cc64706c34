//! Typed values out of a customer's message: the order number in "where is my order 4821?",
//! an e-mail address, a phone number, a date, a number — and whether a short reply is a yes or
//! a no. Found by shape (the privacy crate's identifier finder), so "order #4821", "NH-121877"
//! and "4821" all read as references while prices and versions do not.

use std::sync::LazyLock;

use chrono::NaiveDate;
use rapport_privacy::identifiers::{self, IdentifierKind};
use regex::Regex;

use super::definition::{InputKind, InputSpec};

/// The value of `input` in `text`, if the message holds one of its kind (and pattern).
/// `answering` is set when the agent just asked for this input: then a bare reply ("4821",
/// "tomorrow's fine: 2026-12-04", a free-text address) is the value.
pub fn value_in(input: &InputSpec, text: &str, answering: bool) -> Option<String> {
    let pattern = input
        .pattern
        .as_deref()
        .and_then(|p| Regex::new(&format!("^(?:{p})$")).ok());
    let fits = |v: &str| pattern.as_ref().is_none_or(|p| p.is_match(v));
    let text = text.trim();
    match input.kind {
        InputKind::Email => found(text, IdentifierKind::Email).filter(|v| fits(v)),
        InputKind::Phone => found(text, IdentifierKind::Phone).filter(|v| fits(v)),
        InputKind::OrderId => reference(text, answering || pattern.is_some(), &fits),
        InputKind::Number => NUMBER
            .find_iter(text)
            .map(|m| m.as_str().replace(',', "."))
            .find(|v| fits(v)),
        InputKind::Date => date(text).filter(|v| fits(v)),
        // Free text cannot be told apart from the rest of a message: only a reply to the
        // question is taken whole.
        InputKind::Text => (answering && !text.is_empty() && fits(text)).then(|| text.to_owned()),
    }
}

fn found(text: &str, kind: IdentifierKind) -> Option<String> {
    identifiers::find(text)
        .into_iter()
        .find(|i| i.kind == kind)
        .map(|i| i.normalized())
}

/// An order-like reference: one the identifier finder calls a reference, else — when `loose`
/// (the admin gave its pattern, or the customer is answering the question) — a token with a
/// digit in it that fits.
fn reference(text: &str, loose: bool, fits: &dyn Fn(&str) -> bool) -> Option<String> {
    let tidy = |s: &str| s.trim_start_matches('#').to_owned();
    if let Some(r) = identifiers::find(text)
        .into_iter()
        .filter(|i| i.kind == IdentifierKind::Reference)
        .map(|i| tidy(&i.text))
        .find(|v| fits(v))
    {
        return Some(r);
    }
    if !loose {
        return None;
    }
    TOKEN
        .find_iter(text)
        .map(|m| tidy(m.as_str()))
        .filter(|w| w.chars().any(|c| c.is_ascii_digit()))
        .find(|w| fits(w))
}

static TOKEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"#?[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?").expect("regex"));
static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"-?\d+(?:[.,]\d+)?").expect("regex"));
static ISO_DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(\d{4})-(\d{2})-(\d{2})\b").expect("regex"));
static DAY_FIRST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(\d{1,2})[./](\d{1,2})[./](\d{4})\b").expect("regex"));

/// A date as `YYYY-MM-DD`: ISO, or day first (`04/12/2026`, `4.12.2026`), as most of the world
/// writes it.
fn date(text: &str) -> Option<String> {
    let valid = |y: &str, m: &str, d: &str| {
        let (y, m, d) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
        NaiveDate::from_ymd_opt(y, m, d).map(|d| d.format("%Y-%m-%d").to_string())
    };
    if let Some(c) = ISO_DATE.captures(text) {
        return valid(&c[1], &c[2], &c[3]);
    }
    DAY_FIRST
        .captures(text)
        .and_then(|c| valid(&c[3], &c[2], &c[1]))
}

/// Whether a short reply says yes (`Some(true)`), no (`Some(false)`), or neither, in the
/// languages the bot speaks.
pub fn affirmation(text: &str) -> Option<bool> {
    let words: Vec<String> = text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    if words.is_empty() || words.len() > 6 {
        return None;
    }
    const NO: &[&str] = &[
        "no", "nope", "nah", "don't", "dont", "stop", "cancel", "non", "nein", "não", "nao", "nee",
        "niet", "нет",
    ];
    const YES: &[&str] = &[
        "yes",
        "yep",
        "yeah",
        "yup",
        "y",
        "ok",
        "okay",
        "sure",
        "confirm",
        "confirmed",
        "correct",
        "please",
        "sí",
        "si",
        "oui",
        "ja",
        "sim",
        "da",
        "да",
        "claro",
        "genau",
        "bien",
        "vale",
    ];
    if words.iter().any(|w| NO.contains(&w.as_str())) {
        return Some(false);
    }
    if YES.contains(&words[0].as_str()) {
        return Some(true);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(kind: InputKind, pattern: Option<&str>) -> InputSpec {
        InputSpec {
            name: "x".into(),
            kind,
            pattern: pattern.map(str::to_owned),
            source: Default::default(),
            question: None,
            fact: None,
            required: true,
        }
    }

    #[test]
    fn order_numbers_are_found_by_shape() {
        let order = input(InputKind::OrderId, None);
        assert_eq!(
            value_in(&order, "where is my order 4821?", false).as_deref(),
            Some("4821")
        );
        assert_eq!(
            value_in(&order, "any news on #NH-121877", false).as_deref(),
            Some("NH-121877")
        );
        assert_eq!(
            value_in(&order, "it cost 19.95 and I'm on 4.12.3", false),
            None
        );
        assert_eq!(value_in(&order, "where is my order?", false), None);
        assert_eq!(value_in(&order, "4821", true).as_deref(), Some("4821"));
    }

    #[test]
    fn a_pattern_narrows_what_counts() {
        let order = input(InputKind::OrderId, Some("[0-9]{4,6}"));
        assert_eq!(
            value_in(&order, "status of 55123 please", false).as_deref(),
            Some("55123")
        );
        assert_eq!(value_in(&order, "order AB-12", false), None);
    }

    #[test]
    fn emails_phones_numbers_and_dates_are_normalised() {
        assert_eq!(
            value_in(
                &input(InputKind::Email, None),
                "it's Ana.Diaz@Mail.example",
                false
            )
            .as_deref(),
            Some("ana.diaz@mail.example")
        );
        assert_eq!(
            value_in(
                &input(InputKind::Phone, None),
                "call me on +34 612 345 678",
                false
            )
            .as_deref(),
            Some("34612345678")
        );
        assert_eq!(
            value_in(&input(InputKind::Number, None), "2,5 kg", false).as_deref(),
            Some("2.5")
        );
        assert_eq!(
            value_in(
                &input(InputKind::Date, None),
                "deliver on 04/12/2026",
                false
            )
            .as_deref(),
            Some("2026-12-04")
        );
        assert_eq!(
            value_in(&input(InputKind::Date, None), "31/02/2026", false),
            None
        );
    }

    #[test]
    fn free_text_is_only_taken_as_an_answer() {
        let address = input(InputKind::Text, None);
        assert_eq!(
            value_in(&address, "change my delivery address", false),
            None
        );
        assert_eq!(
            value_in(&address, "12 Baker Street, London", true).as_deref(),
            Some("12 Baker Street, London")
        );
    }

    #[test]
    fn yes_and_no_in_several_languages() {
        for yes in ["yes", "Yes please", "ok", "sí", "Oui, merci", "ja bitte"] {
            assert_eq!(affirmation(yes), Some(true), "{yes}");
        }
        for no in ["no", "No, don't", "non merci", "nein", "please don't"] {
            assert_eq!(affirmation(no), Some(false), "{no}");
        }
        for neither in [
            "where is my order?",
            "what does it cost to ship to Spain and Portugal",
        ] {
            assert_eq!(affirmation(neither), None, "{neither}");
        }
    }
}
