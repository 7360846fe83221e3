//! `geolat probe --config FILE --serve ADDR`: the probe as a long-running
//! exporter, for teams that watch with Prometheus and Grafana.
//!
//! ```text
//!            every --every (default 60 s)
//!   config ──> window::measure::configured ──> window ──> store (optional)
//!                  │ each attempt as it ends (runner::Progress)
//!                  v
//!              ProbeMetrics ──> /metrics      Health ──> /readyz
//! ```
//!
//! Decisions a reader must know:
//! - The window stays the record: the series here are a live view of the
//!   same attempts, bucketed coarsely (`metrics::BUCKETS`); analysis and
//!   advice read the stored windows, never the metrics.
//! - A store outage does not stop the loop: the window is kept on local
//!   disk (`Store::put_window_or_keep`), counted as `store_failed`, and the
//!   next window runs. A probe that cannot store is still worth scraping.
//! - SIGTERM: `/readyz` turns 503 at once, attempts in flight get the
//!   grace, the window is stored marked interrupted, then the listener
//!   closes and the process exits 0.
//! - Names, labels and the series budget are a contract: `docs/metrics.md`.

pub mod http;
pub mod metrics;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::ProbeConfig;
use crate::probe::Prober;
use crate::store::Store;
use crate::window::codec::CodecError;
use crate::window::measure;
pub use http::{Exporter, Health};
pub use metrics::{Phases, ProbeMetrics, WindowResult};

/// What the loop runs and where it reports.
pub struct Continuous<'a> {
    pub config: &'a ProbeConfig,
    pub prober: &'a Prober,
    pub store: Option<&'a Store>,
    pub metrics: &'a ProbeMetrics,
    pub health: &'a Health,
    /// A window starts this often; one that runs longer starts the next at once.
    pub every: Duration,
    pub stop: &'a CancellationToken,
    pub grace: Duration,
}

/// Runs windows until `stop`; returns after the window in flight at the
/// stop is stored. Only a window that cannot be encoded ends it early.
pub async fn run(c: Continuous<'_>) -> Result<u64, CodecError> {
    let mut ticks = tokio::time::interval(c.every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut windows = 0;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = c.stop.cancelled() => break,
        }
        let window = measure::configured(c.config, c.prober, c.metrics, c.stop, c.grace).await?;
        windows += 1;
        let result = match c.store {
            None => WindowResult::NotStored,
            Some(store) => match store.put_window_or_keep(&window).await {
                Ok(key) => {
                    tracing::info!(
                        store = store.url(),
                        key,
                        interrupted = window.interrupted,
                        "window stored"
                    );
                    WindowResult::Stored
                }
                Err(e) => {
                    tracing::error!(error = %e, "window not stored; the next window runs");
                    WindowResult::StoreFailed
                }
            },
        };
        c.metrics.window_finished(result);
        c.health.ready();
        if c.stop.is_cancelled() {
            break;
        }
    }
    Ok(windows)
}

/// The whole exporter: binds `addr`, serves the endpoints, runs the loop;
/// `/readyz` goes 503 as soon as `stop` fires.
pub async fn serve(
    addr: std::net::SocketAddr,
    config: &ProbeConfig,
    prober: &Prober,
    store: Option<&Store>,
    settings: ServeSettings,
    stop: &CancellationToken,
) -> anyhow::Result<u64> {
    let exporter = Exporter::bind(addr).await?;
    let bound = exporter.local_addr()?;
    let metrics = Arc::new(ProbeMetrics::new(&config.identity, settings.phases));
    let health = Arc::new(Health::default());
    let closed = CancellationToken::new();
    let server = tokio::spawn(exporter.serve(metrics.clone(), health.clone(), closed.clone()));
    let watcher = {
        let (health, stop) = (health.clone(), stop.clone());
        tokio::spawn(async move {
            stop.cancelled().await;
            health.stopping();
        })
    };
    tracing::info!(listen = %bound, every = ?settings.every, targets = config.targets.len(), "serving metrics on /metrics");
    let ran = run(Continuous {
        config,
        prober,
        store,
        metrics: &metrics,
        health: &health,
        every: settings.every,
        stop,
        grace: settings.grace,
    })
    .await;
    closed.cancel();
    watcher.abort();
    let _ = server.await;
    ran.map_err(|e| anyhow::anyhow!("cannot encode the window: {e}"))
}

/// The loop's knobs from the command line.
#[derive(Debug, Clone, Copy)]
pub struct ServeSettings {
    pub every: Duration,
    pub grace: Duration,
    pub phases: Phases,
}
