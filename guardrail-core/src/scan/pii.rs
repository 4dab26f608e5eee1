//! PII recognizers: pattern, validator, context words, a score per finding.
//!
//! Entity type names are Presidio's, so findings map onto an existing Presidio setup. Each
//! recognizer finds candidates with a regex (ASCII, compiled once), then a validator decides:
//! checksums, calendar dates, number ranges and layouts. A candidate that fails a checksum is
//! dropped, except for alphanumeric layouts distinctive on their own (Italian fiscal codes,
//! Singapore NRIC/FIN, German VAT ids, Korean RRN/FRN), which keep a low score. Each finding's
//! score is the recognizer's score for what it could verify, plus [`CONTEXT_BOOST`] when one of
//! the type's context words (`ssn`, `passport`, `iban`, ...) stands within
//! [`PiiConfig::context_window`] bytes of it; findings below the type's threshold are dropped.
//! Overlapping findings are merged: the higher score wins, then the more specific type, then
//! the longer span.
//!
//! | Type | Layouts | Validator | Default |
//! |---|---|---|---|
//! | `EMAIL_ADDRESS` | `local@domain.tld` | domain labels, alphabetic or `xn--` TLD | on |
//! | `PHONE_NUMBER` | `+CC ...` (E.164), NANP `(415) 555-0132`, trunk `0...` national layouts | calling-code table with national lengths; NANP area/exchange rules; grouping | on |
//! | `CREDIT_CARD` | 12–19 digits, bare or in groups (`4-4-4-4`, `4-6-5`) | Luhn, IIN ranges with lengths per scheme | on |
//! | `US_SSN` | `ddd-dd-dddd`, spaced, bare | area not 000/666/9xx, group not 00, serial not 0000, known test values | on |
//! | `US_ITIN` | `9dd-dd-dddd`, spaced, bare | group in the IRS ITIN ranges | on |
//! | `US_BANK_NUMBER` | 8–17 digits | none (low score, needs context) | on |
//! | `US_PASSPORT` | 9 digits, letter + 8 digits | none (low score, needs context) | on |
//! | `ABA_ROUTING_NUMBER` | 9 digits, `dddd-dddd-d` | Federal Reserve prefix ranges, 3-7-1 checksum | on |
//! | `IBAN_CODE` | compact or in groups of 4 | country length table, ISO 13616 mod-97 | on |
//! | `IP_ADDRESS` | IPv4, IPv6 (compressed, embedded IPv4, zone), CIDR suffix | `std::net` parsers, prefix length | on |
//! | `MAC_ADDRESS` | `aa:bb:..`, `aa-bb-..`, `aabb.ccdd.eeff` | one separator, not all-zero/broadcast | on |
//! | `CRYPTO` | Bitcoin `1...`/`3...`, `bc1...` | Base58Check (double SHA-256), bech32/bech32m with witness rules | on |
//! | `UK_NHS` | `ddd ddd dddd`, bare | mod 11 | on |
//! | `UK_NINO` | `AA 12 34 56 B` | prefix and suffix letter rules | on |
//! | `US_NPI` | 10 digits, `dddd-ddd-ddd` | Luhn with the `80840` prefix | on |
//! | `CA_SIN` | `ddd-ddd-ddd`, spaced, bare | Luhn, first digit | on |
//! | `AU_ABN` | `dd ddd ddd ddd`, bare | mod 89 | on |
//! | `AU_ACN` | `ddd ddd ddd`, bare | mod 10 weighted | on |
//! | `AU_TFN` | `ddd ddd ddd`, bare | mod 11 weighted | on |
//! | `AU_MEDICARE` | `dddd ddddd d`, bare | first digit, mod 10 weighted | on |
//! | `IN_PAN` | `AAAAA9999A` | holder-type letter (else low score) | on |
//! | `IN_AADHAAR` | 12 digits, groups of 4 | Verhoeff, first digit, not a palindrome | on |
//! | `SG_NRIC_FIN` | `S1234567D` | prefix letter, mod 11 check letter (else low score) | on |
//! | `ES_NIF` | `12345678Z` | mod 23 letter | on |
//! | `ES_NIE` | `X1234567L` | mod 23 letter | on |
//! | `IT_FISCAL_CODE` | 16 characters | birth day/month, check character (else low score) | on |
//! | `IT_VAT_CODE` | 11 digits | Luhn variant, not all zero | on |
//! | `PL_PESEL` | 11 digits | birth date with century offset, weighted checksum | on |
//! | `FI_PERSONAL_IDENTITY_CODE` | `DDMMYYCNNNQ` | birth date, century sign, mod 31 check character | on |
//! | `SE_PERSONNUMMER` | `YYMMDD-NNNC`, `YYYYMMDDNNNC` | birth (or co-ordination) date, Luhn | on |
//! | `SE_ORGANISATIONSNUMMER` | `NNNNNN-NNNN` | group digit, third digit ≥ 2, Luhn | on |
//! | `DE_TAX_ID` | 11 digits | digit-repetition rule, ISO 7064 mod 11,10 | on |
//! | `DE_VAT_ID` | `DE` + 9 digits, grouped | ISO 7064 mod 11,10 (else low score) | on |
//! | `DE_HEALTH_INSURANCE` | letter + 9 digits | weighted cross-sum check digit | on |
//! | `DE_SOCIAL_SECURITY` | `12 DDMMYY A 12 3` | birth date, weighted cross-sum check digit | on |
//! | `DE_ID_CARD`, `DE_PASSPORT` | 9 characters | alphabet, ICAO 7-3-1 check digit | on |
//! | `DE_LANR` | 9 digits | weighted check digit | on |
//! | `TR_NATIONAL_ID` | 11 digits | first digit, both check digits | on |
//! | `ZA_ID_NUMBER` | 13 digits | birth date, citizenship digit, Luhn | on |
//! | `KR_RRN`, `KR_FRN` | `YYMMDD-SNNNNNC` | birth date, gender/century digit, check digit (else low score) | on |
//! | `KR_BRN` | `ddd-dd-ddddd`, bare | weighted check digit | on |
//! | `NG_NIN` | 11 digits | Verhoeff | on |
//! | `TH_TNIN` | 13 digits | first digit, province code, mod 11 | on |
//! | `DATE_TIME` | ISO 8601, numeric dates, dates with month names | calendar | off |
//! | `URL` | `scheme://...`, `www....`, bare domains | host with a TLD (a curated list for bare domains) | off |
//!
//! Country-specific phone types (`TR_PHONE_NUMBER`, `PH_MOBILE_NUMBER`) are reported as
//! `PHONE_NUMBER`. Formats without any check (licence plates, postcodes, driving licences,
//! passport numbers other than the US one) are not recognized: they match ordinary tokens.
//!
//! # Scores
//! Roughly: 0.05–0.1 for a layout alone that many numbers share (a bare 9-digit number as a US
//! passport), 0.2 for bare digits that pass a one-in-ten checksum, 0.4–0.6 for formatted digits
//! that pass one, 0.6–0.7 for IP/MAC addresses and phone numbers, 0.8–1.0 for strong checksums
//! on distinctive layouts. The default threshold (0.4) reports the weak kinds only with context.
//!
//! # Untrusted input
//! Any `&str` is accepted and scanning never panics. Every pattern is bounded in length; a
//! rejected candidate restarts the search at the next position where a candidate may start, so
//! work is linear in the input times the longest candidate (about 330 bytes for an e-mail
//! address; 2 KiB for a URL, off by default). Recognizers run only in windows around clusters
//! of the bytes they need (a run of at least 9 digits for an SSN, an `@`, two `:` close
//! together), so prose and short numbers cost one pass over the bytes. Spans are byte offsets
//! on character boundaries.

use std::collections::{BTreeMap, BTreeSet};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::policy::PolicyIssue;

/// Added to a finding's score when a context word of its type stands near it (capped at 1.0).
pub const CONTEXT_BOOST: f32 = 0.35;

/// The largest accepted [`PiiConfig::context_window`], in bytes.
pub const MAX_CONTEXT_WINDOW: usize = 4096;

/// Which PII types a [`PiiScanner`] reports, and from what score.
///
/// Default: every type that is on by default (all but `URL` and `DATE_TIME`), threshold 0.4
/// for every type, context words looked for 64 bytes either side of a finding.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PiiConfig {
    /// Types to run: type names, `"default"` (the types on by default) or `"all"`.
    /// Default `["default"]`; `["default", "URL"]` adds URLs.
    pub enabled_types: Vec<String>,
    /// Types removed from `enabled_types`.
    pub disabled_types: Vec<String>,
    /// Per-type score thresholds in `0.0..=1.0`, overriding `default_threshold`.
    pub thresholds: BTreeMap<String, f32>,
    /// Threshold for types without an entry in `thresholds` (default 0.4).
    pub default_threshold: f32,
    /// How many bytes before and after a finding are searched for context words (default 64,
    /// at most [`MAX_CONTEXT_WINDOW`]; 0 turns context off).
    pub context_window: usize,
}

impl Default for PiiConfig {
    fn default() -> Self {
        PiiConfig {
            enabled_types: vec!["default".to_owned()],
            disabled_types: Vec::new(),
            thresholds: BTreeMap::new(),
            default_threshold: 0.4,
            context_window: 64,
        }
    }
}

impl PiiConfig {
    /// Every supported type, every score (threshold 0): what the recognizers see.
    pub fn everything() -> Self {
        PiiConfig {
            enabled_types: vec!["all".to_owned()],
            default_threshold: 0.0,
            ..PiiConfig::default()
        }
    }
}

/// One PII finding: a type, a byte span and a score. Never the text itself.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PiiFinding {
    /// Presidio entity type, e.g. `CREDIT_CARD`.
    #[serde(rename = "type")]
    pub entity_type: &'static str,
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// Confidence in `0.0..=1.0`.
    pub score: f32,
}

/// A supported entity type, for documentation and listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PiiTypeInfo {
    /// Presidio entity type name.
    pub name: &'static str,
    /// Whether `"default"` in [`PiiConfig::enabled_types`] includes it.
    pub default_enabled: bool,
    /// What the validator checks.
    pub validator: &'static str,
}

/// The compiled recognizers for one [`PiiConfig`]. Build once, share across threads.
#[derive(Debug)]
pub struct PiiScanner {
    types: Vec<TypeState>,
    recognizers: Vec<Compiled>,
    context_window: usize,
}

#[derive(Debug)]
struct TypeState {
    enabled: bool,
    threshold: f32,
    context: Option<AhoCorasick>,
}

#[derive(Debug)]
struct Compiled {
    regex: Regex,
    ty: usize,
    trigger: Trigger,
    left: Left,
    check: Check,
}

impl PiiScanner {
    /// Compiles the recognizers `config` enables. Reports every problem (unknown type names,
    /// thresholds outside `0.0..=1.0`, an oversized context window), not only the first.
    pub fn new(config: &PiiConfig) -> Result<Self, Vec<PolicyIssue>> {
        let mut issues = Vec::new();
        let mut enabled = vec![false; TYPES.len()];
        for (i, name) in config.enabled_types.iter().enumerate() {
            match name.as_str() {
                "default" => {
                    for (slot, t) in enabled.iter_mut().zip(TYPES) {
                        *slot |= t.default_on;
                    }
                }
                "all" => enabled.iter_mut().for_each(|slot| *slot = true),
                other => match type_index(other) {
                    Some(ti) => {
                        if let Some(slot) = enabled.get_mut(ti) {
                            *slot = true;
                        }
                    }
                    None => issues.push(unknown_type(format!("pii.enabled_types[{i}]"), other)),
                },
            }
        }
        for (i, name) in config.disabled_types.iter().enumerate() {
            match type_index(name) {
                Some(ti) => {
                    if let Some(slot) = enabled.get_mut(ti) {
                        *slot = false;
                    }
                }
                None => issues.push(unknown_type(format!("pii.disabled_types[{i}]"), name)),
            }
        }
        if !valid_threshold(config.default_threshold) {
            issues.push(PolicyIssue::new(
                "pii.default_threshold",
                "must be a number from 0.0 to 1.0",
            ));
        }
        let mut thresholds = vec![config.default_threshold; TYPES.len()];
        for (name, &value) in &config.thresholds {
            let key = format!("pii.thresholds.{}", clip(name));
            match type_index(name) {
                Some(ti) if valid_threshold(value) => {
                    if let Some(slot) = thresholds.get_mut(ti) {
                        *slot = value;
                    }
                }
                Some(_) => issues.push(PolicyIssue::new(key, "must be a number from 0.0 to 1.0")),
                None => issues.push(unknown_type(key, name)),
            }
        }
        if config.context_window > MAX_CONTEXT_WINDOW {
            issues.push(PolicyIssue::new(
                "pii.context_window",
                format!("must be at most {MAX_CONTEXT_WINDOW} bytes"),
            ));
        }

        let mut types = Vec::with_capacity(TYPES.len());
        for (ti, info) in TYPES.iter().enumerate() {
            let on = enabled.get(ti).copied().unwrap_or(false);
            let context = if on && !info.context.is_empty() && config.context_window > 0 {
                match AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(info.context)
                {
                    Ok(ac) => Some(ac),
                    Err(e) => {
                        issues.push(PolicyIssue::new(
                            format!("pii.builtin.{}", info.name),
                            format!("context words do not compile: {e}"),
                        ));
                        None
                    }
                }
            } else {
                None
            };
            let threshold = thresholds
                .get(ti)
                .copied()
                .unwrap_or(config.default_threshold);
            types.push(TypeState {
                enabled: on,
                threshold,
                context,
            });
        }

        let mut recognizers = Vec::new();
        for (ri, rec) in RECOGNIZERS.iter().enumerate() {
            let Some(ty) = type_index(rec.ty) else {
                issues.push(PolicyIssue::new(
                    format!("pii.builtin.recognizer[{ri}]"),
                    format!("unknown type `{}`", rec.ty),
                ));
                continue;
            };
            if !types.get(ty).is_some_and(|t| t.enabled) {
                continue;
            }
            match RegexBuilder::new(rec.pattern)
                .unicode(false)
                .size_limit(1 << 20)
                .build()
            {
                Ok(regex) => recognizers.push(Compiled {
                    regex,
                    ty,
                    trigger: rec.trigger,
                    left: rec.left,
                    check: rec.check,
                }),
                Err(e) => issues.push(PolicyIssue::new(
                    format!("pii.builtin.recognizer[{ri}]"),
                    format!("pattern does not compile: {e}"),
                )),
            }
        }

        if issues.is_empty() {
            Ok(PiiScanner {
                types,
                recognizers,
                context_window: config.context_window,
            })
        } else {
            Err(issues)
        }
    }

    /// Every supported type, in a stable order.
    pub fn supported_types() -> impl Iterator<Item = PiiTypeInfo> {
        TYPES.iter().map(|t| PiiTypeInfo {
            name: t.name,
            default_enabled: t.default_on,
            validator: t.validator,
        })
    }

    /// The types this scanner runs.
    pub fn enabled_types(&self) -> impl Iterator<Item = &'static str> + '_ {
        TYPES
            .iter()
            .zip(&self.types)
            .filter(|(_, s)| s.enabled)
            .map(|(t, _)| t.name)
    }

    /// Whether this scanner runs `entity_type`.
    pub fn is_enabled(&self, entity_type: &str) -> bool {
        type_index(entity_type)
            .and_then(|i| self.types.get(i))
            .is_some_and(|s| s.enabled)
    }

    /// Every PII finding in `text` at or above its type's threshold, sorted by start, no two
    /// overlapping.
    pub fn scan(&self, text: &str) -> Vec<PiiFinding> {
        let mask: Vec<bool> = self.types.iter().map(|t| t.enabled).collect();
        self.scan_mask(text, &mask)
    }

    /// [`scan`](Self::scan) of bytes that may not be UTF-8: every valid UTF-8 stretch between
    /// invalid bytes is scanned (offsets are into `bytes`), so a stray byte does not hide the
    /// PII after it.
    pub fn scan_bytes(&self, bytes: &[u8]) -> Vec<PiiFinding> {
        if let Ok(text) = std::str::from_utf8(bytes) {
            return self.scan(text);
        }
        let mut out = Vec::new();
        let mut at = 0usize;
        for chunk in bytes.utf8_chunks() {
            let valid = chunk.valid();
            out.extend(self.scan(valid).into_iter().map(|mut f| {
                f.start += at;
                f.end += at;
                f
            }));
            at += valid.len() + chunk.invalid().len();
        }
        out
    }

    /// Like [`scan`](Self::scan), restricted to `types` (names this scanner does not run are
    /// ignored); findings of other types neither appear nor compete in the merge.
    pub fn scan_types(&self, text: &str, types: &[&str]) -> Vec<PiiFinding> {
        let mut mask = vec![false; self.types.len()];
        for name in types {
            if let Some(i) = type_index(name)
                && let (Some(slot), Some(state)) = (mask.get_mut(i), self.types.get(i))
            {
                *slot = state.enabled;
            }
        }
        self.scan_mask(text, &mask)
    }

    fn scan_mask(&self, text: &str, mask: &[bool]) -> Vec<PiiFinding> {
        let bytes = text.as_bytes();
        if bytes.is_empty() {
            return Vec::new();
        }
        let mut windows = Windows::default();
        let mut cands: Vec<Cand> = Vec::new();
        for rec in &self.recognizers {
            if !mask.get(rec.ty).copied().unwrap_or(false) {
                continue;
            }
            for &(ws, we) in windows.get(bytes, rec.trigger) {
                self.run(rec, text, ws, we, &mut cands);
            }
        }
        merge(cands)
            .into_iter()
            .map(|c| PiiFinding {
                entity_type: TYPES.get(c.ty).map_or("", |t| t.name),
                start: c.start,
                end: c.end,
                score: c.score,
            })
            .collect()
    }

