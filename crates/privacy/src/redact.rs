//! Personal data replaced by wording that reads naturally: "(NH-121877)" goes, "serial
//! T2A7K3920114" becomes "your serial number", "Thanks Dana!" becomes "Thanks!" and "this is
//! Dana from Nimbus support" becomes "this is Nimbus support".

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use crate::identifiers::{self, IdentifierKind};
use crate::names::{self, PersonName, Role};

/// Whose words a text is: the customer's ("my order") or the business's ("your order").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voice {
    Customer,
    Agent,
}

impl Voice {
    fn possessive(self) -> &'static str {
        match self {
            Voice::Customer => "my",
            Voice::Agent => "your",
        }
    }
}

/// What was taken out of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Removed {
    Identifier(IdentifierKind),
    Name,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    pub text: String,
    pub removed: Vec<Removed>,
}

/// Removes the names it knows and every identifier except the business's own.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    names: Vec<PersonName>,
    /// Normalised identifiers that belong to the business (its support line, its e-mail
    /// addresses), which a general answer keeps.
    keep: HashSet<String>,
}

static REFERENCE_CUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:(?:my|your|the|our|this|that)\s+)?(order|invoice|ticket|case|tracking|serial|account|reference|confirmation|booking|claim|receipt|rma)(?:\s+(?:number|no\.?|nr\.?|id|code))?(?:\s+(?:is|was))?\s*[:#]?\s*$")
        .expect("valid regex")
});

static INTRODUCED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:this is|i'm|i am|it's|my name is)\s+$").expect("valid regex")
});

static SPACES: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[ \t]{2,}").expect("valid regex"));
static SPACE_BEFORE_PUNCTUATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[ \t]+([,.!?;:)])").expect("valid regex"));
static DOUBLED_PUNCTUATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r",([.!?])|\(\s*\)").expect("valid regex"));

impl Redactor {
    pub fn new(names: Vec<PersonName>) -> Self {
        Self {
            names,
            keep: HashSet::new(),
        }
    }

    /// Identifiers (as written; normalised here) that stay because they are the business's.
    pub fn keeping<'a>(
        mut self,
        kept: impl IntoIterator<Item = (IdentifierKind, &'a str)>,
    ) -> Self {
        self.keep
            .extend(kept.into_iter().map(|(k, t)| identifiers::normalize(k, t)));
        self
    }

    pub fn names(&self) -> &[PersonName] {
        &self.names
    }

    /// Whether `identifier` is one of the business's own.
    pub fn keeps(&self, identifier: &identifiers::Identifier) -> bool {
        self.keep.contains(&identifier.normalized())
    }

    pub fn redact(&self, text: &str, voice: Voice) -> Redacted {
        let mut removed = Vec::new();
        let text = self.without_identifiers(text, voice, &mut removed);
        let text = self.without_names(&text, voice, &mut removed);
        Redacted {
            text: tidy(&text),
            removed,
        }
    }

    /// Names and identifiers still in `text` (none after [`Redactor::redact`]).
    pub fn residue(&self, text: &str) -> Vec<String> {
        let mut left: Vec<String> = identifiers::find(text)
            .into_iter()
            .filter(|i| !self.keeps(i))
            .map(|i| i.text)
            .collect();
        left.extend(
            self.names
                .iter()
                .filter(|n| !names::occurrences(text, &n.name).is_empty())
                .map(|n| n.name.clone()),
        );
        left
    }

    fn without_identifiers(&self, text: &str, voice: Voice, removed: &mut Vec<Removed>) -> String {
        let mut out = text.to_owned();
        for found in identifiers::find(text).into_iter().rev() {
            if self.keeps(&found) {
                continue;
            }
            removed.push(Removed::Identifier(found.kind));
            let before = &out[..found.span.start];
            let after = &out[found.span.end..];
            // "(NH-121877)" is an aside: it goes whole.
            if before.ends_with('(') && after.starts_with(')') {
                let start = before.trim_end_matches('(').trim_end().len();
                out.replace_range(start..found.span.end + 1, "");
                continue;
            }
            let (start, phrase) = match (found.kind, REFERENCE_CUE.captures(before)) {
                (IdentifierKind::Reference, Some(cue)) => {
                    let noun = cue[1].to_lowercase();
                    let phrase = match noun.as_str() {
                        "order" => "order".to_owned(),
                        "rma" => "return number".to_owned(),
                        other => format!("{other} number"),
                    };
                    (cue.get(0).map_or(found.span.start, |m| m.start()), phrase)
                }
                (kind, _) => (found.span.start, placeholder(kind, &found.text)),
            };
            let at_sentence_start = out[..start]
                .trim_end()
                .chars()
                .next_back()
                .is_none_or(|c| matches!(c, '.' | '!' | '?' | '\n' | ':'));
            let mut replacement = format!("{} {phrase}", voice.possessive());
            if at_sentence_start {
                replacement = capitalised(&replacement);
            }
            out.replace_range(start..found.span.end, &replacement);
        }
        out
    }

