//! Secret scanning throughput and per-argument cost, on inputs generated here, deterministically.
//!
//! - `scan/prose`: English-like prose, no secrets.
//! - `scan/tool_output`: what agent tools print (JSON log lines, `ls -l`, code, stack traces,
//!   commit lines, request logs), no secrets.
//! - `scan/tool_output_dense`: the same with a secret planted every 500 bytes on average, each
//!   at a known span; the setup asserts the scanner reports exactly those spans.
//! - `scan_with_decodings/*`: short tool-call arguments (a path, a URL, an SQL statement, and
//!   a URL carrying a base64-encoded key), as the action guard scans every string argument.
//!
//! Every expected finding count is asserted before anything is timed.
//!
//! For instruction counts, which unlike wall time do not depend on what else the machine
//! runs, run one case in a loop under callgrind:
//! `GUARDRAIL_SCAN_PROFILE=tool_output_dense:20 valgrind --tool=callgrind
//! --toggle-collect='*profiled*' target/release/deps/scan-<hash>`
//! (cases: `prose`, `tool_output`, `tool_output_dense`, `path`, `url`, `sql`, `encoded`).

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::string_slice,
    clippy::panic,
    reason = "bench setup over generated inputs: a failure should stop the bench loudly"
)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use base64::Engine as _;
use criterion::{Criterion, Throughput, criterion_group};
use guardrail_core::scan::{Finding, SecretScanner};

/// Size of each generated text.
const TEXT_BYTES: usize = 4 << 20;
/// Average distance between planted secrets in the dense text.
const SECRET_EVERY: usize = 500;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// A random string over `alphabet`, free of the rule pack's placeholder words (a real
    /// key that happens to contain `xxxx` is, by policy, not reported).
    fn string(&mut self, alphabet: &[u8], len: usize) -> String {
        loop {
            let s: String = (0..len)
                .map(|_| char::from(alphabet[self.below(alphabet.len())]))
                .collect();
            let lower = s.to_ascii_lowercase();
            if !PLACEHOLDERS.iter().any(|p| lower.contains(p)) {
                return s;
            }
        }
    }
}

/// Words that mark a placeholder in the built-in pack (`stopwords`), lowercase.
const PLACEHOLDERS: &[&str] = &[
    "example",
    "xxxx",
    "your_",
    "your-",
    "yourtoken",
    "yourkey",
    "redacted",
    "placeholder",
    "changeme",
    "change_me",
    "replace_me",
    "insert_",
    "dummy",
    "abcdefghijklmnop",
    "0000000000000000",
    "1111111111111111",
];

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const BASE32_UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const DIGITS: &[u8] = b"0123456789";
const HEX: &[u8] = b"0123456789abcdef";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by",
    "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an",
    "they", "you", "were", "her", "she", "there", "been", "one", "all", "we", "their", "has",
    "would", "when", "if", "so", "no", "will", "can", "more", "out", "up", "who", "them", "some",
    "could", "what", "into", "than", "its", "time", "only", "other", "new", "about", "then",
    "also", "these", "two", "may", "after", "first", "any", "like", "over", "such", "our", "even",
    "most", "made", "many", "before", "must", "through", "back", "years", "where", "much", "your",
    "way", "well", "down", "should", "because", "each", "just", "those", "people", "how", "too",
    "little", "state", "good", "very", "make", "world", "still", "own", "see", "men", "work",
    "long", "get", "here", "between", "both", "life", "being", "under", "never", "day", "same",
    "another", "know", "while", "last", "might", "great", "old", "year", "off", "come", "since",
    "against", "go", "came", "right", "used", "take", "three",
];

/// Identifier-ish words of tool output (some are words that secret rules key on).
const TECH: &[&str] = &[
    "request", "response", "server", "client", "build", "error", "warning", "info", "debug",
    "token", "config", "value", "file", "path", "user", "account", "session", "cache", "query",
    "index", "table", "column", "row", "cluster", "node", "pod", "service", "deploy", "release",
    "branch", "commit", "merge", "handler", "worker", "retry", "timeout", "limit", "offset",
];

const HOSTS: &[&str] = &[
    "api.internal.test",
    "db-01.internal",
    "cache.local",
    "github.com",
    "registry.npmjs.org",
    "storage.internal.test",
];

fn words(rng: &mut Rng, out: &mut String, n: usize, pool: &[&str]) {
    for i in 0..n {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(rng.pick(pool));
    }
}

fn sentence(rng: &mut Rng, out: &mut String) {
    let n = 6 + rng.below(24);
    let start = out.len();
    words(rng, out, n, WORDS);
    if let Some(first) = out.get(start..start + 1) {
        let upper = first.to_ascii_uppercase();
        out.replace_range(start..start + 1, &upper);
    }
    if rng.below(3) == 0 {
        let at = out[start..].find(' ').map_or(out.len(), |i| start + i);
        out.insert(at, ',');
    }
    out.push_str([".", ".", ".", "?", "!"][rng.below(5)]);
}

