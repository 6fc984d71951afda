//! Scenario tests written as data: every `tests/scenarios/*.toml` is one
//! story — the events committees append, in order, and what the four views
//! must say at the end. `tests/scenarios/README.md` describes the format for
//! readers who do not write Rust.
//!
//! For each step the runner builds the event, checks that the append path
//! would take it (`validate_append` against the Gansu topology), runs the
//! lifecycle check against the records so far (unless the step arrived from
//! another node), and folds it with `views::apply`. A refused step is not
//! applied. At the end it compares the expected records and also replays the
//! story's applied events backwards and twice over, which must leave the same
//! bytes: every story doubles as a convergence check.
//!
//! The coverage tests make sure that the stories keep exercising every
//! payload kind and every refusal of `views/lifecycle.rs`.

use linkage_core::rules::{Breach, Judged, RULES};
use linkage_core::validate::validate_append;
use linkage_core::views::{self, FoldContext, RecordKind, RecordMap, Records};
use linkage_core::{pb, AppendError, NodeCode, Topology};
use prost::Message;
use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions};
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

/// Where the stories live.
const SCENARIO_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scenarios");

/// Keys a scenario file may have at the top level; anything else is a typo.
const FILE_KEYS: &[&str] = &["description", "topology", "national_since", "never_held", "step", "expect"];

/// Keys of a step besides its one payload; anything else is a typo.
const STEP_KEYS: &[&str] = &[
    "node",
    "channel",
    "label",
    "hlc",
    "refs",
    "replicated",
    "forged",
    "expect_error",
    "expect_reason",
    "topology_version",
];

/// Keys of an expectation besides the record's own fields.
const EXPECT_KEYS: &[&str] = &["record", "id", "absent"];

/// The record kinds an expectation can name: its word, kind and message.
const RECORD_KINDS: &[(&str, RecordKind, &str)] = &[
    ("topic", RecordKind::Topic, "linkage.v1.Topic"),
    ("group", RecordKind::Group, "linkage.v1.Group"),
    ("info", RecordKind::Info, "linkage.v1.InfoItem"),
    ("notice", RecordKind::Notice, "linkage.v1.Notice"),
    ("result", RecordKind::Result, "linkage.v1.Result"),
    ("score_rule", RecordKind::ScoreRule, "linkage.v1.ScoreRule"),
    ("member", RecordKind::Member, "linkage.v1.CommitteeMember"),
    ("proposal", RecordKind::Proposal, "linkage.v1.Proposal"),
    ("calendar", RecordKind::Calendar, "linkage.v1.HolidayCalendar"),
    ("duties", RecordKind::Duties, "linkage.v1.DutyRule"),
    ("indicator_set", RecordKind::IndicatorSet, "linkage.v1.IndicatorSet"),
    ("ratings", RecordKind::Ratings, "linkage.v1.EvaluationRatings"),
];

