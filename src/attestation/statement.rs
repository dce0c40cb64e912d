//! in-toto Statements (v0.1 and v1): the parts the resolver checks, with the
//! verbatim JSON kept for policies.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::registry::Digest;

pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    pub name: String,
    pub digest: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Statement {
    pub statement_type: String,
    pub predicate_type: String,
    pub subjects: Vec<Subject>,
    /// The statement exactly as found (parsed once, shared).
    pub json: Arc<serde_json::Value>,
    /// An estimate of the memory `json` takes, for cache weights.
    pub memory: usize,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StatementError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("not an in-toto statement: {0}")]
    Shape(String),
}

impl Statement {
    pub fn parse(bytes: &[u8]) -> Result<Statement, StatementError> {
        let json: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| StatementError::Json(e.to_string()))?;
        Statement::from_value(json)
    }

    pub fn from_value(json: serde_json::Value) -> Result<Statement, StatementError> {
        let shape = |m: &str| StatementError::Shape(m.to_owned());
        let obj = json
            .as_object()
            .ok_or_else(|| shape("expected a JSON object"))?;
        let statement_type = obj
            .get("_type")
            .and_then(|t| t.as_str())
            .ok_or_else(|| shape("no \"_type\""))?;
        if statement_type != STATEMENT_V01 && statement_type != STATEMENT_V1 {
            return Err(StatementError::Shape(format!(
                "unsupported _type {statement_type:?} (expected {STATEMENT_V01} or {STATEMENT_V1})"
            )));
        }
        let predicate_type = obj
            .get("predicateType")
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| shape("no \"predicateType\""))?;
        let subjects_json = obj
            .get("subject")
            .and_then(|s| s.as_array())
            .ok_or_else(|| shape("no \"subject\" list"))?;
        let mut subjects = Vec::with_capacity(subjects_json.len());
        for s in subjects_json {
            let name = s.get("name").and_then(|n| n.as_str()).unwrap_or_default();
            let digest = s
                .get("digest")
                .and_then(|d| d.as_object())
                .ok_or_else(|| shape("a subject has no \"digest\" object"))?;
            subjects.push(Subject {
                name: name.to_owned(),
                digest: digest
                    .iter()
                    .filter_map(|(k, v)| {
                        v.as_str()
                            .map(|v| (k.to_ascii_lowercase(), v.to_ascii_lowercase()))
                    })
                    .collect(),
            });
        }
        if subjects.is_empty() {
            return Err(shape("empty \"subject\" list"));
        }
        Ok(Statement {
            statement_type: statement_type.to_owned(),
            predicate_type: predicate_type.to_owned(),
            subjects,
            memory: crate::memory::json(&json),
            json: Arc::new(json),
        })
    }

    /// Whether any subject names `digest` (compared under its own algorithm).
    pub fn is_about(&self, digest: &Digest) -> bool {
        self.subjects
            .iter()
            .any(|s| s.digest.get(digest.algorithm()).map(String::as_str) == Some(digest.hex()))
    }

    /// Subject digests for messages: `sha256:0123456789ab, ...`.
    pub fn subject_summary(&self) -> String {
        self.subjects
            .iter()
            .flat_map(|s| {
                s.digest
                    .iter()
                    // Subject digests are untrusted text: cut at a char boundary.
                    .map(|(a, h)| format!("{a}:{}", h.chars().take(12).collect::<String>()))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "da8b190665956ea07890a0273e2a9c96bfe291662f08e2860e868eef69c34620";

    #[test]
    fn v01_and_v1_parse_and_match() {
        for t in [STATEMENT_V01, STATEMENT_V1] {
            let body = format!(
                r#"{{"_type":"{t}","predicateType":"https://slsa.dev/provenance/v1","subject":[{{"name":"x","digest":{{"sha256":"{HEX}"}}}}],"predicate":{{}}}}"#
            );
            let s = Statement::parse(body.as_bytes()).unwrap();
            assert!(s.is_about(&Digest::parse(&format!("sha256:{HEX}")).unwrap()));
            assert!(!s.is_about(&Digest::sha256_of(b"other")));
        }
    }

    #[test]
    fn rejects_non_statements() {
        for bad in [
            "[]",
            "{}",
            r#"{"_type":"https://example.com/x","predicateType":"p","subject":[{"digest":{}}]}"#,
            r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{}}]}"#,
            r#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"p","subject":[]}"#,
            r#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"p","subject":[{"name":"x"}]}"#,
        ] {
            assert!(Statement::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
