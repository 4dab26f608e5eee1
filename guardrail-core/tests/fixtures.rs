//! Data-driven tests over `fixtures/`: hand-written cases (`fixtures/cases/*.toml`) and the
//! copied labeled action corpus (`fixtures/corpora/actions/*.jsonl`).
//!
//! `GUARDRAIL_FIXTURE=<substring>` runs only the cases whose file name or case name contains it.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly on malformed fixtures"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use guardrail_core::replay::action::{replay_files, summarize, table};
use guardrail_core::{Decision, Guard, Policy};
use serde::Deserialize;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn filter() -> Option<String> {
    std::env::var("GUARDRAIL_FIXTURE")
        .ok()
        .filter(|s| !s.is_empty())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    policy: String,
    #[serde(rename = "case")]
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    input: Option<String>,
    #[serde(default)]
    input_repeat: Option<Repeat>,
    expect: Decision,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    pointer: Option<String>,
    #[serde(default)]
    #[expect(dead_code, reason = "cited for readers; not checked")]
    issue: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Repeat {
    prefix: String,
    unit: String,
    count: usize,
    suffix: String,
}

impl Case {
    fn input(&self) -> String {
        match (&self.input, &self.input_repeat) {
            (Some(s), None) => s.clone(),
            (None, Some(r)) => format!("{}{}{}", r.prefix, r.unit.repeat(r.count), r.suffix),
            _ => panic!(
                "case `{}` needs exactly one of input / input_repeat",
                self.name
            ),
        }
    }
}

#[test]
fn case_files() {
    let dir = fixtures_dir().join("cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no case files in {}", dir.display());
    let filter = filter();
    let mut ran = 0;
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let parsed: CaseFile =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let policy = Policy::from_file(&fixtures_dir().join(&parsed.policy)).unwrap();
        let guard = Guard::new(policy).unwrap();
        let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
        for case in &parsed.cases {
            if let Some(f) = &filter
                && !case.name.contains(f.as_str())
                && !file_name.contains(f.as_str())
            {
                continue;
            }
            ran += 1;
            let verdict = guard.screen_action(case.input().as_bytes());
            let first = verdict.reasons.first();
            let mut problems = Vec::new();
            if verdict.decision != case.expect {
                problems.push(format!(
                    "decision {:?}, expected {:?}",
                    verdict.decision, case.expect
                ));
            }
            if let Some(code) = &case.code {
                let got = first.map(|r| r.code.as_str()).unwrap_or("<none>");
                if got != code {
                    problems.push(format!("first reason `{got}`, expected `{code}`"));
                }
            }
            if let Some(pointer) = &case.pointer {
                let got = first.and_then(|r| r.pointer.as_deref()).unwrap_or("<none>");
                if got != pointer {
                    problems.push(format!("pointer `{got}`, expected `{pointer}`"));
                }
            }
            if !problems.is_empty() {
                failures.push(format!(
                    "{file_name}: {}: {} ({:?})",
                    case.name,
                    problems.join("; "),
                    verdict.reasons
                ));
            }
        }
    }
    assert!(filter.is_some() || ran > 30, "only {ran} cases ran");
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Done-when of the core issue: the whole labeled action corpus with the policy its labels
/// assume, zero false allows and zero false denies.
#[test]
fn action_corpus_replays_without_disagreement() {
    if filter().is_some_and(|f| !"corpus".contains(f.as_str())) {
        return;
    }
    let policy = Policy::from_file(&fixtures_dir().join("policies/actions-corpus.toml")).unwrap();
    let guard = Guard::new(policy).unwrap();
    let dir = fixtures_dir().join("corpora/actions");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "jsonl"));
    files.sort();
    assert_eq!(files.len(), 5);
    let results = replay_files(&guard, &files).unwrap();
    let summary = summarize(&results);
    assert_eq!(summary.cases, 512, "{summary:?}");
    let report = table(&results);
    assert_eq!(summary.errors, 0, "{report}");
    assert_eq!(summary.false_allow, 0, "{report}");
    assert_eq!(summary.false_deny, 0, "{report}");
    assert_eq!(summary.correct, 512);
}

