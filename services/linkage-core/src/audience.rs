//! Channel names: an event's audience as it is written (`up`, `down`,
//! `all`, `group:<id>`, `to:<code>`, `chain:<code>`, `fed:<name>`), parsed
//! and printed. Who may send on
//! a channel and who may read it is [`crate::channel`]'s, which needs the
//! topology; the names alone sit below it, so that the topology can name
//! streams (a retired key's seqs, an ejection's).

use crate::code::NodeCode;
use crate::limits::GROUP_ID_CHARS_MAX;
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

/// True when `s` is 1..=[`GROUP_ID_CHARS_MAX`] of `[a-z0-9-]`: a safe
/// channel name, store key part and NATS subject token.
fn is_token(s: &str) -> bool {
    let ok_chars = s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    !s.is_empty() && s.len() <= GROUP_ID_CHARS_MAX && ok_chars
}

impl FromStr for GroupId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !is_token(s) {
            return Err(format!("a group id must be 1..={GROUP_ID_CHARS_MAX} characters of a-z, 0-9 and -"));
        }
        Ok(GroupId(s.to_owned()))
    }
}

/// A federation's name, e.g. `yellow-river` (沿黄九省区): the same form
/// as a group id, so that it is a safe channel name and subject token.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct FederationName(String);

impl FederationName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for FederationName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !is_token(s) {
            return Err(format!("a federation name must be 1..={GROUP_ID_CHARS_MAX} characters of a-z, 0-9 and -"));
        }
        Ok(FederationName(s.to_owned()))
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
    /// A node and the levels above it: the handling of that node's
    /// 社情民意 item (forwarded, adopted, instructed, feedback), which
    /// concerns its chain and not its siblings.
    Chain(NodeCode),
    /// A federation of provinces (decision 0065): joint meetings and their
    /// minutes, joint research, shared results, among its member provinces
    /// and the cities they name for it.
    Federation(FederationName),
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
                } else if let Some(code) = s.strip_prefix("chain:") {
                    Ok(Channel::Chain(code.parse().map_err(|e| format!("chain:<code>: {e}"))?))
                } else if let Some(name) = s.strip_prefix("fed:") {
                    Ok(Channel::Federation(name.parse()?))
                } else {
                    Err("must be up, down, all, group:<id>, to:<code>, chain:<code> or fed:<name>".into())
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
            Channel::Chain(code) => write!(f, "chain:{code}"),
            Channel::Federation(name) => write!(f, "fed:{}", name.as_str()),
        }
    }
}
