//! The price book and FX table in force on this instance: the built-in ones shipped in
//! `fixtures/`, with the rows imported into the database laid over them. Loaded at start-up and
//! reloaded every refresh interval, so the track path looks prices up in memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use catalogue::{Currency, FxRow, FxTable, PriceBook, PriceRow};
use roi_engine::{FxRate, TokenPrice, UsdPerMillionTokens};
use store::{FxDbRow, PriceDbRow, Store};
use time::macros::format_description;
use time::Date;

/// One consistent snapshot of prices and rates.
#[derive(Debug, Default)]
pub struct PricingData {
    /// Built-in rows with the instance-wide imports laid over them.
    pub book: PriceBook,
    /// Each org's own rows.
    pub org_books: HashMap<String, PriceBook>,
    pub fx: FxTable,
}

/// The shared, refreshable snapshot.
#[derive(Debug, Default)]
pub struct Pricing {
    current: RwLock<Arc<PricingData>>,
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<Date> {
    Date::parse(s, format_description!("[year]-[month]-[day]")).ok()
}

fn price_row(r: &PriceDbRow) -> anyhow::Result<PriceRow> {
    let bad = || format!("stored price row {} {}", r.model_id, r.effective_from);
    Ok(PriceRow {
        model_id: r.model_id.clone(),
        price: TokenPrice {
            input: UsdPerMillionTokens::parse(&r.input_usd_per_mtok).with_context(bad)?,
            output: UsdPerMillionTokens::parse(&r.output_usd_per_mtok).with_context(bad)?,
        },
        effective_from: parse_date(&r.effective_from).with_context(bad)?,
    })
}

fn fx_row(r: &FxDbRow) -> anyhow::Result<FxRow> {
    let bad = || format!("stored FX row {} {}", r.currency, r.effective_from);
    Ok(FxRow {
        currency: Currency::parse(&r.currency)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(bad)?,
        usd_to: FxRate::parse(&r.usd_to).with_context(bad)?,
        effective_from: parse_date(&r.effective_from).with_context(bad)?,
    })
}

/// Built-in rows first, stored rows replacing any with the same model and date.
fn overlay(base: &PriceBook, extra: Vec<PriceRow>) -> anyhow::Result<PriceBook> {
    let mut rows: BTreeMap<(String, Date), PriceRow> = base
        .iter()
        .map(|r| ((r.model_id.clone(), r.effective_from), r.clone()))
        .collect();
    for r in extra {
        rows.insert((r.model_id.clone(), r.effective_from), r);
    }
    PriceBook::from_rows(rows.into_values().collect()).map_err(|e| anyhow::anyhow!("{e}"))
}

impl PricingData {
    /// Reads every stored row and builds the snapshot.
    pub fn load(store: &Store) -> anyhow::Result<PricingData> {
        let mut instance = Vec::new();
        let mut per_org: HashMap<String, Vec<PriceRow>> = HashMap::new();
        for r in store.list_prices()? {
            let row = price_row(&r)?;
            if r.org_id.is_empty() {
                instance.push(row);
            } else {
                per_org.entry(r.org_id.clone()).or_default().push(row);
            }
        }
        let book = overlay(PriceBook::builtin(), instance)?;
        let org_books = per_org
            .into_iter()
            .map(|(org, rows)| Ok((org, overlay(&PriceBook::default(), rows)?)))
            .collect::<anyhow::Result<_>>()?;
        let mut fx: BTreeMap<(Currency, Date), FxRow> = FxTable::builtin()
            .iter()
            .map(|r| ((r.currency, r.effective_from), *r))
            .collect();
        for r in store.list_fx()? {
            let row = fx_row(&r)?;
            fx.insert((row.currency, row.effective_from), row);
        }
        let fx =
            FxTable::from_rows(fx.into_values().collect()).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(PricingData {
            book,
            org_books,
            fx,
        })
    }
}

impl Pricing {
    /// A snapshot loaded from the store.
    pub fn load(store: &Store) -> anyhow::Result<Pricing> {
        Ok(Pricing {
            current: RwLock::new(Arc::new(PricingData::load(store)?)),
        })
    }

    /// The snapshot in force.
    pub fn current(&self) -> Arc<PricingData> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reloads from the store; on failure the old snapshot stays.
    pub fn refresh(&self, store: &Store) -> anyhow::Result<()> {
        let fresh = Arc::new(PricingData::load(store)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }
}
