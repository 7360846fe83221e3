//! The report as Markdown for a pull request or a wiki: a headline of at
//! most ten lines, then the detail in `<details>` blocks (or the headline
//! alone with `--summary-only`).

use std::io::{self, Write};

use super::model::{BeforeAfter, GeoRow, Report, Verdict};

/// `41.2 -> 37.9 ms (-8.0%)`.
fn before_after(b: &BeforeAfter) -> String {
    format!(
        "{:.1} -> {:.1} ms ({:+.1}%)",
        b.before_ms, b.after_ms, b.change_pct
    )
}

/// The headline: verdict, size, latency, risk and data, at most 10 lines.
pub fn headline(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let h = &r.headline;
    let verdict = match h.verdict {
        Verdict::Apply => "**Apply**",
        Verdict::Hold => "**Hold**",
        Verdict::NotEnoughData => "**Not enough data**",
    };
    writeln!(out, "# Routing report: {}", r.world)?;
    writeln!(out)?;
    writeln!(out, "{verdict}: {}", h.reason)?;
    writeln!(out)?;
    writeln!(
        out,
        "- Affected: {} of {} geos, {:.1} of {:.1} rps ({:.1}% of traffic) change region",
        h.geos_changed,
        h.geos_total,
        h.traffic_moved_rps,
        h.demand_rps,
        h.traffic_moved_share * 100.0
    )?;
    writeln!(
        out,
        "- Demand-weighted p50 {}, p99 {}",
        before_after(&h.p50),
        before_after(&h.p99)
    )?;
    let risk = if h.regions_at_risk.is_empty() {
        "none".to_owned()
    } else {
        h.regions_at_risk.join(", ")
    };
    writeln!(
        out,
        "- Regions at risk (full or over usable capacity): {risk}"
    )?;
    let data = match &r.source.window {
        Some(w) => format!(
            "{} windows in {}, {} to {} ({} phase, {} thin cells)",
            w.windows,
            r.source.input,
            w.since.format("%Y-%m-%d %H:%M UTC"),
            w.until.format("%Y-%m-%d %H:%M UTC"),
            w.phase,
            w.thin_cells
        ),
        None => format!("world file {} (modelled, not measured)", r.source.input),
    };
    let data = match &r.stability {
        Some(st) => format!("{data}; {}", stability_line(st)),
        None => data,
    };
    writeln!(out, "- Data: {data}")?;
    Ok(())
}

/// Whether the slices agree, in a few words.
fn stability_line(st: &super::stability::Stability) -> String {
    let (planned, all) = (st.planned_slices, st.slices.len());
    if planned < 2 {
        format!(
            "stability unknown: only {planned} of {all} slices of the range had windows to advise on"
        )
    } else if st.stable {
        format!("the same proposal in all {planned} advised slices of {all}")
    } else {
        format!(
            "**unstable**: {} geos go elsewhere in some of {planned} advised slices ({})",
            st.unstable_geos.len(),
            st.unstable_geos.join(", ")
        )
    }
}