/// Every refusal `check_append` can give, as (field without `[index]`, a
/// fragment of the description). The stories must trigger each one, and every
/// refusal they trigger must be listed here — a new rule in lifecycle.rs
/// needs a line here and a story step that shows it.
const REFUSALS: &[(&str, &str)] = &[
    ("payload.topic_commented.topic_id", "no topic with this id"),
    ("payload.topic_commented.topic_id", "already in a published plan"),
    ("payload.topic_responded.topic_id", "no topic with this id"),
    ("payload.topic_linked.topic_ids", "no topic with this id"),
    ("payload.plan_published.topic_ids", "no topic with this id"),
    ("payload.plan_published.topic_ids", "a plan lists its own topics"),
    ("payload.group_joined.group_id", "no group with this id"),
    ("payload.group_left.group_id", "no group with this id"),
    ("payload.group_formed.group_id", "already held here"),
    ("payload.task_assigned.group_id", "no group with this id"),
    ("payload.task_assigned.group_id", "submitted its consolidated report"),
    ("payload.milestone_reached.group_id", "no group with this id"),
    ("payload.milestone_reached.task_id", "has no sub-topic with this id"),
    ("payload.progress_reported.group_id", "no group with this id"),
    ("payload.progress_reported.task_id", "has no sub-topic with this id"),
    ("payload.progress_reported.task_id", "the sub-report is in"),
    ("payload.sub_report_submitted.group_id", "no group with this id"),
    ("payload.sub_report_submitted.task_id", "has no sub-topic with this id"),
    ("payload.consolidated_report_submitted.group_id", "no group with this id"),
    ("payload.consolidated_report_submitted.group_id", "only the lead"),
    ("payload.consolidated_report_submitted.sub_report_ids", "is not a sub-report of a sub-topic of group"),
    ("payload.task_assigned.due", "a re-assignment keeps the sub-topic's due date"),
    ("payload.topic_closed.topic_id", "in a published plan"),
    ("payload.topic_closed.topic_id", "closed already"),
    ("payload.topic_closed.into_topic_id", "no topic with this id"),
    ("payload.topic_closed.into_topic_id", "not merged into itself"),
    ("payload.plan_published.topic_ids", "the topic is closed"),
    ("payload.topic_commented.topic_id", "the topic is closed"),
    ("payload.topic_responded.topic_id", "the topic is closed"),
    ("payload.topic_linked.topic_ids", "the topic is closed"),
    ("payload.task_due_changed.group_id", "no group with this id"),
    ("payload.task_due_changed.task_id", "has no sub-topic with this id"),
    ("payload.visit_scheduled.group_id", "no group with this id"),
    ("payload.info_published.info_id", "no 社情民意 item with this id"),
    ("payload.info_published.info_id", "has already published this item"),
    ("payload.info_published.info_id", "it handles it no further"),
    ("payload.info_forwarded.info_id", "no 社情民意 item with this id"),
    ("payload.info_forwarded.info_id", "has already forwarded this item"),
    ("payload.info_forwarded.info_id", "it handles it no further"),
    ("payload.info_adopted.info_id", "no 社情民意 item with this id"),
    ("payload.info_adopted.info_id", "has already recorded the adoption"),
    ("payload.info_instructed.info_id", "no 社情民意 item with this id"),
    ("payload.info_instructed.info_id", "has already recorded this leader's 批示"),
    ("payload.info_feedback.info_id", "no 社情民意 item with this id"),
    ("payload.info_feedback.info_id", "feedback follows an adoption, a 批示 or a forward"),
    ("payload.info_declined.info_id", "no 社情民意 item with this id"),
    ("payload.info_declined.info_id", "has already published, forwarded, adopted or instructed on"),
    ("payload.info_declined.returned", "no level below"),
    ("payload.info_merged.info_id", "no 社情民意 item with this id"),
    ("payload.info_merged.info_id", "has already published, forwarded, adopted or instructed on"),
    ("payload.info_merged.into_id", "no 社情民意 item with this id"),
    ("payload.info_merged.into_id", "is itself merged into another"),
    ("payload.notice_acknowledged.notice_id", "no notice with this id"),
    ("payload.notice_acknowledged.notice_id", "does not acknowledge its own notice"),
    ("payload.notice_acknowledged.notice_id", "does not ask for acknowledgement"),
    ("payload.result_shared.result_id", "no result with this id"),
    ("payload.result_adopted.result_id", "no result with this id"),
    ("payload.result_feedback.result_id", "no result with this id"),
    ("payload.result_feedback.result_id", "feedback follows an adoption"),
    // Who may say what (`linkage_core::rules`), each in `authority_<rule>.toml`.
    ("payload.group_formed.group_id", "(rule group_not_origin)"),
    ("payload.group_joined.group_id", "(rule membership_not_authorized)"),
    ("payload.group_left.member", "(rule membership_not_authorized)"),
    ("payload.task_assigned.group_id", "(rule task_not_by_lead)"),
    ("payload.task_due_changed.group_id", "(rule task_not_by_lead)"),
    ("payload.topic_closed.topic_id", "(rule topic_not_own)"),
    ("payload.info_adopted.level", "(rule adoption_not_own_level)"),
    ("payload.info_instructed.level", "(rule instruction_not_own_level)"),
    ("payload.info_merged.into_id", "(rule merge_not_into_own)"),
    ("payload.score_rule_issued", "(rule score_rule_not_by_province)"),
    ("payload.member_registered.member_id", "(rule member_not_own)"),
    ("payload.member_registered.member_id", "is registered already"),
    ("payload.member_updated.member_id", "no member with this id"),
    ("payload.member_updated.member_id", "personal data were erased"),
    ("payload.member_left.member_id", "no member with this id"),
    ("payload.member_left.member_id", "has left already"),
    ("payload.member_erased.member_id", "no member with this id"),
    ("payload.member_erased.member_id", "are erased already"),
    ("payload.info_reported.member_id", "no member with this id"),
    ("payload.info_reported.member_id", "a committee's events name its own members"),
    ("payload.info_reported.member_id", "has left the committee"),
    ("payload.sub_report_submitted.member_ids", "no member with this id"),
    ("payload.task_assigned.assignee", "(rule assignee_not_member)"),
    ("payload.sub_report_submitted.task_id", "(rule sub_report_not_by_assignee)"),
    ("payload.notice_reminded.notice_id", "(rule reminder_not_by_issuer)"),
    ("payload.notice_reminded.notice_id", "no notice with this id"),
    ("payload.notice_reminded.notice_id", "expects no returns"),
    // 提案 (`views/proposal_steps.rs`).
    ("payload.proposal_submitted.member_ids", "no member with this id"),
    ("payload.proposal_co_signed.proposal_id", "does not co-sign its own proposal"),
    ("payload.proposal_co_signed.proposal_id", "has already co-signed"),
    ("payload.proposal_reviewed.proposal_id", "has not reached the"),
    ("payload.proposal_sent_up.proposal_id", "has already sent up or reviewed"),
    ("payload.proposal_reviewed.proposal_id", "has already sent up or reviewed"),
    ("payload.proposal_reviewed.into_id", "is not filed at the"),
    ("payload.proposal_reviewed.into_id", "no proposal with this id"),
    ("payload.proposal_assigned.proposal_id", "no proposal with this id"),
    ("payload.proposal_assigned.proposal_id", "has not filed this proposal"),
    ("payload.proposal_assigned.proposal_id", "reassigned only after a 不满意 rating"),
    ("payload.proposal_objected.proposal_id", "has not assigned this proposal"),
    ("payload.proposal_objected.unit", "is not a unit this proposal is assigned to"),
    ("payload.proposal_deadline_extended.due", "must be later than the deadline in force"),
    ("payload.proposal_deadline_extended.due", "at most 6 months after the first assignment"),
    ("payload.proposal_assigned.due", "at most 6 months after the first assignment"),
    ("payload.proposal_objected.proposal_id", "an objection comes before the answer"),
    ("payload.proposal_deadline_extended.proposal_id", "an extension comes before the answer"),
    ("payload.proposal_rated.answer_id", "latest answer"),
    ("payload.proposal_supervised.proposal_id", "is not a key proposal"),
    ("payload.proposal_answered.proposal_id", "a new answer follows a 不满意 rating"),
    ("payload.proposal_reminded.proposal_id", "nothing to remind"),
    ("payload.proposal_followed_up.proposal_id", "is of a B answer"),
    ("payload.proposal_rated.handler", "has recorded no answer"),
    ("payload.proposal_rated.handler", "its latest answer is rated already"),
    ("payload.proposal_rated.proposal_id", "(rule rating_not_by_proposer)"),
    ("payload.holiday_calendar_issued", "(rule rules_not_by_province)"),
    ("payload.member_duties_issued", "(rule rules_not_by_province)"),
    ("payload.indicator_set_issued", "(rule rules_not_by_province)"),
    ("payload.evaluation_rated.subject_id", "(rule self_evaluation)"),
    ("payload.evaluation_rated.subject_id", "no proposal, 社情民意 item or result with this id"),
    ("payload.evaluation_rated.set_id", "no indicator set with this id"),
    ("payload.evaluation_rated.set_id", "is an indicator set for"),
    ("payload.evaluation_rated.scores", "is not a judged indicator of the set"),
    ("payload.evaluation_rated.scores", "must be at most"),
    ("payload.member_contributed.member_id", "no member with this id"),
    ("payload.member_contributed.member_id", "has left the committee"),
];

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(linkage_proto::FILE_DESCRIPTOR_SET).expect("linkage-proto ships a valid descriptor set")
    })
}

