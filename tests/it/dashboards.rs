//! The Grafana dashboards in `dashboards/grafana`, checked offline: every
//! query parses as PromQL once Grafana's variables are substituted and names
//! only metrics and labels that `geolat probe --serve` exposes (the capture
//! in `tests/fixtures/metrics/probe-serve.txt`); every variable used is
//! declared; rates use `$__rate_interval`; every panel is a current type with
//! a unit and the templated Prometheus, on the 24-column grid without
//! overlaps; uids are stable and unique; the provisioning file points at the
//! dashboards' folder.
//!
//! [`expressions`] hands the dashboards' queries, ready for a Prometheus, to
//! other tests: the end-to-end test in `metrics.rs` runs them against a real
//! one (`crate::dashboards::expressions()`).

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self, Expr, VectorSelector};
use promql_parser::util::{ExprVisitor, walk_expr};
use serde_json::Value;

/// The dashboards' folder, relative to the repository root.
pub const DIR: &str = "dashboards/grafana";

/// A capture of `geolat probe --serve`'s `/metrics` (hand-written until the
/// exporter's real one replaces it): what the queries may name.
const EXPOSITION: &str = "tests/fixtures/metrics/probe-serve.txt";

const PANEL_TYPES: [&str; 5] = ["timeseries", "stat", "heatmap", "geomap", "table"];
const GRID_COLUMNS: u64 = 24;
const MIN_SCHEMA_VERSION: u64 = 39;

/// One query of one panel.
#[derive(Debug, Clone)]
pub struct Expression {
    /// The dashboard's file name in [`DIR`], e.g. `geolat-overview.json`.
    pub dashboard: String,
    /// The panel's title as written (variables left in).
    pub panel: String,
    /// The target's `refId` (`A`, `B`...).
    pub ref_id: String,
    /// The query as written in the dashboard, Grafana variables and all.
    pub raw: String,
    /// The query with the variables substituted by [`substitute`]: PromQL
    /// that a Prometheus accepts as it is.
    pub expr: String,
}

impl fmt::Display for Expression {
    /// `geolat-overview.json: panel "Error ratio" query A`, for failure
    /// messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: panel {:?} query {}",
            self.dashboard, self.panel, self.ref_id
        )
    }
}

/// Every query of every panel of every dashboard in [`DIR`], in file order
/// then panel order, with Grafana's variables substituted (see
/// [`substitute`]). Panics naming the file when a dashboard is not JSON.
pub fn expressions() -> Vec<Expression> {
    let mut out = Vec::new();
    for (file, dashboard) in dashboards() {
        for panel in panels(&dashboard) {
            for target in targets(panel) {
                let Some(raw) = target["expr"].as_str().filter(|e| !e.trim().is_empty()) else {
                    continue;
                };
                out.push(Expression {
                    dashboard: file.clone(),
                    panel: title(panel).to_owned(),
                    ref_id: target["refId"].as_str().unwrap_or("").to_owned(),
                    raw: raw.to_owned(),
                    expr: substitute(raw),
                });
            }
        }
    }
    out
}

/// What Grafana would send for `raw`, with stand-ins for the values it
/// picks at query time: `$__rate_interval`, `$__interval` and `$__range`
/// become `5m` (`$__range_s` 300, `$__range_ms` and `$__interval_ms`
/// 300000), and every other variable (`$geo`, `${region}`, `${path:regex}`)
/// becomes `.*`, which is what "All" sends: the dashboards use them only
/// inside regex matchers (`geo=~"$geo"`), or single-valued inside a string
/// (`phase="$phase"`).
pub fn substitute(raw: &str) -> String {
    substitute_with(raw, TimeVars::uniform(300))
}

/// The seconds Grafana's time variables stand for in a substitution.
#[derive(Clone, Copy)]
struct TimeVars {
    rate_interval: u64,
    interval: u64,
    range: u64,
}

impl TimeVars {
    fn uniform(secs: u64) -> Self {
        TimeVars {
            rate_interval: secs,
            interval: secs,
            range: secs,
        }
    }
}

