//! `guardrail`: screen tool calls from the command line, replay labeled corpora.

/// The server allocates per request (frames, headers, verdicts); mimalloc's thread-local
/// free lists cost less than the system allocator there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use guardrail_core::open::read_bounded;
use guardrail_core::replay::action as replay_action;
use guardrail_core::{ActionOptions, Decision, Guard, Policy};

mod judge_cmd;
mod output_cmd;

/// Largest input `guardrail check` reads from one file or stdin; the policy's own limit then
/// applies to each model output.
const MAX_CHECK_INPUT: u64 = 256 << 20;

#[derive(Debug, Parser)]
#[command(
    name = "guardrail",
    version,
    about = "Screens untrusted LLM output before an agent acts on it."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Screen model outputs and print one verdict JSON line per output.
    ///
    /// Exit status: 0 when every output is allowed, 1 when any output was denied, 3 when none
    /// was denied but one waits for review (a script that runs the call on 0 does not run it),
    /// 2 on an error.
    Check {
        /// Policy file (TOML); the embedded default policy when absent.
        #[arg(long, env = "GUARDRAIL_CONFIG")]
        config: Option<PathBuf>,
        /// Treat every line as a separate model output (default: each file is one output).
        #[arg(long)]
        lines: bool,
        /// Report every finding instead of stopping at the first deny.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        judge: judge_cmd::JudgeArgs,
        /// Files to screen; `-` or nothing reads stdin.
        files: Vec<PathBuf>,
    },
    /// Serve the guard over gRPC (`guardrail.v1`), with health, reflection and metrics.
    Serve(guardrail_sidecar::serve::ServeArgs),
    /// Replay a labeled corpus and print a summary JSON object as the last stdout line.
    Replay {
        /// Which corpus format.
        #[arg(long, value_enum)]
        kind: ReplayKind,
        /// Corpus files (JSONL).
        #[arg(long, required = true, num_args = 1..)]
        corpus: Vec<PathBuf>,
        /// Policy file (TOML); the embedded default policy when absent.
        #[arg(long, env = "GUARDRAIL_CONFIG")]
        config: Option<PathBuf>,
        /// Write one JSON line per case here.
        #[arg(long)]
        per_case: Option<PathBuf>,
        /// `--kind input`: draw the ROC curve to this SVG file.
        #[arg(long)]
        roc: Option<PathBuf>,
        #[command(flatten)]
        judge: judge_cmd::JudgeArgs,
    },
    /// The second-stage judge.
    #[command(subcommand)]
    Judge(judge_cmd::JudgeCommand),
    /// Scan tool output (a file or stdin, streamed) for secrets and PII: one JSON finding per
    /// line (byte offsets, never the secret), or the redacted text with `--redact`.
    Scan(output_cmd::ScanArgs),
    /// Verify model files against pinned SHA-256 lines (`<hex>  <relative path>`), hashing in
    /// parallel. Exit status: 0 all match, 1 a mismatch or missing file, 2 an error.
    VerifyWeights {
        /// The hash list.
        #[arg(long)]
        hashes: PathBuf,
        /// The directory the listed paths are relative to.
        #[arg(long)]
        dir: PathBuf,
        /// Hashing threads (0: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ReplayKind {
    /// Proposed tool calls (`corpora/actions/`).
    Action,
    /// Tool output: secret rows (`corpora/secrets/`) and PII rows (`corpora/pii/`).
    Output,
    /// Untrusted input: injection and benign rows (`corpora/injection/`).
    Input,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check {
            config,
            lines,
            all,
            judge,
            files,
        } => check(config.as_deref(), lines, all, &judge, &files),
        Command::Replay {
            kind: ReplayKind::Action,
            corpus,
            config,
            per_case,
            judge,
            ..
        } => replay(config.as_deref(), &corpus, per_case.as_deref(), &judge),
        Command::Replay {
            kind: ReplayKind::Output,
            corpus,
            config,
            per_case,
            ..
        } => output_cmd::replay(config.as_deref(), &corpus, per_case.as_deref()),
        Command::Replay {
            kind: ReplayKind::Input,
            corpus,
            config,
            roc,
            per_case,
            ..
        } => output_cmd::replay_input(
            config.as_deref(),
            &corpus,
            roc.as_deref(),
            per_case.as_deref(),
        ),
        Command::Judge(command) => judge_cmd::run(&command),
        Command::Scan(args) => output_cmd::scan(&args),
        Command::VerifyWeights {
            hashes,
            dir,
            threads,
        } => verify_weights(&hashes, &dir, threads),
        Command::Serve(args) => guardrail_sidecar::serve::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("guardrail: {}", error_chain(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, `: `-joined, leaving out a cause whose text the message before it
/// already ends with (library errors quote their source in their own message).
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.is_empty() {
            out = text;
        } else if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

fn load_guard(config: Option<&Path>) -> Result<Guard> {
    let policy = match config {
        Some(path) => Policy::from_file(path)?,
        None => Policy::builtin(),
    };
    Ok(Guard::new(policy)?)
}

fn read_input(path: &Path) -> Result<Vec<u8>> {
    // Inputs of MAX_CHECK_INPUT bytes and more are refused.
    let limit = MAX_CHECK_INPUT - 1;
    let read = if path == Path::new("-") {
        read_bounded(std::io::stdin().lock(), limit)
    } else {
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot open `{}`", path.display()))?;
        read_bounded(file, limit)
    };
    match read {
        Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => bail!(
            "`{}` is larger than {MAX_CHECK_INPUT} bytes",
            path.display()
        ),
        other => Ok(other?),
    }
}

fn check(
    config: Option<&Path>,
    lines: bool,
    all: bool,
    judge: &judge_cmd::JudgeArgs,
    files: &[PathBuf],
) -> Result<ExitCode> {
    let guard = load_guard(config)?;
    let judge_stage = judge_cmd::build(guard.policy(), judge)?;
    let options = ActionOptions {
        dialect: None,
        all_findings: all,
    };
    let stdin = [PathBuf::from("-")];
    let files = if files.is_empty() { &stdin[..] } else { files };
    let mut out = std::io::stdout().lock();
    let mut denied = false;
    let mut in_review = false;
    for path in files {
        let input = read_input(path)?;
        let outputs: Vec<&[u8]> = if lines {
            input
                .split(|&b| b == b'\n')
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                .collect()
        } else {
            vec![&input[..]]
        };
        for output in outputs {
            let mut verdict = guard.screen_action_with(output, &options);
            let verdict =
                judge_cmd::review(judge_stage.as_ref(), &mut verdict, &judge.judge_context);
            denied |= verdict.decision() == Decision::Deny;
            in_review |= verdict.decision() == Decision::Review;
            serde_json::to_writer(&mut out, &verdict)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(if denied {
        ExitCode::from(1)
    } else if in_review {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

fn replay(
    config: Option<&Path>,
    corpus: &[PathBuf],
    per_case: Option<&Path>,
    judge: &judge_cmd::JudgeArgs,
) -> Result<ExitCode> {
    let guard = load_guard(config)?;
    // The per-case times are screening times: the rules compile before the first case, as a
    // server compiles them before it serves, not inside whichever case wakes them first.
    guard.prepare();
    if let Some(judge) = judge_cmd::build(guard.policy(), judge)? {
        return judge_cmd::replay(&guard, &judge, corpus, per_case);
    }
    let results = replay_action::replay_files(&guard, corpus)?;
    if let Some(path) = per_case {
        output_cmd::write_per_case(path, &results)?;
    }
    eprint!("{}", replay_action::table(&results));
    let summary = replay_action::summarize(&results);
    println!("{}", serde_json::to_string(&summary)?);
    Ok(ExitCode::SUCCESS)
}

fn verify_weights(hashes: &Path, dir: &Path, threads: usize) -> Result<ExitCode> {
    let report = guardrail_core::classify::weights::verify_weights(hashes, dir, threads)?;
    for problem in &report.problems {
        eprintln!("guardrail: {problem}");
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_that_its_error_quotes_is_printed_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let quoted = anyhow::Error::new(guardrail_core::replay::ReplayError::Io {
            path: "c.jsonl".into(),
            source: io(),
        });
        assert_eq!(
            error_chain(&quoted),
            "cannot read corpus `c.jsonl`: no such file"
        );
        let wrapped = anyhow::Error::new(io()).context("cannot open `p`");
        assert_eq!(error_chain(&wrapped), "cannot open `p`: no such file");
    }
}
