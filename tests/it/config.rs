//! Probe configuration: the examples in probes/ and tests/fixtures load;
//! every invalid fixture is rejected with an error naming the file and the
//! field (the fixture's `# expect:` line).

use std::path::{Path, PathBuf};

use geolat::config::{PathKind, ProbeConfig};

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no YAML in {}", dir.display());
    files
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_example_in_probes_is_valid() {
    // Copy next to a placeholder CA so `tls.ca_file: lab-ca.pem` resolves.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lab-ca.pem"), "placeholder").unwrap();
    for file in yaml_files(&root().join("probes")) {
        let copy = dir.path().join(file.file_name().unwrap());
        std::fs::copy(&file, &copy).unwrap();
        let cfg = ProbeConfig::load(&copy).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(!cfg.targets.is_empty());
        assert!(cfg.digest.starts_with("sha256:"));
    }
}

#[test]
fn valid_fixtures_load_with_their_values() {
    let dir = root().join("tests/fixtures/configs/valid");
    for file in yaml_files(&dir) {
        ProbeConfig::load(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    let full = ProbeConfig::load(&dir.join("full.yaml")).unwrap();
    assert_eq!(full.window.samples, 6);
    assert_eq!(
        full.window.duration,
        Some(std::time::Duration::from_secs(30))
    );
    assert_eq!(full.settings.warm_requests, 2);
    assert_eq!(full.settings.max_body, 1 << 20);
    assert_eq!(full.settings.served_by.header.as_deref(), Some("x-region"));
    assert_eq!(full.targets[2].path, PathKind::Accelerator);
    assert_eq!(full.targets[2].addresses.len(), 2);
    assert_eq!(full.ecs_audit.as_ref().unwrap().subnets.len(), 2);
    assert_eq!(full.settings.dns.nameservers[1].port(), 5353);
}

#[test]
fn invalid_fixtures_name_file_field_and_problem() {
    for file in yaml_files(&root().join("tests/fixtures/configs/invalid")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} lacks an `# expect:` line", file.display()));
        let err = match ProbeConfig::load(&file) {
            Ok(_) => panic!("{} was accepted", file.display()),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains(expect),
            "{}: `{err}` does not mention `{expect}`",
            file.display()
        );
        assert!(
            err.contains(&file.display().to_string()),
            "{err} does not name the file"
        );
        assert!(!err.contains('\n'), "error spans lines: {err}");
    }
}

#[test]
fn missing_file_is_named() {
    let err = ProbeConfig::load(Path::new("probes/nope.yaml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("probes/nope.yaml"), "{err}");
}
