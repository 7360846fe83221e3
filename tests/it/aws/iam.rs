//! The IAM policies in `deploy/iam/`, one per role, hold geolat to least
//! privilege: `probe-policy.json` (write windows, publish metrics),
//! `analyzer-policy.json` (read windows and the routing) and
//! `apply-policy.json` (change the routing, write audit records and the
//! lease). `deploy/iam-policy.json` is their union, for a single role.
//!
//! Together they allow every AWS API call geolat's code makes: the calls
//! are found in the source of `src/aws` and `src/publish`
//! (`client.operation()`, or `f(client).operation()`), so a new call
//! without its permission fails here. Apart they keep each role to its
//! part: the probe touches no routing, the analyzer writes nothing but
//! metrics, routing writes are the apply role's alone, and each S3 write
//! stays under the keys the store code writes there.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Where every S3 object resource in the policies starts: the bucket and
/// prefix of `store.url` (`s3://geolat-store/prod`), placeholders all the
/// files share.
const STORE: &str = "arn:aws:s3:::geolat-store/prod/";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn policy(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not JSON: {e}"))
}

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
/// `client()`, or `client)` closing a call such as
/// `in_metrics_region(client)`), optional whitespace, `.op()` or `.op(`.
fn operations(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("client") {
        let rest = text[i + "client".len()..].trim_start_matches("()");
        let rest = rest.strip_prefix(')').unwrap_or(rest);
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

/// Every `service:Action` geolat's code calls.
fn called() -> BTreeSet<String> {
    let mut called = BTreeSet::new();
    let mut files = vec![root().join("src/aws"), root().join("src/publish")];
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
    called
}

/// A string or a list of strings (Action, Resource).
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|s| s.as_str().expect("a list of strings").to_owned())
            .collect(),
        other => panic!("expected a string or a list of strings, got {other}"),
    }
}

fn statements(policy: &Value) -> &Vec<Value> {
    policy["Statement"].as_array().expect("Statement is a list")
}

/// The actions a policy allows.
fn allowed(policy: &Value) -> BTreeSet<String> {
    statements(policy)
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| strings(&s["Action"]))
        .collect()
}

/// The resources of every statement allowing `action`.
fn resources_of(policy: &Value, action: &str) -> Vec<String> {
    statements(policy)
        .iter()
        .filter(|s| strings(&s["Action"]).iter().any(|a| a == action))
        .flat_map(|s| strings(&s["Resource"]))
        .collect()
}

/// An IAM ARN pattern (`*` any run, `?` one character) matching `text`.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The string constant `name` in source file `rel` (`const NAME: &str = "…";`).
fn constant(rel: &str, name: &str) -> String {
    let text = read(rel);
    let decl = format!("const {name}: &str = \"");
    let start = text
        .find(&decl)
        .unwrap_or_else(|| panic!("{rel} no longer declares {name}"))
        + decl.len();
    text[start..start + text[start..].find('"').unwrap()].to_owned()
}

/// Change*, Create*, Update*, Delete*, Put*: what writes.
fn is_write(action: &str) -> bool {
    let verb = action.split_once(':').map_or(action, |(_, v)| v);
    ["Change", "Create", "Update", "Delete", "Put"]
        .iter()
        .any(|w| verb.starts_with(w))
}

fn probe() -> Value {
    policy("deploy/iam/probe-policy.json")
}
fn analyzer() -> Value {
    policy("deploy/iam/analyzer-policy.json")
}
fn apply() -> Value {
    policy("deploy/iam/apply-policy.json")
}

#[test]
fn the_three_policies_allow_every_call_geolat_makes() {
    let called = called();
    let union: BTreeSet<String> = [probe(), analyzer(), apply()]
        .iter()
        .flat_map(allowed)
        .collect();
    let missing: Vec<&String> = called.difference(&union).collect();
    assert!(
        missing.is_empty(),
        "no policy in deploy/iam/ allows {missing:?}"
    );
    // The apply role runs the whole analyzer job (analyze, advise, plan,
    // apply): analyzer-policy.json and apply-policy.json together.
    let apply_role: BTreeSet<String> = allowed(&analyzer())
        .union(&allowed(&apply()))
        .cloned()
        .collect();
    let missing: Vec<&String> = called.difference(&apply_role).collect();
    assert!(
        missing.is_empty(),
        "the apply role (analyzer-policy.json + apply-policy.json) lacks {missing:?}"
    );
}

