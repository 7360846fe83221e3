//! geolat against AWS APIs, served on 127.0.0.1 by the emulator gateway
//! (tests/emulators/aws_gateway.py: moto's server for what it does right,
//! the gateway's own emulators for Global Accelerator, traffic policies and
//! CloudWatch). Each test starts its own gateway; a missing Python or moto
//! fails the test, never skips it.

mod change;
mod cloudwatch;
mod conflicts;
mod emulator;
mod flows;
mod iam;
mod lease;
mod route53_retry;
mod routing;
mod store_endpoint;
mod timeouts;
mod trust;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_globalaccelerator::types::{EndpointConfiguration, PortRange, Protocol};

/// A running gateway; killed when dropped (it also exits when its stdin,
/// held here, closes, so a crashed test leaves nothing behind).
pub struct Gateway {
    child: Child,
    pub url: String,
}

impl Gateway {
    pub fn start() -> Gateway {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new(crate::util::python_venv())
            .arg(root.join("tests/emulators/aws_gateway.py"))
            .args(["--port", "0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the AWS emulator gateway starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the gateway says where it listens within 60 s");
        let url = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("unexpected gateway output: {line:?}"))
            .to_owned();
        Gateway { child, url }
    }

    /// SDK configuration for this gateway: fixed test credentials, so the
    /// credential chain never looks anywhere (no instance metadata calls).
    pub async fn sdk(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_sdk_route53::config::Credentials::new(
                "AKIDTEST",
                "secret",
                None,
                None,
                "geolat-tests",
            ))
            .endpoint_url(&self.url)
            .load()
            .await
    }

    /// One request to the gateway's control API; the JSON it answers.
    pub fn control(&self, method: &str, path: &str, body: &serde_json::Value) -> serde_json::Value {
        let addr = self.url.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).unwrap();
        let body = body.to_string();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        s.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        assert!(
            head.contains(" 200 ") || head.contains(" 201 "),
            "{method} {path}: {head}"
        );
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
    }

    /// The API calls the gateway saw, each as the gateway logs it
    /// (service, op, status, resource, bytes, region).
    pub fn call_log(&self) -> Vec<serde_json::Value> {
        let calls = self.control("GET", "/_emulator/calls", &serde_json::Value::Null);
        calls.as_array().unwrap().clone()
    }

    /// The API calls the gateway saw, as (operation, status, resource).
    pub fn calls(&self) -> Vec<(String, u64, String)> {
        let calls = self.control("GET", "/_emulator/calls", &serde_json::Value::Null);
        calls
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["op"].as_str().unwrap_or_default().to_owned(),
                    c["status"].as_u64().unwrap_or_default(),
                    c["resource"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An accelerator with a TCP 443 listener and one endpoint group per
/// region (one endpoint each, weight 128, dial 100); its listener ARN.
pub async fn accelerator(sdk: &SdkConfig, regions: &[&str]) -> String {
    let ga = geolat::aws::accelerator_client(sdk);
    let acc = ga.create_accelerator().name("api").send().await.unwrap();
    let arn = acc
        .accelerator()
        .unwrap()
        .accelerator_arn()
        .unwrap()
        .to_owned();
    let listener = ga
        .create_listener()
        .accelerator_arn(&arn)
        .protocol(Protocol::Tcp)
        .port_ranges(PortRange::builder().from_port(443).to_port(443).build())
        .send()
        .await
        .unwrap();
    let listener = listener
        .listener()
        .unwrap()
        .listener_arn()
        .unwrap()
        .to_owned();
    for region in regions {
        ga.create_endpoint_group()
            .listener_arn(&listener)
            .endpoint_group_region(*region)
            .endpoint_configurations(
                EndpointConfiguration::builder()
                    .endpoint_id(format!("alb-{region}"))
                    .weight(128)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    listener
}

/// A public hosted zone for `name`; its id.
pub async fn hosted_zone(sdk: &SdkConfig, name: &str) -> String {
    let r53 = geolat::aws::route53_client(sdk);
    let zone = r53
        .create_hosted_zone()
        .name(name)
        .caller_reference(format!("geolat-test-{name}"))
        .send()
        .await
        .unwrap();
    zone.hosted_zone().unwrap().id().to_owned()
}
