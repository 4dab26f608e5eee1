//! Read-only check for SQL arguments.
//!
//! [`SqlChecker`] accepts an SQL string only when it can show that running it reads data and
//! nothing else. The rules, in order:
//!
//! 1. The text is at most [`SqlConfig::max_sql_bytes`] long ([`ReasonCode::SqlTooLarge`]).
//! 2. It parses with `sqlparser` in the database's [`Dialect`] ([`ReasonCode::SqlParseError`]).
//!    Lexing is dialect-specific on purpose: how `\'`, `#`, `/*! */`, nested comments or `$$`
//!    are read decides where a statement ends, so the dialect must be the one of the database
//!    that will run the text. Where `sqlparser`'s lexer and the database's are known to part
//!    (a `$` before a byte above 127 in PostgreSQL, an operator running into `--`, MariaDB's
//!    `/*M! */`, non-ASCII spaces, a backslash before a quote), the text is refused as
//!    ambiguous rather than read one way ([`ReasonCode::SqlParseError`]). `mysql` means a
//!    server with MySQL's default string rules: a server whose `sql_mode` holds
//!    `NO_BACKSLASH_ESCAPES` or `ANSI_QUOTES` reads quotes differently and is not supported.
//! 3. It holds exactly one statement; empty statements (`;;`) are ignored
//!    ([`ReasonCode::SqlStatementCount`]).
//! 4. The statement is a query (`SELECT`, `VALUES`, `TABLE t`, `WITH ...`), `EXPLAIN` of a query
//!    (with or without `ANALYZE`), a `SHOW`/`DESCRIBE` variant, or, for SQLite, one of the
//!    introspection pragmas in [`READ_ONLY_PRAGMAS`] ([`ReasonCode::SqlNotReadOnly`]).
//! 5. Every part of it is read-only: no data-modifying statement anywhere (CTE bodies,
//!    subqueries in any position, set operations, derived and lateral tables), no `SELECT INTO`,
//!    no locking clause (`FOR UPDATE`/`FOR SHARE`), no `:=` assignment to a session variable
//!    ([`ReasonCode::SqlNotReadOnly`]).
//! 6. Every function called anywhere, including table functions in `FROM` and method calls, is
//!    on the function allowlist ([`ReasonCode::SqlFunctionNotAllowed`]). The allowlist is
//!    [`BUILTIN_FUNCTIONS`] plus [`SqlConfig::allow_functions`] minus
//!    [`SqlConfig::deny_functions`]; a function is refused because it is not on it, never
//!    because it is on a denylist.
//!
//! # Function names
//!
//! Unquoted names are compared in ASCII lowercase. Quoted names (`"pg_sleep"`) are compared as
//! written in PostgreSQL and the generic dialect, where quoting makes a name case-sensitive, and
//! in lowercase in MySQL, SQLite and SQL Server, which resolve function names without regard to
//! case. A schema-qualified name is allowed only when the allowlist holds that qualified name,
//! except that PostgreSQL's own `pg_catalog.` prefix is looked through: `pg_catalog.pg_sleep` is
//! `pg_sleep`. Any other qualifier (`public.count`) names a user-defined function and is refused.
//!
//! # Untrusted input
//!
//! The text is limited to [`SqlConfig::max_sql_bytes`] (at most [`MAX_SQL_BYTES_LIMIT`]) and
//! parenthesised nesting to [`MAX_NESTING`] levels; going over either is an error. Operator
//! chains (`1+1+1...`) and set-operation chains are not nesting and build trees as deep as the
//! text is long; texts longer than [`INLINE_MAX_BYTES`] are therefore checked on a short-lived
//! thread whose stack is sized from the text length, so that no input can overflow the caller's
//! stack.

use std::collections::HashSet;
use std::fmt;
use std::ops::ControlFlow;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sqlparser::ast::{
    BinaryOperator, Expr, Ident, ObjectName, ObjectNamePart, Query, Select, Statement, TableFactor,
    Visit, Visitor,
};
use sqlparser::dialect as sqlp;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

use crate::policy::PolicyIssue;
use crate::verdict::{Coded, ReasonCode};

/// Deepest parenthesised nesting the parser accepts (sqlparser's recursion limit).
pub const MAX_NESTING: usize = 50;

/// Largest value [`SqlConfig::max_sql_bytes`] may take.
pub const MAX_SQL_BYTES_LIMIT: usize = 1024 * 1024;

/// Texts up to this many bytes are checked on the caller's thread; longer ones on a thread
/// with a stack sized for them.
pub const INLINE_MAX_BYTES: usize = 4 * 1024;

/// Stack reserved per byte of SQL text on the checking thread, plus [`STACK_BASE_BYTES`].
const STACK_PER_SQL_BYTE: usize = 256;
const STACK_BASE_BYTES: usize = 2 * 1024 * 1024;

/// Longest identifier part accepted in a function name (PostgreSQL's `NAMEDATALEN - 1`).
const MAX_IDENT_BYTES: usize = 63;

/// Longest `expected ...` hint copied from a parser error into a message.
const MAX_HINT_CHARS: usize = 80;

/// SQLite pragmas that only report schema or build information and have no setter form, so
/// neither `PRAGMA name` nor `PRAGMA name(arg)` can change anything.
pub const READ_ONLY_PRAGMAS: &[&str] = &[
    "collation_list",
    "compile_options",
    "database_list",
    "foreign_key_list",
    "function_list",
    "index_info",
    "index_list",
    "index_xinfo",
    "module_list",
    "pragma_list",
    "table_info",
    "table_list",
    "table_xinfo",
];

/// Aggregates.
const AGGREGATE: &[&str] = &[
    "any_value",
    "array_agg",
    "avg",
    "bit_and",
    "bit_or",
    "bit_xor",
    "bool_and",
    "bool_or",
    "corr",
    "count",
    "count_big",
    "covar_pop",
    "covar_samp",
    "every",
    "group_concat",
    "grouping",
    "json_agg",
    "json_arrayagg",
    "json_group_array",
    "json_group_object",
    "json_object_agg",
    "json_objectagg",
    "jsonb_agg",
    "jsonb_object_agg",
    "listagg",
    "max",
    "min",
    "mode",
    "percentile_cont",
    "percentile_disc",
    "regr_avgx",
    "regr_avgy",
    "regr_count",
    "regr_intercept",
    "regr_r2",
    "regr_slope",
    "regr_sxx",
    "regr_sxy",
    "regr_syy",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "stdev",
    "stdevp",
    "string_agg",
    "sum",
    "total",
    "var",
    "var_pop",
    "var_samp",
    "variance",
    "varp",
];

/// Window functions.
const WINDOW: &[&str] = &[
    "cume_dist",
    "dense_rank",
    "first_value",
    "lag",
    "last_value",
    "lead",
    "nth_value",
    "ntile",
    "percent_rank",
    "rank",
    "row_number",
];

/// Conditional expressions written as calls.
const CONDITIONAL: &[&str] = &[
    "choose",
    "coalesce",
    "greatest",
    "if",
    "ifnull",
    "iif",
    "isnull",
    "least",
    "likelihood",
    "likely",
    "nullif",
    "num_nonnulls",
    "num_nulls",
    "nvl",
    "unlikely",
];

/// String functions.
const STRING: &[&str] = &[
    "ascii",
    "bit_length",
    "btrim",
    "char",
    "char_length",
    "character_length",
    "charindex",
    "chr",
    "concat",
    "concat_ws",
    "datalength",
    "decode",
    "difference",
    "encode",
    "format",
    "hex",
    "initcap",
    "instr",
    "lcase",
    "left",
    "len",
    "length",
    "locate",
    "lower",
    "lpad",
    "ltrim",
    "md5",
    "octet_length",
    "overlay",
    "patindex",
    "position",
    "printf",
    "quote",
    "quote_ident",
    "quote_literal",
    "quote_nullable",
    "regexp_count",
    "regexp_instr",
    "regexp_like",
    "regexp_match",
    "regexp_matches",
    "regexp_replace",
    "regexp_split_to_array",
    "regexp_split_to_table",
    "regexp_substr",
    "repeat",
    "replace",
    "replicate",
    "reverse",
    "right",
    "rpad",
    "rtrim",
    "sha1",
    "sha2",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "soundex",
    "space",
    "split_part",
    "starts_with",
    "str",
    "string_split",
    "string_to_array",
    "strpos",
    "stuff",
    "substr",
    "substring",
    "to_char",
    "to_hex",
    "to_number",
    "translate",
    "trim",
    "ucase",
    "unhex",
    "unicode",
    "upper",
];

/// Numeric functions.
const MATH: &[&str] = &[
    "abs",
    "acos",
    "asin",
    "atan",
    "atan2",
    "cbrt",
    "ceil",
    "ceiling",
    "cos",
    "cosh",
    "cot",
    "degrees",
    "div",
    "exp",
    "factorial",
    "floor",
    "gcd",
    "lcm",
    "ln",
    "log",
    "log10",
    "log2",
    "mod",
    "pi",
    "pow",
    "power",
    "radians",
    "rand",
    "random",
    "round",
    "scale",
    "sign",
    "sin",
    "sinh",
    "sqrt",
    "square",
    "tan",
    "tanh",
    "trunc",
    "truncate",
    "width_bucket",
];

