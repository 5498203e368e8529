//! The model price book (API.md §6): dated USD prices per million tokens, looked up by exact model
//! id and the date an event occurred.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use roi_engine::{TokenPrice, UsdPerMillionTokens, ValueError};
use time::{Date, OffsetDateTime};

use crate::table::{self, CsvError};

/// The embedded seed book (see fixtures/price-book.csv and shared/data/README.md).
const BUILTIN_CSV: &str = include_str!("../../../fixtures/price-book.csv");

const COLUMNS: &[&str] = &[
    "model_id",
    "input_usd_per_mtok",
    "output_usd_per_mtok",
    "effective_from",
    "source",
];

/// A model's price from a date on. The row is in force from 00:00 UTC of `effective_from` until
/// the next row of the same model takes over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceRow {
    /// The exact model id (OpenRouter style, `openai/gpt-4o`).
    pub model_id: String,
    pub price: TokenPrice,
    pub effective_from: Date,
}

/// A price book or an import that cannot be used. `line` is the 1-based line in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error(transparent)]
    Csv(#[from] CsvError),
    #[error("line {line}: model_id must not be empty or contain whitespace")]
    ModelId { line: u64 },
    #[error("line {line}: {column} '{value}' {source}")]
    Price {
        line: u64,
        column: &'static str,
        value: String,
        source: ValueError,
    },
    #[error("line {line}: effective_from '{value}' must be a date YYYY-MM-DD")]
    Date { line: u64, value: String },
    #[error("model '{model_id}' has two prices effective from {effective_from}")]
    Duplicate {
        model_id: String,
        effective_from: Date,
    },
    #[error("not an OpenRouter models listing: {0}")]
    Json(String),
}

/// Whether a model id can be stored and matched exactly.
pub(crate) fn valid_model_id(id: &str) -> bool {
    !id.is_empty() && !id.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Parses `model_id,input_usd_per_mtok,output_usd_per_mtok,effective_from[,source]` rows, the
/// format of the shipped book; imports may leave out `source`, which is not kept.
/// Duplicates are left for [`PriceBook::from_rows`] to reject.
pub fn parse_price_csv(text: &str) -> Result<Vec<PriceRow>, PriceError> {
    table::read(text, COLUMNS, true)?
        .into_iter()
        .map(|row| {
            let line = row.line;
            let model_id = row.get(0);
            if !valid_model_id(model_id) {
                return Err(PriceError::ModelId { line });
            }
            let price = |i: usize| {
                UsdPerMillionTokens::parse(row.get(i)).map_err(|source| PriceError::Price {
                    line,
                    column: COLUMNS[i],
                    value: row.get(i).to_owned(),
                    source,
                })
            };
            let price = TokenPrice {
                input: price(1)?,
                output: price(2)?,
            };
            let effective_from = table::parse_date(row.get(3)).ok_or_else(|| PriceError::Date {
                line,
                value: row.get(3).to_owned(),
            })?;
            Ok(PriceRow {
                model_id: model_id.to_owned(),
                price,
                effective_from,
            })
        })
        .collect()
}

/// Price rows grouped by model id, each model's rows sorted by `effective_from`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceBook {
    models: BTreeMap<String, Vec<PriceRow>>,
}

impl PriceBook {
    /// The book shipped in the binary, parsed on first use.
    pub fn builtin() -> &'static PriceBook {
        static BUILTIN: OnceLock<PriceBook> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            #[expect(
                clippy::expect_used,
                reason = "the embedded file is fixed at build time and a unit test parses it"
            )]
            parse_price_csv(BUILTIN_CSV)
                .and_then(PriceBook::from_rows)
                .expect("embedded fixtures/price-book.csv is invalid")
        })
    }

    /// Groups and sorts the rows. Two rows of one model with the same `effective_from` are an
    /// error: neither could be said to be in force.
    pub fn from_rows(rows: Vec<PriceRow>) -> Result<PriceBook, PriceError> {
        let mut models: BTreeMap<String, Vec<PriceRow>> = BTreeMap::new();
        for row in rows {
            models.entry(row.model_id.clone()).or_default().push(row);
        }
        for rows in models.values_mut() {
            rows.sort_by_key(|r| r.effective_from);
            if let Some(pair) = rows
                .windows(2)
                .find(|w| w[0].effective_from == w[1].effective_from)
            {
                return Err(PriceError::Duplicate {
                    model_id: pair[0].model_id.clone(),
                    effective_from: pair[0].effective_from,
                });
            }
        }
        Ok(PriceBook { models })
    }

    /// The row in force for `model_id` at `at`: the newest with `effective_from` ≤ the UTC date
    /// of `at`. The offset `at` is expressed in does not matter, only the instant.
    pub fn price_at(&self, model_id: &str, at: OffsetDateTime) -> Option<&PriceRow> {
        self.price_on(model_id, table::utc_date(at)?)
    }

    /// The row in force for `model_id` on the UTC date `date`.
    pub fn price_on(&self, model_id: &str, date: Date) -> Option<&PriceRow> {
        let rows = self.models.get(model_id)?;
        let in_force = rows.partition_point(|r| r.effective_from <= date);
        in_force.checked_sub(1).and_then(|i| rows.get(i))
    }

    /// Every row of one model, oldest first (empty for an unknown model).
    pub fn rows_for(&self, model_id: &str) -> &[PriceRow] {
        self.models.get(model_id).map_or(&[], Vec::as_slice)
    }

    /// The model ids, sorted.
    pub fn models(&self) -> impl Iterator<Item = &str> {
        self.models.keys().map(String::as_str)
    }

    /// Every row, by model id then date.
    pub fn iter(&self) -> impl Iterator<Item = &PriceRow> {
        self.models.values().flatten()
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.models.values().map(Vec::len).sum()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}

