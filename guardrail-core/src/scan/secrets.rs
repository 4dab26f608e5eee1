//! The secret rule pack and its compiled scanner.
//!
//! A rule pack is TOML: an optional `stopwords` list (case-insensitive substrings that mark a
//! placeholder, e.g. `EXAMPLE`, `xxxx`, `${`) and `[[rule]]` tables ([`RuleDef`]). A rule is
//! either a *pattern* rule (a regex run in a window around each keyword hit) or an
//! *assignment* rule (`value`: the regex of a value assigned to an identifier that contains one
//! of the keywords, in any of the usual syntaxes: `K = v`, `K: v`, `"K" => "v"`, `K := v`,
//! `<K>v</K>`, `setProperty("K", "v")`, `--k v`).
//!
//! ```toml
//! [[rule]]
//! id = "github-pat"
//! description = "GitHub personal access token (classic)"
//! keywords = ["ghp_"]
//! pattern = '\b(ghp_[A-Za-z0-9]{36})\b'
//! entropy = 3.0
//! checksum = "github-crc32"
//!
//! [[rule]]
//! id = "adafruit-api-key"
//! description = "Adafruit IO key, assigned to an identifier naming Adafruit"
//! keywords = ["adafruit"]
//! value = '[A-Za-z0-9_-]{32}'
//! ```

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use super::anchor::{self, ANCHOR, Anchors, Keyword, OPERATOR};
use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::util::captures::Captures;
use regex_automata::{Anchored, Input, meta};
use serde::{Deserialize, Serialize};

use self::ident::IdentIndex;
use self::quick::Quick;
use super::decode::{self, Budget, View};
use super::{Encoding, Finding, FindingKind};
use crate::PolicyIssue;

const BUILTIN_PACK: &str = include_str!("../../rules/secrets.toml");
/// Policy keys of the built-in pack's rules start with this; those rules compile lazily.
const BUILTIN_KEY_PREFIX: &str = "builtin.rule.";

/// Largest match a rule may produce (bytes); also what a stream carries across chunks.
pub const MAX_RULE_LEN: usize = 16 * 1024;
/// Largest rule pack file read from disk.
pub const MAX_RULE_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Most rules in one scanner.
pub const MAX_RULES: usize = 4096;
/// Longest keyword accepted.
const MAX_KEYWORD_LEN: usize = 64;
/// Most bytes a rule may look back from its keyword.
const MAX_BEFORE: usize = 4096;
/// Identifier bytes examined on each side of a keyword by assignment rules.
const IDENT_REACH: usize = 64;
/// Bytes an assignment connector may span after the identifier (quote, blanks, type word,
/// operator, blanks, quote).
const CONNECTOR_REACH: usize = 48;
/// Compiled size limit of one rule regex.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Required bytes more common than this (per 100 000 bytes, summed over the set) are not
/// searched for before running a rule.
const MAX_REQUIRE_COST: u32 = 2500;
/// Rule id of the fail-closed finding emitted when the window budget runs out.
pub(crate) const BUDGET_RULE: &str = "scan-budget-exceeded";

fn default_true() -> bool {
    true
}

/// Which rules a [`SecretScanner`] compiles.
///
/// Default: the built-in pack, no extra files, no inline rules, nothing disabled.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRulesConfig {
    /// Start from the built-in rule pack (default `true`).
    #[serde(default = "default_true")]
    pub builtin: bool,
    /// Rule pack files (same format as the built-in pack), applied in order; a rule whose `id`
    /// already exists replaces it.
    #[serde(default)]
    pub extra_files: Vec<PathBuf>,
    /// Inline rules, applied after the files; same replacement rule.
    #[serde(default)]
    pub rules: Vec<RuleDef>,
    /// Rule ids to drop. Naming an id that no rule has is an error.
    #[serde(default)]
    pub disable: Vec<String>,
    /// The text of each of `extra_files` (or why it could not be read), read once when a
    /// policy file is loaded: every scanner built from this configuration (a request's host
    /// grants build another) compiles the same rules, and the policy hash covers them. Empty:
    /// the scanner reads the files itself.
    #[serde(skip)]
    loaded: Vec<(PathBuf, Result<String, String>)>,
}

impl SecretRulesConfig {
    /// Reads `extra_files` now; see the `loaded` field.
    pub(crate) fn load_files(&mut self) {
        self.loaded = self
            .extra_files
            .iter()
            .map(|p| (p.clone(), read_pack_text(p)))
            .collect();
    }

    /// The files read by [`load_files`](Self::load_files), with their text or error.
    pub(crate) fn loaded_files(&self) -> &[(PathBuf, Result<String, String>)] {
        &self.loaded
    }
}

impl Default for SecretRulesConfig {
    fn default() -> Self {
        SecretRulesConfig {
            builtin: true,
            extra_files: Vec::new(),
            rules: Vec::new(),
            disable: Vec::new(),
            loaded: Vec::new(),
        }
    }
}

/// One rule, as written in a rule pack.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    /// Stable id, reported in findings (`[a-z0-9-]`, at most 64 bytes).
    pub id: String,
    /// What the rule finds.
    #[serde(default)]
    pub description: String,
    /// Literals that must occur for the rule to run; at least one, 1 to 64 bytes each.
    /// Pattern rules: matched exactly (or ignoring ASCII case with `ignore_case`); the scan
    /// finds a keyword through its rarest byte, so a keyword should hold a byte that is not a
    /// lowercase letter. Assignment rules: matched ignoring ASCII case inside the identifier
    /// an assignment names.
    pub keywords: Vec<String>,
    /// Pattern rules: match the keywords ignoring ASCII case (each keyword then needs a byte
    /// that is not a letter).
    #[serde(default)]
    pub ignore_case: bool,
    /// Pattern rule: runs at a keyword hit only when the named pattern rule, listed earlier
    /// with the same keyword, reported nothing there (a looser form of the same secret, such
    /// as a key block without its end line). Runs at every hit when the named rule is
    /// disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_for: Option<String>,
    /// Pattern rule: a `regex::bytes` pattern (Unicode off unless `(?u)`). Exactly one of
    /// `pattern` and `value` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Capture group holding the secret: default the group named `secret`, else group 1 when
    /// the pattern has groups, else the whole match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<usize>,
    /// How many bytes before a keyword hit a match may start (pattern rules; default 0, at
    /// most 4096). With a window reaching back, every match starting up to the keyword is
    /// reported (and the first one after it); later matches belong to their own keywords.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<usize>,
    /// Longest match in bytes; required when the regex is unbounded (at most 16 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<usize>,
    /// Assignment rule: the regex of the assigned value, matched at the value's first byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Minimum Shannon entropy of the secret, in bits per byte (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entropy: Option<f64>,
    /// Checks the secret must pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validators: Vec<Validator>,
    /// A checksum that, when it validates, raises the score to 0.99 (a failing checksum keeps
    /// the finding at the rule's score).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<Checksum>,
    /// Case-insensitive substrings that mark a placeholder for this rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Exact values that are published examples, never secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_exact: Vec<String>,
    /// Assignment rules: case-insensitive words that, found in the identifier, mean the value
    /// is not a secret (`public`, `url`, `name`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ident_deny: Vec<String>,
    /// Assignment rules: identifier suffixes (case-insensitive) that mean the value is not a
    /// secret (`id`, `ids`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ident_deny_suffix: Vec<String>,
    /// Assignment rules: accept the keyword after a lowercase letter (`dbpassword`).
    #[serde(default)]
    pub lenient_left: bool,
    /// Apply the pack's stopwords (default `true`).
    #[serde(default = "default_true")]
    pub stopwords: bool,
    /// Score of a finding, `0.0..=1.0` (default 0.9 for pattern rules, 0.8 for assignment
    /// rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
}

/// A check on the secret bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Validator {
    /// Both an uppercase and a lowercase ASCII letter.
    MixedCase,
    /// At least one ASCII digit.
    HasDigit,
    /// At least one ASCII letter.
    HasLetter,
    /// Looks like a machine-made credential: mixed case with a digit, or 32+ hex digits, or a
    /// UUID; not a dotted code reference (`X25519.key_length`).
    GenericShape,
    /// Looks like a password: 6+ bytes, two of lower/upper/digit/symbol, not letters only, not
    /// a reference (`$VAR`, `%VAR%`, `{{ x }}`, `<x>`).
    PasswordShape,
    /// Not a reference to something else (`$VAR`, `${x}`, `%VAR%`, `{{ x }}`, `<x>`, `[X]`).
    NoReference,
    /// Standard base64 whose decoding starts like a JSON Web Token.
    Base64Jwt,
    /// `user:password` (curl `-u`): the password part is a plausible literal.
    UserPassword,
}

