//! The period a weekly digest covers and when it is due, in the org's time zone.
//!
//! Week `W` of an org in zone `Z` runs from its Monday 00:00 in `Z` to the next Monday 00:00
//! in `Z` (so across a DST change it is 167 or 169 hours long, and in a zone at +05:45 it
//! starts at 18:15 UTC); its digest is due on that next Monday at 09:00 in `Z`. A local time
//! that a DST change skips resolves to the instant after the gap, one that repeats to its
//! first occurrence (jiff's `compatible` rule), so every instance computes the same instants.

use jiff::civil::{Date, ISOWeekDate, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan as _};

use crate::SEND_HOUR;

/// Why a zone, a week or an instant could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("'{0}' is not an IANA time zone name (such as Europe/Berlin or UTC)")]
    Zone(String),
    #[error("'{0}' is not an ISO week such as 2026-W48")]
    Week(String),
    #[error("the date is outside the calendar: {0}")]
    Calendar(String),
}

fn cal(e: jiff::Error) -> PeriodError {
    PeriodError::Calendar(e.to_string())
}

/// An IANA time zone, with the name it was given by.
#[derive(Debug, Clone)]
pub struct Zone {
    tz: TimeZone,
    name: String,
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Zone {
    /// UTC, the default of every org.
    pub fn utc() -> Zone {
        Zone {
            tz: TimeZone::UTC,
            name: "UTC".to_owned(),
        }
    }

    /// A zone by its IANA name (`Europe/Berlin`, `Asia/Kathmandu`, `UTC`).
    pub fn parse(name: &str) -> Result<Zone, PeriodError> {
        // jiff also reads POSIX TZ strings and fixed offsets; the contract says IANA names.
        let iana = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'))
            && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
        if !iana {
            return Err(PeriodError::Zone(name.chars().take(80).collect()));
        }
        let tz = TimeZone::get(name).map_err(|_| PeriodError::Zone(name.to_owned()))?;
        // The database's own spelling (the lookup ignores case: `europe/berlin`).
        let name = tz.iana_name().unwrap_or(name).to_owned();
        Ok(Zone { tz, name })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    /// Local `hour`:00 of `d`, in Unix ms.
    fn at(&self, d: Date, hour: i8) -> Result<i64, PeriodError> {
        Ok(d.at(hour, 0, 0, 0)
            .to_zoned_datetime(self.tz.clone())
            .map_err(cal)?
            .timestamp()
            .as_millisecond())
    }

    /// The local date of an instant.
    pub fn date(&self, ms: i64) -> Result<Date, PeriodError> {
        let ts = Timestamp::from_millisecond(ms).map_err(cal)?;
        Ok(self.tz.to_datetime(ts).date())
    }
}

/// An ISO 8601 week (`2026-W48`: Monday 23 to Sunday 29 November 2026).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IsoWeek {
    year: i16,
    week: i8,
}

impl IsoWeek {
    /// Parses `YYYY-Www` (`2026-W48`; `2026-w48` too).
    pub fn parse(s: &str) -> Result<IsoWeek, PeriodError> {
        let bad = || PeriodError::Week(s.chars().take(40).collect());
        let (y, w) = s.split_once(['W', 'w']).ok_or_else(bad)?;
        let y = y.strip_suffix('-').ok_or_else(bad)?;
        if y.len() != 4 || w.len() != 2 || !(y.chars().chain(w.chars())).all(|c| c.is_ascii_digit())
        {
            return Err(bad());
        }
        let year: i16 = y.parse().map_err(|_| bad())?;
        let week: i8 = w.parse().map_err(|_| bad())?;
        ISOWeekDate::new(year, week, Weekday::Monday).map_err(|_| bad())?;
        Ok(IsoWeek { year, week })
    }

    /// The week holding a date.
    pub fn of(d: Date) -> IsoWeek {
        let iso = d.iso_week_date();
        IsoWeek {
            year: iso.year(),
            week: iso.week(),
        }
    }

    /// Its Monday.
    pub fn monday(self) -> Date {
        // Valid by construction: `parse` and `of` only make existing weeks.
        ISOWeekDate::new(self.year, self.week, Weekday::Monday)
            .map(|w| w.date())
            .unwrap_or(Date::MIN)
    }

