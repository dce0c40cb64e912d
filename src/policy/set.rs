//! Policy sets: `.rego` modules and `data.json` / `data.yaml` documents loaded
//! from files and directories (data merged by directory path, as OPA does),
//! checked, compiled once into a prepared regorus engine, and evaluated from
//! many threads by cloning that engine (a clone shares everything compiled).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regorus::Value;

use super::PolicyError;
use super::analysis;

/// Rego source files bigger than this are refused.
const MAX_MODULE_BYTES: u64 = 1 << 20;
/// Data documents bigger than this are refused.
const MAX_DATA_BYTES: u64 = 16 << 20;
/// Deeper bracket nesting than this is refused (the parser recurses).
const MAX_NESTING: usize = 64;

#[derive(Debug, Clone)]
pub struct PolicyOptions {
    /// Load `*_test.rego` modules too (for `attestgate test`).
    pub include_tests: bool,
    /// Wall-clock limit of one rule evaluation.
    pub eval_timeout: Duration,
    /// Record line coverage (for `attestgate test --coverage`).
    pub coverage: bool,
}

impl Default for PolicyOptions {
    fn default() -> Self {
        PolicyOptions {
            include_tests: false,
            eval_timeout: Duration::from_secs(1),
            coverage: false,
        }
    }
}

/// One source file of a policy set, already read.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as shown in messages.
    pub path: String,
    /// For data documents: where they merge into `data` (directory components).
    pub data_path: Vec<String>,
    pub contents: String,
}

#[derive(Debug, Default, Clone)]
pub struct Sources {
    pub modules: Vec<SourceFile>,
    pub data: Vec<SourceFile>,
}

impl Sources {
    /// Reads every policy file under `paths`. A directory is a root: data
    /// files merge at their directory path relative to it. Hidden entries
    /// (`.git`, a mounted Secret's `..data`) are skipped; symlinks followed.
    pub fn read(paths: &[PathBuf], include_tests: bool) -> Result<Sources, PolicyError> {
        let mut out = Sources::default();
        for root in paths {
            let meta = std::fs::metadata(root).map_err(|e| PolicyError::Read {
                path: root.display().to_string(),
                detail: e.to_string(),
            })?;
            if meta.is_dir() {
                out.walk(root, root, include_tests, 0)?;
            } else {
                out.add_named_file(root, include_tests)?;
            }
        }
        Ok(out)
    }

