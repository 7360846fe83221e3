//! A probe run: every target sampled `samples` times, spread evenly over the
//! window's duration (or as fast as allowed), with at most `concurrency`
//! attempts in flight, each handed to a [`Sink`] as it finishes (a window
//! builder: see `window::measure`), and stopped promptly on a signal.

use std::future::Future;
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

/// What the runner starts at each scheduled time: the [`Prober`]; in the
/// runner's tests, a stand-in whose attempts take virtual time, so an hour's
/// schedule and a stop are checked on tokio's paused clock in milliseconds.
pub trait Attempter: Sync {
    fn attempt(&self, target: &Target, round: u64) -> impl Future<Output = Attempt> + Send;
}

impl Attempter for Prober {
    fn attempt(&self, target: &Target, round: u64) -> impl Future<Output = Attempt> + Send {
        Prober::attempt(self, target, round)
    }
}

/// Progress of a run, reported after each attempt with the attempt itself:
/// a progress bar counts them, `observe::ProbeMetrics` turns them into
/// Prometheus series as they happen.
pub trait Progress: Sync {
    fn attempt_done(&self, target: &Target, attempt: &Attempt);
}

impl Progress for () {
    fn attempt_done(&self, _: &Target, _: &Attempt) {}
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
    prober: &impl Attempter,
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
            progress.attempt_done(&targets[t], &attempt);
        }
    }
    watchdog.abort();
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::probe::record::{ErrorClass, Failure, Phase};

    /// Attempts that take `takes` of virtual time each and note when they
    /// started; an attempt at target 1 fails, so the sink's order shows.
    struct Clocked {
        start: Instant,
        takes: Duration,
        started: Mutex<Vec<(String, u64, Duration)>>,
    }

    impl Clocked {
        fn new(takes: Duration) -> Self {
            Clocked {
                start: Instant::now(),
                takes,
                started: Mutex::new(Vec::new()),
            }
        }
        fn started(&self) -> Vec<(String, u64, Duration)> {
            self.started.lock().unwrap().clone()
        }
    }

    impl Attempter for Clocked {
        fn attempt(&self, target: &Target, round: u64) -> impl Future<Output = Attempt> + Send {
            let at = self.start.elapsed();
            self.started
                .lock()
                .unwrap()
                .push((target.id.clone(), round, at));
            let takes = self.takes;
            async move {
                tokio::time::sleep(takes).await;
                Attempt {
                    failure: (round == 1)
                        .then(|| Failure::new(Phase::Tcp, ErrorClass::ConnectRefused, "virtual")),
                    ..Attempt::default()
                }
            }
        }
    }

    #[derive(Default)]
    struct Collect(Vec<(usize, bool)>);

    impl Sink for Collect {
        fn attempt(&mut self, target: usize, attempt: &Attempt) {
            self.0.push((target, attempt.failure.is_none()));
        }
    }

    fn targets() -> Vec<Target> {
        ["a", "b", "c"]
            .iter()
            .map(|id| {
                let mut t = Target::from_url(format!("https://{id}.example/").parse().unwrap());
                t.id = (*id).to_owned();
                t
            })
            .collect()
    }

    fn spec(samples: u32, duration: Option<Duration>, concurrency: usize) -> WindowSpec {
        WindowSpec {
            samples,
            duration,
            concurrency,
        }
    }

    /// An hour's window of 3 targets x 4 samples starts its attempts every
    /// 5 minutes, interleaving targets, each exactly at its offset.
    #[tokio::test(start_paused = true)]
    async fn attempts_start_at_their_offsets_over_the_window() {
        let targets = targets();
        let clock = Clocked::new(Duration::from_secs(2));
        let mut sink = Collect::default();
        let stop = CancellationToken::new();
        let hour = Duration::from_secs(3600);
        let spec = spec(4, Some(hour), 16);
        run(
            &clock,
            &targets,
            spec,
            &mut sink,
            &(),
            &stop,
            Duration::from_secs(5),
        )
        .await;
        let started = clock.started();
        assert_eq!(started.len(), 12);
        for (job, (id, round, at)) in started.iter().enumerate() {
            assert_eq!(*at, Duration::from_secs(300) * job as u32, "job {job}");
            assert_eq!(id, &targets[job % 3].id);
            assert_eq!(*round, job as u64 / 3);
        }
        // The run ends when the last attempt does: 55 minutes + 2 s.
        assert_eq!(clock.start.elapsed(), Duration::from_secs(55 * 60 + 2));
        assert_eq!(sink.0.len(), 12);
        assert_eq!(sink.0.iter().filter(|(_, ok)| !ok).count(), 3);
    }

    /// Without a duration, attempts start at once, `concurrency` at a time.
    #[tokio::test(start_paused = true)]
    async fn without_a_duration_attempts_run_concurrency_at_a_time() {
        let targets = targets();
        let clock = Clocked::new(Duration::from_secs(1));
        let mut sink = Collect::default();
        let stop = CancellationToken::new();
        run(
            &clock,
            &targets,
            spec(4, None, 4),
            &mut sink,
            &(),
            &stop,
            Duration::ZERO,
        )
        .await;
        let starts: Vec<u64> = clock.started().iter().map(|s| s.2.as_secs()).collect();
        assert_eq!(starts, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
        assert_eq!(sink.0.len(), 12);
    }

    /// A stop 12 minutes into an hour's window starts nothing more; the
    /// attempt in flight (10 minutes long) is abandoned after the grace, so
    /// the run returns 20 s after the stop with what finished.
    #[tokio::test(start_paused = true)]
    async fn a_stop_starts_nothing_more_and_abandons_attempts_after_the_grace() {
        let targets = targets();
        let clock = Clocked::new(Duration::from_secs(600));
        let mut sink = Collect::default();
        let stop = CancellationToken::new();
        let stopper = {
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(12 * 60)).await;
                stop.cancel();
            })
        };
        let hour = Duration::from_secs(3600);
        let grace = Duration::from_secs(20);
        run(
            &clock,
            &targets,
            spec(4, Some(hour), 16),
            &mut sink,
            &(),
            &stop,
            grace,
        )
        .await;
        stopper.await.unwrap();
        // Started at 0, 5 and 10 minutes; the one at 15 never started.
        let starts: Vec<u64> = clock.started().iter().map(|s| s.2.as_secs() / 60).collect();
        assert_eq!(starts, [0, 5, 10]);
        assert_eq!(clock.start.elapsed(), Duration::from_secs(12 * 60 + 20));
        // The first finished at 10 minutes; those due at 15 and 20 were
        // still running 20 s after the stop and were dropped.
        assert_eq!(sink.0, [(0, true)]);
    }

    #[test]
    fn offsets_spread_evenly_and_start_at_zero() {
        let d = Some(Duration::from_secs(60));
        assert_eq!(offset(0, 60, d), Duration::ZERO);
        assert_eq!(offset(30, 60, d), Duration::from_secs(30));
        assert_eq!(offset(59, 60, d), Duration::from_secs(59));
        assert_eq!(offset(5, 60, None), Duration::ZERO);
    }
}
