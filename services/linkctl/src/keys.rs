//! Key rotation and ejection (decision 0054): `linkctl key next` at the
//! office, `linkctl topology rotate | close-overlap | eject` at the
//! province, each writing an unsigned topology for `linkctl topology sign`.
//! `deploy/KEYS.md` walks the ceremony.

use crate::deploy::{public_keys, read_key};
use anyhow::Context;
use clap::Subcommand;
use linkage_core::key_validity::{parse_bounds, parse_public_key, RetiredKeyEntry};
use linkage_core::signers::RotationRecord;
use linkage_core::topology::{NodeEntry, TopologyFile};
use linkage_core::Topology;
use linkage_pki::write_private;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// At the office: a key made beside the node's key.
#[derive(Subcommand)]
pub enum KeyCommand {
    /// Make the node's next key beside its key file (`node.key` →
    /// `node.next.key`, mode 0600) unless it exists, and print its two
    /// public keys for the province (`linkctl topology rotate`). The node
    /// takes it at the first start after the topology lists it.
    Next {
        /// The node's key file (its data dir's node.key).
        #[arg(long)]
        key_file: PathBuf,
    },
}

/// At the province: topology changes that rotate and eject keys.
#[derive(Subcommand)]
pub enum RotationCommand {
    /// Make NODE's new keys current and keep its current key among
    /// retired_keys with the overlap open (valid for every seq), so that
    /// the office may switch at any restart. Writes OUT, unsigned.
    Rotate {
        /// The topology in force.
        topology: PathBuf,
        /// The node's code.
        #[arg(long)]
        node: String,
        /// The new public_key (from `linkctl key next`).
        #[arg(long)]
        public_key: String,
        /// The new nats_key (from `linkctl key next`).
        #[arg(long)]
        nats_key: String,
        /// Where to write the changed topology.
        #[arg(long)]
        out: PathBuf,
    },
    /// Close a rotation's overlap with the record the node wrote when it
    /// took its new key (DATA_DIR/key-rotation.toml): the old key stays
    /// valid only for the seqs it signed. Writes OUT, unsigned.
    CloseOverlap {
        /// The topology in force.
        topology: PathBuf,
        /// The node's rotation record.
        #[arg(long)]
        record: PathBuf,
        /// Where to write the changed topology.
        #[arg(long)]
        out: PathBuf,
    },
    /// Eject a compromised office: its events from these seqs on are
    /// refused by every node, a stream not named from seq 1; what it
    /// wrote before stays. nats-config lists no login for it. Writes OUT,
    /// unsigned.
    Eject {
        /// The topology in force.
        topology: PathBuf,
        /// The node's code.
        #[arg(long)]
        node: String,
        /// The first seq refused per stream, e.g. up=121,to:620000=4
        /// (`linkctl replication` at a node that holds its streams shows
        /// their heads).
        #[arg(long, value_delimiter = ',')]
        from: Vec<String>,
        /// Where to write the changed topology.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs `linkctl key …`.
pub fn key(command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Next { key_file } => {
            read_key(&key_file).context("the node's key file (it must exist: the next key goes beside it)")?;
            let next = linkage_core::signers::next_key_path(&key_file);
            if !next.exists() {
                let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
                write_private(&next, format!("{}\n", hex::encode(key.to_bytes())).as_bytes())?;
                eprintln!("made {}", next.display());
            }
            print!("{}", public_keys(&next)?);
            Ok(())
        }
    }
}

/// Runs `linkctl topology rotate | close-overlap | eject`.
pub fn rotation(command: RotationCommand) -> anyhow::Result<()> {
    let (topology, out) = match &command {
        RotationCommand::Rotate { topology, out, .. }
        | RotationCommand::CloseOverlap { topology, out, .. }
        | RotationCommand::Eject { topology, out, .. } => (topology.clone(), out.clone()),
    };
    let text = std::fs::read_to_string(&topology).with_context(|| format!("reading {}", topology.display()))?;
    let mut file: TopologyFile = toml::from_str(&text).with_context(|| format!("{}", topology.display()))?;
    let what = change(&mut file, command)?;
    // Refuse to write a topology nodes would refuse to load.
    Topology::from_file(file.clone()).context("the changed topology")?;
    std::fs::write(&out, toml::to_string(&file)?).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("{what}; wrote {} (unsigned: sign it with `linkctl topology sign`)", out.display());
    Ok(())
}

/// Applies one change to `file`; says what it did.
pub fn change(file: &mut TopologyFile, command: RotationCommand) -> anyhow::Result<String> {
    match command {
        RotationCommand::Rotate { node, public_key, nats_key, .. } => {
            parse_public_key(&public_key).map_err(|why| anyhow::anyhow!("--public-key {why}"))?;
            linkage_core::nkey::check_public_key(&nats_key).map_err(|why| anyhow::anyhow!("--nats-key {why}"))?;
            let entry = entry(file, &node)?;
            anyhow::ensure!(entry.ejected_from.is_none(), "{node} is ejected: an ejected office is not rotated");
            let old = entry.public_key.replace(public_key).with_context(|| format!("{node} has no key to rotate"))?;
            let old_nats = entry.nats_key.replace(nats_key);
            entry.retired_keys.push(RetiredKeyEntry { public_key: old, nats_key: old_nats, until: None });
            Ok(format!("{node}: new key current, the old one valid for every seq until the overlap is closed"))
        }
        RotationCommand::CloseOverlap { record, .. } => {
            let text = std::fs::read_to_string(&record).with_context(|| format!("reading {}", record.display()))?;
            let record: RotationRecord = toml::from_str(&text).with_context(|| format!("{}", record.display()))?;
            parse_bounds(&record.until).map_err(|why| anyhow::anyhow!("the record's until: {why}"))?;
            let entry = entry(file, &record.node)?;
            let retired = entry
                .retired_keys
                .iter_mut()
                .find(|r| r.public_key.eq_ignore_ascii_case(&record.public_key))
                .with_context(|| format!("{} lists no retired key {}", record.node, record.public_key))?;
            anyhow::ensure!(retired.until.is_none(), "the overlap of {}'s key is closed already", record.node);
            retired.until = Some(record.until);
            Ok(format!("{}: the old key valid only for the seqs it signed", record.node))
        }
        RotationCommand::Eject { node, from, .. } => {
            let bounds = from
                .iter()
                .map(|pair| {
                    let (channel, seq) = pair.split_once('=').with_context(|| format!("--from {pair}: CHANNEL=SEQ"))?;
                    let seq: u64 = seq.parse().with_context(|| format!("--from {pair}: the seq is not a number"))?;
                    anyhow::ensure!(seq >= 1, "--from {pair}: seqs start at 1");
                    Ok((channel.to_owned(), seq))
                })
                .collect::<anyhow::Result<BTreeMap<String, u64>>>()?;
            parse_bounds(&bounds).map_err(|why| anyhow::anyhow!("--from {why}"))?;
            let entry = entry(file, &node)?;
            anyhow::ensure!(entry.ejected_from.is_none(), "{node} is ejected already");
            entry.ejected_from = Some(bounds);
            Ok(format!("{node}: ejected; its events refused from the seqs named, other streams from seq 1"))
        }
    }
}

fn entry<'a>(file: &'a mut TopologyFile, code: &str) -> anyhow::Result<&'a mut NodeEntry> {
    file.nodes.iter_mut().find(|n| n.code == code).with_context(|| format!("node {code} is not in the topology"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn enrolled(code: &str, seed: u8) -> NodeEntry {
        let key = SigningKey::from_bytes(&[seed; 32]);
        NodeEntry {
            public_key: Some(hex::encode(key.verifying_key().as_bytes())),
            nats_key: Some(linkage_core::nkey::public_key(&key)),
            ..NodeEntry::unnamed(code, linkage_core::Level::County, Some("620700"))
        }
    }

    fn file() -> TopologyFile {
        let province = NodeEntry { level: linkage_core::Level::Province, parent: None, ..enrolled("620000", 1) };
        let city =
            NodeEntry { level: linkage_core::Level::City, parent: Some("620000".into()), ..enrolled("620700", 2) };
        TopologyFile {
            version: Some(1),
            nodes: vec![province, city, enrolled("620722", 3)],
            federations: Vec::new(),
            national_since: None,
        }
    }

    /// Rotate, close the overlap, eject: each a topology nodes load, and
    /// the broker's logins follow (both NKeys during the overlap, the new
    /// one after, none once ejected).
    #[test]
    fn a_rotation_then_an_ejection_change_the_logins() {
        let mut file = file();
        let old = file.nodes[2].nats_key.clone().unwrap();
        let new = enrolled("620722", 4);
        let rotate = RotationCommand::Rotate {
            topology: PathBuf::new(),
            node: "620722".into(),
            public_key: new.public_key.clone().unwrap(),
            nats_key: new.nats_key.clone().unwrap(),
            out: PathBuf::new(),
        };
        change(&mut file, rotate).unwrap();
        let users = crate::deploy::nats_users(&Topology::from_file(file.clone()).unwrap()).unwrap();
        assert!(users.contains(&old) && users.contains(new.nats_key.as_deref().unwrap()), "{users}");

        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("key-rotation.toml");
        let old_public = file.nodes[2].retired_keys[0].public_key.clone();
        let text = format!("node = \"620722\"\npublic_key = \"{old_public}\"\n[until]\nup = 7\n\"to:620000\" = 2\n");
        std::fs::write(&record, text).unwrap();
        let close = |record: &std::path::Path| RotationCommand::CloseOverlap {
            topology: PathBuf::new(),
            record: record.to_owned(),
            out: PathBuf::new(),
        };
        change(&mut file, close(&record)).unwrap();
        let err = change(&mut file, close(&record)).unwrap_err().to_string();
        assert!(err.contains("closed already"), "{err}");
        let topology = Topology::from_file(file.clone()).unwrap();
        let users = crate::deploy::nats_users(&topology).unwrap();
        assert!(!users.contains(&old) && users.contains(new.nats_key.as_deref().unwrap()), "{users}");

        let eject = |from: &[&str]| RotationCommand::Eject {
            topology: PathBuf::new(),
            node: "620722".into(),
            from: from.iter().map(|s| s.to_string()).collect(),
            out: PathBuf::new(),
        };
        for (from, needle) in
            [(&["up"][..], "CHANNEL=SEQ"), (&["up=0"], "seqs start at 1"), (&["sideways=3"], "--from sideways")]
        {
            let err = change(&mut file.clone(), eject(from)).unwrap_err().to_string();
            assert!(err.contains(needle), "{err:?} should mention {needle:?}");
        }
        change(&mut file, eject(&["up=8"])).unwrap();
        let topology = Topology::from_file(file).unwrap();
        let users = crate::deploy::nats_users(&topology).unwrap();
        assert!(!users.contains(new.nats_key.as_deref().unwrap()) && users.contains("620722: ejected"), "{users}");
    }
}