/// A checksum embedded in a token format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Checksum {
    /// GitHub and npm token format: the last 6 characters are the base62 CRC32 of the 30
    /// characters before them.
    GithubCrc32,
    /// The first segment of a JWT decodes to a JSON object naming an `alg`.
    JwtHeader,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulePack {
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default, rename = "rule")]
    rules: Vec<RuleDef>,
}

#[derive(Debug)]
enum Kind {
    Pattern {
        re: RuleRegex,
        /// Every match starts with a keyword: search anchored at the keyword hit.
        anchored: bool,
        group: usize,
        before: usize,
        max_len: usize,
        /// Bytes of which every match holds one: a window without any is skipped.
        require: Box<[u8]>,
    },
    Assign {
        re: RuleRegex,
        max_len: usize,
        group: usize,
    },
}

/// A rule's regex. The built-in pack's regexes are compiled on first use: building them all
/// was most of a scanner's start-up (about 70% of the instructions of `guardrail scan
/// /dev/null`), and most texts wake few rules. Rules from your files and inline rules compile
/// when the scanner is built, so a bad one is a policy error, not a scan-time surprise; every
/// built-in regex is compiled by a test.
#[derive(Debug)]
struct RuleRegex {
    pattern: Box<str>,
    captures: bool,
    compiled: OnceLock<Option<meta::Regex>>,
}

impl RuleRegex {
    fn lazy(pattern: &str, captures: bool) -> Self {
        RuleRegex {
            pattern: pattern.into(),
            captures,
            compiled: OnceLock::new(),
        }
    }

    fn ready(pattern: &str, captures: bool, re: meta::Regex) -> Self {
        RuleRegex {
            pattern: pattern.into(),
            captures,
            compiled: OnceLock::from(Some(re)),
        }
    }

    /// The compiled regex; `None` only if compiling failed, which the scan treats like an
    /// exhausted budget (it fails closed).
    fn get(&self) -> Option<&meta::Regex> {
        self.compiled
            .get_or_init(|| build_regex(&self.pattern, self.captures).ok())
            .as_ref()
    }
}

/// The engine under `regex`, used directly: pattern regexes search a span of the text, with
/// look-around seeing the bytes before it; value regexes run on a slice starting at the value.
///
/// Building is what a scan pays for each rule the first time one of its keywords shows up, so
/// only the engines the scan uses are built: the lazy DFA finds every match, a rule whose
/// secret is a capture group resolves it over the match alone (the one-pass DFA where the
/// regex allows it), and no fully compiled DFA is built, since windows are short and the lazy
/// DFA caches the states they need. `captures: false` (the secret is the whole match) builds
/// no capture engine at all.
fn build_regex(pattern: &str, captures: bool) -> Result<meta::Regex, String> {
    let which = if captures {
        WhichCaptures::All
    } else {
        WhichCaptures::Implicit
    };
    meta::Builder::new()
        .configure(
            meta::Config::new()
                .utf8_empty(false)
                .dfa(false)
                .onepass(captures)
                .which_captures(which)
                .nfa_size_limit(Some(REGEX_SIZE_LIMIT)),
        )
        .syntax(
            regex_automata::util::syntax::Config::new()
                .unicode(false)
                .utf8(false),
        )
        .build(pattern)
        .map_err(|e| e.to_string())
}

#[derive(Debug)]
struct Rule {
    id: Arc<str>,
    kind: Kind,
    entropy: f64,
    validators: Vec<Validator>,
    checksum: Option<Checksum>,
    allow: WordSet,
    allow_exact: Vec<Vec<u8>>,
    ident_deny: WordSet,
    ident_deny_suffix: Vec<Vec<u8>>,
    lenient_left: bool,
    stopwords: bool,
    score: f32,
    /// Index of the rule this one stands in for ([`RuleDef::fallback_for`]).
    fallback_for: Option<u32>,
}

/// Case-insensitive substrings, any of which marks a text.
#[derive(Debug)]
struct WordSet(Option<aho_corasick::dfa::DFA>);

impl WordSet {
    fn new(words: &[String]) -> Result<Self, aho_corasick::BuildError> {
        let words: Vec<&[u8]> = words
            .iter()
            .filter(|w| !w.is_empty())
            .map(|w| w.as_bytes())
            .collect();
        if words.is_empty() {
            return Ok(WordSet(None));
        }
        aho_corasick::dfa::DFA::builder()
            .ascii_case_insensitive(true)
            .match_kind(aho_corasick::MatchKind::Standard)
            .start_kind(aho_corasick::StartKind::Unanchored)
            .prefilter(false)
            .build(words)
            .map(|a| WordSet(Some(a)))
    }

    /// Whether a word occurs in `text`. Texts tested are short (a secret, an identifier), so
    /// this is the automaton's own loop: no prefilter, no search set-up. An automaton that
    /// cannot start (it always can: it is built unanchored) reports no word, which keeps a
    /// finding rather than dropping it.
    #[inline]
    fn any_in(&self, text: &[u8]) -> bool {
        use aho_corasick::automaton::Automaton as _;
        let Some(dfa) = &self.0 else {
            return false;
        };
        let Ok(mut sid) = dfa.start_state(aho_corasick::Anchored::No) else {
            return false;
        };
        for &b in text {
            sid = dfa.next_state(aho_corasick::Anchored::No, sid, b);
            if dfa.is_special(sid) && dfa.is_match(sid) {
                return true;
            }
        }
        false
    }
}

/// The compiled rule pack. Build once, share across threads (`Send + Sync`).
#[derive(Debug)]
pub struct SecretScanner {
    /// Keywords of pattern rules, found through their anchor bytes.
    anchors: Anchors,
    /// Keywords of assignment rules, searched inside identifiers (ASCII case-insensitive).
    ident: IdentIndex,
    /// Rules owning each identifier keyword, by keyword id.
    ident_rules: Vec<Vec<u32>>,
    rules: Vec<Rule>,
    /// Per byte: [`decode::view_class`], plus [`SHORT_MARKED`] for a marked byte; what the loop
    /// over a short text reads.
    short_class: [u8; 256],
    /// Per byte: [`decode::view_lanes`], plus a count in the lane above them for an
    /// assignment operator; what the precheck sums.
    quick_lanes: [u64; 256],
    /// The whole-text precheck for short texts, built on first use (a scan of long tool output
    /// never needs it); `None` inside when it cannot be built.
    quick: OnceLock<Option<Quick>>,
    /// The packs' stopwords: a secret holding one is a placeholder.
    stop: WordSet,
    reach: usize,
    budget_rule: Arc<str>,
}

/// A finding before merging.
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    pub(crate) rule: u32,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) score: f32,
    pub(crate) encoding: Option<Encoding>,
}

const BUDGET_RULE_IDX: u32 = u32::MAX;

impl Raw {
    /// The finding that fails a scan closed from `start` to `end`: the window budget ran out,
    /// or a rule's regex could not be compiled. It is reported as [`BUDGET_RULE`].
    fn fail_closed(start: usize, end: usize) -> Raw {
        Raw {
            rule: BUDGET_RULE_IDX,
            start,
            end,
            score: 1.0,
            encoding: None,
        }
    }
}
/// Texts shorter than this are read a byte at a time rather than in blocks of 16.
const SHORT_TEXT: usize = 64;
/// The bit of `short_class` that marks a byte.
const SHORT_MARKED: u8 = 0x80;
/// Where `quick_lanes` counts assignment operators.
const QUICK_OPERATOR_LANE: u32 = decode::LANE_BITS * decode::VIEW_LANES;
/// Longest text the whole-text precheck ([`Quick`]) runs on.
const QUICK_MAX: usize = 256;
const _: () = assert!(QUICK_MAX < 1 << decode::LANE_BITS, "lanes would overflow");
const _: () = assert!(
    QUICK_OPERATOR_LANE + decode::LANE_BITS <= 64,
    "the precheck needs a lane above the decoding classes"
);

/// Per-call scratch of [`SecretScanner::collect`].
struct ScanState {
    budget: usize,
    locs: Vec<(u32, Captures)>,
    exhausted: bool,
}

impl SecretScanner {
    /// The built-in rule pack alone.
    pub fn builtin() -> Result<Self, Vec<PolicyIssue>> {
        Self::new(&SecretRulesConfig::default())
    }

