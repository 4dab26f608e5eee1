//! Finding the ONNX Runtime shared library.
//!
//! The classifier loads ONNX Runtime at run time (nothing is downloaded at build time). The
//! library comes from PyPI's `onnxruntime` wheel, which ships `libonnxruntime.so.<version>`
//! in `onnxruntime/capi/`; `scripts/setup-onnxruntime` installs it into `.venv-ort/`.
//!
//! Search order, first hit wins:
//! 1. the path in the configuration (`input.classifier.ort_dylib`);
//! 2. the environment variable `GUARDRAIL_ORT_DYLIB`, then `ORT_DYLIB_PATH`;
//! 3. in the working directory and each of its parents: `.venv-ort/onnxruntime/capi/` and
//!    `.venv/lib/python3*/site-packages/onnxruntime/capi/`;
//! 4. `.venv-ort/onnxruntime/capi/` in the running executable's directory and each of its
//!    parents (a binary under a repository's `target/` finds the repository's runtime);
//! 5. `/usr/local/lib/python3*/{site,dist}-packages/onnxruntime/capi/`,
//!    `~/.local/lib/python3*/site-packages/onnxruntime/capi/`,
//!    `~/.pyenv/versions/*/lib/python3*/site-packages/onnxruntime/capi/` (and the same under
//!    `/root/.pyenv`), then `/usr/lib`, `/usr/local/lib`, `/usr/lib/x86_64-linux-gnu`,
//!    `/usr/lib64`.
//!
//! A path from 1 or 2 may name the library file or a directory that holds it; a configured
//! path that does not exist is an error, not a reason to keep looking. In a directory the
//! highest version wins; versions older than 1.[`MIN_ORT_MINOR`] are skipped (the runtime API
//! this crate is built against needs at least that). No Python interpreter is started.

use std::path::{Path, PathBuf};

use super::ClassifyError;

/// Oldest ONNX Runtime minor version (1.x) the classifier can use.
pub const MIN_ORT_MINOR: u32 = 31;

/// What to do when the library is missing.
pub const SETUP_HINT: &str = "run `scripts/setup-onnxruntime` (installs onnxruntime 1.31 from PyPI into `.venv-ort/`) or set GUARDRAIL_ORT_DYLIB to the path of libonnxruntime.so";

/// Where to look for the library. [`RuntimeSearch::from_process`] fills it from the environment;
/// tests build it by hand.
#[derive(Debug, Clone, Default)]
pub struct RuntimeSearch {
    /// From the configuration.
    pub configured: Option<PathBuf>,
    /// `GUARDRAIL_ORT_DYLIB`.
    pub env_guardrail: Option<PathBuf>,
    /// `ORT_DYLIB_PATH`.
    pub env_ort: Option<PathBuf>,
    /// The working directory (searched with its parents).
    pub cwd: Option<PathBuf>,
    /// Directory patterns searched last (`*` matches within one path component).
    pub system: Vec<PathBuf>,
}

/// How many parent directories of the working directory are searched.
const MAX_PARENTS: usize = 8;

