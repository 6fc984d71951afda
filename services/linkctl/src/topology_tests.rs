//! Topologies linkctl builds and the NATS configs it derives, at four levels.

use linkage_core::Topology;

/// A CSV with 全国政协 (000000) above two provinces builds a national
/// topology; a level it does not know is refused, naming the line.
#[test]
fn from_csv_knows_the_national_committee() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("china.csv");
    let rows = "code,name_zh,pinyin,level,parent_code\n000000,全国政协,Quanguo Zhengxie,national,\n\
                620000,甘肃省,Gansu Sheng,province,000000\n640000,宁夏回族自治区,Ningxia,province,000000\n";
    std::fs::write(&csv, rows).unwrap();
    let text = crate::from_csv::topology_from_csv(&csv, &Default::default()).unwrap();
    let topology = Topology::from_toml(&text).unwrap();
    assert!(topology.is_national());
    assert_eq!(topology.provinces().count(), 2);
    std::fs::write(&csv, rows.replace(",national,", ",nation,")).unwrap();
    let err = crate::from_csv::topology_from_csv(&csv, &Default::default()).unwrap_err().to_string();
    assert!(err.contains("china.csv:2: level \"nation\" is not national"), "{err}");
}

/// A national topology gets one NATS user per node, with the subjects
/// of its own province and exactly those across the wall its channels
/// reach (`linkage_core::subjects`; tests/national.rs shows them held by
/// nats-server).
#[test]
fn a_national_topology_gets_per_node_users_across_provinces() {
    let text = include_str!("../../../deploy/topology/national-demo.toml");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("national.toml");
    std::fs::write(&file, text).unwrap();
    let topology = Topology::from_file(crate::deploy::enroll(&file, &dir.path().join("keys")).unwrap()).unwrap();
    let users = crate::deploy::nats_users(&topology).unwrap();
    assert_eq!(users.matches("nkey:").count(), topology.nodes().count());
    assert!(users.contains("\"lk.000000.dm.000000.620000.to.000000\""), "{users}");
    assert!(users.contains("\"lk.fed.yellow-river.ev.620100\""), "{users}");
}

/// The checked-in national topologies are what from-csv builds from the
/// checked-in division list and federations.
#[test]
fn the_national_topologies_are_built_from_the_division_list() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/topology");
    let csv = dir.join("china_divisions.csv");
    let federations = Some(dir.join("china_federations.toml"));
    let china = crate::from_csv::Select { federations: federations.clone(), ..Default::default() };
    let reduced = crate::from_csv::Select {
        provinces: vec!["000000".into(), "620000".into(), "640000".into()],
        federations,
        ..Default::default()
    };
    for (file, select) in [("china.toml", china), ("gansu-ningxia.toml", reduced)] {
        let built = crate::from_csv::topology_from_csv(&csv, &select).unwrap();
        let held = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(built == held, "deploy/topology/{file} is not what from-csv builds: run it again (its first line)");
    }
}

/// The country: 全国政协, the mainland's 31 provincial committees, and
/// only divisions that have a committee — no 市辖区 or 省直辖 placeholder
/// rows; a municipality's districts sit under the municipality.
#[test]
fn china_has_31_provinces_and_no_placeholders() {
    let text = include_str!("../../../deploy/topology/china.toml");
    let t = Topology::from_toml(text).unwrap();
    assert!(t.is_national());
    assert_eq!(t.provinces().count(), 31);
    assert!(t.nodes().count() > 3_000, "{}", t.nodes().count());
    for node in t.nodes() {
        let name = node.name.as_str();
        assert!(!["市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"].contains(&name), "{}", node.code);
    }
    for placeholder in ["110100", "120100", "310100", "500100", "500200", "419000", "429000", "469000", "659000"] {
        assert!(!t.contains(placeholder.parse().unwrap()), "{placeholder}");
    }
    let code = |c: &str| c.parse::<linkage_core::NodeCode>().unwrap();
    assert_eq!(t.node(code("110101")).unwrap().parent, Some(code("110000")), "东城区 under 北京市");
    assert_eq!(t.node(code("429004")).unwrap().parent, Some(code("420000")), "仙桃市 under 湖北省");
    let gansu = Topology::from_toml(include_str!("../../../deploy/topology/gansu.toml")).unwrap();
    for node in gansu.nodes() {
        let national = t.node(node.code).unwrap();
        assert_eq!((&national.name, &national.pinyin, national.level), (&node.name, &node.pinyin, node.level));
    }
    let names: Vec<&str> = t.federations().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["north-west", "yellow-river"]);
    assert_eq!(t.federation(&"yellow-river".parse().unwrap()).unwrap().provinces.len(), 9);
}
