//! Regions: load against capacity today and with the plan, as bars with
//! the usable-capacity mark, the accelerator's dial when AWS is read, and
//! health (the direct path's error rate from every geo).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::fit;
use crate::config::PathKind;
use crate::dash::state::State;
use crate::dash::theme::Theme;

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let Some(snapshot) = &state.data.snapshot else {
        return;
    };
    let report = match &snapshot.advice {
        Ok(r) => r,
        Err(why) => {
            f.render_widget(Paragraph::new(why.clone()).wrap(Wrap { trim: false }), area);
            return;
        }
    };
    let g = theme.glyphs();
    let bar_w = (usize::from(area.width).saturating_sub(50) / 2).clamp(6, 30);
    let mut lines = vec![Line::styled(
        format!(
            "{:<15} {:>8} {:<w$} {:<w$} {:>6} {:>7}  {}",
            "region",
            "capacity",
            "load today",
            "with the plan",
            "dial",
            "errors",
            "notes",
            w = bar_w + 5
        ),
        theme.title(),
    )];
    for r in &report.regions {
        let mut notes = Vec::new();
        if r.at_risk {
            notes.push("AT RISK".to_owned());
        }
        if r.draining {
            notes.push("draining".to_owned());
        }
        if let Some(b) = &r.backup {
            notes.push(format!("backup {b}"));
        }
        let (attempts, errors) = snapshot
            .analysis
            .matrix
            .outcomes
            .iter()
            .filter(|o| o.path == PathKind::Direct && o.region.as_deref() == Some(&r.id))
            .fold((0u64, 0u64), |(a, e), o| (a + o.attempts, e + o.errors));
        let health = if attempts == 0 {
            "-".to_owned()
        } else {
            format!("{:.1}%", 100.0 * errors as f64 / attempts as f64)
        };
        let dial = match &snapshot.routing {
            Some(Ok(state)) => state
                .accelerator
                .get(&r.id)
                .map_or("-".into(), |d| format!("{d:.0}%")),
            _ => "-".into(),
        };
        let usable = if r.capacity_rps > 0.0 {
            r.usable_rps / r.capacity_rps
        } else {
            0.0
        };
        let bar = |load: f64| {
            let share = if r.capacity_rps > 0.0 {
                load / r.capacity_rps
            } else {
                0.0
            };
            let filled = ((share * bar_w as f64).round() as usize).min(bar_w);
            let mark = ((usable * bar_w as f64).round() as usize).min(bar_w.saturating_sub(1));
            let mut s: Vec<char> = (0..bar_w)
                .map(|i| if i < filled { g.bar } else { ' ' })
                .collect();
            if s[mark] == ' ' {
                s[mark] = '|';
            }
            format!(
                "{}{:>4.0}%",
                s.into_iter().collect::<String>(),
                share * 100.0
            )
        };
        let style = if r.at_risk {
            theme.warning()
        } else {
            ratatui::style::Style::default()
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{:<15} ", fit(&r.id, 15, g.ellipsis)), style),
            Span::raw(format!("{:>8.0} ", r.capacity_rps)),
            Span::styled(format!("{} ", bar(r.load_before_rps)), theme.series(0)),
            Span::styled(format!("{} ", bar(r.load_after_rps)), theme.series(1)),
            Span::raw(format!("{dial:>6} {health:>7}  ")),
            Span::styled(notes.join(", "), style),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        format!(
            "bars: load as a share of capacity; | marks usable capacity (after headroom); {} today vs with the plan",
            report.source.percentile.as_str()
        ),
        theme.dim(),
    ));
    match &snapshot.routing {
        None => lines.push(Line::styled(
            "dials and DNS weights: give --aws FILE to read them from AWS",
            theme.dim(),
        )),
        Some(Err(e)) => lines.push(Line::styled(
            format!("AWS routing unreadable: {e}"),
            theme.warning(),
        )),
        Some(Ok(state)) => {
            lines.push(Line::styled(
                format!(
                    "Route 53 today, by region: the locations ({} in all) that weight it, and their weights",
                    state.dns.len()
                ),
                theme.dim(),
            ));
            for r in &report.regions {
                let weights: Vec<u8> = state
                    .dns
                    .values()
                    .filter_map(|w| w.get(&r.id).copied().filter(|w| *w > 0))
                    .collect();
                let text = match (weights.iter().min(), weights.iter().max()) {
                    (Some(lo), Some(hi)) => format!(
                        "{:<15} {} locations, weight {lo}-{hi}",
                        fit(&r.id, 15, g.ellipsis),
                        weights.len()
                    ),
                    _ => format!("{:<15} no location", fit(&r.id, 15, g.ellipsis)),
                };
                lines.push(Line::raw(text));
            }
        }
    }
    f.render_widget(Paragraph::new(lines), area);
}
