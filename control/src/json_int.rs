//! JSON integers as JSON Schema counts them: `3` and `3.0` are the same integer. serde's
//! integer types refuse `3.0`, so a field the OpenAPI document calls an `integer` would
//! reject values the document allows; these deserializers take both (and refuse fractions,
//! negatives and out-of-range numbers).

use serde::{Deserialize, Deserializer};

/// A JSON number that is a whole number within `T`'s range.
fn whole<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<T, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    let whole = n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
            .map(|f| f as u64)
    });
    whole
        .and_then(|w| T::try_from(w).ok())
        .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a whole number in range")))
}

/// A `u32` written as `3` or `3.0`.
pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    whole(d)
}

/// A `u64` written as `3` or `3.0`.
pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    whole(d)
}

/// An optional `u64` written as `3` or `3.0` (or `null`).
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "whole")] u64);
    Ok(Option::<Whole>::deserialize(d)?.map(|w| w.0))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct T {
        #[serde(deserialize_with = "super::u32")]
        a: u32,
        #[serde(default, deserialize_with = "super::opt_u64")]
        b: Option<u64>,
    }

    fn parse(s: &str) -> Option<(u32, Option<u64>)> {
        serde_json::from_str::<T>(s).ok().map(|t| (t.a, t.b))
    }

    #[test]
    fn whole_numbers_pass_in_either_spelling_and_nothing_else_does() {
        assert_eq!(parse(r#"{"a": 3, "b": 4}"#), Some((3, Some(4))));
        assert_eq!(parse(r#"{"a": 3.0, "b": 4.0}"#), Some((3, Some(4))));
        assert_eq!(parse(r#"{"a": 3}"#), Some((3, None)));
        assert_eq!(parse(r#"{"a": 3, "b": null}"#), Some((3, None)));
        assert_eq!(parse(r#"{"a": 3.5}"#), None);
        assert_eq!(parse(r#"{"a": -1}"#), None);
        assert_eq!(parse(r#"{"a": 4294967296}"#), None);
        assert_eq!(parse(r#"{"a": "3"}"#), None);
        assert_eq!(parse(r#"{"a": 1e300}"#), None);
    }
}
