//! The analysis for a person: what was read, the matrix at the chosen
//! phase, and the per-geo routing verdicts. Writes to any writer.
//!
//! Nothing insufficient is printed as a plain number: a cell with too few
//! samples shows `n/a (n=5)`, a percentile whose interval is open on one
//! side is prefixed `~`, and a verdict that cannot be made says why.

use std::io::{self, Write};

use super::estimate::Estimate;
use super::geo::{GeoSummary, Verdict};
use super::matrix::Cell;
use super::report::Analysis;
use super::screen::Flagged;

/// Flagged windows listed per category here (`--json` lists more).
const SHOWN_PER_CATEGORY: usize = 5;

pub fn render(a: &Analysis, out: &mut dyn Write) -> io::Result<()> {
    windows(a, out)?;
    writeln!(out)?;
    matrix(a, out)?;
    writeln!(out)?;
    geos(a, out)
}

fn windows(a: &Analysis, out: &mut dyn Write) -> io::Result<()> {
    let w = &a.windows;
    writeln!(
        out,
        "windows {} .. {} in {}: {} read, {} merged; {} duplicate, {} skewed, {} late (merged), {} unreadable, {} out of range",
        a.since.to_rfc3339(),
        a.until.to_rfc3339(),
        a.store,
        w.read,
        w.merged,
        w.counts.duplicates,
        w.counts.skewed,
        w.counts.late,
        w.counts.unreadable,
        w.out_of_range
    )?;
    for (what, list, total) in [
        ("duplicate", &w.duplicates, w.counts.duplicates),
        ("skewed", &w.skewed, w.counts.skewed),
        ("late", &w.late, w.counts.late),
        ("unreadable", &w.unreadable, w.counts.unreadable),
    ] {
        flagged(out, what, list, total)?;
    }
    Ok(())
}

fn flagged(out: &mut dyn Write, what: &str, list: &[Flagged], total: u64) -> io::Result<()> {
    for f in list.iter().take(SHOWN_PER_CATEGORY) {
        writeln!(out, "  {what:<10} {}: {}", f.key, f.problem)?;
    }
    let shown = list.len().min(SHOWN_PER_CATEGORY) as u64;
    if total > shown {
        writeln!(out, "  {what:<10} ... and {} more (--json)", total - shown)?;
    }
    Ok(())
}

fn matrix(a: &Analysis, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "latency at phase {}, ms; p50 with its {:.0}% order-statistic interval; \
         ~ = interval open on one side; n/a = insufficient (fewer than {} samples or p50 interval wider than {:.0}% of p50); other phases: --phase or --json",
        a.phase,
        a.method.confidence_level * 100.0,
        a.method.min_samples,
        a.method.max_relative_ci_width * 100.0
    )?;
    writeln!(
        out,
        "{:<16} {:<11} {:<16} {:>9}  {:<24} {:>9} {:>9} {:>9} {:>7}",
        "geo", "path", "region", "samples", "p50 [95% CI]", "p90", "p99", "p99.9", "errors"
    )?;
    for c in a.matrix.cells.iter().filter(|c| c.phase == a.phase) {
        writeln!(out, "{}", cell_row(c))?;
    }
    Ok(())
}

fn cell_row(c: &Cell) -> String {
    let errors = c
        .error_rate
        .map_or_else(|| "-".to_owned(), |r| format!("{:.2}%", r * 100.0));
    let head = format!(
        "{:<16} {:<11} {:<16} {:>9}",
        c.geo,
        c.path.as_str(),
        c.region,
        c.samples
    );
    match (&c.percentiles, &c.insufficient) {
        (Some(p), None) => format!(
            "{head}  {:<24} {:>9} {:>9} {:>9} {errors:>7}",
            with_ci(&p.p50),
            point(&p.p90),
            point(&p.p99),
            point(&p.p99_9)
        ),
        _ => format!(
            "{head}  {:<24} {:>9} {:>9} {:>9} {errors:>7}",
            format!("n/a (n={})", c.samples),
            "",
            "",
            ""
        ),
    }
}

fn ms(us: f64) -> String {
    format!("{:.2}", us / 1000.0)
}

fn point(e: &Estimate) -> String {
    let v = ms(e.value_us as f64);
    if e.bounded() { v } else { format!("~{v}") }
}

fn with_ci(e: &Estimate) -> String {
    let side = |b: Option<u64>| b.map_or_else(|| "?".to_owned(), |v| ms(v as f64));
    format!(
        "{} [{}, {}]",
        point(e),
        side(e.ci_low_us),
        side(e.ci_high_us)
    )
}

fn geos(a: &Analysis, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "routing at phase {} (p50, ms): today = direct p50 of today's regions weighted by their share of \
         Route 53 (else accelerator) answers; penalty significant when the {:.0}% intervals do not overlap",
        a.phase,
        a.method.confidence_level * 100.0
    )?;
    writeln!(
        out,
        "{:<16} {:<44} {:>9}  {:<26} {:>9}  verdict",
        "geo", "today's regions", "today", "best direct", "penalty"
    )?;
    for g in &a.geos {
        writeln!(out, "{}", geo_row(g))?;
    }
    Ok(())
}

fn geo_row(g: &GeoSummary) -> String {
    let regions = match g
        .today_path
        .and_then(|p| g.served_by.get(&p).map(|s| (p, s)))
    {
        Some((path, s)) => {
            let mut shares: Vec<(&String, &f64)> = s.fractions.iter().collect();
            shares.sort_by(|a, b| b.1.total_cmp(a.1));
            let list: Vec<String> = shares
                .iter()
                .map(|(r, f)| format!("{r} {:.0}%", *f * 100.0))
                .collect();
            format!("{} ({})", list.join(", "), path.as_str())
        }
        None => "-".to_owned(),
    };
    let today = g.today.as_ref().map_or("-".to_owned(), |t| ms(t.p50_us));
    let best = g.best_direct.as_ref().map_or("-".to_owned(), |b| {
        format!("{} {}", b.region, ms(b.p50.p50_us))
    });
    let penalty = g
        .penalty_us
        .map_or("-".to_owned(), |p| format!("{:+.2}", p / 1000.0));
    let verdict = match (g.verdict, &g.reason) {
        (Verdict::Significant, _) => "significant".to_owned(),
        (Verdict::NotSignificant, _) => "not significant".to_owned(),
        (Verdict::Insufficient, Some(why)) => format!("insufficient: {why}"),
        (Verdict::Insufficient, None) => "insufficient".to_owned(),
        (Verdict::NoRoutedData, _) => "no routed data".to_owned(),
    };
    format!(
        "{:<16} {regions:<44} {today:>9}  {best:<26} {penalty:>9}  {verdict}",
        g.geo
    )
}
