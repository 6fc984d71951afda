//! The generator's committees, entities and ids: what both the builder
//! of event sets and the payloads it makes name.

/// Committees that append: the province, a city, a county, two more cities.
pub const ORIGINS: [&str; 5] = ["620000", "620700", "620722", "620900", "620600"];
/// Topics, 社情民意 items, notices and results that may be created.
pub const TOPICS: usize = 3;
pub const ITEMS: usize = 4;
pub const NOTICES: usize = 2;
pub const RESULTS: usize = 2;
pub const PROPOSALS: usize = 3;
/// Groups, named by their leads (`GroupId::owner`), both in `ORIGINS`.
pub const GROUPS: [&str; 2] = ["620000-hexi-water", "620700-minle-farmland"];
pub const TASKS: [&str; 3] = ["zhangye", "wuwei", "minle"];
/// Members (委员), each named by its committee's code.
pub const MEMBERS: [&str; 3] = ["620722-zhang", "620700-li", "620000-wang"];
/// The payload kinds generated as ops: 27 that refer to something, the
/// score rule, whose record is its own, the 4 member events, the 12
/// proposal handling events, the holiday calendar, a member's
/// contribution, the members' duties, an indicator set and a rating; the 5 creating
/// kinds that others refer to are generated separately so that each
/// entity has exactly one creator.
pub const REFERRING_KINDS: u8 = 49;

/// One referring event, before it is turned into a payload.
#[derive(Clone, Debug)]
pub struct Op {
    pub kind: u8,
    pub a: u8,
    pub b: u8,
    pub c: u8,
    pub origin: u8,
    pub hlc: u64,
    /// Write references in capitals.
    pub upper: bool,
    /// Varies the id's middle so that id order is unrelated to list order.
    pub salt: u16,
}

/// An id in the layout of `linkage_core::ids`: it names `origin`.
pub fn id(space: u64, n: usize, salt: u16, origin: &str) -> String {
    let code: u64 = origin.parse().expect("six digits");
    let high: u64 = (0x0190_b6c8 << 32) | (u64::from(salt) << 16) | 0x7abc;
    let low: u64 = (0b10 << 62) | (code << 42) | (space << 32 | n as u64);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&high.to_be_bytes());
    bytes[8..].copy_from_slice(&low.to_be_bytes());
    linkage_core::validate::format_event_id(&bytes)
}

/// Who creates entity `k` of `space`: ids name their origin, so the
/// referring events must know it.
pub fn creator_of(space: u64, k: usize) -> &'static str {
    ORIGINS[(space as usize + k) % ORIGINS.len()]
}

pub fn topic_id(k: usize) -> String {
    id(1, k, 0, creator_of(1, k))
}
pub fn item_id(k: usize) -> String {
    id(2, k, 0, creator_of(2, k))
}
pub fn notice_id(k: usize) -> String {
    id(3, k, 0, creator_of(3, k))
}
pub fn result_id(k: usize) -> String {
    id(4, k, 0, creator_of(4, k))
}
pub fn proposal_id(k: usize) -> String {
    id(5, k, 0, creator_of(5, k))
}

pub fn time(days: u8) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds: 1_750_000_000 + i64::from(days) * 86_400, nanos: 0 })
}

/// The members of `bits` among `ORIGINS`.
pub fn origins(bits: u8) -> Vec<String> {
    ORIGINS.iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, o)| o.to_string()).collect()
}

/// Who appends `op`. Membership changes, assignments, due-date moves and closings come
/// mostly from whom they may (the lead; a member leaving; the proposer),
/// sometimes from anyone: a lie the folds ignore.
pub fn op_origin(op: &Op) -> &'static str {
    let (a, b, c) = (usize::from(op.a), usize::from(op.b), op.c);
    let owner = &GROUPS[a % GROUPS.len()][..6];
    match (op.kind % REFERRING_KINDS, c % 3) {
        (4 | 5 | 7 | 21, 1 | 2) | (6, 1) => owner,
        (22, 1 | 2) => creator_of(1, a % TOPICS),
        (24, 1 | 2) => creator_of(3, a % NOTICES),
        (26 | 27, 1 | 2) => "620000",
        (28..=31 | 45, 1 | 2) => &MEMBERS[b % MEMBERS.len()][..6],
        (32..=43, 1 | 2) => creator_of(5, a % PROPOSALS),
        (44 | 46 | 47, 1 | 2) => "620000",
        (48, 1 | 2) => on_chain_rater(creator_of(5, a % PROPOSALS)),
        (6, 2) => ORIGINS[b % ORIGINS.len()],
        _ => ORIGINS[usize::from(op.origin) % ORIGINS.len()],
    }
}

/// Whether `node` is on the chain of an item `origin` reported, as the
/// generator reads the codes: the origin, its city, the province.
pub fn on_chain(node: &str, origin: &str) -> bool {
    node == origin || node == "620000" || (node == "620700" && origin == "620722")
}

/// A committee above `origin` on its chain, which may rate its work.
pub fn on_chain_rater(origin: &str) -> &'static str {
    if origin == "620722" {
        "620700"
    } else if origin == "620000" {
        // Nobody is above the province: a city's rating is off its chain, a lie.
        "620700"
    } else {
        "620000"
    }
}

/// The level of a code in `ORIGINS`, as the generator reads it.
pub fn adoption_levels(origin: &str) -> &'static [i32] {
    match origin {
        "620000" => &[3, 4],
        "620722" => &[1],
        _ => &[2],
    }
}
