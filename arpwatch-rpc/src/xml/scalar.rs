//! The text forms of XML-RPC's scalar types, both directions.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::DateTime;

/// Python and Perl wrap base64 in lines and some peers drop the padding;
/// what matters is the alphabet.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

fn trim(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
}

pub(crate) fn parse_int(s: &str) -> Result<i32, String> {
    let t = trim(s);
    t.parse::<i32>()
        .map_err(|e| format!("{t:?} is not a 32-bit integer: {e}"))
}

pub(crate) fn parse_i8(s: &str) -> Result<i64, String> {
    let t = trim(s);
    t.parse::<i64>()
        .map_err(|e| format!("{t:?} is not a 64-bit integer: {e}"))
}

pub(crate) fn parse_bool(s: &str) -> Result<bool, String> {
    match trim(s) {
        "1" => Ok(true),
        "0" => Ok(false),
        other => Err(format!("{other:?} is not a boolean (0 or 1)")),
    }
}

pub(crate) fn parse_double(s: &str) -> Result<f64, String> {
    let t = trim(s);
    // Rust's parser also takes "inf" and "NaN", which XML-RPC does not have
    // and which the writer could not write back.
    let ok_chars = !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
    match t.parse::<f64>() {
        Ok(d) if ok_chars && d.is_finite() => Ok(d),
        Ok(_) if ok_chars => Err(format!("{t:?} is out of the range of a double")),
        _ => Err(format!("{t:?} is not a double")),
    }
}

pub(crate) fn parse_base64(s: &str) -> Result<Vec<u8>, String> {
    let compact: Vec<u8> = s
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .collect();
    BASE64_LENIENT
        .decode(&compact)
        .map_err(|e| format!("bad base64: {e}"))
}

pub(crate) fn write_base64(bytes: &[u8], out: &mut String) {
    base64::engine::general_purpose::STANDARD.encode_string(bytes, out);
}

/// `YYYYMMDDTHH:MM:SS`, also `YYYY-MM-DD`, `HHMMSS`, and a trailing `Z` or
/// `±HH:MM` / `±HHMM` offset, which is converted to UTC (the meaning this
/// project gives zone-less times).
pub(crate) fn parse_datetime(s: &str) -> Result<DateTime, String> {
    let t = trim(s);
    let bad = || format!("{t:?} is not a dateTime.iso8601 (YYYYMMDDTHH:MM:SS)");
    // The fields below are cut by byte offsets, which is only sound (and
    // only meaningful) for ASCII. Found by fuzzing: a U+FEFF in the year.
    if !t.is_ascii() {
        return Err(bad());
    }
    let (date, rest) = t.split_once('T').ok_or_else(bad)?;
    let (year, month, day) = match date.len() {
        8 => (num(&date[0..4]), num(&date[4..6]), num(&date[6..8])),
        10 if date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-' => {
            (num(&date[0..4]), num(&date[5..7]), num(&date[8..10]))
        }
        _ => return Err(bad()),
    };
    let (time, offset) = split_offset(rest).ok_or_else(bad)?;
    let (hour, minute, second) = match time.len() {
        8 if time.as_bytes()[2] == b':' && time.as_bytes()[5] == b':' => {
            (num(&time[0..2]), num(&time[3..5]), num(&time[6..8]))
        }
        6 => (num(&time[0..2]), num(&time[2..4]), num(&time[4..6])),
        _ => return Err(bad()),
    };
    let field = |v: Option<u32>| v.ok_or_else(bad);
    let dt = DateTime::new(
        field(year)? as i32,
        field(month)? as u8,
        field(day)? as u8,
        field(hour)? as u8,
        field(minute)? as u8,
        field(second)? as u8,
    )
    .ok_or_else(|| format!("{t:?} is not a valid date and time"))?;
    if offset == 0 {
        return Ok(dt);
    }
    let utc = DateTime::from_unix(dt.to_unix() - offset);
    if !(0..=9999).contains(&utc.year) {
        return Err(format!("{t:?} is out of range in UTC"));
    }
    Ok(utc)
}

