//! Past conversations become general questions and answers, never someone's conversation.
//!
//! A resolved conversation holds one customer's case: their name, their order, the agent's
//! sign-off, the refund the agent made for them. What another customer can use is the question
//! and the part of the agent's answer that holds for anyone. So mining keeps
//! - of the customer: what they asked and described before the answer, and the questions they
//!   asked after it, joined as sentences;
//! - of the agent: the messages that answer those questions, without greetings, sign-offs,
//!   pleasantries, introductions, clarifying questions, and sentences about what the agent
//!   did for this one customer ("I've refunded…", "I can see your order shipped…");
//!
//! and then removes every name and identifier left ([`rapport_privacy::Redactor`]). A
//! conversation that yields no general answer is left out, with the reason counted.

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

use rapport_privacy::names::{self, PersonName, Role};
use rapport_privacy::{IdentifierKind, Redactor, Voice, identifiers};
use regex::Regex;

/// The version of these rules, kept with each candidate they cleaned: candidates cleaned by an
/// older version (or none) are cleaned again on their source's next sync.
pub const PRIVACY_VERSION: i64 = 1;

/// A Q&A pair mined from a conversation, with personal data already removed.
#[derive(Debug, Clone, PartialEq)]
pub struct MinedPair {
    pub conversation_ref: String,
    pub question: String,
    pub answer: String,
    /// Names and identifiers the conversation held that the pair leaves out.
    pub redactions: usize,
    /// The people the conversation named, to check what a model rewrites of the pair.
    pub names: Vec<PersonName>,
}

/// What became of one conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum Mined {
    Pair(MinedPair),
    LeftOut {
        conversation_ref: String,
        reason: LeftOut,
    },
}

/// Why a conversation gave no pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftOut {
    /// The customer asked nothing, or the agent never answered.
    NoExchange,
    /// All the agent said was about that customer's own case.
    OnlyAboutTheCustomer,
    /// Something personal was still there after redaction.
    PersonalDataRemained,
}

/// One conversation, as exported or as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    pub conversation_ref: String,
    /// `(author, text)` in order; authors other than `customer` and `agent` are skipped.
    pub messages: Vec<(String, String)>,
    /// Names the store knows for this conversation (the contact's).
    pub names: Vec<PersonName>,
}

/// What mining a source's conversations did, part of its sync report.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MiningReport {
    pub conversations: usize,
    /// Conversations that gave a general pair.
    pub pairs: usize,
    /// Of those, pairs that had names or identifiers removed.
    pub cleaned: usize,
    /// Conversations that gave no pair, by reason.
    pub left_out: BTreeMap<LeftOut, usize>,
    pub candidates_added: usize,
    /// Candidates mined by older rules and cleaned now.
    pub recleaned: usize,
    /// Candidates mined by older rules that no longer give a general pair, removed.
    pub removed: usize,
}

impl MiningReport {
    pub fn count(&mut self, mined: &Mined) {
        match mined {
            Mined::Pair(p) => {
                self.pairs += 1;
                self.cleaned += usize::from(p.redactions > 0);
            }
            Mined::LeftOut { reason, .. } => *self.left_out.entry(*reason).or_default() += 1,
        }
    }
}

/// What the workspace knows that helps tell personal data from knowledge.
#[derive(Debug, Clone, Default)]
pub struct MiningContext {
    /// Names known from the store: the contact's, the agents'.
    pub known_names: Vec<PersonName>,
    /// Lower-cased words that are never names: the words of the knowledge's titles.
    pub not_names: HashSet<String>,
    /// The business's own identifiers (its support line, its e-mail addresses), kept.
    pub business_identifiers: Vec<(IdentifierKind, String)>,
}

/// An answer shorter than this says nothing another customer can use.
const MIN_ANSWER_WORDS: usize = 8;

