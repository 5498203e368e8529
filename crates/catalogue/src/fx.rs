//! The FX table: dated rates that turn a USD cost into the org's currency (API.md §6).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use roi_engine::{FxRate, ValueError};
use time::{Date, OffsetDateTime};

use crate::table::{self, CsvError};

/// The embedded default rates (approximate; see the `source` column of fixtures/fx-rates.csv).
const BUILTIN_CSV: &str = include_str!("../../../fixtures/fx-rates.csv");

const COLUMNS: &[&str] = &["currency", "usd_to", "effective_from", "source"];

/// A currency code in ISO 4217 form: exactly three ASCII capital letters (`EUR`). Whether the
/// code is actually assigned by ISO is not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency([u8; 3]);

/// A currency code that is not three capital letters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a 3-letter ISO 4217 currency code in capitals, e.g. EUR")]
pub struct CurrencyError;

impl Currency {
    /// The base of every rate; converting to it needs no rate.
    pub const USD: Currency = Currency(*b"USD");

    /// Validates a code.
    pub fn parse(text: &str) -> Result<Currency, CurrencyError> {
        match text.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Currency([a, b, c])),
            _ => Err(CurrencyError),
        }
    }

    /// The code's text.
    pub fn as_str(&self) -> &str {
        // The constructor admits only A–Z, which is always valid UTF-8.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl FromStr for Currency {
    type Err = CurrencyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rate from a date on: `usd_to` units of `currency` buy one US dollar. In force from 00:00
/// UTC of `effective_from` until the currency's next row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FxRow {
    pub currency: Currency,
    pub usd_to: FxRate,
    pub effective_from: Date,
}

/// An FX table or import that cannot be used. `line` is the 1-based line in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FxError {
    #[error(transparent)]
    Csv(#[from] CsvError),
    #[error("line {line}: currency '{value}' {source}")]
    Currency {
        line: u64,
        value: String,
        source: CurrencyError,
    },
    #[error("line {line}: usd_to '{value}' {source}")]
    Rate {
        line: u64,
        value: String,
        source: ValueError,
    },
    #[error("line {line}: effective_from '{value}' must be a date YYYY-MM-DD")]
    Date { line: u64, value: String },
    #[error("currency {currency} has two rates effective from {effective_from}")]
    Duplicate {
        currency: Currency,
        effective_from: Date,
    },
    /// A USD row would be ignored (USD is always 1), so it is refused rather than kept silently.
    #[error("USD is the base currency: its rate is always 1 and cannot be set")]
    BaseCurrency,
}

/// Parses `currency,usd_to,effective_from[,source]` rows; `source` is optional and not kept.
/// Duplicates and USD rows are left for [`FxTable::from_rows`] to reject.
pub fn parse_fx_csv(text: &str) -> Result<Vec<FxRow>, FxError> {
    table::read(text, COLUMNS, true)?
        .into_iter()
        .map(|row| {
            let line = row.line;
            let currency = Currency::parse(row.get(0)).map_err(|source| FxError::Currency {
                line,
                value: row.get(0).to_owned(),
                source,
            })?;
            let usd_to = FxRate::parse(row.get(1)).map_err(|source| FxError::Rate {
                line,
                value: row.get(1).to_owned(),
                source,
            })?;
            let effective_from = table::parse_date(row.get(2)).ok_or_else(|| FxError::Date {
                line,
                value: row.get(2).to_owned(),
            })?;
            Ok(FxRow {
                currency,
                usd_to,
                effective_from,
            })
        })
        .collect()
}

/// Rates grouped by currency, each currency's rows sorted by `effective_from`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FxTable {
    currencies: BTreeMap<Currency, Vec<FxRow>>,
}

