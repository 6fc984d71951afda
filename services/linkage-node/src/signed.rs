//! The topology document as the province signed it: with `topology_key`
//! set, a node loads only a topology whose signature (`<topology>.sig`,
//! from `linkctl topology sign`) verifies with that key, and whose version
//! is no lower than the highest it has loaded before (kept durably in
//! `<data_dir>/topology.version`), so a forged, unsigned or replayed older
//! file is refused.

use anyhow::Context;
use linkage_core::topology::check_document;
use linkage_core::Topology;
use std::path::{Path, PathBuf};

/// Where the highest version loaded is kept.
pub const VERSION_FILE: &str = "topology.version";

/// The signature file of the topology at `path`.
pub fn signature_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

/// Parses the topology `text` read from `path`, checking its signature and
/// version when `key` (hex) is set; returns the version to record once
/// the node starts, if any.
pub fn load(path: &Path, text: &str, key: Option<&str>, data_dir: &Path) -> anyhow::Result<(Topology, Option<u64>)> {
    let topology = Topology::from_toml(text).with_context(|| format!("topology {}", path.display()))?;
    let Some(key) = key else {
        tracing::warn!(
            topology = %path.display(),
            "topology_key is not set: the topology is not checked for the province's signature"
        );
        return Ok((topology, None));
    };
    let key: [u8; 32] = hex::decode(key.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .context("configuration: topology_key must be 64 hex digits (an ed25519 public key)")?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key)
        .map_err(|_| anyhow::anyhow!("configuration: topology_key is not an ed25519 public key"))?;
    let sig_path = signature_path(path);
    let signature = std::fs::read_to_string(&sig_path).with_context(|| {
        format!("the topology is not signed: {} is missing (linkctl topology sign)", sig_path.display())
    })?;
    check_document(text.as_bytes(), &signature, &key).with_context(|| format!("topology {}", path.display()))?;
    let version = topology
        .version()
        .with_context(|| format!("topology {}: a signed topology needs a version", path.display()))?;
    let seen = highest_loaded(data_dir)?;
    anyhow::ensure!(
        version >= seen,
        "topology {}: version {version} is older than version {seen}, which this node has loaded: refused",
        path.display()
    );
    Ok((topology, (version > seen).then_some(version)))
}

/// The highest version this node has loaded; 0 when none.
pub fn highest_loaded(data_dir: &Path) -> anyhow::Result<u64> {
    let path = data_dir.join(VERSION_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse().with_context(|| format!("{} must hold a number", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
