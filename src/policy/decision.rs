//! Turning per-(container, platform) outcomes into one admission decision:
//! modes, `onError`, and messages a person can act on.

use serde::{Deserialize, Serialize};

use super::input::ContainerInfo;
use super::set::Finding;

/// What a denial does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deny.
    #[default]
    Enforce,
    /// Allow, and return the denials as warnings.
    Warn,
    /// Allow; log and count only.
    Audit,
}

/// What a resolution or policy failure does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    #[default]
    Deny,
    Allow,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Enforce => "enforce",
            Mode::Warn => "warn",
            Mode::Audit => "audit",
        })
    }
}

/// The judgement of one container on one platform, or of a container whose
/// image could not be judged at all (`platform: None`, `error` set).
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerInfo>,
    /// The image as the user wrote it (or the normalised reference for a bare image).
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    pub deny: Vec<Finding>,
    pub warn: Vec<Finding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Predicate types of the attestations found (for messages).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub found: Vec<String>,
}

impl Verdict {
    pub fn failed(
        container: Option<ContainerInfo>,
        image: String,
        platform: Option<String>,
        error: String,
    ) -> Verdict {
        Verdict {
            container,
            image,
            platform,
            deny: Vec::new(),
            warn: Vec::new(),
            error: Some(error),
            found: Vec::new(),
        }
    }

    /// Whether this verdict denies, under `on_error`.
    pub fn denies(&self, on_error: OnError) -> bool {
        !self.deny.is_empty() || (self.error.is_some() && on_error == OnError::Deny)
    }

    /// `container "app" (ghcr.io/org/app:1, linux/amd64)`.
    pub fn subject(&self) -> String {
        let mut s = match &self.container {
            Some(c) => format!("{} \"{}\" ({}", kind_word(c), c.name, self.image),
            None => format!("image ({}", self.image),
        };
        if let Some(p) = &self.platform {
            s.push_str(", ");
            s.push_str(p);
        }
        s.push(')');
        s
    }

    /// The reasons, one line: policy messages, or the failure.
    pub fn reasons(&self, on_error: OnError) -> Vec<String> {
        let mut out: Vec<String> = self.deny.iter().map(|f| f.message.clone()).collect();
        if let Some(e) = &self.error {
            out.push(match on_error {
                OnError::Deny => format!("cannot be judged: {e}"),
                OnError::Allow => format!("cannot be judged (allowed by onError: allow): {e}"),
            });
        }
        out
    }
}

fn kind_word(c: &ContainerInfo) -> &'static str {
    match c.kind {
        super::input::ContainerKind::Container => "container",
        super::input::ContainerKind::InitContainer => "init container",
        super::input::ContainerKind::EphemeralContainer => "ephemeral container",
    }
}

/// The overall decision.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub allowed: bool,
    /// Would have been denied under enforce (for warn / audit modes, metrics and logs).
    pub violation: bool,
    pub mode: Mode,
    /// Set when denied: every failing (container, platform) and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Kubernetes warnings: short, one line each.
    pub warnings: Vec<String>,
    pub verdicts: Vec<Verdict>,
}

/// Kubernetes truncates warnings over 256 characters; keep well under it.
const MAX_WARNING_CHARS: usize = 240;
const MAX_WARNINGS: usize = 20;

