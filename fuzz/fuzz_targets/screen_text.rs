//! Arbitrary text through the injection heuristics and the PII recognizers: no panic, and
//! every reported span lies inside the text on character boundaries.
#![no_main]

use std::sync::OnceLock;

use guardrail_core::classify::{InputConfig, InputScreener, InputSource};
use guardrail_core::scan::pii::{PiiConfig, PiiScanner};
use libfuzzer_sys::fuzz_target;

static SCREENER: OnceLock<InputScreener> = OnceLock::new();
static PII: OnceLock<PiiScanner> = OnceLock::new();

fn inside(text: &str, start: usize, end: usize) -> bool {
    start <= end && end <= text.len() && text.is_char_boundary(start) && text.is_char_boundary(end)
}

fuzz_target!(|data: &[u8]| {
    let screener = SCREENER.get_or_init(|| InputScreener::new(InputConfig::default()).unwrap());
    let pii = PII.get_or_init(|| {
        let config = PiiConfig {
            enabled_types: vec!["all".to_owned()],
            ..PiiConfig::default()
        };
        PiiScanner::new(&config).unwrap()
    });
    let text = String::from_utf8_lossy(data);
    let verdict = screener.screen_input(&text, InputSource::ToolResult);
    for f in &verdict.findings {
        assert!(inside(&text, f.span.start, f.span.end), "{f:?}");
    }
    for f in pii.scan(&text) {
        assert!(inside(&text, f.start, f.end), "{f:?}");
    }
});
