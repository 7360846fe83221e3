//! One probe run into one window: the entry point the command line (one-shot
//! and configured windows) and the lab share. The runner hands each attempt
//! to a [`WindowBuilder`] as it finishes; a stopped run still yields its
//! window, marked interrupted.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::Window;
use super::builder::WindowBuilder;
use super::codec::CodecError;
use crate::config::{ProbeIdentity, Target, WindowSpec};
use crate::probe::Prober;
use crate::probe::record::{ErrorClass, TlsInfo};
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
