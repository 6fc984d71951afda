//! The NATS subject scheme, and the permissions that follow from it.
//!
//! Every subject of a node begins with `lk.<province>`, the code of the
//! node's province (`lk.620000` in Gansu; `lk.000000` for the national
//! committee). GB/T 2260 makes the province the first two digits of every
//! code, and the topology refuses a parent whose code does not prefix its
//! child's, so a subject's prefix follows from the codes it names alone: a
//! province's subjects are the same alone and under the national
//! committee, and a province linked later keeps them (decision 0065).
//!
//! | subject | carries | who publishes |
//! |---|---|---|
//! | `lk.<P(origin)>.ev.<origin>.up`, `.down`, `.all` | pushes and head announcements of a broadcast stream | the origin |
//! | `lk.fed.<name>.ev.<origin>` | a federation's stream | the origin, one of the federation's |
//! | `lk.<P(recipient)>.dm.<recipient>.<origin>.to.<code>` | a `to:` stream | the origin |
//! | `lk.<P(recipient)>.dm.<recipient>.<origin>.group.<id>` | a group stream, once per current member | the origin |
//! | `lk.<P(recipient)>.dm.<recipient>.<origin>.chain.<code>` | a chain stream, once per node of the chain | the origin |
//! | `lk.<P(responder)>.pull.<responder>.<requester>` | pull and heads requests (request/reply) | the requester |
//! | `lk.<P(requester)>.who.<requester>` | "who holds my own streams?" when restoring | the requester |
//! | `lk.<P(holder)>.doc.<holder>.<requester>` | a chunk of a document (request/reply) | the requester |
//! | `_INBOX_<code>.>` (codes are unique in the country) | replies to a node's requests | responders, via `allow_responses` |
//!
//! `P(code)` is the code's province ([`province_token`]). Why: the origin
//! (or requester) is a fixed token of every subject a node publishes on,
//! so the NATS server's per-user publish permissions pin it — a node
//! cannot speak as another. Broadcast channels cost one publish per event
//! whatever the number of recipients, and their audiences (ancestors,
//! descendants, everyone) are static, so subscribe permissions can state
//! them exactly. Directed and group streams go once per recipient under
//! the recipient's own prefix, because group membership changes and NATS
//! permissions do not. A node publishes into another province's prefix
//! only to the nodes a channel crosses the wall to ([`across`]): a
//! province and the national committee, and a federation's members.

use crate::channel::{entitled, Channel, GroupId};
use crate::code::NodeCode;
use crate::topology::Topology;
use std::collections::BTreeSet;

/// The token after `lk.` of `code`'s subjects: its province's code (the
/// first two digits and `0000`), `000000` for the national committee.
pub fn province_token(code: NodeCode) -> String {
    format!("{}0000", &code.as_str()[..2])
}

/// `lk.<province>` of `code`'s subjects.
pub fn prefix_of(code: NodeCode) -> String {
    format!("lk.{}", province_token(code))
}

/// The subject scheme: every subject of every node, and the parsers that
/// take a subject back to what it names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Subjects;

/// A subject's tokens after `lk.<province>`, with the province token; or
/// `None` for a subject that is not linkage's.
fn tokens(subject: &str) -> Option<(&str, Vec<&str>)> {
    let rest = subject.strip_prefix("lk.")?;
    let (province, rest) = rest.split_once('.')?;
    Some((province, rest.split('.').collect()))
}

/// `code` parsed, if `province` is its province's token.
fn of_province(province: &str, code: &str) -> Option<NodeCode> {
    let code: NodeCode = code.parse().ok()?;
    (province_token(code) == province).then_some(code)
}

