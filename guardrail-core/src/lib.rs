//! guardrail-core: screens untrusted LLM output before an agent acts on it.
#![forbid(unsafe_code)]

pub mod action;
pub mod check;
pub mod policy;
pub mod scan;
pub mod verdict;

pub use policy::PolicyIssue;
pub use verdict::{Coded, Decision, Reason, ReasonCode, Span};
