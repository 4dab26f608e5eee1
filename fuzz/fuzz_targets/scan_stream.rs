//! Tool output streamed in arbitrary chunks and batches must give exactly the findings and the
//! redaction of one scan over the whole text, and neither may panic.
//!
//! The input is read as a recipe, so that secrets land next to each other and across chunk
//! boundaries far more often than random bytes would put them there: byte 0 picks the batch,
//! byte 1 the chunk length, and every later byte below `PIECES.len()` appends that piece (a
//! token in a documented format, a keyword, an operator, a quote), any other byte itself.
//! Batches below 64 bytes keep only the first KiB of the text.
#![no_main]

use std::sync::OnceLock;

use guardrail_core::scan::{Redaction, SecretScanner, StreamOutput, StreamScanner, redact};
use libfuzzer_sys::fuzz_target;

/// Synthetic values in the providers' documented formats (not live credentials), and the
/// bytes that surround secrets in tool output.
const PIECES: &[&str] = &[
    "AKIAYN77NKKPQ7WWPYAK",
    "xoxb-263594206564-2343594206574-FGqddMF8t08v8N7Oq4i57vs1MBS",
    "ghp_R7mKq2Lx9Vb4Tn8Wc3Yd6Pf1Hs5Jg0Za2Ue4",
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDAC4AWkdwKYSd8\n-----END PRIVATE KEY-----",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.Qm9Xk2Lr7Vt5Np3Wz8Yc1Df6Gh0Js4Ka",
    "postgres://app:Zq8vR2mK5xLp@db.internal:5432/main",
    "password",
    "api_key",
    "token",
    "secret",
    " = ",
    ": ",
    "\"",
    "'",
    "\n",
    " ",
    "sk-proj-",
    "Bearer ",
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "QUtJQVlONzdOS0tQUTdXV1BZQUs=",
];

static SCANNER: OnceLock<SecretScanner> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let scanner = SCANNER.get_or_init(|| SecretScanner::builtin().unwrap());
    let [batch, chunk, recipe @ ..] = data else {
        return;
    };
    let mut text = Vec::new();
    for &b in recipe {
        match PIECES.get(usize::from(b)) {
            Some(piece) => text.extend_from_slice(piece.as_bytes()),
            None => text.push(b),
        }
    }
    let batch = 1 + usize::from(*batch) * 4;
    let chunk = 1 + usize::from(*chunk);
    // Every batch rescans the carried tail (up to twice the scanner's reach): tiny batches
    // over long texts only make the run slow.
    if batch < 64 {
        text.truncate(1024);
    }

    let whole = scanner.scan(&text);
    let expected = redact(&text, &whole, &Redaction::Label);

    let mut stream = StreamScanner::new(scanner, Redaction::Label);
    stream.set_batch(batch);
    let mut all = StreamOutput::default();
    for piece in text.chunks(chunk) {
        all.append(stream.push(piece));
    }
    all.append(stream.finish());
    let StreamOutput { findings, redacted } = all;

    let spans = |f: &[guardrail_core::scan::Finding]| -> Vec<(usize, usize, String)> {
        f.iter()
            .map(|f| (f.start, f.end, f.rule.to_string()))
            .collect()
    };
    assert_eq!(
        spans(&findings),
        spans(&whole),
        "batch {batch} chunk {chunk}"
    );
    assert!(
        redacted == expected,
        "redaction differs: batch {batch} chunk {chunk}"
    );
});
