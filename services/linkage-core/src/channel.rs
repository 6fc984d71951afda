//! Channels: the audience of an event and the unit of ordering.
//!
//! | channel | recipients |
//! |---|---|
//! | `up` | the origin's ancestors up to its province; a province's: the national committee |
//! | `down` | all descendants of the origin; the national committee's: the provinces |
//! | `all` | every node of the origin's province; the national committee's: the provinces |
//! | `group:<id>` | current members of a joint group |
//! | `to:<code>` | one node: of the origin's province, or a province and the national committee to each other |
//! | `chain:<code>` | that node and its ancestors up to its province, and the national committee above a province (sent by one of them) |
//! | `fed:<name>` | a federation's provinces and the cities they name for it (sent by one of them) |
//!
//! With the national committee at the root (decision 0065) the province
//! is a wall crossed only on purpose: a county's `up` stops at its
//! province, and what reaches the national committee is what a province
//! sends it. A province deployed alone has no national committee and
//! every rule reads as it did with three levels.

pub use crate::audience::{Channel, FederationName, GroupId};
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
            refuse(format!("{origin} is the topology's root and has no level above it to send up to"))
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
        Channel::To(target) if !directly_reachable(topology, origin, *target) => refuse(format!(
            "to:{target} is in another province than {origin}; provinces reach each other through the \
             national committee"
        )),
        Channel::Chain(target) if !topology.contains(*target) => Err(AppendError::Invalid(FieldViolation::new(
            "channel",
            format!("chain:{target} names no node of the topology"),
        ))),
        Channel::Chain(target) if !on_chain(topology, *target, origin) => {
            refuse(format!("chain:{target} is {target} and the levels above it; {origin} is not one of them"))
        }
        Channel::Federation(name) => match topology.federation(name) {
            None => Err(AppendError::Invalid(FieldViolation::new(
                "channel",
                format!("fed:{} names no federation of the topology", name.as_str()),
            ))),
            Some(f) if !f.includes(origin) => {
                refuse(format!("{origin} is not one of fed:{}'s provinces or cities", name.as_str()))
            }
            Some(_) => Ok(()),
        },
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
    // A province alone: the three-level rules, exactly as before the
    // national committee, for every origin (one a later topology version
    // dropped too).
    if !topology.is_national() {
        return match channel {
            Channel::Up => topology.is_ancestor(reader, origin),
            Channel::Down => topology.is_ancestor(origin, reader),
            Channel::All => topology.contains(reader),
            Channel::Group(id) => is_member(id),
            Channel::To(target) => *target == reader,
            Channel::Chain(target) => {
                let within = |node: NodeCode| node == *target || topology.is_ancestor(node, *target);
                within(reader) && within(origin)
            }
            Channel::Federation(_) => false,
        };
    }
    let national = |code: NodeCode| code == NodeCode::NATIONAL && topology.contains(code);
    let same_province = topology.province_of(reader).is_some_and(|p| topology.province_of(origin) == Some(p));
    match channel {
        Channel::Up if is_province(topology, origin) => topology.node(origin).and_then(|n| n.parent) == Some(reader),
        Channel::Up => !national(reader) && topology.is_ancestor(reader, origin),
        Channel::Down | Channel::All if national(origin) => is_province(topology, reader),
        Channel::Down => topology.is_ancestor(origin, reader),
        Channel::All => same_province,
        // Groups across provinces wait for federations (decision 0065).
        Channel::Group(id) => same_province && is_member(id),
        Channel::To(target) => *target == reader && directly_reachable(topology, origin, reader),
        // Only the chain's own nodes send on it and read it.
        Channel::Chain(target) => on_chain(topology, *target, reader) && on_chain(topology, *target, origin),
        // The one way across the wall between provinces.
        Channel::Federation(name) => {
            topology.federation(name).is_some_and(|f| f.includes(reader) && f.includes(origin))
        }
    }
}

/// The nodes of `chain:<target>`: `target`, then its ancestors up to its
/// province, and the national committee above a province.
pub fn chain_members(topology: &Topology, target: NodeCode) -> Vec<NodeCode> {
    std::iter::once(target).chain(topology.ancestors(target)).filter(|n| on_chain(topology, target, *n)).collect()
}

/// Every node but the origin entitled to `origin`'s events on a channel
/// whose audience the topology alone decides (all but groups, which give
/// `None`), in code order.
pub fn audience(topology: &Topology, origin: NodeCode, channel: &Channel) -> Option<Vec<NodeCode>> {
    if matches!(channel, Channel::Group(_)) {
        return None;
    }
    let entitled = |reader: NodeCode| reader != origin && entitled(topology, reader, origin, channel, |_| false);
    Some(topology.nodes().map(|n| n.code).filter(|c| entitled(*c)).collect())
}

/// True when `code` is a province of the topology.
fn is_province(topology: &Topology, code: NodeCode) -> bool {
    topology.province_of(code) == Some(code)
}

/// True when `node` is on `target`'s chain: `target` itself, its
/// ancestors up to its province, and the national committee when `target`
/// is a province (or the national committee itself).
fn on_chain(topology: &Topology, target: NodeCode, node: NodeCode) -> bool {
    if node == target {
        return topology.contains(node);
    }
    if node == NodeCode::NATIONAL {
        return is_province(topology, target) && topology.is_ancestor(node, target);
    }
    topology.is_ancestor(node, target)
}

/// True when `origin` may address `target` directly (`to:`): both in one
/// province, or a province and the national committee.
fn directly_reachable(topology: &Topology, origin: NodeCode, target: NodeCode) -> bool {
    match (topology.province_of(origin), topology.province_of(target)) {
        (Some(a), Some(b)) => a == b,
        (None, Some(_)) => is_province(topology, target),
        (Some(_), None) => is_province(topology, origin),
        (None, None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_text() {
        for s in ["up", "down", "all", "group:zhangye-2026", "to:620722", "chain:620722", "fed:yellow-river"] {
            assert_eq!(s.parse::<Channel>().unwrap().to_string(), s);
        }
        for bad in [
            "",
            "UP",
            "group:",
            "group:Big",
            "to:62",
            "to:",
            "side",
            "group:a.b",
            "chain:",
            "chain:6207",
            "fed:",
            "fed:a.b",
        ] {
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