    fn run(&self, rec: &Compiled, text: &str, ws: usize, we: usize, out: &mut Vec<Cand>) {
        let bytes = text.as_bytes();
        let Some(hay) = bytes.get(ws..we) else { return };
        let Some(state) = self.types.get(rec.ty) else {
            return;
        };
        let specificity = TYPES.get(rec.ty).map_or(0, |t| t.specificity);
        let mut pos = 0;
        while pos < hay.len() {
            let Some(m) = rec.regex.find_at(hay, pos) else {
                break;
            };
            let (ms, me) = (ws + m.start(), ws + m.end());
            let hit = (rec.check)(bytes, ms, me).filter(|h| {
                h.start < h.end && text.is_char_boundary(h.start) && text.is_char_boundary(h.end)
            });
            match hit {
                Some(h) => {
                    let score = self.final_score(state, bytes, &h);
                    if score >= state.threshold {
                        out.push(Cand {
                            ty: rec.ty,
                            start: h.start,
                            end: h.end,
                            score,
                            specificity,
                        });
                    }
                    pos = h.end.saturating_sub(ws).max(m.start() + 1);
                }
                None => pos = rec.left.skip(hay, m.start() + 1),
            }
        }
    }

    fn final_score(&self, state: &TypeState, bytes: &[u8], h: &Hit) -> f32 {
        let base = h.score.clamp(0.0, 1.0);
        if base >= 1.0 {
            return base;
        }
        match &state.context {
            Some(ac) if has_context(ac, bytes, h.start, h.end, self.context_window) => {
                (base + CONTEXT_BOOST).min(1.0)
            }
            _ => base,
        }
    }
}

fn valid_threshold(v: f32) -> bool {
    v.is_finite() && (0.0..=1.0).contains(&v)
}

fn unknown_type(key: String, name: &str) -> PolicyIssue {
    PolicyIssue::new(
        key,
        format!(
            "unknown PII type `{}` (see `PiiScanner::supported_types`)",
            clip(name)
        ),
    )
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

fn type_index(name: &str) -> Option<usize> {
    TYPES.iter().position(|t| t.name == name)
}

fn has_context(ac: &AhoCorasick, bytes: &[u8], start: usize, end: usize, window: usize) -> bool {
    let lo = start.saturating_sub(window);
    let hi = end.saturating_add(window).min(bytes.len());
    let Some(region) = bytes.get(lo..hi) else {
        return false;
    };
    ac.find_overlapping_iter(region).any(|m| {
        let (s, e) = (lo + m.start(), lo + m.end());
        // Inside the finding itself is not context.
        if s < end && e > start {
            return false;
        }
        let left_ok = !alnum(prev(bytes, s));
        let right = next(bytes, e);
        let right_ok = !alnum(right)
            || (right.is_some_and(|b| b == b's' || b == b'S') && !alnum(next(bytes, e + 1)));
        left_ok && right_ok
    })
}

// ---------------------------------------------------------------------------------------------
// Merging

#[derive(Debug, Clone, Copy)]
struct Cand {
    ty: usize,
    start: usize,
    end: usize,
    score: f32,
    specificity: u8,
}

fn merge(mut cands: Vec<Cand>) -> Vec<Cand> {
    cands.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.specificity.cmp(&a.specificity))
            .then(
                b.end
                    .saturating_sub(b.start)
                    .cmp(&a.end.saturating_sub(a.start)),
            )
            .then(a.start.cmp(&b.start))
            .then(a.ty.cmp(&b.ty))
    });
    // start -> end of accepted spans
    let mut taken: BTreeMap<usize, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for c in cands {
        let overlaps_before = taken
            .range(..=c.start)
            .next_back()
            .is_some_and(|(_, &e)| e > c.start);
        let overlaps_after = taken.range(c.start..c.end).next().is_some();
        if overlaps_before || overlaps_after {
            continue;
        }
        taken.insert(c.start, c.end);
        out.push(c);
    }
    out.sort_by_key(|c| (c.start, c.end));
    out
}

// ---------------------------------------------------------------------------------------------
// Windows: recognizers run only near the bytes they need.

/// A class of bytes a candidate must contain; runs of them (with small gaps) form clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// ASCII digits, at most 2 other bytes apart (`(415) 555`, `RSSMRA85T10`).
    Digit,
    /// `:`, at most 4 other bytes apart (IPv6 groups).
    Colon,
    /// `:`, `-` or `.`, at most 4 other bytes apart (MAC address groups).
    MacSep,
    /// `@`.
    At,
}

const CLASSES: usize = 4;

impl Class {
    fn index(self) -> usize {
        match self {
            Class::Digit => 0,
            Class::Colon => 1,
            Class::MacSep => 2,
            Class::At => 3,
        }
    }

    fn max_gap(self) -> usize {
        match self {
            Class::Digit => 2,
            Class::Colon | Class::MacSep => 4,
            Class::At => 0,
        }
    }
}

/// Where a recognizer's regex runs: around clusters of a byte class holding at least `min`
/// of its bytes, `run` of them in a row, widened by `before` and `after` bytes; or over the
/// whole text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Trigger {
    class: Option<Class>,
    min: u8,
    run: u8,
    before: u16,
    after: u16,
}

const fn digits(min: u8, run: u8, before: u16, after: u16) -> Trigger {
    Trigger {
        class: Some(Class::Digit),
        min,
        run,
        before,
        after,
    }
}

const fn around(class: Class, min: u8, run: u8, before: u16, after: u16) -> Trigger {
    Trigger {
        class: Some(class),
        min,
        run,
        before,
        after,
    }
}

const WHOLE: Trigger = Trigger {
    class: None,
    min: 0,
    run: 0,
    before: 0,
    after: 0,
};

/// One run of a class: byte span, how many bytes of the class it holds, and the longest
/// stretch of them in a row.
#[derive(Debug, Clone, Copy)]
struct Cluster {
    start: usize,
    end: usize,
    count: usize,
    run: usize,
}

/// Clusters and windows computed for one scan, each at most once.
#[derive(Debug, Default)]
struct Windows {
    clusters: [Option<Vec<Cluster>>; CLASSES],
    windows: Vec<(Trigger, Vec<(usize, usize)>)>,
}

impl Windows {
    fn get(&mut self, bytes: &[u8], t: Trigger) -> &[(usize, usize)] {
        let pos = match self.windows.iter().position(|(k, _)| *k == t) {
            Some(pos) => pos,
            None => {
                let list = self.compute(bytes, t);
                self.windows.push((t, list));
                self.windows.len() - 1
            }
        };
        self.windows.get(pos).map_or(&[], |(_, w)| w.as_slice())
    }

    fn compute(&mut self, bytes: &[u8], t: Trigger) -> Vec<(usize, usize)> {
        let Some(class) = t.class else {
            return vec![(0, bytes.len())];
        };
        let mut out: Vec<(usize, usize)> = Vec::new();
        let wanted = |c: &&Cluster| c.count >= usize::from(t.min) && c.run >= usize::from(t.run);
        for c in self.clusters(bytes, class).iter().filter(wanted) {
            let s = c.start.saturating_sub(usize::from(t.before));
            let e = c.end.saturating_add(usize::from(t.after)).min(bytes.len());
            match out.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        out
    }

    fn clusters(&mut self, bytes: &[u8], class: Class) -> &[Cluster] {
        let Some(slot) = self.clusters.get_mut(class.index()) else {
            return &[];
        };
        slot.get_or_insert_with(|| {
            let gap = class.max_gap();
            let mut out: Vec<Cluster> = Vec::new();
            let mut streak = 0usize;
            let mut add = |i: usize| match out.last_mut() {
                Some(c) if i - c.end <= gap => {
                    streak = if i == c.end { streak + 1 } else { 1 };
                    c.end = i + 1;
                    c.count += 1;
                    c.run = c.run.max(streak);
                }
                _ => {
                    streak = 1;
                    out.push(Cluster {
                        start: i,
                        end: i + 1,
                        count: 1,
                        run: 1,
                    });
                }
            };
            match class {
                Class::Digit => bytes
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.is_ascii_digit())
                    .for_each(|(i, _)| add(i)),
                Class::Colon => memchr::memchr_iter(b':', bytes).for_each(&mut add),
                Class::MacSep => memchr::memchr3_iter(b':', b'-', b'.', bytes).for_each(&mut add),
                Class::At => memchr::memchr_iter(b'@', bytes).for_each(&mut add),
            }
            out
        })
    }
}

/// Where a candidate may start, used to skip ahead after a rejected candidate. Each mirrors
/// the left-boundary rule of the recognizers' checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Left {
    /// Not after an ASCII letter or digit.
    Word,
    /// Not after an ASCII digit.
    NotDigit,
    /// Not inside a word or a longer number ([`num_left`]).
    Number,
    /// Not after an ASCII letter, digit or `:`.
    Ip6,
}

impl Left {
    fn allows(self, hay: &[u8], at: usize) -> bool {
        let before = prev(hay, at);
        match self {
            Left::Word => !alnum(before),
            Left::NotDigit => !digit(before),
            Left::Number => num_left(hay, at),
            Left::Ip6 => !alnum(before) && before != Some(b':'),
        }
    }

    /// The first position at or after `from` where a candidate may start.
    fn skip(self, hay: &[u8], mut from: usize) -> usize {
        while from < hay.len() && !self.allows(hay, from) {
            from += 1;
        }
        from
    }
}

// ---------------------------------------------------------------------------------------------
// Types and recognizers

struct TypeDef {
    name: &'static str,
    default_on: bool,
    /// Tie-break in merges: higher wins among equal scores.
    specificity: u8,
    validator: &'static str,
    context: &'static [&'static str],
}

#[derive(Debug, Clone, Copy)]
struct Hit {
    start: usize,
    end: usize,
    score: f32,
}

/// `(text, match start, match end)`: the candidate's real span and score, or `None`.
type Check = fn(&[u8], usize, usize) -> Option<Hit>;

struct Recognizer {
    ty: &'static str,
    pattern: &'static str,
    trigger: Trigger,
    left: Left,
    check: Check,
}

const fn td(
    name: &'static str,
    specificity: u8,
    validator: &'static str,
    context: &'static [&'static str],
) -> TypeDef {
    TypeDef {
        name,
        default_on: true,
        specificity,
        validator,
        context,
    }
}

const fn off(
    name: &'static str,
    specificity: u8,
    validator: &'static str,
    context: &'static [&'static str],
) -> TypeDef {
    TypeDef {
        name,
        default_on: false,
        specificity,
        validator,
        context,
    }
}

#[rustfmt::skip]
static TYPES: &[TypeDef] = &[
    td("EMAIL_ADDRESS", 90, "domain labels, alphabetic or xn-- TLD", &["email", "e-mail", "mail"]),
    td("PHONE_NUMBER", 40, "calling-code table with national lengths; NANP rules; grouping",
        &["phone", "telephone", "tel", "mobile", "cell", "cellphone", "call", "fax", "number",
          "telefon", "telefono", "téléphone", "numero", "contact", "whatsapp"]),
    td("CREDIT_CARD", 95, "Luhn, IIN ranges with lengths per scheme",
        &["credit", "card", "visa", "mastercard", "amex", "discover", "cc", "cvv", "debit",
          "payment", "kreditkarte", "tarjeta", "carte"]),
    td("US_SSN", 60, "area/group/serial ranges, known test values",
        &["ssn", "ssns", "ssn#", "social security", "social sec", "ssid", "ss#"]),
    td("US_ITIN", 65, "group in the ITIN ranges",
        &["itin", "individual taxpayer", "taxpayer", "tax id", "tin"]),
    td("US_BANK_NUMBER", 5, "none",
        &["bank", "account", "acct", "checking", "savings", "debit", "deposit"]),
    td("US_PASSPORT", 6, "none",
        &["passport", "passport#", "passport no", "travel document", "us passport"]),
    td("ABA_ROUTING_NUMBER", 50, "Federal Reserve prefix ranges, 3-7-1 checksum",
        &["aba", "routing", "rtn", "transit", "routing number", "bank"]),
    td("IBAN_CODE", 100, "country length table, mod-97",
        &["iban", "bank", "account", "transfer", "sepa", "konto", "compte"]),
    td("IP_ADDRESS", 70, "std::net parsers, prefix length",
        &["ip", "ipv4", "ipv6", "address", "addr", "host", "server", "client", "gateway"]),
    td("MAC_ADDRESS", 75, "one separator, not all-zero or broadcast",
        &["mac", "hardware", "ethernet", "physical", "wifi", "bssid", "adapter"]),
    td("CRYPTO", 100, "Base58Check (double SHA-256), bech32/bech32m",
        &["wallet", "bitcoin", "btc", "crypto", "address"]),
    td("UK_NHS", 45, "mod 11",
        &["nhs", "national health", "health service", "patient", "nhs number"]),
    td("UK_NINO", 80, "prefix and suffix letter rules",
        &["nino", "national insurance", "ni number", "insurance number"]),
    td("US_NPI", 45, "Luhn with the 80840 prefix", &["npi", "provider", "national provider"]),
    td("CA_SIN", 45, "Luhn, first digit",
        &["sin", "social insurance", "nas", "assurance sociale", "numéro d'assurance"]),
    td("AU_ABN", 60, "mod 89", &["abn", "australian business", "business number"]),
    td("AU_ACN", 40, "mod 10 weighted", &["acn", "australian company", "company number"]),
    td("AU_TFN", 40, "mod 11 weighted", &["tfn", "tax file", "tax file number"]),
    td("AU_MEDICARE", 45, "first digit, mod 10 weighted", &["medicare", "health card"]),
    td("IN_PAN", 55, "holder-type letter", &["pan", "permanent account", "income tax", "pan card"]),
    td("IN_AADHAAR", 50, "Verhoeff, first digit, not a palindrome",
        &["aadhaar", "aadhar", "adhaar", "uid", "uidai"]),
    td("SG_NRIC_FIN", 80, "prefix letter, mod 11 check letter",
        &["nric", "fin", "ic", "identity card", "singapore"]),
    td("ES_NIF", 80, "mod 23 letter", &["nif", "dni", "documento nacional", "identificación"]),
    td("ES_NIE", 85, "mod 23 letter", &["nie", "extranjero", "identificación"]),
    td("IT_FISCAL_CODE", 90, "birth day/month, check character",
        &["codice fiscale", "cf", "fiscal code", "tax code"]),
    td("IT_VAT_CODE", 35, "Luhn variant", &["partita iva", "p.iva", "piva", "vat", "iva"]),
    td("PL_PESEL", 55, "birth date, weighted checksum", &["pesel"]),
    td("FI_PERSONAL_IDENTITY_CODE", 90, "birth date, century sign, mod 31",
        &["hetu", "henkilötunnus", "personal identity code", "identity code"]),
    td("SE_PERSONNUMMER", 70, "birth or co-ordination date, Luhn",
        &["personnummer", "pnr", "samordningsnummer", "personal number"]),
    td("SE_ORGANISATIONSNUMMER", 55, "group digit, third digit, Luhn",
        &["organisationsnummer", "orgnr", "org.nr", "organisation number"]),
    td("DE_TAX_ID", 60, "digit repetition rule, ISO 7064 mod 11,10",
        &["steuer-id", "steuerid", "steueridentifikationsnummer", "idnr", "tax id"]),
    td("DE_VAT_ID", 85, "ISO 7064 mod 11,10",
        &["ust-idnr", "ust-id", "ustidnr", "umsatzsteuer", "vat", "mwst"]),
    td("DE_HEALTH_INSURANCE", 70, "weighted cross-sum check digit",
        &["kvnr", "krankenversicherung", "krankenkasse", "versichertennummer", "egk"]),
    td("DE_SOCIAL_SECURITY", 85, "birth date, weighted cross-sum check digit",
        &["rentenversicherung", "sozialversicherung", "rvnr", "svnr", "versicherungsnummer"]),
    td("DE_ID_CARD", 62, "alphabet, ICAO 7-3-1 check digit",
        &["personalausweis", "ausweis", "id card", "ausweisnummer"]),
    td("DE_PASSPORT", 61, "alphabet, ICAO 7-3-1 check digit",
        &["reisepass", "pass-nr", "passnummer", "passport"]),
    td("DE_LANR", 30, "weighted check digit", &["lanr", "arztnummer", "arzt"]),
    td("TR_NATIONAL_ID", 60, "first digit, both check digits",
        &["tc kimlik", "tckn", "kimlik", "t.c.", "turkish id"]),
    td("ZA_ID_NUMBER", 70, "birth date, citizenship digit, Luhn",
        &["id number", "identity number", "south african", "rsa id"]),
    td("KR_RRN", 70, "birth date, gender digit, check digit",
        &["rrn", "resident registration", "주민등록번호", "주민번호"]),
    td("KR_FRN", 70, "birth date, gender digit, check digit",
        &["frn", "foreigner registration", "외국인등록번호"]),
    td("KR_BRN", 55, "weighted check digit", &["brn", "business registration", "사업자등록번호"]),
    td("NG_NIN", 40, "Verhoeff", &["nin", "national identification", "nimc"]),
    td("TH_TNIN", 65, "first digit, province code, mod 11",
        &["thai id", "national id", "เลขประจำตัวประชาชน", "บัตรประชาชน"]),
    off("DATE_TIME", 20, "calendar", &["date", "born", "birth", "dob", "birthday"]),
    off("URL", 10, "host with a TLD", &["url", "link", "website", "site", "visit"]),
];

