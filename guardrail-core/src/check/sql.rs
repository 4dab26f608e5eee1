//! Read-only check for SQL arguments.
// INTERFACE (filled in by the SQL-check work):
//
// #[derive(Debug, Clone, Copy, Deserialize, Serialize)] #[serde(rename_all = "lowercase")]
// pub enum Dialect { Postgresql, Mysql, Sqlite, Mssql, Generic }   // FromStr too
// #[derive(Debug, Clone, Deserialize, Serialize)] #[serde(deny_unknown_fields)]
// pub struct SqlConfig { pub dialect: Dialect, pub allow_functions: Vec<String>, .. }
// pub struct SqlChecker { .. }
// impl SqlChecker {
//     pub fn new(cfg: &SqlConfig) -> Result<Self, Vec<PolicyIssue>>;
//     pub fn check(&self, sql: &str, dialect: Option<Dialect>) -> Result<(), SqlError>;
// }
// pub enum SqlError { .. } // thiserror, impl Coded
