//! Facts stated in a customer's own words, found by rules: order numbers, e-mail addresses,
//! phone numbers, plans, and products named in the business's knowledge titles.

use std::sync::LazyLock;

use regex::Regex;

use crate::identity::{normalize_email, normalize_phone};

static ORDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:order|ord|commande|pedido|bestellung|ordine|encomenda)\b(?:\s+(?:number|no\.?|nr\.?|num(?:ber|éro|ero)?|id|#))?(?:\s+(?:is|was|es|est|ist|é))?\s*[:#]?\s*#?([A-Z0-9][A-Z0-9-]{3,20})")
        .expect("valid regex")
});
static HASH_NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"#([A-Z0-9-]*\d[A-Z0-9-]{2,20})\b").expect("valid regex"));
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}").expect("valid regex")
});
static PHONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\+?\(?\d[\d\s().-]{6,18}\d").expect("valid regex"));
static PLAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b([A-Za-z+]+(?:\s+[A-Za-z+]+)?)\s+(?:plan|subscription|tier)\b")
        .expect("valid regex")
});

/// Words that precede "plan" without naming one ("my plan", "the plan").
const NOT_A_PLAN: &[&str] = &[
    "my",
    "the",
    "a",
    "your",
    "our",
    "this",
    "that",
    "which",
    "what",
    "current",
    "new",
    "old",
    "monthly",
    "annual",
    "yearly",
    "payment",
    "data",
    "same",
    "change",
    "cancel",
    "upgrade",
    "downgrade",
    "to",
    "of",
    "on",
    "for",
    "and",
    "or",
    "in",
];

/// `(key, value)` pairs stated in `text`. `product_names` are names from the knowledge base's
/// titles; one is a fact when the customer mentions it.
pub fn extract(text: &str, product_names: &[String]) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let mut push = |key: &'static str, value: String| {
        if !out.iter().any(|(k, v)| *k == key && *v == value) {
            out.push((key, value));
        }
    };
    for c in ORDER.captures_iter(text) {
        let value = c[1].trim_end_matches(['.', ',', '-']).to_uppercase();
        if value.chars().any(|ch| ch.is_ascii_digit()) {
            push("order_number", value);
        }
    }
    for c in HASH_NUMBER.captures_iter(text) {
        push("order_number", c[1].to_uppercase());
    }
    for m in EMAIL.find_iter(text) {
        if let Some(email) = normalize_email(m.as_str()) {
            push("email", email);
        }
    }
    for m in PHONE.find_iter(text) {
        let raw = m.as_str();
        let digits = raw.chars().filter(char::is_ascii_digit).count();
        // An order number is a run of digits too: a phone needs a phone's shape.
        let shaped = raw.starts_with('+') || raw.contains([' ', '-', '(', '.']);
        if digits >= 8
            && shaped
            && let Some(phone) = normalize_phone(raw, "US")
        {
            push("phone", phone);
        }
    }
    for c in PLAN.captures_iter(text) {
        let name = c[1].trim();
        let last = name.split_whitespace().last().unwrap_or_default();
        let first = name.split_whitespace().next().unwrap_or_default();
        if NOT_A_PLAN.contains(&last.to_lowercase().as_str()) {
            continue;
        }
        let name = if NOT_A_PLAN.contains(&first.to_lowercase().as_str()) {
            last
        } else {
            name
        };
        push("plan", name.to_owned());
    }
    let lower = text.to_lowercase();
    for product in product_names {
        let p = product.to_lowercase();
        if let Some(at) = lower.find(&p) {
            let before = lower[..at].chars().next_back();
            let after = lower[at + p.len()..].chars().next();
            if !before.is_some_and(char::is_alphanumeric)
                && !after.is_some_and(char::is_alphanumeric)
            {
                push("product", product.clone());
            }
        }
    }
    out
}