    /// Compiles the rules `config` selects. Reports every problem (unreadable files, bad
    /// regexes, unbounded patterns without `max_len`, unknown ids in `disable`), not only the
    /// first.
    pub fn new(config: &SecretRulesConfig) -> Result<Self, Vec<PolicyIssue>> {
        let mut issues = Vec::new();
        let mut defs: Vec<(String, RuleDef)> = Vec::new();
        let mut stopwords: Vec<String> = Vec::new();
        let add = |defs: &mut Vec<(String, RuleDef)>, key: String, def: RuleDef| {
            if let Some(slot) = defs.iter_mut().find(|(_, d)| d.id == def.id) {
                *slot = (key, def);
            } else {
                defs.push((key, def));
            }
        };
        if config.builtin {
            match toml::from_str::<RulePack>(BUILTIN_PACK) {
                Ok(pack) => {
                    stopwords.extend(pack.stopwords);
                    for d in pack.rules {
                        add(&mut defs, format!("{BUILTIN_KEY_PREFIX}{}", d.id), d);
                    }
                }
                Err(e) => issues.push(PolicyIssue::new("secrets.builtin", e.to_string())),
            }
        }
        for (fi, path) in config.extra_files.iter().enumerate() {
            let key = format!("secrets.extra_files[{fi}]");
            let text = match config.loaded.iter().find(|(p, _)| p == path) {
                Some((_, text)) => text.clone(),
                None => read_pack_text(path),
            };
            match text.and_then(|t| parse_pack(path, &t)) {
                Ok(pack) => {
                    stopwords.extend(pack.stopwords);
                    for (i, d) in pack.rules.into_iter().enumerate() {
                        add(&mut defs, format!("{key}.rule[{i}]({})", d.id), d);
                    }
                }
                Err(msg) => issues.push(PolicyIssue::new(key, msg)),
            }
        }
        for (i, d) in config.rules.iter().enumerate() {
            add(&mut defs, format!("secrets.rules[{i}]"), d.clone());
        }
        let known: HashSet<String> = defs.iter().map(|(_, d)| d.id.clone()).collect();
        for (i, id) in config.disable.iter().enumerate() {
            let before = defs.len();
            defs.retain(|(_, d)| &d.id != id);
            if defs.len() == before {
                issues.push(PolicyIssue::new(
                    format!("secrets.disable[{i}]"),
                    format!("no rule has id `{}`", clip(id)),
                ));
            }
        }
        if defs.len() > MAX_RULES {
            issues.push(PolicyIssue::new(
                "secrets",
                format!("more than {MAX_RULES} rules"),
            ));
        }

        let mut rules = Vec::with_capacity(defs.len());
        let mut pattern_kws: Vec<Keyword> = Vec::new();
        let mut pattern_index: HashMap<(Vec<u8>, bool), usize> = HashMap::new();
        let mut ident_index: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut ident_kws: Vec<Vec<u8>> = Vec::new();
        let mut ident_rules: Vec<Vec<u32>> = Vec::new();
        let mut kw_owner: Vec<String> = Vec::new();
        let mut reach = 0usize;
        for ((key, def), (compiled, rule_issues)) in defs.iter().zip(compile_all(&defs)) {
            issues.extend(rule_issues);
            let Some((rule, rule_reach)) = compiled else {
                continue;
            };
            let Ok(idx) = u32::try_from(rules.len()) else {
                continue;
            };
            let is_assign = matches!(rule.kind, Kind::Assign { .. });
            for kw in &def.keywords {
                if is_assign {
                    let lower = kw.as_bytes().to_ascii_lowercase();
                    let slot = *ident_index.entry(lower.clone()).or_insert_with(|| {
                        ident_kws.push(lower);
                        ident_rules.push(Vec::new());
                        ident_rules.len() - 1
                    });
                    if let Some(list) = ident_rules.get_mut(slot) {
                        list.push(idx);
                    }
                } else {
                    let bytes = kw.as_bytes().to_vec();
                    let k = (bytes.clone(), def.ignore_case);
                    let slot = *pattern_index.entry(k).or_insert_with(|| {
                        pattern_kws.push(Keyword {
                            bytes,
                            ignore_case: def.ignore_case,
                            rules: Vec::new(),
                        });
                        kw_owner.push(key.clone());
                        pattern_kws.len() - 1
                    });
                    if let Some(k) = pattern_kws.get_mut(slot) {
                        k.rules.push(idx);
                    }
                }
            }
            reach = reach.max(rule_reach);
            rules.push(rule);
        }
        resolve_fallbacks(&defs, &mut rules, &known, &mut issues);
        let anchors = match Anchors::new(pattern_kws, b"=:>,") {
            Ok(a) => Some(a),
            Err(ki) => {
                issues.push(PolicyIssue::new(
                    format!(
                        "{}.keywords",
                        kw_owner.get(ki).map_or("secrets", String::as_str)
                    ),
                    "a keyword matched ignoring case needs a byte that is not a letter",
                ));
                None
            }
        };
        let stop = match WordSet::new(&stopwords) {
            Ok(w) => w,
            Err(e) => {
                issues.push(PolicyIssue::new("secrets.stopwords", e.to_string()));
                WordSet(None)
            }
        };
        match anchors {
            Some(anchors) if issues.is_empty() => Ok(SecretScanner {
                short_class: std::array::from_fn(|b| {
                    let marked = anchors.marks.get(b).is_some_and(|&m| m != 0);
                    decode::view_class(b as u8) | if marked { SHORT_MARKED } else { 0 }
                }),
                quick_lanes: std::array::from_fn(|b| {
                    let operator = anchors.marks.get(b).is_some_and(|&m| m & OPERATOR != 0);
                    decode::view_lanes(b as u8) | u64::from(operator) << QUICK_OPERATOR_LANE
                }),
                quick: OnceLock::new(),
                anchors,
                ident: IdentIndex::new(ident_kws),
                ident_rules,
                rules,
                stop,
                reach: reach + MAX_KEYWORD_LEN + 2,
                budget_rule: Arc::from(BUDGET_RULE),
            }),
            _ => Err(issues),
        }
    }

    /// Compiles every rule regex not compiled yet. The built-in pack's regexes otherwise
    /// compile on first use, which suits a command that scans one text; a service calls this
    /// at start so that no request pays for a compile.
    pub fn compile_rules(&self) {
        let _ = self.quick();
        for rule in &self.rules {
            let (Kind::Pattern { re, .. } | Kind::Assign { re, .. }) = &rule.kind;
            let _ = re.get();
        }
    }

