//! Protected paths inside the workspace: patterns that a path argument must not match.
//!
//! Containment keeps the agent inside the workspace; some files inside it are still not the
//! agent's to touch. Reading a `.env` or an SSH key hands credentials to whatever injected the
//! call, and writing `.git/hooks/pre-commit`, `.git/config` or a CI workflow plants code that
//! git or CI will run later with more privilege than the agent has. [`ProtectedPaths`] matches
//! a checked path, relative to the workspace root, against such patterns.
//!
//! # Pattern syntax
//!
//! A pattern is a relative path of `/`-separated components:
//!
//! - a plain component matches the same name, ignoring ASCII case (`.GIT` is `.git`: macOS and
//!   Windows file systems do not tell them apart, and a deny list errs on the side of denying);
//! - `*` inside a component matches any run of characters within that component (`*.pem`);
//! - a component that is exactly `**` matches any number of whole components, none included
//!   (`**/.env` is `.env` at any depth);
//! - a pattern that matches a directory protects everything beneath it (`.git` covers
//!   `.git/hooks/pre-commit`).
//!
//! # Cost
//!
//! Every pattern's longest `*`-free run of characters goes into one case-insensitive
//! Aho-Corasick automaton; a path that holds none of them (most paths) is settled by that one
//! pass, and otherwise only the patterns whose run occurs (and those without one) are matched
//! in full. The full match is a table over pattern and path components, linear in their
//! product.

use aho_corasick::{AhoCorasick, AhoCorasickKind};

use crate::policy::PolicyIssue;

/// Most patterns in one list.
pub const MAX_PATTERNS: usize = 256;
/// Longest pattern, in bytes.
pub const MAX_PATTERN_BYTES: usize = 256;

/// A compiled list of protected-path patterns.
#[derive(Debug, Clone, Default)]
pub struct ProtectedPaths {
    globs: Vec<Glob>,
    /// One literal per glob that has one; `None` when none has.
    literals: Option<AhoCorasick>,
    /// For each literal (by pattern id), the glob it comes from.
    literal_glob: Vec<usize>,
    /// Globs without a literal run: they go through the full match on every path.
    always: Vec<usize>,
}

#[derive(Debug, Clone)]
struct Glob {
    text: String,
    components: Vec<Component>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Component {
    /// `**`: any number of whole components.
    AnyDepth,
    /// A name, ASCII-lowercased; `*` matches any run within the component.
    Name(Vec<u8>),
}

impl ProtectedPaths {
    /// Compiles `patterns`; `key` is the dotted policy key they come from, for the issues.
    ///
    /// # Errors
    ///
    /// Every pattern that is empty, too long, absolute, has an empty, `.` or `..` component, a
    /// backslash or a control character, or would protect every path (`**`, `*`); too many
    /// patterns.
    pub fn new(patterns: &[String], key: &str) -> Result<Self, Vec<PolicyIssue>> {
        let mut issues = Vec::new();
        if patterns.len() > MAX_PATTERNS {
            issues.push(PolicyIssue::new(
                key,
                format!("at most {MAX_PATTERNS} patterns"),
            ));
        }
        let mut globs = Vec::with_capacity(patterns.len());
        for (i, text) in patterns.iter().enumerate() {
            match compile(text) {
                Ok(components) => globs.push(Glob {
                    text: text.clone(),
                    components,
                }),
                Err(problem) => issues.push(PolicyIssue::new(format!("{key}[{i}]"), problem)),
            }
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        let mut literals = Vec::with_capacity(globs.len());
        let mut literal_glob = Vec::with_capacity(globs.len());
        let mut always = Vec::new();
        for (i, glob) in globs.iter().enumerate() {
            match longest_literal(&glob.components) {
                Some(lit) => {
                    literals.push(lit);
                    literal_glob.push(i);
                }
                None => always.push(i),
            }
        }
        let literals = if literals.is_empty() {
            None
        } else {
            let built = AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .kind(Some(AhoCorasickKind::DFA))
                .prefilter(false)
                .build(&literals);
            match built {
                Ok(ac) => Some(ac),
                Err(e) => return Err(vec![PolicyIssue::new(key, e.to_string())]),
            }
        };
        Ok(ProtectedPaths {
            globs,
            literals,
            literal_glob,
            always,
        })
    }

    /// No pattern at all.
    pub fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }

