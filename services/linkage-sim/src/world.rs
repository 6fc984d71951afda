//! [`Sim`]: the simulated province and its schedule: who appends, which
//! faults strike when, and the liar.

use crate::liar;
use crate::net::{Faults, Network};
use crate::node::{Ctx, Node};
use crate::rng::Rng;
use crate::stats::{trace, Stats};
use crate::store;
use ed25519_dalek::SigningKey;
use linkage_core::key_validity::RetiredKeyEntry;
use linkage_core::replica::StreamKey;
use linkage_core::signers::Signers;
use linkage_core::topology::{NodeEntry, TopologyFile};
use linkage_core::{pb, Channel, Level, NodeCode, Topology};
use std::collections::{BTreeMap, BTreeSet};

/// Virtual ms with faults on; then they stop.
pub const FAULTS_MS: u64 = 40_000;
/// Virtual ms after the faults for everything to settle.
pub const SETTLE_MS: u64 = 45_000;
/// One step of every node's clock work.
pub const STEP_MS: u64 = 10;
/// The one joint group, led by 兰州市 with counties of both cities.
pub const GROUP: &str = "620100-sim";

/// The whole simulated province.
pub struct Sim {
    pub seed: u64,
    pub now: u64,
    pub wall0: u64,
    pub rng: Rng,
    pub net: Network,
    pub topology: Topology,
    /// Each origin's keys over the seqs they may sign: the province's
    /// change when its rotation's overlap closes.
    pub keys: BTreeMap<NodeCode, Signers>,
    /// The province's key rotation (decision 0054).
    pub rotation: Rotation,
    pub nodes: BTreeMap<NodeCode, Node>,
    pub liar: NodeCode,
    pub stats: Stats,
    /// Nodes that answered the current restore of a wiped node.
    wiped: BTreeSet<NodeCode>,
}

fn code(s: &str) -> NodeCode {
    s.parse().expect("a node code")
}

/// The node that rotates its key in every seed: the province, which is
/// never the liar and whose `down` reaches every node.
pub const ROTATING: &str = "620000";

/// A rotation as the simulation runs it: the province signs with its old
/// key, listed as retired with the overlap open; at `switch_at` (a step
/// when it is up and restored) it takes its new key, its heads then being
/// the old key's last seqs; `close_at` later every node closes the overlap.
pub struct Rotation {
    /// The key it signs with first (the liar steals it once retired).
    pub old: SigningKey,
    /// The key it takes.
    pub next: SigningKey,
    /// Virtual ms from which it switches.
    pub switch_at: u64,
    /// Its heads when it switched: the old key's last seq per stream.
    pub until: Option<BTreeMap<String, u64>>,
    /// Virtual ms when the overlap closes, once switched.
    pub close_at: u64,
    /// True once closed.
    pub closed: bool,
}

/// The simulated topology's entries, with each node's deterministic key;
/// the province's new key current and its old one retired, with `until`
/// when the overlap is closed.
fn entries(until: Option<BTreeMap<String, u64>>) -> (Vec<NodeEntry>, BTreeMap<NodeCode, SigningKey>) {
    let shape = [
        ("620000", Level::Province, None),
        ("620100", Level::City, Some("620000")),
        ("620102", Level::County, Some("620100")),
        ("620103", Level::County, Some("620100")),
        ("620700", Level::City, Some("620000")),
        ("620702", Level::County, Some("620700")),
        ("620722", Level::County, Some("620700")),
    ];
    let mut keys = BTreeMap::new();
    let nodes = shape
        .iter()
        .enumerate()
        .map(|(i, (c, level, parent))| {
            let key = SigningKey::from_bytes(&[i as u8 + 1; 32]);
            let mut entry = NodeEntry {
                public_key: Some(hex::encode(key.verifying_key().as_bytes())),
                ..NodeEntry::unnamed(c, *level, *parent)
            };
            if *c == ROTATING {
                entry.retired_keys = vec![RetiredKeyEntry {
                    public_key: hex::encode(key.verifying_key().as_bytes()),
                    nats_key: None,
                    until: until.clone(),
                }];
                entry.public_key = Some(hex::encode(next_key().verifying_key().as_bytes()));
            }
            keys.insert(code(c), key);
            entry
        })
        .collect();
    (nodes, keys)
}

/// The province's key after its rotation.
fn next_key() -> SigningKey {
    SigningKey::from_bytes(&[101; 32])
}

/// The simulated topology, with each node's deterministic key (the
/// province's old one: it rotates during the run).
pub fn topology() -> (Topology, BTreeMap<NodeCode, SigningKey>) {
    let (nodes, keys) = entries(None);
    (
        Topology::from_file(TopologyFile { version: None, nodes, federations: Vec::new(), national_since: None })
            .expect("a valid topology"),
        keys,
    )
}

