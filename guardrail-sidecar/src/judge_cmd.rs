//! The second-stage judge on the command line: `guardrail judge calibrate`, and the judge in
//! `check` and `replay --kind action` when an endpoint is configured.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::{Args, Subcommand};
use guardrail_core::judge::calibrate::{self, LabeledAction};
use guardrail_core::judge::{CallJudgement, Judge, JudgeConfig};
use guardrail_core::replay::action::{self as replay_action, CaseResult};
use guardrail_core::{ActionVerdict, Decision, Guard, Policy, PolicyIssue};
use serde::Serialize;

/// Judge endpoint flags for `check` and `replay`; they override the policy's `[judge]`.
#[derive(Debug, Clone, Default, Args)]
pub struct JudgeArgs {
    /// Send `review` calls to this OpenAI-compatible endpoint (overrides `judge.endpoint`).
    #[arg(long, value_name = "URL", requires = "judge_model")]
    pub judge_url: Option<String>,
    /// The judge's model name (overrides `judge.model`).
    #[arg(long, value_name = "NAME")]
    pub judge_model: Option<String>,
    /// Task context shown to the judge with each action (`check`; `replay` reads each row's
    /// `context`).
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub judge_context: String,
}

/// `guardrail judge …`
#[derive(Debug, Subcommand)]
pub enum JudgeCommand {
    /// Run the judge over labeled actions, fit `deny_at`/`allow_below` for a target false-deny
    /// rate, print the ROC/AUC summary as JSON, and optionally write the thresholds into a
    /// policy file.
    Calibrate(CalibrateArgs),
}

/// `guardrail judge calibrate` arguments.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Labeled JSONL files (action corpus rows plus an optional `context`).
    #[arg(long, required = true, num_args = 1..)]
    corpus: Vec<PathBuf>,
    /// Largest share of allow rows the judge may deny.
    #[arg(long, default_value_t = 0.01)]
    target_fpr: f64,
    /// Largest share of deny rows the judge may allow.
    #[arg(long, default_value_t = 0.0)]
    target_false_allow: f64,
    /// Policy whose `[judge]` settings to use and to start the written policy from.
    #[arg(long, env = "GUARDRAIL_CONFIG")]
    config: Option<PathBuf>,
    /// The judge's endpoint (overrides `judge.endpoint`).
    #[arg(long, value_name = "URL")]
    judge_url: Option<String>,
    /// The judge's model name (overrides `judge.model`).
    #[arg(long, value_name = "NAME")]
    judge_model: Option<String>,
    /// Write the policy with the fitted thresholds here.
    #[arg(long, value_name = "OUT")]
    write_policy: Option<PathBuf>,
    /// Write the ROC as SVG here, and as CSV next to it (same name, `.csv`).
    #[arg(long, value_name = "OUT.svg")]
    roc: Option<PathBuf>,
    /// Write one JSON line per row (score, seed, decision) here.
    #[arg(long)]
    per_case: Option<PathBuf>,
}

fn issues_error(issues: &[PolicyIssue]) -> anyhow::Error {
    let list: Vec<String> = issues.iter().map(ToString::to_string).collect();
    anyhow!("invalid judge settings: {}", list.join("; "))
}

/// The policy's `[judge]` with the flags applied; `None` when no endpoint is configured.
fn judge_config(policy: &Policy, url: Option<&str>, model: Option<&str>) -> Option<JudgeConfig> {
    let mut config = policy.judge.clone();
    if let Some(url) = url {
        config.endpoint = Some(url.to_owned());
    }
    if let Some(model) = model {
        config.model = model.to_owned();
    }
    config.enabled().then_some(config)
}

/// The judge `check` and `replay` use, if one is configured.
pub fn build(policy: &Policy, args: &JudgeArgs) -> Result<Option<Judge>> {
    let Some(config) = judge_config(
        policy,
        args.judge_url.as_deref(),
        args.judge_model.as_deref(),
    ) else {
        return Ok(None);
    };
    Judge::new(&config).map(Some).map_err(|i| issues_error(&i))
}

/// A verdict with what the judge said about its calls.
#[derive(Debug, Serialize)]
pub struct Judged<'a, T: Serialize> {
    #[serde(flatten)]
    inner: &'a T,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    judge: Vec<CallJudgement>,
}

impl Judged<'_, ActionVerdict> {
    /// The final decision, after the judge.
    pub fn decision(&self) -> Decision {
        self.inner.decision
    }
}