pub fn mine(transcript: &Transcript, context: &MiningContext) -> Mined {
    let left_out = |reason| Mined::LeftOut {
        conversation_ref: transcript.conversation_ref.clone(),
        reason,
    };
    let turns: Vec<(Role, &str)> = transcript
        .messages
        .iter()
        .filter_map(|(author, text)| {
            let role = match author.as_str() {
                "customer" => Role::Customer,
                "agent" => Role::Agent,
                _ => return None,
            };
            (!text.trim().is_empty()).then_some((role, text.as_str()))
        })
        .collect();
    let mut people = names::learn(&turns, &context.not_names);
    people.extend(transcript.names.iter().cloned());
    let redactor = redactor_for(people, context);

    let Some(exchange) = exchange(&turns, &redactor) else {
        return left_out(LeftOut::NoExchange);
    };
    if exchange.answer.is_empty() {
        return left_out(LeftOut::OnlyAboutTheCustomer);
    }
    let question = redactor.redact(&exchange.question.join(" "), Voice::Customer);
    let answer = redactor.redact(&exchange.answer.join("\n\n"), Voice::Agent);
    if answer.text.split_whitespace().count() < MIN_ANSWER_WORDS {
        return left_out(LeftOut::OnlyAboutTheCustomer);
    }
    if question.text.trim().is_empty() {
        return left_out(LeftOut::NoExchange);
    }
    if !redactor.residue(&question.text).is_empty() || !redactor.residue(&answer.text).is_empty() {
        return left_out(LeftOut::PersonalDataRemained);
    }
    // Everything personal the conversation held, whether its sentence was left behind or
    // its words replaced: none of it is in the pair.
    let personal = transcript
        .messages
        .iter()
        .map(|(_, text)| redactor.residue(text).len())
        .sum::<usize>();
    Mined::Pair(MinedPair {
        conversation_ref: transcript.conversation_ref.clone(),
        question: question.text,
        answer: answer.text,
        redactions: personal,
        names: redactor.names().to_vec(),
    })
}

/// An admin's edit of a candidate, with any name or identifier in it removed (the business's
/// own stay): what is approved is what the bot may say to anyone.
pub fn redact_edit(question: &str, answer: &str, context: &MiningContext) -> (String, String) {
    let people = names::learn(
        &[(Role::Customer, question), (Role::Agent, answer)],
        &context.not_names,
    );
    let redactor = redactor_for(people, context);
    (
        redactor.redact(question, Voice::Customer).text,
        redactor.redact(answer, Voice::Agent).text,
    )
}

/// A model's rewrite of `pair`, with any name or identifier it brought back removed.
pub fn redact_condensed(
    pair: &MinedPair,
    question: &str,
    answer: &str,
    context: &MiningContext,
) -> (String, String) {
    let redactor = redactor_for(pair.names.clone(), context);
    (
        redactor.redact(question, Voice::Customer).text,
        redactor.redact(answer, Voice::Agent).text,
    )
}

fn redactor_for(mut people: Vec<PersonName>, context: &MiningContext) -> Redactor {
    for known in &context.known_names {
        // A user called "Support" or "Nimbus Bot" names no person in the text.
        let common = known
            .name
            .split_whitespace()
            .any(|w| names::is_common_word(w) || context.not_names.contains(&w.to_lowercase()));
        if !common && !people.iter().any(|p| p.name == known.name) {
            people.push(known.clone());
        }
    }
    Redactor::new(people).keeping(
        context
            .business_identifiers
            .iter()
            .map(|(k, t)| (*k, t.as_str())),
    )
}

/// Personal data removed from a pair already stored (mined before mining removed it, or
/// edited by hand): the names it signs and greets with, and every identifier.
pub fn redact_pair(question: &str, answer: &str, context: &MiningContext) -> (String, String) {
    let people = names::learn(
        &[(Role::Customer, question), (Role::Agent, answer)],
        &context.not_names,
    );
    let redactor = redactor_for(people, context);
    let answer_lines = agent_lines(answer, &redactor).join("\n");
    (
        redactor.redact(question, Voice::Customer).text,
        redactor.redact(&answer_lines, Voice::Agent).text,
    )
}