/// Every origin's signers in `topology`.
fn signers(topology: &Topology) -> BTreeMap<NodeCode, Signers> {
    topology.nodes().filter_map(|n| Some((n.code, Signers::of(n)?))).collect()
}

impl Sim {
    /// The world of `seed`, before anything ran.
    pub fn new(seed: u64) -> Sim {
        let mut rng = Rng::new(seed);
        let (topology, signing) = topology();
        let keys = signers(&topology);
        // From the seed, not the generator: the other draws stay as they were.
        let switch_at = 8_000 + seed % 20 * 1_000;
        let old = signing[&code(ROTATING)].clone();
        let rotation =
            Rotation { old, next: next_key(), switch_at, until: None, close_at: switch_at + 5_000, closed: false };
        let codes: Vec<NodeCode> = signing.keys().copied().collect();
        // The liar: any node but the province and the group's lead.
        let candidates: Vec<NodeCode> =
            codes.iter().copied().filter(|c| *c != code("620000") && *c != code("620100")).collect();
        let liar = *rng.pick(&candidates);
        let nodes = signing.into_iter().map(|(c, k)| (c, Node::new(c, k))).collect();
        Sim {
            seed,
            now: 0,
            wall0: 1_800_000_000_000,
            rng,
            net: Network::default(),
            topology,
            keys,
            rotation,
            nodes,
            liar,
            stats: Stats::default(),
            wiped: BTreeSet::new(),
        }
    }

    fn with_node<R>(&mut self, code: NodeCode, f: impl FnOnce(&mut Node, &mut Ctx) -> R) -> R {
        let node = self.nodes.get_mut(&code).expect("a node");
        let mut ctx = Ctx {
            now: self.now,
            wall0: self.wall0,
            net: &mut self.net,
            rng: &mut self.rng,
            topology: &self.topology,
            keys: &self.keys,
            stats: &mut self.stats,
            stolen: self.rotation.closed.then_some(&self.rotation.old),
        };
        f(node, &mut ctx)
    }

    /// Runs the seed to its end.
    pub fn run(&mut self) {
        let codes: Vec<NodeCode> = self.nodes.keys().copied().collect();
        for c in &codes {
            self.with_node(*c, |n, ctx| n.start(ctx, false));
        }
        self.net.faults = Faults {
            drop: self.rng.below(10) as f64 / 100.0,
            duplicate: self.rng.below(5) as f64 / 100.0,
            jitter_ms: self.rng.below(60),
        };
        let mut downs: BTreeMap<NodeCode, u64> = BTreeMap::new();
        let mut cuts: Vec<(u64, NodeCode, NodeCode)> = Vec::new();
        let wipe_at = self.rng.chance(0.6).then(|| (5_000 + self.rng.below(FAULTS_MS - 15_000)) / STEP_MS * STEP_MS);
        let mut formed = false;
        trace(|| format!("liar {} faults {:?}", self.liar, self.net.faults));
        let end = FAULTS_MS + SETTLE_MS;
        while self.now < end {
            let faulty = self.now < FAULTS_MS;
            if faulty {
                self.inject(&codes, &mut downs, &mut cuts, wipe_at);
            } else if self.now == FAULTS_MS {
                self.net.faults = Faults::default();
                self.net.cut.clear();
                cuts.clear();
            }
            // Restarts due.
            let due: Vec<NodeCode> = downs.iter().filter(|(_, at)| **at <= self.now).map(|(c, _)| *c).collect();
            for c in due {
                downs.remove(&c);
                let wiped = self.nodes[&c].store.log.is_empty() && self.wiped.contains(&c);
                self.with_node(c, |n, ctx| n.start(ctx, wiped));
                trace(|| format!("{} restart {c} wiped {wiped}", self.now));
                *self.stats.faults.entry(if wiped { "restart_wiped" } else { "restart" }).or_default() += 1;
            }
            // Deliveries up to now.
            while let Some(d) = self.net.next_before(self.now) {
                if !self.nodes[&d.to].up {
                    continue;
                }
                let liar = d.to == self.liar;
                self.with_node(d.to, |n, ctx| {
                    if !(liar && liar::handle(n, ctx, d.from, &d.msg)) {
                        n.handle(ctx, d.from, d.msg)
                    }
                });
            }
            for c in &codes {
                if !self.nodes[c].up {
                    continue;
                }
                let was_restoring = !self.nodes[c].restored;
                let appends = faulty || self.now < FAULTS_MS + 5_000;
                let (liar, group) = (*c == self.liar, formed);
                let me = *c;
                self.with_node(me, |n, ctx| {
                    n.tick(ctx);
                    if n.restored && appends {
                        own_events(n, ctx, group);
                    }
                    if liar {
                        liar::act(n, ctx);
                    }
                    n.sync(ctx);
                });
                if was_restoring && self.nodes[c].restored {
                    self.restore_done(*c);
                }
            }
            self.rotate();
            // The lead forms the group, again if a crash lost it unsynced.
            let lead = &self.nodes[&code("620100")];
            let group: linkage_core::channel::GroupId = GROUP.parse().expect("a group id");
            if lead.up && lead.restored && !lead.store.groups.is_member(&group, lead.code) {
                formed = true;
                trace(|| format!("{} group formed", self.now));
                self.with_node(code("620100"), |n, ctx| {
                    let kind = pb::payload::Kind::GroupFormed(pb::GroupFormed {
                        group_id: GROUP.into(),
                        title: "跨市联合调研".into(),
                        lead: "620100".into(),
                        members: vec!["620102".into(), "620722".into(), "620702".into()],
                        topic_ids: Vec::new(),
                        rules: linkage_core::rules::GROUP_RULES,
                    });
                    n.append(ctx, Channel::All, vec![(kind, None, None)]);
                });
            }
            self.now += STEP_MS;
        }
    }

