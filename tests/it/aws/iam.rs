//! deploy/iam-policy.json, the least-privilege policy the README documents,
//! allows every AWS API call geolat's code makes: the calls are found in
//! the source of `src/aws` and `src/publish` (`client.operation()`), so a
//! new call without its permission fails here.

use std::collections::BTreeSet;
use std::path::Path;

/// `snake_case` -> `PascalCase`, as SDK operations map to IAM actions.
fn pascal(op: &str) -> String {
    op.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Operations called on an SDK client in `text`: `client` (or
/// `client()`), optional whitespace, `.op()` or `.op(`.
fn operations(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("client") {
        let rest = text[i + "client".len()..].trim_start_matches("()");
        let rest = rest.trim_start();
        let Some(rest) = rest.strip_prefix('.') else {
            continue;
        };
        let op: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        if rest[op.len()..].starts_with('(') && op.contains('_') {
            out.insert(op);
        }
    }
    out
}

#[test]
fn the_policy_allows_every_call_geolat_makes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let policy: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("deploy/iam-policy.json")).unwrap(),
    )
    .unwrap();
    let mut allowed = BTreeSet::new();
    for s in policy["Statement"].as_array().unwrap() {
        assert_eq!(s["Effect"], "Allow");
        match &s["Action"] {
            serde_json::Value::String(a) => {
                allowed.insert(a.clone());
            }
            serde_json::Value::Array(a) => {
                allowed.extend(a.iter().map(|a| a.as_str().unwrap().to_owned()));
            }
            other => panic!("Action {other}"),
        }
    }
    let mut called = BTreeSet::new();
    let mut files = vec![root.join("src/aws"), root.join("src/publish")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let service = if text.contains("aws_sdk_globalaccelerator::Client") {
            "globalaccelerator"
        } else if text.contains("aws_sdk_cloudwatch::Client") {
            "cloudwatch"
        } else if text.contains("aws_sdk_route53::Client") {
            "route53"
        } else if text.contains("aws_sdk_sts::Client") {
            "sts"
        } else {
            continue;
        };
        for op in operations(&text) {
            if !op.starts_with("from_") && op != "as_ref" {
                called.insert(format!("{service}:{}", pascal(&op)));
            }
        }
    }
    assert!(called.len() > 10, "found the calls: {called:?}");
    let missing: Vec<&String> = called.difference(&allowed).collect();
    assert!(
        missing.is_empty(),
        "deploy/iam-policy.json lacks {missing:?}"
    );
}
