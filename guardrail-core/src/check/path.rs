//! Workspace containment check for path arguments.
//!
//! [`PathChecker::check`] decides on the string alone: the path must be absolute, free of control
//! and invisible characters, free of every form that a later layer (URL decoding, Unicode
//! normalization, a Windows "best-fit" code page, a backslash-as-separator API) could turn into a
//! traversal, and after lexical normalization it must lie strictly beneath the workspace root.
//!
//! A string check cannot see the filesystem: `/workspace/link/secret` is contained lexically even
//! when `link` is a symbolic link to `/etc`. Open the result with
//! [`open_beneath`](crate::open::open_beneath), which refuses symbolic links at execution time.
//!
//! # Untrusted input
//!
//! A check runs in time linear in the path length, makes at most one allocation (the normalized
//! path, when it differs from the input) and never panics. The path length is bounded by the caller's input limit.

use std::borrow::Cow;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::protect::ProtectedPaths;
use crate::policy::PolicyIssue;
use crate::verdict::{Coded, MessageWriter, ReasonCode, error_via_message};

/// The workspace that file tools may touch.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkspaceConfig {
    /// Absolute, normalized directory (a trailing `/` is optional). Paths must lie strictly
    /// beneath it; the root itself is refused.
    pub root: String,
    /// Protected paths no path argument may name, read or write (credential files); patterns
    /// relative to the root, in the syntax of [`protect`](super::protect).
    pub deny: Vec<String>,
    /// Protected paths no write may name ([`ArgKind::WritePath`](crate::action::tools::ArgKind)
    /// arguments, `write_file`'s path): what git, CI or a shell runs later.
    pub deny_write: Vec<String>,
}

/// The default [`WorkspaceConfig::deny`]: credential stores that have no business in an
/// agent's context.
pub const DEFAULT_DENY: &[&str] = &[
    "**/.env",
    "**/.ssh",
    "**/.aws",
    "**/.netrc",
    "**/.git-credentials",
    "**/.pypirc",
    "**/.docker/config.json",
    "**/.kube/config",
    "**/id_rsa",
    "**/id_ecdsa",
    "**/id_ed25519",
];

/// The default [`WorkspaceConfig::deny_write`]: files that run as code later, outside the
/// agent's sandbox (git hooks and config, CI definitions, direnv and editor tasks).
pub const DEFAULT_DENY_WRITE: &[&str] = &[
    "**/.git",
    "**/.github/workflows",
    "**/.gitlab-ci.yml",
    "**/.husky",
    "**/.envrc",
    "**/.vscode/tasks.json",
];

