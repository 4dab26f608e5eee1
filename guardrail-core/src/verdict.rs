//! Verdicts: what the guard decided, why, and how long it took.
//!
//! A verdict is data: a [`Decision`], machine-readable [`ReasonCode`]s with the JSON pointer of
//! the offending argument, and timings. Messages never contain secret material; where a value is
//! quoted it is a tool name, a host or a path that the policy itself knows about, or a byte offset.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// The outcome of screening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Structurally sound and the policy lets this tool run without a second look.
    Allow,
    /// Refused.
    Deny,
    /// Structurally sound, but the policy sends this tool to a second stage (judge or human).
    Review,
}

impl Decision {
    /// `allow`, `deny` or `review`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Review => "review",
        }
    }

    /// Combines two decisions: any deny wins, then review, then allow.
    #[must_use]
    pub fn combine(self, other: Decision) -> Decision {
        match (self, other) {
            (Decision::Deny, _) | (_, Decision::Deny) => Decision::Deny,
            (Decision::Review, _) | (_, Decision::Review) => Decision::Review,
            _ => Decision::Allow,
        }
    }
}

macro_rules! reason_codes {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, )*) => {
        /// A stable, machine-readable reason. The string form (`snake_case`) is part of the API.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum ReasonCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ReasonCode {
            /// Every reason code, in declaration order.
            pub const ALL: &'static [ReasonCode] = &[$(ReasonCode::$variant,)*];

            /// The stable string form, as it appears in verdict JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( ReasonCode::$variant => $name, )*
                }
            }
        }
    };
}

