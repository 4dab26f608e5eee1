//! Finds tool calls in model output, whatever envelope format the model used.
//!
//! [`extract_calls`] turns raw model output into [`Candidate`] calls: a tool name, carried
//! through exactly as written, and an argument object. It does not judge either; tool names and
//! argument schemas are the next stage's job. Every JSON text, including the JSON-encoded
//! `arguments` strings of the OpenAI formats, goes through the strict parser of [`json`].
//!
//! # Where a call may be
//!
//! - The whole output is one JSON document (leading and trailing JSON whitespace allowed).
//! - The output is prose (a markdown fence, `<tool_call>` tags, sentences) around **one** JSON
//!   object or array. An output that starts like JSON (`{"`, `[{"`) is parsed as a document
//!   first and falls back to prose only when the document is followed by more text. The prose
//!   is held to rules that keep a lenient reader from seeing a different call:
//!   - it contains something visible (a byte order mark or a no-break space alone makes a
//!     malformed document, not prose);
//!   - it has no comment markers (`//` other than in `://`, `/*`, `*/`): a comment next to JSON
//!     is JSON-with-comments;
//!   - it has no object that a lenient reader (JSON5, a JSON repairer, a Python or JavaScript
//!     literal) could read: `{` followed, past any whitespace or invisible characters, by a
//!     quote of any kind (`{'tool'`, `{\"tool\"`, `{“tool”`, `{ "tool"` with a no-break
//!     space), a Python string prefix (`{u'`), `(`, `,`, `#`, or a bare name or number and
//!     `:` (`{tool: ...}`, `{-1: ...}`);
//!   - it has no character escapes that a reader decodes in a string (`\u0072`, `\x72`,
//!     `&#114;`), which can spell a tool name no search finds;
//!   - it has no control characters other than tab, line feed and carriage return (NUL bytes
//!     let a reader decode the whole output as UTF-16; vertical tab and form feed are JSON5
//!     whitespace);
//!   - it has no tool call in another syntax (`<function=`, `<|python_tag|>`, a `tool_code`
//!     block);
//!   - with the allowlisted tool names given ([`extract_calls_named`], as the guard does), it
//!     does not write one the way a call does: quoted, after `(`, `{` or `[`, as the value of
//!     a `tool`/`name`/`function` key, or before `(` — what a JSON repairer turns into one more
//!     call whatever the braces around it look like;
//!   - the call is not inside a bracket the prose leaves open (`{tool: 1, "x": {"tool": ...}}`);
//!   - a JSON-looking object (`{"` or `[{"`) that does not parse strictly is an error, and two
//!     different ones are ambiguous (the same one repeated is one set of calls, but every copy
//!     counts against the limit on calls).
//!
//! # Formats
//!
//! | [`Format`] | shape |
//! |---|---|
//! | `Flat` | `{"tool": NAME, ...}`: every other key is an argument; no `args` key |
//! | `Wrapper` | `{"tool": NAME, "args": {...}}`, nothing else |
//! | `OpenAiChat` | an assistant message with `tool_calls`, a `chat.completion` with one choice, or bare `tool_calls` items; `function.arguments` is a JSON string |
//! | `OpenAiResponses` | `{"type": "function_call", "name", "arguments": "..."}` items, alone, in a list, or in a response's `output` |
//! | `LegacyFunctionCall` | a message with `function_call: {"name", "arguments": "..."}` |
//! | `AnthropicToolUse` | `{"type": "tool_use", "name", "input": {...}}` blocks, alone, in a list, or in a message's `content` |
//! | `McpToolsCall` | a JSON-RPC 2.0 `tools/call` request; batches are refused |
//!
//! Every envelope object is checked against the keys its format defines: an unknown key, a
//! value of the wrong type or a missing name or argument object is [`ParseError::InvalidEnvelope`]
//! (an absent MCP `arguments` included: a call spells out its arguments, even `{}`). An object
//! with the distinguishing keys of two formats, calls of different formats in one output, and
//! several `choices` of a completion (alternatives, not parallel calls) are
//! [`ParseError::Ambiguous`]. Text blocks, reasoning items and message text are never searched
//! for calls.
//!
//! # Untrusted input
//!
//! The input length is checked against [`JsonLimits::max_bytes`] before anything else, nesting
//! against [`JsonLimits::max_depth`] (separately for each `arguments` string), and the number of
//! calls against [`ParseLimits::max_calls`]. Error messages carry byte offsets and JSON pointers,
//! never argument values.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::action::json::{self, Document, JsonError, JsonLimits, Member};
use crate::action::shallow::{Shallow, ShallowMembers};
use crate::policy::PolicyIssue;
use crate::verdict::{Coded, ReasonCode};

/// Limits for [`extract_calls`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ParseLimits {
    /// Limits for the output as a whole and for each `arguments` string.
    pub json: JsonLimits,
    /// Most calls accepted in one output. Default: 16.
    pub max_calls: usize,
}

impl Default for ParseLimits {
    /// [`JsonLimits::default`] and at most 16 calls.
    fn default() -> Self {
        ParseLimits {
            json: JsonLimits::default(),
            max_calls: 16,
        }
    }
}

impl ParseLimits {
    /// Reports every limit that would refuse all input; `key` is the dotted policy key of
    /// this table.
    pub fn issues(&self, key: &str) -> Vec<PolicyIssue> {
        let mut issues = self.json.issues(&format!("{key}.json"));
        if self.max_calls == 0 {
            issues.push(PolicyIssue::new(
                format!("{key}.max_calls"),
                "must be at least 1",
            ));
        }
        issues
    }
}

/// The envelope a call was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// `{"tool": NAME, ...arguments}`.
    Flat,
    /// `{"tool": NAME, "args": {...}}`.
    Wrapper,
    /// OpenAI Chat Completions `tool_calls`.
    OpenAiChat,
    /// OpenAI Responses `function_call` items.
    OpenAiResponses,
    /// The deprecated OpenAI `function_call` message field.
    LegacyFunctionCall,
    /// Anthropic Messages `tool_use` blocks.
    AnthropicToolUse,
    /// An MCP `tools/call` JSON-RPC request.
    McpToolsCall,
}

impl Format {
    /// The stable `snake_case` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Flat => "flat",
            Format::Wrapper => "wrapper",
            Format::OpenAiChat => "open_ai_chat",
            Format::OpenAiResponses => "open_ai_responses",
            Format::LegacyFunctionCall => "legacy_function_call",
            Format::AnthropicToolUse => "anthropic_tool_use",
            Format::McpToolsCall => "mcp_tools_call",
        }
    }
}

/// One proposed call, not yet checked against any tool.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The envelope it came in.
    pub format: Format,
    /// The tool name exactly as written (after JSON unescaping).
    pub name: String,
    /// The argument object.
    pub args: Map<String, Value>,
}

/// Why no calls could be taken from an output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The output is not valid UTF-8.
    #[error("input is not valid utf-8 at byte {offset}")]
    InvalidUtf8 {
        /// Where the first invalid sequence starts.
        offset: usize,
    },
    /// The output (or the JSON found in it) is not strict JSON, or is too large.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// A JSON-encoded `arguments` string is not strict JSON; offsets count from the start of
    /// the decoded string.
    #[error("in the `arguments` string at `{pointer}`: {source}")]
    Arguments {
        /// JSON pointer of the string within the output's document.
        pointer: String,
        /// What is wrong with it.
        source: JsonError,
    },
    /// Nothing in the output is a tool call.
    #[error("no tool call found")]
    NoToolCall,
    /// The output could be read as different calls.
    #[error("ambiguous tool call: {problem}")]
    Ambiguous {
        /// Why, in a few words.
        problem: &'static str,
    },
    /// More calls than [`ParseLimits::max_calls`].
    #[error("more than {limit} tool calls")]
    TooManyCalls {
        /// The limit.
        limit: usize,
    },
    /// An envelope object is malformed.
    #[error("invalid envelope at {}: {problem}", describe_pointer(pointer))]
    InvalidEnvelope {
        /// JSON pointer of the offending value within the output's document.
        pointer: String,
        /// What is wrong, in a few words.
        problem: &'static str,
    },
}

fn describe_pointer(pointer: &str) -> String {
    if pointer.is_empty() {
        "the top level".to_owned()
    } else {
        format!("`{}`", pointer.escape_debug())
    }
}

impl ParseError {
    /// The byte offset in the raw output the error points at, if it points anywhere.
    pub fn offset(&self) -> Option<usize> {
        match self {
            ParseError::InvalidUtf8 { offset } => Some(*offset),
            ParseError::Json(e) => e.offset(),
            _ => None,
        }
    }
}

impl Coded for ParseError {
    fn code(&self) -> ReasonCode {
        match self {
            ParseError::InvalidUtf8 { .. } => ReasonCode::InvalidUtf8,
            ParseError::Json(e) | ParseError::Arguments { source: e, .. } => e.code(),
            ParseError::NoToolCall => ReasonCode::NoToolCall,
            ParseError::Ambiguous { .. } => ReasonCode::AmbiguousToolCall,
            ParseError::TooManyCalls { .. } => ReasonCode::TooManyCalls,
            ParseError::InvalidEnvelope { .. } => ReasonCode::InvalidEnvelope,
        }
    }

    fn write_message_to(&self, out: &mut String) {
        match self {
            // The same text as `Display` (transparent), without the formatting machinery.
            ParseError::Json(e) => e.write_message(&mut crate::verdict::MessageWriter(out)),
            other => {
                crate::verdict::MessageWriter(out).display(other);
            }
        }
    }
}

/// Finds every tool call in `input` (see the [module docs](self) for what is accepted).
///
/// On success the result holds at least one and at most `limits.max_calls` candidates, all of
/// the same [`Format`], in output order.
///
/// # Errors
///
/// A [`ParseError`] when the output is not UTF-8, not strict JSON, holds no call, holds calls
/// that can be read more than one way, holds too many, or wraps them in a malformed envelope.
pub fn extract_calls(input: &[u8], limits: &ParseLimits) -> Result<Vec<Candidate>, ParseError> {
    extract_calls_named(input, limits, &[])
}