    /// The first pattern (as written in the policy) that protects `relative`: a normalized path
    /// relative to the workspace root, without a leading `/` (what
    /// [`CheckedPath::relative`](super::path::CheckedPath::relative) returns).
    pub fn matching(&self, relative: &str) -> Option<&str> {
        if self.globs.is_empty() {
            return None;
        }
        // The globs whose literal occurs in the path, and those without one.
        let mut candidates = [false; MAX_PATTERNS];
        let mut any = false;
        for &i in &self.always {
            if let Some(c) = candidates.get_mut(i) {
                *c = true;
                any = true;
            }
        }
        if let Some(ac) = &self.literals {
            for m in ac.find_overlapping_iter(relative) {
                let glob = self.literal_glob.get(m.pattern().as_usize()).copied();
                if let Some(c) = glob.and_then(|i| candidates.get_mut(i)) {
                    *c = true;
                    any = true;
                }
            }
        }
        if !any {
            return None;
        }
        let path: Vec<&[u8]> = relative
            .split('/')
            .filter(|c| !c.is_empty())
            .map(str::as_bytes)
            .collect();
        self.globs
            .iter()
            .zip(candidates)
            .find(|(g, candidate)| *candidate && protects(&g.components, &path))
            .map(|(g, _)| g.text.as_str())
    }
}

fn compile(text: &str) -> Result<Vec<Component>, &'static str> {
    if text.is_empty() {
        return Err("a pattern must not be empty");
    }
    if text.len() > MAX_PATTERN_BYTES {
        return Err("a pattern is at most 256 bytes");
    }
    if text.starts_with('/') {
        return Err("patterns are relative to the workspace root: no leading `/`");
    }
    if text.bytes().any(|b| b == b'\\' || b.is_ascii_control()) {
        return Err("a pattern must not hold a backslash or a control character");
    }
    let text = text.strip_suffix('/').unwrap_or(text);
    let mut components = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." | ".." => {
                return Err("a pattern must not have empty, `.` or `..` components");
            }
            "**" => {
                if components.last() != Some(&Component::AnyDepth) {
                    components.push(Component::AnyDepth);
                }
            }
            name => components.push(Component::Name(name.to_ascii_lowercase().into_bytes())),
        }
    }
    let protects_all = components.iter().all(|c| match c {
        Component::AnyDepth => true,
        Component::Name(n) => n.iter().all(|&b| b == b'*'),
    });
    if protects_all {
        return Err("the pattern would protect every path");
    }
    Ok(components)
}

/// The longest `*`-free run in any name of the pattern.
fn longest_literal(components: &[Component]) -> Option<Vec<u8>> {
    components
        .iter()
        .filter_map(|c| match c {
            Component::AnyDepth => None,
            Component::Name(n) => n.split(|&b| b == b'*').max_by_key(|run| run.len()),
        })
        .max_by_key(|run| run.len())
        .filter(|run| !run.is_empty())
        .map(<[u8]>::to_vec)
}

/// Whether the pattern matches `path` or one of its ancestor directories.
fn protects(pattern: &[Component], path: &[&[u8]]) -> bool {
    let (p, s) = (pattern.len(), path.len());
    let width = s + 1;
    // ok[i * width + j]: pattern[i..] matches path[j..k] for some k (what lies beneath
    // path[..k] is protected with it). On the stack for the usual short path.
    let cells = (p + 1) * width;
    let mut inline = [false; 256];
    let mut heap = Vec::new();
    let ok: &mut [bool] = if cells <= inline.len() {
        inline.get_mut(..cells).unwrap_or_default()
    } else {
        heap.resize(cells, false);
        &mut heap
    };
    for j in 0..=s {
        if let Some(cell) = ok.get_mut(p * width + j) {
            // The pattern is used up: the path names what it matched or something beneath.
            *cell = true;
        }
    }
    for i in (0..p).rev() {
        for j in (0..=s).rev() {
            let at = |i: usize, j: usize| ok.get(i * width + j).copied().unwrap_or(false);
            let value = match pattern.get(i) {
                Some(Component::AnyDepth) => at(i + 1, j) || (j < s && at(i, j + 1)),
                Some(Component::Name(name)) => path
                    .get(j)
                    .is_some_and(|c| name_matches(name, c) && at(i + 1, j + 1)),
                None => false,
            };
            if let Some(cell) = ok.get_mut(i * width + j) {
                *cell = value;
            }
        }
    }
    // A match must consume at least one path component: `**` alone never gets here (refused
    // at compile time), and every other pattern has a name.
    ok.first().copied().unwrap_or(false)
}

