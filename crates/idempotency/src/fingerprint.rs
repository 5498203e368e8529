//! The canonical form of a request body and its SHA-256 fingerprint.
//!
//! Two bodies that a client would call "the same request" must fingerprint equal: key order,
//! whitespace and the spelling of a number (`1`, `1.0`, `1e0`) do not matter. Anything else
//! (a value, a key, array order, a JSON type, `null` versus absent) does.

use std::fmt::{self, Write as _};

use rust_decimal::Decimal;
use serde_json::{Number, Value};
use sha2::{Digest, Sha256};

/// SHA-256 of a body's [`canonical_json`]. Stored beside the idempotency record.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// Wraps raw digest bytes (e.g. read back from a `BLOB` column).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// SHA-256 of a canonical text (what [`canonical_json`] or `canonical_text` wrote).
    pub(crate) fn of_canonical(canonical: &str) -> Self {
        Self(Sha256::digest(canonical.as_bytes()).into())
    }

    /// The raw digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lowercase hex digits (e.g. for a `TEXT` column).
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for b in self.0 {
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 0xf)]));
        }
        out
    }

    /// Parses exactly 64 hex digits (either case); `None` for anything else.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let hi = char::from(pair[0]).to_digit(16)?;
            let lo = char::from(pair[1]).to_digit(16)?;
            // Both digits are < 16, so the value fits a byte.
            *slot = u8::try_from(hi * 16 + lo).ok()?;
        }
        Some(Self(out))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The fingerprint of a request body: SHA-256 of its [`canonical_json`].
pub fn fingerprint(body: &Value) -> Fingerprint {
    Fingerprint::of_canonical(&canonical_json(body))
}

/// The canonical text of a JSON value:
/// - no whitespace;
/// - object keys sorted by byte order of their UTF-8 (= Unicode code point order), recursively;
/// - arrays keep their order;
/// - strings escaped exactly as `serde_json` prints them;
/// - numbers that fit `rust_decimal` exactly are printed normalized (`1.0`, `1e0` → `1`,
///   `-0` → `0`, `2.50` → `2.5`); any other number (too large, too precise) keeps the text
///   `serde_json` stored for it (which already spells every exponent as `e+N` / `e-N`).
///
/// Meant for hashing and for debugging; it is valid JSON.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // The map keeps insertion order (`preserve_order`), so sort here.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

pub(crate) fn write_number(out: &mut String, n: &Number) {
    // `arbitrary_precision` keeps the number's text as the client sent it.
    let text = n.as_str();
    if write_plain_decimal(out, text) {
        return;
    }
    match exact_decimal(text) {
        Some(d) => {
            // Writing to a String cannot fail.
            let _ = write!(out, "{}", d.normalize());
        }
        None => out.push_str(text),
    }
}

