//! A probe run: every target sampled `samples` times, spread evenly over the
//! window's duration (or as fast as allowed), with at most `concurrency`
//! attempts in flight, each handed to a [`Sink`] as it finishes (a window
//! builder: see `window::measure`), and stopped promptly on a signal.

use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Prober;
use super::record::Attempt;
use crate::config::{Target, WindowSpec};

/// Where a run's attempts go, one by one as they finish (`target` is the
/// index into the run's targets).
pub trait Sink: Send {
    fn attempt(&mut self, target: usize, attempt: &Attempt);
}

/// Progress of a run, reported after each attempt.
pub trait Progress: Sync {
    fn attempt_done(&self);
}

impl Progress for () {
    fn attempt_done(&self) {}
}

/// When attempt `job` of `total` starts, relative to the run's start: evenly
/// spaced, so targets are interleaved and no burst hits one endpoint.
pub fn offset(job: u64, total: u64, duration: Option<Duration>) -> Duration {
    match duration {
        None => Duration::ZERO,
        Some(d) if total > 0 => {
            let nanos = d.as_nanos() * u128::from(job) / u128::from(total);
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        }
        Some(_) => Duration::ZERO,
    }
}

/// Runs the window. When `stop` fires, no scheduled attempt starts (a wait
/// for its start ends at once), attempts in flight get `grace` to finish
/// and are abandoned after it, so a stopped run returns within `grace`
/// with what it measured: a pod's window is saved inside Kubernetes'
/// termination grace however sparse the window or slow the target.
pub async fn run(
    prober: &Prober,
    targets: &[Target],
    spec: WindowSpec,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
    stop: &CancellationToken,
    grace: Duration,
) {
    let n = targets.len() as u64;
    if n == 0 {
        return;
    }
    let total = n * u64::from(spec.samples);
    let start = Instant::now();
    // Fires `grace` after `stop`: attempts still running then are dropped.
    let give_up = CancellationToken::new();
    let watchdog = {
        let (stop, give_up) = (stop.clone(), give_up.clone());
        tokio::spawn(async move {
            stop.cancelled().await;
            tokio::time::sleep(grace).await;
            give_up.cancel();
        })
    };
    let jobs = futures::stream::iter(0..total)
        .take_until(stop.cancelled())
        .map(|job| {
            let (round, t) = (job / n, (job % n) as usize);
            let at = start + offset(job, total, spec.duration);
            let (stop, give_up) = (stop.clone(), give_up.clone());
            async move {
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = stop.cancelled() => return None,
                }
                tokio::select! {
                    a = prober.attempt(&targets[t], round) => Some((t, a)),
                    _ = give_up.cancelled() => None,
                }
            }
        })
        .buffer_unordered(spec.concurrency.max(1));
    futures::pin_mut!(jobs);
    while let Some(done) = jobs.next().await {
        if let Some((t, attempt)) = done {
            sink.attempt(t, &attempt);
            progress.attempt_done();
        }
    }
    watchdog.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_spread_evenly_and_start_at_zero() {
        let d = Some(Duration::from_secs(60));
        assert_eq!(offset(0, 60, d), Duration::ZERO);
        assert_eq!(offset(30, 60, d), Duration::from_secs(30));
        assert_eq!(offset(59, 60, d), Duration::from_secs(59));
        assert_eq!(offset(5, 60, None), Duration::ZERO);
    }
}
