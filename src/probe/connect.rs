//! The `tcp` phase: a fresh TCP connection per sample, optionally from a
//! chosen local address (the lab gives each geo its own loopback address).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::TcpSocket;

use super::record::{ErrorClass, Failure, Phase};
use super::timeline::StampedTcp;

/// Connects to `addr`, timing `connect(2)` alone (socket creation excluded).
/// The stream stamps what it receives, for the phases that follow.
pub async fn connect(
    addr: SocketAddr,
    source: Option<IpAddr>,
    timeout: Duration,
) -> Result<(StampedTcp, Duration), Failure> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| Failure::new(Phase::Tcp, ErrorClass::ConnectOther, e.to_string()))?;
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0)).map_err(|e| {
            Failure::new(
                Phase::Tcp,
                ErrorClass::ConnectOther,
                format!("bind {ip}: {e}"),
            )
        })?;
    }
    socket
        .set_nodelay(true)
        .map_err(|e| Failure::new(Phase::Tcp, ErrorClass::ConnectOther, e.to_string()))?;
    let start = Instant::now();
    match tokio::time::timeout(timeout, socket.connect(addr)).await {
        Err(_) => Err(Failure::new(
            Phase::Tcp,
            ErrorClass::ConnectTimeout,
            format!("{addr}: no TCP handshake within {timeout:?}"),
        )),
        Ok(Err(e)) => Err(Failure::new(
            Phase::Tcp,
            connect_class(&e),
            format!("{addr}: {e}"),
        )),
        Ok(Ok(stream)) => Ok((StampedTcp::new(stream), start.elapsed())),
    }
}

fn connect_class(e: &io::Error) -> ErrorClass {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ErrorClass::ConnectRefused,
        io::ErrorKind::TimedOut => ErrorClass::ConnectTimeout,
        io::ErrorKind::ConnectionReset => ErrorClass::Reset,
        _ => ErrorClass::ConnectOther,
    }
}

/// True when an I/O error means the peer reset or dropped the connection.
pub fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}
