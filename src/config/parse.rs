//! Reading JSON and YAML files with errors a person can act on: a value of
//! the wrong type is named by its field path (`regions[0].capacity_rps`),
//! not only by line and column, and a YAML file that breaks one of the
//! parser's resource limits is told which limit and how to get under it.

use serde::de::{Deserialize, DeserializeOwned};

/// Parses JSON; an error is one line naming the field at fault.
pub fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| at_field(&e.path().to_string(), &e.into_inner().to_string()))?;
    de.end().map_err(|e| e.to_string())?;
    Ok(value)
}

/// Parses YAML; an error is one line naming the field at fault, or the
/// parser limit the file breaks.
pub fn yaml<'de, T: Deserialize<'de>>(text: &'de str) -> Result<T, String> {
    let mut path = None;
    serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            path = Some(e.path().to_string());
            e.into_inner()
        })
    })
    .map_err(|e| match budget(&e) {
        Some(message) => message,
        None => at_field(
            path.as_deref().unwrap_or("."),
            &crate::config::one_line(&e.to_string()),
        ),
    })
}

/// `` `path`: message ``, after the message's own `line L column C: `
/// if it leads with one, unless the error is about the whole document
/// (`.`) or already names the field.
fn at_field(path: &str, message: &str) -> String {
    if path == "." || path.is_empty() || message.contains(&format!("`{path}`")) {
        return message.to_owned();
    }
    match message.split_once(": ") {
        Some((location, rest)) if location.starts_with("line ") => {
            format!("{location}: `{path}`: {rest}")
        }
        _ => format!("`{path}`: {message}"),
    }
}

/// The message for a broken parser limit (serde-saphyr's `Budget`), which
/// it reports as `budget breached: Nodes { nodes: 250001 }`.
fn budget(e: &serde_saphyr::Error) -> Option<String> {
    use serde_saphyr::budget::BudgetBreach as B;
    let serde_saphyr::Error::Budget { breach, .. } = e.without_snippet() else {
        return None;
    };
    let limits = serde_saphyr::Budget::default();
    let (what, limit) = match breach {
        B::Nodes { .. } => ("values, lists and maps", limits.max_nodes),
        B::Events { .. } => ("parser events", limits.max_events),
        B::Depth { .. } => ("levels of nesting", limits.max_depth),
        B::Aliases { .. } => ("aliases (*name)", limits.max_aliases),
        B::Anchors { .. } => ("anchors (&name)", limits.max_anchors),
        B::Documents { .. } => ("documents", limits.max_documents),
        B::MergeKeys { .. } => ("merge keys (<<)", limits.max_merge_keys),
        B::ScalarBytes { .. } => ("bytes of text", limits.max_total_scalar_bytes),
        other => {
            return Some(format!(
                "the YAML breaks a parser safety limit ({other:?}); make the file smaller and simpler"
            ));
        }
    };
    Some(format!(
        "the YAML has more than {limit} {what}, the parser's safety limit; a config this large is a mistake: split it or remove repeated entries"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Doc {
        regions: Vec<Region>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Region {
        id: String,
        capacity_rps: f64,
    }

    mod regression {
        use super::*;

        /// Type errors gave a line and column but not the field.
        #[test]
        fn a_type_error_names_the_field() {
            let err =
                json::<Doc>(br#"{"regions": [{"id": "a", "capacity_rps": "lots"}]}"#).unwrap_err();
            assert!(
                err.starts_with("`regions[0].capacity_rps`: invalid type: string \"lots\""),
                "{err}"
            );
            let err = yaml::<Doc>("regions:\n  - id: a\n    capacity_rps: lots\n").unwrap_err();
            assert!(err.contains("`regions[0].capacity_rps`"), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }

        /// `budget breached: Nodes { nodes: 250001 }` named neither the
        /// limit nor what to do.
        #[test]
        fn the_yaml_node_limit_is_named_with_the_fix() {
            let text = format!("regions: [{}]\n", vec!["1"; 260_000].join(","));
            let err = yaml::<serde_json::Value>(&text).unwrap_err();
            assert!(
                err.contains("more than 250000 values, lists and maps") && err.contains("split it"),
                "{err}"
            );
        }
    }
}