fn promql_duration(secs: u64) -> String {
    if secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

fn substitute_with(raw: &str, t: TimeVars) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut last = 0;
    for r in var_refs(raw) {
        out.push_str(&raw[last..r.start]);
        let value = match r.name.as_str() {
            "__rate_interval" => promql_duration(t.rate_interval),
            "__interval" => promql_duration(t.interval),
            "__range" => promql_duration(t.range),
            "__range_s" => t.range.to_string(),
            "__range_ms" => (t.range * 1000).to_string(),
            "__interval_ms" => (t.interval * 1000).to_string(),
            // The one single-value variable (geo detail's phase) is used in
            // `=` matchers: its default, not a regex.
            "phase" => "total".to_owned(),
            _ => ".*".to_owned(),
        };
        out.push_str(&value);
        last = r.end;
    }
    out.push_str(&raw[last..]);
    out
}

/// A Grafana variable reference: `$name`, `${name}`, `${name:format}` or
/// `${name.field.path}` (built-ins such as `${__value.raw}`). `name` is the
/// variable's, without the field path or format.
#[derive(Debug)]
struct VarRef {
    start: usize,
    end: usize,
    name: String,
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The variable references in `s`, in order. `$` not followed by a name
/// (a regex anchor, a price) is not one.
fn var_refs(s: &str) -> Vec<VarRef> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        let start = i;
        if b.get(i + 1) == Some(&b'{') {
            let name_start = i + 2;
            let mut j = name_start;
            while j < b.len() && is_word(b[j]) {
                j += 1;
            }
            let close = s[j..].find('}').map(|k| j + k);
            match close {
                Some(close) if j > name_start => {
                    out.push(VarRef {
                        start,
                        end: close + 1,
                        name: s[name_start..j].to_owned(),
                    });
                    i = close + 1;
                }
                _ => i += 1,
            }
        } else {
            let mut j = i + 1;
            while j < b.len() && is_word(b[j]) {
                j += 1;
            }
            if j > i + 1 {
                out.push(VarRef {
                    start,
                    end: j,
                    name: s[i + 1..j].to_owned(),
                });
            }
            i = j.max(i + 1);
        }
    }
    out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The dashboards in [`DIR`] by file name, sorted.
fn dashboards() -> Vec<(String, Value)> {
    let dir = root().join(DIR);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no dashboard JSON in {}", dir.display());
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let value = serde_json::from_str(&read(&path))
                .unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
            (name, value)
        })
        .collect()
}

/// Every panel, those nested in rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            out.push(p);
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

fn targets(panel: &Value) -> impl Iterator<Item = &Value> {
    panel["targets"].as_array().into_iter().flatten()
}

fn title(panel: &Value) -> &str {
    panel["title"].as_str().unwrap_or("")
}

/// `geolat-overview.json: panel 3 "Error ratio"`, for failure messages.
fn place(file: &str, panel: &Value) -> String {
    format!("{file}: panel {} {:?}", panel["id"], title(panel))
}

fn assert_none(problems: &[String], what: &str) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

/// The metric and the label names of every selector in an expression.
#[derive(Default)]
struct Selectors(Vec<(Option<String>, Vec<String>)>);

impl Selectors {
    fn add(&mut self, vs: &VectorSelector) {
        let matchers: Vec<&Matcher> = vs
            .matchers
            .matchers
            .iter()
            .chain(vs.matchers.or_matchers.iter().flatten())
            .collect();
        let by_name = matchers
            .iter()
            .find(|m| m.name == "__name__" && matches!(m.op, MatchOp::Equal))
            .map(|m| m.value.clone());
        let labels = matchers
            .iter()
            .filter(|m| m.name != "__name__")
            .map(|m| m.name.clone())
            .collect();
        self.0.push((vs.name.clone().or(by_name), labels));
    }
}

impl ExprVisitor for Selectors {
    type Error = Infallible;
    fn pre_visit(&mut self, e: &Expr) -> Result<bool, Infallible> {
        match e {
            Expr::VectorSelector(vs) => self.add(vs),
            Expr::MatrixSelector(ms) => self.add(&ms.vs),
            _ => {}
        }
        Ok(true)
    }
}

/// A text exposition (Prometheus 0.0.4 or OpenMetrics): each sample name
/// (`_bucket`, `_sum`, `_count`, `_total` and all, as Prometheus stores
/// them) with the label names seen on it. Comment lines are skipped.
fn exposition(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .unwrap_or(line.len());
        let labels = out.entry(line[..end].to_owned()).or_default();
        if line[end..].starts_with('{') {
            let names = label_names(&line[end + 1..])
                .unwrap_or_else(|| panic!("{EXPOSITION}:{}: bad label set: {line}", n + 1));
            labels.extend(names);
        }
    }
    out
}

