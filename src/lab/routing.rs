//! The lab's control plane: DNS weights per geo live in the lab DNS table
//! (one subnet per geo), dials in the lab accelerator.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use ipnet::IpNet;

use crate::lab::accelerator::LabAccelerator;
use crate::lab::dns::{DnsTable, LabDns, NameRule, WeightedChoice};
use crate::routing::{
    Binding, Changes, DialChange, Live, Mechanisms, RecordChange, RoutingControl, RoutingError,
    RoutingState,
};

/// Routes the lab's service name per geo subnet, and its accelerator.
pub struct LabRouting {
    pub service_name: String,
    /// The subnet each geo's clients send from.
    pub geo_subnets: BTreeMap<String, IpNet>,
    pub region_ips: BTreeMap<String, IpAddr>,
    /// Names other than the service name (regional names) the table keeps.
    pub base_table: DnsTable,
    pub dns: Arc<LabDns>,
    pub accelerator: Arc<LabAccelerator>,
    state: RwLock<RoutingState>,
}

impl LabRouting {
    pub fn new(
        service_name: String,
        geo_subnets: BTreeMap<String, IpNet>,
        region_ips: BTreeMap<String, IpAddr>,
        base_table: DnsTable,
        dns: Arc<LabDns>,
        accelerator: Arc<LabAccelerator>,
    ) -> Self {
        LabRouting {
            service_name,
            geo_subnets,
            region_ips,
            base_table,
            dns,
            accelerator,
            state: RwLock::new(RoutingState::default()),
        }
    }

    fn check(&self, desired: &RoutingState) -> Result<(), RoutingError> {
        for (geo, weights) in &desired.dns {
            if !self.geo_subnets.contains_key(geo) {
                return Err(RoutingError::UnknownGeo(geo.clone()));
            }
            if let Some(r) = weights.keys().find(|r| !self.region_ips.contains_key(*r)) {
                return Err(RoutingError::UnknownRegion(r.clone()));
            }
            if weights.values().all(|w| *w == 0) {
                return Err(RoutingError::NoTraffic(geo.clone()));
            }
        }
        for (region, dial) in &desired.accelerator {
            if !self.region_ips.contains_key(region) {
                return Err(RoutingError::UnknownRegion(region.clone()));
            }
            if !(0.0..=100.0).contains(dial) {
                return Err(RoutingError::BadDial {
                    region: region.clone(),
                    dial: *dial,
                });
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl RoutingControl for LabRouting {
    async fn read(&self) -> Result<RoutingState, RoutingError> {
        Ok(self.state.read().map(|s| s.clone()).unwrap_or_default())
    }

    async fn live(&self) -> Result<Live, RoutingError> {
        Ok(Live {
            state: self.read().await?.normalized(),
            binding: Binding {
                control: "lab".into(),
                service_name: Some(self.service_name.clone()),
                ..Binding::default()
            },
            detail: String::new(),
        })
    }

    fn mechanisms(&self) -> Mechanisms {
        Mechanisms {
            dns: true,
            accelerator: true,
        }
    }

    /// The lab's DNS has one weighted rule per geo: each changed geo is
    /// shown as one UPSERT of its weights.
    async fn changes(&self, desired: &RoutingState) -> Result<(Live, Changes), RoutingError> {
        self.check(desired)?;
        let desired = &desired.normalized();
        let live = self.live().await?;
        let mut changes = Changes::default();
        for (geo, weights) in &desired.dns {
            if live.state.dns.get(geo) != Some(weights) {
                let w: Vec<String> = weights.iter().map(|(r, w)| format!("{r} {w}")).collect();
                changes.route53.push(RecordChange {
                    action: "UPSERT".into(),
                    name: self.service_name.clone(),
                    set_identifier: format!("geolat:{geo}"),
                    rule: format!("weights {}", w.join(", ")),
                    value: geo.clone(),
                });
            }
        }
        for (region, dial) in &desired.accelerator {
            let before = live.state.accelerator.get(region).copied().unwrap_or(100.0);
            if (before - dial).abs() >= 0.005 {
                changes.accelerator.push(DialChange {
                    region: region.clone(),
                    before,
                    after: *dial,
                });
            }
        }
        changes
            .accelerator
            .sort_by(|a, b| (b.after - b.before).total_cmp(&(a.after - a.before)));
        Ok((live, changes))
    }

    async fn apply(&self, desired: &RoutingState) -> Result<(), RoutingError> {
        self.check(desired)?;
        let by_subnet = desired
            .dns
            .iter()
            .map(|(geo, weights)| {
                let choices = weights
                    .iter()
                    .map(|(r, w)| (self.region_ips[r], u32::from(*w)))
                    .collect();
                (self.geo_subnets[geo], WeightedChoice::new(choices))
            })
            .collect();
        // Clients of no known geo get the first region, as a geolocation
        // record set's default location does.
        let default = self
            .region_ips
            .values()
            .next()
            .map(|ip| WeightedChoice::new(vec![(*ip, 1)]))
            .unwrap_or_default();
        let mut table = self.base_table.clone();
        table
            .insert(
                &self.service_name,
                NameRule::Weighted { default, by_subnet },
            )
            .map_err(RoutingError::UnknownGeo)?;
        self.dns.set_table(table);
        for (region, dial) in &desired.accelerator {
            self.accelerator.set_dial(region, *dial);
        }
        if let Ok(mut s) = self.state.write() {
            *s = desired.clone();
        }
        Ok(())
    }
}
