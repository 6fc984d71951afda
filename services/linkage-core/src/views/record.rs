//! View records as the folds see them: a kind and an entity id, never a
//! storage key. How records are laid out on disk is the store's business
//! (`linkage_store::keys`); the folds only ask for a record by
//! ([`RecordKind`], id) and put it back.

use crate::pb;
use crate::validate::{canonical_event_id, format_event_id, parse_event_id};
use prost::Message;
use std::collections::BTreeMap;

/// Which kind of record: one per protobuf message the views keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordKind {
    /// `linkage.v1.Topic`, by topic event id.
    Topic,
    /// `linkage.v1.Group`, by group id.
    Group,
    /// `linkage.v1.InfoItem`, by item event id.
    Info,
    /// `linkage.v1.Notice`, by notice event id.
    Notice,
    /// `linkage.v1.Result`, by result event id.
    Result,
    /// `linkage.v1.ScoreRule`, by rule event id.
    ScoreRule,
    /// `linkage.v1.CommitteeMember`, by member id.
    Member,
    /// `linkage.v1.Proposal`, by proposal event id.
    Proposal,
    /// `linkage.v1.HolidayCalendar`, by year.
    Calendar,
    /// `linkage.v1.DutyRule`, by year.
    Duties,
    /// `linkage.v1.IndicatorSet`, by set event id.
    IndicatorSet,
    /// `linkage.v1.EvaluationRatings`, by the rated work's event id.
    Ratings,
}

impl RecordKind {
    /// Every kind, in a fixed order.
    pub const ALL: [RecordKind; 12] = [
        RecordKind::Topic,
        RecordKind::Group,
        RecordKind::Info,
        RecordKind::Notice,
        RecordKind::Result,
        RecordKind::ScoreRule,
        RecordKind::Member,
        RecordKind::Proposal,
        RecordKind::Calendar,
        RecordKind::Duties,
        RecordKind::IndicatorSet,
        RecordKind::Ratings,
    ];

    /// One letter naming the kind in dumps (`t`, `g`, `i`, `n`, `r`, `s`, `m`, `p`, `c`, `d`, `e`, `q`).
    pub fn letter(self) -> char {
        match self {
            RecordKind::Topic => 't',
            RecordKind::Group => 'g',
            RecordKind::Info => 'i',
            RecordKind::Notice => 'n',
            RecordKind::Result => 'r',
            RecordKind::ScoreRule => 's',
            RecordKind::Member => 'm',
            RecordKind::Proposal => 'p',
            RecordKind::Calendar => 'c',
            RecordKind::Duties => 'd',
            RecordKind::IndicatorSet => 'e',
            RecordKind::Ratings => 'q',
        }
    }
}

/// A protobuf message the views keep, tied to its kind: a reader asks for
/// `pb::Topic` and gets topics, never another kind's bytes decoded as one.
pub trait ViewRecord: Message + Default {
    /// The kind of record this message is stored as.
    const KIND: RecordKind;
    /// Whether the event that creates the record is held (lists show
    /// known records only).
    fn known(&self) -> bool;
}

macro_rules! view_record {
    ($message:ty, $kind:expr) => {
        impl ViewRecord for $message {
            const KIND: RecordKind = $kind;
            fn known(&self) -> bool {
                self.known
            }
        }
    };
}

view_record!(pb::Topic, RecordKind::Topic);
view_record!(pb::Group, RecordKind::Group);
view_record!(pb::InfoItem, RecordKind::Info);
view_record!(pb::Notice, RecordKind::Notice);
view_record!(pb::Result, RecordKind::Result);
view_record!(pb::ScoreRule, RecordKind::ScoreRule);
view_record!(pb::CommitteeMember, RecordKind::Member);
view_record!(pb::Proposal, RecordKind::Proposal);
view_record!(pb::HolidayCalendar, RecordKind::Calendar);
view_record!(pb::DutyRule, RecordKind::Duties);
view_record!(pb::IndicatorSet, RecordKind::IndicatorSet);
view_record!(pb::EvaluationRatings, RecordKind::Ratings);

/// Where the folds read and write records: sled with an overlay in the
/// store, a map in tests. How a record is named there is the
/// implementation's ([`Records::Key`]); a fold names a record once by its
/// kind and id, and reads and writes it by that name.
pub trait Records {
    /// How this place names a record (the store: its sled key).
    type Key;
    /// The name of the record of `kind` for entity `id`.
    fn key(&self, kind: RecordKind, id: &str) -> Self::Key;
    /// The record's bytes, if there is one.
    fn get(&mut self, key: &Self::Key) -> Option<Vec<u8>>;
    /// Replaces the record.
    fn put(&mut self, key: Self::Key, value: Vec<u8>);
    /// What the folds judge by besides the events ([`FoldContext`]).
    fn context(&self) -> FoldContext {
        FoldContext::default()
    }
}

/// Records in memory, by kind and id: what tests fold into.
pub type RecordMap = BTreeMap<(RecordKind, String), Vec<u8>>;

impl Records for RecordMap {
    type Key = (RecordKind, String);

    fn key(&self, kind: RecordKind, id: &str) -> Self::Key {
        (kind, id.to_owned())
    }

    fn get(&mut self, key: &Self::Key) -> Option<Vec<u8>> {
        BTreeMap::get(self, key).cloned()
    }

    fn put(&mut self, key: Self::Key, value: Vec<u8>) {
        self.insert(key, value);
    }
}

/// Reads and decodes one record.
pub fn load<M: ViewRecord>(records: &mut impl Records, id: &str) -> Option<M> {
    let key = records.key(M::KIND, id);
    records.get(&key).and_then(|b| M::decode(b.as_slice()).ok())
}

