//! Typed tools: the allowlist of tool names, their JSON Schemas, and which argument is a path,
//! a URL, SQL or free text.
//!
//! The four built-in tools have schemas in `schemas/*.json` (embedded). A policy can add custom
//! tools with a schema of their own and an argument map saying which string leaves the
//! path/URL/SQL checks apply to; every other string leaf is free text. Tool names match exactly:
//! `READ_FILE`, `read_file ` and `re\u{0430}d_file` are unknown tools.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::action::shallow::{Shallow, ShallowJson, object_to_map};
use crate::verdict::{Coded, ReasonCode};

/// What kind of value a string argument holds; decides which checks run on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgKind {
    /// A filesystem path that is read: workspace containment and `workspace.deny`.
    Path,
    /// A filesystem path that is written: containment, `workspace.deny` and
    /// `workspace.deny_write`.
    WritePath,
    /// A URL: the host allowlist.
    Url,
    /// An SQL statement: the read-only check.
    Sql,
    /// Anything else: invisible characters and secrets only.
    Text,
}

/// How much damage a tool can do if the call is wrong; decides whether a second stage looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlastRadius {
    /// Reads inside the sandbox.
    Low,
    /// Writes, external requests, database access.
    High,
}

/// A validated call to one of the allowlisted tools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "tool", content = "args", rename_all = "snake_case")]
pub enum ToolCall {
    /// Read one file beneath the workspace root.
    ReadFile {
        /// The path as the model wrote it (checked; see the verdict for its normalized form).
        path: String,
    },
    /// Create or replace one file beneath the workspace root.
    WriteFile {
        /// Target path.
        path: String,
        /// New content, at most 256000 characters.
        content: String,
    },
    /// Fetch one URL.
    HttpGet {
        /// The URL.
        url: String,
    },
    /// Run one read-only SQL statement.
    DbQuery {
        /// The statement.
        sql: String,
    },
    /// A tool the policy declares.
    Custom {
        /// Tool name.
        name: String,
        /// Arguments, validated against the tool's schema.
        args: Map<String, Value>,
    },
}

impl ToolCall {
    /// The tool's name.
    pub fn name(&self) -> &str {
        match self {
            ToolCall::ReadFile { .. } => "read_file",
            ToolCall::WriteFile { .. } => "write_file",
            ToolCall::HttpGet { .. } => "http_get",
            ToolCall::DbQuery { .. } => "db_query",
            ToolCall::Custom { name, .. } => name,
        }
    }
}

/// The built-in tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// `read_file{path}`
    ReadFile,
    /// `write_file{path, content}`
    WriteFile,
    /// `http_get{url}`
    HttpGet,
    /// `db_query{sql}`
    DbQuery,
}

impl Builtin {
    /// The string fields its schema admits, in the order of the typed call's fields.
    fn string_fields(self) -> &'static [&'static str] {
        match self {
            Builtin::ReadFile => &["path"],
            Builtin::WriteFile => &["path", "content"],
            Builtin::HttpGet => &["url"],
            Builtin::DbQuery => &["sql"],
        }
    }

    /// The typed call from its [`string_fields`](Self::string_fields), in order; the index
    /// of the first missing one otherwise.
    fn assemble(self, fields: [Option<String>; 2]) -> Result<ToolCall, usize> {
        let [first, second] = fields;
        let first = first.ok_or(0usize)?;
        Ok(match self {
            Builtin::ReadFile => ToolCall::ReadFile { path: first },
            Builtin::WriteFile => ToolCall::WriteFile {
                path: first,
                content: second.ok_or(1usize)?,
            },
            Builtin::HttpGet => ToolCall::HttpGet { url: first },
            Builtin::DbQuery => ToolCall::DbQuery { sql: first },
        })
    }

    /// All built-in tools.
    pub const ALL: [Builtin; 4] = [
        Builtin::ReadFile,
        Builtin::WriteFile,
        Builtin::HttpGet,
        Builtin::DbQuery,
    ];

    /// The tool name.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::ReadFile => "read_file",
            Builtin::WriteFile => "write_file",
            Builtin::HttpGet => "http_get",
            Builtin::DbQuery => "db_query",
        }
    }

    /// The embedded JSON Schema text.
    pub fn schema_text(self) -> &'static str {
        match self {
            Builtin::ReadFile => include_str!("../../../schemas/read_file.json"),
            Builtin::WriteFile => include_str!("../../../schemas/write_file.json"),
            Builtin::HttpGet => include_str!("../../../schemas/http_get.json"),
            Builtin::DbQuery => include_str!("../../../schemas/db_query.json"),
        }
    }

    /// The default blast radius: reads are low, writes, HTTP and DB are high.
    pub fn default_blast_radius(self) -> BlastRadius {
        match self {
            Builtin::ReadFile => BlastRadius::Low,
            Builtin::WriteFile | Builtin::HttpGet | Builtin::DbQuery => BlastRadius::High,
        }
    }

    fn arg_kinds(self) -> Vec<(ArgPattern, ArgKind)> {
        let one = |name: &str, kind| (ArgPattern::top(name), kind);
        match self {
            Builtin::ReadFile => vec![one("path", ArgKind::Path)],
            Builtin::WriteFile => vec![
                one("path", ArgKind::WritePath),
                one("content", ArgKind::Text),
            ],
            Builtin::HttpGet => vec![one("url", ArgKind::Url)],
            Builtin::DbQuery => vec![one("sql", ArgKind::Sql)],
        }
    }

    fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }
}