#[test]
fn the_union_policy_is_the_three_policies() {
    let union = policy("deploy/iam-policy.json");
    let parts: Vec<Value> = [probe(), analyzer(), apply()]
        .iter()
        .flat_map(|p| statements(p).clone())
        .collect();
    assert_eq!(
        statements(&union),
        &parts,
        "deploy/iam-policy.json must be the statements of deploy/iam/probe-, analyzer- and \
         apply-policy.json, in that order"
    );
}

#[test]
fn the_probe_policy_touches_no_routing() {
    let actions = allowed(&probe());
    let routing: Vec<&String> = actions
        .iter()
        .filter(|a| a.starts_with("route53:") || a.starts_with("globalaccelerator:"))
        .collect();
    assert!(routing.is_empty(), "probe-policy.json allows {routing:?}");
    let expected: BTreeSet<String> = ["s3:PutObject", "cloudwatch:PutMetricData"]
        .map(String::from)
        .into();
    assert_eq!(actions, expected, "probe-policy.json");
}

#[test]
fn the_analyzer_policy_writes_nothing_but_metrics() {
    // `geolat analyze --cloudwatch` publishes the merged matrix: the one
    // write the analyzer may make.
    assert!(
        read("src/cli/analyze.rs").contains("cloudwatch"),
        "geolat analyze no longer publishes to CloudWatch: drop cloudwatch:PutMetricData \
         from deploy/iam/analyzer-policy.json"
    );
    let writes: Vec<String> = allowed(&analyzer())
        .into_iter()
        .filter(|a| is_write(a) && a != "cloudwatch:PutMetricData")
        .collect();
    assert!(writes.is_empty(), "analyzer-policy.json allows {writes:?}");
}

#[test]
fn routing_writes_are_only_in_the_apply_policy() {
    let routing_writes: BTreeSet<String> = called()
        .into_iter()
        .filter(|a| {
            (a.starts_with("route53:") || a.starts_with("globalaccelerator:")) && is_write(a)
        })
        .collect();
    assert!(
        routing_writes.contains("route53:ChangeResourceRecordSets")
            && routing_writes.contains("globalaccelerator:UpdateEndpointGroup"),
        "found {routing_writes:?}"
    );
    let in_apply = allowed(&apply());
    for action in &routing_writes {
        assert!(
            in_apply.contains(action),
            "apply-policy.json lacks {action}"
        );
    }
    for (file, p) in [("probe", probe()), ("analyzer", analyzer())] {
        let leaked: Vec<String> = allowed(&p)
            .into_iter()
            .filter(|a| routing_writes.contains(a) || (a.starts_with("route53:") && is_write(a)))
            .collect();
        assert!(leaked.is_empty(), "{file}-policy.json allows {leaked:?}");
    }
    // Record changes are limited to the service name's CNAMEs.
    let change = statements(&apply())
        .iter()
        .find(|s| strings(&s["Action"]) == ["route53:ChangeResourceRecordSets"])
        .cloned()
        .expect("a statement for route53:ChangeResourceRecordSets alone");
    let cond = &change["Condition"]["ForAllValues:StringLike"];
    assert_eq!(
        cond["route53:ChangeResourceRecordSetsRecordTypes"],
        serde_json::json!(["CNAME"])
    );
    assert!(cond["route53:ChangeResourceRecordSetsNormalizedRecordNames"].is_array());
}

