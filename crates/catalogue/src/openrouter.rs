//! Import of OpenRouter's public models listing (`GET openrouter.ai/api/v1/models`) into price
//! rows. OpenRouter prices are USD per token; the book stores USD per million tokens.

use std::collections::HashSet;
use std::fmt;

use roi_engine::rust_decimal::Decimal;
use roi_engine::{parse_decimal, TokenPrice, UsdPerMillionTokens};
use serde_json::Value;
use time::Date;

use crate::prices::{valid_model_id, PriceError, PriceRow};

/// What an OpenRouter listing yielded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRouterImport {
    /// One row per priced model, in document order, all effective from the date given.
    pub rows: Vec<PriceRow>,
    /// Entries that were not imported, in document order, with why.
    pub skipped: Vec<SkippedModel>,
}

/// An entry of the listing that gave no price row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedModel {
    /// Position in `data`, so an entry without an id can still be found.
    pub index: usize,
    pub id: Option<String>,
    pub reason: SkipReason,
}

/// Why an entry was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// No usable `id` (absent, not a string, empty or with whitespace).
    MissingId,
    /// No `pricing.prompt` or `pricing.completion`.
    MissingPricing,
    /// A negative price: OpenRouter's "-1" marks routers whose price depends on the model picked
    /// (`openrouter/auto`), so no single price exists.
    VariablePrice,
    /// A price that is not a number or is out of range.
    InvalidPrice { field: &'static str, value: String },
    /// The id already appeared earlier in the listing; the first entry is kept.
    DuplicateId,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::MissingId => f.write_str("no usable id"),
            SkipReason::MissingPricing => f.write_str("no pricing.prompt and pricing.completion"),
            SkipReason::VariablePrice => {
                f.write_str("variable price (negative in the listing), no single price to import")
            }
            SkipReason::InvalidPrice { field, value } => write!(
                f,
                "pricing.{field} '{value}' is not a USD price per token between 0 and 1"
            ),
            SkipReason::DuplicateId => f.write_str("id already listed earlier"),
        }
    }
}

/// Reads an OpenRouter models listing (`{"data":[{"id":…,"pricing":{"prompt":…,"completion":…}}]}`)
/// into rows effective from `effective_from` (the caller's choice, usually the import date).
/// Per-token prices may be strings or JSON numbers; both are converted exactly to USD per
/// million tokens. Entries that cannot be priced are skipped and reported, not fatal; only a
/// document that is not such a listing is an error.
pub fn parse_openrouter_models(
    json: &str,
    effective_from: Date,
) -> Result<OpenRouterImport, PriceError> {
    let doc: Value = serde_json::from_str(json).map_err(|e| PriceError::Json(e.to_string()))?;
    let Some(data) = doc.get("data").and_then(Value::as_array) else {
        return Err(PriceError::Json(
            "expected an object with a `data` array".to_owned(),
        ));
    };
    let mut import = OpenRouterImport {
        rows: Vec::new(),
        skipped: Vec::new(),
    };
    let mut seen = HashSet::new();
    for (index, entry) in data.iter().enumerate() {
        let id = entry.get("id").and_then(Value::as_str);
        let outcome = match id {
            Some(id) if valid_model_id(id) => {
                if seen.insert(id) {
                    entry_price(entry).map(|price| (id, price))
                } else {
                    Err(SkipReason::DuplicateId)
                }
            }
            _ => Err(SkipReason::MissingId),
        };
        match outcome {
            Ok((id, price)) => import.rows.push(PriceRow {
                model_id: id.to_owned(),
                price,
                effective_from,
            }),
            Err(reason) => import.skipped.push(SkippedModel {
                index,
                id: id.map(str::to_owned),
                reason,
            }),
        }
    }
    Ok(import)
}

fn entry_price(entry: &Value) -> Result<TokenPrice, SkipReason> {
    let pricing = entry.get("pricing");
    let field = |name: &'static str| pricing.and_then(|p| p.get(name)).and_then(text_of);
    let (Some(prompt), Some(completion)) = (field("prompt"), field("completion")) else {
        return Err(SkipReason::MissingPricing);
    };
    let prompt = per_token(&prompt, "prompt");
    let completion = per_token(&completion, "completion");
    // A variable price on either side makes the entry unpriceable, whatever the other says.
    if prompt == Err(SkipReason::VariablePrice) || completion == Err(SkipReason::VariablePrice) {
        return Err(SkipReason::VariablePrice);
    }
    Ok(TokenPrice {
        input: prompt?,
        output: completion?,
    })
}