const fn rec(
    ty: &'static str,
    pattern: &'static str,
    trigger: Trigger,
    left: Left,
    check: Check,
) -> Recognizer {
    Recognizer {
        ty,
        pattern,
        trigger,
        left,
        check,
    }
}

#[rustfmt::skip]
static RECOGNIZERS: &[Recognizer] = &[
    rec("EMAIL_ADDRESS",
        r"[A-Za-z0-9_%+\-]{1,64}(?:\.[A-Za-z0-9_%+\-]{1,64}){0,8}@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?){1,8}",
        around(Class::At, 1, 1, 70, 260), Left::Word, check_email),
    rec("PHONE_NUMBER", r"\+?\(?[0-9]", digits(7, 2, 2, 2), Left::Number, check_phone),
    rec("CREDIT_CARD", r"[0-9](?:[ \-]?[0-9]){11,22}", digits(12, 4, 0, 0), Left::Number, check_card),
    rec("US_SSN", r"[0-9]{3}[ \-]?[0-9]{2}[ \-]?[0-9]{4}", digits(9, 4, 0, 0), Left::Number, check_ssn),
    rec("US_ITIN", r"9[0-9]{2}[ \-]?[0-9]{2}[ \-]?[0-9]{4}",
        digits(9, 4, 0, 0), Left::Number, check_itin),
    rec("US_BANK_NUMBER", r"[0-9]{8,17}", digits(8, 8, 0, 0), Left::Number, check_us_bank),
    rec("US_PASSPORT", r"[A-Z]?[0-9]{8,9}", digits(8, 8, 1, 0), Left::Number, check_us_passport),
    rec("ABA_ROUTING_NUMBER", r"[0-9]{4}\-?[0-9]{4}\-?[0-9]",
        digits(9, 4, 0, 0), Left::Number, check_aba),
    rec("IBAN_CODE", r"[A-Z]{2}[0-9]{2} ?[A-Z0-9]{4}", digits(2, 2, 2, 6), Left::Word, check_iban),
    rec("IP_ADDRESS", r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?:/[0-9]{1,3})?",
        digits(4, 1, 0, 4), Left::Word, check_ipv4),
    rec("IP_ADDRESS",
        r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,8}(?:\.[0-9]{1,3}){0,3}(?:%[0-9A-Za-z]{1,16})?(?:/[0-9]{1,4})?",
        around(Class::Colon, 2, 1, 40, 40), Left::Ip6, check_ipv6),
    rec("MAC_ADDRESS",
        r"[0-9A-Fa-f]{2}(?:[:\-][0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}",
        around(Class::MacSep, 2, 1, 17, 17), Left::Word, check_mac),
    rec("CRYPTO", r"[13][1-9A-HJ-NP-Za-km-z]{25,34}", digits(1, 1, 0, 34), Left::Word, check_base58),
    rec("CRYPTO", r"(?:bc|BC)1[0-9A-Za-z]{8,87}", digits(1, 1, 2, 88), Left::Word, check_bech32),
    rec("UK_NHS", r"[0-9]{3}[ \-]?[0-9]{3}[ \-]?[0-9]{4}", digits(10, 4, 0, 0), Left::Number, check_nhs),
    rec("UK_NINO", r"[A-Za-z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-Da-d]",
        digits(6, 2, 3, 2), Left::Word, check_nino),
    rec("US_NPI", r"[12][0-9]{3}[ \-]?[0-9]{3}[ \-]?[0-9]{3}",
        digits(10, 4, 0, 0), Left::Number, check_npi),
    rec("CA_SIN", r"[0-9]{3}[ \-]?[0-9]{3}[ \-]?[0-9]{3}",
        digits(9, 3, 0, 0), Left::Number, check_ca_sin),
    rec("AU_ABN", r"[0-9]{2} ?[0-9]{3} ?[0-9]{3} ?[0-9]{3}",
        digits(11, 3, 0, 0), Left::Number, check_au_abn),
    rec("AU_ACN", r"[0-9]{3} ?[0-9]{3} ?[0-9]{3}", digits(9, 3, 0, 0), Left::Number, check_au_acn),
    rec("AU_TFN", r"[0-9]{3} ?[0-9]{3} ?[0-9]{3}", digits(9, 3, 0, 0), Left::Number, check_au_tfn),
    rec("AU_MEDICARE", r"[2-6][0-9]{3} ?[0-9]{5} ?[0-9]",
        digits(10, 5, 0, 0), Left::Number, check_au_medicare),
    rec("IN_PAN", r"[A-Z]{5}[0-9]{4}[A-Z]", digits(4, 4, 5, 1), Left::Word, check_pan),
    rec("IN_AADHAAR", r"[2-9][0-9]{3}[ \-:]?[0-9]{4}[ \-:]?[0-9]{4}",
        digits(12, 4, 0, 0), Left::Number, check_aadhaar),
    rec("SG_NRIC_FIN", r"[STFGMstfgm][0-9]{7}[A-Za-z]", digits(7, 7, 1, 1), Left::Word, check_nric),
    rec("ES_NIF", r"[0-9]{7,8}\-?[A-Za-z]", digits(7, 7, 0, 2), Left::Word, check_es_nif),
    rec("ES_NIE", r"[XYZxyz]\-?[0-9]{7}\-?[A-Za-z]", digits(7, 7, 2, 2), Left::Word, check_es_nie),
    rec("IT_FISCAL_CODE",
        r"(?i)[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]",
        digits(2, 2, 8, 10), Left::Word, check_it_fiscal),
    rec("IT_VAT_CODE", r"[0-9]{11}", digits(11, 11, 0, 0), Left::Number, check_it_vat),
    rec("PL_PESEL", r"[0-9]{11}", digits(11, 11, 0, 0), Left::Number, check_pesel),
    rec("FI_PERSONAL_IDENTITY_CODE", r"[0-9]{6}[\-+A-FU-Y][0-9]{3}[0-9A-Y]",
        digits(9, 6, 0, 2), Left::NotDigit, check_fi),
    rec("SE_PERSONNUMMER", r"(?:[0-9]{2})?[0-9]{6}[\-+]?[0-9]{4}",
        digits(10, 6, 0, 0), Left::NotDigit, check_se_pnr),
    rec("SE_ORGANISATIONSNUMMER", r"[0-9]{6}\-?[0-9]{4}",
        digits(10, 6, 0, 0), Left::Number, check_se_org),
    rec("DE_TAX_ID", r"[0-9]{11}", digits(11, 11, 0, 0), Left::Number, check_de_tax_id),
    rec("DE_VAT_ID", r"(?:DE|de)[ .]?[0-9]{3}[ .]?[0-9]{3}[ .]?[0-9]{3}",
        digits(9, 3, 3, 0), Left::Word, check_de_vat),
    rec("DE_HEALTH_INSURANCE", r"[A-Za-z][0-9]{9}", digits(9, 9, 1, 0), Left::Word, check_de_kvnr),
    rec("DE_SOCIAL_SECURITY", r"[0-9]{2} ?[0-9]{6} ?[A-Za-z] ?[0-9]{3}",
        digits(8, 6, 0, 6), Left::Word, check_de_rvnr),
    rec("DE_ID_CARD",
        r"[CFGHJKLMNPRTVWXYZcfghjklmnprtvwxyz][0-9CFGHJKLMNPRTVWXYZcfghjklmnprtvwxyz]{7}[0-9]",
        digits(1, 1, 8, 8), Left::Word, check_de_document),
    rec("DE_PASSPORT", r"[CFGHJKcfghjk][0-9CFGHJKLMNPRTVWXYZcfghjklmnprtvwxyz]{7}[0-9]",
        digits(1, 1, 8, 8), Left::Word, check_de_document),
    rec("DE_LANR", r"[0-9]{9}", digits(9, 9, 0, 0), Left::Number, check_de_lanr),
    rec("TR_NATIONAL_ID", r"[1-9][0-9]{10}", digits(11, 11, 0, 0), Left::Number, check_tr_id),
    rec("ZA_ID_NUMBER", r"[0-9]{13}", digits(13, 13, 0, 0), Left::Number, check_za_id),
    rec("KR_RRN", r"[0-9]{6}[\-]?[0-9]{7}", digits(13, 6, 0, 0), Left::Number, check_kr_rrn),
    rec("KR_FRN", r"[0-9]{6}[\-]?[0-9]{7}", digits(13, 6, 0, 0), Left::Number, check_kr_frn),
    rec("KR_BRN", r"[0-9]{3}\-?[0-9]{2}\-?[0-9]{5}", digits(10, 5, 0, 0), Left::Number, check_kr_brn),
    rec("NG_NIN", r"[0-9]{11}", digits(11, 11, 0, 0), Left::Number, check_ng_nin),
    rec("TH_TNIN", r"[1-8][0-9]{12}", digits(13, 13, 0, 0), Left::Number, check_th_tnin),
    rec("DATE_TIME",
        r"[0-9]{4}\-[0-9]{2}\-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]{1,9})?)?(?:Z|[+\-][0-9]{2}(?::?[0-9]{2})?)?)?",
        digits(8, 4, 0, 3), Left::Word, check_iso_date),
    rec("DATE_TIME", r"[0-9]{1,4}[/.\-][0-9]{1,4}(?:[/.\-][0-9]{1,4})?",
        digits(2, 1, 0, 0), Left::Number, check_numeric_date),
    rec("DATE_TIME",
        concat!(
            r"(?i)[0-9]{1,2}(?:st|nd|rd|th)?[ \-](?:of )?",
            r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)",
            r"\.?(?:,? [0-9]{4}|\-[0-9]{2,4})?"
        ),
        digits(1, 1, 0, 20), Left::Word, check_day_month_date),
    rec("DATE_TIME",
        concat!(
            r"(?i)(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)",
            r"\.?[ \-][0-9]{1,4}(?:st|nd|rd|th)?(?:,? [0-9]{4})?"
        ),
        digits(1, 1, 12, 14), Left::Word, check_month_day_date),
    rec("URL", r"(?i)(?:https?|ftp)://[A-Za-z0-9\-._~:\[\]@!$&'()*+,;=%]{1,255}",
        WHOLE, Left::Word, check_scheme_url),
    rec("URL",
        r"(?i)www\.[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){1,8}",
        WHOLE, Left::Word, check_www_url),
    rec("URL",
        r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?){1,8}",
        WHOLE, Left::Word, check_bare_domain),
];

// ---------------------------------------------------------------------------------------------
// Byte helpers

fn prev(t: &[u8], i: usize) -> Option<u8> {
    i.checked_sub(1).and_then(|j| t.get(j)).copied()
}

fn next(t: &[u8], i: usize) -> Option<u8> {
    t.get(i).copied()
}

fn alnum(b: Option<u8>) -> bool {
    b.is_some_and(|b| b.is_ascii_alphanumeric())
}

fn digit(b: Option<u8>) -> bool {
    b.is_some_and(|b| b.is_ascii_digit())
}

fn hexdigit(b: Option<u8>) -> bool {
    b.is_some_and(|b| b.is_ascii_hexdigit())
}

/// Not inside a word on either side.
fn word_edges(t: &[u8], s: usize, e: usize) -> bool {
    !alnum(prev(t, s)) && !alnum(next(t, e))
}

/// Not inside a word or a longer number (`1.`, `-`, `/` joined to more digits) on the left.
fn num_left(t: &[u8], s: usize) -> bool {
    let p = prev(t, s);
    if alnum(p) {
        return false;
    }
    let joined = matches!(p, Some(b'.' | b'-' | b'/'));
    !(joined && digit(s.checked_sub(2).and_then(|j| t.get(j)).copied()))
}

/// Not inside a word or a longer number on the right.
fn num_right(t: &[u8], e: usize) -> bool {
    let n = next(t, e);
    if alnum(n) {
        return false;
    }
    let joined = matches!(n, Some(b'.' | b'-' | b'/'));
    !(joined && digit(next(t, e + 1)))
}

fn num_edges(t: &[u8], s: usize, e: usize) -> bool {
    num_left(t, s) && num_right(t, e)
}

fn hit(start: usize, end: usize, score: f32) -> Option<Hit> {
    Some(Hit { start, end, score })
}

/// Digit values of the ASCII digits in `b`.
fn digit_values(b: &[u8]) -> Vec<u8> {
    b.iter()
        .filter(|c| c.is_ascii_digit())
        .map(|c| c - b'0')
        .collect()
}

fn number(d: &[u8]) -> u64 {
    d.iter().fold(0u64, |acc, &x| {
        acc.wrapping_mul(10).wrapping_add(u64::from(x))
    })
}

fn all_same(d: &[u8]) -> bool {
    d.windows(2).all(|w| w.first() == w.get(1))
}

/// Digit groups separated by one separator byte from `seps`, the same one throughout.
struct Grouped {
    digits: Vec<u8>,
    lens: Vec<usize>,
    sep: Option<u8>,
}

fn grouped(b: &[u8], seps: &[u8]) -> Option<Grouped> {
    let mut digits = Vec::with_capacity(b.len());
    let mut lens = Vec::new();
    let mut sep = None;
    let mut cur = 0usize;
    for &c in b {
        if c.is_ascii_digit() {
            digits.push(c - b'0');
            cur += 1;
        } else if seps.contains(&c) && cur > 0 && sep.is_none_or(|s| s == c) {
            sep = Some(c);
            lens.push(cur);
            cur = 0;
        } else {
            return None;
        }
    }
    if cur == 0 {
        return None;
    }
    lens.push(cur);
    Some(Grouped { digits, lens, sep })
}

/// `grouped` with the layout limited to `bare` digits or one of `layouts`.
fn layout(b: &[u8], seps: &[u8], bare: usize, layouts: &[&[usize]]) -> Option<Grouped> {
    let g = grouped(b, seps)?;
    let ok = if g.sep.is_none() {
        g.digits.len() == bare
    } else {
        layouts.contains(&g.lens.as_slice())
    };
    ok.then_some(g)
}

fn luhn(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &x) in d.iter().rev().enumerate() {
        let mut v = u32::from(x);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !d.is_empty() && sum.is_multiple_of(10)
}

const VERHOEFF_D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];

const VERHOEFF_P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

fn verhoeff(d: &[u8]) -> bool {
    let mut c = 0u8;
    for (i, &x) in d.iter().rev().enumerate() {
        let Some(&p) = VERHOEFF_P.get(i % 8).and_then(|r| r.get(usize::from(x))) else {
            return false;
        };
        let Some(&v) = VERHOEFF_D
            .get(usize::from(c))
            .and_then(|r| r.get(usize::from(p)))
        else {
            return false;
        };
        c = v;
    }
    !d.is_empty() && c == 0
}

/// Weighted sum `Σ d[i] * w[i]` over the shorter of the two.
fn weighted(d: &[u8], w: &[u32]) -> u32 {
    d.iter().zip(w).map(|(&x, &w)| u32::from(x) * w).sum()
}

/// ISO 7064 MOD 11,10 check digit over `d`.
fn iso7064_11_10(d: &[u8]) -> u8 {
    let mut product = 10u32;
    for &x in d {
        let mut sum = (u32::from(x) + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (2 * sum) % 11;
    }
    let check = (11 - product) % 10;
    check as u8
}

fn is_leap(y: u32) -> bool {
    y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400))
}

fn days_in_month(year: Option<u32>, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 => match year {
            Some(y) if !is_leap(y) => 28,
            _ => 29,
        },
        _ => 0,
    }
}

fn valid_date(year: Option<u32>, month: u32, day: u32) -> bool {
    day >= 1 && day <= days_in_month(year, month)
}

fn num2(d: &[u8], i: usize) -> Option<u32> {
    let a = u32::from(*d.get(i)?);
    let b = u32::from(*d.get(i + 1)?);
    Some(a * 10 + b)
}

// ---------------------------------------------------------------------------------------------
// Checks: e-mail, phone, cards, US numbers

fn check_email(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    let local_char =
        |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || b"_%+-.".contains(&b));
    if local_char(prev(t, s)) {
        return None;
    }
    let m = t.get(s..e)?;
    let at = m.iter().position(|&b| b == b'@')?;
    let (local, domain) = (m.get(..at)?, m.get(at + 1..)?);
    if local.len() > 64 || domain.len() > 253 {
        return None;
    }
    let tld = domain.rsplit(|&b| b == b'.').next()?;
    let tld_ok = (tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic))
        || (tld.len() > 4
            && tld
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"xn--")));
    // A domain that runs on into more name characters was cut short.
    let runs_on = alnum(next(t, e)) || (next(t, e) == Some(b'-'));
    (tld_ok && !runs_on).then_some(Hit {
        start: s,
        end: e,
        score: 1.0,
    })
}

