//! `geolat lease show` and `geolat lease break` against a local store: the
//! lease named by its full location, its holder and times, and a break
//! that needs --force and says what it broke.

use chrono::{Duration, Utc};
use geolat::apply::lease;
use geolat::store::Store;
use serde_json::Value;

use crate::util::{assert_schema, assert_user_error, geolat};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        stdout(o)
    );
    stdout(o)
}

async fn show_json(url: &str) -> Value {
    let out = ok(&geolat(&["lease", "show", "--store", url, "--json"]).await);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_schema("lease-show.schema.json", &v);
    v
}

#[tokio::test]
async fn lease_show_and_break_name_the_lease_and_its_holder() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let at = format!("{url}/locks/routing.lease");

    let out = ok(&geolat(&["lease", "show", "--store", &url]).await);
    assert_eq!(
        out,
        format!("no routing lease at {at}: nobody is applying\n")
    );
    let v = show_json(&url).await;
    assert_eq!(v["state"], "none");
    assert_eq!(v["lease"], at.as_str());

    let store = Store::open(&url).unwrap();
    let held = lease::acquire(
        &store,
        "cronjob@eu-west-1",
        Duration::minutes(10),
        Utc::now(),
    )
    .await
    .unwrap();
    let out = ok(&geolat(&["lease", "show", "--store", &url]).await);
    assert!(out.contains(&format!("lease     {at}\n")), "{out}");
    assert!(
        out.contains(&format!(
            "holder    cronjob@eu-west-1 (token {})",
            held.token
        )),
        "{out}"
    );
    assert!(out.contains(&held.expires_at.to_rfc3339()), "{out}");
    assert!(out.contains("state     not expired"), "{out}");
    let v = show_json(&url).await;
    assert_eq!(v["state"], "held");
    assert_eq!(v["expired"], false);
    assert_eq!(v["holder"], "cronjob@eu-west-1");
    assert_eq!(v["token"], held.token.as_str());

    // Without --force: refused in one line that says what to add.
    let o = geolat(&["lease", "break", "--store", &url]).await;
    assert_user_error(&o, "add --force");
    assert!(String::from_utf8_lossy(&o.stderr).contains("cronjob@eu-west-1"));
    // Not the token that was shown: refused.
    let o = geolat(&[
        "lease", "break", "--store", &url, "--force", "--token", "other",
    ])
    .await;
    assert_user_error(&o, "not breaking it");
    assert_eq!(show_json(&url).await["state"], "held");

    let out = ok(&geolat(&[
        "lease",
        "break",
        "--store",
        &url,
        "--force",
        "--token",
        &held.token,
    ])
    .await);
    assert!(
        out.starts_with(&format!(
            "broke the routing lease at {at}: holder cronjob@eu-west-1 (token {})",
            held.token
        )),
        "{out}"
    );
    assert!(out.contains("not expired"), "{out}");
    assert!(!dir.path().join("locks/routing.lease").exists());
    assert_eq!(show_json(&url).await["state"], "none");
    let out = ok(&geolat(&["lease", "break", "--store", &url, "--force"]).await);
    assert_eq!(out, format!("no routing lease at {at}: nothing to break\n"));
    // The broken lease's holder gives back nothing of another's.
    lease::release(&store, &held).await.unwrap();
}

#[tokio::test]
async fn an_expired_lease_is_shown_as_expired_and_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().display().to_string();
    let store = Store::open(&url).unwrap();
    let hour_ago = Utc::now() - Duration::hours(1);
    lease::acquire(&store, "crashed", Duration::minutes(10), hour_ago)
        .await
        .unwrap();
    let out = ok(&geolat(&["lease", "show", "--store", &url]).await);
    assert!(out.contains("ago)\n"), "{out}");
    assert!(out.contains("state     expired"), "{out}");
    let v = show_json(&url).await;
    assert_eq!(
        (v["state"].as_str(), v["expired"].as_bool()),
        (Some("expired"), Some(true))
    );
    let mine = lease::acquire(&store, "me", Duration::minutes(10), Utc::now())
        .await
        .unwrap();
    assert_eq!(show_json(&url).await["token"], mine.token.as_str());
}

#[tokio::test]
async fn lease_commands_refuse_a_missing_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}/nope", dir.path().display());
    for cmd in ["show", "break"] {
        let o = geolat(&["lease", cmd, "--store", &url]).await;
        assert_user_error(&o, "is not an existing directory");
    }
    assert!(!dir.path().join("nope").exists());
}
