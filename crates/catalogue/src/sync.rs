//! Keeping the instance-wide price book and FX table current from public feeds (API.md §6):
//! what a fetched listing changes, read against the book in force, and when a listing is
//! refused as a whole. A sync only ever adds rows dated the day it ran; history is never
//! rewritten, and an unchanged price adds nothing.

use roi_engine::rust_decimal::{Decimal, RoundingStrategy};
use roi_engine::{FxRate, TokenPrice};
use time::Date;

use crate::fx::{Currency, FxRow, FxTable};
use crate::prices::{PriceBook, PriceRow};

/// Why a fetched listing or feed is not used at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncRefused {
    #[error("the listing holds no usable entry")]
    Empty,
    /// Fewer than half the models the book knows are listed: a truncated or hostile answer
    /// would otherwise leave most models as they are while looking like a success, or worse.
    #[error("the listing names {listed} of the {known} models the price book knows (fewer than half): truncated or not the listing, so none of it is used")]
    TooFewModels { listed: usize, known: usize },
    #[error("the feed has no USD rate, so no rate against the dollar can be derived")]
    NoUsd,
    #[error("the feed names {listed} of the {known} currencies the FX table knows (fewer than half): truncated or not the feed, so none of it is used")]
    TooFewCurrencies { listed: usize, known: usize },
}

/// One model whose price the sync records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceChange {
    pub model_id: String,
    /// The price in force before; `None` for a model the book did not know.
    pub before: Option<TokenPrice>,
    pub after: TokenPrice,
}

/// What a price listing changes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PriceSync {
    /// The rows to add, effective from the sync's day.
    pub rows: Vec<PriceRow>,
    pub changes: Vec<PriceChange>,
    /// Listed models whose price in force is the listed one.
    pub unchanged: usize,
}

/// Reads a listing (rows as `parse_openrouter_models` made them) against the book in force on
/// `day`: a row for every model whose price differs or that the book lacks, dated `day`.
///
/// ```
/// use catalogue::{plan_price_sync, PriceBook, PriceRow};
/// use roi_engine::{TokenPrice, UsdPerMillionTokens};
/// use time::macros::date;
///
/// let p = |i: &str, o: &str| TokenPrice {
///     input: UsdPerMillionTokens::parse(i).unwrap(),
///     output: UsdPerMillionTokens::parse(o).unwrap(),
/// };
/// let row = |m: &str, price, d| PriceRow { model_id: m.into(), price, effective_from: d };
/// let book = PriceBook::from_rows(vec![
///     row("a/one", p("1", "2"), date!(2026 - 01 - 01)),
///     row("a/two", p("3", "4"), date!(2026 - 01 - 01)),
/// ])
/// .unwrap();
/// let day = date!(2026 - 12 - 02);
/// let listing = vec![row("a/one", p("1", "2"), day), row("a/two", p("3", "5"), day)];
/// let sync = plan_price_sync(&book, &listing, day).unwrap();
/// assert_eq!(sync.unchanged, 1);
/// assert_eq!(sync.rows, vec![row("a/two", p("3", "5"), day)]);
/// // A listing naming under half the known models is refused whole.
/// assert!(plan_price_sync(&book, &listing[..0], day).is_err());
/// ```
pub fn plan_price_sync(
    book: &PriceBook,
    listing: &[PriceRow],
    day: Date,
) -> Result<PriceSync, SyncRefused> {
    if listing.is_empty() {
        return Err(SyncRefused::Empty);
    }
    let known = book.models().count();
    let listed = listing
        .iter()
        .filter(|r| book.price_on(&r.model_id, day).is_some())
        .count();
    if listed * 2 < known {
        return Err(SyncRefused::TooFewModels { listed, known });
    }
    let mut sync = PriceSync::default();
    for r in listing {
        let before = book.price_on(&r.model_id, day).map(|b| b.price);
        if before == Some(r.price) {
            sync.unchanged += 1;
            continue;
        }
        sync.changes.push(PriceChange {
            model_id: r.model_id.clone(),
            before,
            after: r.price,
        });
        sync.rows.push(PriceRow {
            effective_from: day,
            ..r.clone()
        });
    }
    Ok(sync)
}

/// Why a reference-rate feed could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    #[error("not XML: {0}")]
    Xml(String),
    #[error("no reference-rate date (Cube time=\"YYYY-MM-DD\") in the feed")]
    NoDate,
    #[error("currency {currency}: rate '{value}' is not a positive number")]
    Rate { currency: String, value: String },
}