/// [`extract_calls`], also refusing prose that writes one of `tool_names` the way part of a
/// call is written: quoted (`"read_file"`, `'read_file'`, `&quot;read_file&quot;`), after
/// `(`, `{` or `[`, as the value of a `tool`, `name`, `function`, `tool_name` or
/// `action` key (`tool: read_file`), or right before `(` (ASCII case ignored, whole names
/// only).
/// A lenient reader can repair such text into one more call; a name in plain prose or in
/// backticks (`` `read_file` ``) stays prose.
///
/// # Errors
///
/// As [`extract_calls`].
pub fn extract_calls_named(
    input: &[u8],
    limits: &ParseLimits,
    tool_names: &[String],
) -> Result<Vec<Candidate>, ParseError> {
    if input.len() > limits.json.max_bytes {
        return Err(JsonError::InputTooLarge {
            len: input.len(),
            limit: limits.json.max_bytes,
        }
        .into());
    }
    let text = std::str::from_utf8(input).map_err(|e| ParseError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    let mut out = Collector {
        limits,
        calls: Vec::new(),
    };
    let first = input.iter().position(|&b| !json::is_json_ws(b));
    match first.and_then(|i| input.get(i)) {
        Some(b'{' | b'[' | b'"') => match json::parse_document(text, &limits.json) {
            Ok(Document::Object(members)) => out.members(members)?,
            Ok(Document::Other(value)) => out.document(value)?,
            // A document followed by prose, or prose that merely starts with a bracket.
            Err(e)
                if matches!(e, JsonError::TrailingData { .. })
                    || !first.is_some_and(|i| starts_candidate(input, i)) =>
            {
                out.prose(from_prose(text, limits, Some(e), tool_names)?)?;
            }
            Err(e) => return Err(e.into()),
        },
        _ => out.prose(from_prose(text, limits, None, tool_names)?)?,
    }
    let calls = out.calls;
    let Some(format) = calls.first().map(|c| c.format) else {
        return Err(ParseError::NoToolCall);
    };
    if calls.iter().any(|c| c.format != format) {
        return Err(ParseError::Ambiguous {
            problem: "calls in different envelope formats",
        });
    }
    Ok(calls)
}

/// The one call of a flat or wrapper output whose document is shallow (see
/// [`shallow`](crate::action::shallow)), read without building owned values.
#[derive(Debug, Clone, PartialEq)]
pub struct ShallowCall<'a> {
    /// [`Format::Flat`] or [`Format::Wrapper`].
    pub format: Format,
    /// The tool name exactly as written (after JSON unescaping).
    pub name: Cow<'a, str>,
    /// The argument object: always a [`Shallow::Object`].
    pub args: Shallow<'a>,
}

impl ShallowCall<'_> {
    /// The call as [`extract_calls`] returns it.
    pub fn to_candidate(&self) -> Candidate {
        let args = match &self.args {
            Shallow::Object(members) => crate::action::shallow::object_to_map(members),
            _ => Map::new(),
        };
        Candidate {
            format: self.format,
            name: self.name.clone().into_owned(),
            args,
        }
    }
}

/// The call in `input` when the whole output is one well-formed flat or wrapper call in a
/// shallow document; `None` for anything else, valid or not, which [`extract_calls`] then
/// takes. Whenever this returns a call, [`extract_calls`] returns exactly that one call.
pub fn shallow_call<'a>(input: &'a [u8], limits: &ParseLimits) -> Option<ShallowCall<'a>> {
    if limits.max_calls == 0 || input.len() > limits.json.max_bytes {
        return None;
    }
    let text = std::str::from_utf8(input).ok()?;
    let mut members = ShallowMembers::new();
    json::parse_shallow(text, &limits.json, &mut members)?;
    if classify(members.iter().map(|(k, v)| (k.as_ref(), v))).ok()? != Some(Shape::Tool) {
        return None;
    }
    let at = members.iter().position(|(k, _)| k == "tool")?;
    let Shallow::String(name) = members.remove(at).1 else {
        return None;
    };
    if !members.iter().any(|(k, _)| k == "args") {
        return Some(ShallowCall {
            format: Format::Flat,
            name,
            args: Shallow::Object(members.into_vec()),
        });
    }
    // The wrapper holds nothing but the tool name and the argument object.
    match members.pop() {
        Some((_, args @ Shallow::Object(_))) if members.is_empty() => Some(ShallowCall {
            format: Format::Wrapper,
            name,
            args,
        }),
        _ => None,
    }
}

/// Picks the one JSON object (or array of objects) out of prose.
fn from_prose(
    text: &str,
    limits: &ParseLimits,
    fallback: Option<JsonError>,
    tool_names: &[String],
) -> Result<Prosed, ParseError> {
    let bytes = text.as_bytes();
    let mut found: Option<Value> = None;
    let mut occurrences = 0usize;
    let mut prose = Prose::default();
    let mut pos = 0;
    let mut gap_start = 0;
    while let Some(i) = bytes
        .get(pos..)
        .and_then(|rest| memchr::memchr2(b'{', b'[', rest))
    {
        let at = pos + i;
        if !starts_candidate(bytes, at) {
            if bytes.get(at) == Some(&b'{') && lenient_object_at(text, at) {
                return Err(fallback.map_or_else(
                    || {
                        JsonError::Syntax {
                            offset: at,
                            problem: "a lenient parser would read an object here",
                        }
                        .into()
                    },
                    ParseError::from,
                ));
            }
            pos = at + 1;
            continue;
        }
        let (value, end) = json::parse_prefix(text, at, &limits.json)?;
        prose.scan(text, gap_start, at, tool_names)?;
        if let Some(open) = prose.unclosed {
            return Err(fallback.map_or_else(
                || {
                    JsonError::Syntax {
                        offset: open,
                        problem: "json inside an unclosed bracket",
                    }
                    .into()
                },
                ParseError::from,
            ));
        }
        occurrences += 1;
        if occurrences > limits.max_calls {
            // Each copy holds at least one call.
            return Err(ParseError::TooManyCalls {
                limit: limits.max_calls,
            });
        }
        match &found {
            None => found = Some(value),
            Some(seen) if *seen == value => {}
            Some(_) => {
                return Err(ParseError::Ambiguous {
                    problem: "several different json objects in the output",
                });
            }
        }
        gap_start = end;
        pos = end;
    }
    prose.scan(text, gap_start, text.len(), tool_names)?;
    let Some(value) = found else {
        return Err(fallback.map_or(ParseError::NoToolCall, ParseError::from));
    };
    if !prose.visible {
        return Err(match (fallback, prose.first_stray) {
            (Some(e), _) => e.into(),
            (None, Some((offset, c))) => JsonError::Syntax {
                offset,
                problem: json::stray_char_problem(c)
                    .unwrap_or("invisible character outside the json document"),
            }
            .into(),
            (None, None) => JsonError::Syntax {
                offset: 0,
                problem: "expected a value",
            }
            .into(),
        });
    }
    Ok(Prosed { value, occurrences })
}

/// The JSON value found in prose, and how many times it is written there.
struct Prosed {
    value: Value,
    occurrences: usize,
}

/// `{"` or `[{"`, with optional JSON whitespace between the tokens.
fn starts_candidate(bytes: &[u8], at: usize) -> bool {
    let next = |from: usize| {
        bytes.get(from..).and_then(|rest| {
            rest.iter()
                .position(|&b| !json::is_json_ws(b))
                .map(|i| (from + i, rest.get(i).copied()))
        })
    };
    match bytes.get(at) {
        Some(b'{') => matches!(next(at + 1), Some((_, Some(b'"')))),
        Some(b'[') => match next(at + 1) {
            Some((brace, Some(b'{'))) => matches!(next(brace + 1), Some((_, Some(b'"')))),
            _ => false,
        },
        _ => false,
    }
}

/// `{` then what a lenient reader (JSON5, a JSON repairer, a Python or JavaScript literal)
/// may take for the first key of an object: after any whitespace, invisible or control
/// characters, a quote of any kind (`'`, `` ` ``, `\"`, curly or full-width quotes), a
/// Python string prefix and quote (`u'`), `(`, `,` or `#`, or a bare name or number followed
/// by `:`.
fn lenient_object_at(text: &str, at: usize) -> bool {
    let Some(rest) = text.get(at + 1..) else {
        return false;
    };
    // Runs of loose characters end at the next other character, so the runs skipped from
    // different braces do not overlap: linear over the whole text.
    let Some((start, first)) = rest
        .char_indices()
        .find(|&(_, c)| !(c.is_whitespace() || is_invisible(c)))
    else {
        return false;
    };
    if is_quote_like(first) || matches!(first, '\\' | '(' | ',' | '#') {
        return true;
    }
    let after = rest.get(start..).unwrap_or("");
    // A name, or a number with its sign or point (`-1`, `.5`): JSON5 and Python take both as
    // keys.
    let sign = usize::from(after.starts_with(['-', '+', '.']));
    let name_len: usize = sign
        + after
            .get(sign..)
            .unwrap_or("")
            .chars()
            .take(64)
            .take_while(|&c| c.is_alphanumeric() || c == '_' || c == '$' || c == '.')
            .map(char::len_utf8)
            .sum::<usize>();
    if name_len == 0 {
        return false;
    }
    let tail = after.get(name_len..).unwrap_or("");
    let prefix = after.get(..name_len).unwrap_or("");
    if prefix.len() <= 2
        && prefix.bytes().all(|b| b"uUrRbBfF".contains(&b))
        && tail.chars().next().is_some_and(is_quote_like)
    {
        return true;
    }
    tail.chars()
        .find(|&c| !(c.is_whitespace() || is_invisible(c)))
        == Some(':')
}

/// A character some reader takes for a string quote.
fn is_quote_like(c: char) -> bool {
    matches!(
        c,
        '"' | '\''
            | '`'
            | '\u{00ab}'
            | '\u{00bb}'
            | '\u{2018}'..='\u{201f}'
            | '\u{2039}'
            | '\u{203a}'
            | '\u{300c}'..='\u{300f}'
            | '\u{ff02}'
            | '\u{ff07}'
    )
}

/// What the text around the JSON holds.
#[derive(Default)]
struct Prose {
    /// Something a reader can see (not whitespace, not an invisible format character).
    visible: bool,
    /// The first character that is not JSON whitespace, with its offset.
    first_stray: Option<(usize, char)>,
    /// Brackets (`{`, `[`) opened and not yet closed; a stray closer counts for nothing.
    depth: usize,
    /// Where the outermost bracket still open was opened.
    unclosed: Option<usize>,
}