impl Subjects {
    /// The subject(s) a push of (origin, channel) goes to. `members` are
    /// the current members of the group for a group channel, the node and
    /// its ancestors for a chain (ignored otherwise). A node of a version
    /// before chains finds no stream in a chain's subject and drops it.
    pub fn push(&self, origin: NodeCode, channel: &Channel, members: &[NodeCode]) -> Vec<String> {
        let dm = |recipient: NodeCode, rest: String| format!("{}.dm.{recipient}.{origin}.{rest}", prefix_of(recipient));
        match channel {
            Channel::Up | Channel::Down | Channel::All => vec![format!("{}.ev.{origin}.{channel}", prefix_of(origin))],
            Channel::To(target) => vec![dm(*target, format!("to.{target}"))],
            Channel::Group(id) => {
                members.iter().filter(|m| **m != origin).map(|m| dm(*m, format!("group.{}", id.as_str()))).collect()
            }
            Channel::Chain(code) => {
                members.iter().filter(|m| **m != origin).map(|m| dm(*m, format!("chain.{code}"))).collect()
            }
            Channel::Federation(name) => vec![format!("lk.fed.{}.ev.{origin}", name.as_str())],
        }
    }

    /// The (origin, channel) a push subject names, or `None` for anything
    /// else (a prefix that is not the province of the code it must be).
    pub fn parse_push(&self, subject: &str) -> Option<(NodeCode, Channel)> {
        let (province, tokens) = tokens(subject)?;
        match (province, &tokens[..]) {
            ("fed", [name, "ev", origin]) => Some((origin.parse().ok()?, Channel::Federation(name.parse().ok()?))),
            (_, ["ev", origin, channel @ ("up" | "down" | "all")]) => {
                Some((of_province(province, origin)?, channel.parse().ok()?))
            }
            (_, ["dm", recipient, origin, kind, what]) => {
                of_province(province, recipient)?;
                let channel = match *kind {
                    "to" if recipient == what => Channel::To(what.parse().ok()?),
                    "group" => Channel::Group(what.parse::<GroupId>().ok()?),
                    "chain" => Channel::Chain(what.parse().ok()?),
                    _ => return None,
                };
                Some((origin.parse().ok()?, channel))
            }
            _ => None,
        }
    }

    /// Where `requester` sends pull and heads requests for `responder`.
    pub fn pull(&self, responder: NodeCode, requester: NodeCode) -> String {
        format!("{}.pull.{responder}.{requester}", prefix_of(responder))
    }

    /// The requester a pull subject names (its last token, pinned by NATS).
    pub fn parse_pull(&self, subject: &str) -> Option<NodeCode> {
        let (province, t) = tokens(subject)?;
        match t[..] {
            ["pull", responder, requester] => {
                of_province(province, responder)?;
                requester.parse().ok()
            }
            _ => None,
        }
    }

    /// Where a restoring node asks everyone for its own streams.
    pub fn who(&self, requester: NodeCode) -> String {
        format!("{}.who.{requester}", prefix_of(requester))
    }

    /// The requester a who subject names.
    pub fn parse_who(&self, subject: &str) -> Option<NodeCode> {
        let (province, t) = tokens(subject)?;
        match t[..] {
            ["who", requester] => of_province(province, requester),
            _ => None,
        }
    }

    /// Where `requester` asks `holder` for a chunk of a document.
    pub fn doc(&self, holder: NodeCode, requester: NodeCode) -> String {
        format!("{}.doc.{holder}.{requester}", prefix_of(holder))
    }

    /// Where `holder` hears chunk requests (the documents service's own
    /// subscription, beside the replicator's).
    pub fn doc_requests(&self, holder: NodeCode) -> String {
        format!("{}.doc.{holder}.*", prefix_of(holder))
    }

    /// The requester a document subject names (its last token, pinned by
    /// NATS).
    pub fn parse_doc(&self, subject: &str) -> Option<NodeCode> {
        let (province, t) = tokens(subject)?;
        match t[..] {
            ["doc", holder, requester] => {
                of_province(province, holder)?;
                requester.parse().ok()
            }
            _ => None,
        }
    }

