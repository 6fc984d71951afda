//! Where the workspace is: its deploy scripts and topology files.

use std::path::{Path, PathBuf};

/// The workspace root, for `deploy/`.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// A topology file under `deploy/topology/`.
pub fn topology(name: &str) -> PathBuf {
    workspace_root().join("deploy/topology").join(name)
}