/// The label names of `a="x",b="y\"z"} 1`: everything after the `{`.
fn label_names(rest: &str) -> Option<Vec<String>> {
    let mut names = Vec::new();
    let mut chars = rest.char_indices().peekable();
    loop {
        while chars
            .next_if(|(_, c)| *c == ',' || c.is_whitespace())
            .is_some()
        {}
        let (start, c) = chars.next()?;
        if c == '}' {
            return Some(names);
        }
        let eq = rest[start..].find('=')? + start;
        names.push(rest[start..eq].trim().to_owned());
        while chars.next_if(|(i, _)| *i <= eq).is_some() {}
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next()?.1 != '"' {
            return None;
        }
        loop {
            match chars.next()?.1 {
                '\\' => {
                    chars.next()?;
                }
                '"' => break,
                _ => {}
            }
        }
    }
}

#[test]
fn every_query_parses_as_promql() {
    let all = expressions();
    assert!(!all.is_empty(), "no queries in {DIR}");
    let mut problems = Vec::new();
    for e in &all {
        if e.expr.contains('$') {
            problems.push(format!("{e}: a variable is left in {:?}", e.expr));
        } else if let Err(err) = parser::parse(&e.expr) {
            problems.push(format!("{e}: {err}\n    {}", e.expr));
        }
    }
    assert_none(&problems, "queries that are not PromQL");
}

#[test]
fn every_metric_and_label_queried_is_in_the_exposition() {
    let exposed = exposition(&read(&root().join(EXPOSITION)));
    assert!(!exposed.is_empty(), "{EXPOSITION} has no samples");
    let mut problems = Vec::new();
    let check = |place: &str, metric: &str, labels: &[String], problems: &mut Vec<String>| {
        let Some(seen) = exposed.get(metric) else {
            problems.push(format!("{place}: metric {metric} is not in {EXPOSITION}"));
            return;
        };
        for l in labels.iter().filter(|l| !seen.contains(*l)) {
            problems.push(format!(
                "{place}: label {l} is on no {metric} sample in {EXPOSITION}"
            ));
        }
    };
    for e in expressions() {
        let Ok(ast) = parser::parse(&e.expr) else {
            continue; // every_query_parses_as_promql names it
        };
        let mut selectors = Selectors::default();
        let Ok(_) = walk_expr(&mut selectors, &ast);
        for (metric, labels) in &selectors.0 {
            match metric {
                Some(m) => check(&e.to_string(), m, labels, &mut problems),
                None => problems.push(format!("{e}: a selector without a metric name")),
            }
        }
    }
    // label_values(metric, label) in the variables' queries.
    for (file, d) in dashboards() {
        for v in variables(&d) {
            let query = v["definition"].as_str().or(v["query"]["query"].as_str());
            let Some(args) = query
                .and_then(|q| q.trim().strip_prefix("label_values("))
                .and_then(|q| q.strip_suffix(')'))
            else {
                continue;
            };
            let place = format!("{file}: variable {}", v["name"]);
            match args.split_once(',') {
                Some((metric, label)) => {
                    check(
                        &place,
                        metric.trim(),
                        &[label.trim().to_owned()],
                        &mut problems,
                    );
                }
                None => problems.push(format!("{place}: label_values({args}) names no metric")),
            }
        }
    }
    assert_none(&problems, "what the dashboards query is not exposed");
}

fn variables(dashboard: &Value) -> impl Iterator<Item = &Value> {
    dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
}

fn variable<'a>(dashboard: &'a Value, name: &str) -> Option<&'a Value> {
    variables(dashboard).find(|v| v["name"] == name)
}

