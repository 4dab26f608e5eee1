//! Workspace containment check for path arguments.
// INTERFACE (filled in by the path-check work):
//
// #[derive(Debug, Clone, Deserialize, Serialize)] #[serde(deny_unknown_fields)]
// pub struct WorkspaceConfig { pub root: String }
// pub struct PathChecker { .. }
// impl PathChecker {
//     pub fn new(cfg: &WorkspaceConfig) -> Result<Self, Vec<PolicyIssue>>;
//     pub fn check(&self, path: &str) -> Result<CheckedPath, PathError>;
// }
// pub enum PathError { .. } // thiserror, impl Coded