/// The ECB's daily euro reference rates (`eurofxref-daily.xml`): units of each currency for
/// one euro, on the feed's date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcbRates {
    pub date: Date,
    pub eur_to: Vec<(String, Decimal)>,
}

/// Parses the ECB's daily feed: `<Cube time="2026-12-01"><Cube currency="USD" rate="1.05"/>…`.
/// Currencies this server does not know by code are kept out later, not refused here.
pub fn parse_ecb_daily(xml: &str) -> Result<EcbRates, FeedError> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| FeedError::Xml(e.to_string()))?;
    let day = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "Cube")
        .find_map(|n| n.attribute("time"))
        .and_then(crate::table::parse_date)
        .ok_or(FeedError::NoDate)?;
    let mut eur_to = Vec::new();
    for n in doc.descendants().filter(|n| n.tag_name().name() == "Cube") {
        let (Some(c), Some(v)) = (n.attribute("currency"), n.attribute("rate")) else {
            continue;
        };
        let bad = || FeedError::Rate {
            currency: c.chars().take(8).collect(),
            value: v.chars().take(32).collect(),
        };
        let rate = roi_engine::parse_decimal(v).map_err(|_| bad())?;
        if rate <= Decimal::ZERO {
            return Err(bad());
        }
        eur_to.push((c.to_owned(), rate));
    }
    Ok(EcbRates { date: day, eur_to })
}

/// Decimal places a derived rate keeps (half away from zero): a rate of 157.0123 yen per
/// dollar moves a cost of a dollar by well under a cent.
pub const FX_DP: u32 = 6;

/// Units of each currency for one US dollar, derived from the euro rates: EUR is 1 / the
/// USD rate, any other currency its euro rate / the USD rate. Codes that are not ISO 4217
/// shaped, and rates out of range, are left out.
pub fn usd_rates(ecb: &EcbRates) -> Result<Vec<(Currency, FxRate)>, SyncRefused> {
    let usd = ecb
        .eur_to
        .iter()
        .find(|(c, _)| c == "USD")
        .map(|(_, r)| *r)
        .ok_or(SyncRefused::NoUsd)?;
    let derive = |per_eur: Decimal| {
        per_eur
            .checked_div(usd)
            .map(|r| r.round_dp_with_strategy(FX_DP, RoundingStrategy::MidpointAwayFromZero))
            .and_then(|r| FxRate::parse(&r.normalize().to_string()).ok())
    };
    let mut out = Vec::new();
    if let (Ok(eur), Some(r)) = (Currency::parse("EUR"), derive(Decimal::ONE)) {
        out.push((eur, r));
    }
    for (code, per_eur) in &ecb.eur_to {
        let Ok(c) = Currency::parse(code) else {
            continue;
        };
        if c == Currency::USD || c.as_str() == "EUR" {
            continue;
        }
        if let Some(r) = derive(*per_eur) {
            out.push((c, r));
        }
    }
    Ok(out)
}

/// One currency whose rate the sync records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FxChange {
    pub currency: Currency,
    pub before: Option<FxRate>,
    pub after: FxRate,
}

/// What a rate feed changes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FxSync {
    pub rows: Vec<FxRow>,
    pub changes: Vec<FxChange>,
    pub unchanged: usize,
}

/// Reads derived USD rates against the table in force on `day`, like [`plan_price_sync`].
pub fn plan_fx_sync(
    table: &FxTable,
    rates: &[(Currency, FxRate)],
    day: Date,
) -> Result<FxSync, SyncRefused> {
    if rates.is_empty() {
        return Err(SyncRefused::Empty);
    }
    let at = day.midnight().assume_utc();
    let known = table.currencies().count();
    let listed = rates
        .iter()
        .filter(|(c, _)| table.row_at(c, at).is_some())
        .count();
    if listed * 2 < known {
        return Err(SyncRefused::TooFewCurrencies { listed, known });
    }
    let mut sync = FxSync::default();
    for (c, r) in rates {
        let before = table.row_at(c, at).map(|row| row.usd_to);
        if before == Some(*r) {
            sync.unchanged += 1;
            continue;
        }
        sync.changes.push(FxChange {
            currency: *c,
            before,
            after: *r,
        });
        sync.rows.push(FxRow {
            currency: *c,
            usd_to: *r,
            effective_from: day,
        });
    }
    Ok(sync)
}

