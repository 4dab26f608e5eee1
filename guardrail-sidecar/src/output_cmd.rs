//! `guardrail scan` and `guardrail replay --kind output`: tool output through the secret and PII
//! scanners.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use guardrail_core::Policy;
use guardrail_core::replay::output as replay_output;
use guardrail_core::scan::pii::PiiScanner;
use guardrail_core::scan::{Redaction, RedactionKey, SecretScanner, StreamScanner, placeholder};
use serde::Serialize;

/// Bytes read per step; memory stays constant whatever the input size.
const CHUNK: usize = 1 << 20;

/// Longest line the PII pass looks at in one piece; longer lines are cut into pieces.
const MAX_PII_LINE: usize = 1 << 20;

/// Arguments of `guardrail scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Print the redacted text instead of findings.
    #[arg(long)]
    redact: bool,
    /// Redact with a keyed placeholder (`[REDACTED:<rule>:<hmac>]`, same secret, same token);
    /// the key is read from this environment variable.
    #[arg(long, value_name = "ENV_VAR")]
    key_env: Option<String>,
    /// Also report PII findings (line by line), or with `--redact` replace them too
    /// (`[REDACTED:<TYPE>]`, keyed like secrets), after the secrets.
    #[arg(long)]
    pii: bool,
    /// Policy file (TOML): its `[secrets.rules]` and `[pii]` sections apply.
    #[arg(long, env = "GUARDRAIL_CONFIG")]
    config: Option<PathBuf>,
    /// The file to scan; `-` or nothing reads stdin.
    file: Option<PathBuf>,
}

#[derive(Serialize)]
struct Line<'a> {
    rule: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    start: usize,
    end: usize,
    score: f32,
}

fn policy(config: Option<&Path>) -> Result<Policy> {
    Ok(match config {
        Some(path) => Policy::from_file(path)?,
        None => Policy::builtin(),
    })
}