/// Calling codes with the national significant number's shortest and longest length.
#[rustfmt::skip]
const CALLING_CODES: &[(u16, u8, u8)] = &[
    (1, 10, 10), (7, 10, 10), (20, 8, 10), (27, 9, 9), (30, 10, 10), (31, 9, 9), (32, 8, 9),
    (33, 9, 9), (34, 9, 9), (36, 8, 9), (39, 6, 11), (40, 9, 9), (41, 9, 9), (43, 4, 13),
    (44, 9, 10), (45, 8, 8), (46, 7, 13), (47, 8, 8), (48, 9, 9), (49, 6, 13), (51, 8, 9),
    (52, 10, 10), (53, 6, 8), (54, 10, 11), (55, 10, 11), (56, 9, 9), (57, 8, 10), (58, 10, 10),
    (60, 7, 10), (61, 9, 9), (62, 7, 12), (63, 8, 10), (64, 8, 10), (65, 8, 8), (66, 8, 9),
    (81, 9, 10), (82, 8, 10), (84, 9, 10), (86, 10, 11), (90, 10, 10), (91, 10, 10), (92, 9, 10),
    (93, 9, 9), (94, 9, 9), (95, 7, 10), (98, 10, 10), (212, 9, 9), (213, 8, 9), (216, 8, 8),
    (218, 9, 9), (220, 7, 7), (221, 9, 9), (225, 8, 10), (233, 9, 9), (234, 8, 10), (237, 9, 9),
    (243, 9, 9), (244, 9, 9), (249, 9, 9), (250, 9, 9), (251, 9, 9), (252, 7, 9), (254, 9, 10),
    (255, 9, 9), (256, 9, 9), (260, 9, 9), (261, 9, 9), (263, 9, 9), (264, 8, 9), (265, 9, 9),
    (267, 7, 8), (351, 9, 9), (352, 6, 11), (353, 7, 9), (354, 7, 9), (355, 8, 9), (356, 8, 8),
    (357, 8, 8), (358, 5, 12), (359, 7, 9), (370, 8, 8), (371, 8, 8), (372, 7, 8), (373, 8, 8),
    (374, 8, 8), (375, 9, 9), (376, 6, 9), (377, 8, 9), (378, 6, 10), (380, 9, 9), (381, 8, 9),
    (382, 8, 8), (383, 8, 9), (385, 8, 9), (386, 8, 8), (387, 8, 8), (389, 8, 8), (420, 9, 9),
    (421, 9, 9), (423, 7, 9), (501, 7, 7), (502, 8, 8), (503, 8, 8), (504, 8, 8), (505, 8, 8),
    (506, 8, 8), (507, 7, 8), (509, 8, 8), (591, 8, 8), (593, 8, 9), (595, 9, 9), (598, 8, 8),
    (852, 8, 8), (853, 8, 8), (855, 8, 9), (856, 8, 10), (880, 10, 10), (886, 8, 9), (960, 7, 7),
    (961, 7, 8), (962, 8, 9), (963, 9, 9), (964, 10, 10), (965, 8, 8), (966, 9, 9), (967, 9, 9),
    (968, 8, 8), (970, 9, 9), (971, 8, 9), (972, 8, 9), (973, 8, 8), (974, 8, 8), (975, 8, 8),
    (976, 8, 8), (977, 8, 10), (992, 9, 9), (993, 8, 8), (994, 9, 9), (995, 9, 9), (996, 9, 9),
    (998, 9, 9),
];

#[derive(Debug, Clone, Copy)]
struct PhoneGroup {
    /// Digit range in the text.
    ds: usize,
    de: usize,
    /// End of the group including a closing parenthesis.
    end: usize,
    paren: bool,
    /// Separator before the group (`None` for the first, or straight after a parenthesis).
    sep: Option<u8>,
}

fn check_phone(t: &[u8], s: usize, _e: usize) -> Option<Hit> {
    if !num_left(t, s) || prev(t, s) == Some(b'+') || prev(t, s) == Some(b'(') {
        return None;
    }
    let plus = next(t, s) == Some(b'+');
    let mut i = if plus { s + 1 } else { s };
    let mut groups: Vec<PhoneGroup> = Vec::new();
    let mut total = 0usize;
    let mut sep: Option<u8> = None;
    while groups.len() < 8 {
        let paren = next(t, i) == Some(b'(');
        let ds = if paren { i + 1 } else { i };
        let mut de = ds;
        while digit(next(t, de)) && de - ds < 13 {
            de += 1;
        }
        let n = de - ds;
        if n == 0 || total + n > 15 {
            break;
        }
        let mut end = de;
        if paren {
            if next(t, de) != Some(b')') {
                break;
            }
            end += 1;
        }
        total += n;
        groups.push(PhoneGroup {
            ds,
            de,
            end,
            paren,
            sep,
        });
        i = end;
        match next(t, i) {
            Some(c @ (b' ' | b'-' | b'.' | b'/')) => {
                let after = next(t, i + 1);
                if digit(after) || after == Some(b'(') {
                    sep = Some(c);
                    i += 1;
                } else {
                    break;
                }
            }
            Some(b'(') => sep = None,
            Some(b'0'..=b'9') if paren => sep = None,
            _ => break,
        }
    }
    for k in (1..=groups.len()).rev() {
        let g = groups.get(..k)?;
        let end = g.last()?.end;
        if !num_right(t, end) {
            continue;
        }
        if let Some(score) = phone_score(t, plus, g) {
            return hit(s, end, score);
        }
    }
    None
}

fn phone_score(t: &[u8], plus: bool, g: &[PhoneGroup]) -> Option<f32> {
    let mut d: Vec<u8> = Vec::with_capacity(16);
    for grp in g {
        d.extend(t.get(grp.ds..grp.de)?.iter().map(|c| c - b'0'));
    }
    let lens: Vec<usize> = g.iter().map(|x| x.de - x.ds).collect();
    if d.len() < 7 || all_same(&d) {
        return None;
    }
    // Layout sanity: at most one parenthesised group, among the first two; one kind of dot.
    let parens = g.iter().filter(|x| x.paren).count();
    if parens > 1 || g.iter().skip(2).any(|x| x.paren) {
        return None;
    }
    let seps: Vec<u8> = g.iter().filter_map(|x| x.sep).collect();
    if seps.iter().filter(|&&c| c == b'/').count() > 1 {
        return None;
    }
    if seps.contains(&b'.') && seps.iter().any(|&c| c != b'.') {
        return None;
    }
    let separated = g.len() > 1;
    if plus {
        if g.first()?.paren {
            return None;
        }
        let first_len = *lens.first()?;
        for cc_len in 1..=3usize {
            if cc_len > first_len.max(d.len()) {
                break;
            }
            let code = number(d.get(..cc_len)?) as u16;
            if let Some(&(_, lo, hi)) = CALLING_CODES.iter().find(|(c, _, _)| *c == code) {
                if first_len < cc_len {
                    return None;
                }
                let nsn = d.len() - cc_len;
                return (usize::from(lo)..=usize::from(hi))
                    .contains(&nsn)
                    .then_some(0.7);
            }
        }
        return (8..=15).contains(&d.len()).then_some(0.4);
    }
    // NANP, optionally with a leading 1.
    let (nd, nl): (&[u8], &[usize]) =
        if d.len() == 11 && d.first() == Some(&1) && lens.first() == Some(&1) {
            (d.get(1..)?, lens.get(1..)?)
        } else {
            (&d, &lens)
        };
    if nd.len() == 10 {
        let area_ok =
            matches!(nd.first(), Some(2..=9)) && !(nd.get(1) == Some(&1) && nd.get(2) == Some(&1));
        let exch_ok =
            matches!(nd.get(3), Some(2..=9)) && !(nd.get(4) == Some(&1) && nd.get(5) == Some(&1));
        if area_ok && exch_ok {
            if nl == [3, 3, 4] {
                return Some(0.6);
            }
            if g.len() == 1 {
                return Some(0.1);
            }
        }
    }
    // National layouts with a trunk 0.
    if d.first() == Some(&0) && d.get(1).is_some_and(|&x| x != 0) && (9..=12).contains(&d.len()) {
        if !separated {
            return Some(0.1);
        }
        let first = *lens.first()?;
        let lead_ok = (2..=5).contains(&first) || (first == 1 && g.get(1).is_some_and(|x| x.paren));
        let rest_ok = lens.iter().skip(1).all(|&n| (2..=8).contains(&n));
        if lead_ok && rest_ok {
            return Some(0.5);
        }
        return None;
    }
    // Chinese mobile numbers, unseparated.
    if !separated && d.len() == 11 && d.first() == Some(&1) && matches!(d.get(1), Some(3..=9)) {
        return Some(0.1);
    }
    None
}

fn card_scheme_ok(d: &[u8]) -> bool {
    let n = d.len();
    let p = |k: usize| d.get(..k).map_or(0, number);
    match d.first() {
        Some(1) => n == 15,
        Some(2) => {
            let p4 = p(4);
            ((2221..=2720).contains(&p4) && n == 16)
                || ((2200..=2204).contains(&p4) && (16..=19).contains(&n))
        }
        Some(3) => match p(2) {
            34 | 37 => n == 15,
            35 => (3528..=3589).contains(&p(4)) && (16..=19).contains(&n),
            36 | 38 | 39 => (14..=19).contains(&n),
            30 => ((300..=305).contains(&p(3)) || p(4) == 3095) && (14..=19).contains(&n),
            _ => false,
        },
        Some(4) => matches!(n, 13 | 16 | 19),
        Some(5) => match p(2) {
            51..=55 => n == 16,
            50 | 56..=59 => (12..=19).contains(&n),
            _ => false,
        },
        Some(6) => (12..=19).contains(&n),
        Some(8) => matches!(p(2), 81 | 82) && (16..=19).contains(&n),
        Some(9) => p(4) == 9792 && n == 16,
        _ => false,
    }
}

/// Score of an unseparated card number that passed the scheme and Luhn checks. Numbers of
/// 12–15 digits that only a broad range (Maestro, the 6-series) admits are common in logs as
/// plain ids, and one in ten of them passes Luhn: they are reported with context words only.
/// 16 digits and more, and the fixed-length schemes (Amex 15, UATP 15, Diners 14), stay certain.
fn bare_card_score(d: &[u8]) -> f32 {
    let fixed_length = matches!(
        (d.first(), d.get(1)),
        (Some(1), _) | (Some(3), Some(4 | 6 | 7 | 8 | 9))
    );
    if d.len() >= 16 || fixed_length {
        1.0
    } else {
        0.3
    }
}

fn check_card(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_left(t, s) {
        return None;
    }
    let m = t.get(s..e)?;
    // Groups up to the first change of separator.
    let mut ends: Vec<usize> = Vec::new();
    let mut sep: Option<u8> = None;
    let mut stop = m.len();
    for (i, &c) in m.iter().enumerate() {
        if c.is_ascii_digit() {
            continue;
        }
        if sep.is_some_and(|x| x != c) {
            stop = i;
            break;
        }
        sep = Some(c);
        ends.push(i);
    }
    ends.push(stop);
    let valid = |digits: &[u8]| {
        (12..=19).contains(&digits.len())
            && !all_same(digits)
            && card_scheme_ok(digits)
            && luhn(digits)
    };
    if ends.len() == 1 {
        let d = digit_values(m.get(..stop)?);
        return (valid(&d) && num_right(t, s + stop)).then_some(Hit {
            start: s,
            end: s + stop,
            score: bare_card_score(&d),
        });
    }
    let mut lens = Vec::with_capacity(ends.len());
    let mut last = 0usize;
    for &end in &ends {
        lens.push(end.saturating_sub(last));
        last = end + 1;
    }
    if lens.first() != Some(&4) {
        // An unseparated number followed by a separate group.
        let first = *lens.first()?;
        let d = digit_values(m.get(..first)?);
        return (valid(&d) && num_right(t, s + first)).then_some(Hit {
            start: s,
            end: s + first,
            score: 1.0,
        });
    }
    for k in (2..=ends.len()).rev() {
        let end = *ends.get(k - 1)?;
        if !lens.get(..k)?.iter().all(|&n| (3..=6).contains(&n)) {
            continue;
        }
        let d = digit_values(m.get(..end)?);
        if valid(&d) && num_right(t, s + end) {
            return hit(s, s + end, 1.0);
        }
    }
    None
}

fn check_ssn(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let g = layout(t.get(s..e)?, b"- ", 9, &[&[3, 2, 4]])?;
    let d = &g.digits;
    let (area, group, serial) = (
        number(d.get(..3)?),
        number(d.get(3..5)?),
        number(d.get(5..)?),
    );
    if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
        return None;
    }
    let whole = number(d);
    if all_same(d) || matches!(whole, 78_051_120 | 219_099_999 | 457_555_462 | 123_456_789) {
        return None;
    }
    let score = match g.sep {
        Some(b'-') => 0.5,
        Some(_) => 0.4,
        None => 0.05,
    };
    hit(s, e, score)
}

fn check_itin(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let g = layout(t.get(s..e)?, b"- ", 9, &[&[3, 2, 4]])?;
    let group = number(g.digits.get(3..5)?);
    if !matches!(group, 50..=65 | 70..=88 | 90..=92 | 94..=99) {
        return None;
    }
    let score = if g.sep.is_some() { 0.5 } else { 0.3 };
    hit(s, e, score)
}

fn check_us_bank(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    let d = digit_values(t.get(s..e)?);
    (num_edges(t, s, e) && !all_same(&d)).then_some(Hit {
        start: s,
        end: e,
        score: 0.05,
    })
}

fn check_us_passport(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    let m = t.get(s..e)?;
    if !num_edges(t, s, e) {
        return None;
    }
    let letter = m.first().is_some_and(u8::is_ascii_uppercase);
    let digits = digit_values(m);
    match (letter, digits.len()) {
        (true, 8) => hit(s, e, 0.1),
        (false, 9) if !all_same(&digits) => hit(s, e, 0.05),
        _ => None,
    }
}

fn check_aba(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let g = layout(t.get(s..e)?, b"-", 9, &[&[4, 4, 1]])?;
    let d = &g.digits;
    let prefix = number(d.get(..2)?);
    if !matches!(prefix, 0..=12 | 21..=32 | 61..=72 | 80) || all_same(d) {
        return None;
    }
    if !weighted(d, &[3, 7, 1, 3, 7, 1, 3, 7, 1]).is_multiple_of(10) {
        return None;
    }
    hit(s, e, if g.sep.is_some() { 0.6 } else { 0.2 })
}

fn check_npi(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let g = layout(t.get(s..e)?, b"- ", 10, &[&[4, 3, 3]])?;
    let mut full = vec![8, 0, 8, 4, 0];
    full.extend_from_slice(&g.digits);
    if g.digits.get(..9).is_none_or(all_same) || !luhn(&full) {
        return None;
    }
    hit(s, e, if g.sep.is_some() { 0.5 } else { 0.2 })
}

// ---------------------------------------------------------------------------------------------
// Checks: IBAN, IP, MAC, crypto

/// IBAN length per country (ISO 13616 registry).
#[rustfmt::skip]
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24), (b"AE", 23), (b"AL", 28), (b"AT", 20), (b"AZ", 28), (b"BA", 20), (b"BE", 16),
    (b"BG", 22), (b"BH", 22), (b"BI", 27), (b"BR", 29), (b"BY", 28), (b"CH", 21), (b"CR", 22),
    (b"CY", 28), (b"CZ", 24), (b"DE", 22), (b"DJ", 27), (b"DK", 18), (b"DO", 28), (b"EE", 20),
    (b"EG", 29), (b"ES", 24), (b"FI", 18), (b"FK", 18), (b"FO", 18), (b"FR", 27), (b"GB", 22),
    (b"GE", 22), (b"GI", 23), (b"GL", 18), (b"GR", 27), (b"GT", 28), (b"HN", 28), (b"HR", 21),
    (b"HU", 28), (b"IE", 22), (b"IL", 23), (b"IQ", 23), (b"IS", 26), (b"IT", 27), (b"JO", 30),
    (b"KW", 30), (b"KZ", 20), (b"LB", 28), (b"LC", 32), (b"LI", 21), (b"LT", 20), (b"LU", 20),
    (b"LV", 21), (b"LY", 25), (b"MC", 27), (b"MD", 24), (b"ME", 22), (b"MK", 19), (b"MN", 20),
    (b"MR", 27), (b"MT", 31), (b"MU", 30), (b"NI", 28), (b"NL", 18), (b"NO", 15), (b"OM", 23),
    (b"PK", 24), (b"PL", 28), (b"PS", 29), (b"PT", 25), (b"QA", 29), (b"RO", 24), (b"RS", 22),
    (b"RU", 33), (b"SA", 24), (b"SC", 31), (b"SD", 18), (b"SE", 24), (b"SI", 19), (b"SK", 24),
    (b"SM", 27), (b"SO", 23), (b"ST", 25), (b"SV", 28), (b"TL", 23), (b"TN", 24), (b"TR", 26),
    (b"UA", 29), (b"VA", 22), (b"VG", 24), (b"XK", 20), (b"YE", 30),
];

fn check_iban(t: &[u8], s: usize, _e: usize) -> Option<Hit> {
    if alnum(prev(t, s)) {
        return None;
    }
    let cc = t.get(s..s + 2)?;
    let len = IBAN_LENGTHS.iter().find(|(c, _)| c.as_slice() == cc)?.1;
    let spaced = next(t, s + 4) == Some(b' ');
    let mut chars: Vec<u8> = Vec::with_capacity(len);
    let mut i = s;
    while chars.len() < len {
        if spaced && chars.len() >= 4 && chars.len().is_multiple_of(4) {
            if next(t, i) != Some(b' ') {
                return None;
            }
            i += 1;
        }
        let c = next(t, i)?;
        if !(c.is_ascii_digit() || c.is_ascii_uppercase()) {
            return None;
        }
        chars.push(c);
        i += 1;
    }
    if alnum(next(t, i)) {
        return None;
    }
    let mut r = 0u32;
    for &c in chars.iter().skip(4).chain(chars.iter().take(4)) {
        r = if c.is_ascii_digit() {
            (r * 10 + u32::from(c - b'0')) % 97
        } else {
            (r * 100 + u32::from(c - b'A') + 10) % 97
        };
    }
    (r == 1).then_some(Hit {
        start: s,
        end: i,
        score: 1.0,
    })
}