/// A JSON pointer pattern over the arguments; a `*` segment matches any key or array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgPattern {
    segments: Vec<String>,
}

impl ArgPattern {
    fn top(name: &str) -> Self {
        ArgPattern {
            segments: vec![name.to_owned()],
        }
    }

    /// Parses `name` (a top-level argument) or an RFC 6901 pointer (`/a/*/b`).
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("empty argument pattern".into());
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Ok(ArgPattern::top(text));
        };
        let mut segments = Vec::new();
        for raw in rest.split('/') {
            if raw.is_empty() {
                return Err(format!("empty segment in `{text}`"));
            }
            segments.push(unescape_pointer_segment(raw)?);
        }
        Ok(ArgPattern { segments })
    }

    fn matches(&self, path: &[PathSeg<'_>]) -> bool {
        self.segments.len() == path.len()
            && self.segments.iter().zip(path).all(|(pat, seg)| {
                pat == "*"
                    || match seg {
                        PathSeg::Key(k) => pat == k,
                        PathSeg::Index(i) => pat.parse::<usize>().is_ok_and(|p| p == *i),
                    }
            })
    }
}

fn unescape_pointer_segment(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return Err(format!("invalid `~` escape in `{raw}`")),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy)]
enum PathSeg<'a> {
    Key(&'a str),
    Index(usize),
}

