//! The cheap first tier: logistic regression over hashed word and character n-grams.
//!
//! It scores every window and lets through to the transformer only the windows at or above its
//! gate; the rest are decided benign. The gate is chosen at training time so that nearly every
//! attack window passes (the training pipeline keeps 99% of the injection windows it saw), which
//! is what a cascade can let through: an attack window that the first tier scores below the
//! gate is never seen by the transformer.
//!
//! Features, bit for bit as the training pipeline computes them:
//! 1. normalize the UTF-8 bytes: ASCII letters lower-cased; every other ASCII byte that is not a
//!    letter or a digit becomes a space; runs of spaces collapse; no leading or trailing space;
//!    bytes ≥ 0x80 are kept;
//! 2. features are word unigrams `"w" + word`, word bigrams `"b" + w1 + " " + w2`, and byte
//!    4-grams `"c" + 4 bytes` of `" " + normalized + " "`;
//! 3. each is hashed with 64-bit FNV-1a, bucket = hash mod 2^bits; buckets are de-duplicated;
//! 4. every distinct bucket has the value `1/sqrt(n)` (n distinct buckets), and
//!    `p = sigmoid(bias + Σ weight[bucket] / sqrt(n))`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ClassifyError;
use crate::policy::PolicyIssue;

const FNV_OFFSET: u64 = 0xCBF2_9CE4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01B3;

/// Largest weights file read (2^24 f64 values).
const MAX_WEIGHTS_BYTES: u64 = 8 << 24;

fn default_bits() -> u32 {
    18
}

/// Where the first-tier model is and how it is used.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tier1Config {
    /// The weights: `2^bits` values, either a 1-D NumPy `.npy` file (`<f4` or `<f8`) or raw
    /// little-endian `f32`.
    pub weights: PathBuf,
    /// SHA-256 of the weights file, pinned; a mismatch refuses to start.
    pub sha256: String,
    /// Hash bits (buckets = 2^bits). Default 18.
    #[serde(default = "default_bits")]
    pub bits: u32,
    /// The intercept.
    pub bias: f64,
    /// Windows scoring below this probability are decided benign without the transformer.
    pub gate: f64,
    /// What the first tier scores. Default [`Tier1Unit::Chunk`].
    #[serde(default)]
    pub unit: Tier1Unit,
    /// Chunk size in bytes, for [`Tier1Unit::Chunk`]. Default 512.
    #[serde(default = "default_chunk_bytes")]
    pub chunk_bytes: usize,
    /// Step between chunk starts in bytes. Default 384.
    #[serde(default = "default_chunk_stride")]
    pub chunk_stride: usize,
    /// Most windows of one input shown to the transformer: of the windows that pass the
    /// gate, those this tier scores highest. 0 shows every window that passes. Default 4.
    #[serde(default = "default_max_model_windows")]
    pub max_model_windows: usize,
}

/// The unit the first tier scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier1Unit {
    /// Overlapping byte chunks of the text, scored before tokenizing; only the regions that
    /// pass are tokenized for the transformer. Tokenizing is the slowest step per byte, so this
    /// is what makes long inputs cheap. The chunks are about the size of a 128-token window of
    /// prose; the first tier's features do not depend on the tokenizer.
    #[default]
    Chunk,
    /// The transformer's own token windows, exactly as the training pipeline scores them
    /// (every byte is tokenized).
    Window,
}

fn default_chunk_bytes() -> usize {
    512
}

fn default_chunk_stride() -> usize {
    384
}

/// Four transformer windows per input: about 40 ms of model time on one core, whatever the
/// input's length.
pub(crate) fn default_max_model_windows() -> usize {
    4
}

