//! Issue 9, point 9: `--endpoint-url` reaches the store too. With no
//! AWS_ENDPOINT_URL (nor AWS_ALLOW_HTTP) in its environment, geolat reads
//! and writes an `s3://` store at the endpoint named on its command line
//! (plain http, allowed because it was named).

use geolat::apply::lease;

use super::Gateway;
use super::lease::{bucket, geolat_s3, s3, store};

#[tokio::test]
async fn the_store_goes_to_the_endpoint_url_on_the_command_line() {
    let gw = Gateway::start();
    bucket(&gw, "geolat-endpoint");
    let key = "/geolat-endpoint/team/prod/locks/routing.lease";
    let (status, body) = s3(
        &gw,
        "PUT",
        key,
        r#"{"holder":"cronjob@eu-west-1","token":"t1","acquired_at":"2026-12-01T10:00:00Z","expires_at":"2026-12-01T10:10:00Z"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let url = "s3://geolat-endpoint/team/prod";
    let common = ["--store", url, "--endpoint-url", &gw.url];

    // Read from the gateway...
    let o = geolat_s3(&[&["lease", "show"][..], &common].concat()).await;
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("holder    cronjob@eu-west-1 (token t1)"),
        "{out}"
    );
    assert!(out.contains("state     expired"), "{out}");

    // ... and written there: the tombstone the break leaves is in the bucket.
    let o = geolat_s3(&[&["lease", "break", "--force"][..], &common].concat()).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let at_gateway = store(&gw, "geolat-endpoint", "team/prod");
    let tombstone = lease::show(&at_gateway)
        .await
        .unwrap()
        .unwrap()
        .lease
        .unwrap();
    assert_eq!(tombstone.holder, "cronjob@eu-west-1");
    assert!(tombstone.released_at.is_some(), "{tombstone:?}");
    let puts: Vec<(String, u64, String)> = gw
        .calls()
        .into_iter()
        .filter(|(op, _, resource)| op == "PutObject" && resource == key)
        .collect();
    assert_eq!(puts.len(), 2, "the test's put and geolat's: {puts:?}");
    assert_eq!(puts[1].1, 200);
}
