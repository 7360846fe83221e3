//! When bytes really left and reached this host, not when the probe got
//! round to them.
//!
//! A probe that idles through a long wait (a far region, a slow server)
//! resumes late: the kernel has to wake its thread and, on a virtual
//! machine, the virtual CPU itself. On the 2-core lab VM that costs 50-150 us
//! after a 20 ms wait and nothing after a short one, so it would skew slow
//! targets more than fast ones. The kernel stamps every received segment
//! (SO_TIMESTAMPNS) when it is queued to the socket; a phase that ends on
//! data arriving ends at that stamp instead. A phase starts when its first
//! byte is written, not when the TLS or HTTP layer is handed the work of
//! building it.
//!
//! Neither tokio nor socket2 exposes the receive stamp (it comes back as
//! control data of `recvmsg`), so the read is done here with libc.

use std::collections::VecDeque;
use std::io;
use std::mem::{MaybeUninit, size_of};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// One read that returned data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Arrival {
    /// When the last segment this read returned was queued to the socket.
    at: Instant,
    /// When the read returned it to the probe.
    read_at: Instant,
}

/// How many recent reads a connection remembers: a phase needs only the
/// last read before it ended, but other reads (the HTTP driver reading on)
/// may land between the phase ending and its timer asking.
const KEPT: usize = 4;

#[derive(Debug, Default)]
struct Events {
    reads: VecDeque<Arrival>,
    /// Whether the next write is to be noted, and when it was issued.
    watching_writes: bool,
    first_write: Option<Instant>,
}

/// What went over one connection and when: the latest reads and the first
/// write after a phase began. Shared between the stream (owned by the TLS
/// and HTTP layers) and the phase timers.
#[derive(Debug, Clone, Default)]
pub struct Timeline(Arc<Mutex<Events>>);

impl Timeline {
    /// Notes the next write: a phase starts when its first byte (the
    /// ClientHello, a request) is written, not when the TLS or HTTP layer
    /// is handed the work of building it.
    pub fn watch_next_write(&self) {
        let mut e = self.lock();
        e.watching_writes = true;
        e.first_write = None;
    }

    /// When the first write since [`Timeline::watch_next_write`] was issued,
    /// if it was at or after `start`; else `start`. A write the HTTP layer
    /// makes on its own (a settings acknowledgement) before the request only
    /// makes the phase start earlier, never later than the request.
    pub fn written(&self, start: Instant) -> Instant {
        self.lock()
            .first_write
            .filter(|w| *w >= start)
            .unwrap_or(start)
    }

    /// When the data that ended a phase arrived: the stamp of the last read
    /// that returned between `start` and `end`. That read holds the byte the
    /// phase waited for, or a later one, so the result is never earlier than
    /// the truth; it is `end` when no read qualifies or its stamp is
    /// implausible (missing, or before `start`, as after a wall-clock step).
    pub fn data_end(&self, start: Instant, end: Instant) -> Instant {
        self.last_read(start, end).map_or(end, |a| a.at)
    }

    fn last_read(&self, start: Instant, end: Instant) -> Option<Arrival> {
        self.lock()
            .reads
            .iter()
            .rev()
            .find(|a| a.read_at <= end)
            .filter(|a| a.at >= start && a.at <= a.read_at)
            .copied()
    }

    fn read(&self, a: Arrival) {
        let mut e = self.lock();
        if e.reads.len() == KEPT {
            e.reads.pop_front();
        }
        e.reads.push_back(a);
    }

