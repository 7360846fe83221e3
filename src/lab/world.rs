//! A lab built from a world file: one endpoint per region, one client
//! address per geo, and the world's latency between them injected as
//! ground truth; DNS and an accelerator route the service name, under a
//! [`LabRouting`] control plane that plans are applied to.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use tokio_util::sync::CancellationToken;

use super::accelerator::{AcceleratorConfig, Group, LabAccelerator};
use super::endpoint::Delays;
use super::routing::LabRouting;
use super::{Lab, LabError, LabSpec, RegionSpec, SERVICE_NAME, geo_ip, region_host};
use crate::advise::QueueModel;
use crate::advise::unload::loads_today;
use crate::config::{
    DnsSettings, Geo as ProbeGeo, PathKind, ProbeIdentity, ProbeSettings, ServedBy, Target,
    TlsSettings, WindowSpec,
};
use crate::probe::{Prober, SetupError};
use crate::routing::{RoutingControl, RoutingError, RoutingState};
use crate::window::Window;
use crate::window::measure::{Run, measure};
use crate::world::World;

/// Over how long a probe round spreads the starts of its attempts.
pub const ROUND_SPREAD: Duration = Duration::from_secs(3);
/// How long attempts in flight may finish after Ctrl-C.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The accelerator's entry address (GA's static anycast addresses).
pub const ACCELERATOR_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 4, 1));

#[derive(Debug, thiserror::Error)]
pub enum WorldLabError {
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error("lab accelerator cannot bind {addr}: {source}")]
    Accelerator {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Routing(#[from] RoutingError),
    #[error("probe setup: {0}")]
    Probe(#[from] SetupError),
    #[error("cannot encode a window: {0}")]
    Encode(#[from] crate::window::codec::CodecError),
    #[error("--degrade: unknown region `{0}`")]
    UnknownRegion(String),
}

pub struct WorldLab {
    pub world: World,
    /// When set, each region's latency also grows with the load today's
    /// routing sends it (the world's demand, not the probes' own few
    /// requests), so overload shows as latency, as it does in production.
    pub queue: Option<QueueModel>,
    degrade: HashMap<String, f64>,
    pub lab: Lab,
    pub accelerator: Arc<LabAccelerator>,
    pub routing: LabRouting,
    /// The client address standing for each geo, by geo id.
    pub geo_ips: BTreeMap<String, IpAddr>,
}

/// Injected delay of every (geo client address, region): the world's p50,
/// times the region's degradation factor, plus its queueing delay.
fn region_delays(
    world: &World,
    geo_ips: &BTreeMap<String, IpAddr>,
    factors: &HashMap<String, f64>,
    queueing_ms: &[f64],
) -> Vec<RegionSpec> {
    world
        .regions
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let factor = factors.get(&r.id).copied().unwrap_or(1.0);
            let wait = queueing_ms.get(i).copied().unwrap_or(0.0);
            let by_client = world
                .geos
                .iter()
                .map(|g| {
                    let ms = g.latency_ms[&r.id].p50 * factor + wait;
                    (geo_ips[&g.id], Duration::from_secs_f64(ms / 1000.0))
                })
                .collect();
            RegionSpec {
                id: r.id.clone(),
                delays: Delays {
                    default: Duration::ZERO,
                    by_client,
                },
            }
        })
        .collect()
}

/// Great-circle distance in km (haversine): how static geo-nearest routing
/// picks a region, knowing nothing of the network.
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    6371.0 * 2.0 * a.sqrt().asin()
}

/// The routing a team starts from: each geo to the region nearest on the
/// map (Route 53 geolocation done by hand), every accelerator dial at 100.
pub fn geo_nearest_routing(world: &World) -> RoutingState {
    let dns = world
        .geos
        .iter()
        .map(|g| {
            let nearest = world
                .regions
                .iter()
                .min_by(|a, b| {
                    distance_km(g.lat, g.lon, a.lat, a.lon)
                        .total_cmp(&distance_km(g.lat, g.lon, b.lat, b.lon))
                })
                .map(|r| r.id.clone())
                .unwrap_or_default();
            (g.id.clone(), BTreeMap::from([(nearest, 1u8)]))
        })
        .collect();
    let accelerator = world
        .regions
        .iter()
        .map(|r| (r.id.clone(), 100.0))
        .collect();
    RoutingState { dns, accelerator }
}

