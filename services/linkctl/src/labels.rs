//! Short Chinese + English labels for the protocol's enums and node codes,
//! the command-line spellings of those enums, and hlc times.

use clap::ValueEnum;
use linkage_core::pb;
use std::collections::BTreeMap;

/// `TopicCategory` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Category {
    /// 协商
    Consultation,
    /// 调研
    Research,
    /// 视察
    Inspection,
    /// 提案
    Proposal,
    /// 民主监督
    Supervision,
}

impl Category {
    /// The proto value.
    pub fn to_pb(self) -> pb::TopicCategory {
        match self {
            Category::Consultation => pb::TopicCategory::Consultation,
            Category::Research => pb::TopicCategory::Research,
            Category::Inspection => pb::TopicCategory::Inspection,
            Category::Proposal => pb::TopicCategory::Proposal,
            Category::Supervision => pb::TopicCategory::Supervision,
        }
    }
}

/// `AdoptionLevel` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Adoption {
    /// 县级
    County,
    /// 市级
    City,
    /// 省级
    Province,
    /// 全国
    National,
}

impl Adoption {
    /// The proto value.
    pub fn to_pb(self) -> pb::AdoptionLevel {
        match self {
            Adoption::County => pb::AdoptionLevel::County,
            Adoption::City => pb::AdoptionLevel::City,
            Adoption::Province => pb::AdoptionLevel::Province,
            Adoption::National => pb::AdoptionLevel::National,
        }
    }
}

/// `LeaderRank` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Rank {
    /// 分管领导 or another deputy
    Deputy,
    /// 主要领导
    Principal,
}

impl Rank {
    /// The proto value.
    pub fn to_pb(self) -> pb::LeaderRank {
        match self {
            Rank::Deputy => pb::LeaderRank::Deputy,
            Rank::Principal => pb::LeaderRank::Principal,
        }
    }
}

/// 主要领导/principal.
pub fn rank(value: i32) -> String {
    match pb::LeaderRank::try_from(value) {
        Ok(pb::LeaderRank::Unspecified) => "-".into(),
        Ok(pb::LeaderRank::Deputy) => "分管领导/deputy".into(),
        Ok(pb::LeaderRank::Principal) => "主要领导/principal".into(),
        Err(_) => unknown(value),
    }
}

/// 已转报/forwarded: where an item is at one level.
pub fn handling_state(value: i32) -> String {
    match pb::HandlingState::try_from(value) {
        Ok(pb::HandlingState::Unspecified) => "-".into(),
        Ok(pb::HandlingState::Received) => "已收到/received".into(),
        Ok(pb::HandlingState::Declined) => "不采用/declined".into(),
        Ok(pb::HandlingState::Returned) => "已退回/returned".into(),
        Ok(pb::HandlingState::Merged) => "已综合/merged".into(),
        Ok(pb::HandlingState::Published) => "已编发/published".into(),
        Ok(pb::HandlingState::Forwarded) => "已转报/forwarded".into(),
        Ok(pb::HandlingState::Adopted) => "已采用/adopted".into(),
        Ok(pb::HandlingState::Instructed) => "已批示/instructed".into(),
        Ok(pb::HandlingState::Feedback) => "已反馈/feedback".into(),
        Err(_) => unknown(value),
    }
}

/// `TopicResponse` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Response {
    /// 参加
    Joined,
    /// 不参加
    Declined,
}

impl Response {
    /// The proto value.
    pub fn to_pb(self) -> pb::TopicResponse {
        match self {
            Response::Joined => pb::TopicResponse::Joined,
            Response::Declined => pb::TopicResponse::Declined,
        }
    }
}

/// `TopicOutcome` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Outcome {
    /// 撤回
    Withdrawn,
    /// 合并 (with --into-topic-id)
    Merged,
    /// 未列入计划
    NotSelected,
}

impl Outcome {
    /// The proto value.
    pub fn to_pb(self) -> pb::TopicOutcome {
        match self {
            Outcome::Withdrawn => pb::TopicOutcome::Withdrawn,
            Outcome::Merged => pb::TopicOutcome::Merged,
            Outcome::NotSelected => pb::TopicOutcome::NotSelected,
        }
    }
}

