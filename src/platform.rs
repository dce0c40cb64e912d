//! Platforms (`os/arch[/variant]`): parsing, normalisation and matching.
//!
//! Normalisation follows containerd: `aarch64` is `arm64`, `arm64/v8` is
//! `arm64`, `arm` is `arm/v7`, `x86_64` is `amd64`. `unknown/unknown` is the
//! platform BuildKit gives attestation manifests; it never matches anything.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Serialised as its string form (`linux/arm/v7`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl TryFrom<String> for Platform {
    type Error = PlatformError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Platform> for String {
    fn from(p: Platform) -> String {
        p.to_string()
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("invalid platform {0:?}: expected OS/ARCH[/VARIANT], e.g. linux/arm64")]
pub struct PlatformError(pub String);

impl Platform {
    /// A platform from its parts, normalised.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        let os = os.trim().to_ascii_lowercase();
        let arch = architecture.trim().to_ascii_lowercase();
        let variant = variant
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty());
        let (architecture, variant) = normalise_arch(&arch, variant);
        Platform {
            os,
            architecture,
            variant,
        }
    }

    /// BuildKit's placeholder platform of attestation manifests.
    pub fn is_unknown(&self) -> bool {
        self.os == "unknown" || self.architecture == "unknown"
    }

    /// Whether an image built for `self` is what a node of platform `node`
    /// would pull and run, variants compared after normalisation.
    pub fn runs_on(&self, node: &Platform) -> bool {
        if self.is_unknown() || node.is_unknown() {
            return false;
        }
        self.os == node.os && self.architecture == node.architecture && self.variant == node.variant
    }

    /// How well an image platform fits a node, lower is better, `None` when it
    /// cannot run there. Older variants run on newer CPUs (an arm/v6 image runs
    /// on an arm/v7 node), as containerd's matcher allows.
    pub fn fit(&self, node: &Platform) -> Option<u32> {
        if self.is_unknown() || node.is_unknown() {
            return None;
        }
        if self.os != node.os || self.architecture != node.architecture {
            return None;
        }
        if self.variant == node.variant {
            return Some(0);
        }
        let level = |v: &Option<String>| -> Option<u32> {
            match v {
                None => Some(default_variant_level(&self.architecture)),
                Some(v) => v.strip_prefix('v').and_then(|n| n.parse().ok()),
            }
        };
        match (level(&self.variant), level(&node.variant)) {
            // Saturating: variant numbers come from descriptors and flags.
            (Some(image), Some(node)) if image <= node => Some((node - image).saturating_add(1)),
            _ => None,
        }
    }
}

fn default_variant_level(arch: &str) -> u32 {
    match arch {
        "arm64" => 8,
        "arm" => 7,
        _ => 1,
    }
}

fn normalise_arch(arch: &str, variant: Option<String>) -> (String, Option<String>) {
    let v = variant.as_deref();
    match arch {
        "x86_64" | "x86-64" | "amd64" => {
            let variant = match v {
                None | Some("v1") => None,
                Some(other) => Some(other.to_owned()),
            };
            ("amd64".into(), variant)
        }
        "i386" | "386" => ("386".into(), variant),
        "aarch64" | "arm64" => {
            let variant = match v {
                None | Some("8") | Some("v8") => None,
                Some(other) if other.chars().all(|c| c.is_ascii_digit() || c == '.') => {
                    Some(format!("v{other}"))
                }
                Some(other) => Some(other.to_owned()),
            };
            ("arm64".into(), variant)
        }
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "arm" => {
            let variant = match v {
                None | Some("7") | Some("v7") => "v7".to_owned(),
                Some(other) if other.chars().all(|c| c.is_ascii_digit()) => format!("v{other}"),
                Some(other) => other.to_owned(),
            };
            ("arm".into(), Some(variant))
        }
        other => (other.to_owned(), variant),
    }
}