/// Date and time functions.
const DATETIME: &[&str] = &[
    "adddate",
    "age",
    "clock_timestamp",
    "convert_tz",
    "curdate",
    "current_date",
    "current_time",
    "current_timestamp",
    "curtime",
    "date",
    "date_add",
    "date_bin",
    "date_format",
    "date_part",
    "date_sub",
    "date_trunc",
    "dateadd",
    "datediff",
    "datefromparts",
    "datename",
    "datepart",
    "datetime",
    "datetimefromparts",
    "datetrunc",
    "day",
    "dayname",
    "dayofmonth",
    "dayofweek",
    "dayofyear",
    "eomonth",
    "extract",
    "from_days",
    "from_unixtime",
    "getdate",
    "getutcdate",
    "hour",
    "isdate",
    "isfinite",
    "julianday",
    "justify_days",
    "justify_hours",
    "justify_interval",
    "last_day",
    "localtime",
    "localtimestamp",
    "make_date",
    "make_interval",
    "make_time",
    "make_timestamp",
    "make_timestamptz",
    "makedate",
    "maketime",
    "minute",
    "month",
    "monthname",
    "now",
    "period_add",
    "period_diff",
    "quarter",
    "second",
    "statement_timestamp",
    "str_to_date",
    "strftime",
    "subdate",
    "sysdate",
    "sysdatetime",
    "sysdatetimeoffset",
    "sysutcdatetime",
    "time",
    "time_format",
    "timefromparts",
    "timeofday",
    "timestampadd",
    "timestampdiff",
    "timezone",
    "to_date",
    "to_days",
    "to_timestamp",
    "transaction_timestamp",
    "unix_timestamp",
    "unixepoch",
    "utc_date",
    "utc_time",
    "utc_timestamp",
    "week",
    "weekday",
    "weekofyear",
    "year",
];

/// JSON constructors, accessors and pure transformers (`jsonb_set`, `json_insert` and the
/// like return a new document; they do not write anything).
const JSON: &[&str] = &[
    "array_to_json",
    "isjson",
    "json",
    "json_array",
    "json_array_elements",
    "json_array_elements_text",
    "json_array_length",
    "json_build_array",
    "json_build_object",
    "json_contains",
    "json_contains_path",
    "json_depth",
    "json_each",
    "json_each_text",
    "json_extract",
    "json_extract_path",
    "json_extract_path_text",
    "json_insert",
    "json_keys",
    "json_length",
    "json_merge_patch",
    "json_merge_preserve",
    "json_object",
    "json_object_keys",
    "json_patch",
    "json_query",
    "json_quote",
    "json_remove",
    "json_replace",
    "json_search",
    "json_set",
    "json_strip_nulls",
    "json_to_record",
    "json_to_recordset",
    "json_tree",
    "json_type",
    "json_typeof",
    "json_unquote",
    "json_valid",
    "json_value",
    "jsonb_array_elements",
    "jsonb_array_elements_text",
    "jsonb_array_length",
    "jsonb_build_array",
    "jsonb_build_object",
    "jsonb_each",
    "jsonb_each_text",
    "jsonb_extract_path",
    "jsonb_extract_path_text",
    "jsonb_insert",
    "jsonb_object",
    "jsonb_object_keys",
    "jsonb_path_exists",
    "jsonb_path_match",
    "jsonb_path_query",
    "jsonb_path_query_array",
    "jsonb_path_query_first",
    "jsonb_pretty",
    "jsonb_set",
    "jsonb_strip_nulls",
    "jsonb_to_record",
    "jsonb_to_recordset",
    "jsonb_typeof",
    "row_to_json",
    "to_json",
    "to_jsonb",
];

/// Array functions and constructors.
const ARRAY: &[&str] = &[
    "array",
    "array_append",
    "array_cat",
    "array_dims",
    "array_length",
    "array_lower",
    "array_ndims",
    "array_position",
    "array_positions",
    "array_prepend",
    "array_remove",
    "array_replace",
    "array_to_string",
    "array_upper",
    "cardinality",
    "unnest",
];

/// Set-returning generators.
const SERIES: &[&str] = &["generate_series", "generate_subscripts"];

/// Values, types and identifiers with no effect beyond the returned value.
const VALUE: &[&str] = &[
    "gen_random_uuid",
    "newid",
    "pg_typeof",
    "randomblob",
    "row",
    "typeof",
    "uuid",
    "uuid_generate_v4",
    "zeroblob",
];

/// Reads of session identity, server version, settings and catalog information.
const SYSTEM_INFO: &[&str] = &[
    "changes",
    "col_description",
    "connection_id",
    "current_catalog",
    "current_database",
    "current_role",
    "current_schema",
    "current_schemas",
    "current_setting",
    "current_user",
    "database",
    "db_name",
    "format_type",
    "has_column_privilege",
    "has_database_privilege",
    "has_function_privilege",
    "has_schema_privilege",
    "has_table_privilege",
    "last_insert_rowid",
    "obj_description",
    "object_id",
    "object_name",
    "pg_backend_pid",
    "pg_database_size",
    "pg_function_is_visible",
    "pg_get_constraintdef",
    "pg_get_expr",
    "pg_get_function_arguments",
    "pg_get_function_result",
    "pg_get_functiondef",
    "pg_get_indexdef",
    "pg_get_serial_sequence",
    "pg_get_triggerdef",
    "pg_get_userbyid",
    "pg_get_viewdef",
    "pg_indexes_size",
    "pg_is_in_recovery",
    "pg_postmaster_start_time",
    "pg_relation_size",
    "pg_size_pretty",
    "pg_table_is_visible",
    "pg_table_size",
    "pg_total_relation_size",
    "pg_type_is_visible",
    "schema",
    "schema_name",
    "session_user",
    "shobj_description",
    "sqlite_version",
    "system_user",
    "to_regclass",
    "to_regtype",
    "total_changes",
    "user",
    "user_name",
    "version",
];

/// The built-in function allowlist, by family: `(family, names)`. Names are lowercase and
/// unqualified. Every entry is free of side effects: it does not write, lock, sleep, reach the
/// file system or the network, change session state or run SQL given as a string. Volatile
/// functions (`now`, `random`, `gen_random_uuid`) are included; costly ones are bounded by the
/// database's statement timeout, not by this check.
pub const BUILTIN_FUNCTIONS: &[(&str, &[&str])] = &[
    ("aggregate", AGGREGATE),
    ("window", WINDOW),
    ("conditional", CONDITIONAL),
    ("string", STRING),
    ("math", MATH),
    ("datetime", DATETIME),
    ("json", JSON),
    ("array", ARRAY),
    ("series", SERIES),
    ("value", VALUE),
    ("system_info", SYSTEM_INFO),
];

/// The SQL dialect of the database that runs the text; it decides how the text is lexed and
/// parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// PostgreSQL (the default).
    #[default]
    Postgresql,
    /// MySQL and MariaDB.
    Mysql,
    /// SQLite.
    Sqlite,
    /// Microsoft SQL Server (T-SQL).
    Mssql,
    /// sqlparser's permissive generic dialect.
    Generic,
}

impl Dialect {
    /// Every dialect, in declaration order.
    pub const ALL: &'static [Dialect] = &[
        Dialect::Postgresql,
        Dialect::Mysql,
        Dialect::Sqlite,
        Dialect::Mssql,
        Dialect::Generic,
    ];

    /// `postgresql`, `mysql`, `sqlite`, `mssql` or `generic`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Postgresql => "postgresql",
            Dialect::Mysql => "mysql",
            Dialect::Sqlite => "sqlite",
            Dialect::Mssql => "mssql",
            Dialect::Generic => "generic",
        }
    }

    fn parser_dialect(self) -> &'static dyn sqlp::Dialect {
        match self {
            Dialect::Postgresql => &sqlp::PostgreSqlDialect {},
            Dialect::Mysql => &sqlp::MySqlDialect {},
            Dialect::Sqlite => &sqlp::SQLiteDialect {},
            Dialect::Mssql => &sqlp::MsSqlDialect {},
            Dialect::Generic => &sqlp::GenericDialect {},
        }
    }

    /// Whether the database resolves quoted function names without regard to case.
    fn quoted_names_fold(self) -> bool {
        matches!(self, Dialect::Mysql | Dialect::Sqlite | Dialect::Mssql)
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A dialect name that [`Dialect::from_str`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sql dialect `{name}`: expected one of postgresql, mysql, sqlite, mssql, generic")]
pub struct UnknownDialect {
    /// The name as given.
    pub name: String,
}

impl FromStr for Dialect {
    type Err = UnknownDialect;

    /// Parses the lowercase name used in policies and corpora (ASCII case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dialect::ALL
            .iter()
            .copied()
            .find(|d| d.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownDialect { name: s.to_owned() })
    }
}

/// Settings of the SQL read-only check (`[sql]` in the policy).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqlConfig {
    /// Dialect used when a call does not name one. Default `postgresql`.
    pub dialect: Dialect,
    /// Functions allowed on top of [`BUILTIN_FUNCTIONS`]: lowercase names, optionally
    /// schema-qualified (`reporting.safe_total`). Default empty.
    pub allow_functions: Vec<String>,
    /// Functions removed from the allowlist, built-in or configured. Default empty.
    pub deny_functions: Vec<String>,
    /// Longest SQL text accepted, in bytes (1 to [`MAX_SQL_BYTES_LIMIT`]). Default 65536.
    pub max_sql_bytes: usize,
    /// Allow `SHOW ...` and `DESCRIBE table`. Default `true`.
    pub allow_show: bool,
    /// Allow `EXPLAIN` of a read-only query. Default `true`.
    pub allow_explain: bool,
    /// Allow `EXPLAIN ANALYZE` of a read-only query, which runs the query. Default `true`;
    /// ignored when `allow_explain` is off.
    pub allow_explain_analyze: bool,
    /// Allow the SQLite introspection pragmas in [`READ_ONLY_PRAGMAS`]. Default `true`.
    pub allow_pragma: bool,
}

impl Default for SqlConfig {
    /// PostgreSQL, the built-in allowlist unchanged, 64 KiB, `SHOW`, `EXPLAIN [ANALYZE]` of a
    /// read-only query and the SQLite introspection pragmas allowed.
    fn default() -> Self {
        SqlConfig {
            dialect: Dialect::Postgresql,
            allow_functions: Vec::new(),
            deny_functions: Vec::new(),
            max_sql_bytes: 64 * 1024,
            allow_show: true,
            allow_explain: true,
            allow_explain_analyze: true,
            allow_pragma: true,
        }
    }
}

