//! Which windows may be merged, and what is said about the rest: windows
//! from probes with skewed clocks, the same window stored twice, windows
//! written long after they ended, and windows that cannot be read. Pure:
//! the caller passes the clock (`now`) and each object's write time.
//!
//! - **Skewed** (not merged): the window ends before it starts, starts
//!   after `now` plus the tolerance, or ends after the store says it was
//!   written plus the tolerance. Its probe's wall clock is wrong, so its
//!   place in time, and so whether it belongs to the range, is unknown.
//!   (Latencies inside are timed on a monotonic clock and would be fine;
//!   the placement is what cannot be trusted.) A probe whose clock runs
//!   *behind* looks like a late window instead: the two cannot be told
//!   apart from timestamps alone.
//! - **Duplicate** (merged once): the same probe id, start and config
//!   digest as a window already read, whatever its key. Identical content
//!   always has identical identity, so this also catches byte-for-byte
//!   copies. Windows are screened in key order, so the first key is kept.
//!   Only a 64-bit fingerprint per window is remembered (SipHash; a false
//!   duplicate among a million windows has odds of about 3 in 10^8).
//! - **Late** (merged, reported): written more than the tolerance after its
//!   end (a probe that could not reach the store in time, a backfill).
//! - **Out of range** (not merged, counted): the key says the window is in
//!   the range, its own start says otherwise.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::decode::DecodedWindow;

/// How far a probe's clock may be off before its windows are skewed.
pub const SKEW_TOLERANCE: Duration = Duration::minutes(5);
/// How long after its end a window may be written before it is late.
pub const LATE_TOLERANCE: Duration = Duration::minutes(5);
/// Keys listed per category; counts are always exact.
pub const LISTED_MAX: usize = 1000;

/// A window named by key, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flagged {
    pub key: String,
    pub problem: String,
}

/// The `windows` section of an analysis.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WindowsReport {
    /// Windows listed in the range and fetched.
    pub read: u64,
    /// Windows whose series are in the matrix (late ones included).
    pub merged: u64,
    /// Listed by key but starting outside the range.
    pub out_of_range: u64,
    pub duplicates: Vec<Flagged>,
    pub skewed: Vec<Flagged>,
    pub late: Vec<Flagged>,
    pub unreadable: Vec<Flagged>,
    /// Exact sizes of the four lists above, which stop at [`LISTED_MAX`].
    pub counts: Counts,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub duplicates: u64,
    pub skewed: u64,
    pub late: u64,
    pub unreadable: u64,
}

/// What to do with one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Merge,
    Skip,
}

/// Screens windows one by one, in key order.
pub struct Screen {
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
    seen: HashSet<u64>,
    report: WindowsReport,
}

impl Screen {
    pub fn new(since: DateTime<Utc>, until: DateTime<Utc>, now: DateTime<Utc>) -> Screen {
        Screen {
            since,
            until,
            now,
            seen: HashSet::new(),
            report: WindowsReport::default(),
        }
    }

    /// A window that could not be fetched whole or decoded.
    pub fn unreadable(&mut self, key: &str, problem: String) {
        self.report.read += 1;
        self.report.counts.unreadable += 1;
        push(&mut self.report.unreadable, key, problem);
    }

    /// Decides on a decoded window stored under `key` at `written`.
    pub fn check(&mut self, key: &str, written: DateTime<Utc>, w: &DecodedWindow) -> Verdict {
        self.report.read += 1;
        if let Some(problem) = skew(w, written, self.now) {
            self.report.counts.skewed += 1;
            push(&mut self.report.skewed, key, problem);
            return Verdict::Skip;
        }
        if w.start < self.since || w.start >= self.until {
            self.report.out_of_range += 1;
            return Verdict::Skip;
        }
        if !self.seen.insert(fingerprint(w)) {
            self.report.counts.duplicates += 1;
            let problem = format!(
                "same probe `{}`, start {} and config digest as a window read before it",
                w.probe_id,
                w.start.to_rfc3339()
            );
            push(&mut self.report.duplicates, key, problem);
            return Verdict::Skip;
        }
        let delay = written - w.end;
        if delay > LATE_TOLERANCE {
            self.report.counts.late += 1;
            let problem = format!("written {} after it ended", human(delay));
            push(&mut self.report.late, key, problem);
        }
        self.report.merged += 1;
        Verdict::Merge
    }

