//! People's names in a conversation, learned from where support text puts them: greetings
//! ("Hi Marie,"), thanks ("Thanks Dana!"), introductions ("this is Sam from Nimbus support",
//! "Lukas here from the Europe team") and sign-offs ("Warm regards,\nSam, Nimbus Home Support").
//!
//! A capitalised word elsewhere is not taken for a name: "Thermostat", "Early Access" and the
//! business's own name are words of the knowledge. Once learned, a name is found wherever it
//! occurs in the conversation.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

/// Who wrote a message, or whose name a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Customer,
    Agent,
}

impl Role {
    fn other(self) -> Role {
        match self {
            Role::Customer => Role::Agent,
            Role::Agent => Role::Customer,
        }
    }
}

/// A person's name and whose it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PersonName {
    pub name: String,
    pub role: Role,
}

const NAME: &str = r"(\p{Lu}\p{Ll}+(?:[-'’]\p{Lu}\p{Ll}+)?)";

static GREETING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?m)^[\s>]*(?i:hi|hello|hey|dear|hiya|howdy|good (?:morning|afternoon|evening)|hola|buenos d[ií]as|buenas tardes|bonjour|bonsoir|salut|hallo|guten (?:tag|morgen)|liebe|lieber|ciao|buongiorno|ol[aá]|oi|bom dia|hoi|beste|goedemorgen)[ ,]+{NAME}\b"
    ))
    .expect("valid regex")
});

static THANKS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"\b(?i:thanks|thank you|thx|cheers|merci|danke|gracias|grazie|obrigad[oa]|bedankt|welcome|congrats|congratulations|sorry)[ ,]+(?:(?i:so much|a lot|again|very much) )?{NAME}\s*(?:[!.,?]|$)"
    ))
    .expect("valid regex")
});

/// ", Greg, thanks" and ", Marie!" address someone.
static VOCATIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r",\s+{NAME}(?:\s*[!?]|,\s+(?i:thanks|thank you))")).expect("valid regex")
});

static INTRODUCTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"\b(?:(?i:this is|i'm|i am|it's|me llamo|soy|je suis|ich bin|hier ist|sono|sou|eu sou|ik ben)\s+{NAME}\s+(?i:from|with|at|of|on|de|von|vom|da|van|del|here)\b|(?i:my name is|me llamo|je m'appelle|mein name ist|mi chiamo|meu nome é|mijn naam is)\s+{NAME}\b)"
    ))
    .expect("valid regex")
});

static HERE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"(?:^|[,.!]\s*){NAME} here\b")).expect("valid regex"));

static CLOSING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?i:thanks|thank you|thanks again|many thanks|regards|best|best regards|kind regards|warm regards|warmly|cheers|sincerely|all the best|take care|best wishes|saludos|un saludo|atentamente|gracias|cordialement|bien à vous|amicalement|merci|viele grüße|liebe grüße|mit freundlichen grüßen|beste grüße|lg|danke|cordiali saluti|saluti|grazie|atenciosamente|abraços|obrigad[oa]|groeten|met vriendelijke groet|hartelijke groet|bedankt)[,.!]*$")
        .expect("valid regex")
});

static CLOSING_WITH_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"^(?i:thanks|thank you|many thanks|regards|best|best regards|kind regards|warm regards|cheers|sincerely|saludos|cordialement|grüße|gruß|saluti|abraços|groeten)[, ]+{NAME}[.!]?$"
    ))
    .expect("valid regex")
});

/// A sign-off line: a name, maybe a surname, maybe ", Company Support" after it.
static SIGNATURE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"^{NAME}(?:\s+(\p{{Lu}}\p{{Ll}}+))?(?:\s*[,–—|-]\s*.{{1,60}})?$"
    ))
    .expect("valid regex")
});

