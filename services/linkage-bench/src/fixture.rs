//! The one event every figure appends: a 社情民意 item that 民乐县 reports
//! up, of about the size real ones have.

use anyhow::Context;
use linkage_core::pb::payload::Kind;
use linkage_core::{pb, NodeCode, Topology};
use std::path::{Path, PathBuf};

/// The appending node: 民乐县, a county, so that "up" is a channel it may use.
pub const NODE: &str = "620722";

/// The province of the demo topology, 甘肃省.
pub const PROVINCE: &str = "620000";

/// The channel of every append: a county reporting to its city.
pub const CHANNEL: &str = "up";

/// The demo topology, relative to the workspace root.
pub const TOPOLOGY_FILE: &str = "deploy/topology/demo.toml";

/// Where the demo topology is.
pub fn topology_path(root: &Path) -> PathBuf {
    root.join(TOPOLOGY_FILE)
}

/// Reads and checks the demo topology.
pub fn topology(root: &Path) -> anyhow::Result<Topology> {
    let path = topology_path(root);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Topology::from_toml(&text).with_context(|| format!("topology {}", path.display()))
}

/// The appending node's code.
pub fn origin() -> anyhow::Result<NodeCode> {
    NODE.parse().map_err(|e| anyhow::anyhow!("node code {NODE}: {e:?}"))
}

/// An `InfoReported` of about 300 encoded bytes: a title, a short body,
/// the submitter and the sector, as a county committee files them. There
/// is no idempotency key, so every append is a new event.
pub fn request() -> pb::AppendRequest {
    let info = pb::InfoReported {
        title: "关于加强民乐县乡村小学冬季供暖保障的建议".into(),
        body: "全县十二所乡村小学仍以燃煤小锅炉供暖，设备老化、温度不足，\
               冬季学生上课受冻。建议县财政安排专项资金分批改造，并纳入明年民生实事。"
            .into(),
        submitter: "王委员".into(),
        sector: "教育界".into(),
        member_id: String::new(),
    };
    pb::AppendRequest {
        channel: CHANNEL.into(),
        payload: Some(pb::Payload { kind: Some(Kind::InfoReported(info)) }),
        refs: Vec::new(),
        occurred_at: None,
        idempotency_key: String::new(),
    }
}
