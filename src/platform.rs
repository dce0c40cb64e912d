//! Platforms (`os/arch[/variant]`): parsing, normalisation and matching.
//!
//! Normalisation follows containerd: `aarch64` is `arm64`, `arm64/v8` is
//! `arm64`, `arm` is `arm/v7`, `x86_64` is `amd64`. `unknown/unknown` is the
//! platform BuildKit gives attestation manifests; it never matches anything.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
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
            (Some(image), Some(node)) if image <= node => Some(1 + node - image),
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
}
