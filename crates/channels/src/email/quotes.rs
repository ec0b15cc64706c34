//! The customer's new words in a reply. Mail clients append the whole thread below (or, in
//! interleaved replies, between) what the customer wrote, and a signature and a "Sent from my
//! iPhone" after it; the bot, retrieval and agents reading the timeline need only the new part.
//!
//! The rules are line-based and conservative: a block is cut only on a marker mail clients
//! actually write (an attribution line ending in "wrote:" in one of several languages, an
//! Outlook header block or separator, `>` quoting, the `-- ` signature delimiter, a mobile
//! trailer). Forwarded messages are kept: a customer forwarding an order confirmation wants it
//! read. Whatever is cut is returned too, so the caller can keep the original.

use std::sync::LazyLock;

use regex::Regex;

/// A body split into what the customer wrote now and what came with it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stripped {
    /// The new text, trimmed; empty when the mail holds nothing but quotes.
    pub text: String,
    /// Whether anything was cut (quotes, signature or trailer).
    pub stripped: bool,
}

/// The verb of an attribution line ("…, Ana <ana@example.com> wrote:"), per language. It ends
/// the line in most clients; German and Dutch Gmail put the sender after it ("Am …, um 10:04
/// schrieb Ana <ana@example.com>:").
const WROTE: &[&str] = &[
    "wrote",
    "writes",
    "schrieb",
    "a écrit",
    "escribió",
    "schreef",
    "ha scritto",
    "escreveu",
    "skrev",
    "kirjoitti",
    "napisał",
    "написал",
    "napsal",
];

/// How attribution lines begin in those languages ("On …", "Am …", "Le …", "El …", …).
const ATTRIBUTION_STARTS: &[&str] = &[
    "on ", "am ", "le ", "el ", "op ", "il ", "em ", "den ", "då ", "w dniu ", "в ", "dne ",
];

/// Outlook and other clients' separators above a forwarded-for-reply original.
static SEPARATOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original|mensagem original|oorspronkelijk bericht|messaggio originale|originalmeddelande|alkuperäinen viesti)\s*-{2,}\s*$",
    )
    .expect("a valid pattern")
});

/// The first line of an Outlook header block of the quoted original ("From: …").
static HEADER_FROM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*\*?(from|von|de|van|da|från|od|от)\s*\*?\s*:\s*\S")
        .expect("a valid pattern")
});

/// The line of that block that proves it is one ("Sent: …", "Date: …").
static HEADER_SENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*\*?(sent|date|gesendet|datum|envoyé|date d'envoi|enviado|fecha|verzonden|inviato|data|skickat|wysłano|отправлено)\s*\*?\s*:\s*\S",
    )
    .expect("a valid pattern")
});

/// Trailers mail apps add on phones and tablets, when they are the last line.
static TRAILER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(sent from my \S.*|sent from (outlook|mail|yahoo mail|gmail|proton mail|samsung|my \S).*|sent via \S.*|get outlook for \S.*|von meinem \S.* gesendet|gesendet von meinem \S.*|envoyé de mon \S.*|envoyé depuis \S.*|enviado desde mi \S.*|enviado do meu \S.*|verstuurd vanaf mijn \S.*|inviato da \S.*|skickat från min \S.*)\s*$",
    )
    .expect("a valid pattern")
});

/// The start of a forwarded message, which is content, not history.
static FORWARDED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(-{2,}\s*(forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado|mensagem encaminhada|doorgestuurd bericht|messaggio inoltrato)\s*-{2,}|begin forwarded message:|anfang der weitergeleiteten nachricht:|début du message réexpédié :?)\s*$",
    )
    .expect("a valid pattern")
});

fn is_separator(line: &str) -> bool {
    let t = line.trim();
    SEPARATOR.is_match(t)
        // Outlook on the web: a rule of underscores above the quoted header block.
        || (t.len() >= 20 && t.chars().all(|c| c == '_'))
}

fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