fn prose(bytes: usize) -> Vec<u8> {
    let mut rng = Rng(0x5EED_0001);
    let mut out = String::with_capacity(bytes + 256);
    while out.len() < bytes {
        sentence(&mut rng, &mut out);
        out.push_str(if rng.below(7) == 0 { "\n\n" } else { " " });
    }
    out.into_bytes()
}

fn uuid(rng: &mut Rng) -> String {
    let h = rng.string(HEX, 32);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// One line of tool output, without secrets.
fn tool_line(rng: &mut Rng, out: &mut String) {
    match rng.below(100) {
        0..25 => {
            let mut msg = String::new();
            let n = 3 + rng.below(12);
            words(rng, &mut msg, n, WORDS);
            let _ = write!(
                out,
                "{{\"ts\": \"2025-0{}-1{}T{}:{}:{}Z\", \"level\": \"{}\", \"msg\": \"{msg}\", \
                 \"request_id\": \"{}\", \"latency_ms\": {}, \"host\": \"{}\"}}",
                1 + rng.below(9),
                rng.below(10),
                10 + rng.below(14),
                10 + rng.below(50),
                10 + rng.below(50),
                rng.pick(&["INFO", "DEBUG", "WARN", "ERROR", "TRACE"]),
                uuid(rng),
                rng.below(3000),
                rng.pick(HOSTS),
            );
        }
        25..40 => {
            let _ = write!(
                out,
                "-rw-r--r--  1 user staff {:>6} Mar {:>2} 12:{} {}_{}.{}",
                10 + rng.below(99_990),
                1 + rng.below(28),
                10 + rng.below(50),
                rng.pick(TECH),
                rng.pick(WORDS),
                rng.pick(&["py", "rs", "go", "txt", "json", "md", "yaml"]),
            );
        }
        40..60 => {
            let (a, b, c) = (rng.pick(TECH), rng.pick(WORDS), rng.pick(TECH));
            match rng.below(6) {
                0 => {
                    let _ = write!(out, "    let {a}_{b} = {c}::new({});", rng.below(1000));
                }
                1 => {
                    let _ = write!(out, "def {a}_{b}(self, {c}=None):");
                }
                2 => {
                    let _ = write!(
                        out,
                        "    if err := {a}.{}(ctx); err != nil {{ return err }}",
                        c.to_ascii_uppercase()
                    );
                }
                3 => {
                    let _ = write!(out, "    {a}_timeout = {}  # {b} {c}", 1 + rng.below(600));
                }
                4 => {
                    let _ = write!(out, "import {a}.{b}");
                }
                _ => {
                    let _ = write!(out, "    \"{a}\": \"{b}-{}\",", 1 + rng.below(99));
                }
            }
        }
        60..80 => sentence(rng, out),
        80..87 => {
            let _ = write!(
                out,
                "commit {}  Author: dev{} <dev{}@example.com>",
                rng.string(HEX, 40),
                1 + rng.below(50),
                1 + rng.below(50)
            );
        }
        87..93 => {
            let _ = write!(
                out,
                "  File \"/usr/lib/python3/{}/{}.py\", line {}, in {}",
                rng.pick(TECH),
                rng.pick(WORDS),
                1 + rng.below(2000),
                rng.pick(TECH)
            );
        }
        _ => {
            let _ = write!(
                out,
                "GET https://{}/v{}/{}/{}?page={}&sort={} 200 {}ms",
                rng.pick(HOSTS),
                1 + rng.below(3),
                rng.pick(TECH),
                rng.below(100_000),
                1 + rng.below(50),
                rng.pick(TECH),
                1 + rng.below(900)
            );
        }
    }
    out.push('\n');
}

fn tool_output(bytes: usize) -> Vec<u8> {
    let mut rng = Rng(0x5EED_0002);
    let mut out = String::with_capacity(bytes + 256);
    while out.len() < bytes {
        tool_line(&mut rng, &mut out);
    }
    out.into_bytes()
}

/// Appends a line carrying one secret and returns the span the scanner must report.
fn secret_line(rng: &mut Rng, out: &mut String) -> (usize, usize, &'static str) {
    let (before, secret, after, rule) = match rng.below(12) {
        0 => (
            "found credential ".to_string(),
            format!("AKIA{}", rng.string(BASE32_UPPER, 16)),
            " in the instance profile".to_string(),
            "aws-access-key-id",
        ),
        1 => (
            "mirroring with ".to_string(),
            format!("ghp_{}", rng.string(ALNUM, 36)),
            " as the deploy credential".to_string(),
            "github-pat",
        ),
        2 => (
            "bot posting with ".to_string(),
            format!(
                "xoxb-{}-{}-{}",
                rng.string(DIGITS, 11),
                rng.string(DIGITS, 12),
                rng.string(ALNUM, 24)
            ),
            " to #alerts".to_string(),
            "slack-bot-token",
        ),
        3 => (
            "charging with ".to_string(),
            format!("sk_live_{}", rng.string(ALNUM, 24)),
            " for order 1182".to_string(),
            "stripe-secret-key",
        ),
        4 => (
            "runner registered: ".to_string(),
            format!("glpat-{}", rng.string(ALNUM, 20)),
            " (expires in 30 days)".to_string(),
            "gitlab-pat",
        ),
        5 => (
            "publishing with ".to_string(),
            format!("npm_{}", rng.string(ALNUM, 36)),
            " from CI".to_string(),
            "npm-access-token",
        ),
        6 => (
            "maps client uses ".to_string(),
            format!("AIza{}", rng.string(ALNUM, 35)),
            " in production".to_string(),
            "gcp-api-key",
        ),
        7 => (
            "model pulled with ".to_string(),
            format!("hf_{}", rng.string(ALNUM, 34)),
            " by the worker".to_string(),
            "huggingface-access-token",
        ),
        8 => (
            "connecting to postgres://app:".to_string(),
            rng.string(ALNUM, 18),
            "@db-01.internal:5432/orders".to_string(),
            "url-credentials",
        ),
        9 => (
            "    password = \"".to_string(),
            format!("{}#{}!", rng.string(ALNUM, 9), rng.string(ALNUM, 5)),
            "\"".to_string(),
            "generic-password",
        ),
        10 => {
            let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(br#"{"alg":"HS256","typ":"JWT"}"#);
            let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
                r#"{{"sub":"{}","iat":{}}}"#,
                rng.string(DIGITS, 9),
                1_700_000_000 + rng.below(10_000_000)
            ));
            (
                "session cookie ".to_string(),
                format!("{header}.{payload}.{}", rng.string(B64URL, 43)),
                " renewed".to_string(),
                "jwt",
            )
        }
        _ => {
            let mut body = String::new();
            for _ in 0..6 {
                body.push_str(&rng.string(ALNUM, 64));
                body.push('\n');
            }
            (
                "$ cat deploy_key\n".to_string(),
                format!("-----BEGIN RSA PRIVATE KEY-----\n{body}-----END RSA PRIVATE KEY-----"),
                String::new(),
                "private-key",
            )
        }
    };
    out.push_str(&before);
    let start = out.len();
    out.push_str(&secret);
    let end = out.len();
    out.push_str(&after);
    out.push('\n');
    (start, end, rule)
}