/// A decoded view record, for callers that fold many events into the same
/// records (a rebuild) and encode each once at the end.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// [`RecordKind::Topic`].
    Topic(pb::Topic),
    /// [`RecordKind::Group`].
    Group(pb::Group),
    /// [`RecordKind::Info`].
    Info(pb::InfoItem),
    /// [`RecordKind::Notice`].
    Notice(pb::Notice),
    /// [`RecordKind::Result`].
    Result(pb::Result),
    /// [`RecordKind::ScoreRule`].
    ScoreRule(pb::ScoreRule),
    /// [`RecordKind::Member`].
    Member(pb::CommitteeMember),
    /// [`RecordKind::Proposal`].
    Proposal(pb::Proposal),
    /// [`RecordKind::Calendar`].
    Calendar(pb::HolidayCalendar),
    /// [`RecordKind::Duties`].
    Duties(pb::DutyRule),
    /// [`RecordKind::IndicatorSet`].
    IndicatorSet(pb::IndicatorSet),
    /// [`RecordKind::Ratings`].
    Ratings(pb::EvaluationRatings),
}

impl Record {
    /// The record stored as `kind`, or an empty one. Records are written by
    /// this code only; one that does not decode starts empty, and a
    /// rebuild from the log restores it.
    pub fn decode(kind: RecordKind, bytes: Option<&[u8]>) -> Record {
        fn d<M: Message + Default>(bytes: Option<&[u8]>) -> M {
            bytes.and_then(|b| M::decode(b).ok()).unwrap_or_default()
        }
        match kind {
            RecordKind::Topic => Record::Topic(d(bytes)),
            RecordKind::Group => Record::Group(d(bytes)),
            RecordKind::Info => Record::Info(d(bytes)),
            RecordKind::Notice => Record::Notice(d(bytes)),
            RecordKind::Result => Record::Result(d(bytes)),
            RecordKind::ScoreRule => Record::ScoreRule(d(bytes)),
            RecordKind::Member => Record::Member(d(bytes)),
            RecordKind::Proposal => Record::Proposal(d(bytes)),
            RecordKind::Calendar => Record::Calendar(d(bytes)),
            RecordKind::Duties => Record::Duties(d(bytes)),
            RecordKind::IndicatorSet => Record::IndicatorSet(d(bytes)),
            RecordKind::Ratings => Record::Ratings(d(bytes)),
        }
    }

    /// The stored bytes.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Record::Topic(m) => m.encode_to_vec(),
            Record::Group(m) => m.encode_to_vec(),
            Record::Info(m) => m.encode_to_vec(),
            Record::Notice(m) => m.encode_to_vec(),
            Record::Result(m) => m.encode_to_vec(),
            Record::ScoreRule(m) => m.encode_to_vec(),
            Record::Member(m) => m.encode_to_vec(),
            Record::Proposal(m) => m.encode_to_vec(),
            Record::Calendar(m) => m.encode_to_vec(),
            Record::Duties(m) => m.encode_to_vec(),
            Record::IndicatorSet(m) => m.encode_to_vec(),
            Record::Ratings(m) => m.encode_to_vec(),
        }
    }
}

/// Decoded records the caller keeps; [`super::apply_cached`] folds into them.
pub trait RecordCache {
    /// The record of `kind` for entity `id`, loaded or created empty.
    fn record(&mut self, kind: RecordKind, id: &str) -> &mut Record;
    /// What the folds judge by besides the events ([`FoldContext`]).
    fn context(&self) -> FoldContext {
        FoldContext::default()
    }
}

/// What the folds judge by besides the events: the part of the topology
/// that decides a rule, the same on every node that loaded the same
/// document. A store keeps the context its views were folded by and
/// folds them again when it changes (decision 0067).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FoldContext {
    /// `Topology::national_since`: from which topology version the
    /// national committee records 全国政协's adoptions and 批示.
    pub national_since: Option<u64>,
}

impl FoldContext {
    /// The context of `topology`.
    pub fn of(topology: &crate::Topology) -> FoldContext {
        FoldContext { national_since: topology.national_since() }
    }

    /// Eight bytes: `national_since + 1`, 0 for none.
    pub fn encode(&self) -> [u8; 8] {
        self.national_since.map_or(0, |n| n.saturating_add(1)).to_be_bytes()
    }

    /// What [`FoldContext::encode`] wrote; `None` for other bytes.
    pub fn decode(bytes: &[u8]) -> Option<FoldContext> {
        let n = u64::from_be_bytes(bytes.try_into().ok()?);
        Some(FoldContext { national_since: n.checked_sub(1) })
    }
}

/// An event id in its one text form (lower-case), so that references in
/// either case find the same record.
pub fn norm(id: &str) -> String {
    // Nearly every id is already in that form: check it without parsing.
    if canonical_event_id(id).is_some() {
        return id.to_string();
    }
    parse_event_id(id).map(|b| format_event_id(&b)).unwrap_or_else(|| id.to_string())
}

/// Ids in their one text form, sorted, each once.
pub(super) fn norm_set(ids: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|id| norm(id)).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Every record as `<kind letter><id><TAB>hex(bytes)` lines, sorted by kind
/// and id: the dump two nodes with the same events agree on byte for byte.
pub fn dump(records: &RecordMap) -> String {
    let mut out = String::new();
    let mut sorted: Vec<_> = records.iter().collect();
    sorted.sort_by(|((ka, ia), _), ((kb, ib), _)| (ka.letter(), ia).cmp(&(kb.letter(), ib)));
    for ((kind, id), bytes) in sorted {
        out.push(kind.letter());
        out.push_str(id);
        out.push('\t');
        out.push_str(&hex::encode(bytes));
        out.push('\n');
    }
    out
}