reason_codes! {
    // --- input and JSON ---
    /// The raw input exceeds the policy's byte limit.
    InputTooLarge => "input_too_large",
    /// The raw input is not valid UTF-8.
    InvalidUtf8 => "invalid_utf8",
    /// The JSON text is malformed (includes comments, trailing commas, unquoted keys, BOM).
    JsonSyntax => "json_syntax",
    /// An object repeats a key (at any depth).
    DuplicateKey => "duplicate_key",
    /// Nesting is deeper than the policy allows.
    DepthExceeded => "depth_exceeded",
    /// A `\u` escape encodes an unpaired UTF-16 surrogate.
    LoneSurrogate => "lone_surrogate",
    /// `NaN`, `Infinity` or a number that does not fit a finite double.
    InvalidNumber => "invalid_number",
    /// Non-whitespace text follows the JSON document.
    TrailingData => "trailing_data",
    /// No tool call could be found in the output.
    NoToolCall => "no_tool_call",
    /// Two different candidate calls or envelope formats, where one was expected.
    AmbiguousToolCall => "ambiguous_tool_call",
    /// More calls in one output than the policy allows.
    TooManyCalls => "too_many_calls",
    /// The envelope is malformed (missing name, arguments of the wrong type, extra envelope keys).
    InvalidEnvelope => "invalid_envelope",

    // --- tools and schemas ---
    /// The tool is not in the policy's allowlist.
    UnknownTool => "unknown_tool",
    /// An argument the tool's schema does not declare.
    UnknownField => "unknown_field",
    /// The arguments do not satisfy the tool's JSON Schema.
    SchemaViolation => "schema_violation",

    // --- string arguments ---
    /// Invisible or direction-changing characters (tag characters, bidi controls, zero-width,
    /// variation-selector runs) in an argument.
    InvisibleCharacters => "invisible_characters",
    /// A credential or private key in an argument.
    SecretInArgument => "secret_in_argument",

    // --- host ---
    /// The URL does not parse as an absolute URL.
    UrlInvalid => "url_invalid",
    /// The URL is longer than the policy allows.
    UrlTooLong => "url_too_long",
    /// The URL is not already in canonical form (whitespace, backslashes, encoded or mapped
    /// characters in the authority, missing slashes).
    UrlNotCanonical => "url_not_canonical",
    /// The scheme is not in the policy's scheme allowlist.
    SchemeNotAllowed => "scheme_not_allowed",
    /// The URL carries a username or password.
    UserinfoPresent => "userinfo_present",
    /// The port is not the scheme's default and no allowlist entry names it.
    PortNotAllowed => "port_not_allowed",
    /// The host is not on the allowlist.
    HostNotAllowed => "host_not_allowed",
    /// An IP literal that no CIDR entry covers.
    IpNotAllowed => "ip_not_allowed",
    /// DNS resolution was required and failed.
    DnsResolutionFailed => "dns_resolution_failed",
    /// The host resolved to a private, loopback, link-local or metadata address.
    ResolvedAddressForbidden => "resolved_address_forbidden",

    // --- path ---
    /// The path is not absolute.
    PathNotAbsolute => "path_not_absolute",
    /// NUL or another control character in the path.
    PathControlCharacter => "path_control_character",
    /// The path, after lexical normalization, is outside the workspace root (or is the root).
    PathEscapesWorkspace => "path_escapes_workspace",
    /// Encoded, backslash or lookalike forms that another layer may turn into a traversal.
    PathNotCanonical => "path_not_canonical",
    /// Inside the workspace, but a protected path (`workspace.deny`, or `workspace.deny_write`
    /// for a write): credentials, git hooks, CI definitions.
    PathProtected => "path_protected",

    // --- SQL ---
    /// The SQL text is longer than the policy allows.
    SqlTooLarge => "sql_too_large",
    /// The SQL does not parse in the policy's dialect.
    SqlParseError => "sql_parse_error",
    /// Zero or several statements, where exactly one is required.
    SqlStatementCount => "sql_statement_count",
    /// A statement or query part that writes, locks or changes session state.
    SqlNotReadOnly => "sql_not_read_only",
    /// A function outside the policy's allowlist.
    SqlFunctionNotAllowed => "sql_function_not_allowed",

    // --- untrusted input ---
    /// The input screener's heuristics or classifier judge the text an injection attempt.
    InjectionSuspected => "injection_suspected",
    /// The configured classifier could not run; the screener fails closed.
    ClassifierUnavailable => "classifier_unavailable",
    /// A model or weights file does not match its pinned SHA-256.
    ModelHashMismatch => "model_hash_mismatch",

    // --- second stage ---
    /// The judge scored the action at or above the policy's `judge.deny_at`.
    JudgeDenied => "judge_denied",
    /// The judge gave no usable answer (timeout, HTTP error, malformed, contradictory or
    /// refused answer); the second stage fails closed.
    JudgeUnavailable => "judge_unavailable",
    /// An approval that is unknown, expired, not granted, already used, or bound to another
    /// action or context.
    ApprovalInvalid => "approval_invalid",

    // --- outcome ---
    /// The tool is high blast radius: structurally fine, sent to a second stage.
    ReviewRequired => "review_required",
    /// An internal failure; the guard fails closed.
    InternalError => "internal_error",
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Byte offsets into the screened text (`start..end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// One reason behind a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// Stable code.
    pub code: ReasonCode,
    /// Human-readable explanation; never contains secret material.
    pub message: String,
    /// Index of the call in the output this reason belongs to, when it belongs to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<usize>,
    /// JSON pointer (RFC 6901) of the offending argument within the call's arguments
    /// (borrowed for a built-in tool's argument, whose pointer is a constant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<Cow<'static, str>>,
    /// Byte span within the raw input or the argument, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
}

impl Reason {
    /// A reason with a code and message only.
    pub fn new(code: ReasonCode, message: impl Into<String>) -> Self {
        Reason {
            code,
            message: message.into(),
            call: None,
            pointer: None,
            span: None,
        }
    }

    /// Sets the JSON pointer of the offending argument.
    #[must_use]
    pub fn at(mut self, pointer: impl Into<Cow<'static, str>>) -> Self {
        self.pointer = Some(pointer.into());
        self
    }

    /// Sets the call index.
    #[must_use]
    pub fn in_call(mut self, call: usize) -> Self {
        self.call = Some(call);
        self
    }

    /// Sets the byte span.
    #[must_use]
    pub fn with_span(mut self, start: usize, end: usize) -> Self {
        self.span = Some(Span { start, end });
        self
    }
}

/// Appends to a reason message without the formatting machinery. A deny builds its message on
/// the screening path, where `write!` with its argument walk and padding logic costs more than
/// many of the checks; the errors met there write their text with this, and their `Display`
/// is that same text.
#[derive(Debug)]
pub(crate) struct MessageWriter<'a>(pub(crate) &'a mut String);

impl MessageWriter<'_> {
    /// Appends `text`.
    pub(crate) fn text(&mut self, text: &str) -> &mut Self {
        self.0.push_str(text);
        self
    }

    /// Appends `n` in decimal, as `{}` writes it.
    pub(crate) fn decimal(&mut self, n: usize) -> &mut Self {
        let mut unit = 1usize;
        while n / unit >= 10 {
            unit *= 10;
        }
        loop {
            let digit = u8::try_from(n / unit % 10).unwrap_or(0);
            self.0.push(char::from(b'0' + digit));
            if unit == 1 {
                return self;
            }
            unit /= 10;
        }
    }

    /// Appends `U+` and the code point in at least four upper-case hex digits, as
    /// `U+{:04X}` writes it.
    pub(crate) fn code_point(&mut self, code_point: u32) -> &mut Self {
        self.0.push_str("U+");
        let digits = (u32::BITS - code_point.leading_zeros()).div_ceil(4).max(4);
        for i in (0..digits).rev() {
            let nibble = (code_point >> (i * 4)) & 0xF;
            let digit = char::from_digit(nibble, 16).unwrap_or('0');
            self.0.push(digit.to_ascii_uppercase());
        }
        self
    }

    /// Appends `text` escaped as `str::escape_debug` escapes it.
    pub(crate) fn escaped(&mut self, text: &str) -> &mut Self {
        self.0.extend(text.escape_debug());
        self
    }

    /// Appends whatever `value` displays, through the formatting machinery: for the rare
    /// parts (a nested library error) that have no cheaper form.
    pub(crate) fn display(&mut self, value: &dyn std::fmt::Display) -> &mut Self {
        use std::fmt::Write as _;
        // Writing into a String fails only when a Display impl reports an error; the text
        // written until then is kept.
        let _ = write!(self.0, "{value}");
        self
    }
}

/// `Display` (what `write_message` appends to a `String`) and `std::error::Error` for an
/// error that writes its message with a [`MessageWriter`].
macro_rules! error_via_message {
    ($ty:ty) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut text = String::new();
                self.write_message(&mut crate::verdict::MessageWriter(&mut text));
                f.write_str(&text)
            }
        }

        impl std::error::Error for $ty {}
    };
}
pub(crate) use error_via_message;

/// Any stage error that maps onto a stable reason code.
pub trait Coded: std::fmt::Display {
    /// The stable reason code for this error.
    fn code(&self) -> ReasonCode;

    /// The byte span the error points at, when it points at one.
    fn span(&self) -> Option<(usize, usize)> {
        None
    }

    /// Appends the message (the `Display` text) to `out`. Errors met on the screening path
    /// write it without the formatting machinery.
    fn write_message_to(&self, out: &mut String) {
        MessageWriter(out).display(&self);
    }

    /// Converts the error into a [`Reason`] with its message and span.
    fn to_reason(&self) -> Reason {
        // Messages are a line of text: one allocation of this size holds nearly all of them,
        // where growing from empty reallocates three or four times.
        let mut message = String::with_capacity(128);
        self.write_message_to(&mut message);
        let reason = Reason::new(self.code(), message);
        match Coded::span(self) {
            Some((start, end)) => reason.with_span(start, end),
            None => reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::envelope::ParseError;
    use crate::action::json::JsonError;
    use crate::check::host::HostError;
    use crate::check::path::PathError;
    use crate::check::text::{InvisibleCharacter, InvisibleKind};

    fn written(f: impl FnOnce(&mut MessageWriter<'_>)) -> String {
        let mut text = String::new();
        f(&mut MessageWriter(&mut text));
        text
    }

    #[test]
    fn numbers_are_written_as_the_formatter_writes_them() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            65_535,
            1_000_000_007,
            usize::MAX / 10,
            usize::MAX,
        ] {
            assert_eq!(
                written(|w| {
                    w.decimal(n);
                }),
                format!("{n}")
            );
        }
        for cp in [
            0, 0x9, 0x7f, 0xa0, 0x200b, 0xfeff, 0xffff, 0x1_0000, 0xe_0041, 0x10_ffff,
        ] {
            assert_eq!(
                written(|w| {
                    w.code_point(cp);
                }),
                format!("U+{cp:04X}")
            );
        }
        assert_eq!(
            written(|w| {
                w.escaped("a\"b\\c\n\u{202e}");
            }),
            "a\"b\\c\n\u{202e}".escape_debug().to_string()
        );
    }

    /// Every message written without the formatting machinery, against the text it stands for.
    #[test]
    fn hand_written_messages_read_as_documented() {
        let ch = '\u{ff0e}';
        let root = "/workspace".to_owned();
        let cases: Vec<(Box<dyn Coded>, String)> = vec![
            (
                Box::new(HostError::TooLong {
                    len: 9000,
                    max: 8192,
                }),
                "url is 9000 bytes, over the limit of 8192".into(),
            ),
            (
                Box::new(HostError::SurroundingWhitespace { offset: 3 }),
                "url has leading or trailing whitespace at byte 3".into(),
            ),
            (
                Box::new(HostError::ControlCharacter {
                    offset: 12,
                    ch: '\t',
                }),
                "control character U+0009 at byte 12".into(),
            ),
            (
                Box::new(HostError::Backslash { offset: 8 }),
                "backslash at byte 8".into(),
            ),
            (Box::new(HostError::NoScheme), "url has no scheme".into()),
            (
                Box::new(HostError::SchemeNotAllowed { end: 4 }),
                "scheme at bytes 0..4 is not allowed".into(),
            ),
            (
                Box::new(HostError::MissingAuthority { offset: 6 }),
                "scheme must be followed by `://` and a host (byte 6)".into(),
            ),
            (
                Box::new(HostError::UserinfoPresent { offset: 22 }),
                "url carries userinfo (`@` at byte 22)".into(),
            ),
            (
                Box::new(HostError::NonAsciiAuthority { offset: 10, ch }),
                "non-ASCII character U+FF0E in the authority at byte 10".into(),
            ),
            (
                Box::new(HostError::PercentInAuthority { offset: 11 }),
                "percent-encoding in the authority at byte 11".into(),
            ),
            (
                Box::new(HostError::HostCharacter {
                    offset: 13,
                    ch: '!',
                }),
                "character U+0021 at byte 13 is not allowed in a host name".into(),
            ),
            (
                Box::new(HostError::EmptyLabel { offset: 14 }),
                "empty label in the host at byte 14".into(),
            ),
            (
                Box::new(HostError::Invalid(url::ParseError::InvalidPort)),
                format!("url does not parse: {}", url::ParseError::InvalidPort),
            ),
            (
                Box::new(HostError::HostNotCanonical { start: 8, end: 19 }),
                "host at bytes 8..19 is not written in canonical form".into(),
            ),
            (
                Box::new(HostError::PortNotCanonical { start: 20, end: 25 }),
                "port at bytes 20..25 is not written in canonical form".into(),
            ),
            (
                Box::new(HostError::PortNotAllowed { port: 8443 }),
                "port 8443 is not allowed for this host".into(),
            ),
            (
                Box::new(HostError::HostNotAllowed { start: 8, end: 16 }),
                "host at bytes 8..16 is not on the allowlist".into(),
            ),
            (
                Box::new(HostError::IpNotAllowed {
                    ip: std::net::IpAddr::from([10, 0, 0, 1]),
                    start: 7,
                    end: 15,
                }),
                "ip address at bytes 7..15 is not covered by an allowlist network".into(),
            ),
            (
                Box::new(HostError::DnsResolutionFailed {
                    host: "api.example.com".into(),
                    detail: "no address".into(),
                }),
                "resolving `api.example.com` failed: no address".into(),
            ),
            (
                Box::new(HostError::ResolvedAddressForbidden {
                    host: "api.example.com".into(),
                    addr: std::net::IpAddr::from([169, 254, 169, 254]),
                }),
                "`api.example.com` resolved to the non-public address `169.254.169.254`".into(),
            ),
            (Box::new(PathError::Empty), "path is empty".into()),
            (
                Box::new(PathError::NotAbsolute),
                "path is not absolute".into(),
            ),
            (
                Box::new(PathError::ControlCharacter {
                    offset: 5,
                    ch: '\0',
                }),
                "control character U+0000 at byte 5".into(),
            ),
            (
                Box::new(PathError::InvisibleCharacter {
                    offset: 11,
                    ch: '\u{e0041}',
                }),
                "invisible character U+E0041 at byte 11".into(),
            ),
            (
                Box::new(PathError::Backslash { offset: 10 }),
                "backslash at byte 10".into(),
            ),
            (
                Box::new(PathError::PercentEncoded { offset: 11 }),
                "percent-encoded sequence at byte 11".into(),
            ),
            (
                Box::new(PathError::Lookalike { offset: 12, ch }),
                "character U+FF0E at byte 12 can be read as `.`, `/`, `\\` or `%`".into(),
            ),
            (Box::new(PathError::Scheme), "a URL is not a path".into()),
            (
                Box::new(PathError::DriveLetter),
                "a Windows drive path is not a path".into(),
            ),
            (
                Box::new(PathError::LeadingDoubleSlash),
                "leading `//` has an implementation-defined meaning".into(),
            ),
            (
                Box::new(PathError::ParentEscape {
                    offset: 11,
                    root: root.clone(),
                }),
                "`..` at byte 11 climbs out of the workspace `/workspace/`".into(),
            ),
            (
                Box::new(PathError::Outside { root: root.clone() }),
                "path is outside the workspace `/workspace/`".into(),
            ),
            (
                Box::new(PathError::WorkspaceRoot { root }),
                "path names the workspace root `/workspace/` itself".into(),
            ),
            (
                Box::new(PathError::Protected {
                    pattern: ".git/\"x\"".into(),
                    write: false,
                }),
                "path is protected by the policy pattern `.git/\\\"x\\\"` (workspace.deny)".into(),
            ),
            (
                Box::new(PathError::Protected {
                    pattern: "*.env".into(),
                    write: true,
                }),
                "path is protected by the policy pattern `*.env` (workspace.deny_write)".into(),
            ),
            (
                Box::new(InvisibleCharacter {
                    kind: InvisibleKind::BidiControl,
                    code_point: 0x202e,
                    offset: 17,
                }),
                "bidirectional control character U+202E at byte 17".into(),
            ),
            (
                Box::new(JsonError::InputTooLarge {
                    len: 70_000,
                    limit: 65_536,
                }),
                "input is 70000 bytes, over the limit of 65536".into(),
            ),
            (
                Box::new(JsonError::Syntax {
                    offset: 0,
                    problem: "comments are not json",
                }),
                "invalid json at byte 0: comments are not json".into(),
            ),
            (
                Box::new(JsonError::DuplicateKey {
                    offset: 40,
                    key: "to\"ol\n".into(),
                }),
                "duplicate key `to\\\"ol\\n` at byte 40".into(),
            ),
            (
                Box::new(JsonError::DepthExceeded {
                    offset: 33,
                    limit: 32,
                }),
                "nesting deeper than 32 at byte 33".into(),
            ),
            (
                Box::new(JsonError::LoneSurrogate { offset: 9 }),
                "unpaired utf-16 surrogate escape at byte 9".into(),
            ),
            (
                Box::new(JsonError::InvalidNumber {
                    offset: 70,
                    problem: "NaN and Infinity are not json",
                }),
                "invalid number at byte 70: NaN and Infinity are not json".into(),
            ),
            (
                Box::new(JsonError::TrailingData { offset: 61 }),
                "unexpected data after the json document at byte 61".into(),
            ),
            (
                Box::new(ParseError::Json(JsonError::TrailingData { offset: 61 })),
                "unexpected data after the json document at byte 61".into(),
            ),
            (
                Box::new(ParseError::TooManyCalls { limit: 8 }),
                "more than 8 tool calls".into(),
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(error.to_reason().message, expected);
            assert_eq!(error.to_string(), expected, "Display and reason agree");
        }
    }
}
