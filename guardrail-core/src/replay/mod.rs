//! Offline replay of labeled corpora: reads the shared corpus formats unchanged, screens every
//! case, and reports agreement and timing.

pub mod action;
pub mod input;
pub mod output;

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