/// Whether `lines[i..]` begins an attribution line, possibly wrapped over up to three lines
/// (Gmail wraps "On Tue, … Ana Silva <\nana@example.com> wrote:"). Returns how many lines it
/// takes.
fn attribution(lines: &[&str], i: usize) -> Option<usize> {
    let first = lines[i].trim();
    if first.is_empty() || is_quoted(first) {
        return None;
    }
    let lower_first = first.to_lowercase();
    let starts_like_one = ATTRIBUTION_STARTS
        .iter()
        .any(|s| lower_first.starts_with(s));
    let mut joined = String::new();
    for n in 1..=3 {
        let Some(line) = lines.get(i + n - 1) else {
            break;
        };
        if n > 1 && (line.trim().is_empty() || is_quoted(line)) {
            break;
        }
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(line.trim());
        let lower = joined.to_lowercase();
        let verb_last = WROTE
            .iter()
            .any(|w| lower.ends_with(&format!("{w}:")) || lower.ends_with(&format!("{w} :")));
        let verb_inside = starts_like_one
            && lower.ends_with(':')
            && WROTE.iter().any(|w| lower.contains(&format!(" {w} ")));
        if verb_last || verb_inside {
            // Without a known opening, only when quoted lines follow: "I wrote:" in the
            // customer's own text must survive.
            let quoted_next = lines[i + n..]
                .iter()
                .find(|l| !l.trim().is_empty())
                .is_some_and(|l| is_quoted(l));
            return (starts_like_one || quoted_next).then_some(n);
        }
        // A real attribution is one sentence; a long paragraph that happens to continue is not.
        if joined.chars().count() > 300 {
            break;
        }
    }
    None
}

/// An Outlook-style header block: "From: …" with "Sent:"/"Date:" within the next four lines.
fn header_block(lines: &[&str], i: usize) -> bool {
    HEADER_FROM.is_match(lines[i])
        && lines[i + 1..]
            .iter()
            .take(4)
            .any(|l| HEADER_SENT.is_match(l))
}

