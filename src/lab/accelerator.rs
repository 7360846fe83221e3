//! The lab's Global Accelerator: one entry address that forwards each TCP
//! connection to an endpoint group the way GA does: the group nearest the
//! client first, keeping the share its traffic dial says and spilling the
//! rest to the next-nearest group. Connections are forwarded from the
//! client's own (loopback) address, so endpoints still see which geo is
//! calling and inject that geo's latency.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

use super::dns::pick_weighted;

/// One endpoint group: a region's endpoint and its traffic dial.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub endpoint: SocketAddr,
    /// Percentage (0..=100) of the traffic arriving here that the group keeps.
    pub traffic_dial: f64,
}

/// What the accelerator knows: the groups, and each client's groups from
/// nearest to farthest (GA's notion of proximity).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AcceleratorConfig {
    pub groups: BTreeMap<String, Group>,
    pub proximity: HashMap<IpAddr, Vec<String>>,
}

/// The group a connection from `client` goes to, given the `k`-th draw of
/// each group's dial.
pub fn choose(
    config: &AcceleratorConfig,
    client: IpAddr,
    draw: impl Fn(&str) -> u64,
) -> Option<String> {
    let order = config.proximity.get(&client)?;
    let mut last = None;
    for region in order {
        let Some(group) = config.groups.get(region) else {
            continue;
        };
        last = Some(region.clone());
        let keep = (group.traffic_dial.clamp(0.0, 100.0) * 100.0).round() as u32;
        if pick_weighted(&[(true, keep), (false, 10_000 - keep)], draw(region)) == Some(true) {
            return Some(region.clone());
        }
    }
    // Every dial spilled: GA still delivers, to the last group in line.
    last
}

pub struct LabAccelerator {
    addr: SocketAddr,
    config: Arc<RwLock<AcceleratorConfig>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl LabAccelerator {
    pub async fn start(
        bind: SocketAddr,
        config: AcceleratorConfig,
    ) -> std::io::Result<LabAccelerator> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let config = Arc::new(RwLock::new(config));
        let stop = CancellationToken::new();
        let draws: Arc<RwLock<HashMap<String, AtomicU64>>> = Arc::default();
        let task = tokio::spawn(serve(listener, config.clone(), draws, stop.clone()));
        Ok(LabAccelerator {
            addr,
            config,
            stop,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set_dial(&self, region: &str, traffic_dial: f64) {
        if let Ok(mut c) = self.config.write()
            && let Some(g) = c.groups.get_mut(region)
        {
            g.traffic_dial = traffic_dial;
        }
    }

    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn serve(
    listener: TcpListener,
    config: Arc<RwLock<AcceleratorConfig>>,
    draws: Arc<RwLock<HashMap<String, AtomicU64>>>,
    stop: CancellationToken,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => {
                let Ok((client, peer)) = accepted else { continue };
                let target = config.read().ok().and_then(|c| {
                    let region = choose(&c, peer.ip(), |r| next_draw(&draws, r))?;
                    c.groups.get(&region).map(|g| g.endpoint)
                });
                let Some(target) = target else { continue };
                conns.spawn(forward(client, peer.ip(), target, stop.clone()));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
}

fn next_draw(draws: &RwLock<HashMap<String, AtomicU64>>, region: &str) -> u64 {
    if let Ok(d) = draws.read()
        && let Some(c) = d.get(region)
    {
        return c.fetch_add(1, Ordering::Relaxed);
    }
    if let Ok(mut d) = draws.write() {
        return d
            .entry(region.to_owned())
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }
    0
}

/// Pipes bytes both ways, connecting out from the client's own address.
async fn forward(
    mut client: TcpStream,
    source: IpAddr,
    target: SocketAddr,
    stop: CancellationToken,
) {
    let _ = client.set_nodelay(true);
    let socket = match if target.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    } {
        Ok(s) => s,
        Err(_) => return,
    };
    if socket.bind(SocketAddr::new(source, 0)).is_err() {
        return;
    }
    let Ok(Ok(mut upstream)) =
        tokio::time::timeout(Duration::from_secs(3), socket.connect(target)).await
    else {
        return;
    };
    let _ = upstream.set_nodelay(true);
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dial_near: f64) -> AcceleratorConfig {
        let client: IpAddr = "127.0.2.1".parse().unwrap();
        let group = |port, dial| Group {
            endpoint: SocketAddr::new("127.0.1.1".parse().unwrap(), port),
            traffic_dial: dial,
        };
        AcceleratorConfig {
            groups: BTreeMap::from([
                ("near".to_owned(), group(1, dial_near)),
                ("far".to_owned(), group(2, 100.0)),
            ]),
            proximity: HashMap::from([(client, vec!["near".to_owned(), "far".to_owned()])]),
        }
    }

    #[test]
    fn dials_keep_their_share_and_spill_to_the_next_group() {
        let client: IpAddr = "127.0.2.1".parse().unwrap();
        for (dial, expect_near) in [(100.0, 1000), (0.0, 0), (25.0, 250)] {
            let c = config(dial);
            let near = (0..1000u64)
                .filter(|k| choose(&c, client, |_| *k).as_deref() == Some("near"))
                .count();
            assert!(
                (near as i64 - expect_near).abs() <= 2,
                "dial {dial}: {near}"
            );
        }
        assert_eq!(
            choose(&config(50.0), "10.0.0.1".parse().unwrap(), |_| 0),
            None
        );
    }
}
