//! Offline replay of labeled corpora: reads the shared corpus formats unchanged, screens every
//! case, and reports agreement and timing.

pub mod action;
pub mod input;
pub mod output;

use std::io::BufRead as _;
use std::path::Path;

/// Longest corpus line read, in bytes; a longer line is handed over cut at this length (it then
/// fails to parse and counts as an error) and the rest of it is skipped.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Calls `f(path, line_number, line)` for every non-blank line of every file, in order, with
/// line numbers from 1. Lines are read with [`MAX_LINE_BYTES`] as their limit.
///
/// # Errors
///
/// [`ReplayError::Io`] when a file cannot be opened or read.
pub fn for_each_line(
    paths: &[impl AsRef<Path>],
    mut f: impl FnMut(&Path, usize, &[u8]),
) -> Result<(), ReplayError> {
    for path in paths {
        let path = path.as_ref();
        let io_err = |source| ReplayError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io_err)?;
        let mut reader = std::io::BufReader::new(file);
        let limit = u64::try_from(MAX_LINE_BYTES).unwrap_or(u64::MAX);
        let mut line = Vec::new();
        let mut number = 0usize;
        loop {
            line.clear();
            let n = std::io::Read::take(&mut reader, limit)
                .read_until(b'\n', &mut line)
                .map_err(io_err)?;
            if n == 0 {
                break;
            }
            number += 1;
            if !line.ends_with(b"\n") && n >= MAX_LINE_BYTES {
                // Skip the rest of an oversized line: it is one (broken) case, not several.
                // Buffer by buffer, so a line without end costs no memory.
                loop {
                    let buf = reader.fill_buf().map_err(io_err)?;
                    if buf.is_empty() {
                        break;
                    }
                    match memchr::memchr(b'\n', buf) {
                        Some(i) => {
                            reader.consume(i + 1);
                            break;
                        }
                        None => {
                            let n = buf.len();
                            reader.consume(n);
                        }
                    }
                }
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            f(path, number, &line);
        }
    }
    Ok(())
}

/// Latency summary over per-case timings, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Latency {
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile (nearest rank).
    pub p99_us: f64,
}

impl Latency {
    /// Summarizes nanosecond samples; all zero when there are none.
    pub fn from_nanos(samples: &mut [u64]) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        samples.sort_unstable();
        let total: u128 = samples.iter().map(|&n| u128::from(n)).sum();
        let n = samples.len();
        let to_us = |ns: f64| ns / 1000.0;
        #[expect(
            clippy::cast_precision_loss,
            reason = "timings and counts are far below 2^52"
        )]
        let mean = total as f64 / n as f64;
        Latency {
            mean_us: to_us(mean),
            p50_us: to_us(percentile(samples, 50)),
            p99_us: to_us(percentile(samples, 99)),
        }
    }
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[u64], pct: usize) -> f64 {
    let n = sorted.len();
    let rank = (pct * n).div_ceil(100).clamp(1, n.max(1));
    #[expect(
        clippy::cast_precision_loss,
        reason = "nanosecond timings are far below 2^52"
    )]
    sorted.get(rank - 1).map_or(0.0, |&v| v as f64)
}

/// Error reading a corpus file.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file could not be read.
    #[error("cannot read corpus `{path}`: {source}")]
    Io {
        /// File path.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_blank_ones_skipped_and_long_ones_cut_once() {
        let dir = std::env::temp_dir().join(format!("guardrail-replay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let small = dir.join("small.jsonl");
        std::fs::write(&small, "a\n\n  \nb").unwrap();
        let big = dir.join("big.jsonl");
        let mut long = vec![b'x'; MAX_LINE_BYTES + 10];
        long.extend_from_slice(b"\nc\n");
        std::fs::write(&big, &long).unwrap();
        let mut seen = Vec::new();
        for_each_line(&[&small, &big], |path, n, line| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            seen.push((name, n, line.len(), line.first().copied()));
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                ("small.jsonl".to_owned(), 1, 2, Some(b'a')),
                ("small.jsonl".to_owned(), 4, 1, Some(b'b')),
                ("big.jsonl".to_owned(), 1, MAX_LINE_BYTES, Some(b'x')),
                ("big.jsonl".to_owned(), 2, 2, Some(b'c')),
            ]
        );
        let missing = for_each_line(&[dir.join("missing.jsonl")], |_, _, _| {}).unwrap_err();
        assert!(missing.to_string().contains("missing.jsonl"), "{missing}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut s: Vec<u64> = (1..=100).map(|v| v * 1000).collect();
        let l = Latency::from_nanos(&mut s);
        assert_eq!(l.p50_us, 50.0);
        assert_eq!(l.p99_us, 99.0);
        assert!((l.mean_us - 50.5).abs() < 1e-9);
        assert_eq!(Latency::from_nanos(&mut []), Latency::default());
        let mut one = vec![7000];
        assert_eq!(Latency::from_nanos(&mut one).p99_us, 7.0);
    }
}