/// Splits `HH:MM:SS[Z|±HH:MM|±HHMM]` into the time and the offset east of
/// UTC in seconds.
fn split_offset(rest: &str) -> Option<(&str, i64)> {
    if let Some(time) = rest.strip_suffix('Z') {
        return Some((time, 0));
    }
    let Some(sign_at) = rest.rfind(['+', '-']) else {
        return Some((rest, 0));
    };
    let (time, zone) = rest.split_at(sign_at);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let digits = &zone[1..];
    let (h, m) = match digits.len() {
        5 if digits.as_bytes()[2] == b':' => (num(&digits[0..2])?, num(&digits[3..5])?),
        4 => (num(&digits[0..2])?, num(&digits[2..4])?),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some((time, sign * i64::from(h * 3600 + m * 60)))
}

/// A run of ASCII digits (no sign, no spaces).
fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Shortest text that reads back as exactly `d` in Rust, Python and Perl,
/// always with a decimal point so that it looks like a double to any reader,
/// and never with an exponent (the XML-RPC spec has none). `d` must be
/// finite.
pub(crate) fn write_double(d: f64, out: &mut String) {
    use std::fmt::Write;
    let start = out.len();
    // `Display` for f64 is the shortest round-trip digits, positional.
    write!(out, "{d}").expect("writing to a String cannot fail");
    if !out[start..].contains('.') {
        out.push_str(".0");
    }
}

/// `DateTime`'s `Display` is the wire form; this checks it can be read back.
pub(crate) fn datetime_is_writable(dt: &DateTime) -> bool {
    (0..=9999).contains(&dt.year)
        && DateTime::new(dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second) == Some(*dt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_forms() {
        let want = DateTime::new(2026, 11, 24, 9, 5, 0).unwrap();
        for s in [
            "20261124T09:05:00",
            " 2026-11-24T09:05:00 ",
            "20261124T090500",
            "20261124T09:05:00Z",
            "2026-11-24T09:05:00+00:00",
            "2026-11-24T10:05:00+01:00",
            "2026-11-24T04:05:00-0500",
        ] {
            assert_eq!(parse_datetime(s), Ok(want), "{s}");
        }
        for s in [
            "",
            "2026112409:05:00",
            "20261324T09:05:00",
            "20260230T09:05:00",
            "20261124T24:00:00",
            "2026-11-24T09:05",
            "+2026-11-24T09:05:00",
            "20261124T09:05:00+25:00",
            "２０26-11-24T09:05:00",
            // Eight or ten bytes, but not eight or ten characters.
            "202\u{feff}24T09:05:00",
            "2026-\u{feff}-24T09:05:00",
            "20261124T09:0\u{feff}",
            "20261124T0\u{feff}00",
            "20261124T09:05:00+0\u{feff}",
            "20261124T09:05:00+\u{feff}:0",
        ] {
            assert!(parse_datetime(s).is_err(), "{s}");
        }
    }

    proptest::proptest! {
        /// Every scalar parser takes any text without panicking.
        #[test]
        fn scalar_parsers_never_panic(s in "\\PC{0,24}", t in "[0-9T:+\\-Z\u{feff}ü ]{0,26}") {
            for text in [&s, &t] {
                let _ = parse_datetime(text);
                let _ = parse_int(text);
                let _ = parse_i8(text);
                let _ = parse_bool(text);
                let _ = parse_double(text);
                let _ = parse_base64(text);
            }
        }
    }

    #[test]
    fn doubles_read_back_exactly() {
        for d in [
            0.0,
            -0.0,
            1.0,
            0.1,
            -2.5,
            1e300,
            1e-300,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
        ] {
            let mut s = String::new();
            write_double(d, &mut s);
            assert!(s.contains('.') && !s.contains('e'), "{s}");
            assert_eq!(parse_double(&s), Ok(d));
        }
        for s in ["inf", "-inf", "NaN", "infinity", "1e999", "", "1,5", "0x10"] {
            assert!(parse_double(s).is_err(), "{s}");
        }
        assert_eq!(parse_double(" 1.5e3\n"), Ok(1500.0));
    }

    #[test]
    fn integers_and_booleans() {
        assert_eq!(parse_int(" -42 "), Ok(-42));
        assert_eq!(parse_int("+7"), Ok(7));
        assert!(parse_int("2147483648").is_err());
        assert!(parse_int("").is_err());
        assert_eq!(parse_i8("9223372036854775807"), Ok(i64::MAX));
        assert!(parse_i8("9223372036854775808").is_err());
        assert_eq!(parse_bool("1"), Ok(true));
        assert_eq!(parse_bool(" 0\n"), Ok(false));
        assert!(parse_bool("true").is_err());
    }

    #[test]
    fn base64_with_line_breaks() {
        assert_eq!(parse_base64("aGVs\nbG8=\n"), Ok(b"hello".to_vec()));
        assert_eq!(parse_base64(" aGVsbG8 "), Ok(b"hello".to_vec()));
        assert_eq!(parse_base64(""), Ok(vec![]));
        assert!(parse_base64("aGVsbG8*").is_err());
    }
}
