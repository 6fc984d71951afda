//! The topology: every committee node, its level, parent and public key.
//!
//! Read from a TOML file under `deploy/topology/` that every node loads. The
//! parent is stated explicitly rather than derived from the code, because a
//! few real divisions break the `XXYYZZ` pattern.

use crate::audience::FederationName;
use crate::code::{Level, NodeCode};
use crate::key_validity::{check_entry, parse_public_key, RetiredKey, RetiredKeyEntry, SeqBounds};
use crate::limits::{NODE_NAME_CHARS_MAX, TOPOLOGY_NODES_MAX};
use std::collections::BTreeMap;

/// One committee node as the topology file states it. A field this
/// version does not know is refused, not ignored: a node must never skip
/// part of what the province signed (an ejection, say).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    /// GB/T 2260 code.
    pub code: String,
    /// Chinese name, e.g. 民乐县.
    pub name: String,
    /// Pinyin, for logs and terminals without CJK fonts.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pinyin: String,
    /// National, province, city or county.
    pub level: Level,
    /// The parent's code: absent for the root (the national node, or a
    /// province deployed alone); `000000` for a province under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Hex ed25519 public key; absent until the node's key is enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// The node's NATS user public key (`U…`, [`crate::nkey`]), derived
    /// from the same key; absent until enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nats_key: Option<String>,
    /// Earlier keys, each valid over the seqs it signed
    /// ([`crate::signers`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired_keys: Vec<RetiredKeyEntry>,
    /// Set when the office is ejected: per stream, the first seq refused;
    /// a stream not named is refused from seq 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ejected_from: Option<BTreeMap<String, u64>>,
}

impl NodeEntry {
    /// An entry named by its code (tests, simulations, fuzzing), without a
    /// key until one is enrolled.
    pub fn unnamed(code: &str, level: Level, parent: Option<&str>) -> NodeEntry {
        NodeEntry {
            code: code.into(),
            name: code.into(),
            pinyin: String::new(),
            level,
            parent: parent.map(Into::into),
            public_key: None,
            nats_key: None,
            retired_keys: Vec::new(),
            ejected_from: None,
        }
    }
}

/// The file format: a list of `[[nodes]]` tables; unknown fields refused.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyFile {
    /// The document's version, which only grows: a node that has loaded
    /// version n refuses any lower one (a replayed old file). Absent in an
    /// unsigned, unversioned file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Every node, the root first.
    pub nodes: Vec<NodeEntry>,
    /// Federations of provinces (`[[federations]]`), only under the
    /// national committee.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub federations: Vec<FederationEntry>,
    /// The version of this document that put the national committee at
    /// its root: from it, the national committee records 全国政协's
    /// adoptions and 批示, before it the province did (decision 0067).
    /// Only under the national committee; absent there: 0, national from
    /// the first version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub national_since: Option<u64>,
}

/// A federation as the topology file states it: provinces that meet
/// sideways, and the cities they bring into it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct FederationEntry {
    /// Its channel name, e.g. `yellow-river` (`fed:yellow-river`).
    pub name: String,
    /// Chinese name, e.g. 沿黄九省区.
    pub title: String,
    /// Member provinces' codes: two at least.
    pub provinces: Vec<String>,
    /// Cities of member provinces that take part too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cities: Vec<String>,
}

/// A validated federation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Federation {
    /// Chinese name.
    pub title: String,
    /// Member provinces.
    pub provinces: Vec<NodeCode>,
    /// Cities of member provinces that take part.
    pub cities: Vec<NodeCode>,
}

impl Federation {
    /// True when `code` is one of its provinces or cities: who sends on
    /// its channel and reads it.
    pub fn includes(&self, code: NodeCode) -> bool {
        self.provinces.contains(&code) || self.cities.contains(&code)
    }
}