/// The whole report: the headline, then each section folded.
pub fn render(r: &Report, summary_only: bool, out: &mut dyn Write) -> io::Result<()> {
    headline(r, out)?;
    if summary_only {
        return Ok(());
    }
    let pct = r.source.percentile.as_str();
    details(out, "Charts", |out| {
        for c in super::charts::Chart::ALL
            .into_iter()
            .filter(|c| c.applies(r))
        {
            writeln!(out, "![{}]({})", c.heading(), c.file())?;
            writeln!(out)?;
        }
        Ok(())
    })?;
    details(out, "Changes and every geo", |out| {
        writeln!(
            out,
            "| geo | traffic | today | proposed | p50 ms | p99 ms | measured p50 (95% CI, n) | runner-up | floor / slack ms | risk |"
        )?;
        writeln!(out, "|---|---:|---|---|---|---|---|---|---|---|")?;
        for g in &r.geos {
            geo_line(g, out)?;
        }
        Ok(())
    })?;
    details(out, "Regions: load against capacity", |out| {
        writeln!(
            out,
            "| region | capacity rps | usable rps | today rps | plan rps | today | plan | notes |"
        )?;
        writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---|")?;
        for c in &r.regions {
            let mut notes = Vec::new();
            if c.at_risk {
                notes.push("at risk".to_owned());
            }
            if c.draining {
                notes.push("draining".to_owned());
            }
            if let Some(b) = &c.backup {
                notes.push(format!("backup {b}"));
            }
            writeln!(
                out,
                "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0}% | {:.0}% | {} |",
                c.id,
                c.capacity_rps,
                c.usable_rps,
                c.load_before_rps,
                c.load_after_rps,
                c.utilisation_before * 100.0,
                c.utilisation_after * 100.0,
                notes.join("; ")
            )?;
        }
        Ok(())
    })?;
    if let Some(st) = &r.stability {
        details(out, &format!("Stability: {}", stability_line(st)), |out| {
            writeln!(out, "| slice | windows | plan ms | geos sent elsewhere |")?;
            writeln!(out, "|---|---:|---:|---|")?;
            for s in &st.slices {
                let plan = s.plan_ms.map_or("-".to_owned(), |ms| format!("{ms:.1}"));
                let differs = match &s.note {
                    Some(note) => {
                        let short: String = note.chars().take(160).collect();
                        let more = if short.len() < note.len() { "…" } else { "" };
                        format!("no plan: {short}{more}")
                    }
                    None if s.differs.is_empty() => "none".to_owned(),
                    None => s.differs.join(", "),
                };
                writeln!(
                    out,
                    "| {} to {} | {} | {plan} | {differs} |",
                    s.since.format("%H:%M"),
                    s.until.format("%H:%M"),
                    s.windows
                )?;
            }
            if let Some(spread) = st.spread_ms {
                writeln!(out)?;
                writeln!(
                    out,
                    "Slice-to-slice spread of the planned latency: {spread:.1} ms."
                )?;
            }
            Ok(())
        })?;
    }
    details(out, "What each mechanism can express", |out| {
        writeln!(
            out,
            "| mechanism | {pct} ms | above optimum | what it can and cannot express |"
        )?;
        writeln!(out, "|---|---:|---:|---|")?;
        for m in &r.mechanisms {
            writeln!(
                out,
                "| {} | {:.2} | {:.2}% | {} |",
                m.mechanism, m.latency_ms, m.gap_pct, m.note
            )?;
        }
        Ok(())
    })?;
    details(out, "Data quality", |out| {
        if r.data_quality.is_empty() {
            writeln!(out, "No warnings.")?;
        }
        for q in &r.data_quality {
            writeln!(out, "- {q}")?;
        }
        Ok(())
    })?;
    details(out, "Commands", |out| {
        writeln!(out, "```sh")?;
        for c in &r.commands {
            writeln!(out, "{c}")?;
        }
        writeln!(out, "```")
    })
}

fn details(
    out: &mut dyn Write,
    summary: &str,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    writeln!(out)?;
    writeln!(out, "<details><summary>{summary}</summary>")?;
    writeln!(out)?;
    body(out)?;
    writeln!(out)?;
    writeln!(out, "</details>")
}

fn geo_line(g: &GeoRow, out: &mut dyn Write) -> io::Result<()> {
    let mark = if g.changed { "**" } else { "" };
    let measured = |m: &Option<super::model::Measured>| {
        let Some(m) = m else {
            return "-".to_owned();
        };
        let value = match (m.p50_ms, m.ci_low_ms, m.ci_high_ms) {
            (Some(p), Some(l), Some(h)) => {
                format!("{}: {p:.1} ({l:.1}-{h:.1}, n={})", m.region, m.samples)
            }
            (Some(p), _, _) => format!("{}: {p:.1} (n={})", m.region, m.samples),
            (None, _, _) => format!("{}: none", m.region),
        };
        if m.thin.is_some() {
            format!("{value} thin")
        } else {
            value
        }
    };
    let measured = if g.changed {
        format!(
            "{} -> {}",
            measured(&g.measured_today),
            measured(&g.measured_proposed)
        )
    } else {
        measured(&g.measured_today)
    };
    let runner_up = g.runner_up.as_ref().map_or("-".to_owned(), |r| {
        format!("{} {:.1} ({:+.1})", r.region, r.latency_ms, r.cost_ms)
    });
    let risk = g.risk.as_ref().map_or("-".to_owned(), |r| {
        if r.reasons.is_empty() {
            r.grade.as_str().to_owned()
        } else {
            format!("{}: {}", r.grade.as_str(), r.reasons.join("; "))
        }
    });
    writeln!(
        out,
        "| {mark}{}{mark} | {:.1}% | {} | {} | {:.1} -> {:.1} | {:.1} -> {:.1} | {measured} | {runner_up} | {:.1} / {:.1} | {risk} |",
        g.id,
        g.traffic_share * 100.0,
        crate::advise::summary::split(&g.today),
        crate::advise::summary::split(&g.proposed),
        g.p50.before_ms,
        g.p50.after_ms,
        g.p99.before_ms,
        g.p99.after_ms,
        g.floor_ms,
        g.slack_ms
    )
}
