//! Precise delays for the lab's ground truth. Tokio's timer has
//! millisecond granularity (a 20 ms sleep ends anywhere in 20-21 ms), too
//! coarse for injected latency that tests hold to 200 us. So the timer
//! covers all but the last 2 ms and the task then yields until the exact
//! deadline: the worker stays busy through the end of the wait, and the
//! response leaves as promptly as an undelayed one. (A dedicated timer
//! thread was tried: it wakes on time, but the idle worker it then has to
//! wake adds 200-400 us on virtual machines.)

use std::time::Duration;

use tokio::time::Instant;

/// The longest delay the lab injects: far beyond any real network's, and
/// short enough that a deadline never overflows the clock.
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

/// The part of each delay spent yielding instead of asleep.
const WARM_FINISH: Duration = Duration::from_millis(2);

/// Sleeps for `d` to within tens of microseconds. With `busy`, the whole
/// delay is spent yielding: on virtual machines even a 5 ms idle makes the
/// next wake-ups 100-300 us slow, more than ground-truth tests allow, so an
/// endpoint serving a few clients for a measurement keeps its core busy;
/// one serving hundreds (the world lab) sleeps and spends only the tail.
pub async fn precise_sleep(d: Duration, busy: bool) {
    if d.is_zero() {
        return;
    }
    // Delays are bounded by MAX_DELAY where they are parsed; one that got
    // past that still may not overflow the clock.
    let now = Instant::now();
    let deadline = now
        .checked_add(d.min(MAX_DELAY))
        .unwrap_or(now + WARM_FINISH);
    if d > WARM_FINISH && !busy {
        tokio::time::sleep_until(deadline - WARM_FINISH).await;
    }
    while Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Never early, whatever else is waiting. (Order between deadlines
    /// 1 ms apart is not asserted: on a loaded machine a round of yields
    /// can take longer than that. How precise delays are on a given
    /// machine is measured by the timing tests, not asserted here.)
    #[tokio::test]
    async fn concurrent_delays_never_end_early() {
        let waits = (0..50u64).rev().map(|i| async move {
            let d = Duration::from_micros(1_000 + i * 1_000);
            let t = Instant::now();
            precise_sleep(d, false).await;
            assert!(t.elapsed() >= d, "woke early: {:?} < {d:?}", t.elapsed());
        });
        futures::future::join_all(waits).await;
    }
}