/// A validated node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Its code.
    pub code: NodeCode,
    /// Chinese name.
    pub name: String,
    /// Pinyin name.
    pub pinyin: String,
    /// Its level.
    pub level: Level,
    /// Its parent; `None` only for the root.
    pub parent: Option<NodeCode>,
    /// Its ed25519 public key, when enrolled.
    pub public_key: Option<[u8; 32]>,
    /// Its NATS user public key, when enrolled.
    pub nats_key: Option<String>,
    /// Earlier keys and the seqs each may sign.
    pub retired_keys: Vec<RetiredKey>,
    /// Per stream, the first seq refused, once the office is ejected.
    pub ejected_from: Option<SeqBounds>,
}

impl Node {
    /// True once the office is ejected.
    pub fn is_ejected(&self) -> bool {
        self.ejected_from.is_some()
    }

    /// The NATS keys nats-server lets log in as this node: none once it
    /// is ejected; its current key, and a retired key while its overlap is
    /// open.
    pub fn nats_logins(&self) -> Vec<&str> {
        if self.is_ejected() {
            return Vec::new();
        }
        let retired = self.retired_keys.iter().filter(|r| r.overlap_open()).filter_map(|r| r.nats_key.as_deref());
        self.nats_key.as_deref().into_iter().chain(retired).collect()
    }
}

/// A validated topology: a tree of one root — a province deployed alone,
/// or the national committee with provinces under it — cities under
/// provinces, counties under cities (decision 0065).
#[derive(Clone, Debug)]
pub struct Topology {
    nodes: BTreeMap<NodeCode, Node>,
    children: BTreeMap<NodeCode, Vec<NodeCode>>,
    root: NodeCode,
    version: Option<u64>,
    federations: BTreeMap<FederationName, Federation>,
    national_since: Option<u64>,
}

/// Why a topology file was refused; names the node and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// The file is not TOML of the expected shape.
    #[error("topology is not valid TOML: {0}")]
    Syntax(String),
    /// The document's signature is missing, malformed or not the
    /// province's.
    #[error("topology signature: {0}")]
    Signature(String),
    /// A field of one node is wrong.
    #[error("nodes[{index}].{field}: {reason}")]
    Field {
        /// Index in the file's node list.
        index: usize,
        /// The offending field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The tree as a whole is wrong.
    #[error("topology: {0}")]
    Shape(String),
}

impl Topology {
    /// Parses and validates a topology file's text.
    pub fn from_toml(text: &str) -> Result<Topology, TopologyError> {
        let file: TopologyFile = toml::from_str(text).map_err(|e| TopologyError::Syntax(e.to_string()))?;
        Topology::from_file(file)
    }