/// The SQL rows name their database; the guard must honour the per-row dialect.
#[test]
fn corpus_dialects_are_all_known() {
    let text =
        std::fs::read_to_string(fixtures_dir().join("corpora/actions/sql_readonly.jsonl")).unwrap();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(d) = v.get("dialect").and_then(|d| d.as_str()) {
            *seen.entry(d.to_owned()).or_default() += 1;
            assert!(
                d.parse::<guardrail_core::check::sql::Dialect>().is_ok(),
                "dialect {d}"
            );
        }
    }
    assert!(seen.len() >= 3, "{seen:?}");
}

/// No input makes the guard panic: every prefix and many byte mutations of every corpus input.
#[test]
fn mutated_inputs_never_panic() {
    let guard = Guard::new(
        Policy::from_file(&fixtures_dir().join("policies/actions-corpus.toml")).unwrap(),
    )
    .unwrap();
    let dir = fixtures_dir().join("corpora/actions");
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(s) = v.get("input").and_then(|s| s.as_str())
                && s.len() < 4096
            {
                inputs.push(s.as_bytes().to_vec());
            }
        }
    }
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut screened = 0usize;
    for input in &inputs {
        for cut in (0..input.len()).step_by(7) {
            let _ = guard.screen_action(&input[..cut]);
            screened += 1;
        }
        for _ in 0..8 {
            let mut m = input.clone();
            for _ in 0..1 + next() % 3 {
                let i = (next() as usize) % m.len().max(1);
                if let Some(b) = m.get_mut(i) {
                    *b = (next() & 0xFF) as u8;
                }
            }
            let _ = guard.screen_action(&m);
            screened += 1;
        }
    }
    assert!(screened > 5000, "{screened}");
}

/// The editor schema for policy files accepts every policy we ship, and refuses unknown keys.
#[test]
fn policy_schema_accepts_shipped_policies() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("schemas/policy.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut policies = vec![root.join("guardrail-core/policy/default.toml")];
    for entry in std::fs::read_dir(root.join("fixtures/policies")).unwrap() {
        policies.push(entry.unwrap().path());
    }
    for path in &policies {
        let value: toml::Value = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let json = serde_json::to_value(value).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
    let bad = serde_json::json!({"http": {"alow": []}});
    assert!(!validator.is_valid(&bad));
}

/// The Presidio PII cases through the output replay, with the policy that scores recognizer
/// output as the cases are labelled, and with the default policy.
#[test]
fn pii_corpus_replays_above_the_f1_target() {
    if filter().is_some_and(|f| !"corpus".contains(f.as_str())) {
        return;
    }
    use guardrail_core::replay::output::replay_files;
    use guardrail_core::scan::SecretScanner;
    use guardrail_core::scan::pii::PiiScanner;
    let corpus = [fixtures_dir().join("corpora/pii/presidio_cases.jsonl")];
    let f1 = |policy: &Policy| {
        let secrets = SecretScanner::new(&policy.secrets.rules).unwrap();
        let pii = PiiScanner::new(&policy.pii).unwrap();
        let replay = replay_files(&secrets, &pii, &corpus).unwrap();
        assert_eq!(replay.summary.errors, 0);
        (
            replay.summary.pii_precision.unwrap(),
            replay.summary.pii_f1.unwrap(),
        )
    };
    let recognizers =
        Policy::from_file(&fixtures_dir().join("policies/pii-recognizers.toml")).unwrap();
    let (_, all) = f1(&recognizers);
    println!("PII F1, every type at threshold 0: {all:.4}");
    assert!(all >= 0.95, "{all}");
    let (precision, default) = f1(&Policy::builtin());
    println!("PII F1, default policy: {default:.4} (precision {precision:.4})");
    assert!(precision >= 0.99, "{precision}");
    assert!(default >= 0.90, "{default}");
}