    /// Number of rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Ids of the compiled rules, in pack order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| &*r.id)
    }

    /// The most bytes any finding depends on around itself: a finding's existence is decided
    /// by the bytes within `reach` of it. [`StreamScanner`](super::StreamScanner) carries this
    /// many bytes across chunks.
    pub fn reach(&self) -> usize {
        self.reach
    }

    /// Secrets in `text`, sorted by start, merged so that no two overlap (the merged finding
    /// keeps the rule of its highest-scoring part).
    pub fn scan(&self, text: &[u8]) -> Vec<Finding> {
        self.scan_prechecked(self.quick(), text)
    }

    /// [`scan`](Self::scan) for a stream: the short-text precheck runs only if something
    /// already built it. A stream meets a short text once at most (an input shorter than the
    /// precheck's bound), which does not repay building the precheck's automaton.
    pub(crate) fn scan_in_stream(&self, text: &[u8]) -> Vec<Finding> {
        self.scan_prechecked(self.quick.get().and_then(Option::as_ref), text)
    }

    fn scan_prechecked(&self, quick: Option<&Quick>, text: &[u8]) -> Vec<Finding> {
        if self.precheck(quick, text).is_some() {
            return Vec::new();
        }
        let mut raw = Vec::new();
        self.collect(text, &mut raw);
        self.merge(raw)
    }

    /// [`scan`](Self::scan) plus base64, hex and percent-encoded views of `text` (and one more
    /// level inside those); a secret found in a view is reported at the span of the encoded
    /// bytes, with [`Finding::encoding`] set.
    pub fn scan_with_decodings(&self, text: &[u8]) -> Vec<Finding> {
        match self.precheck(self.quick(), text) {
            Some(lanes) if !decode::may_have_views_given(text, lanes) => return Vec::new(),
            Some(_) => {
                // No rule matches the text itself, so only a decoded view could hold a
                // finding; and a short text that may be encoded mostly decodes to nothing (a
                // path's letters and slashes are base64's alphabet). With no view, the full
                // scan below would find nothing either.
                let mut views = Vec::new();
                let mut budget = Budget::new(text.len());
                decode::views(text, None, &mut budget, &mut views);
                if views.is_empty() && budget.exhausted_at().is_none() {
                    return Vec::new();
                }
            }
            None => {}
        }
        let mut raw = Vec::new();
        self.collect_with_decodings(text, &mut raw, &mut |_, _| {});
        self.merge(raw)
    }

    /// The short-text precheck, built on first use.
    fn quick(&self) -> Option<&Quick> {
        self.quick
            .get_or_init(|| Quick::new(&self.anchors.keywords, &self.rules, self.ident.keywords()))
            .as_ref()
    }

    /// Whether `quick`, the precheck, proves that no rule can match a short `text` itself:
    /// then the sum of its bytes' view lanes, from which [`decode::may_have_views_given`]
    /// tells whether a decoded view of it may exist; `None` when nothing is proven.
    fn precheck(&self, quick: Option<&Quick>, text: &[u8]) -> Option<u64> {
        if text.len() > QUICK_MAX {
            return None;
        }
        let (lanes, ident) = quick?.walk(text, &self.quick_lanes)?;
        if ident && lanes >> QUICK_OPERATOR_LANE != 0 {
            return None;
        }
        Some(lanes & ((1 << QUICK_OPERATOR_LANE) - 1))
    }

    /// Scans `text` and its decoded views, calling `seen(raw, secret_bytes)` with the plain
    /// secret bytes of every raw finding (decoded when it came from a view). Returns the views
    /// (two levels deep), for callers that look for more in them.
    pub(crate) fn collect_with_decodings(
        &self,
        text: &[u8],
        raw: &mut Vec<Raw>,
        seen: &mut dyn FnMut(&Raw, &[u8]),
    ) -> Vec<View> {
        let first = raw.len();
        let summary = self.collect_summarized(text, raw);
        for r in raw.get(first..).unwrap_or(&[]) {
            // A fail-closed span is not a secret: it is not handed on as one.
            if r.rule == BUDGET_RULE_IDX {
                continue;
            }
            if let Some(s) = text.get(r.start..r.end) {
                seen(r, s);
            }
        }
        let views_possible = match summary {
            Some(s) => s.may_have_views(text),
            None => decode::may_have_views(text),
        };
        if !views_possible {
            return Vec::new();
        }
        let mut budget = Budget::new(text.len());
        let mut views: Vec<View> = Vec::new();
        decode::views(text, None, &mut budget, &mut views);
        let mut depth2: Vec<View> = Vec::new();
        for v in &views {
            decode::views(&v.bytes, Some(v), &mut budget, &mut depth2);
        }
        views.append(&mut depth2);
        // Decodable text left undecoded (a limit ran out) fails closed from where it starts.
        if let Some(at) = budget.exhausted_at() {
            raw.push(Raw::fail_closed(at.min(text.len()), text.len()));
        }
        for v in &views {
            let mut inner = Vec::new();
            self.collect(&v.bytes, &mut inner);
            for r in inner {
                if r.rule == BUDGET_RULE_IDX {
                    // The view's scan ran out: fail closed from where that happened.
                    let at = decode::origin(Some(v), r.start);
                    raw.push(Raw::fail_closed(at.min(text.len()), text.len()));
                    continue;
                }
                let Some((start, end)) = v.map_span(r.start, r.end) else {
                    continue;
                };
                let mapped = Raw {
                    rule: r.rule,
                    start,
                    end,
                    score: r.score,
                    encoding: Some(v.encoding),
                };
                if let Some(s) = v.bytes.get(r.start..r.end) {
                    seen(&mapped, s);
                }
                raw.push(mapped);
            }
        }
        views
    }

    /// Merges raw findings into sorted, non-overlapping findings.
    pub(crate) fn merge(&self, mut raw: Vec<Raw>) -> Vec<Finding> {
        if raw.is_empty() {
            return Vec::new();
        }
        // Equal spans: the highest score first, then plain before decoded, then the lowest
        // rule index, so the result does not depend on the order the scan met the rules in.
        raw.sort_by(|a, b| {
            a.start
                .cmp(&b.start)
                .then(b.end.cmp(&a.end))
                .then(b.score.total_cmp(&a.score))
                .then(a.encoding.is_some().cmp(&b.encoding.is_some()))
                .then(a.rule.cmp(&b.rule))
        });
        let mut out: Vec<Finding> = Vec::with_capacity(raw.len());
        let mut cur: Option<Raw> = None;
        for r in raw {
            match cur.as_mut() {
                Some(c) if r.start < c.end => {
                    c.end = c.end.max(r.end);
                    if r.score > c.score {
                        c.rule = r.rule;
                        c.score = r.score;
                        c.encoding = r.encoding;
                    }
                }
                _ => {
                    if let Some(c) = cur.take() {
                        out.push(self.finish(c));
                    }
                    cur = Some(r);
                }
            }
        }
        if let Some(c) = cur {
            out.push(self.finish(c));
        }
        out
    }

    fn finish(&self, r: Raw) -> Finding {
        let rule = match self.rules.get(r.rule as usize) {
            Some(rule) => rule.id.clone(),
            None => self.budget_rule.clone(),
        };
        Finding {
            rule,
            kind: FindingKind::Secret,
            start: r.start,
            end: r.end,
            score: r.score,
            encoding: r.encoding,
        }
    }

    /// Raw findings of the plain text.
    pub(crate) fn collect(&self, text: &[u8], out: &mut Vec<Raw>) {
        self.collect_summarized(text, out);
    }

    /// [`collect`](Self::collect); for a short text, also the summary the same pass gathers
    /// for [`decode::may_have_views`].
    fn collect_summarized(&self, text: &[u8], out: &mut Vec<Raw>) -> Option<decode::Summary> {
        let mut st = ScanState {
            budget: text.len().saturating_mul(64).saturating_add(1 << 20),
            locs: Vec::new(),
            exhausted: false,
        };
        if text.len() < SHORT_TEXT {
            let mut summary = decode::Summary::default();
            for (p, &b) in text.iter().enumerate() {
                let c = self.short_class.get(usize::from(b)).copied().unwrap_or(0);
                summary.add(c);
                if c & SHORT_MARKED != 0 && self.at_marked(text, p, &mut st, out) {
                    return None;
                }
            }
            return Some(summary);
        }
        let marks = &self.anchors.marks;
        let marked = &self.anchors.marked;
        // 64 bytes a block, so that the loop over a block's marked bytes ends (a branch that
        // is hard to predict) once per 64 bytes; its bits are made 16 bytes at a time.
        let mut blocks = text.chunks_exact(64);
        let mut base = 0usize;
        for block in &mut blocks {
            let mut bits = 0u64;
            for (j, quarter) in block.chunks_exact(16).enumerate() {
                let mut q = 0u32;
                for (k, &b) in quarter.iter().enumerate() {
                    q |= u32::from(marked.get(usize::from(b)).copied().unwrap_or(0)) << k;
                }
                bits |= u64::from(q) << (16 * j);
            }
            while bits != 0 {
                let k = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if self.at(text, base + k, &mut st, out) {
                    return None;
                }
            }
            base += 64;
        }
        for (k, &b) in blocks.remainder().iter().enumerate() {
            if marks.get(usize::from(b)).copied().unwrap_or(0) != 0
                && self.at(text, base + k, &mut st, out)
            {
                return None;
            }
        }
        None
    }

    /// A marked byte at `p`; returns true when the window budget ran out.
    #[inline(always)]
    fn at(&self, text: &[u8], p: usize, st: &mut ScanState, out: &mut Vec<Raw>) -> bool {
        let mark = text
            .get(p)
            .and_then(|&b| self.anchors.marks.get(usize::from(b)))
            .copied()
            .unwrap_or(0);
        if mark & ANCHOR != 0 && self.anchors.maybe(text, p, mark) {
            self.keyword_hits(text, p, st, out);
        }
        if mark & OPERATOR != 0
            && let Some(left) = assignment_left(text, p, &self.ident)
            && left.may_hold_keyword
            && left.ident_end - left.ident_start >= self.ident.min_len
        {
            self.assignment(text, &left, out);
        }
        st.exhausted
    }

    /// [`at`](Self::at), not inlined: for short texts, where marked bytes are few and the
    /// loop over the others should stay small.
    #[inline(never)]
    fn at_marked(&self, text: &[u8], p: usize, st: &mut ScanState, out: &mut Vec<Raw>) -> bool {
        self.at(text, p, st, out)
    }

    /// Runs the pattern rules of the keywords anchored at `p`.
    #[inline(never)]
    fn keyword_hits(&self, text: &[u8], p: usize, st: &mut ScanState, out: &mut Vec<Raw>) {
        {
            self.anchors.at(text, p, &mut |kw, ks| {
                if st.exhausted {
                    return;
                }
                let ke = ks + kw.bytes.len();
                // Rules of this keyword that reported something at this hit (by position).
                let mut reported = 0u64;
                for (j, &ri) in kw.rules.iter().enumerate() {
                    let Some(rule) = self.rules.get(ri as usize) else {
                        continue;
                    };
                    if let Some(primary) = rule.fallback_for
                        && kw
                            .rules
                            .iter()
                            .position(|&r| r == primary)
                            .is_some_and(|pj| pj < 64 && reported & (1 << pj) != 0)
                    {
                        continue;
                    }
                    let found_before = out.len();
                    let Kind::Pattern {
                        re,
                        anchored,
                        group,
                        before,
                        max_len,
                        require,
                    } = &rule.kind
                    else {
                        continue;
                    };
                    let ws = ks.saturating_sub(*before);
                    let we = text
                        .len()
                        .min(ke.saturating_add(*max_len).saturating_add(1));
                    let cost = we.saturating_sub(ws);
                    // A regex that cannot be compiled fails the scan closed, like the budget.
                    let compiled = if cost > st.budget { None } else { re.get() };
                    let Some(re) = compiled else {
                        out.push(Raw::fail_closed(ks, text.len()));
                        st.exhausted = true;
                        return;
                    };
                    st.budget -= cost;
                    let Some(hay) = text.get(..we) else { continue };
                    if !has_any(hay.get(ws..).unwrap_or(&[]), require) {
                        continue;
                    }
                    self.run_pattern(
                        ri,
                        rule,
                        re,
                        *group,
                        ws,
                        *anchored,
                        (*before > 0).then_some(ks),
                        hay,
                        &mut st.locs,
                        out,
                    );
                    if out.len() > found_before && j < 64 {
                        reported |= 1 << j;
                    }
                }
            });
        }
    }

    /// An assignment whose identifier may hold a keyword: find its keywords and test the
    /// owning rules' values.
    #[inline(never)]
    fn assignment(&self, text: &[u8], left: &Left, out: &mut Vec<Raw>) {
        let Some(ident) = text.get(left.ident_start..left.ident_end) else {
            return;
        };
        let mut conn: Option<Conn> = None;
        self.ident.find(ident, &mut |kw, s, e| {
            let c = *conn.get_or_insert_with(|| assignment_value(text, left));
            self.assigned(text, ident, &c, kw, s, e, out);
        });
    }

    /// The rules owning identifier keyword `kw`, found at `s..e` of `ident`, tested on the
    /// value of `c`.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call site; a struct would only rename the arguments"
    )]
    #[inline(never)]
    fn assigned(
        &self,
        text: &[u8],
        ident: &[u8],
        c: &Conn,
        kw: u32,
        s: usize,
        e: usize,
        out: &mut Vec<Raw>,
    ) {
        let (ks, ke) = (c.ident_start + s, c.ident_start + e);
        let Some(owners) = self.ident_rules.get(kw as usize) else {
            return;
        };
        for &ri in owners {
            let Some(rule) = self.rules.get(ri as usize) else {
                continue;
            };
            let Kind::Assign { re, max_len, group } = &rule.kind else {
                continue;
            };
            if !keyword_bounded(text, ks, ke, rule.lenient_left) {
                continue;
            }
            if rule.ident_deny.any_in(ident)
                || rule
                    .ident_deny_suffix
                    .iter()
                    .any(|w| ends_with_ci(ident, w))
            {
                continue;
            }
            let v = c.value_start;
            let end = text.len().min(v.saturating_add(*max_len));
            let Some(hay) = text.get(v..end) else {
                continue;
            };
            let Some(re) = re.get() else {
                out.push(Raw::fail_closed(ks, text.len()));
                return;
            };
            let span = if *group == 0 {
                re.find(hay).map(|m| (m.start(), m.end(), m.end()))
            } else {
                let mut caps = re.create_captures();
                re.captures(hay, &mut caps);
                let whole = caps.get_match();
                caps.get_group(*group)
                    .zip(whole)
                    .map(|(g, whole)| (g.start, g.end, whole.end()))
            };
            let Some((s, e, whole_end)) = span else {
                continue;
            };
            if !value_terminated(text, v + whole_end, c.quote) {
                continue;
            }
            self.accept(ri, rule, text, v + s, v + e, out);
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one hot call site; a struct would only rename the arguments"
    )]
    fn run_pattern(
        &self,
        ri: u32,
        rule: &Rule,
        re: &meta::Regex,
        group: usize,
        ws: usize,
        anchored: bool,
        until: Option<usize>,
        hay: &[u8],
        locs: &mut Vec<(u32, Captures)>,
        out: &mut Vec<Raw>,
    ) {
        let mode = if anchored {
            Anchored::Yes
        } else {
            Anchored::No
        };
        let mut pos = ws;
        while pos <= hay.len() {
            // The span starts at `pos`; look-around still sees the bytes before it.
            let input = Input::new(hay).range(pos..).anchored(mode);
            let span = if group == 0 {
                re.find(input)
                    .map(|m| (m.start(), m.end(), m.end(), m.start()))
            } else {
                let at = match locs.iter().position(|(r, _)| *r == ri) {
                    Some(i) => i,
                    None => {
                        locs.push((ri, re.create_captures()));
                        locs.len() - 1
                    }
                };
                let Some((_, caps)) = locs.get_mut(at) else {
                    return;
                };
                // The DFA finds the match; captures then run over the match alone, anchored.
                match re.find(input) {
                    Some(m) => {
                        let exact = Input::new(hay)
                            .range(m.start()..m.end())
                            .anchored(Anchored::Yes);
                        re.search_captures(&exact, caps);
                        caps.get_group(group)
                            .map(|g| (g.start, g.end, m.end(), m.start()))
                    }
                    None => None,
                }
            };
            let Some((s, e, whole_end, whole_start)) = span else {
                return;
            };
            if e > s {
                self.accept(ri, rule, hay, s, e, out);
            }
            pos = if whole_end > whole_start {
                whole_end
            } else {
                whole_end + 1
            };
            // A window that starts before its keyword holds every match that may contain the
            // keyword; one starting after it is found from its own keyword.
            match until {
                Some(ks) if pos <= ks && pos < hay.len() => {}
                _ => return,
            }
        }
    }

    fn accept(&self, ri: u32, rule: &Rule, text: &[u8], s: usize, e: usize, out: &mut Vec<Raw>) {
        let Some(secret) = text.get(s..e) else { return };
        if rule.allow_exact.iter().any(|a| a.as_slice() == secret) {
            return;
        }
        if rule.stopwords && self.stop.any_in(secret) {
            return;
        }
        if rule.allow.any_in(secret) {
            return;
        }
        if rule.entropy > 0.0 && entropy_below(secret, rule.entropy) {
            return;
        }
        if !rule.validators.iter().all(|v| validate(*v, secret)) {
            return;
        }
        let score = match rule.checksum {
            Some(c) if checksum_ok(c, secret) => rule.score.max(0.99),
            _ => rule.score,
        };
        out.push(Raw {
            rule: ri,
            start: s,
            end: e,
            score,
            encoding: None,
        });
    }
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