impl Default for WorkspaceConfig {
    /// `root = "/workspace/"`, [`DEFAULT_DENY`] and [`DEFAULT_DENY_WRITE`].
    fn default() -> Self {
        WorkspaceConfig {
            root: "/workspace/".to_owned(),
            deny: DEFAULT_DENY.iter().map(|s| (*s).to_owned()).collect(),
            deny_write: DEFAULT_DENY_WRITE.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// What a path argument is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// Read: [`WorkspaceConfig::deny`] applies.
    Read,
    /// Write: [`WorkspaceConfig::deny`] and [`WorkspaceConfig::deny_write`] apply.
    Write,
}

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathError {
    /// The path is the empty string.
    Empty,
    /// The path does not start with `/`.
    NotAbsolute,
    /// NUL, another C0 control, DEL, a C1 control, or a line/paragraph separator.
    ControlCharacter {
        /// Byte offset of the character.
        offset: usize,
        /// The character.
        ch: char,
    },
    /// A zero-width, direction-changing, tag, variation-selector or filler character: the path
    /// names a different file than the one a reader sees.
    InvisibleCharacter {
        /// Byte offset of the character.
        offset: usize,
        /// The character.
        ch: char,
    },
    /// A backslash, a separator on Windows and in many normalizing layers.
    Backslash {
        /// Byte offset of the backslash.
        offset: usize,
    },
    /// `%` followed by a hex digit or `u`: a URL-encoded (or IIS `%u`) sequence.
    PercentEncoded {
        /// Byte offset of the `%`.
        offset: usize,
    },
    /// A character that NFKC normalization, a best-fit code page or the eye turns into `.`,
    /// `/`, `\` or `%`.
    Lookalike {
        /// Byte offset of the character.
        offset: usize,
        /// The character.
        ch: char,
    },
    /// The path starts with a URL scheme such as `file:`.
    Scheme,
    /// The path starts with a Windows drive letter.
    DriveLetter,
    /// A leading `//`, whose meaning POSIX leaves to the implementation.
    LeadingDoubleSlash,
    /// A `..` component that climbs to or above the workspace root, even if the path comes back.
    ParentEscape {
        /// Byte offset of the `..` component.
        offset: usize,
        /// The workspace root.
        root: String,
    },
    /// After normalization the path is outside the workspace.
    Outside {
        /// The workspace root.
        root: String,
    },
    /// After normalization the path is the workspace root itself.
    WorkspaceRoot {
        /// The workspace root.
        root: String,
    },
    /// The path is inside the workspace but matches a protected-path pattern.
    Protected {
        /// The pattern, as written in the policy.
        pattern: String,
        /// Whether it comes from the write-only list.
        write: bool,
    },
}

impl PathError {
    /// The byte span of the offending character or component within the checked path.
    pub fn span(&self) -> Option<(usize, usize)> {
        match self {
            PathError::ControlCharacter { offset, ch }
            | PathError::InvisibleCharacter { offset, ch }
            | PathError::Lookalike { offset, ch } => Some((*offset, offset + ch.len_utf8())),
            PathError::Backslash { offset } => Some((*offset, offset + 1)),
            PathError::PercentEncoded { offset } | PathError::ParentEscape { offset, .. } => {
                Some((*offset, offset + 2))
            }
            PathError::Empty
            | PathError::NotAbsolute
            | PathError::Scheme
            | PathError::DriveLetter
            | PathError::LeadingDoubleSlash
            | PathError::Outside { .. }
            | PathError::WorkspaceRoot { .. }
            | PathError::Protected { .. } => None,
        }
    }
}

impl PathError {
    /// Writes the message: what `Display` shows and a reason carries.
    fn write_message(&self, w: &mut MessageWriter<'_>) {
        match self {
            PathError::Empty => w.text("path is empty"),
            PathError::NotAbsolute => w.text("path is not absolute"),
            PathError::ControlCharacter { offset, ch } => w
                .text("control character ")
                .code_point(u32::from(*ch))
                .text(" at byte ")
                .decimal(*offset),
            PathError::InvisibleCharacter { offset, ch } => w
                .text("invisible character ")
                .code_point(u32::from(*ch))
                .text(" at byte ")
                .decimal(*offset),
            PathError::Backslash { offset } => w.text("backslash at byte ").decimal(*offset),
            PathError::PercentEncoded { offset } => {
                w.text("percent-encoded sequence at byte ").decimal(*offset)
            }
            PathError::Lookalike { offset, ch } => w
                .text("character ")
                .code_point(u32::from(*ch))
                .text(" at byte ")
                .decimal(*offset)
                .text(" can be read as `.`, `/`, `\\` or `%`"),
            PathError::Scheme => w.text("a URL is not a path"),
            PathError::DriveLetter => w.text("a Windows drive path is not a path"),
            PathError::LeadingDoubleSlash => {
                w.text("leading `//` has an implementation-defined meaning")
            }
            PathError::ParentEscape { offset, root } => w
                .text("`..` at byte ")
                .decimal(*offset)
                .text(" climbs out of the workspace `")
                .text(root)
                .text("/`"),
            PathError::Outside { root } => w
                .text("path is outside the workspace `")
                .text(root)
                .text("/`"),
            PathError::WorkspaceRoot { root } => w
                .text("path names the workspace root `")
                .text(root)
                .text("/` itself"),
            PathError::Protected { pattern, write } => w
                .text("path is protected by the policy pattern `")
                .escaped(pattern)
                .text(if *write {
                    "` (workspace.deny_write)"
                } else {
                    "` (workspace.deny)"
                }),
        };
    }
}

error_via_message!(PathError);

impl Coded for PathError {
    fn code(&self) -> ReasonCode {
        match self {
            PathError::Empty | PathError::NotAbsolute => ReasonCode::PathNotAbsolute,
            PathError::ControlCharacter { .. } => ReasonCode::PathControlCharacter,
            PathError::InvisibleCharacter { .. } => ReasonCode::InvisibleCharacters,
            PathError::Backslash { .. }
            | PathError::PercentEncoded { .. }
            | PathError::Lookalike { .. }
            | PathError::Scheme
            | PathError::DriveLetter => ReasonCode::PathNotCanonical,
            PathError::LeadingDoubleSlash
            | PathError::ParentEscape { .. }
            | PathError::Outside { .. }
            | PathError::WorkspaceRoot { .. } => ReasonCode::PathEscapesWorkspace,
            PathError::Protected { .. } => ReasonCode::PathProtected,
        }
    }

    fn write_message_to(&self, out: &mut String) {
        self.write_message(&mut MessageWriter(out));
    }

    fn span(&self) -> Option<(usize, usize)> {
        PathError::span(self)
    }
}

/// A path that passed the check: absolute, lexically normalized, strictly beneath the root.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CheckedPath {
    normalized: String,
    relative_start: usize,
}

impl CheckedPath {
    /// The normalized absolute path, e.g. `/workspace/src/main.rs`.
    pub fn as_str(&self) -> &str {
        &self.normalized
    }

    /// The normalized absolute path as a [`Path`].
    pub fn as_path(&self) -> &Path {
        Path::new(&self.normalized)
    }

    /// The path relative to the workspace root, e.g. `src/main.rs`: never empty, no `.`, `..`
    /// or empty components. This is what [`open_beneath`](crate::open::open_beneath) takes.
    pub fn relative(&self) -> &str {
        self.normalized
            .get(self.relative_start..)
            .unwrap_or_default()
    }

    /// [`relative`](Self::relative) as a [`Path`].
    pub fn relative_path(&self) -> &Path {
        Path::new(self.relative())
    }

    /// The normalized absolute path.
    pub fn into_string(self) -> String {
        self.normalized
    }
}

impl AsRef<str> for CheckedPath {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for CheckedPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.normalized)
    }
}

/// The compiled workspace check. Build once with [`PathChecker::new`], share across threads.
#[derive(Debug, Clone)]
pub struct PathChecker {
    /// The root without its trailing slash, e.g. `/workspace`. Never empty.
    root: String,
    deny: ProtectedPaths,
    deny_write: ProtectedPaths,
}

impl PathChecker {
    /// Validates the configuration: the root must be absolute, normalized (no `.`, `..` or
    /// empty components, no leading `//`), not `/` itself, and free of the characters
    /// [`check`](Self::check) refuses.
    pub fn new(cfg: &WorkspaceConfig) -> Result<Self, Vec<PolicyIssue>> {
        const KEY: &str = "workspace.root";
        let mut issues = Vec::new();
        let raw = cfg.root.as_str();
        if let Err(e) = scan_characters(raw) {
            issues.push(PolicyIssue::new(
                KEY,
                format!("root is not a plain path: {e}"),
            ));
        }
        let trimmed = raw.strip_suffix('/').unwrap_or(raw);
        if !raw.starts_with('/') {
            issues.push(PolicyIssue::new(KEY, "root must be an absolute path"));
        } else if raw.starts_with("//") {
            issues.push(PolicyIssue::new(KEY, "root must not start with `//`"));
        } else if trimmed.is_empty() {
            issues.push(PolicyIssue::new(
                KEY,
                "root must not be the filesystem root `/`",
            ));
        } else if trimmed
            .split('/')
            .skip(1)
            .any(|c| matches!(c, "" | "." | ".."))
        {
            issues.push(PolicyIssue::new(
                KEY,
                "root must be normalized (no `.`, `..` or empty components)",
            ));
        }
        let deny = ProtectedPaths::new(&cfg.deny, "workspace.deny").unwrap_or_else(|mut e| {
            issues.append(&mut e);
            ProtectedPaths::default()
        });
        let deny_write = ProtectedPaths::new(&cfg.deny_write, "workspace.deny_write")
            .unwrap_or_else(|mut e| {
                issues.append(&mut e);
                ProtectedPaths::default()
            });
        if issues.is_empty() {
            Ok(PathChecker {
                root: trimmed.to_owned(),
                deny,
                deny_write,
            })
        } else {
            Err(issues)
        }
    }

