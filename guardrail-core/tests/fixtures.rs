//! Data-driven tests over `fixtures/`: hand-written cases (`fixtures/cases/*.toml`) and the
//! copied labeled action corpus (`fixtures/corpora/actions/*.jsonl`), and the shallow action
//! path held to the general one over both.
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

use guardrail_core::action::envelope::{ParseLimits, extract_calls, shallow_call};
use guardrail_core::action::json::JsonLimits;
use guardrail_core::action::tools::{BlastRadius, Builtin, ToolSpec};
use guardrail_core::replay::action::{replay_files, summarize, table};
use guardrail_core::{Decision, Guard, Policy};
use serde::Deserialize;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// The files in `dir` with extension `ext`, sorted.
fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

/// The labeled action corpus files, sorted.
fn corpus_files() -> Vec<PathBuf> {
    files_with_extension(&fixtures_dir().join("corpora/actions"), "jsonl")
}

/// Every textual `input` of the action corpus.
fn corpus_inputs() -> Vec<Vec<u8>> {
    let mut inputs = Vec::new();
    for path in corpus_files() {
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(s) = v.get("input").and_then(|s| s.as_str()) {
                inputs.push(s.as_bytes().to_vec());
            }
        }
    }
    inputs
}

/// A fixed pseudo-random sequence (xorshift64), so that failures reproduce.
fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
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
    let files = files_with_extension(&dir, "toml");
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
    let files = corpus_files();
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
    let mut inputs = corpus_inputs();
    inputs.retain(|s| s.len() < 4096);
    let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
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

// The shallow path (a lone flat or wrapper call read in place) against the general path
// (strict parse into values, envelope extraction, typing): wherever the shallow path takes an
// output, both must find the same call and type it the same way. Inputs: every case of the
// corpus and of `fixtures/cases/`, prefixes and byte mutations of them, and generated shallow
// documents with escapes, numbers, literals, duplicate keys and nested objects.

fn specs() -> Vec<ToolSpec> {
    let mut specs: Vec<ToolSpec> = Builtin::ALL
        .iter()
        .map(|&b| ToolSpec::builtin(b, BlastRadius::Low).unwrap())
        .collect();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures_dir().join("schemas/sync_docs.json")).unwrap(),
    )
    .unwrap();
    specs.push(ToolSpec::custom("sync_docs", &schema, Vec::new(), BlastRadius::Low).unwrap());
    specs
}

/// Counts of what the shallow path did over a set of inputs.
#[derive(Debug, Default)]
struct Tally {
    inputs: usize,
    shallow: usize,
    typed: usize,
}

/// Checks one input; panics with the input on any disagreement.
fn agree(input: &[u8], limits: &ParseLimits, specs: &[ToolSpec], tally: &mut Tally) {
    tally.inputs += 1;
    let Some(call) = shallow_call(input, limits) else {
        return;
    };
    tally.shallow += 1;
    let shown = String::from_utf8_lossy(input);
    let general = extract_calls(input, limits)
        .unwrap_or_else(|e| panic!("shallow call, general error {e:?}: {shown}"));
    assert_eq!(general, vec![call.to_candidate()], "{shown}");
    let Some(spec) = specs.iter().find(|s| s.name() == call.name) else {
        return;
    };
    let shallow = spec.type_call_shallow(call.args.clone());
    let typed = spec.type_call(general.into_iter().next().unwrap().args);
    match (shallow, typed) {
        (Some(a), Ok(b)) => {
            assert_eq!(a, b, "{shown}");
            tally.typed += 1;
        }
        // The shallow path declines, the general one explains.
        (None, Err(_)) => {}
        (a, b) => panic!("shallow {a:?}, general {b:?}: {shown}"),
    }
}

/// The corpus inputs and those of `fixtures/cases/`.
fn all_inputs() -> Vec<Vec<u8>> {
    let mut inputs = corpus_inputs();
    for file in files_with_extension(&fixtures_dir().join("cases"), "toml") {
        let text = std::fs::read_to_string(file).unwrap();
        let doc: toml::Table = toml::from_str(&text).unwrap();
        for case in doc["case"].as_array().unwrap() {
            if let Some(s) = case.get("input").and_then(|s| s.as_str()) {
                inputs.push(s.as_bytes().to_vec());
            }
        }
    }
    inputs
}

#[test]
fn corpus_cases_prefixes_and_mutations_agree() {
    let limits = ParseLimits::default();
    let specs = specs();
    let inputs = all_inputs();
    assert!(inputs.len() > 512, "{}", inputs.len());
    let mut tally = Tally::default();
    let mut next = xorshift(0x2545_F491_4F6C_DD1D);
    for input in &inputs {
        agree(input, &limits, &specs, &mut tally);
        for cut in (0..input.len().min(4096)).step_by(5) {
            agree(&input[..cut], &limits, &specs, &mut tally);
        }
        for _ in 0..16 {
            let mut m = input.clone();
            for _ in 0..1 + next() % 3 {
                let i = (next() as usize) % m.len().max(1);
                if let Some(b) = m.get_mut(i) {
                    // Mostly bytes that matter to JSON, sometimes any byte.
                    const SPECIAL: &[u8] = b"\"\\{}[],:0-1.eE tfn\x01\t";
                    let r = next();
                    *b = if r.is_multiple_of(4) {
                        (r >> 8) as u8
                    } else {
                        SPECIAL[(r >> 8) as usize % SPECIAL.len()]
                    };
                }
            }
            agree(&m, &limits, &specs, &mut tally);
        }
    }
    eprintln!("{tally:?}");
    // The shallow path must actually carry most well-formed corpus calls, and decline the rest.
    assert!(tally.shallow > 400, "{tally:?}");
    assert!(tally.typed > 250, "{tally:?}");
}