    /// The week before.
    pub fn previous(self) -> Result<IsoWeek, PeriodError> {
        Ok(IsoWeek::of(
            self.monday().checked_sub(7.days()).map_err(cal)?,
        ))
    }

    /// `2026-W48`.
    pub fn label(self) -> String {
        format!("{:04}-W{:02}", self.year, self.week)
    }
}

impl std::fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

/// A weekly digest's period in a zone: `[from_ms, to_ms)` and when it is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekPeriod {
    pub week: IsoWeek,
    /// Its Monday, 00:00 local.
    pub from_ms: i64,
    /// The next Monday, 00:00 local (exclusive).
    pub to_ms: i64,
    /// The next Monday, 09:00 local.
    pub send_at_ms: i64,
}

/// Whether a due period's digest is sent at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Before its time.
    NotYet,
    /// At or after its time, within the catch-up window: send it (once).
    Now,
    /// More than the catch-up window late: the next week's digest is the one to send.
    TooLate,
}

impl WeekPeriod {
    /// Whether this period's digest is sent at `now_ms`, at most `catch_up_ms` late.
    pub fn due(&self, now_ms: i64, catch_up_ms: i64) -> Due {
        if now_ms < self.send_at_ms {
            Due::NotYet
        } else if now_ms - self.send_at_ms <= catch_up_ms {
            Due::Now
        } else {
            Due::TooLate
        }
    }

    /// The period of the same length before this one (for the change figures): the week
    /// before, in the same zone.
    pub fn previous(&self, zone: &Zone) -> Result<WeekPeriod, PeriodError> {
        week_period(self.week.previous()?, zone)
    }
}

/// Week `week` in `zone`.
pub fn week_period(week: IsoWeek, zone: &Zone) -> Result<WeekPeriod, PeriodError> {
    let monday = week.monday();
    let next = monday.checked_add(7.days()).map_err(cal)?;
    Ok(WeekPeriod {
        week,
        from_ms: zone.at(monday, 0)?,
        to_ms: zone.at(next, 0)?,
        send_at_ms: zone.at(next, SEND_HOUR)?,
    })
}

/// The latest week whose digest time is at or before `now_ms` in `zone` (it may be too late
/// to send: see [`WeekPeriod::due`]).
pub fn latest_due(now_ms: i64, zone: &Zone) -> Result<WeekPeriod, PeriodError> {
    let today = zone.date(now_ms)?;
    let this_week = IsoWeek::of(today);
    let last = week_period(this_week.previous()?, zone)?;
    if last.send_at_ms <= now_ms {
        Ok(last)
    } else {
        week_period(last.week.previous()?, zone)
    }
}

