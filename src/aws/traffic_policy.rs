//! Route 53 traffic policies: the service name routed by a policy
//! instance instead of plain records (`route53.mode: traffic_policy`). A
//! change creates a new policy version and points the instance at it; the
//! previous version stays, so undoing a change is pointing back.

use aws_sdk_route53::Client;
use serde_json::Value;

use super::describe;
use super::layout::Weights;
use super::policy_doc;
use crate::routing::RoutingError;

/// The instance routing the service name, and what its version says.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub id: String,
    pub policy_id: String,
    pub version: i32,
    pub document: Value,
    pub weights: Weights,
}

/// What an apply did, for its undo.
#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    /// The instance was pointed from `version` to a new one.
    Moved {
        instance: String,
        policy_id: String,
        version: i32,
    },
    /// A new instance was made (there was none).
    Created { instance: String },
}

fn api(action: impl Into<String>, message: String) -> RoutingError {
    RoutingError::Api {
        action: action.into(),
        message,
    }
}

/// The policy instance for `name` in `zone`, if any.
pub async fn instance(
    client: &Client,
    zone: &str,
    name: &str,
    targets: &std::collections::BTreeMap<String, String>,
) -> Result<Option<Instance>, RoutingError> {
    let listed = client
        .list_traffic_policy_instances_by_hosted_zone()
        .hosted_zone_id(zone)
        .send()
        .await
        .map_err(|e| {
            api(
                format!("listing traffic policy instances in {zone}"),
                describe(&e),
            )
        })?;
    let Some(i) = listed.traffic_policy_instances().iter().find(|i| {
        i.name()
            .trim_end_matches('.')
            .eq_ignore_ascii_case(name.trim_end_matches('.'))
    }) else {
        return Ok(None);
    };
    let policy = client
        .get_traffic_policy()
        .id(i.traffic_policy_id())
        .version(i.traffic_policy_version())
        .send()
        .await
        .map_err(|e| {
            api(
                format!("reading traffic policy {}", i.traffic_policy_id()),
                describe(&e),
            )
        })?;
    let text = policy
        .traffic_policy()
        .map(|p| p.document())
        .unwrap_or_default();
    let document: Value = serde_json::from_str(text).map_err(|e| RoutingError::Unexpected {
        record: format!(
            "traffic policy {} version {}",
            i.traffic_policy_id(),
            i.traffic_policy_version()
        ),
        problem: format!("has a document that is not JSON ({e})"),
    })?;
    let weights =
        policy_doc::weights(&document, targets).map_err(|e| RoutingError::Unexpected {
            record: format!(
                "traffic policy {} version {}",
                i.traffic_policy_id(),
                i.traffic_policy_version()
            ),
            problem: e.to_string(),
        })?;
    Ok(Some(Instance {
        id: i.id().to_owned(),
        policy_id: i.traffic_policy_id().to_owned(),
        version: i.traffic_policy_version(),
        document,
        weights,
    }))
}

/// Routes `name` by `document`: a new version of the instance's policy
/// (or a new policy and instance when there is none).
pub async fn apply(
    client: &Client,
    zone: &str,
    name: &str,
    ttl: i64,
    current: Option<&Instance>,
    document: &Value,
) -> Result<Done, RoutingError> {
    let text = document.to_string();
    match current {
        Some(i) => {
            let made = client
                .create_traffic_policy_version()
                .id(&i.policy_id)
                .document(text)
                .comment("geolat apply")
                .send()
                .await
                .map_err(|e| {
                    api(
                        format!("creating a version of traffic policy {}", i.policy_id),
                        describe(&e),
                    )
                })?;
            let version = made.traffic_policy().map_or(i.version + 1, |p| p.version());
            point(client, &i.id, &i.policy_id, version, ttl).await?;
            Ok(Done::Moved {
                instance: i.id.clone(),
                policy_id: i.policy_id.clone(),
                version: i.version,
            })
        }
        None => {
            let made = client
                .create_traffic_policy()
                .name(format!("geolat-{}", name.trim_end_matches('.')))
                .document(text)
                .comment("geolat apply")
                .send()
                .await
                .map_err(|e| api("creating a traffic policy", describe(&e)))?;
            let policy = made.traffic_policy().ok_or_else(|| {
                api(
                    "creating a traffic policy",
                    "no policy in the answer".into(),
                )
            })?;
            let created = client
                .create_traffic_policy_instance()
                .hosted_zone_id(zone)
                .name(name)
                .ttl(ttl)
                .traffic_policy_id(policy.id())
                .traffic_policy_version(policy.version())
                .send()
                .await
                .map_err(|e| {
                    api(
                        format!("creating a traffic policy instance for {name}"),
                        describe(&e),
                    )
                })?;
            let instance = created
                .traffic_policy_instance()
                .map(|i| i.id().to_owned())
                .unwrap_or_default();
            Ok(Done::Created { instance })
        }
    }
}

/// Points an instance at a policy version.
pub async fn point(
    client: &Client,
    instance: &str,
    policy_id: &str,
    version: i32,
    ttl: i64,
) -> Result<(), RoutingError> {
    client
        .update_traffic_policy_instance()
        .id(instance)
        .ttl(ttl)
        .traffic_policy_id(policy_id)
        .traffic_policy_version(version)
        .send()
        .await
        .map_err(|e| {
            api(
                format!("pointing instance {instance} at {policy_id} version {version}"),
                describe(&e),
            )
        })?;
    Ok(())
}

/// Undoes what [`apply`] did.
pub async fn undo(client: &Client, done: &Done, ttl: i64) -> Result<(), RoutingError> {
    match done {
        Done::Moved {
            instance,
            policy_id,
            version,
        } => point(client, instance, policy_id, *version, ttl).await,
        Done::Created { instance } => client
            .delete_traffic_policy_instance()
            .id(instance)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api(format!("deleting instance {instance}"), describe(&e))),
    }
}
