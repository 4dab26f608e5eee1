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

/// The text of a reason message. Messages are a line of text: one allocation of this size
/// holds nearly all of them, where `to_string` grows from empty and reallocates three or four
/// times.
pub(crate) fn message_of(error: &(impl std::fmt::Display + ?Sized)) -> String {
    use std::fmt::Write as _;
    let mut message = String::with_capacity(128);
    // Writing into a String fails only when a Display impl reports an error; the text written
    // until then is kept.
    let _ = write!(message, "{error}");
    message
}

/// Any stage error that maps onto a stable reason code.
pub trait Coded: std::fmt::Display {
    /// The stable reason code for this error.
    fn code(&self) -> ReasonCode;

    /// The byte span the error points at, when it points at one.
    fn span(&self) -> Option<(usize, usize)> {
        None
    }

    /// Converts the error into a [`Reason`] with its message and span.
    fn to_reason(&self) -> Reason {
        let reason = Reason::new(self.code(), message_of(self));
        match Coded::span(self) {
            Some((start, end)) => reason.with_span(start, end),
            None => reason,
        }
    }
}