    fn writing(&self) {
        let mut e = self.lock();
        if e.watching_writes {
            e.watching_writes = false;
            e.first_write = Some(Instant::now());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Events> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A TCP stream that notes on its [`Timeline`] when data arrived (the
/// kernel's receive stamp) and when a watched write was issued.
pub struct StampedTcp {
    inner: TcpStream,
    timeline: Timeline,
}

impl StampedTcp {
    /// Turns on receive stamps for `inner`. Where the kernel refuses them
    /// the stream still works, and phases end when reads return, as they
    /// would without this module.
    pub fn new(inner: TcpStream) -> StampedTcp {
        keep_stamping_on();
        if let Err(e) = set_timestamping(inner.as_raw_fd()) {
            tracing::debug!(error = %e, "no kernel receive stamps; phases end when reads return");
        }
        StampedTcp {
            inner,
            timeline: Timeline::default(),
        }
    }

    /// This connection's timeline, for the phases timed on it.
    pub fn timeline(&self) -> Timeline {
        self.timeline.clone()
    }
}

/// Linux stamps received packets only while some socket asks for stamps,
/// and switches stamping on through a deferred work item: a segment that
/// arrives just after the first socket asks may carry no stamp. One socket
/// held for the life of the process keeps it on.
fn keep_stamping_on() {
    static HOLDER: OnceLock<Option<std::net::UdpSocket>> = OnceLock::new();
    HOLDER.get_or_init(|| {
        let s = std::net::UdpSocket::bind(("127.0.0.1", 0)).ok()?;
        set_timestamping(s.as_raw_fd()).ok()?;
        Some(s)
    });
}

fn set_timestamping(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: fd is an open socket owned by the caller; the option value is
    // a c_int that lives across the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn realtime() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-pointer; CLOCK_REALTIME always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// `recv` into `buf`, returning the byte count and the stamp (realtime) of
/// the last segment read, when the kernel gave one.
fn recv_stamped(fd: RawFd, buf: &mut [MaybeUninit<u8>]) -> io::Result<(usize, Option<Duration>)> {
    // Room for one cmsghdr + timespec, aligned for cmsghdr.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: zeroed msghdr is a valid empty header; fields set below point
    // at buffers that outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 8]>() as _;
    // SAFETY: msg describes writable memory of the stated sizes.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut stamp = None;
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled,
    // bounded by msg_controllen.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                if ts.tv_sec > 0 {
                    stamp = Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((n as usize, stamp))
}

impl AsyncRead for StampedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let fd = this.inner.as_raw_fd();
        loop {
            ready!(this.inner.poll_read_ready(cx))?;
            // SAFETY: recv only writes initialised bytes into the unfilled
            // part, and we mark exactly the `n` it wrote as filled.
            let unfilled = unsafe { buf.unfilled_mut() };
            match this
                .inner
                .try_io(Interest::READABLE, || recv_stamped(fd, unfilled))
            {
                Ok((n, stamp)) => {
                    let read_at = Instant::now();
                    let now_real = realtime();
                    // SAFETY: see above.
                    unsafe { buf.assume_init(n) };
                    buf.advance(n);
                    if n > 0 {
                        // The stamp is wall-clock time; the lag since it is
                        // the same on the monotonic clock.
                        let at = stamp
                            .and_then(|s| now_real.checked_sub(s))
                            .and_then(|lag| read_at.checked_sub(lag))
                            .unwrap_or(read_at);
                        this.timeline.read(Arrival { at, read_at });
                    }
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for StampedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.timeline.writing();
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.timeline.writing();
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn a_phase_ends_at_the_stamp_of_its_last_read() {
        let t0 = Instant::now();
        let timeline = Timeline::default();
        // Control data that came before the phase started, then the answer:
        // queued at +20 ms, read 150 us later.
        timeline.read(Arrival {
            at: t0,
            read_at: t0 + us(50),
        });
        let start = t0 + us(100);
        timeline.read(Arrival {
            at: start + us(20_000),
            read_at: start + us(20_150),
        });
        let end = start + us(20_200);
        assert_eq!(timeline.data_end(start, end), start + us(20_000));
    }

    #[test]
    fn reads_after_the_phase_ended_are_not_its_own() {
        let start = Instant::now();
        let timeline = Timeline::default();
        timeline.read(Arrival {
            at: start + us(300),
            read_at: start + us(400),
        });
        let end = start + us(500);
        // The HTTP driver read on before the timer asked.
        timeline.read(Arrival {
            at: start + us(600),
            read_at: start + us(700),
        });
        assert_eq!(timeline.data_end(start, end), start + us(300));
    }

    #[test]
    fn without_a_plausible_stamp_the_phase_ends_when_it_ended() {
        let start = Instant::now();
        let end = start + us(1_000);
        let timeline = Timeline::default();
        assert_eq!(timeline.data_end(start, end), end);
        // A stamp before the phase began (a wall-clock step): not trusted.
        timeline.read(Arrival {
            at: start - us(10),
            read_at: start + us(900),
        });
        assert_eq!(timeline.data_end(start, end), end);
    }

    #[test]
    fn a_request_phase_starts_at_its_first_write() {
        let timeline = Timeline::default();
        let start = Instant::now();
        // Nothing written yet: the phase starts when it was asked to.
        timeline.watch_next_write();
        assert_eq!(timeline.written(start), start);
        timeline.writing();
        let first = timeline.written(start);
        assert!(first >= start);
        // Only the first write after watching counts.
        std::thread::sleep(Duration::from_millis(1));
        timeline.writing();
        assert_eq!(timeline.written(start), first);
        // A write from before the phase began does not move its start back.
        let later = Instant::now();
        assert_eq!(timeline.written(later), later);
    }

    #[test]
    fn only_the_latest_reads_are_kept() {
        let start = Instant::now();
        let timeline = Timeline::default();
        for i in 0..10 {
            timeline.read(Arrival {
                at: start + us(i * 10),
                read_at: start + us(i * 10 + 1),
            });
        }
        assert_eq!(timeline.lock().reads.len(), KEPT);
        // The read that ended a phase long ago has been forgotten.
        assert_eq!(timeline.data_end(start, start + us(5)), start + us(5));
    }

    /// The kernel stamps what arrives on a real loopback connection, and the
    /// stamp is never after the read that returned it.
    #[tokio::test]
    async fn loopback_reads_carry_kernel_stamps() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            s.write_all(b"hello").await.unwrap();
            s
        });
        let mut client = StampedTcp::new(TcpStream::connect(addr).await.unwrap());
        let timeline = client.timeline();
        let start = Instant::now();
        let mut buf = [0u8; 5];
        client.read_exact(&mut buf).await.unwrap();
        let end = Instant::now();
        assert_eq!(&buf, b"hello");
        let read = timeline.last_read(start, end).expect("a stamped read");
        assert!(read.at >= start && read.at <= read.read_at && read.read_at <= end);
        // A stamp, not the fallback: the lag is measured, not zero by
        // construction. (A stamp equal to the read instant to the
        // nanosecond does not happen.)
        assert_ne!(read.at, read.read_at);
        drop(server.await.unwrap());
    }
}
