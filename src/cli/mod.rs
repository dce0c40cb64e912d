//! Command-line definitions and the commands' entry points. Errors become
//! `anyhow` here, at the edge, and exit code 2.

mod eval;
mod resolve;
mod serve;
mod source;
mod test;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::platform::Platform;

#[derive(Debug, Parser)]
#[command(
    name = "attestgate",
    version,
    about = "Admission control and local evaluation of Rego policies over container image attestations"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print what a policy would see for an image: one element per platform,
    /// {"image": ..., "attestations": [...]}.
    Resolve(resolve::ResolveArgs),
    /// Judge an image, a saved input or an AdmissionReview with Rego policies.
    /// Exit 0 allowed (warnings included), 1 denied, 2 usage/policy/resolution error.
    Eval(eval::EvalArgs),
    /// Run the admission webhook.
    Serve(serve::ServeArgs),
    /// Run the test_* rules of policies (OPA conventions); ends with "N passed, N failed".
    Test(test::TestArgs),
}

/// Where images come from, shared by the commands that resolve images.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Resolve for this platform (repeatable); default: every platform the image offers.
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]")]
    pub platforms: Vec<Platform>,
    /// Read an OCI image layout directory instead of a registry.
    #[arg(long, value_name = "DIR")]
    pub layout: Option<PathBuf>,
    /// Reach this registry over plain HTTP (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// Registry credentials from a dockerconfigjson file (matched per registry as the kubelet does).
    #[arg(long, value_name = "FILE")]
    pub docker_config: Option<PathBuf>,
    /// Trust this CA certificate (PEM) for registries, beside the Mozilla roots (repeatable).
    #[arg(long = "registry-ca", value_name = "FILE")]
    pub registry_cas: Vec<PathBuf>,
    /// Give up on the whole command after this long (e.g. 30s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = crate::config::parse_duration)]
    pub timeout: std::time::Duration,
}

/// Runs the command and returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    let result = match cli.command {
        Command::Resolve(args) => resolve::run(args).await,
        Command::Eval(args) => eval::run(args).await,
        Command::Test(args) => test::run(args),
        Command::Serve(args) => serve::run(args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("attestgate: error: {e:#}");
            2
        }
    }
}