/// The new text of a mail body: everything above the quoted original, without `>`-quoted
/// lines, the signature and mobile trailers.
pub fn strip(body: &str) -> Stripped {
    let body = body.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = body.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    let mut stripped = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        // A forwarded message is what the customer wants read: keep it whole.
        if FORWARDED.is_match(line) {
            kept.extend(&lines[i..]);
            break;
        }
        // The quoted original starts here: nothing below is new.
        if is_separator(line) || header_block(&lines, i) || attribution(&lines, i).is_some() {
            stripped = true;
            break;
        }
        // The signature delimiter ("-- "; many clients trim it to "--").
        if line == "-- " || line.trim_end() == "--" {
            stripped = true;
            break;
        }
        if is_quoted(line) {
            stripped = true;
            i += 1;
            continue;
        }
        kept.push(line);
        i += 1;
    }
    // Trailers are the last words: drop them (and blank lines) from the end.
    loop {
        match kept.last() {
            Some(l) if l.trim().is_empty() => {
                kept.pop();
            }
            Some(l) if TRAILER.is_match(l) => {
                kept.pop();
                stripped = true;
            }
            _ => break,
        }
    }
    // Interleaved replies leave runs of blank lines where quotes were.
    let mut text = String::new();
    let mut blank_run = 0;
    for l in kept.iter().map(|l| l.trim_end()) {
        if l.is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        text.push_str(l);
        text.push('\n');
    }
    Stripped {
        text: text.trim().to_owned(),
        stripped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_text(body: &str) -> String {
        strip(body).text
    }

    #[test]
    fn a_gmail_reply_keeps_only_the_new_text() {
        let body = "Thanks, that worked! One more question: can I change the delivery address?\r\n\
                    \r\n\
                    On Tue, Mar 12, 2024 at 10:04 AM Acme Support <support@acme.test> wrote:\r\n\
                    \r\n\
                    > Hi Ana,\r\n\
                    >\r\n\
                    > Use the Forgot password link on the sign-in page.\r\n\
                    >\r\n";
        let s = strip(body);
        assert_eq!(
            s.text,
            "Thanks, that worked! One more question: can I change the delivery address?"
        );
        assert!(s.stripped);
    }

    #[test]
    fn a_wrapped_gmail_attribution_is_recognised() {
        let body = "Yes please.\n\nOn Tue, Mar 12, 2024 at 10:04 AM Acme Customer Support Team <\nsupport@acme.test> wrote:\n\n> Shall we send a new one?\n";
        assert_eq!(new_text(body), "Yes please.");
    }

    #[test]
    fn an_outlook_reply_drops_the_header_block_and_everything_below() {
        let body = "Hello,\n\nThe parcel still has not arrived. Order 48213.\n\nBest regards\nAna\n\n\
                    ________________________________\n\
                    From: Acme Support <support@acme.test>\n\
                    Sent: Tuesday, March 12, 2024 10:04 AM\n\
                    To: Ana Silva <ana@example.com>\n\
                    Subject: RE: Where is my order?\n\n\
                    Hi Ana, your order ships within 2 business days.\n";
        assert_eq!(
            new_text(body),
            "Hello,\n\nThe parcel still has not arrived. Order 48213.\n\nBest regards\nAna"
        );
    }

    #[test]
    fn outlook_original_message_separators_in_several_languages_cut() {
        for sep in [
            "-----Original Message-----",
            "-----Ursprüngliche Nachricht-----",
            "----- Message d'origine -----",
            "-----Mensaje original-----",
        ] {
            let body = format!("New text here.\n\n{sep}\nFrom: support@acme.test\nOld text.\n");
            assert_eq!(new_text(&body), "New text here.", "{sep}");
        }
    }

    #[test]
    fn a_german_outlook_header_block_cuts() {
        let body = "Danke, das hat geholfen.\n\nVon: Acme Support <support@acme.test>\nGesendet: Dienstag, 12. März 2024 10:04\nAn: Ana <ana@example.com>\nBetreff: AW: Passwort\n\nHallo Ana, …\n";
        assert_eq!(new_text(body), "Danke, das hat geholfen.");
    }

    #[test]
    fn wrote_lines_in_german_french_and_spanish_cut() {
        let cases = [
            "Am Di., 12. März 2024 um 10:04 Uhr schrieb Acme Support <support@acme.test>:",
            "Le mar. 12 mars 2024 à 10:04, Acme Support <support@acme.test> a écrit :",
            "El mar, 12 mar 2024 a las 10:04, Acme Support (<support@acme.test>) escribió:",
            "Op di 12 mrt 2024 om 10:04 schreef Acme Support <support@acme.test>:",
        ];
        for attribution in cases {
            let body = format!("Merci / Danke / Gracias.\n\n{attribution}\n\n> Old answer.\n");
            assert_eq!(new_text(&body), "Merci / Danke / Gracias.", "{attribution}");
        }
    }

    #[test]
    fn an_iphone_reply_loses_its_trailer_and_the_quote() {
        let body = "Perfect, thank you!\n\nSent from my iPhone\n\n> On 12 Mar 2024, at 10:04, Acme Support <support@acme.test> wrote:\n>\n> Hi Ana\n";
        let s = strip(body);
        assert_eq!(s.text, "Perfect, thank you!");
        let body = "Danke!\n\nVon meinem iPhone gesendet\n";
        assert_eq!(new_text(body), "Danke!");
        let body = "Gracias\n\nEnviado desde mi iPhone";
        assert_eq!(new_text(body), "Gracias");
        let body = "Thanks\n\nGet Outlook for Android\n";
        assert_eq!(new_text(body), "Thanks");
    }

    #[test]
    fn the_signature_after_the_delimiter_is_dropped() {
        let body = "Can you cancel order 48213?\n\n-- \nAna Silva\nHead of Operations, Example Ltd\n+44 20 7946 0000\n";
        let s = strip(body);
        assert_eq!(s.text, "Can you cancel order 48213?");
        assert!(s.stripped);
    }

    #[test]
    fn an_interleaved_reply_keeps_the_customers_lines_between_quotes() {
        let body = "> Which model do you have?\nThe Thermostat T2.\n\n> When did you buy it?\nIn January.\n";
        assert_eq!(new_text(body), "The Thermostat T2.\n\nIn January.");
    }

    #[test]
    fn ordinary_text_that_looks_a_little_like_a_quote_header_is_kept() {
        let body = "On Monday I ordered two thermostats.\nMy colleague wrote: \"it never arrived\".\nFrom: the warehouse, apparently.\n\nCan you check?";
        let s = strip(body);
        assert_eq!(s.text, body);
        assert!(!s.stripped);
    }

    #[test]
    fn a_forwarded_message_is_kept() {
        let body = "See the confirmation below, it has the wrong address.\n\n---------- Forwarded message ---------\nFrom: Acme Shop <shop@acme.test>\nDate: Mon, 11 Mar 2024 at 09:00\nSubject: Your order 48213\n\nShipping to: 1 Old Street\n";
        let s = strip(body);
        assert!(s.text.contains("Shipping to: 1 Old Street"), "{}", s.text);
    }

    #[test]
    fn a_mail_that_only_quotes_has_no_new_text() {
        let body =
            "On Tue, Mar 12, 2024 at 10:04 AM Acme Support <support@acme.test> wrote:\n> Hi\n";
        let s = strip(body);
        assert_eq!(s.text, "");
        assert!(s.stripped);
    }
}
