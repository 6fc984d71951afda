//! Channels: the audience of an event and the unit of ordering.
//!
//! | channel | recipients |
//! |---|---|
//! | `up` | all ancestors of the origin |
//! | `down` | all descendants of the origin |
//! | `all` | every node |
//! | `group:<id>` | current members of a joint group |
//! | `to:<code>` | one node |
//! | `chain:<code>` | that node and its ancestors (sent by one of them) |

pub use crate::audience::{Channel, GroupId};
use crate::code::NodeCode;
use crate::error::{AppendError, FieldViolation};
use crate::topology::Topology;

/// Checks that `origin` may send on `channel` in this topology.
///
/// A malformed target is `INVALID_ARGUMENT`; a channel the origin's place in
/// the tree does not allow is `FAILED_PRECONDITION`. Group membership is
/// checked by the caller that knows the groups.
pub fn check_send(topology: &Topology, origin: NodeCode, channel: &Channel) -> Result<(), AppendError> {
    let refuse = |why: String| Err(AppendError::Precondition(FieldViolation::new("channel", why)));
    match channel {
        Channel::Up if topology.node(origin).is_some_and(|n| n.parent.is_none()) => {
            refuse(format!("{origin} is the province and has no level above it to send up to"))
        }
        Channel::Down if topology.children(origin).is_empty() => {
            refuse(format!("{origin} has no level below it to send down to"))
        }
        Channel::To(target) if !topology.contains(*target) => Err(AppendError::Invalid(FieldViolation::new(
            "channel",
            format!("to:{target} names no node of the topology"),
        ))),
        Channel::To(target) if *target == origin => {
            Err(AppendError::Invalid(FieldViolation::new("channel", "to:<code> must name another node")))
        }
        Channel::Chain(target) if !topology.contains(*target) => Err(AppendError::Invalid(FieldViolation::new(
            "channel",
            format!("chain:{target} names no node of the topology"),
        ))),
        Channel::Chain(target) if *target != origin && !topology.is_ancestor(origin, *target) => {
            refuse(format!("chain:{target} is {target} and the levels above it; {origin} is not one of them"))
        }
        _ => Ok(()),
    }
}

/// True when `reader` is entitled to events of `origin` on `channel`.
///
/// `is_member` answers whether `reader` is a current member of a group; it
/// is asked only for group channels. The origin always holds its own events.
pub fn entitled(
    topology: &Topology,
    reader: NodeCode,
    origin: NodeCode,
    channel: &Channel,
    is_member: impl FnOnce(&GroupId) -> bool,
) -> bool {
    if reader == origin {
        return true;
    }
    match channel {
        Channel::Up => topology.is_ancestor(reader, origin),
        Channel::Down => topology.is_ancestor(origin, reader),
        Channel::All => topology.contains(reader),
        Channel::Group(id) => is_member(id),
        Channel::To(target) => *target == reader,
        // Only the chain's own nodes send on it and read it.
        Channel::Chain(target) => {
            let within = |node: NodeCode| node == *target || topology.is_ancestor(node, *target);
            within(reader) && within(origin)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_text() {
        for s in ["up", "down", "all", "group:zhangye-2026", "to:620722", "chain:620722"] {
            assert_eq!(s.parse::<Channel>().unwrap().to_string(), s);
        }
        for bad in ["", "UP", "group:", "group:Big", "to:62", "to:", "side", "group:a.b", "chain:", "chain:6207"] {
            assert!(bad.parse::<Channel>().is_err(), "{bad:?}");
        }
    }

    /// A chain is a node and the levels above it: they send on it and
    /// read it, and nobody else (not a sibling, not a node below).
    #[test]
    fn a_chain_is_a_node_and_its_ancestors() {
        let topology = Topology::from_toml(include_str!("../../../deploy/topology/demo.toml")).unwrap();
        let code = |c: &str| c.parse::<NodeCode>().unwrap();
        let chain: Channel = "chain:620722".parse().unwrap();
        for (node, inside) in
            [("620722", true), ("620700", true), ("620000", true), ("620622", false), ("620600", false)]
        {
            assert_eq!(check_send(&topology, code(node), &chain).is_ok(), inside, "{node} sends");
            assert_eq!(entitled(&topology, code(node), code("620000"), &chain, |_| false), inside, "{node} reads");
        }
        // An event on a chain its origin is not part of entitles nobody.
        assert!(!entitled(&topology, code("620700"), code("620622"), &chain, |_| false));
        let city_chain: Channel = "chain:620700".parse().unwrap();
        assert!(check_send(&topology, code("620722"), &city_chain).is_err(), "a county is below its city's chain");
        assert!(!entitled(&topology, code("620722"), code("620000"), &city_chain, |_| false));
    }
}
