//! Generated `guardrail.v1` messages, server and client (prost + tonic).

#[allow(
    clippy::all,
    clippy::pedantic,
    clippy::allow_attributes_without_reason,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    missing_debug_implementations,
    reason = "generated code"
)]
mod generated {
    tonic::include_proto!("guardrail.v1");
}

pub use generated::*;

/// The encoded `FileDescriptorSet` of `guardrail.v1`, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("guardrail_v1_descriptor");
