//! Opening a checked path at execution time without following symbolic links.
//!
//! [`PathChecker`](crate::check::path::PathChecker) decides on the string alone, so it cannot
//! see that `/workspace/link/passwd` goes through a symbolic link to `/etc`. [`open_beneath`]
//! closes that gap: it opens the workspace root as a directory and resolves the relative path
//! from there, refusing symbolic links in every component, `..`, and absolute components.
//!
//! On Linux 5.6+ the parent directory is resolved in one `openat2` call with
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`; where that call is unavailable (or fails, to report
//! the exact component) the path is walked one `openat(O_NOFOLLOW | O_DIRECTORY)` at a time.
//! The final component is always opened with `O_NOFOLLOW` from its parent's descriptor and must
//! be a regular file with a single hard link. Other platforms get
//! [`io::ErrorKind::Unsupported`].
//!
//! [`read_bounded`] reads an opened file (or any reader) up to a size limit, for every
//! untrusted or configured file the crate loads.
//!
//! A refusal is an [`io::Error`] whose inner error is an [`OpenRefusal`]:
//! `err.get_ref().and_then(|e| e.downcast_ref::<OpenRefusal>())`.

use std::fs::File;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::verdict::{Coded, ReasonCode};

/// What to do with the final component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenMode {
    /// Open an existing regular file for reading.
    Read,
    /// Open for writing, creating the file if it is missing and truncating it otherwise
    /// (`write_file`). Truncation happens only after the file passed every check.
    Create,
    /// Create a new file for writing; fail with [`io::ErrorKind::AlreadyExists`] if it exists.
    CreateNew,
}

/// Options for [`open_beneath`]. Start from [`OpenBeneath::read`], [`OpenBeneath::create`] or
/// [`OpenBeneath::create_new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenBeneath {
    mode: OpenMode,
    create_parents: bool,
    allow_hard_links: bool,
}

impl OpenBeneath {
    /// Options for `mode`: missing parent directories are an error, multiply-linked files are
    /// refused.
    pub fn new(mode: OpenMode) -> Self {
        OpenBeneath {
            mode,
            create_parents: false,
            allow_hard_links: false,
        }
    }

    /// Open an existing file for reading.
    pub fn read() -> Self {
        Self::new(OpenMode::Read)
    }

    /// Create or truncate a file for writing.
    pub fn create() -> Self {
        Self::new(OpenMode::Create)
    }

    /// Create a new file for writing.
    pub fn create_new() -> Self {
        Self::new(OpenMode::CreateNew)
    }

    /// Create missing intermediate directories (mode `0o777` before the umask). Ignored for
    /// [`OpenMode::Read`]. Default: `false`.
    #[must_use]
    pub fn create_parents(mut self, yes: bool) -> Self {
        self.create_parents = yes;
        self
    }

    /// Accept a regular file with more than one hard link. A hard link inside the workspace can
    /// name a file outside it, and unlike a symbolic link it cannot be told apart from the
    /// original, so the default is `false`.
    #[must_use]
    pub fn allow_hard_links(mut self, yes: bool) -> Self {
        self.allow_hard_links = yes;
        self
    }

    /// The mode.
    pub fn mode(&self) -> OpenMode {
        self.mode
    }

    /// Whether missing parent directories are created.
    pub fn creates_parents(&self) -> bool {
        self.create_parents
    }

    /// Whether multiply-linked files are accepted.
    pub fn allows_hard_links(&self) -> bool {
        self.allow_hard_links
    }

    /// Shorthand for [`open_beneath`]`(root, relative, self)`.
    pub fn open(&self, root: &Path, relative: &Path) -> io::Result<File> {
        open_beneath(root, relative, self)
    }
}

/// Why [`open_beneath`] refused a path. Carried inside the returned [`io::Error`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenRefusal {
    /// The relative path is empty: it would name the root itself.
    #[error("empty relative path names the workspace root")]
    Empty,
    /// A `.`, `..`, root or prefix component.
    #[error("relative path `{0}` has a `.`, `..` or absolute component")]
    NotPlain(PathBuf),
    /// A symbolic link, intermediate or final.
    #[error("`{0}` is a symbolic link")]
    Symlink(PathBuf),
    /// An intermediate component is not a directory.
    #[error("`{0}` is not a directory")]
    NotADirectory(PathBuf),
    /// The final component is a directory, FIFO, socket or device.
    #[error("`{0}` is not a regular file")]
    NotRegularFile(PathBuf),
    /// The final component has more than one hard link.
    #[error("`{0}` has {1} hard links")]
    HardLinked(PathBuf, u64),
}

