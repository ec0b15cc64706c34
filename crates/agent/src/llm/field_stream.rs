//! Decoding one string field of a JSON object while the model is still writing it, so the web
//! chat can show the answer word by word even though the model replies with a whole object.

/// Incremental extractor of a top-level string field's decoded value from streamed JSON text.
///
/// Feed it the raw deltas; it returns the newly decoded characters of the field's value. It
/// skips anything before the object (prose, a Markdown fence, a leading `<think>…</think>`
/// block), handles escapes split across chunks (`\uXXXX` and surrogate pairs included), and
/// ignores the same key nested deeper. Only the first occurrence of the field is streamed; the
/// final value should still come from parsing the whole reply.
#[derive(Debug)]
pub struct FieldStream {
    field: String,
    mode: Mode,
    /// Open containers around the current position; `true` for an object.
    stack: Vec<bool>,
    /// In the top-level object, after `{` or `,`: the next string is a key.
    expect_key: bool,
    /// In the top-level object, after our key: its string value is what we stream.
    value_is_target: bool,
    /// The field has been streamed to its end; later duplicates are ignored.
    captured: bool,
    /// The last few characters before the object, to spot `<think>` and `</think>`.
    window: String,
}

#[derive(Debug)]
enum Mode {
    /// Before the object's `{`.
    Prelude,
    /// Inside a leading `<think>` block, whose braces are not the object.
    Think,
    /// Between tokens inside the object.
    Structure,
    /// Inside a string.
    Text { role: Role, unescape: Unescape },
    /// After the object's closing `}`.
    Done,
}

#[derive(Debug)]
enum Role {
    /// A key of the top-level object, collected to compare with the field name.
    Key(String),
    /// The field's value: decoded characters go out.
    Target,
    /// Any other string.
    Other,
}

impl FieldStream {
    pub fn new(field: &str) -> Self {
        Self {
            field: field.to_owned(),
            mode: Mode::Prelude,
            stack: Vec::new(),
            expect_key: false,
            value_is_target: false,
            captured: false,
            window: String::new(),
        }
    }

    /// Consumes the next chunk of the reply; returns the field's newly decoded text (often
    /// empty).
    pub fn push(&mut self, chunk: &str) -> String {
        let mut out = String::new();
        for c in chunk.chars() {
            self.step(c, &mut out);
        }
        out
    }

    fn step(&mut self, c: char, out: &mut String) {
        match &mut self.mode {
            Mode::Done => {}
            Mode::Prelude => {
                self.remember(c);
                if self.window.ends_with("<think>") {
                    self.mode = Mode::Think;
                } else if c == '{' {
                    self.stack.push(true);
                    self.expect_key = true;
                    self.mode = Mode::Structure;
                }
            }
            Mode::Think => {
                self.remember(c);
                if self.window.ends_with("</think>") {
                    self.mode = Mode::Prelude;
                }
            }
            Mode::Text { role, unescape } => {
                let ended = unescape.feed(c, &mut |d| match role {
                    Role::Key(key) => key.push(d),
                    Role::Target => out.push(d),
                    Role::Other => {}
                });
                if ended {
                    let role = std::mem::replace(role, Role::Other);
                    self.mode = Mode::Structure;
                    match role {
                        Role::Key(key) => {
                            self.value_is_target = !self.captured && key == self.field;
                        }
                        Role::Target => {
                            self.captured = true;
                            self.value_is_target = false;
                        }
                        Role::Other => {}
                    }
                }
            }
            Mode::Structure => self.structure(c),
        }
    }

    fn structure(&mut self, c: char) {
        let top_level = self.stack.len() == 1;
        match c {
            '"' => {
                let role = if !top_level {
                    Role::Other
                } else if self.expect_key {
                    self.expect_key = false;
                    Role::Key(String::new())
                } else if self.value_is_target {
                    Role::Target
                } else {
                    Role::Other
                };
                self.mode = Mode::Text {
                    role,
                    unescape: Unescape::default(),
                };
            }
            '{' | '[' => {
                if top_level {
                    // The field holds an object or array, not text.
                    self.value_is_target = false;
                }
                self.stack.push(c == '{');
            }
            '}' | ']' => {
                self.stack.pop();
                if self.stack.is_empty() {
                    self.mode = Mode::Done;
                }
            }
            ',' if top_level => {
                self.expect_key = true;
                self.value_is_target = false;
            }
            c if top_level && !c.is_whitespace() && c != ':' => {
                // A number, `true`, `null`…: the field is not a string.
                self.value_is_target = false;
            }
            _ => {}
        }
    }

    fn remember(&mut self, c: char) {
        self.window.push(c);
        if self.window.len() > 32 {
            let keep_from = self
                .window
                .char_indices()
                .rev()
                .nth(8)
                .map_or(0, |(at, _)| at);
            self.window.drain(..keep_from);
        }
    }
}

const REPLACEMENT: char = char::REPLACEMENT_CHARACTER;

/// Decodes a JSON string body one character at a time, so an escape may straddle two chunks.
#[derive(Debug, Default)]
enum Unescape {
    #[default]
    Plain,
    Backslash,
    /// Inside `\uXXXX`; `high` is a pending high surrogate this one should complete.
    Hex {
        value: u32,
        digits: u8,
        high: Option<u32>,
    },
    /// After a high surrogate, hoping for `\uDC00`-`\uDFFF`.
    WantLow {
        high: u32,
    },
    WantLowU {
        high: u32,
    },
}