fn read_pack_text(path: &std::path::Path) -> Result<String, String> {
    let read_err = |e: std::io::Error| format!("cannot read `{}`: {e}", path.display());
    let file = std::fs::File::open(path).map_err(read_err)?;
    let bytes = crate::open::read_bounded(file, MAX_RULE_FILE_BYTES).map_err(|e| {
        if e.kind() == std::io::ErrorKind::FileTooLarge {
            format!(
                "`{}` is larger than {MAX_RULE_FILE_BYTES} bytes",
                path.display()
            )
        } else {
            read_err(e)
        }
    })?;
    String::from_utf8(bytes).map_err(|_| {
        format!(
            "cannot read `{}`: stream did not contain valid UTF-8",
            path.display()
        )
    })
}

fn parse_pack(path: &std::path::Path, text: &str) -> Result<RulePack, String> {
    toml::from_str(text).map_err(|e| format!("`{}`: {e}", path.display()))
}

/// What compiling one rule gave: the rule and its reach, or nothing, and its problems.
type Compiled = (Option<(Rule, usize)>, Vec<PolicyIssue>);

/// Most threads [`compile_all`] uses.
const MAX_COMPILE_THREADS: usize = 4;

/// Compiles every rule of `defs`, in order. Building the regexes is most of the time it takes
/// to set up a scanner, so the rules are shared out over up to [`MAX_COMPILE_THREADS`]
/// threads (the available cores); when no thread can be started the calling thread compiles
/// them all. The result does not depend on how the work was shared.
fn compile_all(defs: &[(String, RuleDef)]) -> Vec<Compiled> {
    use std::sync::atomic::{AtomicUsize, Ordering};

    let next = AtomicUsize::new(0);
    let work = || {
        let mut done: Vec<(usize, Compiled)> = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some((key, def)) = defs.get(i) else {
                return done;
            };
            let mut issues = Vec::new();
            let rule = compile_rule(key, def, &mut issues);
            done.push((i, (rule, issues)));
        }
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(MAX_COMPILE_THREADS)
        .min(defs.len() / 16)
        .max(1);
    let mut done = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| std::thread::Builder::new().spawn_scoped(scope, work).ok())
            .collect();
        let mut done = work();
        for helper in helpers {
            match helper.join() {
                Ok(part) => done.extend(part),
                // Compiling a rule never panics; if it did, it would have on one thread too.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        done
    });
    // Every index was taken exactly once.
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, compiled)| compiled).collect()
}

