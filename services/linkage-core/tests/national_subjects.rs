//! NATS subjects and permissions with four levels (decision 0065), over
//! every (reader, origin, channel) of the national demo topology: 全国政协,
//! the demo's 甘肃 and a small 宁夏, federated as `yellow-river`. A node
//! may subscribe to exactly the streams it is entitled to, publish only
//! where a channel of its own leads, pull from every origin whose streams
//! it reads, and hear the restore questions of every origin whose streams
//! it holds. Groups aside: their membership is the replicator's to judge
//! (NATS lets a member hear any group stream addressed to it).

use linkage_core::channel::{chain_members, check_send, entitled};
use linkage_core::subjects::{across, prefix_of, Subjects};
use linkage_core::{Channel, NodeCode, Topology};

mod common;
use common::{channels, code, national};

fn matches(pattern: &str, subject: &str) -> bool {
    linkage_core::subjects::matches(pattern, subject)
}

fn any_match(patterns: &[String], subject: &str) -> bool {
    patterns.iter().any(|p| matches(p, subject))
}

/// The subjects a push of (origin, channel) goes to.
fn push_subjects(t: &Topology, origin: NodeCode, channel: &Channel) -> Vec<String> {
    let members = match channel {
        Channel::Chain(target) => chain_members(t, *target),
        _ => Vec::new(),
    };
    Subjects.push(origin, channel, &members)
}

/// Whoever NATS lets hear a push is entitled to it, and everyone
/// entitled hears it.
#[test]
fn a_node_subscribes_to_exactly_the_streams_it_is_entitled_to() {
    let t = national();
    let subs: Vec<(NodeCode, Vec<String>)> =
        t.nodes().map(|n| (n.code, Subjects.permissions(&t, n.code).subscribe)).collect();
    let mut checked = 0;
    for origin in t.nodes().map(|n| n.code) {
        let publish = Subjects.permissions(&t, origin).publish;
        for channel in channels(&t) {
            let sendable = check_send(&t, origin, &channel).is_ok();
            for subject in push_subjects(&t, origin, &channel) {
                if !any_match(&publish, &subject) {
                    assert!(!sendable, "{origin} may send on {channel} but not publish {subject}");
                    continue;
                }
                // Within its province a node may publish any directed
                // subject in its own name (`dm.*.<origin>.>`): the
                // replicator refuses a chain or `to:` push its recipient is
                // not entitled to (tests/chains.rs). Across, NATS is exact.
                let within = subject.starts_with(&format!("{}.dm.", prefix_of(origin)));
                for (reader, patterns) in subs.iter().filter(|(r, _)| *r != origin && !within) {
                    let hears = any_match(patterns, &subject);
                    let entitled = entitled(&t, *reader, origin, &channel, |_| false);
                    assert!(!hears || entitled, "{reader} hears {subject} ({origin} on {channel}) unentitled");
                    checked += 1;
                }
            }
            if !sendable {
                continue;
            }
            for (reader, patterns) in subs.iter().filter(|(r, _)| *r != origin) {
                if entitled(&t, *reader, origin, &channel, |_| false) {
                    let heard = push_subjects(&t, origin, &channel).iter().any(|s| any_match(patterns, s));
                    assert!(heard, "{reader} is entitled to {origin} on {channel} but hears none of its subjects");
                }
            }
        }
    }
    assert!(checked > 400, "{checked}");
}

/// A node publishes into its own province's subjects, into another's
/// only to the nodes a channel crosses the wall to (`subjects::across`),
/// and on its federations' own subjects; every subject pins its code.
#[test]
fn a_node_publishes_only_to_what_its_channels_reach() {
    let t = national();
    for node in t.nodes().map(|n| n.code) {
        let own = format!("{}.", prefix_of(node));
        let across = across(&t, node);
        let feds: Vec<String> =
            t.federations().filter(|(_, f)| f.includes(node)).map(|(n, _)| format!("lk.fed.{}.", n.as_str())).collect();
        for subject in Subjects.permissions(&t, node).publish {
            let within = subject.starts_with(&own);
            // Across the wall: exact subjects, no wildcard.
            let to_other = across.iter().any(|o| {
                subject.starts_with(&format!("{}.", prefix_of(*o)))
                    && subject.contains(&format!(".{o}.{node}"))
                    && !subject.contains(['*', '>'])
            });
            let fed = feds.iter().any(|f| subject.starts_with(f.as_str()));
            assert!(within || to_other || fed, "{node} may publish {subject}");
            // The node's code is a token after the prefix, not the prefix.
            let pinned = subject.split('.').skip(2).any(|token| token == node.as_str());
            assert!(pinned, "{subject} does not pin {node}");
        }
    }
    let codes = |c: &[&str]| c.iter().map(|c| code(c)).collect::<Vec<_>>();
    assert_eq!(across(&t, code("620722")), [], "a county of no federation addresses its province only");
    assert_eq!(across(&t, code("620000")), codes(&["000000", "640000", "640100"]));
    assert_eq!(across(&t, code("620100")), codes(&["640000", "640100"]));
    assert_eq!(across(&t, NodeCode::NATIONAL), codes(&["620000", "640000"]));
}