fn message(name: &str) -> MessageDescriptor {
    pool().get_message_by_name(name).unwrap_or_else(|| panic!("{name} is in the descriptor set"))
}

/// The payload kinds, by field name of `linkage.v1.Payload`.
fn payload_kinds() -> BTreeSet<String> {
    message("linkage.v1.Payload").fields().map(|f| f.name().to_string()).collect()
}

/// The topologies a story may name (`topology = "…"`, a file of
/// `deploy/topology/`; Gansu's when it names none), as text.
fn topology_text(name: &str) -> Option<&'static str> {
    Some(match name {
        "gansu" => include_str!("../../../deploy/topology/gansu.toml"),
        "national-demo" => include_str!("../../../deploy/topology/national-demo.toml"),
        // The national demo's 甘肃 before it was linked.
        "demo" => include_str!("../../../deploy/topology/demo.toml"),
        _ => return None,
    })
}

/// `text` as the document of `version`, national from `national_since`.
fn versioned(text: &str, version: u64, national_since: Option<u64>) -> Topology {
    let since = national_since.map(|n| format!("national_since = {n}\n")).unwrap_or_default();
    Topology::from_toml(&format!("version = {version}\n{since}{text}")).unwrap_or_else(|e| panic!("a topology: {e}"))
}

/// The records of a story, folded by its context.
struct InContext<'a>(&'a mut RecordMap, FoldContext);

impl Records for InContext<'_> {
    type Key = (RecordKind, String);

    fn key(&self, kind: RecordKind, id: &str) -> Self::Key {
        self.0.key(kind, id)
    }

    fn get(&mut self, key: &Self::Key) -> Option<Vec<u8>> {
        self.0.get(key)
    }

    fn put(&mut self, key: Self::Key, value: Vec<u8>) {
        self.0.put(key, value);
    }

    fn context(&self) -> FoldContext {
        self.1
    }
}

/// The `n`-th never-held id: lower-case UUIDv7-shaped text.
fn generated_id(space: u64, n: usize) -> String {
    format!("0190b6c8-7d2e-7abc-8def-{:012x}", space << 32 | n as u64)
}

/// The id the runner gives the event of step `number` (1-based), by
/// `node`: in the layout of `linkage_core::ids`, so that it names its
/// origin (`views::breach`), and increasing with the step so that ids sort
/// in story order.
fn step_id(node: &str, number: usize) -> String {
    let code: u64 = node.parse().unwrap_or(0);
    let high: u64 = (0x0190_b6c8_7d2e << 16) | 0x7000 | (number as u64 & 0xfff);
    let low: u64 = (0b10 << 62) | (code << 42) | number as u64;
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&high.to_be_bytes());
    bytes[8..].copy_from_slice(&low.to_be_bytes());
    linkage_core::validate::format_event_id(&bytes)
}

/// One parsed story.
struct Story {
    /// The topology its nodes belong to (`topology = "…"`), as its latest
    /// version; with `national_since`, earlier steps' versions
    /// (`topology_version`) are its province alone.
    topology: Topology,
    /// Before `national_since`: the province alone.
    before: Option<Topology>,
    /// What every node folds by: the latest topology's.
    context: FoldContext,
    file: String,
    steps: Vec<Step>,
    expects: Vec<Expect>,
    /// Generated id → `@label`, to print records in the story's own words.
    names: BTreeMap<String, String>,
}

struct Step {
    /// 1-based, as a reader counts the `[[step]]` tables.
    number: usize,
    node: NodeCode,
    channel: String,
    id: String,
    hlc: u64,
    replicated: bool,
    /// Signed by its origin, but no node of this version would append it
    /// (off its item's chain, say): folded without the append path's checks.
    forged: bool,
    expect_error: Option<String>,
    expect_reason: Option<String>,
    /// The topology version the node had loaded (`topology_version`).
    topology_version: Option<u64>,
    kind: String,
    payload: pb::Payload,
    /// The events it cites, as written (labels resolved).
    refs: Vec<String>,
}

impl Step {
    /// The event as the step's node would sign it: with `payload` and
    /// `refs` as the append path completed them.
    fn event(&self, payload: pb::Payload, refs: Vec<String>) -> pb::Event {
        pb::Event {
            id: self.id.clone(),
            origin: self.node.to_string(),
            channel: self.channel.clone(),
            seq: self.number as u64,
            hlc: self.hlc,
            refs,
            payload: Some(payload),
            ..Default::default()
        }
    }

    fn title(&self, file: &str) -> String {
        format!("{file}: step {} ({} by {})", self.number, self.kind, self.node)
    }
}

struct Expect {
    number: usize,
    record: &'static str,
    key: RecordKind,
    message: &'static str,
    id: String,
    absent: bool,
    fields: Map<String, Json>,
}

