//! The `guardrail` command's server side: `guardrail serve` exposes the guard over gRPC
//! (`guardrail.v1`, see `proto/guardrail/v1/guardrail.proto`).
//!
//! [`proto`] holds the generated messages, server and client; [`serve`] the server: proto ⇄
//! core conversion, limits, metrics, audit, policy reload and TLS.
#![forbid(unsafe_code)]

pub mod proto;
pub mod serve;
