//! Replay of the tool-output corpora: secret rows (`corpora/secrets/*.jsonl`) and PII rows
//! (`corpora/pii/*.jsonl`), read unchanged, in any mix.
//!
//! - A secret row (`label` = `secret` | `clean`, `spans` in UTF-8 bytes) is scanned as tool
//!   output. Recall: a `secret` row counts when a finding overlaps one of its spans. Clean false
//!   positives: a `clean` row with empty `also_matches` that gets any finding.
//! - A PII row (`entities`, `checked_types`, code point offsets) is scored span by span (exact
//!   match) over its checked types that the scanner supports.
//!
//! Every row's time covers the output path as it runs for real: the secret scan and the PII
//! scan of the text.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{Latency, ReplayError};
use crate::scan::SecretScanner;
use crate::scan::pii::{Counts, EvalOptions, GoldSpan, PiiScanner, score_case_with};

/// Largest corpus line accepted, in bytes.
pub use super::MAX_LINE_BYTES;

#[derive(Debug, Deserialize)]
struct Row {
    text: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    spans: Vec<ByteSpan>,
    #[serde(default)]
    also_matches: Vec<String>,
    #[serde(default)]
    entities: Option<Vec<GoldSpan>>,
    #[serde(default)]
    checked_types: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct ByteSpan {
    start: usize,
    end: usize,
}

/// The last stdout line of `guardrail replay --kind output`. Fields that do not apply to the
/// given corpora are `null`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct OutputSummary {
    /// Always `output`.
    pub kind: &'static str,
    /// Rows read (including rows that could not be used).
    pub cases: usize,
    /// Secret rows with a finding overlapping a labelled span, over all secret rows.
    pub secret_recall: Option<f64>,
    /// Clean rows (empty `also_matches`) with any finding, over those rows.
    pub clean_fp_rate: Option<f64>,
    /// Span precision over PII rows.
    pub pii_precision: Option<f64>,
    /// Span recall over PII rows.
    pub pii_recall: Option<f64>,
    /// Span F1 over PII rows.
    pub pii_f1: Option<f64>,
    /// Text bytes over scanning time.
    pub mb_per_s: Option<f64>,
    /// Median time per row, microseconds.
    pub p50_us: Option<f64>,
    /// 99th percentile.
    pub p99_us: Option<f64>,
    /// Rows that could not be replayed.
    pub errors: usize,
}

/// One row's outcome (`guardrail replay --per-case`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputCase {
    /// `file:line`.
    pub location: String,
    /// `secret`, `clean`, `clean_also_matches` (not scored), `pii` or `error`.
    pub kind: &'static str,
    /// A secret row's span found, a clean row without findings, a PII row with no false
    /// positive or negative.
    pub ok: bool,
    /// Rules of the secret findings.
    pub rules: Vec<String>,
    /// PII span counts (PII rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pii: Option<Counts>,
    /// Scanning time, microseconds.
    pub us: f64,
}

/// What [`replay_files`] returns.
#[derive(Debug, Clone, Default)]
pub struct OutputReplay {
    /// The summary line.
    pub summary: OutputSummary,
    /// One line per row that went wrong, readable.
    pub misses: Vec<String>,
    /// Every row's outcome, in corpus order.
    pub cases: Vec<OutputCase>,
}

/// Counters gathered over the rows.
#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    errors: usize,
    secret_rows: usize,
    secret_hits: usize,
    clean_rows: usize,
    clean_fps: usize,
    pii_rows: usize,
    pii: Counts,
    bytes: usize,
    nanos: Vec<u64>,
    misses: Vec<String>,
    outcomes: Vec<OutputCase>,
}

/// Scans every row of the given files.
pub fn replay_files(
    secrets: &SecretScanner,
    pii: &PiiScanner,
    paths: &[impl AsRef<Path>],
) -> Result<OutputReplay, ReplayError> {
    let mut tally = Tally::default();
    super::for_each_line(paths, |path, number, line| {
        tally.cases += 1;
        match serde_json::from_slice::<Row>(line) {
            Ok(row) => tally.add(secrets, pii, &row, &format!("{}:{number}", path.display())),
            Err(e) => {
                let location = format!("{}:{number}", path.display());
                tally.errors += 1;
                tally
                    .misses
                    .push(format!("{location}: not a corpus row: {e}"));
                tally.outcomes.push(OutputCase {
                    location,
                    kind: "error",
                    ok: false,
                    rules: Vec::new(),
                    pii: None,
                    us: 0.0,
                });
            }
        }
    })?;
    let misses = std::mem::take(&mut tally.misses);
    let cases = std::mem::take(&mut tally.outcomes);
    Ok(OutputReplay {
        summary: tally.summary(),
        misses,
        cases,
    })
}

