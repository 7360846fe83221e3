//! `geolat analyze`: windows in a store -> latency matrix.

use clap::Args;

#[derive(Debug, Args)]
pub struct AnalyzeArgs {}

pub async fn run(_args: AnalyzeArgs) -> anyhow::Result<()> {
    anyhow::bail!("geolat analyze is being built")
}