#[test]
fn store_access_stays_under_the_keys_the_code_uses() {
    // The keys, as the store code lays them out.
    assert!(
        read("src/store/mod.rs").contains("format(\"windows/%Y/%m/%d/%H/\")"),
        "the window key layout moved: update the policies' windows/* resources"
    );
    let window =
        format!("{STORE}windows/2026/11/29/21/20261129T210000Z_region-eu-central-1_ab12.json");
    let audit = format!(
        "{STORE}{}20261129T210000.000Z_abc.json",
        constant("src/apply/audit.rs", "PREFIX")
    );
    let lease = format!("{STORE}{}", constant("src/apply/lease.rs", "KEY"));
    let covers =
        |p: &Value, action: &str, key: &str| resources_of(p, action).iter().any(|r| glob(r, key));

    // The probe writes windows, nothing else.
    assert!(covers(&probe(), "s3:PutObject", &window));
    for r in resources_of(&probe(), "s3:PutObject") {
        assert!(
            r.starts_with(&format!("{STORE}windows/")),
            "probe-policy.json writes {r}"
        );
    }
    // The analyzer reads windows.
    assert!(covers(&analyzer(), "s3:GetObject", &window));
    // Apply writes and reads its audit records and the lease (conditional
    // writes: If-None-Match, If-Match), and writes no window.
    for key in [&audit, &lease] {
        assert!(
            covers(&apply(), "s3:PutObject", key),
            "apply-policy.json cannot write {key}"
        );
        assert!(
            covers(&apply(), "s3:GetObject", key),
            "apply-policy.json cannot read {key}"
        );
    }
    assert!(!covers(&apply(), "s3:PutObject", &window));
    // S3 deletes are unconditional; geolat never deletes on S3 (a lease is
    // released by a conditional overwrite).
    for (file, p) in [
        ("probe", probe()),
        ("analyzer", analyzer()),
        ("apply", apply()),
    ] {
        assert!(
            !allowed(&p).contains("s3:DeleteObject"),
            "{file}-policy.json allows s3:DeleteObject"
        );
        for r in resources_of(&p, "s3:GetObject")
            .into_iter()
            .chain(resources_of(&p, "s3:PutObject"))
        {
            assert!(
                r.starts_with(STORE),
                "{file}-policy.json: {r} is outside the store"
            );
        }
        // Listing only under the store's prefix.
        for s in statements(&p) {
            if strings(&s["Action"]).iter().any(|a| a == "s3:ListBucket") {
                let prefixes = strings(&s["Condition"]["StringLike"]["s3:prefix"]);
                assert!(
                    prefixes
                        .iter()
                        .all(|x| x.starts_with("prod/") && x != "prod/*"),
                    "{file}-policy.json lists {prefixes:?}"
                );
            }
        }
    }
}

/// Every JSON document in deploy/iam/ and deploy/iam-policy.json.
fn documents() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join("deploy/iam"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    out.push(root().join("deploy/iam-policy.json"));
    out.sort();
    out
}

#[test]
fn every_policy_document_is_well_formed() {
    let docs = documents();
    assert!(docs.len() >= 6, "found {docs:?}");
    for path in docs {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
        assert_eq!(doc["Version"], "2012-10-17", "{name}: Version");
        let trust = name.starts_with("trust-");
        let mut sids = BTreeSet::new();
        assert!(!statements(&doc).is_empty(), "{name}: no statements");
        for s in statements(&doc) {
            assert_eq!(s["Effect"], "Allow", "{name}: {s}");
            if let Some(sid) = s["Sid"].as_str() {
                assert!(
                    sid.chars().all(|c| c.is_ascii_alphanumeric()),
                    "{name}: Sid {sid} (IAM takes [A-Za-z0-9])"
                );
                assert!(sids.insert(sid.to_owned()), "{name}: Sid {sid} twice");
            }
            let actions = strings(&s["Action"]);
            assert!(!actions.is_empty(), "{name}: {s}");
            for a in &actions {
                let (service, verb) = a.split_once(':').unwrap_or_else(|| panic!("{name}: {a}"));
                assert!(
                    !service.is_empty()
                        && !verb.is_empty()
                        && verb.chars().all(|c| c.is_ascii_alphanumeric()),
                    "{name}: {a} (no wildcards: least privilege names each action)"
                );
            }
            if trust {
                assert!(
                    s.get("Resource").is_none(),
                    "{name}: a trust policy has no Resource"
                );
                assert!(s["Principal"].is_object(), "{name}: no Principal in {s}");
            } else {
                assert!(
                    s.get("Principal").is_none(),
                    "{name}: an identity policy has no Principal"
                );
                let resources = strings(&s["Resource"]);
                assert!(!resources.is_empty(), "{name}: no Resource in {s}");
            }
        }
    }
}

