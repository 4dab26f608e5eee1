//! Weights integrity: checks model files against pinned SHA-256 lines before anything loads them.
//!
//! The list has the `sha256sum` format, one file a line: 64 hex digits, two spaces (or a space
//! and `*`), a path relative to the weights directory. Blank lines and lines starting with `#`
//! are skipped. Absolute paths, `..` components, backslashes and control characters are refused
//! when the list is read, so a list can never name a file outside the directory it is checked
//! against (symbolic links inside the directory are followed: a Hugging Face cache snapshot is
//! made of them).
//!
//! Files are hashed in parallel on `threads` OS threads, largest first, with 1 MiB reads; every
//! mismatch and every missing or unreadable file is reported, not only the first.
//!
//! ```no_run
//! use std::path::Path;
//! use guardrail_core::classify::weights::verify_weights;
//!
//! let report = verify_weights(Path::new("SHA256SUMS"), Path::new("/models/llama"), 0)?;
//! for problem in &report.problems {
//!     eprintln!("{problem}");
//! }
//! assert!(report.is_ok());
//! # Ok::<(), guardrail_core::classify::weights::HashListError>(())
//! ```

use std::fs::File;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::verdict::{Coded, ReasonCode};

/// Largest hash list read, in bytes.
pub const MAX_LIST_BYTES: u64 = 4 << 20;
const READ_BUFFER: usize = 1 << 20;

/// One pinned file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinnedFile {
    /// Lower-case hex SHA-256.
    pub sha256: String,
    /// Path relative to the weights directory, as written in the list.
    pub path: String,
    /// 1-based line number in the list.
    pub line: usize,
}

/// A problem with one line of the hash list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineIssue {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for LineIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// The hash list itself could not be used; nothing was verified.
#[derive(Debug, thiserror::Error)]
pub enum HashListError {
    /// The list file could not be read.
    #[error("cannot read hash list `{path}`: {source}")]
    Read {
        /// The list's path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The list is larger than [`MAX_LIST_BYTES`].
    #[error("hash list `{path}` is larger than {MAX_LIST_BYTES} bytes")]
    TooLarge {
        /// The list's path.
        path: PathBuf,
    },
    /// The list is not UTF-8.
    #[error("hash list `{path}` is not utf-8")]
    NotUtf8 {
        /// The list's path.
        path: PathBuf,
    },
    /// Malformed or unsafe lines; every one is listed.
    #[error("hash list has {} invalid line(s): {}", .0.len(), join(.0))]
    InvalidLines(Vec<LineIssue>),
    /// The list names no file.
    #[error("hash list names no file")]
    Empty,
}

fn join(issues: &[LineIssue]) -> String {
    issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Coded for HashListError {
    fn code(&self) -> ReasonCode {
        ReasonCode::ModelHashMismatch
    }
}

/// A file that does not match its pinned hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WeightsProblem {
    /// The file's hash differs from the pinned one.
    Mismatch {
        /// Path as written in the list.
        path: String,
        /// The pinned hash.
        expected: String,
        /// The file's hash.
        actual: String,
    },
    /// The file does not exist.
    Missing {
        /// Path as written in the list.
        path: String,
    },
    /// The file exists but could not be read (or is not a regular file).
    Unreadable {
        /// Path as written in the list.
        path: String,
        /// The I/O error.
        error: String,
    },
}

impl std::fmt::Display for WeightsProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WeightsProblem::Mismatch {
                path,
                expected,
                actual,
            } => {
                write!(
                    f,
                    "`{path}`: sha256 mismatch: pinned {expected}, file has {actual}"
                )
            }
            WeightsProblem::Missing { path } => write!(f, "`{path}`: missing"),
            WeightsProblem::Unreadable { path, error } => {
                write!(f, "`{path}`: unreadable: {error}")
            }
        }
    }
}

impl Coded for WeightsProblem {
    fn code(&self) -> ReasonCode {
        ReasonCode::ModelHashMismatch
    }
}

/// What [`verify_weights`] found.
#[derive(Debug, Clone, Serialize)]
pub struct WeightsReport {
    /// Files listed.
    pub files: usize,
    /// Files whose hash matched.
    pub verified: usize,
    /// Bytes hashed.
    pub bytes: u64,
    /// Wall time.
    #[serde(serialize_with = "serialize_ms")]
    pub elapsed: Duration,
    /// Every problem, in list order.
    pub problems: Vec<WeightsProblem>,
}

