//! The plan: the decision (apply / hold / not enough data) and why, the
//! projected gain, each changed geo with its gain and risk, and the recent
//! audit history from the store.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::fit;
use crate::dash::state::State;
use crate::dash::theme::Theme;
use crate::report::model::Verdict;

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let Some(snapshot) = &state.data.snapshot else {
        return;
    };
    let e = theme.glyphs().ellipsis;
    let w = usize::from(area.width);
    let mut lines = Vec::new();
    match &snapshot.advice {
        Err(why) => lines.push(Line::raw(why.clone())),
        Ok(r) => {
            let h = &r.headline;
            let style = match h.verdict {
                Verdict::Apply => theme.good(),
                _ => theme.warning(),
            };
            lines.push(Line::styled(
                format!("decision: {}: {}", h.verdict.as_str(), h.reason),
                style,
            ));
            lines.push(Line::raw(format!(
                "demand-weighted p50 {:.1} -> {:.1} ms ({:+.1}%), p99 {:.1} -> {:.1} ms ({:+.1}%)",
                h.p50.before_ms,
                h.p50.after_ms,
                h.p50.change_pct,
                h.p99.before_ms,
                h.p99.after_ms,
                h.p99.change_pct
            )));
            lines.push(Line::raw(format!(
                "{} of {} geos change region, {:.0} of {:.0} rps ({:.1}%){}",
                h.geos_changed,
                h.geos_total,
                h.traffic_moved_rps,
                h.demand_rps,
                h.traffic_moved_share * 100.0,
                if h.regions_at_risk.is_empty() {
                    String::new()
                } else {
                    format!("; at risk: {}", h.regions_at_risk.join(", "))
                }
            )));
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                format!(
                    "{:<16} {:<15} {:<15} {:>10} {:>7}  risk",
                    "geo", "today", "proposed", "p50 change", "traffic"
                ),
                theme.title(),
            ));
            let changed: Vec<_> = r.geos.iter().filter(|g| g.changed).collect();
            if changed.is_empty() {
                lines.push(Line::raw("no geo changes region: today's routing is kept"));
            }
            for g in changed {
                let risk = g.risk.as_ref().map_or("-".into(), |k| {
                    format!("{} ({})", k.grade.as_str(), k.reasons.join("; "))
                });
                let text = format!(
                    "{:<16} {:<15} {:<15} {:>10} {:>6.1}%  {risk}",
                    fit(&g.id, 16, e),
                    fit(&g.serving_today, 15, e),
                    fit(&g.serving_proposed, 15, e),
                    format!("{:+.1} ms", g.p50.change_ms),
                    g.traffic_share * 100.0
                );
                lines.push(Line::raw(fit(&text, w, e)));
            }
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "recent changes (audit history in the store)",
        theme.title(),
    ));
    if snapshot.audit.is_empty() {
        lines.push(Line::raw("none recorded"));
    }
    for a in &snapshot.audit {
        let text = format!(
            "{} {} {:<9} {:<14} {}",
            a.at.format("%Y-%m-%d %H:%M"),
            a.id,
            a.action.to_string(),
            fit(&a.who, 14, e),
            a.result
        );
        lines.push(Line::raw(fit(&text, w, e)));
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((state.plan_scroll, 0)),
        area,
    );
}
