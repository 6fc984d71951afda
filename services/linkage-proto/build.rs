//! Compiles `proto/linkage/v1/*.proto` with protox (no system `protoc`), and
//! writes the descriptor set that server reflection serves.

use prost::Message;
use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let dir = root.join("linkage/v1");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)?.map(|entry| entry.map(|e| e.path())).collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|e| e == "proto"));
    files.sort();
    println!("cargo:rerun-if-changed={}", dir.display());
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let fds = protox::Compiler::new([&root])?
        .include_source_info(true)
        .include_imports(true)
        .open_files(&files)?
        .file_descriptor_set();
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out.join("linkage_descriptor.bin"), fds.encode_to_vec())?;

    // Cargo sets this when the `grpc` feature is on: only then do we emit
    // tonic stubs, so that the core crate can use the messages without tonic.
    let grpc = env::var_os("CARGO_FEATURE_GRPC").is_some();
    // Events in replication messages decode as slices of the message's
    // buffer rather than a copy each: a node takes in thousands a second.
    tonic_prost_build::configure()
        .build_server(grpc)
        .build_client(grpc)
        .bytes(".linkage.v1.Push.events")
        .bytes(".linkage.v1.PullResponse.events")
        .compile_fds(fds)?;
    Ok(())
}