    /// Validates parsed entries.
    pub fn from_file(file: TopologyFile) -> Result<Topology, TopologyError> {
        if file.nodes.len() > TOPOLOGY_NODES_MAX {
            return Err(TopologyError::Shape(format!(
                "{} nodes, more than the {TOPOLOGY_NODES_MAX} allowed",
                file.nodes.len()
            )));
        }
        let mut nodes = BTreeMap::new();
        // Each key names one node: a key listed twice would let one office
        // sign or log in as two (and nats-server refuses a config with one
        // NKey twice).
        let mut keys_seen = std::collections::BTreeSet::new();
        for (index, e) in file.nodes.iter().enumerate() {
            let field = |field: &'static str, reason: String| TopologyError::Field { index, field, reason };
            let code: NodeCode = e.code.parse().map_err(|err| field("code", format!("{err}")))?;
            // The folds judge a node's level by its code's form (who may
            // record which level's adoption): the two must agree.
            if Level::of_code(&code) != e.level {
                return Err(field(
                    "level",
                    format!(
                        "{code} is a {} code by its form (GB/T 2260), not a {}",
                        Level::of_code(&code).as_str(),
                        e.level.as_str()
                    ),
                ));
            }
            let name_chars = e.name.chars().count();
            if name_chars == 0 || name_chars > NODE_NAME_CHARS_MAX {
                return Err(field("name", format!("must be 1..={NODE_NAME_CHARS_MAX} characters")));
            }
            let parent = match (&e.parent, e.level) {
                (None, Level::National | Level::Province) => None,
                (Some(_), Level::National) => {
                    return Err(field("parent", "the national committee has no parent".into()))
                }
                (Some(p), Level::Province) if *p != NodeCode::NATIONAL.as_str() => {
                    return Err(field("parent", format!("a province's parent can only be {}", NodeCode::NATIONAL)))
                }
                (None, _) => return Err(field("parent", "a city or county needs a parent".into())),
                (Some(p), _) => Some(p.parse::<NodeCode>().map_err(|err| field("parent", format!("{err}")))?),
            };
            let public_key =
                e.public_key.as_deref().map(parse_public_key).transpose().map_err(|why| field("public_key", why))?;
            if let Some(key) = &e.nats_key {
                crate::nkey::check_public_key(key).map_err(|why| field("nats_key", why))?;
            }
            let (retired_keys, ejected_from) =
                check_entry(&e.retired_keys, e.ejected_from.as_ref()).map_err(|(name, why)| field(name, why))?;
            let retired = e.retired_keys.iter().flat_map(|r| {
                [("retired_keys.public_key", Some(&r.public_key)), ("retired_keys.nats_key", r.nats_key.as_ref())]
            });
            for (name, key) in
                [("public_key", e.public_key.as_ref()), ("nats_key", e.nats_key.as_ref())].into_iter().chain(retired)
            {
                if let Some(key) = key {
                    if !keys_seen.insert(key.to_ascii_uppercase()) {
                        return Err(field(name, "is listed for another node too".into()));
                    }
                }
            }
            let node = Node {
                code,
                name: e.name.clone(),
                pinyin: e.pinyin.clone(),
                level: e.level,
                parent,
                public_key,
                nats_key: e.nats_key.clone(),
                retired_keys,
                ejected_from,
            };
            if nodes.insert(code, node).is_some() {
                return Err(field("code", format!("{code} appears twice")));
            }
        }
        let mut children: BTreeMap<NodeCode, Vec<NodeCode>> = BTreeMap::new();
        for node in nodes.values() {
            let Some(parent) = node.parent else { continue };
            let Some(parent_node) = nodes.get(&parent) else {
                return Err(TopologyError::Shape(format!("{}: parent {parent} is not in the topology", node.code)));
            };
            // A county sits under a city, or under its province directly:
            // the districts of 北京, 天津, 上海 and 重庆, and county-level
            // cities a province administers itself (济源, 仙桃, 石河子 …).
            let (expected, or) = match node.level {
                Level::Province => (Level::National, None),
                Level::City => (Level::Province, None),
                Level::County => (Level::City, Some(Level::Province)),
                Level::National => unreachable!("checked above: the national committee has no parent"),
            };
            if parent_node.level != expected && Some(parent_node.level) != or {
                return Err(TopologyError::Shape(format!(
                    "{}: a {} must sit under a {}{}, but {parent} is a {}",
                    node.code,
                    node.level.as_str(),
                    expected.as_str(),
                    or.map(|l| format!(" or a {}", l.as_str())).unwrap_or_default(),
                    parent_node.level.as_str()
                )));
            }
            // The folds judge an item's chain, and the level above a
            // proposal, by code form (`rules::on_chain`,
            // `Level::parent_by_form`).
            if node.level == Level::County && Level::parent_by_form(&node.code) != Some(parent) {
                return Err(TopologyError::Shape(format!(
                    "{}: a county sits under its city (the code's first four digits and 00), or, for a \
                     municipality's districts and a province's own county-level divisions (xx90yy), under \
                     the province; {} is not its parent by GB/T 2260",
                    node.code, parent
                )));
            }
            if !crate::rules::on_chain(parent, node.code) {
                return Err(TopologyError::Shape(format!(
                    "{}: its parent's code must begin its own (GB/T 2260: {}), but the parent is {parent}",
                    node.code,
                    if parent_node.level == Level::Province {
                        "same first two digits"
                    } else {
                        "same first four digits"
                    },
                )));
            }
            children.entry(parent).or_default().push(node.code);
        }
        let roots: Vec<NodeCode> = nodes.values().filter(|n| n.parent.is_none()).map(|n| n.code).collect();
        let [root] = roots[..] else {
            return Err(TopologyError::Shape(match roots.len() {
                0 => "needs a province or the national committee (000000) at its root".into(),
                n => format!(
                    "needs one root, found {n}: {} (provinces sit under the national committee, 000000, \
                     or one province is deployed alone)",
                    roots.iter().map(NodeCode::to_string).collect::<Vec<_>>().join(", ")
                ),
            }));
        };
        let federations = check_federations(&file.federations, &nodes, root)?;
        let national_since = match (root == NodeCode::NATIONAL, file.national_since) {
            // A versioned (signed) document names it: defaulting to 0
            // would dispute every record the province made before it was
            // linked.
            (true, None) if file.version.is_some() => {
                return Err(TopologyError::Shape(
                    "national_since: a versioned document with the national committee at its root names the \
                     version that put it there"
                        .into(),
                ))
            }
            (true, Some(since)) if since > 0 && file.version.is_none() => {
                return Err(TopologyError::Shape(format!(
                    "national_since: {since} needs the document's version (claims of an unversioned document name 0)"
                )))
            }
            (true, since) => Some(since.unwrap_or(0)),
            (false, None) => None,
            (false, Some(_)) => {
                return Err(TopologyError::Shape(
                    "national_since: only a topology with the national committee (000000) at its root has one".into(),
                ))
            }
        };
        if let (Some(since), Some(version)) = (national_since, file.version) {
            if since > version {
                return Err(TopologyError::Shape(format!(
                    "national_since: {since} is later than this document's version, {version}"
                )));
            }
        }
        Ok(Topology { nodes, children, root, version: file.version, federations, national_since })
    }