fn serialize_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl WeightsReport {
    /// Every listed file exists and matches.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.verified == self.files
    }
}

/// Parses a hash list. Every bad line is reported.
pub fn parse_hash_list(text: &str) -> Result<Vec<PinnedFile>, HashListError> {
    let mut files = Vec::new();
    let mut issues = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.trim_end_matches('\r');
        if content.trim().is_empty() || content.trim_start().starts_with('#') {
            continue;
        }
        let mut issue = |message: &str| {
            issues.push(LineIssue {
                line,
                message: message.to_owned(),
            })
        };
        let Some((hash, rest)) = content.split_once(' ') else {
            issue("expected `<sha256>  <relative path>`");
            continue;
        };
        let path = rest.strip_prefix(' ').or_else(|| rest.strip_prefix('*'));
        let Some(path) = path else {
            issue("expected two spaces (or ` *`) between the hash and the path");
            continue;
        };
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            issue("the hash is not 64 hex digits");
            continue;
        }
        if let Err(message) = check_relative(path) {
            issue(message);
            continue;
        }
        if !seen.insert(path.to_owned()) {
            issue("the path is listed twice");
            continue;
        }
        files.push(PinnedFile {
            sha256: hash.to_ascii_lowercase(),
            path: path.to_owned(),
            line,
        });
    }
    if !issues.is_empty() {
        return Err(HashListError::InvalidLines(issues));
    }
    if files.is_empty() {
        return Err(HashListError::Empty);
    }
    Ok(files)
}

fn check_relative(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("the path is empty");
    }
    if path.chars().any(char::is_control) {
        return Err("the path contains a control character");
    }
    if path.contains('\\') {
        return Err("the path contains a backslash");
    }
    let p = Path::new(path);
    if p.is_absolute() || path.starts_with('/') {
        return Err("the path is absolute");
    }
    for c in p.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err("the path contains `..`"),
            Component::RootDir | Component::Prefix(_) => return Err("the path is absolute"),
        }
    }
    Ok(())
}

/// Reads `hashes_file`, then hashes every listed file under `dir` on `threads` threads
/// (`0`: one per available core) and reports each mismatch, missing or unreadable file.
pub fn verify_weights(
    hashes_file: &Path,
    dir: &Path,
    threads: usize,
) -> Result<WeightsReport, HashListError> {
    let read_err = |source| HashListError::Read {
        path: hashes_file.to_path_buf(),
        source,
    };
    let file = File::open(hashes_file).map_err(read_err)?;
    let bytes = crate::open::read_bounded(file, MAX_LIST_BYTES).map_err(|e| {
        if e.kind() == std::io::ErrorKind::FileTooLarge {
            HashListError::TooLarge {
                path: hashes_file.to_path_buf(),
            }
        } else {
            read_err(e)
        }
    })?;
    let text = String::from_utf8(bytes).map_err(|_| HashListError::NotUtf8 {
        path: hashes_file.to_path_buf(),
    })?;
    let files = parse_hash_list(&text)?;
    Ok(verify_files(&files, dir, threads))
}

/// A file's hash and length, or why it has none.
type HashOutcome = Result<(String, u64), WeightsProblem>;