/// Runs `guardrail scan`. Exit status 1 when anything was found (0 with `--redact`).
pub fn scan(args: &ScanArgs) -> Result<ExitCode> {
    let policy = policy(args.config.as_deref())?;
    let secrets =
        SecretScanner::new(&policy.secrets.rules).map_err(guardrail_core::PolicyError::new)?;
    let pii = if args.pii {
        Some(PiiScanner::new(&policy.pii).map_err(guardrail_core::PolicyError::new)?)
    } else {
        None
    };
    let redaction = match &args.key_env {
        Some(var) => {
            let key = std::env::var(var)
                .with_context(|| format!("environment variable `{var}` is not set"))?;
            Redaction::Keyed {
                key: RedactionKey::new(key.into_bytes()),
            }
        }
        None => Redaction::Label,
    };
    let mut input: Box<dyn Read> = match args.file.as_deref() {
        None => Box::new(std::io::stdin().lock()),
        Some(p) if p == Path::new("-") => Box::new(std::io::stdin().lock()),
        Some(p) => Box::new(
            std::fs::File::open(p).with_context(|| format!("cannot open `{}`", p.display()))?,
        ),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut stream = StreamScanner::new(&secrets, redaction.clone());
    // One scan per read: the tail carried between scans is rescanned once per batch.
    stream.set_batch(CHUNK);
    if !args.redact {
        stream.findings_only();
    }
    let mut pii_lines = PiiLines::default();
    let mut found = false;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = input.read(&mut buf)?;
        let chunk = buf.get(..n).unwrap_or_default();
        let output = if n == 0 {
            stream.finish()
        } else {
            stream.push(chunk)
        };
        found |= !output.findings.is_empty();
        if args.redact {
            match &pii {
                // PII is redacted in what the secret pass emits, a line at a time.
                Some(pii) => {
                    pii_lines.redact(pii, &output.redacted, n == 0, &redaction, &mut out)?
                }
                None => out.write_all(&output.redacted)?,
            }
        } else {
            for f in &output.findings {
                let line = Line {
                    rule: &f.rule,
                    kind: "secret",
                    start: f.start,
                    end: f.end,
                    score: f.score,
                };
                serde_json::to_writer(&mut out, &line)?;
                out.write_all(b"\n")?;
            }
        }
        if let Some(pii) = pii.as_ref().filter(|_| !args.redact) {
            for f in pii_lines.feed(pii, chunk, n == 0) {
                found = true;
                let line = Line {
                    rule: f.0,
                    kind: "pii",
                    start: f.1,
                    end: f.2,
                    score: f.3,
                };
                serde_json::to_writer(&mut out, &line)?;
                out.write_all(b"\n")?;
            }
        }
        if n == 0 {
            break;
        }
    }
    out.flush()?;
    Ok(if found && !args.redact {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Splits a byte stream into lines (or pieces of at most `MAX_PII_LINE`) for the PII pass.
#[derive(Default)]
struct PiiLines {
    pending: Vec<u8>,
    offset: usize,
}

impl PiiLines {
    /// The next complete line (or a piece of at most `MAX_PII_LINE` bytes, or with `last`
    /// whatever is left), taken out of the pending bytes. A piece of a longer line ends after
    /// its last blank, when there is one in its final KiB, so that a value (an e-mail address,
    /// a card number in groups) is not cut in two.
    fn next_line(&mut self, last: bool) -> Option<Vec<u8>> {
        let cut = match self.pending.iter().position(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if self.pending.len() >= MAX_PII_LINE => {
                let piece = self.pending.get(..MAX_PII_LINE).unwrap_or_default();
                let tail = piece.len().saturating_sub(1024);
                match piece
                    .get(tail..)
                    .and_then(|t| t.iter().rposition(|&b| b == b' ' || b == b'\t'))
                {
                    Some(i) => tail + i + 1,
                    None => MAX_PII_LINE,
                }
            }
            None if last && !self.pending.is_empty() => self.pending.len(),
            None => return None,
        };
        Some(self.pending.drain(..cut).collect())
    }

    /// Writes `bytes` to `out` with the PII of every complete line replaced; holds back an
    /// incomplete line until its end arrives (or `last`). In a line that is not UTF-8, every
    /// valid stretch is scanned.
    fn redact(
        &mut self,
        pii: &PiiScanner,
        bytes: &[u8],
        last: bool,
        how: &Redaction,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        self.pending.extend_from_slice(bytes);
        while let Some(line) = self.next_line(last) {
            let mut at = 0usize;
            for f in pii.scan_bytes(&line) {
                let (Some(before), Some(value)) = (line.get(at..f.start), line.get(f.start..f.end))
                else {
                    continue;
                };
                out.write_all(before)?;
                out.write_all(&placeholder(f.entity_type, value, how))?;
                at = f.end;
            }
            out.write_all(line.get(at..).unwrap_or_default())?;
        }
        Ok(())
    }

    /// PII findings of every complete line (offsets into the whole stream); holds back an
    /// incomplete line like [`PiiLines::redact`]; like it, scans the valid stretches of a line
    /// that is not UTF-8.
    fn feed(
        &mut self,
        pii: &PiiScanner,
        chunk: &[u8],
        last: bool,
    ) -> Vec<(&'static str, usize, usize, f32)> {
        self.pending.extend_from_slice(chunk);
        let mut found = Vec::new();
        while let Some(line) = self.next_line(last) {
            for f in pii.scan_bytes(&line) {
                found.push((
                    f.entity_type,
                    self.offset + f.start,
                    self.offset + f.end,
                    f.score,
                ));
            }
            self.offset += line.len();
        }
        found
    }
}

/// Writes one JSON line per item to `path` (`--per-case`).
pub fn write_per_case<T: serde::Serialize>(
    path: &Path,
    rows: impl IntoIterator<Item = T>,
) -> Result<()> {
    let file = std::fs::File::create(path)
        .with_context(|| format!("cannot create `{}`", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    for row in rows {
        serde_json::to_writer(&mut w, &row)?;
        w.write_all(b"\n")?;
    }
    w.flush()
        .with_context(|| format!("cannot write `{}`", path.display()))
}

/// Runs `guardrail replay --kind output`.
pub fn replay(
    config: Option<&Path>,
    corpus: &[PathBuf],
    per_case: Option<&Path>,
) -> Result<ExitCode> {
    let policy = policy(config)?;
    let secrets =
        SecretScanner::new(&policy.secrets.rules).map_err(guardrail_core::PolicyError::new)?;
    let pii = PiiScanner::new(&policy.pii).map_err(guardrail_core::PolicyError::new)?;
    // Per-case times and MB/s are scanning: the rules compile before the first row.
    secrets.compile_rules();
    let replay_output::OutputReplay {
        summary,
        misses,
        cases,
    } = replay_output::replay_files(&secrets, &pii, corpus)?;
    if let Some(path) = per_case {
        write_per_case(path, &cases)?;
    }
    for m in misses.iter().take(200) {
        eprintln!("  {m}");
    }
    if misses.len() > 200 {
        eprintln!("  ... {} more", misses.len() - 200);
    }
    eprintln!(
        "rows {}  secret recall {}  clean fp {}  pii P/R/F1 {}/{}/{}  {} MB/s",
        summary.cases,
        fmt(summary.secret_recall),
        fmt(summary.clean_fp_rate),
        fmt(summary.pii_precision),
        fmt(summary.pii_recall),
        fmt(summary.pii_f1),
        fmt(summary.mb_per_s)
    );
    println!("{}", serde_json::to_string(&summary)?);
    Ok(ExitCode::SUCCESS)
}

fn fmt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"))
}

/// Runs `guardrail replay --kind input`.
pub fn replay_input(
    config: Option<&Path>,
    corpus: &[PathBuf],
    roc: Option<&Path>,
    per_case: Option<&Path>,
) -> Result<ExitCode> {
    use guardrail_core::replay::input as replay_input;
    let policy = policy(config)?;
    let screener = guardrail_core::classify::InputScreener::new(policy.input.clone())
        .map_err(guardrail_core::PolicyError::new)?;
    let (mut scored, errors) = replay_input::replay_files(&screener, corpus)?;
    if let Some(path) = per_case {
        write_per_case(
            path,
            scored.iter().map(|s| {
                serde_json::json!({
                    "location": format!(
                        "{}:{}",
                        corpus.get(s.file).map(|p| p.display().to_string()).unwrap_or_default(),
                        s.line
                    ),
                    "label": if s.positive { "injection" } else { "benign" },
                    "score": s.score,
                    "flagged": s.flagged,
                    "us": s.ns as f64 / 1e3,
                })
            }),
        )?;
    }
    let summary = replay_input::summarize(&mut scored, errors);
    if let Some(path) = roc {
        let svg =
            replay_input::roc_svg(&replay_input::roc(&scored), "guardrail replay --kind input");
        std::fs::write(path, svg).with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    eprintln!(
        "rows {} (+{} / -{})  auc {}  tpr@1%fpr {}  flagged: tpr {} fpr {}",
        summary.cases,
        summary.positives,
        summary.negatives,
        fmt(summary.auc),
        fmt(summary.tpr_at_1pct_fpr),
        fmt(summary.tpr),
        fmt(summary.fpr)
    );
    println!("{}", serde_json::to_string(&summary)?);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_is_cut_after_a_blank_so_a_value_stays_whole() {
        let mut lines = PiiLines::default();
        let mut text = vec![b'x'; MAX_PII_LINE - 10];
        text.extend_from_slice(b" jdoe@example.com and more");
        lines.pending.extend_from_slice(&text);
        let first = lines.next_line(false).unwrap();
        assert_eq!(first.len(), MAX_PII_LINE - 9, "cut after the blank");
        let rest = lines.next_line(true).unwrap();
        assert!(rest.starts_with(b"jdoe@example.com"));
        // Without a blank in reach, the piece is the longest allowed.
        let mut lines = PiiLines::default();
        lines
            .pending
            .extend(std::iter::repeat_n(b'y', MAX_PII_LINE + 5));
        assert_eq!(lines.next_line(false).unwrap().len(), MAX_PII_LINE);
        assert_eq!(lines.next_line(true).unwrap().len(), 5);
    }
}