impl OpenRefusal {
    fn into_io(self) -> io::Error {
        let kind = match self {
            OpenRefusal::Empty | OpenRefusal::NotPlain(_) => io::ErrorKind::InvalidInput,
            OpenRefusal::Symlink(_)
            | OpenRefusal::NotADirectory(_)
            | OpenRefusal::NotRegularFile(_)
            | OpenRefusal::HardLinked(..) => io::ErrorKind::PermissionDenied,
        };
        io::Error::new(kind, self)
    }

    /// The refusal inside `err`, if `err` came from one.
    pub fn from_io(err: &io::Error) -> Option<&OpenRefusal> {
        err.get_ref().and_then(|e| e.downcast_ref::<OpenRefusal>())
    }
}

impl Coded for OpenRefusal {
    fn code(&self) -> ReasonCode {
        match self {
            OpenRefusal::NotPlain(_) => ReasonCode::PathNotCanonical,
            OpenRefusal::Empty
            | OpenRefusal::Symlink(_)
            | OpenRefusal::NotADirectory(_)
            | OpenRefusal::NotRegularFile(_)
            | OpenRefusal::HardLinked(..) => ReasonCode::PathEscapesWorkspace,
        }
    }
}

/// Opens `relative` beneath the directory `root` without following symbolic links.
///
/// `root` itself is trusted (it comes from the policy) and may be reached through symbolic
/// links; `relative` is typically [`CheckedPath::relative_path`](crate::check::path::CheckedPath::relative_path).
/// Every component of `relative` must be a plain name; every intermediate component must be a
/// real directory, the final one a regular file with one hard link (unless
/// [`OpenBeneath::allow_hard_links`]). FIFOs and devices are refused without blocking on them.
///
/// # Errors
///
/// The usual I/O errors (`NotFound`, `AlreadyExists` for [`OpenMode::CreateNew`], ...), an
/// [`OpenRefusal`] inside an `InvalidInput` / `PermissionDenied` error, or `Unsupported` on
/// non-unix platforms.
pub fn open_beneath(root: &Path, relative: &Path, options: &OpenBeneath) -> io::Result<File> {
    open_with(root, relative, options, Strategy::Auto)
}

/// How to resolve intermediate directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    /// `openat2` where available, the component walk otherwise.
    Auto,
    /// The component walk only.
    #[cfg_attr(
        any(not(test), not(unix)),
        expect(dead_code, reason = "exercised by tests")
    )]
    Walk,
}

fn plain_components(relative: &Path) -> io::Result<Vec<&std::ffi::OsStr>> {
    let mut names = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(name) => names.push(name),
            Component::CurDir
            | Component::ParentDir
            | Component::RootDir
            | Component::Prefix(_) => {
                return Err(OpenRefusal::NotPlain(relative.to_path_buf()).into_io());
            }
        }
    }
    if names.is_empty() {
        return Err(OpenRefusal::Empty.into_io());
    }
    Ok(names)
}

#[cfg(not(unix))]
fn open_with(_: &Path, relative: &Path, _: &OpenBeneath, _: Strategy) -> io::Result<File> {
    plain_components(relative)?;
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "opening beneath a directory without following symbolic links needs a unix platform",
    ))
}

#[cfg(unix)]
fn open_with(
    root: &Path,
    relative: &Path,
    options: &OpenBeneath,
    strategy: Strategy,
) -> io::Result<File> {
    let names = plain_components(relative)?;
    let Some((last, parents)) = names.split_last() else {
        return Err(OpenRefusal::Empty.into_io());
    };
    let root_fd = unix::open_dir(rustix::fs::CWD, root, true)?;
    let parent = unix::open_parent(root_fd, parents, options, strategy)?;
    unix::open_final(&parent, last, relative, options)
}

