//! Joint group membership, as a deterministic function of the events held:
//! per (group, member) the latest join or leave by (hlc, origin) wins, so the
//! answer does not depend on the order events arrived in. Only changes whose
//! authority holds count (`crate::rules::authority_breach`, through `crate::views::breach`): the lead forms
//! the group and adds and removes members, a member may leave.

use crate::channel::GroupId;
use crate::code::NodeCode;
use crate::pb;
use crate::pb::payload::Kind;
use std::collections::BTreeMap;

/// Who is in which group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Groups {
    /// group → member → (hlc, origin, joined) of the deciding event.
    members: BTreeMap<GroupId, BTreeMap<NodeCode, (u64, NodeCode, bool)>>,
}

impl Groups {
    /// Takes note of an event; events of other kinds are ignored.
    pub fn observe(&mut self, event: &pb::Event) {
        let Some(kind) = event.payload.as_ref().and_then(|p| p.kind.as_ref()) else { return };
        // The views' verdict: a change its author may not make, or an
        // event breaking another envelope rule, changes nothing here either.
        if crate::views::breach(event).is_some() {
            return;
        }
        let Ok(origin) = event.origin.parse::<NodeCode>() else { return };
        let changes: Vec<(&str, &str, bool)> = match kind {
            Kind::GroupFormed(m) => std::iter::once(m.lead.as_str())
                .chain(m.members.iter().map(String::as_str))
                .map(|member| (m.group_id.as_str(), member, true))
                .collect(),
            Kind::GroupJoined(m) => vec![(m.group_id.as_str(), m.member.as_str(), true)],
            Kind::GroupLeft(m) => vec![(m.group_id.as_str(), m.member.as_str(), false)],
            _ => return,
        };
        for (group, member, joined) in changes {
            let (Ok(group), Ok(member)) = (group.parse::<GroupId>(), member.parse::<NodeCode>()) else { continue };
            // A group stays within its lead's province (the first two
            // digits of every code there): a member elsewhere, which no
            // node of this version appends, is no member.
            if group.owner().is_some_and(|o| o.as_str()[..2] != member.as_str()[..2]) {
                continue;
            }
            // The greatest (hlc, origin, joined) wins: the same order as the
            // progress view's members, so that a tie cannot depend on arrival.
            let entry = self.members.entry(group).or_default().entry(member).or_insert((0, origin, false));
            if (event.hlc, origin, joined) >= *entry {
                *entry = (event.hlc, origin, joined);
            }
        }
    }

    /// True when `node` is a current member of `group`.
    pub fn is_member(&self, group: &GroupId, node: NodeCode) -> bool {
        self.members.get(group).and_then(|m| m.get(&node)).is_some_and(|(_, _, joined)| *joined)
    }

    /// Groups `node` is a current member of, in id order.
    pub fn groups_of(&self, node: NodeCode) -> Vec<GroupId> {
        self.members.iter().filter(|(g, _)| self.is_member(g, node)).map(|(g, _)| g.clone()).collect()
    }

    /// Current members of `group`, in code order.
    pub fn members(&self, group: &GroupId) -> Vec<NodeCode> {
        self.members
            .get(group)
            .map(|m| m.iter().filter(|(_, (_, _, joined))| *joined).map(|(code, _)| *code).collect())
            .unwrap_or_default()
    }
}