impl WorldLab {
    /// Starts endpoints, DNS and accelerator for `world`, with the regions
    /// in `degrade` slowed by their factor, routed by `initial`.
    pub async fn start(
        world: World,
        degrade: &HashMap<String, f64>,
        queue: Option<QueueModel>,
        initial: &RoutingState,
    ) -> Result<WorldLab, WorldLabError> {
        if let Some(r) = degrade.keys().find(|r| world.region_index(r).is_none()) {
            return Err(WorldLabError::UnknownRegion(r.clone()));
        }
        let geo_ips: BTreeMap<String, IpAddr> = world
            .geos
            .iter()
            .enumerate()
            .map(|(i, g)| (g.id.clone(), geo_ip(i)))
            .collect();
        let spec = LabSpec {
            regions: region_delays(&world, &geo_ips, degrade, &[]),
            port: 0,
            dns_port: 0,
            busy_wait: false,
        };
        let lab = Lab::start(&spec).await?;
        let region_ips: BTreeMap<String, IpAddr> = lab
            .endpoints
            .iter()
            .map(|e| (e.region().to_owned(), e.addr().ip()))
            .collect();
        let proximity = world
            .geos
            .iter()
            .map(|g| {
                let mut order: Vec<&String> = g.latency_ms.keys().collect();
                order.sort_by(|a, b| g.latency_ms[*a].p50.total_cmp(&g.latency_ms[*b].p50));
                (geo_ips[&g.id], order.into_iter().cloned().collect())
            })
            .collect();
        let groups = lab
            .endpoints
            .iter()
            .map(|e| {
                (
                    e.region().to_owned(),
                    Group {
                        endpoint: e.addr(),
                        traffic_dial: 100.0,
                    },
                )
            })
            .collect();
        let accel_addr = SocketAddr::new(ACCELERATOR_IP, lab.port);
        let accelerator =
            LabAccelerator::start(accel_addr, AcceleratorConfig { groups, proximity })
                .await
                .map_err(|source| WorldLabError::Accelerator {
                    addr: accel_addr,
                    source,
                })?;
        let accelerator = Arc::new(accelerator);
        let geo_subnets = geo_ips
            .iter()
            .map(|(g, ip)| (g.clone(), IpNet::from(*ip)))
            .collect();
        let routing = LabRouting::new(
            SERVICE_NAME.to_owned(),
            geo_subnets,
            region_ips,
            lab.dns.table(),
            lab.dns.clone(),
            accelerator.clone(),
        );
        let lab = WorldLab {
            world,
            queue,
            degrade: degrade.clone(),
            lab,
            accelerator,
            routing,
            geo_ips,
        };
        lab.apply(initial).await?;
        Ok(lab)
    }

    /// Applies routing through the control plane, then sets each region's
    /// queueing delay for the load that routing sends it.
    pub async fn apply(&self, state: &RoutingState) -> Result<(), RoutingError> {
        self.routing.apply(state).await?;
        let Some(queue) = &self.queue else {
            return Ok(());
        };
        let mut routed = self.world.clone();
        routed.routing = Some(state.dns_fractions());
        let waits: Vec<f64> = loads_today(&routed)
            .iter()
            .zip(&self.world.regions)
            .map(|(load, r)| queue.delay_ms(*load, r.capacity_rps))
            .collect();
        let specs = region_delays(&self.world, &self.geo_ips, &self.degrade, &waits);
        for (endpoint, spec) in self.lab.endpoints.iter().zip(specs) {
            endpoint.set_delays(spec.delays);
        }
        Ok(())
    }

    /// What a probe standing in `geo` is.
    fn identity(&self, g: &crate::world::Geo) -> ProbeIdentity {
        ProbeIdentity {
            id: format!("lab-{}", g.id),
            location: "edge".into(),
            region: None,
            geo: ProbeGeo {
                id: Some(g.id.clone()),
                country: g.country.clone().unwrap_or_else(|| "ZZ".into()),
                continent: g.continent.clone(),
                city: Some(g.name.clone()),
            },
            lat: Some(g.lat),
            lon: Some(g.lon),
        }
    }