/// What a notice asks back, on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Returns {
    /// 选题 (topic_proposed replies)
    Topics,
    /// 社情民意 (info_reported replies)
    Items,
    /// 调研报告 (research_completed replies)
    Reports,
}

impl Returns {
    /// The proto value.
    pub fn to_pb(self) -> pb::NoticeReturn {
        match self {
            Returns::Topics => pb::NoticeReturn::Topics,
            Returns::Items => pb::NoticeReturn::Items,
            Returns::Reports => pb::NoticeReturn::Reports,
        }
    }
}

/// What a notice asks back, for people.
pub fn notice_return(value: i32) -> String {
    match pb::NoticeReturn::try_from(value).unwrap_or_default() {
        pb::NoticeReturn::Unspecified => "-".into(),
        pb::NoticeReturn::Topics => "选题/topics".into(),
        pb::NoticeReturn::Items => "社情民意/items".into(),
        pb::NoticeReturn::Reports => "调研报告/reports".into(),
    }
}

/// A committee's `Level` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LevelArg {
    /// 全国政协
    National,
    /// 省政协
    Province,
    /// 市州政协
    City,
    /// 县市区政协
    County,
}

impl LevelArg {
    /// The proto value.
    pub fn to_pb(self) -> pb::Level {
        match self {
            LevelArg::National => pb::Level::National,
            LevelArg::Province => pb::Level::Province,
            LevelArg::City => pb::Level::City,
            LevelArg::County => pb::Level::County,
        }
    }
}

/// `TopicStatus` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TopicStatusArg {
    /// 已提出
    Proposed,
    /// 已联动
    Linked,
    /// 已列入计划
    Planned,
    /// 已关闭 (withdrawn, merged or not selected)
    Closed,
}

impl TopicStatusArg {
    /// The proto value.
    pub fn to_pb(self) -> pb::TopicStatus {
        match self {
            TopicStatusArg::Proposed => pb::TopicStatus::Proposed,
            TopicStatusArg::Linked => pb::TopicStatus::Linked,
            TopicStatusArg::Planned => pb::TopicStatus::Planned,
            TopicStatusArg::Closed => pb::TopicStatus::Closed,
        }
    }
}

/// `InfoStatus` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InfoStatusArg {
    /// 已报送
    Submitted,
    /// 已编发
    Published,
    /// 已转报
    Forwarded,
    /// 已采用
    Adopted,
    /// 已批示
    Instructed,
    /// 已反馈
    Feedback,
}

impl InfoStatusArg {
    /// The proto value.
    pub fn to_pb(self) -> pb::InfoStatus {
        match self {
            InfoStatusArg::Submitted => pb::InfoStatus::Submitted,
            InfoStatusArg::Published => pb::InfoStatus::Published,
            InfoStatusArg::Forwarded => pb::InfoStatus::Forwarded,
            InfoStatusArg::Adopted => pb::InfoStatus::Adopted,
            InfoStatusArg::Instructed => pb::InfoStatus::Instructed,
            InfoStatusArg::Feedback => pb::InfoStatus::Feedback,
        }
    }
}

/// An enum value this linkctl does not know (a newer node), shown by number.
fn unknown(value: i32) -> String {
    format!("?{value}")
}

/// 调研/research.
pub fn category(value: i32) -> String {
    match pb::TopicCategory::try_from(value) {
        Ok(pb::TopicCategory::Unspecified) => "-".into(),
        Ok(pb::TopicCategory::Consultation) => "协商/consultation".into(),
        Ok(pb::TopicCategory::Research) => "调研/research".into(),
        Ok(pb::TopicCategory::Inspection) => "视察/inspection".into(),
        Ok(pb::TopicCategory::Proposal) => "提案/proposal".into(),
        Ok(pb::TopicCategory::Supervision) => "民主监督/supervision".into(),
        Err(_) => unknown(value),
    }
}