/// Every reader can pull what it is entitled to from the origin, and
/// hears the origin's question when the origin restores.
#[test]
fn every_reader_can_pull_from_the_origin_and_answer_its_restore() {
    let t = national();
    for reader in t.nodes().map(|n| n.code) {
        let p = Subjects.permissions(&t, reader);
        for origin in t.nodes().map(|n| n.code).filter(|o| *o != reader) {
            let reads = channels(&t).iter().any(|c| entitled(&t, reader, origin, c, |_| false));
            if !reads {
                continue;
            }
            let pull = Subjects.pull(origin, reader);
            assert!(any_match(&p.publish, &pull), "{reader} cannot ask {origin}: {pull}");
            assert!(any_match(&Subjects.permissions(&t, origin).subscribe, &pull), "{origin} does not hear {pull}");
            assert!(any_match(&p.subscribe, &Subjects.who(origin)), "{reader} does not hear {origin}'s restore");
            let doc = Subjects.doc(origin, reader);
            assert!(any_match(&p.publish, &doc), "{reader} cannot fetch {origin}'s documents");
        }
    }
}

/// 民乐县 (Gansu, no federation) hears nothing of Ningxia's and cannot
/// publish into it; 兰州 (Gansu, in the federation) hears only the
/// federation's subjects of it.
#[test]
fn a_province_is_a_wall_in_nats_too() {
    let t = national();
    let ningxia = prefix_of(code("640000"));
    let minle = Subjects.permissions(&t, code("620722"));
    for pattern in minle.publish.iter().chain(&minle.subscribe) {
        assert!(
            !pattern.starts_with(&ningxia) && !pattern.starts_with("lk.fed.") && !pattern.starts_with("lk.000000"),
            "{pattern}"
        );
    }
    let lanzhou = Subjects.permissions(&t, code("620100"));
    let crossing: Vec<&String> =
        lanzhou.subscribe.iter().filter(|p| !p.starts_with("lk.620000.") && !p.starts_with("_INBOX_")).collect();
    assert_eq!(crossing, ["lk.fed.yellow-river.ev.*", "lk.640000.who.640000", "lk.640000.who.640100"]);
}

/// Every peer replication asks — parent, children, the province, siblings
/// within a province, federation members (`World::other_peers`) — is one
/// the node may send a pull or heads request to.
#[test]
fn every_peer_a_node_asks_is_one_it_may_ask() {
    let t = national();
    let groups = linkage_core::groups::Groups::default();
    let world = linkage_core::replica::World { topology: &t, groups: &groups };
    for node in t.nodes().map(|n| n.code) {
        let publish = Subjects.permissions(&t, node).publish;
        let mut peers: Vec<NodeCode> = t.node(node).and_then(|n| n.parent).into_iter().collect();
        peers.extend(t.children(node).iter().copied());
        peers.extend(t.province_of(node));
        peers.extend(world.other_peers(node));
        for peer in peers.into_iter().filter(|p| *p != node) {
            let pull = Subjects.pull(peer, node);
            assert!(any_match(&publish, &pull), "{node} asks {peer} but may not publish {pull}");
        }
    }
    let provinces: Vec<NodeCode> = world.other_peers(code("620000"));
    assert_eq!(
        provinces,
        [code("620100"), code("640000"), code("640100")],
        "provinces are peers through a federation only"
    );
}

/// A restore's question reaches exactly those whose subscriptions match
/// its subject (`subjects::who_audience`, which the simulation sends to).
#[test]
fn who_hears_a_restore_is_who_subscribes_to_it() {
    let t = national();
    for requester in t.nodes().map(|n| n.code) {
        let subject = Subjects.who(requester);
        let subscribed: Vec<NodeCode> = t
            .nodes()
            .map(|n| n.code)
            .filter(|n| *n != requester && any_match(&Subjects.subscriptions(&t, *n), &subject))
            .collect();
        assert_eq!(linkage_core::subjects::who_audience(&t, requester), subscribed, "{requester}");
    }
}

/// No node hears what it may publish: `allow_responses` would otherwise
/// let it answer its own request on any reply subject it names
/// (tests/national.rs shows the trick refused by nats-server).
#[test]
fn no_node_hears_what_it_publishes() {
    let t = national();
    let codes: Vec<NodeCode> = t.nodes().map(|n| n.code).collect();
    let mut subjects = Vec::new();
    for origin in &codes {
        for channel in channels(&t) {
            subjects.extend(push_subjects(&t, *origin, &channel));
        }
        subjects.extend(codes.iter().flat_map(|o| [Subjects.pull(*o, *origin), Subjects.doc(*o, *origin)]));
        subjects.push(Subjects.who(*origin));
    }
    let allowed = |allow: &[String], deny: &[String], s: &str| any_match(allow, s) && !any_match(deny, s);
    for node in &codes {
        let p = Subjects.permissions(&t, *node);
        for s in &subjects {
            let both = allowed(&p.publish, &p.publish_deny, s) && allowed(&p.subscribe, &p.subscribe_deny, s);
            assert!(!both, "{node} may both publish and hear {s}");
        }
    }
}
