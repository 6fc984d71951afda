//! Four levels (decision 0065): the national committee above provinces,
//! and the province as a wall crossed only on purpose. Every (reader,
//! origin, channel) of a small national topology — 全国政协, the demo's
//! 甘肃 and a 宁夏 of one city and one district — is checked against the
//! rules stated plainly here; the demo topology alone must read exactly
//! as it did with three levels.

use linkage_core::channel::{audience, chain_members, check_send, entitled};
use linkage_core::{Channel, Level, NodeCode, Topology};

mod common;
use common::{channels, code, national};

const DEMO: &str = include_str!("../../../deploy/topology/demo.toml");

/// 宁夏: one city, one district.
const NINGXIA: &str = r#"
[[nodes]]
code = "640000"
name = "宁夏回族自治区"
level = "province"
parent = "000000"

[[nodes]]
code = "640100"
name = "银川市"
level = "city"
parent = "640000"

[[nodes]]
code = "640104"
name = "兴庆区"
level = "county"
parent = "640100"
"#;

/// The two as a federation, with 兰州 and 银川.
const YELLOW_RIVER: &str = r#"
[[federations]]
name = "yellow-river"
title = "沿黄九省区"
provinces = ["620000", "640000"]
cities = ["620100", "640100"]
"#;

/// The national committee, the demo's Gansu under it, and Ningxia, with
/// `federations` after them.
fn national_text(federations: &str) -> String {
    let gansu = DEMO.replacen("level = \"province\"\n", "level = \"province\"\nparent = \"000000\"\n", 1);
    format!("[[nodes]]\ncode = \"000000\"\nname = \"全国政协\"\nlevel = \"national\"\n{gansu}{NINGXIA}{federations}")
}

#[test]
fn the_national_demo_is_this_tree() {
    let built = Topology::from_toml(&national_text(YELLOW_RIVER)).unwrap();
    let file = national();
    let tree = |t: &Topology| t.nodes().map(|n| (n.code, n.level, n.parent)).collect::<Vec<_>>();
    assert_eq!(tree(&built), tree(&file));
    let feds = |t: &Topology| t.federations().map(|(n, f)| (n.clone(), format!("{f:?}"))).collect::<Vec<_>>();
    assert_eq!(feds(&built), feds(&file));
}

/// The members of `fed:yellow-river`.
const FEDERATED: [&str; 4] = ["620000", "640000", "620100", "640100"];

/// Every (reader, origin, channel) of `t`, groups aside.
fn triples(t: &Topology) -> Vec<(NodeCode, NodeCode, Channel)> {
    let codes: Vec<NodeCode> = t.nodes().map(|n| n.code).collect();
    let mut out = Vec::new();
    for channel in channels(t) {
        for origin in &codes {
            out.extend(codes.iter().map(|reader| (*reader, *origin, channel.clone())));
        }
    }
    out
}

#[test]
fn the_national_topology_has_one_root_and_provinces_under_it() {
    let t = national();
    assert_eq!(t.root(), NodeCode::NATIONAL);
    assert!(t.is_national());
    assert_eq!(t.provinces().collect::<Vec<_>>(), [code("620000"), code("640000")]);
    assert_eq!(t.province_of(code("620722")), Some(code("620000")));
    assert_eq!(t.province_of(code("640104")), Some(code("640000")));
    assert_eq!(t.province_of(code("640000")), Some(code("640000")));
    assert_eq!(t.province_of(NodeCode::NATIONAL), None);
    assert_eq!(t.ancestors(code("640104")), [code("640100"), code("640000"), NodeCode::NATIONAL]);
    assert_eq!(t.node(NodeCode::NATIONAL).unwrap().level, Level::National);
}