/// The customer's question and the agent's general answer, still to be redacted.
struct Exchange {
    question: Vec<String>,
    answer: Vec<String>,
}

fn exchange(turns: &[(Role, &str)], redactor: &Redactor) -> Option<Exchange> {
    let mut question: Vec<String> = Vec::new();
    let mut answer: Vec<String> = Vec::new();
    let mut answered = false;
    // Whether the customer's latest message asked something the next agent message answers.
    let mut asking = true;
    let mut agent_replied = false;
    for &(role, text) in turns {
        match role {
            Role::Customer => {
                let said = customer_sentences(text, redactor);
                let supplied_data = supplies_data(text, &said);
                if !answered {
                    question.extend(said);
                    asking = !supplied_data || text.contains('?');
                } else {
                    let asked: Vec<String> =
                        said.into_iter().filter(|s| s.ends_with('?')).collect();
                    asking = !asked.is_empty();
                    question.extend(asked);
                }
            }
            Role::Agent => {
                agent_replied = true;
                if !asking {
                    continue;
                }
                let lines = agent_lines(text, redactor);
                let informative = lines
                    .iter()
                    .flat_map(|l| sentences(l))
                    .filter(|s| !s.ends_with('?'))
                    .count();
                // Only asking back ("which router do you have?"): the customer's reply is part
                // of the question.
                if informative == 0 {
                    continue;
                }
                answer.push(lines.join("\n"));
                answered = true;
            }
        }
    }
    (agent_replied && !question.is_empty()).then_some(Exchange { question, answer })
}

/// A customer message that hands over their data ("NH-118406, jordan.k@mail.example"): what
/// the agent does next is that customer's case.
fn supplies_data(text: &str, kept: &[String]) -> bool {
    let found = identifiers::find(text);
    !found.is_empty()
        && kept
            .iter()
            .map(|s| s.split_whitespace().count())
            .sum::<usize>()
            <= 8
}

/// What the customer said that describes or asks, sentence by sentence, each ending in
/// punctuation so that sentences never run into each other.
fn customer_sentences(text: &str, redactor: &Redactor) -> Vec<String> {
    body_lines(text, redactor)
        .iter()
        .flat_map(|l| sentences(l))
        .filter(|s| !is_pleasantry(s) && !only_data(s))
        .map(|s| ended(&without_greeting(&s)))
        .collect()
}

static LEADING_GREETING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:hi|hello|hey|hiya|dear|hola|bonjour|hallo|ciao|ol[aá]|hoi)(?: there| team| all)?[,!]*\s+")
        .expect("valid regex")
});

/// "Hi, my thermostat keeps going offline." → "My thermostat keeps going offline."
fn without_greeting(sentence: &str) -> String {
    match LEADING_GREETING.find(sentence) {
        Some(m) if m.end() < sentence.len() => {
            let rest = &sentence[m.end()..];
            let mut chars = rest.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        }
        _ => sentence.to_owned(),
    }
}

/// The lines of an agent's message that carry knowledge: list items whole, other lines
/// sentence by sentence without pleasantries, introductions and this customer's case.
fn agent_lines(text: &str, redactor: &Redactor) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in body_lines(text, redactor) {
        if line.is_empty() {
            if out.last().is_some_and(|l| !l.is_empty()) {
                out.push(String::new());
            }
            continue;
        }
        if LIST_ITEM.is_match(&line) {
            if !CASE_ACTION.is_match(&line) {
                out.push(line);
            }
            continue;
        }
        let kept: Vec<String> = sentences(&line)
            .into_iter()
            .filter(|s| {
                !is_pleasantry(s)
                    && !INTRODUCTION.is_match(s)
                    && !CASE_ACTION.is_match(s)
                    && !only_data(s)
            })
            .collect();
        if !kept.is_empty() {
            out.push(kept.join(" "));
        }
    }
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out
}

