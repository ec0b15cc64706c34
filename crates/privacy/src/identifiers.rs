//! Identifiers that point at one person: e-mail addresses, phone numbers, card numbers, street
//! addresses and references (order, invoice, tracking, serial and ticket numbers).
//!
//! Found by shape, not by meaning: "NH-121877", "T2A7K3920114" and "#48213" are references
//! whatever they are called, while product codes ("T2", "VX6"), versions ("4.12.3"), prices,
//! dates and times are left alone.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// What kind of personal identifier a span of text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentifierKind {
    Email,
    Phone,
    Card,
    Address,
    /// An order, invoice, tracking, serial, ticket or account number.
    Reference,
}

impl IdentifierKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentifierKind::Email => "e-mail address",
            IdentifierKind::Phone => "phone number",
            IdentifierKind::Card => "card number",
            IdentifierKind::Address => "street address",
            IdentifierKind::Reference => "order or reference number",
        }
    }
}

/// One identifier found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifier {
    pub kind: IdentifierKind,
    /// Byte range in the text it was found in.
    pub span: Range<usize>,
    /// The identifier as written.
    pub text: String,
}

impl Identifier {
    /// A spelling-independent form, to tell whether two texts name the same identifier:
    /// e-mails lower-cased, phones and cards as their digits, references upper-cased without
    /// `#`, addresses lower-cased with single spaces.
    pub fn normalized(&self) -> String {
        normalize(self.kind, &self.text)
    }
}

/// See [`Identifier::normalized`].
pub fn normalize(kind: IdentifierKind, text: &str) -> String {
    match kind {
        IdentifierKind::Email => text.trim().to_lowercase(),
        IdentifierKind::Phone | IdentifierKind::Card => {
            text.chars().filter(char::is_ascii_digit).collect()
        }
        IdentifierKind::Reference => text.trim_start_matches('#').to_uppercase(),
        IdentifierKind::Address => text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase(),
    }
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
        .expect("valid regex")
});

static CARD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d(?:[ -]?\d){12,18}\b").expect("valid regex"));

/// Separators stay on one line: numbers on two lines are two numbers.
static PHONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:\+|\b00)?\(?\d[\d \t().-]{5,20}\d\b").expect("valid regex"));

static NOT_A_PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:\d{4}-\d{1,2}-\d{1,2}",        // 2026-11-18
        r"|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}", // 18.11.2026, 11/18/26
        r"|\d{1,3}(?:\.\d{1,3}){3}",         // an IP address
        r"|\d{1,2}(?:\.\d+){1,3})$",         // a version
    ))
    .expect("valid regex")
});

static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        // 221B Baker Street, 12 Rose Ave., Apt 4
        r"\b\d{1,5}[A-Za-z]?\s+(?:[A-Z][\w'.-]*\s+){0,4}(?:Street|St\.?|Avenue|Ave\.?|Road|Rd\.?|Lane|Ln\.?|Drive|Dr\.?|Boulevard|Blvd\.?|Way|Court|Ct\.?|Place|Pl\.?|Terrace|Crescent|Close|Square|Parkway|Pkwy\.?|Highway|Hwy\.?)\b",
        r"(?:,?\s+(?:Apt|Apartment|Suite|Unit|Flat|#)\.?\s*\w+)?",
        // Hauptstraße 5, Keizersgracht 12a
        r"|\b\p{Lu}[\p{L}-]*(?:straße|strasse|str\.|weg|gasse|allee|platz|laan|straat|gracht|plein|steeg|kade|dreef)\s+\d{1,4}[a-z]?\b",
        // 12 rue de la Paix, 5 avenue Foch
        r"|\b\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|boulevard|bd|place|chemin|impasse|allée|quai)\s+(?:\p{L}[\p{L}'-]*\s?){1,5}",
        // Calle Mayor 3, Via Roma 10, Rua Augusta 25
        r"|\b(?:Calle|Avenida|Avda\.|Paseo|Plaza|Via|Viale|Piazza|Corso|Rua|Travessa|Largo)\s+(?:\p{Lu}[\p{L}'-]*\s?){1,4},?\s*\d{1,4}\b",
    ))
    .expect("valid regex")
});

/// Words that make the number after them a reference even when it is short ("order 4821").
static REFERENCE_CUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:\b(?:order|invoice|ticket|case|tracking|serial|account|reference|ref|confirmation|booking|claim|rma|receipt|commande|pedido|bestellung|ordine|encomenda|bestelling)\b(?:\s+(?:number|no\.?|nr\.?|num(?:ber|éro|ero)?|id|code))?\s*[:#]?\s*|#)$")
        .expect("valid regex")
});

static TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"#?[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?").expect("valid regex")
});

