//! Who is acting: the AWS principal the SDK's credentials belong to
//! (STS GetCallerIdentity), named in every audit record next to the
//! process's `user@host`, which in a pod says little.

use aws_sdk_sts::Client;

/// The caller's ARN, or None (with a warning) when STS does not answer:
/// an audit record is never held back for it.
pub async fn caller(client: &Client) -> Option<String> {
    match client.get_caller_identity().send().await {
        Ok(id) => id.arn().map(str::to_owned),
        Err(e) => {
            tracing::warn!(
                error = %super::describe(&e),
                "could not read the AWS principal (sts:GetCallerIdentity)"
            );
            None
        }
    }
}