impl Prose {
    fn scan(
        &mut self,
        text: &str,
        start: usize,
        end: usize,
        tool_names: &[String],
    ) -> Result<(), ParseError> {
        let Some(gap) = text.get(start..end) else {
            return Err(JsonError::Syntax {
                offset: start,
                problem: "invalid utf-8 boundary",
            }
            .into());
        };
        let gap_bytes = gap.as_bytes();
        // One pass: brackets, and the first comment of each kind. A `//` after `:` is a URL's
        // (`https://`); `//` occurrences are taken left to right without overlap, so `:///`
        // holds none.
        let (mut line, mut open, mut close) = (None, None, None);
        let mut slashes_from = 0;
        for (i, &b) in gap_bytes.iter().enumerate() {
            match b {
                b'{' | b'[' => {
                    if self.depth == 0 {
                        self.unclosed = Some(start + i);
                    }
                    self.depth += 1;
                }
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        self.unclosed = None;
                    }
                }
                b'/' => match gap_bytes.get(i + 1) {
                    Some(b'/') if i >= slashes_from => {
                        slashes_from = i + 2;
                        let after_colon = i > 0 && gap_bytes.get(i - 1) == Some(&b':');
                        if line.is_none() && !after_colon {
                            line = Some(i);
                        }
                    }
                    Some(b'*') if open.is_none() => open = Some(i),
                    _ => {}
                },
                b'*' if close.is_none() && gap_bytes.get(i + 1) == Some(&b'/') => {
                    close = Some(i);
                }
                _ => {}
            }
        }
        if let Some(i) = line.or(open).or(close) {
            return Err(JsonError::Syntax {
                offset: start + i,
                problem: "comments are not json",
            }
            .into());
        }
        // NUL bytes make a UTF-16 reading of the whole output possible; vertical tabs and
        // form feeds are whitespace to JSON5.
        if let Some((i, _)) = gap
            .char_indices()
            .find(|&(_, c)| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        {
            return Err(JsonError::Syntax {
                offset: start + i,
                problem: "control character in the text around the json",
            }
            .into());
        }
        if let Some(i) = escaped_character(gap_bytes) {
            return Err(JsonError::Syntax {
                offset: start + i,
                problem: "an escaped character (`\\u`, `\\x`, `&#`) in the text around the json",
            }
            .into());
        }
        if names_a_tool_like_a_call(gap, tool_names) {
            return Err(ParseError::Ambiguous {
                problem: "a tool name written like part of a call in the text around the json",
            });
        }
        if other_call_syntax(gap_bytes) {
            return Err(ParseError::Ambiguous {
                problem: "a tool call in another syntax (`<function=`, `<|python_tag|>`, \
                          a `tool_code` block) beside the json",
            });
        }
        if self.visible {
            return Ok(());
        }
        for (i, c) in gap.char_indices() {
            if c.is_ascii() && json::is_json_ws(c as u8) {
                continue;
            }
            if self.first_stray.is_none() {
                self.first_stray = Some((start + i, c));
            }
            if !c.is_whitespace() && !is_invisible(c) {
                self.visible = true;
                break;
            }
        }
        Ok(())
    }
}

/// Whether `text` writes one of `names` the way a call writes a tool name (see
/// [`extract_calls_named`]).
fn names_a_tool_like_a_call(text: &str, names: &[String]) -> bool {
    if names.is_empty() {
        return false;
    }
    let lower = text.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    // A quote of any kind but the backtick (markdown code), which a reader takes for a string.
    let quote = |c: char| c != '`' && is_quote_like(c);
    let blank = |c: char| matches!(c, ' ' | '\t');
    names.iter().any(|name| {
        let name = name.to_ascii_lowercase();
        if name.is_empty() {
            return false;
        }
        memchr::memmem::find_iter(bytes, name.as_bytes()).any(|at| {
            let end = at + name.len();
            let whole = at
                .checked_sub(1)
                .is_none_or(|i| !bytes.get(i).copied().is_some_and(word))
                && !bytes.get(end).copied().is_some_and(word);
            if !whole {
                return false;
            }
            if bytes.get(end) == Some(&b'(') {
                return true;
            }
            let before = lower
                .get(..at)
                .and_then(|h| h.char_indices().rev().find(|&(_, c)| !blank(c)));
            let after = lower
                .get(end..)
                .and_then(|t| t.chars().find(|&c| !blank(c)));
            before.is_some_and(|(i, c)| {
                quote(c)
                    || matches!(c, '(' | '{' | '[')
                    || (c == ';' && ends_an_entity(bytes, i))
                    || (matches!(c, ':' | '=') && names_the_tool(bytes, i))
            }) || after.is_some_and(|c| quote(c) || matches!(c, '}' | ']' | '&'))
        })
    })
}

/// Where `text` holds a character escape that a reader decodes inside a string (`\u0072`,
/// `\U00000072`, `\x72`, `&#114;`, `&#x72;`): prose so written can spell a tool name that
/// no search of the text finds.
fn escaped_character(text: &[u8]) -> Option<usize> {
    let hex = |from: usize, n: usize| {
        text.get(from..from + n)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    };
    memchr::memchr2_iter(b'\\', b'&', text).find(|&i| match text.get(i..i + 2) {
        Some(b"\\u") => hex(i + 2, 4),
        Some(b"\\U") => hex(i + 2, 8),
        Some(b"\\x") => hex(i + 2, 2),
        Some(b"&#") => match text.get(i + 2) {
            Some(b'x' | b'X') => hex(i + 3, 1),
            Some(d) => d.is_ascii_digit(),
            None => false,
        },
        _ => false,
    })
}

/// Whether the `;` at `semi` ends an HTML character reference (`&quot;`, `&#34;`).
fn ends_an_entity(text: &[u8], semi: usize) -> bool {
    let from = semi.saturating_sub(10);
    text.get(from..semi).is_some_and(|head| {
        head.iter().rposition(|&b| b == b'&').is_some_and(|amp| {
            head.get(amp + 1..).is_some_and(|r| {
                !r.is_empty() && r.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'#')
            })
        })
    })
}

/// Keys under which envelopes carry the tool name.
const NAME_KEYS: [&[u8]; 5] = [b"tool", b"name", b"function", b"tool_name", b"action"];

/// Whether the `:` or `=` at `op` in lowercase `text` follows one of [`NAME_KEYS`] (quoted or
/// not): `tool: read_file`, `"name"=read_file`.
fn names_the_tool(text: &[u8], op: usize) -> bool {
    let Some(head) = text.get(..op) else {
        return false;
    };
    let key_end = head
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t' | b'"' | b'\'' | b'`'))
        .map_or(0, |i| i + 1);
    let key_start = head
        .get(..key_end)
        .and_then(|k| {
            k.iter()
                .rposition(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
        })
        .map_or(0, |i| i + 1);
    head.get(key_start..key_end)
        .is_some_and(|key| NAME_KEYS.contains(&key))
}

/// Markers of tool-call syntaxes that are not JSON: Qwen's XML-style `<function=NAME>`,
/// Llama's `<|python_tag|>`, Gemma's `tool_code` block.
const OTHER_CALL_SYNTAX: [&[u8]; 3] = [b"<function=", b"<|python_tag|>", b"```tool_code"];

/// Whether `text` holds one of [`OTHER_CALL_SYNTAX`] in any ASCII case.
fn other_call_syntax(text: &[u8]) -> bool {
    memchr::memchr2_iter(b'<', b'`', text).any(|i| {
        OTHER_CALL_SYNTAX.iter().any(|m| {
            text.get(i..i + m.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(m))
        })
    })
}

/// Format and filler characters that render as nothing.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
        | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}' | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}' | '\u{ffa0}'
        | '\u{fff0}'..='\u{fff8}' | '\u{1d173}'..='\u{1d17a}' | '\u{e0000}'..='\u{e0fff}')
        || c.is_control()
}

/// A JSON pointer built only when an error needs it.
#[derive(Clone, Copy)]
struct At<'a> {
    parent: Option<&'a At<'a>>,
    step: Step<'a>,
}

#[derive(Clone, Copy)]
enum Step<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

impl<'a> At<'a> {
    fn root() -> At<'static> {
        At {
            parent: None,
            step: Step::Root,
        }
    }

    fn key(&'a self, key: &'a str) -> At<'a> {
        At {
            parent: Some(self),
            step: Step::Key(key),
        }
    }

    fn index(&'a self, index: usize) -> At<'a> {
        At {
            parent: Some(self),
            step: Step::Index(index),
        }
    }

    fn render(&self) -> String {
        let mut steps = Vec::new();
        let mut node = Some(self);
        while let Some(at) = node {
            steps.push(at.step);
            node = at.parent;
        }
        let mut out = String::new();
        for step in steps.iter().rev() {
            match step {
                Step::Root => {}
                Step::Key(k) => {
                    out.push('/');
                    out.push_str(&k.replace('~', "~0").replace('/', "~1"));
                }
                Step::Index(i) => {
                    out.push('/');
                    out.push_str(&i.to_string());
                }
            }
        }
        out
    }

    fn invalid(&self, problem: &'static str) -> ParseError {
        ParseError::InvalidEnvelope {
            pointer: self.render(),
            problem,
        }
    }
}

/// The object kinds the envelope formats are built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `tool` key: flat or wrapper call.
    Tool,
    /// Chat message with `tool_calls`.
    ChatMessage,
    /// Message with a legacy `function_call`.
    LegacyMessage,
    /// `chat.completion` response.
    ChatCompletion,
    /// One `tool_calls` entry.
    ChatItem,
    /// Responses `function_call` item.
    ResponsesItem,
    /// Responses response with `output`.
    ResponsesResponse,
    /// Anthropic `tool_use` block.
    AnthropicBlock,
    /// Anthropic message with `content` blocks.
    AnthropicMessage,
    /// JSON-RPC request.
    Mcp,
    /// Text, thinking or reasoning: holds no call.
    Inert,
    /// A message with text only.
    PlainMessage,
}

fn non_null(v: Option<&Value>) -> bool {
    v.is_some_and(|v| !v.is_null())
}

/// What [`classify`] looks at in a member's value.
#[derive(Debug, Clone, Copy)]
struct Peek<'v> {
    null: bool,
    array: bool,
    text: Option<&'v str>,
}

impl<'v> From<&'v Value> for Peek<'v> {
    fn from(value: &'v Value) -> Self {
        Peek {
            null: value.is_null(),
            array: value.is_array(),
            text: value.as_str(),
        }
    }
}

impl<'v> From<&'v Shallow<'v>> for Peek<'v> {
    fn from(value: &'v Shallow<'v>) -> Self {
        Peek {
            null: matches!(value, Shallow::Null),
            // A shallow document holds no arrays.
            array: false,
            text: value.as_str(),
        }
    }
}

