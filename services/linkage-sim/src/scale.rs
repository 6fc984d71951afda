//! `make sim-national`: the simulation at the sizes of a deployment — a
//! province alone, five provinces under 全国政协, and the nation (about
//! 3,200 nodes, `deploy/topology/china.toml`) — with steady traffic on
//! `up`, `down`, `all`, `to:`, `chain:` and the federations' channels
//! (groups aside: they stay within a province and cost what they did). A province goes offline for a stretch of simulated time
//! while the others go on, the national committee restarts, and every
//! node must converge on exactly the streams it is entitled to, as their
//! origins hold them. It reports what each level's nodes send and receive
//! per simulated second and per event of others they are entitled to:
//! cost that follows a node's own channels and ancestors, not the number
//! of nodes. A message is one delivery: a broadcast to n nodes counts n
//! sent, where NATS takes one publish.
//!
//! No liar, no drops: this measures cost and convergence, which the
//! seeds of [`crate::world`] check under faults at seven nodes.

use crate::net::{Network, Traffic};
use crate::node::{Ctx, Node};
use crate::rng::Rng;
use crate::stats::Stats;
use ed25519_dalek::SigningKey;
use linkage_core::replica::StreamKey;
use linkage_core::signers::Signers;
use linkage_core::topology::TopologyFile;
use linkage_core::{pb, Channel, Level, NodeCode, Topology};
use std::collections::BTreeMap;
use std::time::Instant;

/// One step of every node's clock work, virtual ms.
const STEP_MS: u64 = 50;

/// How a run goes, in virtual seconds.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Steady traffic before anything happens; the table is measured here.
    pub steady_s: u64,
    /// How long the province is offline (its nodes down; the rest append).
    pub offline_s: u64,
    /// How long the national committee is down, once the province is back.
    pub national_down_s: u64,
    /// The most to wait for convergence at the end.
    pub settle_max_s: u64,
}

/// Events a node appends per virtual minute, by level.
fn per_minute(level: Level) -> u64 {
    match level {
        Level::County => 1,
        Level::City => 2,
        Level::Province => 6,
        Level::National => 6,
    }
}

/// One level's row of the table.
#[derive(Clone, Debug, Default)]
pub struct Row {
    pub level: &'static str,
    pub nodes: u64,
    /// Per node per virtual second of steady traffic.
    pub sent_msgs: f64,
    pub sent_bytes: f64,
    pub received_msgs: f64,
    pub received_bytes: f64,
    /// Others' events a node of the level is entitled to, per virtual
    /// second.
    pub entitled_events: f64,
}

/// What a size's run showed.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub name: String,
    pub nodes: usize,
    pub events: u64,
    pub rows: Vec<Row>,
    /// Virtual seconds from the province's return until every node held
    /// what it is entitled to; `None` when it did not within the plan.
    pub converged_after_s: Option<f64>,
    /// The same from the national committee's restart (none without it).
    pub national_converged_after_s: Option<f64>,
    pub wall_s: f64,
    pub problems: Vec<String>,
}

/// A node's deterministic key, from its code.
fn key_of(code: NodeCode) -> SigningKey {
    let mut seed = [7u8; 32];
    seed[..6].copy_from_slice(code.as_bytes());
    SigningKey::from_bytes(&seed)
}

