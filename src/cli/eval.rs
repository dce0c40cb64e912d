//! `attestgate eval`: the webhook's judgement, on the command line.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use super::SourceArgs;
use super::source::{self, ImageSource};
use crate::admission::review;
use crate::attestation::{Resolver, ResolverOptions};
use crate::judge::Judge;
use crate::policy::decision::{Verdict, decide};
use crate::policy::input::to_value;
use crate::policy::{InputBuilder, Mode, OnError, PolicyOptions, PolicySet, RequestInfo};
use crate::registry::{Backend, CacheConfig, Limits, Store};

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum Output {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Policy files or directories (repeatable).
    #[arg(long = "policy", required = true, value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// The image to judge (optional with --layout when index.json has one entry).
    #[arg(conflicts_with_all = ["input", "review"])]
    pub image: Option<String>,
    /// Evaluate a saved input document instead of resolving an image.
    #[arg(long, value_name = "FILE", conflicts_with = "review")]
    pub input: Option<PathBuf>,
    /// Judge every container of an AdmissionReview, as the webhook would
    /// (candidate platforms: --platform narrowed by the pod's nodeSelector and
    /// affinity; every offered platform without --platform).
    #[arg(long, value_name = "FILE", conflicts_with = "layout")]
    pub review: Option<PathBuf>,
    #[command(flatten)]
    pub source: SourceArgs,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// What a resolution or policy error does.
    #[arg(long, value_enum, default_value_t = OnError::Deny)]
    pub on_error: OnError,
}

pub async fn run(args: EvalArgs) -> anyhow::Result<i32> {
    let policies = Arc::new(
        PolicySet::load(&args.policies, &PolicyOptions::default())
            .context("cannot load the policies")?,
    );
    let verdicts = if let Some(path) = &args.input {
        eval_input(&policies, path)?
    } else {
        let work = async {
            match &args.review {
                Some(path) => eval_review(&policies, &args, path).await,
                None => eval_image(&policies, &args).await,
            }
        };
        tokio::time::timeout(args.source.timeout, work)
            .await
            .map_err(|_| {
                anyhow::anyhow!("not done within {:?} (--timeout)", args.source.timeout)
            })??
    };
    // Errors are exit code 2, not a denial, on the command line.
    if let Some(err) = verdicts.iter().find_map(|v| v.error.as_ref())
        && matches!(args.on_error, OnError::Deny)
        && verdicts.iter().all(|v| v.deny.is_empty())
    {
        print(&verdicts, args.output, args.on_error);
        anyhow::bail!("{err}");
    }
    let decision = decide(verdicts, Mode::Enforce, args.on_error);
    print(&decision.verdicts, args.output, args.on_error);
    Ok(if decision.allowed { 0 } else { 1 })
}

fn eval_input(policies: &PolicySet, path: &PathBuf) -> anyhow::Result<Vec<Verdict>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    anyhow::ensure!(
        doc.is_object(),
        "{}: an input document is a JSON object",
        path.display()
    );
    let image = doc
        .pointer("/image/ref")
        .and_then(|v| v.as_str())
        .unwrap_or("(input)")
        .to_owned();
    let platform = doc
        .pointer("/image/platform")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let container = doc
        .get("container")
        .and_then(|c| serde_json::from_value(c.clone()).ok());
    let mut v = Verdict::failed(container, image, platform, String::new());
    v.error = None;
    match policies.evaluate(to_value(&doc)) {
        Ok(o) => {
            v.deny = o.deny;
            v.warn = o.warn;
        }
        Err(e) => v.error = Some(e.to_string()),
    }
    Ok(vec![v])
}

fn judge(store: Store) -> Judge {
    let resolver = Resolver::new(Arc::new(store), ResolverOptions::default());
    Judge::new(resolver, InputBuilder::new(64 << 20), 4)
}

async fn eval_image(policies: &Arc<PolicySet>, args: &EvalArgs) -> anyhow::Result<Vec<Verdict>> {
    let ImageSource {
        store,
        image,
        keyring,
    } = source::open(&args.source, args.image.as_deref())?;
    let judge = judge(store);
    Ok(judge
        .judge_image(
            policies,
            &RequestInfo::default(),
            None,
            &image.to_string(),
            &args.source.platforms,
            &keyring,
        )
        .await)
}

async fn eval_review(
    policies: &Arc<PolicySet>,
    args: &EvalArgs,
    path: &PathBuf,
) -> anyhow::Result<Vec<Verdict>> {
    let body = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let request = review::parse(&body).with_context(|| path.display().to_string())?;
    let object = request
        .object
        .as_ref()
        .context("the request has no object")?;
    let spec = review::pod_spec(&request.kind, object)?
        .with_context(|| format!("{} objects carry no pod spec", request.kind.kind))?;
    let containers = review::containers(&spec);
    // As the webhook does without node information: the pod's own OS/arch
    // constraints narrow --platform.
    let platforms = crate::platform::candidate_platforms(&spec, &[], &args.source.platforms);
    if platforms.is_empty() && !args.source.platforms.is_empty() {
        anyhow::bail!(
            "the pod's nodeSelector and node affinity allow none of the given platforms ({})",
            crate::platform::list(&args.source.platforms)
        );
    }
    let limits = Limits::default();
    let keyring = source::read_keyring(args.source.docker_config.as_deref())?;
    let client = source::registry_client(&args.source, &limits)?;
    let store = Store::new(
        Backend::Remote(Arc::new(client)),
        limits,
        &CacheConfig::default(),
    );
    let judge = judge(store);
    let info = RequestInfo::new(&request.info(), Some(object));
    let mut verdicts = Vec::new();
    for c in &containers {
        verdicts.extend(
            judge
                .judge_image(policies, &info, Some(c), &c.image, &platforms, &keyring)
                .await,
        );
    }
    Ok(verdicts)
}

fn print(verdicts: &[Verdict], output: Output, on_error: OnError) {
    match output {
        Output::Json => {
            let decision = decide(verdicts.to_vec(), Mode::Enforce, on_error);
            println!(
                "{}",
                serde_json::to_string_pretty(&decision).unwrap_or_default()
            );
        }
        Output::Text => {
            for v in verdicts {
                let word = if v.denies(on_error) {
                    "DENY "
                } else if v.error.is_some() {
                    "ERROR"
                } else if !v.warn.is_empty() {
                    "WARN "
                } else {
                    "ALLOW"
                };
                println!("{word} {}", v.subject());
                for f in &v.deny {
                    println!("      deny: {}", f.message);
                }
                for f in &v.warn {
                    println!("      warn: {}", f.message);
                }
                if let Some(e) = &v.error {
                    println!("      error: {e}");
                }
                if v.deny.is_empty() && v.platform.is_some() {
                    let found = if v.found.is_empty() {
                        "none".to_owned()
                    } else {
                        v.found.join(", ")
                    };
                    println!("      attestations: {found}");
                }
            }
        }
    }
}
