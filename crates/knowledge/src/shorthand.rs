//! Chat shorthand spelled out before a question is searched. Customers type "convo", "msg",
//! "thru" and "dont"; help articles say "conversation", "message", "through" and "don't". BM25
//! never matches the short form to the long one (different stems), and MiniLM cuts a word it
//! does not know into pieces ("convo" → "con" + "##vo") whose vectors mean something else.
//!
//! Only the question is rewritten, never the knowledge. The list holds common English chat forms
//! that are not also ordinary words here or in other languages a customer may write in ("im" is
//! German, "r" and "u" are letters, "diff" and "config" are how docs write them too).

use std::borrow::Cow;

/// Shorthand (lower case, whole word) and what it stands for.
const SHORTHAND: &[(&str, &str)] = &[
    // Words.
    ("abt", "about"),
    ("acct", "account"),
    ("addr", "address"),
    ("approx", "approximately"),
    ("asap", "as soon as possible"),
    ("b4", "before"),
    ("bc", "because"),
    ("btw", "by the way"),
    ("coz", "because"),
    ("convo", "conversation"),
    ("convos", "conversations"),
    ("cuz", "because"),
    ("dm", "direct message"),
    ("dms", "direct messages"),
    ("fb", "facebook"),
    ("hrs", "hours"),
    ("idk", "i don't know"),
    ("insta", "instagram"),
    ("mins", "minutes"),
    ("msg", "message"),
    ("msgs", "messages"),
    ("notif", "notification"),
    ("notifs", "notifications"),
    ("pic", "picture"),
    ("pics", "pictures"),
    ("pls", "please"),
    ("plz", "please"),
    ("ppl", "people"),
    ("pw", "password"),
    ("pwd", "password"),
    ("qty", "quantity"),
    ("tg", "telegram"),
    ("thru", "through"),
    ("thx", "thanks"),
    ("vid", "video"),
    ("vids", "videos"),
    ("w/", "with"),
    ("w/o", "without"),
    ("wk", "week"),
    ("wks", "weeks"),
    ("yr", "year"),
    ("yrs", "years"),
    // Contractions typed without their apostrophe.
    ("arent", "aren't"),
    ("cant", "can't"),
    ("couldnt", "couldn't"),
    ("didnt", "didn't"),
    ("doesnt", "doesn't"),
    ("dont", "don't"),
    ("hasnt", "hasn't"),
    ("havent", "haven't"),
    ("isnt", "isn't"),
    ("ive", "i've"),
    ("shouldnt", "shouldn't"),
    ("thats", "that's"),
    ("theres", "there's"),
    ("wasnt", "wasn't"),
    ("whats", "what's"),
    ("wont", "won't"),
    ("wouldnt", "wouldn't"),
    ("youre", "you're"),
];

/// The question with its chat shorthand spelled out; borrowed when there is none.
pub fn spell_out(question: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    for (start, word) in words(question) {
        let lower = word.to_ascii_lowercase();
        let Some((_, long)) = SHORTHAND.iter().find(|(short, _)| *short == lower) else {
            continue;
        };
        out.push_str(&question[copied..start]);
        out.push_str(long);
        copied = start + word.len();
    }
    if copied == 0 {
        return Cow::Borrowed(question);
    }
    out.push_str(&question[copied..]);
    Cow::Owned(out)
}

/// The ASCII words of `text` with their byte offsets: runs of letters and digits, with a slash
/// kept where it ends the word or joins a single letter to the next ("w/", "w/o").
fn words(text: &str) -> Vec<(usize, &str)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
            i += 1;
        }
        // "w/" and "w/o": a lone letter and its slash, and what follows.
        if i - start == 1 && bytes.get(i) == Some(&b'/') {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                i += 1;
            }
        }
        // A word glued to other letters (accented or another script) is not ours to change.
        let glued = |at: Option<&u8>| at.is_some_and(|b| !b.is_ascii());
        if !glued(start.checked_sub(1).and_then(|p| bytes.get(p))) && !glued(bytes.get(i)) {
            out.push((start, &text[start..i]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthand_is_spelled_out_and_the_rest_kept() {
        assert_eq!(
            spell_out("Convos from insta dont show up, pls help!!"),
            "conversations from instagram don't show up, please help!!"
        );
        assert_eq!(
            spell_out("reply w/ a msg w/o the bot"),
            "reply with a message without the bot"
        );
    }

    #[test]
    fn a_question_without_shorthand_is_not_copied() {
        assert!(matches!(
            spell_out("How do I reset my password?"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn only_whole_words_change() {
        // "msgs" inside another word, a word glued to accented letters, and German "im".
        assert_eq!(
            spell_out("msgsend donté im Browser"),
            "msgsend donté im Browser"
        );
        assert_eq!(spell_out("Ünsta café"), "Ünsta café");
    }
}
