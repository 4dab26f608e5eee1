//! Arbitrary bytes as model output: the parser and every check must return a verdict, never
//! panic, and never allow something they could not parse.
#![no_main]

use std::sync::OnceLock;

use guardrail_core::{Decision, Guard, Policy};
use libfuzzer_sys::fuzz_target;

static GUARD: OnceLock<Guard> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let guard = GUARD.get_or_init(|| {
        let text = include_str!("../../fixtures/policies/actions-corpus.toml");
        Guard::new(Policy::from_toml_str(text, None).unwrap()).unwrap()
    });
    let verdict = guard.screen_action(data);
    if verdict.decision != Decision::Deny {
        assert!(
            !verdict.calls.is_empty(),
            "a non-deny verdict without any call"
        );
        assert!(verdict.calls.iter().all(|c| c.call.is_some()));
    }
});