fn check_ipv4(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !word_edges_left_only(t, s) {
        return None;
    }
    let m = std::str::from_utf8(t.get(s..e)?).ok()?;
    let (addr, prefix) = match m.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (m, None),
    };
    addr.parse::<std::net::Ipv4Addr>().ok()?;
    let addr_end = s + addr.len();
    if let Some(p) = prefix {
        let valid = p.parse::<u8>().is_ok_and(|n| n <= 32) && (p == "0" || !p.starts_with('0'));
        if valid && !alnum(next(t, e)) {
            return hit(s, e, 0.6);
        }
    }
    if alnum(next(t, addr_end)) {
        return None;
    }
    hit(s, addr_end, 0.6)
}

fn word_edges_left_only(t: &[u8], s: usize) -> bool {
    !alnum(prev(t, s))
}

fn check_ipv6(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    let p = prev(t, s);
    if alnum(p) || p == Some(b':') {
        return None;
    }
    let m = std::str::from_utf8(t.get(s..e)?).ok()?;
    let (body, prefix) = match m.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (m, None),
    };
    let addr = body.split_once('%').map_or(body, |(a, _)| a);
    let ip = addr.parse::<std::net::Ipv6Addr>().ok()?;
    let score = if ip.is_unspecified() { 0.1 } else { 0.6 };
    let right_ok = |end: usize| {
        let n = next(t, end);
        !(alnum(n) || n == Some(b':') || (n == Some(b'.') && digit(next(t, end + 1))))
    };
    if let Some(p) = prefix {
        let valid = p.parse::<u8>().is_ok_and(|n| n <= 128) && (p == "0" || !p.starts_with('0'));
        if valid && right_ok(e) {
            return hit(s, e, score);
        }
    }
    let body_end = s + body.len();
    if !right_ok(body_end) {
        return None;
    }
    hit(s, body_end, score)
}

fn check_mac(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    let m = t.get(s..e)?;
    let sep = *m
        .get(2)
        .filter(|&&c| c == b':' || c == b'-')
        .or_else(|| m.get(4))?;
    if m.iter()
        .filter(|c| !c.is_ascii_hexdigit())
        .any(|&c| c != sep)
    {
        return None;
    }
    let hex: Vec<u8> = m.iter().copied().filter(u8::is_ascii_hexdigit).collect();
    if hex.iter().all(|&c| c == b'0') || hex.iter().all(|&c| c == b'f' || c == b'F') {
        return None;
    }
    // Not one piece of a longer chain of hex groups.
    let p = prev(t, s);
    let n = next(t, e);
    if alnum(p) || alnum(n) {
        return None;
    }
    if p == Some(sep) && hexdigit(s.checked_sub(2).and_then(|j| t.get(j)).copied()) {
        return None;
    }
    if n == Some(sep) && hexdigit(next(t, e + 1)) {
        return None;
    }
    hit(s, e, 0.6)
}

const BASE58: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

fn base58_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(32);
    for &c in s {
        let mut carry = BASE58.iter().position(|&b| b == c)? as u32;
        for byte in out.iter_mut().rev() {
            carry += u32::from(*byte) * 58;
            *byte = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            out.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let zeros = s.iter().take_while(|&&c| c == b'1').count();
    let mut full = vec![0u8; zeros];
    full.extend(out);
    Some(full)
}

fn check_base58(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !word_edges(t, s, e) {
        return None;
    }
    let raw = base58_decode(t.get(s..e)?)?;
    if raw.len() != 25 || !matches!(raw.first(), Some(0x00 | 0x05)) {
        return None;
    }
    let (payload, checksum) = raw.split_at_checked(21)?;
    let digest = Sha256::digest(Sha256::digest(payload));
    (digest.get(..4)? == checksum).then_some(Hit {
        start: s,
        end: e,
        score: 1.0,
    })
}

const BECH32_CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

fn bech32_polymod(values: &[u8]) -> u32 {
    const GEN: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    let mut chk: u32 = 1;
    for &v in values {
        let top = chk >> 25;
        chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

fn check_bech32(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !word_edges(t, s, e) {
        return None;
    }
    let m = t.get(s..e)?;
    let lower = m.iter().any(u8::is_ascii_lowercase);
    let upper = m.iter().any(u8::is_ascii_uppercase);
    if (lower && upper) || m.len() > 90 {
        return None;
    }
    let m = m.to_ascii_lowercase();
    let data_chars = m.get(3..)?;
    let mut data = Vec::with_capacity(data_chars.len());
    for c in data_chars {
        data.push(BECH32_CHARSET.iter().position(|b| b == c)? as u8);
    }
    let mut values = vec![3u8, 3, 0, 2, 3];
    values.extend_from_slice(&data);
    let constant = bech32_polymod(&values);
    let version = *data.first()?;
    let body = data.get(1..data.len().checked_sub(6)?)?;
    // 5-bit groups to bytes.
    let program_bits = body.len() * 5;
    let program_len = program_bits / 8;
    if program_bits % 8 >= 5 || !(2..=40).contains(&program_len) {
        return None;
    }
    let ok = match version {
        0 => constant == 1 && (program_len == 20 || program_len == 32),
        1..=16 => constant == 0x2bc8_30a3,
        _ => false,
    };
    ok.then_some(Hit {
        start: s,
        end: e,
        score: 1.0,
    })
}

// ---------------------------------------------------------------------------------------------
// Checks: UK, Canada, Australia, India, Singapore

fn check_nhs(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let g = layout(t.get(s..e)?, b"- ", 10, &[&[3, 3, 4]])?;
    let d = &g.digits;
    if all_same(d) {
        return None;
    }
    let sum = weighted(d, &[10, 9, 8, 7, 6, 5, 4, 3, 2]);
    let check = (11 - sum % 11) % 11;
    if check == 10 || u32::from(*d.get(9)?) != check {
        return None;
    }
    hit(s, e, if g.sep.is_some() { 0.5 } else { 0.2 })
}

fn check_nino(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !word_edges(t, s, e) {
        return None;
    }
    let m = t.get(s..e)?;
    let letters: Vec<u8> = m.iter().copied().filter(u8::is_ascii_alphabetic).collect();
    if !(letters.iter().all(u8::is_ascii_uppercase) || letters.iter().all(u8::is_ascii_lowercase)) {
        return None;
    }
    let up: Vec<u8> = letters.to_ascii_uppercase();
    let (a, b) = (*up.first()?, *up.get(1)?);
    if b"DFIQUV".contains(&a) || b"DFIOQUV".contains(&b) {
        return None;
    }
    if [*b"BG", *b"GB", *b"KN", *b"NK", *b"NT", *b"TN", *b"ZZ"].contains(&[a, b]) {
        return None;
    }
    hit(s, e, 0.5)
}

fn check_ca_sin(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let g = layout(t.get(s..e)?, b"- ", 9, &[&[3, 3, 3]])?;
    if matches!(g.digits.first(), Some(0 | 8)) || all_same(&g.digits) || !luhn(&g.digits) {
        return None;
    }
    hit(s, e, if g.sep.is_some() { 0.4 } else { 0.2 })
}

fn check_au_abn(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let g = layout(t.get(s..e)?, b" ", 11, &[&[2, 3, 3, 3]])?;
    let mut d = g.digits.clone();
    let first = d.first_mut()?;
    *first = first.checked_sub(1)?;
    let sum = weighted(&d, &[10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);
    if !sum.is_multiple_of(89) || all_same(&g.digits) {
        return None;
    }
    hit(s, e, if g.sep.is_some() { 0.8 } else { 0.5 })
}

fn check_au_acn(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let g = layout(t.get(s..e)?, b" ", 9, &[&[3, 3, 3]])?;
    let d = &g.digits;
    let sum = weighted(d, &[8, 7, 6, 5, 4, 3, 2, 1]);
    let check = (10 - sum % 10) % 10;
    if u32::from(*d.get(8)?) != check || all_same(d) {
        return None;
    }
    hit(s, e, if g.sep.is_some() { 0.4 } else { 0.2 })
}

fn check_au_tfn(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let g = layout(t.get(s..e)?, b" ", 9, &[&[3, 3, 3]])?;
    let sum = weighted(&g.digits, &[1, 4, 3, 7, 5, 8, 6, 9, 10]);
    if !sum.is_multiple_of(11) || all_same(&g.digits) {
        return None;
    }
    hit(s, e, if g.sep.is_some() { 0.4 } else { 0.2 })
}

fn check_au_medicare(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let g = layout(t.get(s..e)?, b" ", 10, &[&[4, 5, 1]])?;
    let d = &g.digits;
    let sum = weighted(d, &[1, 3, 7, 9, 1, 3, 7, 9]);
    if u32::from(*d.get(8)?) != sum % 10 {
        return None;
    }
    hit(s, e, if g.sep.is_some() { 0.6 } else { 0.2 })
}

fn check_pan(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !word_edges(t, s, e) {
        return None;
    }
    let holder = *t.get(s + 3)?;
    hit(
        s,
        e,
        if b"ABCFGHJLPT".contains(&holder) {
            0.5
        } else {
            0.1
        },
    )
}

fn check_aadhaar(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let g = layout(t.get(s..e)?, b" -:", 12, &[&[4, 4, 4]])?;
    let d = &g.digits;
    let palindrome = d.iter().eq(d.iter().rev());
    if palindrome || !verhoeff(d) {
        return None;
    }
    hit(s, e, if g.sep.is_some() { 0.5 } else { 0.3 })
}

fn check_nric(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !word_edges(t, s, e) {
        return None;
    }
    let m = t.get(s..e)?;
    let (first, last) = (*m.first()?, *m.last()?);
    if first.is_ascii_uppercase() != last.is_ascii_uppercase() {
        return None;
    }
    let (first, last) = (first.to_ascii_uppercase(), last.to_ascii_uppercase());
    let d = digit_values(m);
    let sum = weighted(&d, &[2, 7, 6, 5, 4, 3, 2]);
    let (offset, table): (u32, &[u8; 11]) = match first {
        b'S' => (0, b"JZIHGFEDCBA"),
        b'T' => (4, b"JZIHGFEDCBA"),
        b'F' => (0, b"XWUTRQPNMLK"),
        b'G' => (4, b"XWUTRQPNMLK"),
        b'M' => (3, b"XWUTRQPNJLK"),
        _ => return None,
    };
    let idx = ((sum + offset) % 11) as usize;
    let valid = table.get(idx) == Some(&last);
    hit(s, e, if valid { 0.9 } else { 0.3 })
}

// ---------------------------------------------------------------------------------------------
// Checks: Spain, Italy, Poland, Finland, Sweden

const NIF_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

fn mod23_letter(n: u64) -> Option<u8> {
    NIF_LETTERS.get((n % 23) as usize).copied()
}

fn check_es_nif(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !word_edges(t, s, e) {
        return None;
    }
    let m = t.get(s..e)?;
    let letter = m.last()?.to_ascii_uppercase();
    let d = digit_values(m);
    if all_same(&d) && d.first() == Some(&0) {
        return None;
    }
    (mod23_letter(number(&d)) == Some(letter)).then_some(Hit {
        start: s,
        end: e,
        score: 0.9,
    })
}

fn check_es_nie(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !word_edges(t, s, e) {
        return None;
    }
    let m = t.get(s..e)?;
    let prefix = match m.first()?.to_ascii_uppercase() {
        b'X' => 0,
        b'Y' => 1,
        b'Z' => 2,
        _ => return None,
    };
    let letter = m.last()?.to_ascii_uppercase();
    let n = prefix * 10_000_000 + number(&digit_values(m));
    (mod23_letter(n) == Some(letter)).then_some(Hit {
        start: s,
        end: e,
        score: 0.9,
    })
}

fn omocode(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'L' => Some(0),
        b'M' => Some(1),
        b'N' => Some(2),
        b'P' => Some(3),
        b'Q' => Some(4),
        b'R' => Some(5),
        b'S' => Some(6),
        b'T' => Some(7),
        b'U' => Some(8),
        b'V' => Some(9),
        _ => None,
    }
}

#[rustfmt::skip]
const FISCAL_ODD: [u32; 26] = [
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
];

fn check_it_fiscal(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !word_edges(t, s, e) {
        return None;
    }
    let m = t.get(s..e)?;
    if !(m.iter().all(|c| !c.is_ascii_lowercase()) || m.iter().all(|c| !c.is_ascii_uppercase())) {
        return None;
    }
    let up = m.to_ascii_uppercase();
    let day = u32::from(omocode(*up.get(9)?)?) * 10 + u32::from(omocode(*up.get(10)?)?);
    if !((1..=31).contains(&day) || (41..=71).contains(&day)) {
        return None;
    }
    let mut sum = 0u32;
    for (i, &c) in up.iter().take(15).enumerate() {
        let v = if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c.checked_sub(b'A')?)
        };
        sum += if i % 2 == 0 {
            // Odd positions (1-based) use the odd table; digits map like A..J.
            *FISCAL_ODD.get(v as usize)?
        } else {
            v
        };
    }
    let check = b'A' + (sum % 26) as u8;
    hit(s, e, if up.get(15) == Some(&check) { 1.0 } else { 0.3 })
}

fn check_it_vat(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let d = digit_values(t.get(s..e)?);
    if d.iter().take(7).all(|&x| x == 0) || !luhn(&d) {
        return None;
    }
    hit(s, e, 0.3)
}

fn check_pesel(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let d = digit_values(t.get(s..e)?);
    let (yy, mm, dd) = (num2(&d, 0)?, num2(&d, 2)?, num2(&d, 4)?);
    let (century, month) = match mm {
        1..=12 => (1900, mm),
        21..=32 => (2000, mm - 20),
        41..=52 => (2100, mm - 40),
        61..=72 => (2200, mm - 60),
        81..=92 => (1800, mm - 80),
        _ => return None,
    };
    if !valid_date(Some(century + yy), month, dd) {
        return None;
    }
    let sum = weighted(&d, &[1, 3, 7, 9, 1, 3, 7, 9, 1, 3]);
    if (10 - sum % 10) % 10 != u32::from(*d.get(10)?) {
        return None;
    }
    hit(s, e, 0.5)
}

const FI_CHECK: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";

fn check_fi(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if digit(prev(t, s)) || alnum(next(t, e)) {
        return None;
    }
    let m = t.get(s..e)?;
    let d = digit_values(m.get(..6)?);
    let century = match *m.get(6)? {
        b'+' => 1800,
        b'-' | b'U'..=b'Y' => 1900,
        b'A'..=b'F' => 2000,
        _ => return None,
    };
    let (dd, mm, yy) = (num2(&d, 0)?, num2(&d, 2)?, num2(&d, 4)?);
    if !valid_date(Some(century + yy), mm, dd) {
        return None;
    }
    let serial = digit_values(m.get(7..10)?);
    let n = number(&d) * 1000 + number(&serial);
    let check = *FI_CHECK.get((n % 31) as usize)?;
    (m.get(10) == Some(&check)).then_some(Hit {
        start: s,
        end: e,
        score: 1.0,
    })
}

fn se_date_ok(year: Option<u32>, mm: u32, dd: u32) -> bool {
    let day = if dd > 60 { dd - 60 } else { dd };
    valid_date(year, mm, day)
}

fn check_se_pnr(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if digit(prev(t, s)) || alnum(next(t, e)) {
        return None;
    }
    let m = t.get(s..e)?;
    let sep = m.iter().find(|c| !c.is_ascii_digit()).copied();
    let d = digit_values(m);
    let (year, ten): (Option<u32>, &[u8]) = match d.len() {
        12 => {
            let century = num2(&d, 0)?;
            if !(18..=20).contains(&century) || sep == Some(b'+') {
                return None;
            }
            (Some(century * 100 + num2(&d, 2)?), d.get(2..)?)
        }
        10 => (None, &d),
        _ => return None,
    };
    let (mm, dd) = (num2(ten, 2)?, num2(ten, 4)?);
    if !se_date_ok(year, mm, dd) || !luhn(ten) {
        return None;
    }
    let score = if d.len() == 12 || sep.is_some() {
        0.8
    } else {
        0.3
    };
    hit(s, e, score)
}

fn check_se_org(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let g = layout(t.get(s..e)?, b"-", 10, &[&[6, 4]])?;
    let d = &g.digits;
    if d.first() == Some(&0) || d.get(2).is_none_or(|&x| x < 2) || !luhn(d) {
        return None;
    }
    hit(s, e, if g.sep.is_some() { 0.6 } else { 0.3 })
}

// ---------------------------------------------------------------------------------------------
// Checks: Germany

fn check_de_tax_id(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let d = digit_values(t.get(s..e)?);
    if d.first() == Some(&0) {
        return None;
    }
    let mut counts = [0u8; 10];
    for &x in d.iter().take(10) {
        if let Some(c) = counts.get_mut(usize::from(x)) {
            *c += 1;
        }
    }
    let repeated: Vec<u8> = counts.iter().copied().filter(|&c| c > 1).collect();
    if repeated.len() != 1 || !matches!(repeated.first(), Some(2 | 3)) {
        return None;
    }
    // A digit used three times may not stand three in a row.
    if d.get(..10)?.windows(3).any(all_same) {
        return None;
    }
    if iso7064_11_10(d.get(..10)?) != *d.get(10)? {
        return None;
    }
    hit(s, e, 0.4)
}

fn check_de_vat(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !word_edges(t, s, e) {
        return None;
    }
    let m = t.get(s..e)?;
    let rest = m.get(2..)?;
    // Separators: none, one after the prefix, or the same one between every group.
    let seps: Vec<(usize, u8)> = rest
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.is_ascii_digit())
        .map(|(i, &c)| (i, c))
        .collect();
    let layout_ok = match seps.as_slice() {
        [] | [(0, _)] => true,
        [(0, a), (4, b), (8, c)] => a == b && b == c,
        [(3, a), (7, b)] => a == b,
        _ => false,
    };
    if !layout_ok {
        return None;
    }
    let d = digit_values(rest);
    if d.first() == Some(&0) {
        return None;
    }
    let valid = iso7064_11_10(d.get(..8)?) == *d.get(8)?;
    hit(s, e, if valid { 1.0 } else { 0.3 })
}

