//! `WORKDIR/nodes.json`: what a local topology runs — the broker and every
//! node with its pid, addresses, data directory and the exact command line
//! that starts it again. Written by `linkctl local up` (`deploy/local/up`),
//! read and kept current by whoever kills and restarts its processes.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file's name in the working directory.
pub const FILE_NAME: &str = "nodes.json";

/// One started process.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Process {
    /// Node name (absent for NATS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// gRPC address, once it serves; none while it is down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<String>,
    /// Metrics address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
    /// NATS client URL (the broker only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Process id; 0 once the supervisor killed it and until it starts
    /// again (its old pid may be anyone's by then).
    pub pid: u32,
    /// The exact command line that starts this process again.
    pub argv: Vec<String>,
    /// Data directory (nodes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<String>,
}

impl Process {
    /// The data directory, or an error naming `code`.
    pub fn data_dir(&self, code: &str) -> anyhow::Result<PathBuf> {
        self.data_dir.as_ref().map(PathBuf::from).with_context(|| format!("{FILE_NAME} gives {code} no data_dir"))
    }
}

/// The whole file.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The broker (the first server of a cluster).
    pub nats: Process,
    /// The other servers of a cluster, in order (none for one server).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_nats: Vec<Process>,
    /// Every node by code.
    pub nodes: BTreeMap<String, Process>,
}

impl Manifest {
    /// Reads `workdir/nodes.json`.
    pub fn read(workdir: &Path) -> anyhow::Result<Manifest> {
        let path = workdir.join(FILE_NAME);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a topology's manifest", path.display()))
    }

    /// Writes `workdir/nodes.json` whole or not at all (a new file renamed
    /// over the old), so a reader never sees half of it.
    pub fn write(&self, workdir: &Path) -> anyhow::Result<()> {
        let tmp = workdir.join(format!("{FILE_NAME}.tmp"));
        std::fs::write(&tmp, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, workdir.join(FILE_NAME)).with_context(|| format!("writing {FILE_NAME}"))
    }

    /// One node's entry.
    pub fn node(&self, code: &str) -> anyhow::Result<&Process> {
        self.nodes.get(code).with_context(|| format!("{code} is not in {FILE_NAME}"))
    }

    /// One node's entry, to change.
    pub fn node_mut(&mut self, code: &str) -> anyhow::Result<&mut Process> {
        self.nodes.get_mut(code).with_context(|| format!("{code} is not in {FILE_NAME}"))
    }

    /// Every node's code, in order.
    pub fn codes(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    /// Every pid, the brokers' last.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.values().map(|p| p.pid).chain(self.brokers().map(|b| b.pid)).collect()
    }

    /// Every nats-server, in order.
    pub fn brokers(&self) -> impl Iterator<Item = &Process> {
        std::iter::once(&self.nats).chain(&self.more_nats)
    }

    /// Server `i` (from 0), to change.
    pub fn broker_mut(&mut self, i: usize) -> anyhow::Result<&mut Process> {
        match i {
            0 => Ok(&mut self.nats),
            _ => self.more_nats.get_mut(i - 1).with_context(|| format!("no nats-server {i} in {FILE_NAME}")),
        }
    }
}

/// The log file of nats-server `i` (from 0) under a topology's `workdir`.
pub fn nats_log(workdir: &Path, i: usize) -> std::path::PathBuf {
    match i {
        0 => workdir.join("nats/nats-server.log"),
        _ => workdir.join(format!("nats/nats-server-{}.log", i + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_reads_back_what_was_written_and_names_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let node = Process {
            name: Some("民乐县".into()),
            grpc: Some("127.0.0.1:7700".into()),
            metrics: None,
            url: None,
            pid: 42,
            argv: vec!["linkage-node".into(), "--node".into(), "620722".into()],
            data_dir: Some("/tmp/x".into()),
        };
        let nats = Process {
            name: None,
            grpc: None,
            metrics: None,
            url: Some("nats://127.0.0.1:4222".into()),
            pid: 7,
            argv: vec!["nats-server".into()],
            data_dir: None,
        };
        let manifest = Manifest { nats, more_nats: vec![], nodes: [("620722".to_owned(), node)].into() };
        manifest.write(dir.path()).unwrap();
        let read = Manifest::read(dir.path()).unwrap();
        assert_eq!(read, manifest);
        assert_eq!(read.pids(), [42, 7]);
        assert!(read.node("620700").unwrap_err().to_string().contains("620700"));
        assert!(read.nats.data_dir("nats").is_err());
        std::fs::write(dir.path().join(FILE_NAME), "{}").unwrap();
        assert!(Manifest::read(dir.path()).unwrap_err().to_string().contains("not a topology's manifest"));
    }
}
