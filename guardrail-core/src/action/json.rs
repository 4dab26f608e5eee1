//! A strict JSON parser for untrusted model output.
//!
//! [`parse_strict`] accepts exactly RFC 8259 JSON and refuses everything that common parsers
//! disagree on, so that what the guard validates is what the executor will see:
//!
//! - a key repeated in one object, at any depth, compared after unescaping (`"a"` and
//!   `"\u0061"` are the same key);
//! - `\u` escapes that leave a UTF-16 surrogate unpaired;
//! - `NaN`, `Infinity`, numbers that overflow a double (`1e400`), and integer literals (no
//!   fraction, no exponent) outside the `i64`/`u64` range: decoders turn those into a rounded
//!   float, a saturated or wrapped integer, or an error, so their value is not well defined;
//! - comments, trailing commas, unquoted keys, single quotes, raw control characters in
//!   strings, a byte order mark, whitespace other than space, tab, line feed and carriage
//!   return;
//! - anything but whitespace after the document.
//!
//! [`parse_document`] applies the same rules and hands a top-level object back as its members;
//! [`parse_prefix`] applies them to one value inside a longer text.
//!
//! # Untrusted input
//!
//! Every input is bounded by [`JsonLimits`]: the text length is checked before any work, and
//! nesting deeper than `max_depth` is an error. The parser keeps its nesting on an explicit
//! heap stack, never on the call stack, so no input (a megabyte of `[`) can overflow the
//! stack. The depth limit is nevertheless capped at [`MAX_DEPTH`]: dropping, comparing or
//! serializing a [`Value`] recurses once per level. Errors carry byte offsets, never the text
//! around them.

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use crate::action::shallow::{MemberList, Shallow, ShallowMembers};
use crate::policy::PolicyIssue;
use crate::verdict::{Coded, MessageWriter, ReasonCode, error_via_message};

/// The deepest nesting [`parse_strict`] ever accepts, whatever [`JsonLimits::max_depth`] says:
/// [`Value`]'s own `Drop`, `PartialEq` and `Serialize` recurse once per level.
pub const MAX_DEPTH: usize = 512;

/// Size and nesting limits for one JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JsonLimits {
    /// Longest accepted text, in bytes. Default: 1 MiB.
    pub max_bytes: usize,
    /// Deepest accepted nesting of arrays and objects; a top-level `{}` has depth 1.
    /// Values above [`MAX_DEPTH`] act as [`MAX_DEPTH`]. Default: 32.
    pub max_depth: usize,
}

impl Default for JsonLimits {
    /// 1 MiB and a nesting depth of 32.
    fn default() -> Self {
        JsonLimits {
            max_bytes: 1 << 20,
            max_depth: 32,
        }
    }
}

impl JsonLimits {
    /// Reports every limit that would refuse all input; `key` is the dotted policy key of
    /// this table.
    pub fn issues(&self, key: &str) -> Vec<PolicyIssue> {
        let mut issues = Vec::new();
        if self.max_bytes == 0 {
            issues.push(PolicyIssue::new(
                format!("{key}.max_bytes"),
                "must be at least 1",
            ));
        }
        if self.max_depth == 0 || self.max_depth > MAX_DEPTH {
            issues.push(PolicyIssue::new(
                format!("{key}.max_depth"),
                format!("must be between 1 and {MAX_DEPTH}"),
            ));
        }
        issues
    }
}

/// Why a text is not acceptable JSON. Offsets are byte offsets into the parsed text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonError {
    /// The text is longer than [`JsonLimits::max_bytes`].
    InputTooLarge {
        /// Length of the text.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Not JSON: comments, trailing commas, unquoted keys, bad escapes, control characters...
    Syntax {
        /// Where the problem starts.
        offset: usize,
        /// What is wrong, in a few words.
        problem: &'static str,
    },
    /// An object repeats a key.
    DuplicateKey {
        /// Where the second occurrence of the key starts.
        offset: usize,
        /// The unescaped key, cut to at most 64 bytes.
        key: String,
    },
    /// Arrays and objects nest deeper than [`JsonLimits::max_depth`].
    DepthExceeded {
        /// Where the first container over the limit opens.
        offset: usize,
        /// The limit.
        limit: usize,
    },
    /// A `\u` escape encodes half of a UTF-16 surrogate pair without the other half.
    LoneSurrogate {
        /// Where the escape starts.
        offset: usize,
    },
    /// `NaN`, `Infinity`, or a number without a well-defined value.
    InvalidNumber {
        /// Where the number starts.
        offset: usize,
        /// What is wrong, in a few words.
        problem: &'static str,
    },
    /// Something other than whitespace follows the document.
    TrailingData {
        /// Where the extra data starts.
        offset: usize,
    },
}

impl JsonError {
    /// The byte offset the error points at, if it points anywhere.
    pub fn offset(&self) -> Option<usize> {
        match self {
            JsonError::InputTooLarge { .. } => None,
            JsonError::Syntax { offset, .. }
            | JsonError::DuplicateKey { offset, .. }
            | JsonError::DepthExceeded { offset, .. }
            | JsonError::LoneSurrogate { offset }
            | JsonError::InvalidNumber { offset, .. }
            | JsonError::TrailingData { offset } => Some(*offset),
        }
    }
}