/// Hashes the pinned files under `dir` (see [`verify_weights`]).
pub fn verify_files(files: &[PinnedFile], dir: &Path, threads: usize) -> WeightsReport {
    let start = Instant::now();
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        n => n,
    }
    .clamp(1, files.len().max(1));
    let mut order: Vec<(usize, u64)> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            (
                i,
                std::fs::metadata(dir.join(&f.path)).map_or(0, |m| m.len()),
            )
        })
        .collect();
    order.sort_by_key(|&(_, len)| std::cmp::Reverse(len));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<HashOutcome>>> = Mutex::new(vec![None; files.len()]);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut buf = vec![0u8; READ_BUFFER];
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(i, _)) = order.get(k) else { break };
                    let Some(file) = files.get(i) else { break };
                    let outcome = hash_file(&dir.join(&file.path), &file.path, &mut buf);
                    if let Ok(mut r) = results.lock()
                        && let Some(slot) = r.get_mut(i)
                    {
                        *slot = Some(outcome);
                    }
                }
            });
        }
    });
    let results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut report = WeightsReport {
        files: files.len(),
        verified: 0,
        bytes: 0,
        elapsed: Duration::ZERO,
        problems: Vec::new(),
    };
    for (file, outcome) in files.iter().zip(results) {
        match outcome {
            Some(Ok((actual, len))) => {
                report.bytes += len;
                if actual == file.sha256 {
                    report.verified += 1;
                } else {
                    report.problems.push(WeightsProblem::Mismatch {
                        path: file.path.clone(),
                        expected: file.sha256.clone(),
                        actual,
                    });
                }
            }
            Some(Err(problem)) => report.problems.push(problem),
            None => report.problems.push(WeightsProblem::Unreadable {
                path: file.path.clone(),
                error: "not hashed".to_owned(),
            }),
        }
    }
    report.elapsed = start.elapsed();
    report
}

/// SHA-256 of one file, lower-case hex, and its length.
pub fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut buf = vec![0u8; READ_BUFFER];
    hash_reader(File::open(path)?, &mut buf)
}

fn hash_reader(mut reader: impl Read, buf: &mut [u8]) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    loop {
        let n = match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(buf.get(..n).unwrap_or_default());
        total += u64::try_from(n).unwrap_or(0);
    }
    Ok((hex::encode(hasher.finalize()), total))
}

