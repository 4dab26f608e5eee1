//! Secret and PII scanning of arguments and tool output.

pub mod secrets;
