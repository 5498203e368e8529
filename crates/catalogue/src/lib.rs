//! The reference data of HumanHours and the rules for reading it: task-type keys and the
//! built-in task-type catalogue (API.md §5, §8), the model price book with its date-effective
//! lookup and OpenRouter import (§6), and the USD FX table (§6).
//!
//! Architecture invariant: this crate never does I/O. No file system, network, database, clock,
//! randomness or environment: the shipped data is embedded at compile time with `include_str!`
//! from `fixtures/`, imports arrive as `&str` from the caller, and every lookup takes the
//! instant it is about as an argument. A dated row (price or FX rate) is in force from 00:00 UTC
//! of its `effective_from` until the next row for the same model or currency.
//!
//! The core types derive no serde: the server owns the wire format.

mod agent;
mod fx;
mod key;
mod openrouter;
mod prices;
mod sync;
mod table;
mod task_types;
mod text;

pub use agent::{AgentId, AgentIdError, AGENT_ID_MAX_CHARS};
pub use fx::{parse_fx_csv, Currency, CurrencyError, FxError, FxRow, FxTable};
pub use key::{Category, KeyError, TaskTypeKey, MAX_KEY_LEN};
pub use openrouter::{parse_openrouter_models, OpenRouterImport, SkipReason, SkippedModel};
pub use prices::{
    parse_price_csv, resolve_price, PriceBook, PriceError, PriceOrigin, PriceRow, ResolvedPrice,
};
pub use sync::{
    parse_ecb_daily, plan_fx_sync, plan_price_sync, usd_rates, EcbRates, FeedError, FxChange,
    FxSync, PriceChange, PriceSync, SyncRefused, FX_DP,
};
pub use table::CsvError;
pub use task_types::{
    validate_custom_key, BuiltinTaskType, Catalogue, CatalogueError, CustomKeyError,
};
pub use text::forbidden_char;
