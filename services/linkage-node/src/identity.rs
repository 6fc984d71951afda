//! The node's ed25519 identity. The secret key lives in a file of its own
//! (hex, mode 0600); it is created on first start and never rewritten, so a
//! node restored onto an empty disk keeps signing as itself.

use anyhow::Context;
use ed25519_dalek::SigningKey;
use std::io::Write;
use std::path::Path;

/// Loads the key at `path`, creating it (and its directory) when absent.
/// The flag is true when the key was created just now.
pub fn load_or_create(path: &Path) -> anyhow::Result<(SigningKey, bool)> {
    if path.exists() {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading key file {}", path.display()))?;
        let bytes: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .with_context(|| format!("key file {} must hold 64 hex digits", path.display()))?;
        return Ok((SigningKey::from_bytes(&bytes), false));
    }
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    // Write beside, fsync, then rename: a crash never leaves half a key.
    let tmp = path.with_extension("key.tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp).with_context(|| format!("creating key file {}", tmp.display()))?;
        writeln!(f, "{}", hex::encode(key.to_bytes()))?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    tracing::info!(
        path = %path.display(),
        public_key = %hex::encode(key.verifying_key().as_bytes()),
        nats_key = %linkage_core::nkey::public_key(&key),
        "created a new node key: list both public keys in the topology (linkctl topology public-keys)"
    );
    Ok((key, true))
}

pub use linkage_core::signers::{next_key_path, ROTATION_RECORD};

/// The key this node signs with, as the topology entry `me` allows.
pub struct Chosen {
    /// The key to sign with from now on.
    pub key: SigningKey,
    /// True when it was created just now (a new node).
    pub created: bool,
    /// Set when the key at `path` is to be replaced by the next key, once
    /// the store's own heads are known ([`complete_switch`]).
    pub switch_from: Option<SigningKey>,
}

/// Loads (or creates) the key at `path` and checks it against the topology
/// entry `me`; takes the next key when the topology lists it as current
/// and the old one among the retired. `may_switch` is false while the node
/// has yet to restore its own events (an empty store): then it goes on with
/// the old key, valid while the overlap is open, and switches at a later
/// start.
pub fn choose(path: &Path, me: &linkage_core::topology::Node, may_switch: bool) -> anyhow::Result<Chosen> {
    let (key, created) = load_or_create(path)?;
    let public = key.verifying_key().to_bytes();
    let listed = me.public_key.is_none_or(|k| k == public);
    let retired = me.retired_keys.iter().find(|r| r.public_key == public);
    let next_path = next_key_path(path);
    if !listed && next_path.exists() {
        let (next, _) = load_or_create(&next_path)?;
        if me.public_key == Some(next.verifying_key().to_bytes()) {
            let Some(retired) = retired else {
                anyhow::bail!(
                    "the topology lists {} as this node's key but not the key in {} among its retired_keys: \
                     what this node signed would no longer verify (linkctl topology rotate)",
                    next_path.display(),
                    path.display()
                );
            };
            if may_switch || !retired.overlap_open() {
                // Checked before the old key is replaced for good.
                let nkey = linkage_core::nkey::public_key(&next);
                anyhow::ensure!(
                    me.nats_key.as_deref().is_none_or(|listed| listed == nkey),
                    "{} does not match the nats_key the topology lists for {}: not switching keys",
                    next_path.display(),
                    me.code
                );
                return Ok(Chosen { key: next, created: false, switch_from: Some(key) });
            }
            tracing::warn!(
                "keeping the old key until this node has restored its own events; it takes the new key at a later start"
            );
        }
    }
    anyhow::ensure!(
        listed || retired.is_some_and(|r| r.overlap_open()),
        "key file {} does not match the public key the topology lists for {}",
        path.display(),
        me.code
    );
    // The NATS login key is derived from the identity key (never the
    // signing key itself: the server chooses what a login signs).
    let nkey = linkage_core::nkey::public_key(&key);
    anyhow::ensure!(
        me.nats_logins().is_empty() || me.nats_logins().contains(&nkey.as_str()),
        "key file {} does not match the nats_key the topology lists for {}",
        path.display(),
        me.code
    );
    Ok(Chosen { key, created, switch_from: None })
}

/// Records the switch from `old`, whose last seq on each stream `until`
/// gives, in `data_dir`/[`ROTATION_RECORD`] (durably, first), then moves
/// the next key into `path`: a crash before the rename switches again at
/// the next start; after it, the node starts on the new key.
pub fn complete_switch(
    path: &Path,
    data_dir: &Path,
    me: linkage_core::NodeCode,
    old: &SigningKey,
    until: std::collections::BTreeMap<String, u64>,
) -> anyhow::Result<()> {
    let record = linkage_core::signers::RotationRecord {
        node: me.to_string(),
        public_key: hex::encode(old.verifying_key().as_bytes()),
        until,
    };
    let text = format!(
        "# Written by linkage-node {me} when it took its new key: the last seq of each of its streams\n\
         # signed with the old key. It holds no secret: send it to the province, whose\n\
         # `linkctl topology close-overlap --record` closes the rotation's overlap with it.\n{}",
        toml::to_string(&record)?
    );
    let tmp = data_dir.join(format!("{ROTATION_RECORD}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, data_dir.join(ROTATION_RECORD))?;
    std::fs::File::open(data_dir)?.sync_all()?;
    let next = next_key_path(path);
    std::fs::rename(&next, path).with_context(|| format!("moving {} to {}", next.display(), path.display()))?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()?;
    tracing::info!(
        record = %data_dir.join(ROTATION_RECORD).display(),
        old = %record.public_key,
        "took the new key: send the rotation record to the province to close the overlap"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use linkage_core::key_validity::RetiredKeyEntry;
    use linkage_core::topology::{Node, NodeEntry, Topology, TopologyFile};

    fn write_key(path: &Path, seed: u8) -> SigningKey {
        let key = SigningKey::from_bytes(&[seed; 32]);
        std::fs::write(path, format!("{}\n", hex::encode(key.to_bytes()))).unwrap();
        key
    }

    /// The county's entry: `current` its key, `old` retired with the
    /// overlap open, `nats` its listed NKey.
    fn entry(current: &SigningKey, old: Option<&SigningKey>, nats: String) -> Node {
        let retired = old.map(|k| RetiredKeyEntry {
            public_key: hex::encode(k.verifying_key().as_bytes()),
            nats_key: Some(linkage_core::nkey::public_key(k)),
            until: None,
        });
        let county = NodeEntry {
            public_key: Some(hex::encode(current.verifying_key().as_bytes())),
            nats_key: Some(nats),
            retired_keys: retired.into_iter().collect(),
            ..NodeEntry::unnamed("620722", linkage_core::Level::County, Some("620700"))
        };
        let nodes = vec![
            NodeEntry::unnamed("620000", linkage_core::Level::Province, None),
            NodeEntry::unnamed("620700", linkage_core::Level::City, Some("620000")),
            county,
        ];
        let topology = Topology::from_file(TopologyFile {
            version: Some(2),
            nodes,
            federations: Vec::new(),
            national_since: None,
        })
        .unwrap();
        topology.node("620722".parse().unwrap()).unwrap().clone()
    }

    #[test]
    fn the_next_key_is_taken_once_listed_and_the_switch_recorded_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        let old = write_key(&path, 1);
        let new = write_key(&next_key_path(&path), 2);
        let me = entry(&new, Some(&old), linkage_core::nkey::public_key(&new));
        // Still restoring with the overlap open: the old key goes on.
        let kept = choose(&path, &me, false).unwrap();
        assert_eq!(kept.key.verifying_key(), old.verifying_key());
        assert!(kept.switch_from.is_none());

        let chosen = choose(&path, &me, true).unwrap();
        assert_eq!(chosen.key.verifying_key(), new.verifying_key());
        let until = std::collections::BTreeMap::from([("up".to_owned(), 7)]);
        complete_switch(&path, dir.path(), me.code, chosen.switch_from.as_ref().unwrap(), until.clone()).unwrap();
        let record: linkage_core::signers::RotationRecord =
            toml::from_str(&std::fs::read_to_string(dir.path().join(ROTATION_RECORD)).unwrap()).unwrap();
        assert_eq!((record.until, record.public_key), (until, hex::encode(old.verifying_key().as_bytes())));
        assert!(!next_key_path(&path).exists());
        let again = choose(&path, &me, true).unwrap();
        assert_eq!(again.key.verifying_key(), new.verifying_key());
        assert!(again.switch_from.is_none(), "switched once");
    }

    #[test]
    fn no_switch_that_would_strand_the_node() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        let old = write_key(&path, 1);
        let new = write_key(&next_key_path(&path), 2);
        // The old key not retired: what it signed would not verify.
        let err =
            choose(&path, &entry(&new, None, linkage_core::nkey::public_key(&new)), true).map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("among its retired_keys"), "{err}");
        // The NKey listed is another key's: the node could not log in.
        let other = linkage_core::nkey::public_key(&SigningKey::from_bytes(&[3; 32]));
        let err = choose(&path, &entry(&new, Some(&old), other), true).map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("does not match the nats_key"), "{err}");
        assert_eq!(load_or_create(&path).unwrap().0.verifying_key(), old.verifying_key(), "the old key is kept");
    }
}