/// Every identifier in `text`, in order, none overlapping another.
pub fn find(text: &str) -> Vec<Identifier> {
    let mut found: Vec<Identifier> = Vec::new();
    let add = |kind: IdentifierKind, span: Range<usize>, found: &mut Vec<Identifier>| {
        if found
            .iter()
            .any(|f| f.span.start < span.end && span.start < f.span.end)
        {
            return;
        }
        found.push(Identifier {
            kind,
            text: text[span.clone()].to_owned(),
            span,
        });
    };
    for m in EMAIL.find_iter(text) {
        add(IdentifierKind::Email, m.range(), &mut found);
    }
    for m in CARD.find_iter(text) {
        let digits: Vec<u32> = m.as_str().chars().filter_map(|c| c.to_digit(10)).collect();
        let kind = if luhn(&digits) {
            IdentifierKind::Card
        } else {
            IdentifierKind::Reference
        };
        add(kind, m.range(), &mut found);
    }
    for m in ADDRESS.find_iter(text) {
        add(
            IdentifierKind::Address,
            trimmed(text, m.range()),
            &mut found,
        );
    }
    for m in PHONE.find_iter(text) {
        let span = trimmed(text, m.range());
        if looks_like_phone(&text[span.clone()]) {
            add(IdentifierKind::Phone, span, &mut found);
        }
    }
    for m in TOKEN.find_iter(text) {
        // A token glued to a dot is part of a version or a decimal ("4.12.3", "19.95"), one
        // glued to a slash part of a path.
        let before = text[..m.start()].chars().next_back();
        let mut after = text[m.end()..].chars();
        let decimal_follows =
            after.next() == Some('.') && after.next().is_some_and(|c| c.is_ascii_digit());
        if before.is_some_and(|c| matches!(c, '.' | '/' | '_' | '@' | '$' | '€' | '£'))
            || decimal_follows
        {
            continue;
        }
        if is_reference(m.as_str(), &text[..m.start()]) {
            add(IdentifierKind::Reference, m.range(), &mut found);
        }
    }
    found.sort_by_key(|f| f.span.start);
    found
}

/// How many words of `text` are left once its identifiers are taken out: a line of contact
/// details ("NH-118406, jordan.k@mail.example") leaves almost none.
pub fn words_besides(text: &str) -> usize {
    let mut rest = text.to_owned();
    for f in find(text).iter().rev() {
        rest.replace_range(f.span.clone(), "");
    }
    rest.split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count()
}

/// Whether a token is an order-like identifier. `before` is the text in front of it.
fn is_reference(token: &str, before: &str) -> bool {
    let bare = token.trim_start_matches('#');
    let digits = bare.chars().filter(char::is_ascii_digit).count();
    let letters = bare.chars().filter(char::is_ascii_alphabetic).count();
    if digits == 0 {
        return false;
    }
    let cued = token.starts_with('#') || REFERENCE_CUE.is_match(before);
    if cued {
        return digits >= 3 || (digits >= 2 && bare.len() >= 5);
    }
    if letters == 0 && NOT_A_PHONE.is_match(bare) {
        return false;
    }
    if letters == 0 {
        // A bare number: six digits or more is no quantity, price or year anyone writes.
        return digits >= 6;
    }
    digits >= 5 || (digits >= 4 && bare.contains('-') && bare.len() >= 7)
}

fn looks_like_phone(raw: &str) -> bool {
    let digits = raw.chars().filter(char::is_ascii_digit).count();
    if !(7..=15).contains(&digits) || NOT_A_PHONE.is_match(raw.trim()) {
        return false;
    }
    // A bare run of digits is a reference unless it is long enough to be a number in E.164.
    raw.starts_with('+') || raw.contains([' ', '-', '(', '.']) || digits >= 10
}

/// `range` without the whitespace and trailing punctuation a pattern can take along.
fn trimmed(text: &str, range: Range<usize>) -> Range<usize> {
    let s = &text[range.clone()];
    let start = range.start + (s.len() - s.trim_start().len());
    let end = range.start + s.trim_end_matches([' ', '\t', ',', '.', '(', '-']).len();
    start..end.max(start)
}

fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(IdentifierKind, String)> {
        find(text).into_iter().map(|i| (i.kind, i.text)).collect()
    }

    #[test]
    fn order_serial_and_ticket_numbers_are_references() {
        let found = kinds(
            "Ordered today (NH-121877). Serial T2A7K3920114, ticket #4821, RMA-582130, order 55123.",
        );
        let refs: Vec<&str> = found
            .iter()
            .filter(|(k, _)| *k == IdentifierKind::Reference)
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(
            refs,
            ["NH-121877", "T2A7K3920114", "#4821", "RMA-582130", "55123"]
        );
    }

    #[test]
    fn product_codes_versions_prices_dates_and_times_are_not_identifiers() {
        let text = "The T2 on firmware 4.12.3 and the VX6 mesh (2.4 GHz) cost CA$19.95 on \
                    2026-11-18 at 13:00 CET; E05 means below 18 VAC; 100–240 V; 5–10 days; \
                    192.168.1.1; 31 hours; USB-C; 2x; 62 °F.";
        assert_eq!(kinds(text), []);
    }

    #[test]
    fn emails_phones_cards_and_addresses_are_found() {
        let found = kinds(
            "Write to jordan.k@mail.example or call +1 (206) 555-0142. Card 4111 1111 1111 1111. \
             I live at 221B Baker Street, Apt 4 — or Hauptstraße 5 in Munich.",
        );
        assert_eq!(
            found,
            [
                (IdentifierKind::Email, "jordan.k@mail.example".into()),
                (IdentifierKind::Phone, "+1 (206) 555-0142".into()),
                (IdentifierKind::Card, "4111 1111 1111 1111".into()),
                (IdentifierKind::Address, "221B Baker Street, Apt 4".into()),
                (IdentifierKind::Address, "Hauptstraße 5".into()),
            ]
        );
    }

    #[test]
    fn spellings_of_one_identifier_normalise_alike() {
        assert_eq!(
            normalize(IdentifierKind::Phone, "+1 (206) 555-0142"),
            normalize(IdentifierKind::Phone, "+1 206-555-0142")
        );
        assert_eq!(
            normalize(IdentifierKind::Reference, "#nh-121877"),
            normalize(IdentifierKind::Reference, "NH-121877")
        );
    }
}
