//! What the four-level tests share: the national demo topology and every
//! channel a node of a topology could name.

use linkage_core::{Channel, NodeCode, Topology};

/// 全国政协, the demo's 甘肃 and a small 宁夏, federated as `yellow-river`.
pub fn national() -> Topology {
    Topology::from_toml(include_str!("../../../../deploy/topology/national-demo.toml")).unwrap()
}

pub fn code(c: &str) -> NodeCode {
    c.parse().unwrap()
}

/// Every channel a node of `t` could name, groups aside.
pub fn channels(t: &Topology) -> Vec<Channel> {
    let mut out = vec![Channel::Up, Channel::Down, Channel::All];
    out.extend(t.federations().map(|(name, _)| Channel::Federation(name.clone())));
    for node in t.nodes() {
        out.push(Channel::To(node.code));
        out.push(Channel::Chain(node.code));
    }
    out
}
