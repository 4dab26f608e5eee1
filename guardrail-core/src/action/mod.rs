//! From untrusted model output to typed tool calls: strict JSON, envelope formats, tools.

pub mod envelope;
pub mod json;
pub mod shallow;
pub mod tools;
