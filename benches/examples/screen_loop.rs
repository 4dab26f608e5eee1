//! Screens the non-SQL action corpus in a loop, for instruction-level profiling, which unlike
//! wall-clock timings does not depend on what else the machine runs:
//!
//! ```sh
//! valgrind --tool=callgrind target/release/examples/screen_loop [ROUNDS]     # every case
//! valgrind --tool=callgrind target/release/examples/screen_loop --id path-011 [N]   # one case
//! valgrind --tool=callgrind target/release/examples/screen_loop --input '{"tool":..}' [N]
//! target/release/examples/screen_loop --per-case   # best time per case, sorted: what a median case costs
//! valgrind --tool=callgrind --toggle-collect='screen_loop::screen_once' \
//!     target/release/examples/screen_loop --ids path-011,ssrf-039 [N]   # several cases, verdicts dropped
//! ```
//!
//! With `--ids`, callgrind's collected count divided by N times the number of ids is the mean
//! cost of screening one of those cases and dropping its verdict, which is what the per-case
//! timings measure.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use guardrail_core::{Guard, Policy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let guard = Guard::new(Policy::from_file(
        &root.join("policies/actions-corpus.toml"),
    )?)?;
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
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
                let id = row.get("id").and_then(serde_json::Value::as_str);
                cases.push((id.unwrap_or("?").to_owned(), s.as_bytes().to_vec()));
            }
        }
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--id") => {
            let want = args.get(1).ok_or("--id needs a case id")?;
            let n: usize = args.get(2).map_or(Ok(100_000), |s| s.parse())?;
            let input = &cases
                .iter()
                .find(|(id, _)| id == want)
                .ok_or("no such id")?
                .1;
            for _ in 0..n {
                black_box(guard.screen_action(black_box(input)));
            }
        }
        Some("--ids") => {
            let want = args
                .get(1)
                .ok_or("--ids needs a comma-separated list of case ids")?;
            let n: usize = args.get(2).map_or(Ok(200), |s| s.parse())?;
            let mut inputs = Vec::new();
            for id in want.split(',') {
                let case = cases.iter().find(|(c, _)| c == id);
                inputs.push(&case.ok_or_else(|| format!("no such id: {id}"))?.1);
            }
            // Once each outside the counted function: what is built on first use (compiled
            // regexes, the short-text precheck) is not part of a case's cost.
            for input in &inputs {
                black_box(guard.screen_action(input));
            }
            for input in inputs {
                for _ in 0..n {
                    screen_once(&guard, input);
                }
            }
        }
        Some("--input") => {
            let input = args
                .get(1)
                .ok_or("--input needs the model output")?
                .as_bytes();
            let n: usize = args.get(2).map_or(Ok(100_000), |s| s.parse())?;
            for _ in 0..n {
                black_box(guard.screen_action(black_box(input)));
            }
        }
        Some("--per-case") => {
            let mut rows = Vec::new();
            for (id, input) in &cases {
                let mut best = f64::INFINITY;
                for _ in 0..5 {
                    let t = Instant::now();
                    for _ in 0..200 {
                        black_box(guard.screen_action(black_box(input)));
                    }
                    best = best.min(t.elapsed().as_nanos() as f64 / 200.0);
                }
                let v = guard.screen_action(input);
                let code = v.primary_code().map_or("-", |c| c.as_str());
                rows.push((best, id, v.decision.as_str(), code, input.len()));
            }
            rows.sort_by(|a, b| a.0.total_cmp(&b.0));
            for (t, id, decision, code, len) in &rows {
                println!("{t:8.0} ns  {id:24} {decision:6} {code:24} {len} bytes");
            }
        }
        rounds => {
            let rounds: usize = rounds.map_or(Ok(20), str::parse)?;
            let mut denied = 0usize;
            for _ in 0..rounds {
                for (_, input) in &cases {
                    let verdict = guard.screen_action(black_box(input));
                    denied += usize::from(verdict.decision == guardrail_core::Decision::Deny);
                }
            }
            println!("{} inputs x {rounds} rounds, {denied} denies", cases.len());
        }
    }
    Ok(())
}

/// One screening, its verdict dropped: what `--ids` repeats and callgrind counts.
#[inline(never)]
fn screen_once(guard: &Guard, input: &[u8]) {
    black_box(guard.screen_action(black_box(input)));
}

/// With `--features mimalloc`, the allocator the `guardrail` binary uses.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
