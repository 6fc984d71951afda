//! The topology's own tests: shape, refusals, ancestry.

use super::*;

const DEMO: &str = r#"
[[nodes]]
code = "620000"
name = "甘肃省"
level = "province"
[[nodes]]
code = "620700"
name = "张掖市"
level = "city"
parent = "620000"
[[nodes]]
code = "620722"
name = "民乐县"
level = "county"
parent = "620700"
"#;

#[test]
fn builds_the_tree() {
    let t = Topology::from_toml(DEMO).unwrap();
    let county: NodeCode = "620722".parse().unwrap();
    let city: NodeCode = "620700".parse().unwrap();
    assert_eq!(t.ancestors(county), vec![city, t.root()]);
    assert_eq!(t.descendants(t.root()), vec![city, county]);
    assert!(t.is_ancestor(t.root(), county));
    assert!(!t.is_ancestor(county, city));
}

/// 北京's districts and a province's own county-level cities (济源,
/// 仙桃) sit under the province directly; their chain is the province.
#[test]
fn a_county_may_sit_under_its_province() {
    let text = "[[nodes]]\ncode = \"110000\"\nname = \"北京市\"\nlevel = \"province\"\n\n\
                [[nodes]]\ncode = \"110101\"\nname = \"东城区\"\nlevel = \"county\"\nparent = \"110000\"\n";
    let t = Topology::from_toml(text).unwrap();
    let (dongcheng, beijing) = ("110101".parse().unwrap(), "110000".parse().unwrap());
    assert_eq!(t.ancestors(dongcheng), [beijing]);
    assert_eq!(t.province_of(dongcheng), Some(beijing));
    let elsewhere =
        text.replace("parent = \"110000\"", "parent = \"120000\"").replace("code = \"110000\"", "code = \"120000\"");
    assert!(Topology::from_toml(&elsewhere).unwrap_err().to_string().contains("120000 is not its parent by GB/T 2260"));
    // 民乐县 under 甘肃 although 张掖市 is its city by its code: refused.
    let skipping = DEMO.replace("parent = \"620700\"", "parent = \"620000\"");
    let err = Topology::from_toml(&skipping).unwrap_err().to_string();
    assert!(err.contains("620722: a county sits under its city"), "{err}");
}

#[test]
fn refusals_name_the_field() {
    let cases = [
        (DEMO.replace("\"620722\"", "\"62072\""), "nodes[2].code"),
        (DEMO.replace("name = \"民乐县\"", "name = \"\""), "nodes[2].name"),
        (DEMO.replace("parent = \"620700\"", "parent = \"620799\""), "parent 620799 is not in the topology"),
        (
            format!("{DEMO}\n[[nodes]]\ncode = \"620723\"\nname = \"x\"\nlevel = \"county\"\nparent = \"620722\"\n"),
            "a county must sit under a city or a province, but 620722 is a county",
        ),
        (DEMO.replace("level = \"province\"", "level = \"city\""), "nodes[0].level: 620000 is a province code"),
        (
            format!("{DEMO}\n[[nodes]]\ncode = \"620722\"\nname = \"x\"\nlevel = \"county\"\nparent = \"620700\"\n"),
            "appears twice",
        ),
    ];
    let key = "public_key = \"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\"\n";
    let twice = DEMO
        .replace("name = \"民乐县\"\n", &format!("name = \"民乐县\"\n{key}"))
        .replace("name = \"张掖市\"\n", &format!("name = \"张掖市\"\n{key}"));
    let unknown = DEMO.replace("name = \"民乐县\"\n", "name = \"民乐县\"\nejected_since = 5\n");
    let cases = cases
        .into_iter()
        .chain([(twice, "is listed for another node too"), (unknown, "unknown field `ejected_since`")]);
    for (text, needle) in cases {
        let err = Topology::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains(needle), "{err:?} should mention {needle:?}");
    }
}

#[test]
fn a_signed_document_verifies_and_nothing_else_does() {
    let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
    let text = format!("version = 2\n{DEMO}");
    let signature = sign_document(text.as_bytes(), &key);
    check_document(text.as_bytes(), &signature, &key.verifying_key()).unwrap();
    assert_eq!(Topology::from_toml(&text).unwrap().version(), Some(2));
    let other = ed25519_dalek::SigningKey::from_bytes(&[6; 32]);
    let forged = text.replace("民乐县", "民乐");
    let bare = ed25519_dalek::Signer::sign(&key, text.as_bytes()).to_bytes();
    for (text, signature, key) in [
        (forged.as_str(), signature.clone(), key.verifying_key()),
        (text.as_str(), signature.clone(), other.verifying_key()),
        (text.as_str(), sign_document(text.as_bytes(), &other), key.verifying_key()),
        (text.as_str(), hex::encode(bare), key.verifying_key()),
        (text.as_str(), "00".into(), key.verifying_key()),
    ] {
        assert!(matches!(check_document(text.as_bytes(), &signature, &key), Err(TopologyError::Signature(_))));
    }
}