/// Cross sum of each product (`12` counts as `1 + 2`).
fn cross_weighted(d: &[u8], w: &[u32]) -> u32 {
    d.iter()
        .zip(w)
        .map(|(&x, &w)| {
            let p = u32::from(x) * w;
            p / 10 + p % 10
        })
        .sum()
}

fn check_de_kvnr(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !word_edges(t, s, e) {
        return None;
    }
    let m = t.get(s..e)?;
    let letter = u32::from(m.first()?.to_ascii_uppercase().checked_sub(b'A')?) + 1;
    let d = digit_values(m);
    let mut full = vec![(letter / 10) as u8, (letter % 10) as u8];
    full.extend_from_slice(d.get(..8)?);
    let sum = cross_weighted(&full, &[1, 2, 1, 2, 1, 2, 1, 2, 1, 2]);
    if sum % 10 != u32::from(*d.get(8)?) {
        return None;
    }
    hit(s, e, 0.6)
}

fn check_de_rvnr(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !word_edges(t, s, e) {
        return None;
    }
    let m: Vec<u8> = t
        .get(s..e)?
        .iter()
        .copied()
        .filter(|&c| c != b' ')
        .collect();
    if m.len() != 12 {
        return None;
    }
    let d = digit_values(&m);
    let (dd, mm) = (num2(&d, 2)?, num2(&d, 4)?);
    // A second number for the same birth date adds 50 to the day.
    let day = if dd > 50 { dd - 50 } else { dd };
    if !valid_date(None, mm, day) {
        return None;
    }
    let letter = u32::from(m.get(8)?.to_ascii_uppercase().checked_sub(b'A')?) + 1;
    let mut full: Vec<u8> = d.get(..8)?.to_vec();
    full.push((letter / 10) as u8);
    full.push((letter % 10) as u8);
    full.extend_from_slice(d.get(8..10)?);
    let sum = cross_weighted(&full, &[2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1]);
    if sum % 10 != u32::from(*d.get(10)?) {
        return None;
    }
    hit(s, e, 0.8)
}

fn icao_value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
        _ => None,
    }
}

fn check_de_document(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !word_edges(t, s, e) {
        return None;
    }
    let m = t.get(s..e)?;
    if !(m.iter().all(|c| !c.is_ascii_lowercase()) || m.iter().all(|c| !c.is_ascii_uppercase())) {
        return None;
    }
    let up = m.to_ascii_uppercase();
    let mut sum = 0u32;
    for (i, &c) in up.iter().take(8).enumerate() {
        let w = match i % 3 {
            0 => 7,
            1 => 3,
            _ => 1,
        };
        sum += icao_value(c)? * w;
    }
    if icao_value(*up.get(8)?)? != sum % 10 {
        return None;
    }
    // Old identity cards: a letter and eight digits carry a weaker check.
    let letters = up.iter().filter(|c| c.is_ascii_alphabetic()).count();
    hit(s, e, if letters > 1 { 0.8 } else { 0.5 })
}

fn check_de_lanr(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let d = digit_values(t.get(s..e)?);
    let sum = weighted(&d, &[4, 9, 4, 9, 4, 9]);
    if (10 - sum % 10) % 10 != u32::from(*d.get(6)?) || all_same(&d) {
        return None;
    }
    hit(s, e, 0.2)
}

// ---------------------------------------------------------------------------------------------
// Checks: Turkey, South Africa, Korea, Nigeria, Thailand

fn check_tr_id(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let d = digit_values(t.get(s..e)?);
    let at = |i: usize| d.get(i).map_or(0, |&x| i64::from(x));
    let odd: i64 = (0..9).step_by(2).map(at).sum();
    let even: i64 = (1..8).step_by(2).map(at).sum();
    let d10 = (odd * 7 - even).rem_euclid(10);
    let d11 = ((0..10).map(at).sum::<i64>()) % 10;
    (d10 == at(9) && d11 == at(10)).then_some(Hit {
        start: s,
        end: e,
        score: 0.5,
    })
}

fn check_za_id(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let d = digit_values(t.get(s..e)?);
    let (mm, dd) = (num2(&d, 2)?, num2(&d, 4)?);
    if !valid_date(None, mm, dd) || !matches!(d.get(10), Some(0..=2)) || !luhn(&d) {
        return None;
    }
    hit(s, e, 0.5)
}

fn kr_parts(t: &[u8], s: usize, e: usize) -> Option<(Vec<u8>, bool)> {
    if !num_edges(t, s, e) {
        return None;
    }
    let g = layout(t.get(s..e)?, b"-", 13, &[&[6, 7]])?;
    let d = g.digits;
    let (mm, dd) = (num2(&d, 2)?, num2(&d, 4)?);
    valid_date(None, mm, dd).then_some((d, g.sep.is_some()))
}

fn kr_check(d: &[u8]) -> bool {
    let sum = weighted(d, &[2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5]);
    d.get(12)
        .is_some_and(|&c| (11 - sum % 11) % 10 == u32::from(c))
}

fn check_kr_rrn(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    let (d, dashed) = kr_parts(t, s, e)?;
    if !matches!(d.get(6), Some(1..=4)) {
        return None;
    }
    let score = match (kr_check(&d), dashed) {
        (true, _) => 1.0,
        (false, true) => 0.5,
        (false, false) => 0.2,
    };
    hit(s, e, score)
}

fn check_kr_frn(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    let (d, dashed) = kr_parts(t, s, e)?;
    if !matches!(d.get(6), Some(5..=8)) {
        return None;
    }
    let score = match (kr_check(&d), dashed) {
        (true, _) => 1.0,
        (false, true) => 0.5,
        (false, false) => 0.2,
    };
    hit(s, e, score)
}

fn check_kr_brn(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let g = layout(t.get(s..e)?, b"-", 10, &[&[3, 2, 5]])?;
    let d = &g.digits;
    let d9 = u32::from(*d.get(8)?);
    let sum = weighted(d, &[1, 3, 7, 1, 3, 7, 1, 3, 5]) + d9 * 5 / 10;
    if (10 - sum % 10) % 10 != u32::from(*d.get(9)?) || all_same(d) {
        return None;
    }
    hit(s, e, if g.sep.is_some() { 0.6 } else { 0.3 })
}

fn check_ng_nin(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let d = digit_values(t.get(s..e)?);
    (verhoeff(&d) && !all_same(&d)).then_some(Hit {
        start: s,
        end: e,
        score: 0.3,
    })
}

fn check_th_tnin(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let d = digit_values(t.get(s..e)?);
    let province = num2(&d, 1)?;
    if !matches!(province, 10..=27 | 30..=49 | 50..=58 | 60..=67 | 70..=77 | 80..=86 | 90..=96) {
        return None;
    }
    let sum = weighted(&d, &[13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2]);
    if (11 - sum % 11) % 10 != u32::from(*d.get(12)?) {
        return None;
    }
    hit(s, e, 0.3)
}

// ---------------------------------------------------------------------------------------------
// Checks: dates

fn check_iso_date(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if alnum(prev(t, s)) {
        return None;
    }
    let m = t.get(s..e)?;
    let d = digit_values(m.get(..10)?);
    let year = u32::try_from(number(d.get(..4)?)).ok()?;
    let (mm, dd) = (num2(&d, 4)?, num2(&d, 6)?);
    if !valid_date(Some(year), mm, dd) {
        return None;
    }
    if m.len() > 10 {
        let time = digit_values(m.get(11..16)?);
        let (h, min) = (num2(&time, 0)?, num2(&time, 2)?);
        let sec_ok = m.get(16) != Some(&b':') || num2(&digit_values(m.get(17..19)?), 0)? <= 60;
        if h <= 23 && min <= 59 && sec_ok && !alnum(next(t, e)) {
            return hit(s, e, 0.8);
        }
    }
    let end = s + 10;
    if alnum(next(t, end)) {
        return None;
    }
    hit(s, end, 0.6)
}

fn check_numeric_date(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !num_edges(t, s, e) {
        return None;
    }
    let m = t.get(s..e)?;
    let sep = *m.iter().find(|c| !c.is_ascii_digit())?;
    let parts: Vec<&[u8]> = m.split(|&c| c == sep).collect();
    if m.iter().any(|&c| !c.is_ascii_digit() && c != sep) {
        return None;
    }
    let val = |p: &[u8]| u32::try_from(number(&digit_values(p))).ok();
    match parts.as_slice() {
        [a, b, c] => {
            let (va, vb, vc) = (val(a)?, val(b)?, val(c)?);
            let ok = if a.len() == 4 {
                b.len() <= 2 && c.len() <= 2 && valid_date(Some(va), vb, vc)
            } else if a.len() <= 2 && b.len() <= 2 && (c.len() == 2 || c.len() == 4) {
                let year = (c.len() == 4).then_some(vc);
                valid_date(year, va, vb) || valid_date(year, vb, va)
            } else {
                false
            };
            ok.then_some(Hit {
                start: s,
                end: e,
                score: 0.6,
            })
        }
        [a, b] if sep == b'/' && a.len() <= 2 => {
            let (va, vb) = (val(a)?, val(b)?);
            match b.len() {
                4 if (1..=12).contains(&va) && (1900..=2099).contains(&vb) => hit(s, e, 0.2),
                2 if (1..=12).contains(&va)
                    || ((13..=31).contains(&va) && (1..=12).contains(&vb)) =>
                {
                    hit(s, e, 0.1)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn month_number(word: &[u8]) -> Option<u32> {
    let w = word.to_ascii_lowercase();
    let names: [&[u8]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    let pos = names.iter().position(|n| w.starts_with(n))?;
    u32::try_from(pos + 1).ok()
}

/// The month name inside a match, and whether it is capitalised (not `may` the verb).
fn month_in(m: &[u8]) -> Option<(u32, bool)> {
    let start = m.iter().position(u8::is_ascii_alphabetic)?;
    let mut start = start;
    // Skip ordinal suffixes and "of".
    loop {
        let rest = m.get(start..)?;
        let len = rest.iter().take_while(|c| c.is_ascii_alphabetic()).count();
        let word = rest.get(..len)?;
        if let Some(n) = month_number(word).filter(|_| len >= 3) {
            return Some((n, word.first().is_some_and(u8::is_ascii_uppercase)));
        }
        start += len;
        start += m
            .get(start..)?
            .iter()
            .take_while(|c| !c.is_ascii_alphabetic())
            .count();
        if start >= m.len() {
            return None;
        }
    }
}

fn check_day_month_date(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !word_edges(t, s, e) || (next(t, e) == Some(b'-') && digit(next(t, e + 1))) {
        return None;
    }
    let m = t.get(s..e)?;
    let (month, capital) = month_in(m)?;
    let day_len = m.iter().take_while(|c| c.is_ascii_digit()).count();
    let day = u32::try_from(number(&digit_values(m.get(..day_len)?))).ok()?;
    if !capital || !valid_date(None, month, day) {
        return None;
    }
    hit(s, e, 0.6)
}

fn check_month_day_date(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if !word_edges(t, s, e) {
        return None;
    }
    let m = t.get(s..e)?;
    let (month, capital) = month_in(m)?;
    if !capital {
        return None;
    }
    let first_num: Vec<u8> = m
        .iter()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .copied()
        .collect();
    let n = u32::try_from(number(&digit_values(&first_num))).ok()?;
    let ok = match first_num.len() {
        4 => (1000..=2999).contains(&n),
        1 | 2 => valid_date(None, month, n) || first_num.len() == 2,
        _ => false,
    };
    ok.then_some(Hit {
        start: s,
        end: e,
        score: 0.6,
    })
}

// ---------------------------------------------------------------------------------------------
// Checks: URLs

/// TLDs accepted for a bare domain (no scheme, no `www.`): common ones that are not also file
/// extensions (`.md`, `.py`, `.rs`, `.sh`, `.pl`, `.cc`, ...).
#[rustfmt::skip]
const BARE_TLDS: &[&[u8]] = &[
    b"com", b"net", b"org", b"edu", b"gov", b"mil", b"int", b"info", b"biz", b"io", b"co", b"ai",
    b"app", b"dev", b"me", b"tv", b"us", b"uk", b"de", b"fr", b"it", b"es", b"nl", b"ch", b"se",
    b"no", b"dk", b"fi", b"cz", b"ru", b"ua", b"jp", b"cn", b"kr", b"au", b"nz", b"ca", b"br",
    b"mx", b"ar", b"il", b"za", b"tr", b"gr", b"ie", b"eu", b"site", b"online", b"xyz", b"tech",
    b"cloud", b"store", b"shop", b"blog", b"news", b"ly", b"gg", b"tk", b"ws", b"pro", b"mobi",
    b"name", b"aero", b"coop", b"museum", b"travel", b"jobs", b"webcam",
];

fn host_ok(host: &[u8]) -> bool {
    if host.first() == Some(&b'[') {
        return std::str::from_utf8(host)
            .ok()
            .and_then(|h| h.strip_prefix('[')?.strip_suffix(']'))
            .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
    }
    if std::str::from_utf8(host).is_ok_and(|h| h.parse::<std::net::Ipv4Addr>().is_ok()) {
        return true;
    }
    let labels: Vec<&[u8]> = host.split(|&b| b == b'.').collect();
    let tld = labels.last().copied().unwrap_or_default();
    labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty() && l.len() <= 63)
        && host
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && tld.len() >= 2
        && tld.iter().all(u8::is_ascii_alphabetic)
}

/// Drops trailing punctuation that ends a sentence rather than the URL.
fn trim_url_end(t: &[u8], s: usize, mut e: usize) -> usize {
    while e > s {
        let Some(c) = prev(t, e) else { break };
        let opens = t
            .get(s..e)
            .map_or(0, |u| u.iter().filter(|&&b| b == b'(').count());
        let closes = t
            .get(s..e)
            .map_or(0, |u| u.iter().filter(|&&b| b == b')').count());
        let strip = matches!(c, b'.' | b',' | b';' | b':' | b'!' | b'?' | b'\'' | b'"')
            || (c == b')' && closes > opens);
        if !strip {
            break;
        }
        e -= 1;
    }
    e
}

/// Extends a URL whose authority ends at `e` through its path, query and fragment (at most
/// 2 KiB), then drops trailing punctuation.
fn url_end(t: &[u8], s: usize, e: usize) -> usize {
    let url_char = |b: u8| b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b);
    let mut end = e;
    if matches!(next(t, e), Some(b'/' | b'?' | b'#')) {
        while end < e.saturating_add(2048) && next(t, end).is_some_and(url_char) {
            end += 1;
        }
    }
    trim_url_end(t, s, end)
}

fn check_scheme_url(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    if alnum(prev(t, s)) {
        return None;
    }
    let m = t.get(s..e)?;
    let auth = m.get(m.windows(3).position(|w| w == b"://")? + 3..)?;
    let hostport = match auth.iter().rposition(|&b| b == b'@') {
        Some(at) => auth.get(at + 1..)?,
        None => auth,
    };
    let host = if hostport.first() == Some(&b'[') {
        hostport.get(..=hostport.iter().position(|&b| b == b']')?)?
    } else {
        hostport.split(|&b| b == b':').next()?
    };
    if !host_ok(trim_host(host)) {
        return None;
    }
    hit(s, url_end(t, s, e), 0.6)
}

/// A host that ends a sentence (`see https://example.com.`) without its trailing dot.
fn trim_host(host: &[u8]) -> &[u8] {
    host.strip_suffix(b".").unwrap_or(host)
}

fn check_www_url(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    let p = prev(t, s);
    if alnum(p) || matches!(p, Some(b'/' | b'.' | b'@')) {
        return None;
    }
    if !host_ok(t.get(s..e)?) {
        return None;
    }
    hit(s, url_end(t, s, e), 0.6)
}

fn check_bare_domain(t: &[u8], s: usize, e: usize) -> Option<Hit> {
    let p = prev(t, s);
    let n = next(t, e);
    if alnum(p) || matches!(p, Some(b'/' | b'.' | b'@' | b'-' | b'_')) {
        return None;
    }
    if alnum(n)
        || matches!(n, Some(b'@' | b'-' | b'_'))
        || (n == Some(b'.') && alnum(next(t, e + 1)))
    {
        return None;
    }
    let m = t.get(s..e)?;
    let tld = m.rsplit(|&b| b == b'.').next()?.to_ascii_lowercase();
    if !BARE_TLDS.contains(&tld.as_slice())
        || m.get(..4).is_some_and(|w| w.eq_ignore_ascii_case(b"www."))
    {
        return None;
    }
    // Versions and numbers are not domains.
    let first = m.split(|&b| b == b'.').next()?;
    if first.iter().all(u8::is_ascii_digit) {
        return None;
    }
    hit(s, e, 0.5)
}

// ---------------------------------------------------------------------------------------------
// Evaluation against labelled cases

/// A labelled entity in an evaluation case; offsets are Unicode code points (as in Presidio's
/// Python strings), not bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoldSpan {
    /// Presidio entity type.
    #[serde(rename = "type")]
    pub entity_type: String,
    /// First code point.
    pub start: usize,
    /// One past the last code point.
    pub end: usize,
}

/// One labelled case, in the shared corpus format (`pii/*.jsonl`); other fields are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct PiiCase {
    /// The text.
    pub text: String,
    /// Every entity of the checked types.
    #[serde(default)]
    pub entities: Vec<GoldSpan>,
    /// The types whose labels are complete for this text.
    #[serde(default)]
    pub checked_types: Vec<String>,
}

/// How a predicted span is matched to a gold span of the same type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpanMatch {
    /// Same start and end.
    #[default]
    Exact,
    /// Any overlap, one prediction per gold span.
    Overlap,
}

/// True positives, false positives and false negatives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Predicted spans that match a gold span.
    pub tp: usize,
    /// Predicted spans that match none.
    pub fp: usize,
    /// Gold spans that no prediction matches.
    pub fn_: usize,
}