    /// The workspace root without its trailing slash, e.g. `/workspace`.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Checks one path argument that is read: [`check_for`](Self::check_for) with
    /// [`Access::Read`].
    pub fn check(&self, path: &str) -> Result<CheckedPath, PathError> {
        self.check_for(path, Access::Read)
    }

    /// Checks one path argument used for `access`.
    ///
    /// In order: the empty path; control, invisible, backslash, percent-encoded and lookalike
    /// characters (the first offending character wins); paths not starting with `/` (a URL
    /// scheme or drive letter is not canonical, anything else not absolute); a leading `//`;
    /// then lexical normalization (`.` and empty components dropped, `..` pops, but a `..` taken
    /// at or above the root is refused even if the path comes back), containment strictly
    /// beneath the root, and last the protected-path patterns against the path relative to the
    /// root: `workspace.deny`, and for [`Access::Write`] `workspace.deny_write`.
    pub fn check_for(&self, path: &str, access: Access) -> Result<CheckedPath, PathError> {
        let normalized = self.verified(path, access)?;
        Ok(CheckedPath {
            normalized: normalized.into_owned(),
            relative_start: self.root.len() + 1,
        })
    }

    /// [`check_for`](Self::check_for) without keeping the normalized path: the guard's check,
    /// which allocates nothing for a path that is already normal.
    pub fn verify(&self, path: &str, access: Access) -> Result<(), PathError> {
        self.verified(path, access).map(drop)
    }

    /// [`check_for`](Self::check_for), returning the normalized path (borrowed when `path`
    /// is already normal).
    fn verified<'p>(&self, path: &'p str, access: Access) -> Result<Cow<'p, str>, PathError> {
        let normalized = self.contained(path)?;
        let relative = normalized.get(self.root.len() + 1..).unwrap_or_default();
        let hit = match self.deny.matching(relative) {
            Some(pattern) => Some((pattern, false)),
            None if access == Access::Write => {
                self.deny_write.matching(relative).map(|p| (p, true))
            }
            None => None,
        };
        match hit {
            Some((pattern, write)) => Err(PathError::Protected {
                pattern: pattern.to_owned(),
                write,
            }),
            None => Ok(normalized),
        }
    }

    /// [`check_for`](Self::check_for) up to containment: the normalized path.
    fn contained<'p>(&self, path: &'p str) -> Result<Cow<'p, str>, PathError> {
        if path.is_empty() {
            return Err(PathError::Empty);
        }
        let already_normal = scan_characters(path)?;
        if !path.starts_with('/') {
            return Err(classify_relative(path));
        }
        if path.starts_with("//") {
            return Err(PathError::LeadingDoubleSlash);
        }

        let normalized = if already_normal {
            Cow::Borrowed(path.strip_suffix('/').unwrap_or(path))
        } else {
            Cow::Owned(self.normalize(path)?)
        };

        if normalized == self.root {
            return Err(PathError::WorkspaceRoot {
                root: self.root.clone(),
            });
        }
        if !self.strictly_beneath(&normalized) {
            return Err(PathError::Outside {
                root: self.root.clone(),
            });
        }
        Ok(normalized)
    }

    /// Lexical normalization of an absolute path: `.` and empty components are dropped, `..`
    /// pops, unless it is taken at or above the root.
    fn normalize(&self, path: &str) -> Result<String, PathError> {
        let mut normalized = String::with_capacity(path.len());
        let bytes = path.as_bytes();
        // Components are a few bytes long: a plain scan for the next `/` beats a search
        // routine's set-up.
        let mut start = 0;
        while start <= bytes.len() {
            let end = bytes
                .get(start..)
                .and_then(|rest| rest.iter().position(|&b| b == b'/'))
                .map_or(bytes.len(), |i| start + i);
            match path.get(start..end).unwrap_or_default() {
                "" | "." => {}
                ".." => {
                    if !self.strictly_beneath(&normalized) {
                        return Err(PathError::ParentEscape {
                            offset: start,
                            root: self.root.clone(),
                        });
                    }
                    let cut = normalized
                        .as_bytes()
                        .iter()
                        .rposition(|&b| b == b'/')
                        .unwrap_or(0);
                    normalized.truncate(cut);
                }
                name => {
                    normalized.push('/');
                    normalized.push_str(name);
                }
            }
            start = end + 1;
        }
        Ok(normalized)
    }

    /// `normalized` (no trailing slash, no empty components) is a descendant of the root.
    fn strictly_beneath(&self, normalized: &str) -> bool {
        normalized.len() > self.root.len()
            && normalized.as_bytes().get(self.root.len()) == Some(&b'/')
            && normalized.starts_with(self.root.as_str())
    }
}

