//! The deployment: `deploy/Dockerfile` and the Helm chart
//! `deploy/charts/geolat`, checked offline by `deploy/test/check-chart.sh`
//! (hadolint, yamllint, the values schema, helm lint and template over every
//! scenario, bad values refused, kubernetes-validate, the restricted-pod
//! assertions of `deploy/test/security.py`, checkov). Its tools come from
//! `deploy/test/tools.sh`; a missing one fails these tests, never skips them.
//!
//! The files the chart's ConfigMaps carry are then loaded with geolat's own
//! parsers: a probe YAML or topology written as Helm values must still be
//! one geolat accepts, and the fleet's region probes must cover the
//! analyzer's topology, or `analyze --world-out` would refuse every run.
//! Every container's arguments are parsed by geolat's own command line, so
//! a chart cannot pass a flag the binary does not have.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::Parser as _;
use geolat::aws::AwsRouting;
use geolat::cli::Cli;
use geolat::config::ProbeConfig;
use geolat::world::topology::Topology;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chart() -> PathBuf {
    root().join("deploy/charts/geolat")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The directory `deploy/test/tools.sh` installs helm and the rest into.
fn tools() -> PathBuf {
    let out = Command::new(root().join("deploy/test/tools.sh"))
        .output()
        .expect("deploy/test/tools.sh runs (needs sh)");
    assert!(
        out.status.success(),
        "deploy/test/tools.sh failed: {}",
        text(&out.stderr).trim()
    );
    PathBuf::from(text(&out.stdout).trim())
}

fn helm_template(args: &[&str]) -> Output {
    let chart = chart();
    Command::new(tools().join("helm"))
        .args(["template", "geolat"])
        .arg(&chart)
        .args(["-n", "geolat"])
        .args(args)
        .output()
        .expect("helm runs")
}

/// Each scenario's folder of rendered config files, by scenario name.
fn scenarios(configs: &Path) -> BTreeMap<String, PathBuf> {
    std::fs::read_dir(configs)
        .unwrap_or_else(|e| panic!("{}: {e}", configs.display()))
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect()
}

#[test]
fn chart_and_dockerfile_pass_the_deployment_checks() {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(root().join("deploy/test/check-chart.sh"))
        .env("GEOLAT_CHECK_OUT", out.path())
        .output()
        .expect("deploy/test/check-chart.sh runs (needs sh)");
    println!("{}", text(&run.stdout));
    eprintln!("{}", text(&run.stderr));
    assert!(
        run.status.success(),
        "deploy/test/check-chart.sh failed ({}); its output is above",
        run.status
    );

    // Every rendered config file parses and validates as geolat reads it.
    let scenarios = scenarios(&out.path().join("configs"));
    assert!(scenarios.len() >= 13, "scenarios: {:?}", scenarios.keys());
    let mut probes = BTreeMap::new();
    let mut topologies = BTreeMap::new();
    for (name, dir) in &scenarios {
        let probe = dir.join("probe.yaml");
        assert!(probe.is_file(), "{name}: no probe.yaml rendered");
        let config = ProbeConfig::load(&probe).unwrap_or_else(|e| panic!("{name}: {e}"));
        probes.insert(name.clone(), config);
        let topology = dir.join("topology.json");
        if topology.is_file() {
            let t = Topology::load(&topology).unwrap_or_else(|e| panic!("{name}: {e}"));
            topologies.insert(name.clone(), t);
        }
        let aws = dir.join("aws-routing.yaml");
        if aws.is_file() {
            AwsRouting::load(&aws).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    commands_parse(&scenarios);
    assert!(
        topologies.contains_key("default") && topologies.contains_key("ci-apply"),
        "the analyzer's topology is rendered: {:?}",
        topologies.keys()
    );

    // The region values files: a region probe each, in its own region,
    // standing for its own geo.
    let regions: Vec<(&String, &ProbeConfig)> = probes
        .iter()
        .filter(|(n, c)| n.starts_with("values-") && c.identity.location == "region")
        .collect();
    assert_eq!(regions.len(), 6, "six region values files");
    let mut geos = BTreeSet::new();
    for (name, c) in &regions {
        let region = name.trim_start_matches("values-");
        assert_eq!(c.identity.region.as_deref(), Some(region), "{name}");
        let geo = c
            .identity
            .geo
            .id
            .clone()
            .unwrap_or_else(|| c.identity.id.clone());
        assert!(
            geos.insert(geo.clone()),
            "{name}: geo {geo} is another release's too"
        );
    }
    let edge = &probes["values-edge-sao-paulo"];
    assert_eq!(
        (
            edge.identity.location.as_str(),
            edge.identity.region.as_deref()
        ),
        ("edge", None),
        "the edge probe has no region"
    );

    // The fleet covers the example topology the analyzer plans on: every
    // geo is a region probe's, and that probe measures every region directly.
    let topology = &topologies["default"];
    let serving: BTreeSet<&str> = topology.regions.iter().map(|r| r.id.as_str()).collect();
    for g in &topology.geos {
        let (name, probe) = regions
            .iter()
            .find(|(_, c)| c.identity.geo.id.as_deref() == Some(g.id.as_str()))
            .unwrap_or_else(|| panic!("topology geo {} has no region probe", g.id));
        let direct: BTreeSet<&str> = probe
            .targets
            .iter()
            .filter(|t| t.path.as_str() == "direct")
            .filter_map(|t| t.region.as_deref())
            .collect();
        assert_eq!(direct, serving, "{name}: direct targets for geo {}", g.id);
    }
}

/// Parses every rendered container's arguments with geolat's command line.
fn commands_parse(scenarios: &BTreeMap<String, PathBuf>) {
    let mut parsed = 0;
    for (name, dir) in scenarios {
        let file = dir.join("commands.json");
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{name}: {e}"));
        let commands: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        assert!(!commands.is_empty(), "{name}: no containers");
        for c in commands {
            let args: Vec<&str> = c["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            let at = format!("{name}: {} container {}", c["object"], c["container"]);
            match Cli::try_parse_from(std::iter::once("geolat").chain(args.iter().copied())) {
                Ok(_) => parsed += 1,
                Err(e) => panic!("{at}: geolat refuses {args:?}: {e}"),
            }
        }
    }
    println!("{parsed} container command lines parse as geolat's");
}

#[test]
fn helm_refuses_apply_without_a_role_and_applies_with_one() {
    let refused = helm_template(&["--set", "analyzer.apply.enabled=true"]);
    let err = text(&refused.stderr);
    assert!(
        !refused.status.success(),
        "rendered: {}",
        text(&refused.stdout)
    );
    assert!(
        err.contains("analyzer.apply.enabled needs analyzer.apply.roleArn"),
        "{err}"
    );

    let role = "arn:aws:iam::123456789012:role/geolat-apply";
    let rendered = helm_template(&[
        "--set",
        "analyzer.apply.enabled=true",
        "--set",
        &format!("analyzer.apply.roleArn={role}"),
    ]);
    assert!(rendered.status.success(), "{}", text(&rendered.stderr));
    let manifest = text(&rendered.stdout);
    assert!(
        manifest.contains(&format!("eks.amazonaws.com/role-arn: \"{role}\"")),
        "the apply ServiceAccount carries the apply role"
    );
    for arg in ["- plan", "- apply", "- --apply", "- --yes"] {
        assert!(manifest.contains(arg), "no `{arg}` in the analyzer");
    }
}