/// The common case without `Decimal`: a number spelled `-?digits(.digits)?` with at most 28
/// digits (always exact in a `Decimal`), written as `Decimal::normalize` prints it: trailing
/// zeros of the fraction dropped, then the point if nothing is left after it, and no sign on
/// zero. Returns false, writing nothing, for any other spelling. (JSON allows no leading zeros
/// in the integer part, so there are none to drop.)
fn write_plain_decimal(out: &mut String, text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = match digits.split_once('.') {
        Some((_, "")) => return false,
        Some(parts) => parts,
        None => (digits, ""),
    };
    let plain = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !plain(int) || !plain(frac) || int.len() + frac.len() > 28 {
        return false;
    }
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() && int.bytes().all(|b| b == b'0') {
        out.push('0');
        return true;
    }
    if text.starts_with('-') {
        out.push('-');
    }
    out.push_str(int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    true
}

/// Parses a JSON number's text as a `Decimal` only when no digit is lost, so two different
/// numbers can never share a canonical form through rounding.
fn exact_decimal(text: &str) -> Option<Decimal> {
    match text.find(['e', 'E']) {
        Some(e) => {
            // `from_scientific` rounds an over-precise mantissa; the exact parse rules that out.
            // Applying the exponent is exact or an error.
            Decimal::from_str_exact(&text[..e]).ok()?;
            Decimal::from_scientific(text).ok()
        }
        None => Decimal::from_str_exact(text).ok(),
    }
}

/// Writes a JSON string literal, escaping exactly what `serde_json` escapes: `"`, `\` and the
/// control characters below 0x20 (short forms where JSON has them, else `\u00xx`).
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < '\u{20}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn fp(text: &str) -> Fingerprint {
        fingerprint(&parse(text))
    }

    #[test]
    fn canonical_form_table() {
        let cases = [
            ("null", "null"),
            (" true ", "true"),
            ("[ 1 , 2.0 , 3e0 ]", "[1,2,3]"),
            (
                r#"{ "b" : 1, "a" : { "d": [], "c": {} } }"#,
                r#"{"a":{"c":{},"d":[]},"b":1}"#,
            ),
            ("-0", "0"),
            ("-0.0e5", "0"),
            ("2.50", "2.5"),
            ("1E+2", "100"),
            ("1.5e-3", "0.0015"),
            ("100", "100"),
            ("-12.3400", "-12.34"),
            // Out of Decimal's range or precision: the text is kept as is.
            // serde_json itself spells exponents `e+N`/`e-N`, so `1E400` and `1e+400` agree.
            ("1e400", "1e+400"),
            ("1E400", "1e+400"),
            ("1e-400", "1e-400"),
            (
                "123456789012345678901234567890123",
                "123456789012345678901234567890123",
            ),
            (
                "0.00000000000000000000000000000001",
                "0.00000000000000000000000000000001",
            ),
            (
                "1.0000000000000000000000000000001e0",
                "1.0000000000000000000000000000001e+0",
            ),
            // Byte order: uppercase before lowercase, and 'é' (U+00E9) after 'z'.
            (
                r#"{"z":0,"é":0,"Z":0,"a":0}"#,
                r#"{"Z":0,"a":0,"z":0,"é":0}"#,
            ),
            (
                r#""tab\there \"q\" \\ \u0001 \u007f é / 😀""#,
                "\"tab\\there \\\"q\\\" \\\\ \\u0001 \u{7f} é / 😀\"",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(canonical_json(&parse(input)), expected, "input {input}");
        }
    }

    #[test]
    fn string_escaping_matches_serde_json() {
        let mut chars: Vec<char> = (0u32..0x800).filter_map(char::from_u32).collect();
        chars.extend([
            '\u{2028}',
            '\u{2029}',
            '\u{feff}',
            '\u{fffd}',
            '\u{1f600}',
            '\u{10ffff}',
        ]);
        for c in chars {
            let s = format!("a{c}b");
            let mut ours = String::new();
            write_string(&mut ours, &s);
            assert_eq!(
                ours,
                serde_json::to_string(&s).unwrap(),
                "char {:#x}",
                u32::from(c)
            );
        }
    }

    #[test]
    fn equal_under_key_order_and_whitespace() {
        let a = r#"{"agent_id":"bot","task_type":"triage","metadata":{"x":{"p":1,"q":[{"m":1,"n":2}]},"y":true},"outcome":"success"}"#;
        let b = r#"
            {
              "outcome" : "success",
              "metadata": { "y": true,
                            "x": { "q": [ { "n": 2, "m": 1 } ], "p": 1 } },
              "task_type": "triage",
              "agent_id": "bot"
            }"#;
        assert_eq!(fp(a), fp(b));
        assert_eq!(canonical_json(&parse(a)), canonical_json(&parse(b)));
    }

    #[test]
    fn equal_for_number_spellings() {
        let spellings = ["1", "1.0", "1.00", "1e0", "1E0", "10e-1", "0.1e1", "1.0e+0"];
        for s in spellings {
            assert_eq!(
                fp(&format!(r#"{{"n":{s}}}"#)),
                fp(r#"{"n":1}"#),
                "spelling {s}"
            );
        }
    }

    #[test]
    fn different_when_anything_meaningful_changes() {
        let base = r#"{"a":1,"b":[1,2],"c":{"d":"x"}}"#;
        let changed = [
            r#"{"a":2,"b":[1,2],"c":{"d":"x"}}"#,          // value
            r#"{"a":1.000001,"b":[1,2],"c":{"d":"x"}}"#,   // small numeric change
            r#"{"A":1,"b":[1,2],"c":{"d":"x"}}"#,          // key
            r#"{"a":1,"b":[2,1],"c":{"d":"x"}}"#,          // array order
            r#"{"a":"1","b":[1,2],"c":{"d":"x"}}"#,        // string vs number
            r#"{"a":true,"b":[1,2],"c":{"d":"x"}}"#,       // type
            r#"{"a":1,"b":[1,2],"c":{"d":"x "}}"#,         // whitespace inside a string
            r#"{"a":1,"b":[1,2],"c":{"d":"x"},"e":null}"#, // null vs missing
            r#"{"a":1,"b":[1,2,null],"c":{"d":"x"}}"#,     // extra array item
            r#"{"a":1,"b":[1,2],"c":{"d":["x"]}}"#,        // nesting
        ];
        let base_fp = fp(base);
        for text in changed {
            assert_ne!(fp(text), base_fp, "{text}");
        }
        assert_ne!(fp("null"), fp("{}"));
        assert_ne!(fp("[]"), fp("{}"));
        assert_ne!(fp(r#""""#), fp("null"));
    }

    #[test]
    fn hex_round_trip_and_rejects() {
        let f = fp(r#"{"a":1}"#);
        let hex = f.to_hex();
        assert_eq!(hex.len(), 64);
        assert!(hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(Fingerprint::from_hex(&hex), Some(f));
        assert_eq!(Fingerprint::from_hex(&hex.to_uppercase()), Some(f));
        assert_eq!(Fingerprint::from_bytes(*f.as_bytes()), f);
        for bad in [
            "",
            &hex[..63],
            &format!("{hex}0"),
            &format!("{}g", &hex[..63]),
            &format!("{}é", &hex[..62]),
        ] {
            assert_eq!(Fingerprint::from_hex(bad), None, "{bad:?}");
        }
        // SHA-256 of the canonical text, not of the input text.
        assert_eq!(fp(" { \"a\" : 1.0 } ").to_hex(), fp(r#"{"a":1}"#).to_hex());
        assert_eq!(
            fp("{}").to_hex(),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    pub(crate) fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            // Decimal-looking text with trailing zeros and exponents.
            (any::<i32>(), 0u32..6, -30i32..30).prop_map(|(m, zeros, e)| {
                let text = format!("{m}.{}e{e}", "0".repeat(zeros as usize + 1));
                Value::Number(serde_json::from_str(&text).unwrap())
            }),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::vec((any::<String>(), inner), 0..8)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    /// The same value with every object's keys in reverse insertion order.
    fn reversed(value: &Value) -> Value {
        match value {
            Value::Array(items) => Value::Array(items.iter().map(reversed).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .rev()
                    .map(|(k, v)| (k.clone(), reversed(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    proptest! {
        #[test]
        fn the_plain_decimal_path_prints_what_decimal_normalize_prints(
            text in r"-?(0|[1-9][0-9]{0,15})(\.[0-9]{1,12})?"
        ) {
            let mut fast = String::new();
            prop_assert!(write_plain_decimal(&mut fast, &text));
            let slow = exact_decimal(&text).unwrap().normalize().to_string();
            prop_assert_eq!(fast, slow);
        }
    }

    #[test]
    fn the_plain_decimal_path_leaves_other_spellings_to_decimal() {
        for text in [
            "1e5",
            "1E5",
            "-",
            "",
            ".5",
            "1.",
            "12345678901234567890123456789",
            "0x1",
        ] {
            let mut out = String::new();
            assert!(!write_plain_decimal(&mut out, text), "{text}");
            assert!(out.is_empty());
        }
        for (text, want) in [
            ("-0.000", "0"),
            ("10.0", "10"),
            ("0.10", "0.1"),
            ("-1.50", "-1.5"),
        ] {
            let mut out = String::new();
            assert!(write_plain_decimal(&mut out, text));
            assert_eq!(out, want);
        }
    }

    proptest! {
        #[test]
        fn pretty_printed_and_reparsed_fingerprints_equal(value in arb_json()) {
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            prop_assert_eq!(fingerprint(&parse(&pretty)), fingerprint(&value));
        }

        #[test]
        fn key_order_never_matters(value in arb_json()) {
            prop_assert_eq!(fingerprint(&reversed(&value)), fingerprint(&value));
        }

        #[test]
        fn canonical_form_is_valid_json_and_a_fixed_point(value in arb_json()) {
            let canonical = canonical_json(&value);
            let reparsed = parse(&canonical);
            prop_assert_eq!(canonical_json(&reparsed), canonical);
            prop_assert_eq!(fingerprint(&reparsed), fingerprint(&value));
        }
    }
}