    /// What `node` subscribes to: exactly the streams it is entitled to,
    /// its requests, and restore questions of those whose streams it may
    /// hold.
    pub fn subscriptions(&self, topology: &Topology, node: NodeCode) -> Vec<String> {
        let p = prefix_of(node);
        let is_province = topology.province_of(node) == Some(node);
        let national = NodeCode::NATIONAL;
        let mut subs = Vec::new();
        if is_province {
            subs.push(format!("{p}.ev.*.up"));
        } else if node == national {
            subs.extend(topology.provinces().map(|q| format!("{}.ev.{q}.up", prefix_of(q))));
        } else {
            subs.extend(topology.descendants(node).iter().map(|d| format!("{p}.ev.{d}.up")));
        }
        let ancestors = topology.ancestors(node);
        let above = ancestors.iter().filter(|a| entitled(topology, node, **a, &Channel::Down, |_| false));
        subs.extend(above.map(|a| format!("{}.ev.{a}.down", prefix_of(*a))));
        if is_province && topology.is_national() {
            subs.push(format!("{}.ev.{national}.all", prefix_of(national)));
        }
        if node != national {
            subs.push(format!("{p}.ev.*.all"));
        }
        subs.push(format!("{p}.dm.{node}.>"));
        subs.push(format!("{p}.pull.{node}.*"));
        // Restore questions of those whose streams this node may hold.
        if node == national {
            subs.extend(topology.provinces().map(|q| self.who(q)));
        } else {
            subs.push(format!("{p}.who.*"));
        }
        if is_province && topology.is_national() {
            subs.push(self.who(national));
        }
        let mut peers = BTreeSet::new();
        for (name, federation) in topology.federations().filter(|(_, f)| f.includes(node)) {
            subs.push(format!("lk.fed.{}.ev.*", name.as_str()));
            peers.extend(federation.provinces.iter().chain(&federation.cities).copied());
        }
        let elsewhere = peers.into_iter().filter(|m| prefix_of(*m) != p);
        subs.extend(elsewhere.map(|m| self.who(m)));
        subs
    }

    /// The permissions that let `node` do its part and nothing more.
    pub fn permissions(&self, topology: &Topology, node: NodeCode) -> Permissions {
        let mut publish = vec![format!("{}.ev.{node}.>", prefix_of(node))];
        publish.extend(
            topology
                .federations()
                .filter(|(_, f)| f.includes(node))
                .map(|(name, _)| format!("lk.fed.{}.ev.{node}", name.as_str())),
        );
        let p = prefix_of(node);
        let across = across(topology, node);
        publish.extend([format!("{p}.dm.*.{node}.>"), format!("{p}.pull.*.{node}")]);
        // Directed streams cross only between a province and the national
        // committee (`channel::check_send`); pulls also to federation peers.
        for other in &across {
            let q = prefix_of(*other);
            // `to:` the other, and the province's chain (the province and
            // the national committee): nothing else is directed across.
            if *other == NodeCode::NATIONAL || node == NodeCode::NATIONAL {
                let province = if node == NodeCode::NATIONAL { *other } else { node };
                publish.push(format!("{q}.dm.{other}.{node}.to.{other}"));
                publish.push(format!("{q}.dm.{other}.{node}.chain.{province}"));
            }
            publish.push(self.pull(*other, node));
        }
        publish.push(self.who(node));
        publish.push(format!("{p}.doc.*.{node}"));
        publish.extend(across.iter().map(|other| self.doc(*other, node)));
        let mut subscribe = self.subscriptions(topology, node);
        subscribe.push(self.doc_requests(node));
        subscribe.push(format!("{}.>", inbox_prefix(node)));
        // Nothing a node publishes comes back to it: `allow_responses`
        // lets a client publish once to the reply subject of a message it
        // receives, so a request it sent itself, naming any reply subject,
        // would let it speak anywhere (tests/national.rs).
        let publish_deny = vec![format!("{p}.dm.{node}.>"), self.pull(node, node), self.doc(node, node)];
        let mut subscribe_deny = vec![format!("{p}.ev.{node}.>"), self.who(node)];
        subscribe_deny.extend(
            topology
                .federations()
                .filter(|(_, f)| f.includes(node))
                .map(|(name, _)| format!("lk.fed.{}.ev.{node}", name.as_str())),
        );
        Permissions { publish, subscribe, publish_deny, subscribe_deny }
    }
}