/// Formats a path of segments as an RFC 6901 JSON pointer.
fn pointer_of(path: &[PathSeg<'_>]) -> String {
    let mut out = String::new();
    for seg in path {
        out.push('/');
        match seg {
            PathSeg::Key(k) => {
                for c in k.chars() {
                    match c {
                        '~' => out.push_str("~0"),
                        '/' => out.push_str("~1"),
                        _ => out.push(c),
                    }
                }
            }
            PathSeg::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

/// One string leaf of a call's arguments, with its kind.
#[derive(Debug, Clone, Copy)]
pub struct StringArg<'a> {
    /// The value.
    pub value: &'a str,
    /// Which checks apply.
    pub kind: ArgKind,
}

/// A tool the guard knows: name, compiled schema, argument kinds, blast radius.
#[derive(Debug)]
pub struct ToolSpec {
    name: String,
    builtin: Option<Builtin>,
    validator: jsonschema::Validator,
    /// The same schema, compiled for arguments read by the shallow path.
    shallow_validator: jsonschema::Validator<ShallowJson>,
    kinds: Vec<(ArgPattern, ArgKind)>,
    blast_radius: BlastRadius,
}

impl ToolSpec {
    /// Compiles a built-in tool.
    pub fn builtin(tool: Builtin, blast_radius: BlastRadius) -> Result<Self, String> {
        let schema: Value = serde_json::from_str(tool.schema_text())
            .map_err(|e| format!("embedded schema of `{}`: {e}", tool.name()))?;
        Ok(ToolSpec {
            name: tool.name().to_owned(),
            builtin: Some(tool),
            validator: compile_schema(&schema)?,
            shallow_validator: compile_schema(&schema)?,
            kinds: tool.arg_kinds(),
            blast_radius,
        })
    }

    /// Compiles a custom tool from its schema and argument map.
    pub fn custom(
        name: &str,
        schema: &Value,
        kinds: Vec<(ArgPattern, ArgKind)>,
        blast_radius: BlastRadius,
    ) -> Result<Self, String> {
        if Builtin::from_name(name).is_some() {
            return Err(format!("`{name}` is a built-in tool name"));
        }
        if schema.get("type").and_then(Value::as_str) != Some("object") {
            return Err("the schema's top level must have `\"type\": \"object\"`".into());
        }
        if schema.get("additionalProperties") != Some(&Value::Bool(false)) {
            return Err(
                "the schema's top level must set `\"additionalProperties\": false` \
                 (unknown arguments are refused)"
                    .into(),
            );
        }
        Ok(ToolSpec {
            name: name.to_owned(),
            builtin: None,
            validator: compile_schema(schema)?,
            shallow_validator: compile_schema(schema)?,
            kinds,
            blast_radius,
        })
    }

    /// Tool name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Tool name for a verdict: a built-in's is static, a custom tool's is copied.
    pub fn shared_name(&self) -> Cow<'static, str> {
        match self.builtin {
            Some(builtin) => Cow::Borrowed(builtin.name()),
            None => Cow::Owned(self.name.clone()),
        }
    }

    /// Blast radius from the policy.
    pub fn blast_radius(&self) -> BlastRadius {
        self.blast_radius
    }

    /// Validates arguments against the schema and builds the typed call.
    pub fn type_call(&self, args: Map<String, Value>) -> Result<ToolCall, ToolError> {
        let value = Value::Object(args);
        if !self.validator.is_valid(&value) {
            return Err(self.first_schema_error(&value));
        }
        let Value::Object(args) = value else {
            return Err(ToolError::Schema {
                pointer: String::new(),
                message: "arguments must be an object".into(),
            });
        };
        let Some(builtin) = self.builtin else {
            return Ok(ToolCall::Custom {
                name: self.name.clone(),
                args,
            });
        };
        // The schema admits exactly these string fields: take them in one pass over the map
        // (cheaper than a removal per field), and still refuse anything else.
        let names = builtin.string_fields();
        let mut fields: [Option<String>; 2] = [None, None];
        for (key, value) in args {
            let slot = names
                .iter()
                .position(|n| *n == key)
                .and_then(|i| fields.get_mut(i));
            match (slot, value) {
                (Some(slot), Value::String(s)) => *slot = Some(s),
                (Some(_), _) => return Err(not_a_string(&key)),
                (None, _) => {
                    return Err(ToolError::UnknownField {
                        pointer: ["/", key.as_str()].concat(),
                        field: key,
                    });
                }
            }
        }
        builtin
            .assemble(fields)
            .map_err(|i| not_a_string(names.get(i).copied().unwrap_or("")))
    }

    /// [`ToolSpec::type_call`] for arguments read by the shallow path
    /// ([`envelope::shallow_call`](crate::action::envelope::shallow_call)): the typed call
    /// when the arguments are valid. `None` when they are not (or are not an object), for
    /// [`ToolSpec::type_call`] to say why; when this returns a call, `type_call` on the same
    /// arguments returns the same call.
    pub fn type_call_shallow(&self, args: Shallow<'_>) -> Option<ToolCall> {
        if !self.shallow_validator.is_valid(&args) {
            return None;
        }
        let Shallow::Object(members) = args else {
            return None;
        };
        let Some(builtin) = self.builtin else {
            return Some(ToolCall::Custom {
                name: self.name.clone(),
                args: object_to_map(&members),
            });
        };
        let names = builtin.string_fields();
        let mut fields: [Option<String>; 2] = [None, None];
        for (key, value) in members {
            let slot = names.iter().position(|n| *n == key)?;
            let Shallow::String(s) = value else {
                return None;
            };
            *fields.get_mut(slot)? = Some(s.into_owned());
        }
        builtin.assemble(fields).ok()
    }

    fn first_schema_error(&self, value: &Value) -> ToolError {
        let Some(err) = self.validator.iter_errors(value).next() else {
            return ToolError::Schema {
                pointer: String::new(),
                message: "arguments do not match the tool's schema".into(),
            };
        };
        let pointer = err.instance_path().as_str().to_owned();
        match err.kind() {
            jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                let field = unexpected.first().cloned().unwrap_or_default();
                ToolError::UnknownField {
                    pointer: format!("{pointer}/{field}"),
                    field,
                }
            }
            kind => ToolError::Schema {
                message: format!("fails the schema's `{}` keyword", kind.keyword()),
                pointer,
            },
        }
    }

    /// Visits every string leaf of a typed call with its kind. Stops at the first `Err`.
    pub fn visit_strings<'c, E>(
        &self,
        call: &'c ToolCall,
        mut f: impl FnMut(StringArg<'c>, &dyn Fn() -> Cow<'static, str>) -> Result<(), E>,
    ) -> Result<(), E> {
        // A built-in tool's arguments are top-level and named: their pointers are constants.
        let single = |pointer: &'static str, value: &'c str, kind: ArgKind| {
            (StringArg { value, kind }, move || Cow::Borrowed(pointer))
        };
        match call {
            ToolCall::ReadFile { path } => {
                let (a, p) = single("/path", path, ArgKind::Path);
                f(a, &p)
            }
            ToolCall::WriteFile { path, content } => {
                let (a, p) = single("/path", path, ArgKind::WritePath);
                f(a, &p)?;
                let (a, p) = single("/content", content, ArgKind::Text);
                f(a, &p)
            }
            ToolCall::HttpGet { url } => {
                let (a, p) = single("/url", url, ArgKind::Url);
                f(a, &p)
            }
            ToolCall::DbQuery { sql } => {
                let (a, p) = single("/sql", sql, ArgKind::Sql);
                f(a, &p)
            }
            ToolCall::Custom { args, .. } => {
                let mut path = Vec::new();
                for (key, value) in args {
                    path.push(PathSeg::Key(key));
                    string_arg(key, ArgKind::Text, &path, &mut f)?;
                    self.walk(value, &mut path, &mut f)?;
                    path.pop();
                }
                Ok(())
            }
        }
    }

    fn walk<'c, E>(
        &self,
        value: &'c Value,
        path: &mut Vec<PathSeg<'c>>,
        f: &mut impl FnMut(StringArg<'c>, &dyn Fn() -> Cow<'static, str>) -> Result<(), E>,
    ) -> Result<(), E> {
        match value {
            Value::String(s) => {
                let kind = self
                    .kinds
                    .iter()
                    .find(|(pat, _)| pat.matches(path))
                    .map_or(ArgKind::Text, |(_, k)| *k);
                string_arg(s, kind, path, f)
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(PathSeg::Index(i));
                    self.walk(item, path, f)?;
                    path.pop();
                }
                Ok(())
            }
            Value::Object(map) => {
                for (key, item) in map {
                    path.push(PathSeg::Key(key));
                    string_arg(key, ArgKind::Text, path, f)?;
                    self.walk(item, path, f)?;
                    path.pop();
                }
                Ok(())
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
        }
    }
}