fn compile_rule(key: &str, def: &RuleDef, issues: &mut Vec<PolicyIssue>) -> Option<(Rule, usize)> {
    let start_issues = issues.len();
    let id_ok = !def.id.is_empty()
        && def.id.len() <= 64
        && def
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !id_ok {
        issues.push(PolicyIssue::new(
            format!("{key}.id"),
            "must be 1 to 64 bytes of [a-z0-9-]",
        ));
    }
    if def.keywords.is_empty() {
        issues.push(PolicyIssue::new(
            format!("{key}.keywords"),
            "at least one keyword is required",
        ));
    }
    for (i, k) in def.keywords.iter().enumerate() {
        if k.is_empty() || k.len() > MAX_KEYWORD_LEN || !k.is_ascii() {
            issues.push(PolicyIssue::new(
                format!("{key}.keywords[{i}]"),
                format!("must be 1 to {MAX_KEYWORD_LEN} ASCII bytes"),
            ));
        }
    }
    if let Some(s) = def.score
        && !(0.0..=1.0).contains(&s)
    {
        issues.push(PolicyIssue::new(
            format!("{key}.score"),
            "must be within 0.0..=1.0",
        ));
    }
    if let Some(e) = def.entropy
        && !(0.0..=8.0).contains(&e)
    {
        issues.push(PolicyIssue::new(
            format!("{key}.entropy"),
            "must be within 0.0..=8.0",
        ));
    }
    let before = def.before.unwrap_or(0);
    if before > MAX_BEFORE {
        issues.push(PolicyIssue::new(
            format!("{key}.before"),
            format!("must be at most {MAX_BEFORE}"),
        ));
    }
    let (src, is_value) = match (&def.pattern, &def.value) {
        (Some(p), None) => (p.as_str(), false),
        (None, Some(v)) => (v.as_str(), true),
        _ => {
            issues.push(PolicyIssue::new(
                key,
                "exactly one of `pattern` and `value` is required",
            ));
            return None;
        }
    };
    if is_value && (def.before.is_some() || def.ignore_case) {
        issues.push(PolicyIssue::new(
            key,
            "`before` and `ignore_case` apply to pattern rules only",
        ));
    }
    let field = if is_value { "value" } else { "pattern" };
    // The syntax as the compiled regex reads it (bytes, no Unicode unless `(?u)`): a lazily
    // compiled rule that would not compile is refused here, at load; its longest match is
    // counted in the bytes the regex matches, and its groups are numbered as the regex will
    // number them (the `\A(?:...)` wrapper of a value adds none).
    let parsed = match hir::parse(src) {
        Ok(parsed) => parsed,
        Err(e) => {
            issues.push(PolicyIssue::new(
                format!("{key}.{field}"),
                format!("invalid regex: {e}"),
            ));
            return None;
        }
    };
    let max_len = match (parsed.properties().maximum_len(), def.max_len) {
        (_, Some(m)) => Some(m),
        (Some(m), None) => Some(m),
        (None, None) => {
            issues.push(PolicyIssue::new(
                format!("{key}.{field}"),
                "the regex is unbounded: set `max_len`",
            ));
            None
        }
    };
    if let Some(m) = max_len
        && (m == 0 || m > MAX_RULE_LEN)
    {
        issues.push(PolicyIssue::new(
            format!("{key}.max_len"),
            format!("the longest match must be 1..={MAX_RULE_LEN} bytes"),
        ));
    }
    let max_len = max_len?;
    if issues.len() > start_issues {
        return None;
    }
    let max_len = max_len.min(MAX_RULE_LEN);
    let kw_max = def.keywords.iter().map(String::len).max().unwrap_or(0);
    let captures_len = parsed.properties().explicit_captures_len() + 1;
    let group = match def.group {
        Some(g) => {
            if g >= captures_len {
                issues.push(PolicyIssue::new(
                    format!("{key}.group"),
                    "no such capture group",
                ));
                return None;
            }
            g
        }
        None => match hir::named_group(&parsed, "secret") {
            Some(i) => i,
            None if !is_value && captures_len > 1 => 1,
            None => 0,
        },
    };
    // A group that is the whole match needs no capture search.
    let group = if group > 0 && hir::group_spans_match(&parsed, group) {
        0
    } else {
        group
    };
    let anchored;
    let pat = if is_value {
        anchored = format!(r"\A(?:{src})");
        anchored.as_str()
    } else {
        src
    };
    let captures = group > 0;
    let re = if key.starts_with(BUILTIN_KEY_PREFIX) {
        RuleRegex::lazy(pat, captures)
    } else {
        match build_regex(pat, captures) {
            Ok(re) => RuleRegex::ready(pat, captures, re),
            Err(e) => {
                issues.push(PolicyIssue::new(
                    format!("{key}.{field}"),
                    format!("invalid regex: {e}"),
                ));
                return None;
            }
        }
    };
    let (kind, reach) = if is_value {
        let reach = IDENT_REACH + kw_max + IDENT_REACH + CONNECTOR_REACH + max_len + 16;
        (Kind::Assign { re, max_len, group }, reach)
    } else {
        let require = rarest_requirement(&parsed, def);
        let anchored = before == 0 && hir::starts_with_keyword(&parsed, &def.keywords);
        (
            Kind::Pattern {
                re,
                anchored,
                group,
                before,
                max_len,
                require,
            },
            before + kw_max + max_len + 2,
        )
    };
    let lower = |v: &[String]| -> Vec<Vec<u8>> {
        v.iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.as_bytes().to_ascii_lowercase())
            .collect()
    };
    let words = |field: &str, v: &[String], issues: &mut Vec<PolicyIssue>| match WordSet::new(v) {
        Ok(w) => Some(w),
        Err(e) => {
            issues.push(PolicyIssue::new(format!("{key}.{field}"), e.to_string()));
            None
        }
    };
    let (Some(allow), Some(ident_deny)) = (
        words("allow", &def.allow, issues),
        words("ident_deny", &def.ident_deny, issues),
    ) else {
        return None;
    };
    let rule = Rule {
        id: Arc::from(def.id.as_str()),
        kind,
        entropy: def.entropy.unwrap_or(0.0),
        validators: def.validators.clone(),
        checksum: def.checksum,
        allow,
        allow_exact: def
            .allow_exact
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect(),
        ident_deny,
        ident_deny_suffix: lower(&def.ident_deny_suffix),
        lenient_left: def.lenient_left,
        stopwords: def.stopwords,
        score: def.score.unwrap_or(if is_value { 0.8 } else { 0.9 }),
        fallback_for: None,
    };
    Some((rule, reach))
}

/// Points each rule with `fallback_for` at the rule it stands in for: an earlier pattern rule
/// sharing one of its keywords. A disabled rule leaves its fallback running at every hit.
fn resolve_fallbacks(
    defs: &[(String, RuleDef)],
    rules: &mut [Rule],
    known: &HashSet<String>,
    issues: &mut Vec<PolicyIssue>,
) {
    let index: HashMap<Arc<str>, usize> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.clone(), i))
        .collect();
    for (key, def) in defs {
        let Some(name) = def.fallback_for.as_deref() else {
            continue;
        };
        let Some(&me) = index.get(def.id.as_str()) else {
            continue;
        };
        let Some(&primary) = index.get(name) else {
            if !known.contains(name) {
                issues.push(PolicyIssue::new(
                    format!("{key}.fallback_for"),
                    format!("no rule has id `{}`", clip(name)),
                ));
            }
            continue;
        };
        let shares_keyword = defs
            .iter()
            .find(|(_, d)| d.id == name)
            .is_some_and(|(_, d)| {
                d.pattern.is_some() && d.keywords.iter().any(|k| def.keywords.contains(k))
            });
        if def.pattern.is_none() || !shares_keyword || primary >= me {
            issues.push(PolicyIssue::new(
                format!("{key}.fallback_for"),
                format!(
                    "`{}` must be a pattern rule listed earlier with a keyword of this one",
                    clip(name)
                ),
            ));
            continue;
        }
        if let (Some(rule), Ok(p)) = (rules.get_mut(me), u32::try_from(primary)) {
            rule.fallback_for = Some(p);
        }
    }
}

/// The rarest byte set every match of a pattern rule holds, when it is rare enough to be
/// worth a search and cannot be met by a keyword itself (empty otherwise).
fn rarest_requirement(h: &regex_syntax::hir::Hir, def: &RuleDef) -> Box<[u8]> {
    let in_keyword = |b: u8| {
        def.keywords
            .iter()
            .any(|k| k.bytes().any(|c| c.eq_ignore_ascii_case(&b)))
    };
    hir::required_bytes(h)
        .into_iter()
        .filter(|set| !set.iter().any(|&b| in_keyword(b)))
        .map(|set| {
            let cost: u32 = set.iter().map(|&b| anchor::commonness(b, false)).sum();
            (cost, set)
        })
        .filter(|(cost, _)| *cost <= MAX_REQUIRE_COST)
        .min()
        .map(|(_, set)| set.into_boxed_slice())
        .unwrap_or_default()
}

/// Whether `hay` holds a byte of `set` (an empty set always holds).
#[inline]
fn has_any(hay: &[u8], set: &[u8]) -> bool {
    match *set {
        [] => true,
        [a] => memchr::memchr(a, hay).is_some(),
        [a, b] => memchr::memchr2(a, b, hay).is_some(),
        [a, b, c, ..] => memchr::memchr3(a, b, c, hay).is_some(),
    }
}

