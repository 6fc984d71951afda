//! Channels: the audience of an event and the unit of ordering.
//!
//! | channel | recipients |
//! |---|---|
//! | `up` | all ancestors of the origin |
//! | `down` | all descendants of the origin |
//! | `all` | every node |
//! | `group:<id>` | current members of a joint group |
//! | `to:<code>` | one node |

use crate::code::NodeCode;
use crate::error::{AppendError, FieldViolation};
use crate::limits::GROUP_ID_CHARS_MAX;
use crate::topology::Topology;
use std::fmt;
use std::str::FromStr;

/// A joint group's id: 1..=64 of `[a-z0-9-]`, so that it is a safe channel
/// name, store key part and NATS subject token.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct GroupId(String);

impl GroupId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The committee whose code begins the id (`620000-hexi-water`): the
    /// only one that may form the group, its lead. Groups are named by
    /// their lead as events are by their origin, so no other committee
    /// can take a group over; an id without a code has no owner.
    pub fn owner(&self) -> Option<NodeCode> {
        let (code, rest) = self.0.split_at_checked(NodeCode::LEN)?;
        rest.starts_with('-').then(|| code.parse().ok()).flatten()
    }
}

impl FromStr for GroupId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok_chars = s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if s.is_empty() || s.len() > GROUP_ID_CHARS_MAX || !ok_chars {
            return Err(format!("a group id must be 1..={GROUP_ID_CHARS_MAX} characters of a-z, 0-9 and -"));
        }
        Ok(GroupId(s.to_owned()))
    }
}

/// Who an event is for.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Channel {
    /// All ancestors: 社情民意 reports, progress reports, drafts for review.
    Up,
    /// All descendants: notices, plans, requests for topics.
    Down,
    /// Every node: group membership, published results.
    All,
    /// Current members of a joint group.
    Group(GroupId),
    /// One node: a reply, an assignment, a forward.
    To(NodeCode),
}

impl FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "up" => Ok(Channel::Up),
            "down" => Ok(Channel::Down),
            "all" => Ok(Channel::All),
            _ => {
                if let Some(id) = s.strip_prefix("group:") {
                    Ok(Channel::Group(id.parse()?))
                } else if let Some(code) = s.strip_prefix("to:") {
                    Ok(Channel::To(code.parse().map_err(|e| format!("to:<code>: {e}"))?))
                } else {
                    Err("must be up, down, all, group:<id> or to:<code>".into())
                }
            }
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Channel::Up => f.write_str("up"),
            Channel::Down => f.write_str("down"),
            Channel::All => f.write_str("all"),
            Channel::Group(id) => write!(f, "group:{}", id.as_str()),
            Channel::To(code) => write!(f, "to:{code}"),
        }
    }
}

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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_text() {
        for s in ["up", "down", "all", "group:zhangye-2026", "to:620722"] {
            assert_eq!(s.parse::<Channel>().unwrap().to_string(), s);
        }
        for bad in ["", "UP", "group:", "group:Big", "to:62", "to:", "side", "group:a.b"] {
            assert!(bad.parse::<Channel>().is_err(), "{bad:?}");
        }
    }
}