/// 已联动/linked.
pub fn topic_status(value: i32) -> String {
    match pb::TopicStatus::try_from(value) {
        Ok(pb::TopicStatus::Unspecified) => "-".into(),
        Ok(pb::TopicStatus::Proposed) => "已提出/proposed".into(),
        Ok(pb::TopicStatus::Linked) => "已联动/linked".into(),
        Ok(pb::TopicStatus::Planned) => "已列入计划/planned".into(),
        Ok(pb::TopicStatus::Closed) => "已关闭/closed".into(),
        Err(_) => unknown(value),
    }
}

/// 撤回/withdrawn.
pub fn outcome(value: i32) -> String {
    match pb::TopicOutcome::try_from(value) {
        Ok(pb::TopicOutcome::Unspecified) => "-".into(),
        Ok(pb::TopicOutcome::Withdrawn) => "撤回/withdrawn".into(),
        Ok(pb::TopicOutcome::Merged) => "合并/merged".into(),
        Ok(pb::TopicOutcome::NotSelected) => "未列入计划/not selected".into(),
        Err(_) => unknown(value),
    }
}

/// 参加/joined.
pub fn response(value: i32) -> String {
    match pb::TopicResponse::try_from(value) {
        Ok(pb::TopicResponse::Unspecified) => "-".into(),
        Ok(pb::TopicResponse::Joined) => "参加/joined".into(),
        Ok(pb::TopicResponse::Declined) => "不参加/declined".into(),
        Err(_) => unknown(value),
    }
}

/// 已转报/forwarded.
pub fn info_status(value: i32) -> String {
    match pb::InfoStatus::try_from(value) {
        Ok(pb::InfoStatus::Unspecified) => "-".into(),
        Ok(pb::InfoStatus::Submitted) => "已报送/submitted".into(),
        Ok(pb::InfoStatus::Published) => "已编发/published".into(),
        Ok(pb::InfoStatus::Forwarded) => "已转报/forwarded".into(),
        Ok(pb::InfoStatus::Adopted) => "已采用/adopted".into(),
        Ok(pb::InfoStatus::Instructed) => "已批示/instructed".into(),
        Ok(pb::InfoStatus::Feedback) => "已反馈/feedback".into(),
        Ok(pb::InfoStatus::Declined) => "不采用/declined".into(),
        Ok(pb::InfoStatus::Returned) => "已退回/returned".into(),
        Ok(pb::InfoStatus::Merged) => "已综合/merged".into(),
        Err(_) => unknown(value),
    }
}

/// 省级 (the level alone, as in 采用:省级).
pub fn adoption_short(value: i32) -> String {
    match pb::AdoptionLevel::try_from(value) {
        Ok(pb::AdoptionLevel::Unspecified) => "-".into(),
        Ok(pb::AdoptionLevel::County) => "县级".into(),
        Ok(pb::AdoptionLevel::City) => "市级".into(),
        Ok(pb::AdoptionLevel::Province) => "省级".into(),
        Ok(pb::AdoptionLevel::National) => "全国".into(),
        Err(_) => unknown(value),
    }
}

/// 省级/province.
pub fn adoption(value: i32) -> String {
    let en = match pb::AdoptionLevel::try_from(value) {
        Ok(pb::AdoptionLevel::Unspecified) => return "-".into(),
        Ok(pb::AdoptionLevel::County) => "county",
        Ok(pb::AdoptionLevel::City) => "city",
        Ok(pb::AdoptionLevel::Province) => "province",
        Ok(pb::AdoptionLevel::National) => "national",
        Err(_) => return unknown(value),
    };
    format!("{}/{en}", adoption_short(value))
}

/// One step of a 社情民意 trail: 已转报/forwarded, or 采用:省级 for an adoption.
pub fn trail_step(step: i32, level: i32) -> String {
    if step == pb::InfoStatus::Adopted as i32 && level != 0 {
        format!("采用:{}", adoption_short(level))
    } else {
        info_status(step)
    }
}