/// TOML as the JSON value prost-reflect reads; datetimes become RFC 3339 text.
fn to_json(value: &toml::Value) -> Json {
    match value {
        toml::Value::String(s) => Json::String(s.clone()),
        toml::Value::Integer(i) => Json::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        toml::Value::Boolean(b) => Json::Bool(*b),
        toml::Value::Datetime(d) => Json::String(d.to_string()),
        toml::Value::Array(a) => Json::Array(a.iter().map(to_json).collect()),
        toml::Value::Table(t) => Json::Object(t.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}

/// Replaces every string `@label` (or `@label:upper`, the same id in capitals)
/// by its generated id. A string starting with `@` that names no label is an
/// error, so that a mistyped reference cannot pass as free text.
fn resolve(value: &mut Json, labels: &BTreeMap<String, String>) -> Result<(), String> {
    match value {
        Json::String(s) if s.starts_with('@') => {
            let (name, upper) = match s[1..].strip_suffix(":upper") {
                Some(name) => (name, true),
                None => (&s[1..], false),
            };
            let id = labels.get(name).ok_or_else(|| {
                let known: Vec<String> = labels.keys().map(|l| format!("@{l}")).collect();
                format!("unknown label `{s}`; the labels of this story are {}", known.join(", "))
            })?;
            *s = if upper { id.to_uppercase() } else { id.clone() };
        }
        Json::Array(items) => items.iter_mut().try_for_each(|v| resolve(v, labels))?,
        Json::Object(map) => map.values_mut().try_for_each(|v| resolve(v, labels))?,
        _ => {}
    }
    Ok(())
}

fn unknown_keys<'a>(table: &'a toml::Table, allowed: &[&str]) -> Vec<&'a str> {
    table.keys().map(String::as_str).filter(|k| !allowed.contains(k)).collect()
}

fn text<'a>(table: &'a toml::Table, key: &str, at: &str) -> Result<Option<&'a str>, String> {
    match table.get(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("{at}: `{key}` must be text, not {}", other.type_str())),
    }
}

fn tables<'a>(file: &'a toml::Table, key: &str) -> Result<Vec<&'a toml::Table>, String> {
    match file.get(key) {
        None => Ok(Vec::new()),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|v| v.as_table().ok_or_else(|| format!("every `{key}` must be a [[{key}]] table")))
            .collect(),
        Some(_) => Err(format!("`{key}` must be written as [[{key}]] tables")),
    }
}