/// The nodes of other provinces that `node` addresses directly, in code
/// order: a province's national committee and the national committee's
/// provinces (directed streams, pulls, documents); the other members of
/// its federations (pulls and documents of federation streams). Nobody
/// else: the province is a wall (`crate::channel`).
pub fn across(topology: &Topology, node: NodeCode) -> Vec<NodeCode> {
    let mut out = BTreeSet::new();
    if topology.province_of(node) == Some(node) && topology.is_national() {
        out.insert(NodeCode::NATIONAL);
    }
    if node == NodeCode::NATIONAL {
        out.extend(topology.provinces());
    }
    for (_, federation) in topology.federations().filter(|(_, f)| f.includes(node)) {
        out.extend(federation.provinces.iter().chain(&federation.cities).copied());
    }
    out.into_iter().filter(|n| province_token(*n) != province_token(node)).collect()
}

/// Who hears `requester`'s restore question ([`Subjects::who`]), in code
/// order: the nodes of its province, the national committee for a
/// province and the provinces for the national committee, and the other
/// members of its federations — those that may hold its streams.
pub fn who_audience(topology: &Topology, requester: NodeCode) -> Vec<NodeCode> {
    let province = topology.province_of(requester);
    let mut out: BTreeSet<NodeCode> = topology
        .nodes()
        .map(|n| n.code)
        .filter(|n| province.is_some() && topology.province_of(*n) == province)
        .collect();
    if province == Some(requester) && topology.is_national() {
        out.insert(NodeCode::NATIONAL);
    }
    if requester == NodeCode::NATIONAL {
        out.extend(topology.provinces());
    }
    for (_, federation) in topology.federations().filter(|(_, f)| f.includes(requester)) {
        out.extend(federation.provinces.iter().chain(&federation.cities));
    }
    out.remove(&requester);
    out.into_iter().collect()
}