/// Whose book a resolved price came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PriceOrigin {
    Org,
    Builtin,
}

impl PriceOrigin {
    /// A stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            PriceOrigin::Org => "org",
            PriceOrigin::Builtin => "builtin",
        }
    }
}

/// The price that applies to an event, with where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedPrice {
    pub price: TokenPrice,
    pub origin: PriceOrigin,
    /// `effective_from` of the row used.
    pub effective_from: Date,
}

/// The price of `model` for an event at `at`.
///
/// Rule: if the org's book has a row for the model in force at `at` (newest `effective_from` ≤
/// the UTC date of `at`), that row wins, even when the built-in book has a newer row: the org's
/// own price is its negotiated deal. Otherwise the built-in row in force applies. An org row
/// that only starts later does not hide the built-in price before that date. None when neither
/// book prices the model at `at`: the cost is then unknown, never 0.
pub fn resolve_price(
    org: Option<&PriceBook>,
    builtin: &PriceBook,
    model: &str,
    at: OffsetDateTime,
) -> Option<ResolvedPrice> {
    let from = |book: &PriceBook, origin| {
        book.price_at(model, at).map(|r| ResolvedPrice {
            price: r.price,
            origin,
            effective_from: r.effective_from,
        })
    };
    org.and_then(|o| from(o, PriceOrigin::Org))
        .or_else(|| from(builtin, PriceOrigin::Builtin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use roi_engine::rust_decimal::Decimal;
    use std::str::FromStr;
    use time::macros::{date, datetime};
    use time::{Duration, Time};

    fn price(input: &str, output: &str) -> TokenPrice {
        TokenPrice {
            input: UsdPerMillionTokens::parse(input).unwrap(),
            output: UsdPerMillionTokens::parse(output).unwrap(),
        }
    }

    fn row(model: &str, input: &str, output: &str, from: Date) -> PriceRow {
        PriceRow {
            model_id: model.to_owned(),
            price: price(input, output),
            effective_from: from,
        }
    }

    fn midnight(d: Date) -> OffsetDateTime {
        d.midnight().assume_utc()
    }

    #[test]
    fn embedded_book_parses() {
        let rows = parse_price_csv(BUILTIN_CSV).unwrap();
        assert_eq!(rows.len(), 77);
        let book = PriceBook::from_rows(rows).unwrap();
        assert_eq!(book.len(), 77);
        assert_eq!(book.models().count(), 73);
        assert_eq!(PriceBook::builtin(), &book);
    }

    /// (model, [(input, output, effective_from)]) of the multi-row models, as in the shipped CSV.
    /// (input, output, effective_from) of one row.
    type Dated = (&'static str, &'static str, Date);

    const MULTI: &[(&str, &[Dated])] = &[
        (
            "openai/o3",
            &[
                ("10", "40", date!(2025 - 04 - 16)),
                ("2", "8", date!(2025 - 06 - 10)),
            ],
        ),
        (
            "anthropic/claude-sonnet-5",
            &[
                ("2", "10", date!(2026 - 06 - 30)),
                ("3", "15", date!(2026 - 09 - 01)),
            ],
        ),
        (
            "moonshotai/kimi-k2.5",
            &[
                ("0.6", "3", date!(2026 - 01 - 28)),
                ("0.4", "1.9", date!(2026 - 06 - 15)),
            ],
        ),
        (
            "deepseek/deepseek-r1",
            &[
                ("0.5", "3", date!(2025 - 06 - 22)),
                ("0.45", "2.15", date!(2026 - 06 - 15)),
            ],
        ),
    ];

    #[test]
    fn multi_row_models_in_the_shipped_book() {
        let book = PriceBook::builtin();
        for (model, rows) in MULTI {
            let got: Vec<(TokenPrice, Date)> = book
                .rows_for(model)
                .iter()
                .map(|r| (r.price, r.effective_from))
                .collect();
            let want: Vec<(TokenPrice, Date)> =
                rows.iter().map(|(i, o, d)| (price(i, o), *d)).collect();
            assert_eq!(got, want, "{model}");
        }
    }

    #[test]
    fn lookup_at_and_around_each_effective_from() {
        let book = PriceBook::builtin();
        let plus2 = time::UtcOffset::from_hms(2, 0, 0).unwrap();
        for (model, rows) in MULTI {
            let [(i1, o1, first), (i2, o2, cut)] = rows else {
                panic!("{model}: expected two rows");
            };
            let old = Some(price(i1, o1));
            let new = Some(price(i2, o2));
            let last_moment_before_cut = midnight(*cut) - Duration::nanoseconds(1);
            let cases: &[(&str, OffsetDateTime, Option<TokenPrice>)] = &[
                (
                    "day before first row",
                    midnight(*first) - Duration::days(1),
                    None,
                ),
                (
                    "last moment before first row",
                    midnight(*first) - Duration::nanoseconds(1),
                    None,
                ),
                ("first day 00:00 UTC", midnight(*first), old),
                (
                    "day before the cut",
                    midnight(*cut) - Duration::days(1),
                    old,
                ),
                (
                    "day before the cut 23:59:59.999999999 UTC",
                    last_moment_before_cut,
                    old,
                ),
                // Local date is already the cut day, but the instant is still before it in UTC.
                (
                    "same instant at +02:00",
                    last_moment_before_cut.to_offset(plus2),
                    old,
                ),
                ("cut day 00:00 UTC", midnight(*cut), new),
                (
                    "cut day 00:00 UTC at +02:00",
                    midnight(*cut).to_offset(plus2),
                    new,
                ),
                (
                    "cut day 23:59 UTC",
                    cut.with_time(Time::from_hms(23, 59, 0).unwrap())
                        .assume_utc(),
                    new,
                ),
                ("years later", midnight(*cut) + Duration::days(3650), new),
            ];
            for (what, at, want) in cases {
                let got = book.price_at(model, *at).map(|r| r.price);
                assert_eq!(got, *want, "{model}: {what} ({at})");
            }
            assert_eq!(last_moment_before_cut.to_offset(plus2).date(), *cut);
        }
        assert!(book
            .price_at("openai/o3-nonexistent", datetime!(2026-01-01 0:00 UTC))
            .is_none());
    }

    #[test]
    fn org_price_beats_builtin_when_in_force() {
        let builtin = PriceBook::builtin();
        let org = PriceBook::from_rows(vec![
            row("openai/o3", "1", "4", date!(2025 - 05 - 01)),
            row("anthropic/claude-sonnet-5", "1", "5", date!(2026 - 08 - 01)),
            row("acme/in-house", "0", "0", date!(2025 - 01 - 01)),
        ])
        .unwrap();
        let resolved = |model: &str, at| resolve_price(Some(&org), builtin, model, at);
        type Want = Option<(TokenPrice, PriceOrigin, Date)>;
        let cases: &[(&str, OffsetDateTime, Want)] = &[
            // Org row in force wins, even over a newer built-in row (o3's 2025-06-10 cut).
            (
                "openai/o3",
                datetime!(2025-07-01 0:00 UTC),
                Some((price("1", "4"), PriceOrigin::Org, date!(2025 - 05 - 01))),
            ),
            // Before the org row starts, the built-in row in force applies.
            (
                "openai/o3",
                datetime!(2025-04-30 23:59 UTC),
                Some((
                    price("10", "40"),
                    PriceOrigin::Builtin,
                    date!(2025 - 04 - 16),
                )),
            ),
            (
                "anthropic/claude-sonnet-5",
                datetime!(2026-07-15 12:00 UTC),
                Some((
                    price("2", "10"),
                    PriceOrigin::Builtin,
                    date!(2026 - 06 - 30),
                )),
            ),
            (
                "anthropic/claude-sonnet-5",
                datetime!(2026-09-15 12:00 UTC),
                Some((price("1", "5"), PriceOrigin::Org, date!(2026 - 08 - 01))),
            ),
            (
                "acme/in-house",
                datetime!(2025-03-01 0:00 UTC),
                Some((price("0", "0"), PriceOrigin::Org, date!(2025 - 01 - 01))),
            ),
            ("acme/in-house", datetime!(2024-12-31 0:00 UTC), None),
            (
                "deepseek/deepseek-r1",
                datetime!(2026-07-01 0:00 UTC),
                Some((
                    price("0.45", "2.15"),
                    PriceOrigin::Builtin,
                    date!(2026 - 06 - 15),
                )),
            ),
            ("nobody/unknown", datetime!(2026-07-01 0:00 UTC), None),
        ];
        for (model, at, want) in cases {
            let got = resolved(model, *at).map(|r| (r.price, r.origin, r.effective_from));
            assert_eq!(got, *want, "{model} at {at}");
        }
        assert_eq!(
            resolve_price(None, builtin, "openai/o3", datetime!(2025-07-01 0:00 UTC))
                .map(|r| r.origin),
            Some(PriceOrigin::Builtin)
        );
    }

    #[test]
    fn duplicate_dates_are_rejected() {
        let err = PriceBook::from_rows(vec![
            row("a/b", "1", "2", date!(2025 - 01 - 01)),
            row("a/c", "1", "2", date!(2025 - 01 - 01)),
            row("a/b", "3", "4", date!(2025 - 01 - 01)),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "model 'a/b' has two prices effective from 2025-01-01"
        );
    }

    #[test]
    fn csv_without_source_column_and_exact_values() {
        let rows = parse_price_csv(
            "model_id,input_usd_per_mtok,output_usd_per_mtok,effective_from\n\
             x/y,0.15,0.6,2025-01-01\nx/z,1.5e-1,60,2025-02-01\n",
        )
        .unwrap();
        assert_eq!(
            rows[0].price.input.get(),
            Decimal::from_str("0.15").unwrap()
        );
        assert_eq!(
            rows[1].price.input.get(),
            Decimal::from_str("0.15").unwrap()
        );
        assert_eq!(rows[1].effective_from, date!(2025 - 02 - 01));
    }

    #[test]
    fn malformed_rows_name_their_line() {
        let h = "model_id,input_usd_per_mtok,output_usd_per_mtok,effective_from,source\n";
        let cases: &[(&str, &str)] = &[
            (
                "a/b,1,2,2025-01-01,s\n,1,2,2025-01-01,s\n",
                "line 3: model_id must not be empty or contain whitespace",
            ),
            (
                "a b,1,2,2025-01-01,s\n",
                "line 2: model_id must not be empty or contain whitespace",
            ),
            (
                "a/b,-1,2,2025-01-01,s\n",
                "line 2: input_usd_per_mtok '-1' must be at least 0",
            ),
            (
                "a/b,1,two,2025-01-01,s\n",
                "line 2: output_usd_per_mtok 'two' must be a number",
            ),
            (
                "a/b,1,1000001,2025-01-01,s\n",
                "line 2: output_usd_per_mtok '1000001' must be at most 1000000",
            ),
            (
                "a/b,1,2,2025-13-01,s\n",
                "line 2: effective_from '2025-13-01' must be a date YYYY-MM-DD",
            ),
            (
                "a/b,1,2,01/01/2025,s\n",
                "line 2: effective_from '01/01/2025' must be a date YYYY-MM-DD",
            ),
            ("a/b,1,2\n", "line 2: expected 5 fields, found 3"),
        ];
        for (body, want) in cases {
            let err = parse_price_csv(&format!("{h}{body}")).unwrap_err();
            assert_eq!(err.to_string(), *want, "{body:?}");
        }
        let err = parse_price_csv("model,input,output,date\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 1: header must be `model_id,input_usd_per_mtok,output_usd_per_mtok,effective_from[,source]`, found `model,input,output,date`"
        );
    }

    proptest! {
        /// price_at agrees with a brute-force scan: the newest row not after the UTC date.
        #[test]
        fn lookup_matches_brute_force(
            days in proptest::collection::btree_set(0i64..400, 0..6),
            probe in -10i64..420,
            secs in 0i64..86_400,
            offset_h in -12i8..=14,
        ) {
            let base = date!(2025 - 01 - 01);
            let rows: Vec<PriceRow> = days
                .iter()
                .map(|d| row("m/x", &d.to_string(), "1", base + Duration::days(*d)))
                .collect();
            let book = PriceBook::from_rows(rows.clone()).unwrap();
            let at_utc = midnight(base + Duration::days(probe)) + Duration::seconds(secs);
            let at = at_utc.to_offset(time::UtcOffset::from_hms(offset_h, 0, 0).unwrap());
            let want = rows
                .iter()
                .filter(|r| r.effective_from <= at_utc.date())
                .max_by_key(|r| r.effective_from);
            prop_assert_eq!(book.price_at("m/x", at), want);
        }
    }
}