    /// The direct, route53 and accelerator targets every geo probes.
    pub fn targets(&self) -> Vec<Target> {
        let port = self.lab.port;
        let url = |host: &str| format!("https://{host}:{port}/").parse().ok();
        let mut targets: Vec<Target> = self
            .world
            .regions
            .iter()
            .filter_map(|r| {
                Some(Target {
                    id: format!("direct-{}", r.id),
                    path: PathKind::Direct,
                    region: Some(r.id.clone()),
                    url: url(&region_host(&r.id))?,
                    addresses: Vec::new(),
                })
            })
            .collect();
        if let Some(u) = url(SERVICE_NAME) {
            targets.push(Target {
                id: "route53".into(),
                path: PathKind::Route53,
                region: None,
                url: u.clone(),
                addresses: Vec::new(),
            });
            targets.push(Target {
                id: "accelerator".into(),
                path: PathKind::Accelerator,
                region: None,
                url: u,
                addresses: vec![ACCELERATOR_IP],
            });
        }
        targets
    }

    fn settings(&self, source: IpAddr) -> ProbeSettings {
        ProbeSettings {
            dns: DnsSettings {
                nameservers: vec![self.lab.dns.addr()],
                ..DnsSettings::default()
            },
            tls: TlsSettings {
                ca_pem: Some(self.lab.ca_pem.clone()),
                ..TlsSettings::default()
            },
            served_by: ServedBy {
                header: Some("x-region".into()),
                addresses: self
                    .lab
                    .endpoints
                    .iter()
                    .map(|e| (e.addr().ip(), e.region().to_owned()))
                    .collect(),
            },
            // Enough warm requests that a round's cells pass analysis's
            // minimum sample count.
            warm_requests: 5,
            source_address: Some(source),
            ..ProbeSettings::default()
        }
    }

    /// One probe round: every geo probes every target `samples` times, all
    /// geos at once. Returns one window per geo.
    /// One probe round from every geo. `slowdown` (1, 2, 4, ...) spreads
    /// the round's starts over that many times longer with that many times
    /// fewer attempts at once: what a busy machine needs.
    pub async fn probe_round(
        &self,
        samples: u32,
        slowdown: u32,
        stop: &CancellationToken,
    ) -> Result<Vec<Window>, WorldLabError> {
        let targets = self.targets();
        let slowdown = slowdown.max(1);
        // Every attempt may be in flight at once, so a round lasts about one
        // attempt rather than `samples` of them back to back; starts are
        // spread over a few seconds so handshakes do not all compete for
        // the CPU in the same instant (which would show up as latency).
        let spec = WindowSpec {
            samples,
            duration: Some(ROUND_SPREAD * slowdown),
            concurrency: (targets.len() * samples as usize / slowdown as usize).max(1),
        };
        let mut probers = Vec::with_capacity(self.world.geos.len());
        for g in &self.world.geos {
            probers.push((g, Prober::new(self.settings(self.geo_ips[&g.id]))?));
        }
        let runs = probers.iter().map(|(g, prober)| {
            let targets = &targets;
            async move {
                let run = Run {
                    prober,
                    targets,
                    spec,
                    identity: self.identity(g),
                    config_digest: "lab".into(),
                    progress: &(),
                    stop,
                    grace: STOP_GRACE,
                };
                measure(run).await.map(|m| m.window)
            }
        });
        let windows = futures::future::join_all(runs).await;
        Ok(windows.into_iter().collect::<Result<Vec<_>, _>>()?)
    }

    pub async fn shutdown(self) {
        if let Ok(acc) = Arc::try_unwrap(self.accelerator) {
            acc.shutdown().await;
        }
        self.lab.shutdown(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_are_great_circle() {
        // London - New York is about 5,570 km.
        let d = distance_km(51.51, -0.13, 40.71, -74.01);
        assert!((d - 5570.0).abs() < 30.0, "{d}");
        assert_eq!(distance_km(10.0, 10.0, 10.0, 10.0), 0.0);
    }
}