impl FxTable {
    /// The default table shipped in the binary, parsed on first use.
    pub fn builtin() -> &'static FxTable {
        static BUILTIN: OnceLock<FxTable> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            #[expect(
                clippy::expect_used,
                reason = "the embedded file is fixed at build time and a unit test parses it"
            )]
            parse_fx_csv(BUILTIN_CSV)
                .and_then(FxTable::from_rows)
                .expect("embedded fixtures/fx-rates.csv is invalid")
        })
    }

    /// Groups and sorts the rows; rejects two rows of one currency with the same date, and USD.
    pub fn from_rows(rows: Vec<FxRow>) -> Result<FxTable, FxError> {
        let mut currencies: BTreeMap<Currency, Vec<FxRow>> = BTreeMap::new();
        for row in rows {
            if row.currency == Currency::USD {
                return Err(FxError::BaseCurrency);
            }
            currencies.entry(row.currency).or_default().push(row);
        }
        for rows in currencies.values_mut() {
            rows.sort_by_key(|r| r.effective_from);
            if let Some(pair) = rows
                .windows(2)
                .find(|w| w[0].effective_from == w[1].effective_from)
            {
                return Err(FxError::Duplicate {
                    currency: pair[0].currency,
                    effective_from: pair[0].effective_from,
                });
            }
        }
        Ok(FxTable { currencies })
    }

    /// Units of `currency` per US dollar at `at`: [`FxRate::ONE`] for USD; otherwise the newest
    /// row with `effective_from` ≤ the UTC date of `at`; None when there is none yet.
    pub fn rate_at(&self, currency: &Currency, at: OffsetDateTime) -> Option<FxRate> {
        if *currency == Currency::USD {
            return Some(FxRate::ONE);
        }
        self.row_at(currency, at).map(|r| r.usd_to)
    }

    /// The row in force for `currency` at `at` (never a row for USD, which needs none).
    pub fn row_at(&self, currency: &Currency, at: OffsetDateTime) -> Option<&FxRow> {
        let date = table::utc_date(at)?;
        let rows = self.currencies.get(currency)?;
        let in_force = rows.partition_point(|r| r.effective_from <= date);
        in_force.checked_sub(1).and_then(|i| rows.get(i))
    }

    /// The currencies with at least one row, sorted (USD is implicit and not listed).
    pub fn currencies(&self) -> impl Iterator<Item = Currency> + '_ {
        self.currencies.keys().copied()
    }

    /// Every row, by currency then date.
    pub fn iter(&self) -> impl Iterator<Item = &FxRow> {
        self.currencies.values().flatten()
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.currencies.values().map(Vec::len).sum()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.currencies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roi_engine::rust_decimal::Decimal;
    use time::macros::{date, datetime};

    fn cur(s: &str) -> Currency {
        Currency::parse(s).unwrap()
    }

    fn fx(s: &str) -> FxRate {
        FxRate::parse(s).unwrap()
    }

    #[test]
    fn currency_codes() {
        for good in ["USD", "EUR", "JPY", "XAU"] {
            assert_eq!(cur(good).as_str(), good);
            assert_eq!(good.parse::<Currency>().unwrap().to_string(), good);
        }
        for bad in ["", "usd", "Eur", "EURO", "EU", "E1R", "ÉUR", " EUR", "€"] {
            assert_eq!(Currency::parse(bad), Err(CurrencyError), "{bad:?}");
        }
        assert_eq!(Currency::USD, cur("USD"));
    }

    #[test]
    fn embedded_table_parses_and_covers_the_defaults() {
        let rows = parse_fx_csv(BUILTIN_CSV).unwrap();
        let table = FxTable::from_rows(rows).unwrap();
        assert_eq!(FxTable::builtin(), &table);
        let listed: Vec<String> = table.currencies().map(|c| c.to_string()).collect();
        for code in [
            "EUR", "GBP", "CHF", "JPY", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN", "INR", "BRL",
        ] {
            assert!(listed.iter().any(|l| l == code), "{code} missing");
            assert!(
                table
                    .rate_at(&cur(code), datetime!(2025-01-01 0:00 UTC))
                    .is_some(),
                "{code}"
            );
        }
    }

    #[test]
    fn usd_is_always_one() {
        let empty = FxTable::default();
        for at in [
            datetime!(1990-01-01 0:00 UTC),
            datetime!(2030-06-01 12:00 +05:30),
        ] {
            assert_eq!(empty.rate_at(&Currency::USD, at), Some(FxRate::ONE));
            assert_eq!(
                FxTable::builtin().rate_at(&Currency::USD, at),
                Some(FxRate::ONE)
            );
            assert_eq!(empty.row_at(&Currency::USD, at), None);
        }
    }

    #[test]
    fn lookup_by_utc_date() {
        let table = FxTable::from_rows(vec![
            FxRow {
                currency: cur("EUR"),
                usd_to: fx("0.9"),
                effective_from: date!(2026 - 01 - 01),
            },
            FxRow {
                currency: cur("EUR"),
                usd_to: fx("0.95"),
                effective_from: date!(2025 - 01 - 01),
            },
            FxRow {
                currency: cur("JPY"),
                usd_to: fx("150"),
                effective_from: date!(2025 - 01 - 01),
            },
        ])
        .unwrap();
        let eur = cur("EUR");
        let cases = [
            (datetime!(2024-12-31 23:59:59 UTC), None),
            (datetime!(2025-01-01 0:00 UTC), Some("0.95")),
            (datetime!(2025-12-31 23:59:59 UTC), Some("0.95")),
            // Already 2026 in Berlin, still 2025 in UTC.
            (datetime!(2026-01-01 0:30 +01:00), Some("0.95")),
            (datetime!(2026-01-01 0:00 UTC), Some("0.9")),
            (datetime!(2025-12-31 20:00 -05:00), Some("0.9")),
        ];
        for (at, want) in cases {
            assert_eq!(table.rate_at(&eur, at), want.map(fx), "{at}");
        }
        assert_eq!(
            table.rate_at(&cur("GBP"), datetime!(2026-01-01 0:00 UTC)),
            None
        );
        assert_eq!(
            table
                .rate_at(&cur("JPY"), datetime!(2026-01-01 0:00 UTC))
                .map(FxRate::get),
            Some(Decimal::from(150))
        );
        assert_eq!(table.len(), 3);
    }

    #[test]
    fn table_level_errors() {
        let row = |c: &str, d: Date| FxRow {
            currency: cur(c),
            usd_to: fx("1"),
            effective_from: d,
        };
        let err = FxTable::from_rows(vec![
            row("EUR", date!(2025 - 01 - 01)),
            row("EUR", date!(2025 - 01 - 01)),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "currency EUR has two rates effective from 2025-01-01"
        );
        let err = FxTable::from_rows(vec![row("USD", date!(2025 - 01 - 01))]).unwrap_err();
        assert_eq!(err, FxError::BaseCurrency);
    }

    #[test]
    fn malformed_rows_name_their_line() {
        let h = "currency,usd_to,effective_from,source\n";
        let cases: &[(&str, &str)] = &[
            ("EUR,0.9,2025-01-01,x\neur,0.9,2025-01-01,x\n", "line 3: currency 'eur' must be a 3-letter ISO 4217 currency code in capitals, e.g. EUR"),
            ("EUR,0,2025-01-01,x\n", "line 2: usd_to '0' must be greater than 0"),
            ("EUR,abc,2025-01-01,x\n", "line 2: usd_to 'abc' must be a number"),
            ("EUR,0.9,2025-02-30,x\n", "line 2: effective_from '2025-02-30' must be a date YYYY-MM-DD"),
            ("EUR,0.9\n", "line 2: expected 4 fields, found 2"),
        ];
        for (body, want) in cases {
            let err = parse_fx_csv(&format!("{h}{body}")).unwrap_err();
            assert_eq!(err.to_string(), *want, "{body:?}");
        }
        let rows = parse_fx_csv("currency,usd_to,effective_from\nGBP,0.79,2025-01-01\n").unwrap();
        assert_eq!(
            rows,
            [FxRow {
                currency: cur("GBP"),
                usd_to: fx("0.79"),
                effective_from: date!(2025 - 01 - 01)
            }]
        );
    }
}