#[test]
fn a_tree_of_two_roots_or_a_province_under_anything_else_is_refused() {
    let two_provinces = format!("{DEMO}{}", NINGXIA.replace("parent = \"000000\"\n", ""));
    let province_under_city = NINGXIA.replace("parent = \"000000\"", "parent = \"640100\"");
    let national_with_parent =
        "[[nodes]]\ncode = \"000000\"\nname = \"全国政协\"\nlevel = \"national\"\nparent = \"620000\"\n";
    let national_as_province = "[[nodes]]\ncode = \"000000\"\nname = \"全国政协\"\nlevel = \"province\"\n";
    let missing_national = NINGXIA.to_string();
    for (text, needle) in [
        (two_provinces, "needs one root, found 2: 620000, 640000"),
        (province_under_city, "nodes[0].parent: a province's parent can only be 000000"),
        (national_with_parent.to_string(), "nodes[0].parent: the national committee has no parent"),
        (national_as_province.to_string(), "000000 is a national code by its form"),
        (missing_national, "640000: parent 000000 is not in the topology"),
        (format!("{DEMO}{YELLOW_RIVER}"), "federations[0].name: federations join provinces under the national"),
        (national_text(&YELLOW_RIVER.replace(", \"640000\"]", "]")), "a federation joins two provinces at least"),
        (national_text(&YELLOW_RIVER.replace("\"640100\"]", "\"620100\"]")), "620100 is listed twice"),
        (national_text(&YELLOW_RIVER.replace("\"620100\",", "\"620722\",")), "620722 is not a city"),
        (national_text(&YELLOW_RIVER.replace("\"640000\"]", "\"650000\"]")), "650000 is not a province"),
        (national_text(&format!("{YELLOW_RIVER}{YELLOW_RIVER}")), "yellow-river appears twice"),
        (format!("version = 3\n{}", national_text("")), "national_since: a versioned document"),
        (format!("national_since = 2\n{}", national_text("")), "national_since: 2 needs the document's version"),
        (format!("version = 3\nnational_since = 4\n{}", national_text("")), "national_since: 4 is later"),
        (format!("version = 3\nnational_since = 2\n{DEMO}"), "national_since: only a topology with the national"),
        (
            national_text(&YELLOW_RIVER.replace("yellow-river", "Yellow River")),
            "federations[0].name: a federation name",
        ),
    ] {
        let err = Topology::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains(needle), "{err:?} should mention {needle:?}");
    }
}

/// The rules of 0065, stated node by node rather than by tree walks.
fn expected(t: &Topology, reader: NodeCode, origin: NodeCode, channel: &Channel) -> bool {
    let level = |c: NodeCode| t.node(c).unwrap().level;
    let province = |c: NodeCode| t.province_of(c);
    let same_province = province(reader).is_some() && province(reader) == province(origin);
    if reader == origin {
        return true;
    }
    match channel {
        Channel::Up => match level(origin) {
            Level::Province => level(reader) == Level::National,
            _ => same_province && t.is_ancestor(reader, origin),
        },
        Channel::Down | Channel::All if level(origin) == Level::National => level(reader) == Level::Province,
        Channel::Down => same_province && t.is_ancestor(origin, reader),
        Channel::All => same_province,
        Channel::To(target) => {
            *target == reader
                && (same_province
                    || (level(origin), level(reader)) == (Level::Province, Level::National)
                    || (level(origin), level(reader)) == (Level::National, Level::Province))
        }
        Channel::Chain(target) => {
            let member = |n: NodeCode| {
                n == *target
                    || (province(n).is_some() && province(n) == province(*target) && t.is_ancestor(n, *target))
                    || (level(n) == Level::National && level(*target) == Level::Province)
            };
            member(reader) && member(origin)
        }
        Channel::Federation(_) => FEDERATED.contains(&reader.as_str()) && FEDERATED.contains(&origin.as_str()),
        Channel::Group(_) => unreachable!("groups are asked of their members"),
    }
}

#[test]
fn entitlement_follows_the_four_level_rules_for_every_reader_origin_and_channel() {
    let t = national();
    for (reader, origin, channel) in triples(&t) {
        let is = entitled(&t, reader, origin, &channel, |_| false);
        assert_eq!(is, expected(&t, reader, origin, &channel), "{reader} reading {origin} on {channel}");
        let listed = audience(&t, origin, &channel).unwrap().contains(&reader);
        assert_eq!(listed, is && reader != origin, "{reader} in the audience of {origin} on {channel}");
    }
}

