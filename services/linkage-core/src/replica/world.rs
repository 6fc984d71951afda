//! [`World`]: what a decision reads of the province — the topology and
//! current group membership.

use crate::channel::{entitled, Channel};
use crate::code::NodeCode;
use crate::groups::Groups;
use crate::topology::Topology;
use std::collections::BTreeSet;

/// What the replica reads of the world at a decision: the topology and
/// current group membership.
#[derive(Clone, Copy)]
pub struct World<'a> {
    /// The province's tree.
    pub topology: &'a Topology,
    /// Group membership as of the log followed so far.
    pub groups: &'a Groups,
}

impl World<'_> {
    /// Whether `reader` may hold events of `origin` on `channel`.
    pub fn entitled(&self, reader: NodeCode, origin: NodeCode, channel: &Channel) -> bool {
        entitled(self.topology, reader, origin, channel, |g| self.groups.is_member(g, reader))
    }

    /// Nodes that may hold streams `me` sees, beyond its parent, children
    /// and the province: its siblings within its province, the other
    /// current members of its groups, and the other members of its
    /// federations. In code order. The provinces under the national
    /// committee are not one another's peers: the province is a wall, and
    /// only a federation crosses it sideways (`crate::channel`).
    pub fn other_peers(&self, me: NodeCode) -> Vec<NodeCode> {
        let t = self.topology;
        let siblings = t.node(me).and_then(|n| n.parent).map(|p| t.children(p).to_vec()).unwrap_or_default();
        let same_province = |n: &NodeCode| t.province_of(*n).is_some_and(|p| t.province_of(me) == Some(p) && p != *n);
        let mut out: BTreeSet<NodeCode> = siblings.into_iter().filter(same_province).collect();
        for group in self.groups.groups_of(me) {
            // Members of the lead's province only (`crate::groups`).
            out.extend(self.groups.members(&group));
        }
        for (_, federation) in t.federations().filter(|(_, f)| f.includes(me)) {
            out.extend(federation.provinces.iter().chain(&federation.cities));
        }
        out.remove(&me);
        out.into_iter().collect()
    }
}
