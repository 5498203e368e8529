//! [`canonical_json`](crate::canonical_json) of a document given as JSON text, without building
//! a `serde_json::Value` first.
//!
//! A `Value` of this workspace's serde_json keeps its objects in insertion order (an ordered map
//! that hashes every key) and its numbers as text: building one per event was a quarter of the
//! batch route's HTTP thread, only for the fingerprint to sort the keys again. This reads the
//! text once and writes the same canonical form: numbers go through serde_json's own `Number`
//! and strings through its own unescaping, so the two paths cannot disagree on a spelling, and a
//! property test holds them equal. Stored fingerprints depend on that: a retry must fingerprint
//! the same whichever path reads it.

use std::borrow::Cow;

use serde_json::Number;

use crate::fingerprint::{write_number, write_string, Fingerprint};

/// serde_json's own nesting limit: no document it accepted is deeper.
const MAX_DEPTH: usize = 128;

/// The fingerprint of the JSON document `json` (valid JSON, e.g. a `serde_json::value::RawValue`),
/// with the top-level member named `skip` (if any) left out, and the raw text of that member's
/// value (the last one, when the name repeats, as in a parsed `Value`). Equal to
/// [`fingerprint`](crate::fingerprint) of the parsed document without that member. `None` when
/// the text is not valid JSON as this reader sees it; parse it into a `Value` then.
pub fn fingerprint_text<'a>(
    json: &'a str,
    skip: Option<&str>,
) -> Option<(Fingerprint, Option<&'a str>)> {
    let (canonical, skipped) = read_document(json, skip)?;
    Some((Fingerprint::of_canonical(&canonical), skipped))
}

/// [`canonical_json`](crate::canonical_json) of the document `json`; `None` when it is not valid
/// JSON as this reader sees it.
pub fn canonical_text(json: &str) -> Option<String> {
    read_document(json, None).map(|(canonical, _)| canonical)
}

/// The canonical text of the whole document, without its top-level member `skip`, and that
/// member's raw value.
fn read_document<'a>(json: &'a str, skip: Option<&str>) -> Option<(String, Option<&'a str>)> {
    let mut out = String::with_capacity(json.len());
    let mut reader = Reader { src: json, at: 0 };
    reader.ws();
    let skipped = reader.value(&mut out, 0, skip)?;
    reader.ws();
    (reader.at == json.len()).then_some((out, skipped))
}