    fn walk(
        &mut self,
        root: &Path,
        dir: &Path,
        include_tests: bool,
        depth: usize,
    ) -> Result<(), PolicyError> {
        if depth > 16 {
            return Err(PolicyError::Read {
                path: dir.display().to_string(),
                detail: "directories nested more than 16 deep".into(),
            });
        }
        let read_err = |e: std::io::Error| PolicyError::Read {
            path: dir.display().to_string(),
            detail: e.to_string(),
        };
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(read_err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        entries.sort();
        for p in entries {
            let meta = std::fs::metadata(&p).map_err(read_err)?;
            if meta.is_dir() {
                self.walk(root, &p, include_tests, depth + 1)?;
            } else {
                let rel: Vec<String> = p
                    .parent()
                    .and_then(|parent| parent.strip_prefix(root).ok())
                    .map(|r| {
                        r.components()
                            .map(|c| c.as_os_str().to_string_lossy().into_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                self.add_file(&p, rel, include_tests)?;
            }
        }
        Ok(())
    }

    /// A file named on the command line: any `.rego` is a module, any
    /// `.json` / `.yaml` / `.yml` a data document at the root of `data`.
    fn add_named_file(&mut self, path: &Path, include_tests: bool) -> Result<(), PolicyError> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        match ext.as_str() {
            "rego" => self.add_file(path, Vec::new(), include_tests),
            "json" | "yaml" | "yml" => self.read_data(path, Vec::new()),
            _ => Err(PolicyError::Read {
                path: path.display().to_string(),
                detail: "neither a .rego module nor a .json / .yaml data document".into(),
            }),
        }
    }

    fn read_data(&mut self, path: &Path, data_path: Vec<String>) -> Result<(), PolicyError> {
        let shown = path.display().to_string();
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if len > MAX_DATA_BYTES {
            return Err(PolicyError::Read {
                path: shown,
                detail: format!("larger than the {MAX_DATA_BYTES}-byte limit"),
            });
        }
        let contents = std::fs::read_to_string(path).map_err(|e| PolicyError::Read {
            path: shown.clone(),
            detail: e.to_string(),
        })?;
        self.data.push(SourceFile {
            path: shown,
            data_path,
            contents,
        });
        Ok(())
    }

    fn add_file(
        &mut self,
        path: &Path,
        data_path: Vec<String>,
        include_tests: bool,
    ) -> Result<(), PolicyError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let is_rego = name.ends_with(".rego");
        let is_data = matches!(name.as_str(), "data.json" | "data.yaml" | "data.yml");
        if !is_rego && !is_data {
            return Ok(());
        }
        if is_rego && !include_tests && name.ends_with("_test.rego") {
            return Ok(());
        }
        let limit = if is_rego {
            MAX_MODULE_BYTES
        } else {
            MAX_DATA_BYTES
        };
        let shown = path.display().to_string();
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if len > limit {
            return Err(PolicyError::Read {
                path: shown,
                detail: format!("larger than the {limit}-byte limit"),
            });
        }
        let contents = std::fs::read_to_string(path).map_err(|e| PolicyError::Read {
            path: shown.clone(),
            detail: e.to_string(),
        })?;
        let file = SourceFile {
            path: shown,
            data_path,
            contents,
        };
        if is_rego {
            self.modules.push(file);
        } else {
            self.data.push(file);
        }
        Ok(())
    }
}

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_policies.rs"));
}

impl Sources {
    /// The shipped policies built into the binary (policies/ without tests).
    pub fn embedded() -> Sources {
        let mut out = Sources::default();
        for (rel, contents) in embedded::EMBEDDED_POLICIES {
            let mut data_path: Vec<String> = rel.split('/').map(str::to_owned).collect();
            let name = data_path.pop().unwrap_or_default();
            let file = SourceFile {
                path: format!("{EMBEDDED_PREFIX}policies/{rel}"),
                data_path,
                contents: (*contents).to_owned(),
            };
            if name.ends_with(".rego") {
                out.modules.push(file);
            } else {
                out.data.push(file);
            }
        }
        out
    }

    pub fn extend(&mut self, other: Sources) {
        self.modules.extend(other.modules);
        self.data.extend(other.data);
    }
}

const EMBEDDED_PREFIX: &str = "embedded:";

/// Deep-merges `value` into `into`. Objects merge key by key; elsewhere the
/// new value replaces the old when `override_`, else differing values are a
/// conflict (the path is returned).
fn merge_data(
    into: &mut serde_json::Value,
    value: serde_json::Value,
    override_: bool,
    path: &str,
) -> Result<(), String> {
    match (into, value) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                let here = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match a.get_mut(&k) {
                    Some(existing) => merge_data(existing, v, override_, &here)?,
                    None => {
                        a.insert(k, v);
                    }
                }
            }
            Ok(())
        }
        (slot, v) if override_ => {
            *slot = v;
            Ok(())
        }
        (slot, v) if *slot == v => Ok(()),
        _ => Err(format!("data.{path}")),
    }
}

/// A compiled policy set, ready to evaluate.
#[derive(Clone)]
pub struct PolicySet {
    engine: regorus::Engine,
    input_use: analysis::InputUse,
    /// Outcomes by input key (see `InputBuilder::decision_key`); only for
    /// deterministic sets. A reload builds a new set, so a new cache.
    decisions: moka::sync::Cache<[u8; 32], std::sync::Arc<Outcome>>,
    deny_packages: Vec<String>,
    warn_packages: Vec<String>,
    docker_decision: bool,
    module_paths: Vec<String>,
    fingerprint: String,
    eval_timeout: Duration,
}