#[cfg(unix)]
mod unix {
    use std::ffi::OsStr;
    use std::fs::File;
    use std::io;
    use std::os::fd::{AsFd, OwnedFd};
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};

    use rustix::fs::{AtFlags, FileType, Mode, OFlags};
    use rustix::io::Errno;

    use super::{OpenBeneath, OpenMode, OpenRefusal, Strategy};

    /// Flags for a directory descriptor used only as the base of further lookups.
    fn dir_flags() -> OFlags {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let access = OFlags::PATH;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let access = OFlags::RDONLY;
        access | OFlags::DIRECTORY | OFlags::CLOEXEC
    }

    /// Opens a directory; `follow` is true only for the trusted root.
    pub(super) fn open_dir<Fd: AsFd>(base: Fd, path: &Path, follow: bool) -> io::Result<OwnedFd> {
        let flags = if follow {
            dir_flags()
        } else {
            dir_flags() | OFlags::NOFOLLOW
        };
        Ok(rustix::fs::openat(base, path, flags, Mode::empty())?)
    }

    fn joined(names: &[&OsStr]) -> PathBuf {
        names.iter().collect()
    }

    pub(super) fn open_parent(
        root: OwnedFd,
        parents: &[&OsStr],
        options: &OpenBeneath,
        strategy: Strategy,
    ) -> io::Result<OwnedFd> {
        if parents.is_empty() {
            return Ok(root);
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if strategy == Strategy::Auto {
            use rustix::fs::ResolveFlags;
            let resolve =
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
            match rustix::fs::openat2(&root, joined(parents), dir_flags(), Mode::empty(), resolve) {
                Ok(fd) => return Ok(fd),
                Err(Errno::NOSYS) => {
                    tracing::debug!("openat2 unavailable, resolving one component at a time");
                }
                // The walk reports which component is at fault, creates missing parents when
                // asked, and is safe on its own.
                Err(_) => {}
            }
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = strategy;
        walk(root, parents, options)
    }

    fn walk(root: OwnedFd, parents: &[&OsStr], options: &OpenBeneath) -> io::Result<OwnedFd> {
        let create = options.creates_parents() && options.mode() != OpenMode::Read;
        let mut dir = root;
        for (i, name) in parents.iter().enumerate() {
            let shown = || joined(parents.get(..=i).unwrap_or(parents));
            let opened = match open_dir(&dir, Path::new(name), false) {
                Err(e) if create && e.kind() == io::ErrorKind::NotFound => {
                    match rustix::fs::mkdirat(&dir, *name, Mode::from_raw_mode(0o777)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    open_dir(&dir, Path::new(name), false)
                }
                other => other,
            };
            dir = match opened {
                Ok(fd) => fd,
                Err(e) => return Err(explain(&dir, name, shown(), e)),
            };
            // `O_PATH | O_NOFOLLOW` may hand back the link itself; insist on a directory.
            if !FileType::from_raw_mode(rustix::fs::fstat(&dir)?.st_mode).is_dir() {
                return Err(OpenRefusal::Symlink(shown()).into_io());
            }
        }
        Ok(dir)
    }

    /// Turns a failed open of `name` into a refusal when `name` is a symbolic link or not a
    /// directory; other errors pass through.
    fn explain(dir: &OwnedFd, name: &OsStr, shown: PathBuf, err: io::Error) -> io::Error {
        match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => {
                let ty = FileType::from_raw_mode(st.st_mode);
                if ty.is_symlink() {
                    OpenRefusal::Symlink(shown).into_io()
                } else if !ty.is_dir() {
                    OpenRefusal::NotADirectory(shown).into_io()
                } else {
                    err
                }
            }
            Err(_) => err,
        }
    }

    pub(super) fn open_final(
        parent: &OwnedFd,
        name: &OsStr,
        relative: &Path,
        options: &OpenBeneath,
    ) -> io::Result<File> {
        let shown = || relative.to_path_buf();
        match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => {
                let ty = FileType::from_raw_mode(st.st_mode);
                if ty.is_symlink() {
                    return Err(OpenRefusal::Symlink(shown()).into_io());
                }
                if !ty.is_file() {
                    return Err(OpenRefusal::NotRegularFile(shown()).into_io());
                }
            }
            Err(Errno::NOENT) if options.mode != OpenMode::Read => {}
            Err(e) => return Err(e.into()),
        }

        let access = match options.mode {
            OpenMode::Read => OFlags::RDONLY,
            OpenMode::Create => OFlags::WRONLY | OFlags::CREATE,
            OpenMode::CreateNew => OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL,
        };
        let flags = access | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(parent, name, flags, Mode::from_raw_mode(0o666)) {
            Ok(fd) => fd,
            Err(e) => {
                let symlink = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|st| FileType::from_raw_mode(st.st_mode).is_symlink());
                return Err(if symlink {
                    OpenRefusal::Symlink(shown()).into_io()
                } else {
                    e.into()
                });
            }
        };

        let file = File::from(fd);
        let meta = file.metadata()?;
        if !meta.file_type().is_file() {
            return Err(OpenRefusal::NotRegularFile(shown()).into_io());
        }
        if meta.nlink() > 1 && !options.allows_hard_links() {
            return Err(OpenRefusal::HardLinked(shown(), meta.nlink()).into_io());
        }
        if options.mode == OpenMode::Create {
            file.set_len(0)?;
        }
        let flags = rustix::fs::fcntl_getfl(&file)?;
        rustix::fs::fcntl_setfl(&file, flags - OFlags::NONBLOCK)?;
        Ok(file)
    }
}