// ---------------------------------------------------------------------------------------------
// Assignment parsing

/// Where an assignment's value starts, after a keyword hit.
#[derive(Debug, Clone, Copy)]
struct Conn {
    ident_start: usize,
    value_start: usize,
    quote: Option<u8>,
}

fn at(t: &[u8], i: usize) -> Option<u8> {
    t.get(i).copied()
}

fn skip_blanks(t: &[u8], mut p: usize, max: usize, newlines: bool) -> usize {
    let lim = p.saturating_add(max);
    while p < lim {
        match at(t, p) {
            Some(b' ' | b'\t') => p += 1,
            Some(b'\r' | b'\n') if newlines => p += 1,
            _ => break,
        }
    }
    p
}

/// The start of the run of up to 8 spaces and tabs that ends at `p`.
fn blanks_back(t: &[u8], mut p: usize) -> usize {
    let floor = p.saturating_sub(8);
    while p > floor && matches!(at(t, p - 1), Some(b' ' | b'\t')) {
        p -= 1;
    }
    p
}

fn is_op_byte(b: u8) -> bool {
    matches!(b, b'=' | b':' | b'>' | b',')
}

/// The identifier side of an assignment, and where its value side starts.
#[derive(Debug, Clone, Copy)]
struct Left {
    ident_start: usize,
    ident_end: usize,
    /// First byte after the operator.
    after_op: usize,
    /// The value may start on a later line (after a tag).
    newlines: bool,
    /// The identifier has a letter and may hold a keyword (see [`IdentIndex::span_back`]).
    may_hold_keyword: bool,
}

/// Parses `identifier [closing quote] [type] <operator>` around the operator byte at `p`
/// (only the first byte of an operator run starts an assignment).
#[inline(always)]
fn assignment_left(t: &[u8], p: usize, index: &IdentIndex) -> Option<Left> {
    let first = at(t, p)?;
    if p > 0 && at(t, p - 1).is_some_and(is_op_byte) {
        return None;
    }
    // The operator run and what it allows.
    let mut op_begin = p;
    while op_begin > 0
        && p - op_begin < 2
        && matches!(at(t, op_begin - 1), Some(b'.' | b'?' | b'+' | b'|'))
    {
        op_begin -= 1;
    }
    let mut q = p + 1;
    let (mut newlines, mut needs_quote, mut needs_tag) = (false, false, false);
    match first {
        b'=' => {
            if matches!(at(t, q), Some(b'>' | b'=')) {
                q += 1;
            }
        }
        b':' => {
            while q < p + 3 && at(t, q) == Some(b':') {
                q += 1;
            }
            if at(t, q) == Some(b'=') {
                q += 1;
            } else if q > p + 1 || op_begin < p {
                return None;
            }
        }
        b'>' => {
            newlines = true;
            needs_tag = true;
        }
        _ => needs_quote = true,
    }
    if op_begin < p && first != b'=' && !(first == b':' && at(t, q - 1) == Some(b'=')) {
        return None;
    }
    // Left side: blanks, an optional type word, an optional closing quote, the identifier.
    let mut k = op_begin;
    k = blanks_back(t, k);
    let ident_span = |end: usize| index.span_back(t, end, IDENT_REACH);
    let mut quoted_key = false;
    let close = at(t, k.checked_sub(1)?);
    if let Some(b'"' | b'\'' | b'`' | b']') = close {
        k -= 1;
        quoted_key = true;
        if k > 0 && at(t, k - 1) == Some(b'\\') {
            k -= 1;
        }
    }
    if needs_quote && (!quoted_key || quoted_string_is_value(t, k, close)) {
        return None;
    }
    let mut ident_end = k;
    let (mut ident_start, mut may_hold_keyword) = ident_span(ident_end);
    if !quoted_key && ident_start < ident_end {
        let word = t.get(ident_start..ident_end).unwrap_or(&[]);
        if (word.len() == 6 && word.eq_ignore_ascii_case(b"string"))
            || (word.len() == 3 && word.eq_ignore_ascii_case(b"str"))
        {
            let j = blanks_back(t, ident_start);
            if j < ident_start {
                ident_end = j;
                (ident_start, may_hold_keyword) = ident_span(ident_end);
            }
        }
    }
    if ident_start == ident_end
        || (needs_quote && !quoted_key)
        || (needs_tag && (ident_start == 0 || at(t, ident_start - 1) != Some(b'<')))
    {
        return None;
    }
    Some(Left {
        ident_start,
        ident_end,
        after_op: q,
        newlines,
        may_hold_keyword,
    })
}

/// For the `f("K", "v")` form: the string that closes at `k` (with quote `close`) follows a
/// `:` or `=`, so it is itself a value (`"level": "INFO", …`), whose own operator is looked
/// at, rather than the key of a call's argument list.
#[inline(always)]
fn quoted_string_is_value(t: &[u8], k: usize, close: Option<u8>) -> bool {
    let Some(q @ (b'"' | b'\'' | b'`')) = close else {
        return false;
    };
    let floor = k.saturating_sub(IDENT_REACH + 2);
    let Some(open) = t.get(floor..k).and_then(|w| memchr::memrchr(q, w)) else {
        return false;
    };
    let j = blanks_back(t, floor + open);
    matches!(j.checked_sub(1).and_then(|i| at(t, i)), Some(b':' | b'='))
}

/// The value side of an assignment: blanks (and line breaks after a tag), an optional opening
/// quote.
fn assignment_value(t: &[u8], left: &Left) -> Conn {
    let mut v = skip_blanks(t, left.after_op, 16, left.newlines);
    let quote = match at(t, v) {
        Some(qc @ (b'"' | b'\'' | b'`')) => {
            v += 1;
            Some(qc)
        }
        Some(b'\\') if matches!(at(t, v + 1), Some(b'"' | b'\'')) => {
            let qc = at(t, v + 1);
            v += 2;
            qc
        }
        _ => None,
    };
    Conn {
        ident_start: left.ident_start,
        value_start: v,
        quote,
    }
}

/// Suffixes that may continue a keyword in lowercase (`slacktoken`, `secrets`).
const KEYWORD_SUFFIXES: &[&[u8]] = &[
    b"token", b"key", b"secret", b"pass", b"pwd", b"id", b"auth", b"api", b"access", b"client",
    b"app", b"bot", b"user", b"cred", b"login", b"account", b"private", b"sdk", b"webhook",
];

/// The keyword starts and ends at identifier-word boundaries (`etsy` is not inside `SetSysctl`).
fn keyword_bounded(t: &[u8], ks: usize, ke: usize, lenient_left: bool) -> bool {
    let first = at(t, ks).unwrap_or(b' ');
    let left = match ks.checked_sub(1).and_then(|i| at(t, i)) {
        None => true,
        Some(p) if !p.is_ascii_alphanumeric() => true,
        Some(p) if (p.is_ascii_lowercase() || p.is_ascii_digit()) && first.is_ascii_uppercase() => {
            true
        }
        Some(p) if lenient_left && p.is_ascii_lowercase() => true,
        Some(_) => false,
    };
    if !left {
        return false;
    }
    match at(t, ke) {
        None => true,
        Some(n) if !n.is_ascii_alphabetic() => true,
        Some(n) if n.is_ascii_uppercase() => true,
        Some(b's') if !at(t, ke + 1).is_some_and(|b| b.is_ascii_lowercase()) => true,
        // A lowercase letter here: only the suffixes that start with it are compared.
        Some(n) => KEYWORD_SUFFIXES
            .iter()
            .any(|s| s.first() == Some(&n) && starts_with_ci(t, ke, s)),
    }
}

fn value_terminated(t: &[u8], e: usize, quote: Option<u8>) -> bool {
    match at(t, e) {
        None => true,
        Some(b) => match quote {
            Some(q) => b == q || b == b'\\',
            None => matches!(
                b,
                b' ' | b'\t'
                    | b'\r'
                    | b'\n'
                    | b'"'
                    | b'\''
                    | b'`'
                    | b';'
                    | b','
                    | b')'
                    | b']'
                    | b'}'
                    | b'<'
                    | b'>'
                    | b'&'
                    | b'|'
                    | b'\\'
            ),
        },
    }
}

fn starts_with_ci(t: &[u8], p: usize, w: &[u8]) -> bool {
    t.get(p..p.saturating_add(w.len()))
        .is_some_and(|s| s.eq_ignore_ascii_case(w))
}

fn contains_ci(hay: &[u8], needle_lower: &[u8]) -> bool {
    if needle_lower.is_empty() || needle_lower.len() > hay.len() {
        return needle_lower.is_empty();
    }
    hay.windows(needle_lower.len())
        .any(|w| w.eq_ignore_ascii_case(needle_lower))
}