impl std::fmt::Debug for PolicySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySet")
            .field("modules", &self.module_paths)
            .field("deny", &self.deny_packages)
            .field("warn", &self.warn_packages)
            .field("docker_decision", &self.docker_decision)
            .finish()
    }
}

impl PolicySet {
    pub fn load(paths: &[PathBuf], options: &PolicyOptions) -> Result<PolicySet, PolicyError> {
        let sources = Sources::read(paths, options.include_tests)?;
        if sources.modules.is_empty() {
            return Err(PolicyError::Read {
                path: paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                detail: "no .rego modules found".into(),
            });
        }
        PolicySet::compile(&sources, options)
    }

    pub fn compile(sources: &Sources, options: &PolicyOptions) -> Result<PolicySet, PolicyError> {
        let mut engine = regorus::Engine::new();
        // OPA semantics: a builtin error makes its expression undefined.
        engine.set_strict_builtin_errors(false);
        engine.set_gather_prints(true);
        engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
            limit: options.eval_timeout,
            check_interval: std::num::NonZeroU32::MIN.saturating_add(63),
        });
        if options.coverage {
            engine.set_enable_coverage(true);
        }
        super::builtins::register(&mut engine).map_err(|e| PolicyError::Invalid {
            location: "attestgate".into(),
            message: format!("cannot register extensions: {e}"),
        })?;
        let mut hasher = sha2::Sha256::new();
        use sha2::Digest as _;
        for m in &sources.modules {
            let (depth, line) = analysis::max_nesting(&m.contents);
            if depth > MAX_NESTING {
                return Err(PolicyError::Invalid {
                    location: format!("{}:{line}", m.path),
                    message: format!("brackets nested {depth} deep (the limit is {MAX_NESTING})"),
                });
            }
            engine
                .add_policy(m.path.clone(), m.contents.clone())
                .map_err(|e| PolicyError::from_regorus(&e, Some(&m.path)))?;
            hasher.update(m.path.as_bytes());
            hasher.update(m.contents.as_bytes());
        }
        // The shipped defaults (embedded data) give way to the operator's
        // documents; the operator's documents must agree with each other, as
        // OPA requires of data files.
        let mut defaults = serde_json::Value::Object(Default::default());
        let mut user = serde_json::Value::Object(Default::default());
        for d in &sources.data {
            let err = |detail: String| PolicyError::Data {
                path: d.path.clone(),
                detail,
            };
            let value: serde_json::Value = if d.path.ends_with(".json") {
                serde_json::from_str(&d.contents).map_err(|e| err(e.to_string()))?
            } else {
                let v = Value::from_yaml_str(&d.contents).map_err(|e| err(e.to_string()))?;
                serde_json::to_value(&v).map_err(|e| err(e.to_string()))?
            };
            if !value.is_object() {
                return Err(err("a data document must be an object".into()));
            }
            let wrapped = d
                .data_path
                .iter()
                .rev()
                .fold(value, |v, key| serde_json::json!({ key: v }));
            if d.path.starts_with(EMBEDDED_PREFIX) {
                merge_data(&mut defaults, wrapped, true, "").map_err(err)?;
            } else {
                merge_data(&mut user, wrapped, false, "")
                    .map_err(|e| err(format!("conflicts with another data document at {e}")))?;
            }
            hasher.update(d.path.as_bytes());
            hasher.update(d.contents.as_bytes());
        }
        merge_data(&mut defaults, user, true, "").map_err(|e| PolicyError::Data {
            path: "data".into(),
            detail: e,
        })?;
        engine
            .add_data(super::input::to_value(&defaults))
            .map_err(|e| PolicyError::Data {
                path: "data".into(),
                detail: e.to_string(),
            })?;

        let known: HashSet<String> = regorus::unstable::BUILTINS
            .keys()
            .map(|k| (*k).to_owned())
            .chain(["print".to_owned()])
            .collect();
        let modules = engine.get_modules().clone();
        let input_use = analysis::check(&modules, &known).map_err(|f| PolicyError::Invalid {
            location: format!("{}:{}", f.file, f.line),
            message: f.message,
        })?;
        let deny_packages = analysis::packages_declaring(&modules, "deny");
        let warn_packages = analysis::packages_declaring(&modules, "warn");
        let docker_decision = analysis::packages_declaring(&modules, "decision")
            .iter()
            .any(|p| p == "docker");

        // Prepare once (analysis, scheduling): clones then share the result.
        engine
            .eval_query("true".into(), false)
            .map_err(|e| PolicyError::from_regorus(&e, None))?;
        Ok(PolicySet {
            engine,
            input_use,
            decisions: moka::sync::Cache::builder()
                .max_capacity(50_000)
                .time_to_live(Duration::from_secs(600))
                .build(),
            deny_packages,
            warn_packages,
            docker_decision,
            module_paths: sources.modules.iter().map(|m| m.path.clone()).collect(),
            fingerprint: hex::encode(&hasher.finalize()[..8]),
            eval_timeout: options.eval_timeout,
        })
    }

    /// A content hash of the set (modules and data), for reload decisions.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn module_paths(&self) -> &[String] {
        &self.module_paths
    }

    pub fn packages(&self) -> Vec<String> {
        let mut p: Vec<String> = self
            .deny_packages
            .iter()
            .chain(&self.warn_packages)
            .cloned()
            .collect();
        if self.docker_decision {
            p.push("docker".into());
        }
        p.sort();
        p.dedup();
        p
    }

    /// Which parts of the input the set reads.
    pub fn input_use(&self) -> &analysis::InputUse {
        &self.input_use
    }

    /// A remembered outcome for an input key.
    pub fn cached(&self, key: &[u8; 32]) -> Option<std::sync::Arc<Outcome>> {
        if !self.input_use.deterministic {
            return None;
        }
        self.decisions.get(key)
    }

    /// Evaluates and remembers the outcome under `key` (errors are not
    /// remembered: a time limit may not be hit next time).
    pub fn evaluate_and_remember(
        &self,
        key: [u8; 32],
        input: Value,
    ) -> Result<std::sync::Arc<Outcome>, PolicyError> {
        let outcome = std::sync::Arc::new(self.evaluate(input)?);
        if self.input_use.deterministic && outcome.errors.is_empty() {
            self.decisions.insert(key, outcome.clone());
        }
        Ok(outcome)
    }

    /// Packages whose `deny` is evaluated.
    pub fn deny_packages(&self) -> &[String] {
        &self.deny_packages
    }

    /// Packages whose `warn` is evaluated.
    pub fn warn_packages(&self) -> &[String] {
        &self.warn_packages
    }

    /// Whether `data.docker.decision` (buildx's contract) is evaluated.
    pub fn has_docker_decision(&self) -> bool {
        self.docker_decision
    }

    /// A fresh engine sharing this set's compiled state.
    pub fn engine(&self) -> regorus::Engine {
        self.engine.clone()
    }

    /// Evaluates every package's `deny` and `warn` (and `data.docker.decision`)
    /// for one input.
    ///
    /// A package whose evaluation fails is reported in `Outcome::errors`;
    /// the other packages' answers are kept (an error never hides a denial).
    /// `Err` only when every rule failed.
    pub fn evaluate(&self, input: Value) -> Result<Outcome, PolicyError> {
        let mut engine = self.engine.clone();
        engine.set_input(input);
        let mut outcome = Outcome::default();
        let mut first_error = None;
        let mut evaluated = 0;
        let mut record = |e: PolicyError, outcome: &mut Outcome| {
            outcome.errors.push(e.to_string());
            first_error.get_or_insert(e);
        };
        for pkg in &self.deny_packages {
            match eval(&mut engine, pkg, "deny", self.eval_timeout) {
                Ok(v) => {
                    evaluated += 1;
                    outcome.deny.extend(findings(pkg, &v));
                }
                Err(e) => record(e, &mut outcome),
            }
        }
        for pkg in &self.warn_packages {
            match eval(&mut engine, pkg, "warn", self.eval_timeout) {
                Ok(v) => {
                    evaluated += 1;
                    outcome.warn.extend(findings(pkg, &v));
                }
                Err(e) => record(e, &mut outcome),
            }
        }
        if self.docker_decision {
            match eval(&mut engine, "docker", "decision", self.eval_timeout)
                .and_then(|v| docker_decision(&v))
            {
                Ok(f) => {
                    evaluated += 1;
                    outcome.deny.extend(f);
                }
                Err(e) => record(e, &mut outcome),
            }
        }
        outcome.prints = engine.take_prints().unwrap_or_default();
        match first_error {
            Some(e) if evaluated == 0 => Err(e),
            _ => Ok(outcome),
        }
    }
}

