//! The NATS subject scheme, and the permissions that follow from it.
//!
//! Every subject begins with `lk.<province>`, the code of the topology's
//! province (`lk.620000` in Gansu), so that the subjects of provinces
//! linked later (a national node, peer provinces) never meet and each
//! province's permissions stay exact:
//!
//! | subject, after `lk.<province>` | carries | who publishes |
//! |---|---|---|
//! | `.ev.<origin>.up`, `.down`, `.all` | pushes and head announcements of a broadcast stream | the origin |
//! | `.dm.<recipient>.<origin>.to.<code>` | a `to:` stream | the origin |
//! | `.dm.<recipient>.<origin>.group.<id>` | a group stream, once per current member | the origin |
//! | `.pull.<responder>.<requester>` | pull and heads requests (request/reply) | the requester |
//! | `.who.<requester>` | "who holds my own streams?" when restoring | the requester |
//! | `.doc.<holder>.<requester>` | a chunk of a document (request/reply) | the requester |
//! | `_INBOX_<code>.>` (no prefix: codes are unique in the country) | replies to a node's requests | responders, via `allow_responses` |
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

/// The subjects of one province's topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subjects {
    /// `lk.<province>`.
    prefix: String,
}

impl Subjects {
    /// The subjects `node` uses: its province's (the national
    /// committee's own are `lk.000000`).
    pub fn of(topology: &Topology, node: NodeCode) -> Subjects {
        Subjects::for_province(topology.province_of(node).unwrap_or(node))
    }

    /// The subjects of province `province`.
    pub fn for_province(province: NodeCode) -> Subjects {
        Subjects { prefix: format!("lk.{province}") }
    }

    /// `lk.<province>`: what every subject begins with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The tokens after the prefix, or `None` for a subject of another
    /// province or none of ours.
    fn tokens<'a>(&self, subject: &'a str) -> Option<Vec<&'a str>> {
        Some(subject.strip_prefix(self.prefix.as_str())?.strip_prefix('.')?.split('.').collect())
    }

    /// The subject(s) a push of (origin, channel) goes to. `members` are
    /// the current members of the group for a group channel, the node and
    /// its ancestors for a chain (ignored otherwise). A node of a version
    /// before chains finds no stream in a chain's subject and drops it.
    pub fn push(&self, origin: NodeCode, channel: &Channel, members: &[NodeCode]) -> Vec<String> {
        let p = &self.prefix;
        match channel {
            Channel::Up | Channel::Down | Channel::All => vec![format!("{p}.ev.{origin}.{channel}")],
            Channel::To(target) => vec![format!("{p}.dm.{target}.{origin}.to.{target}")],
            Channel::Group(id) => members
                .iter()
                .filter(|m| **m != origin)
                .map(|m| format!("{p}.dm.{m}.{origin}.group.{}", id.as_str()))
                .collect(),
            Channel::Chain(code) => {
                members.iter().filter(|m| **m != origin).map(|m| format!("{p}.dm.{m}.{origin}.chain.{code}")).collect()
            }
            // Subjects between provinces are not built (decision 0065);
            // a node refuses a topology that could have a federation.
            Channel::Federation(_) => Vec::new(),
        }
    }

    /// The (origin, channel) a push subject names, or `None` for anything
    /// else.
    pub fn parse_push(&self, subject: &str) -> Option<(NodeCode, Channel)> {
        match self.tokens(subject)?[..] {
            ["ev", origin, channel @ ("up" | "down" | "all")] => Some((origin.parse().ok()?, channel.parse().ok()?)),
            ["dm", recipient, origin, "to", target] if recipient == target => {
                Some((origin.parse().ok()?, Channel::To(target.parse().ok()?)))
            }
            ["dm", _recipient, origin, "group", id] => {
                Some((origin.parse().ok()?, Channel::Group(id.parse::<GroupId>().ok()?)))
            }
            ["dm", _recipient, origin, "chain", code] => {
                Some((origin.parse().ok()?, Channel::Chain(code.parse().ok()?)))
            }
            _ => None,
        }
    }

    /// Where `requester` sends pull and heads requests for `responder`.
    pub fn pull(&self, responder: NodeCode, requester: NodeCode) -> String {
        format!("{}.pull.{responder}.{requester}", self.prefix)
    }

    /// The requester a pull subject names (its last token, pinned by NATS).
    pub fn parse_pull(&self, subject: &str) -> Option<NodeCode> {
        match self.tokens(subject)?[..] {
            ["pull", _responder, requester] => requester.parse().ok(),
            _ => None,
        }
    }

    /// Where a restoring node asks everyone for its own streams.
    pub fn who(&self, requester: NodeCode) -> String {
        format!("{}.who.{requester}", self.prefix)
    }

    /// The requester a who subject names.
    pub fn parse_who(&self, subject: &str) -> Option<NodeCode> {
        match self.tokens(subject)?[..] {
            ["who", requester] => requester.parse().ok(),
            _ => None,
        }
    }

    /// Where `requester` asks `holder` for a chunk of a document.
    pub fn doc(&self, holder: NodeCode, requester: NodeCode) -> String {
        format!("{}.doc.{holder}.{requester}", self.prefix)
    }

    /// Where `holder` hears chunk requests (the documents service's own
    /// subscription, beside the replicator's).
    pub fn doc_requests(&self, holder: NodeCode) -> String {
        format!("{}.doc.{holder}.*", self.prefix)
    }

    /// The requester a document subject names (its last token, pinned by
    /// NATS).
    pub fn parse_doc(&self, subject: &str) -> Option<NodeCode> {
        match self.tokens(subject)?[..] {
            ["doc", _holder, requester] => requester.parse().ok(),
            _ => None,
        }
    }

    /// What `node` subscribes to: exactly the streams it is entitled to,
    /// its requests, and restore questions.
    pub fn subscriptions(&self, topology: &Topology, node: NodeCode) -> Vec<String> {
        let p = &self.prefix;
        let mut subs = Vec::new();
        if topology.province_of(node) == Some(node) {
            subs.push(format!("{p}.ev.*.up"));
        } else {
            subs.extend(topology.descendants(node).iter().map(|d| format!("{p}.ev.{d}.up")));
        }
        subs.extend(topology.ancestors(node).iter().map(|a| format!("{p}.ev.{a}.down")));
        subs.push(format!("{p}.ev.*.all"));
        subs.push(format!("{p}.dm.{node}.>"));
        subs.push(format!("{p}.pull.{node}.*"));
        subs.push(format!("{p}.who.*"));
        subs
    }

    /// The permissions that let `node` do its part and nothing more.
    pub fn permissions(&self, topology: &Topology, node: NodeCode) -> Permissions {
        let p = &self.prefix;
        let publish = vec![
            format!("{p}.ev.{node}.>"),
            format!("{p}.dm.*.{node}.>"),
            format!("{p}.pull.*.{node}"),
            self.who(node),
            format!("{p}.doc.*.{node}"),
        ];
        let mut subscribe = self.subscriptions(topology, node);
        subscribe.push(self.doc_requests(node));
        subscribe.push(format!("{}.>", inbox_prefix(node)));
        Permissions { publish, subscribe }
    }
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