impl RuntimeSearch {
    /// The search for this process: configuration, environment, working directory, home and
    /// system directories.
    pub fn from_process(configured: Option<&Path>) -> RuntimeSearch {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let mut system: Vec<PathBuf> = Vec::new();
        if let Some(exe_dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf))
        {
            for dir in exe_dir.ancestors().take(MAX_PARENTS + 1) {
                system.push(dir.join(".venv-ort/onnxruntime/capi"));
            }
        }
        system.push("/usr/local/lib/python3*/site-packages/onnxruntime/capi".into());
        system.push("/usr/local/lib/python3*/dist-packages/onnxruntime/capi".into());
        if let Some(home) = env("HOME") {
            system.push(home.join(".local/lib/python3*/site-packages/onnxruntime/capi"));
            system.push(home.join(".pyenv/versions/*/lib/python3*/site-packages/onnxruntime/capi"));
        }
        for p in [
            "/root/.pyenv/versions/*/lib/python3*/site-packages/onnxruntime/capi",
            "/usr/lib",
            "/usr/local/lib",
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib64",
        ] {
            let p = PathBuf::from(p);
            if !system.contains(&p) {
                system.push(p);
            }
        }
        RuntimeSearch {
            configured: configured.map(Path::to_path_buf),
            env_guardrail: env("GUARDRAIL_ORT_DYLIB"),
            env_ort: env("ORT_DYLIB_PATH"),
            cwd: std::env::current_dir().ok(),
            system,
        }
    }

    /// The directory patterns searched after the explicit paths, in order.
    pub fn directories(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if let Some(cwd) = &self.cwd {
            for dir in cwd.ancestors().take(MAX_PARENTS + 1) {
                dirs.push(dir.join(".venv-ort/onnxruntime/capi"));
                dirs.push(dir.join(".venv/lib/python3*/site-packages/onnxruntime/capi"));
            }
        }
        dirs.extend(self.system.iter().cloned());
        dirs
    }

    /// Finds the library. The error names what was tried and how to fix it.
    pub fn find(&self) -> Result<PathBuf, ClassifyError> {
        for (origin, path) in [
            ("input.classifier.ort_dylib", &self.configured),
            ("GUARDRAIL_ORT_DYLIB", &self.env_guardrail),
            ("ORT_DYLIB_PATH", &self.env_ort),
        ] {
            let Some(path) = path else { continue };
            if path.is_file() {
                return Ok(path.clone());
            }
            if path.is_dir() {
                let mut skipped = Vec::new();
                if let Some(found) = best_in_dir(path, &mut skipped) {
                    return Ok(found);
                }
                return Err(ClassifyError::RuntimeNotFound {
                    detail: format!(
                        "{origin} names `{}`, which holds no usable libonnxruntime{}",
                        path.display(),
                        skipped_note(&skipped)
                    ),
                });
            }
            return Err(ClassifyError::RuntimeNotFound {
                detail: format!("{origin} names `{}`, which does not exist", path.display()),
            });
        }
        let mut skipped = Vec::new();
        let patterns = self.directories();
        for pattern in &patterns {
            for dir in expand(pattern) {
                if let Some(found) = best_in_dir(&dir, &mut skipped) {
                    return Ok(found);
                }
            }
        }
        Err(ClassifyError::RuntimeNotFound {
            detail: format!(
                "searched {} places (.venv-ort and .venv from the working directory up, python \
                 site-packages, /usr/lib, /usr/local/lib){}",
                patterns.len() + 3,
                skipped_note(&skipped)
            ),
        })
    }
}

fn skipped_note(skipped: &[(PathBuf, String)]) -> String {
    if skipped.is_empty() {
        return String::new();
    }
    let list: Vec<String> = skipped
        .iter()
        .map(|(p, v)| format!("`{}` ({v})", p.display()))
        .collect();
    format!(
        "; skipped versions older than 1.{MIN_ORT_MINOR}: {}",
        list.join(", ")
    )
}

/// The version in a library file name, if it is an ONNX Runtime library:
/// `Some(None)` for an unversioned name, `Some(Some((major, minor, patch)))` otherwise.
fn library_version(name: &str) -> Option<Option<(u32, u32, u32)>> {
    let rest = name.strip_prefix("libonnxruntime")?;
    let version = if let Some(v) = rest.strip_prefix(".so") {
        if v.is_empty() {
            return Some(None);
        }
        v.strip_prefix('.')?
    } else {
        let v = rest.strip_suffix(".dylib")?;
        if v.is_empty() {
            return Some(None);
        }
        v.strip_prefix('.')?
    };
    let mut parts = version.split('.').map(str::parse::<u32>);
    let major = parts.next()?.ok()?;
    let minor = parts.next().and_then(Result::ok).unwrap_or(0);
    let patch = parts.next().and_then(Result::ok).unwrap_or(0);
    Some(Some((major, minor, patch)))
}

/// The best library in `dir`: the highest usable version, else an unversioned name.
fn best_in_dir(dir: &Path, skipped: &mut Vec<(PathBuf, String)>) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut best: Option<((u32, u32, u32), PathBuf)> = None;
    let mut unversioned: Option<PathBuf> = None;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(version) = library_version(name) else {
            continue;
        };
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        match version {
            None => unversioned = Some(path),
            Some(v) if v.0 < 1 || (v.0 == 1 && v.1 < MIN_ORT_MINOR) => {
                skipped.push((path, format!("{}.{}.{}", v.0, v.1, v.2)));
            }
            Some(v) => {
                if best.as_ref().is_none_or(|(b, _)| v > *b) {
                    best = Some((v, path));
                }
            }
        }
    }
    best.map(|(_, p)| p).or(unversioned)
}

/// The digit groups of a name, as numbers (`python3.12` → `[3, 12]`).
fn numbers(name: &str) -> Vec<u64> {
    name.split(|c: char| !c.is_ascii_digit())
        .filter_map(|d| d.parse().ok())
        .collect()
}

