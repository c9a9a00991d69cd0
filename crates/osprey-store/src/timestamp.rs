//! ISO-8601 timestamps of the analytics API (pure): `2026-12-02T10:00:00.000Z`, without the
//! fraction, lower-case `z`, or a `±HH:MM` offset. Formatting uses [`osprey_base::rfc3339`].

use crate::AnalyticsError;

/// Parses an ISO-8601 date-time with a zone (`Z`, `z` or `±HH:MM`) into Unix milliseconds.
///
/// Accepts `YYYY-MM-DDTHH:MM:SS`, optionally followed by `.` and 1 to 9 fraction digits (cut to
/// milliseconds). Anything else — no zone, a space instead of `T`, an impossible date, a leap
/// second — is refused with [`AnalyticsError::Timestamp`] naming the text.
pub fn parse_timestamp(text: &str) -> Result<i64, AnalyticsError> {
    parse(text.as_bytes()).ok_or_else(|| AnalyticsError::Timestamp {
        text: text.to_owned(),
    })
}

/// Formats Unix milliseconds as `2026-12-02T10:00:00.000Z`.
pub fn format_timestamp(ms: i64) -> String {
    osprey_base::rfc3339(ms as f64 / 1000.0)
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let s = b.get(at..at + n)?;
    s.iter().try_fold(0i64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

fn expect(b: &[u8], at: usize, c: u8) -> Option<()> {
    (b.get(at) == Some(&c)).then_some(())
}

fn parse(b: &[u8]) -> Option<i64> {
    let (y, mo, d) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
    expect(b, 4, b'-')?;
    expect(b, 7, b'-')?;
    expect(b, 10, b'T')?;
    let (h, mi, s) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    expect(b, 13, b':')?;
    expect(b, 16, b':')?;
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let mut at = 19;
    let mut ms = 0;
    if b.get(at) == Some(&b'.') {
        let n = b[at + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if !(1..=9).contains(&n) {
            return None;
        }
        let frac = digits(b, at + 1, n.min(3))?;
        ms = frac * 10i64.pow(3 - n.min(3) as u32);
        at += 1 + n;
    }
    let offset_min = match b.get(at..)? {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), ..] if b.len() == at + 6 => {
            expect(b, at + 3, b':')?;
            let (oh, om) = (digits(b, at + 1, 2)?, digits(b, at + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let m = oh * 60 + om;
            if *sign == b'+' {
                m
            } else {
                -m
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset_min * 60;
    Some(secs * 1000 + ms)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_796_205_600_000; // 2026-12-02T10:00:00Z

    #[test]
    fn accepted_forms() {
        assert_eq!(parse_timestamp("2026-12-02T10:00:00.000Z").expect("z"), T);
        assert_eq!(parse_timestamp("2026-12-02T10:00:00Z").expect("no ms"), T);
        assert_eq!(parse_timestamp("2026-12-02T10:00:00z").expect("lower"), T);
        assert_eq!(parse_timestamp("2026-12-02T12:00:00+02:00").expect("+"), T);
        assert_eq!(parse_timestamp("2026-12-02T04:30:00-05:30").expect("-"), T);
        assert_eq!(
            parse_timestamp("2026-12-02T10:00:00.871Z").expect("ms"),
            T + 871
        );
        assert_eq!(
            parse_timestamp("2026-12-02T10:00:00.5Z").expect("1 digit"),
            T + 500
        );
        assert_eq!(
            parse_timestamp("2026-12-02T10:00:00.123456789Z").expect("ns"),
            T + 123
        );
        assert_eq!(
            parse_timestamp("2026-12-02T12:00:00.250+02:00").expect("ms+"),
            T + 250
        );
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z").expect("0"), 0);
        assert_eq!(
            parse_timestamp("2000-02-29T00:00:00.500Z").expect("leap"),
            951_782_400_500
        );
    }

    #[test]
    fn round_trips_through_rfc3339() {
        for ms in [0, 951_782_400_500, T + 871, 4_107_542_399_999] {
            assert_eq!(parse_timestamp(&format_timestamp(ms)).expect("rt"), ms);
        }
        assert_eq!(format_timestamp(T + 871), "2026-12-02T10:00:00.871Z");
    }

    #[test]
    fn refusals_name_the_text() {
        for bad in [
            "",
            "2026-12-02",
            "2026-12-02T10:00:00",
            "2026-12-02 10:00:00Z",
            "2026-12-02T10:00Z",
            "2026-13-02T10:00:00Z",
            "2026-02-29T10:00:00Z",
            "2026-04-31T10:00:00Z",
            "2026-12-00T10:00:00Z",
            "2026-12-02T24:00:00Z",
            "2026-12-02T10:60:00Z",
            "2026-12-02T10:00:60Z",
            "2026-12-02T10:00:00.Z",
            "2026-12-02T10:00:00.1234567890Z",
            "2026-12-02T10:00:00+0200",
            "2026-12-02T10:00:00+02",
            "2026-12-02T10:00:00+24:00",
            "2026-12-02T10:00:00ZZ",
            "2026-12-02T10:00:00UTC",
            "+2026-12-02T10:00:00Z",
            "2026-1-02T10:00:00Z",
            "1796205600000",
        ] {
            let e = parse_timestamp(bad).expect_err(bad);
            assert!(
                matches!(&e, AnalyticsError::Timestamp { text } if text == bad),
                "{bad}: {e}"
            );
            assert!(e.to_string().contains(&format!("{bad:?}")));
            assert_eq!(
                osprey_base::Kinded::kind(&e),
                osprey_base::ErrorKind::InvalidArgument
            );
        }
    }
}
