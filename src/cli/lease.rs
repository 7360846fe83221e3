//! `geolat lease show` and `geolat lease break`: who holds the routing
//! lease that serialises changes to AWS routing, and removing one a run
//! left behind (killed mid-apply, its lease not yet expired).

use std::io::Write as _;

use anyhow::bail;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::apply::lease::{self, LeaseState, Seen};
use crate::store::{Store, StoreOptions};

#[derive(Debug, Subcommand)]
pub enum LeaseCommand {
    /// Who holds the routing lease, since and until when, and whether it expired.
    Show(ShowArgs),
    /// Remove the routing lease a stuck or killed run left (needs --force).
    Break(BreakArgs),
}

/// The store the lease is in.
#[derive(Debug, Args)]
pub struct LeaseStoreArgs {
    /// Store: file://DIR or s3://BUCKET/PREFIX.
    #[arg(long, value_name = "URL", env = "GEOLAT_STORE")]
    pub store: String,
    /// Send S3 requests here instead of AWS (an emulator, a VPC endpoint);
    /// an http:// URL is allowed.
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub store: LeaseStoreArgs,
    /// One JSON object (schemas/lease-show.schema.json).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BreakArgs {
    #[command(flatten)]
    pub store: LeaseStoreArgs,
    /// Break it even though its holder may still be applying.
    #[arg(long)]
    pub force: bool,
    /// Break only the lease with this token (as `lease show` printed it).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}

pub async fn run(cmd: LeaseCommand) -> anyhow::Result<()> {
    match cmd {
        LeaseCommand::Show(args) => show(args).await,
        LeaseCommand::Break(args) => break_cmd(args).await,
    }
}

impl LeaseStoreArgs {
    fn open(&self) -> anyhow::Result<Store> {
        let options = StoreOptions {
            endpoint_url: self.endpoint_url.clone(),
        };
        Ok(Store::open_existing_with(&self.store, &options)?)
    }
}

async fn show(args: ShowArgs) -> anyhow::Result<()> {
    let store = args.store.open()?;
    let seen = lease::show(&store).await?;
    let now = Utc::now();
    let at = lease::location(&store);
    let mut out = std::io::stdout();
    if args.json {
        writeln!(out, "{}", to_json(&at, seen.as_ref(), now))?;
    } else {
        write!(out, "{}", describe(&at, seen.as_ref(), now))?;
    }
    Ok(())
}

async fn break_cmd(args: BreakArgs) -> anyhow::Result<()> {
    let store = args.store.open()?;
    let at = lease::location(&store);
    let now = Utc::now();
    let Some(seen) = lease::show(&store)
        .await?
        .filter(|s| s.state(now) != LeaseState::Released)
    else {
        writeln!(
            std::io::stdout(),
            "no routing lease at {at}: nothing to break"
        )?;
        return Ok(());
    };
    let what = summary(&seen, now);
    if !args.force {
        bail!("not breaking the routing lease at {at} ({what}): add --force to break it");
    }
    if let (Some(want), Ok(l)) = (&args.token, &seen.lease)
        && *want != l.token
    {
        bail!(
            "the routing lease at {at} has token {}, not {want} ({what}): not breaking it",
            l.token
        );
    }
    if !lease::break_lease(
        &store,
        &seen,
        &format!("geolat lease break ({})", super::change::who()),
        now,
    )
    .await?
    {
        bail!(
            "the routing lease at {at} changed since it was read (another run took or gave it back): not broken; see `geolat lease show`"
        );
    }
    writeln!(std::io::stdout(), "broke the routing lease at {at}: {what}")?;
    Ok(())
}

/// One line: holder, token, times, state.
fn summary(seen: &Seen, now: DateTime<Utc>) -> String {
    match &seen.lease {
        Ok(l) => format!(
            "holder {} (token {}), acquired {}, expires {}, {}",
            l.holder,
            l.token,
            l.acquired_at.to_rfc3339(),
            l.expires_at.to_rfc3339(),
            state_text(seen.state(now)),
        ),
        Err(problem) => format!("unreadable: {problem}"),
    }
}

fn state_text(state: LeaseState) -> &'static str {
    match state {
        LeaseState::Held => "not expired",
        LeaseState::Expired => "expired",
        LeaseState::Released => "released",
        LeaseState::Unreadable => "unreadable",
    }
}

/// `lease show` for a person.
fn describe(at: &str, seen: Option<&Seen>, now: DateTime<Utc>) -> String {
    let Some(seen) = seen else {
        return format!("no routing lease at {at}: nobody is applying\n");
    };
    let mut text = format!("lease     {at}\n");
    let state = seen.state(now);
    match &seen.lease {
        Ok(l) => {
            let until = if l.expires_at > now {
                format!("in {}", rounded(l.expires_at - now))
            } else {
                format!("{} ago", rounded(now - l.expires_at))
            };
            text += &format!("holder    {} (token {})\n", l.holder, l.token);
            text += &format!("acquired  {}\n", l.acquired_at.to_rfc3339());
            text += &format!("expires   {} ({until})\n", l.expires_at.to_rfc3339());
            if let Some(released) = l.released_at {
                let by = l.released_by.as_deref().unwrap_or("unknown");
                text += &format!("released  {} by {by}\n", released.to_rfc3339());
            }
        }
        Err(problem) => text += &format!("problem   {problem}\n"),
    }
    text += &format!("state     {}\n", state_text(state));
    text
}

/// `lease show --json`: schemas/lease-show.schema.json.
fn to_json(at: &str, seen: Option<&Seen>, now: DateTime<Utc>) -> serde_json::Value {
    let Some(seen) = seen else {
        return json!({"lease": at, "state": "none", "expired": false});
    };
    let state = seen.state(now);
    let mut v = json!({
        "lease": at,
        "state": state,
        "expired": state == LeaseState::Expired,
        "version": seen.version().to_string(),
    });
    match &seen.lease {
        Ok(l) => {
            v["holder"] = json!(l.holder);
            v["token"] = json!(l.token);
            v["acquired_at"] = json!(l.acquired_at);
            v["expires_at"] = json!(l.expires_at);
            if let Some(released) = l.released_at {
                v["released_at"] = json!(released);
                v["released_by"] = json!(l.released_by);
            }
        }
        Err(problem) => v["problem"] = json!(problem),
    }
    v
}

fn rounded(d: chrono::Duration) -> humantime::FormattedDuration {
    humantime::format_duration(std::time::Duration::from_secs(
        d.num_seconds().unsigned_abs(),
    ))
}