/// Decides which envelope kind an object is, from its distinguishing keys.
fn classify<'v, V: Into<Peek<'v>>>(
    members: impl IntoIterator<Item = (&'v str, V)>,
) -> Result<Option<Shape>, ParseError> {
    let mut strong: Option<Shape> = None;
    let mut several = false;
    let mut note = |shape| {
        several |= strong.is_some();
        strong = Some(shape);
    };
    let (mut kind, mut object) = (None, None);
    let (mut function, mut output, mut role, mut content_list) = (false, false, false, false);
    for (key, value) in members {
        let value: Peek<'v> = value.into();
        match key {
            "tool" => note(Shape::Tool),
            "tool_calls" if !value.null => note(Shape::ChatMessage),
            "function_call" if !value.null => note(Shape::LegacyMessage),
            "choices" => note(Shape::ChatCompletion),
            "jsonrpc" => note(Shape::Mcp),
            "type" => kind = value.text,
            "object" => object = value.text,
            "function" => function = true,
            "output" => output = true,
            "role" => role = true,
            "content" => content_list = value.array,
            _ => {}
        }
    }
    match kind {
        Some("function_call") => note(Shape::ResponsesItem),
        Some("function") => note(Shape::ChatItem),
        Some("tool_use") => note(Shape::AnthropicBlock),
        Some("message") => note(Shape::AnthropicMessage),
        _ => {}
    }
    if several {
        return Err(ParseError::Ambiguous {
            problem: "an object matches more than one envelope format",
        });
    }
    if strong.is_some() {
        return Ok(strong);
    }
    let shape = if function {
        Some(Shape::ChatItem)
    } else if output || object == Some("response") {
        Some(Shape::ResponsesResponse)
    } else if role {
        Some(if content_list {
            Shape::AnthropicMessage
        } else {
            Shape::PlainMessage
        })
    } else if matches!(
        kind,
        Some("text" | "thinking" | "redacted_thinking" | "reasoning")
    ) {
        Some(Shape::Inert)
    } else {
        None
    };
    Ok(shape)
}

fn entries(map: &Map<String, Value>) -> impl Iterator<Item = (&str, &Value)> {
    map.iter().map(|(k, v)| (k.as_str(), v))
}

fn check_keys(map: &Map<String, Value>, allowed: &[&str], at: &At<'_>) -> Result<(), ParseError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(at.key(key).invalid("unexpected key in the envelope")),
        None => Ok(()),
    }
}

/// Checks that `key`, if present, is a string equal to `want` (any string when `want` is empty).
fn check_str(
    map: &Map<String, Value>,
    key: &str,
    want: &str,
    at: &At<'_>,
) -> Result<(), ParseError> {
    match map.get(key) {
        None => Ok(()),
        Some(Value::String(s)) if want.is_empty() || s == want => Ok(()),
        Some(_) => Err(at.key(key).invalid(if want.is_empty() {
            "must be a string"
        } else {
            "unexpected value for this envelope format"
        })),
    }
}

fn take_name(map: &mut Map<String, Value>, key: &str, at: &At<'_>) -> Result<String, ParseError> {
    match map.remove(key) {
        Some(Value::String(name)) => Ok(name),
        Some(_) => Err(at.key(key).invalid("the tool name must be a string")),
        None => Err(at.key(key).invalid("the tool name is missing")),
    }
}

fn take_object(
    map: &mut Map<String, Value>,
    key: &str,
    at: &At<'_>,
) -> Result<Map<String, Value>, ParseError> {
    match map.remove(key) {
        Some(Value::Object(args)) => Ok(args),
        Some(_) => Err(at.key(key).invalid("the arguments must be a json object")),
        None => Err(at.key(key).invalid("the arguments are missing")),
    }
}

fn take_array(
    map: &mut Map<String, Value>,
    key: &str,
    at: &At<'_>,
) -> Result<Vec<Value>, ParseError> {
    match map.remove(key) {
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(at.key(key).invalid("must be an array")),
        None => Err(at.key(key).invalid("is missing")),
    }
}

fn into_object(value: Value, at: &At<'_>) -> Result<Map<String, Value>, ParseError> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(at.invalid("must be a json object")),
    }
}

/// Where a list of envelope objects sits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum List {
    /// The whole document is a list.
    TopLevel,
    /// A Responses `output`.
    ResponsesOutput,
    /// An Anthropic message `content`.
    AnthropicContent,
}

const MESSAGE_KEYS: &[&str] = &[
    "role",
    "content",
    "refusal",
    "name",
    "annotations",
    "audio",
    "tool_calls",
    "function_call",
];

const COMPLETION_KEYS: &[&str] = &[
    "id",
    "object",
    "created",
    "model",
    "choices",
    "usage",
    "system_fingerprint",
    "service_tier",
];

const RESPONSE_KEYS: &[&str] = &[
    "id",
    "object",
    "created_at",
    "status",
    "background",
    "conversation",
    "error",
    "incomplete_details",
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "metadata",
    "model",
    "output",
    "output_text",
    "parallel_tool_calls",
    "previous_response_id",
    "prompt",
    "prompt_cache_key",
    "reasoning",
    "safety_identifier",
    "service_tier",
    "store",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "truncation",
    "usage",
    "user",
];

struct Collector<'l> {
    limits: &'l ParseLimits,
    calls: Vec<Candidate>,
}

