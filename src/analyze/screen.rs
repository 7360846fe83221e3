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
//!   Screens working in parallel share the fingerprints ([`Seen`]): each
//!   window is still merged once. Which copy is kept stays the first key as
//!   long as copies of one probe's window go to the same screen, as the
//!   analysis's partition by the probe named in the key ensures.
//! - **Late** (merged, reported): written more than the tolerance after its
//!   end (a probe that could not reach the store in time, a backfill).
//! - **Out of range** (not merged, counted): the key says the window is in
//!   the range, its own start says otherwise.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

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

/// Fingerprints of the windows merged so far, shared by the screens of
/// one analysis.
#[derive(Debug, Clone, Default)]
pub struct Seen(Arc<Mutex<HashSet<u64>>>);

impl Seen {
    /// Whether `fingerprint` is new (and now remembered).
    fn first(&self, fingerprint: u64) -> bool {
        // A set of integers stays consistent even if a holder panicked.
        let mut set = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        set.insert(fingerprint)
    }
}

/// Screens windows one by one, in key order.
pub struct Screen {
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
    seen: Seen,
    report: WindowsReport,
}

impl Screen {
    pub fn new(
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        seen: Seen,
    ) -> Screen {
        Screen {
            since,
            until,
            now,
            seen,
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
        if !self.seen.first(fingerprint(w)) {
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

    /// Takes in what a screen of the same analysis working in parallel saw.
    pub fn merge(&mut self, other: Screen) {
        self.report.merge(other.report);
    }

    pub fn finish(self) -> WindowsReport {
        self.report
    }
}

impl WindowsReport {
    /// Adds the report of a screen that saw other windows of the same
    /// analysis. Lists stay in key order and stop at [`LISTED_MAX`]; each
    /// screen kept its first keys, so the merged list holds the first keys
    /// of all.
    pub fn merge(&mut self, other: WindowsReport) {
        self.read += other.read;
        self.merged += other.merged;
        self.out_of_range += other.out_of_range;
        self.counts.duplicates += other.counts.duplicates;
        self.counts.skewed += other.counts.skewed;
        self.counts.late += other.counts.late;
        self.counts.unreadable += other.counts.unreadable;
        for (list, more) in [
            (&mut self.duplicates, other.duplicates),
            (&mut self.skewed, other.skewed),
            (&mut self.late, other.late),
            (&mut self.unreadable, other.unreadable),
        ] {
            list.extend(more);
            list.sort_by(|a, b| a.key.cmp(&b.key));
            list.truncate(LISTED_MAX);
        }
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
            targets: 0,
        }
    }

    #[test]
    fn each_problem_is_named_and_counted() {
        let now = t("2026-11-29T22:00:00Z");
        let mut s = Screen::new(t("2026-11-29T21:00:00Z"), now, now, Seen::default());
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
        let mut s = Screen::new(now, now + Duration::hours(2), now, Seen::default());
        let w = window("a", "2026-11-29T23:00:00Z", "2026-11-29T23:01:00Z");
        assert_eq!(s.check("k", t("2026-11-29T23:01:00Z"), &w), Verdict::Skip);
        assert!(s.finish().skewed[0].problem.contains("1h 0m in the future"));
    }

    #[test]
    fn parallel_screens_merge_once_and_report_in_key_order() {
        let now = t("2026-11-29T22:00:00Z");
        let seen = Seen::default();
        let since = t("2026-11-29T21:00:00Z");
        let mut a = Screen::new(since, now, now, seen.clone());
        let mut b = Screen::new(since, now, now, seen);
        let w = window("p", "2026-11-29T21:00:00Z", "2026-11-29T21:01:00Z");
        let written = t("2026-11-29T21:01:02Z");
        assert_eq!(b.check("k2", written, &w), Verdict::Merge);
        assert_eq!(a.check("k1", written, &w), Verdict::Skip, "seen by b");
        b.unreadable("k0", "not JSON".into());
        a.unreadable("k3", "not JSON".into());
        let mut r = a.finish();
        r.merge(b.finish());
        assert_eq!((r.read, r.merged), (4, 1));
        assert_eq!(r.counts.duplicates, 1);
        let keys: Vec<&str> = r.unreadable.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["k0", "k3"]);
    }
}