/// Every string in `v` with where it is (`fieldConfig/defaults/links/0/url`).
fn strings(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) => out.push((at.to_owned(), s.clone())),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                strings(x, &format!("{at}/{i}"), out);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                strings(x, &format!("{at}/{k}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_variable_used_is_declared() {
    let mut problems = Vec::new();
    for (file, d) in dashboards() {
        let declared: BTreeSet<&str> = variables(&d).filter_map(|v| v["name"].as_str()).collect();
        let mut found = Vec::new();
        for panel in panels(&d) {
            let mut panel_only = panel.clone();
            if let Some(o) = panel_only.as_object_mut() {
                o.remove("panels");
            }
            let mut here = Vec::new();
            strings(&panel_only, "", &mut here);
            let place = place(&file, panel);
            found.extend(
                here.into_iter()
                    .map(|(at, s)| (format!("{place} at {at}"), s)),
            );
        }
        let mut rest = d.clone();
        if let Some(o) = rest.as_object_mut() {
            o.remove("panels");
        }
        strings(&rest, &file, &mut found);
        for (at, s) in found {
            for r in var_refs(&s) {
                if !r.name.starts_with("__") && !declared.contains(r.name.as_str()) {
                    problems.push(format!("{at}: ${} is not in templating.list", r.name));
                }
            }
        }
    }
    assert_none(&problems, "undeclared variables");
}

/// A multi-value variable expands to `a|b`: only a regex matcher takes it.
#[test]
fn multi_value_variables_sit_in_regex_matchers() {
    let all = dashboards();
    let mut problems = Vec::new();
    for e in expressions() {
        let d = &all.iter().find(|(f, _)| *f == e.dashboard).unwrap().1;
        for r in var_refs(&e.raw) {
            let multi = variable(d, &r.name).is_some_and(|v| v["multi"] == true);
            if !multi {
                continue;
            }
            let before = &e.raw[..r.start];
            let in_regex = before.rfind('"').is_some_and(|q| {
                let op = before[..q].trim_end();
                op.ends_with("=~") || op.ends_with("!~")
            });
            if !in_regex {
                problems.push(format!("{e}: ${} is not inside =~\"...\"", r.name));
            }
        }
    }
    assert_none(&problems, "multi-value variables outside regex matchers");
}

/// Ranges are Grafana's, never written in: `rate` and `irate` over
/// `$__rate_interval` (at least four scrapes, whatever the zoom), other
/// range functions over `$__rate_interval` or `$__range` (an instant total
/// over the time range picked) or `$__interval`.
#[test]
fn every_rate_uses_the_rate_interval() {
    const T: TimeVars = TimeVars {
        rate_interval: 7 * 60,
        interval: 11 * 60,
        range: 13 * 60,
    };
    struct Ranges(Vec<String>);
    impl ExprVisitor for Ranges {
        type Error = Infallible;
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, Infallible> {
            let templated = |d: &Duration| {
                [T.rate_interval, T.interval, T.range]
                    .iter()
                    .any(|s| *d == Duration::from_secs(*s))
            };
            match e {
                Expr::Call(call) if matches!(call.func.name, "rate" | "irate") => {
                    for arg in &call.args.args {
                        if let Expr::MatrixSelector(ms) = arg.as_ref()
                            && ms.range != Duration::from_secs(T.rate_interval)
                        {
                            self.0
                                .push(format!("{}() is not over $__rate_interval", call.func.name));
                        }
                    }
                }
                Expr::MatrixSelector(ms) if !templated(&ms.range) => {
                    self.0.push(format!("range {:?} is written in", ms.range));
                }
                Expr::Subquery(sq) if !templated(&sq.range) => {
                    self.0
                        .push(format!("subquery range {:?} is written in", sq.range));
                }
                _ => {}
            }
            Ok(true)
        }
    }
    let mut problems = Vec::new();
    for e in expressions() {
        let Ok(ast) = parser::parse(&substitute_with(&e.raw, T)) else {
            continue; // every_query_parses_as_promql names it
        };
        let mut ranges = Ranges(Vec::new());
        let Ok(_) = walk_expr(&mut ranges, &ast);
        problems.extend(ranges.0.into_iter().map(|p| format!("{e}: {p}")));
    }
    assert_none(&problems, "ranges not Grafana's");
}

#[test]
fn panels_sit_on_the_grid_without_overlapping() {
    let mut problems = Vec::new();
    for (file, d) in dashboards() {
        let mut ids = BTreeMap::new();
        let mut boxes: Vec<(String, [u64; 4])> = Vec::new();
        for panel in panels(&d) {
            let place = place(&file, panel);
            match panel["id"].as_u64() {
                None => problems.push(format!("{place}: no numeric id")),
                Some(id) => {
                    if let Some(other) = ids.insert(id, place.clone()) {
                        problems.push(format!("{place}: id {id} is also {other}'s"));
                    }
                }
            }
            let g = &panel["gridPos"];
            let [Some(x), Some(y), Some(w), Some(h)] = ["x", "y", "w", "h"].map(|k| g[k].as_u64())
            else {
                problems.push(format!("{place}: gridPos {g} is not four whole numbers"));
                continue;
            };
            if w == 0 || h == 0 {
                problems.push(format!("{place}: gridPos {g} is empty"));
            }
            if x + w > GRID_COLUMNS {
                problems.push(format!(
                    "{place}: gridPos {g} goes past column {GRID_COLUMNS}"
                ));
            }
            for (other, [ox, oy, ow, oh]) in &boxes {
                if x < ox + ow && *ox < x + w && y < oy + oh && *oy < y + h {
                    problems.push(format!("{place}: gridPos {g} overlaps {other}"));
                }
            }
            boxes.push((place, [x, y, w, h]));
        }
        if boxes.is_empty() {
            problems.push(format!("{file}: no panels"));
        }
    }
    assert_none(&problems, "panels off the grid");
}

#[test]
fn panels_are_current_types_with_a_unit_and_the_templated_prometheus() {
    let datasource = serde_json::json!({"type": "prometheus", "uid": "${datasource}"});
    let mut problems = Vec::new();
    for (file, d) in dashboards() {
        for panel in panels(&d) {
            let place = place(&file, panel);
            let kind = panel["type"].as_str().unwrap_or("");
            if !PANEL_TYPES.contains(&kind) {
                problems.push(format!(
                    "{place}: type {kind:?} is not one of {PANEL_TYPES:?}"
                ));
            }
            if title(panel).trim().is_empty() {
                problems.push(format!("{place}: no title"));
            }
            let unit = &panel["fieldConfig"]["defaults"]["unit"];
            if unit.as_str().is_none_or(|u| u.trim().is_empty()) {
                problems.push(format!("{place}: no fieldConfig.defaults.unit"));
            }
            if panel["datasource"] != datasource {
                problems.push(format!(
                    "{place}: datasource {} is not {datasource}",
                    panel["datasource"]
                ));
            }
            let mut refs = BTreeSet::new();
            for t in targets(panel) {
                let r = t["refId"].as_str().unwrap_or("");
                if r.is_empty() || !refs.insert(r) {
                    problems.push(format!("{place}: refId {r:?} is empty or repeated"));
                }
                if !t["datasource"].is_null() && t["datasource"] != datasource {
                    problems.push(format!("{place} query {r}: datasource {}", t["datasource"]));
                }
                if t["expr"].as_str().is_none_or(|e| e.trim().is_empty()) {
                    problems.push(format!("{place} query {r}: no expr"));
                }
            }
            if refs.is_empty() {
                problems.push(format!("{place}: no queries"));
            }
            if kind == "heatmap" && !targets(panel).any(|t| t["format"] == "heatmap") {
                problems.push(format!(
                    "{place}: a heatmap without a format: heatmap query"
                ));
            }
            if kind == "geomap"
                && !targets(panel).any(|t| {
                    t["expr"]
                        .as_str()
                        .is_some_and(|e| e.contains("geolat_geo_info"))
                })
            {
                problems.push(format!("{place}: a geomap not joined with geolat_geo_info"));
            }
        }
    }
    assert_none(&problems, "panels");
}

#[test]
fn dashboards_have_stable_unique_uids_and_the_variables() {
    let mut problems = Vec::new();
    let mut uids = BTreeMap::new();
    for (file, d) in dashboards() {
        let uid = d["uid"].as_str().unwrap_or("");
        // Grafana's limit; a uid made of letters, digits and dashes reads in a URL.
        if uid.is_empty()
            || uid.len() > 40
            || !uid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            problems.push(format!("{file}: uid {uid:?} is not a stable slug"));
        }
        if let Some(other) = uids.insert(uid.to_owned(), file.clone()) {
            problems.push(format!("{file}: uid {uid:?} is also {other}'s"));
        }
        if d["title"].as_str().is_none_or(|t| t.trim().is_empty()) {
            problems.push(format!("{file}: no title"));
        }
        if !d["id"].is_null() {
            problems.push(format!(
                "{file}: id {} (a provisioned dashboard has none)",
                d["id"]
            ));
        }
        if d["schemaVersion"]
            .as_u64()
            .is_none_or(|v| v < MIN_SCHEMA_VERSION)
        {
            problems.push(format!(
                "{file}: schemaVersion {} is below {MIN_SCHEMA_VERSION}",
                d["schemaVersion"]
            ));
        }
        for wrapper in ["__inputs", "__requires"] {
            if !d[wrapper].is_null() {
                problems.push(format!(
                    "{file}: {wrapper} (an import wrapper) in a provisioned file"
                ));
            }
        }
        match variable(&d, "datasource") {
            Some(v) if v["type"] == "datasource" && v["query"] == "prometheus" => {}
            other => problems.push(format!(
                "{file}: variable datasource is not {{type: datasource, query: prometheus}}: {other:?}"
            )),
        }
        for (name, query) in [
            ("geo", "label_values(geolat_geo_info, geo)"),
            (
                "region",
                "label_values(geolat_probe_requests_total, region)",
            ),
        ] {
            let Some(v) = variable(&d, name) else {
                problems.push(format!("{file}: no variable {name}"));
                continue;
            };
            let q = v["query"]["query"].as_str().or(v["query"].as_str());
            if v["type"] != "query"
                || q != Some(query)
                || v["multi"] != true
                || v["includeAll"] != true
            {
                problems.push(format!(
                    "{file}: variable {name} is not a multi, includeAll query of {query}"
                ));
            }
        }
    }
    assert_none(&problems, "dashboards");
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Provisioning {
    api_version: u32,
    providers: Vec<Provider>,
}

#[derive(serde::Deserialize)]
struct Provider {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    options: ProviderOptions,
}

#[derive(serde::Deserialize)]
struct ProviderOptions {
    path: String,
}

/// `provisioning.yaml` sits beside the JSON and loads the folder it is in
/// once that folder is mounted where the README's `docker run` mounts it.
#[test]
fn provisioning_points_at_the_dashboards_folder() {
    let dir = root().join(DIR);
    let file = dir.join("provisioning.yaml");
    let p: Provisioning =
        serde_saphyr::from_str(&read(&file)).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert_eq!(p.api_version, 1, "{}: apiVersion", file.display());
    let [provider] = p.providers.as_slice() else {
        panic!("{}: one provider expected", file.display());
    };
    assert!(
        !provider.name.is_empty(),
        "{}: provider without a name",
        file.display()
    );
    assert_eq!(provider.kind, "file", "{}: provider type", file.display());
    let path = provider.options.path.trim_end_matches('/');
    assert!(
        path.starts_with('/'),
        "{}: options.path {path:?} is not absolute",
        file.display()
    );
    let readme = read(&dir.join("README.md"));
    let mount = format!("{DIR}:{path}");
    assert!(
        readme.contains(&mount),
        "{DIR}/README.md does not mount the folder where provisioning.yaml looks ({mount})"
    );
}

#[test]
fn readme_names_every_dashboard() {
    let readme = read(&root().join(DIR).join("README.md"));
    for (file, d) in dashboards() {
        let uid = d["uid"].as_str().unwrap_or("");
        assert!(
            readme.contains(&format!("`{file}`")) && readme.contains(&format!("`{uid}`")),
            "{DIR}/README.md does not name {file} and its uid {uid:?}"
        );
    }
}

#[test]
fn substitution_stands_in_for_grafana() {
    assert_eq!(
        substitute(r#"rate(x{geo=~"$geo",path=~"${path:regex}"}[$__rate_interval]) > $__range_s"#),
        r#"rate(x{geo=~".*",path=~".*"}[5m]) > 300"#
    );
    assert_eq!(
        substitute("a$ ${__value.raw} $__interval_ms"),
        "a$ .* 300000"
    );
    let names: Vec<String> = var_refs("/d/x?${datasource:queryparam}&var-geo=${__value.raw}")
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["datasource", "__value"]);
}

#[test]
fn exposition_lines_give_sample_names_and_labels() {
    let e = exposition(
        "# TYPE a histogram\na_bucket{le=\"0.1\",x=\"q\\\"}{,\"} 3\nb_total 1 1700000000\n\n",
    );
    assert_eq!(
        e["a_bucket"],
        BTreeSet::from(["le".to_owned(), "x".to_owned()])
    );
    assert!(e["b_total"].is_empty());
}
