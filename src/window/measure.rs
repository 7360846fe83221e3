//! One probe run into one window: the entry point the command line (one-shot
//! and configured windows) and the lab share. The runner hands each attempt
//! to a [`WindowBuilder`] as it finishes; a stopped run still yields its
//! window, marked interrupted.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::builder::WindowBuilder;
use super::codec::{self, CodecError};
use super::{AuditEntry, Window};
use crate::config::{EcsAudit, ProbeConfig, ProbeIdentity, ServedBy, Target, WindowSpec};
use crate::probe::Prober;
use crate::probe::ecs::{self, PairAnswers};
use crate::probe::record::{ErrorClass, TlsInfo, micros};
use crate::probe::runner::{self, Progress};

/// What a window is of and how it runs.
pub struct Run<'a> {
    pub prober: &'a Prober,
    pub targets: &'a [Target],
    pub spec: WindowSpec,
    pub identity: ProbeIdentity,
    /// `sha256:<hex>` of the probe configuration, or `oneshot`.
    pub config_digest: String,
    pub progress: &'a dyn Progress,
    pub stop: &'a CancellationToken,
    /// After a stop, how long attempts in flight may finish.
    pub grace: Duration,
}

/// A measured window, with what a one-shot summary shows besides it: the
/// first TLS session's details and the first cause of each error class.
pub struct Measured {
    pub window: Window,
    pub tls: Option<TlsInfo>,
    pub causes: BTreeMap<ErrorClass, String>,
}

/// Runs the window to its end, or until `stop` (plus its grace).
pub async fn measure(run: Run<'_>) -> Result<Measured, CodecError> {
    let mut builder = WindowBuilder::new(run.identity, run.config_digest, run.targets, Utc::now());
    runner::run(
        run.prober,
        run.targets,
        run.spec,
        &mut builder,
        run.progress,
        run.stop,
        run.grace,
    )
    .await;
    let tls = builder.tls_info().cloned();
    let causes = builder.first_causes().clone();
    let mut window = builder.finish(Utc::now())?;
    window.interrupted = run.stop.is_cancelled();
    Ok(Measured {
        window,
        tls,
        causes,
    })
}

/// One window of a probe configuration, as its CronJob and the `--serve`
/// loop run it: every target, then the DNS audit if the configuration has
/// one; stopped early, it is what was measured, marked interrupted.
pub async fn configured(
    cfg: &ProbeConfig,
    prober: &Prober,
    progress: &dyn Progress,
    stop: &CancellationToken,
    grace: Duration,
) -> Result<Window, CodecError> {
    let Measured { mut window, .. } = measure(Run {
        prober,
        targets: &cfg.targets,
        spec: cfg.window,
        identity: cfg.identity.clone(),
        config_digest: cfg.digest.clone(),
        progress,
        stop,
        grace,
    })
    .await?;
    if let Some(ecs) = &cfg.ecs_audit {
        window.dns_audit = audit(
            ecs,
            &cfg.settings.served_by,
            cfg.settings.timeouts.dns,
            stop,
        )
        .await?;
        window.end = Utc::now();
    }
    window.interrupted = stop.is_cancelled();
    Ok(window)
}

/// Runs the authoritative DNS audit (see [`ecs::audit`]) into the window's
/// `dns_audit` entries; a stop ends it with what was answered.
pub async fn audit(
    cfg: &EcsAudit,
    served_by: &ServedBy,
    timeout: Duration,
    stop: &CancellationToken,
) -> Result<Vec<AuditEntry>, CodecError> {
    let pairs = ecs::audit(cfg, timeout, stop).await;
    let mut entries = Vec::new();
    for pair in pairs {
        entries.extend(audit_entries(&cfg.name, served_by, pair)?);
    }
    Ok(entries)
}

/// One pair's entries: one per distinct answer, with the region its
/// addresses map to and a latency histogram; the pair's errors are on its
/// first entry, and a pair nobody answered is one entry with rcode `none`.
fn audit_entries(
    name: &str,
    served_by: &ServedBy,
    pair: PairAnswers,
) -> Result<Vec<AuditEntry>, CodecError> {
    let entry = |rcode: String, answers: Vec<String>| AuditEntry {
        name: name.to_owned(),
        nameserver: pair.nameserver.to_string(),
        subnet: pair.subnet.to_string(),
        rcode,
        answers,
        region: None,
        count: 0,
        histogram: None,
        errors: BTreeMap::new(),
    };
    let mut entries = Vec::new();
    if pair.answers.is_empty() {
        entries.push(entry("none".into(), Vec::new()));
    }
    for group in &pair.answers {
        let mut h = codec::new_histogram();
        for elapsed in &group.elapsed {
            codec::record(&mut h, micros(*elapsed));
        }
        entries.push(AuditEntry {
            region: group
                .addresses
                .iter()
                .find_map(|a| served_by.addresses.get(a).cloned()),
            count: group.elapsed.len() as u64,
            histogram: Some(codec::encode(&h)?),
            ..entry(
                group.rcode.clone(),
                group.addresses.iter().map(ToString::to_string).collect(),
            )
        });
    }
    // Errors belong to the (server, subnet) pair: report them once.
    entries[0].errors = pair.errors;
    Ok(entries)
}
