//! The last check before a reply leaves: it must not carry another customer's order number,
//! e-mail address, phone or card number, nor another contact's name. Knowledge is cleaned when
//! it is learned ([`rapport_knowledge::mining`]); this guard catches what got through anyway —
//! an admin's snippet that quotes a customer, a model that echoes something it should not.
//!
//! A reply may repeat what the customer it answers told us (their own order number): only
//! identifiers that are not in the customer's own words and that the store ties to another
//! contact stop it.

use std::collections::HashSet;

use rapport_core::ids::{ContactId, WorkspaceId};
use rapport_privacy::{IdentifierKind, identifiers};
use rapport_store::Store;
use serde::Serialize;

use crate::Result;
use crate::context::CustomerContext;

/// What a reply would have disclosed: its kind only, never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disclosure {
    pub kind: &'static str,
}

impl Disclosure {
    pub fn reason(&self) -> String {
        format!(
            "the reply would have shown another customer's {}",
            self.kind
        )
    }
}

/// Words that are capitalised in replies without naming anyone.
const NEVER_NAMES: &[&str] = &[
    "the",
    "this",
    "that",
    "these",
    "those",
    "you",
    "your",
    "our",
    "we",
    "hi",
    "hello",
    "hey",
    "thanks",
    "thank",
    "please",
    "yes",
    "no",
    "if",
    "when",
    "then",
    "and",
    "but",
    "or",
    "for",
    "more",
    "open",
    "go",
    "tap",
    "settings",
    "account",
    "support",
    "help",
    "home",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "step",
    "note",
    "tip",
    "once",
    "after",
    "before",
    "to",
    "in",
    "on",
    "at",
    "it",
];

/// Checks `reply` against the store. `customer` is the context the reply answers (its own
/// words are allowed back); `not_names` are lower-cased words the knowledge uses (titles,
/// headings), which are never taken for names.
pub async fn check(
    store: &Store,
    ws: WorkspaceId,
    root: ContactId,
    customer: &CustomerContext,
    message: &str,
    reply: &str,
    not_names: &HashSet<String>,
) -> Result<Option<Disclosure>> {
    let own = own_words(customer, message);
    let own_ids: HashSet<String> = identifiers::find(&own)
        .iter()
        .map(|i| i.normalized())
        .collect();
    for found in identifiers::find(reply) {
        if own_ids.contains(&found.normalized()) {
            continue;
        }
        if found.kind == IdentifierKind::Card {
            // A card number never belongs in a reply, whoever's it is.
            return Ok(Some(Disclosure {
                kind: found.kind.as_str(),
            }));
        }
        let values = stored_forms(found.kind, &found.text);
        if !values.is_empty()
            && store
                .identifier_of_another_contact(ws, root, &values)
                .await?
        {
            return Ok(Some(Disclosure {
                kind: found.kind.as_str(),
            }));
        }
    }
    let own_lower = own.to_lowercase();
    let candidates: Vec<String> = capitalised_words(reply)
        .into_iter()
        .map(|w| w.to_lowercase())
        .filter(|w| {
            !NEVER_NAMES.contains(&w.as_str())
                && !not_names.contains(w)
                && rapport_privacy::names::occurrences(&own_lower, w).is_empty()
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if !store
        .first_names_of_other_contacts(ws, root, &candidates)
        .await?
        .is_empty()
    {
        return Ok(Some(Disclosure { kind: "name" }));
    }
    Ok(None)
}

/// What the customer said themselves: their name, facts, messages and the one being answered.
fn own_words(customer: &CustomerContext, message: &str) -> String {
    let mut own = String::new();
    if let Some(name) = &customer.customer.name {
        own.push_str(name);
        own.push('\n');
    }
    for f in &customer.customer.facts {
        own.push_str(&f.value);
        own.push('\n');
    }
    for t in customer.history.iter().filter(|t| t.is_customer()) {
        own.push_str(&t.text);
        own.push('\n');
    }
    own.push_str(message);
    own
}

/// The spellings the store may keep an identifier in: e-mails lower-cased, phones in E.164
/// (and WhatsApp's digits), references upper-cased.
fn stored_forms(kind: IdentifierKind, text: &str) -> Vec<String> {
    match kind {
        IdentifierKind::Email => vec![text.trim().to_lowercase()],
        IdentifierKind::Phone => {
            let digits: String = text.chars().filter(char::is_ascii_digit).collect();
            let mut forms = vec![format!("+{digits}"), digits.clone()];
            if digits.len() == 10 {
                forms.push(format!("+1{digits}"));
            }
            forms
        }
        IdentifierKind::Reference => {
            let bare = text.trim_start_matches('#');
            vec![bare.to_uppercase(), bare.to_owned()]
        }
        IdentifierKind::Card | IdentifierKind::Address => Vec::new(),
    }
}

/// Capitalised words of at least three letters (not all capitals: "TWT", "USB" are no names).
fn capitalised_words(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_alphabetic() && c != '\'' && c != '-')
        .map(|w| w.trim_matches(['\'', '-']))
        .filter(|w| {
            w.chars().count() >= 3
                && w.chars().next().is_some_and(char::is_uppercase)
                && w.chars().any(char::is_lowercase)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_capitalised_words_and_acronyms_are_not() {
        assert_eq!(
            capitalised_words("You're welcome, Marie! TWT is off; ask Jean-Luc or O'Brien."),
            ["You're", "Marie", "Jean-Luc", "O'Brien"]
        );
    }

    #[test]
    fn phones_are_looked_up_in_every_stored_spelling() {
        assert_eq!(
            stored_forms(IdentifierKind::Phone, "(206) 555-0142"),
            ["+2065550142", "2065550142", "+12065550142"]
        );
        assert_eq!(
            stored_forms(IdentifierKind::Reference, "#nh-1234"),
            ["NH-1234", "nh-1234"]
        );
    }
}