/// 省/province.
pub fn level(value: i32) -> String {
    match pb::Level::try_from(value) {
        Ok(pb::Level::Unspecified) => "-".into(),
        Ok(pb::Level::National) => "全国/national".into(),
        Ok(pb::Level::Province) => "省/province".into(),
        Ok(pb::Level::City) => "市/city".into(),
        Ok(pb::Level::County) => "县/county".into(),
        Err(_) => unknown(value),
    }
}

/// An hlc as UTC `YYYY-MM-DD HH:MM`; `-` for 0.
pub fn hlc_time(hlc: u64) -> String {
    if hlc == 0 {
        return "-".into();
    }
    linkage_core::hlc::utc_minutes(hlc)
}

/// A protobuf timestamp as UTC `YYYY-MM-DD HH:MM`; `-` when unset.
pub fn timestamp(t: Option<&prost_types::Timestamp>) -> String {
    let Some(t) = t else { return "-".into() };
    let Ok(secs) = u64::try_from(t.seconds) else { return format!("{}s", t.seconds) };
    linkage_core::hlc::utc_minutes_of_ms(secs.saturating_mul(1000))
}

/// `--document` roots as references the node fills in from what was put
/// there.
pub fn document_roots(roots: &[String]) -> anyhow::Result<Vec<pb::DocumentRef>> {
    roots
        .iter()
        .map(|text| match linkage_core::documents::parse_root(text) {
            Some(root) => Ok(pb::DocumentRef { root: root.to_vec(), ..Default::default() }),
            None => {
                anyhow::bail!("--document {text}: must be a document's root, 64 hex digits (`linkctl document put`)")
            }
        })
        .collect()
}

/// Parses an RFC 3339 time for a flag: `2027-03-31T00:00:00Z`,
/// `2027-05-10T09:00:00+08:00` (any offset), or a date alone (`2027-03-31`,
/// midnight UTC).
pub fn parse_time(flag: &str, text: &str) -> anyhow::Result<prost_types::Timestamp> {
    let bad = |why: String| anyhow::anyhow!("{flag} {text:?}: {why} (expected RFC 3339, e.g. 2027-03-31T00:00:00Z)");
    let trimmed = text.trim();
    // humantime reads UTC only: take a ±HH:MM offset off and apply it ourselves.
    let (utc, offset_secs) = match trimmed.len().checked_sub(6).map(|at| trimmed.split_at(at)) {
        Some((head, tail)) if head.len() >= 19 && (tail.starts_with('+') || tail.starts_with('-')) => {
            let sign = if tail.starts_with('-') { -1 } else { 1 };
            let (h, m) = tail[1..].split_once(':').ok_or_else(|| bad("bad offset".into()))?;
            let (h, m): (i64, i64) =
                (h.parse().map_err(|_| bad("bad offset".into()))?, m.parse().map_err(|_| bad("bad offset".into()))?);
            (head.to_owned(), sign * (h * 3600 + m * 60))
        }
        _ if trimmed.len() == 10 => (format!("{trimmed}T00:00:00Z"), 0),
        _ => (trimmed.to_owned(), 0),
    };
    let t = humantime::parse_rfc3339_weak(&utc).map_err(|e| bad(e.to_string()))?;
    let d = t.duration_since(std::time::UNIX_EPOCH).map_err(|_| bad("before 1970".into()))?;
    Ok(prost_types::Timestamp { seconds: d.as_secs() as i64 - offset_secs, nanos: d.subsec_nanos() as i32 })
}

/// Node names by code, for showing `民乐县 620722` instead of a bare code.
#[derive(Clone, Debug, Default)]
pub struct Names(BTreeMap<String, String>);

impl Names {
    /// Every node of a topology.
    pub fn from_topology(topology: &linkage_core::Topology) -> Names {
        Names(topology.nodes().map(|n| (n.code.to_string(), n.name.clone())).collect())
    }

    /// One known node.
    pub fn one(code: &str, name: &str) -> Names {
        Names(BTreeMap::from([(code.to_owned(), name.to_owned())]))
    }