/// Sends the verdict's `review` calls to the judge, when there is one.
pub fn review<'a>(
    judge: Option<&Judge>,
    verdict: &'a mut ActionVerdict,
    context: &str,
) -> Judged<'a, ActionVerdict> {
    let judge = match judge {
        Some(j) if verdict.decision == Decision::Review => j.review(verdict, context),
        _ => Vec::new(),
    };
    Judged {
        inner: verdict,
        judge,
    }
}

/// The judge's part of a replayed case.
#[derive(Debug, Serialize)]
struct CaseJudgement {
    call: usize,
    decision: Decision,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f64>,
    seed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// One per-case line of a judged replay.
#[derive(Debug, Serialize)]
struct CaseLine<'a> {
    #[serde(flatten)]
    result: &'a CaseResult,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    judge: &'a [CaseJudgement],
}

/// `replay --kind action` with the judge deciding `review` calls; per-case lines carry the
/// judge's score and seed.
pub fn replay(
    guard: &Guard,
    judge: &Judge,
    corpus: &[PathBuf],
    per_case: Option<&Path>,
) -> Result<ExitCode> {
    let (results, judgements): (Vec<CaseResult>, Vec<Vec<CaseJudgement>>) =
        replay_action::replay_files_with(guard, corpus, |verdict, case| {
            if verdict.decision != Decision::Review {
                return Vec::new();
            }
            judge
                .review(verdict, &case.context)
                .into_iter()
                .map(|j| CaseJudgement {
                    call: j.call,
                    decision: j.verdict.decision,
                    score: j.verdict.score,
                    seed: j.verdict.seed,
                    reason: j.verdict.reason.map(|r| r.message),
                })
                .collect()
        })?
        .into_iter()
        .unzip();
    let judged = judgements.iter().filter(|j| !j.is_empty()).count();
    if let Some(path) = per_case {
        crate::output_cmd::write_per_case(
            path,
            results
                .iter()
                .zip(&judgements)
                .map(|(result, judge)| CaseLine { result, judge }),
        )?;
    }
    eprint!("{}", replay_action::table(&results));
    #[derive(Serialize)]
    struct Summary {
        #[serde(flatten)]
        summary: replay_action::ActionSummary,
        judged: usize,
    }
    let summary = Summary {
        summary: replay_action::summarize(&results),
        judged,
    };
    println!("{}", serde_json::to_string(&summary)?);
    Ok(ExitCode::SUCCESS)
}

/// Runs a `guardrail judge` subcommand.
pub fn run(command: &JudgeCommand) -> Result<ExitCode> {
    match command {
        JudgeCommand::Calibrate(args) => calibrate_cmd(args),
    }
}

fn calibrate_cmd(args: &CalibrateArgs) -> Result<ExitCode> {
    let (policy, policy_text) = match &args.config {
        Some(path) => Policy::from_file_with_text(path)?,
        None => (Policy::builtin(), String::new()),
    };
    let config = judge_config(
        &policy,
        args.judge_url.as_deref(),
        args.judge_model.as_deref(),
    )
    .context(
        "no judge endpoint: pass --judge-url and --judge-model, or set [judge] in the policy",
    )?;
    let judge = Judge::new(&config).map_err(|i| issues_error(&i))?;
    let mut rows: Vec<LabeledAction> = Vec::new();
    for path in &args.corpus {
        rows.extend(calibrate::read_labeled(path)?);
    }
    let scored = calibrate::score_cases(&judge, &rows);
    if let Some(path) = &args.per_case {
        crate::output_cmd::write_per_case(path, &scored)?;
    }
    for s in scored.iter().filter(|s| s.error.is_some()) {
        eprintln!(
            "  {}: no score: {}",
            s.id,
            s.error.as_deref().unwrap_or_default()
        );
    }
    let result = calibrate::calibrate(&scored, args.target_fpr, args.target_false_allow)?;
    eprint!("{}", result.roc_csv());
    if let Some(svg) = &args.roc {
        std::fs::write(svg, result.roc_svg())
            .with_context(|| format!("cannot write `{}`", svg.display()))?;
        let csv = svg.with_extension("csv");
        std::fs::write(&csv, result.roc_csv())
            .with_context(|| format!("cannot write `{}`", csv.display()))?;
    }
    if let Some(out) = &args.write_policy {
        let base = args.config.as_deref().and_then(Path::parent);
        let text = calibrate::write_thresholds(
            &policy_text,
            base,
            &result,
            &config.model,
            config.endpoint.as_deref(),
        )?;
        std::fs::write(out, text).with_context(|| format!("cannot write `{}`", out.display()))?;
    }
    println!("{}", serde_json::to_string(&result)?);
    Ok(ExitCode::SUCCESS)
}