impl Counts {
    /// `tp / (tp + fp)`, 1.0 when nothing was predicted.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// `tp / (tp + fn)`, 1.0 when nothing was labelled.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    fn add(&mut self, other: Counts) {
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// Options for [`evaluate`] and [`score_case_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct EvalOptions {
    /// Span matching.
    pub matching: SpanMatch,
    /// Scan the whole text with every enabled type and merge, instead of running only the
    /// case's checked types (labels are complete only for those, so by default findings of
    /// other types neither count nor compete).
    pub full_scan: bool,
}

/// Scores one case, exact span matching, code point offsets: `(tp, fp, fn)` over the case's
/// checked types that `scanner` runs. Gold spans of other types are ignored.
pub fn score_case(
    scanner: &PiiScanner,
    text: &str,
    gold: &[GoldSpan],
    checked_types: &[String],
) -> (usize, usize, usize) {
    let c = score_case_with(scanner, text, gold, checked_types, EvalOptions::default());
    (c.tp, c.fp, c.fn_)
}

/// [`score_case`] with options.
pub fn score_case_with(
    scanner: &PiiScanner,
    text: &str,
    gold: &[GoldSpan],
    checked_types: &[String],
    options: EvalOptions,
) -> Counts {
    let mut total = Counts::default();
    for (_, c) in case_counts(scanner, text, gold, checked_types, options) {
        total.add(c);
    }
    total
}

/// Per-type and overall counts over many cases.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Evaluation {
    /// Summed over all types.
    pub total: Counts,
    /// Per entity type.
    pub per_type: BTreeMap<&'static str, Counts>,
}

/// Scores every case; see [`score_case`].
pub fn evaluate(scanner: &PiiScanner, cases: &[PiiCase], options: EvalOptions) -> Evaluation {
    let mut ev = Evaluation::default();
    for case in cases {
        for (ty, c) in case_counts(
            scanner,
            &case.text,
            &case.entities,
            &case.checked_types,
            options,
        ) {
            ev.total.add(c);
            ev.per_type.entry(ty).or_default().add(c);
        }
    }
    ev
}

fn case_counts(
    scanner: &PiiScanner,
    text: &str,
    gold: &[GoldSpan],
    checked_types: &[String],
    options: EvalOptions,
) -> Vec<(&'static str, Counts)> {
    let types: BTreeSet<&'static str> = checked_types
        .iter()
        .filter_map(|name| TYPES.iter().find(|t| t.name == name.as_str()))
        .map(|t| t.name)
        .filter(|name| scanner.is_enabled(name))
        .collect();
    if types.is_empty() {
        return Vec::new();
    }
    let list: Vec<&str> = types.iter().copied().collect();
    let found = if options.full_scan {
        scanner.scan(text)
    } else {
        scanner.scan_types(text, &list)
    };
    let cp = CodePoints::new(text);
    let mut out = Vec::new();
    for ty in types {
        let mut pred: Vec<(usize, usize)> = found
            .iter()
            .filter(|f| f.entity_type == ty)
            .map(|f| (cp.of(f.start), cp.of(f.end)))
            .collect();
        pred.sort_unstable();
        let gold_t: Vec<(usize, usize)> = gold
            .iter()
            .filter(|g| g.entity_type == ty)
            .map(|g| (g.start, g.end))
            .collect();
        let mut used = vec![false; gold_t.len()];
        let mut c = Counts::default();
        for &(ps, pe) in &pred {
            let m = gold_t.iter().zip(used.iter()).position(|(&(gs, ge), &u)| {
                !u && match options.matching {
                    SpanMatch::Exact => gs == ps && ge == pe,
                    SpanMatch::Overlap => gs < pe && ps < ge,
                }
            });
            match m.and_then(|i| used.get_mut(i)) {
                Some(slot) => {
                    *slot = true;
                    c.tp += 1;
                }
                None => c.fp += 1,
            }
        }
        c.fn_ = used.iter().filter(|u| !**u).count();
        out.push((ty, c));
    }
    out
}

/// Byte offset to code point offset.
struct CodePoints {
    starts: Vec<usize>,
}

impl CodePoints {
    fn new(text: &str) -> Self {
        CodePoints {
            starts: text.char_indices().map(|(i, _)| i).collect(),
        }
    }

    fn of(&self, byte: usize) -> usize {
        self.starts.partition_point(|&b| b < byte)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<PiiCase> {
        let local = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/corpora/pii/presidio_cases.jsonl"
        );
        let text = std::fs::read_to_string(local)
            .expect("the Presidio PII corpus (fixtures/corpora/pii/presidio_cases.jsonl)");
        let cases: Vec<PiiCase> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(cases.len(), 1123);
        cases
    }

    fn eval_config() -> PiiConfig {
        PiiConfig {
            enabled_types: vec!["all".into()],
            ..PiiConfig::default()
        }
    }

    fn print_eval(title: &str, ev: &Evaluation) {
        println!("{title}");
        println!(
            "  {:<28} {:>4} {:>4} {:>4}  {:>6} {:>6} {:>6}",
            "type", "tp", "fp", "fn", "P", "R", "F1"
        );
        for (ty, c) in &ev.per_type {
            println!(
                "  {:<28} {:>4} {:>4} {:>4}  {:>6.3} {:>6.3} {:>6.3}",
                ty,
                c.tp,
                c.fp,
                c.fn_,
                c.precision(),
                c.recall(),
                c.f1()
            );
        }
        let c = ev.total;
        println!(
            "  {:<28} {:>4} {:>4} {:>4}  {:>6.3} {:>6.3} {:>6.3}",
            "TOTAL",
            c.tp,
            c.fp,
            c.fn_,
            c.precision(),
            c.recall(),
            c.f1()
        );
    }

    fn mismatches(scanner: &PiiScanner, cases: &[PiiCase], options: EvalOptions) {
        for (i, case) in cases.iter().enumerate() {
            let c = score_case_with(
                scanner,
                &case.text,
                &case.entities,
                &case.checked_types,
                options,
            );
            if c.fp + c.fn_ > 0 {
                let types: Vec<&str> = case.checked_types.iter().map(String::as_str).collect();
                let found = if options.full_scan {
                    scanner.scan(&case.text)
                } else {
                    scanner.scan_types(&case.text, &types)
                };
                let shown: Vec<(&str, &str, f32)> = found
                    .iter()
                    .map(|f| {
                        (
                            f.entity_type,
                            case.text.get(f.start..f.end).unwrap_or("?"),
                            f.score,
                        )
                    })
                    .collect();
                println!(
                    "row {i} {:?} {:?} gold={:?} found={:?}",
                    case.checked_types, case.text, case.entities, shown
                );
            }
        }
    }

    fn total_line(title: &str, ev: &Evaluation) {
        let c = ev.total;
        println!(
            "{title:<58} tp {:>3} fp {:>2} fn {:>2}  P {:.3} R {:.3} F1 {:.3}",
            c.tp,
            c.fp,
            c.fn_,
            c.precision(),
            c.recall(),
            c.f1()
        );
    }

    /// Span-level P/R/F1 on the Presidio cases over every supported type. Labels are complete
    /// only for a row's checked types, so by default only those recognizers run on it.
    /// `PII_MISMATCHES=1` lists the rows that differ (`PII_DEFAULT=1`: default thresholds,
    /// `PII_FULL=1`: every type scanned and merged).
    #[test]
    fn presidio_corpus_f1() {
        let cases = corpus();
        let everything = PiiScanner::new(&PiiConfig::everything()).unwrap();
        let defaults = PiiScanner::new(&eval_config()).unwrap();
        if std::env::var_os("PII_MISMATCHES").is_some() {
            let full_scan = std::env::var_os("PII_FULL").is_some();
            let which = if std::env::var_os("PII_DEFAULT").is_some() {
                &defaults
            } else {
                &everything
            };
            mismatches(
                which,
                &cases,
                EvalOptions {
                    matching: SpanMatch::Exact,
                    full_scan,
                },
            );
        }
        let exact = EvalOptions::default();
        let overlap = EvalOptions {
            matching: SpanMatch::Overlap,
            full_scan: false,
        };
        let full = EvalOptions {
            matching: SpanMatch::Exact,
            full_scan: true,
        };

        let primary = evaluate(&everything, &cases, exact);
        print_eval(
            "every recognizer output (threshold 0), exact spans",
            &primary,
        );
        total_line(
            "threshold 0, overlapping spans",
            &evaluate(&everything, &cases, overlap),
        );
        let merged = evaluate(&everything, &cases, full);
        total_line("threshold 0, exact, every type scanned and merged", &merged);
        let default_exact = evaluate(&defaults, &cases, exact);
        total_line("default thresholds (0.4), exact spans", &default_exact);
        total_line(
            "default thresholds (0.4), overlapping spans",
            &evaluate(&defaults, &cases, overlap),
        );
        for th in [0.1f32, 0.2, 0.3, 0.5] {
            let cfg = PiiConfig {
                default_threshold: th,
                ..eval_config()
            };
            let ev = evaluate(&PiiScanner::new(&cfg).unwrap(), &cases, exact);
            total_line(&format!("threshold {th}, exact spans"), &ev);
        }
        assert!(primary.total.f1() >= 0.95, "F1 {}", primary.total.f1());
        assert!(merged.total.f1() >= 0.95, "merged F1 {}", merged.total.f1());
        // The default threshold wants context for bare digit strings; guard against regressions.
        assert!(
            default_exact.total.f1() >= 0.90,
            "default F1 {}",
            default_exact.total.f1()
        );
        assert!(default_exact.total.precision() >= 0.99);
    }

    fn everything() -> PiiScanner {
        PiiScanner::new(&PiiConfig::everything()).unwrap()
    }

