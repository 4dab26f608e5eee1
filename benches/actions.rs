//! Screening the labeled action corpus, no judge: ns per action, non-SQL and SQL separately.
//!
//! Besides criterion's time per pass over each group, the setup measures every case on its own
//! (its best time over ten rounds through all cases, 100 repetitions each) and prints the
//! median over cases, which is what the target (≤ 500 ns median per non-SQL action, one core)
//! is stated in.
//!
//! A verdict with its reasons is a handful of small allocations, so the allocator shows in
//! the timings: by default the bench runs on the system allocator, which is what a program
//! linking the crate gets unless it picks another; `--features mimalloc` runs it on the
//! allocator of the `guardrail` binary.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "bench setup over fixed fixture files: a failure should stop the bench loudly"
)]

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use base64::Engine as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use guardrail_core::check::sql::Dialect;
use guardrail_core::{ActionOptions, Decision, Guard, Policy};

struct Case {
    bytes: Vec<u8>,
    options: ActionOptions,
    deny: bool,
}

fn load() -> (Guard, Vec<Case>, Vec<Case>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let guard =
        Guard::new(Policy::from_file(&root.join("policies/actions-corpus.toml")).unwrap()).unwrap();
    let (mut plain, mut sql) = (Vec::new(), Vec::new());
    let mut files: Vec<_> = std::fs::read_dir(root.join("corpora/actions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let is_sql = file
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("sql"));
        for line in std::fs::read_to_string(&file).unwrap().lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let bytes = match row["input"].as_str() {
                Some(s) => s.as_bytes().to_vec(),
                None => base64::engine::general_purpose::STANDARD
                    .decode(row["input_b64"].as_str().unwrap())
                    .unwrap(),
            };
            let dialect = row["dialect"]
                .as_str()
                .map(|d| d.parse::<Dialect>().unwrap());
            let case = Case {
                bytes,
                options: ActionOptions {
                    dialect,
                    all_findings: false,
                },
                deny: row["expect"] == "deny",
            };
            if is_sql {
                sql.push(case)
            } else {
                plain.push(case)
            }
        }
    }
    (guard, plain, sql)
}

fn check_labels(guard: &Guard, cases: &[Case]) -> usize {
    cases
        .iter()
        .filter(|c| {
            (guard.screen_action_with(&c.bytes, &c.options).decision == Decision::Deny) == c.deny
        })
        .count()
}

fn median_ns_per_case(guard: &Guard, cases: &[Case]) -> f64 {
    // Each case's best time over rounds that go through all cases in turn: a case's samples
    // are spread over the whole measurement, not taken back to back, so a slow stretch of the
    // machine (another process, a frequency change) does not set one case's time alone.
    let (rounds, reps) = (ROUNDS, 100);
    let mut best = vec![f64::INFINITY; cases.len()];
    for _ in 0..rounds {
        for (c, best) in cases.iter().zip(best.iter_mut()) {
            let t = Instant::now();
            for _ in 0..reps {
                black_box(guard.screen_action_with(black_box(&c.bytes), &c.options));
            }
            *best = best.min(t.elapsed().as_nanos() as f64 / f64::from(reps));
        }
    }
    best.sort_by(f64::total_cmp);
    best[best.len() / 2]
}

/// Rounds over all cases for the per-case times.
const ROUNDS: usize = 10;

fn bench(c: &mut Criterion) {
    let (guard, plain, sql) = load();
    assert_eq!(plain.len() + sql.len(), 512, "the corpus has 512 cases");
    assert_eq!(sql.len(), 146);
    // The bench measures the guard as it decides correctly; a regression shows here first.
    assert_eq!(
        check_labels(&guard, &plain),
        plain.len(),
        "non-SQL cases disagree with labels"
    );
    assert_eq!(
        check_labels(&guard, &sql),
        sql.len(),
        "SQL cases disagree with labels"
    );

    eprintln!(
        "median per case ({ALLOCATOR_NAME} allocator): non-SQL {:.0} ns over {} cases, SQL {:.0} ns over {} cases",
        median_ns_per_case(&guard, &plain),
        plain.len(),
        median_ns_per_case(&guard, &sql),
        sql.len()
    );

    let mut group = c.benchmark_group("screen_action");
    for (name, cases) in [("non_sql", &plain), ("sql", &sql)] {
        group.throughput(Throughput::Elements(cases.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                for case in cases.iter() {
                    black_box(guard.screen_action_with(black_box(&case.bytes), &case.options));
                }
            });
        });
    }
    group.finish();
}

/// With `--features mimalloc`, the allocator the `guardrail` binary uses.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "mimalloc")]
const ALLOCATOR_NAME: &str = "mimalloc";
#[cfg(not(feature = "mimalloc"))]
const ALLOCATOR_NAME: &str = "system";

criterion_group!(benches, bench);
criterion_main!(benches);
