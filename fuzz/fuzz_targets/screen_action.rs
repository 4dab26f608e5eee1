//! Arbitrary bytes as model output: the parser and every check must return a verdict, never
//! panic, and never allow something they could not parse. Differential on the side: wherever
//! the shallow path takes an output, the general path must find and type the same call.
#![no_main]

use std::sync::OnceLock;

use guardrail_core::action::envelope::{ParseLimits, extract_calls, shallow_call};
use guardrail_core::action::tools::{BlastRadius, Builtin, ToolSpec};
use guardrail_core::{Decision, Guard, Policy};
use libfuzzer_sys::fuzz_target;

static GUARD: OnceLock<Guard> = OnceLock::new();
static SPECS: OnceLock<Vec<ToolSpec>> = OnceLock::new();

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

    let limits = ParseLimits::default();
    let Some(call) = shallow_call(data, &limits) else {
        return;
    };
    let general = extract_calls(data, &limits).expect("the shallow path took an invalid output");
    assert_eq!(general, vec![call.to_candidate()]);
    let specs = SPECS.get_or_init(|| {
        Builtin::ALL
            .iter()
            .map(|&b| ToolSpec::builtin(b, BlastRadius::Low).unwrap())
            .collect()
    });
    if let Some(spec) = specs.iter().find(|s| s.name() == call.name) {
        let shallow = spec.type_call_shallow(call.args);
        let typed = general.into_iter().next().map(|c| spec.type_call(c.args));
        match (shallow, typed) {
            (Some(a), Some(Ok(b))) => assert_eq!(a, b),
            (None, Some(Err(_))) => {}
            (a, b) => panic!("shallow {a:?}, general {b:?}"),
        }
    }
});