/// A message's lines without the greeting line at its top and the sign-off at its end.
fn body_lines(text: &str, redactor: &Redactor) -> Vec<String> {
    let mut lines: Vec<&str> = text.lines().map(str::trim).collect();
    while lines
        .first()
        .is_some_and(|l| l.is_empty() || names::is_greeting_line(l))
    {
        lines.remove(0);
    }
    loop {
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        match lines.last() {
            Some(l)
                if lines.len() > 1
                    && (names::is_closing_line(l)
                        || names::is_contact_line(l)
                        || names::is_signature_line(l, redactor.names())) =>
            {
                lines.pop();
            }
            _ => break,
        }
    }
    lines.into_iter().map(str::to_owned).collect()
}

static LIST_ITEM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*(?:[-*•–]|\d{1,2}[.)])\s+").expect("valid regex"));

/// Saying hello, thanks, sorry or goodbye: nothing another customer learns from.
static PLEASANTRY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)^(?:",
        r"(?:hi|hello|hey|dear|hiya)(?:[ ,]+(?:there|team|all|everyone))?",
        r"|(?:many )?thanks?(?: you)?(?: (?:so|very) much| a lot| again)?(?: for [^.!?]{0,60})?(?:[,.!]* (?:that|this) (?:helps|helped)(?: a lot)?)?",
        r"|you'?re (?:very )?welcome\b[^.!?]*",
        r"|(?:i'?m |we'?re )?(?:so |very |really )?sorry (?:about|for) (?:that|this|the (?:trouble|inconvenience|wait|delay|confusion))",
        r"|(?:that|this) (?:helps|helped)(?: a lot)?",
        r"|(?:great|good|glad|happy|nice) to (?:hear|help|know)\b[^.!?]*",
        r"|glad (?:it|that|i|we)\b[^.!?]*",
        r"|(?:i )?hope (?:this|that|it) helps\b[^.!?]*",
        r"|have a (?:good|great|nice|lovely|wonderful) \w+\b[^.!?]*",
        r"|(?:enjoy|congratulations|congrats|happy holidays|merry christmas|good luck|take care|cheers|gute reise|buen viaje|bon voyage)\b[^.!?]*",
        r"|what a (?:nice|lovely|great|thoughtful) \w+",
        r"|(?:is there )?anything else[^.!?]*",
        r"|(?:perfect|great|awesome|wonderful|amazing|excellent|ok(?:ay)?|done|will do|no problem|sure|cool|noted|got it|all good|brilliant)",
        r"|(?:gracias|merci|danke|grazie|obrigad[oa]|bedankt)\b[^.!?]*",
        r")(?:,?\s+(?-i:\p{Lu}\p{Ll}+))?[\s,.!🙂😊👍]*$"
    ))
    .expect("valid regex")
});

/// An agent naming themselves: nothing of it is knowledge.
static INTRODUCTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:(?:hi|hello|hey)[,!]?\s+)?(?:(?:this is|i'?m|i am|my name is|it'?s)\s+(?-i:\p{Lu}\p{Ll}+)(?:\s+(?-i:\p{Lu}\p{Ll}+))?\s+(?:from|with|at|of|on)\b|(?-i:\p{Lu}\p{Ll}+) here(?:\s+(?:from|with|at)\b|[.!,]?$))[^.!?]*[.!]?$")
        .expect("valid regex")
});

