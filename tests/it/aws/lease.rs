//! The routing lease in S3 (moto behind the gateway): taken with
//! If-None-Match, taken over with If-Match on the ETag that was read,
//! given back and broken with a conditional tombstone; and `geolat lease
//! show` / `break` reading and writing it through `--endpoint-url`.

use std::io::{Read as _, Write as _};
use std::process::Output;
use std::sync::Arc;

use chrono::{Duration, Utc};
use geolat::apply::lease::{self, LeaseError, LeaseState};
use geolat::store::Store;
use object_store::aws::AmazonS3Builder;
use object_store::prefix::PrefixStore;
use serde_json::Value;

use super::Gateway;

const TTL: Duration = Duration::minutes(10);

/// One plain path-style S3 request to the gateway (moto checks no
/// signatures): the status code and body.
pub(super) fn s3(gw: &Gateway, method: &str, path: &str, body: &str) -> (u16, String) {
    let addr = gw.url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP reply: {reply}"));
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

pub(super) fn bucket(gw: &Gateway, name: &str) {
    let (status, body) = s3(gw, "PUT", &format!("/{name}"), "");
    assert_eq!(status, 200, "CreateBucket {name}: {body}");
}

/// geolat as an operator runs it against S3: credentials from the
/// environment, the endpoint only from the command line.
pub(super) async fn geolat_s3(args: &[&str]) -> Output {
    crate::util::geolat_command(args)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ALLOW_HTTP")
        .env_remove("AWS_PROFILE")
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_REGION", "us-east-1")
        .output()
        .await
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The store in-process, with the test's credentials given to the client
/// (not through this process's environment, which every test shares).
pub(super) fn store(gw: &Gateway, bucket: &str, prefix: &str) -> Store {
    let s3 = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_endpoint(&gw.url)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("AKIDTEST")
        .with_secret_access_key("secret")
        .build()
        .unwrap();
    Store::from_backend(
        &format!("s3://{bucket}/{prefix}"),
        Arc::new(PrefixStore::new(s3, prefix)),
    )
}

/// Issue 9, point 6, in S3: A reads the expired lease, B takes it over,
/// then A's If-Match write is refused (412) and A names B.
#[tokio::test]
async fn an_s3_contender_that_read_an_expired_lease_loses_to_the_one_that_took_it() {
    let gw = Gateway::start();
    bucket(&gw, "geolat-lease");
    let store = store(&gw, "geolat-lease", "prod");
    let now = Utc::now();
    lease::acquire(&store, "crashed", TTL, now - Duration::hours(1))
        .await
        .unwrap();
    let seen_by_a = lease::show(&store).await.unwrap().unwrap();
    assert_eq!(seen_by_a.state(now), LeaseState::Expired);
    let b = lease::acquire(&store, "b", TTL, now).await.unwrap();
    gw.control("DELETE", "/_emulator/calls", &Value::Null);
    match lease::take_over(&store, &seen_by_a, "a", TTL, now).await {
        Err(LeaseError::Held(h)) => assert_eq!(h, b),
        other => panic!("expected Held(b), got {other:?}"),
    }
    let key = "/geolat-lease/prod/locks/routing.lease";
    let puts: Vec<u64> = gw
        .calls()
        .into_iter()
        .filter(|(op, _, resource)| op == "PutObject" && resource == key)
        .map(|(_, status, _)| status)
        .collect();
    assert_eq!(puts, vec![412], "A's conditional write, refused");

    // `lease show` over the CLI, the endpoint from --endpoint-url.
    let url = "s3://geolat-lease/prod";
    let show = ["lease", "show", "--store", url, "--endpoint-url", &gw.url];
    let out = ok(&geolat_s3(&[&show[..], &["--json"]].concat()).await);
    let v: Value = serde_json::from_str(&out).unwrap();
    crate::util::assert_schema("lease-show.schema.json", &v);
    assert_eq!(v["lease"], format!("{url}/locks/routing.lease").as_str());
    assert_eq!(v["state"], "held");
    assert_eq!(v["holder"], "b");
    assert_eq!(v["token"], b.token.as_str());

    // Given back: a tombstone, free to take.
    lease::release(&store, &b).await.unwrap();
    let seen = lease::show(&store).await.unwrap().unwrap();
    assert_eq!(seen.state(now), LeaseState::Released);
    let c = lease::acquire(&store, "c", TTL, now).await.unwrap();
    // B's release again changes nothing of C's.
    lease::release(&store, &b).await.unwrap();
    assert_eq!(
        lease::show(&store).await.unwrap().unwrap().lease.unwrap(),
        c
    );

    // Broken over the CLI: a tombstone naming who broke it.
    let brk = ["lease", "break", "--store", url, "--endpoint-url", &gw.url];
    let out = ok(&geolat_s3(&[&brk[..], &["--force"]].concat()).await);
    assert!(
        out.starts_with(&format!(
            "broke the routing lease at {url}/locks/routing.lease: holder c (token {})",
            c.token
        )),
        "{out}"
    );
    let v: Value =
        serde_json::from_str(&ok(&geolat_s3(&[&show[..], &["--json"]].concat()).await)).unwrap();
    crate::util::assert_schema("lease-show.schema.json", &v);
    assert_eq!(v["state"], "released");
    assert!(
        v["released_by"]
            .as_str()
            .unwrap()
            .starts_with("geolat lease break"),
        "{v}"
    );
    lease::acquire(&store, "d", TTL, now).await.unwrap();
}

/// Two acquires at once on a fresh S3 prefix: one holder, the other names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_s3_acquires_at_once_yield_one_holder() {
    let gw = Gateway::start();
    bucket(&gw, "geolat-race");
    let now = Utc::now();
    for round in 0..10 {
        let store = store(&gw, "geolat-race", &format!("round-{round}"));
        if round % 2 == 1 {
            lease::acquire(&store, "crashed", TTL, now - Duration::hours(1))
                .await
                .unwrap();
        }
        let (a, b) = tokio::join!(
            lease::acquire(&store, "a", TTL, now),
            lease::acquire(&store, "b", TTL, now)
        );
        let stored = lease::show(&store).await.unwrap().unwrap().lease.unwrap();
        match (a, b) {
            (Ok(won), Err(LeaseError::Held(named))) | (Err(LeaseError::Held(named)), Ok(won)) => {
                assert_eq!(won, named, "round {round}");
                assert_eq!(won, stored, "round {round}");
            }
            other => panic!("round {round}: expected one holder, got {other:?}"),
        }
    }
}
