//! Small pieces of the wire format shared by the routes.

use std::str::FromStr as _;

use rust_decimal::Decimal;
use serde::{Serialize, Serializer};

/// An exact decimal written as a JSON number with no float noise and no trailing zeros:
/// `2.97`, `0.066`, `45` (API.md §4). serde_json's `arbitrary_precision` keeps the digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Num(pub Decimal);

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = self.0.normalize().to_string();
        serde_json::Number::from_str(&text)
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}

/// Documented as `Decimal`: a JSON number whose digits are exact.
impl utoipa::PartialSchema for Num {
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

impl utoipa::ToSchema for Num {
    fn name() -> std::borrow::Cow<'static, str> {
        "Decimal".into()
    }
}

impl From<Decimal> for Num {
    fn from(d: Decimal) -> Self {
        Num(d)
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
            let n = Num(Decimal::from_str(d).unwrap());
            assert_eq!(serde_json::to_string(&n).unwrap(), want);
        }
        let v: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&Num(Decimal::new(297, 2))).unwrap())
                .unwrap();
        assert!(v.is_number());
    }
}