/// What the agent did or saw for this one customer, or offers to do for them.
static CASE_ACTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b(?:",
        r"(?:i|we)(?:'ve| have)?\s+(?:just\s+|now\s+|already\s+)?(?:refunded|credited|checked|looked (?:at|into)|sent|issued|cancel+ed|updated|changed|processed|escalated|forwarded|applied|added|removed|reset|released|moved|scheduled|reopened|arranged|booked|replaced|shipped|upgraded|downgraded|waived|extended|noted|passed|reviewed|verified|confirmed)\b",
        r"|(?:i|we) can see\b",
        r"|i'?ll (?:close|look|ask|check|send|keep|follow|escalate|pass|get|call|e-?mail|let)\b",
        r"|let me (?:look|check|see)\b",
        r"|(?:reply|write back|answer) (?:here|in this chat|to this (?:e-?mail|message|ticket))\b",
        r"|your (?:serial number|order number|logs?|runtime logs) (?:let|shows?|showed)\b",
        r")"
    ))
    .expect("valid regex")
});

/// A sentence that is nothing but identifiers ("NH-118406, jordan.k@mail.example").
fn only_data(sentence: &str) -> bool {
    !identifiers::find(sentence).is_empty() && identifiers::words_besides(sentence) <= 3
}

fn is_pleasantry(sentence: &str) -> bool {
    PLEASANTRY.is_match(sentence.trim())
}

/// The sentences of one line. A full stop inside "p.m.", "e.g." or a number does not end one.
pub(crate) fn sentences(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    for (i, &(at, c)) in chars.iter().enumerate() {
        if !matches!(c, '.' | '!' | '?') {
            continue;
        }
        let next = chars.get(i + 1).map(|&(_, c)| c);
        let after_next = chars.get(i + 2).map(|&(_, c)| c);
        let ends = match next {
            None => true,
            Some(n) if n.is_whitespace() => after_next.is_none_or(|c| {
                c.is_uppercase()
                    || c.is_ascii_digit()
                    || matches!(c, '"' | '“' | '(' | '\'' | '¿' | '¡')
            }),
            _ => false,
        };
        if !ends || (c == '.' && abbreviation(&line[start..at])) {
            continue;
        }
        let end = at + c.len_utf8();
        let s = line[start..end].trim();
        if !s.is_empty() {
            out.push(s.to_owned());
        }
        start = end;
    }
    let rest = line[start..].trim();
    if !rest.is_empty() {
        out.push(rest.to_owned());
    }
    out
}

/// Whether the word before a full stop is an abbreviation ("p.m", "e.g", "approx").
fn abbreviation(before: &str) -> bool {
    let word = before.rsplit(char::is_whitespace).next().unwrap_or("");
    let lower = word.to_lowercase();
    word.contains('.')
        || (word.len() == 1 && word.chars().all(char::is_alphabetic))
        || matches!(
            lower.as_str(),
            "mr" | "mrs"
                | "ms"
                | "dr"
                | "st"
                | "no"
                | "nr"
                | "vs"
                | "approx"
                | "incl"
                | "ca"
                | "fig"
                | "jan"
                | "feb"
                | "mar"
                | "apr"
                | "jun"
                | "jul"
                | "aug"
                | "sep"
                | "sept"
                | "oct"
                | "nov"
                | "dec"
        )
}

