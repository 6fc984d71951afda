//! The topology as the province signed it: a node with `topology_key`
//! loads only a signed topology, never an older version than it has
//! loaded (`services/linkage-node/src/signed.rs`), against a real node
//! process.

use linkage_testkit::pki::{ALL_ROLES, OPERATOR};
use linkage_testkit::{topology, NodeProcess};

fn access() -> Vec<(&'static str, &'static [&'static str])> {
    vec![(OPERATOR, ALL_ROLES)]
}

/// Writes `text` as version `version` of the topology at `path`, signed by
/// `key` (`path.sig`), as `linkctl topology sign` does.
fn signed_topology(path: &std::path::Path, text: &str, version: u64, key: &ed25519_dalek::SigningKey) {
    let body = format!("version = {version}\n{text}");
    std::fs::write(path, &body).unwrap();
    std::fs::write(
        linkage_node::signed::signature_path(path),
        linkage_core::topology::sign_document(body.as_bytes(), key),
    )
    .unwrap();
}

/// With `topology_key` set, a node loads only the province's signed
/// topology, never one older than it has loaded: a forged, an unsigned and
/// an older version are refused at start, naming why; a newer one loads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_unsigned_or_older_topology_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let path = dir.path().join("topology.toml");
    let demo = std::fs::read_to_string(topology("demo.toml")).unwrap();
    let demo: String = demo.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
    let key = ed25519_dalek::SigningKey::from_bytes(&[11; 32]);
    let hex_key = hex::encode(key.verifying_key().as_bytes());
    let start = || {
        NodeProcess::start_secured(
            &linkage_testkit::node_bin(),
            "620000",
            &path,
            &data,
            &["--topology-key", &hex_key],
            &access(),
        )
    };
    let refused = |why: &str| {
        let error = start().err().expect("the node refuses to start").to_string();
        let log = std::fs::read_to_string(data.join("node.log")).unwrap();
        assert!(error.contains("exited at start") && log.contains(why), "{why:?} not in the node's log:\n{log}");
    };

    signed_topology(&path, &demo, 2, &key);
    let mut node = start().unwrap();
    node.terminate().unwrap();

    // Forged: changed after signing.
    std::fs::write(&path, std::fs::read_to_string(&path).unwrap().replace("民乐县", "民乐")).unwrap();
    refused("does not verify with the province's topology key");
    // Signed by another key.
    signed_topology(&path, &demo, 3, &ed25519_dalek::SigningKey::from_bytes(&[12; 32]));
    refused("does not verify with the province's topology key");
    // Unsigned.
    std::fs::remove_file(linkage_node::signed::signature_path(&path)).unwrap();
    refused("the topology is not signed");
    // Older than the version loaded before.
    signed_topology(&path, &demo, 1, &key);
    refused("version 1 is older than version 2");
    // A newer one loads, and from then on version 2 is older.
    signed_topology(&path, &demo, 3, &key);
    let mut node = start().unwrap();
    node.terminate().unwrap();
    signed_topology(&path, &demo, 2, &key);
    refused("version 2 is older than version 3");
}