fn eval(
    engine: &mut regorus::Engine,
    pkg: &str,
    rule: &str,
    limit: Duration,
) -> Result<Value, PolicyError> {
    engine
        .eval_rule(format!("data.{pkg}.{rule}"))
        .map_err(|e| PolicyError::from_eval(&e, pkg, rule, limit))
}

/// One message from one policy.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Finding {
    /// The package that produced it (`attestgate.require_provenance`, `docker`).
    pub policy: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    pub deny: Vec<Finding>,
    pub warn: Vec<Finding>,
    /// Packages that failed to evaluate (the caller applies onError).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// `print()` output, for `--verbose` and debug logs.
    #[serde(skip)]
    pub prints: Vec<String>,
}

fn message_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Object(o) => match o.get(&Value::from("msg")) {
            Some(Value::String(s)) => s.to_string(),
            _ => v.to_string(),
        },
        other => other.to_string(),
    }
}

/// `deny` / `warn` values: sets or arrays of strings or `{msg}` objects, a
/// single string, or a boolean (a complete `deny if ...` rule).
fn findings(pkg: &str, v: &Value) -> Vec<Finding> {
    let msgs: Vec<String> = match v {
        Value::Undefined | Value::Null | Value::Bool(false) => Vec::new(),
        Value::Bool(true) => vec![format!("denied by policy {pkg}")],
        Value::Set(s) => s.iter().map(message_of).collect(),
        Value::Array(a) => a.iter().map(message_of).collect(),
        other => vec![message_of(other)],
    };
    let mut out: Vec<Finding> = msgs
        .into_iter()
        .map(|message| Finding {
            policy: pkg.to_owned(),
            message,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// buildx's `data.docker.decision`: `{"allow": bool, "deny_msg": [...]}`.
/// Only `allow == true` allows; an undefined or malformed decision is an
/// error (fail closed), as buildx treats it.
fn docker_decision(v: &Value) -> Result<Vec<Finding>, PolicyError> {
    let bad = |detail: &str| PolicyError::Decision {
        policy: "docker".into(),
        detail: detail.into(),
    };
    let obj = match v {
        Value::Object(o) => o,
        Value::Undefined => return Err(bad("data.docker.decision is undefined for this input")),
        _ => return Err(bad("data.docker.decision is not an object")),
    };
    let allow = match obj.get(&Value::from("allow")) {
        None | Some(Value::Undefined) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("data.docker.decision.allow is not a boolean")),
    };
    if allow {
        return Ok(Vec::new());
    }
    let mut msgs: Vec<Finding> = match obj.get(&Value::from("deny_msg")) {
        Some(Value::Set(s)) => s
            .iter()
            .filter_map(|m| m.as_string().ok().map(|s| s.to_string()))
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|m| m.as_string().ok().map(|s| s.to_string()))
            .collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .map(|message| Finding {
        policy: "docker".into(),
        message,
    })
    .collect();
    if msgs.is_empty() {
        msgs.push(Finding {
            policy: "docker".into(),
            message: "not allowed by policy (data.docker.decision.allow is not true)".into(),
        });
    }
    Ok(msgs)
}