/// `text` (a topology file) kept to `provinces` (every node when empty;
/// the national committee always), with every node's key: a province
/// alone when `provinces` has one and `alone` is set.
pub fn topology(text: &str, provinces: &[&str], alone: bool) -> (Topology, BTreeMap<NodeCode, SigningKey>) {
    let mut file: TopologyFile = toml::from_str(text).expect("a topology file");
    let national = NodeCode::NATIONAL.as_str();
    let kept = |code: &str| code == national || provinces.is_empty() || provinces.iter().any(|p| p[..2] == code[..2]);
    file.nodes.retain(|n| kept(&n.code) && !(alone && n.code == NodeCode::NATIONAL.as_str()));
    if alone {
        file.federations.clear();
        file.national_since = None;
        for n in &mut file.nodes {
            if n.level == Level::Province {
                n.parent = None;
            }
        }
    }
    for f in &mut file.federations {
        f.provinces.retain(|p| kept(p));
        f.cities.retain(|c| kept(c));
    }
    file.federations.retain(|f| f.provinces.len() >= 2);
    let mut keys = BTreeMap::new();
    for n in &mut file.nodes {
        let code: NodeCode = n.code.parse().expect("a code");
        let key = key_of(code);
        n.public_key = Some(hex::encode(key.verifying_key().as_bytes()));
        keys.insert(code, key);
    }
    (Topology::from_file(file).expect("a valid topology"), keys)
}

/// The channels `node` appends on, in turn.
fn channels_of(topology: &Topology, node: NodeCode) -> Vec<Channel> {
    let level = topology.node(node).map(|n| n.level);
    let mut out = match level {
        Some(Level::County) => vec![Channel::Up, Channel::Chain(node)],
        Some(Level::City) if topology.children(node).is_empty() => vec![Channel::Up],
        Some(Level::City) => vec![Channel::Down, Channel::Up],
        Some(Level::Province) if topology.is_national() => {
            vec![Channel::Up, Channel::Down, Channel::All, Channel::To(NodeCode::NATIONAL), Channel::Chain(node)]
        }
        Some(Level::Province) => vec![Channel::Down, Channel::All],
        Some(Level::National) => vec![Channel::Down, Channel::All],
        None => Vec::new(),
    };
    out.extend(topology.federations().filter(|(_, f)| f.includes(node)).map(|(n, _)| Channel::Federation(n.clone())));
    out
}

struct Run {
    now: u64,
    rng: Rng,
    net: Network,
    topology: Topology,
    keys: BTreeMap<NodeCode, Signers>,
    nodes: BTreeMap<NodeCode, Node>,
    stats: Stats,
    appended: BTreeMap<NodeCode, u64>,
}

impl Run {
    fn with_node<R>(&mut self, code: NodeCode, f: impl FnOnce(&mut Node, &mut Ctx) -> R) -> R {
        let node = self.nodes.get_mut(&code).expect("a node");
        let mut ctx = Ctx {
            now: self.now,
            wall0: 1_800_000_000_000,
            net: &mut self.net,
            rng: &mut self.rng,
            topology: &self.topology,
            keys: &self.keys,
            stats: &mut self.stats,
            stolen: None,
        };
        f(node, &mut ctx)
    }

    /// One step: deliveries due, then every node's clock work and its
    /// appends (`appending`: nodes that append this step).
    fn step(&mut self, codes: &[NodeCode], appending: bool) {
        while let Some(d) = self.net.next_before(self.now) {
            if self.nodes[&d.to].up {
                self.with_node(d.to, |n, ctx| n.handle(ctx, d.from, d.msg));
            }
        }
        for c in codes {
            if !self.nodes[c].up {
                continue;
            }
            let level = self.topology.node(*c).map_or(Level::County, |n| n.level);
            // Each node appends per_minute(level) events a minute, at
            // random steps.
            let chance = per_minute(level) as f64 * STEP_MS as f64 / 60_000.0;
            let append = appending && self.nodes[c].restored && self.rng.chance(chance);
            let channels = if append { channels_of(&self.topology, *c) } else { Vec::new() };
            let count = self.appended.entry(*c).or_default();
            let channel = (!channels.is_empty()).then(|| channels[*count as usize % channels.len()].clone());
            if channel.is_some() {
                *count += 1;
            }
            self.with_node(*c, |n, ctx| {
                n.tick(ctx);
                if let Some(channel) = channel {
                    let kind = pb::payload::Kind::InfoReported(pb::InfoReported {
                        title: format!("{} 社情民意 {}", n.code, ctx.now),
                        body: "沿黄流域生态保护情况反映".into(),
                        ..Default::default()
                    });
                    n.append(ctx, channel, vec![(kind, None, None)]);
                }
                n.sync(ctx);
            });
        }
        self.now += STEP_MS;
    }

