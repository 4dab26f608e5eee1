//! Prints the best time per case over the non-SQL action corpus, sorted, to find what a
//! median case spends: `cargo run --release -p guardrail-benches --example per_case`.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use guardrail_core::{Guard, Policy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let guard = Guard::new(Policy::from_file(
        &root.join("policies/actions-corpus.toml"),
    )?)?;
    let mut rows = Vec::new();
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
                let id = row
                    .get("id")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("?");
                rows.push((id.to_owned(), s.as_bytes().to_vec()));
            }
        }
    }
    if let Some(want) = std::env::args().nth(1) {
        let n: usize = std::env::args().nth(2).map_or(Ok(100_000), |s| s.parse())?;
        let input = &rows
            .iter()
            .find(|(id, _)| *id == want)
            .ok_or("no such id")?
            .1;
        for _ in 0..n {
            black_box(guard.screen_action(black_box(input)));
        }
        return Ok(());
    }
    let mut out = Vec::new();
    for (id, input) in &rows {
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let t = Instant::now();
            for _ in 0..200 {
                black_box(guard.screen_action(black_box(input)));
            }
            best = best.min(t.elapsed().as_nanos() as f64 / 200.0);
        }
        let v = guard.screen_action(input);
        let code = v
            .primary_code()
            .map_or("-".to_owned(), |c| format!("{c:?}"));
        out.push((
            best,
            id.clone(),
            format!("{:?}", v.decision),
            code,
            input.len(),
        ));
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (t, id, d, c, n) in &out {
        println!("{t:8.0} {id:24} {d:6} {c:24} {n}");
    }
    Ok(())
}
