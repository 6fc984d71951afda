//! The `linkage.v1` protocol: generated prost messages and, with the `grpc`
//! feature, the tonic client and server stubs.
//!
//! Only this crate is generated code. The core validates these messages on
//! the way in; the node maps them to and from gRPC.

/// Messages and services of package `linkage.v1`.
pub mod v1 {
    #![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant)]
    include!(concat!(env!("OUT_DIR"), "/linkage.v1.rs"));
}

/// The encoded `FileDescriptorSet` of every linkage proto file and its
/// imports, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/linkage_descriptor.bin"));