    /// Every node's problems: a stream it is entitled to that it holds
    /// less of than its origin (by heads).
    fn unconverged(&self) -> Vec<String> {
        let mut out = Vec::new();
        let origins: Vec<(StreamKey, u64)> = self
            .nodes
            .iter()
            .flat_map(|(code, n)| n.store.streams.keys().filter(|k| k.0 == *code).map(|k| (k.clone(), n.store.head(k))))
            .collect();
        for (code, node) in &self.nodes {
            for (key, head) in &origins {
                if key.0 != *code && node.entitled(&self.topology, *code, key) && node.store.head(key) < *head {
                    out.push(format!(
                        "{code} holds {} of {}/{}, its origin {head}",
                        node.store.head(key),
                        key.0,
                        key.1
                    ));
                }
            }
        }
        out
    }
}

/// Runs one size: `name`, `topology` with `keys`; `offline` and the
/// nodes under it go away for a while.
pub fn run(
    name: &str,
    topology: Topology,
    keys: BTreeMap<NodeCode, SigningKey>,
    offline: NodeCode,
    plan: Plan,
) -> Report {
    let started = Instant::now();
    let signers = topology.nodes().filter_map(|n| Some((n.code, Signers::of(n)?))).collect();
    let nodes = keys.into_iter().map(|(c, k)| (c, Node::new(c, k))).collect();
    let mut run = Run {
        now: 0,
        rng: Rng::new(24),
        net: Network::default(),
        topology,
        keys: signers,
        nodes,
        stats: Stats::default(),
        appended: BTreeMap::new(),
    };
    let codes: Vec<NodeCode> = run.nodes.keys().copied().collect();
    for c in &codes {
        run.with_node(*c, |n, ctx| n.start(ctx, false));
    }
    // Warm up: restores end, audiences are known.
    let warm_until = 5_000;
    while run.now < warm_until {
        run.step(&codes, false);
    }
    // Steady traffic, measured.
    run.net.traffic = Some(BTreeMap::new());
    let entitled_before = entitled_counts(&run);
    let steady_until = run.now + plan.steady_s * 1_000;
    while run.now < steady_until {
        run.step(&codes, true);
    }
    let traffic = run.net.traffic.take().unwrap_or_default();
    let entitled_after = entitled_counts(&run);
    let rows = table(&run, &traffic, &entitled_before, &entitled_after, plan.steady_s as f64);
    // The province offline: its nodes down, the others append.
    let gone: Vec<NodeCode> =
        codes.iter().copied().filter(|c| *c == offline || run.topology.is_ancestor(offline, *c)).collect();
    for c in &gone {
        run.nodes.get_mut(c).expect("a node").up = false;
    }
    let back_at = run.now + plan.offline_s * 1_000;
    while run.now < back_at {
        run.step(&codes, true);
    }
    for c in &gone {
        run.with_node(*c, |n, ctx| n.start(ctx, false));
    }
    // Quiet now: the province catches up.
    let (converged_after_s, mut problems) = settle(&mut run, &codes, plan.settle_max_s);
    // Then the national committee restarts.
    let national = NodeCode::NATIONAL;
    let mut national_converged_after_s = None;
    if converged_after_s.is_some() && run.nodes.contains_key(&national) {
        run.nodes.get_mut(&national).expect("the national committee").up = false;
        // The provinces go on sending up while it is down.
        let up_at = run.now + plan.national_down_s * 1_000;
        let missed = entitled_counts(&run)[&national];
        while run.now < up_at {
            run.step(&codes, true);
        }
        if entitled_counts(&run)[&national] == missed {
            problems.push("nothing the national committee is entitled to was appended while it was down".into());
        }
        run.with_node(national, |n, ctx| n.start(ctx, false));
        let (after, more) = settle(&mut run, &codes, plan.settle_max_s);
        national_converged_after_s = after.filter(|_| problems.is_empty());
        problems.extend(more);
    }
    problems.truncate(10);
    let events = run.appended.values().sum();
    Report {
        name: name.into(),
        nodes: codes.len(),
        events,
        rows,
        converged_after_s,
        national_converged_after_s,
        wall_s: started.elapsed().as_secs_f64(),
        problems,
    }
}

