//! Precise delays for the lab's ground truth. Tokio's timer has
//! millisecond granularity (a 20 ms sleep ends anywhere in 20-21 ms), too
//! coarse for injected latency that tests hold to 200 us; spinning to the
//! deadline instead burns a core per waiting request and collapses under
//! hundreds of concurrent delays. So one thread keeps every deadline in a
//! heap and sleeps on the OS's high-resolution timer to the next one,
//! waking each waiting task on time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::OnceLock;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

struct Due {
    at: Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A deadline and whom to wake at it.
type Request = (Instant, oneshot::Sender<()>);

fn timer() -> Option<&'static Sender<Request>> {
    static TIMER: OnceLock<Option<Sender<Request>>> = OnceLock::new();
    TIMER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Request>();
            let spawned = std::thread::Builder::new()
                .name("geolat-lab-timer".into())
                .spawn(move || {
                    let mut heap: BinaryHeap<Reverse<Due>> = BinaryHeap::new();
                    let mut seq = 0u64;
                    loop {
                        let now = Instant::now();
                        while heap.peek().is_some_and(|Reverse(d)| d.at <= now) {
                            if let Some(Reverse(d)) = heap.pop() {
                                let _ = d.wake.send(());
                            }
                        }
                        let next = match heap.peek() {
                            Some(Reverse(d)) => {
                                rx.recv_timeout(d.at.saturating_duration_since(now))
                            }
                            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                        };
                        match next {
                            Ok((at, wake)) => {
                                seq += 1;
                                heap.push(Reverse(Due { at, seq, wake }));
                            }
                            Err(RecvTimeoutError::Timeout) => {}
                            Err(RecvTimeoutError::Disconnected) => return,
                        }
                    }
                })
                .ok();
            spawned.map(|_| tx)
        })
        .as_ref()
}

/// The last stretch of a delay is spent yielding on the runtime rather
/// than asleep: a thread woken from idle takes longer to respond (CPU
/// idle states, cold caches), and the response still has to pass through
/// a few tasks; kept busy, the wait ends with the CPU as warm as it is for
/// an undelayed request, so the delay adds only itself.
const WARM_FINISH: Duration = Duration::from_micros(250);

/// Sleeps for `d` to within tens of microseconds.
pub async fn precise_sleep(d: Duration) {
    if d.is_zero() {
        return;
    }
    let deadline = Instant::now() + d;
    if d > WARM_FINISH {
        let (tx, rx) = oneshot::channel();
        match timer() {
            Some(t) if t.send((deadline - WARM_FINISH, tx)).is_ok() => {
                let _ = rx.await;
            }
            // No timer thread (cannot happen short of thread exhaustion):
            // the coarse timer is still a delay of about the right size.
            _ => tokio::time::sleep(d - WARM_FINISH).await,
        }
    }
    while Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Never early, and in deadline order: how precise they are on a given
    /// machine is measured by the timing tests, not asserted here.
    #[tokio::test]
    async fn concurrent_delays_never_end_early_and_keep_their_order() {
        let order = std::sync::Mutex::new(Vec::new());
        let waits = (0..50u64).rev().map(|i| {
            let order = &order;
            async move {
                let d = Duration::from_micros(1_000 + i * 1_000);
                let t = Instant::now();
                precise_sleep(d).await;
                assert!(t.elapsed() >= d, "woke early: {:?} < {d:?}", t.elapsed());
                order.lock().unwrap().push(i);
            }
        });
        futures::future::join_all(waits).await;
        let order = order.into_inner().unwrap();
        assert_eq!(order, (0..50).collect::<Vec<_>>());
    }
}