/// Expands `*` within path components (one level each, no recursion), highest version
/// first (the newest Python).
fn expand(pattern: &Path) -> Vec<PathBuf> {
    let mut current: Vec<PathBuf> = vec![PathBuf::new()];
    for component in pattern.components() {
        let part = component.as_os_str();
        let Some(text) = part.to_str().filter(|t| t.contains('*')) else {
            for p in &mut current {
                p.push(part);
            }
            continue;
        };
        let (prefix, suffix) = text.split_once('*').unwrap_or((text, ""));
        let mut next = Vec::new();
        for base in &current {
            let Ok(entries) = std::fs::read_dir(base) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .filter(|n| {
                    n.len() >= prefix.len() + suffix.len()
                        && n.starts_with(prefix)
                        && n.ends_with(suffix)
                })
                .collect();
            names.sort_unstable_by(|a, b| numbers(b).cmp(&numbers(a)).then_with(|| b.cmp(a)));
            next.extend(names.into_iter().map(|n| base.join(n)));
        }
        current = next;
    }
    current.into_iter().filter(|p| p.is_dir()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tmp(PathBuf);
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tmp(name: &str) -> Tmp {
        let p = std::env::temp_dir().join(format!("guardrail-ort-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"").unwrap();
    }

    #[test]
    fn version_parsing() {
        assert_eq!(
            library_version("libonnxruntime.so.1.31.1"),
            Some(Some((1, 31, 1)))
        );
        assert_eq!(library_version("libonnxruntime.so"), Some(None));
        assert_eq!(
            library_version("libonnxruntime.1.32.0.dylib"),
            Some(Some((1, 32, 0)))
        );
        assert_eq!(library_version("libonnxruntime_providers_shared.so"), None);
        assert_eq!(library_version("libonnxruntime.so.x"), None);
    }

    #[test]
    fn venv_in_a_parent_directory_is_found_and_old_versions_skipped() {
        let t = tmp("venv");
        let repo = &t.0;
        let capi = repo.join(".venv/lib/python3.11/site-packages/onnxruntime/capi");
        touch(&capi.join("libonnxruntime.so.1.31.1"));
        touch(&capi.join("libonnxruntime_providers_shared.so"));
        let old = repo.join("sys/lib");
        touch(&old.join("libonnxruntime.so.1.20.0"));
        let cwd = repo.join("guardrail-core/src");
        std::fs::create_dir_all(&cwd).unwrap();
        let search = RuntimeSearch {
            cwd: Some(cwd.clone()),
            system: vec![old.clone()],
            ..RuntimeSearch::default()
        };
        assert_eq!(
            search.find().unwrap(),
            capi.join("libonnxruntime.so.1.31.1")
        );
        // .venv-ort beats .venv at the same level; the nearest directory beats its parents.
        let ort = repo.join(".venv-ort/onnxruntime/capi");
        touch(&ort.join("libonnxruntime.so.1.31.0"));
        touch(&ort.join("libonnxruntime.so.1.32.2"));
        assert_eq!(search.find().unwrap(), ort.join("libonnxruntime.so.1.32.2"));
        // Only an old library: refused, and the error says so and names the fix.
        let only_old = RuntimeSearch {
            system: vec![old.clone()],
            ..RuntimeSearch::default()
        };
        let err = only_old.find().unwrap_err().to_string();
        assert!(
            err.contains("1.20.0") && err.contains("scripts/setup-onnxruntime"),
            "{err}"
        );
    }

    #[test]
    fn explicit_paths_win_and_must_exist() {
        let t = tmp("explicit");
        let lib = t.0.join("custom/libonnxruntime.so");
        touch(&lib);
        let search = RuntimeSearch {
            configured: None,
            env_guardrail: Some(lib.clone()),
            env_ort: Some(t.0.join("nope")),
            ..RuntimeSearch::default()
        };
        assert_eq!(search.find().unwrap(), lib);
        let dir = RuntimeSearch {
            configured: Some(t.0.join("custom")),
            ..search.clone()
        };
        assert_eq!(dir.find().unwrap(), lib);
        let missing = RuntimeSearch {
            configured: Some(t.0.join("missing.so")),
            ..search
        };
        let err = missing.find().unwrap_err().to_string();
        assert!(
            err.contains("does not exist") && err.contains("input.classifier.ort_dylib"),
            "{err}"
        );
    }

    #[test]
    fn globs_expand_newest_first() {
        let t = tmp("glob");
        for v in ["python3.9", "python3.12", "other"] {
            std::fs::create_dir_all(t.0.join("lib").join(v).join("site-packages")).unwrap();
        }
        let found = expand(&t.0.join("lib/python3*/site-packages"));
        assert_eq!(
            found,
            vec![
                t.0.join("lib/python3.12/site-packages"),
                t.0.join("lib/python3.9/site-packages")
            ]
        );
    }
}
