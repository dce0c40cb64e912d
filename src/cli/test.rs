//! `attestgate test`: run policy unit tests.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use crate::policy::testing::{self, Status, TestOptions};

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Policy files or directories holding modules, data and *_test.rego files.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Only run tests whose full name (data.<package>.<rule>) matches.
    #[arg(long, value_name = "REGEX")]
    pub run: Option<String>,
    /// Report line coverage of the non-test modules.
    #[arg(long)]
    pub coverage: bool,
    /// Print every test, passing ones too, and their print() output.
    #[arg(long, short)]
    pub verbose: bool,
    /// Time limit of one test.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (e.g. 500ms, 5s, 2m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        _ => return Err(format!("invalid duration unit in {s:?} (ms, s or m)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

pub fn run(args: TestArgs) -> anyhow::Result<i32> {
    let run = args
        .run
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .context("--run is not a valid regular expression")?;
    let report = testing::run(
        &args.paths,
        &TestOptions {
            run,
            coverage: args.coverage,
            timeout: args.timeout,
        },
    )?;
    for r in &report.results {
        let line = match &r.status {
            Status::Pass if args.verbose => {
                format!("PASS {} ({}) {:?}", r.name, r.location, r.duration)
            }
            Status::Pass => continue,
            Status::Fail => format!("FAIL {} ({})", r.name, r.location),
            Status::Error(e) => format!("ERROR {} ({}): {e}", r.name, r.location),
            Status::Skip => format!("SKIP {} ({})", r.name, r.location),
        };
        println!("{line}");
        if args.verbose || r.status != Status::Pass {
            for p in &r.prints {
                println!("    {p}");
            }
        }
    }
    if args.coverage {
        println!("coverage:");
        for f in &report.coverage {
            let total = f.covered.len() + f.not_covered.len();
            if !f.evaluated {
                println!("  {}: never evaluated by any test", f.path);
                continue;
            }
            let pct = if total == 0 {
                100.0
            } else {
                100.0 * f.covered.len() as f64 / total as f64
            };
            let missing: Vec<String> = f.not_covered.iter().map(u32::to_string).collect();
            let missing = if missing.is_empty() {
                String::new()
            } else {
                format!("; not evaluated: lines {}", missing.join(", "))
            };
            println!(
                "  {}: {}/{} lines ({pct:.1}%){missing}",
                f.path,
                f.covered.len(),
                total
            );
        }
    }
    let mut summary = format!("{} passed, {} failed", report.passed(), report.failed());
    if report.skipped() > 0 {
        summary.push_str(&format!(", {} skipped", report.skipped()));
    }
    println!("{summary}");
    Ok(if report.failed() > 0 { 1 } else { 0 })
}