/// Hands one string of a custom tool's arguments to `f`, with its pointer (`path`). Object
/// keys come here too, as text: a model chooses keys as freely as values (where the schema
/// allows other keys), so a secret or hidden characters can ride in one; a key's pointer is
/// its member's.
fn string_arg<'c, E>(
    value: &'c str,
    kind: ArgKind,
    path: &[PathSeg<'c>],
    f: &mut impl FnMut(StringArg<'c>, &dyn Fn() -> Cow<'static, str>) -> Result<(), E>,
) -> Result<(), E> {
    let snapshot = path.to_vec();
    f(StringArg { value, kind }, &move || {
        Cow::Owned(pointer_of(&snapshot))
    })
}

fn compile_schema<F: jsonschema::json::Json>(
    schema: &Value,
) -> Result<jsonschema::Validator<F>, String> {
    jsonschema::options_for::<F>()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| format!("invalid JSON Schema: {e}"))
}

/// The set of tools a guard accepts.
#[derive(Debug, Default)]
pub struct ToolRegistry {
    /// Sorted by name, names unique. A policy declares a handful of tools: a binary search
    /// costs a few short comparisons, where hashing the name with SipHash costs more.
    tools: Vec<ToolSpec>,
}

impl ToolRegistry {
    /// An empty registry (every call is an unknown tool).
    pub fn new() -> Self {
        ToolRegistry::default()
    }