struct Reader<'a> {
    src: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.at).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek() == Some(byte)).then(|| self.at += 1)
    }

    /// Writes the canonical form of the value here. For an object at depth 0, leaves out the
    /// member named `skip` and returns the raw text of its (last) value.
    fn value(
        &mut self,
        out: &mut String,
        depth: usize,
        skip: Option<&str>,
    ) -> Option<Option<&'a str>> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'{' => return self.object(out, depth, skip),
            b'[' => self.array(out, depth)?,
            b'"' => write_string(out, &self.string()?),
            b't' => self.literal(out, "true")?,
            b'f' => self.literal(out, "false")?,
            b'n' => self.literal(out, "null")?,
            b'-' | b'0'..=b'9' => self.number(out)?,
            _ => return None,
        }
        Some(None)
    }

    fn literal(&mut self, out: &mut String, word: &str) -> Option<()> {
        let end = self.at + word.len();
        (self.src.get(self.at..end)? == word).then(|| {
            out.push_str(word);
            self.at = end;
        })
    }

    fn number(&mut self, out: &mut String) -> Option<()> {
        let start = self.at;
        while matches!(
            self.peek(),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.at += 1;
        }
        // serde_json's own reading, so the text is what a parsed `Value` holds.
        let n: Number = serde_json::from_str(&self.src[start..self.at]).ok()?;
        write_number(out, &n);
        Some(())
    }

    /// A string literal, unescaped (borrowed when it has no escapes).
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.at;
        self.eat(b'"')?;
        let mut escaped = false;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.at += 2;
                }
                b if b < 0x20 => return None,
                _ => self.at += 1,
            }
        }
        self.at += 1;
        let literal = self.src.get(start..self.at)?;
        if escaped {
            serde_json::from_str::<String>(literal).ok().map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(&literal[1..literal.len() - 1]))
        }
    }

    fn array(&mut self, out: &mut String, depth: usize) -> Option<()> {
        self.eat(b'[')?;
        out.push('[');
        self.ws();
        if self.eat(b']').is_none() {
            loop {
                self.value(out, depth + 1, None)?;
                self.ws();
                if self.eat(b']').is_some() {
                    break;
                }
                self.eat(b',')?;
                out.push(',');
                self.ws();
            }
        }
        out.push(']');
        Some(())
    }

    fn object(
        &mut self,
        out: &mut String,
        depth: usize,
        skip: Option<&str>,
    ) -> Option<Option<&'a str>> {
        self.eat(b'{')?;
        // Each member's canonical value goes to one buffer; members keep their range of it.
        let mut values = String::new();
        let mut members: Vec<(Cow<'a, str>, std::ops::Range<usize>)> = Vec::new();
        let mut skipped = None;
        self.ws();
        if self.eat(b'}').is_none() {
            loop {
                let key = self.string()?;
                self.ws();
                self.eat(b':')?;
                self.ws();
                let (start, from) = (self.at, values.len());
                self.value(&mut values, depth + 1, None)?;
                if depth == 0 && skip == Some(key.as_ref()) {
                    skipped = Some(&self.src[start..self.at]);
                    values.truncate(from);
                } else {
                    members.push((key, from..values.len()));
                }
                self.ws();
                if self.eat(b'}').is_some() {
                    break;
                }
                self.eat(b',')?;
                self.ws();
            }
        }
        // Byte order of the keys; a repeated key keeps its last value, as a parsed `Value` does.
        members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        out.push('{');
        let mut first = true;
        for (i, (key, value)) in members.iter().enumerate() {
            if members.get(i + 1).is_some_and(|next| next.0 == *key) {
                continue;
            }
            if !first {
                out.push(',');
            }
            first = false;
            write_string(out, key);
            out.push(':');
            out.push_str(&values[value.clone()]);
        }
        out.push('}');
        Some(skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::tests::arb_json;
    use crate::{canonical_json, fingerprint};
    use proptest::prelude::*;
    use serde_json::Value;

    fn by_value(text: &str) -> String {
        canonical_json(&serde_json::from_str::<Value>(text).unwrap())
    }

    #[test]
    fn escapes_repeats_and_numbers_read_as_a_value_reads_them() {
        for text in [
            r#"{"a\u005fb": "\u00e9\/x\n", "n": 1.50E+2, "d": [1, 2.0, -0, 1e400], "a_b": 3}"#,
            r#"{"k": 1, "k": {"z": null, "y": [true, false]}, "é": "😀", "\ud83d\ude00": 0}"#,
            r#" [ ] "#,
            r#"{}"#,
            r#""just a string""#,
            r#"-12.3400"#,
            r#"[{"b":1,"a":[{"d":2,"c":3}]}, 123456789012345678901234567890123]"#,
            r#"{"idempotency_key": "k", "x": {"idempotency_key": "nested stays"}}"#,
        ] {
            assert_eq!(
                canonical_text(text).as_deref(),
                Some(by_value(text).as_str()),
                "{text}"
            );
        }
    }

    #[test]
    fn the_skipped_member_is_left_out_at_the_top_only() {
        let text = r#"{"b": 1, "idempotency_key": "first", "x": {"idempotency_key": 2}, "idempotency_key": "last"}"#;
        let (fp, raw) = fingerprint_text(text, Some("idempotency_key")).unwrap();
        assert_eq!(raw, Some(r#""last""#));
        let mut value: Value = serde_json::from_str(text).unwrap();
        value.as_object_mut().unwrap().remove("idempotency_key");
        assert_eq!(fp, fingerprint(&value));
        let (_, none) = fingerprint_text(r#"{"a": 1}"#, Some("idempotency_key")).unwrap();
        assert_eq!(none, None);
        let (whole, none) = fingerprint_text(text, None).unwrap();
        assert_eq!(
            whole,
            fingerprint(&serde_json::from_str::<Value>(text).unwrap())
        );
        assert_eq!(none, None);
    }

    #[test]
    fn what_is_not_json_is_refused() {
        for text in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "tru",
            "\"\u{1}\"",
            "1 2",
            "{\"a\":1,}",
            "nul",
        ] {
            assert_eq!(canonical_text(text), None, "{text:?}");
        }
    }

    /// Writes every non-ASCII character of the text's strings as `\uXXXX` escapes.
    fn escape_non_ascii(text: &str) -> String {
        let mut out = String::new();
        for c in text.chars() {
            if c.is_ascii() {
                out.push(c);
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
        out
    }

    proptest! {
        #[test]
        fn the_text_path_equals_the_value_path(value in arb_json()) {
            let want = canonical_json(&value);
            let compact = serde_json::to_string(&value).unwrap();
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            for text in [&compact, &pretty, &escape_non_ascii(&pretty)] {
                prop_assert_eq!(canonical_text(text), Some(want.clone()), "{}", text);
            }
        }
    }
}