/// NATS permissions of `node`'s user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permissions {
    /// Subjects it may publish on; replies go through `allow_responses`.
    pub publish: Vec<String>,
    /// Subjects it may subscribe to.
    pub subscribe: Vec<String>,
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
            "lk.620000.ev.620000.down",
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
    fn subjects_round_trip_within_their_province_only() {
        let gansu = Subjects::for_province("620000".parse().unwrap());
        let shaanxi = Subjects::for_province("610000".parse().unwrap());
        let origin: NodeCode = "620722".parse().unwrap();
        let cases = [
            ("up", vec![]),
            ("all", vec![]),
            ("to:620700", vec![]),
            ("group:g-1", vec![origin]),
            ("chain:620722", vec![origin]),
        ];
        for (channel, members) in cases {
            let channel: Channel = channel.parse().unwrap();
            let members = if members.is_empty() {
                vec!["620000".parse().unwrap()]
            } else {
                vec![origin, "620000".parse().unwrap()]
            };
            for subject in gansu.push(origin, &channel, &members) {
                assert!(subject.starts_with("lk.620000."), "{subject}");
                assert_eq!(gansu.parse_push(&subject), Some((origin, channel.clone())), "{subject}");
                assert_eq!(shaanxi.parse_push(&subject), None, "{subject} is not Shaanxi's");
            }
        }
        assert_eq!(gansu.parse_push("lk.620000.dm.620000.620722.to.620700"), None, "recipient must be the target");
        let chain = gansu.push(origin, &"chain:620722".parse().unwrap(), &[origin, "620700".parse().unwrap()]);
        assert_eq!(chain, ["lk.620000.dm.620700.620722.chain.620722"], "once per node of the chain but the origin");
        assert_eq!(gansu.parse_push("lk.ev.620722.up"), None, "the scheme before the province token");
        assert_eq!(gansu.parse_push("lk.6200001.ev.620722.up"), None);
        assert_eq!(gansu.parse_pull(&gansu.pull("620700".parse().unwrap(), origin)), Some(origin));
        assert_eq!(shaanxi.parse_pull(&gansu.pull("620700".parse().unwrap(), origin)), None);
        assert_eq!(gansu.parse_pull("lk.620000.pull.620700.620722.x"), None);
        assert_eq!(gansu.parse_who(&gansu.who(origin)), Some(origin));
        assert_eq!(gansu.parse_doc(&gansu.doc("620700".parse().unwrap(), origin)), Some(origin));
        assert_eq!(shaanxi.parse_doc(&gansu.doc("620700".parse().unwrap(), origin)), None);
        assert_eq!(gansu.parse_doc("lk.620000.doc.620700"), None);
        assert_eq!(gansu.parse_who("lk.620000.who.620722.x"), None);
    }

    #[test]
    fn every_permission_names_the_province() {
        let topology = Topology::from_toml(include_str!("../../../deploy/topology/demo.toml")).unwrap();
        let subjects = Subjects::of(&topology, topology.root());
        for node in topology.nodes() {
            let p = subjects.permissions(&topology, node.code);
            for subject in p.publish.iter().chain(&p.subscribe) {
                assert!(subject.starts_with("lk.620000.") || subject.starts_with("_INBOX_"), "{subject}");
            }
        }
    }
}