impl JsonError {
    /// Writes the message: what `Display` shows and a reason carries.
    pub(crate) fn write_message(&self, w: &mut MessageWriter<'_>) {
        match self {
            JsonError::InputTooLarge { len, limit } => w
                .text("input is ")
                .decimal(*len)
                .text(" bytes, over the limit of ")
                .decimal(*limit),
            JsonError::Syntax { offset, problem } => w
                .text("invalid json at byte ")
                .decimal(*offset)
                .text(": ")
                .text(problem),
            JsonError::DuplicateKey { offset, key } => w
                .text("duplicate key `")
                .escaped(key)
                .text("` at byte ")
                .decimal(*offset),
            JsonError::DepthExceeded { offset, limit } => w
                .text("nesting deeper than ")
                .decimal(*limit)
                .text(" at byte ")
                .decimal(*offset),
            JsonError::LoneSurrogate { offset } => w
                .text("unpaired utf-16 surrogate escape at byte ")
                .decimal(*offset),
            JsonError::InvalidNumber { offset, problem } => w
                .text("invalid number at byte ")
                .decimal(*offset)
                .text(": ")
                .text(problem),
            JsonError::TrailingData { offset } => w
                .text("unexpected data after the json document at byte ")
                .decimal(*offset),
        };
    }
}

error_via_message!(JsonError);

impl Coded for JsonError {
    fn code(&self) -> ReasonCode {
        match self {
            JsonError::InputTooLarge { .. } => ReasonCode::InputTooLarge,
            JsonError::Syntax { .. } => ReasonCode::JsonSyntax,
            JsonError::DuplicateKey { .. } => ReasonCode::DuplicateKey,
            JsonError::DepthExceeded { .. } => ReasonCode::DepthExceeded,
            JsonError::LoneSurrogate { .. } => ReasonCode::LoneSurrogate,
            JsonError::InvalidNumber { .. } => ReasonCode::InvalidNumber,
            JsonError::TrailingData { .. } => ReasonCode::TrailingData,
        }
    }

    fn write_message_to(&self, out: &mut String) {
        self.write_message(&mut MessageWriter(out));
    }
}

/// Parses `text` as exactly one strict JSON document (see the [module docs](self)).
///
/// # Errors
///
/// A [`JsonError`] for the first problem found, with its byte offset in `text`.
pub fn parse_strict(text: &str, limits: &JsonLimits) -> Result<Value, JsonError> {
    check_size(text, limits)?;
    let mut parser = Parser::new(text, 0, limits.max_depth);
    parser.skip_ws();
    let value = parser.parse_value(0)?;
    parser.skip_ws();
    if parser.pos < text.len() {
        return Err(parser.trailing());
    }
    Ok(value)
}

/// A strict JSON document whose top level, when it is an object, is kept as its members.
///
/// This spares callers that take the top-level object apart (envelope extraction) from building
/// and tearing down a map and allocating its keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Document<'a> {
    /// A top-level object: its members in document order. Keys are unique.
    Object(Vec<Member<'a>>),
    /// Any other top-level value.
    Other(Value),
}

/// One member of a top-level object.
#[derive(Debug, Clone, PartialEq)]
pub struct Member<'a> {
    /// The unescaped key, borrowed from the text when it holds no escape.
    pub key: Cow<'a, str>,
    /// The value.
    pub value: Value,
}

/// Parses `text` exactly like [`parse_strict`] (same checks, same errors), returning a
/// top-level object as a list of members.
///
/// # Errors
///
/// A [`JsonError`] for the first problem found, with its byte offset in `text`.
pub fn parse_document<'a>(text: &'a str, limits: &JsonLimits) -> Result<Document<'a>, JsonError> {
    check_size(text, limits)?;
    let mut parser = Parser::new(text, 0, limits.max_depth);
    parser.skip_ws();
    let document = if parser.peek() == Some(b'{') {
        Document::Object(parser.parse_members()?)
    } else {
        Document::Other(parser.parse_value(0)?)
    };
    parser.skip_ws();
    if parser.pos < text.len() {
        return Err(parser.trailing());
    }
    Ok(document)
}

/// Reads `text` when it is a shallow document (see [`shallow`](super::shallow)): a top-level
/// object of at most 16 members whose values are scalars or objects of at most 16 scalars,
/// within the same size and depth limits.
/// `None` for any other text, well-formed or not: [`parse_document`] then decides, and
/// reports any problem. When this returns `Some`, `members` holds what [`parse_document`]
/// returns: the same members with the same values.
///
/// The members are appended to `members` (some may be when this returns `None`), which the
/// caller keeps on its stack: a call's few members are then never moved.
pub fn parse_shallow<'a>(
    text: &'a str,
    limits: &JsonLimits,
    members: &mut ShallowMembers<'a>,
) -> Option<()> {
    check_size(text, limits).ok()?;
    let mut parser = Parser::new(text, 0, limits.max_depth);
    parser.skip_ws();
    if parser.peek() != Some(b'{') {
        return None;
    }
    parser.shallow_object(true, members)?;
    parser.skip_ws();
    (parser.pos == text.len()).then_some(())
}

/// Parses one strict JSON value that starts at byte `start` of `text` (after optional JSON
/// whitespace) and returns it with the offset one past its last byte. Whatever follows the
/// value is left alone, which is how a document is picked out of surrounding prose. Offsets in
/// errors are offsets into the whole `text`, and the size limit applies to the whole `text`.
///
/// # Errors
///
/// A [`JsonError`] for the first problem found in the value.
pub fn parse_prefix(
    text: &str,
    start: usize,
    limits: &JsonLimits,
) -> Result<(Value, usize), JsonError> {
    check_size(text, limits)?;
    let mut parser = Parser::new(text, start, limits.max_depth);
    parser.skip_ws();
    let value = parser.parse_value(0)?;
    Ok((value, parser.pos))
}

fn check_size(text: &str, limits: &JsonLimits) -> Result<(), JsonError> {
    if text.len() > limits.max_bytes {
        return Err(JsonError::InputTooLarge {
            len: text.len(),
            limit: limits.max_bytes,
        });
    }
    Ok(())
}