/// Parses one story; every error names the file and the step or expectation.
fn parse_story(file: &str, source: &str) -> Result<Story, String> {
    let root: toml::Table = toml::from_str(source).map_err(|e| format!("{file}: not valid TOML: {e}"))?;
    if let [key, ..] = unknown_keys(&root, FILE_KEYS)[..] {
        return Err(format!("{file}: unknown key `{key}`; a story has {}", FILE_KEYS.join(", ")));
    }
    match text(&root, "description", file)? {
        Some(d) if !d.trim().is_empty() => {}
        _ => return Err(format!("{file}: `description` must say what the story is about")),
    }
    let topology_name = text(&root, "topology", file)?.unwrap_or("gansu");
    let topology_source = topology_text(topology_name)
        .filter(|_| topology_name != "demo")
        .ok_or_else(|| format!("{file}: unknown topology `{topology_name}`; gansu or national-demo"))?;
    let (topology, before) = match root.get("national_since") {
        None => (Topology::from_toml(topology_source).map_err(|e| format!("{file}: {e}"))?, None),
        Some(toml::Value::Integer(n)) if *n > 1 && topology_name == "national-demo" => {
            let n = *n as u64;
            let alone = topology_text("demo").unwrap_or_default();
            (versioned(topology_source, n, Some(n)), Some(versioned(alone, n - 1, None)))
        }
        Some(_) => {
            return Err(format!("{file}: `national_since` is a version above 1, with topology = \"national-demo\""))
        }
    };
    let context = FoldContext::of(&topology);
    let step_tables = tables(&root, "step")?;
    let expect_tables = tables(&root, "expect")?;
    if step_tables.is_empty() {
        return Err(format!("{file}: a story needs at least one [[step]]"));
    }

    // Labels first, so that a step may refer to an event that arrives later.
    let mut labels = BTreeMap::new();
    let mut add_label = |name: &str, id: String, at: &str| -> Result<(), String> {
        let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            return Err(format!("{at}: label `{name}` must be letters, digits, `_` or `-`"));
        }
        match labels.insert(name.to_string(), id) {
            None => Ok(()),
            Some(_) => Err(format!("{at}: label `{name}` is used twice")),
        }
    };
    for (i, step) in step_tables.iter().enumerate() {
        let at = format!("{file}: step {}", i + 1);
        if let Some(label) = text(step, "label", &at)? {
            let node = text(step, "node", &at)?.unwrap_or_default();
            add_label(label, step_id(node, i + 1), &at)?;
        }
    }
    match root.get("never_held") {
        None => {}
        Some(toml::Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let name = item.as_str().ok_or_else(|| format!("{file}: `never_held` lists label names"))?;
                add_label(name, generated_id(1, i + 1), file)?;
            }
        }
        Some(_) => return Err(format!("{file}: `never_held` must be a list of label names")),
    }
    let names: BTreeMap<String, String> = labels.iter().map(|(l, id)| (id.clone(), format!("@{l}"))).collect();

    let kinds = payload_kinds();
    let mut steps = Vec::new();
    let mut hlc_max = 0;
    for (i, table) in step_tables.iter().enumerate() {
        let number = i + 1;
        let at = format!("{file}: step {number}");
        let payloads: Vec<&str> = unknown_keys(table, STEP_KEYS);
        if let Some(bad) = payloads.iter().find(|k| !kinds.contains(**k)) {
            let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
            return Err(format!(
                "{at}: unknown key `{bad}`; a step has {} and one payload, one of {}",
                STEP_KEYS.join(", "),
                kinds.join(", ")
            ));
        }
        let [kind] = payloads[..] else {
            return Err(format!("{at}: a step holds exactly one payload, found {}", payloads.len()));
        };
        let node = text(table, "node", &at)?.ok_or_else(|| format!("{at}: `node` (the origin's code) is missing"))?;
        let node: NodeCode = node.parse().map_err(|e| format!("{at}: node `{node}`: {e}"))?;
        let channel = text(table, "channel", &at)?.ok_or_else(|| format!("{at}: `channel` is missing"))?;
        let hlc = match table.get("hlc") {
            None => hlc_max + 1,
            Some(toml::Value::Integer(h)) if *h > 0 => *h as u64,
            Some(_) => return Err(format!("{at}: `hlc` must be a positive integer")),
        };
        hlc_max = hlc_max.max(hlc);
        let replicated = match table.get("replicated") {
            None => false,
            Some(toml::Value::Boolean(b)) => *b,
            Some(_) => return Err(format!("{at}: `replicated` must be true or false")),
        };
        let expect_error = text(table, "expect_error", &at)?.map(str::to_string);
        let expect_reason = text(table, "expect_reason", &at)?.map(str::to_string);
        let forged = match table.get("forged") {
            None => false,
            Some(toml::Value::Boolean(b)) => *b,
            Some(_) => return Err(format!("{at}: `forged` must be true or false")),
        };
        if forged && !replicated {
            return Err(format!("{at}: a forged step arrives from elsewhere: it needs `replicated = true`"));
        }
        if replicated && expect_error.is_some() {
            return Err(format!("{at}: a replicated step skips the lifecycle check, so it cannot expect an error"));
        }
        if expect_reason.is_some() && expect_error.is_none() {
            return Err(format!("{at}: `expect_reason` goes with `expect_error`"));
        }
        let topology_version = match table.get("topology_version") {
            None => None,
            Some(toml::Value::Integer(v)) if *v > 0 && before.is_some() => Some(*v as u64),
            Some(_) => return Err(format!("{at}: `topology_version` is a positive version, with `national_since`")),
        };

        let refs = match table.get("refs") {
            None => Vec::new(),
            Some(value) => {
                let mut refs = to_json(value);
                resolve(&mut refs, &labels).map_err(|e| format!("{at}: refs: {e}"))?;
                match refs {
                    Json::Array(items) if items.iter().all(Json::is_string) => {
                        items.into_iter().filter_map(|i| i.as_str().map(str::to_string)).collect()
                    }
                    _ => return Err(format!("{at}: `refs` must be a list of labels")),
                }
            }
        };
        let mut body = to_json(&table[kind]);
        resolve(&mut body, &labels).map_err(|e| format!("{at}: {e}"))?;
        let payload_json = Json::Object(Map::from_iter([(kind.to_string(), body)]));
        let dynamic = DynamicMessage::deserialize_with_options(
            message("linkage.v1.Payload"),
            payload_json,
            &DeserializeOptions::new().deny_unknown_fields(true),
        )
        .map_err(|e| format!("{at}: {kind}: {e}"))?;
        let payload = pb::Payload::decode(dynamic.encode_to_vec().as_slice()).map_err(|e| format!("{at}: {e}"))?;

        steps.push(Step {
            number,
            node,
            channel: channel.to_string(),
            id: step_id(node.as_str(), number),
            hlc,
            replicated,
            forged,
            expect_error,
            expect_reason,
            topology_version,
            kind: kind.to_string(),
            payload,
            refs,
        });
    }

    let mut expects = Vec::new();
    for (i, table) in expect_tables.iter().enumerate() {
        let number = i + 1;
        let at = format!("{file}: expect {number}");
        let record = text(table, "record", &at)?.ok_or_else(|| format!("{at}: `record` is missing"))?;
        let &(record, key, message_name) =
            RECORD_KINDS.iter().find(|(word, _, _)| *word == record).ok_or_else(|| {
                let words: Vec<&str> = RECORD_KINDS.iter().map(|(w, _, _)| *w).collect();
                format!("{at}: unknown record `{record}`; one of {}", words.join(", "))
            })?;
        let mut id = Json::String(text(table, "id", &at)?.ok_or_else(|| format!("{at}: `id` is missing"))?.into());
        resolve(&mut id, &labels).map_err(|e| format!("{at}: {e}"))?;
        let id = id.as_str().expect("an id stays text").to_string();
        let id = if key == RecordKind::Group { id } else { views::norm(&id) };
        let absent = match table.get("absent") {
            None => false,
            Some(toml::Value::Boolean(b)) => *b,
            Some(_) => return Err(format!("{at}: `absent` must be true or false")),
        };
        let desc = self::message(message_name);
        let mut fields = Map::new();
        for (name, value) in table.iter().filter(|(k, _)| !EXPECT_KEYS.contains(&k.as_str())) {
            if desc.get_field_by_name(name).is_none() {
                let known: Vec<String> = desc.fields().map(|f| f.name().to_string()).collect();
                return Err(format!("{at}: a {record} has no field `{name}`; it has {}", known.join(", ")));
            }
            let mut value = to_json(value);
            resolve(&mut value, &labels).map_err(|e| format!("{at}: {name}: {e}"))?;
            fields.insert(name.clone(), value);
        }
        if absent && !fields.is_empty() {
            return Err(format!("{at}: an absent record has no fields to compare"));
        }
        expects.push(Expect { number, record, key, message: message_name, id, absent, fields });
    }

    Ok(Story { topology, before, context, file: file.to_string(), steps, expects, names })
}