fn ends_with_ci(hay: &[u8], suffix_lower: &[u8]) -> bool {
    hay.len() >= suffix_lower.len()
        && hay
            .get(hay.len() - suffix_lower.len()..)
            .is_some_and(|s| s.eq_ignore_ascii_case(suffix_lower))
}

// ---------------------------------------------------------------------------------------------
// Checks

/// `c * log2(c)` for counts below 256.
static C_LOG_C: std::sync::LazyLock<[f64; 256]> = std::sync::LazyLock::new(|| {
    let mut t = [0.0f64; 256];
    for (c, v) in t.iter_mut().enumerate().skip(1) {
        let c = c as f64;
        *v = c * c.log2();
    }
    t
});

/// Whether the Shannon entropy of `bytes` is below `threshold`: decided from a table-driven
/// estimate (error far below 1e-9 bits), and by [`shannon`] itself when the estimate is
/// within 1e-9 of the threshold, so the answer is always the one [`shannon`] gives.
fn entropy_below(bytes: &[u8], threshold: f64) -> bool {
    const MARGIN: f64 = 1e-9;
    if bytes.is_empty() || bytes.len() > 255 {
        return shannon(bytes) < threshold;
    }
    let mut counts = [0u8; 256];
    for &b in bytes {
        if let Some(c) = counts.get_mut(usize::from(b)) {
            *c += 1;
        }
    }
    let table = &*C_LOG_C;
    let mut sum = 0.0f64;
    for &b in bytes {
        if let Some(c) = counts.get_mut(usize::from(b))
            && *c != 0
        {
            sum += table.get(usize::from(*c)).copied().unwrap_or(0.0);
            *c = 0;
        }
    }
    let n = bytes.len() as f64;
    let estimate = n.log2() - sum / n;
    if (estimate - threshold).abs() < MARGIN {
        shannon(bytes) < threshold
    } else {
        estimate < threshold
    }
}

/// Shannon entropy of `bytes` in bits per byte.
pub(crate) fn shannon(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let n = bytes.len() as f64;
    let term = |c: u32| {
        let p = f64::from(c) / n;
        -p * p.log2()
    };
    if bytes.len() > usize::from(u16::MAX) {
        let mut counts = [0u32; 256];
        for &b in bytes {
            if let Some(c) = counts.get_mut(usize::from(b)) {
                *c += 1;
            }
        }
        return counts.iter().filter(|&&c| c > 0).map(|&c| term(c)).sum();
    }
    // Distinct bytes are summed in ascending order, as over a full table, visiting only
    // those present.
    let mut counts = [0u16; 256];
    let mut present = [0u64; 4];
    for &b in bytes {
        if let Some(c) = counts.get_mut(usize::from(b)) {
            *c += 1;
        }
        if let Some(w) = present.get_mut(usize::from(b >> 6)) {
            *w |= 1u64 << (b & 63);
        }
    }
    present
        .iter()
        .enumerate()
        .flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let bit = w.trailing_zeros() as usize;
                    w &= w - 1;
                    i * 64 + bit
                })
            })
        })
        .map(|b| term(u32::from(counts.get(b).copied().unwrap_or(0))))
        .sum()
}

#[derive(Default)]
struct Classes {
    lower: bool,
    upper: bool,
    digit: bool,
    symbol: bool,
}

fn classes(s: &[u8]) -> Classes {
    let mut c = Classes::default();
    for &b in s {
        if b.is_ascii_lowercase() {
            c.lower = true;
        } else if b.is_ascii_uppercase() {
            c.upper = true;
        } else if b.is_ascii_digit() {
            c.digit = true;
        } else {
            c.symbol = true;
        }
    }
    c
}

fn is_reference(s: &[u8]) -> bool {
    let first = s.first().copied().unwrap_or(b' ');
    matches!(first, b'$' | b'%' | b'<' | b'[' | b'{' | b'@' | b'#' | b'*')
        || s.windows(2)
            .any(|w| matches!(w, b"${" | b"{{" | b"$(" | b"%("))
}

/// `Foo.bar_baz`, `X25519.key_length`: a dotted reference in code, not a secret.
fn is_code_reference(s: &[u8]) -> bool {
    let mut segs = 0;
    for seg in s.split(|&b| b == b'.') {
        let ok = seg.len() >= 2
            && seg.len() <= 24
            && seg
                .first()
                .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
            && seg.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_');
        if !ok {
            return false;
        }
        segs += 1;
    }
    segs >= 2
}

fn is_hex(s: &[u8]) -> bool {
    s.iter().all(u8::is_ascii_hexdigit)
}

fn is_uuid(s: &[u8]) -> bool {
    s.len() == 36
        && s.iter().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

const PLACEHOLDER_PASSWORDS: &[&[u8]] = &[
    b"password",
    b"passwd",
    b"pass",
    b"token",
    b"secret",
    b"pwd",
    b"changeme",
    b"username",
    b"user",
];

fn validate(v: Validator, s: &[u8]) -> bool {
    match v {
        Validator::MixedCase => {
            let c = classes(s);
            c.lower && c.upper
        }
        Validator::HasDigit => s.iter().any(u8::is_ascii_digit),
        Validator::HasLetter => s.iter().any(u8::is_ascii_alphabetic),
        Validator::GenericShape => {
            if is_code_reference(s) || is_reference(s) {
                return false;
            }
            let c = classes(s);
            (c.lower && c.upper && c.digit)
                || (s.len() >= 32 && is_hex(s) && c.digit && (c.lower || c.upper))
                || is_uuid(s)
        }
        Validator::PasswordShape => {
            let c = classes(s);
            let kinds = usize::from(c.lower)
                + usize::from(c.upper)
                + usize::from(c.digit)
                + usize::from(c.symbol);
            s.len() >= 6
                && kinds >= 2
                && !contains_ci(s, b"://")
                && (c.digit || c.symbol)
                && !is_reference(s)
                && !is_code_reference(s)
                && !PLACEHOLDER_PASSWORDS
                    .iter()
                    .any(|p| s.eq_ignore_ascii_case(p))
        }
        Validator::NoReference => !is_reference(s),
        Validator::Base64Jwt => {
            let head: Vec<u8> = s.iter().copied().take(64).collect();
            let dec = decode::base64_lenient(&head);
            dec.starts_with(b"eyJ")
                || dec.starts_with(b"eyI")
                || dec.get(..2).is_some_and(|p| p == b"ey") && dec.contains(&b'.')
        }
        Validator::UserPassword => {
            let s = trim_quotes(s);
            let Some(colon) = s.iter().rposition(|&b| b == b':') else {
                return false;
            };
            let mut pass = trim_quotes(s.get(colon + 1..).unwrap_or(&[]));
            if pass.is_empty() {
                // `-u TOKEN:`: the credential is the user part.
                pass = trim_quotes(s.get(..colon).unwrap_or(&[]));
            }
            let pass_inner = pass
                .strip_prefix(b"{")
                .and_then(|p| p.strip_suffix(b"}"))
                .unwrap_or(pass);
            pass_inner.len() >= 6
                && !is_reference(pass_inner)
                && !contains_ci(pass, b"{{")
                && !pass.iter().any(|b| matches!(b, b'<' | b'>'))
                && !PLACEHOLDER_PASSWORDS
                    .iter()
                    .any(|p| pass_inner.eq_ignore_ascii_case(p))
        }
    }
}

fn trim_quotes(s: &[u8]) -> &[u8] {
    let s = s
        .strip_prefix(b"\"")
        .or_else(|| s.strip_prefix(b"'"))
        .unwrap_or(s);
    s.strip_suffix(b"\"")
        .or_else(|| s.strip_suffix(b"'"))
        .unwrap_or(s)
}

fn checksum_ok(c: Checksum, s: &[u8]) -> bool {
    match c {
        Checksum::GithubCrc32 => {
            let body = match s.iter().position(|&b| b == b'_') {
                Some(i) => s.get(i + 1..).unwrap_or(&[]),
                None => s,
            };
            if body.len() != 36 {
                return false;
            }
            let (random, check) = body.split_at(30);
            base62_6(crc32(random)).as_slice() == check
        }
        Checksum::JwtHeader => {
            let head = s.split(|&b| b == b'.').next().unwrap_or(&[]);
            let dec = decode::base64_lenient(head);
            dec.first() == Some(&b'{') && contains_ci(&dec, b"\"alg\"")
        }
    }
}

#[expect(clippy::indexing_slicing, reason = "const table build; i < 256")]
const fn crc32_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC32_TABLE: [u32; 256] = crc32_table();

/// CRC-32 (IEEE 802.3).
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        let idx = usize::from((c as u8) ^ b);
        c = CRC32_TABLE.get(idx).copied().unwrap_or(0) ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

fn base62_6(mut n: u32) -> [u8; 6] {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS.get((n % 62) as usize).copied().unwrap_or(b'0');
        n /= 62;
    }
    out
}

mod hir;
mod ident;
mod quick;
#[cfg(test)]
mod tests;
