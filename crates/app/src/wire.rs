//! Small pieces of the wire format shared by the routes.

use std::str::FromStr as _;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An exact decimal written as a JSON number with no float noise and no trailing zeros:
/// `2.97`, `0.066`, `45` (API.md §4). serde_json's `arbitrary_precision` keeps the digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonDecimal(pub Decimal);

impl Serialize for JsonDecimal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = self.0.normalize().to_string();
        serde_json::Number::from_str(&text)
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}

/// Read back from the JSON number it was written as (a stored digest), digit for digit.
impl<'de> Deserialize<'de> for JsonDecimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = serde_json::Number::deserialize(d)?;
        Decimal::from_str_exact(&n.to_string())
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .map(JsonDecimal)
            .map_err(serde::de::Error::custom)
    }
}

/// Documented as `Decimal`: a JSON number whose digits are exact.
impl utoipa::PartialSchema for JsonDecimal {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::Number))
            .description(Some(
                "An exact decimal printed as a JSON number without float noise or trailing zeros (2.97, 0.066, 45).",
            ))
            .into()
    }
}

impl utoipa::ToSchema for JsonDecimal {
    fn name() -> std::borrow::Cow<'static, str> {
        "Decimal".into()
    }
}

impl From<Decimal> for JsonDecimal {
    fn from(d: Decimal) -> Self {
        JsonDecimal(d)
    }
}

/// Writes a JSON string literal as serde_json writes it (escaping `"`, `\\` and controls).
pub fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        // Rare: let serde_json do the escaping. Writing a str cannot fail.
        out.push_str(&serde_json::to_string(s).unwrap_or_default());
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

/// Writes `units` × 10^-`dp` as [`JsonDecimal`] prints it (no trailing zeros, no sign on zero), without
/// a `Decimal`: the answer's hours and money are fixed-point integers on the event.
pub fn push_fixed(out: &mut String, units: i64, dp: u32) {
    use std::fmt::Write as _;
    let scale = 10u64.pow(dp);
    let abs = units.unsigned_abs();
    if units < 0 {
        out.push('-');
    }
    // Writing to a String cannot fail.
    let _ = write!(out, "{}", abs / scale);
    if !abs.is_multiple_of(scale) {
        let start = out.len();
        let width = usize::try_from(dp).unwrap_or(0);
        let _ = write!(out, ".{:0width$}", abs % scale);
        let kept = out[start..].trim_end_matches('0').len();
        out.truncate(start + kept);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_plain_json_numbers() {
        for (d, want) in [
            ("2.970", "2.97"),
            ("0.066", "0.066"),
            ("45", "45"),
            ("0.000", "0"),
            ("-3.51", "-3.51"),
            ("0.004095", "0.004095"),
        ] {
            let n = JsonDecimal(Decimal::from_str(d).unwrap());
            assert_eq!(serde_json::to_string(&n).unwrap(), want);
        }
        let v: serde_json::Value = serde_json::from_str(
            &serde_json::to_string(&JsonDecimal(Decimal::new(297, 2))).unwrap(),
        )
        .unwrap();
        assert!(v.is_number());
    }

    #[test]
    fn fixed_point_prints_as_num() {
        for (units, dp) in [
            (0, 2),
            (297, 2),
            (-351, 2),
            (-5, 2),
            (66, 3),
            (1000, 3),
            (4095, 6),
            (1, 6),
            (-1, 6),
            (123_456_789_012, 6),
            (i64::MAX, 6),
            (i64::MIN, 2),
        ] {
            let mut out = String::new();
            push_fixed(&mut out, units, dp);
            let want = serde_json::to_string(&JsonDecimal(Decimal::new(units, dp))).unwrap();
            assert_eq!(out, want, "{units} × 10^-{dp}");
        }
    }

    #[test]
    fn strings_are_escaped_as_serde_json_does() {
        for s in [
            "plain",
            "",
            "quote \" back \\ slash",
            "tab\tnew\nline \u{1}",
            "é 😀 \u{7f}",
        ] {
            let mut out = String::new();
            push_json_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap());
        }
    }
}