    /// The version of the document that put the national committee at its
    /// root (0 when it always was); `None` for a province deployed alone.
    /// A province records 全国政协's adoptions and 批示 under versions
    /// before it only (`rules::national_breach`).
    pub fn national_since(&self) -> Option<u64> {
        self.national_since
    }

    /// The document's version, when it has one.
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// The node with this code.
    pub fn node(&self, code: NodeCode) -> Option<&Node> {
        self.nodes.get(&code)
    }

    /// True when the code is a node of this topology.
    pub fn contains(&self, code: NodeCode) -> bool {
        self.nodes.contains_key(&code)
    }

    /// The root: the national committee, or a province deployed alone.
    pub fn root(&self) -> NodeCode {
        self.root
    }

    /// The province `code` belongs to: itself for a province, its nearest
    /// provincial ancestor below; `None` for the national committee and
    /// for a code not in the topology.
    pub fn province_of(&self, code: NodeCode) -> Option<NodeCode> {
        let node = self.nodes.get(&code)?;
        match node.level {
            Level::National => None,
            Level::Province => Some(code),
            _ => self.ancestors(code).into_iter().find(|a| Level::of_code(a) == Level::Province),
        }
    }

    /// The provinces, in code order.
    pub fn provinces(&self) -> impl Iterator<Item = NodeCode> + '_ {
        self.nodes.values().filter(|n| n.level == Level::Province).map(|n| n.code)
    }

    /// The federation named `name`.
    pub fn federation(&self, name: &FederationName) -> Option<&Federation> {
        self.federations.get(name)
    }

    /// Every federation, by name.
    pub fn federations(&self) -> impl Iterator<Item = (&FederationName, &Federation)> {
        self.federations.iter()
    }

    /// True when the topology has the national committee at its root.
    pub fn is_national(&self) -> bool {
        self.root == NodeCode::NATIONAL
    }

    /// All nodes in code order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false for a validated topology (it has a root).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Direct children of a node.
    pub fn children(&self, code: NodeCode) -> &[NodeCode] {
        self.children.get(&code).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Parent, grandparent …, nearest first.
    pub fn ancestors(&self, code: NodeCode) -> Vec<NodeCode> {
        let mut out = Vec::new();
        let mut at = self.nodes.get(&code).and_then(|n| n.parent);
        while let Some(p) = at {
            out.push(p);
            at = self.nodes.get(&p).and_then(|n| n.parent);
        }
        out
    }

    /// True when `ancestor` is above `code` in the tree.
    pub fn is_ancestor(&self, ancestor: NodeCode, code: NodeCode) -> bool {
        self.ancestors(code).contains(&ancestor)
    }

    /// Children, grandchildren …, in breadth-first order.
    pub fn descendants(&self, code: NodeCode) -> Vec<NodeCode> {
        let mut out: Vec<NodeCode> = self.children(code).to_vec();
        let mut i = 0;
        while i < out.len() {
            out.extend_from_slice(self.children(out[i]));
            i += 1;
        }
        out
    }
}