impl Unescape {
    /// Feeds one character of the string; returns `true` at its closing quote.
    fn feed(&mut self, c: char, emit: &mut impl FnMut(char)) -> bool {
        match std::mem::take(self) {
            Self::Plain => match c {
                '\\' => *self = Self::Backslash,
                '"' => return true,
                c => emit(c),
            },
            Self::Backslash => match c {
                'u' => {
                    *self = Self::Hex {
                        value: 0,
                        digits: 0,
                        high: None,
                    }
                }
                c => emit(simple_escape(c)),
            },
            Self::Hex {
                value,
                digits,
                high,
            } => match c.to_digit(16) {
                Some(d) if digits < 3 => {
                    *self = Self::Hex {
                        value: value * 16 + d,
                        digits: digits + 1,
                        high,
                    }
                }
                Some(d) => self.code_unit(value * 16 + d, high, emit),
                None => {
                    // A broken escape: mark it and read the character normally.
                    emit(REPLACEMENT);
                    return self.feed(c, emit);
                }
            },
            Self::WantLow { high } => {
                if c == '\\' {
                    *self = Self::WantLowU { high };
                } else {
                    emit(REPLACEMENT);
                    return self.feed(c, emit);
                }
            }
            Self::WantLowU { high } => {
                if c == 'u' {
                    *self = Self::Hex {
                        value: 0,
                        digits: 0,
                        high: Some(high),
                    };
                } else {
                    emit(REPLACEMENT);
                    emit(simple_escape(c));
                }
            }
        }
        false
    }

    fn code_unit(&mut self, unit: u32, high: Option<u32>, emit: &mut impl FnMut(char)) {
        match (high, unit) {
            (None, 0xD800..=0xDBFF) => *self = Self::WantLow { high: unit },
            (Some(high), 0xDC00..=0xDFFF) => {
                let code = 0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00);
                emit(char::from_u32(code).unwrap_or(REPLACEMENT));
            }
            (Some(_), _) => {
                emit(REPLACEMENT);
                self.code_unit(unit, None, emit);
            }
            // A lone low surrogate is not a character.
            (None, _) => emit(char::from_u32(unit).unwrap_or(REPLACEMENT)),
        }
    }
}

fn simple_escape(c: char) -> char {
    match c {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        'b' => '\u{8}',
        'f' => '\u{c}',
        // `\"`, `\\`, `\/`, and leniently anything else, stand for themselves.
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `text` split into pieces of `size` characters; returns every piece's output.
    fn feed_in_pieces(field: &str, text: &str, size: usize) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        let mut stream = FieldStream::new(field);
        chars
            .chunks(size)
            .map(|piece| stream.push(&piece.iter().collect::<String>()))
            .collect()
    }

    fn decoded(field: &str, text: &str, size: usize) -> String {
        feed_in_pieces(field, text, size).concat()
    }

    #[test]
    fn the_field_is_decoded_whatever_the_chunk_size() {
        let text =
            r#"{"sources": ["a"], "answer": "Caf\u00e9 \"open\"\n\\ 9\/5 \ud83d\ude00!", "x": 1}"#;
        let expected = "Café \"open\"\n\\ 9/5 😀!";
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(text).unwrap()["answer"],
            expected
        );
        for size in 1..=text.chars().count() {
            assert_eq!(decoded("answer", text, size), expected, "pieces of {size}");
        }
    }

    #[test]
    fn text_comes_out_as_it_arrives() {
        let pieces = ["{\"answer\": \"Hel", "lo wo", "rld\", \"sources\": []}"];
        let mut stream = FieldStream::new("answer");
        let out: Vec<String> = pieces.iter().map(|p| stream.push(p)).collect();
        assert_eq!(out, ["Hel", "lo wo", "rld"]);
    }

    #[test]
    fn the_same_key_nested_deeper_or_as_a_value_is_ignored() {
        let text = r#"{"meta": {"answer": "no"}, "list": [{"answer": "no"}], "note": "answer", "answer": "yes"}"#;
        assert_eq!(decoded("answer", text, 3), "yes");
    }

    #[test]
    fn prose_fences_and_thinking_before_the_object_are_skipped() {
        let text = "<think>maybe {\"answer\": \"no\"}</think>Here you go:\n```json\n{\"answer\": \"yes\"}\n```";
        for size in [1, 2, 5, 100] {
            assert_eq!(decoded("answer", text, size), "yes");
        }
    }

    #[test]
    fn only_the_first_occurrence_is_streamed_and_nothing_after_the_object() {
        let text = r#"{"answer": "one", "answer": "two"} {"answer": "three"}"#;
        assert_eq!(decoded("answer", text, 4), "one");
    }

    #[test]
    fn a_non_string_field_yields_nothing() {
        assert_eq!(decoded("answer", r#"{"answer": null, "b": "x"}"#, 2), "");
        assert_eq!(decoded("answer", r#"{"answer": ["x"], "b": "y"}"#, 2), "");
    }

    #[test]
    fn broken_escapes_become_replacement_characters() {
        assert_eq!(
            decoded("a", r#"{"a": "x\ud83dy\udc00z\u12g"}"#, 1),
            "x\u{fffd}y\u{fffd}z\u{fffd}g"
        );
    }
}