/// Tool output with a secret every `every` bytes on average, and the spans planted.
fn dense_tool_output(bytes: usize, every: usize) -> (Vec<u8>, Vec<(usize, usize, &'static str)>) {
    let mut rng = Rng(0x5EED_0003);
    let mut out = String::with_capacity(bytes + 1024);
    let mut planted = Vec::new();
    let mut next = every / 2;
    while out.len() < bytes {
        if out.len() >= next {
            planted.push(secret_line(&mut rng, &mut out));
            next += every / 2 + rng.below(every);
        } else {
            tool_line(&mut rng, &mut out);
        }
    }
    (out.into_bytes(), planted)
}

/// Short tool-call arguments and the number of findings each must give.
fn arguments() -> Vec<(&'static str, Vec<u8>, usize)> {
    let encoded = base64::engine::general_purpose::STANDARD.encode("id=AKIAYN77NKKPQ7WWPYAK");
    vec![
        (
            "path",
            b"/workspace/src/components/token_store.rs".to_vec(),
            0,
        ),
        (
            "url",
            b"https://api.internal.test/v1/users?page=2&sort=name".to_vec(),
            0,
        ),
        (
            "sql",
            b"SELECT id, name FROM users WHERE email = 'a@b.test' LIMIT 10".to_vec(),
            0,
        ),
        (
            "encoded",
            format!("https://collector.attacker.test/c?d={encoded}").into_bytes(),
            1,
        ),
    ]
}

struct Inputs {
    scanner: SecretScanner,
    prose: Vec<u8>,
    tool_output: Vec<u8>,
    dense: Vec<u8>,
    args: Vec<(&'static str, Vec<u8>, usize)>,
}

fn spans(findings: &[Finding]) -> Vec<(usize, usize)> {
    findings.iter().map(|f| (f.start, f.end)).collect()
}

/// Builds the inputs and checks that the scanner finds exactly what was planted.
fn inputs() -> Inputs {
    let scanner = SecretScanner::builtin().unwrap();
    let prose = prose(TEXT_BYTES);
    let tool_output = tool_output(TEXT_BYTES);
    let (dense, planted) = dense_tool_output(TEXT_BYTES, SECRET_EVERY);

    let found = scanner.scan(&prose);
    assert!(found.is_empty(), "prose: {found:?}");
    let found = scanner.scan(&tool_output);
    assert!(found.is_empty(), "tool output: {found:?}");

    let found = scanner.scan(&dense);
    assert!(planted.len() > TEXT_BYTES / SECRET_EVERY / 2);
    let want: Vec<(usize, usize)> = planted.iter().map(|&(s, e, _)| (s, e)).collect();
    if spans(&found) != want {
        let missed: Vec<_> = planted
            .iter()
            .filter(|(s, e, _)| !found.iter().any(|f| f.start == *s && f.end == *e))
            .take(5)
            .map(|(s, e, r)| (*r, String::from_utf8_lossy(&dense[*s..*e]).into_owned()))
            .collect();
        let extra: Vec<_> = found
            .iter()
            .filter(|f| !want.contains(&(f.start, f.end)))
            .take(5)
            .map(|f| {
                (
                    f.rule.to_string(),
                    String::from_utf8_lossy(&dense[f.start..f.end]).into_owned(),
                )
            })
            .collect();
        panic!(
            "dense tool output: {} planted, {} found; missed {missed:?}; unexpected {extra:?}",
            planted.len(),
            found.len()
        );
    }
    for (f, (_, _, rule)) in found.iter().zip(&planted) {
        assert_eq!(
            &*f.rule, *rule,
            "rule of the finding at {}..{}",
            f.start, f.end
        );
    }

    let args = arguments();
    for (name, arg, want) in &args {
        let found = scanner.scan_with_decodings(arg);
        assert_eq!(found.len(), *want, "argument {name}: {found:?}");
    }
    Inputs {
        scanner,
        prose,
        tool_output,
        dense,
        args,
    }
}

fn bench(c: &mut Criterion) {
    let inp = inputs();
    let mut group = c.benchmark_group("scan");
    group.sample_size(10);
    for (name, text) in [
        ("prose", &inp.prose),
        ("tool_output", &inp.tool_output),
        ("tool_output_dense", &inp.dense),
    ] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name, |b| b.iter(|| inp.scanner.scan(black_box(text))));
    }
    group.finish();

    let mut group = c.benchmark_group("scan_with_decodings");
    for (name, arg, _) in &inp.args {
        group.throughput(Throughput::Bytes(arg.len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| inp.scanner.scan_with_decodings(black_box(arg)))
        });
    }
    group.finish();

    // A one-line summary, measured best-of-several, for the record.
    let mut line = String::from("summary:");
    for (name, text) in [
        ("prose", &inp.prose),
        ("tool_output", &inp.tool_output),
        ("tool_output_dense", &inp.dense),
    ] {
        let best = (0..5)
            .map(|_| {
                let t = Instant::now();
                black_box(inp.scanner.scan(black_box(text)));
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        let _ = write!(line, " {name} {:.0} MB/s;", text.len() as f64 / best / 1e6);
    }
    for (name, arg, _) in &inp.args {
        let reps = 20_000;
        let best = (0..5)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..reps {
                    black_box(inp.scanner.scan_with_decodings(black_box(arg)));
                }
                t.elapsed().as_nanos() as f64 / f64::from(reps)
            })
            .fold(f64::INFINITY, f64::min);
        let _ = write!(line, " {name} {best:.0} ns;");
    }
    eprintln!("{line}");
}