/// Steps until every node is up, restored and holds what it is entitled
/// to, looking every virtual second: the virtual seconds that took, or
/// `None` and what was still missing after `max_s`.
fn settle(run: &mut Run, codes: &[NodeCode], max_s: u64) -> (Option<f64>, Vec<String>) {
    let from = run.now;
    let mut problems = Vec::new();
    while run.now < from + max_s * 1_000 {
        for _ in 0..1_000 / STEP_MS {
            run.step(codes, false);
        }
        problems = run.unconverged();
        if problems.is_empty() && run.nodes.values().all(|n| n.up && n.restored) {
            return (Some((run.now - from) as f64 / 1_000.0), problems);
        }
    }
    (None, problems)
}

/// Events each node is entitled to, held anywhere (by origin heads).
fn entitled_counts(run: &Run) -> BTreeMap<NodeCode, u64> {
    let heads: Vec<(StreamKey, u64)> = run
        .nodes
        .iter()
        .flat_map(|(code, n)| n.store.streams.keys().filter(|k| k.0 == *code).map(|k| (k.clone(), n.store.head(k))))
        .collect();
    run.nodes
        .iter()
        .map(|(code, node)| {
            // Others' events: what it receives.
            let others = heads.iter().filter(|(k, _)| k.0 != *code);
            let n = others.filter(|(k, _)| node.entitled(&run.topology, *code, k)).map(|(_, h)| h).sum();
            (*code, n)
        })
        .collect()
}

fn table(
    run: &Run,
    traffic: &BTreeMap<NodeCode, Traffic>,
    before: &BTreeMap<NodeCode, u64>,
    after: &BTreeMap<NodeCode, u64>,
    seconds: f64,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for level in [Level::National, Level::Province, Level::City, Level::County] {
        let codes: Vec<NodeCode> = run.topology.nodes().filter(|n| n.level == level).map(|n| n.code).collect();
        if codes.is_empty() {
            continue;
        }
        let n = codes.len() as f64;
        let sum = |f: &dyn Fn(&Traffic) -> u64| {
            codes.iter().map(|c| traffic.get(c).map_or(0, f)).sum::<u64>() as f64 / n / seconds
        };
        let entitled = codes.iter().map(|c| after[c] - before[c]).sum::<u64>() as f64 / n / seconds;
        rows.push(Row {
            level: level.as_str(),
            nodes: codes.len() as u64,
            sent_msgs: sum(&|t| t.sent_msgs),
            sent_bytes: sum(&|t| t.sent_bytes),
            received_msgs: sum(&|t| t.received_msgs),
            received_bytes: sum(&|t| t.received_bytes),
            entitled_events: entitled,
        });
    }
    rows
}

/// The sizes `make sim-national` runs: 甘肃 alone, five north-western
/// provinces under 全国政协, the nation.
/// What goes offline: 张掖市 and its counties in 甘肃 alone, 甘肃 whole
/// under 全国政协.
pub fn sizes(china: &str) -> Vec<(String, Topology, BTreeMap<NodeCode, SigningKey>, NodeCode)> {
    let five = ["620000", "640000", "630000", "610000", "650000"];
    let code = |c: &str| c.parse::<NodeCode>().expect("a code");
    let mut out = Vec::new();
    let (t, k) = topology(china, &["620000"], true);
    out.push(("甘肃 alone".to_string(), t, k, code("620700")));
    let (t, k) = topology(china, &five, false);
    out.push(("five provinces + 全国政协".to_string(), t, k, code("620000")));
    let (t, k) = topology(china, &[], false);
    out.push(("the nation".to_string(), t, k, code("620000")));
    out
}
