//! Argument checks: each takes one typed argument (a URL, a path, an SQL string, any text) and
//! either accepts it or returns an error carrying a stable [`ReasonCode`](crate::ReasonCode).
//! Every check fails closed: anything it cannot prove safe is refused.

pub mod host;
pub mod path;
pub mod protect;
pub mod secret;
pub mod sql;
pub mod text;