/// NATS subject matching: `*` matches one token, `>` the rest (one token
/// at least).
pub fn matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
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
    /// Of those it may publish on, the ones it also hears: denied.
    pub publish_deny: Vec<String>,
    /// Of those it may hear, the ones it also publishes on: denied.
    pub subscribe_deny: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_nats() {
        assert!(matches("lk.620000.ev.*.up", "lk.620000.ev.620722.up"));
        assert!(!matches("lk.620000.ev.*.up", "lk.620000.ev.620722.down"));
        assert!(!matches("lk.620000.ev.*.up", "lk.620000.ev.620722.up.x"));
        assert!(matches("lk.620000.dm.620700.>", "lk.620000.dm.620700.620722.to.620700"));
        assert!(!matches("lk.620000.dm.620700.>", "lk.620000.dm.620700"));
        assert!(!matches("lk.620000.ev.*", "lk.620000.ev.620722.up"));
        assert!(!matches("lk.620000.ev.*.all", "lk.640000.ev.640000.all"));
    }

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

    fn code(c: &str) -> NodeCode {
        c.parse().unwrap()
    }

    #[test]
    fn subjects_round_trip_and_carry_their_codes_province() {
        let scheme = Subjects;
        let origin = code("620722");
        let cases = [
            ("up", vec![]),
            ("all", vec![]),
            ("to:620700", vec![]),
            ("to:000000", vec![]),
            ("group:g-1", vec![origin, code("620000")]),
            ("chain:620722", vec![origin, code("620000")]),
            ("chain:620000", vec![code("620000"), code("000000")]),
            ("fed:yellow-river", vec![]),
        ];
        for (channel, members) in cases {
            let channel: Channel = channel.parse().unwrap();
            for subject in scheme.push(origin, &channel, &members) {
                assert_eq!(scheme.parse_push(&subject), Some((origin, channel.clone())), "{subject}");
            }
        }
        let to_national = scheme.push(code("620000"), &"to:000000".parse().unwrap(), &[]);
        assert_eq!(to_national, ["lk.000000.dm.000000.620000.to.000000"], "under the recipient's prefix");
        let fed = scheme.push(code("620100"), &"fed:yellow-river".parse().unwrap(), &[]);
        assert_eq!(fed, ["lk.fed.yellow-river.ev.620100"]);
        assert_eq!(scheme.parse_push("lk.620000.dm.620000.620722.to.620700"), None, "recipient must be the target");
        let chain = scheme.push(origin, &"chain:620722".parse().unwrap(), &[origin, code("620700")]);
        assert_eq!(chain, ["lk.620000.dm.620700.620722.chain.620722"], "once per node of the chain but the origin");
        // A prefix that is not the province of the code it must carry.
        for bad in [
            "lk.610000.ev.620722.up",
            "lk.000000.ev.620000.up",
            "lk.620000.ev.000000.down",
            "lk.610000.dm.620700.620722.to.620700",
            "lk.610000.dm.620700.620722.group.g-1",
            "lk.ev.620722.up",
            "lk.6200001.ev.620722.up",
            "lk.fed.yellow-river.ev.620100.all",
            "lk.fed.Yellow.ev.620100",
        ] {
            assert_eq!(scheme.parse_push(bad), None, "{bad}");
        }
        assert_eq!(scheme.parse_pull(&scheme.pull(code("000000"), code("620000"))), Some(code("620000")));
        assert_eq!(scheme.parse_pull(&scheme.pull(code("620700"), origin)), Some(origin));
        assert_eq!(scheme.parse_pull("lk.610000.pull.620700.620722"), None);
        assert_eq!(scheme.parse_pull("lk.620000.pull.620700.620722.x"), None);
        assert_eq!(scheme.parse_who(&scheme.who(origin)), Some(origin));
        assert_eq!(scheme.parse_who("lk.610000.who.620722"), None);
        assert_eq!(scheme.parse_who("lk.620000.who.620722.x"), None);
        assert_eq!(scheme.parse_doc(&scheme.doc(code("640100"), origin)), Some(origin));
        assert_eq!(scheme.parse_doc("lk.620000.doc.640100.620722"), None);
        assert_eq!(scheme.parse_doc("lk.620000.doc.620700"), None);
    }

    /// A province alone keeps the subjects and permissions it had before
    /// four levels: old and new nodes and old NATS configurations meet.
    #[test]
    fn a_province_alone_keeps_its_subjects() {
        let topology = Topology::from_toml(include_str!("../../../deploy/topology/demo.toml")).unwrap();
        let p = Subjects.permissions(&topology, code("620722"));
        assert_eq!(
            p.publish,
            [
                "lk.620000.ev.620722.>",
                "lk.620000.dm.*.620722.>",
                "lk.620000.pull.*.620722",
                "lk.620000.who.620722",
                "lk.620000.doc.*.620722"
            ]
        );
        assert_eq!(
            p.subscribe,
            [
                "lk.620000.ev.620700.down",
                "lk.620000.ev.620000.down",
                "lk.620000.ev.*.all",
                "lk.620000.dm.620722.>",
                "lk.620000.pull.620722.*",
                "lk.620000.who.*",
                "lk.620000.doc.620722.*",
                "_INBOX_620722.>"
            ]
        );
        let province = Subjects.subscriptions(&topology, code("620000"));
        assert_eq!(
            province,
            [
                "lk.620000.ev.*.up",
                "lk.620000.ev.*.all",
                "lk.620000.dm.620000.>",
                "lk.620000.pull.620000.*",
                "lk.620000.who.*"
            ]
        );
        for node in topology.nodes() {
            let p = Subjects.permissions(&topology, node.code);
            for subject in p.publish.iter().chain(&p.subscribe) {
                assert!(subject.starts_with("lk.620000.") || subject.starts_with("_INBOX_"), "{subject}");
            }
        }
    }
}
