//! Issue 9, point 8: an AWS endpoint that accepts connections and never
//! answers made `routing show`, `plan` and `apply` hang for minutes. The
//! SDK now has connect, read and operation timeouts, set from
//! `GEOLAT_AWS_*` variables, and a bounded number of attempts.

use std::time::Duration;

/// A loopback port that accepts connections and never answers; its URL.
/// The accepted sockets are held open until the test's runtime ends.
async fn silent_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

fn config(dir: &std::path::Path) -> String {
    let path = dir.join("aws.yaml");
    std::fs::write(
        &path,
        "route53:\n  hosted_zone_id: Z0123456789\n  name: api.example.com\n  targets:\n    eu-west-1: eu-west-1.lb.example.net\n",
    )
    .unwrap();
    path.display().to_string()
}

/// `geolat routing show` against `url` with these extra variables: its
/// stderr and whether it succeeded. A run still going after 120 s is
/// killed and fails the test: the point is that it ends by itself.
async fn show(url: &str, config: &str, vars: &[(&str, &str)]) -> (String, bool) {
    let mut c =
        crate::util::geolat_command(&["routing", "show", "--aws", config, "--endpoint-url", url]);
    c.env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_REGION", "eu-west-1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in [
        "GEOLAT_AWS_CONNECT_TIMEOUT",
        "GEOLAT_AWS_READ_TIMEOUT",
        "GEOLAT_AWS_ATTEMPT_TIMEOUT",
        "GEOLAT_AWS_OPERATION_TIMEOUT",
        "GEOLAT_AWS_MAX_ATTEMPTS",
    ]
    .iter()
    .map(|k| (*k, None))
    .chain(vars.iter().map(|(k, v)| (*k, Some(*v))))
    {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    let child = c.spawn().unwrap();
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("geolat routing show ended by itself (killed after 120 s)")
        .unwrap();
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

#[tokio::test]
async fn routing_show_against_an_endpoint_that_never_answers_times_out() {
    let url = silent_endpoint().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    // The operation timeout, then the read timeout alone, end the call.
    for vars in [
        &[
            ("GEOLAT_AWS_OPERATION_TIMEOUT", "2s"),
            ("GEOLAT_AWS_MAX_ATTEMPTS", "1"),
        ][..],
        &[
            ("GEOLAT_AWS_READ_TIMEOUT", "1s"),
            ("GEOLAT_AWS_MAX_ATTEMPTS", "2"),
        ][..],
    ] {
        let (err, ok) = show(&url, &cfg, vars).await;
        assert!(!ok, "{vars:?}: succeeded");
        assert_eq!(err.trim().lines().count(), 1, "{vars:?}: one line: {err}");
        assert!(err.starts_with("error: "), "{err}");
        assert!(err.contains("listing the records of hosted zone"), "{err}");
        assert!(
            err.contains("timeout") || err.contains("timed out"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_bad_aws_timeout_variable_is_one_clear_error() {
    let url = silent_endpoint().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (err, ok) = show(&url, &cfg, &[("GEOLAT_AWS_OPERATION_TIMEOUT", "soon")]).await;
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("GEOLAT_AWS_OPERATION_TIMEOUT=\"soon\""),
        "{err}"
    );
    assert!(err.contains("e.g. 20s"), "{err}");
    let (err, _) = show(&url, &cfg, &[("GEOLAT_AWS_MAX_ATTEMPTS", "0")]).await;
    assert!(err.contains("GEOLAT_AWS_MAX_ATTEMPTS"), "{err}");
}
