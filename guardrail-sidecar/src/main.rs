//! `guardrail`: screen tool calls from the command line, replay labeled corpora.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use guardrail_core::replay::action as replay_action;
use guardrail_core::{ActionOptions, Decision, Guard, Policy};

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
    /// Exit status: 0 when nothing was denied, 1 when any output was denied, 2 on an error.
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
        /// Files to screen; `-` or nothing reads stdin.
        files: Vec<PathBuf>,
    },
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
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ReplayKind {
    /// Proposed tool calls (`corpora/actions/`).
    Action,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check {
            config,
            lines,
            all,
            files,
        } => check(config.as_deref(), lines, all, &files),
        Command::Replay {
            kind: ReplayKind::Action,
            corpus,
            config,
            per_case,
        } => replay(config.as_deref(), &corpus, per_case.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("guardrail: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn load_guard(config: Option<&Path>) -> Result<Guard> {
    let policy = match config {
        Some(path) => Policy::from_file(path)?,
        None => Policy::builtin(),
    };
    Ok(Guard::new(policy)?)
}

fn read_input(path: &Path) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(MAX_CHECK_INPUT)
            .read_to_end(&mut buf)?;
    } else {
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot open `{}`", path.display()))?;
        file.take(MAX_CHECK_INPUT).read_to_end(&mut buf)?;
    }
    if buf.len() as u64 >= MAX_CHECK_INPUT {
        bail!(
            "`{}` is larger than {MAX_CHECK_INPUT} bytes",
            path.display()
        );
    }
    Ok(buf)
}

fn check(config: Option<&Path>, lines: bool, all: bool, files: &[PathBuf]) -> Result<ExitCode> {
    let guard = load_guard(config)?;
    let options = ActionOptions {
        dialect: None,
        all_findings: all,
    };
    let stdin = [PathBuf::from("-")];
    let files = if files.is_empty() { &stdin[..] } else { files };
    let mut out = std::io::stdout().lock();
    let mut denied = false;
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
            let verdict = guard.screen_action_with(output, &options);
            denied |= verdict.decision == Decision::Deny;
            serde_json::to_writer(&mut out, &verdict)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(if denied {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn replay(config: Option<&Path>, corpus: &[PathBuf], per_case: Option<&Path>) -> Result<ExitCode> {
    let guard = load_guard(config)?;
    let results = replay_action::replay_files(&guard, corpus)?;
    if let Some(path) = per_case {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create `{}`", path.display()))?;
        let mut w = std::io::BufWriter::new(file);
        for r in &results {
            serde_json::to_writer(&mut w, r)?;
            w.write_all(b"\n")?;
        }
        w.flush()?;
    }
    eprint!("{}", replay_action::table(&results));
    let summary = replay_action::summarize(&results);
    println!("{}", serde_json::to_string(&summary)?);
    Ok(ExitCode::SUCCESS)
}
