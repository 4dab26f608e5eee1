//! The default injection model compiled into the crate (cargo feature `embedded-model`), so a
//! binary serves with its model and no files beside it.
//!
//! The model is addressed as the directory [`BUILTIN_DIR`] in `[input.model]`; the loaders read
//! its files through a reader, which serves the compiled-in bytes for that directory and the
//! file system for every other path. The files are still checked against `SHA256SUMS` and its
//! pin, exactly as on disk.

use std::borrow::Cow;
use std::io;
use std::path::Path;

/// The directory name that stands for the compiled-in model in `[input.model] dir`.
pub const BUILTIN_DIR: &str = "builtin:injection-minilm";

/// SHA-256 of the compiled-in model's `SHA256SUMS`: the pin the embedded default policy uses.
pub const BUILTIN_SHA256SUMS: &str =
    "cf36115d68e9cf731c47a295380f069612ca56d203b8d4427d09eb956280fb28";

/// True when `dir` names the compiled-in model.
pub fn is_builtin(dir: &Path) -> bool {
    dir.as_os_str() == BUILTIN_DIR
}

/// Whether this build carries the compiled-in model.
pub const fn available() -> bool {
    cfg!(feature = "embedded-model")
}

#[cfg(feature = "embedded-model")]
macro_rules! model_file {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../fixtures/models/injection-minilm/",
                $name
            ))
            .as_slice(),
        )
    };
}

#[cfg(feature = "embedded-model")]
const FILES: &[(&str, &[u8])] = &[
    model_file!("SHA256SUMS"),
    model_file!("config.json"),
    model_file!("model.onnx"),
    model_file!("tier1.bin"),
    model_file!("tier1.json"),
    model_file!("tokenizer.json"),
];

#[cfg(not(feature = "embedded-model"))]
const FILES: &[(&str, &[u8])] = &[];

/// The bytes of `path`: a compiled-in file when `path` is inside [`BUILTIN_DIR`], otherwise
/// the file read from disk. More than `limit` bytes is an error (`FileTooLarge`), never a
/// silent truncation.
pub(crate) fn read(path: &Path, limit: u64) -> io::Result<Cow<'static, [u8]>> {
    if let Some(name) = builtin_name(path) {
        if !available() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "this build has no compiled-in model (cargo feature `embedded-model`); \
                 set [input.model] dir to a model directory such as \
                 fixtures/models/injection-minilm, or build with the feature",
            ));
        }
        let bytes = FILES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| *b)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("the compiled-in model has no file `{name}`"),
                )
            })?;
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limit {
            return Err(crate::open::too_large(limit));
        }
        return Ok(Cow::Borrowed(bytes));
    }
    crate::open::read_bounded(std::fs::File::open(path)?, limit).map(Cow::Owned)
}

/// The file name when `path` is `BUILTIN_DIR/<name>`.
fn builtin_name(path: &Path) -> Option<&str> {
    let parent = path.parent()?;
    if !is_builtin(parent) {
        return None;
    }
    path.file_name()?.to_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_paths_are_recognized_and_others_read_from_disk() {
        assert!(is_builtin(Path::new(BUILTIN_DIR)));
        assert!(!is_builtin(Path::new("fixtures/models/injection-minilm")));
        let sums = Path::new(BUILTIN_DIR).join("SHA256SUMS");
        assert_eq!(builtin_name(&sums), Some("SHA256SUMS"));
        assert_eq!(builtin_name(Path::new("x/SHA256SUMS")), None);
        let missing = read(Path::new("/nonexistent/guardrail/file"), 10).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn pinned_hash_matches_the_compiled_in_list() {
        use sha2::Digest as _;
        let on_disk = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../fixtures/models/injection-minilm/SHA256SUMS"),
        )
        .unwrap();
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&on_disk)),
            BUILTIN_SHA256SUMS,
            "update BUILTIN_SHA256SUMS and policy/default.toml after retraining"
        );
        let sums = Path::new(BUILTIN_DIR).join("SHA256SUMS");
        match read(&sums, 1 << 20) {
            Ok(bytes) => {
                assert!(available());
                assert_eq!(&*bytes, on_disk.as_slice());
            }
            Err(e) => {
                assert!(!available());
                assert!(e.to_string().contains("embedded-model"), "{e}");
            }
        }
        if available() {
            let limited = read(&Path::new(BUILTIN_DIR).join("model.onnx"), 10).unwrap_err();
            assert_eq!(limited.kind(), io::ErrorKind::FileTooLarge);
        }
    }
}