/// Capitalised words that follow a greeting or thanks without being anybody's name.
const NOT_NAMES: &[&str] = &[
    "team",
    "there",
    "all",
    "everyone",
    "everybody",
    "folks",
    "support",
    "guys",
    "again",
    "sir",
    "madam",
    "friend",
    "friends",
    "so",
    "very",
    "you",
    "much",
    "both",
    "anyway",
    "man",
    "mate",
    "buddy",
    "bot",
    "agent",
    "ladies",
    "dear",
    "lots",
    "in",
    "for",
    "a",
    "the",
    "again",
    "great",
    "ok",
    "okay",
    "yes",
    "no",
    "good",
    "hello",
    "hi",
    "hey",
    "thanks",
    "thank",
    "please",
    "sorry",
    "team",
    "service",
    "customer",
    "care",
    "help",
    "desk",
    "helpdesk",
    "admin",
    "staff",
    "todos",
    "equipo",
    "équipe",
    "tous",
    "allemaal",
    "tutti",
    "zusammen",
    "miteinander",
];

/// Whether `word` is a capitalised word that is nobody's name ("Team", "Support", "There").
pub fn is_common_word(word: &str) -> bool {
    NOT_NAMES.contains(&word.to_lowercase().as_str())
}

/// The names of the people in a conversation (`author`, `text` in order). Words in
/// `not_names` (lower-cased, such as the words of the business's knowledge titles) are never
/// taken for a name.
pub fn learn(messages: &[(Role, &str)], not_names: &HashSet<String>) -> Vec<PersonName> {
    let mut names: Vec<PersonName> = Vec::new();
    let mut add = |name: &str, role: Role| {
        let lower = name.to_lowercase();
        if NOT_NAMES.contains(&lower.as_str()) || not_names.contains(&lower) {
            return;
        }
        if !names.iter().any(|n| n.name == name) {
            names.push(PersonName {
                name: name.to_owned(),
                role,
            });
        }
    };
    for &(author, text) in messages {
        for c in INTRODUCTION.captures_iter(text) {
            if let Some(m) = c.get(1).or_else(|| c.get(2)) {
                add(m.as_str(), author);
            }
        }
        for c in HERE.captures_iter(text) {
            add(&c[1], author);
        }
        for name in signed_name(text) {
            add(&name, author);
        }
        // After the author's own name: "Hi, Lukas here" is Lukas greeting, not greeted.
        for re in [&*GREETING, &*THANKS, &*VOCATIVE] {
            for c in re.captures_iter(text) {
                add(&c[1], author.other());
            }
        }
    }
    names
}

/// The name a message is signed with, if it ends with a sign-off: the first name, and the
/// full name when a surname follows ("Marie Dubois" and "Marie").
fn signed_name(text: &str) -> Vec<String> {
    let mut lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    // Contact details under a signature ("marie@mail.example, +1 415 555 0199").
    while lines.len() > 1 && lines.last().is_some_and(|l| is_contact_line(l)) {
        lines.pop();
    }
    let Some(&last) = lines.last() else {
        return Vec::new();
    };
    if let Some(c) = CLOSING_WITH_NAME.captures(last) {
        return vec![c[1].to_owned()];
    }
    if lines.len() < 2 || last.split_whitespace().count() > 8 {
        return Vec::new();
    }
    let Some(c) = SIGNATURE.captures(last) else {
        return Vec::new();
    };
    let closed = CLOSING.is_match(lines[lines.len() - 2]);
    // A lone word on the last line after a blank line signs the message too ("…\n\nSam").
    let alone = last.split_whitespace().count() == 1
        && text
            .trim_end()
            .rsplit_once('\n')
            .is_some_and(|(before, _)| before.ends_with('\n'));
    if !(closed || alone) {
        return Vec::new();
    }
    let mut names = Vec::new();
    if let Some(surname) = c.get(2) {
        names.push(format!("{} {}", &c[1], surname.as_str()));
    }
    names.push(c[1].to_owned());
    names
}

/// A line of nothing but contact details: e-mail addresses, phone numbers and separators.
pub fn is_contact_line(line: &str) -> bool {
    !crate::identifiers::find(line).is_empty() && crate::identifiers::words_besides(line) <= 2
}