    fn without_names(&self, text: &str, voice: Voice, removed: &mut Vec<Removed>) -> String {
        let mut out = text.to_owned();
        let mut by_length: Vec<&PersonName> = self.names.iter().collect();
        by_length.sort_by_key(|n| std::cmp::Reverse(n.name.len()));
        for person in by_length {
            for span in names::occurrences(&out.clone(), &person.name)
                .into_iter()
                .rev()
            {
                removed.push(Removed::Name);
                let before = &out[..span.start];
                let after = &out[span.end..];
                let next = after.trim_start_matches([' ', '\t']).chars().next();
                // "this is Dana from Nimbus support" → "this is Nimbus support";
                // "Lukas here from the team" → "this is the team".
                if let Some(intro) = INTRODUCED.find(before)
                    && let Some(rest) = strip_word(after, &["from", "with", "at", "of"])
                {
                    let keep_from = out.len() - rest.len();
                    let lead = &out[intro.start()..intro.start() + 1];
                    let this_is = if lead.chars().all(char::is_uppercase) {
                        "This is "
                    } else {
                        "this is "
                    };
                    out.replace_range(intro.start()..keep_from, this_is);
                    continue;
                }
                if let Some(rest) = strip_word(after, &["here"]) {
                    let rest = strip_word(rest, &["from", "with", "at"]).unwrap_or(rest);
                    let keep_from = out.len() - rest.len();
                    out.replace_range(span.start..keep_from, "this is ");
                    continue;
                }
                // Addressing someone: "Thanks Dana!", "welcome, Marie!", "Hi Greg,".
                let addressed = next
                    .is_none_or(|c| matches!(c, '!' | '?' | '.' | ',' | ';' | ':' | '\n' | ')'));
                if addressed {
                    let start = before
                        .trim_end_matches([' ', '\t'])
                        .trim_end_matches(',')
                        .len();
                    let start = if before[start..].contains('\n') {
                        span.start
                    } else {
                        start
                    };
                    out.replace_range(start..span.end, "");
                    continue;
                }
                let stand_in = match (person.role, voice) {
                    (Role::Agent, _) => "our team",
                    (Role::Customer, Voice::Agent) => "you",
                    (Role::Customer, Voice::Customer) => "I",
                };
                out.replace_range(span.clone(), stand_in);
            }
        }
        out
    }
}

fn placeholder(kind: IdentifierKind, text: &str) -> String {
    match kind {
        IdentifierKind::Email => "e-mail address".into(),
        IdentifierKind::Phone => "phone number".into(),
        IdentifierKind::Card => "card".into(),
        IdentifierKind::Address => "address".into(),
        IdentifierKind::Reference
            if text
                .trim_start_matches('#')
                .split('-')
                .next()
                .is_some_and(|p| {
                    p.chars().all(|c| c.is_ascii_uppercase()) && text.contains('-')
                }) =>
        {
            "order number".into()
        }
        IdentifierKind::Reference => "reference number".into(),
    }
}

/// `text` after a leading `word` (any of them) and the spaces around it.
fn strip_word<'a>(text: &'a str, words: &[&str]) -> Option<&'a str> {
    let t = text.trim_start_matches([' ', '\t']);
    words.iter().find_map(|w| {
        let head = t.get(..w.len())?;
        let rest = &t[w.len()..];
        (head.eq_ignore_ascii_case(w) && rest.starts_with([' ', '\t']))
            .then(|| rest.trim_start_matches([' ', '\t']))
    })
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Spacing and punctuation made whole again after words were taken out.
fn tidy(text: &str) -> String {
    let text = SPACES.replace_all(text, " ");
    let text = SPACE_BEFORE_PUNCTUATION.replace_all(&text, "$1");
    let text = DOUBLED_PUNCTUATION.replace_all(&text, "$1");
    text.lines()
        .map(|l| l.trim_end())
        .map(|l| l.strip_prefix(", ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(vec![
            PersonName {
                name: "Dana".into(),
                role: Role::Agent,
            },
            PersonName {
                name: "Marie".into(),
                role: Role::Customer,
            },
            PersonName {
                name: "Lukas".into(),
                role: Role::Agent,
            },
        ])
        .keeping([(IdentifierKind::Phone, "+1 (206) 555-0142")])
    }

    fn agent(text: &str) -> String {
        redactor().redact(text, Voice::Agent).text
    }

    #[test]
    fn names_leave_greetings_thanks_and_introductions_reading_naturally() {
        assert_eq!(
            agent("Hi, this is Dana from Nimbus support."),
            "Hi, this is Nimbus support."
        );
        assert_eq!(
            agent("Hi, Lukas here from the Nimbus Europe team."),
            "Hi, this is the Nimbus Europe team."
        );
        assert_eq!(
            agent("You're welcome, Marie! Happy holidays."),
            "You're welcome! Happy holidays."
        );
        assert_eq!(
            agent("Hi Marie,\n\nWhat a nice gift!"),
            "Hi,\n\nWhat a nice gift!"
        );
        assert_eq!(agent("Ask Dana about it."), "Ask our team about it.");
    }

    #[test]
    fn identifiers_become_placeholders_that_read_naturally() {
        assert_eq!(
            agent("Ordered with the gift option (NH-121877)."),
            "Ordered with the gift option."
        );
        assert_eq!(
            agent("I can see order NH-121877 shipped."),
            "I can see your order shipped."
        );
        assert_eq!(
            redactor()
                .redact(
                    "Thermostat T2, serial T2A7K3920114, firmware 4.12.3.",
                    Voice::Customer
                )
                .text,
            "Thermostat T2, my serial number, firmware 4.12.3."
        );
        assert_eq!(
            agent("NH-118406 is on its way."),
            "Your order number is on its way."
        );
        assert_eq!(
            agent("Mail jordan.k@mail.example or call +1 (206) 555-0142."),
            "Mail your e-mail address or call +1 (206) 555-0142."
        );
    }

    #[test]
    fn nothing_is_left_after_redaction() {
        let r = redactor();
        let text =
            "Thanks Dana! NH-121877, marie@mail.example, 221B Baker Street, +44 20 7946 0958";
        let redacted = r.redact(text, Voice::Customer);
        assert_eq!(
            r.residue(&redacted.text),
            Vec::<String>::new(),
            "{}",
            redacted.text
        );
        assert_eq!(redacted.removed.len(), 5);
    }
}
