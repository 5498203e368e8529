//! The read side: every figure of the summary, the reports, the agents list and the usage,
//! computed once here from the store's exact sums. The JSON routes, the CSV exports and the
//! dashboard all render these results; none of them sums on its own.

pub mod agents;
pub mod buckets;
pub mod events;
pub mod gate;
pub mod params;
pub mod reports;