fn one_line(s: &str) -> String {
    if !s.contains(|c: char| c.is_whitespace() && c != ' ') && !s.contains("  ") {
        return s.trim().to_owned();
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn clip(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        return s;
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub fn decide(verdicts: Vec<Verdict>, mode: Mode, on_error: OnError) -> Decision {
    let failing: Vec<&Verdict> = verdicts.iter().filter(|v| v.denies(on_error)).collect();
    let violation = !failing.is_empty();
    let lines: Vec<String> = failing
        .iter()
        .map(|v| format!("{}: {}", v.subject(), v.reasons(on_error).join("; ")))
        .collect();
    let mut warnings: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut push_warning = |w: String| {
        let w = clip(one_line(&w), MAX_WARNING_CHARS);
        if seen.insert(w.clone()) {
            warnings.push(w);
        }
    };
    for v in &verdicts {
        if !v.warn.is_empty() {
            let subject = v.subject();
            for f in &v.warn {
                push_warning(format!("{subject}: {}", f.message));
            }
        }
        // Errors allowed through are always said out loud.
        if v.error.is_some() && on_error == OnError::Allow && v.deny.is_empty() {
            push_warning(format!(
                "{}: {}",
                v.subject(),
                v.reasons(on_error).join("; ")
            ));
        }
    }
    if violation && mode == Mode::Warn {
        for l in &lines {
            push_warning(format!("would be denied: {l}"));
        }
    }
    if warnings.len() > MAX_WARNINGS {
        let more = warnings.len() - (MAX_WARNINGS - 1);
        warnings.truncate(MAX_WARNINGS - 1);
        warnings.push(format!("… and {more} more attestgate warnings"));
    }
    let allowed = !violation || mode != Mode::Enforce;
    Decision {
        allowed,
        violation,
        mode,
        message: (!allowed).then(|| lines.join("\n")),
        warnings,
        verdicts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::input::ContainerKind;

    fn verdict(deny: &[&str], error: Option<&str>) -> Verdict {
        Verdict {
            container: Some(ContainerInfo {
                name: "app".into(),
                kind: ContainerKind::Container,
                image: "nginx:1".into(),
            }),
            image: "nginx:1".into(),
            platform: Some("linux/arm64".into()),
            deny: deny
                .iter()
                .map(|m| Finding {
                    policy: "p".into(),
                    message: (*m).into(),
                })
                .collect(),
            warn: vec![Finding {
                policy: "p".into(),
                message: "heads\nup".into(),
            }],
            error: error.map(str::to_owned),
            found: vec![],
        }
    }

    #[test]
    fn enforce_denies_naming_container_image_platform() {
        let d = decide(
            vec![verdict(&["no provenance"], None)],
            Mode::Enforce,
            OnError::Deny,
        );
        assert!(!d.allowed);
        assert_eq!(
            d.message.as_deref(),
            Some("container \"app\" (nginx:1, linux/arm64): no provenance")
        );
        assert_eq!(
            d.warnings,
            vec!["container \"app\" (nginx:1, linux/arm64): heads up"]
        );
    }

    #[test]
    fn warn_and_audit_allow() {
        let d = decide(
            vec![verdict(&["no provenance"], None)],
            Mode::Warn,
            OnError::Deny,
        );
        assert!(d.allowed && d.violation);
        assert!(
            d.warnings
                .iter()
                .any(|w| w.starts_with("would be denied: container \"app\""))
        );
        let d = decide(
            vec![verdict(&["no provenance"], None)],
            Mode::Audit,
            OnError::Deny,
        );
        assert!(d.allowed && d.violation);
        assert!(!d.warnings.iter().any(|w| w.contains("would be denied")));
    }

    #[test]
    fn errors_follow_on_error_and_never_pass_silently() {
        let d = decide(
            vec![verdict(&[], Some("registry r: timeout"))],
            Mode::Enforce,
            OnError::Deny,
        );
        assert!(!d.allowed);
        assert!(
            d.message
                .unwrap()
                .contains("cannot be judged: registry r: timeout")
        );
        let d = decide(
            vec![verdict(&[], Some("registry r: timeout"))],
            Mode::Enforce,
            OnError::Allow,
        );
        assert!(d.allowed);
        assert!(
            d.warnings
                .iter()
                .any(|w| w.contains("allowed by onError: allow") && w.contains("timeout"))
        );
    }

    #[test]
    fn warnings_are_short_single_lines() {
        let long = "x".repeat(1000);
        let mut v = verdict(&[], None);
        v.warn = vec![Finding {
            policy: "p".into(),
            message: long,
        }];
        let d = decide(vec![v], Mode::Enforce, OnError::Deny);
        assert!(
            d.warnings
                .iter()
                .all(|w| w.chars().count() <= 240 && !w.contains('\n'))
        );
    }
}
