//! guardrail-core: screens untrusted LLM output before an agent acts on it.
//!
//! Build a [`Guard`] once from a [`Policy`], share it across threads, and call
//! [`Guard::screen_action`] on every model output before the dispatcher executes anything:
//!
//! ```
//! use guardrail_core::{Decision, Guard, Policy};
//!
//! let guard = Guard::new(Policy::builtin())?;
//! let verdict = guard.screen_action(br#"{"tool":"read_file","args":{"path":"/workspace/../etc/shadow"}}"#);
//! assert_eq!(verdict.decision, Decision::Deny);
//! assert_eq!(verdict.reasons[0].code.as_str(), "path_escapes_workspace");
//! # Ok::<(), guardrail_core::PolicyError>(())
//! ```
//!
//! # Untrusted input
//! Model output is hostile. Every input has a limit and hitting it is a deny with a reason, never
//! a panic or a stack overflow: the raw output (`limits.max_input_bytes`, 1 MiB), JSON nesting
//! (`limits.max_json_depth`, 32), calls per output (`limits.max_calls`, 16), URL length
//! (`http.max_url_bytes`, 8 KiB), SQL length (`sql.max_sql_bytes`), file content (256000
//! characters, in the `write_file` schema). Policy files are limited to 1 MiB and custom
//! schemas to 1 MiB each.
#![forbid(unsafe_code)]

pub mod action;
pub mod approval;
pub mod check;
pub mod classify;
pub mod guard;
pub mod judge;
pub mod open;
pub mod policy;
pub mod replay;
pub mod scan;
pub mod verdict;

pub use guard::{
    ActionOptions, ActionVerdict, Guard, Reasons, ScreenedCall, ScreenedCalls, Timings,
};
pub use policy::PolicyIssue;
pub use policy::{Policy, PolicyError};
pub use verdict::{Coded, Decision, Reason, ReasonCode, Span};
