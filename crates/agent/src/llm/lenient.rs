//! Reading a JSON object out of what a model actually wrote.
//!
//! Even with `response_format` set, small local models wrap the object in prose or Markdown
//! fences, think aloud first, leave trailing commas, quote with `'` or smart quotes, or put raw
//! newlines inside strings. Each of those is repaired here rather than costing a second request.

use serde_json::Value;

/// Enough to get past some prose with braces in it; a reply with more is not worth searching.
const MAX_CANDIDATES: usize = 64;

/// Tolerant JSON: returns the first balanced JSON object in `text` that parses, after a leading
/// `<think>…</think>` block, looking past prose and Markdown fences around it, and repairing
/// trailing commas, `'single'` or “smart” quoted strings, bare keys, raw control characters in
/// strings and Python's `True`/`False`/`None`. `None` when no object can be read.
pub fn parse_json_lenient(text: &str) -> Option<Value> {
    let text = strip_reasoning(text);
    if let Ok(value @ Value::Object(_)) = serde_json::from_str(text.trim()) {
        return Some(value);
    }
    let mut from = 0;
    for _ in 0..MAX_CANDIDATES {
        let start = from + text[from..].find('{')?;
        match normalize_object(&text[start..]) {
            Some((json, len)) => {
                if let Ok(value @ Value::Object(_)) = serde_json::from_str(&json) {
                    return Some(value);
                }
                // Whatever is nested inside a broken object is not the answer either.
                from = start + len;
            }
            // Unbalanced: a stray brace in prose, or the reply was cut off. Try the next one.
            None => from = start + 1,
        }
    }
    None
}

/// The reply after the model's reasoning: text up to the first `</think>` when it opened with
/// `<think>`, or had no opening tag at all (chat templates that put `<think>` in the prompt).
pub(super) fn strip_reasoning(text: &str) -> &str {
    const CLOSE: &str = "</think>";
    if let Some(end) = text.find(CLOSE) {
        let before = &text[..end];
        if before.trim_start().starts_with("<think>") || !before.contains("<think>") {
            return text[end + CLOSE.len()..].trim_start();
        }
    }
    text
}

/// Rewrites the object at the start of `text` (which begins with `{`) as strict JSON, up to
/// its matching `}`; returns it with the number of bytes of `text` it covered, or `None` when
/// the text ends before the object does.
fn normalize_object(text: &str) -> Option<(String, usize)> {
    let mut out = String::with_capacity(text.len());
    // Open containers; `true` for an object.
    let mut stack: Vec<bool> = Vec::new();
    // After `{` or `,` in an object, where a bare identifier is a key to quote.
    let mut expect_key = false;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '{' | '[' => {
                stack.push(c == '{');
                expect_key = c == '{';
                out.push(c);
            }
            '}' | ']' => {
                drop_trailing_comma(&mut out);
                stack.pop();
                out.push(c);
                expect_key = false;
                if stack.is_empty() {
                    return Some((out, at + c.len_utf8()));
                }
            }
            ',' => {
                out.push(c);
                expect_key = stack.last() == Some(&true);
            }
            '"' | '\'' | '“' | '”' | '‘' | '’' => {
                expect_key = false;
                let closers: &[char] = match c {
                    '"' => &['"'],
                    '\'' => &['\''],
                    '“' | '”' => &['”', '“'],
                    _ => &['’', '‘'],
                };
                copy_string(&mut chars, closers, &mut out)?;
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut word = String::from(c);
                while let Some(&(_, n)) = chars.peek() {
                    if !(n.is_alphanumeric() || n == '_' || n == '-') {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                if expect_key {
                    out.push('"');
                    out.push_str(&word);
                    out.push('"');
                } else {
                    out.push_str(match word.as_str() {
                        "True" => "true",
                        "False" => "false",
                        "None" => "null",
                        _ => &word,
                    });
                }
                expect_key = false;
            }
            c if c.is_whitespace() => out.push(c),
            c => {
                expect_key = false;
                out.push(c);
            }
        }
    }
    None
}

