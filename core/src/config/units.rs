//! Time and number arguments.

use std::time::Duration;

/// Largest time HAProxy accepts, in milliseconds (~24.8 days).
const MAX_MS: u64 = 2_147_483_647;

/// Parses a time (`100`, `500us`, `10ms`, `2s`, `1m`, `1h`, `1d`; a bare
/// number is milliseconds). `keyword` names the statement in errors.
/// Characters after the unit are accepted, as HAProxy 2.6 accepts them,
/// with the warning [`time_warning`] gives.
pub(super) fn time(value: &str, keyword: &str) -> Result<Duration, String> {
    let digits = value.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!(
            "'{keyword}' expects a time such as 500ms, 2s or 1m, got '{value}'"
        ));
    }
    let (number, rest) = value.split_at(digits);
    let overflow = || {
        format!(
            "timer overflow in argument '{value}' to '{keyword}' \
             (maximum value is 2147483647 ms or ~24.8 days)"
        )
    };
    let n: u64 = number.parse().map_err(|_| overflow())?;
    let Some((micros_per_unit, _)) = unit(rest) else {
        let bad = rest.chars().next().unwrap_or(' ');
        return Err(format!(
            "unexpected character '{bad}' in '{keyword}' (units are us, ms, s, m, h, d)"
        ));
    };
    let micros = n.checked_mul(micros_per_unit).ok_or_else(overflow)?;
    if micros > MAX_MS * 1000 {
        return Err(overflow());
    }
    Ok(Duration::from_micros(micros))
}

/// The unit at the start of `rest` (what follows a time's digits), as
/// HAProxy 2.6's `parse_time_err`: microseconds per unit and the length
/// of the unit; `None` for no unit HAProxy knows. What follows the unit
/// is accepted with a warning ([`time_warning`]).
fn unit(rest: &str) -> Option<(u64, usize)> {
    Some(match rest.as_bytes() {
        [] => (1_000, 0),
        [b's', ..] => (1_000_000, 1),
        [b'u', b's', ..] => (1, 2),
        [b'm', b's', ..] => (1_000, 2),
        [b'm', ..] => (60_000_000, 1),
        [b'h', ..] => (3_600_000_000, 1),
        [b'd', ..] => (86_400_000_000, 1),
        _ => return None,
    })
}

/// Whether `rest` (what follows a time's digits) starts with a unit
/// HAProxy knows, or is empty.
pub(super) fn known_unit(rest: &str) -> bool {
    unit(rest).is_some()
}

/// HAProxy 2.6's warning for a time [`time`] accepts with characters
/// after its unit (`2sec`, `1mn`), if `value` has any.
pub(super) fn time_warning(value: &str) -> Option<String> {
    let digits = value.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &value[digits..];
    let (_, len) = unit(rest).filter(|_| digits > 0)?;
    let bad = rest[len..].chars().next()?;
    Some(format!(
        "unexpected character '{bad}' after the timer value '{value}', only \
         (us=microseconds,ms=milliseconds,s=seconds,m=minutes,h=hours,d=days) are supported. \
         This will be reported as an error in next versions."
    ))
}

/// Parses a decimal integer in `range`.
pub(super) fn number(
    value: &str,
    keyword: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, String> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            format!(
                "'{keyword}' expects an integer between {} and {}, got '{value}'",
                range.start(),
                range.end()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_and_the_bare_number() {
        let ms = |v: &str| time(v, "timeout client").unwrap().as_micros();
        assert_eq!(ms("500us"), 500);
        assert_eq!(ms("100"), 100_000);
        assert_eq!(ms("10ms"), 10_000);
        assert_eq!(ms("2s"), 2_000_000);
        assert_eq!(ms("1m"), 60_000_000);
        assert_eq!(ms("1h"), 3_600_000_000);
        assert_eq!(ms("24d"), 24 * 86_400_000_000);
    }

    #[test]
    fn bad_times_say_why_like_haproxy() {
        assert_eq!(
            time("30x", "timeout client").unwrap_err(),
            "unexpected character 'x' in 'timeout client' (units are us, ms, s, m, h, d)"
        );
        assert!(time("30d", "timeout client").unwrap_err().starts_with(
            "timer overflow in argument '30d' to 'timeout client' (maximum value is 2147483647 ms"
        ));
        assert!(time("1.5s", "inter").is_err());
        assert!(time("", "inter").is_err());
        assert!(time("99999999999999999999999", "inter").is_err());
    }

    #[test]
    fn numbers_are_range_checked() {
        assert_eq!(number("256", "weight", 0..=256), Ok(256));
        assert!(number("257", "weight", 0..=256).is_err());
        assert!(number("-1", "weight", 0..=256).is_err());
    }
}