/// The week a local date falls in, for `digest preview` without `--week`: the last complete
/// week before `now_ms` in `zone` (whether or not its digest time has come).
pub fn last_complete_week(now_ms: i64, zone: &Zone) -> Result<IsoWeek, PeriodError> {
    IsoWeek::of(zone.date(now_ms)?).previous()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn weeks_parse_and_print() {
        let w = IsoWeek::parse("2026-W48").unwrap();
        assert_eq!(w.label(), "2026-W48");
        assert_eq!(w.monday().to_string(), "2026-11-23");
        assert_eq!(IsoWeek::parse("2026-w01").unwrap().label(), "2026-W01");
        // 2026 has 53 ISO weeks; 2025 has 52.
        assert!(IsoWeek::parse("2026-W53").is_ok());
        for bad in [
            "2025-W53",
            "2026-W00",
            "2026-W54",
            "2026W48",
            "26-W48",
            "2026-W4",
            "2026-48",
            "",
            "2026-W4８",
            "x026-W48",
        ] {
            assert!(IsoWeek::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            IsoWeek::parse("2026-W01")
                .unwrap()
                .previous()
                .unwrap()
                .label(),
            "2025-W52"
        );
    }

    #[test]
    fn zones_are_iana_names() {
        assert_eq!(
            Zone::parse("Asia/Kathmandu").unwrap().name(),
            "Asia/Kathmandu"
        );
        assert!(Zone::parse("UTC").is_ok());
        assert_eq!(
            Zone::parse("europe/berlin").unwrap().name(),
            "Europe/Berlin"
        );
        for bad in [
            "",
            "Mars/Olympus",
            "+05:45",
            "EST5EDT,M3.2.0,M11.1.0",
            "../etc/passwd",
        ] {
            assert!(Zone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_week_in_utc_berlin_and_kathmandu() {
        let w = IsoWeek::parse("2026-W48").unwrap();
        let utc = week_period(w, &Zone::utc()).unwrap();
        assert_eq!(utc.from_ms, ms("2026-11-23T00:00:00Z"));
        assert_eq!(utc.to_ms, ms("2026-11-30T00:00:00Z"));
        assert_eq!(utc.send_at_ms, ms("2026-11-30T09:00:00Z"));
        let ktm = week_period(w, &Zone::parse("Asia/Kathmandu").unwrap()).unwrap();
        assert_eq!(ktm.from_ms, ms("2026-11-22T18:15:00Z"));
        assert_eq!(ktm.send_at_ms, ms("2026-11-30T03:15:00Z"));
        // The week of the autumn change in Berlin is 169 hours long.
        let berlin = Zone::parse("Europe/Berlin").unwrap();
        let dst = week_period(IsoWeek::parse("2026-W43").unwrap(), &berlin).unwrap();
        assert_eq!(dst.to_ms - dst.from_ms, 169 * 3_600_000);
    }

    #[test]
    fn due_at_nine_on_monday_and_up_to_six_days_late() {
        let utc = Zone::utc();
        let nine = ms("2026-11-30T09:00:00Z");
        let p = latest_due(nine, &utc).unwrap();
        assert_eq!(p.week.label(), "2026-W48");
        assert_eq!(p.due(nine, crate::CATCH_UP_MS), Due::Now);
        assert_eq!(latest_due(nine - 1, &utc).unwrap().week.label(), "2026-W47");
        let late = nine + crate::CATCH_UP_MS;
        assert_eq!(p.due(late, crate::CATCH_UP_MS), Due::Now);
        assert_eq!(p.due(late + 1, crate::CATCH_UP_MS), Due::TooLate);
        assert_eq!(p.due(nine - 1, crate::CATCH_UP_MS), Due::NotYet);
        // Tokyo's Monday 09:00 is 00:00 UTC: due there nine hours before UTC's.
        let tokyo = Zone::parse("Asia/Tokyo").unwrap();
        let t = latest_due(ms("2026-11-30T00:00:00Z"), &tokyo).unwrap();
        assert_eq!(t.week.label(), "2026-W48");
        assert_eq!(t.send_at_ms, ms("2026-11-30T00:00:00Z"));
    }

    const ZONES: [&str; 6] = [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Asia/Kathmandu",
        "Australia/Lord_Howe",
        "Pacific/Chatham",
    ];

    proptest! {
        #[test]
        fn the_latest_due_week_is_the_one_before_the_next(
            now in 0_i64..4_102_444_800_000,
            z in 0_usize..ZONES.len(),
        ) {
            let zone = Zone::parse(ZONES[z]).unwrap();
            let p = latest_due(now, &zone).unwrap();
            // Due at or before now, and the next week not yet due.
            prop_assert!(p.send_at_ms <= now);
            let next = week_period(IsoWeek::of(p.week.monday().checked_add(7.days()).unwrap()), &zone).unwrap();
            prop_assert!(next.send_at_ms > now);
            prop_assert_eq!(next.from_ms, p.to_ms);
            // A week is 7 local days: 167 to 169 hours (Lord Howe moves by 30 minutes).
            let h = p.to_ms - p.from_ms;
            prop_assert!((167 * 3_600_000..=169 * 3_600_000).contains(&h));
            // Its bounds are local midnights of Mondays.
            let start = Timestamp::from_millisecond(p.from_ms).unwrap().to_zoned_datetime(zone.tz().clone());
            prop_assert_eq!(start.weekday(), Weekday::Monday);
            // Every instant is due for exactly one of (not yet, now, too late).
            let d = p.due(now, crate::CATCH_UP_MS);
            prop_assert_eq!(d == Due::Now, now - p.send_at_ms <= crate::CATCH_UP_MS);
            prop_assert!(d != Due::NotYet);
        }
    }
}