    /// `(type, text, expected span)`: the type alone is scanned; `None` means nothing found.
    const CASES: &[(&str, &str, Option<&str>)] = &[
        (
            "EMAIL_ADDRESS",
            "write to jane.doe+tag@example.co.uk.",
            Some("jane.doe+tag@example.co.uk"),
        ),
        ("EMAIL_ADDRESS", "user@localhost", None),
        ("EMAIL_ADDRESS", "a@b.c1", None),
        (
            "PHONE_NUMBER",
            "call +44 20 7946 0018 now",
            Some("+44 20 7946 0018"),
        ),
        ("PHONE_NUMBER", "Tel. 030 12345678", Some("030 12345678")),
        ("PHONE_NUMBER", "+14155550132", Some("+14155550132")),
        ("PHONE_NUMBER", "1-415-555-0132", Some("1-415-555-0132")),
        ("PHONE_NUMBER", "01 23 45 67 89", Some("01 23 45 67 89")),
        ("PHONE_NUMBER", "(115) 555-0132", None),
        ("PHONE_NUMBER", "2021-05-06", None),
        ("PHONE_NUMBER", "192.168.1.1", None),
        ("PHONE_NUMBER", "v1.415-555-0132", None),
        (
            "CREDIT_CARD",
            "card 4111 1111 1111 1111 exp 12/29",
            Some("4111 1111 1111 1111"),
        ),
        (
            "CREDIT_CARD",
            "4111 1111 1111 1111 2029",
            Some("4111 1111 1111 1111"),
        ),
        ("CREDIT_CARD", "378282246310005", Some("378282246310005")),
        (
            "CREDIT_CARD",
            "3782 822463 10005",
            Some("3782 822463 10005"),
        ),
        ("CREDIT_CARD", "4111111111111112", None),
        ("CREDIT_CARD", "0000000000000000", None),
        ("CREDIT_CARD", "id 74111111111111111", None),
        ("US_SSN", "SSN: 536-22-8726", Some("536-22-8726")),
        ("US_SSN", "078-05-1120", None),
        ("US_SSN", "666-22-8726", None),
        ("US_SSN", "912-22-8726", None),
        ("US_SSN", "536-00-8726", None),
        ("US_SSN", "536-22 8726", None),
        ("US_ITIN", "ITIN 912-70-1234", Some("912-70-1234")),
        ("US_ITIN", "912-93-1234", None),
        ("ABA_ROUTING_NUMBER", "routing 011000015", Some("011000015")),
        ("ABA_ROUTING_NUMBER", "011000016", None),
        (
            "IBAN_CODE",
            "IBAN: GB82 WEST 1234 5698 7654 32.",
            Some("GB82 WEST 1234 5698 7654 32"),
        ),
        (
            "IBAN_CODE",
            "GB82WEST12345698765432",
            Some("GB82WEST12345698765432"),
        ),
        ("IBAN_CODE", "GB82WEST12345698765433", None),
        ("IBAN_CODE", "GB82WEST123456987654321", None),
        ("IBAN_CODE", "XX82WEST12345698765432", None),
        ("IP_ADDRESS", "from 10.1.2.3:8080", Some("10.1.2.3")),
        (
            "IP_ADDRESS",
            "host [fe80::1ff:fe23:4567:890a%eth2]",
            Some("fe80::1ff:fe23:4567:890a%eth2"),
        ),
        ("IP_ADDRESS", "1.2.3.256", None),
        ("IP_ADDRESS", "std::vector", None),
        ("IP_ADDRESS", "12:30:45", None),
        (
            "MAC_ADDRESS",
            "ether 3c:22:fb:12:ab:cd txqueuelen",
            Some("3c:22:fb:12:ab:cd"),
        ),
        ("MAC_ADDRESS", "ff:ff:ff:ff:ff:ff", None),
        ("MAC_ADDRESS", "3c:22:fb:12:ab:cd:ef", None),
        (
            "CRYPTO",
            "send to 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2 please",
            Some("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"),
        ),
        ("CRYPTO", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3", None),
        (
            "CRYPTO",
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            Some("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
        ),
        ("CRYPTO", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", None),
        (
            "CRYPTO",
            "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297",
            Some("bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297"),
        ),
        ("UK_NHS", "NHS 943 476 5919", Some("943 476 5919")),
        ("UK_NHS", "943 476 5918", None),
        ("UK_NINO", "QQ 12 34 56 C", None),
        ("UK_NINO", "AB 12 34 56 C", Some("AB 12 34 56 C")),
        ("US_NPI", "NPI 1245319599", Some("1245319599")),
        ("CA_SIN", "SIN 046 454 286", None),
        ("CA_SIN", "SIN 130 692 544", Some("130 692 544")),
        ("AU_ABN", "ABN 51 824 753 556", Some("51 824 753 556")),
        ("AU_TFN", "TFN 123 456 782", Some("123 456 782")),
        ("AU_TFN", "TFN 123 456 781", None),
        ("IN_AADHAAR", "aadhaar 3998 7654 3212", None),
        (
            "IN_AADHAAR",
            "aadhaar 3998 7654 3211",
            Some("3998 7654 3211"),
        ),
        ("SG_NRIC_FIN", "S1234567D", Some("S1234567D")),
        ("ES_NIF", "DNI 12345678Z", Some("12345678Z")),
        ("ES_NIF", "12345678A", None),
        (
            "IT_FISCAL_CODE",
            "CF RSSMRA85T10A562S",
            Some("RSSMRA85T10A562S"),
        ),
        ("IT_FISCAL_CODE", "RSSMRA85T99A562S", None),
        ("PL_PESEL", "44051401359", Some("44051401359")),
        ("PL_PESEL", "44051401358", None),
        (
            "FI_PERSONAL_IDENTITY_CODE",
            "131052-308T",
            Some("131052-308T"),
        ),
        ("FI_PERSONAL_IDENTITY_CODE", "131052-308U", None),
        ("SE_PERSONNUMMER", "811218-9876", Some("811218-9876")),
        ("SE_PERSONNUMMER", "811218-9877", None),
        ("DE_TAX_ID", "Steuer-ID 86095742719", Some("86095742719")),
        ("DE_TAX_ID", "86095742718", None),
        ("DE_VAT_ID", "USt-IdNr. DE136695976", Some("DE136695976")),
        ("DE_ID_CARD", "L01X00T47", None),
        ("DE_ID_CARD", "L01X00T44", Some("L01X00T44")),
        ("TR_NATIONAL_ID", "10000000146", Some("10000000146")),
        ("TR_NATIONAL_ID", "10000000145", None),
        ("ZA_ID_NUMBER", "8001015009087", Some("8001015009087")),
        ("KR_RRN", "960121-1021413", Some("960121-1021413")),
        ("KR_BRN", "104-86-56659", Some("104-86-56659")),
        ("NG_NIN", "55512345672", Some("55512345672")),
        ("DATE_TIME", "on 2024-02-29 at", Some("2024-02-29")),
        ("DATE_TIME", "on 2023-02-29 at", None),
        ("DATE_TIME", "born March 5, 1990", Some("March 5, 1990")),
        ("DATE_TIME", "we may 2 things", None),
        ("DATE_TIME", "pi is 3.14", None),
        (
            "URL",
            "see https://example.com/a_(b)).",
            Some("https://example.com/a_(b)"),
        ),
        ("URL", "open docs.rs now", None),
        ("URL", "read README.md", None),
        (
            "URL",
            "visit www.example.org/x?y=1, then",
            Some("www.example.org/x?y=1"),
        ),
    ];

    #[test]
    fn recognizers_accept_and_reject() {
        let scanner = everything();
        let mut failures = Vec::new();
        for &(ty, text, want) in CASES {
            let found = scanner.scan_types(text, &[ty]);
            let got: Vec<&str> = found
                .iter()
                .map(|f| text.get(f.start..f.end).unwrap())
                .collect();
            let ok = match want {
                Some(w) => got == [w],
                None => got.is_empty(),
            };
            if !ok {
                failures.push(format!("{ty} {text:?}: want {want:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn every_type_has_a_recognizer_and_compiles() {
        for t in TYPES {
            assert!(
                RECOGNIZERS.iter().any(|r| r.ty == t.name),
                "{} has no recognizer",
                t.name
            );
        }
        for r in RECOGNIZERS {
            assert!(type_index(r.ty).is_some(), "{} is not a type", r.ty);
        }
        let scanner = everything();
        assert_eq!(scanner.enabled_types().count(), TYPES.len());
        assert_eq!(PiiScanner::supported_types().count(), TYPES.len());
        let default = PiiScanner::new(&PiiConfig::default()).unwrap();
        assert!(!default.is_enabled("URL") && !default.is_enabled("DATE_TIME"));
        assert!(default.is_enabled("CREDIT_CARD"));
    }

    #[test]
    fn module_docs_list_every_type() {
        let src = include_str!("pii.rs");
        for t in TYPES {
            assert!(
                src.contains(&format!("//! | `{}`", t.name))
                    || src.contains(&format!(", `{}` |", t.name)),
                "{}",
                t.name
            );
        }
    }

    #[test]
    fn findings_are_merged_without_overlap() {
        let scanner = everything();
        // A card number is also a run of digits (bank account, ...): one finding, the card.
        let f = scanner.scan("pay with 4012888888881881 today");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].entity_type, "CREDIT_CARD");
        // An email's domain is not reported again as a URL.
        let f = scanner.scan("mail info@presidio.site now");
        assert_eq!(
            f.iter().map(|x| x.entity_type).collect::<Vec<_>>(),
            ["EMAIL_ADDRESS"]
        );
        for text in [
            "4012888888881881 4012-8888-8888-1881",
            "2001:db8::1 10.0.0.1 00:11:22:33:44:55",
        ] {
            let f = scanner.scan(text);
            assert!(f.windows(2).all(|w| w[0].end <= w[1].start), "{f:?}");
        }
    }

    #[test]
    fn context_raises_the_score_and_thresholds_filter() {
        let scanner = PiiScanner::new(&PiiConfig::default()).unwrap();
        // A bare 9-digit number is a weak candidate: reported only with context.
        assert!(scanner.scan("order 536228726 shipped").is_empty());
        let f = scanner.scan("my ssn is 536228726");
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].entity_type, "US_SSN");
        assert!((f[0].score - (0.05 + CONTEXT_BOOST)).abs() < 1e-6);
        // "sin" inside another word is not context.
        assert!(
            scanner
                .scan("using 130692544")
                .iter()
                .all(|f| f.entity_type != "CA_SIN")
        );
        assert!(
            scanner
                .scan("SIN: 130692544")
                .iter()
                .any(|f| f.entity_type == "CA_SIN")
        );
        // A bare 12-digit id that a broad card range admits and Luhn passes is an id in a log,
        // a card number next to the word "card"; 16 digits stay certain.
        let log = r#"{"trace": 641234567890, "order_id": 587654321096}"#;
        assert!(
            scanner
                .scan(log)
                .iter()
                .all(|f| f.entity_type != "CREDIT_CARD"),
            "{:?}",
            scanner.scan(log)
        );
        let carded = scanner.scan("card number 641234567890");
        assert!(
            carded.iter().any(|f| f.entity_type == "CREDIT_CARD"),
            "{carded:?}"
        );
        let visa = scanner.scan("id 4111111111111111");
        assert!(
            visa.iter().any(|f| f.entity_type == "CREDIT_CARD"),
            "{visa:?}"
        );
        // Context too far away does not count.
        let far = format!("ssn {} 536228726", "x".repeat(100));
        assert!(scanner.scan(&far).is_empty());
        // A per-type threshold.
        let mut cfg = PiiConfig::default();
        cfg.thresholds.insert("EMAIL_ADDRESS".into(), 1.0);
        cfg.thresholds.insert("IP_ADDRESS".into(), 0.99);
        let s = PiiScanner::new(&cfg).unwrap();
        let f = s.scan("a@example.com 10.0.0.1");
        assert_eq!(
            f.iter().map(|x| x.entity_type).collect::<Vec<_>>(),
            ["EMAIL_ADDRESS"]
        );
    }

    #[test]
    fn spans_are_bytes_in_unicode_text() {
        let scanner = everything();
        let text = "Ünïcödé → jane@example.com — ☎ +1 415 555 0132 😀 192.168.0.1";
        let f = scanner.scan(text);
        let got: Vec<(&str, &str)> = f
            .iter()
            .map(|x| (x.entity_type, text.get(x.start..x.end).unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("EMAIL_ADDRESS", "jane@example.com"),
                ("PHONE_NUMBER", "+1 415 555 0132"),
                ("IP_ADDRESS", "192.168.0.1")
            ]
        );
        // Code point offsets for the corpus format.
        let gold = [
            GoldSpan {
                entity_type: "EMAIL_ADDRESS".into(),
                start: 10,
                end: 26,
            },
            GoldSpan {
                entity_type: "IP_ADDRESS".into(),
                start: 49,
                end: 60,
            },
        ];
        let checked = ["EMAIL_ADDRESS".to_owned(), "IP_ADDRESS".to_owned()];
        assert_eq!(
            text.chars().skip(10).take(16).collect::<String>(),
            "jane@example.com"
        );
        assert_eq!(score_case(&scanner, text, &gold, &checked), (2, 0, 0));
        let shifted = [GoldSpan {
            entity_type: "EMAIL_ADDRESS".into(),
            start: 9,
            end: 26,
        }];
        assert_eq!(
            score_case(&scanner, text, &shifted, &checked[..1]),
            (0, 1, 1)
        );
        let overlap = EvalOptions {
            matching: SpanMatch::Overlap,
            full_scan: false,
        };
        let c = score_case_with(&scanner, text, &shifted, &checked[..1], overlap);
        assert_eq!((c.tp, c.fp, c.fn_), (1, 0, 0));
        // Unsupported checked types are skipped, not counted.
        let only_unknown = ["UK_POSTCODE".to_owned()];
        let gold = [GoldSpan {
            entity_type: "UK_POSTCODE".into(),
            start: 0,
            end: 3,
        }];
        assert_eq!(
            score_case(&scanner, "M1 1AA", &gold, &only_unknown),
            (0, 0, 0)
        );
    }

    #[test]
    fn config_errors_are_all_reported() {
        let mut cfg = PiiConfig {
            enabled_types: vec!["default".into(), "NOPE".into()],
            disabled_types: vec!["ALSO_NOPE".into()],
            default_threshold: f32::NAN,
            context_window: MAX_CONTEXT_WINDOW + 1,
            ..PiiConfig::default()
        };
        cfg.thresholds.insert("US_SSN".into(), 1.5);
        cfg.thresholds.insert("WHAT".into(), 0.5);
        let issues = PiiScanner::new(&cfg).unwrap_err();
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "pii.enabled_types[1]",
                "pii.disabled_types[0]",
                "pii.default_threshold",
                "pii.thresholds.US_SSN",
                "pii.thresholds.WHAT",
                "pii.context_window",
            ]
        );
        assert!(issues[0].message.contains("`NOPE`"));
    }

    #[test]
    fn config_parses_from_toml_and_rejects_unknown_keys() {
        let cfg: PiiConfig = toml::from_str(
            "enabled_types = [\"default\", \"URL\"]\ndisabled_types = [\"US_BANK_NUMBER\"]\n[thresholds]\nPHONE_NUMBER = 0.7\n",
        )
        .unwrap();
        let s = PiiScanner::new(&cfg).unwrap();
        assert!(
            s.is_enabled("URL") && !s.is_enabled("US_BANK_NUMBER") && !s.is_enabled("DATE_TIME")
        );
        assert_eq!(cfg.default_threshold, 0.4);
        assert!(toml::from_str::<PiiConfig>("threshold = 0.5").is_err());
        let only: PiiConfig = toml::from_str("enabled_types = [\"EMAIL_ADDRESS\"]").unwrap();
        let s = PiiScanner::new(&only).unwrap();
        assert_eq!(s.enabled_types().collect::<Vec<_>>(), ["EMAIL_ADDRESS"]);
        assert!(
            s.scan("4111 1111 1111 1111 a@b.io")
                .iter()
                .all(|f| f.entity_type == "EMAIL_ADDRESS")
        );
    }

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const PALETTE: &[char] = &[
        '0', '1', '4', '9', ' ', '-', '.', ':', '/', '+', '(', ')', '@', '%', '_', 'A', 'Z', 'a',
        'f', 'x', 'é', '€', '😀', '\u{200b}', '\u{0301}', '٣', '\n', '\t', '[', ']', '#',
    ];

    fn check_invariants(scanner: &PiiScanner, text: &str) {
        let found = scanner.scan(text);
        let mut last_end = 0;
        for f in &found {
            assert!(f.start < f.end && f.end <= text.len(), "{f:?} in {text:?}");
            assert!(
                text.is_char_boundary(f.start) && text.is_char_boundary(f.end),
                "{f:?} in {text:?}"
            );
            assert!(f.start >= last_end, "overlap {found:?} in {text:?}");
            assert!((0.0..=1.0).contains(&f.score), "{f:?}");
            last_end = f.end;
        }
    }

    #[test]
    fn mutated_inputs_never_panic() {
        let scanner = everything();
        let mut seeds: Vec<String> = corpus().into_iter().map(|c| c.text).step_by(7).collect();
        seeds.extend(CASES.iter().map(|c| c.1.to_owned()));
        seeds.push(String::new());
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let rounds = if cfg!(debug_assertions) { 12 } else { 60 };
        for seed in &seeds {
            let mut chars: Vec<char> = seed.chars().collect();
            for _ in 0..rounds {
                match rng.below(5) {
                    0 if !chars.is_empty() => {
                        let i = rng.below(chars.len());
                        chars[i] = PALETTE[rng.below(PALETTE.len())];
                    }
                    1 => {
                        let i = rng.below(chars.len() + 1);
                        chars.insert(i, PALETTE[rng.below(PALETTE.len())]);
                    }
                    2 if !chars.is_empty() => {
                        chars.remove(rng.below(chars.len()));
                    }
                    3 if chars.len() > 1 && chars.len() < 400 => {
                        let a = rng.below(chars.len());
                        let b = a + rng.below(chars.len() - a);
                        let piece: Vec<char> = chars[a..b].to_vec();
                        let at = rng.below(chars.len());
                        chars.splice(at..at, piece);
                    }
                    _ => chars.truncate(rng.below(chars.len() + 1)),
                }
                let text: String = chars.iter().collect();
                check_invariants(&scanner, &text);
            }
        }
    }

    #[test]
    fn pathological_inputs_are_linear() {
        let scanner = everything();
        let n = if cfg!(debug_assertions) {
            20_000
        } else {
            400_000
        };
        let inputs = [
            "7".repeat(n),
            "1-".repeat(n / 2),
            "a:".repeat(n / 2),
            "::".repeat(n / 2),
            "1.".repeat(n / 2),
            "a.b@".repeat(n / 4),
            "http://".repeat(n / 7),
            "12 ".repeat(n / 3),
            "May 5, ".repeat(n / 7),
            "DE89 ".repeat(n / 5),
            "a@b.".repeat(n / 4),
        ];
        for text in &inputs {
            let t = std::time::Instant::now();
            check_invariants(&scanner, text);
            let ms = t.elapsed().as_millis();
            println!(
                "{:>8} bytes of {:?}...: {ms} ms",
                text.len(),
                text.get(..8).unwrap()
            );
        }
    }

    /// Mixed tool output: prose, JSON logs, code, with planted PII at known spans.
    fn mixed_text(bytes: usize, rng: &mut Rng) -> (String, Vec<(&'static str, usize, usize)>) {
        const PROSE: &[&str] = &[
            "The deployment finished without errors and the queue drained within the expected window. ",
            "Customers reported that the dashboard loads slowly when many widgets are configured. ",
            "See the design notes for the retry policy; version 2.4.1 changed the backoff to 250ms. ",
        ];
        const LOGS: &[&str] = &[
            "{\"ts\":\"2024-05-01T12:00:03Z\",\"level\":\"info\",\"req\":\"a8eedfd6-9d8a-44e0-b0fc-cc7d517db5dc\",\"ms\":1734,\"bytes\":52311}\n",
            "{\"ts\":\"2024-05-01T12:00:04Z\",\"level\":\"warn\",\"retry\":3,\"sha\":\"8f953371d3e85eddb89b05ed6b9e6807\"}\n",
            "fn main() { let total: u64 = items.iter().map(|x| x.len() as u64).sum(); println!(\"{total}\"); }\n",
        ];
        const PII: &[(&str, &str)] = &[
            ("EMAIL_ADDRESS", "maria.lopez@example.org"),
            ("CREDIT_CARD", "4012 8888 8888 1881"),
            ("IBAN_CODE", "DE89 3704 0044 0532 0130 00"),
            ("PHONE_NUMBER", "+44 20 7946 0018"),
            ("IP_ADDRESS", "203.0.113.7"),
            ("US_SSN", "536-22-8726"),
            ("CRYPTO", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"),
            ("MAC_ADDRESS", "3c:22:fb:12:ab:cd"),
        ];
        let mut out = String::with_capacity(bytes + 256);
        let mut planted = Vec::new();
        while out.len() < bytes {
            match rng.below(10) {
                0..=4 => out.push_str(PROSE[rng.below(PROSE.len())]),
                5..=8 => out.push_str(LOGS[rng.below(LOGS.len())]),
                _ => {
                    let (ty, v) = PII[rng.below(PII.len())];
                    out.push_str("contact: ");
                    planted.push((ty, out.len(), out.len() + v.len()));
                    out.push_str(v);
                    out.push_str(" ok\n");
                }
            }
        }
        (out, planted)
    }

    #[test]
    fn mixed_text_finds_exactly_the_planted_spans() {
        let scanner = PiiScanner::new(&PiiConfig::default()).unwrap();
        let mut rng = Rng(42);
        let size = if cfg!(debug_assertions) {
            256 << 10
        } else {
            4 << 20
        };
        let (text, planted) = mixed_text(size, &mut rng);
        let t = std::time::Instant::now();
        let found = scanner.scan(&text);
        let secs = t.elapsed().as_secs_f64();
        for &(ty, s, e) in &planted {
            assert!(
                found
                    .iter()
                    .any(|f| f.entity_type == ty && f.start == s && f.end == e),
                "planted {ty} {:?} not found",
                text.get(s..e).unwrap()
            );
        }
        assert_eq!(
            found.len(),
            planted.len(),
            "unexpected findings: {:?}",
            found
                .iter()
                .filter(|f| !planted.iter().any(|p| p.1 == f.start))
                .map(|f| (f.entity_type, text.get(f.start..f.end).unwrap()))
                .collect::<Vec<_>>()
        );
        let prose: String = (0..size / 90)
            .map(|i| PROSE_LINE[i % PROSE_LINE.len()])
            .collect();
        let t2 = std::time::Instant::now();
        let none = scanner.scan(&prose);
        let secs2 = t2.elapsed().as_secs_f64();
        assert!(none.is_empty(), "{none:?}");
        println!(
            "mixed: {:.1} MB/s ({} bytes, {} findings); prose: {:.1} MB/s",
            text.len() as f64 / secs / 1e6,
            text.len(),
            found.len(),
            prose.len() as f64 / secs2 / 1e6
        );
    }

    const PROSE_LINE: &[&str] = &[
        "The deployment finished without errors and the queue drained within the window. ",
        "Customers reported that the dashboard loads slowly when many widgets are shown. ",
    ];

    #[test]
    fn default_config_on_a_realistic_message() {
        let scanner = PiiScanner::new(&PiiConfig::default()).unwrap();
        let text = "Hi team,\nplease refund order 123456789 to jane.doe@example.com (card 4012 8888 \
                    8888 1881, exp 12/29).\nCall her on +1 (202) 555-0143. Server 10.0.4.17 logged \
                    it at 2024-05-01T12:00:03Z.\nIBAN DE89 3704 0044 0532 0130 00, SSN 536-22-8726.\n";
        let got: Vec<(&str, &str)> = scanner
            .scan(text)
            .iter()
            .map(|f| (f.entity_type, text.get(f.start..f.end).unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("EMAIL_ADDRESS", "jane.doe@example.com"),
                ("CREDIT_CARD", "4012 8888 8888 1881"),
                ("PHONE_NUMBER", "+1 (202) 555-0143"),
                ("IP_ADDRESS", "10.0.4.17"),
                ("IBAN_CODE", "DE89 3704 0044 0532 0130 00"),
                ("US_SSN", "536-22-8726"),
            ]
        );
    }
}
