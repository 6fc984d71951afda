//! The NATS subject scheme, and the permissions that follow from it.
//!
//! | subject | carries | who publishes |
//! |---|---|---|
//! | `lk.ev.<origin>.up`, `.down`, `.all` | pushes and head announcements of a broadcast stream | the origin |
//! | `lk.dm.<recipient>.<origin>.to.<code>` | a `to:` stream | the origin |
//! | `lk.dm.<recipient>.<origin>.group.<id>` | a group stream, once per current member | the origin |
//! | `lk.pull.<responder>.<requester>` | pull and heads requests (request/reply) | the requester |
//! | `lk.who.<requester>` | "who holds my own streams?" when restoring | the requester |
//! | `_INBOX_<code>.>` | replies to a node's requests | responders, via `allow_responses` |
//!
//! Why: the origin (or requester) is a fixed token of every subject a node
//! publishes on, so the NATS server's per-user publish permissions pin it —
//! a node cannot speak as another. Broadcast channels cost one publish per
//! event whatever the number of recipients, and their audiences (ancestors,
//! descendants, everyone) are static, so subscribe permissions can state them
//! exactly. Directed and group streams go once per recipient under the
//! recipient's own prefix, because group membership changes and NATS
//! permissions do not.

use crate::channel::{Channel, GroupId};
use crate::code::NodeCode;
use crate::topology::Topology;

/// The subject(s) a push of (origin, channel) goes to. `members` are the
/// current members of the group for a group channel (ignored otherwise).
pub fn push_subjects(origin: NodeCode, channel: &Channel, members: &[NodeCode]) -> Vec<String> {
    match channel {
        Channel::Up | Channel::Down | Channel::All => vec![format!("lk.ev.{origin}.{channel}")],
        Channel::To(target) => vec![format!("lk.dm.{target}.{origin}.to.{target}")],
        Channel::Group(id) => members
            .iter()
            .filter(|m| **m != origin)
            .map(|m| format!("lk.dm.{m}.{origin}.group.{}", id.as_str()))
            .collect(),
    }
}

/// The (origin, channel) a push subject names, or `None` for anything else.
pub fn parse_push_subject(subject: &str) -> Option<(NodeCode, Channel)> {
    let tokens: Vec<&str> = subject.split('.').collect();
    match tokens[..] {
        ["lk", "ev", origin, channel @ ("up" | "down" | "all")] => Some((origin.parse().ok()?, channel.parse().ok()?)),
        ["lk", "dm", recipient, origin, "to", target] if recipient == target => {
            Some((origin.parse().ok()?, Channel::To(target.parse().ok()?)))
        }
        ["lk", "dm", _recipient, origin, "group", id] => {
            Some((origin.parse().ok()?, Channel::Group(id.parse::<GroupId>().ok()?)))
        }
        _ => None,
    }
}

/// Where `requester` sends pull and heads requests for `responder`.
pub fn pull_subject(responder: NodeCode, requester: NodeCode) -> String {
    format!("lk.pull.{responder}.{requester}")
}

/// The requester a pull subject names (its last token, pinned by NATS).
pub fn parse_pull_subject(subject: &str) -> Option<NodeCode> {
    subject.strip_prefix("lk.pull.")?.split('.').nth(1)?.parse().ok()
}

/// Where a restoring node asks everyone for its own streams.
pub fn who_subject(requester: NodeCode) -> String {
    format!("lk.who.{requester}")
}

/// The requester a who subject names.
pub fn parse_who_subject(subject: &str) -> Option<NodeCode> {
    subject.strip_prefix("lk.who.")?.parse().ok()
}

/// The node's reply inbox prefix (async-nats `custom_inbox_prefix`).
pub fn inbox_prefix(node: NodeCode) -> String {
    format!("_INBOX_{node}")
}

/// Whether `reply` is one of `requester`'s inboxes: the only place an
/// answer to `requester` may go. A request names its reply subject itself,
/// and one naming another subject (a broadcast stream's, say) would have
/// the responder publish there in its own name.
pub fn is_inbox_of(requester: NodeCode, reply: &str) -> bool {
    // One literal subject: tokens after the prefix, none empty, no
    // wildcard and no white space (found by fuzzing).
    reply.strip_prefix(inbox_prefix(requester).as_str()).and_then(|rest| rest.strip_prefix('.')).is_some_and(|rest| {
        rest.split('.').all(|token| !token.is_empty() && !token.contains(['*', '>']))
            && !rest.chars().any(char::is_whitespace)
    })
}

/// What `node` subscribes to: exactly the streams it is entitled to, its
/// requests, and restore questions.
pub fn subscriptions(topology: &Topology, node: NodeCode) -> Vec<String> {
    let mut subs = Vec::new();
    if topology.province() == node {
        subs.push("lk.ev.*.up".to_owned());
    } else {
        subs.extend(topology.descendants(node).iter().map(|d| format!("lk.ev.{d}.up")));
    }
    subs.extend(topology.ancestors(node).iter().map(|a| format!("lk.ev.{a}.down")));
    subs.push("lk.ev.*.all".into());
    subs.push(format!("lk.dm.{node}.>"));
    subs.push(format!("lk.pull.{node}.*"));
    subs.push("lk.who.*".into());
    subs
}

/// NATS permissions of `node`'s user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permissions {
    /// Subjects it may publish on; replies go through `allow_responses`.
    pub publish: Vec<String>,
    /// Subjects it may subscribe to.
    pub subscribe: Vec<String>,
}

/// The permissions that let `node` do its part and nothing more.
pub fn permissions(topology: &Topology, node: NodeCode) -> Permissions {
    let publish =
        vec![format!("lk.ev.{node}.>"), format!("lk.dm.*.{node}.>"), format!("lk.pull.*.{node}"), who_subject(node)];
    let mut subscribe = subscriptions(topology, node);
    subscribe.push(format!("{}.>", inbox_prefix(node)));
    Permissions { publish, subscribe }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_goes_only_to_an_inbox_of_the_asker() {
        let asker: NodeCode = "620722".parse().unwrap();
        assert!(is_inbox_of(asker, "_INBOX_620722.abc.1"));
        for other in [
            "_INBOX_620722",
            "_INBOX_620722.",
            "_INBOX_6207220.x",
            "_INBOX_620700.x",
            "lk.ev.620000.down",
            "",
            "_INBOX_620722.>",
            "_INBOX_620722.a.*",
            "_INBOX_620722.a..b",
            "_INBOX_620722.a b",
        ] {
            assert!(!is_inbox_of(asker, other), "{other}");
        }
    }

    #[test]
    fn subjects_round_trip() {
        let origin: NodeCode = "620722".parse().unwrap();
        for (channel, members) in [("up", vec![]), ("all", vec![]), ("to:620700", vec![]), ("group:g-1", vec![origin])]
        {
            let channel: Channel = channel.parse().unwrap();
            let members = if members.is_empty() {
                vec!["620000".parse().unwrap()]
            } else {
                vec![origin, "620000".parse().unwrap()]
            };
            for subject in push_subjects(origin, &channel, &members) {
                assert_eq!(parse_push_subject(&subject), Some((origin, channel.clone())), "{subject}");
            }
        }
        assert_eq!(parse_push_subject("lk.dm.620000.620722.to.620700"), None, "recipient must be the target");
        assert_eq!(parse_pull_subject(&pull_subject("620700".parse().unwrap(), origin)), Some(origin));
        assert_eq!(parse_who_subject(&who_subject(origin)), Some(origin));
    }
}