#[cfg(test)]
mod tests {
    use super::*;
    use roi_engine::UsdPerMillionTokens;
    use time::macros::date;

    const ECB: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
  <gesmes:subject>Reference rates</gesmes:subject>
  <Cube>
    <Cube time="2026-12-01">
      <Cube currency="USD" rate="1.0500"/>
      <Cube currency="JPY" rate="164.85"/>
      <Cube currency="GBP" rate="0.83100"/>
      <Cube currency="XX1" rate="3"/>
    </Cube>
  </Cube>
</gesmes:Envelope>"#;

    #[test]
    fn the_ecb_feed_becomes_rates_per_dollar() {
        let ecb = parse_ecb_daily(ECB).unwrap();
        assert_eq!(ecb.date, date!(2026 - 12 - 01));
        let rates = usd_rates(&ecb).unwrap();
        let get = |c: &str| {
            rates
                .iter()
                .find(|(x, _)| x.as_str() == c)
                .map(|(_, r)| r.to_string())
        };
        // 1 / 1.05 = 0.952380952… → 0.952381; 164.85 / 1.05 = 157; 0.831 / 1.05 = 0.791428571…
        assert_eq!(get("EUR").as_deref(), Some("0.952381"));
        assert_eq!(get("JPY").as_deref(), Some("157"));
        assert_eq!(get("GBP").as_deref(), Some("0.791429"));
        assert_eq!(get("XX1"), None, "not a currency code");
        assert_eq!(get("USD"), None, "USD is always 1");
        for bad in ["", "<Cube>", "garbage", "<a><b></a>"] {
            assert!(parse_ecb_daily(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_ecb_daily("<Cube><Cube currency=\"USD\" rate=\"1\"/></Cube>"),
            Err(FeedError::NoDate)
        );
        assert!(matches!(
            parse_ecb_daily(r#"<Cube time="2026-12-01"><Cube currency="USD" rate="-1"/></Cube>"#),
            Err(FeedError::Rate { .. })
        ));
        let no_usd =
            parse_ecb_daily(r#"<Cube time="2026-12-01"><Cube currency="JPY" rate="160"/></Cube>"#)
                .unwrap();
        assert_eq!(usd_rates(&no_usd), Err(SyncRefused::NoUsd));
    }

    #[test]
    fn the_builtin_tables_sync_against_themselves_as_unchanged() {
        let book = PriceBook::builtin();
        let day = date!(2026 - 12 - 02);
        let listing: Vec<PriceRow> = book
            .models()
            .filter_map(|m| book.price_on(m, day).cloned())
            .map(|r| PriceRow {
                effective_from: day,
                ..r
            })
            .collect();
        let sync = plan_price_sync(book, &listing, day).unwrap();
        assert!(sync.rows.is_empty());
        assert_eq!(sync.unchanged, listing.len());
        // Half the models is still a listing; fewer is refused.
        let half = listing.len().div_ceil(2);
        assert!(plan_price_sync(book, &listing[..half], day).is_ok());
        assert!(matches!(
            plan_price_sync(book, &listing[..half - 1], day),
            Err(SyncRefused::TooFewModels { .. })
        ));
        // A new model on its own is not a listing either.
        let new = PriceRow {
            model_id: "new/model".into(),
            price: TokenPrice {
                input: UsdPerMillionTokens::parse("1").unwrap(),
                output: UsdPerMillionTokens::parse("2").unwrap(),
            },
            effective_from: day,
        };
        assert!(plan_price_sync(book, std::slice::from_ref(&new), day).is_err());
        let mut with_new = listing.clone();
        with_new.push(new.clone());
        let sync = plan_price_sync(book, &with_new, day).unwrap();
        assert_eq!(sync.rows, vec![new]);
        assert_eq!(sync.changes[0].before, None);

        let table = FxTable::builtin();
        let rates: Vec<(Currency, FxRate)> = table
            .currencies()
            .filter_map(|c| {
                table
                    .rate_at(&c, day.midnight().assume_utc())
                    .map(|r| (c, r))
            })
            .collect();
        let fx = plan_fx_sync(table, &rates, day).unwrap();
        assert!(fx.rows.is_empty());
        assert!(matches!(
            plan_fx_sync(table, &rates[..2], day),
            Err(SyncRefused::TooFewCurrencies { .. })
        ));
    }
}