/// Is `b` one of the four whitespace bytes JSON allows?
pub(crate) fn is_json_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Describes a character that appears where JSON expects a token, for error messages.
pub(crate) fn stray_char_problem(c: char) -> Option<&'static str> {
    match c {
        '\u{feff}' => Some("byte order mark is not allowed"),
        '\'' => Some("single quotes are not json"),
        '/' => Some("comments are not json"),
        c if c.is_whitespace() => {
            Some("only space, tab, line feed and carriage return are json whitespace")
        }
        c if c.is_control() => Some("control character outside a string"),
        _ => None,
    }
}

/// A container being filled while its contents are parsed.
enum Frame {
    Array(Vec<Value>),
    /// The object so far and the key whose value is being parsed.
    Object(Map<String, Value>, String),
}

/// How many open containers live inline before the stack spills to the heap.
const INLINE_FRAMES: usize = 4;

/// The open containers, innermost last. The first few are kept inline, so the common shallow
/// document costs the parser no allocation of its own.
struct Stack {
    inline: [Frame; INLINE_FRAMES],
    spill: Vec<Frame>,
    len: usize,
}

impl Stack {
    fn new() -> Self {
        Stack {
            inline: std::array::from_fn(|_| Frame::Array(Vec::new())),
            spill: Vec::new(),
            len: 0,
        }
    }

    fn push(&mut self, frame: Frame) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = frame,
            None => self.spill.push(frame),
        }
        self.len += 1;
    }

    fn last_mut(&mut self) -> Option<&mut Frame> {
        let top = self.len.checked_sub(1)?;
        if top < INLINE_FRAMES {
            self.inline.get_mut(top)
        } else {
            self.spill.last_mut()
        }
    }

    fn pop(&mut self) -> Option<Frame> {
        let top = self.len.checked_sub(1)?;
        self.len = top;
        if top < INLINE_FRAMES {
            self.inline
                .get_mut(top)
                .map(|slot| std::mem::replace(slot, Frame::Array(Vec::new())))
        } else {
            self.spill.pop()
        }
    }
}

/// Offset of the first byte at or after `i` that ends a plain string run: `"`, `\` or a
/// control character (or `bytes.len()`). Eight bytes at a time while none of them does.
fn plain_run_end(bytes: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = bytes
        .get(i..i + 8)
        .and_then(|c| <[u8; 8]>::try_from(c).ok())
    {
        let word = u64::from_le_bytes(chunk);
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        // A high bit survives where a byte is zero (or below 0x20). Borrows only ever add
        // false hits above a true one, so the lowest hit (the first byte, little-endian) is
        // a true one.
        let hits = ((quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word))
            & HIGH;
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            break;
        }
        i += 1;
    }
    i
}