/// The text of a string or number value; with serde_json's `arbitrary_precision` a number keeps
/// its exact source text, so no float is involved.
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn per_token(text: &str, field: &'static str) -> Result<UsdPerMillionTokens, SkipReason> {
    let invalid = || SkipReason::InvalidPrice {
        field,
        value: text.to_owned(),
    };
    let per_token = parse_decimal(text).map_err(|_| invalid())?;
    if per_token.is_sign_negative() && !per_token.is_zero() {
        return Err(SkipReason::VariablePrice);
    }
    per_token
        .checked_mul(Decimal::from(1_000_000))
        .and_then(|m| UsdPerMillionTokens::new(m).ok())
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use time::macros::date;

    const DOC: &str = r#"{
      "data": [
        {"id": "openai/gpt-4o", "name": "GPT-4o", "pricing": {"prompt": "0.0000025", "completion": "0.00001", "request": "0"}},
        {"id": "openai/gpt-4o-mini", "pricing": {"prompt": 0.00000015, "completion": 6e-7}},
        {"id": "openrouter/auto", "pricing": {"prompt": "-1", "completion": "-1"}},
        {"id": "meta/no-pricing"},
        {"id": "meta/half-pricing", "pricing": {"prompt": "0.000001"}},
        {"id": "x/free", "pricing": {"prompt": "0", "completion": "0"}},
        {"id": "x/garbage", "pricing": {"prompt": "abc", "completion": "0"}},
        {"id": "x/too-dear", "pricing": {"prompt": "2", "completion": "0"}},
        {"pricing": {"prompt": "0", "completion": "0"}},
        {"id": "openai/gpt-4o", "pricing": {"prompt": "1", "completion": "1"}},
        {"id": "x/nullpricing", "pricing": null}
      ]
    }"#;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn imports_priced_entries_exactly() {
        let from = date!(2026 - 08 - 21);
        let import = parse_openrouter_models(DOC, from).unwrap();
        let rows: Vec<(&str, Decimal, Decimal)> = import
            .rows
            .iter()
            .map(|r| {
                (
                    r.model_id.as_str(),
                    r.price.input.get(),
                    r.price.output.get(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("openai/gpt-4o", d("2.5"), d("10")),
                ("openai/gpt-4o-mini", d("0.15"), d("0.6")),
                ("x/free", d("0"), d("0")),
            ]
        );
        assert!(import.rows.iter().all(|r| r.effective_from == from));
        // Exact, normalised text: no float rounding artefacts.
        assert_eq!(import.rows[0].price.input.to_string(), "2.5");
        assert_eq!(import.rows[1].price.input.to_string(), "0.15");
    }

    #[test]
    fn reports_what_it_skipped() {
        let import = parse_openrouter_models(DOC, date!(2026 - 08 - 21)).unwrap();
        let skipped: Vec<(usize, Option<&str>, String)> = import
            .skipped
            .iter()
            .map(|s| (s.index, s.id.as_deref(), s.reason.to_string()))
            .collect();
        let want: Vec<(usize, Option<&str>, String)> = vec![
            (
                2,
                Some("openrouter/auto"),
                "variable price (negative in the listing), no single price to import".into(),
            ),
            (
                3,
                Some("meta/no-pricing"),
                "no pricing.prompt and pricing.completion".into(),
            ),
            (
                4,
                Some("meta/half-pricing"),
                "no pricing.prompt and pricing.completion".into(),
            ),
            (
                6,
                Some("x/garbage"),
                "pricing.prompt 'abc' is not a USD price per token between 0 and 1".into(),
            ),
            (
                7,
                Some("x/too-dear"),
                "pricing.prompt '2' is not a USD price per token between 0 and 1".into(),
            ),
            (8, None, "no usable id".into()),
            (9, Some("openai/gpt-4o"), "id already listed earlier".into()),
            (
                10,
                Some("x/nullpricing"),
                "no pricing.prompt and pricing.completion".into(),
            ),
        ];
        assert_eq!(skipped, want);
    }

    #[test]
    fn conversion_table() {
        for (text, per_million) in [
            ("0.0000025", "2.5"),
            ("0.00000015", "0.15"),
            ("0.000015", "15"),
            ("2.5e-6", "2.5"),
            ("0.0000000001", "0.0001"),
            ("1", "1000000"),
            ("0", "0"),
        ] {
            assert_eq!(
                per_token(text, "prompt").unwrap().get(),
                d(per_million),
                "{text}"
            );
        }
        assert_eq!(per_token("-0.5", "prompt"), Err(SkipReason::VariablePrice));
        assert!(per_token("1.000001", "prompt").is_err());
    }

    #[test]
    fn result_feeds_a_price_book() {
        let import = parse_openrouter_models(DOC, date!(2026 - 08 - 21)).unwrap();
        let book = crate::PriceBook::from_rows(import.rows).unwrap();
        assert_eq!(book.len(), 3);
    }

    #[test]
    fn rejects_documents_that_are_not_listings() {
        for (doc, want) in [
            (
                "[]",
                "not an OpenRouter models listing: expected an object with a `data` array",
            ),
            (
                "{\"data\": {}}",
                "not an OpenRouter models listing: expected an object with a `data` array",
            ),
            (
                "{",
                "not an OpenRouter models listing: EOF while parsing an object at line 1 column 1",
            ),
        ] {
            let err = parse_openrouter_models(doc, date!(2026 - 01 - 01)).unwrap_err();
            assert_eq!(err.to_string(), want, "{doc}");
        }
        let empty = parse_openrouter_models("{\"data\": []}", date!(2026 - 01 - 01)).unwrap();
        assert!(empty.rows.is_empty() && empty.skipped.is_empty());
    }
}