    /// The province's rotation: it switches keys at a step when it is up
    /// and restored (a node restoring its own events keeps its old key);
    /// later every node closes the overlap at its heads of then.
    fn rotate(&mut self) {
        let province = code(ROTATING);
        let r = &self.rotation;
        if r.until.is_none() && self.now >= r.switch_at {
            let node = self.nodes.get_mut(&province).expect("the province");
            if node.up && node.restored {
                let until: BTreeMap<String, u64> = node
                    .store
                    .streams
                    .keys()
                    .filter(|k| k.0 == province)
                    .map(|k| (k.1.to_string(), node.store.head(k)))
                    .collect();
                trace(|| format!("{} province switches keys at {until:?}", self.now));
                node.key = self.rotation.next.clone();
                self.rotation.until = Some(until);
                self.rotation.close_at = self.rotation.close_at.max(self.now + 5_000);
            }
        } else if !r.closed && r.until.is_some() && self.now >= r.close_at {
            let (nodes, _) = entries(self.rotation.until.clone());
            self.topology = Topology::from_file(TopologyFile {
                version: None,
                nodes,
                federations: Vec::new(),
                national_since: None,
            })
            .expect("a valid topology");
            self.keys = signers(&self.topology);
            self.rotation.closed = true;
            trace(|| format!("{} the province's overlap closes", self.now));
        }
    }

    fn inject(
        &mut self,
        codes: &[NodeCode],
        downs: &mut BTreeMap<NodeCode, u64>,
        cuts: &mut Vec<(u64, NodeCode, NodeCode)>,
        wipe_at: Option<u64>,
    ) {
        let honest: Vec<NodeCode> = codes.iter().copied().filter(|c| *c != self.liar).collect();
        if self.rng.chance(0.0015) {
            let c = *self.rng.pick(&honest);
            if self.nodes[&c].up {
                self.nodes.get_mut(&c).expect("node").up = false;
                let now_ms = self.wall0 + self.now;
                self.nodes.get_mut(&c).expect("node").store.crash(now_ms);
                downs.insert(c, self.now + 500 + self.rng.below(4_500));
                *self.stats.faults.entry("crash").or_default() += 1;
                trace(|| format!("{} crash {c}", self.now));
            }
        }
        if wipe_at == Some(self.now) {
            // A wiped data dir, or (one time in three) a store put back
            // from an older backup: its own latest events are gone too.
            let c = *self.rng.pick(&honest);
            let backup = self.rng.chance(0.33) && self.nodes[&c].store.synced > 1;
            let keep = if backup { 1 + self.rng.below(self.nodes[&c].store.synced as u64 - 1) as usize } else { 0 };
            let now_ms = self.wall0 + self.now;
            let node = self.nodes.get_mut(&c).expect("node");
            node.up = false;
            if backup {
                node.store.roll_back(c, keep, now_ms);
            } else {
                node.store = store::Store::default();
            }
            // What only the lost store held is gone with it: acknowledged
            // means kept as far as some surviving store has it.
            for (key, acked) in self.stats.acked.iter_mut().filter(|(k, _)| k.0 == c) {
                let surviving = self.nodes.values().map(|n| n.store.head(key)).max();
                *acked = (*acked).min(surviving.unwrap_or(0));
            }
            self.wiped.insert(c);
            downs.insert(c, self.now + 500 + self.rng.below(3_000));
            *self.stats.faults.entry(if backup { "older_backup" } else { "wipe" }).or_default() += 1;
            trace(|| format!("{} wipe {c} keeping {keep}", self.now));
        }
        if self.rng.chance(0.002) {
            let (a, b) = (*self.rng.pick(codes), *self.rng.pick(codes));
            if a != b {
                self.net.set_cut(a, b, true);
                cuts.push((self.now + 2_000 + self.rng.below(8_000), a, b));
                *self.stats.faults.entry("partition").or_default() += 1;
                trace(|| format!("{} cut {a} {b}", self.now));
            }
        }
        let healed: Vec<(NodeCode, NodeCode)> =
            cuts.iter().filter(|(at, _, _)| *at <= self.now).map(|(_, a, b)| (*a, *b)).collect();
        cuts.retain(|(at, _, _)| *at > self.now);
        for (a, b) in healed {
            self.net.set_cut(a, b, false);
        }
    }