impl Tier1Config {
    /// Problems with these settings, keyed under `key`.
    pub fn validate(&self, key: &str) -> Vec<PolicyIssue> {
        let mut issues = Vec::new();
        if !(8..=24).contains(&self.bits) {
            issues.push(PolicyIssue::new(
                format!("{key}.bits"),
                "must be between 8 and 24",
            ));
        }
        if !(0.0..=1.0).contains(&self.gate) {
            issues.push(PolicyIssue::new(
                format!("{key}.gate"),
                "must be between 0 and 1",
            ));
        }
        if !self.bias.is_finite() {
            issues.push(PolicyIssue::new(
                format!("{key}.bias"),
                "must be a finite number",
            ));
        }
        if let Err(m) = super::check_sha256_hex(&self.sha256) {
            issues.push(PolicyIssue::new(format!("{key}.sha256"), m));
        }
        if !(16..=1 << 16).contains(&self.chunk_bytes) {
            issues.push(PolicyIssue::new(
                format!("{key}.chunk_bytes"),
                "must be between 16 and 65536",
            ));
        }
        if self.chunk_stride == 0 || self.chunk_stride > self.chunk_bytes {
            issues.push(PolicyIssue::new(
                format!("{key}.chunk_stride"),
                "must be at least 1 and at most chunk_bytes",
            ));
        }
        issues
    }
}

/// The loaded first tier.
#[derive(Debug, Clone)]
pub struct Tier1Model {
    bits: u32,
    weights: Vec<f32>,
    bias: f64,
    gate: f64,
    unit: Tier1Unit,
    chunk_bytes: usize,
    chunk_stride: usize,
    max_model_windows: usize,
}

impl Tier1Model {
    /// Verifies the pinned hash, then reads the weights.
    pub fn load(config: &Tier1Config) -> Result<Tier1Model, ClassifyError> {
        let path = &config.weights;
        let io = |source| ClassifyError::Io {
            path: path.clone(),
            source,
        };
        let bytes = super::embedded::read(path, MAX_WEIGHTS_BYTES).map_err(io)?;
        let actual = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&*bytes));
        if !actual.eq_ignore_ascii_case(&config.sha256) {
            return Err(ClassifyError::HashMismatch {
                path: path.clone(),
                expected: config.sha256.to_ascii_lowercase(),
                actual,
            });
        }
        let weights = parse_weights(&bytes, path)?;
        let model =
            Tier1Model::new(config.bits, weights, config.bias, config.gate).map_err(|message| {
                ClassifyError::Tier1 {
                    path: path.clone(),
                    message,
                }
            })?;
        Ok(model
            .with_unit(config.unit, config.chunk_bytes, config.chunk_stride)
            .with_max_model_windows(config.max_model_windows))
    }

    /// A model from its parts; `weights` must hold `2^bits` finite values.
    pub fn new(bits: u32, weights: Vec<f32>, bias: f64, gate: f64) -> Result<Tier1Model, String> {
        if !(8..=24).contains(&bits) {
            return Err(format!("bits must be between 8 and 24, not {bits}"));
        }
        let expected = 1usize << bits;
        if weights.len() != expected {
            return Err(format!(
                "expected {expected} weights for {bits} bits, found {}",
                weights.len()
            ));
        }
        if !weights.iter().all(|w| w.is_finite()) || !bias.is_finite() {
            return Err("weights must be finite".to_owned());
        }
        Ok(Tier1Model {
            bits,
            weights,
            bias,
            gate,
            unit: Tier1Unit::Chunk,
            chunk_bytes: default_chunk_bytes(),
            chunk_stride: default_chunk_stride(),
            max_model_windows: default_max_model_windows(),
        })
    }

    /// Sets how many windows of one input go on to the transformer (0: all that pass).
    #[must_use]
    pub fn with_max_model_windows(mut self, windows: usize) -> Self {
        self.max_model_windows = windows;
        self
    }

    /// Most windows of one input shown to the transformer (0: all that pass the gate).
    pub fn max_model_windows(&self) -> usize {
        self.max_model_windows
    }

    /// Sets the unit and the chunking (sizes are clamped to at least 16 and 1 bytes).
    #[must_use]
    pub fn with_unit(mut self, unit: Tier1Unit, chunk_bytes: usize, chunk_stride: usize) -> Self {
        self.unit = unit;
        self.chunk_bytes = chunk_bytes.max(16);
        self.chunk_stride = chunk_stride.clamp(1, self.chunk_bytes);
        self
    }

    /// The unit this model scores.
    pub fn unit(&self) -> Tier1Unit {
        self.unit
    }

    /// Byte ranges of `text` whose chunks pass the gate, overlapping chunks merged, and the
    /// number of chunks scored. Chunks start every `chunk_stride` bytes (moved back to a
    /// character boundary); the last one ends at the end of the text.
    pub fn passing_regions(&self, text: &str) -> (Vec<(usize, usize)>, usize) {
        let len = text.len();
        let mut starts: Vec<usize> = Vec::new();
        if len <= self.chunk_bytes {
            starts.push(0);
        } else {
            let last = len - self.chunk_bytes;
            let mut s = 0;
            while s < last {
                starts.push(s);
                s += self.chunk_stride;
            }
            starts.push(last);
        }
        let mut regions: Vec<(usize, usize)> = Vec::new();
        for s in &starts {
            let a = floor_boundary(text, *s);
            let b = floor_boundary(text, (s + self.chunk_bytes).min(len));
            let Some(chunk) = text.get(a..b) else {
                continue;
            };
            if !self.passes(chunk) {
                continue;
            }
            match regions.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => regions.push((a, b)),
            }
        }
        (regions, starts.len())
    }

    /// The gate: windows below it are decided benign.
    pub fn gate(&self) -> f64 {
        self.gate
    }

    /// Probability that `text` (one window's text) is an injection.
    pub fn score(&self, text: &str) -> f64 {
        let buckets = features(text, self.bits);
        if buckets.is_empty() {
            return sigmoid(self.bias);
        }
        let sum: f64 = buckets
            .iter()
            .filter_map(|&b| self.weights.get(b as usize))
            .map(|&w| f64::from(w))
            .sum();
        #[expect(
            clippy::cast_precision_loss,
            reason = "bucket counts are far below 2^52"
        )]
        let n = buckets.len() as f64;
        sigmoid(self.bias + sum / n.sqrt())
    }

    /// Whether a window with this text goes on to the transformer.
    pub fn passes(&self, text: &str) -> bool {
        self.score(text) >= self.gate
    }
}

