//! `geolat advise`: a world (file, or store + topology) -> routing plan.

use clap::Args;

#[derive(Debug, Args)]
pub struct AdviseArgs {}

pub async fn run(_args: AdviseArgs) -> anyhow::Result<()> {
    anyhow::bail!("geolat advise is being built")
}