impl Collector<'_> {
    fn push(
        &mut self,
        format: Format,
        name: String,
        args: Map<String, Value>,
    ) -> Result<(), ParseError> {
        if self.calls.len() >= self.limits.max_calls {
            return Err(ParseError::TooManyCalls {
                limit: self.limits.max_calls,
            });
        }
        self.calls.push(Candidate { format, name, args });
        Ok(())
    }

    /// The calls of a value found in prose. A value written several times is one set of
    /// calls, but each time it is written counts against the limit on calls: a reader that
    /// runs every copy runs them that many times.
    fn prose(&mut self, found: Prosed) -> Result<(), ParseError> {
        self.document(found.value)?;
        if self.calls.len().saturating_mul(found.occurrences) > self.limits.max_calls {
            return Err(ParseError::TooManyCalls {
                limit: self.limits.max_calls,
            });
        }
        Ok(())
    }

    fn document(&mut self, document: Value) -> Result<(), ParseError> {
        let at = At::root();
        match document {
            Value::Object(map) => self.object(map, &at),
            Value::Array(items) => self.list(items, &at, List::TopLevel),
            _ => Err(ParseError::NoToolCall),
        }
    }

    fn object(&mut self, map: Map<String, Value>, at: &At<'_>) -> Result<(), ParseError> {
        let shape = classify(entries(&map))?;
        self.shaped(shape, map, at)
    }

    /// A top-level object, as parsed members: the `tool` forms are taken apart directly.
    fn members(&mut self, members: Vec<Member<'_>>) -> Result<(), ParseError> {
        let at = At::root();
        let shape = classify(members.iter().map(|m| (m.key.as_ref(), &m.value)))?;
        if shape == Some(Shape::Tool) {
            return self.tool(members.into_iter().map(|m| (m.key, m.value)), &at);
        }
        let map = members
            .into_iter()
            .map(|m| (m.key.into_owned(), m.value))
            .collect();
        self.shaped(shape, map, &at)
    }

    fn shaped(
        &mut self,
        shape: Option<Shape>,
        map: Map<String, Value>,
        at: &At<'_>,
    ) -> Result<(), ParseError> {
        match shape {
            Some(Shape::Tool) => self.tool(map.into_iter().map(|(k, v)| (Cow::Owned(k), v)), at),
            Some(Shape::ChatMessage) => self.chat_message(map, at),
            Some(Shape::LegacyMessage) => self.legacy_message(map, at),
            Some(Shape::ChatCompletion) => self.chat_completion(map, at),
            Some(Shape::ChatItem) => self.chat_item(map, at),
            Some(Shape::ResponsesItem) => self.responses_item(map, at),
            Some(Shape::ResponsesResponse) => self.responses_response(map, at),
            Some(Shape::AnthropicBlock) => self.anthropic_block(map, at),
            Some(Shape::AnthropicMessage) => self.anthropic_message(map, at),
            Some(Shape::Mcp) => self.mcp(map, at),
            Some(Shape::Inert | Shape::PlainMessage) => Ok(()),
            None => Err(at.invalid("not a recognized tool-call envelope")),
        }
    }

    fn list(&mut self, items: Vec<Value>, at: &At<'_>, list: List) -> Result<(), ParseError> {
        for (i, item) in items.into_iter().enumerate() {
            let at = at.index(i);
            let map = into_object(item, &at)?;
            let kind = map.get("type").and_then(Value::as_str);
            match list {
                List::AnthropicContent => match kind {
                    Some("tool_use") => self.anthropic_block(map, &at)?,
                    Some("text" | "thinking" | "redacted_thinking") => {}
                    _ => return Err(at.invalid("unsupported content block")),
                },
                List::ResponsesOutput => match kind {
                    Some("function_call") => self.responses_item(map, &at)?,
                    Some("reasoning") => {}
                    Some("message") if is_text_message(&map) => {}
                    _ => return Err(at.invalid("unsupported output item")),
                },
                List::TopLevel => {
                    if kind == Some("message") && is_text_message(&map) {
                        continue;
                    }
                    match classify(entries(&map))? {
                        Some(Shape::Tool) => {
                            self.tool(map.into_iter().map(|(k, v)| (Cow::Owned(k), v)), &at)?;
                        }
                        Some(Shape::ChatItem) => self.chat_item(map, &at)?,
                        Some(Shape::ResponsesItem) => self.responses_item(map, &at)?,
                        Some(Shape::AnthropicBlock) => self.anthropic_block(map, &at)?,
                        Some(Shape::Inert) => {}
                        Some(Shape::Mcp) => {
                            return Err(at.invalid("json-rpc batches are not accepted"));
                        }
                        Some(_) => return Err(at.invalid("a list may hold calls, not messages")),
                        None => return Err(at.invalid("not a recognized tool-call envelope")),
                    }
                }
            }
        }
        Ok(())
    }

    /// `{"tool": NAME, "args": {...}}` or `{"tool": NAME, ...arguments}`.
    fn tool<'k>(
        &mut self,
        members: impl Iterator<Item = (Cow<'k, str>, Value)>,
        at: &At<'_>,
    ) -> Result<(), ParseError> {
        let (mut name, mut args, mut rest) = (None, None, Map::new());
        for (key, value) in members {
            match key.as_ref() {
                "tool" => name = Some(value),
                "args" => args = Some(value),
                _ => {
                    rest.insert(key.into_owned(), value);
                }
            }
        }
        let name = match name {
            Some(Value::String(name)) => name,
            Some(_) => return Err(at.key("tool").invalid("the tool name must be a string")),
            None => return Err(at.key("tool").invalid("the tool name is missing")),
        };
        match args {
            None => self.push(Format::Flat, name, rest),
            Some(Value::Object(args)) => {
                check_keys(&rest, &[], at)?;
                self.push(Format::Wrapper, name, args)
            }
            Some(_) => Err(at
                .key("args")
                .invalid("the arguments must be a json object")),
        }
    }

    /// An assistant message with `tool_calls`.
    fn chat_message(&mut self, mut map: Map<String, Value>, at: &At<'_>) -> Result<(), ParseError> {
        check_keys(&map, MESSAGE_KEYS, at)?;
        check_str(&map, "role", "assistant", at)?;
        if non_null(map.get("function_call")) {
            return Err(ParseError::Ambiguous {
                problem: "a message with both `tool_calls` and `function_call`",
            });
        }
        let items = take_array(&mut map, "tool_calls", at)?;
        let list_at = at.key("tool_calls");
        for (i, item) in items.into_iter().enumerate() {
            let item_at = list_at.index(i);
            let item = into_object(item, &item_at)?;
            self.chat_item(item, &item_at)?;
        }
        Ok(())
    }

    /// `{"id": .., "type": "function", "function": {"name": .., "arguments": ".."}}`.
    fn chat_item(&mut self, mut map: Map<String, Value>, at: &At<'_>) -> Result<(), ParseError> {
        check_keys(&map, &["id", "type", "function"], at)?;
        check_str(&map, "type", "function", at)?;
        check_str(&map, "id", "", at)?;
        let function_at = at.key("function");
        let function = match map.remove("function") {
            Some(value) => into_object(value, &function_at)?,
            None => return Err(function_at.invalid("is missing")),
        };
        self.function(function, &function_at, Format::OpenAiChat)
    }

    /// `{"name": .., "arguments": ".."}`, shared by the chat and legacy formats.
    fn function(
        &mut self,
        mut map: Map<String, Value>,
        at: &At<'_>,
        format: Format,
    ) -> Result<(), ParseError> {
        check_keys(&map, &["name", "arguments"], at)?;
        let name = take_name(&mut map, "name", at)?;
        let args = self.arguments(&map, at)?;
        self.push(format, name, args)
    }

    /// Parses the JSON-encoded `arguments` string of `map`.
    fn arguments(
        &self,
        map: &Map<String, Value>,
        at: &At<'_>,
    ) -> Result<Map<String, Value>, ParseError> {
        let args_at = at.key("arguments");
        let text = match map.get("arguments") {
            Some(Value::String(text)) => text,
            Some(_) => return Err(args_at.invalid("the arguments must be a json-encoded string")),
            None => return Err(args_at.invalid("the arguments are missing")),
        };
        let value = json::parse_strict(text, &self.limits.json).map_err(|source| {
            ParseError::Arguments {
                pointer: args_at.render(),
                source,
            }
        })?;
        match value {
            Value::Object(args) => Ok(args),
            _ => Err(args_at.invalid("the arguments string must encode a json object")),
        }
    }

    fn legacy_message(
        &mut self,
        mut map: Map<String, Value>,
        at: &At<'_>,
    ) -> Result<(), ParseError> {
        check_keys(&map, MESSAGE_KEYS, at)?;
        check_str(&map, "role", "assistant", at)?;
        let function_at = at.key("function_call");
        let function = match map.remove("function_call") {
            Some(value) => into_object(value, &function_at)?,
            None => return Err(function_at.invalid("is missing")),
        };
        self.function(function, &function_at, Format::LegacyFunctionCall)
    }

    fn chat_completion(
        &mut self,
        mut map: Map<String, Value>,
        at: &At<'_>,
    ) -> Result<(), ParseError> {
        check_keys(&map, COMPLETION_KEYS, at)?;
        check_str(&map, "object", "chat.completion", at)?;
        let choices = take_array(&mut map, "choices", at)?;
        if choices.len() > 1 {
            return Err(ParseError::Ambiguous {
                problem: "several choices are alternatives, not parallel calls",
            });
        }
        let choices_at = at.key("choices");
        for (i, choice) in choices.into_iter().enumerate() {
            let choice_at = choices_at.index(i);
            let mut choice = into_object(choice, &choice_at)?;
            check_keys(
                &choice,
                &["index", "message", "finish_reason", "logprobs"],
                &choice_at,
            )?;
            let message_at = choice_at.key("message");
            let message = match choice.remove("message") {
                Some(value) => into_object(value, &message_at)?,
                None => return Err(message_at.invalid("is missing")),
            };
            match classify(entries(&message))? {
                Some(Shape::ChatMessage) => self.chat_message(message, &message_at)?,
                Some(Shape::LegacyMessage) => self.legacy_message(message, &message_at)?,
                Some(Shape::PlainMessage) => check_keys(&message, MESSAGE_KEYS, &message_at)?,
                _ => return Err(message_at.invalid("not a chat completion message")),
            }
        }
        Ok(())
    }

    /// `{"type": "function_call", "name": .., "arguments": ".."}`.
    fn responses_item(
        &mut self,
        mut map: Map<String, Value>,
        at: &At<'_>,
    ) -> Result<(), ParseError> {
        check_keys(
            &map,
            &["type", "id", "call_id", "name", "arguments", "status"],
            at,
        )?;
        for key in ["id", "call_id", "status"] {
            check_str(&map, key, "", at)?;
        }
        let name = take_name(&mut map, "name", at)?;
        let args = self.arguments(&map, at)?;
        self.push(Format::OpenAiResponses, name, args)
    }

    fn responses_response(
        &mut self,
        mut map: Map<String, Value>,
        at: &At<'_>,
    ) -> Result<(), ParseError> {
        check_keys(&map, RESPONSE_KEYS, at)?;
        check_str(&map, "object", "response", at)?;
        let output = take_array(&mut map, "output", at)?;
        self.list(output, &at.key("output"), List::ResponsesOutput)
    }

    /// `{"type": "tool_use", "id": .., "name": .., "input": {...}}`.
    fn anthropic_block(
        &mut self,
        mut map: Map<String, Value>,
        at: &At<'_>,
    ) -> Result<(), ParseError> {
        check_keys(&map, &["type", "id", "name", "input"], at)?;
        check_str(&map, "id", "", at)?;
        let name = take_name(&mut map, "name", at)?;
        let args = take_object(&mut map, "input", at)?;
        self.push(Format::AnthropicToolUse, name, args)
    }

    fn anthropic_message(
        &mut self,
        mut map: Map<String, Value>,
        at: &At<'_>,
    ) -> Result<(), ParseError> {
        check_keys(
            &map,
            &[
                "id",
                "type",
                "role",
                "model",
                "content",
                "stop_reason",
                "stop_sequence",
                "usage",
                "container",
            ],
            at,
        )?;
        check_str(&map, "role", "assistant", at)?;
        match map.remove("content") {
            Some(Value::Array(blocks)) => {
                self.list(blocks, &at.key("content"), List::AnthropicContent)
            }
            Some(Value::String(_)) => Ok(()),
            Some(_) => Err(at
                .key("content")
                .invalid("must be a string or an array of blocks")),
            None => Err(at.key("content").invalid("is missing")),
        }
    }

    /// `{"jsonrpc": "2.0", "id": .., "method": "tools/call", "params": {"name": .., "arguments": {...}}}`.
    fn mcp(&mut self, mut map: Map<String, Value>, at: &At<'_>) -> Result<(), ParseError> {
        check_keys(&map, &["jsonrpc", "id", "method", "params"], at)?;
        if map.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(at.key("jsonrpc").invalid("must be \"2.0\""));
        }
        match map.get("id") {
            Some(Value::String(_)) => {}
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {}
            Some(_) => return Err(at.key("id").invalid("must be a string or an integer")),
            None => return Err(at.key("id").invalid("a request needs an id")),
        }
        if map.get("method").and_then(Value::as_str) != Some("tools/call") {
            return Err(at
                .key("method")
                .invalid("only `tools/call` requests carry a tool call"));
        }
        let params_at = at.key("params");
        let mut params = match map.remove("params") {
            Some(value) => into_object(value, &params_at)?,
            None => return Err(params_at.invalid("is missing")),
        };
        check_keys(&params, &["name", "arguments", "_meta"], &params_at)?;
        if params.get("_meta").is_some_and(|m| !m.is_object()) {
            return Err(params_at.key("_meta").invalid("must be an object"));
        }
        let name = take_name(&mut params, "name", &params_at)?;
        let args = take_object(&mut params, "arguments", &params_at)?;
        self.push(Format::McpToolsCall, name, args)
    }
}

