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
    /// and the province: its siblings, and the other current members of
    /// its groups. In code order.
    pub fn other_peers(&self, me: NodeCode) -> Vec<NodeCode> {
        let t = self.topology;
        let mut out: BTreeSet<NodeCode> =
            t.node(me).and_then(|n| n.parent).map(|p| t.children(p).to_vec()).unwrap_or_default().into_iter().collect();
        for group in self.groups.groups_of(me) {
            out.extend(self.groups.members(&group));
        }
        out.remove(&me);
        out.into_iter().collect()
    }
}