/// Reads all of `reader` when it holds at most `limit` bytes. More is an error of kind
/// [`io::ErrorKind::FileTooLarge`] ("larger than `limit` bytes"), found after reading at most
/// one byte past the limit: nothing larger is ever held in memory.
pub fn read_bounded(reader: impl io::Read, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    io::Read::read_to_end(
        &mut io::Read::take(reader, limit.saturating_add(1)),
        &mut bytes,
    )?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limit {
        return Err(too_large(limit));
    }
    Ok(bytes)
}

/// The error [`read_bounded`] returns past its limit.
pub(crate) fn too_large(limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!("larger than {limit} bytes"),
    )
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn bounded_reads_stop_one_byte_past_the_limit() {
        assert_eq!(read_bounded(&b"abcd"[..], 4).unwrap(), b"abcd");
        assert_eq!(read_bounded(&b""[..], 0).unwrap(), b"");
        let err = read_bounded(&b"abcde"[..], 4).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(err.to_string(), "larger than 4 bytes");
        // An endless reader is refused without reading it all.
        let err = read_bounded(io::repeat(b'x'), 1 << 20).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
    }

    /// A fresh directory tree under the system temp dir, removed on drop.
    struct Sandbox {
        base: PathBuf,
    }

    impl Sandbox {
        fn new() -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let base = std::env::temp_dir().join(format!(
                "guardrail-open-{}-{nanos}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let ws = base.join("ws");
            std::fs::create_dir_all(ws.join("sub/deeper")).unwrap();
            std::fs::create_dir_all(base.join("outside")).unwrap();
            std::fs::write(ws.join("file.txt"), "hello").unwrap();
            std::fs::write(ws.join("sub/inner.txt"), "inner").unwrap();
            std::fs::write(ws.join("sub/deeper/deep.txt"), "deep").unwrap();
            std::fs::write(base.join("outside/secret.txt"), "secret").unwrap();
            symlink("/etc", ws.join("etc_link")).unwrap();
            symlink("sub", ws.join("sub_link")).unwrap();
            symlink("file.txt", ws.join("file_link")).unwrap();
            symlink("../outside", ws.join("out_link")).unwrap();
            symlink("../outside/created.txt", ws.join("dangling")).unwrap();
            symlink("../../outside", ws.join("sub/up_link")).unwrap();
            std::fs::hard_link(base.join("outside/secret.txt"), ws.join("hard.txt")).unwrap();
            rustix::fs::mkfifoat(
                rustix::fs::CWD,
                ws.join("fifo"),
                rustix::fs::Mode::from_raw_mode(0o600),
            )
            .unwrap();
            Sandbox { base }
        }

        fn root(&self) -> PathBuf {
            self.base.join("ws")
        }
    }

    impl Drop for Sandbox {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.base);
        }
    }

    const BOTH: [Strategy; 2] = [Strategy::Auto, Strategy::Walk];

    fn open(sb: &Sandbox, rel: &str, opts: OpenBeneath, s: Strategy) -> io::Result<File> {
        open_with(&sb.root(), Path::new(rel), &opts, s)
    }

    fn read(sb: &Sandbox, rel: &str, s: Strategy) -> io::Result<String> {
        let mut text = String::new();
        open(sb, rel, OpenBeneath::read(), s)?.read_to_string(&mut text)?;
        Ok(text)
    }

    fn refusal(result: io::Result<impl std::fmt::Debug>) -> OpenRefusal {
        let err = result.expect_err("expected a refusal");
        OpenRefusal::from_io(&err)
            .cloned()
            .unwrap_or_else(|| panic!("not a refusal: {err:?}"))
    }

    #[test]
    fn reads_plain_files() {
        let sb = Sandbox::new();
        for s in BOTH {
            assert_eq!(read(&sb, "file.txt", s).unwrap(), "hello");
            assert_eq!(read(&sb, "sub/inner.txt", s).unwrap(), "inner");
            assert_eq!(read(&sb, "sub/deeper/deep.txt", s).unwrap(), "deep");
            assert_eq!(
                read(&sb, "missing.txt", s).unwrap_err().kind(),
                io::ErrorKind::NotFound
            );
            assert_eq!(
                read(&sb, "nodir/x.txt", s).unwrap_err().kind(),
                io::ErrorKind::NotFound
            );
        }
        // The public entry point.
        let mut text = String::new();
        open_beneath(&sb.root(), Path::new("file.txt"), &OpenBeneath::read())
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "hello");
    }

    #[test]
    fn refuses_symlinks_anywhere() {
        let sb = Sandbox::new();
        for s in BOTH {
            let r = refusal(read(&sb, "etc_link/passwd", s));
            assert_eq!(r, OpenRefusal::Symlink("etc_link".into()), "{s:?}");
            assert_eq!(r.code(), ReasonCode::PathEscapesWorkspace);
            assert_eq!(r.to_string(), "`etc_link` is a symbolic link");
            assert_eq!(
                refusal(read(&sb, "out_link/secret.txt", s)),
                OpenRefusal::Symlink("out_link".into())
            );
            assert_eq!(
                refusal(read(&sb, "sub_link/inner.txt", s)),
                OpenRefusal::Symlink("sub_link".into())
            );
            assert_eq!(
                refusal(read(&sb, "sub/up_link/secret.txt", s)),
                OpenRefusal::Symlink("sub/up_link".into())
            );
            assert_eq!(
                refusal(read(&sb, "file_link", s)),
                OpenRefusal::Symlink("file_link".into())
            );
            assert_eq!(
                refusal(read(&sb, "etc_link", s)),
                OpenRefusal::Symlink("etc_link".into())
            );
            let err = read(&sb, "etc_link/passwd", s).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        }
    }

    #[test]
    fn refuses_writes_through_symlinks() {
        let sb = Sandbox::new();
        for s in BOTH {
            for opts in [
                OpenBeneath::create(),
                OpenBeneath::create_new(),
                OpenBeneath::create().create_parents(true),
            ] {
                assert!(matches!(
                    refusal(open(&sb, "dangling", opts, s)),
                    OpenRefusal::Symlink(_)
                ));
                assert!(matches!(
                    refusal(open(&sb, "file_link", opts, s)),
                    OpenRefusal::Symlink(_)
                ));
                assert!(matches!(
                    refusal(open(&sb, "out_link/new.txt", opts, s)),
                    OpenRefusal::Symlink(_)
                ));
            }
        }
        assert!(!sb.base.join("outside/created.txt").exists());
        assert!(!sb.base.join("outside/new.txt").exists());
        assert_eq!(
            std::fs::read_to_string(sb.root().join("file.txt")).unwrap(),
            "hello"
        );
    }

    #[test]
    fn creates_and_truncates() {
        let sb = Sandbox::new();
        for (i, s) in BOTH.into_iter().enumerate() {
            let name = format!("sub/new{i}.txt");
            open(&sb, &name, OpenBeneath::create_new(), s)
                .unwrap()
                .write_all(b"first")
                .unwrap();
            assert_eq!(
                open(&sb, &name, OpenBeneath::create_new(), s)
                    .unwrap_err()
                    .kind(),
                io::ErrorKind::AlreadyExists
            );
            open(&sb, &name, OpenBeneath::create(), s)
                .unwrap()
                .write_all(b"2nd")
                .unwrap();
            assert_eq!(read(&sb, &name, s).unwrap(), "2nd");

            let nested = format!("made{i}/a/b.txt");
            assert_eq!(
                open(&sb, &nested, OpenBeneath::create(), s)
                    .unwrap_err()
                    .kind(),
                io::ErrorKind::NotFound
            );
            open(&sb, &nested, OpenBeneath::create().create_parents(true), s)
                .unwrap()
                .write_all(b"nested")
                .unwrap();
            assert_eq!(read(&sb, &nested, s).unwrap(), "nested");
            // Reading never creates directories.
            assert!(open(&sb, "nope/x", OpenBeneath::read().create_parents(true), s).is_err());
            assert!(!sb.root().join("nope").exists());
        }
        // The returned descriptor is blocking again.
        let f = open(&sb, "file.txt", OpenBeneath::read(), Strategy::Auto).unwrap();
        assert!(
            !rustix::fs::fcntl_getfl(&f)
                .unwrap()
                .contains(rustix::fs::OFlags::NONBLOCK)
        );
    }

    #[test]
    fn refuses_special_and_linked_files() {
        let sb = Sandbox::new();
        for s in BOTH {
            assert_eq!(
                refusal(read(&sb, "fifo", s)),
                OpenRefusal::NotRegularFile("fifo".into())
            );
            assert!(matches!(
                refusal(open(&sb, "fifo", OpenBeneath::create(), s)),
                OpenRefusal::NotRegularFile(_)
            ));
            assert_eq!(
                refusal(read(&sb, "sub", s)),
                OpenRefusal::NotRegularFile("sub".into())
            );
            assert_eq!(
                refusal(read(&sb, "hard.txt", s)),
                OpenRefusal::HardLinked("hard.txt".into(), 2)
            );
            assert!(matches!(
                refusal(open(&sb, "hard.txt", OpenBeneath::create(), s)),
                OpenRefusal::HardLinked(..)
            ));
            let mut text = String::new();
            open(
                &sb,
                "hard.txt",
                OpenBeneath::read().allow_hard_links(true),
                s,
            )
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
            assert_eq!(text, "secret");
            assert!(matches!(
                refusal(read(&sb, "file.txt/x", s)),
                OpenRefusal::NotADirectory(_)
            ));
        }
        assert_eq!(
            std::fs::read_to_string(sb.base.join("outside/secret.txt")).unwrap(),
            "secret"
        );
    }

    #[test]
    fn refuses_non_plain_components() {
        let sb = Sandbox::new();
        for rel in [
            "../outside/secret.txt",
            "sub/../file.txt",
            "/etc/passwd",
            "./file.txt",
            "",
        ] {
            let err = open(&sb, rel, OpenBeneath::read(), Strategy::Auto).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{rel:?}");
            assert!(OpenRefusal::from_io(&err).is_some(), "{rel:?}");
        }
    }

    #[test]
    fn works_with_checked_paths() {
        use crate::check::path::{PathChecker, WorkspaceConfig};
        let sb = Sandbox::new();
        let checker = PathChecker::new(&WorkspaceConfig::default()).unwrap();
        let ok = checker
            .check("/workspace/sub/./deeper/../inner.txt")
            .unwrap();
        let mut text = String::new();
        OpenBeneath::read()
            .open(&sb.root(), ok.relative_path())
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "inner");
        // Lexically contained, refused at execution time.
        let linked = checker.check("/workspace/etc_link/passwd").unwrap();
        assert!(matches!(
            refusal(OpenBeneath::read().open(&sb.root(), linked.relative_path())),
            OpenRefusal::Symlink(_)
        ));
    }

    #[test]
    fn sandbox_is_removed() {
        let base = {
            let sb = Sandbox::new();
            assert!(sb.root().join("file.txt").exists());
            sb.base.clone()
        };
        assert!(!base.exists());
    }
}