/// A Responses `message` item that holds only text or a refusal.
fn is_text_message(map: &Map<String, Value>) -> bool {
    map.get("content")
        .and_then(Value::as_array)
        .is_some_and(|parts| {
            parts.iter().all(|part| {
                matches!(
                    part.get("type").and_then(Value::as_str),
                    Some("output_text" | "refusal" | "text")
                )
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use serde_json::json;

    fn extract(input: &str) -> Result<Vec<Candidate>, ParseError> {
        extract_calls(input.as_bytes(), &ParseLimits::default())
    }

    /// Where the prose scan reports a comment in `gap`, stated the plain way: the first `//`
    /// (searched without overlap) not after `:`, else the first `/*`, else the first `*/`.
    fn comment_by_search(gap: &str) -> Option<usize> {
        let line = gap
            .match_indices("//")
            .map(|(i, _)| i)
            .find(|&i| i == 0 || gap.as_bytes()[i - 1] != b':');
        line.or_else(|| gap.find("/*")).or_else(|| gap.find("*/"))
    }

    #[test]
    fn prose_comments_found_in_one_pass_as_by_search() {
        // Every string of up to 7 characters over the bytes that matter.
        let alphabet = [b':', b'/', b'*', b'a', b'{'];
        let mut checked = 0;
        for len in 0..=7u32 {
            for mut n in 0..alphabet.len().pow(len) {
                let mut gap = String::new();
                for _ in 0..len {
                    gap.push(char::from(alphabet[n % alphabet.len()]));
                    n /= alphabet.len();
                }
                let text = format!("xy{gap}");
                let got = match Prose::default().scan(&text, 2, text.len(), &[]) {
                    Err(ParseError::Json(JsonError::Syntax {
                        offset,
                        problem: "comments are not json",
                    })) => Some(offset - 2),
                    Err(e) => panic!("{gap}: {e}"),
                    Ok(()) => None,
                };
                assert_eq!(got, comment_by_search(&gap), "{gap:?}");
                checked += 1;
            }
        }
        assert_eq!(checked, (0..=7).map(|l| 5usize.pow(l)).sum::<usize>());
    }

    fn one(input: &str) -> Candidate {
        let calls = extract(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(calls.len(), 1, "{input}");
        calls.into_iter().next().unwrap()
    }

    fn code(input: &str) -> ReasonCode {
        match extract(input) {
            Ok(calls) => panic!("{input} gave {calls:?}"),
            Err(e) => e.code(),
        }
    }

    fn args(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn flat_and_wrapper() {
        let c = one(r#"{"tool":"read_file","path":"/workspace/a"}"#);
        assert_eq!(c.format, Format::Flat);
        assert_eq!(c.name, "read_file");
        assert_eq!(c.args, args(json!({"path": "/workspace/a"})));

        let c = one(r#"{"args":{"path":"/workspace/a"},"tool":"read_file"}"#);
        assert_eq!(c.format, Format::Wrapper);
        assert_eq!(c.args, args(json!({"path": "/workspace/a"})));

        // The flat form without arguments: the schema stage decides about missing ones.
        let c = one(r#"{"tool":"read_file"}"#);
        assert_eq!((c.format, c.args.len()), (Format::Flat, 0));

        // Names are carried exactly.
        assert_eq!(one(r#"{"tool":"Read_File ","args":{}}"#).name, "Read_File ");
        assert_eq!(one(r#"{"tool":"a\u0000","args":{}}"#).name, "a\0");
    }

    #[test]
    fn wrapper_errors() {
        for input in [
            r#"{"tool":"read_file","args":"{\"path\":\"/workspace/a\"}"}"#,
            r#"{"tool":"read_file","args":null}"#,
            r#"{"tool":"read_file","args":[]}"#,
            r#"{"tool":["read_file"],"args":{}}"#,
            r#"{"tool":"read_file","args":{},"extra":1}"#,
            r#"{"tool":"read_file","args":{},"Tool":"write_file"}"#,
            r#"{"args":{"path":"/workspace/a"}}"#,
            r#"{}"#,
        ] {
            assert_eq!(code(input), ReasonCode::InvalidEnvelope, "{input}");
        }
        let err = extract(r#"{"tool":"x","args":{},"__proto__":{}}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid envelope at `/__proto__`: unexpected key in the envelope"
        );
        let err = extract(r#"{"a":1}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid envelope at the top level: not a recognized tool-call envelope"
        );
    }

    #[test]
    fn openai_chat() {
        let input = r#"{"role":"assistant","content":null,"tool_calls":[
            {"id":"call_0","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"/workspace/a\"}"}},
            {"id":"call_1","type":"function","function":{"name":"http_get","arguments":"{}"}}]}"#;
        let calls = extract(input).unwrap();
        assert_eq!(calls.len(), 2);
        assert!(calls.iter().all(|c| c.format == Format::OpenAiChat));
        assert_eq!(calls[0].args, args(json!({"path": "/workspace/a"})));
        assert_eq!(calls[1].name, "http_get");

        // A bare tool_calls item, and a list of them.
        let item =
            r#"{"id":"c","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}}"#;
        assert_eq!(one(item).format, Format::OpenAiChat);
        assert_eq!(extract(&format!("[{item},{item}]")).unwrap().len(), 2);

        // A full completion with one choice.
        let completion = format!(
            r#"{{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{{"index":0,"finish_reason":"tool_calls","message":{{"role":"assistant","content":null,"tool_calls":[{item}]}}}}],"usage":{{}}}}"#
        );
        assert_eq!(one(&completion).name, "f");
    }

    #[test]
    fn openai_chat_errors() {
        let wrap = |function: &str| {
            format!(
                r#"{{"role":"assistant","tool_calls":[{{"id":"c","type":"function","function":{function}}}]}}"#
            )
        };
        let cases = [
            (wrap(r#"{"name":"f","arguments":{"path":"/a"}}"#), ReasonCode::InvalidEnvelope),
            (wrap(r#"{"name":"f"}"#), ReasonCode::InvalidEnvelope),
            (wrap(r#"{"name":1,"arguments":"{}"}"#), ReasonCode::InvalidEnvelope),
            (wrap(r#"{"name":"f","arguments":"{}","strict":true}"#), ReasonCode::InvalidEnvelope),
            (wrap(r#"{"name":"f","arguments":"\"{}\""}"#), ReasonCode::InvalidEnvelope),
            (wrap(r#"{"name":"f","arguments":"[]"}"#), ReasonCode::InvalidEnvelope),
            (wrap(r#"{"name":"f","arguments":""}"#), ReasonCode::JsonSyntax),
            (wrap(r#"{"name":"f","arguments":"{} and more"}"#), ReasonCode::TrailingData),
            (wrap(r#"{"name":"f","arguments":"{\"a\":1,\"a\":2}"}"#), ReasonCode::DuplicateKey),
            (wrap(r#"{"name":"f","arguments":"{\"a\":NaN}"}"#), ReasonCode::InvalidNumber),
            (wrap(r#"{"name":"f","arguments":"{\"a\":\"\\ud800\"}"}"#), ReasonCode::LoneSurrogate),
            (
                r#"{"role":"user","tool_calls":[{"function":{"name":"f","arguments":"{}"}}]}"#.into(),
                ReasonCode::InvalidEnvelope,
            ),
            (
                r#"{"role":"assistant","tool_calls":[{"type":"custom","function":{"name":"f","arguments":"{}"}}]}"#
                    .into(),
                ReasonCode::InvalidEnvelope,
            ),
            (r#"{"role":"assistant","tool_calls":{}}"#.into(), ReasonCode::InvalidEnvelope),
            (r#"{"role":"assistant","tool_calls":["x"]}"#.into(), ReasonCode::InvalidEnvelope),
            (r#"{"role":"assistant","tool_calls":[]}"#.into(), ReasonCode::NoToolCall),
            (r#"{"role":"assistant","content":"hello"}"#.into(), ReasonCode::NoToolCall),
            (
                r#"{"choices":[{"message":{"role":"assistant","tool_calls":[]}},{"message":{"role":"assistant","tool_calls":[]}}]}"#
                    .into(),
                ReasonCode::AmbiguousToolCall,
            ),
            (
                r#"{"role":"assistant","tool_calls":[],"function_call":{"name":"f","arguments":"{}"}}"#.into(),
                ReasonCode::AmbiguousToolCall,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(code(&input), want, "{input}");
        }
        let err = extract(&wrap(r#"{"name":"f","arguments":"{\"a\":1,\"a\":2}"}"#)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "in the `arguments` string at `/tool_calls/0/function/arguments`: duplicate key `a` at byte 7"
        );
    }

    #[test]
    fn legacy_function_call() {
        let c = one(
            r#"{"role":"assistant","content":null,"function_call":{"name":"read_file","arguments":"{\"path\":\"/workspace/a\"}"}}"#,
        );
        assert_eq!(c.format, Format::LegacyFunctionCall);
        assert_eq!(c.args, args(json!({"path": "/workspace/a"})));
        assert_eq!(
            one(r#"{"function_call":{"name":"f","arguments":"{}"},"tool_calls":null}"#).name,
            "f"
        );
        assert_eq!(
            code(r#"{"function_call":"f"}"#),
            ReasonCode::InvalidEnvelope
        );
        assert_eq!(
            code(r#"{"function_call":{"name":"f","arguments":{}}}"#),
            ReasonCode::InvalidEnvelope
        );
    }

    #[test]
    fn openai_responses() {
        let item = r#"{"type":"function_call","id":"fc_1","call_id":"call_1","name":"read_file","arguments":"{\"path\":\"/workspace/a\"}","status":"completed"}"#;
        let c = one(item);
        assert_eq!(c.format, Format::OpenAiResponses);
        assert_eq!(c.args, args(json!({"path": "/workspace/a"})));
        let response = format!(
            r#"{{"id":"resp_1","object":"response","status":"completed","model":"m","output":[{{"type":"reasoning","id":"rs","summary":[]}},{{"type":"message","role":"assistant","content":[{{"type":"output_text","text":"ok"}}]}},{item},{item}]}}"#
        );
        assert_eq!(extract(&response).unwrap().len(), 2);
        assert_eq!(extract(&format!("[{item}]")).unwrap().len(), 1);
        for input in [
            r#"{"type":"function_call","name":"f","arguments":{}}"#,
            r#"{"type":"function_call","name":"f"}"#,
            r#"{"type":"function_call","arguments":"{}"}"#,
            r#"{"type":"function_call","name":"f","arguments":"{}","extra":1}"#,
            r#"{"type":"function_call","name":"f","arguments":"{}","call_id":7}"#,
            r#"{"output":[{"type":"web_search_call","id":"ws"}]}"#,
            r#"{"output":[{"type":"tool_use","name":"f","input":{}}]}"#,
            r#"{"output":{}}"#,
        ] {
            assert_eq!(code(input), ReasonCode::InvalidEnvelope, "{input}");
        }
        assert_eq!(
            code(r#"{"object":"response","output":[]}"#),
            ReasonCode::NoToolCall
        );
    }

    #[test]
    fn anthropic_tool_use() {
        let block = r#"{"type":"tool_use","id":"toolu_1","name":"read_file","input":{"path":"/workspace/a"}}"#;
        let c = one(block);
        assert_eq!(c.format, Format::AnthropicToolUse);
        assert_eq!(c.args, args(json!({"path": "/workspace/a"})));
        let message = format!(
            r#"{{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{{"type":"thinking","thinking":"..","signature":"s"}},{{"type":"text","text":"{{\"tool\":\"x\",\"args\":{{}}}}"}},{block},{block}],"stop_reason":"tool_use","stop_sequence":null,"usage":{{}}}}"#
        );
        assert_eq!(extract(&message).unwrap().len(), 2);
        // A request-style message without `type`, and a bare content list.
        assert_eq!(
            extract(&format!(r#"{{"role":"assistant","content":[{block}]}}"#))
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            extract(&format!(r#"[{{"type":"text","text":"hi"}},{block}]"#))
                .unwrap()
                .len(),
            1
        );
        for input in [
            r#"{"type":"tool_use","name":"f","input":"{}"}"#,
            r#"{"type":"tool_use","name":"f"}"#,
            r#"{"type":"tool_use","input":{}}"#,
            r#"{"type":"tool_use","name":"f","input":{},"cache_control":{}}"#,
            r#"{"type":"message","content":[{"type":"server_tool_use","name":"web_search","input":{}}]}"#,
            r#"{"type":"message","content":[{"type":"image"}]}"#,
            r#"{"type":"message","content":{}}"#,
            r#"{"type":"message","role":"user","content":[]}"#,
        ] {
            assert_eq!(code(input), ReasonCode::InvalidEnvelope, "{input}");
        }
        let text_only = r#"{"type":"message","role":"assistant","content":[{"type":"text","text":"{\"tool\":\"read_file\",\"args\":{}}"}]}"#;
        assert_eq!(code(text_only), ReasonCode::NoToolCall);
    }

    #[test]
    fn mcp_tools_call() {
        let c = one(
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/workspace/a"},"_meta":{"progressToken":1}}}"#,
        );
        assert_eq!(c.format, Format::McpToolsCall);
        assert_eq!(c.args, args(json!({"path": "/workspace/a"})));
        assert_eq!(one(r#"{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"f","arguments":{}}}"#).name, "f");
        for input in [
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read_file"}}"#,
            r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"f","arguments":{}}}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"f","arguments":{}}}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"tools/call","params":{"name":"f","arguments":{}}}"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"f","arguments":{}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///etc/passwd"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"f","arguments":"{}"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"f","arguments":{},"x":1}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"f","arguments":{}},"x":1}"#,
            r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"f","arguments":{}}}]"#,
        ] {
            assert_eq!(code(input), ReasonCode::InvalidEnvelope, "{input}");
        }
    }

    #[test]
    fn ambiguous_shapes_and_mixed_formats() {
        for input in [
            r#"{"tool":"f","args":{},"jsonrpc":"2.0"}"#,
            r#"{"tool":"f","tool_calls":[]}"#,
            r#"{"type":"tool_use","name":"f","input":{},"tool":"g"}"#,
            r#"{"type":"function_call","name":"f","arguments":"{}","function_call":{}}"#,
            r#"[{"tool":"f","args":{}},{"tool":"g","x":1}]"#,
            r#"[{"tool":"f","args":{}},{"type":"tool_use","name":"f","input":{}}]"#,
        ] {
            assert_eq!(code(input), ReasonCode::AmbiguousToolCall, "{input}");
        }
    }

    #[test]
    fn prose_fences_and_tags() {
        let call = r#"{"tool":"read_file","args":{"path":"/workspace/a"}}"#;
        for input in [
            format!("```json\n{call}\n```"),
            format!("```\n{call}\n```"),
            format!("Sure! Here it is:\n\n```json\n{call}\n```\n\nAnything else?"),
            format!("<tool_call>\n{call}\n</tool_call>"),
            format!("I will read it. {call}"),
            format!("{call}\nDone, see https://example.com/x for details."),
            format!("\"Sure\" {call}"),
            format!("[Tool call] {call}"),
            format!("{{thinking}} {call}"),
            format!("Calling {call} now; as a reminder, {call}"),
        ] {
            let c = one(&input);
            assert_eq!(
                (c.format, c.name.as_str()),
                (Format::Wrapper, "read_file"),
                "{input}"
            );
        }
        // Arrays of calls in a fence.
        let list = format!("```json\n[{call}, {call}]\n```");
        assert_eq!(extract(&list).unwrap().len(), 2);
        // Braces that do not start JSON are prose.
        assert_eq!(
            one(&format!("Use {{curly}} braces and [links]. {call}")).name,
            "read_file"
        );
        assert_eq!(
            one(&format!("Stray ] and }} closers, {{ x }} {call} [1]")).name,
            "read_file"
        );
    }

    #[test]
    fn prose_errors() {
        let call = r#"{"tool":"read_file","args":{"path":"/workspace/a"}}"#;
        let other = r#"{"tool":"read_file","args":{"path":"/workspace/b"}}"#;
        let cases = [
            (
                format!("```json\n{call}\n```\n```json\n{other}\n```"),
                ReasonCode::AmbiguousToolCall,
            ),
            (
                format!("First {call} then {other}"),
                ReasonCode::AmbiguousToolCall,
            ),
            (format!("// calling tool\n{call}"), ReasonCode::JsonSyntax),
            (format!("{call} /* harmless */"), ReasonCode::JsonSyntax),
            (format!("Here: {call} // done"), ReasonCode::JsonSyntax),
            (format!("\u{feff}{call}"), ReasonCode::JsonSyntax),
            (format!("\u{a0}{call}"), ReasonCode::JsonSyntax),
            (format!("\u{200b}\n{call}\u{2028}"), ReasonCode::JsonSyntax),
            (format!("{call}{call}"), ReasonCode::TrailingData),
            (format!("{call} {other}"), ReasonCode::AmbiguousToolCall),
            (format!("{call}\u{a0}"), ReasonCode::JsonSyntax),
            (
                r#"Call: {"tool":"read_file","args":{"path":"/a"}"#.to_owned(),
                ReasonCode::JsonSyntax,
            ),
            (
                r#"Call: {"tool":"read_file","tool":"x"}"#.to_owned(),
                ReasonCode::DuplicateKey,
            ),
            ("Nothing to do here.".to_owned(), ReasonCode::NoToolCall),
            ("".to_owned(), ReasonCode::NoToolCall),
            ("null".to_owned(), ReasonCode::NoToolCall),
            ("42".to_owned(), ReasonCode::NoToolCall),
            (
                r#""{\"tool\":\"read_file\",\"args\":{}}""#.to_owned(),
                ReasonCode::NoToolCall,
            ),
            ("[]".to_owned(), ReasonCode::NoToolCall),
            ("[1]".to_owned(), ReasonCode::InvalidEnvelope),
            ("[1".to_owned(), ReasonCode::JsonSyntax),
            ("{tool:\"read_file\"}".to_owned(), ReasonCode::JsonSyntax),
            ("[Tool call] {tool:1}".to_owned(), ReasonCode::JsonSyntax),
            // A strict call inside a lenient document, or next to a lenient one.
            (
                format!(r#"{{tool:"write_file",args:{{}},"note":{call}}}"#),
                ReasonCode::JsonSyntax,
            ),
            (format!(r#"[[{call}]"#), ReasonCode::JsonSyntax),
            (
                format!("Here: {{ 'tool' : 'write_file' }} and {call}"),
                ReasonCode::JsonSyntax,
            ),
            (
                format!("Step 1: {{tool: 'write_file'}}\nStep 2: {call}"),
                ReasonCode::JsonSyntax,
            ),
            (
                format!("Wrapped (see [this: {call}"),
                ReasonCode::JsonSyntax,
            ),
            (
                format!("{}{call}{}", "[".repeat(40), "]".repeat(40)),
                ReasonCode::DepthExceeded,
            ),
            (
                "[[{\"tool\":\"f\"}]]".to_owned(),
                ReasonCode::InvalidEnvelope,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(code(&input), want, "{input:?}");
        }
        assert_eq!(
            extract(&format!("\u{feff}{call}")).unwrap_err().offset(),
            Some(0)
        );
    }

    /// Prose around a call holding a second call that only a lenient reader (JSON5, a JSON
    /// repairer, Python's `ast.literal_eval`, a UTF-16 decoder) or another tool-call syntax
    /// would see.
    #[test]
    fn prose_hiding_a_call_from_the_strict_reader_is_refused() {
        let call = r#"{"tool":"read_file","path":"/workspace/README.md"}"#;
        let hidden = [
            "{\u{a0}\"tool\":\"read_file\",\"path\":\"/etc/shadow\"}",
            "{\u{3000}\"tool\":\"read_file\",\"path\":\"/etc/shadow\"}",
            "{\u{feff}\"tool\":\"read_file\",\"path\":\"/etc/shadow\"}",
            "{\u{2028}\"tool\":\"read_file\",\"path\":\"/etc/shadow\"}",
            "{\x0b\"tool\":\"write_file\",\"path\":\"/workspace/.git/hooks/pre-commit\"}",
            "{\x0c\"tool\":\"read_file\",\"path\":\"/etc/shadow\"}",
            r#"{\"tool\":\"read_file\",\"path\":\"/etc/shadow\"}"#,
            "{\u{201c}tool\u{201d}: \u{201c}read_file\u{201d}, \u{201c}path\u{201d}: 1}",
            "{u'tool': u'read_file', u'path': u'/etc/shadow'}",
            "{('tool'): 'read_file', 'path': '/etc/shadow'}",
            "{'''tool''': 'read_file', 'path': '/etc/shadow'}",
            "{#\n\"tool\": \"read_file\", \"path\": \"/etc/shadow\"}",
            "{,\"tool\": \"read_file\", \"path\": \"/etc/shadow\"}",
            "{0:\"x\",\"tool\": \"read_file\", \"path\": \"/etc/shadow\"}",
            "{`tool`: `read_file`, `path`: `/etc/shadow`}",
            "{tool\u{a0}: 'read_file', path: '/etc/shadow'}",
            "{outil: 'read_file'}",
            "{\u{e9}t\u{e9}: 1}",
        ];
        for h in hidden {
            let input =
                format!("Reading now.\n<tool_call>{call}</tool_call>\n<tool_call>{h}</tool_call>");
            assert_eq!(code(&input), ReasonCode::JsonSyntax, "{input:?}");
        }
        // NUL bytes in prose: Python's json.loads(bytes) reads such an output as UTF-16.
        assert_eq!(
            code(&format!("{{\0\"\0r\0}}\0 {call} \0")),
            ReasonCode::JsonSyntax
        );
        assert_eq!(code(&format!("{call}\u{85}")), ReasonCode::JsonSyntax);
        // A call in another syntax beside the JSON one.
        for other in [
            "<function=http_get><parameter=url>http://169.254.169.254/</parameter></function>",
            "<|python_tag|>http_get.call(url=\"http://169.254.169.254/\")",
            "```TOOL_CODE\nhttp_get(url='http://169.254.169.254/')\n```",
        ] {
            let input = format!("{call}\n{other}");
            assert_eq!(code(&input), ReasonCode::AmbiguousToolCall, "{input:?}");
        }
        // Braces that no reader takes for an object key stay prose.
        let fine = format!(
            "Use {{name}}, {{0}}, {{}}, {{:?}}; fn f() {{ run(); }} {{ x }}\n```json\n{call}\n```"
        );
        assert_eq!(extract(&fine).unwrap().len(), 1);
    }

    /// Prose that writes a tool name the way a call does, which a JSON repairer turns into one
    /// more call whatever the braces around it look like; a name in plain prose stays prose.
    #[test]
    fn prose_writing_a_tool_name_like_a_call_is_refused() {
        let names = ["read_file".to_owned(), "write_file".to_owned()];
        let call = r#"<tool_call>{"tool":"read_file","path":"/workspace/README.md"}</tool_call>"#;
        let named =
            |input: &str| extract_calls_named(input.as_bytes(), &ParseLimits::default(), &names);
        for hidden in [
            r#"{> "tool": "write_file", "path": "/workspace/.git/hooks/pre-commit"}"#,
            "{a\u{301}: 0, tool: 'write_file', path: '/workspace/x'}",
            "{metadata_for_the_audit_log_of_this_call_in_this_task: 0, tool: 'read_file'}",
            "{-1: 0, 'tool': 'read_file', 'path': '/etc/shadow'}",
            r#"{tool "read_file", path "/etc/shadow"}"#,
            r#""tool": "read_file", "path": "/etc/shadow"}"#,
            "{&quot;tool&quot;: &quot;read_file&quot;, &quot;path&quot;: &quot;/etc/shadow&quot;}",
            "{tool=READ_FILE path=/etc/shadow}",
            "{> tool: read_file, path: /etc/shadow}",
            "{x: 1, \"name\" : write_file}",
            "then read_file(path='/etc/shadow')",
            "{\u{201c}tool\u{201d}: \u{201c}write_file\u{201d}}",
            "{\u{ab}tool\u{bb}: \u{ab}write_file\u{bb}}",
            r#"{> "tool": "\u0072ead_file", "path": "/etc/shadow"}"#,
            r#"{> "tool": "read&#95;file", "path": "/etc/shadow"}"#,
            r"{> 'tool': 're\x61d_file'}",
            "{-1: 0, 'tool': 'read' '_file', 'path': '/etc/shadow'}",
            "{.5: 0, 'tool': 'read' '_file'}",
        ] {
            let input = format!("Reading now.\n{call}\n<tool_call>{hidden}</tool_call>");
            assert!(named(&input).is_err(), "{input:?}");
        }
        for fine in [
            "I'll use read_file to look at the README, then write_file if it needs a fix.",
            "Calling the `read_file` tool now.",
            "Tools: read_file, write_file.",
            "Next step: read_file, as planned.",
            "read_file: reads a file; write_file = writes one.",
            "The read_files and pre_read_file_hook helpers are unrelated.",
        ] {
            let input = format!("{fine}\n{call}");
            assert_eq!(named(&input).unwrap().len(), 1, "{input:?}");
        }
        // The call's own name is inside the JSON, not in the prose around it.
        assert_eq!(named(call).unwrap().len(), 1);
    }

    /// The same call written again counts once for ambiguity, but every copy counts against
    /// the limit on calls: a reader that runs each copy runs it that often.
    #[test]
    fn repeated_calls_count_against_the_limit() {
        let call = r#"{"tool":"write_file","path":"/workspace/n.txt","content":"x"}"#;
        let limit = ParseLimits::default().max_calls;
        let copies = |n: usize| vec![format!("```json\n{call}\n```"); n].join("\n");
        assert_eq!(extract(&copies(2)).unwrap().len(), 1);
        assert_eq!(extract(&copies(limit)).unwrap().len(), 1);
        assert_eq!(code(&copies(limit + 1)), ReasonCode::TooManyCalls);
        assert_eq!(code(&copies(2_000)), ReasonCode::TooManyCalls);
    }

    #[test]
    fn limits() {
        let call = r#"{"tool":"f","args":{}}"#;
        let limits = ParseLimits {
            max_calls: 2,
            ..ParseLimits::default()
        };
        assert_eq!(
            extract_calls(format!("[{call},{call}]").as_bytes(), &limits)
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            extract_calls(format!("[{call},{call},{call}]").as_bytes(), &limits),
            Err(ParseError::TooManyCalls { limit: 2 })
        );
        let small = ParseLimits {
            json: JsonLimits {
                max_bytes: 10,
                max_depth: 32,
            },
            max_calls: 16,
        };
        assert_eq!(
            extract_calls(call.as_bytes(), &small).unwrap_err().code(),
            ReasonCode::InputTooLarge
        );
        let shallow = ParseLimits {
            json: JsonLimits {
                max_bytes: 1024,
                max_depth: 2,
            },
            max_calls: 16,
        };
        assert!(extract_calls(call.as_bytes(), &shallow).is_ok());
        let deep = r#"{"tool":"f","args":{"a":[]}}"#;
        assert_eq!(
            extract_calls(deep.as_bytes(), &shallow).unwrap_err().code(),
            ReasonCode::DepthExceeded
        );
        assert_eq!(code(&"[".repeat(1 << 20)), ReasonCode::DepthExceeded);
        assert!(ParseLimits::default().issues("parse").is_empty());
        let issues = ParseLimits {
            json: JsonLimits {
                max_bytes: 0,
                max_depth: 1,
            },
            max_calls: 0,
        }
        .issues("parse");
        let keys: Vec<_> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["parse.json.max_bytes", "parse.max_calls"]);
    }

    #[test]
    fn invalid_utf8() {
        let err = extract_calls(b"{\"tool\":\"f\xff\"}", &ParseLimits::default()).unwrap_err();
        assert_eq!(err, ParseError::InvalidUtf8 { offset: 10 });
        assert_eq!(err.code(), ReasonCode::InvalidUtf8);
        assert_eq!(err.offset(), Some(10));
    }

    #[test]
    fn limits_deserialize_strictly() {
        let limits: ParseLimits = serde_json::from_str(r#"{"max_calls":4}"#).unwrap();
        assert_eq!(limits.max_calls, 4);
        assert_eq!(limits.json, JsonLimits::default());
        assert!(serde_json::from_str::<ParseLimits>(r#"{"max_call":4}"#).is_err());
    }

    // ---- corpus ----

    const CORPUS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpora/actions");

    struct Row {
        id: String,
        category: String,
        expect: String,
        bytes: Vec<u8>,
    }

    fn load(file: &str) -> Vec<Row> {
        let path = format!("{CORPUS_DIR}/{file}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let row: Value = serde_json::from_str(line).unwrap();
                let bytes = match row["input"].as_str() {
                    Some(s) => s.as_bytes().to_vec(),
                    None => base64::engine::general_purpose::STANDARD
                        .decode(row["input_b64"].as_str().unwrap())
                        .unwrap(),
                };
                Row {
                    id: row["id"].as_str().unwrap().to_owned(),
                    category: row["category"].as_str().unwrap().to_owned(),
                    expect: row["expect"].as_str().unwrap().to_owned(),
                    bytes,
                }
            })
            .collect()
    }

    /// What this stage must do with each `deny` row of `json_parsing_formats.jsonl`:
    /// `Some(code)` it refuses it itself, `None` it parses it and a later stage refuses it.
    fn expected_here(id: &str) -> Option<ReasonCode> {
        use ReasonCode::*;
        Some(match id {
            "json-011" | "json-012" | "json-013" | "json-014" | "json-015" | "json-016"
            | "json-017" | "json-018" | "json-019" | "json-115" | "json-139" => DuplicateKey,
            // The duplicate `path` comes before the `*/` that makes it invalid.
            "json-027" => DuplicateKey,
            // UTF-16LE of ASCII is valid UTF-8 (ASCII and NUL bytes); the NULs are not JSON.
            "json-051" => JsonSyntax,
            "json-020" | "json-053" | "json-054" | "json-055" => LoneSurrogate,
            "json-022" | "json-025" | "json-026" | "json-028" | "json-029" | "json-030"
            | "json-031" | "json-033" | "json-040" | "json-041" | "json-117" => JsonSyntax,
            "json-034" | "json-035" | "json-036" | "json-037" | "json-038" | "json-039" => {
                InvalidNumber
            }
            "json-045" | "json-077" | "json-078" | "json-131" => NoToolCall,
            "json-046" | "json-069" | "json-070" | "json-071" | "json-074" | "json-076"
            | "json-084" | "json-090" | "json-116" | "json-121" | "json-130" | "json-137"
            | "json-138" => InvalidEnvelope,
            "json-047" | "json-048" | "json-049" | "json-050" | "json-052" => InvalidUtf8,
            "json-056" | "json-057" | "json-058" => DepthExceeded,
            "json-104" => AmbiguousToolCall,
            "json-114" => TrailingData,
            _ => return None,
        })
    }

    #[test]
    fn corpus_json_parsing_formats() {
        let rows = load("json_parsing_formats.jsonl");
        assert_eq!(rows.len(), 113);
        let mut failures = Vec::new();
        let mut later = Vec::new();
        println!("{:<9} {:<36} {:<24} here", "id", "category", "parser");
        for row in &rows {
            let got = extract_calls(&row.bytes, &ParseLimits::default());
            let shown = match &got {
                Ok(calls) => format!("ok ({} call(s))", calls.len()),
                Err(e) => e.code().as_str().to_owned(),
            };
            if row.expect == "allow" {
                if got.is_err() {
                    failures.push(format!("{} allow row refused: {shown}", row.id));
                }
                continue;
            }
            let want = expected_here(&row.id);
            let verdict = match (&got, want) {
                (Err(e), Some(code)) if e.code() == code => "refused",
                (Ok(_), None) => {
                    later.push(row.id.as_str());
                    "later stage"
                }
                _ => {
                    failures.push(format!("{}: want {:?}, got {shown}", row.id, want));
                    "MISMATCH"
                }
            };
            println!("{:<9} {:<36} {:<24} {verdict}", row.id, row.category, shown);
        }
        println!("left to later stages: {}", later.join(" "));
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn corpus_allow_rows_parse_everywhere() {
        let mut failures = Vec::new();
        let mut checked = 0;
        for file in [
            "json_parsing_formats.jsonl",
            "path_traversal.jsonl",
            "sql_readonly.jsonl",
            "ssrf_url_allowlist.jsonl",
            "unicode_smuggling.jsonl",
        ] {
            for row in load(file) {
                let got = extract_calls(&row.bytes, &ParseLimits::default());
                if let Err(e) = &got {
                    let line = format!("{file} {} ({}, {}): {e}", row.id, row.category, row.expect);
                    if row.expect == "allow" {
                        failures.push(line);
                    } else {
                        println!("refused here: {line}");
                    }
                }
                if row.expect == "allow" {
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "only {checked} allow rows");
        assert!(failures.is_empty(), "{failures:#?}");
    }

    // ---- robustness ----

    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    #[test]
    fn never_panics_on_truncations_and_mutations() {
        let rows = load("json_parsing_formats.jsonl");
        let small = ParseLimits {
            json: JsonLimits {
                max_bytes: 4096,
                max_depth: 8,
            },
            max_calls: 4,
        };
        let mut rng = Lcg(0x5eed);
        let interesting = b"{}[]\",:\\u0123456789eE+-.tfn /*\x00\xff\xc3\xa9\xed\xa0\x80";
        for row in rows.iter().filter(|r| r.bytes.len() < 2000) {
            for end in 0..=row.bytes.len() {
                let prefix = &row.bytes[..end];
                let _ = extract_calls(prefix, &small);
                if let Ok(text) = std::str::from_utf8(prefix) {
                    let _ = json::parse_strict(text, &small.json);
                }
            }
            for _ in 0..200 {
                let mut bytes = row.bytes.clone();
                for _ in 0..1 + rng.next() % 4 {
                    let i = (rng.next() as usize) % bytes.len().max(1);
                    let b = interesting[(rng.next() as usize) % interesting.len()];
                    match rng.next() % 3 {
                        0 if i < bytes.len() => bytes[i] = b,
                        1 => bytes.insert(i.min(bytes.len()), b),
                        _ if i < bytes.len() => {
                            bytes.remove(i);
                        }
                        _ => {}
                    }
                }
                let _ = extract_calls(&bytes, &small);
                let _ = extract_calls(&bytes, &ParseLimits::default());
            }
        }
    }
}
