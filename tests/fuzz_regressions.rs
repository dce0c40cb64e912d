//! Replays every input under `fuzz/regressions/<target>/` (crashes the
//! fuzzers found, minimised, and hand-written hostile inputs) and every seed
//! under `fuzz/seeds/<target>/` through the fuzz target bodies, so a fixed
//! crash stays fixed without nightly or cargo-fuzz. The fuzzers themselves
//! run with `scripts/fuzz.sh [SECONDS]` (nightly, not part of the test command).

mod fuzz_bodies;

use std::path::{Path, PathBuf};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Runs `body` on every regression input and seed of `target`; reports every
/// input that panics, not only the first.
fn replay(target: &str, body: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let regressions = inputs(&fuzz.join("regressions").join(target));
    assert!(
        regressions.len() >= 3,
        "fuzz/regressions/{target} holds {} inputs; expected at least 3",
        regressions.len()
    );
    let seeds = inputs(&fuzz.join("seeds").join(target));
    assert!(!seeds.is_empty(), "fuzz/seeds/{target} is empty");
    let mut failed = Vec::new();
    for path in regressions.iter().chain(&seeds) {
        let data = std::fs::read(path).unwrap();
        if std::panic::catch_unwind(|| body(&data)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} input(s) panicked:\n  {}",
        failed.len(),
        failed.join("\n  ")
    );
}

#[test]
fn admission_review() {
    replay("admission_review", fuzz_bodies::admission_review);
}

#[test]
fn manifest() {
    replay("manifest", fuzz_bodies::manifest);
}

#[test]
fn dsse_statement() {
    replay("dsse_statement", fuzz_bodies::dsse_statement);
}

#[test]
fn docker_config() {
    replay("docker_config", fuzz_bodies::docker_config);
}

#[test]
fn policy_input() {
    replay("policy_input", fuzz_bodies::policy_input);
}

#[test]
fn layout_resolve() {
    replay("layout_resolve", fuzz_bodies::layout_resolve);
}