/// `s` ending in punctuation, so that joined sentences stay apart.
fn ended(s: &str) -> String {
    let s = s.trim();
    if s.ends_with(['.', '!', '?', ':', ')', '"', '”']) {
        s.to_owned()
    } else {
        format!("{s}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript(messages: &[(&str, &str)]) -> Transcript {
        Transcript {
            conversation_ref: "c1".into(),
            names: Vec::new(),
            messages: messages
                .iter()
                .map(|(a, t)| ((*a).to_owned(), (*t).to_owned()))
                .collect(),
        }
    }

    fn pair(messages: &[(&str, &str)]) -> MinedPair {
        match mine(&transcript(messages), &MiningContext::default()) {
            Mined::Pair(p) => p,
            other => panic!("no pair: {other:?}"),
        }
    }

    #[test]
    fn the_question_is_what_the_customer_asked_joined_as_sentences() {
        let p = pair(&[
            (
                "customer",
                "Hi, my thermostat keeps going offline\nIt started since yesterday",
            ),
            (
                "agent",
                "Hi, this is Dana from Nimbus support. Sorry about that! Which router do you have?",
            ),
            ("customer", "A Velocore VX6 mesh. Thanks Dana"),
            (
                "agent",
                "This is a known issue with Velocore firmware 2.1.4: switch off Target Wake Time in the Velocore app.",
            ),
            ("customer", "Done. Will I have to keep it off forever?"),
            (
                "agent",
                "No. Thermostat firmware 4.12.3 fixes it, and it reaches every thermostat in October.",
            ),
            ("customer", "No drops since yesterday. Thanks Dana!"),
            (
                "agent",
                "Great to hear! I'll close this conversation.\n\nDana",
            ),
        ]);
        assert_eq!(
            p.question,
            "My thermostat keeps going offline. It started since yesterday. A Velocore VX6 mesh. Will I have to keep it off forever?"
        );
        assert_eq!(
            p.answer,
            "This is a known issue with Velocore firmware 2.1.4: switch off Target Wake Time in the Velocore app.\n\nNo. Thermostat firmware 4.12.3 fixes it, and it reaches every thermostat in October."
        );
    }

    #[test]
    fn greetings_sign_offs_and_the_customers_own_case_are_left_behind() {
        let p = pair(&[
            (
                "customer",
                "Hello,\n\nCan I return a gift in January?\n\nThanks,\nMarie",
            ),
            (
                "agent",
                "Hi Marie,\n\nWhat a nice gift! Anything delivered between November 15 and December 24 can be returned until January 31.\n\n- Start at nimbushome.example/returns with the order number.\n\nWarm regards,\nSam, Nimbus Home Support",
            ),
            (
                "customer",
                "Perfect, ordered today (NH-121877). Thank you Sam!",
            ),
            (
                "agent",
                "You're welcome, Marie! I can see NH-121877 shipped today with Canada Post.\n\nSam",
            ),
        ]);
        assert_eq!(p.question, "Can I return a gift in January?");
        assert_eq!(
            p.answer,
            "Anything delivered between November 15 and December 24 can be returned until January 31.\n\n- Start at nimbushome.example/returns with the order number."
        );
    }

    #[test]
    fn a_conversation_only_about_one_customers_order_is_left_out() {
        let mined = mine(
            &transcript(&[
                ("customer", "Where is my order NH-104233?"),
                (
                    "agent",
                    "Hi Jordan! I can see your order shipped yesterday with DHL.",
                ),
                ("customer", "thanks!"),
            ]),
            &MiningContext::default(),
        );
        assert!(
            matches!(
                mined,
                Mined::LeftOut {
                    reason: LeftOut::OnlyAboutTheCustomer,
                    ..
                }
            ),
            "{mined:?}"
        );
    }

    #[test]
    fn what_follows_the_customer_handing_over_their_data_is_their_case() {
        let p = pair(&[
            (
                "customer",
                "I bought the hub for $89 and now it's $69, can I get the difference back?",
            ),
            (
                "agent",
                "If the price drops within 14 days of delivery, we refund the difference once per item. Could you send me your order number and e-mail?",
            ),
            ("customer", "NH-118406, jordan.k@mail.example"),
            (
                "agent",
                "Thanks Jordan! Your hub was delivered on October 15, so you're within 14 days. The $20 difference goes back to your Visa in 5 to 10 days.",
            ),
        ]);
        assert!(!p.answer.contains("October 15"), "{}", p.answer);
        assert!(
            p.answer.contains("we refund the difference"),
            "{}",
            p.answer
        );
    }

    #[test]
    fn sentences_do_not_end_inside_times_and_abbreviations() {
        assert_eq!(
            sentences("Order by 1:00 p.m. ET on Friday. E.g. Standard by Dec. 11! Then what?"),
            [
                "Order by 1:00 p.m. ET on Friday.",
                "E.g. Standard by Dec. 11!",
                "Then what?"
            ]
        );
    }
}
