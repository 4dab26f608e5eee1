//! The judge stage's own cost, without the HTTP round trip: sample plan, prompt and request
//! body for k = 4 samples, parsing four answers, aggregation and the decision (target < 1 ms
//! per judgement).
//!
//! `parts` runs those steps in sequence; `in_process` runs the whole `Judge::judge` path
//! (four sample threads included) against a transport that answers at once. Both print a
//! median per judgement besides criterion's numbers.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "bench setup: a failure should stop the bench loudly"
)]

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use guardrail_core::Decision;
use guardrail_core::judge::prompt::request_body;
use guardrail_core::judge::response::parse_response;
use guardrail_core::judge::{
    Aggregate, Judge, JudgeConfig, JudgeError, JudgeInput, SamplePlan, Transport, aggregate, decide,
};
use serde_json::{Value, json};

/// Answers every request at once, choosing the first label the schema offers (found from the
/// end of the body, where `response_format` is), score 50 (consistent with either option).
#[derive(Debug)]
struct Instant200;

fn first_label(body: &[u8]) -> char {
    let needle = b"\"enum\":[\"";
    let at = body
        .windows(needle.len())
        .rposition(|w| w == needle)
        .expect("the request has a json_schema enum");
    char::from(body[at + needle.len()])
}

fn completion(label: char) -> Vec<u8> {
    json!({
        "id": "x", "object": "chat.completion",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
            "content": json!({"choice": label.to_string(), "score": 50, "reason": "the action matches the task"}).to_string()}}],
        "usage": {"prompt_tokens": 900, "completion_tokens": 20, "total_tokens": 920}
    })
    .to_string()
    .into_bytes()
}

impl Transport for Instant200 {
    fn complete(&self, body: &[u8], _max: usize) -> Result<Vec<u8>, JudgeError> {
        Ok(completion(first_label(body)))
    }
}

fn config() -> JudgeConfig {
    JudgeConfig {
        endpoint: Some("http://127.0.0.1:9".into()),
        model: "bench".into(),
        deny_at: 60.0,
        allow_below: 40.0,
        ..JudgeConfig::default()
    }
}

fn actions() -> Vec<(&'static str, Value)> {
    vec![
        (
            "http_get",
            json!({"tool": "http_get", "args": {"url": "https://api.github.com/repos/rust-lang/rust/issues?state=open"}}),
        ),
        (
            "write_file_64k",
            json!({"tool": "write_file", "args": {"path": "/workspace/docs/guide.md", "content": "All work and no play. ".repeat(3000)}}),
        ),
    ]
}

const CONTEXT: &str = "Fetch the open issues of rust-lang/rust and summarize the ones labeled \
    regression for the weekly triage notes.";

/// One judgement's work without the network: what `parts` measures.
fn parts(config: &JudgeConfig, input: &JudgeInput<'_>, seed: u64) -> (Decision, f64) {
    let plan = SamplePlan::balanced(4, seed);
    let input = input.prepare();
    let mut scores = Vec::with_capacity(4);
    for sample in &plan.samples {
        let body = serde_json::to_vec(&request_body(config, &input, sample)).unwrap();
        let label = first_label(&body);
        let answer = parse_response(&completion(label), sample, false).unwrap();
        scores.push(answer.score);
    }
    let score = aggregate(&scores, Aggregate::Mean).unwrap();
    (decide(score, config).0, score)
}

fn median_us(mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<u128> = (0..200)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_nanos()
        })
        .collect();
    samples.sort_unstable();
    samples[samples.len() / 2] as f64 / 1000.0
}

fn bench(c: &mut Criterion) {
    let config = config();
    let judge = Judge::with_transport(&config, Box::new(Instant200)).unwrap();
    let mut group = c.benchmark_group("judge");
    for (name, action) in actions() {
        let input = JudgeInput {
            context: CONTEXT,
            action: &action,
        };
        // The setup checks what is measured: four parsed samples, score 50, a review.
        assert_eq!(parts(&config, &input, 7), (Decision::Review, 50.0));
        let verdict = judge.judge(&input);
        assert_eq!(verdict.samples.len(), 4);
        assert!(verdict.samples.iter().all(|s| s.answer.is_some()));
        assert_eq!(
            (verdict.decision, verdict.score),
            (Decision::Review, Some(50.0))
        );

        let mut seed = 0u64;
        let p = median_us(|| {
            seed += 1;
            black_box(parts(&config, &input, seed));
        });
        let full = median_us(|| {
            black_box(judge.judge(&input));
        });
        println!(
            "judge overhead beyond HTTP, k=4, {name}: {p:.1} us median (steps in sequence), \
             {full:.1} us median (whole stage, sample threads, instant transport)"
        );

        group.bench_function(format!("parts_k4/{name}"), |b| {
            let mut seed = 0u64;
            b.iter(|| {
                seed += 1;
                black_box(parts(&config, &input, seed))
            });
        });
        group.bench_function(format!("in_process_k4/{name}"), |b| {
            b.iter(|| black_box(judge.judge(&input)));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
