//! Human durations (`90s`, `10m`, `1h`, `1d`) for flags and the config file.
//!
//! One parser for every place a person types a duration, so `--ttl 1h`,
//! `connect_timeout = "10s"` and `AGORA_JWT_MAX_LIFETIME=24h` all mean the
//! same thing and fail with the same message.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written as a whole number and a unit: `ms`, `s`, `m`, `h` or `d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct HumanDuration(pub Duration);

/// Why a duration could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DurationError(String);

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid duration {:?}: expected a whole number and a unit, e.g. 500ms, 90s, 10m, 1h, 1d",
            self.0
        )
    }
}

impl std::error::Error for DurationError {}

impl FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || DurationError(s.to_owned());
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        let (num, unit) = t.split_at(split);
        let n: u64 = num.parse().map_err(|_| err())?;
        let secs_per_unit = match unit {
            "ms" => return Ok(HumanDuration(Duration::from_millis(n))),
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => return Err(err()),
        };
        n.checked_mul(secs_per_unit)
            .map(|s| HumanDuration(Duration::from_secs(s)))
            .ok_or_else(err)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_millis() != 0 || d.as_secs() == 0 {
            return write!(f, "{}ms", d.as_millis());
        }
        let s = d.as_secs();
        for (unit, len) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
            if s.is_multiple_of(len) {
                return write!(f, "{}{unit}", s / len);
            }
        }
        write!(f, "{s}s")
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        for (s, secs) in [("90s", 90), ("10m", 600), ("1h", 3600), ("1d", 86400)] {
            assert_eq!(
                s.parse::<HumanDuration>().unwrap().0,
                Duration::from_secs(secs)
            );
        }
        assert_eq!(
            "250ms".parse::<HumanDuration>().unwrap().0,
            Duration::from_millis(250)
        );
    }

    #[test]
    fn refuses_missing_unit_negative_fraction_and_overflow() {
        for s in [
            "",
            "10",
            "s",
            "-5s",
            "1.5h",
            "10 parsecs",
            "99999999999999999999d",
            "5w",
        ] {
            assert!(s.parse::<HumanDuration>().is_err(), "{s} was accepted");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["90s", "10m", "1h", "2d", "250ms"] {
            let d: HumanDuration = s.parse().unwrap();
            assert_eq!(d.to_string(), s);
        }
    }
}