impl Tally {
    fn add(&mut self, secrets: &SecretScanner, pii: &PiiScanner, row: &Row, location: &str) {
        let start = Instant::now();
        let found = secrets.scan(row.text.as_bytes());
        let pii_counts = row.entities.as_ref().map(|gold| {
            let options = EvalOptions::default();
            score_case_with(pii, &row.text, gold, &row.checked_types, options)
        });
        if pii_counts.is_none() {
            // The output path runs the PII scan on every text; time it for secret rows too.
            std::hint::black_box(pii.scan(&row.text));
        }
        let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.nanos.push(ns);
        self.bytes += row.text.len();
        let (kind, ok) = self.count(row, &found, pii_counts, location);
        #[expect(clippy::cast_precision_loss, reason = "nanoseconds per row fit in f64")]
        let us = ns as f64 / 1e3;
        self.outcomes.push(OutputCase {
            location: location.to_owned(),
            kind,
            ok,
            rules: found.iter().map(|f| f.rule.to_string()).collect(),
            pii: pii_counts,
            us,
        });
    }

    /// Counts one scanned row; its kind and whether the scan got it right.
    fn count(
        &mut self,
        row: &Row,
        found: &[crate::scan::Finding],
        pii_counts: Option<Counts>,
        location: &str,
    ) -> (&'static str, bool) {
        if let Some(counts) = pii_counts {
            self.pii_rows += 1;
            self.pii.tp += counts.tp;
            self.pii.fp += counts.fp;
            self.pii.fn_ += counts.fn_;
            let ok = counts.fp == 0 && counts.fn_ == 0;
            if !ok {
                self.misses.push(format!(
                    "{location}: PII spans tp {} fp {} fn {}",
                    counts.tp, counts.fp, counts.fn_
                ));
            }
            return ("pii", ok);
        }
        match row.label.as_deref() {
            Some("secret") => {
                self.secret_rows += 1;
                let hit = row
                    .spans
                    .iter()
                    .any(|s| found.iter().any(|f| f.start < s.end && s.start < f.end));
                if hit {
                    self.secret_hits += 1;
                } else {
                    self.misses.push(format!("{location}: secret not found"));
                }
                ("secret", hit)
            }
            Some("clean") if row.also_matches.is_empty() => {
                self.clean_rows += 1;
                if let Some(f) = found.first() {
                    self.clean_fps += 1;
                    self.misses
                        .push(format!("{location}: clean row matched rule `{}`", f.rule));
                }
                ("clean", found.is_empty())
            }
            Some("clean") => ("clean_also_matches", true),
            _ => {
                self.errors += 1;
                self.misses
                    .push(format!("{location}: neither a secret nor a PII row"));
                ("error", false)
            }
        }
    }

    fn summary(mut self) -> OutputSummary {
        let ratio = |num: usize, den: usize| {
            #[expect(clippy::cast_precision_loss, reason = "row counts are far below 2^52")]
            let r = (den > 0).then(|| num as f64 / den as f64);
            r
        };
        let latency = Latency::from_nanos(&mut self.nanos);
        let total_ns: u128 = self.nanos.iter().map(|&n| u128::from(n)).sum();
        #[expect(
            clippy::cast_precision_loss,
            reason = "byte and nanosecond totals fit in f64"
        )]
        let mb_per_s = (total_ns > 0).then(|| (self.bytes as f64 / 1e6) / (total_ns as f64 / 1e9));
        let timed = !self.nanos.is_empty();
        let pii = (self.pii_rows > 0).then_some(self.pii);
        OutputSummary {
            kind: "output",
            cases: self.cases,
            secret_recall: ratio(self.secret_hits, self.secret_rows),
            clean_fp_rate: ratio(self.clean_fps, self.clean_rows),
            pii_precision: pii.map(|c| c.precision()),
            pii_recall: pii.map(|c| c.recall()),
            pii_f1: pii.map(|c| c.f1()),
            mb_per_s,
            p50_us: timed.then_some(latency.p50_us),
            p99_us: timed.then_some(latency.p99_us),
            errors: self.errors,
        }
    }
}
