//! Calendar buckets (day, ISO week, month) in an IANA time zone, as UTC instants.
//!
//! A bucket starts at local midnight of its first day, so across a DST change a day is 23 or
//! 25 hours long, and in a zone with a :30 or :45 offset it starts at :30 or :45 UTC. The store
//! takes the cuts as plain Unix milliseconds; this module owns the calendar. The zone database
//! is jiff's bundled copy, so every machine buckets alike whatever its /usr/share/zoneinfo.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan as _};

/// A calendar unit of a time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Day,
    /// ISO week: Monday to Sunday.
    Week,
    Month,
}

impl Unit {
    /// The `group_by` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Day => "day",
            Unit::Week => "week",
            Unit::Month => "month",
        }
    }

    /// The first day of the bucket holding `d`.
    fn start(self, d: Date) -> Result<Date, jiff::Error> {
        match self {
            Unit::Day => Ok(d),
            Unit::Week => d.checked_sub(i64::from(d.weekday().to_monday_zero_offset()).days()),
            Unit::Month => Ok(d.first_of_month()),
        }
    }

    fn next(self, d: Date) -> Result<Date, jiff::Error> {
        match self {
            Unit::Day => d.tomorrow(),
            Unit::Week => d.checked_add(7.days()),
            Unit::Month => d.checked_add(1.month()),
        }
    }

    /// The label of the bucket that starts on `d`: `2026-10-25` for a day, the Monday
    /// `2026-10-19` for a week, `2026-10` for a month.
    fn label(self, d: Date) -> String {
        match self {
            Unit::Day | Unit::Week => d.to_string(),
            Unit::Month => format!("{:04}-{:02}", d.year(), d.month()),
        }
    }
}

/// Time buckets covering a range: `cuts[i]..cuts[i+1]` is the bucket labelled `labels[i]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buckets {
    pub cuts: Vec<i64>,
    pub labels: Vec<String>,
}

/// Why buckets could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BucketError {
    #[error("the range needs more than {0} buckets")]
    TooMany(usize),
    #[error("the range is outside the calendar: {0}")]
    Calendar(String),
}

/// Local midnight of `d` in `tz`, in Unix ms (the first instant of the day when midnight
/// itself is skipped by a DST change).
fn midnight_ms(d: Date, tz: &TimeZone) -> Result<i64, jiff::Error> {
    Ok(d.to_zoned_datetime(tz.clone())?
        .timestamp()
        .as_millisecond())
}

/// The local date of an instant.
pub fn local_date(ms: i64, tz: &TimeZone) -> Result<Date, BucketError> {
    let ts = Timestamp::from_millisecond(ms).map_err(|e| BucketError::Calendar(e.to_string()))?;
    Ok(tz.to_datetime(ts).date())
}

/// Local midnight of January 1st of the year holding `ms`.
pub fn start_of_year(ms: i64, tz: &TimeZone) -> Result<i64, BucketError> {
    let d = local_date(ms, tz)?;
    let jan1 = Date::new(d.year(), 1, 1).map_err(|e| BucketError::Calendar(e.to_string()))?;
    midnight_ms(jan1, tz).map_err(|e| BucketError::Calendar(e.to_string()))
}

/// The buckets of `unit` that cover `[from_ms, to_ms)`, at most `max` of them.
pub fn buckets(
    unit: Unit,
    tz: &TimeZone,
    from_ms: i64,
    to_ms: i64,
    max: usize,
) -> Result<Buckets, BucketError> {
    let cal = |e: jiff::Error| BucketError::Calendar(e.to_string());
    let mut day = unit.start(local_date(from_ms, tz)?).map_err(cal)?;
    let mut cuts = vec![midnight_ms(day, tz).map_err(cal)?];
    let mut labels = Vec::new();
    loop {
        labels.push(unit.label(day));
        day = unit.next(day).map_err(cal)?;
        let cut = midnight_ms(day, tz).map_err(cal)?;
        cuts.push(cut);
        if cut >= to_ms {
            break;
        }
        if labels.len() >= max {
            return Err(BucketError::TooMany(max));
        }
    }
    Ok(Buckets { cuts, labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn berlin_days_across_the_autumn_dst_change() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let b = buckets(
            Unit::Day,
            &tz,
            ms("2026-10-24T12:00:00Z"),
            ms("2026-10-26T12:00:00Z"),
            100,
        )
        .unwrap();
        assert_eq!(b.labels, ["2026-10-24", "2026-10-25", "2026-10-26"]);
        assert_eq!(
            b.cuts,
            [
                ms("2026-10-23T22:00:00Z"),
                ms("2026-10-24T22:00:00Z"),
                // 25 hours later: clocks went back at 03:00 CEST.
                ms("2026-10-25T23:00:00Z"),
                ms("2026-10-26T23:00:00Z"),
            ]
        );
    }

    #[test]
    fn weeks_months_and_half_hour_zones() {
        let utc = TimeZone::UTC;
        let w = buckets(
            Unit::Week,
            &utc,
            ms("2026-10-25T00:00:00Z"),
            ms("2026-10-27T00:00:00Z"),
            10,
        )
        .unwrap();
        assert_eq!(w.labels, ["2026-10-19", "2026-10-26"]);
        let m = buckets(
            Unit::Month,
            &utc,
            ms("2026-01-31T00:00:00Z"),
            ms("2026-03-01T00:00:00Z"),
            10,
        )
        .unwrap();
        assert_eq!(m.labels, ["2026-01", "2026-02"]);
        assert_eq!(m.cuts.last(), Some(&ms("2026-03-01T00:00:00Z")));
        let kolkata = TimeZone::get("Asia/Kolkata").unwrap();
        let d = buckets(
            Unit::Day,
            &kolkata,
            ms("2026-11-01T00:00:00Z"),
            ms("2026-11-01T20:00:00Z"),
            10,
        )
        .unwrap();
        assert_eq!(d.cuts[1], ms("2026-11-01T18:30:00Z"));
        assert_eq!(
            buckets(Unit::Day, &utc, 0, 86_400_000 * 10, 5),
            Err(BucketError::TooMany(5))
        );
        assert_eq!(
            start_of_year(ms("2026-11-29T15:00:00Z"), &kolkata).unwrap(),
            ms("2025-12-31T18:30:00Z")
        );
    }
}