/// What running every story showed; the coverage tests read it even when a
/// story failed, so that one broken story does not hide a coverage gap.
#[derive(Default)]
struct Outcome {
    stories: usize,
    failures: Vec<String>,
    /// Kinds that passed the lifecycle check and were applied.
    kinds_appended: BTreeSet<String>,
    /// (where, field, description) of every expected refusal seen.
    refusals: Vec<(String, String, String)>,
    /// (story file, rule) of every refusal naming a rule of who may say what.
    rules_refused: BTreeSet<(String, &'static str)>,
    /// (story file, rule) of every claim its views list as disputed.
    rules_disputed: BTreeSet<(String, String)>,
    /// Story files in which a claim waited for what it cites.
    rules_pending: BTreeSet<String>,
}

/// The rules of the claims listed as disputed on the records with id `id`.
fn disputed_rules(records: &RecordMap, id: &str) -> Vec<String> {
    let mut rules = Vec::new();
    for (_, kind, _) in RECORD_KINDS {
        let Some(bytes) = records.get(&(*kind, id.to_string())) else { continue };
        let list = match kind {
            RecordKind::Topic => pb::Topic::decode(bytes.as_slice()).map(|r| r.disputed),
            RecordKind::Group => pb::Group::decode(bytes.as_slice()).map(|r| r.disputed),
            RecordKind::Info => pb::InfoItem::decode(bytes.as_slice()).map(|r| r.disputed),
            RecordKind::Notice => pb::Notice::decode(bytes.as_slice()).map(|r| r.disputed),
            RecordKind::Result => pb::Result::decode(bytes.as_slice()).map(|r| r.disputed),
            RecordKind::ScoreRule => pb::ScoreRule::decode(bytes.as_slice()).map(|r| r.disputed),
            RecordKind::Member => pb::CommitteeMember::decode(bytes.as_slice()).map(|r| r.disputed),
            RecordKind::Proposal => pb::Proposal::decode(bytes.as_slice()).map(|r| r.disputed),
            RecordKind::Calendar => pb::HolidayCalendar::decode(bytes.as_slice()).map(|r| r.disputed),
            RecordKind::Duties => pb::DutyRule::decode(bytes.as_slice()).map(|r| r.disputed),
            RecordKind::IndicatorSet => pb::IndicatorSet::decode(bytes.as_slice()).map(|r| r.disputed),
            RecordKind::Ratings => pb::EvaluationRatings::decode(bytes.as_slice()).map(|r| r.disputed),
        };
        rules.extend(list.into_iter().flatten().map(|d| d.rule));
    }
    rules
}

/// The scenario files, sorted, as (file name, text). README.md is allowed
/// beside them; any other file is probably a misnamed story.
fn read_dir(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.ends_with(".toml") {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{name}: {e}"))?;
            files.push((name, text));
        } else if name != "README.md" {
            return Err(format!("{}: `{name}` is not a story; stories end in .toml", dir.display()));
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(format!("{} holds no scenario files", dir.display()));
    }
    Ok(files)
}

fn run_all() -> &'static Outcome {
    static OUTCOME: OnceLock<Outcome> = OnceLock::new();
    OUTCOME.get_or_init(|| {
        let mut out = Outcome::default();
        match read_dir(Path::new(SCENARIO_DIR)) {
            Err(e) => out.failures.push(e),
            Ok(files) => {
                for (file, text) in files {
                    out.stories += 1;
                    match parse_story(&file, &text) {
                        Ok(story) => run_story(&story, &mut out),
                        Err(e) => out.failures.push(e),
                    }
                }
            }
        }
        out
    })
}

/// Plays one story; the first failing step ends it, since later steps would
/// only report the consequences.
fn run_story(story: &Story, out: &mut Outcome) {
    let mut records = BTreeMap::new();
    let mut applied = Vec::new();
    for step in &story.steps {
        let at = step.title(&story.file);
        let request = pb::AppendRequest {
            channel: step.channel.clone(),
            payload: Some(step.payload.clone()),
            refs: step.refs.clone(),
            ..Default::default()
        };
        // The topology the node had loaded: its province alone before the
        // national committee joined (`national_since`).
        let topology = match (step.topology_version, &story.before) {
            (Some(v), Some(before)) if Some(v) <= before.version() => before,
            _ => &story.topology,
        };
        let mut valid = match validate_append(topology, step.node, request) {
            Ok(_) if step.forged => {
                out.failures.push(format!("{at}: the append path takes this event: it is not `forged`"));
                return;
            }
            Err(_) if step.forged => {
                let event = step.event(step.payload.clone(), step.refs.clone());
                views::apply(&event, &mut InContext(&mut records, story.context));
                applied.push(event);
                continue;
            }
            Ok(valid) => valid,
            // Refused before the records are read: the channel, or who may
            // record what under this topology.
            Err(e) if step.expect_error.is_some() => {
                if !refused_as_expected(story, step, &at, &e, out) {
                    return;
                }
                continue;
            }
            Err(e) => {
                out.failures.push(format!("{at}: the append path would not take this event: {e}"));
                return;
            }
        };
        if step.replicated {
            let event = step.event(valid.payload, valid.refs);
            views::apply(&event, &mut InContext(&mut records, story.context));
            applied.push(event);
            let pending = records
                .iter()
                .filter(|((k, _), _)| *k == RecordKind::Group)
                .any(|(_, b)| pb::Group::decode(b.as_slice()).is_ok_and(|g| !g.pending.is_empty()));
            if pending {
                out.rules_pending.insert(story.file.clone());
            }
            continue;
        }
        let kind = views::kind_name(step.payload.kind.as_ref().expect("parsed payloads hold a kind"));
        let before = records.clone();
        let checked = views::check_append(&mut valid, step.node, &mut records);
        if records != before {
            out.failures.push(format!("{at}: check_append changed the records; it must only read them"));
            return;
        }
        match (checked, &step.expect_error) {
            (Ok(()), None) => {
                let event = step.event(valid.payload, valid.refs);
                views::apply(&event, &mut InContext(&mut records, story.context));
                applied.push(event);
                out.kinds_appended.insert(kind.to_string());
            }
            (Ok(()), Some(field)) => {
                out.failures.push(format!("{at}: expected a refusal naming `{field}`, but the step was accepted"));
                return;
            }
            (Err(e), None) => {
                out.failures.push(format!("{at}: refused: {e}"));
                return;
            }
            (Err(e), Some(_)) => {
                if !refused_as_expected(story, step, &at, &e, out) {
                    return;
                }
            }
        }
    }
    for (_, id) in records.keys() {
        for rule in disputed_rules(&records, id) {
            out.rules_disputed.insert((story.file.clone(), rule));
        }
    }

    // The views are a function of the set of events: the same events
    // backwards, then all over again, must leave the same bytes.
    let mut replay = BTreeMap::new();
    for event in applied.iter().rev().chain(&applied) {
        views::apply(event, &mut InContext(&mut replay, story.context));
    }
    if views::dump(&replay) != views::dump(&records) {
        out.failures.push(format!(
            "{}: the story's events applied backwards and twice give other views:\n--- in story order\n{}--- \
             backwards, twice\n{}",
            story.file,
            views::dump(&records),
            views::dump(&replay)
        ));
    }

    for expect in &story.expects {
        if let Err(e) = check_expect(story, expect, &records) {
            out.failures.push(e);
        }
    }
}

