//! Screens the non-SQL action corpus in a loop, for instruction-level profiling:
//! `valgrind --tool=callgrind target/release/examples/screen_loop [ROUNDS]`.
//! Instruction counts, unlike wall-clock timings, do not depend on what else the machine runs.

use std::hint::black_box;
use std::path::Path;

use guardrail_core::{Guard, Policy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args().nth(1).map_or(Ok(20), |s| s.parse())?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let guard = Guard::new(Policy::from_file(
        &root.join("policies/actions-corpus.toml"),
    )?)?;
    let mut inputs = Vec::new();
    for file in [
        "json_parsing_formats",
        "path_traversal",
        "ssrf_url_allowlist",
        "unicode_smuggling",
    ] {
        let text = std::fs::read_to_string(root.join(format!("corpora/actions/{file}.jsonl")))?;
        for line in text.lines() {
            let row: serde_json::Value = serde_json::from_str(line)?;
            if let Some(s) = row.get("input").and_then(serde_json::Value::as_str) {
                inputs.push(s.as_bytes().to_vec());
            }
        }
    }
    let mut denied = 0usize;
    for _ in 0..rounds {
        for input in &inputs {
            let verdict = guard.screen_action(black_box(input));
            denied += usize::from(verdict.decision == guardrail_core::Decision::Deny);
        }
    }
    println!("{} inputs x {rounds} rounds, {denied} denies", inputs.len());
    Ok(())
}