impl FromStr for Platform {
    type Err = PlatformError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || PlatformError(s.chars().take(100).collect());
        let valid = |p: &str| {
            !p.is_empty()
                && p.len() <= 64
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(|p| valid(p)) {
            return Err(bad());
        }
        Ok(Platform::new(parts[0], parts[1], parts.get(2).copied()))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// For each node platform, the index of the best-fitting image platform (what
/// the container runtime would pull there). Image platforms that fit no node
/// are not selected; the result is de-duplicated and in `offered` order.
pub fn select_for_nodes(offered: &[Platform], nodes: &[Platform]) -> Vec<usize> {
    let mut chosen: Vec<usize> = nodes
        .iter()
        .filter_map(|node| {
            offered
                .iter()
                .enumerate()
                .filter_map(|(i, p)| p.fit(node).map(|score| (score, i)))
                .min()
                .map(|(_, i)| i)
        })
        .collect();
    chosen.sort_unstable();
    chosen.dedup();
    chosen
}

/// A list of platforms for messages: `linux/amd64, linux/arm64`.
pub fn list(platforms: &[Platform]) -> String {
    if platforms.is_empty() {
        return "none".into();
    }
    platforms
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A node as far as scheduling constraints are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    pub name: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub platform: Platform,
}

const OS_LABELS: [&str; 2] = ["kubernetes.io/os", "beta.kubernetes.io/os"];
const ARCH_LABELS: [&str; 2] = ["kubernetes.io/arch", "beta.kubernetes.io/arch"];

/// The labels a node of `p` carries for the OS and architecture.
fn platform_labels(p: &Platform) -> std::collections::BTreeMap<String, String> {
    OS_LABELS
        .iter()
        .map(|k| ((*k).to_owned(), p.os.clone()))
        .chain(
            ARCH_LABELS
                .iter()
                .map(|k| ((*k).to_owned(), p.architecture.clone())),
        )
        .collect()
}

fn expression_matches(
    key: &str,
    operator: &str,
    values: &[String],
    labels: &std::collections::BTreeMap<String, String>,
    only_platform_keys: bool,
) -> bool {
    // Without real nodes only OS/arch constraints can be judged; others are
    // assumed satisfiable.
    if only_platform_keys && !OS_LABELS.contains(&key) && !ARCH_LABELS.contains(&key) {
        return true;
    }
    let value = labels.get(key);
    match operator {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

fn pod_fits(
    spec: &k8s_openapi::api::core::v1::PodSpec,
    name: &str,
    labels: &std::collections::BTreeMap<String, String>,
    only_platform_keys: bool,
) -> bool {
    if let Some(selector) = &spec.node_selector {
        for (k, v) in selector {
            if only_platform_keys
                && !OS_LABELS.contains(&k.as_str())
                && !ARCH_LABELS.contains(&k.as_str())
            {
                continue;
            }
            if labels.get(k) != Some(v) {
                return false;
            }
        }
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    let Some(required) = required else {
        return true;
    };
    // Terms are ORed; a term's expressions and fields are ANDed.
    required.node_selector_terms.iter().any(|term| {
        let exprs_ok = term.match_expressions.iter().flatten().all(|e| {
            expression_matches(
                &e.key,
                &e.operator,
                e.values.as_deref().unwrap_or_default(),
                labels,
                only_platform_keys,
            )
        });
        let fields_ok = term.match_fields.iter().flatten().all(|f| {
            if only_platform_keys || f.key != "metadata.name" {
                return true;
            }
            let mut fields = std::collections::BTreeMap::new();
            fields.insert("metadata.name".to_owned(), name.to_owned());
            expression_matches(
                &f.key,
                &f.operator,
                f.values.as_deref().unwrap_or_default(),
                &fields,
                false,
            )
        });
        exprs_ok && fields_ok
    })
}

/// The platforms a pod can run on: those of the nodes its `nodeName`,
/// `nodeSelector` and required node affinity allow. Without node
/// information (or when no current node fits, as before a scale-up), the
/// pod's own OS/arch constraints applied to `defaults`.
pub fn candidate_platforms(
    spec: &k8s_openapi::api::core::v1::PodSpec,
    nodes: &[NodeView],
    defaults: &[Platform],
) -> Vec<Platform> {
    fn push(out: &mut Vec<Platform>, p: &Platform) {
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    let mut out: Vec<Platform> = Vec::new();
    if let Some(node) = spec
        .node_name
        .as_deref()
        .and_then(|n| nodes.iter().find(|v| v.name == n))
    {
        push(&mut out, &node.platform);
        return out;
    }
    for node in nodes {
        if pod_fits(spec, &node.name, &node.labels, false) {
            push(&mut out, &node.platform);
        }
    }
    if out.is_empty() {
        for p in defaults.iter().chain(nodes.iter().map(|n| &n.platform)) {
            if pod_fits(spec, "", &platform_labels(p), true) {
                push(&mut out, p);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        s.parse().unwrap()
    }

    #[test]
    fn normalises_like_containerd() {
        assert_eq!(p("linux/arm64/v8"), p("linux/arm64"));
        assert_eq!(p("linux/aarch64"), p("linux/arm64"));
        assert_eq!(p("linux/arm"), p("linux/arm/v7"));
        assert_eq!(p("linux/arm/7"), p("linux/arm/v7"));
        assert_eq!(p("Linux/X86_64"), p("linux/amd64"));
        assert_eq!(p("linux/amd64/v1"), p("linux/amd64"));
        assert_ne!(p("linux/amd64/v3"), p("linux/amd64"));
        assert_eq!(p("linux/arm64").to_string(), "linux/arm64");
        assert_eq!(p("linux/arm").to_string(), "linux/arm/v7");
    }

    #[test]
    fn rejects_bad_strings() {
        for bad in ["linux", "", "linux/", "/amd64", "a/b/c/d", "linux/am d64"] {
            assert!(bad.parse::<Platform>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unknown_never_matches() {
        let unknown = p("unknown/unknown");
        assert!(!unknown.runs_on(&unknown));
        assert_eq!(unknown.fit(&unknown), None);
    }

    #[test]
    fn selects_best_fit_per_node() {
        let offered = [
            p("linux/amd64"),
            p("linux/arm/v6"),
            p("linux/arm/v7"),
            p("unknown/unknown"),
        ];
        assert_eq!(select_for_nodes(&offered, &[p("linux/arm/v7")]), vec![2]);
        assert_eq!(select_for_nodes(&offered, &[p("linux/arm/v8")]), vec![2]);
        assert_eq!(
            select_for_nodes(&offered, &[p("linux/amd64"), p("linux/arm64")]),
            vec![0]
        );
        assert!(select_for_nodes(&offered, &[p("windows/amd64")]).is_empty());
        // An arm/v7 image does not run on an arm/v6 node.
        assert!(select_for_nodes(&[p("linux/arm/v7")], &[p("linux/arm/v6")]).is_empty());
    }

    fn node(name: &str, platform: &str, extra: &[(&str, &str)]) -> NodeView {
        let platform = p(platform);
        let mut labels = platform_labels(&platform);
        labels.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        NodeView {
            name: name.into(),
            labels,
            platform,
        }
    }

    fn spec(json: serde_json::Value) -> k8s_openapi::api::core::v1::PodSpec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn candidates_follow_scheduling_constraints() {
        let nodes = [
            node("a1", "linux/amd64", &[("pool", "general")]),
            node("r1", "linux/arm64", &[("pool", "arm")]),
        ];
        let defaults = [p("linux/amd64")];
        let none = spec(serde_json::json!({"containers": []}));
        assert_eq!(
            candidate_platforms(&none, &nodes, &defaults),
            vec![p("linux/amd64"), p("linux/arm64")]
        );
        let pinned = spec(
            serde_json::json!({"containers": [], "nodeSelector": {"kubernetes.io/arch": "arm64"}}),
        );
        assert_eq!(
            candidate_platforms(&pinned, &nodes, &defaults),
            vec![p("linux/arm64")]
        );
        let by_pool =
            spec(serde_json::json!({"containers": [], "nodeSelector": {"pool": "general"}}));
        assert_eq!(
            candidate_platforms(&by_pool, &nodes, &defaults),
            vec![p("linux/amd64")]
        );
        let named = spec(serde_json::json!({"containers": [], "nodeName": "r1"}));
        assert_eq!(
            candidate_platforms(&named, &nodes, &defaults),
            vec![p("linux/arm64")]
        );
        let affinity = spec(
            serde_json::json!({"containers": [], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "NotIn", "values": ["arm64"]}]}]}}}}),
        );
        assert_eq!(
            candidate_platforms(&affinity, &nodes, &defaults),
            vec![p("linux/amd64")]
        );
    }

    #[test]
    fn without_nodes_the_pods_own_constraints_narrow_the_defaults() {
        let defaults = [p("linux/amd64"), p("linux/arm64")];
        let pinned = spec(
            serde_json::json!({"containers": [], "nodeSelector": {"kubernetes.io/arch": "arm64", "pool": "x"}}),
        );
        assert_eq!(
            candidate_platforms(&pinned, &[], &defaults),
            vec![p("linux/arm64")]
        );
        let none = spec(serde_json::json!({"containers": []}));
        assert_eq!(
            candidate_platforms(&none, &[], &defaults),
            defaults.to_vec()
        );
    }
}