/// A line and column in the SQL text, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SqlPosition {
    /// Line, from 1.
    pub line: u64,
    /// Column within the line, from 1.
    pub column: u64,
}

/// Why an SQL text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// The text is longer than [`SqlConfig::max_sql_bytes`].
    #[error("sql is {len} bytes, more than the limit of {max}")]
    TooLarge {
        /// Length of the text in bytes.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// The text does not parse in the dialect.
    #[error("sql does not parse as `{dialect}`{}{}", at(.position), expected_hint(.expected))]
    Parse {
        /// The dialect used.
        dialect: Dialect,
        /// Where parsing stopped, when known.
        position: Option<SqlPosition>,
        /// What the parser expected there, when it said.
        expected: Option<String>,
    },
    /// Parenthesised nesting is deeper than [`MAX_NESTING`].
    #[error("sql nests deeper than {limit} levels")]
    TooDeep {
        /// The nesting limit.
        limit: usize,
    },
    /// The text holds no statement.
    #[error("expected exactly one sql statement, found none")]
    NoStatement,
    /// The text holds more than one statement.
    #[error("expected exactly one sql statement, found more than one")]
    MultipleStatements,
    /// The statement is not a query, `EXPLAIN` of a query, `SHOW` or a read-only pragma.
    #[error("only a query, `EXPLAIN` of a query or `SHOW` may run, found {kind}")]
    Statement {
        /// What kind of statement it is.
        kind: &'static str,
    },
    /// A statement nested inside the query (a data-modifying CTE or subquery).
    #[error("{kind} inside a query is not read-only")]
    NestedStatement {
        /// What kind of statement it is.
        kind: &'static str,
    },
    /// A clause or construct that writes, locks or changes session state, or that the check
    /// cannot show to be read-only.
    #[error("{what} is not read-only")]
    NotReadOnly {
        /// What was found.
        what: &'static str,
    },
    /// A function that is not on the allowlist.
    #[error("function `{name}`{} is not on the allowlist", at(.position))]
    FunctionNotAllowed {
        /// The function name as written (shortened if long).
        name: String,
        /// Where the name starts, when known.
        position: Option<SqlPosition>,
    },
    /// Text that the database may read differently from the parser (where a string, a comment
    /// or an operator ends), refused rather than guessed at.
    #[error("sql is ambiguous in `{dialect}`{}: {problem}", at(.position))]
    Ambiguous {
        /// The dialect used.
        dialect: Dialect,
        /// Where the ambiguous text starts, when known.
        position: Option<SqlPosition>,
        /// What is ambiguous.
        problem: &'static str,
    },
    /// The check itself failed (the checking thread could not start or did not finish).
    #[error("sql check failed internally: {reason}")]
    Internal {
        /// What went wrong.
        reason: &'static str,
    },
}

fn at(position: &Option<SqlPosition>) -> String {
    match position {
        Some(p) => format!(" at line {}, column {}", p.line, p.column),
        None => String::new(),
    }
}

fn expected_hint(expected: &Option<String>) -> String {
    match expected {
        Some(e) => format!(": expected {e}"),
        None => String::new(),
    }
}

impl Coded for SqlError {
    fn code(&self) -> ReasonCode {
        match self {
            SqlError::TooLarge { .. } => ReasonCode::SqlTooLarge,
            SqlError::Parse { .. } | SqlError::TooDeep { .. } | SqlError::Ambiguous { .. } => {
                ReasonCode::SqlParseError
            }
            SqlError::NoStatement | SqlError::MultipleStatements => ReasonCode::SqlStatementCount,
            SqlError::Statement { .. }
            | SqlError::NestedStatement { .. }
            | SqlError::NotReadOnly { .. } => ReasonCode::SqlNotReadOnly,
            SqlError::FunctionNotAllowed { .. } => ReasonCode::SqlFunctionNotAllowed,
            SqlError::Internal { .. } => ReasonCode::InternalError,
        }
    }
}

/// The compiled SQL read-only check. Build it once from a [`SqlConfig`]; it is `Send + Sync`
/// and cheap to share.
#[derive(Debug, Clone)]
pub struct SqlChecker {
    dialect: Dialect,
    max_sql_bytes: usize,
    /// Allowed function names: lowercase, unqualified or dotted.
    functions: HashSet<Box<str>>,
    /// Whether `functions` holds any dotted (schema-qualified) name.
    has_qualified: bool,
    allow_show: bool,
    allow_explain: bool,
    allow_explain_analyze: bool,
    allow_pragma: bool,
}

impl SqlChecker {
    /// Compiles the function allowlist. Reports every malformed function name, a name in both
    /// `allow_functions` and `deny_functions`, and an out-of-range `max_sql_bytes`.
    pub fn new(cfg: &SqlConfig) -> Result<Self, Vec<PolicyIssue>> {
        let mut issues = Vec::new();
        if cfg.max_sql_bytes == 0 || cfg.max_sql_bytes > MAX_SQL_BYTES_LIMIT {
            issues.push(PolicyIssue::new(
                "sql.max_sql_bytes",
                format!(
                    "must be between 1 and {MAX_SQL_BYTES_LIMIT}, got {}",
                    cfg.max_sql_bytes
                ),
            ));
        }
        let allow = normalize_names("sql.allow_functions", &cfg.allow_functions, &mut issues);
        let deny = normalize_names("sql.deny_functions", &cfg.deny_functions, &mut issues);
        for (index, name) in &deny {
            if allow.iter().any(|(_, a)| a == name) {
                issues.push(PolicyIssue::new(
                    format!("sql.deny_functions[{index}]"),
                    format!("`{name}` is also in `sql.allow_functions`"),
                ));
            }
        }
        if !issues.is_empty() {
            return Err(issues);
        }

        let mut functions: HashSet<Box<str>> = BUILTIN_FUNCTIONS
            .iter()
            .flat_map(|(_, names)| names.iter())
            .map(|name| Box::from(*name))
            .collect();
        functions.extend(allow.into_iter().map(|(_, name)| name.into_boxed_str()));
        for (_, name) in &deny {
            functions.remove(name.as_str());
        }
        let has_qualified = functions.iter().any(|name| name.contains('.'));
        Ok(SqlChecker {
            dialect: cfg.dialect,
            max_sql_bytes: cfg.max_sql_bytes,
            functions,
            has_qualified,
            allow_show: cfg.allow_show,
            allow_explain: cfg.allow_explain,
            allow_explain_analyze: cfg.allow_explain_analyze,
            allow_pragma: cfg.allow_pragma,
        })
    }

    /// The dialect used when [`check`](Self::check) is not given one.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Whether `name` (lowercase, unqualified or dotted) is on the compiled allowlist.
    pub fn allows_function(&self, name: &str) -> bool {
        self.functions.contains(name)
    }

    /// Checks that `sql` is one read-only statement. `dialect` overrides the configured
    /// dialect for this call.
    pub fn check(&self, sql: &str, dialect: Option<Dialect>) -> Result<(), SqlError> {
        if sql.len() > self.max_sql_bytes {
            return Err(SqlError::TooLarge {
                len: sql.len(),
                max: self.max_sql_bytes,
            });
        }
        let dialect = dialect.unwrap_or(self.dialect);
        if sql.len() <= INLINE_MAX_BYTES {
            return self.check_here(sql, dialect);
        }
        let stack = STACK_BASE_BYTES.saturating_add(sql.len().saturating_mul(STACK_PER_SQL_BYTE));
        std::thread::scope(|scope| {
            let spawned = std::thread::Builder::new()
                .stack_size(stack)
                .spawn_scoped(scope, || self.check_here(sql, dialect));
            match spawned {
                Ok(handle) => handle.join().unwrap_or(Err(SqlError::Internal {
                    reason: "the checking thread panicked",
                })),
                Err(_) => Err(SqlError::Internal {
                    reason: "the checking thread could not start",
                }),
            }
        })
    }

    /// Parses and checks on the current thread.
    fn check_here(&self, sql: &str, dialect: Dialect) -> Result<(), SqlError> {
        lexical_check(sql, dialect)?;
        let mut parser = Parser::new(dialect.parser_dialect())
            .with_recursion_limit(MAX_NESTING)
            .try_with_sql(sql)
            .map_err(|e| parse_error(e, dialect))?;
        while parser.consume_token(&Token::SemiColon) {}
        if parser.peek_token_ref().token == Token::EOF {
            return Err(SqlError::NoStatement);
        }
        let top = self.parse_top(&mut parser, dialect)?;
        let mut separated = false;
        while parser.consume_token(&Token::SemiColon) {
            separated = true;
        }
        let next = parser.peek_token_ref();
        if next.token != Token::EOF {
            if separated {
                return Err(SqlError::MultipleStatements);
            }
            return Err(SqlError::Parse {
                dialect,
                position: position(next.span.start),
                expected: Some("end of statement".to_owned()),
            });
        }
        match top {
            Some(statement) => self.check_statement(&statement, dialect),
            None => Ok(()),
        }
    }

    /// Parses the one statement, with two additions to sqlparser's statement grammar:
    /// PostgreSQL's `TABLE name` query and SQLite pragmas whose argument is a bare name.
    /// `None` is a pragma already found read-only.
    fn parse_top(
        &self,
        parser: &mut Parser<'_>,
        dialect: Dialect,
    ) -> Result<Option<Statement>, SqlError> {
        if parser.peek_keyword(Keyword::TABLE) {
            let query = parser.parse_query().map_err(|e| parse_error(e, dialect))?;
            return Ok(Some(Statement::Query(query)));
        }
        if dialect == Dialect::Sqlite && parser.peek_keyword(Keyword::PRAGMA) {
            return self.parse_pragma(parser, dialect);
        }
        let statement = parser
            .parse_statement()
            .map_err(|e| parse_error(e, dialect))?;
        Ok(Some(statement))
    }