    /// Adds or replaces a tool.
    pub fn insert(&mut self, spec: ToolSpec) {
        match self.find(&spec.name) {
            Ok(i) => {
                if let Some(slot) = self.tools.get_mut(i) {
                    *slot = spec;
                }
            }
            Err(i) => self.tools.insert(i, spec),
        }
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.tools
            .binary_search_by(|spec| spec.name.as_str().cmp(name))
    }

    /// Looks a tool up by its exact name.
    pub fn get(&self, name: &str) -> Result<&ToolSpec, ToolError> {
        self.lookup(name)
            .ok_or_else(|| ToolError::unknown_tool(name))
    }

    /// [`get`](Self::get) without the error: `None` for a tool the registry does not hold.
    pub fn lookup(&self, name: &str) -> Option<&ToolSpec> {
        self.find(name).ok().and_then(|i| self.tools.get(i))
    }

    /// Names of all tools, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.tools.iter().map(|spec| spec.name.as_str()).collect()
    }
}

/// The error for a built-in tool's field that is missing or not a string (which its schema
/// has already refused; kept so that typing never trusts the schema file alone).
fn not_a_string(key: &str) -> ToolError {
    ToolError::Schema {
        pointer: ["/", key].concat(),
        message: ["`", key, "` must be a string"].concat(),
    }
}

/// A tool name made safe to print: at most 64 characters, non-printable characters escaped.
fn printable_name(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if i == 64 {
            out.push('…');
            break;
        }
        if c.is_ascii_graphic() {
            out.push(c);
        } else {
            out.push_str(&c.escape_unicode().to_string());
        }
    }
    out
}

/// Why a candidate call could not be typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The name is not an allowlisted tool.
    #[error("tool `{name}` is not allowed")]
    UnknownTool {
        /// The name, escaped for printing.
        name: String,
    },
    /// An argument the schema does not declare.
    #[error("unknown argument at `{pointer}`")]
    UnknownField {
        /// JSON pointer of the field.
        pointer: String,
        /// Field name.
        field: String,
    },
    /// Any other schema failure.
    #[error("argument at `{pointer}` {message}")]
    Schema {
        /// JSON pointer of the failing value (`""` for the arguments object).
        pointer: String,
        /// What failed.
        message: String,
    },
}

impl ToolError {
    /// The error for a tool name that is not allowlisted (the name made safe to print).
    pub fn unknown_tool(name: &str) -> ToolError {
        ToolError::UnknownTool {
            name: printable_name(name),
        }
    }

    /// JSON pointer of the offending argument, if any.
    pub fn pointer(&self) -> Option<&str> {
        match self {
            ToolError::UnknownTool { .. } => None,
            ToolError::UnknownField { pointer, .. } | ToolError::Schema { pointer, .. } => {
                Some(pointer)
            }
        }
    }
}