/// Product-like names in knowledge titles: runs of capitalised words or words with digits
/// ("Thermostat T2", "Nimbus Plus") that are not ordinary title words.
pub fn product_names(titles: &[String]) -> Vec<String> {
    const COMMON: &[&str] = &[
        "how",
        "what",
        "why",
        "when",
        "where",
        "can",
        "do",
        "does",
        "is",
        "are",
        "the",
        "a",
        "an",
        "and",
        "or",
        "to",
        "of",
        "in",
        "on",
        "for",
        "with",
        "your",
        "my",
        "our",
        "faq",
        "guide",
        "help",
        "setup",
        "set",
        "up",
        "getting",
        "started",
        "troubleshooting",
        "not",
        "turning",
        "reset",
        "password",
        "account",
        "billing",
        "payment",
        "payments",
        "returns",
        "shipping",
        "warranty",
        "privacy",
        "contact",
        "support",
        "create",
        "change",
        "cancel",
        "subscription",
        "orders",
        "order",
        "track",
        "gift",
        "cards",
        "codes",
        "promo",
        "energy",
        "reports",
        "updates",
        "firmware",
        "moving",
        "house",
        "languages",
        "accessibility",
        "display",
        "settings",
        "methods",
        "failed",
        "invoices",
        "refunds",
        "data",
        "deletion",
        "times",
        "costs",
        "claims",
        "business",
        "bulk",
        "household",
        "members",
        "sharing",
        "plans",
        "schedules",
        "power",
        "vacation",
        "mode",
        "away",
        "assist",
        "connecting",
        "device",
        "offline",
        "exchanges",
        "transferring",
        "devices",
        "home",
    ];
    let mut names: Vec<String> = Vec::new();
    for title in titles {
        let words: Vec<&str> = title
            .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '+'))
            .filter(|w| !w.is_empty())
            .collect();
        let mut run: Vec<&str> = Vec::new();
        let flush = |run: &mut Vec<&str>, names: &mut Vec<String>| {
            let meaningful = run
                .iter()
                .any(|w| !COMMON.contains(&w.to_lowercase().as_str()));
            if meaningful && !run.is_empty() {
                let name = run.join(" ");
                if name.chars().count() >= 3 && !names.contains(&name) {
                    names.push(name);
                }
            }
            run.clear();
        };
        for w in words {
            let productish = w.chars().next().is_some_and(char::is_uppercase)
                && !COMMON.contains(&w.to_lowercase().as_str())
                || (w.chars().any(|c| c.is_ascii_digit()) && w.chars().any(char::is_alphabetic));
            // A model number continues a name ("Thermostat T2").
            let continues = !run.is_empty() && w.chars().any(|c| c.is_ascii_digit());
            if productish || continues {
                run.push(w);
            } else {
                flush(&mut run, &mut names);
            }
        }
        flush(&mut run, &mut names);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_numbers_in_many_phrasings() {
        for text in [
            "my order number is 48213",
            "Order #NH-48213 hasn't arrived",
            "where is #48213?",
            "pedido 48213 no llegó",
        ] {
            let facts = extract(text, &[]);
            assert!(
                facts
                    .iter()
                    .any(|(k, v)| *k == "order_number" && v.contains("48213")),
                "{text}: {facts:?}"
            );
        }
    }

    #[test]
    fn emails_phones_plans_and_products() {
        let names = vec!["Thermostat T2".to_owned()];
        let facts = extract(
            "I'm on the Nimbus Plus plan, my Thermostat T2 is dead. Reach me at Ana@Example.com or +1 415 555 0142",
            &names,
        );
        assert!(
            facts.contains(&("email", "ana@example.com".into())),
            "{facts:?}"
        );
        assert!(
            facts.contains(&("phone", "+14155550142".into())),
            "{facts:?}"
        );
        assert!(facts.contains(&("plan", "Nimbus Plus".into())), "{facts:?}");
        assert!(
            facts.contains(&("product", "Thermostat T2".into())),
            "{facts:?}"
        );
    }

    #[test]
    fn an_order_number_is_not_a_phone_number() {
        let facts = extract("order 123456789", &[]);
        assert!(!facts.iter().any(|(k, _)| *k == "phone"), "{facts:?}");
    }

    #[test]
    fn product_names_come_from_titles() {
        let names = product_names(&[
            "Thermostat T2 setup".to_owned(),
            "How to reset your password".to_owned(),
            "Nimbus Plus plans".to_owned(),
        ]);
        assert!(names.contains(&"Thermostat T2".to_owned()), "{names:?}");
        assert!(names.contains(&"Nimbus Plus".to_owned()), "{names:?}");
        assert!(!names.iter().any(|n| n.contains("How")), "{names:?}");
    }
}
