//! Time arguments, typed once: `--since 1h` (ago), `now`, or an RFC 3339
//! instant, parsed by clap into a [`TimeArg`]; a [`TimeRange`] (`--since`
//! and `--until`) resolves against one `now` with checked arithmetic and
//! is checked to be non-empty, so handlers get instants, never strings.

use std::fmt;

use chrono::{DateTime, Utc};
use clap::Args;

use crate::probe::record::Phase;

/// Further back than this is certainly a typo, and well inside what
/// `DateTime<Utc>` can hold (some 262,000 years either side of 1970).
const MAX_AGO_YEARS: i64 = 10_000;

/// One point in time as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeArg {
    /// `now`.
    Now,
    /// A duration before now (`1h`, `30m`, `7days`).
    Ago(std::time::Duration),
    /// An RFC 3339 instant.
    At(DateTime<Utc>),
}

impl TimeArg {
    /// The clap value parser: syntax only; the range is checked by
    /// [`TimeArg::resolve`] against one `now`.
    pub fn parse(s: &str) -> Result<TimeArg, String> {
        if s == "now" {
            return Ok(TimeArg::Now);
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Ok(TimeArg::At(t.with_timezone(&Utc)));
        }
        humantime::parse_duration(s).map(TimeArg::Ago).map_err(|_| {
            format!(
                "`{s}` is neither a duration ago (e.g. 1h, 30m) nor an RFC 3339 time (e.g. 2026-11-29T21:00:00Z)"
            )
        })
    }

    /// The instant this names, `now` being `now`. A duration reaching
    /// before what a timestamp can hold is an error, not a panic.
    pub fn resolve(self, flag: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
        match self {
            TimeArg::Now => Ok(now),
            TimeArg::At(t) => Ok(t),
            TimeArg::Ago(d) => chrono::Duration::from_std(d)
                .ok()
                .filter(|d| *d <= chrono::Duration::days(MAX_AGO_YEARS * 366))
                .and_then(|d| now.checked_sub_signed(d))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{flag} {self}: too far back (at most {MAX_AGO_YEARS} years); give a shorter duration or an RFC 3339 time"
                    )
                }),
        }
    }
}

impl fmt::Display for TimeArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeArg::Now => f.write_str("now"),
            TimeArg::Ago(d) => write!(f, "{}", humantime::format_duration(*d)),
            TimeArg::At(t) => f.write_str(&t.to_rfc3339()),
        }
    }
}

/// `--since` and `--until`, as `analyze` and `store list` take them.
#[derive(Debug, Clone, Args)]
pub struct TimeRangeArgs {
    /// Start of the range: a duration ago (1h) or an RFC 3339 time.
    #[arg(long, default_value = "1h", value_parser = TimeArg::parse, value_name = "TIME")]
    pub since: TimeArg,
    /// End of the range (exclusive): `now`, a duration ago, or an RFC 3339 time.
    #[arg(long, default_value = "now", value_parser = TimeArg::parse, value_name = "TIME")]
    pub until: TimeArg,
}

/// A resolved, non-empty `[since, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl TimeRangeArgs {
    pub fn resolve(&self, now: DateTime<Utc>) -> anyhow::Result<TimeRange> {
        TimeRange::new(self.since, self.until, now)
    }
}

impl TimeRange {
    /// Resolves both ends against `now` and checks `until > since`.
    pub fn new(since: TimeArg, until: TimeArg, now: DateTime<Utc>) -> anyhow::Result<TimeRange> {
        let from = since.resolve("--since", now)?;
        let to = until.resolve("--until", now)?;
        if from >= to {
            anyhow::bail!(
                "--since {since} is not before --until {until}: give an earlier --since or a later --until"
            );
        }
        Ok(TimeRange {
            since: from,
            until: to,
        })
    }
}

/// Phases as clap values (`--phase warm`), named as windows name them.
impl clap::ValueEnum for Phase {
    fn value_variants<'a>() -> &'a [Self] {
        &Phase::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn durations_are_ago_and_rfc3339_is_absolute() {
        let now = t("2026-11-29T22:00:00Z");
        let ago = TimeArg::parse("1h").unwrap();
        assert_eq!(
            ago.resolve("--since", now).unwrap(),
            t("2026-11-29T21:00:00Z")
        );
        let at = TimeArg::parse("2026-11-29T20:30:00+01:00").unwrap();
        assert_eq!(
            at.resolve("--since", now).unwrap(),
            t("2026-11-29T19:30:00Z")
        );
        let err = TimeArg::parse("yesterday").unwrap_err();
        assert!(err.contains("`yesterday`"), "{err}");
    }

    #[test]
    fn a_range_must_not_be_empty() {
        let now = t("2026-11-29T22:00:00Z");
        let err = TimeRange::new(TimeArg::Now, TimeArg::parse("1h").unwrap(), now)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--since now is not before --until 1h"),
            "{err}"
        );
    }

    mod regression {
        use super::*;

        /// `--since 500000y` panicked: `DateTime - TimeDelta` overflowed.
        #[test]
        fn far_past_since_is_an_error_not_a_panic() {
            let now = t("2026-11-29T22:00:00Z");
            for s in ["500000y", "1000000000y", "292000000y"] {
                let since = TimeArg::parse(s).unwrap();
                let err = TimeRange::new(since, TimeArg::Now, now)
                    .unwrap_err()
                    .to_string();
                assert!(
                    err.contains("--since") && err.contains("too far back"),
                    "{err}"
                );
            }
            let range =
                TimeRange::new(TimeArg::parse("1000y").unwrap(), TimeArg::Now, now).unwrap();
            assert!(range.since < range.until);
        }
    }
}
