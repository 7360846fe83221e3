//! Time arguments: `--since 1h` (ago) or an RFC 3339 instant.

use chrono::{DateTime, Utc};

pub fn parse_instant(flag: &str, s: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    if s == "now" {
        return Ok(now);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    match humantime::parse_duration(s) {
        Ok(d) => {
            let d = chrono::Duration::from_std(d)
                .map_err(|_| anyhow::anyhow!("{flag} `{s}`: too far back"))?;
            Ok(now - d)
        }
        Err(_) => anyhow::bail!(
            "{flag} `{s}` is neither a duration ago (e.g. 1h, 30m) nor an RFC 3339 time (e.g. 2026-11-29T21:00:00Z)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_ago_and_rfc3339_is_absolute() {
        let now: DateTime<Utc> = "2026-11-29T22:00:00Z".parse().unwrap();
        assert_eq!(
            parse_instant("--since", "1h", now).unwrap(),
            "2026-11-29T21:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            parse_instant("--since", "2026-11-29T20:30:00+01:00", now).unwrap(),
            "2026-11-29T19:30:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let err = parse_instant("--since", "yesterday", now)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--since `yesterday`"), "{err}");
    }
}