/// Refuses control, invisible, backslash, percent-encoded and lookalike characters. On success,
/// tells whether the path is already lexically normal: no `.`, `..` or empty components (a
/// single trailing `/` aside, and the leading one).
fn scan_characters(path: &str) -> Result<bool, PathError> {
    let bytes = path.as_bytes();
    let mut normal = true;
    let mut component_start = 0;
    let mut offset = 0;
    while let Some(&b) = bytes.get(offset) {
        if ASCII_PLAIN.get(usize::from(b)) == Some(&true) {
            offset += 1;
            continue;
        }
        if b.is_ascii() {
            match b {
                0x00..=0x1F | 0x7F => {
                    return Err(PathError::ControlCharacter {
                        offset,
                        ch: char::from(b),
                    });
                }
                b'\\' => return Err(PathError::Backslash { offset }),
                b'%' => {
                    let next = bytes.get(offset + 1).copied().unwrap_or(0);
                    if next.is_ascii_hexdigit() || next == b'u' || next == b'U' {
                        return Err(PathError::PercentEncoded { offset });
                    }
                }
                b'/' => {
                    if offset > 0 && !is_plain_name(bytes.get(component_start..offset)) {
                        normal = false;
                    }
                    component_start = offset + 1;
                }
                _ => {}
            }
            offset += 1;
            continue;
        }
        let Some(ch) = path.get(offset..).and_then(|rest| rest.chars().next()) else {
            return Err(PathError::NotAbsolute);
        };
        match classify_non_ascii(ch) {
            Some(CharClass::Control) => return Err(PathError::ControlCharacter { offset, ch }),
            Some(CharClass::Invisible) => {
                return Err(PathError::InvisibleCharacter { offset, ch });
            }
            Some(CharClass::Lookalike) => return Err(PathError::Lookalike { offset, ch }),
            None => {}
        }
        offset += ch.len_utf8();
    }
    let last = bytes.get(component_start..).unwrap_or_default();
    if matches!(last, b"." | b"..") || (last.is_empty() && bytes.ends_with(b"//")) {
        normal = false;
    }
    Ok(normal)
}

/// Printable ASCII other than `\\`, `%` and `/`: nothing to look at. A table beats the
/// equivalent comparisons on the hot path.
static ASCII_PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0x20u8;
    while b < 0x7F {
        #[expect(
            clippy::indexing_slicing,
            reason = "constant evaluation: an out-of-bounds index fails the build"
        )]
        {
            table[b as usize] = !matches!(b, b'\\' | b'%' | b'/');
        }
        b += 1;
    }
    table
};

/// A component between two slashes that normalization keeps as it is.
fn is_plain_name(component: Option<&[u8]>) -> bool {
    !matches!(component, None | Some(b"" | b"." | b".."))
}