    pub fn finish(self) -> WindowsReport {
        self.report
    }
}

fn skew(w: &DecodedWindow, written: DateTime<Utc>, now: DateTime<Utc>) -> Option<String> {
    if w.end < w.start {
        return Some(format!(
            "ends ({}) before it starts ({})",
            w.end.to_rfc3339(),
            w.start.to_rfc3339()
        ));
    }
    if w.start > now + SKEW_TOLERANCE {
        return Some(format!(
            "starts {} in the future: the probe's clock is ahead",
            human(w.start - now)
        ));
    }
    if w.end > written + SKEW_TOLERANCE {
        return Some(format!(
            "ends {} after it was written: the probe's clock is ahead",
            human(w.end - written)
        ));
    }
    None
}

fn fingerprint(w: &DecodedWindow) -> u64 {
    let mut h = DefaultHasher::new();
    (&w.probe_id, w.start, &w.config_digest).hash(&mut h);
    h.finish()
}

fn push(list: &mut Vec<Flagged>, key: &str, problem: String) {
    if list.len() < LISTED_MAX {
        list.push(Flagged {
            key: key.to_owned(),
            problem,
        });
    }
}

/// `1h 5m`, `3m 20s`, `12s`: enough to see the size of a clock problem.
fn human(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn window(probe: &str, start: &str, end: &str) -> DecodedWindow {
        DecodedWindow {
            probe_id: probe.into(),
            geo: probe.into(),
            start: t(start),
            end: t(end),
            config_digest: "sha256:ab".into(),
            regions: vec![],
            parts: vec![],
            buckets: vec![],
            outcomes: vec![],
        }
    }

    #[test]
    fn each_problem_is_named_and_counted() {
        let now = t("2026-11-29T22:00:00Z");
        let mut s = Screen::new(t("2026-11-29T21:00:00Z"), now, now);
        let ok = window("a", "2026-11-29T21:00:00Z", "2026-11-29T21:01:00Z");
        let written = t("2026-11-29T21:01:02Z");
        assert_eq!(s.check("k1", written, &ok), Verdict::Merge);
        assert_eq!(s.check("k1-copy", written, &ok), Verdict::Skip);
        let backwards = window("b", "2026-11-29T21:10:00Z", "2026-11-29T21:09:00Z");
        assert_eq!(s.check("k2", written, &backwards), Verdict::Skip);
        let ahead = window("c", "2026-11-29T21:30:00Z", "2026-11-29T21:31:00Z");
        assert_eq!(
            s.check("k3", t("2026-11-29T21:20:00Z"), &ahead),
            Verdict::Skip
        );
        let late = window("d", "2026-11-29T21:00:00Z", "2026-11-29T21:01:00Z");
        assert_eq!(
            s.check("k4", t("2026-11-29T22:31:00Z"), &late),
            Verdict::Merge
        );
        let outside = window("e", "2026-11-29T20:00:00Z", "2026-11-29T20:01:00Z");
        assert_eq!(s.check("k5", written, &outside), Verdict::Skip);
        s.unreadable("k6", "not JSON".into());
        let r = s.finish();
        assert_eq!((r.read, r.merged, r.out_of_range), (7, 2, 1));
        assert_eq!(r.duplicates[0].key, "k1-copy");
        assert_eq!(r.skewed.len(), 2);
        assert!(r.skewed[0].problem.contains("before it starts"), "{r:?}");
        assert!(r.skewed[1].problem.contains("11m 0s after it was written"));
        assert_eq!(r.late[0].key, "k4");
        assert!(r.late[0].problem.contains("1h 30m"), "{:?}", r.late);
        assert_eq!(
            r.counts,
            Counts {
                duplicates: 1,
                skewed: 2,
                late: 1,
                unreadable: 1
            }
        );
    }

    #[test]
    fn future_start_is_skew() {
        let now = t("2026-11-29T22:00:00Z");
        let mut s = Screen::new(now, now + Duration::hours(2), now);
        let w = window("a", "2026-11-29T23:00:00Z", "2026-11-29T23:01:00Z");
        assert_eq!(s.check("k", t("2026-11-29T23:01:00Z"), &w), Verdict::Skip);
        assert!(s.finish().skewed[0].problem.contains("1h 0m in the future"));
    }
}