/// What to do once a frame has taken a finished value.
enum Next {
    /// Parse another value (array element or object value).
    Value,
    /// The innermost container is complete.
    Close,
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    max_depth: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, pos: usize, max_depth: usize) -> Self {
        Parser {
            text,
            bytes: text.as_bytes(),
            pos,
            max_depth: max_depth.min(MAX_DEPTH),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            if !is_json_ws(b) {
                break;
            }
            self.pos += 1;
        }
    }

    fn syntax(&self, offset: usize, problem: &'static str) -> JsonError {
        JsonError::Syntax { offset, problem }
    }

    /// The error for an unexpected byte (or the end) at the current position.
    fn unexpected(&self, expected: &'static str) -> JsonError {
        let rest = self.text.get(self.pos..).unwrap_or("");
        let Some(c) = rest.chars().next() else {
            return self.syntax(self.pos, "unexpected end of input");
        };
        if c == '/' && !(rest.starts_with("//") || rest.starts_with("/*")) {
            return self.syntax(self.pos, expected);
        }
        if rest.starts_with("NaN") || rest.starts_with("Infinity") {
            return JsonError::InvalidNumber {
                offset: self.pos,
                problem: "nan and infinity are not json",
            };
        }
        self.syntax(self.pos, stray_char_problem(c).unwrap_or(expected))
    }

    fn trailing(&self) -> JsonError {
        let rest = self.text.get(self.pos..).unwrap_or("");
        if rest.starts_with("//") || rest.starts_with("/*") {
            return self.syntax(self.pos, "comments are not json");
        }
        match rest.chars().next() {
            Some(c) if c == '\u{feff}' || c.is_whitespace() || c.is_control() => self.syntax(
                self.pos,
                stray_char_problem(c).unwrap_or("unexpected character"),
            ),
            _ => JsonError::TrailingData { offset: self.pos },
        }
    }

    fn open(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth >= self.max_depth {
            return Err(JsonError::DepthExceeded {
                offset: self.pos,
                limit: self.max_depth,
            });
        }
        self.pos += 1;
        self.skip_ws();
        Ok(())
    }

    /// Parses one value inside `outer` open containers; nesting lives in a [`Stack`], not in
    /// recursion.
    fn parse_value(&mut self, outer: usize) -> Result<Value, JsonError> {
        match self.peek() {
            Some(b'{') => {}
            Some(b'[') => return self.parse_nested(outer, Stack::new()),
            _ => return self.parse_scalar(),
        }
        // An object whose values are all scalars (most argument objects) needs no stack: its
        // members are taken in a plain loop until a nested container shows up, which then
        // continues on a stack that starts with the object so far.
        self.open(outer)?;
        let mut map = Map::new();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(map));
        }
        loop {
            let key = self.parse_key(&map)?;
            if matches!(self.peek(), Some(b'{' | b'[')) {
                let mut stack = Stack::new();
                stack.push(Frame::Object(map, key));
                return self.parse_nested(outer, stack);
            }
            let value = self.parse_scalar()?;
            map.insert(key, value);
            if let Next::Close = self.after_element(b'}')? {
                return Ok(Value::Object(map));
            }
        }
    }

    /// The general case of [`Parser::parse_value`]: the container that opens at the current
    /// position, inside the containers already on `stack` (which sit inside `outer` more).
    fn parse_nested(&mut self, outer: usize, mut stack: Stack) -> Result<Value, JsonError> {
        loop {
            let mut value = match self.peek() {
                Some(b'{') => {
                    self.open(outer + stack.len)?;
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        Value::Object(Map::new())
                    } else {
                        let map = Map::new();
                        let key = self.parse_key(&map)?;
                        stack.push(Frame::Object(map, key));
                        continue;
                    }
                }
                Some(b'[') => {
                    self.open(outer + stack.len)?;
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        Value::Array(Vec::new())
                    } else {
                        stack.push(Frame::Array(Vec::new()));
                        continue;
                    }
                }
                _ => self.parse_scalar()?,
            };
            // Hand the finished value to its container, closing containers as they end.
            loop {
                let next = match stack.last_mut() {
                    None => return Ok(value),
                    Some(Frame::Array(items)) => {
                        items.push(value);
                        self.after_element(b']')?
                    }
                    Some(Frame::Object(map, key)) => {
                        map.insert(std::mem::take(key), value);
                        let next = self.after_element(b'}')?;
                        if let Next::Value = next {
                            *key = self.parse_key(map)?;
                        }
                        next
                    }
                };
                match next {
                    Next::Value => break,
                    Next::Close => {
                        value = match stack.pop() {
                            Some(Frame::Array(items)) => Value::Array(items),
                            Some(Frame::Object(map, _)) => Value::Object(map),
                            None => return Err(self.syntax(self.pos, "internal parser state")),
                        };
                    }
                }
            }
        }
    }

    /// Parses a string, number or literal.
    fn parse_scalar(&mut self) -> Result<Value, JsonError> {
        match self.peek() {
            Some(b'"') => Ok(Value::String(self.parse_string()?)),
            Some(b'-' | b'0'..=b'9') => Ok(Value::Number(self.parse_number()?)),
            Some(b't') => self.parse_literal("true", Value::Bool(true)),
            Some(b'f') => self.parse_literal("false", Value::Bool(false)),
            Some(b'n') => self.parse_literal("null", Value::Null),
            _ => Err(self.unexpected("expected a value")),
        }
    }

    /// After an element: `,` then more, or the closing bracket.
    fn after_element(&mut self, close: u8) -> Result<Next, JsonError> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                let comma = self.pos;
                self.pos += 1;
                self.skip_ws();
                if self.peek() == Some(close) {
                    return Err(self.syntax(comma, "trailing comma"));
                }
                Ok(Next::Value)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(Next::Close)
            }
            _ => Err(self.unexpected(if close == b']' {
                "expected `,` or `]`"
            } else {
                "expected `,` or `}`"
            })),
        }
    }

    /// Parses `"key"` `:` and leaves the position at the value.
    fn parse_key(&mut self, map: &Map<String, Value>) -> Result<String, JsonError> {
        let start = self.pos;
        let key = self.key_string()?;
        if map.contains_key(key.as_ref()) {
            return Err(duplicate(start, &key));
        }
        self.colon()?;
        Ok(key.into_owned())
    }

    /// Parses the members of the object that opens at the current position.
    fn parse_members(&mut self) -> Result<Vec<Member<'a>>, JsonError> {
        /// Past this many members, duplicates are looked up in an index, not by a scan.
        const SCAN: usize = 16;
        self.open(0)?;
        let mut members: Vec<Member<'a>> = Vec::with_capacity(4);
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(members);
        }
        let mut index: BTreeSet<String> = BTreeSet::new();
        loop {
            let start = self.pos;
            let key = self.key_string()?;
            let seen = if members.len() < SCAN {
                members.iter().any(|m| m.key == key)
            } else {
                if index.is_empty() {
                    index.extend(members.iter().map(|m| m.key.clone().into_owned()));
                }
                !index.insert(key.clone().into_owned())
            };
            if seen {
                return Err(duplicate(start, &key));
            }
            self.colon()?;
            let value = self.parse_value(1)?;
            members.push(Member { key, value });
            if let Next::Close = self.after_element(b'}')? {
                return Ok(members);
            }
        }
    }

    /// The object that opens at the current position, as shallow members; objects of scalars
    /// are taken as values only when `top`. `None` on anything else and on every error.
    fn shallow_object(&mut self, top: bool, members: &mut impl MemberList<'a>) -> Option<()> {
        const MOST: usize = 16;
        // The same depth limit as the general parser: the top level at 0, arguments at 1.
        self.open(usize::from(!top)).ok()?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Some(());
        }
        loop {
            if members.len() >= MOST || self.peek() != Some(b'"') {
                return None;
            }
            let key = self.parse_str().ok()?;
            if members.iter().any(|(k, _)| *k == key) {
                return None;
            }
            self.colon().ok()?;
            let value = match self.peek()? {
                b'{' if top => {
                    let mut inner = Vec::with_capacity(2);
                    self.shallow_object(false, &mut inner)?;
                    Shallow::Object(inner)
                }
                b'"' => Shallow::String(self.parse_str().ok()?),
                b'-' | b'0'..=b'9' => Shallow::Number(self.parse_number().ok()?),
                b't' => self.parse_literal("true", Shallow::Bool(true)).ok()?,
                b'f' => self.parse_literal("false", Shallow::Bool(false)).ok()?,
                b'n' => self.parse_literal("null", Shallow::Null).ok()?,
                _ => return None,
            };
            members.push_member((key, value));
            if let Next::Close = self.after_element(b'}').ok()? {
                return Some(());
            }
        }
    }

    /// Parses a key string at the current position.
    fn key_string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        match self.peek() {
            Some(b'"') => self.parse_str(),
            Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b'$' => {
                Err(self.syntax(self.pos, "object keys must be quoted strings"))
            }
            _ => Err(self.unexpected("expected a string key")),
        }
    }

    fn colon(&mut self) -> Result<(), JsonError> {
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(self.unexpected("expected `:`"));
        }
        self.pos += 1;
        self.skip_ws();
        Ok(())
    }

    fn parse_literal<T>(&mut self, word: &'static str, value: T) -> Result<T, JsonError> {
        let end = self.pos + word.len();
        if self.bytes.get(self.pos..end) == Some(word.as_bytes()) {
            self.pos = end;
            Ok(value)
        } else {
            Err(self.syntax(self.pos, "expected a value"))
        }
    }

    /// Parses a string starting at the opening quote.
    fn parse_string(&mut self) -> Result<String, JsonError> {
        self.parse_str().map(Cow::into_owned)
    }

    /// Parses a string starting at the opening quote, borrowing it when it holds no escape.
    fn parse_str(&mut self) -> Result<Cow<'a, str>, JsonError> {
        let open = self.pos;
        let start = open + 1;
        let mut i = plain_run_end(self.bytes, start);
        // Fast path: no escapes.
        match self.bytes.get(i) {
            Some(b'"') => {
                let s = self.slice(start, i)?;
                self.pos = i + 1;
                return Ok(Cow::Borrowed(s));
            }
            Some(b'\\') => {}
            Some(_) => return Err(self.syntax(i, "control character in a string")),
            None => return Err(self.syntax(open, "unterminated string")),
        }
        // An escape shortens the text it stands for, so the rest of the input (up to a bound)
        // holds the whole string with one allocation.
        let mut out =
            String::with_capacity((self.bytes.len() - start).min(256).max(i - start + 16));
        out.push_str(self.slice(start, i)?);
        let mut run = i;
        loop {
            match self.bytes.get(i) {
                Some(b'"') => {
                    out.push_str(self.slice(run, i)?);
                    self.pos = i + 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    out.push_str(self.slice(run, i)?);
                    i = self.parse_escape(i, &mut out)?;
                    run = i;
                }
                Some(&b) if b < 0x20 => {
                    return Err(self.syntax(i, "control character in a string"));
                }
                Some(_) => i = plain_run_end(self.bytes, i),
                None => return Err(self.syntax(open, "unterminated string")),
            }
        }
    }

    /// Decodes the escape at `at` (the backslash) into `out`; returns the offset after it.
    fn parse_escape(&self, at: usize, out: &mut String) -> Result<usize, JsonError> {
        let c = match self.bytes.get(at + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let unit = self.hex4(at + 2)?;
                return match unit {
                    0xD800..=0xDBFF => {
                        let low = if self.bytes.get(at + 6..at + 8) == Some(b"\\u") {
                            self.hex4(at + 8)?
                        } else {
                            0
                        };
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(JsonError::LoneSurrogate { offset: at });
                        }
                        let cp = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                        let c =
                            char::from_u32(cp).ok_or(JsonError::LoneSurrogate { offset: at })?;
                        out.push(c);
                        Ok(at + 12)
                    }
                    0xDC00..=0xDFFF => Err(JsonError::LoneSurrogate { offset: at }),
                    _ => {
                        let c =
                            char::from_u32(unit).ok_or(JsonError::LoneSurrogate { offset: at })?;
                        out.push(c);
                        Ok(at + 6)
                    }
                };
            }
            Some(_) => return Err(self.syntax(at, "invalid escape")),
            None => return Err(self.syntax(at, "unterminated string")),
        };
        out.push(c);
        Ok(at + 2)
    }

    fn hex4(&self, at: usize) -> Result<u32, JsonError> {
        let digits = self
            .bytes
            .get(at..at + 4)
            .ok_or_else(|| self.syntax(at.saturating_sub(2), "invalid `\\u` escape"))?;
        let mut unit = 0u32;
        for &d in digits {
            let v = char::from(d)
                .to_digit(16)
                .ok_or_else(|| self.syntax(at.saturating_sub(2), "invalid `\\u` escape"))?;
            unit = unit * 16 + v;
        }
        Ok(unit)
    }

    fn slice(&self, start: usize, end: usize) -> Result<&'a str, JsonError> {
        self.text.get(start..end).ok_or(JsonError::Syntax {
            offset: start,
            problem: "invalid utf-8 boundary",
        })
    }

    fn digits(&mut self) -> usize {
        let from = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - from
    }

    fn parse_number(&mut self) -> Result<Number, JsonError> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    return Err(self.syntax(start, "leading zeros are not json"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.unexpected("expected a digit")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            integer = false;
            if self.digits() == 0 {
                return Err(self.unexpected("expected a digit after `.`"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            integer = false;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.unexpected("expected a digit in the exponent"));
            }
        }
        let literal = self.slice(start, self.pos)?;
        let out_of_range = |problem| JsonError::InvalidNumber {
            offset: start,
            problem,
        };
        if integer {
            if negative {
                literal
                    .parse::<i64>()
                    .map(Number::from)
                    .map_err(|_| out_of_range("integer below the i64 range"))
            } else {
                literal
                    .parse::<u64>()
                    .map(Number::from)
                    .map_err(|_| out_of_range("integer above the u64 range"))
            }
        } else {
            literal
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .ok_or_else(|| out_of_range("number does not fit a finite double"))
        }
    }
}