/// A generated document: mostly shallow calls, with the features the general parser checks.
fn generated(next: &mut impl FnMut() -> u64) -> String {
    const KEYS: &[&str] = &[
        "tool",
        "args",
        "path",
        "p\\u0061th",
        "url",
        "content",
        "sql",
        "source",
        "dest",
        "type",
        "role",
        "content",
        "tool_calls",
        "jsonrpc",
        "x",
    ];
    const VALUES: &[&str] = &[
        "\"read_file\"",
        "\"write_file\"",
        "\"http_get\"",
        "\"db_query\"",
        "\"sync_docs\"",
        "\"/workspace/a\"",
        "\"/workspace/\\u00e9\\n\"",
        "\"https://docs.internal.example/a\"",
        "\"\\ud83d\\ude00\"",
        "\"\\ud83d\"",
        "\"\"",
        "0",
        "-0",
        "1.5e3",
        "01",
        "18446744073709551616",
        "true",
        "false",
        "null",
        "nul",
        "[]",
        "\"tool_use\"",
        "\"function\"",
    ];
    let pick = |next: &mut dyn FnMut() -> u64, list: &[&'static str]| -> &'static str {
        list[(next() as usize) % list.len()]
    };
    let ws = |next: &mut dyn FnMut() -> u64| -> &'static str {
        match next() % 8 {
            0 => " ",
            1 => "\n\t",
            2 => "\u{a0}",
            _ => "",
        }
    };
    let object = |next: &mut dyn FnMut() -> u64, top: bool| -> String {
        let mut s = String::from("{");
        let n = next() % 5;
        for i in 0..n {
            if i > 0 {
                s.push(',');
            }
            s.push_str(ws(next));
            s.push('"');
            s.push_str(pick(next, KEYS));
            s.push_str("\":");
            s.push_str(ws(next));
            if top && next().is_multiple_of(3) {
                s.push_str("{\"path\":");
                s.push_str(pick(next, VALUES));
                if next().is_multiple_of(2) {
                    s.push_str(",\"url\":");
                    s.push_str(pick(next, VALUES));
                }
                s.push('}');
            } else {
                s.push_str(pick(next, VALUES));
            }
        }
        if next().is_multiple_of(16) {
            s.push(',');
        }
        s.push('}');
        s
    };
    let mut doc = String::new();
    doc.push_str(ws(next));
    if next().is_multiple_of(2) {
        // A call shaped like the real ones, with any values.
        let (a, b) = (pick(next, VALUES), pick(next, VALUES));
        let (w1, w2) = (ws(next), ws(next));
        doc.push_str(&match next() % 5 {
            0 => format!("{{\"tool\":{w1}\"read_file\",\"path\":{w2}{a}}}"),
            1 => format!("{{\"tool\":\"http_get\",{w1}\"args\":{{\"url\":{a}{w2}}}}}"),
            2 => format!("{{\"tool\":\"write_file\",\"path\":{a},{w1}\"content\":{b}}}"),
            3 => format!("{{\"args\":{{\"sql\":{a}}},{w1}\"tool\":\"db_query\"{w2}}}"),
            _ => format!("{{\"tool\":\"sync_docs\",\"args\":{{\"source\":{a},\"dest\":{b}}}}}"),
        });
        doc.push_str(ws(next));
        return doc;
    }
    let mut top = object(next, true);
    // Put a tool name first most of the time, so that many documents are calls.
    if !next().is_multiple_of(4) {
        let name = pick(next, &VALUES[..5]);
        let rest = top.strip_prefix('{').unwrap_or("}").to_owned();
        top = if rest == "}" {
            format!("{{\"tool\":{name}}}")
        } else {
            format!("{{\"tool\":{name},{rest}")
        };
    }
    doc.push_str(&top);
    doc.push_str(ws(next));
    if next().is_multiple_of(16) {
        doc.push_str(" trailing");
    }
    doc
}

#[test]
fn generated_documents_agree() {
    let specs = specs();
    let mut tally = Tally::default();
    let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
    let limits = ParseLimits::default();
    // A policy whose depth limit leaves no room for an argument object: the general path
    // refuses the wrapper form, so the shallow path must decline it too.
    let tight = ParseLimits {
        json: JsonLimits {
            max_depth: 1,
            ..JsonLimits::default()
        },
        ..ParseLimits::default()
    };
    for _ in 0..20_000 {
        let doc = generated(&mut next);
        agree(doc.as_bytes(), &limits, &specs, &mut tally);
        agree(doc.as_bytes(), &tight, &specs, &mut tally);
    }
    eprintln!("{tally:?}");
    assert!(tally.shallow > 2_000, "{tally:?}");
    assert!(tally.typed > 1_000, "{tally:?}");
}
