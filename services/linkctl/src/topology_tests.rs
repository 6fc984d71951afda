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
    let text = crate::deploy::topology_from_csv(&csv, &[]).unwrap();
    let topology = Topology::from_toml(&text).unwrap();
    assert!(topology.is_national());
    assert_eq!(topology.provinces().count(), 2);
    std::fs::write(&csv, rows.replace(",national,", ",nation,")).unwrap();
    let err = crate::deploy::topology_from_csv(&csv, &[]).unwrap_err().to_string();
    assert!(err.contains("china.csv:2: level \"nation\" is not national"), "{err}");
}

/// Permissions between provinces are not built: a national topology
/// gets no NATS users rather than wrong ones.
#[test]
fn a_national_topology_gets_no_nats_config_yet() {
    let text = "[[nodes]]\ncode = \"000000\"\nname = \"全国政协\"\nlevel = \"national\"\n\n[[nodes]]\n\
                code = \"620000\"\nname = \"甘肃省\"\nlevel = \"province\"\nparent = \"000000\"\n";
    let err = crate::deploy::nats_users(&Topology::from_toml(text).unwrap()).unwrap_err().to_string();
    assert!(err.contains("national committee at its root is not built yet"), "{err}");
}