/// Runs one case `n` times outside criterion, for instruction counts.
#[inline(never)]
fn profiled(scanner: &SecretScanner, text: &[u8], decodings: bool, n: usize) -> usize {
    let mut total = 0;
    for _ in 0..n {
        total += if decodings {
            scanner.scan_with_decodings(black_box(text)).len()
        } else {
            scanner.scan(black_box(text)).len()
        };
    }
    total
}

fn profile(spec: &str) {
    let (case, n) = spec.split_once(':').unwrap_or((spec, "10"));
    let n: usize = n.parse().unwrap();
    let inp = inputs();
    let (text, decodings) = match case {
        "prose" => (&inp.prose, false),
        "tool_output" => (&inp.tool_output, false),
        "tool_output_dense" => (&inp.dense, false),
        name => match inp.args.iter().find(|(a, _, _)| *a == name) {
            Some((_, arg, _)) => (arg, true),
            None => panic!("unknown case `{name}`"),
        },
    };
    // One run first, outside `profiled`, so that lazily built regex caches are warm.
    black_box(inp.scanner.scan_with_decodings(black_box(text)));
    let found = profiled(&inp.scanner, text, decodings, n);
    eprintln!(
        "{case}: {n} runs over {} bytes, {found} findings",
        text.len()
    );
}

criterion_group!(benches, bench);

fn main() {
    if let Ok(spec) = std::env::var("GUARDRAIL_SCAN_PROFILE") {
        profile(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