impl Coded for ToolError {
    fn code(&self) -> ReasonCode {
        match self {
            ToolError::UnknownTool { .. } => ReasonCode::UnknownTool,
            ToolError::UnknownField { .. } => ReasonCode::UnknownField,
            ToolError::Schema { .. } => ReasonCode::SchemaViolation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn builtins_type_and_reject() {
        let spec = ToolSpec::builtin(Builtin::WriteFile, BlastRadius::High).unwrap();
        let call = spec
            .type_call(args(json!({"path": "/workspace/a", "content": "x"})))
            .unwrap();
        assert_eq!(call.name(), "write_file");
        let err = spec
            .type_call(args(
                json!({"path": "/workspace/a", "content": "x", "mode": "0777"}),
            ))
            .unwrap_err();
        assert_eq!(err.code(), ReasonCode::UnknownField);
        assert_eq!(err.pointer(), Some("/mode"));
        let err = spec
            .type_call(args(json!({"path": "/workspace/a", "content": 5})))
            .unwrap_err();
        assert_eq!(err.code(), ReasonCode::SchemaViolation);
        assert_eq!(err.pointer(), Some("/content"));
        let err = spec
            .type_call(args(json!({"path": "/workspace/a"})))
            .unwrap_err();
        assert_eq!(err.code(), ReasonCode::SchemaViolation);
    }

    #[test]
    fn content_limit_counts_code_points() {
        let spec = ToolSpec::builtin(Builtin::WriteFile, BlastRadius::High).unwrap();
        let ok = "é".repeat(130_000);
        assert!(
            spec.type_call(args(json!({"path": "/workspace/a", "content": ok})))
                .is_ok()
        );
        let big = "a".repeat(256_001);
        let err = spec
            .type_call(args(json!({"path": "/workspace/a", "content": big})))
            .unwrap_err();
        assert_eq!(err.code(), ReasonCode::SchemaViolation);
    }

    #[test]
    fn custom_tool_kinds_and_pointers() {
        let schema = json!({
            "type": "object",
            "properties": {
                "repo": {"type": "string"},
                "files": {"type": "array", "items": {"type": "string"}},
                "note": {"type": "string"}
            },
            "required": ["repo"],
            "additionalProperties": false
        });
        let kinds = vec![
            (ArgPattern::parse("repo").unwrap(), ArgKind::Url),
            (ArgPattern::parse("/files/*").unwrap(), ArgKind::Path),
        ];
        let spec = ToolSpec::custom("clone_repo", &schema, kinds, BlastRadius::High).unwrap();
        let call = spec
            .type_call(args(json!({
                "repo": "https://api.github.com/x",
                "files": ["/workspace/a", "/workspace/b"],
                "note": "hi"
            })))
            .unwrap();
        let mut seen = Vec::new();
        spec.visit_strings(&call, |arg, ptr| {
            seen.push((ptr().into_owned(), arg.kind));
            Ok::<(), ()>(())
        })
        .unwrap();
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            seen,
            vec![
                // Every key is text; its pointer is its member's.
                ("/files".to_owned(), ArgKind::Text),
                ("/files/0".to_owned(), ArgKind::Path),
                ("/files/1".to_owned(), ArgKind::Path),
                ("/note".to_owned(), ArgKind::Text),
                ("/note".to_owned(), ArgKind::Text),
                ("/repo".to_owned(), ArgKind::Text),
                ("/repo".to_owned(), ArgKind::Url),
            ]
        );
    }

    #[test]
    fn custom_tool_schema_must_be_closed() {
        let open = json!({"type": "object", "properties": {}});
        assert!(ToolSpec::custom("t", &open, vec![], BlastRadius::Low).is_err());
        let closed = json!({"type": "object", "additionalProperties": false});
        assert!(ToolSpec::custom("read_file", &closed, vec![], BlastRadius::Low).is_err());
    }

    #[test]
    fn unknown_names_are_escaped() {
        let mut reg = ToolRegistry::new();
        reg.insert(ToolSpec::builtin(Builtin::ReadFile, BlastRadius::Low).unwrap());
        assert!(reg.get("read_file").is_ok());
        let err = reg.get("read_file\u{0}").unwrap_err();
        assert_eq!(err.to_string(), "tool `read_file\\u{0}` is not allowed");
        assert!(reg.get("READ_FILE").is_err());
    }

    #[test]
    fn pointer_escaping() {
        assert_eq!(
            ArgPattern::parse("/a~1b/*").unwrap().segments,
            vec!["a/b", "*"]
        );
        assert!(ArgPattern::parse("/a~2").is_err());
        assert_eq!(
            pointer_of(&[PathSeg::Key("a/b~"), PathSeg::Index(3)]),
            "/a~1b~0/3"
        );
    }
}