/// The ServiceAccounts the Flux releases run as (`deploy/flux`): the chart's
/// `geolat` (release `geolat`, namespace `geolat`) in each region, its
/// `geolat-edge` in namespace `geolat-edge` at the edge, and the apply
/// role's `geolat-apply`.
const MAIN: [(&str, &str); 2] = [("geolat", "geolat"), ("geolat-edge", "geolat-edge")];
const APPLY: [(&str, &str); 1] = [("geolat", "geolat-apply")];

#[test]
fn the_trust_policies_name_the_charts_service_accounts() {
    // IRSA: one statement per cluster's OIDC provider, each limited to one
    // of the role's ServiceAccounts.
    for (file, accounts) in [
        ("trust-irsa.json", &MAIN[..]),
        ("trust-irsa-apply.json", &APPLY[..]),
    ] {
        let doc = policy(&format!("deploy/iam/{file}"));
        let subjects: BTreeSet<String> = accounts
            .iter()
            .map(|(ns, sa)| format!("system:serviceaccount:{ns}:{sa}"))
            .collect();
        let mut providers = BTreeSet::new();
        let mut regional = 0;
        for s in statements(&doc) {
            assert_eq!(s["Action"], "sts:AssumeRoleWithWebIdentity", "{file}");
            let federated = s["Principal"]["Federated"]
                .as_str()
                .expect("a Federated principal");
            let provider = federated
                .split_once(":oidc-provider/")
                .unwrap_or_else(|| panic!("{file}: {federated}"))
                .1;
            assert!(
                providers.insert(provider.to_owned()),
                "{file}: {provider} twice"
            );
            let cond = &s["Condition"]["StringEquals"];
            let sub = cond[format!("{provider}:sub")].as_str().unwrap_or_default();
            assert!(subjects.contains(sub), "{file}: {provider} trusts {sub:?}");
            let (ns, sa) = accounts[0];
            regional += usize::from(sub == format!("system:serviceaccount:{ns}:{sa}"));
            assert_eq!(
                cond[format!("{provider}:aud")],
                "sts.amazonaws.com",
                "{file}"
            );
        }
        assert!(!providers.is_empty(), "{file}");
        if file == "trust-irsa.json" {
            assert!(regional >= 6, "{file}: one statement per region's cluster");
        }
    }
    // EKS Pod Identity: one statement, whatever the number of clusters.
    for (file, accounts) in [
        ("trust-pod-identity.json", &MAIN[..]),
        ("trust-pod-identity-apply.json", &APPLY[..]),
    ] {
        let doc = policy(&format!("deploy/iam/{file}"));
        let [s] = statements(&doc).as_slice() else {
            panic!("{file}: one statement, whatever the number of clusters");
        };
        assert_eq!(
            s["Principal"]["Service"], "pods.eks.amazonaws.com",
            "{file}"
        );
        let actions: BTreeSet<String> = strings(&s["Action"]).into_iter().collect();
        assert_eq!(
            actions,
            ["sts:AssumeRole", "sts:TagSession"]
                .map(String::from)
                .into(),
            "{file}"
        );
        let cond = &s["Condition"]["StringEquals"];
        let set = |key: &str| -> BTreeSet<String> { strings(&cond[key]).into_iter().collect() };
        assert_eq!(
            set("aws:RequestTag/kubernetes-namespace"),
            accounts.iter().map(|(ns, _)| ns.to_string()).collect(),
            "{file}"
        );
        assert_eq!(
            set("aws:RequestTag/kubernetes-service-account"),
            accounts.iter().map(|(_, sa)| sa.to_string()).collect(),
            "{file}"
        );
    }
}

#[test]
fn glob_matches_as_iam_does() {
    assert!(glob(
        "arn:aws:s3:::b/prod/windows/*",
        "arn:aws:s3:::b/prod/windows/2026/x.json"
    ));
    assert!(glob("a*c", "ac") && glob("a?c", "abc") && glob("*", ""));
    assert!(!glob(
        "arn:aws:s3:::b/prod/windows/*",
        "arn:aws:s3:::b/prod/audit/x"
    ));
    assert!(!glob("a?c", "ac"));
}