/// Whether refusal `e` of `step` is the one it expects (FAILED_PRECONDITION,
/// the field, a reason); notes it in `out` either way.
fn refused_as_expected(story: &Story, step: &Step, at: &str, e: &AppendError, out: &mut Outcome) -> bool {
    let field = step.expect_error.as_deref().unwrap_or_default();
    let v = e.violation();
    let mut wrong = Vec::new();
    if !matches!(e, AppendError::Precondition(_)) {
        wrong.push("it is not a FAILED_PRECONDITION".to_string());
    }
    if v.field != field {
        wrong.push(format!("it names `{}`, not `{field}`", v.field));
    }
    if v.description.trim().is_empty() {
        wrong.push("it does not say why".to_string());
    }
    if let Some(reason) = &step.expect_reason {
        if !v.description.contains(reason.as_str()) {
            wrong.push(format!("its reason does not contain “{reason}”"));
        }
    }
    if !wrong.is_empty() {
        out.failures.push(format!("{at}: refused as expected, but {}: {e}", wrong.join("; ")));
        return false;
    }
    for rule in Breach::ALL {
        if v.description.ends_with(&format!("(rule {})", rule.name())) {
            out.rules_refused.insert((story.file.clone(), rule.name()));
        }
    }
    out.refusals.push((at.to_string(), v.field.clone(), v.description.clone()));
    true
}

fn check_expect(story: &Story, expect: &Expect, records: &RecordMap) -> Result<(), String> {
    let name = story.names.get(&expect.id).cloned().unwrap_or_else(|| expect.id.clone());
    let at = format!("{}: expect {} ({} {name})", story.file, expect.number, expect.record);
    let bytes = records.get(&(expect.key, expect.id.clone()));
    let bytes = match (bytes, expect.absent) {
        (None, true) => return Ok(()),
        (None, false) => {
            let held: Vec<String> =
                records.keys().map(|(kind, id)| rename(&format!("{}{id}", kind.letter()), &story.names)).collect();
            return Err(format!("{at}: no such record; the views hold {}", held.join(", ")));
        }
        (Some(bytes), true) => {
            let actual = record_json(expect.message, bytes);
            return Err(format!("{at}: expected no record, found\n{}", show(&actual, &story.names)));
        }
        (Some(bytes), false) => bytes,
    };
    let actual = record_json(expect.message, bytes);
    let mut diffs = Vec::new();
    compare("", &Json::Object(expect.fields.clone()), &actual, &story.names, &mut diffs);
    if diffs.is_empty() {
        return Ok(());
    }
    Err(format!("{at}:\n  {}\nthe record is\n{}", diffs.join("\n  "), show(&actual, &story.names)))
}

/// A record as proto3 JSON with proto field names, every field present (so
/// that `known = false` or an empty list can be expected) and 64-bit numbers
/// as numbers.
fn record_json(message_name: &str, bytes: &[u8]) -> Json {
    let record = DynamicMessage::decode(message(message_name), bytes).expect("records decode as their message");
    let options =
        SerializeOptions::new().use_proto_field_name(true).skip_default_fields(false).stringify_64_bit_integers(false);
    record.serialize_with_options(serde_json::value::Serializer, &options).expect("records serialize to JSON")
}

/// Objects compare the expected keys only; lists compare in full (same
/// length, each entry by these rules); anything else must be equal.
fn compare(path: &str, expected: &Json, actual: &Json, names: &BTreeMap<String, String>, diffs: &mut Vec<String>) {
    let at = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    match (expected, actual) {
        (Json::Object(e), Json::Object(a)) => {
            for (key, value) in e {
                match a.get(key) {
                    Some(found) => compare(&at(key), value, found, names, diffs),
                    None => diffs.push(format!("{}: the record has no such field", at(key))),
                }
            }
        }
        (Json::Array(e), Json::Array(a)) if e.len() == a.len() => {
            for (i, (e, a)) in e.iter().zip(a).enumerate() {
                compare(&format!("{path}[{i}]"), e, a, names, diffs);
            }
        }
        (Json::Array(e), Json::Array(a)) => {
            diffs.push(format!("{path}: expected {} entries, found {}: {}", e.len(), a.len(), compact(actual, names)))
        }
        _ if expected == actual => {}
        _ => diffs.push(format!("{path}: expected {}, found {}", compact(expected, names), compact(actual, names))),
    }
}

/// Generated ids back to their `@label`s, for messages.
fn relabel(value: &Json, names: &BTreeMap<String, String>) -> Json {
    match value {
        Json::String(s) => Json::String(rename(s, names)),
        Json::Array(items) => Json::Array(items.iter().map(|v| relabel(v, names)).collect()),
        Json::Object(map) => Json::Object(map.iter().map(|(k, v)| (k.clone(), relabel(v, names))).collect()),
        other => other.clone(),
    }
}

fn rename(text: &str, names: &BTreeMap<String, String>) -> String {
    names.iter().fold(text.to_string(), |t, (id, label)| t.replace(id.as_str(), label))
}