/// Copies a string body (its opening quote already read) as a `"…"` JSON string, escaping what
/// strict JSON forbids; `None` when the text ends inside it.
fn copy_string(
    chars: &mut impl Iterator<Item = (usize, char)>,
    closers: &[char],
    out: &mut String,
) -> Option<()> {
    out.push('"');
    let mut escaped = false;
    for (_, c) in chars.by_ref() {
        if escaped {
            escaped = false;
            if matches!(c, '"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't' | 'u') {
                out.push('\\');
            } else if c == '\n' {
                // A backslash before a line break is a line continuation; keep the break.
                out.push_str("\\n");
                continue;
            }
            // Anything else (`\'` in a single-quoted string) stands for itself.
            out.push(c);
            continue;
        }
        match c {
            '\\' => escaped = true,
            c if closers.contains(&c) => {
                out.push('"');
                return Some(());
            }
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    None
}

fn drop_trailing_comma(out: &mut String) {
    let kept = out.trim_end().len();
    if out[..kept].ends_with(',') {
        out.truncate(kept - 1);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn plain_json_is_read_as_is() {
        assert_eq!(
            parse_json_lenient(r#" {"answer": "Hi", "n": [1, 2]} "#),
            Some(json!({"answer": "Hi", "n": [1, 2]}))
        );
    }

    #[test]
    fn fenced_json_after_prose_is_found() {
        let text = "Sure! Here is the JSON you asked for:\n```json\n{\"answer\": \"Hi\"}\n```\nHope it helps.";
        assert_eq!(parse_json_lenient(text), Some(json!({"answer": "Hi"})));
    }

    #[test]
    fn a_think_block_with_braces_is_skipped() {
        let text = "<think>The user wants {something}; I'll answer {\"answer\": \"no\"}</think>\n{\"answer\": \"yes\"}";
        assert_eq!(parse_json_lenient(text), Some(json!({"answer": "yes"})));
        let no_opening_tag = "I should be brief. {\"answer\": \"no\"}</think>{\"answer\": \"yes\"}";
        assert_eq!(
            parse_json_lenient(no_opening_tag),
            Some(json!({"answer": "yes"}))
        );
    }

    #[test]
    fn trailing_commas_are_dropped() {
        let text = "{\"answer\": \"Hi\", \"sources\": [\"a\", \"b\",],\n}";
        assert_eq!(
            parse_json_lenient(text),
            Some(json!({"answer": "Hi", "sources": ["a", "b"]}))
        );
    }

    #[test]
    fn commas_and_braces_inside_strings_are_kept() {
        let text = "{\"answer\": \"a, }, ] and {\", \"x\": 1,}";
        assert_eq!(
            parse_json_lenient(text),
            Some(json!({"answer": "a, }, ] and {", "x": 1}))
        );
    }

    #[test]
    fn single_and_smart_quotes_become_json_strings() {
        assert_eq!(
            parse_json_lenient("{'answer': 'It\\'s \"fine\"', 'ok': True}"),
            Some(json!({"answer": "It's \"fine\"", "ok": true}))
        );
        assert_eq!(
            parse_json_lenient("{“answer”: “We’re open”, “hours”: None}"),
            Some(json!({"answer": "We’re open", "hours": null}))
        );
        // Smart quotes inside a normal string are just text.
        assert_eq!(
            parse_json_lenient("{\"answer\": \"“quoted” ‘text’\"}"),
            Some(json!({"answer": "“quoted” ‘text’"}))
        );
    }

    #[test]
    fn bare_keys_and_raw_newlines_are_repaired() {
        assert_eq!(
            parse_json_lenient("{answer: \"line one\nline two\", escalate: false}"),
            Some(json!({"answer": "line one\nline two", "escalate": false}))
        );
    }

    #[test]
    fn prose_braces_before_the_object_are_skipped() {
        let text = "Use {curly braces} carefully. Also {unclosed. {\"answer\": 42}";
        assert_eq!(parse_json_lenient(text), Some(json!({"answer": 42})));
    }

    #[test]
    fn a_nested_object_of_a_broken_one_is_not_returned() {
        let text = "{\"answer\": \"x\" \"meta\": {\"a\": 1}}";
        assert_eq!(parse_json_lenient(text), None);
    }

    #[test]
    fn text_without_an_object_is_none() {
        assert_eq!(parse_json_lenient("I can only answer in prose."), None);
        assert_eq!(parse_json_lenient("[1, 2, 3]"), None);
        assert_eq!(parse_json_lenient("{\"answer\": \"cut off"), None);
        assert_eq!(parse_json_lenient(""), None);
    }

    #[test]
    fn strip_reasoning_keeps_answers_without_a_think_block() {
        assert_eq!(strip_reasoning("<think>hmm</think>\n\nHello"), "Hello");
        assert_eq!(strip_reasoning("Hello"), "Hello");
        assert_eq!(
            strip_reasoning("Tags like <think> and </think> are fine"),
            "Tags like <think> and </think> are fine"
        );
    }
}