fn duplicate(offset: usize, key: &str) -> JsonError {
    JsonError::DuplicateKey {
        offset,
        key: truncated(key, 64),
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
fn truncated(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Result<Value, JsonError> {
        parse_strict(text, &JsonLimits::default())
    }

    fn code(text: &str) -> ReasonCode {
        match parse(text) {
            Ok(v) => panic!("{text:?} parsed as {v}"),
            Err(e) => e.code(),
        }
    }

    #[test]
    fn accepts_rfc8259_documents() {
        let cases: &[(&str, Value)] = &[
            ("{}", json!({})),
            ("[]", json!([])),
            (" \t\r\n[1 , 2]\n", json!([1, 2])),
            (
                "\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
                json!("a\"\\/\u{8}\u{c}\n\r\t"),
            ),
            ("\"\\u00e9\\u00E9\"", json!("éé")),
            ("\"\\ud83d\\ude00\"", json!("😀")),
            ("\"\\u0000\"", json!("\u{0}")),
            ("\"\u{7f}é😀\"", json!("\u{7f}é😀")),
            ("0", json!(0)),
            ("-0", json!(0)),
            ("-12", json!(-12)),
            ("18446744073709551615", json!(u64::MAX)),
            ("-9223372036854775808", json!(i64::MIN)),
            ("1.5e3", json!(1500.0)),
            ("1E-400", json!(0.0)),
            ("-0.25", json!(-0.25)),
            ("1e308", json!(1e308)),
            ("true", json!(true)),
            ("false", json!(false)),
            ("null", json!(null)),
            (
                r#"{"a":{"b":[{"c":null}]},"d":"e"}"#,
                json!({"a":{"b":[{"c":null}]},"d":"e"}),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&parse(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn matches_serde_json_on_valid_documents() {
        let docs = [
            r#"{"tool":"read_file","args":{"path":"/workspace/README.md"}}"#,
            r#"[1,-2,3.25,1e10,"x\u0041",{"k":[true,false,null]}]"#,
            r#"{"nested":{"a":[[[[]]]],"b":{}},"n":-1.5E-7}"#,
        ];
        for doc in docs {
            let ours = parse(doc).unwrap();
            let theirs: Value = serde_json::from_str(doc).unwrap();
            assert_eq!(ours, theirs, "{doc}");
        }
    }

    /// A random JSON value: objects with distinct keys, arrays, escaped strings, integers,
    /// finite doubles, literals; at most `depth` levels.
    fn random_value(rng: &mut rand::rngs::StdRng, depth: usize) -> Value {
        use rand::Rng as _;
        let pick = if depth == 0 {
            rng.random_range(0..5)
        } else {
            rng.random_range(0..8)
        };
        match pick {
            0 => Value::Null,
            1 => Value::Bool(rng.random()),
            2 => Value::from(rng.random::<i64>() >> rng.random_range(0..64)),
            3 => Number::from_f64(rng.random::<f64>() * 1e6).map_or(Value::Null, Value::Number),
            4 => {
                let len = rng.random_range(0..12);
                let text: String = (0..len)
                    .map(|_| match rng.random_range(0..6) {
                        0 => '"',
                        1 => '\\',
                        2 => '\n',
                        3 => 'é',
                        4 => '\u{1F600}',
                        _ => char::from(rng.random_range(b'a'..=b'z')),
                    })
                    .collect();
                Value::String(text)
            }
            5 => Value::Array(
                (0..rng.random_range(0..5))
                    .map(|_| random_value(rng, depth - 1))
                    .collect(),
            ),
            _ => Value::Object(
                (0..rng.random_range(0..6))
                    .map(|i| (format!("k{i}"), random_value(rng, depth - 1)))
                    .collect(),
            ),
        }
    }

    #[test]
    fn random_documents_parse_as_serde_json_writes_them() {
        use rand::SeedableRng as _;
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        for _ in 0..3000 {
            let value = random_value(&mut rng, 5);
            for text in [
                serde_json::to_string(&value).unwrap(),
                serde_json::to_string_pretty(&value).unwrap(),
            ] {
                assert_eq!(parse(&text).as_ref(), Ok(&value), "{text}");
            }
        }
    }

    #[test]
    fn objects_of_scalars_and_nested_values_mix() {
        // Scalars first, then a container: the object continues on the stack with the members
        // it already has (a repeated key is still found, order and depth still hold).
        let docs = [
            r#"{"a":1,"b":"x","c":{"d":[1,{"e":null}]},"f":true}"#,
            r#"{"a":"x","b":[],"c":{},"d":-0.5}"#,
            r#"[{"a":1,"b":{"c":2}},{"d":3}]"#,
            r#"{"a":{"b":1,"c":[2,{"d":{"e":"f"}}]},"g":[{"h":1}]}"#,
        ];
        for doc in docs {
            let theirs: Value = serde_json::from_str(doc).unwrap();
            assert_eq!(parse(doc).unwrap(), theirs, "{doc}");
        }
        assert_eq!(
            parse(r#"{"a":1,"b":[2],"a":3}"#),
            Err(JsonError::DuplicateKey {
                offset: 15,
                key: "a".into()
            })
        );
        assert_eq!(
            parse(r#"{"a":1,"b":{"c":2,"c":3}}"#),
            Err(JsonError::DuplicateKey {
                offset: 18,
                key: "c".into()
            })
        );
        let limits = JsonLimits {
            max_bytes: 1 << 10,
            max_depth: 2,
        };
        assert!(parse_strict(r#"{"a":1,"b":{"c":2}}"#, &limits).is_ok());
        assert_eq!(
            parse_strict(r#"{"a":1,"b":{"c":[]}}"#, &limits),
            Err(JsonError::DepthExceeded {
                offset: 16,
                limit: 2
            })
        );
        assert_eq!(code(r#"{"a":1,"b":{"c":2},}"#), ReasonCode::JsonSyntax);
        assert_eq!(code(r#"{"a":1 "b":2}"#), ReasonCode::JsonSyntax);
    }

    #[test]
    fn duplicate_keys_at_any_depth() {
        for text in [
            r#"{"a":1,"a":2}"#,
            r#"{"a":1,"\u0061":2}"#,
            r#"{"x":[{"k":1,"k":1}]}"#,
            r#"{"x":{"y":{"z":{"p":1,"q":2,"p":3}}}}"#,
        ] {
            assert_eq!(code(text), ReasonCode::DuplicateKey, "{text}");
        }
        let err = parse(r#"{"a":1, "\u0061":2}"#).unwrap_err();
        assert_eq!(
            err,
            JsonError::DuplicateKey {
                offset: 8,
                key: "a".into()
            }
        );
        assert!(err.to_string().contains("`a`"));
        // The same key in sibling objects is fine.
        assert!(parse(r#"[{"a":1},{"a":2}]"#).is_ok());
    }

    #[test]
    fn depth_limit() {
        let limits = JsonLimits {
            max_bytes: 1 << 21,
            max_depth: 3,
        };
        assert!(parse_strict("[[[]]]", &limits).is_ok());
        assert!(parse_strict(r#"{"a":{"b":{}}}"#, &limits).is_ok());
        assert_eq!(
            parse_strict("[[[[]]]]", &limits),
            Err(JsonError::DepthExceeded {
                offset: 3,
                limit: 3
            })
        );
        assert_eq!(
            parse_strict(r#"{"a":{"b":{"c":{}}}}"#, &limits)
                .unwrap_err()
                .code(),
            ReasonCode::DepthExceeded
        );
    }

    #[test]
    fn no_stack_overflow_on_deep_input() {
        let deep = "[".repeat(1 << 20);
        let limits = JsonLimits {
            max_bytes: 1 << 21,
            max_depth: usize::MAX,
        };
        assert_eq!(
            parse_strict(&deep, &limits),
            Err(JsonError::DepthExceeded {
                offset: MAX_DEPTH,
                limit: MAX_DEPTH
            })
        );
        let balanced = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        let value = parse_strict(&balanced, &limits).unwrap();
        assert_eq!(value, value.clone());
        drop(value);
        assert_eq!(code(&deep), ReasonCode::DepthExceeded);
        let objects = "{\"a\":".repeat(100_000);
        assert_eq!(code(&objects), ReasonCode::DepthExceeded);
    }

    #[test]
    fn size_limit() {
        let limits = JsonLimits {
            max_bytes: 10,
            max_depth: 8,
        };
        assert!(parse_strict("[1,2,3,4]", &limits).is_ok());
        assert_eq!(
            parse_strict("[1,2,3,4,5]", &limits),
            Err(JsonError::InputTooLarge { len: 11, limit: 10 })
        );
    }

    #[test]
    fn lone_surrogates() {
        for text in [
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\uDd1e\uD834""#,
            r#""\ud800\u0041""#,
            r#""\ud800x""#,
            r#""\ud800\n""#,
            r#""\ud800\ud800""#,
        ] {
            assert_eq!(code(text), ReasonCode::LoneSurrogate, "{text}");
        }
        assert_eq!(
            parse(r#"["\ud800"]"#),
            Err(JsonError::LoneSurrogate { offset: 2 })
        );
    }

    #[test]
    fn invalid_numbers() {
        for text in [
            "NaN",
            "Infinity",
            "-Infinity",
            "[NaN]",
            r#"{"a":Infinity}"#,
            "1e400",
            "-1.0e4096",
            "18446744073709551616",
            "-9223372036854775809",
            "999999999999999999999999999999999999999999",
        ] {
            assert_eq!(code(text), ReasonCode::InvalidNumber, "{text}");
        }
        assert_eq!(
            parse("[1, 1e400]"),
            Err(JsonError::InvalidNumber {
                offset: 4,
                problem: "number does not fit a finite double"
            })
        );
    }

    #[test]
    fn syntax_errors() {
        for text in [
            "",
            " ",
            "{",
            "[1,]",
            r#"{"a":1,}"#,
            r#"{a:1}"#,
            r#"{'a':1}"#,
            "['a']",
            r#"{"a":1 /* c */}"#,
            "// c\n{}",
            "[1] // c",
            "\u{feff}{}",
            "\u{a0}{}",
            "{}\u{a0}",
            "[1,\u{2028}2]",
            "\"a\nb\"",
            "\"a\tb\"",
            "\"\\x41\"",
            "\"\\u12\"",
            "\"\\u12G4\"",
            "\"abc",
            "01",
            "-",
            "1.",
            ".5",
            "+1",
            "1e",
            "1e+",
            "tru",
            "nul",
            "True",
            r#"{"a" 1}"#,
            r#"{"a":1 "b":2}"#,
            "[1 2]",
            "{,}",
            "[,1]",
            "\u{0}",
            "\u{b}[]",
            "\u{c}[]",
        ] {
            assert_eq!(code(text), ReasonCode::JsonSyntax, "{text:?}");
        }
        let err = parse(r#"{"a":1,}"#).unwrap_err();
        assert_eq!(
            err,
            JsonError::Syntax {
                offset: 6,
                problem: "trailing comma"
            }
        );
        assert_eq!(
            parse("\u{feff}{}").unwrap_err().to_string(),
            "invalid json at byte 0: byte order mark is not allowed"
        );
    }

    #[test]
    fn plain_runs_stop_at_every_special_byte() {
        for len in 0..40 {
            for special in [b'"', b'\\', 0x00, 0x1f, 0x0a] {
                for at in 0..=len {
                    let mut bytes = vec![b'a'; len];
                    bytes.extend_from_slice(b"bcdefghijk");
                    bytes.insert(at, special);
                    assert_eq!(plain_run_end(&bytes, 0), at, "{len} {special} {at}");
                }
            }
            let plain: Vec<u8> = (0x20..=0xff)
                .filter(|b| *b != b'"' && *b != b'\\')
                .collect();
            assert_eq!(plain_run_end(&plain, 0), plain.len());
        }
    }

    /// Several special bytes in a word, and the bytes next to them that make borrows: the
    /// run always ends at the first special byte.
    #[test]
    fn plain_runs_end_at_the_first_of_several_special_bytes() {
        const ALPHABET: &[u8] = &[
            0x00, 0x01, 0x0a, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7f, 0x80, 0x9f,
            0xa0, 0xdc, 0xff, b'a',
        ];
        let naive = |bytes: &[u8], from: usize| {
            bytes
                .iter()
                .skip(from)
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .map_or(bytes.len(), |p| p + from)
        };
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..50_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 24) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| {
                    let r = state.rotate_left(5 * i as u32 + 3);
                    ALPHABET[(r % ALPHABET.len() as u64) as usize]
                })
                .collect();
            for from in 0..=len {
                assert_eq!(
                    plain_run_end(&bytes, from),
                    naive(&bytes, from),
                    "{bytes:x?} {from}"
                );
            }
        }
    }

    #[test]
    fn trailing_data() {
        assert_eq!(parse("{} x"), Err(JsonError::TrailingData { offset: 3 }));
        assert_eq!(parse("{}{}").unwrap_err().code(), ReasonCode::TrailingData);
        assert_eq!(parse("1 2").unwrap_err().code(), ReasonCode::TrailingData);
        assert_eq!(parse("{} \n").unwrap(), json!({}));
    }

    #[test]
    fn documents_agree_with_parse_strict() {
        let limits = JsonLimits {
            max_bytes: 1 << 16,
            max_depth: 3,
        };
        let many: String = (0..40).map(|i| format!(r#""k{i}":{i},"#)).collect();
        let cases = [
            r#"{"a":1,"b":{"c":[1,2]},"\u0064":"e"}"#.to_owned(),
            "{}".to_owned(),
            " [1,2] ".to_owned(),
            r#"{"a":1,"\u0061":2}"#.to_owned(),
            format!("{{{many}\"k39\":0}}"),
            format!("{{{many}\"k40\":0}}"),
            format!("{{{many}\"k0\":0}}"),
            r#"{"a":[[{}]]}"#.to_owned(),
            r#"{"a":[[[]]]}"#.to_owned(),
            r#"{"a":1} x"#.to_owned(),
            r#"{"a":1,}"#.to_owned(),
            r#"{"a" 1}"#.to_owned(),
            r#"{a:1}"#.to_owned(),
            "{".to_owned(),
        ];
        for text in &cases {
            let strict = parse_strict(text, &limits);
            let document = parse_document(text, &limits).map(|d| match d {
                Document::Object(members) => Value::Object(
                    members
                        .into_iter()
                        .map(|m| (m.key.into_owned(), m.value))
                        .collect(),
                ),
                Document::Other(value) => value,
            });
            assert_eq!(strict, document, "{text}");
        }
        let Ok(Document::Object(members)) = parse_document(r#"{"b":1,"a":2,"\u0063":3}"#, &limits)
        else {
            panic!("not an object");
        };
        let keys: Vec<_> = members.iter().map(|m| m.key.as_ref()).collect();
        assert_eq!(keys, ["b", "a", "c"]);
        assert!(matches!(members[0].key, Cow::Borrowed(_)));
        assert!(matches!(members[2].key, Cow::Owned(_)));
        assert_eq!(
            parse_document(
                "{}",
                &JsonLimits {
                    max_bytes: 10,
                    max_depth: 0
                }
            )
            .unwrap_err()
            .code(),
            ReasonCode::DepthExceeded
        );
    }

    #[test]
    fn prefix_parse_reports_the_end() {
        let text = r#"see {"a":[1,2]} and more"#;
        let (value, end) = parse_prefix(text, 4, &JsonLimits::default()).unwrap();
        assert_eq!(value, json!({"a":[1,2]}));
        assert_eq!(text.get(end..), Some(" and more"));
        assert_eq!(
            parse_prefix(r#"x {"a":1,"a":2}"#, 2, &JsonLimits::default()),
            Err(JsonError::DuplicateKey {
                offset: 9,
                key: "a".into()
            })
        );
    }

    #[test]
    fn limits_issues() {
        assert!(JsonLimits::default().issues("json").is_empty());
        let issues = JsonLimits {
            max_bytes: 0,
            max_depth: 0,
        }
        .issues("json");
        assert_eq!(issues.len(), 2);
        assert_eq!(
            JsonLimits {
                max_bytes: 1,
                max_depth: MAX_DEPTH + 1
            }
            .issues("j")
            .len(),
            1
        );
        assert_eq!(issues[0].key, "json.max_bytes");
    }

    #[test]
    fn duplicate_key_message_is_escaped_and_bounded() {
        let key = "k\u{202e}".repeat(40);
        let text = format!(r#"{{"{key}":1,"{key}":2}}"#);
        let msg = parse(&text).unwrap_err().to_string();
        assert!(!msg.contains('\u{202e}'), "{msg}");
        assert!(msg.len() < 400, "{msg}");
    }
}
