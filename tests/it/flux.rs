//! The Flux deployment, `deploy/flux`, checked offline by
//! `deploy/test/check-flux.sh`: every overlay built with kustomize as Flux
//! builds it, every Flux object held strictly to Flux's schemas (unknown
//! fields refused), core objects to Kubernetes' with kubernetes-validate,
//! each overlay's effective values to the chart's values.schema.json and
//! rendered with helm template, and the negative cases refused. Its tools
//! come from `deploy/test/tools.sh`; a missing one fails these tests, never
//! skips them.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn flux_overlays_pass_the_flux_checks() {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(root().join("deploy/test/check-flux.sh"))
        .env("GEOLAT_FLUX_CHECK_OUT", out.path())
        .output()
        .expect("deploy/test/check-flux.sh runs (needs sh)");
    let stdout = text(&run.stdout);
    println!("{stdout}");
    eprintln!("{}", text(&run.stderr));
    assert!(
        run.status.success(),
        "deploy/test/check-flux.sh failed ({}); its output is above",
        run.status
    );

    // Every overlay got as far as helm template, each as its own release.
    let releases = std::fs::read_to_string(out.path().join("values/releases.txt")).unwrap();
    let overlays: Vec<&str> = releases
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    for region in [
        "us-east-1",
        "us-west-2",
        "eu-central-1",
        "ap-northeast-1",
        "ap-southeast-1",
        "sa-east-1",
        "edge-sao-paulo",
    ] {
        assert!(
            overlays.contains(&region),
            "no release for {region}: {overlays:?}"
        );
        assert!(
            out.path().join(format!("helm/{region}.yaml")).is_file(),
            "{region} was not rendered"
        );
    }
    // The negative cases ran, and each was refused.
    let refused = stdout.matches("rejected as it should be").count();
    assert!(refused >= 8, "{refused} negative cases refused");
}

/// The Flux schema check itself, from outside the script: a HelmRelease
/// with a misspelt field fails and names it, the same object spelt right
/// passes.
#[test]
fn a_helmrelease_with_an_unknown_field_fails_the_flux_schema_check() {
    let tools = Command::new(root().join("deploy/test/tools.sh"))
        .output()
        .expect("deploy/test/tools.sh runs (needs sh)");
    assert!(
        tools.status.success(),
        "deploy/test/tools.sh failed: {}",
        text(&tools.stderr).trim()
    );
    let dir = tempfile::tempdir().unwrap();
    let release = |extra: &str| {
        format!(
            "apiVersion: helm.toolkit.fluxcd.io/v2\n\
             kind: HelmRelease\n\
             metadata: {{name: geolat, namespace: geolat}}\n\
             spec:\n  \
               interval: 10m\n  \
               releaseName: geolat\n  \
               chartRef: {{kind: OCIRepository, name: geolat-chart}}\n  \
               upgrade:\n    \
                 cleanupOnFail: true\n    \
                 remediation: {{retries: 3, remediateLastFailure: true{extra}}}\n"
        )
    };
    let check = |name: &str, yaml: String| {
        let file = dir.path().join(name);
        std::fs::write(&file, yaml).unwrap();
        Command::new(root().join(".venv-deploy/bin/python"))
            .arg(root().join("deploy/test/flux_schemas.py"))
            .arg("validate")
            .arg(&file)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .expect(".venv-deploy's python runs")
    };

    let good = check("good.yaml", release(""));
    assert!(good.status.success(), "{}", text(&good.stderr));

    let bad = check("bad.yaml", release(", retires: 5"));
    let err = text(&bad.stderr);
    assert!(!bad.status.success(), "accepted: {}", text(&bad.stdout));
    assert!(
        err.contains("/spec/upgrade/remediation") && err.contains("retires"),
        "the error names the field: {err}"
    );
}
