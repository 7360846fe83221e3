//! The report as one self-contained HTML page: inline CSS and inline SVG
//! charts, no script, no fonts or styles fetched from anywhere, so it reads
//! offline and from a CI artifact. Drawn from the model alone (and the
//! world, for the charts).

use std::io::{self, Write};

use super::charts;
use super::model::{Report, Verdict};
use crate::world::World;

/// Text as HTML: the five characters that could start markup, escaped.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#111}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em}\
.verdict{font-size:1.2em;padding:.5em .8em;border-left:6px solid #0072B2;background:#f2f7fb}\
.hold{border-color:#999}.not_enough_data{border-color:#D55E00}\
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}\
th,td{border:1px solid #ccc;padding:2px 6px;text-align:left}td.n{text-align:right}\
tr.changed td:first-child{font-weight:bold}\
pre{background:#f6f6f6;padding:.6em;overflow-x:auto}svg{max-width:100%;height:auto}";

pub fn render(r: &Report, world: &World, out: &mut dyn Write) -> io::Result<()> {
    let h = &r.headline;
    writeln!(out, "<!DOCTYPE html>")?;
    writeln!(out, "<html lang=\"en\"><head><meta charset=\"utf-8\">")?;
    writeln!(out, "<title>Routing report: {}</title>", esc(&r.world))?;
    writeln!(out, "<style>{STYLE}</style></head><body>")?;
    writeln!(out, "<h1>Routing report: {}</h1>", esc(&r.world))?;
    let (class, verdict) = match h.verdict {
        Verdict::Apply => ("apply", "Apply"),
        Verdict::Hold => ("hold", "Hold"),
        Verdict::NotEnoughData => ("not_enough_data", "Not enough data"),
    };
    writeln!(
        out,
        "<p class=\"verdict {class}\"><strong>{verdict}</strong>: {}</p>",
        esc(&h.reason)
    )?;
    let mut md = Vec::new();
    super::markdown::headline(r, &mut md)?;
    writeln!(out, "<ul>")?;
    for line in String::from_utf8_lossy(&md)
        .lines()
        .filter(|l| l.starts_with("- "))
    {
        writeln!(out, "<li>{}</li>", esc(&line[2..]))?;
    }
    writeln!(out, "</ul>")?;

    for chart in charts::Chart::ALL.into_iter().filter(|c| c.applies(r)) {
        writeln!(out, "<h2>{}</h2>", chart.heading())?;
        writeln!(out, "{}", charts::svg(chart, r, world))?;
    }

    writeln!(
        out,
        "<h2>Every geo</h2><table><tr><th>geo</th><th>traffic</th><th>today</th><th>proposed</th><th>p50 ms</th><th>p99 ms</th><th>floor ms</th><th>runner-up</th><th>risk</th></tr>"
    )?;
    for g in &r.geos {
        let runner = g.runner_up.as_ref().map_or(String::new(), |u| {
            format!("{} {:.1} ({:+.1})", u.region, u.latency_ms, u.cost_ms)
        });
        let risk = g.risk.as_ref().map_or(String::new(), |k| {
            format!("{} {}", k.grade.as_str(), k.reasons.join("; "))
        });
        writeln!(
            out,
            "<tr{}><td>{}</td><td class=\"n\">{:.1}%</td><td>{}</td><td>{}</td><td class=\"n\">{:.1} → {:.1}</td><td class=\"n\">{:.1} → {:.1}</td><td class=\"n\">{:.1}</td><td>{}</td><td>{}</td></tr>",
            if g.changed { " class=\"changed\"" } else { "" },
            esc(&g.id),
            g.traffic_share * 100.0,
            esc(&crate::advise::summary::split(&g.today)),
            esc(&crate::advise::summary::split(&g.proposed)),
            g.p50.before_ms,
            g.p50.after_ms,
            g.p99.before_ms,
            g.p99.after_ms,
            g.floor_ms,
            esc(&runner),
            esc(&risk)
        )?;
    }
    writeln!(out, "</table>")?;

    writeln!(
        out,
        "<h2>What each mechanism can express</h2><table><tr><th>mechanism</th><th>latency ms</th><th>above optimum</th><th>note</th></tr>"
    )?;
    for m in &r.mechanisms {
        writeln!(
            out,
            "<tr><td>{}</td><td class=\"n\">{:.2}</td><td class=\"n\">{:.2}%</td><td>{}</td></tr>",
            esc(&m.mechanism),
            m.latency_ms,
            m.gap_pct,
            esc(&m.note)
        )?;
    }
    writeln!(out, "</table>")?;
    writeln!(out, "<h2>Data quality</h2><ul>")?;
    for q in &r.data_quality {
        writeln!(out, "<li>{}</li>", esc(q))?;
    }
    writeln!(out, "</ul><h2>Commands</h2><pre>")?;
    for c in &r.commands {
        writeln!(out, "{}", esc(c))?;
    }
    writeln!(out, "</pre></body></html>")
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(
            super::esc("<b a=\"x\">&'"),
            "&lt;b a=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
