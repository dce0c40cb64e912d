//! `attestgate test`: runs every `test_*` rule (OPA's convention; `with
//! input as` / `with data.x as` work as in OPA), optionally with line coverage.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use regorus::Value;

use super::PolicyError;
use super::analysis;
use super::set::{PolicyOptions, PolicySet};

#[derive(Debug, Clone)]
pub struct TestOptions {
    pub run: Option<regex::Regex>,
    pub coverage: bool,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Error(String),
    Skip,
}

#[derive(Debug, Clone)]
pub struct TestResult {
    /// `data.<package>.<rule>`
    pub name: String,
    pub location: String,
    pub status: Status,
    pub duration: Duration,
    pub prints: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct FileCoverage {
    pub path: String,
    pub covered: BTreeSet<u32>,
    pub not_covered: BTreeSet<u32>,
    /// False when no test ever reached the module.
    pub evaluated: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub results: Vec<TestResult>,
    pub coverage: Vec<FileCoverage>,
}

impl Report {
    pub fn passed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.status == Status::Pass)
            .count()
    }
    pub fn failed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| matches!(r.status, Status::Fail | Status::Error(_)))
            .count()
    }
    pub fn skipped(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.status == Status::Skip)
            .count()
    }
}

pub fn run(paths: &[PathBuf], options: &TestOptions) -> Result<Report, PolicyError> {
    let set = PolicySet::load(
        paths,
        &PolicyOptions {
            include_tests: true,
            eval_timeout: options.timeout,
            coverage: options.coverage,
        },
    )?;
    let mut base = set.engine();
    base.clear_coverage_data();
    let tests = analysis::test_rules(&base.get_modules().clone());
    let mut report = Report::default();
    let mut covered: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    let mut not_covered: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    for (pkg, rule, file, line) in tests {
        let name = format!("data.{pkg}.{rule}");
        if options.run.as_ref().is_some_and(|re| !re.is_match(&name)) {
            continue;
        }
        let location = format!("{file}:{line}");
        if rule.starts_with("todo_test_") {
            report.results.push(TestResult {
                name,
                location,
                status: Status::Skip,
                duration: Duration::ZERO,
                prints: Vec::new(),
            });
            continue;
        }
        let mut engine = base.clone();
        let started = Instant::now();
        let status = match engine.eval_rule(name.clone()) {
            Ok(Value::Bool(true)) => Status::Pass,
            Ok(_) => Status::Fail,
            Err(e) => {
                Status::Error(PolicyError::from_eval(&e, &pkg, &rule, options.timeout).to_string())
            }
        };
        let duration = started.elapsed();
        let prints = engine.take_prints().unwrap_or_default();
        if options.coverage
            && let Ok(cov) = engine.get_coverage_report()
        {
            for f in cov.files {
                covered.entry(f.path.clone()).or_default().extend(f.covered);
                not_covered.entry(f.path).or_default().extend(f.not_covered);
            }
        }
        report.results.push(TestResult {
            name,
            location,
            status,
            duration,
            prints,
        });
    }
    if options.coverage {
        for path in set.module_paths() {
            if path.ends_with("_test.rego") {
                continue;
            }
            let c = covered.remove(path).unwrap_or_default();
            let evaluated = !c.is_empty() || not_covered.contains_key(path);
            let nc: BTreeSet<u32> = not_covered
                .remove(path)
                .unwrap_or_default()
                .difference(&c)
                .copied()
                .collect();
            report.coverage.push(FileCoverage {
                path: path.clone(),
                covered: c,
                not_covered: nc,
                evaluated,
            });
        }
    }
    Ok(report)
}