/// `*` wildcard match of one component, ASCII case-insensitive (`pattern` is lowercased).
fn name_matches(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    // Where the last `*` was, and the name position it is currently stretched to.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if name.get(n).is_some_and(|b| b.to_ascii_lowercase() == c) => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&b| b == b'*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(patterns: &[&str]) -> ProtectedPaths {
        let patterns: Vec<String> = patterns.iter().map(|s| (*s).to_owned()).collect();
        match ProtectedPaths::new(&patterns, "workspace.deny") {
            Ok(p) => p,
            Err(issues) => panic!("{issues:?}"),
        }
    }

    #[test]
    fn names_directories_and_depth() {
        let p = list(&[".git", "**/.env", "**/*.pem", "config/secrets/**/*.key"]);
        for (path, want) in [
            (".git", Some(".git")),
            (".git/hooks/pre-commit", Some(".git")),
            (".GIT/config", Some(".git")),
            ("src/.git/config", None),
            (".github/workflows/ci.yml", None),
            (".gitignore", None),
            (".env", Some("**/.env")),
            ("app/deploy/.env", Some("**/.env")),
            (".env.example", None),
            ("certs/server.pem", Some("**/*.pem")),
            ("certs/server.PEM", Some("**/*.pem")),
            ("certs/server.pem.txt", None),
            ("config/secrets/a.key", Some("config/secrets/**/*.key")),
            ("config/secrets/x/y/a.key", Some("config/secrets/**/*.key")),
            ("config/a.key", None),
            ("src/main.rs", None),
        ] {
            assert_eq!(p.matching(path), want, "{path}");
        }
    }

    #[test]
    fn wildcards_within_a_component() {
        for (pattern, name, want) in [
            (&b"*.pem"[..], &b"a.pem"[..], true),
            (b"*.pem", b".pem", true),
            (b"*.pem", b"a.pem.bak", false),
            (b"id_*", b"id_rsa", true),
            (b"id_*", b"xid_rsa", false),
            (b"a*b*c", b"axxbyyc", true),
            (b"a*b*c", b"axxbyy", false),
            (b"*a*", b"bab", true),
            (b"**x", b"x", true),
            (b"abc", b"ABC", true),
        ] {
            assert_eq!(name_matches(pattern, name), want, "{pattern:?} {name:?}");
        }
    }

    #[test]
    fn patterns_without_a_literal_are_still_checked() {
        let p = list(&["*/*.*"]);
        assert_eq!(p.matching("a/b.c"), Some("*/*.*"));
        assert_eq!(p.matching("a/b.c/d"), Some("*/*.*"));
        assert_eq!(p.matching("a.c"), None);
    }

    #[test]
    fn many_any_depth_components_stay_linear() {
        let p = list(&["**/a/**/b/**/c/**/d"]);
        let long = vec!["a"; 1500].join("/");
        assert_eq!(p.matching(&long), None);
        assert_eq!(
            p.matching(&format!("{long}/b/c/x/d")),
            Some("**/a/**/b/**/c/**/d")
        );
    }

    /// The same semantics, written the obvious (exponential) way.
    fn reference(pattern: &[Component], path: &[&[u8]]) -> bool {
        fn wild(p: &[u8], n: &[u8]) -> bool {
            match p.split_first() {
                None => n.is_empty(),
                Some((b'*', rest)) => (0..=n.len()).any(|k| wild(rest, &n[k..])),
                Some((c, rest)) => n
                    .split_first()
                    .is_some_and(|(b, tail)| b.to_ascii_lowercase() == *c && wild(rest, tail)),
            }
        }
        match pattern.split_first() {
            None => true,
            Some((Component::AnyDepth, rest)) => {
                (0..=path.len()).any(|k| reference(rest, &path[k..]))
            }
            Some((Component::Name(n), rest)) => path
                .split_first()
                .is_some_and(|(c, tail)| wild(n, c) && reference(rest, tail)),
        }
    }

    #[test]
    fn agrees_with_the_obvious_matcher_on_random_patterns() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let pieces = ["a", "b", "A", "ab", "*", "a*", "*b", ".e", "**"];
        let names = ["a", "b", "ab", "ba", "AB", ".e", "x.e", "aab", "b.E"];
        let mut matched = 0;
        for _ in 0..3000 {
            let patterns: Vec<String> = (0..1 + next(3))
                .map(|_| {
                    let parts: Vec<&str> = (0..1 + next(4))
                        .map(|_| pieces[next(pieces.len())])
                        .collect();
                    parts.join("/")
                })
                .collect();
            let Ok(list) = ProtectedPaths::new(&patterns, "k") else {
                continue;
            };
            let path: Vec<&str> = (0..1 + next(5)).map(|_| names[next(names.len())]).collect();
            let relative = path.join("/");
            let bytes: Vec<&[u8]> = path.iter().map(|c| c.as_bytes()).collect();
            let want = list
                .globs
                .iter()
                .find(|g| reference(&g.components, &bytes))
                .map(|g| g.text.as_str());
            assert_eq!(list.matching(&relative), want, "{patterns:?} {relative}");
            matched += usize::from(want.is_some());
        }
        // Both outcomes are well represented.
        assert!(matched > 300, "{matched}");
    }

    #[test]
    fn bad_patterns_are_policy_issues() {
        for bad in [
            "", "/etc", "a//b", "a/../b", "./a", "**", "**/*", "*", "a\\b", "a\nb",
        ] {
            let err = ProtectedPaths::new(&[bad.to_owned()], "workspace.deny")
                .err()
                .unwrap_or_default();
            assert_eq!(err.len(), 1, "{bad:?}");
            assert_eq!(err[0].key, "workspace.deny[0]", "{bad:?}");
        }
        let long = "a".repeat(MAX_PATTERN_BYTES + 1);
        assert!(ProtectedPaths::new(&[long], "k").is_err());
        let many: Vec<String> = (0..=MAX_PATTERNS).map(|i| format!("f{i}")).collect();
        assert!(ProtectedPaths::new(&many, "k").is_err());
        assert!(ProtectedPaths::new(&[], "k").is_ok_and(|p| p.is_empty()));
    }
}
