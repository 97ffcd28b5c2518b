//! HAProxy's log dates, in local time from a UTC offset the driver passes
//! in (core has no time-zone database).

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A broken-down time, shifted by a UTC offset.
pub(super) struct Civil {
    year: i64,
    /// 1 to 12.
    month: usize,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    micros: u32,
    /// Seconds east of UTC this time is shifted by.
    offset: i32,
}

impl Civil {
    /// `t` (clamped to 1970) seen `offset` seconds east of UTC.
    pub(super) fn new(t: SystemTime, offset: i32) -> Civil {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX / 2) + i64::from(offset);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        // Howard Hinnant's days-to-civil algorithm.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as usize;
        Civil {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: rem / 3600,
            minute: rem % 3600 / 60,
            second: rem % 60,
            micros: since.subsec_micros(),
            offset,
        }
    }

    fn month_name(&self) -> &'static str {
        MONTHS[(self.month - 1) % 12]
    }

    /// `%t`: `04/Dec/2026:23:16:27.829`.
    pub(super) fn write_accept_date(&self, out: &mut String) {
        self.write_day_time(out);
        let _ = write!(out, ".{:03}", self.micros / 1000);
    }

    /// `show sess`'s accept date: `05/Dec/2026:03:00:47.581283`.
    pub(super) fn write_micros_date(&self, out: &mut String) {
        self.write_day_time(out);
        let _ = write!(out, ".{:06}", self.micros);
    }

    /// `%T` (with a zero offset) and `%Tl`: `04/Dec/2026:23:16:27 +0530`.
    pub(super) fn write_zoned_date(&self, out: &mut String) {
        self.write_day_time(out);
        out.push(' ');
        self.write_offset(out, false);
    }

    fn write_day_time(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:02}/{}/{:04}:{:02}:{:02}:{:02}",
            self.day,
            self.month_name(),
            self.year,
            self.hour,
            self.minute,
            self.second
        );
    }

    /// The RFC 3164 timestamp: `Dec  4 23:16:27` (day padded with a space).
    pub(super) fn write_legacy(&self, out: &mut String) {
        let _ = write!(
            out,
            "{} {:>2} {:02}:{:02}:{:02}",
            self.month_name(),
            self.day,
            self.hour,
            self.minute,
            self.second
        );
    }

    /// The ISO 8601 timestamp of RFC 5424 headers, to the microsecond:
    /// `2026-12-04T23:16:27.830678+05:30`.
    pub(super) fn write_iso(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.micros
        );
        self.write_offset(out, true);
    }

    /// `+0530`, or `+05:30` with `colon`.
    fn write_offset(&self, out: &mut String, colon: bool) {
        let sign = if self.offset < 0 { '-' } else { '+' };
        let minutes = self.offset.unsigned_abs() % 86_400 / 60;
        let colon = if colon { ":" } else { "" };
        let _ = write!(out, "{sign}{:02}{colon}{:02}", minutes / 60, minutes % 60);
    }

    /// Seconds since 1970, in UTC whatever the offset (`%Ts`).
    pub(super) fn unix_seconds(t: SystemTime) -> u64 {
        t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }

    /// The milliseconds of the second (`%ms`).
    pub(super) fn millis(&self) -> u32 {
        self.micros / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, micros: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(secs * 1_000_000 + micros)
    }

    fn text(f: impl FnOnce(&mut String)) -> String {
        let mut s = String::new();
        f(&mut s);
        s
    }

    #[test]
    fn accept_dates_are_haproxy_style() {
        // 2009-02-06 12:12:51.443 UTC
        let c = Civil::new(at(1_233_922_371, 443_000), 0);
        assert_eq!(text(|s| c.write_accept_date(s)), "06/Feb/2009:12:12:51.443");
        let c = Civil::new(at(0, 7_000), 0);
        assert_eq!(text(|s| c.write_accept_date(s)), "01/Jan/1970:00:00:00.007");
        // 2024-02-29, a leap day
        let c = Civil::new(at(1_709_210_096, 0), 0);
        assert_eq!(text(|s| c.write_accept_date(s)), "29/Feb/2024:12:34:56.000");
    }

    #[test]
    fn local_time_shifts_by_the_offset_across_days() {
        // 2026-12-04 17:46:27 UTC, as HAProxy 2.6 logged it with TZ=Asia/Kolkata.
        let t = at(1_796_406_387, 829_000);
        let c = Civil::new(t, 19_800);
        assert_eq!(text(|s| c.write_accept_date(s)), "04/Dec/2026:23:16:27.829");
        assert_eq!(
            text(|s| c.write_zoned_date(s)),
            "04/Dec/2026:23:16:27 +0530"
        );
        assert_eq!(text(|s| c.write_legacy(s)), "Dec  4 23:16:27");
        assert_eq!(text(|s| c.write_iso(s)), "2026-12-04T23:16:27.829000+05:30");
        let gmt = Civil::new(t, 0);
        assert_eq!(
            text(|s| gmt.write_zoned_date(s)),
            "04/Dec/2026:17:46:27 +0000"
        );
        // West of UTC, before midnight UTC: the previous day.
        let c = Civil::new(at(1_796_346_000, 0), -12_600);
        assert_eq!(text(|s| c.write_iso(s)), "2026-12-03T21:30:00.000000-03:30");
        assert_eq!(
            text(|s| c.write_zoned_date(s)),
            "03/Dec/2026:21:30:00 -0330"
        );
    }

    #[test]
    fn the_epoch_west_of_utc_is_still_a_date() {
        let c = Civil::new(UNIX_EPOCH, -3600);
        assert_eq!(text(|s| c.write_accept_date(s)), "31/Dec/1969:23:00:00.000");
        assert_eq!(Civil::unix_seconds(UNIX_EPOCH), 0);
    }
}