/// Nothing of one province reaches a node of another, on any channel,
/// and the national committee hears only what provinces send it.
#[test]
fn a_province_is_a_wall() {
    let t = national();
    for (reader, origin, channel) in triples(&t) {
        if !entitled(&t, reader, origin, &channel, |_| false) || reader == origin {
            continue;
        }
        match (t.province_of(origin), t.province_of(reader)) {
            // The one way across: both in the federation.
            (Some(a), Some(b)) if a != b => {
                assert!(matches!(channel, Channel::Federation(_)), "{reader} reads {origin} on {channel}");
                assert!(FEDERATED.contains(&reader.as_str()) && FEDERATED.contains(&origin.as_str()));
            }
            (Some(_), Some(_)) => {}
            (Some(a), None) => assert_eq!(origin, a, "only a province reaches the national committee"),
            (None, Some(b)) => assert_eq!(reader, b, "the national committee reaches provinces only"),
            (None, None) => unreachable!("one national committee"),
        }
    }
    // A group's members are whatever its lead's events say; one of
    // another province (or the national committee) still reads nothing.
    let group: Channel = "group:zhangye-2026".parse().unwrap();
    for (reader, origin) in [("640104", "620722"), ("000000", "620000"), ("620722", "640104"), ("620700", "620722")] {
        let is = entitled(&t, code(reader), code(origin), &group, |_| true);
        assert_eq!(is, t.province_of(code(reader)) == t.province_of(code(origin)), "{reader} {origin}");
    }
    assert_eq!(audience(&t, code("620722"), &Channel::Up).unwrap(), [code("620000"), code("620700")]);
    assert_eq!(audience(&t, code("620000"), &Channel::Up).unwrap(), [NodeCode::NATIONAL]);
    assert_eq!(audience(&t, NodeCode::NATIONAL, &Channel::Down).unwrap(), [code("620000"), code("640000")]);
    assert_eq!(chain_members(&t, code("620722")), [code("620722"), code("620700"), code("620000")]);
    assert_eq!(chain_members(&t, code("640000")), [code("640000"), NodeCode::NATIONAL]);
}

#[test]
fn sending_across_the_wall_is_refused_naming_the_channel() {
    let t = national();
    let refused = |origin: &str, channel: &str| {
        let err = check_send(&t, code(origin), &channel.parse().unwrap()).unwrap_err();
        assert_eq!(err.violation().field, "channel", "{origin} on {channel}");
        err.to_string()
    };
    assert!(refused("620722", "to:640104").contains("another province"));
    assert!(refused("620700", "to:000000").contains("another province"));
    assert!(refused("000000", "to:640100").contains("another province"));
    assert!(refused("000000", "up").contains("root"));
    assert!(refused("000000", "chain:620722").contains("not one of them"));
    assert!(refused("620722", "fed:yellow-river").contains("not one of fed:yellow-river's provinces or cities"));
    assert!(refused("620000", "fed:north-west").contains("names no federation"));
    assert!(refused("000000", "fed:yellow-river").contains("not one of"));
    for (origin, channel) in [
        ("620100", "fed:yellow-river"),
        ("640000", "fed:yellow-river"),
        ("620000", "to:000000"),
        ("000000", "to:640000"),
        ("620000", "up"),
        ("000000", "chain:640000"),
        ("000000", "down"),
    ] {
        check_send(&t, code(origin), &channel.parse().unwrap()).unwrap_or_else(|e| panic!("{origin} {channel}: {e}"));
    }
}

/// A province deployed alone reads as it did with three levels: `up` is
/// every ancestor, `down` every descendant, `all` everyone, a chain the
/// node and all its ancestors.
#[test]
fn a_province_alone_reads_as_with_three_levels() {
    let t = Topology::from_toml(DEMO).unwrap();
    assert_eq!(t.root(), code("620000"));
    for (reader, origin, channel) in triples(&t) {
        let three_levels = reader == origin
            || match &channel {
                Channel::Up => t.is_ancestor(reader, origin),
                Channel::Down => t.is_ancestor(origin, reader),
                Channel::All => true,
                Channel::To(target) => *target == reader,
                Channel::Chain(target) => {
                    let within = |n: NodeCode| n == *target || t.is_ancestor(n, *target);
                    within(reader) && within(origin)
                }
                Channel::Group(_) | Channel::Federation(_) => unreachable!("none in a province alone"),
            };
        assert_eq!(entitled(&t, reader, origin, &channel, |_| false), three_levels, "{reader} {origin} {channel}");
    }
}

