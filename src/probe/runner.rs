//! A probe run: every target sampled `samples` times, spread evenly over the
//! window's duration (or as fast as allowed), with at most `concurrency`
//! attempts in flight, folded into a [`WindowBuilder`] as they finish.

use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Prober;
use crate::config::{Target, WindowSpec};
use crate::window::builder::WindowBuilder;

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

/// Runs the window. Stops starting attempts when `stop` fires, and returns
/// once the attempts in flight have finished (each is bounded by its
/// timeouts), so a stopped run still yields what it measured.
pub async fn run(
    prober: &Prober,
    targets: &[Target],
    spec: WindowSpec,
    builder: &mut WindowBuilder,
    progress: &dyn Progress,
    stop: &CancellationToken,
) {
    let n = targets.len() as u64;
    if n == 0 {
        return;
    }
    let total = n * u64::from(spec.samples);
    let start = Instant::now();
    let jobs = futures::stream::iter(0..total)
        .take_until(stop.cancelled())
        .map(|job| {
            let (round, t) = (job / n, (job % n) as usize);
            let at = start + offset(job, total, spec.duration);
            async move {
                tokio::time::sleep_until(at).await;
                (t, prober.attempt(&targets[t], round).await)
            }
        })
        .buffer_unordered(spec.concurrency.max(1));
    futures::pin_mut!(jobs);
    while let Some((t, attempt)) = jobs.next().await {
        builder.record(t, &attempt);
        progress.attempt_done();
    }
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