/// The largest character boundary of `text` at or before `i`.
fn floor_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn fnv1a(prefix: u8, parts: &[&[u8]]) -> u64 {
    let mut h = FNV_OFFSET;
    for &b in std::iter::once(&prefix).chain(parts.iter().flat_map(|p| p.iter())) {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The normalized bytes (step 1 of the module documentation).
pub fn normalize(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for b in text.bytes() {
        let b = b.to_ascii_lowercase();
        if b.is_ascii_digit() || b.is_ascii_lowercase() || b >= 0x80 {
            out.push(b);
        } else if out.last().is_some_and(|&l| l != b' ') {
            out.push(b' ');
        }
    }
    if out.last() == Some(&b' ') {
        out.pop();
    }
    out
}

/// Sorted, de-duplicated buckets of `text` (steps 1–3).
pub fn features(text: &str, bits: u32) -> Vec<u32> {
    let norm = normalize(text);
    let mask = (1u64 << bits) - 1;
    let bucket = |h: u64| u32::try_from(h & mask).unwrap_or(0);
    let mut out: Vec<u32> = Vec::with_capacity(norm.len() * 2 + 8);
    let words: Vec<&[u8]> = if norm.is_empty() {
        Vec::new()
    } else {
        norm.split(|&b| b == b' ').collect()
    };
    for w in &words {
        out.push(bucket(fnv1a(b'w', &[w])));
    }
    for pair in words.windows(2) {
        if let [a, b] = pair {
            out.push(bucket(fnv1a(b'b', &[a, b" ", b])));
        }
    }
    let mut padded = Vec::with_capacity(norm.len() + 2);
    padded.push(b' ');
    padded.extend_from_slice(&norm);
    padded.push(b' ');
    for gram in padded.windows(4) {
        out.push(bucket(fnv1a(b'c', &[gram])));
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn parse_weights(bytes: &[u8], path: &Path) -> Result<Vec<f32>, ClassifyError> {
    let err = |message: String| ClassifyError::Tier1 {
        path: path.to_path_buf(),
        message,
    };
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_WEIGHTS_BYTES {
        return Err(err(format!("larger than {MAX_WEIGHTS_BYTES} bytes")));
    }
    let Some(rest) = bytes.strip_prefix(b"\x93NUMPY") else {
        if !bytes.len().is_multiple_of(4) {
            return Err(err(
                "raw weights must be a whole number of little-endian f32".to_owned(),
            ));
        }
        return Ok(bytes
            .chunks_exact(4)
            .filter_map(|c| c.try_into().ok().map(f32::from_le_bytes))
            .collect());
    };
    let (major, rest) = rest
        .split_first()
        .ok_or_else(|| err("truncated npy header".to_owned()))?;
    let (_, rest) = rest
        .split_first()
        .ok_or_else(|| err("truncated npy header".to_owned()))?;
    let (header_len, rest) = match major {
        1 => {
            let (len, rest) = rest
                .split_at_checked(2)
                .ok_or_else(|| err("truncated npy header".to_owned()))?;
            let len: [u8; 2] = len
                .try_into()
                .map_err(|_| err("truncated npy header".to_owned()))?;
            (usize::from(u16::from_le_bytes(len)), rest)
        }
        2 | 3 => {
            let (len, rest) = rest
                .split_at_checked(4)
                .ok_or_else(|| err("truncated npy header".to_owned()))?;
            let len: [u8; 4] = len
                .try_into()
                .map_err(|_| err("truncated npy header".to_owned()))?;
            let n = u32::from_le_bytes(len);
            (usize::try_from(n).unwrap_or(usize::MAX), rest)
        }
        v => return Err(err(format!("unsupported npy version {v}"))),
    };
    let (header, data) = rest
        .split_at_checked(header_len)
        .ok_or_else(|| err("truncated npy header".to_owned()))?;
    let header =
        std::str::from_utf8(header).map_err(|_| err("npy header is not text".to_owned()))?;
    let compact: String = header.chars().filter(|c| !c.is_whitespace()).collect();
    if !compact.contains("'fortran_order':False") {
        return Err(err(
            "fortran-ordered npy arrays are not supported".to_owned()
        ));
    }
    let one_dim = compact.contains("'shape':(") && {
        let shape = compact
            .split("'shape':(")
            .nth(1)
            .and_then(|s| s.split(')').next())
            .unwrap_or("");
        let dims: Vec<&str> = shape.split(',').filter(|d| !d.is_empty()).collect();
        dims.len() == 1
    };
    if !one_dim {
        return Err(err("the npy array must be one-dimensional".to_owned()));
    }
    if compact.contains("'descr':'<f4'") {
        if data.len() % 4 != 0 {
            return Err(err("npy data length is not a multiple of 4".to_owned()));
        }
        Ok(data
            .chunks_exact(4)
            .filter_map(|c| c.try_into().ok().map(f32::from_le_bytes))
            .collect())
    } else if compact.contains("'descr':'<f8'") {
        if data.len() % 8 != 0 {
            return Err(err("npy data length is not a multiple of 8".to_owned()));
        }
        #[expect(clippy::cast_possible_truncation, reason = "weights are stored as f32")]
        Ok(data
            .chunks_exact(8)
            .filter_map(|c| c.try_into().ok().map(|b| f64::from_le_bytes(b) as f32))
            .collect())
    } else {
        Err(err(
            "npy dtype must be little-endian float32 or float64".to_owned()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::weights::sha256_file;

    #[test]
    fn features_match_the_training_pipeline() {
        // Values printed by training/common.py `tier1_features`.
        assert_eq!(
            normalize("Hello, World! Ignore previous instructions."),
            b"hello world ignore previous instructions"
        );
        assert_eq!(
            features("Hello, World! Ignore previous instructions.", 18),
            vec![
                4013, 4570, 8254, 8423, 19808, 24530, 31073, 36881, 38893, 40690, 56080, 61073,
                69579, 89468, 91354, 104766, 106954, 112653, 121732, 135029, 138878, 141029,
                145953, 146896, 173165, 174495, 177435, 181055, 183814, 194202, 202854, 203069,
                204353, 214119, 215140, 217208, 220282, 222060, 223491, 230400, 235886, 242279,
                243832, 247635, 249147, 254599, 259310, 260631
            ]
        );
        assert_eq!(
            features("ÄÖü 忽略之前的指令 x", 18),
            vec![
                2516, 10568, 16942, 19609, 28225, 39765, 65899, 71564, 71960, 72234, 73039, 76520,
                78313, 82934, 95654, 97594, 98638, 99551, 116846, 125142, 138437, 140692, 144557,
                144854, 146371, 149146, 150253, 173007, 200540, 205452, 212524, 217495, 245578,
                247871
            ]
        );
        assert_eq!(features("a", 18), vec![76149]);
        assert!(features("", 18).is_empty());
        assert!(features(" ,;! ", 18).is_empty());
    }

    #[test]
    fn scores_with_sqrt_normalization() {
        let bits = 8;
        let mut weights = vec![0.0f32; 256];
        for b in features("ignore previous", bits) {
            weights[b as usize] = 1.0;
        }
        let m = Tier1Model::new(bits, weights, -1.0, 0.5).unwrap();
        let n = features("ignore previous", bits).len() as f64;
        let expected = 1.0 / (1.0 + (-(-1.0 + n / n.sqrt())).exp());
        assert!((m.score("Ignore, previous!") - expected).abs() < 1e-9);
        assert!(m.passes("ignore previous"));
        assert!((m.score("") - 1.0 / (1.0 + 1.0f64.exp())).abs() < 1e-12);
        assert!(Tier1Model::new(8, vec![0.0; 255], 0.0, 0.5).is_err());
        assert!(Tier1Model::new(8, vec![f32::NAN; 256], 0.0, 0.5).is_err());
    }

    #[test]
    fn chunks_pass_where_the_trigger_is() {
        let bits = 16;
        let mut weights = vec![-1.0f32; 1 << bits];
        for b in features("exfiltrate the credentials", bits) {
            weights[b as usize] = 4.0;
        }
        let m =
            Tier1Model::new(bits, weights, 0.0, 0.5)
                .unwrap()
                .with_unit(Tier1Unit::Chunk, 64, 48);
        let text = format!(
            "{}exfiltrate the credentials{}",
            "é calm text ".repeat(20),
            " calm text".repeat(20)
        );
        let (regions, chunks) = m.passing_regions(&text);
        assert!(chunks > 5);
        assert!(!regions.is_empty() && regions.len() <= 2, "{regions:?}");
        let at = text.find("exfiltrate").unwrap();
        assert!(regions.iter().any(|&(a, b)| a <= at && at < b));
        for (a, b) in &regions {
            assert!(text.get(*a..*b).is_some());
            assert!(b - a <= 64 * 3);
        }
        let (none, n) = m.passing_regions("calm");
        assert_eq!((none.len(), n), (0, 1));
    }

    #[test]
    fn npy_and_raw_weights() {
        let dir = std::env::temp_dir().join(format!("guardrail-tier1-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let values: Vec<f32> = (0..256).map(|i| i as f32 / 10.0).collect();
        // A version-1 .npy file as numpy.save writes it.
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (256,), }";
        let mut h = header.to_owned();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        npy.extend_from_slice(&(h.len() as u16).to_le_bytes());
        npy.extend_from_slice(h.as_bytes());
        for v in &values {
            npy.extend_from_slice(&v.to_le_bytes());
        }
        let npy_path = dir.join("w.npy");
        std::fs::write(&npy_path, &npy).unwrap();
        let raw_path = dir.join("w.f32");
        std::fs::write(
            &raw_path,
            values
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
        )
        .unwrap();
        for path in [&npy_path, &raw_path] {
            let (sha, _) = sha256_file(path).unwrap();
            let cfg = Tier1Config {
                weights: path.clone(),
                sha256: sha,
                bits: 8,
                bias: 0.0,
                gate: 0.5,
                unit: Default::default(),
                chunk_bytes: 512,
                chunk_stride: 384,
                max_model_windows: 4,
            };
            assert!(cfg.validate("input.tier1").is_empty());
            let m = Tier1Model::load(&cfg).unwrap();
            assert_eq!(m.weights, values);
        }
        let cfg = Tier1Config {
            weights: raw_path.clone(),
            sha256: "0".repeat(64),
            bits: 8,
            bias: 0.0,
            gate: 0.5,
            unit: Default::default(),
            chunk_bytes: 512,
            chunk_stride: 384,
            max_model_windows: 4,
        };
        let err = Tier1Model::load(&cfg).unwrap_err();
        assert!(matches!(err, ClassifyError::HashMismatch { .. }), "{err}");
        let bad = Tier1Config {
            bits: 30,
            gate: 2.0,
            sha256: "xyz".into(),
            ..cfg
        };
        assert_eq!(bad.validate("t").len(), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