/// A line that only closes a message: "Warm regards,", "Thanks,", "Best, Alex".
pub fn is_closing_line(line: &str) -> bool {
    let line = line.trim();
    CLOSING.is_match(line) || CLOSING_WITH_NAME.is_match(line)
}

static GREETING_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?i:hi|hello|hey|dear|hiya|howdy|good (?:morning|afternoon|evening)|hola|buenos d[ií]as|buenas tardes|bonjour|bonsoir|salut|hallo|guten (?:tag|morgen)|liebe|lieber|ciao|buongiorno|ol[aá]|oi|bom dia|hoi|beste|goedemorgen)(?:[ ,]+(?:\p{Lu}[\p{L}'-]*|(?i:there|team|all|everyone|folks|guys|support))){0,3}[ ,.!]*$")
        .expect("valid regex")
});

/// A line that only greets: "Hi Marie,", "Hello,", "Hey there!".
pub fn is_greeting_line(line: &str) -> bool {
    GREETING_LINE.is_match(line.trim())
}

/// A line that signs a message: a name of `names` first, at most six words ("Sam, Nimbus
/// Home Support"), or a lone capitalised name-like word.
pub fn is_signature_line(line: &str, names: &[PersonName]) -> bool {
    let line = line.trim();
    let first = line
        .split(|c: char| !c.is_alphanumeric() && c != '-' && c != '\'')
        .next()
        .unwrap_or("");
    line.split_whitespace().count() <= 6
        && (names.iter().any(|n| n.name == first) || CLOSING_WITH_NAME.is_match(line))
}

/// Where `name` occurs in `text` as a whole word.
pub fn occurrences(text: &str, name: &str) -> Vec<std::ops::Range<usize>> {
    text.match_indices(name)
        .filter(|(at, _)| {
            let before = text[..*at].chars().next_back();
            let after = text[at + name.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
        .map(|(at, _)| at..at + name.len())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(messages: &[(Role, &str)]) -> Vec<(String, Role)> {
        learn(messages, &HashSet::from(["nimbus".to_owned()]))
            .into_iter()
            .map(|n| (n.name, n.role))
            .collect()
    }

    #[test]
    fn greetings_thanks_introductions_and_sign_offs_name_people() {
        let found = names(&[
            (Role::Customer, "Until when can I order?\n\nThanks,\nMarie"),
            (
                Role::Agent,
                "Hi Marie,\n\nHere are the dates.\n\nWarm regards,\nSam, Nimbus Home Support",
            ),
            (Role::Agent, "Hi, this is Dana from Nimbus support. Sorry!"),
            (Role::Agent, "Hi, Lukas here from the Nimbus Europe team."),
            (Role::Customer, "NH-118406, thanks Jordan!"),
            (
                Role::Agent,
                "Great result, Greg, thanks for letting us know!\n\nAlex",
            ),
        ]);
        assert_eq!(
            found,
            [
                ("Marie".to_owned(), Role::Customer),
                ("Sam".to_owned(), Role::Agent),
                ("Dana".to_owned(), Role::Agent),
                ("Lukas".to_owned(), Role::Agent),
                ("Jordan".to_owned(), Role::Agent),
                ("Alex".to_owned(), Role::Agent),
                ("Greg".to_owned(), Role::Customer),
            ]
        );
    }

    #[test]
    fn greeting_the_team_or_the_business_names_nobody() {
        let found = names(&[
            (Role::Customer, "Hi team, hello Nimbus, thanks again!"),
            (
                Role::Agent,
                "Hi there! Thanks, That is the answer.\n\nNimbus Support",
            ),
            (Role::Customer, "Thanks for the help. It works now."),
        ]);
        assert_eq!(found, []);
    }

    #[test]
    fn occurrences_are_whole_words() {
        assert_eq!(occurrences("Sam, Samuel and Sam.", "Sam"), [0..3, 16..19]);
    }
}
