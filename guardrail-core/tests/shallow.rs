//! The shallow path (a lone flat or wrapper call read in place) against the general path
//! (strict parse into values, envelope extraction, typing): wherever the shallow path takes an
//! output, both must find the same call and type it the same way.
//!
//! Inputs: every case of the labeled action corpus and of `fixtures/cases/`, prefixes and byte
//! mutations of them, and generated shallow documents with escapes, numbers, literals,
//! duplicate keys and nested objects.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly on malformed fixtures"
)]

use std::path::{Path, PathBuf};

use guardrail_core::action::envelope::{ParseLimits, extract_calls, shallow_call};
use guardrail_core::action::json::JsonLimits;
use guardrail_core::action::tools::{BlastRadius, Builtin, ToolSpec};
use serde_json::Value;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn specs() -> Vec<ToolSpec> {
    let mut specs: Vec<ToolSpec> = Builtin::ALL
        .iter()
        .map(|&b| ToolSpec::builtin(b, BlastRadius::Low).unwrap())
        .collect();
    let schema: Value = serde_json::from_str(
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

fn corpus_inputs() -> Vec<Vec<u8>> {
    let mut inputs = Vec::new();
    let dir = fixtures_dir().join("corpora/actions");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    for path in files {
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            if let Some(s) = v.get("input").and_then(Value::as_str) {
                inputs.push(s.as_bytes().to_vec());
            }
        }
    }
    for name in ["actions.toml", "custom-tools.toml", "protected-paths.toml"] {
        let text = std::fs::read_to_string(fixtures_dir().join("cases").join(name)).unwrap();
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
    let inputs = corpus_inputs();
    assert!(inputs.len() > 512, "{}", inputs.len());
    let mut tally = Tally::default();
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
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
                    *b = if r % 4 == 0 {
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
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
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