    /// The name of a code, when known.
    pub fn name(&self, code: &str) -> Option<&str> {
        self.0.get(code).map(String::as_str)
    }

    /// `民乐县 620722`, or the bare code when the name is unknown; `-` for empty.
    pub fn show(&self, code: &str) -> String {
        match self.name(code) {
            _ if code.is_empty() => "-".into(),
            Some(name) => format!("{name} {code}"),
            None => code.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_labels_are_chinese_and_english() {
        assert_eq!(category(pb::TopicCategory::Research as i32), "调研/research");
        assert_eq!(category(pb::TopicCategory::Supervision as i32), "民主监督/supervision");
        assert_eq!(category(0), "-");
        assert_eq!(category(99), "?99");
        assert_eq!(topic_status(pb::TopicStatus::Linked as i32), "已联动/linked");
        assert_eq!(info_status(pb::InfoStatus::Forwarded as i32), "已转报/forwarded");
        assert_eq!(info_status(pb::InfoStatus::Feedback as i32), "已反馈/feedback");
        assert_eq!(adoption(pb::AdoptionLevel::National as i32), "全国/national");
        assert_eq!(response(pb::TopicResponse::Declined as i32), "不参加/declined");
        assert_eq!(level(pb::Level::County as i32), "县/county");
    }

    #[test]
    fn an_adoption_step_names_its_level() {
        let adopted = pb::InfoStatus::Adopted as i32;
        assert_eq!(trail_step(adopted, pb::AdoptionLevel::Province as i32), "采用:省级");
        assert_eq!(trail_step(adopted, 0), "已采用/adopted");
        assert_eq!(trail_step(pb::InfoStatus::Instructed as i32, 0), "已批示/instructed");
    }

    #[test]
    fn every_cli_value_maps_to_a_known_label() {
        for c in Category::value_variants() {
            assert!(!category(c.to_pb() as i32).starts_with(['-', '?']));
        }
        for s in InfoStatusArg::value_variants() {
            assert!(!info_status(s.to_pb() as i32).starts_with(['-', '?']));
        }
        for s in TopicStatusArg::value_variants() {
            assert!(!topic_status(s.to_pb() as i32).starts_with(['-', '?']));
        }
        for a in Adoption::value_variants() {
            assert!(!adoption(a.to_pb() as i32).starts_with(['-', '?']));
        }
        for l in LevelArg::value_variants() {
            assert!(!level(l.to_pb() as i32).starts_with(['-', '?']));
        }
    }

    #[test]
    fn hlc_times_are_utc_minutes() {
        // 2026-11-27T09:05:30.123Z with a logical counter of 7.
        let ms: u64 = 1_795_770_330_123;
        assert_eq!(hlc_time((ms << 16) | 7), "2026-11-27 09:05");
        assert_eq!(hlc_time(0), "-");
        let t = parse_time("--due", "2027-03-31T00:00:00Z").unwrap();
        assert_eq!(timestamp(Some(&t)), "2027-03-31 00:00");
        assert_eq!(timestamp(None), "-");
        assert!(parse_time("--due", "next tuesday").unwrap_err().to_string().contains("--due"));
        let beijing = parse_time("--starts", "2027-05-10T09:00:00+08:00").unwrap();
        assert_eq!(beijing.seconds, 1_809_910_800, "2027-05-10T01:00:00Z");
        assert_eq!(parse_time("--at", "2027-05-10T01:00:00-00:30").unwrap().seconds, 1_809_910_800 + 1800);
        assert_eq!(parse_time("--due", "2027-03-31").unwrap(), t);
        assert_eq!(parse_time("--due", "2027-03-31T00:00:00+00:00").unwrap(), t);
    }

    #[test]
    fn names_show_the_code_when_unknown() {
        let names = Names::one("620722", "民乐县");
        assert_eq!(names.show("620722"), "民乐县 620722");
        assert_eq!(names.show("620700"), "620700");
        assert_eq!(names.show(""), "-");
    }
}