fn hash_file(path: &Path, listed: &str, buf: &mut [u8]) -> HashOutcome {
    let problem = |e: &dyn std::fmt::Display, missing: bool| {
        if missing {
            WeightsProblem::Missing {
                path: listed.to_owned(),
            }
        } else {
            WeightsProblem::Unreadable {
                path: listed.to_owned(),
                error: e.to_string(),
            }
        }
    };
    let io = |e: std::io::Error| problem(&e, e.kind() == std::io::ErrorKind::NotFound);
    let regular = |m: std::fs::Metadata| {
        if m.is_file() {
            Ok(())
        } else {
            Err(problem(&"not a regular file", false))
        }
    };
    // Looked at before opening (opening a FIFO would block until a writer comes), and again
    // on what was opened, in case the path changed in between.
    std::fs::metadata(path).map_err(io).and_then(regular)?;
    let file = File::open(path).map_err(io)?;
    file.metadata().map_err(io).and_then(regular)?;
    hash_reader(file, buf).map_err(|e| problem(&e, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let p = std::env::temp_dir()
                .join(format!("guardrail-weights-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn sha(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    fn setup(name: &str) -> (TempDir, Vec<(String, Vec<u8>)>) {
        let dir = TempDir::new(name);
        std::fs::create_dir_all(dir.0.join("shards")).unwrap();
        let files = vec![
            ("config.json".to_owned(), b"{\"a\":1}".to_vec()),
            (
                "shards/model-00001.safetensors".to_owned(),
                vec![7u8; 3 * READ_BUFFER + 17],
            ),
            (
                "shards/model-00002.safetensors".to_owned(),
                (0..=255u8).cycle().take(70_000).collect(),
            ),
            ("empty.bin".to_owned(), Vec::new()),
        ];
        for (p, data) in &files {
            std::fs::write(dir.0.join(p), data).unwrap();
        }
        (dir, files)
    }

    fn write_list(dir: &TempDir, lines: &[String]) -> PathBuf {
        let p = dir.0.join("SHA256SUMS");
        std::fs::write(&p, lines.join("\n")).unwrap();
        p
    }

    #[test]
    fn all_files_match() {
        let (dir, files) = setup("ok");
        let mut lines: Vec<String> = files
            .iter()
            .map(|(p, d)| format!("{}  {p}", sha(d)))
            .collect();
        lines.insert(0, "# pinned weights".to_owned());
        lines.push(String::new());
        let list = write_list(&dir, &lines);
        for threads in [0, 1, 3, 16] {
            let report = verify_weights(&list, &dir.0, threads).unwrap();
            assert!(report.is_ok(), "{:?}", report.problems);
            assert_eq!(report.files, 4);
            assert_eq!(report.verified, 4);
            assert_eq!(
                report.bytes,
                files.iter().map(|f| f.1.len() as u64).sum::<u64>()
            );
        }
        let (h, n) = sha256_file(&dir.0.join("empty.bin")).unwrap();
        assert_eq!(
            (h.as_str(), n),
            (
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                0
            )
        );
    }

    #[test]
    fn mismatch_and_missing_are_each_reported() {
        let (dir, files) = setup("bad");
        let mut lines: Vec<String> = files
            .iter()
            .map(|(p, d)| format!("{} *{p}", sha(d).to_uppercase()))
            .collect();
        let wrong = sha(b"something else");
        lines[1] = format!("{wrong}  shards/model-00001.safetensors");
        lines[3] = format!("{wrong}  empty.bin");
        lines.push(format!("{wrong}  shards/model-00003.safetensors"));
        let list = write_list(&dir, &lines);
        let report = verify_weights(&list, &dir.0, 2).unwrap();
        assert!(!report.is_ok());
        assert_eq!(report.verified, 2);
        assert_eq!(
            report.problems,
            vec![
                WeightsProblem::Mismatch {
                    path: "shards/model-00001.safetensors".into(),
                    expected: wrong.clone(),
                    actual: sha(&files[1].1),
                },
                WeightsProblem::Mismatch {
                    path: "empty.bin".into(),
                    expected: wrong.clone(),
                    actual: sha(b""),
                },
                WeightsProblem::Missing {
                    path: "shards/model-00003.safetensors".into()
                },
            ]
        );
        let msg = report.problems[0].to_string();
        assert!(
            msg.contains(&wrong) && msg.contains(&sha(&files[1].1)),
            "{msg}"
        );
    }

    #[test]
    fn a_directory_is_unreadable_not_missing() {
        let (dir, _) = setup("dir");
        let list = write_list(&dir, &[format!("{}  shards", sha(b""))]);
        let report = verify_weights(&list, &dir.0, 1).unwrap();
        assert!(matches!(
            report.problems.as_slice(),
            [WeightsProblem::Unreadable { .. }]
        ));
    }

    #[test]
    fn a_fifo_is_unreadable_and_not_waited_on() {
        let (dir, _) = setup("fifo");
        let fifo = dir.0.join("model.bin");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let list = write_list(&dir, &[format!("{}  model.bin", sha(b""))]);
        let report = verify_weights(&list, &dir.0, 1).unwrap();
        assert!(
            matches!(
                report.problems.as_slice(),
                [WeightsProblem::Unreadable { .. }]
            ),
            "{:?}",
            report.problems
        );
    }

    #[test]
    fn traversal_and_malformed_lines_are_rejected() {
        let h = sha(b"x");
        let text = [
            format!("{h}  ../outside.bin"),
            format!("{h}  /etc/passwd"),
            format!("{h}  shards/../../x"),
            format!("{h}  a\\b"),
            format!("{h} one-space"),
            "abc  short-hash".to_owned(),
            format!("{h}  ok.bin"),
            format!("{h}  ok.bin"),
            format!("{h}  ./fine/too.bin"),
        ]
        .join("\n");
        let Err(HashListError::InvalidLines(issues)) = parse_hash_list(&text) else {
            panic!("expected invalid lines");
        };
        let lines: Vec<usize> = issues.iter().map(|i| i.line).collect();
        assert_eq!(lines, vec![1, 2, 3, 4, 5, 6, 8]);
        assert!(issues[0].message.contains(".."));
        assert!(issues[1].message.contains("absolute"));
        // Nothing is hashed when the list is bad.
        let dir = TempDir::new("trav");
        let list = write_list(&dir, &[format!("{h}  ../x")]);
        assert!(matches!(
            verify_weights(&list, &dir.0, 1),
            Err(HashListError::InvalidLines(_))
        ));
    }

    #[test]
    fn empty_and_unreadable_lists() {
        assert!(matches!(
            parse_hash_list("# nothing\n\n"),
            Err(HashListError::Empty)
        ));
        let dir = TempDir::new("nolist");
        let err = verify_weights(&dir.0.join("missing"), &dir.0, 1).unwrap_err();
        assert!(matches!(err, HashListError::Read { .. }));
        assert_eq!(err.code(), ReasonCode::ModelHashMismatch);
    }
}