fn show(value: &Json, names: &BTreeMap<String, String>) -> String {
    serde_json::to_string_pretty(&relabel(value, names)).expect("JSON prints")
}

fn compact(value: &Json, names: &BTreeMap<String, String>) -> String {
    serde_json::to_string(&relabel(value, names)).expect("JSON prints")
}

#[test]
fn every_story_ends_in_the_expected_views() {
    let out = run_all();
    assert!(
        out.failures.is_empty(),
        "{} failure(s) in {} scenario file(s):\n\n{}",
        out.failures.len(),
        out.stories,
        out.failures.join("\n\n")
    );
}

#[test]
fn the_stories_append_every_payload_kind() {
    let out = run_all();
    let all = payload_kinds();
    let missing: Vec<&String> = all.difference(&out.kinds_appended).collect();
    assert!(missing.is_empty(), "no story appends (and applies) {missing:?}");
    assert_eq!(all, out.kinds_appended);
}

#[test]
fn the_stories_show_every_lifecycle_refusal() {
    let out = run_all();
    let field_of = |field: &str| field.split('[').next().unwrap_or(field).to_string();
    let shown = |(field, fragment): &(&str, &str)| {
        out.refusals.iter().any(|(_, f, d)| field_of(f) == *field && d.contains(fragment))
    };
    let missing: Vec<_> = REFUSALS.iter().filter(|r| !shown(r)).collect();
    assert!(missing.is_empty(), "no story shows these refusals: {missing:#?}");
    let unlisted: Vec<_> = out
        .refusals
        .iter()
        .filter(|(_, f, d)| !REFUSALS.iter().any(|(field, fragment)| field_of(f) == *field && d.contains(fragment)))
        .collect();
    assert!(unlisted.is_empty(), "refusals missing from REFUSALS: {unlisted:#?}");
}

/// Every rule of who may say what has its story, `authority_<rule>.toml`,
/// that shows both its local refusal and a replicated breach listed as
/// disputed. The id rule is the envelope's: the runner names every step's
/// id after its node, so no story can break it (`tests/lies.rs` does, over
/// real nodes).
#[test]
fn every_authority_rule_has_a_story_that_refuses_and_disputes() {
    let out = run_all();
    let mut missing = Vec::new();
    for rule in RULES.iter().filter(|r| r.breach != Breach::IdNotOrigin) {
        let name = rule.breach.name();
        let file = format!("authority_{name}.toml");
        // A node off an item's chain cannot send on it: the channel check
        // (`validate_append`) refuses it before this rule is reached; the
        // rule's own refusal is in `views::append`'s tests.
        // Nor can a node send a rule or a membership change off `all`
        // (`rules::on_all_only`, refused naming `channel`).
        let by_channel = matches!(rule.breach, Breach::HandlingNotOnChain | Breach::NotOnAll);
        if !by_channel && !out.rules_refused.contains(&(file.clone(), name)) {
            missing.push(format!("{file} does not show the local refusal (rule {name})"));
        }
        if !out.rules_disputed.contains(&(file.clone(), name.to_string())) {
            missing.push(format!("{file} does not show a replicated breach disputed ({name})"));
        }
        if rule.judged == Judged::ByCitedEvents && !out.rules_pending.contains(&file) {
            missing.push(format!("{file} does not show a claim pending until what it cites arrives"));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

#[test]
fn an_empty_scenario_directory_fails() {
    let dir = std::env::temp_dir().join(format!("linkage-scenarios-empty-{}", std::process::id()));
    // A run killed before its clean-up may have left files under this pid.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let result = read_dir(&dir);
    std::fs::write(dir.join("story.tml"), "").unwrap();
    let misnamed = read_dir(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(result.unwrap_err().contains("holds no scenario files"));
    assert!(misnamed.unwrap_err().contains("not a story"));
}

#[test]
fn the_runner_refuses_malformed_stories() {
    const STEP: &str = r#"
[[step]]
node = "620722"
channel = "up"
label = "item"
info_reported = { title = "t", body = "b" }
"#;
    let story = |rest: &str| format!("description = \"x\"\n{rest}");
    let cases = [
        (format!("descripton = \"x\"\n{STEP}"), "unknown key `descripton`"),
        (story(&STEP.replace("channel", "chanel")), "unknown key `chanel`"),
        (story(&STEP.replace("title", "titel")), "titel"),
        (story(&STEP.replace("info_reported", "info_reportd")), "unknown key `info_reportd`"),
        (story(&STEP.replace("620722", "62072")), "node `62072`"),
        (story(&STEP.replace("label = \"item\"", "expect_reason = \"x\"")), "`expect_reason` goes with"),
        (story(&(STEP.to_string() + r#"notice_issued = { title = "t" }"#)), "exactly one payload"),
        (
            story(
                &(STEP.to_string()
                    + "[[step]]\nnode = \"620700\"\nchannel = \"up\"\ninfo_published = { info_id = \"@itme\" }"),
            ),
            "unknown label `@itme`",
        ),
        (story(&(STEP.to_string() + "[[expect]]\nrecord = \"info\"\nid = \"@item\"\nstauts = 1")), "no field `stauts`"),
        (story(&(STEP.to_string() + "[[expect]]\nrecord = \"infos\"\nid = \"@item\"")), "unknown record `infos`"),
        (story(""), "at least one [[step]]"),
        (format!("description = \"x\"\ntopology = \"china\"\n{STEP}"), "unknown topology `china`"),
    ];
    for (source, fragment) in cases {
        match parse_story("bad.toml", &source) {
            Ok(_) => panic!("accepted a malformed story (wanted an error with “{fragment}”):\n{source}"),
            Err(e) => assert!(e.contains(fragment), "error “{e}” does not mention “{fragment}”"),
        }
    }
    assert!(parse_story("good.toml", &story(STEP)).is_ok());
}
