//! Rego policies: policy sets and their evaluation, the policy input
//! document, decisions, and the `test_*` runner.

pub mod analysis;
pub mod builtins;
pub mod decision;
pub mod input;
pub mod set;
pub mod testing;

pub use decision::{Decision, Mode, OnError, Verdict};
pub use input::{ContainerInfo, ContainerKind, InputBuilder, RequestInfo};
pub use set::{Finding, Outcome, PolicyOptions, PolicySet, SourceFile, Sources};

/// The policy boundary's error type. Locations read `file:line[:col]`.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("{path}: {detail}")]
    Read { path: String, detail: String },
    #[error("{location}: {message}")]
    Invalid { location: String, message: String },
    #[error("data document {path}: {detail}")]
    Data { path: String, detail: String },
    #[error("policy {policy}: evaluating {rule}{}: {message}", location.as_ref().map(|l| format!(" at {l}")).unwrap_or_default())]
    Eval {
        policy: String,
        rule: String,
        location: Option<String>,
        message: String,
    },
    #[error("policy {policy}: evaluating {rule} took longer than the {limit_ms} ms limit")]
    TimeLimit {
        policy: String,
        rule: String,
        limit_ms: u64,
    },
    #[error("policy {policy}: {detail}")]
    Decision { policy: String, detail: String },
}

impl PolicyError {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            PolicyError::Read { .. } => "read",
            PolicyError::Invalid { .. } => "invalid",
            PolicyError::Data { .. } => "data",
            PolicyError::Eval { .. } => "eval",
            PolicyError::TimeLimit { .. } => "time_limit",
            PolicyError::Decision { .. } => "decision",
        }
    }

    /// A load-time regorus error (parse, compile), with its location.
    pub(crate) fn from_regorus(e: &anyhow::Error, file: Option<&str>) -> PolicyError {
        let (location, message) = split_regorus_error(&e.to_string());
        PolicyError::Invalid {
            location: location
                .or_else(|| file.map(str::to_owned))
                .unwrap_or_else(|| "policy".into()),
            message,
        }
    }

    pub(crate) fn from_eval(
        e: &anyhow::Error,
        policy: &str,
        rule: &str,
        limit: std::time::Duration,
    ) -> PolicyError {
        let text = e.to_string();
        // Inside a user function the limit error arrives as text, not typed.
        let timed_out = matches!(
            e.downcast_ref::<regorus::utils::limits::LimitError>(),
            Some(regorus::utils::limits::LimitError::TimeLimitExceeded { .. })
        ) || text.contains("execution exceeded time limit");
        if timed_out {
            return PolicyError::TimeLimit {
                policy: policy.into(),
                rule: rule.into(),
                limit_ms: limit.as_millis() as u64,
            };
        }
        let (location, message) = split_regorus_error(&text);
        PolicyError::Eval {
            policy: policy.into(),
            rule: rule.into(),
            location,
            message,
        }
    }
}

/// regorus errors read `\n--> file:line:col\n |\n3 | src\n | ^\nerror: message`.
pub(crate) fn split_regorus_error(text: &str) -> (Option<String>, String) {
    let location = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("--> "))
        .map(|l| l.trim().to_owned());
    let message = text
        .lines()
        .rev()
        .find_map(|l| l.trim_start().strip_prefix("error: "))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            text.trim()
                .lines()
                .last()
                .unwrap_or("unknown error")
                .to_owned()
        });
    (location, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_regorus_messages() {
        let (loc, msg) = split_regorus_error(
            "\n--> c.rego:3:1\n  |\n3 | p := 2 if true\n  | ^\nerror: rule conflicts with rule at c.rego:2:1",
        );
        assert_eq!(loc.as_deref(), Some("c.rego:3:1"));
        assert_eq!(msg, "rule conflicts with rule at c.rego:2:1");
        let (loc, msg) = split_regorus_error("expected value at line 1 column 7");
        assert_eq!(loc, None);
        assert_eq!(msg, "expected value at line 1 column 7");
    }
}