/// Validates the `[[federations]]`: only under the national committee;
/// names unique and of channel form; two member provinces at least, each
/// a province of the topology, once; cities of member provinces, once.
fn check_federations(
    entries: &[FederationEntry],
    nodes: &BTreeMap<NodeCode, Node>,
    root: NodeCode,
) -> Result<BTreeMap<FederationName, Federation>, TopologyError> {
    let mut out = BTreeMap::new();
    for (index, e) in entries.iter().enumerate() {
        let field =
            |field: &str, reason: String| TopologyError::Shape(format!("federations[{index}].{field}: {reason}"));
        if root != NodeCode::NATIONAL {
            return Err(field("name", "federations join provinces under the national committee (000000)".into()));
        }
        let name: FederationName = e.name.parse().map_err(|why| field("name", why))?;
        let title_chars = e.title.chars().count();
        if title_chars == 0 || title_chars > NODE_NAME_CHARS_MAX {
            return Err(field("title", format!("must be 1..={NODE_NAME_CHARS_MAX} characters")));
        }
        let codes = |list: &[String], what: &str, level: Level| -> Result<Vec<NodeCode>, TopologyError> {
            let mut out: Vec<NodeCode> = Vec::new();
            for text in list {
                let code: NodeCode = text.parse().map_err(|err| field(what, format!("{text}: {err}")))?;
                if nodes.get(&code).map(|n| n.level) != Some(level) {
                    return Err(field(what, format!("{code} is not a {} of the topology", level.as_str())));
                }
                if out.contains(&code) {
                    return Err(field(what, format!("{code} is listed twice")));
                }
                out.push(code);
            }
            Ok(out)
        };
        let provinces = codes(&e.provinces, "provinces", Level::Province)?;
        if provinces.len() < 2 {
            return Err(field("provinces", "a federation joins two provinces at least".into()));
        }
        let cities = codes(&e.cities, "cities", Level::City)?;
        if let Some(city) =
            cities.iter().find(|c| nodes.get(c).and_then(|n| n.parent).is_none_or(|p| !provinces.contains(&p)))
        {
            return Err(field("cities", format!("{city} is not in one of the federation's provinces")));
        }
        let federation = Federation { title: e.title.clone(), provinces, cities };
        if out.insert(name.clone(), federation).is_some() {
            return Err(field("name", format!("{} appears twice", name.as_str())));
        }
    }
    Ok(out)
}

/// What a topology signature covers: this context, then the file's bytes
/// exactly as distributed. The context keeps a topology signature from
/// ever reading as an event's (those cover protobuf bytes).
pub const SIGNATURE_CONTEXT: &[u8] = b"linkage topology document v1\n";

/// The signature (hex) of the topology file `text` by the province's
/// topology key: what `linkctl topology sign` writes beside the file.
pub fn sign_document(text: &[u8], key: &ed25519_dalek::SigningKey) -> String {
    use ed25519_dalek::Signer;
    hex::encode(key.sign(&[SIGNATURE_CONTEXT, text].concat()).to_bytes())
}

/// Checks that `signature` (hex, as written beside the file) is the
/// province's topology key's over `text`.
pub fn check_document(text: &[u8], signature: &str, key: &ed25519_dalek::VerifyingKey) -> Result<(), TopologyError> {
    let bytes: [u8; 64] = hex::decode(signature.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| TopologyError::Signature("must be 128 hex digits (ed25519)".into()))?;
    key.verify_strict(&[SIGNATURE_CONTEXT, text].concat(), &ed25519_dalek::Signature::from_bytes(&bytes))
        .map_err(|_| TopologyError::Signature("does not verify with the province's topology key".into()))
}

#[cfg(test)]
mod tests;