    /// `PRAGMA [schema.]name [( name-or-string )]`, accepted only for [`READ_ONLY_PRAGMAS`].
    fn parse_pragma(
        &self,
        parser: &mut Parser<'_>,
        dialect: Dialect,
    ) -> Result<Option<Statement>, SqlError> {
        const PRAGMA: SqlError = SqlError::Statement {
            kind: "a `PRAGMA` that is not read-only",
        };
        let perr = |e| parse_error(e, dialect);
        parser.expect_keyword(Keyword::PRAGMA).map_err(perr)?;
        let name = parser.parse_object_name(false).map_err(perr)?;
        if parser.consume_token(&Token::LParen) {
            let arg = parser.next_token();
            match arg.token {
                Token::Word(_) | Token::SingleQuotedString(_) | Token::DoubleQuotedString(_) => {}
                _ => {
                    return Err(SqlError::Parse {
                        dialect,
                        position: position(arg.span.start),
                        expected: Some("a table or index name".to_owned()),
                    });
                }
            }
            parser.expect_token(&Token::RParen).map_err(perr)?;
        } else if parser.peek_token_ref().token == Token::Eq {
            return Err(PRAGMA);
        }
        if !self.allow_pragma {
            return Err(SqlError::Statement { kind: "a `PRAGMA`" });
        }
        let pragma = match name.0.as_slice() {
            [ObjectNamePart::Identifier(pragma)]
            | [
                ObjectNamePart::Identifier(_),
                ObjectNamePart::Identifier(pragma),
            ] => pragma,
            _ => return Err(PRAGMA),
        };
        if READ_ONLY_PRAGMAS
            .iter()
            .any(|p| p.eq_ignore_ascii_case(&pragma.value))
        {
            Ok(None)
        } else {
            Err(PRAGMA)
        }
    }

    /// Decides the statement kind, then walks every node below it.
    fn check_statement(&self, statement: &Statement, dialect: Dialect) -> Result<(), SqlError> {
        let statements = match statement {
            Statement::Query(_) => 1,
            Statement::Explain {
                statement: inner,
                analyze,
                options,
                ..
            } => {
                if !self.allow_explain {
                    return Err(SqlError::Statement { kind: "`EXPLAIN`" });
                }
                let analyze = *analyze
                    || options.as_ref().is_some_and(|options| {
                        options
                            .iter()
                            .any(|o| o.name.value.eq_ignore_ascii_case("analyze"))
                    });
                if analyze && !self.allow_explain_analyze {
                    return Err(SqlError::Statement {
                        kind: "`EXPLAIN ANALYZE`",
                    });
                }
                if !matches!(**inner, Statement::Query(_)) {
                    return Err(SqlError::Statement {
                        kind: "`EXPLAIN` of a statement that is not a query",
                    });
                }
                2
            }
            Statement::ExplainTable { .. }
            | Statement::ShowFunctions { .. }
            | Statement::ShowVariable { .. }
            | Statement::ShowStatus { .. }
            | Statement::ShowVariables { .. }
            | Statement::ShowCreate { .. }
            | Statement::ShowColumns { .. }
            | Statement::ShowCatalogs { .. }
            | Statement::ShowDatabases { .. }
            | Statement::ShowProcessList { .. }
            | Statement::ShowSchemas { .. }
            | Statement::ShowCharset(_)
            | Statement::ShowObjects(_)
            | Statement::ShowTables { .. }
            | Statement::ShowViews { .. }
            | Statement::ShowCollation { .. } => {
                if !self.allow_show {
                    return Err(SqlError::Statement { kind: "`SHOW`" });
                }
                1
            }
            other => {
                return Err(SqlError::Statement {
                    kind: statement_kind(other),
                });
            }
        };
        let mut walker = ReadOnlyWalker {
            checker: self,
            dialect,
            statements_left: statements,
        };
        match statement.visit(&mut walker) {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(e) => Err(e),
        }
    }

    /// Checks one function name against the allowlist.
    fn check_function(&self, name: &ObjectName, dialect: Dialect) -> Result<(), SqlError> {
        let refuse = |ident: Option<&Ident>| SqlError::FunctionNotAllowed {
            name: shorten(&name.to_string()),
            position: ident.and_then(|i| position(i.span.start)),
        };
        let Some((last, qualifiers)) = name.0.split_last() else {
            return Err(refuse(None));
        };
        let Some(last) = last.as_ident() else {
            return Err(refuse(None));
        };
        let mut buf = [0u8; MAX_IDENT_BYTES];
        let Some(key) = fold_ident(last, dialect, &mut buf) else {
            return Err(refuse(Some(last)));
        };
        let allowed = match qualifiers {
            [] => self.functions.contains(key),
            [schema] if dialect == Dialect::Postgresql && is_pg_catalog(schema) => {
                self.functions.contains(key)
            }
            _ => self.has_qualified && self.qualified_allowed(name, dialect),
        };
        if allowed {
            Ok(())
        } else {
            Err(refuse(Some(last)))
        }
    }

    /// Looks a schema-qualified name up as a dotted lowercase string.
    fn qualified_allowed(&self, name: &ObjectName, dialect: Dialect) -> bool {
        let mut dotted = String::new();
        for part in &name.0 {
            let Some(ident) = part.as_ident() else {
                return false;
            };
            let mut buf = [0u8; MAX_IDENT_BYTES];
            let Some(folded) = fold_ident(ident, dialect, &mut buf) else {
                return false;
            };
            if !dotted.is_empty() {
                dotted.push('.');
            }
            dotted.push_str(folded);
        }
        self.functions.contains(dotted.as_str())
    }
}

/// Walks every node of an allowed statement. Nested statements beyond the expected count
/// (the statement itself, and the query under `EXPLAIN`) are data-modifying CTEs or subqueries.
struct ReadOnlyWalker<'a> {
    checker: &'a SqlChecker,
    dialect: Dialect,
    statements_left: usize,
}

impl Visitor for ReadOnlyWalker<'_> {
    type Break = SqlError;

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<SqlError> {
        match self.statements_left.checked_sub(1) {
            Some(left) => {
                self.statements_left = left;
                ControlFlow::Continue(())
            }
            None => ControlFlow::Break(SqlError::NestedStatement {
                kind: statement_kind(statement),
            }),
        }
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<SqlError> {
        if !query.locks.is_empty() {
            return ControlFlow::Break(SqlError::NotReadOnly {
                what: "a locking clause (`FOR UPDATE`/`FOR SHARE`)",
            });
        }
        if query.settings.is_some() {
            return ControlFlow::Break(SqlError::NotReadOnly {
                what: "a `SETTINGS` clause",
            });
        }
        if !query.pipe_operators.is_empty() {
            return ControlFlow::Break(SqlError::NotReadOnly {
                what: "pipe syntax (`|>`)",
            });
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<SqlError> {
        if select.into.is_some() {
            return ControlFlow::Break(SqlError::NotReadOnly {
                what: "`SELECT INTO`",
            });
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<SqlError> {
        let result = match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => self.checker.check_function(name, self.dialect),
            TableFactor::Table { args: None, .. }
            | TableFactor::Derived { .. }
            | TableFactor::TableFunction { .. }
            | TableFactor::UNNEST { .. }
            | TableFactor::JsonTable { .. }
            | TableFactor::OpenJsonTable { .. }
            | TableFactor::NestedJoin { .. }
            | TableFactor::Pivot { .. }
            | TableFactor::Unpivot { .. }
            | TableFactor::UnpivotExpr { .. }
            | TableFactor::MatchRecognize { .. }
            | TableFactor::XmlTable { .. } => Ok(()),
            TableFactor::SemanticView { .. } => Err(SqlError::NotReadOnly {
                what: "a `SEMANTIC_VIEW` table factor",
            }),
        };
        into_flow(result)
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<SqlError> {
        match expr {
            Expr::Function(function) => {
                into_flow(self.checker.check_function(&function.name, self.dialect))
            }
            Expr::BinaryOp {
                op: BinaryOperator::Assignment,
                ..
            } => ControlFlow::Break(SqlError::NotReadOnly {
                what: "a `:=` variable assignment",
            }),
            _ => ControlFlow::Continue(()),
        }
    }
}

fn into_flow(result: Result<(), SqlError>) -> ControlFlow<SqlError> {
    match result {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => ControlFlow::Break(e),
    }
}

/// The comparison form of one name part, or `None` when it cannot be on the allowlist.
fn fold_ident<'a>(
    ident: &'a Ident,
    dialect: Dialect,
    buf: &'a mut [u8; MAX_IDENT_BYTES],
) -> Option<&'a str> {
    let value = ident.value.as_str();
    if value.is_empty() || value.len() > MAX_IDENT_BYTES || value.contains('.') {
        return None;
    }
    let fold = ident.quote_style.is_none() || dialect.quoted_names_fold();
    if !fold || !value.bytes().any(|b| b.is_ascii_uppercase()) {
        return Some(value);
    }
    let out = buf.get_mut(..value.len())?;
    out.copy_from_slice(value.as_bytes());
    out.make_ascii_lowercase();
    std::str::from_utf8(out).ok()
}

fn is_pg_catalog(part: &ObjectNamePart) -> bool {
    part.as_ident().is_some_and(|ident| {
        if ident.quote_style.is_some() {
            ident.value == "pg_catalog"
        } else {
            ident.value.eq_ignore_ascii_case("pg_catalog")
        }
    })
}

/// Validates and lowercases configured function names; `pg_catalog.` is dropped as it is at
/// lookup time.
fn normalize_names(
    key: &str,
    names: &[String],
    issues: &mut Vec<PolicyIssue>,
) -> Vec<(usize, String)> {
    let mut out = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        let lower = name.to_ascii_lowercase();
        let valid = !lower.is_empty()
            && lower.split('.').count() <= 3
            && lower.split('.').all(|part| {
                part.len() <= MAX_IDENT_BYTES
                    && part.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                    && part.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$'
                    })
            });
        if !valid {
            issues.push(PolicyIssue::new(
                format!("{key}[{index}]"),
                format!(
                    "`{}` is not a function name: expected up to three dot-separated identifiers \
                     of ASCII letters, digits, `_` or `$`, each at most {MAX_IDENT_BYTES} bytes",
                    shorten(name)
                ),
            ));
            continue;
        }
        let normalized = match lower.strip_prefix("pg_catalog.") {
            Some(rest) if !rest.contains('.') => rest.to_owned(),
            _ => lower,
        };
        out.push((index, normalized));
    }
    out
}

