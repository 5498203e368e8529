//! The server's one reading of the system clock and its one source of ids. The domain crates
//! take both as arguments; this is where the arguments come from.

use time::OffsetDateTime;

/// Now, in UTC, truncated to milliseconds (what the store keeps and the API prints).
#[expect(
    clippy::disallowed_methods,
    reason = "the server's single clock reading"
)]
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_millisecond(t.millisecond()).unwrap_or(t)
}

/// A monotonic instant for cache expiry and latency.
#[expect(
    clippy::disallowed_methods,
    reason = "the server's single monotonic clock reading"
)]
pub fn instant() -> std::time::Instant {
    std::time::Instant::now()
}

/// A new ULID for an id made at `now`.
pub fn ulid(now: OffsetDateTime) -> ulid::Ulid {
    let ms = u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    ulid::Ulid::from_parts(ms, rand::random::<u128>())
}

/// Random bits for ids a lower layer derives (webhook messages and deliveries of a write).
pub fn seed() -> u128 {
    rand::random::<u128>()
}

/// Random bits (webhook retry jitter, secrets).
pub fn random_u64() -> u64 {
    rand::random::<u64>()
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The inverse of [`unix_ms`].
pub fn from_unix_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `2026-11-29T15:04:05.123Z`.
pub fn format_ms(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// [`format_ms`] of a stored Unix-ms time.
pub fn format_unix_ms(ms: i64) -> String {
    format_ms(from_unix_ms(ms))
}

/// The calendar month (UTC) of `t`, `YYYY-MM`.
pub fn month(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{:04}-{:02}", t.year(), u8::from(t.month()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_utc_with_millis() {
        assert_eq!(
            format_ms(datetime!(2026-03-01 01:02:03.004 +02:00)),
            "2026-02-28T23:02:03.004Z"
        );
        assert_eq!(month(datetime!(2026-03-01 01:00 +02:00)), "2026-02");
        let t = datetime!(2026-11-29 15:04:05.123 UTC);
        assert_eq!(from_unix_ms(unix_ms(t)), t);
    }
}