    /// A node finished its restore: it must hold what every honest node
    /// whose answer reached it showed of its own streams, unless that node
    /// could not prove it (it restarted, or a message between the two was
    /// lost, since the restore began). A wiped node's stream that another
    /// node holds further may then fork later: that is excused, not hidden.
    fn restore_done(&mut self, c: NodeCode) {
        let node = &self.nodes[&c];
        let since = node.restore_started;
        for (from, heads) in node.restore_heard.iter().filter(|(from, _)| *from != self.liar) {
            let holder = &self.nodes[from];
            let could_prove = holder.up && holder.restore_started <= since && !self.net.lost_since(c, *from, since);
            for (origin, channel, seq) in heads.iter().filter(|h| h.0 == c) {
                let key = (*origin, channel.clone());
                let held = node.store.head(&key);
                // A stream a wiped restore already forked cannot be proved.
                if held < *seq && could_prove && !self.stats.excused.contains(&key) {
                    self.stats.violations.push(format!(
                        "restore of {c} finished at {held} of {origin}/{channel} while {from} answered {seq}"
                    ));
                }
            }
        }
        if !self.wiped.remove(&c) {
            return;
        }
        let own: BTreeSet<StreamKey> = self.stats.acked.keys().filter(|k| k.0 == c).cloned().collect();
        for key in own {
            let held = self.nodes[&c].store.head(&key);
            // Held in a store, or waiting beyond a gap in memory (which no
            // pull can prove): either may fork with what the node appends.
            let beyond = |n: &Node| {
                let waiting =
                    n.replica.streams().get(&key).and_then(|s| s.pending.values().flatten().map(|(p, _)| p.seq).max());
                n.store.head(&key).max(waiting.unwrap_or(0)) > held
            };
            if self.nodes.iter().any(|(o, n)| *o != c && beyond(n)) {
                trace(|| format!("{} excused {}/{} at {held}", self.now, key.0, key.1));
                self.stats.excused.insert(key);
            }
        }
    }
}

/// An honest node's own events: now and then a small run on a channel it
/// may send on, of a kind that makes a record.
fn own_events(n: &mut Node, ctx: &mut Ctx, group_formed: bool) {
    if !ctx.rng.chance(0.012) {
        return;
    }
    let me = n.code;
    let level = ctx.topology.node(me).map(|x| x.level).expect("in the topology");
    let mut channels = vec![Channel::All];
    if level != Level::Province {
        channels.push(Channel::Up);
    }
    if level != Level::County {
        channels.push(Channel::Down);
    }
    let to = *ctx.rng.pick(&ctx.topology.nodes().map(|x| x.code).filter(|c| *c != me).collect::<Vec<_>>());
    channels.push(Channel::To(to));
    // Along the chain of this node or of one below it (an item's handling).
    let mut chain: Vec<NodeCode> = ctx.topology.descendants(me);
    chain.push(me);
    channels.push(Channel::Chain(*ctx.rng.pick(&chain)));
    let group: linkage_core::channel::GroupId = GROUP.parse().expect("a group id");
    let member = group_formed && n.store.groups.is_member(&group, me);
    let channel = if member && ctx.rng.chance(0.3) { Channel::Group(group) } else { ctx.rng.pick(&channels).clone() };
    let count = 1 + ctx.rng.below(3) as usize;
    let payloads = (0..count)
        .map(|i| {
            let title = format!("{me} item {i} at {}", ctx.now);
            (pb::payload::Kind::InfoReported(pb::InfoReported { title, ..Default::default() }), None, None)
        })
        .collect();
    n.append(ctx, channel, payloads);
}