fn parse_error(error: ParserError, dialect: Dialect) -> SqlError {
    let message = match error {
        ParserError::RecursionLimitExceeded => return SqlError::TooDeep { limit: MAX_NESTING },
        ParserError::TokenizerError(message) | ParserError::ParserError(message) => message,
    };
    let (body, position) = match message.rsplit_once(" at Line: ") {
        Some((body, location)) => match location.split_once(", Column: ") {
            Some((line, column)) => match (line.parse(), column.parse()) {
                (Ok(line), Ok(column)) => (body, Some(SqlPosition { line, column })),
                _ => (message.as_str(), None),
            },
            None => (message.as_str(), None),
        },
        None => (message.as_str(), None),
    };
    // Only the grammar's half of "Expected: X, found: Y" is kept: Y is a piece of the text.
    let expected = body
        .strip_prefix("Expected: ")
        .and_then(|rest| rest.split_once(", found: "))
        .map(|(expected, _)| shorten(expected));
    SqlError::Parse {
        dialect,
        position,
        expected,
    }
}

/// Refuses text whose tokens the database may split differently from `sqlparser`, where that
/// moves the end of a string, a comment or a statement. Each rule answers a way the two
/// lexers part:
///
/// - Whitespace other than space, tab, line feed and carriage return: `sqlparser` separates
///   words at any Unicode space, PostgreSQL reads bytes above 127 as identifier characters,
///   and MySQL takes `--` followed by a no-break space for two minus signs, not a comment.
/// - (PostgreSQL) A `$` that `sqlparser` reads as a parameter other than `$1`, `$2`, …:
///   PostgreSQL starts a dollar-quoted string at `$` followed by any byte above 127, so `$€$`
///   opens a string that `sqlparser` never sees.
/// - An operator that runs into `--` or `/*` (`>--`): PostgreSQL ends an operator before a
///   comment starts, `sqlparser` makes it part of the operator and reads on.
/// - A comment that starts with `!` or `M!`: MySQL and MariaDB run what such a comment holds
///   (and read `#` and `-- ` comments inside it, which may hide the `*/` where `sqlparser`
///   ends it); in MySQL any `/*!`, which `sqlparser` would read as code.
/// - `b"..."`: `sqlparser` reads a byte string without escapes, MySQL a name and a quoted
///   string whose backslash escapes the closing quote.
/// - (PostgreSQL) A string (`'...'`, `N'...'`) whose backslash stands before a quote or at its
///   end (`'x\'`): with `standard_conforming_strings` off, the backslash escapes the quote and
///   the string goes on. Such text can be written as an `E'...'` string.
///
/// Tokenizer errors are left for the parser to report.
fn lexical_check(sql: &str, dialect: Dialect) -> Result<(), SqlError> {
    let ambiguous = |position: Option<SqlPosition>, problem: &'static str| SqlError::Ambiguous {
        dialect,
        position,
        problem,
    };
    if let Some(at) =
        sql.find(|c: char| c.is_whitespace() && !matches!(c, ' ' | '\t' | '\n' | '\r'))
    {
        return Err(ambiguous(
            position_of(sql, at),
            "whitespace other than space, tab or line break",
        ));
    }
    // MySQL runs `/*! ... */`, and its lexer reads `#` and `-- ` comments inside, which may
    // hide the `*/` where the parser ends it.
    if dialect == Dialect::Mysql
        && let Some(at) = sql.find("/*!")
    {
        return Err(ambiguous(
            position_of(sql, at),
            "a comment that MySQL or MariaDB runs (`/*!` or `/*M!`)",
        ));
    }
    let Ok(tokens) = Tokenizer::new(dialect.parser_dialect(), sql).tokenize_with_location() else {
        return Ok(());
    };
    let postgres = dialect == Dialect::Postgresql;
    for token in &tokens {
        let problem = match &token.token {
            Token::Placeholder(p)
                if postgres
                    && p.strip_prefix('$').is_some_and(|n| {
                        n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit())
                    }) =>
            {
                "`$` not followed by a parameter number may start a dollar-quoted string"
            }
            Token::CustomBinaryOperator(op) if op.contains("--") || op.contains("/*") => {
                "an operator that runs into a comment marker (`--` or `/*`)"
            }
            Token::DoubleQuotedByteStringLiteral(_) => {
                "`b\"...\"`, which MySQL reads as a name and a quoted string, not bytes"
            }
            Token::Whitespace(Whitespace::MultiLineComment(c))
                if c.starts_with('!') || c.starts_with("M!") || c.starts_with("m!") =>
            {
                "a comment that MySQL or MariaDB runs (`/*!` or `/*M!`)"
            }
            Token::SingleQuotedString(v) | Token::NationalStringLiteral(v)
                if postgres && (v.ends_with('\\') || v.contains("\\'")) =>
            {
                "a backslash before a quote in a string (write an E'...' string)"
            }
            _ => continue,
        };
        return Err(ambiguous(position(token.span.start), problem));
    }
    Ok(())
}

/// Line and column (from 1, in characters) of byte offset `at` in `text`.
fn position_of(text: &str, at: usize) -> Option<SqlPosition> {
    let before = text.get(..at)?;
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some(SqlPosition {
        line: u64::try_from(line).ok()?,
        column: u64::try_from(column).ok()?,
    })
}

fn position(location: sqlparser::tokenizer::Location) -> Option<SqlPosition> {
    (location.line > 0).then_some(SqlPosition {
        line: location.line,
        column: location.column,
    })
}

/// At most [`MAX_HINT_CHARS`] characters of `text`, with `...` when cut.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_HINT_CHARS) {
        Some((cut, _)) => {
            let (head, _) = text.split_at_checked(cut).unwrap_or((text, ""));
            format!("{head}...")
        }
        None => text.to_owned(),
    }
}