/// A result shared with a federation must name one the topology has.
#[test]
fn a_result_is_shared_only_with_a_federation_that_exists() {
    let t = national();
    let share = |audience: &str| {
        let shared = linkage_core::pb::ResultShared {
            result_id: linkage_core::validate::format_event_id(&linkage_core::ids::event_id(
                code("620000"),
                1 << 16,
                1,
            )),
            audience: audience.into(),
        };
        let request = linkage_core::pb::AppendRequest {
            channel: "all".into(),
            payload: Some(linkage_core::pb::Payload {
                kind: Some(linkage_core::pb::payload::Kind::ResultShared(shared)),
            }),
            ..Default::default()
        };
        linkage_core::validate::validate_append(&t, code("620000"), request)
    };
    share("fed:yellow-river").unwrap();
    let err = share("fed:north-west").unwrap_err();
    assert_eq!(err.violation().field, "payload.result_shared.audience");
    assert!(err.to_string().contains("names no federation"), "{err}");
}

/// A group stays within its lead's province: members elsewhere are refused
/// naming the field, and the national committee, in no province, leads
/// none. Work across provinces goes on a federation's channel.
#[test]
fn a_group_stays_within_its_province() {
    use linkage_core::pb;
    let t = national();
    let form = |lead: &str, members: &[&str]| pb::AppendRequest {
        channel: "all".into(),
        payload: Some(pb::Payload {
            kind: Some(pb::payload::Kind::GroupFormed(pb::GroupFormed {
                group_id: format!("{lead}-river"),
                title: "联合调研组".into(),
                lead: lead.into(),
                members: members.iter().map(|m| m.to_string()).collect(),
                ..Default::default()
            })),
        }),
        ..Default::default()
    };
    let refused = |lead: &str, members: &[&str]| {
        linkage_core::validate::validate_append(&t, code(lead), form(lead, members))
            .unwrap_err()
            .violation()
            .field
            .clone()
    };
    assert!(linkage_core::validate::validate_append(&t, code("620100"), form("620100", &["620700"])).is_ok());
    assert_eq!(refused("620100", &["620700", "640100"]), "payload.group_formed.members[1]");
    assert_eq!(refused("000000", &["620000"]), "payload.group_formed.lead");
    let join = pb::AppendRequest {
        channel: "all".into(),
        payload: Some(pb::Payload {
            kind: Some(pb::payload::Kind::GroupJoined(pb::GroupJoined {
                group_id: "620100-river".into(),
                member: "640100".into(),
            })),
        }),
        ..Default::default()
    };
    let err = linkage_core::validate::validate_append(&t, code("620100"), join).unwrap_err();
    assert_eq!(err.violation().field, "payload.group_joined.member");
}

/// A municipality's district, and a province's own county-level city, send
/// their proposals and items straight to the province.
#[test]
fn the_level_above_follows_the_codes_form() {
    use linkage_core::views::proposals::above_code;
    for (code, above) in
        [("620722", "620700"), ("620700", "620000"), ("620000", ""), ("110101", "110000"), ("429004", "420000")]
    {
        assert_eq!(above_code(code), above, "{code}");
    }
}

/// A retry of an adoption with the same idempotency key is the same
/// content under a newer topology version: the node's stamp of the
/// version it loaded is not part of the client's request.
#[test]
fn a_retry_under_a_newer_topology_is_the_same_content() {
    use linkage_core::pb;
    let request = || pb::AppendRequest {
        channel: "chain:620722".into(),
        idempotency_key: "adopt-1".into(),
        payload: Some(pb::Payload {
            kind: Some(pb::payload::Kind::InfoAdopted(pb::InfoAdopted {
                info_id: "0190b6c8-7d2e-7abc-8def-0123456789ab".into(),
                level: pb::AdoptionLevel::County as i32,
                by: "民乐县委".into(),
                ..Default::default()
            })),
        }),
        ..Default::default()
    };
    let digest = |version: u64| {
        let t = Topology::from_toml(&format!("version = {version}\n{DEMO}")).unwrap();
        let valid = linkage_core::validate::validate_append(&t, code("620722"), request()).unwrap();
        let Some(pb::payload::Kind::InfoAdopted(m)) = valid.payload.kind else { panic!("an adoption") };
        assert_eq!(m.topology_version, version, "stamped with the version loaded");
        valid.idempotency.unwrap().digest
    };
    assert_eq!(digest(5), digest(6));
}
