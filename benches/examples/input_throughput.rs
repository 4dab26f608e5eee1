//! End-to-end input screening throughput on long, mixed tool output: the default policy's
//! screener (heuristics, first tier, the compiled-in transformer) over texts of a given size.
//!
//! ```sh
//! python3 ../shared/tools/gen_tool_output.py /tmp/to.txt /tmp/to.planted.jsonl 8
//! cargo run --release -p guardrail-benches --features embedded-model --example input_throughput -- /tmp/to.txt [CHUNK_BYTES] [THREADS]
//! ```
//!
//! The file is cut into inputs of `CHUNK_BYTES` (default 100000, a large fetched page or tool
//! result) at line breaks; each is screened once, on `THREADS` threads (default 1, one core).
//! Prints MB/s, windows cut and scored by the transformer, time per stage, and the decisions.
//!
//! With a fourth argument, a JSONL file in the shared injection format, each input gets one of
//! its `injection` texts (in file order) inserted at a line break in its middle: then "not
//! allowed" counts the planted injections the whole pipeline catches in long output.

use std::path::PathBuf;
use std::time::Instant;

use guardrail_core::Policy;
use guardrail_core::classify::{InputScreener, InputSource};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .ok_or("usage: input_throughput FILE [CHUNK] [THREADS]")?,
    );
    let chunk: usize = args.next().map_or(Ok(100_000), |s| s.parse())?;
    let threads: usize = args.next().map_or(Ok(1), |s| s.parse())?;
    let planted: Vec<String> = match args.next() {
        Some(p) => std::fs::read_to_string(p)?
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|r| r.get("label").and_then(|l| l.as_str()) == Some("injection"))
            .filter_map(|r| r.get("text")?.as_str().map(str::to_owned))
            .collect(),
        None => Vec::new(),
    };
    let text = std::fs::read_to_string(&path)?;
    let mut inputs: Vec<&str> = Vec::new();
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let mut end = rest.len().min(chunk);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if end < rest.len()
            && let Some(nl) = rest.get(..end).and_then(|h| h.rfind('\n'))
        {
            end = nl + 1;
        }
        let (head, tail) = rest.split_at(end);
        inputs.push(head);
        rest = tail;
    }
    let inputs: Vec<String> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| match planted.get(i % planted.len().max(1)) {
            Some(attack) => {
                let mid = input
                    .get(..input.len() / 2)
                    .and_then(|h| h.rfind('\n'))
                    .map_or(0, |n| n + 1);
                let (head, tail) = input.split_at(mid);
                format!("{head}{attack}\n{tail}")
            }
            None => (*input).to_owned(),
        })
        .collect();
    let policy = Policy::builtin();
    let screener =
        InputScreener::new(policy.input.clone()).map_err(|issues| format!("{issues:?}"))?;
    let started = Instant::now();
    let per_thread = inputs.len().div_ceil(threads.max(1));
    let results: Vec<(usize, usize, u64, u64, u64, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = inputs
            .chunks(per_thread.max(1))
            .map(|part| {
                let screener = &screener;
                s.spawn(move || {
                    let mut acc = (0usize, 0usize, 0u64, 0u64, 0u64, 0usize);
                    for input in part {
                        let v = screener.screen_input(input, InputSource::ToolResult);
                        acc.0 += v.windows;
                        acc.1 += v.windows_scored;
                        acc.2 += v.timings.heuristics_ns;
                        acc.3 += v.timings.tier1_ns + v.timings.tokenize_ns;
                        acc.4 += v.timings.classifier_ns;
                        if v.decision != guardrail_core::Decision::Allow {
                            acc.5 += 1;
                            if std::env::var_os("SHOW").is_some() {
                                let codes: Vec<&str> =
                                    v.findings.iter().map(|f| f.code.as_str()).collect();
                                eprintln!(
                                    "{:?} score {:.2} heuristic {:.2} classifier {:?} findings {codes:?}",
                                    v.decision, v.score, v.heuristic_score, v.classifier_score
                                );
                            }
                        }
                    }
                    acc
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let secs = started.elapsed().as_secs_f64();
    let sum = results.iter().fold((0, 0, 0, 0, 0, 0), |a, r| {
        (
            a.0 + r.0,
            a.1 + r.1,
            a.2 + r.2,
            a.3 + r.3,
            a.4 + r.4,
            a.5 + r.5,
        )
    });
    let mb = text.len() as f64 / 1e6;
    println!(
        "{} inputs of ~{chunk} bytes, {mb:.1} MB, {threads} thread(s): {:.2} MB/s; windows {} (transformer {}); \
         heuristics {:.0} ms, tokenize+tier1 {:.0} ms, transformer {:.0} ms; {} not allowed",
        inputs.len(),
        mb / secs,
        sum.0,
        sum.1,
        sum.2 as f64 / 1e6,
        sum.3 as f64 / 1e6,
        sum.4 as f64 / 1e6,
        sum.5
    );
    Ok(())
}