/// Why a path that does not start with `/` is refused.
fn classify_relative(path: &str) -> PathError {
    let Some(colon) = path.find(':') else {
        return PathError::NotAbsolute;
    };
    let scheme = path.get(..colon).unwrap_or_default();
    let mut chars = scheme.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_is_scheme = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    match (starts_with_letter && rest_is_scheme, scheme.len()) {
        (true, 1) => PathError::DriveLetter,
        (true, _) => PathError::Scheme,
        (false, _) => PathError::NotAbsolute,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CharClass {
    Control,
    Invisible,
    Lookalike,
}

/// Inclusive code point ranges, sorted, non-overlapping.
type Ranges = [(u32, u32)];

/// Format characters (general category Cf) and default-ignorable code points: zero-width
/// characters, bidi controls, tag characters, variation selectors, fillers.
const INVISIBLE: &Ranges = &[
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
];

/// Characters whose NFKC form contains `.`, `/`, `\` or `%` (complete as of Unicode 14), the
/// CP932/CP949 best-fit backslashes (yen and won signs, and their fullwidth forms), and slash,
/// backslash and percent lookalikes without a compatibility mapping.
const LOOKALIKE: &Ranges = &[
    (0x00A5, 0x00A5),   // YEN SIGN (CP932 0x5C)
    (0x066A, 0x066A),   // ARABIC PERCENT SIGN
    (0x2024, 0x2026),   // ONE/TWO DOT LEADER, HORIZONTAL ELLIPSIS
    (0x2044, 0x2044),   // FRACTION SLASH
    (0x20A9, 0x20A9),   // WON SIGN (CP949 0x5C)
    (0x2100, 0x2101),   // ACCOUNT OF, ADDRESSED TO THE SUBJECT (a/c, a/s)
    (0x2105, 0x2106),   // CARE OF, CADA UNA (c/o, c/u)
    (0x2215, 0x2216),   // DIVISION SLASH, SET MINUS
    (0x2488, 0x249B),   // DIGIT ONE FULL STOP .. NUMBER TWENTY FULL STOP
    (0x2571, 0x2572),   // BOX DRAWINGS LIGHT DIAGONALS
    (0x27CB, 0x27CB),   // MATHEMATICAL RISING DIAGONAL
    (0x27CD, 0x27CD),   // MATHEMATICAL FALLING DIAGONAL
    (0x29F5, 0x29F5),   // REVERSE SOLIDUS OPERATOR
    (0x29F8, 0x29F9),   // BIG SOLIDUS, BIG REVERSE SOLIDUS
    (0x33C2, 0x33C2),   // SQUARE AM (a.m.)
    (0x33C7, 0x33C7),   // SQUARE CO (Co.)
    (0x33D8, 0x33D8),   // SQUARE PM (p.m.)
    (0xFE19, 0xFE19),   // VERTICAL HORIZONTAL ELLIPSIS
    (0xFE30, 0xFE30),   // VERTICAL TWO DOT LEADER
    (0xFE52, 0xFE52),   // SMALL FULL STOP
    (0xFE68, 0xFE68),   // SMALL REVERSE SOLIDUS
    (0xFE6A, 0xFE6A),   // SMALL PERCENT SIGN
    (0xFF05, 0xFF05),   // FULLWIDTH PERCENT SIGN
    (0xFF0E, 0xFF0F),   // FULLWIDTH FULL STOP, FULLWIDTH SOLIDUS
    (0xFF3C, 0xFF3C),   // FULLWIDTH REVERSE SOLIDUS
    (0xFFE5, 0xFFE6),   // FULLWIDTH YEN SIGN, FULLWIDTH WON SIGN
    (0x1F100, 0x1F100), // DIGIT ZERO FULL STOP
];

fn in_ranges(ranges: &Ranges, cp: u32) -> bool {
    ranges
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Common scripts with nothing in either table: Latin letters and combining marks (minus
/// U+034F), Greek, Cyrillic, Armenian, Hebrew, CJK, Yi, Hangul syllables.
const NOTHING_TO_FLAG: &Ranges = &[(0x00C0, 0x034E), (0x0350, 0x05FF), (0x3400, 0xFDFF)];

fn classify_non_ascii(ch: char) -> Option<CharClass> {
    let cp = u32::from(ch);
    if NOTHING_TO_FLAG
        .iter()
        .any(|&(lo, hi)| (lo..=hi).contains(&cp))
    {
        None
    } else if cp <= 0x9F || cp == 0x2028 || cp == 0x2029 {
        Some(CharClass::Control)
    } else if in_ranges(INVISIBLE, cp) {
        Some(CharClass::Invisible)
    } else if in_ranges(LOOKALIKE, cp) {
        Some(CharClass::Lookalike)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker() -> PathChecker {
        PathChecker::new(&WorkspaceConfig::default()).expect("default config is valid")
    }

    fn code(path: &str) -> Option<ReasonCode> {
        checker().check(path).err().map(|e| e.code())
    }

    fn ok(path: &str) -> String {
        match checker().check(path) {
            Ok(p) => p.into_string(),
            Err(e) => panic!("{path:?} refused: {e}"),
        }
    }

    #[test]
    fn tables_are_sorted_and_disjoint() {
        for table in [INVISIBLE, LOOKALIKE] {
            for (lo, hi) in table {
                assert!(lo <= hi, "{lo:X}..{hi:X}");
            }
            for pair in table.windows(2) {
                assert!(pair[0].1 < pair[1].0, "{:X?}", pair);
            }
        }
        let overlaps = |a: &Ranges, b: &Ranges| {
            a.iter()
                .any(|(lo, hi)| b.iter().any(|(l, h)| l <= hi && lo <= h))
        };
        for b in 0..=255u8 {
            let plain = (0x20..0x7F).contains(&b) && !matches!(b, b'\\' | b'%' | b'/');
            assert_eq!(ASCII_PLAIN[usize::from(b)], plain, "{b:#x}");
        }
        assert!(!overlaps(INVISIBLE, LOOKALIKE));
        assert!(!overlaps(NOTHING_TO_FLAG, INVISIBLE));
        assert!(!overlaps(NOTHING_TO_FLAG, LOOKALIKE));
        assert!(!overlaps(NOTHING_TO_FLAG, &[(0, 0x9F), (0x2028, 0x2029)]));
    }

    #[test]
    fn config_default_and_validation() {
        assert_eq!(checker().root(), "/workspace");
        let c = PathChecker::new(&WorkspaceConfig {
            root: "/srv/ws".into(),
            ..WorkspaceConfig::default()
        })
        .unwrap();
        assert_eq!(c.root(), "/srv/ws");
        assert_eq!(c.check("/srv/ws/a").unwrap().relative(), "a");
        for bad in [
            "",
            "/",
            "//ws",
            "ws",
            "/ws/../x",
            "/ws/./x",
            "/ws//x",
            "/ws\\x",
            "/ws\0",
            "/w\u{200b}s",
            "/ws/%2e",
            "/ws/．",
        ] {
            assert!(
                PathChecker::new(&WorkspaceConfig {
                    root: bad.into(),
                    ..WorkspaceConfig::default()
                })
                .is_err(),
                "root {bad:?} accepted"
            );
        }
        // Every problem is reported, not only the first.
        let issues = PathChecker::new(&WorkspaceConfig {
            root: "ws\\x".into(),
            ..WorkspaceConfig::default()
        })
        .unwrap_err();
        assert_eq!(issues.len(), 2, "{issues:?}");
        assert!(issues.iter().all(|i| i.key == "workspace.root"));
    }

    #[test]
    fn config_serde() {
        let cfg: WorkspaceConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(cfg.root, "/workspace/");
        let cfg: WorkspaceConfig = serde_json::from_str(r#"{"root":"/data/"}"#).unwrap();
        assert_eq!(cfg.root, "/data/");
        assert!(serde_json::from_str::<WorkspaceConfig>(r#"{"root":"/a","x":1}"#).is_err());
    }

    #[test]
    fn normalizes_and_exposes_relative() {
        let p = checker().check("/workspace/./src//a/../main.rs/").unwrap();
        assert_eq!(p.as_str(), "/workspace/src/main.rs");
        assert_eq!(p.relative(), "src/main.rs");
        assert_eq!(p.relative_path(), Path::new("src/main.rs"));
        assert_eq!(p.as_path(), Path::new("/workspace/src/main.rs"));
        assert_eq!(p.to_string(), "/workspace/src/main.rs");
        assert_eq!(ok("/workspace/a"), "/workspace/a");
        assert_eq!(ok("/workspace/a/b/.."), "/workspace/a");
        assert_eq!(
            ok("/workspace/日本語/ファイル.txt"),
            "/workspace/日本語/ファイル.txt"
        );
        assert_eq!(
            ok("/workspace/..foo/foo../a..b/..."),
            "/workspace/..foo/foo../a..b/..."
        );
        assert_eq!(ok("/workspace/100%.txt"), "/workspace/100%.txt");
        assert_eq!(ok("/workspace/50%"), "/workspace/50%");
        assert_eq!(ok("/workspace/%zz"), "/workspace/%zz");
        assert_eq!(ok("/workspace/file:x"), "/workspace/file:x");
        assert_eq!(ok("/workspace/a b/c·d"), "/workspace/a b/c·d");
    }

    #[test]
    fn relative_and_empty() {
        assert_eq!(checker().check(""), Err(PathError::Empty));
        for p in [
            "src/main.rs",
            "../etc/passwd",
            "..//etc",
            "~/.ssh/id_rsa",
            ".",
            " /workspace/a",
        ] {
            assert_eq!(checker().check(p), Err(PathError::NotAbsolute), "{p:?}");
        }
        assert_eq!(code("a"), Some(ReasonCode::PathNotAbsolute));
        assert_eq!(code(""), Some(ReasonCode::PathNotAbsolute));
    }

    #[test]
    fn schemes_and_drives() {
        for p in [
            "file:///etc/passwd",
            "file:/workspace/a",
            "FILE://x",
            "smb+x.y-z:foo",
        ] {
            assert_eq!(checker().check(p), Err(PathError::Scheme), "{p:?}");
        }
        for p in ["C:/Windows/win.ini", "c:", "Z:foo"] {
            assert_eq!(checker().check(p), Err(PathError::DriveLetter), "{p:?}");
        }
        assert_eq!(code("C:\\Windows"), Some(ReasonCode::PathNotCanonical));
        assert_eq!(code("1:x"), Some(ReasonCode::PathNotAbsolute));
        assert_eq!(code("a b:x"), Some(ReasonCode::PathNotAbsolute));
        assert_eq!(code("file:///etc"), Some(ReasonCode::PathNotCanonical));
    }

    #[test]
    fn control_characters() {
        for c in [
            '\0', '\x01', '\t', '\n', '\r', '\x1b', '\x1f', '\x7f', '\u{80}', '\u{85}', '\u{9f}',
            '\u{2028}', '\u{2029}',
        ] {
            let p = format!("/workspace/a{c}b");
            assert_eq!(
                checker().check(&p),
                Err(PathError::ControlCharacter { offset: 12, ch: c }),
                "U+{:04X}",
                u32::from(c)
            );
        }
        assert_eq!(
            code("/workspace/report.txt\0"),
            Some(ReasonCode::PathControlCharacter)
        );
        // The first offending character wins.
        assert_eq!(
            code("/workspace/\0\\"),
            Some(ReasonCode::PathControlCharacter)
        );
        assert_eq!(code("/workspace/\\\0"), Some(ReasonCode::PathNotCanonical));
    }

    #[test]
    fn invisible_characters() {
        for c in [
            '\u{ad}',
            '\u{34f}',
            '\u{61c}',
            '\u{115f}',
            '\u{180e}',
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{200e}',
            '\u{202e}',
            '\u{2060}',
            '\u{2066}',
            '\u{3164}',
            '\u{fe0f}',
            '\u{feff}',
            '\u{ffa0}',
            '\u{e0001}',
            '\u{e002e}',
            '\u{e007f}',
            '\u{e0100}',
            '\u{e01ef}',
        ] {
            let p = format!("/workspace/a{c}b");
            assert_eq!(
                checker().check(&p),
                Err(PathError::InvisibleCharacter { offset: 12, ch: c }),
                "U+{:04X}",
                u32::from(c)
            );
        }
        assert_eq!(
            code("/workspace/READ\u{200b}ME.md"),
            Some(ReasonCode::InvisibleCharacters)
        );
    }

    #[test]
    fn backslash_and_percent() {
        assert_eq!(
            checker().check("/workspace/..\\..\\etc"),
            Err(PathError::Backslash { offset: 13 })
        );
        assert_eq!(
            code("\\\\server\\share"),
            Some(ReasonCode::PathNotCanonical)
        );
        assert_eq!(code("\\\\?\\C:\\x"), Some(ReasonCode::PathNotCanonical));
        assert_eq!(
            code("/workspace\\..\\etc\\passwd"),
            Some(ReasonCode::PathNotCanonical)
        );
        for p in [
            "/workspace/%2e%2e/x",
            "/workspace/%2E",
            "/workspace/%00",
            "/workspace/%c0%ae",
            "/workspace/%252e",
            "/workspace/%u002e",
            "/workspace/%Uff0e",
            "/workspace/%users",
            "/workspace/%%32%65",
            "/workspace/a%f",
        ] {
            assert_eq!(code(p), Some(ReasonCode::PathNotCanonical), "{p:?}");
        }
        assert_eq!(
            checker().check("/workspace/%%32"),
            Err(PathError::PercentEncoded { offset: 12 })
        );
    }

    #[test]
    fn lookalikes() {
        for c in [
            '\u{a5}',
            '\u{66a}',
            '\u{2024}',
            '\u{2025}',
            '\u{2026}',
            '\u{2044}',
            '\u{20a9}',
            '\u{2100}',
            '\u{2106}',
            '\u{2215}',
            '\u{2216}',
            '\u{2488}',
            '\u{249b}',
            '\u{2571}',
            '\u{27cb}',
            '\u{29f5}',
            '\u{29f8}',
            '\u{29f9}',
            '\u{33c2}',
            '\u{fe19}',
            '\u{fe30}',
            '\u{fe52}',
            '\u{fe68}',
            '\u{fe6a}',
            '\u{ff05}',
            '\u{ff0e}',
            '\u{ff0f}',
            '\u{ff3c}',
            '\u{ffe5}',
            '\u{ffe6}',
            '\u{1f100}',
        ] {
            let p = format!("/workspace/a{c}b");
            assert_eq!(
                checker().check(&p),
                Err(PathError::Lookalike { offset: 12, ch: c }),
                "U+{:04X}",
                u32::from(c)
            );
        }
        // Neighbours of the table entries are ordinary characters.
        for c in [
            '\u{a4}', '\u{2023}', '\u{2027}', '\u{2214}', '\u{2217}', '\u{ff0d}', '\u{ff10}',
            '\u{e9}',
        ] {
            assert!(
                checker().check(&format!("/workspace/a{c}b")).is_ok(),
                "U+{:04X}",
                u32::from(c)
            );
        }
    }

    #[test]
    fn fast_path_agrees_with_normalization() {
        let c = checker();
        let parts = ["workspace", "a", "é", ".", "..", "", "..a", "..."];
        let mut paths = vec![String::from("/")];
        for _ in 0..4 {
            let mut next = Vec::new();
            for p in &paths {
                for part in parts {
                    next.push(format!("{}{part}/", p));
                    next.push(format!("{}{part}", p));
                }
            }
            paths.extend(
                next.into_iter()
                    .filter(|p| p.starts_with('/') && !p.starts_with("//")),
            );
            paths.sort();
            paths.dedup();
        }
        assert!(paths.len() > 5000, "{}", paths.len());
        let mut fast = 0;
        for p in &paths {
            if scan_characters(p).unwrap() {
                fast += 1;
                assert_eq!(
                    c.normalize(p).as_deref(),
                    Ok(p.strip_suffix('/').unwrap_or(p)),
                    "{p:?}"
                );
            }
        }
        assert!(fast > 100, "{fast}");
    }

    #[test]
    fn dot_dot_and_containment() {
        let esc = Some(ReasonCode::PathEscapesWorkspace);
        assert_eq!(ok("/workspace/a/../b.txt"), "/workspace/b.txt");
        assert_eq!(ok("/workspace/a/b/../../c"), "/workspace/c");
        assert_eq!(
            checker().check("/workspace/../workspace/x"),
            Err(PathError::ParentEscape {
                offset: 11,
                root: "/workspace".into()
            })
        );
        assert_eq!(code("/workspace/a/../../etc/passwd"), esc);
        assert_eq!(code("/workspace/a/../.."), esc);
        assert_eq!(code("/workspace/./../etc/passwd"), esc);
        assert_eq!(code("/workspace/../"), esc);
        assert_eq!(code("/etc/../workspace/x"), esc);
        assert_eq!(code("/.."), esc);
        assert_eq!(code("/../workspace/a"), esc);
        assert_eq!(code("//workspace/README.md"), esc);
        assert_eq!(
            checker().check("///workspace/a"),
            Err(PathError::LeadingDoubleSlash)
        );
        for p in [
            "/etc/passwd",
            "/",
            "/workspaces/x",
            "/workspace.bak/s",
            "/wоrkspace/README.md",
            "/Workspace/a",
        ] {
            assert_eq!(
                checker().check(p),
                Err(PathError::Outside {
                    root: "/workspace".into()
                }),
                "{p:?}"
            );
        }
        for p in [
            "/workspace",
            "/workspace/",
            "/workspace/.",
            "/workspace//./",
            "/workspace/a/..",
        ] {
            assert_eq!(
                checker().check(p),
                Err(PathError::WorkspaceRoot {
                    root: "/workspace".into()
                }),
                "{p:?}"
            );
        }
    }

    #[test]
    fn protected_paths() {
        let c = checker();
        for (path, access, pattern) in [
            ("/workspace/.env", Access::Read, Some("**/.env")),
            ("/workspace/app/.ENV", Access::Read, Some("**/.env")),
            (
                "/workspace/home/.ssh/id_ed25519",
                Access::Read,
                Some("**/.ssh"),
            ),
            ("/workspace/.env.example", Access::Read, None),
            ("/workspace/.git/config", Access::Read, None),
            ("/workspace/.git/config", Access::Write, Some("**/.git")),
            (
                "/workspace/src/.././.git/hooks/pre-commit",
                Access::Write,
                Some("**/.git"),
            ),
            (
                "/workspace/vendor/lib/.git/hooks/post-checkout",
                Access::Write,
                Some("**/.git"),
            ),
            ("/workspace/.gitignore", Access::Write, None),
            ("/workspace/.github/workflows/ci.yml", Access::Read, None),
            (
                "/workspace/.github/workflows/ci.yml",
                Access::Write,
                Some("**/.github/workflows"),
            ),
            ("/workspace/.github/CODEOWNERS", Access::Write, None),
            ("/workspace/.env", Access::Write, Some("**/.env")),
            ("/workspace/src/main.rs", Access::Write, None),
        ] {
            let got = c.check_for(path, access);
            match pattern {
                None => assert!(got.is_ok(), "{path} {access:?}: {got:?}"),
                Some(want) => match got {
                    Err(PathError::Protected { pattern, write }) => {
                        assert_eq!(pattern, want, "{path}");
                        assert_eq!(write, want == "**/.git" || want.contains("workflows"));
                        let reason = PathError::Protected { pattern, write }.to_reason();
                        assert_eq!(reason.code, ReasonCode::PathProtected);
                    }
                    other => panic!("{path} {access:?}: {other:?}"),
                },
            }
        }
        // Containment is decided first: a protected name outside the workspace escapes it.
        assert!(matches!(
            c.check("/workspace/../root/.ssh/id_rsa"),
            Err(PathError::ParentEscape { .. })
        ));
        // `check` is a read.
        assert!(c.check("/workspace/.git/hooks/pre-commit").is_ok());
        // Empty lists protect nothing; a bad pattern is a policy issue with its key.
        let open = PathChecker::new(&WorkspaceConfig {
            deny: Vec::new(),
            deny_write: Vec::new(),
            ..WorkspaceConfig::default()
        })
        .unwrap();
        assert!(
            open.check_for("/workspace/.git/config", Access::Write)
                .is_ok()
        );
        assert!(open.check("/workspace/.env").is_ok());
        let issues = PathChecker::new(&WorkspaceConfig {
            deny_write: vec!["/etc".into(), "ok".into(), "a/../b".into()],
            ..WorkspaceConfig::default()
        })
        .unwrap_err();
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["workspace.deny_write[0]", "workspace.deny_write[2]"]);
    }

    #[test]
    fn nested_root() {
        let c = PathChecker::new(&WorkspaceConfig {
            root: "/srv/ws/".into(),
            ..WorkspaceConfig::default()
        })
        .unwrap();
        assert_eq!(c.check("/srv/ws/a/b").unwrap().relative(), "a/b");
        assert!(matches!(
            c.check("/srv/ws/../ws/a"),
            Err(PathError::ParentEscape { .. })
        ));
        assert!(matches!(
            c.check("/srv/wsx"),
            Err(PathError::Outside { .. })
        ));
        assert!(matches!(c.check("/srv"), Err(PathError::Outside { .. })));
    }

    #[test]
    fn reasons_carry_spans() {
        let r = checker()
            .check("/workspace/a\u{200b}")
            .unwrap_err()
            .to_reason();
        assert_eq!(r.code, ReasonCode::InvisibleCharacters);
        assert_eq!(r.span, Some(crate::verdict::Span { start: 12, end: 15 }));
        assert_eq!(r.message, "invisible character U+200B at byte 12");
        let r = checker().check("/workspace/../x").unwrap_err().to_reason();
        assert_eq!(r.span, Some(crate::verdict::Span { start: 11, end: 13 }));
        assert_eq!(
            r.message,
            "`..` at byte 11 climbs out of the workspace `/workspace/`"
        );
        let r = checker().check("/etc/passwd").unwrap_err().to_reason();
        assert_eq!(r.span, None);
        assert_eq!(r.code, ReasonCode::PathEscapesWorkspace);
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fixture fields read only by deny_unknown_fields")]
    struct Row {
        id: String,
        input: Option<String>,
        #[serde(default)]
        input_b64: Option<String>,
        expect: String,
        category: String,
        why: String,
        source: String,
        #[serde(default)]
        tool: Option<String>,
        #[serde(default)]
        args: Option<serde_json::Value>,
        #[serde(default)]
        args_omitted: Option<String>,
        #[serde(default)]
        debatable: Option<bool>,
        #[serde(default)]
        alt_expect: Option<String>,
        #[serde(default)]
        alt_policy: Option<String>,
        #[serde(default)]
        observed: Option<serde_json::Value>,
    }

    /// The `(tool, path)` of a row: from `args`, or from `input` where `args` was omitted.
    fn tool_and_path(row: &Row) -> Option<(String, String)> {
        let from_input;
        let args = match &row.args {
            Some(args) => args,
            None => {
                from_input =
                    serde_json::from_str::<serde_json::Value>(row.input.as_deref()?).ok()?;
                from_input.get("args")?
            }
        };
        let tool = match &row.tool {
            Some(t) => t.clone(),
            None => serde_json::from_str::<serde_json::Value>(row.input.as_deref()?)
                .ok()?
                .get("tool")?
                .as_str()?
                .to_owned(),
        };
        Some((tool, args.get("path")?.as_str()?.to_owned()))
    }

    fn load(name: &str) -> Vec<Row> {
        let path = format!(
            "{}/../../shared/corpora/actions/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    }

    #[test]
    fn corpus_path_traversal() {
        // Rows whose verdict does not come from this check.
        const NOT_THIS_STAGE: &[(&str, &str)] = &[
            (
                "path-070",
                "input is invalid UTF-8: denied before any argument exists",
            ),
            (
                "path-103",
                "content is one char over maxLength: the schema stage denies it",
            ),
        ];
        let rows = load("path_traversal.jsonl");
        assert_eq!(rows.len(), 75);
        let filter = std::env::var("GUARDRAIL_CORPUS_ID").ok();
        let c = checker();
        let (mut checked, mut skipped) = (0, 0);
        let mut failures = Vec::new();
        for row in &rows {
            if filter.as_deref().is_some_and(|f| f != row.id) {
                continue;
            }
            if NOT_THIS_STAGE.iter().any(|(id, _)| *id == row.id) {
                skipped += 1;
                continue;
            }
            let (tool, path) = tool_and_path(row).unwrap_or_else(|| panic!("{}: no path", row.id));
            assert!(
                matches!(tool.as_str(), "read_file" | "write_file"),
                "{}",
                row.id
            );
            let got = match c.check(&path) {
                Ok(_) => "allow",
                Err(_) => "deny",
            };
            if got != row.expect {
                failures.push(format!(
                    "{} {path:?}: got {got}, expected {}",
                    row.id, row.expect
                ));
            }
            checked += 1;
        }
        assert!(failures.is_empty(), "{failures:#?}");
        if filter.is_none() {
            assert_eq!((checked, skipped), (73, 2));
        }
    }

    #[test]
    fn corpus_unicode_smuggling_paths() {
        // Rows whose deny is in the path; every other file-tool row is denied (if at all) for
        // its content, by the argument scan.
        const DENIED_BY_PATH: &[&str] = &["unicode-001", "unicode-017", "unicode-026"];
        let c = checker();
        let mut checked = 0;
        for row in load("unicode_smuggling.jsonl") {
            let Some((tool, path)) = tool_and_path(&row) else {
                continue;
            };
            if !matches!(tool.as_str(), "read_file" | "write_file") {
                continue;
            }
            let result = c.check(&path);
            if DENIED_BY_PATH.contains(&row.id.as_str()) {
                assert_eq!(row.expect, "deny", "{}", row.id);
                assert_eq!(
                    result.map_err(|e| e.code()),
                    Err(ReasonCode::InvisibleCharacters),
                    "{}",
                    row.id
                );
            } else {
                assert!(result.is_ok(), "{} {path:?}: {result:?}", row.id);
            }
            checked += 1;
        }
        assert_eq!(checked, 10);
    }

    #[test]
    fn typical_paths_pass_repeatedly() {
        // The checker keeps no state between calls: the same answers every time.
        let c = checker();
        let paths = [
            "/workspace/src/main.rs",
            "/workspace/data/2024-01-01.csv",
            "/workspace/a/../b.txt",
        ];
        for i in 0..1_000 {
            let p = paths[i % paths.len()];
            assert!(c.check(std::hint::black_box(p)).is_ok(), "{p}");
        }
    }
}