/// A short description of a statement kind for messages.
fn statement_kind(statement: &Statement) -> &'static str {
    match statement {
        Statement::Query(_) => "a query",
        Statement::Insert(_) => "an `INSERT`",
        Statement::Update(_) => "an `UPDATE`",
        Statement::Delete(_) => "a `DELETE`",
        Statement::Merge(_) => "a `MERGE`",
        Statement::Truncate(_) => "a `TRUNCATE`",
        Statement::Drop { .. } => "a `DROP`",
        Statement::CreateTable(_) | Statement::CreateView(_) | Statement::CreateIndex(_) => {
            "a `CREATE`"
        }
        Statement::CreateFunction(_) | Statement::CreateExtension(_) => "a `CREATE`",
        Statement::AlterTable(_) => "an `ALTER`",
        Statement::Copy { .. } => "a `COPY`",
        Statement::Set(_) => "a `SET`",
        Statement::Reset(_) | Statement::Discard { .. } => "a session reset",
        Statement::Call(_) => "a `CALL`",
        Statement::Execute { .. } => "an `EXECUTE`",
        Statement::Prepare { .. } => "a `PREPARE`",
        Statement::Grant(_) | Statement::Revoke(_) => "a `GRANT`/`REVOKE`",
        Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. } => "a transaction statement",
        Statement::Pragma { .. } => "a `PRAGMA`",
        Statement::AttachDatabase { .. } => "an `ATTACH`",
        Statement::Explain { .. } => "an `EXPLAIN`",
        Statement::Analyze(_) | Statement::Vacuum(_) => "a maintenance statement",
        _ => "a statement that is not a query",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::IgnoredAny;

    const SQL_CORPUS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/corpora/actions/sql_readonly.jsonl"
    );
    const UNICODE_CORPUS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/corpora/actions/unicode_smuggling.jsonl"
    );

    /// Corpus rows whose expected decision does not come from this check, with the reason.
    const CORPUS_EXCEPTIONS: &[(&str, &str)] = &[];

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Row {
        id: String,
        why: String,
        expect: String,
        tool: Option<String>,
        args: Option<serde_json::Map<String, serde_json::Value>>,
        dialect: Option<String>,
        #[serde(default)]
        debatable: bool,
        #[serde(rename = "input")]
        _input: IgnoredAny,
        #[serde(rename = "category")]
        _category: IgnoredAny,
        #[serde(rename = "source")]
        _source: IgnoredAny,
        #[serde(rename = "observed")]
        _observed: IgnoredAny,
        #[serde(rename = "alt_expect", default)]
        _alt_expect: Option<IgnoredAny>,
        #[serde(rename = "alt_policy", default)]
        _alt_policy: Option<IgnoredAny>,
    }

    impl Row {
        fn sql(&self) -> Option<&str> {
            if self.tool.as_deref() != Some("db_query") {
                return None;
            }
            self.args.as_ref()?.get("sql")?.as_str()
        }

        fn dialect(&self) -> Dialect {
            self.dialect
                .as_deref()
                .map_or(Dialect::Postgresql, |d| d.parse().unwrap())
        }
    }

    fn load(path: &str) -> Vec<Row> {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .enumerate()
            .map(|(n, line)| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{path}:{}: {e}", n + 1))
            })
            .collect()
    }

    fn checker() -> SqlChecker {
        SqlChecker::new(&SqlConfig::default()).unwrap()
    }

    fn decision(result: &Result<(), SqlError>) -> &'static str {
        if result.is_ok() { "allow" } else { "deny" }
    }

    fn code(sql: &str, dialect: Dialect) -> Option<ReasonCode> {
        checker().check(sql, Some(dialect)).err().map(|e| e.code())
    }

    fn pg(sql: &str) -> Option<ReasonCode> {
        code(sql, Dialect::Postgresql)
    }

    #[test]
    fn corpus_sql_readonly() {
        let rows = load(SQL_CORPUS);
        assert_eq!(rows.len(), 146, "row count of {SQL_CORPUS}");
        let filter = std::env::var("GUARDRAIL_CORPUS_FILTER").ok();
        let checker = checker();
        let mut failures = Vec::new();
        let mut checked = 0;
        for row in &rows {
            if filter.as_deref().is_some_and(|f| !row.id.contains(f)) {
                continue;
            }
            if CORPUS_EXCEPTIONS.iter().any(|(id, _)| *id == row.id) {
                continue;
            }
            let sql = row
                .sql()
                .unwrap_or_else(|| panic!("{}: no db_query sql", row.id));
            let result = checker.check(sql, Some(row.dialect()));
            checked += 1;
            if decision(&result) != row.expect {
                failures.push(format!(
                    "{} ({}{}): expected {}, got {:?}\n    sql: {sql}\n    why: {}",
                    row.id,
                    row.dialect(),
                    if row.debatable { ", debatable" } else { "" },
                    row.expect,
                    result.map_err(|e| format!("{}: {e}", e.code())),
                    row.why,
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {checked} rows differ:\n{}",
            failures.len(),
            failures.join("\n")
        );
        if filter.is_none() {
            assert_eq!(checked, rows.len() - CORPUS_EXCEPTIONS.len());
        }
    }

    /// Every `db_query` row of the unicode corpus is denied by the guard; this check's own
    /// decision is listed here, the invisible-character stage denies the rest.
    #[test]
    fn corpus_unicode_db_query_rows() {
        const SQL_STAGE: &[(&str, &str, Option<ReasonCode>)] = &[
            (
                "unicode-005",
                "tag characters lex as an identifier: `SELECT 1` with an alias",
                None,
            ),
            (
                "unicode-018",
                "`DE\u{200b}LETE` is one identifier",
                Some(ReasonCode::SqlParseError),
            ),
            (
                "unicode-019",
                "two statements",
                Some(ReasonCode::SqlStatementCount),
            ),
            (
                "unicode-028",
                "two statements",
                Some(ReasonCode::SqlStatementCount),
            ),
            (
                "unicode-029",
                "the control character is inside a string literal",
                None,
            ),
        ];
        let rows = load(UNICODE_CORPUS);
        let checker = checker();
        let mut seen = 0;
        for row in &rows {
            let Some(sql) = row.sql() else { continue };
            assert_eq!(row.expect, "deny", "{}", row.id);
            let (_, why, expected) = SQL_STAGE
                .iter()
                .find(|(id, _, _)| *id == row.id)
                .unwrap_or_else(|| panic!("{}: db_query row missing from the table", row.id));
            let got = checker
                .check(sql, Some(row.dialect()))
                .err()
                .map(|e| e.code());
            assert_eq!(got, *expected, "{}: {why}", row.id);
            seen += 1;
        }
        assert_eq!(seen, SQL_STAGE.len());
    }

    #[test]
    fn allows_plain_queries() {
        for sql in [
            "SELECT 1",
            "select id from t where x = 'DROP TABLE t'",
            "WITH a AS (SELECT 1 AS x) SELECT x FROM a",
            "SELECT * FROM a JOIN LATERAL (SELECT max(v) FROM b WHERE b.id = a.id) m ON true",
            "SELECT (SELECT count(*) FROM b) AS n, EXISTS (SELECT 1 FROM c) FROM a",
            "VALUES (1), (2)",
            "TABLE users",
            "SELECT 1;",
            ";; SELECT 1 ;;",
            "SELECT ARRAY(SELECT id FROM t)",
            "SELECT * FROM unnest(ARRAY[1, 2]) AS u(x)",
            "SELECT x::text, CAST(y AS int), EXTRACT(year FROM d), SUBSTRING(s FROM 2) FROM t",
        ] {
            assert_eq!(pg(sql), None, "{sql}");
        }
    }

    #[test]
    fn size_limit() {
        let cfg = SqlConfig {
            max_sql_bytes: 16,
            ..SqlConfig::default()
        };
        let checker = SqlChecker::new(&cfg).unwrap();
        assert!(checker.check("SELECT 1", None).is_ok());
        let err = checker.check("SELECT 1 FROM users", None).unwrap_err();
        assert_eq!(err.code(), ReasonCode::SqlTooLarge);
        assert_eq!(
            err.to_string(),
            "sql is 19 bytes, more than the limit of 16"
        );
    }

    #[test]
    fn parse_errors_do_not_echo_the_text() {
        let err = checker()
            .check("SELECT * FROM t WHERE pw = 'hunter2' 'x'", None)
            .unwrap_err();
        assert_eq!(err.code(), ReasonCode::SqlParseError);
        let message = err.to_string();
        assert!(!message.contains("hunter2"), "{message}");
        assert!(
            message.starts_with("sql does not parse as `postgresql` at line 1"),
            "{message}"
        );
        for sql in [
            "SELEC 1",
            "SELECT 'unterminated",
            "SELECT 1 END",
            "DO 'x'",
            "\0SELECT 1",
        ] {
            assert_eq!(pg(sql), Some(ReasonCode::SqlParseError), "{sql:?}");
        }
    }

    #[test]
    fn nesting_limit() {
        let deep = format!("SELECT {}1{}", "(".repeat(200), ")".repeat(200));
        let err = checker().check(&deep, None).unwrap_err();
        assert_eq!(err, SqlError::TooDeep { limit: MAX_NESTING });
        assert_eq!(err.code(), ReasonCode::SqlParseError);
        let shallow = format!("SELECT {}1{}", "(".repeat(10), ")".repeat(10));
        assert_eq!(pg(&shallow), None);
    }

    #[test]
    fn long_chains_do_not_overflow_the_stack() {
        // Run on a thread with a small stack: chains are not nesting and build trees as deep
        // as the text is long, both in the parser's error path and when the tree is dropped.
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let checker = checker();
                let max = SqlConfig::default().max_sql_bytes;
                let fill = |head: &str, piece: &str, tail: &str| {
                    let mut s = head.to_owned();
                    while s.len() + piece.len() + tail.len() <= max {
                        s.push_str(piece);
                    }
                    s.push_str(tail);
                    s
                };
                let cases: &[(String, Option<ReasonCode>)] = &[
                    (fill("SELECT 1", "+1", ""), None),
                    (
                        fill("SELECT 1", "+1", " )"),
                        Some(ReasonCode::SqlParseError),
                    ),
                    (fill("SELECT 1", "::t", ""), None),
                    (fill("SELECT a FROM t WHERE a", " OR a", ""), None),
                    (fill("SELECT 1", " UNION SELECT 1", ""), None),
                    (
                        fill("SELECT 1", " UNION SELECT 1", " UNION"),
                        Some(ReasonCode::SqlParseError),
                    ),
                    (
                        fill("SELECT 1", "+1", "+pg_sleep(1)"),
                        Some(ReasonCode::SqlFunctionNotAllowed),
                    ),
                    (
                        fill("SELECT pg_sleep(1)", "+1", ""),
                        Some(ReasonCode::SqlFunctionNotAllowed),
                    ),
                    (fill("SELECT ", "(", "1"), Some(ReasonCode::SqlParseError)),
                ];
                for (sql, expected) in cases {
                    assert!(sql.len() > INLINE_MAX_BYTES && sql.len() <= max);
                    let got = checker.check(sql, None).err().map(|e| e.code());
                    assert_eq!(got, *expected, "{:?}...", sql.get(..40));
                }
                // Just under the inline threshold, on the caller's thread.
                let mut small = String::from("SELECT 1");
                while small.len() + 2 <= INLINE_MAX_BYTES {
                    small.push_str("+1");
                }
                assert!(checker.check(&small, None).is_ok());
            })
            .unwrap();
        handle.join().unwrap();
    }

    #[test]
    fn statement_count() {
        assert_eq!(pg(""), Some(ReasonCode::SqlStatementCount));
        assert_eq!(pg(" ;; -- nothing"), Some(ReasonCode::SqlStatementCount));
        assert_eq!(
            pg("SELECT 1; SELECT 2"),
            Some(ReasonCode::SqlStatementCount)
        );
        assert_eq!(pg("SELECT 1; garbage"), Some(ReasonCode::SqlStatementCount));
        assert_eq!(pg("SELECT 1;;"), None);
        assert_eq!(pg("SELECT 1 -- ; DROP TABLE t"), None);
        // Code to MySQL, and refused as such before the statements are counted.
        assert_eq!(
            code("SELECT 1 /*!50000 ; DROP TABLE t */", Dialect::Mysql),
            Some(ReasonCode::SqlParseError)
        );
        // A comment to PostgreSQL, but one that MySQL would run: refused.
        assert_eq!(
            code("SELECT 1 /*!50000 ; DROP TABLE t */", Dialect::Postgresql),
            Some(ReasonCode::SqlParseError)
        );
    }

    #[test]
    fn only_read_statements() {
        for sql in [
            "INSERT INTO t VALUES (1)",
            "UPDATE t SET a = 1",
            "DELETE FROM t",
            "DROP TABLE t",
            "CREATE TABLE t (a int)",
            "COPY t TO STDOUT",
            "SET search_path TO evil",
            "CALL p()",
            "PREPARE q AS SELECT 1",
            "EXECUTE q",
            "BEGIN",
            "PRAGMA table_info('t')",
        ] {
            let err = checker().check(sql, None).unwrap_err();
            assert!(matches!(err, SqlError::Statement { .. }), "{sql}: {err:?}");
            assert_eq!(err.code(), ReasonCode::SqlNotReadOnly, "{sql}");
        }
        assert_eq!(
            checker()
                .check("DELETE FROM t", None)
                .unwrap_err()
                .to_string(),
            "only a query, `EXPLAIN` of a query or `SHOW` may run, found a `DELETE`"
        );
    }

    #[test]
    fn nested_data_modifying_statements() {
        for sql in [
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            "WITH a AS (SELECT 1), b AS (UPDATE t SET x = 1 RETURNING x) SELECT * FROM a",
            "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x",
            "SELECT * FROM (WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d) s",
            "SELECT 1 WHERE EXISTS (WITH d AS (DELETE FROM t RETURNING 1) SELECT * FROM d)",
            "SELECT 1 UNION ALL (WITH d AS (DELETE FROM t RETURNING 1) SELECT * FROM d)",
            "EXPLAIN WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        ] {
            let err = checker().check(sql, None).unwrap_err();
            assert!(
                matches!(err, SqlError::NestedStatement { .. }),
                "{sql}: {err:?}"
            );
            assert_eq!(err.code(), ReasonCode::SqlNotReadOnly);
        }
        assert_eq!(
            checker()
                .check("WITH d AS (DELETE FROM t RETURNING *) SELECT 1", None)
                .unwrap_err()
                .to_string(),
            "a `DELETE` inside a query is not read-only"
        );
    }

    #[test]
    fn select_into_and_locks() {
        let into = checker()
            .check("SELECT * INTO t2 FROM t", None)
            .unwrap_err();
        assert_eq!(
            into,
            SqlError::NotReadOnly {
                what: "`SELECT INTO`"
            }
        );
        let nested = "SELECT * FROM t WHERE a IN (SELECT a FROM u FOR UPDATE)";
        for sql in [
            "SELECT * FROM t FOR UPDATE",
            "SELECT * FROM t FOR SHARE SKIP LOCKED",
            nested,
        ] {
            let err = checker().check(sql, None).unwrap_err();
            assert!(
                matches!(err, SqlError::NotReadOnly { .. }),
                "{sql}: {err:?}"
            );
        }
        assert_eq!(
            code("SELECT 1 INTO @x", Dialect::Mysql),
            Some(ReasonCode::SqlNotReadOnly)
        );
        assert_eq!(
            code("SELECT @x := 1", Dialect::Mysql),
            Some(ReasonCode::SqlNotReadOnly)
        );
    }

    #[test]
    fn explain_and_show() {
        assert_eq!(pg("EXPLAIN SELECT * FROM t"), None);
        assert_eq!(pg("EXPLAIN ANALYZE SELECT * FROM t"), None);
        assert_eq!(pg("EXPLAIN (ANALYZE, FORMAT JSON) SELECT 1"), None);
        assert_eq!(
            pg("EXPLAIN ANALYZE DELETE FROM t"),
            Some(ReasonCode::SqlNotReadOnly)
        );
        assert_eq!(
            pg("EXPLAIN SELECT pg_sleep(1)"),
            Some(ReasonCode::SqlFunctionNotAllowed)
        );
        assert_eq!(
            pg("EXPLAIN SELECT * FROM t FOR UPDATE"),
            Some(ReasonCode::SqlNotReadOnly)
        );
        assert_eq!(pg("SHOW search_path"), None);
        assert_eq!(code("SHOW TABLES", Dialect::Mysql), None);
        assert_eq!(code("SHOW COLUMNS FROM t", Dialect::Mysql), None);
        assert_eq!(code("DESCRIBE t", Dialect::Mysql), None);
        assert_eq!(code("EXPLAIN QUERY PLAN SELECT 1", Dialect::Sqlite), None);

        let strict = SqlConfig {
            allow_show: false,
            allow_explain_analyze: false,
            ..SqlConfig::default()
        };
        let strict = SqlChecker::new(&strict).unwrap();
        assert!(strict.check("EXPLAIN SELECT 1", None).is_ok());
        for sql in [
            "SHOW search_path",
            "EXPLAIN ANALYZE SELECT 1",
            "EXPLAIN (ANALYZE) SELECT 1",
        ] {
            assert_eq!(
                strict.check(sql, None).unwrap_err().code(),
                ReasonCode::SqlNotReadOnly,
                "{sql}"
            );
        }
        let no_explain = SqlChecker::new(&SqlConfig {
            allow_explain: false,
            ..SqlConfig::default()
        });
        assert!(no_explain.unwrap().check("EXPLAIN SELECT 1", None).is_err());
    }

    #[test]
    fn sqlite_pragmas() {
        let sqlite = |sql| code(sql, Dialect::Sqlite);
        for sql in [
            "PRAGMA table_info(users)",
            "PRAGMA main.table_info('users')",
            "pragma TABLE_INFO(\"users\");",
            "PRAGMA database_list",
            "PRAGMA index_list(users)",
        ] {
            assert_eq!(sqlite(sql), None, "{sql}");
        }
        for sql in [
            "PRAGMA writable_schema = 1",
            "PRAGMA writable_schema(1)",
            "PRAGMA user_version",
            "PRAGMA table_info = users",
            "PRAGMA a.b.table_info(users)",
            "PRAGMA table_info(users); DROP TABLE users",
        ] {
            assert!(sqlite(sql).is_some(), "{sql}");
        }
        assert_eq!(
            sqlite("PRAGMA table_info(1 + 1)"),
            Some(ReasonCode::SqlParseError)
        );
        let off = SqlChecker::new(&SqlConfig {
            allow_pragma: false,
            ..SqlConfig::default()
        })
        .unwrap();
        assert!(
            off.check("PRAGMA table_info(users)", Some(Dialect::Sqlite))
                .is_err()
        );
    }

    #[test]
    fn functions_everywhere_are_checked() {
        for sql in [
            "SELECT pg_sleep(1)",
            "SELECT * FROM t WHERE a = (SELECT pg_sleep(1))",
            "SELECT * FROM t ORDER BY pg_sleep(1)",
            "SELECT * FROM t GROUP BY a HAVING count(pg_sleep(1)) > 0",
            "SELECT sum(a) OVER (PARTITION BY pg_sleep(1)) FROM t",
            "SELECT count(*) FILTER (WHERE pg_sleep(1) IS NULL) FROM t",
            "WITH a AS (SELECT pg_sleep(1)) SELECT * FROM a",
            "SELECT 1 UNION SELECT pg_sleep(1)",
            "VALUES (pg_sleep(1))",
            "SELECT * FROM dblink('host=x', 'SELECT 1') AS t(a int)",
            "SELECT * FROM t, LATERAL pg_ls_dir('.') AS d",
            "SELECT * FROM t JOIN u ON pg_sleep(1) IS NULL",
            "SELECT * FROM (SELECT lo_import('/etc/passwd')) s",
            "SELECT CASE WHEN true THEN pg_sleep(1) END",
            "SELECT (x).f, (pg_sleep(1)).a FROM t",
            "SELECT ARRAY(SELECT nextval('s'))",
            "SELECT coalesce(a, set_config('a', 'b', false)) FROM t",
            "SELECT pg_catalog.pg_sleep(1)",
            "SELECT \"pg_sleep\"(1)",
            "SELECT public.count(a) FROM t",
            "SELECT \"COUNT\"(a) FROM t",
            "SELECT \"pg_catalog.count\"(a) FROM t",
            "SELECT other.pg_catalog.count(a) FROM t",
        ] {
            let err = checker().check(sql, None).unwrap_err();
            assert_eq!(
                err.code(),
                ReasonCode::SqlFunctionNotAllowed,
                "{sql}: {err}"
            );
        }
        for sql in [
            "SELECT COUNT(*), Max(a), pg_catalog.count(a), \"count\"(a) FROM t",
            "SELECT PG_CATALOG.LOWER(a) FROM t",
            "SELECT * FROM generate_series(1, 3) AS g(n)",
            "SELECT current_user, current_date, now()",
        ] {
            assert_eq!(pg(sql), None, "{sql}");
        }
        for (sql, dialect) in [
            ("SHOW TABLES WHERE SLEEP(1) = 0", Dialect::Mysql),
            (
                "SELECT * FROM OPENROWSET('SQLNCLI', 'Server=x', 'SELECT 1') AS t",
                Dialect::Mssql,
            ),
            (
                "SELECT * FROM OPENQUERY(srv, 'DELETE FROM t')",
                Dialect::Mssql,
            ),
            ("SELECT x.value('/a', 'int') FROM t", Dialect::Mssql),
            (
                "SELECT * FROM pragma_table_info('t') JOIN fts3_tokenizer('x') ON 1",
                Dialect::Sqlite,
            ),
        ] {
            assert_eq!(
                code(sql, dialect),
                Some(ReasonCode::SqlFunctionNotAllowed),
                "{sql}"
            );
        }
        // Quoted names resolve without regard to case in MySQL, SQLite and SQL Server.
        assert_eq!(code("SELECT `COUNT`(a) FROM t", Dialect::Mysql), None);
        assert_eq!(code("SELECT [count](a) FROM t", Dialect::Mssql), None);
        assert_eq!(
            code("SELECT `SLEEP`(1)", Dialect::Mysql),
            Some(ReasonCode::SqlFunctionNotAllowed)
        );
        assert_eq!(
            code("SELECT pg_catalog.count(a) FROM t", Dialect::Mysql),
            Some(ReasonCode::SqlFunctionNotAllowed)
        );
        let err = checker()
            .check("SELECT 1,\n  Pg_Catalog.PG_SLEEP(5)", None)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "function `Pg_Catalog.PG_SLEEP` at line 2, column 14 is not on the allowlist"
        );
    }

    #[test]
    fn configured_functions() {
        let cfg = SqlConfig {
            allow_functions: vec![
                "My_Func".into(),
                "reporting.safe_total".into(),
                "pg_catalog.xpath".into(),
            ],
            deny_functions: vec!["random".into()],
            ..SqlConfig::default()
        };
        let checker = SqlChecker::new(&cfg).unwrap();
        let ok = |sql| checker.check(sql, None);
        assert!(ok("SELECT my_func(1), MY_FUNC(2), xpath('/a', x) FROM t").is_ok());
        assert!(ok("SELECT reporting.safe_total(a), Reporting.Safe_Total(a) FROM t").is_ok());
        assert!(ok("SELECT safe_total(a) FROM t").is_err());
        assert!(ok("SELECT other.safe_total(a) FROM t").is_err());
        assert!(ok("SELECT \"reporting.safe_total\"(a) FROM t").is_err());
        assert!(ok("SELECT random()").is_err());
        assert!(ok("SELECT pg_catalog.random()").is_err());
        assert!(checker.allows_function("my_func"));
        assert!(!checker.allows_function("random"));
    }

    #[test]
    fn config_reports_every_issue() {
        let cfg = SqlConfig {
            allow_functions: vec![
                "ok_fn".into(),
                "".into(),
                "bad name".into(),
                "a.b.c.d".into(),
            ],
            deny_functions: vec!["ok_fn".into(), "1abc".into()],
            max_sql_bytes: 0,
            ..SqlConfig::default()
        };
        let issues = SqlChecker::new(&cfg).unwrap_err();
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "sql.max_sql_bytes",
                "sql.allow_functions[1]",
                "sql.allow_functions[2]",
                "sql.allow_functions[3]",
                "sql.deny_functions[1]",
                "sql.deny_functions[0]",
            ]
        );
        let too_big = SqlConfig {
            max_sql_bytes: MAX_SQL_BYTES_LIMIT + 1,
            ..SqlConfig::default()
        };
        assert!(SqlChecker::new(&too_big).is_err());
    }

    #[test]
    fn config_serde() {
        let cfg: SqlConfig =
            toml::from_str("dialect = \"mysql\"\nallow_functions = [\"f\"]").unwrap();
        assert_eq!(cfg.dialect, Dialect::Mysql);
        assert_eq!(cfg.max_sql_bytes, 65536);
        assert!(toml::from_str::<SqlConfig>("unknown = 1").is_err());
        assert!(toml::from_str::<SqlConfig>("dialect = \"oracle\"").is_err());
    }

    #[test]
    fn dialect_names() {
        for d in Dialect::ALL {
            assert_eq!(d.as_str().parse::<Dialect>(), Ok(*d));
            assert_eq!(d.to_string(), d.as_str());
        }
        assert_eq!("PostgreSQL".parse::<Dialect>(), Ok(Dialect::Postgresql));
        assert_eq!("oracle".parse::<Dialect>().unwrap_err().name, "oracle");
        assert_eq!(Dialect::default(), Dialect::Postgresql);
    }

    #[test]
    fn dialect_override_changes_lexing() {
        let sql = "SELECT 'a\\';DROP TABLE users;--'";
        // PostgreSQL ends the string at the quote unless standard_conforming_strings is off:
        // refused either way.
        assert!(matches!(
            checker().check(sql, Some(Dialect::Postgresql)),
            Err(SqlError::Ambiguous { .. })
        ));
        assert_eq!(code(sql, Dialect::Mysql), None);
        let checker = SqlChecker::new(&SqlConfig {
            dialect: Dialect::Mysql,
            ..SqlConfig::default()
        })
        .unwrap();
        assert!(checker.check(sql, None).is_ok());
        assert!(checker.check(sql, Some(Dialect::Postgresql)).is_err());
    }

    /// Text that PostgreSQL, MySQL or MariaDB split into tokens differently from `sqlparser`,
    /// each hiding a write from the check when read the parser's way.
    #[test]
    fn lexer_disagreements_are_refused() {
        let ambiguous = |sql: &str, dialect: Dialect| {
            let result = checker().check(sql, Some(dialect));
            assert!(
                matches!(result, Err(SqlError::Ambiguous { .. })),
                "{dialect} {sql:?}: {result:?}"
            );
            assert_eq!(code(sql, dialect), Some(ReasonCode::SqlParseError));
        };
        for sql in [
            // PostgreSQL opens a dollar-quoted string at `$€$`; the parser sees `$` and a word.
            "SELECT $€$ , ' $€$ ; DELETE FROM t; -- '",
            "SELECT $a€$ , ' $a€$ ; DELETE FROM t; -- '",
            "WITH c AS (SELECT $€$ , ' $€$ AS a), d AS (DELETE FROM t RETURNING 1) \
             SELECT * FROM c -- ' AS b) SELECT * FROM c",
            "SELECT $·$ , ' $·$ , pg_read_file($$/etc/passwd$$) -- '",
            // PostgreSQL ends an operator before `--` or `/*`; the parser reads on.
            "SELECT 1 >-- '\n 2; DELETE FROM t; -- '",
            "SELECT 1 </* ' */ 2; DROP TABLE t; -- '",
            "SELECT 1 %-- '\n 2, pg_sleep(10) -- '",
            "SELECT 1 >/* ' */ 2, set_config($$log_statement$$, $$none$$, false) -- '",
            // With standard_conforming_strings off the backslash escapes the quote.
            "SELECT 'x\\', ' ; DELETE FROM t; -- '",
            "SELECT 'a\\''' , ' ; DELETE FROM t; -- '",
        ] {
            ambiguous(sql, Dialect::Postgresql);
        }
        for &dialect in Dialect::ALL {
            // MariaDB runs `/*M! ... */`; outside MySQL's parser `/*! ... */` is a comment too.
            ambiguous("SELECT 1 /*M! , sleep(10) */", dialect);
            ambiguous("SELECT 1 /*m! INTO OUTFILE '/tmp/x' */", dialect);
            // `--` and a no-break space is no comment to MySQL; any non-ASCII space is refused.
            ambiguous("SELECT 1 --\u{a0}x INTO OUTFILE 'f'\nFROM t", dialect);
            ambiguous("SELECT\u{3000}1", dialect);
            ambiguous("SELECT 1\u{2028}", dialect);
            ambiguous("SELECT 1\x0b", dialect);
        }
        ambiguous("SELECT 1 /*! , sleep(10) */", Dialect::Postgresql);
        ambiguous("SELECT 1 /*! , sleep(10) */", Dialect::Mysql);
        // MariaDB's `#` comment inside `/*!` hides the first `*/`: the second one ends it.
        ambiguous(
            "SELECT 1 /*! , 2 # */ , 'x\n INTO OUTFILE \"/tmp/o\" */ -- '",
            Dialect::Mysql,
        );
        // MySQL: `b` is a column and `"\" , "` one string; sqlparser: bytes `\` and a string.
        ambiguous(
            "SELECT b\"\\\" , \" FROM (SELECT 1 b) q INTO OUTFILE '/tmp/o' -- \"",
            Dialect::Mysql,
        );
        ambiguous(
            "SELECT N'x\\', ' ; DELETE FROM t; -- '",
            Dialect::Postgresql,
        );
        // What the two lexers read alike stays allowed.
        for sql in [
            "SELECT $1, $$a$$, $t$b$t$, $ä$x$ä$ FROM t",
            "SELECT a$b FROM t WHERE name LIKE 'a\\_b%'",
            "SELECT E'it\\'s', 'it''s', 1 - -2, 1 > -2, 1--2\n",
            "SELECT 1 /* ! */, 2 -- M! note\n",
            "SELECT 'tab\tand\r\nbreaks'",
        ] {
            assert_eq!(pg(sql), None, "{sql:?}");
        }
        assert_eq!(code("SELECT 'a\\'b', 1", Dialect::Mysql), None);
    }

    #[test]
    fn builtin_list_is_well_formed() {
        let mut seen = HashSet::new();
        for (family, names) in BUILTIN_FUNCTIONS {
            for name in *names {
                assert!(
                    name.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                    "{family}: {name}"
                );
                assert!(seen.insert(*name), "{name} is listed twice");
            }
        }
        for denied in [
            "pg_sleep",
            "pg_read_file",
            "dblink",
            "lo_import",
            "set_config",
            "load_file",
            "xp_cmdshell",
            "load_extension",
            "nextval",
            "setval",
            "pg_terminate_backend",
            "query_to_xml",
            "sleep",
            "benchmark",
            "get_lock",
            "pg_advisory_lock",
            "txid_current",
            "last_insert_id",
            "pg_notify",
            "pg_reload_conf",
        ] {
            assert!(!checker().allows_function(denied), "{denied}");
        }
    }

    #[test]
    fn error_codes() {
        let cases = [
            (
                SqlError::TooLarge { len: 2, max: 1 },
                ReasonCode::SqlTooLarge,
            ),
            (SqlError::TooDeep { limit: 1 }, ReasonCode::SqlParseError),
            (SqlError::NoStatement, ReasonCode::SqlStatementCount),
            (SqlError::MultipleStatements, ReasonCode::SqlStatementCount),
            (
                SqlError::NestedStatement { kind: "a `DELETE`" },
                ReasonCode::SqlNotReadOnly,
            ),
            (
                SqlError::Internal { reason: "x" },
                ReasonCode::InternalError,
            ),
        ];
        for (err, code) in cases {
            assert_eq!(err.code(), code, "{err}");
            assert_eq!(err.to_reason().code, code);
        }
    }
}
