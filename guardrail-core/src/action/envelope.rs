//! Finds tool calls in model output, whatever envelope format the model used.
// INTERFACE (filled in by the parser work):
//
// pub enum Format { Flat, Wrapper, OpenAiChat, OpenAiResponses, LegacyFunctionCall, AnthropicToolUse, McpToolsCall }
// pub struct Candidate { pub format: Format, pub name: String, pub args: serde_json::Map<String, Value> }
// pub struct ParseLimits { pub json: JsonLimits, pub max_calls: usize }
// pub fn extract_calls(input: &[u8], limits: &ParseLimits) -> Result<Vec<Candidate>, ParseError>;
// pub enum ParseError { .. } // thiserror, impl Coded
