//! Time and number arguments.

use std::time::Duration;

/// Largest time HAProxy accepts, in milliseconds (~24.8 days).
const MAX_MS: u64 = 2_147_483_647;

/// Parses a time (`100`, `500us`, `10ms`, `2s`, `1m`, `1h`, `1d`; a bare
/// number is milliseconds). `keyword` names the statement in errors.
pub(super) fn time(value: &str, keyword: &str) -> Result<Duration, String> {
    let digits = value.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!(
            "'{keyword}' expects a time such as 500ms, 2s or 1m, got '{value}'"
        ));
    }
    let (number, unit) = value.split_at(digits);
    let overflow = || {
        format!(
            "timer overflow in argument '{value}' to '{keyword}' \
             (maximum value is 2147483647 ms or ~24.8 days)"
        )
    };
    let n: u64 = number.parse().map_err(|_| overflow())?;
    let micros_per_unit: u64 = match unit {
        "us" => 1,
        "" | "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => {
            let bad = unit.chars().next().unwrap_or(' ');
            return Err(format!(
                "unexpected character '{bad}' in '{keyword}' (units are us, ms, s, m, h, d)"
            ));
        }
    };
    let micros = n.checked_mul(micros_per_unit).ok_or_else(overflow)?;
    if micros > MAX_MS * 1000 {
        return Err(overflow());
    }
    Ok(Duration::from_micros(micros))
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
