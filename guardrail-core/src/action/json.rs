//! A strict JSON parser for untrusted model output.
// INTERFACE (filled in by the parser work):
//
// #[derive(Debug, Clone, Copy)] pub struct JsonLimits { pub max_bytes: usize, pub max_depth: usize }
// pub fn parse_strict(text: &str, limits: &JsonLimits) -> Result<serde_json::Value, JsonError>;
// pub enum JsonError { .. } // thiserror, byte offsets, impl Coded
