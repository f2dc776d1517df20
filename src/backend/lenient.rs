//! Tolerant field decoders for the wire model.
//!
//! The real service may differ from the contract in small ways (a number where a string was
//! documented, an id that is numeric, a timestamp with an offset, `null` for an absent field).
//! None of these may make a whole job or event unreadable, so optional fields go through these
//! decoders, which turn anything unexpected into `None` instead of an error.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Any JSON scalar as text; objects and arrays as their compact JSON; `null` as `None`.
pub(crate) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(value_to_string(Value::deserialize(d)?))
}

/// A string or a number as text (ids are strings in the contract, integers in some databases).
pub(crate) fn id_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or number id, got {other}"
        ))),
    }
}

/// An unsigned number, a numeric string, or a float (rounded); anything else is `None`.
pub(crate) fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(value_to_u64(&Value::deserialize(d)?))
}

/// Like [`opt_u64`], saturating at `u32::MAX`.
pub(crate) fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(value_to_u64(&Value::deserialize(d)?).map(|n| u32::try_from(n).unwrap_or(u32::MAX)))
}

/// An RFC 3339 timestamp (`Z` or `+00:00`, any fraction) or epoch milliseconds.
pub(crate) fn opt_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => parse_time(&s),
        Value::Number(n) => n.as_u64().map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
        _ => None,
    })
}

pub(crate) fn value_to_string(value: Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

fn value_to_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f.round() as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Parses the timestamps the service writes (`2026-11-20T10:00:05.120Z`); a zero UTC offset
/// written as `+00:00` is accepted too. Other offsets are not expected from a UTC service and
/// give `None` rather than a wrong instant.
pub(crate) fn parse_time(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let utc = text
        .strip_suffix("+00:00")
        .or_else(|| text.strip_suffix('Z'))
        .or_else(|| text.strip_suffix('z'))
        .unwrap_or(text);
    humantime::parse_rfc3339_weak(utc).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "opt_string")]
        s: Option<String>,
        #[serde(default, deserialize_with = "opt_u32")]
        n: Option<u32>,
        #[serde(default, deserialize_with = "opt_time")]
        t: Option<SystemTime>,
    }

    fn probe(json: &str) -> Probe {
        serde_json::from_str(json).expect("probe parses")
    }

    #[test]
    fn strings_accept_scalars_and_structures() {
        assert_eq!(probe(r#"{"s": 7}"#).s.as_deref(), Some("7"));
        assert_eq!(probe(r#"{"s": {"a": 1}}"#).s.as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(probe(r#"{"s": null}"#).s, None);
        assert_eq!(probe("{}").s, None);
    }

    #[test]
    fn numbers_accept_strings_and_floats_and_ignore_garbage() {
        assert_eq!(probe(r#"{"n": "42"}"#).n, Some(42));
        assert_eq!(probe(r#"{"n": 39.6}"#).n, Some(40));
        assert_eq!(probe(r#"{"n": "lots"}"#).n, None);
        assert_eq!(probe(r#"{"n": -3}"#).n, None);
    }

    #[test]
    fn times_keep_microseconds_and_accept_offsets_and_millis() {
        let t = probe(r#"{"t": "2026-11-20T10:00:05.123456Z"}"#).t.unwrap();
        let z = probe(r#"{"t": "2026-11-20T10:00:05.123456+00:00"}"#)
            .t
            .unwrap();
        assert_eq!(t, z);
        let micros = t.duration_since(UNIX_EPOCH).unwrap().as_micros() % 1_000_000;
        assert_eq!(micros, 123_456);
        let ms = probe(r#"{"t": 1000}"#).t.unwrap();
        assert_eq!(ms, UNIX_EPOCH + Duration::from_secs(1));
        assert_eq!(probe(r#"{"t": "yesterday"}"#).t, None);
    }
}
