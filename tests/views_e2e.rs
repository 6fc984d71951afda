//! The `make demo` story on the demo topology (real nats-server, real node
//! processes, the real linkctl), then every view checked on every node:
//! - each node's records are exactly the fold of the events it holds;
//! - nodes that hold the same events for a record answer with the same bytes;
//! - the story's outcome is visible where it should be.

use linkage_core::views::{self, RecordKind, RecordMap, Records};
use linkage_core::{pb, NodeCode, Topology};
use linkage_proto::v1::evaluation_service_client::EvaluationServiceClient;
use linkage_proto::v1::exchange_service_client::ExchangeServiceClient;
use linkage_proto::v1::member_service_client::MemberServiceClient;
use linkage_proto::v1::planning_service_client::PlanningServiceClient;
use linkage_proto::v1::progress_service_client::ProgressServiceClient;
use linkage_proto::v1::proposal_service_client::ProposalServiceClient;
use linkage_proto::v1::results_service_client::ResultsServiceClient;
use linkage_testkit::topology::{Key, LocalTopology};
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Every record a node serves, by (record kind, id), as encoded bytes.
async fn served(topo: &LocalTopology, code: &str) -> BTreeMap<(RecordKind, String), Vec<u8>> {
    let channel = topo.channel(code).await.unwrap();
    let mut out = BTreeMap::new();
    let mut planning = PlanningServiceClient::new(channel.clone());
    let mut progress = ProgressServiceClient::new(channel.clone());
    let mut exchange = ExchangeServiceClient::new(channel.clone());
    let mut results = ResultsServiceClient::new(channel.clone());
    // Small pages, so that paging is part of what is checked.
    let mut token = String::new();
    loop {
        let page = planning
            .list_topics(pb::ListTopicsRequest { page_size: 2, page_token: token, ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        for t in page.topics {
            let mut one = planning.get_topic(pb::GetTopicRequest { id: t.id.clone() }).await.unwrap().into_inner();
            // Get fills the summary in from the log; lists leave it out.
            let one = one.topic.as_mut().unwrap();
            assert!(!one.summary.is_empty(), "{code}: GetTopic fills in the summary");
            one.summary.clear();
            assert_eq!(one, &t, "{code}: GetTopic and ListTopics disagree");
            out.insert((RecordKind::Topic, t.id.clone()), t.encode_to_vec());
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let groups = progress.list_groups(pb::ListGroupsRequest::default()).await.unwrap().into_inner();
    for g in groups.groups {
        out.insert((RecordKind::Group, g.group_id.clone()), g.encode_to_vec());
    }
    let mut token = String::new();
    loop {
        let page = exchange
            .list_info_items(pb::ListInfoItemsRequest { page_size: 1, page_token: token, ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        for i in page.items {
            out.insert((RecordKind::Info, i.id.clone()), i.encode_to_vec());
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let notices = exchange.list_notices(pb::ListNoticesRequest::default()).await.unwrap().into_inner();
    for n in notices.notices {
        let n = n.notice.unwrap();
        out.insert((RecordKind::Notice, n.id.clone()), n.encode_to_vec());
    }
    let list = results.list_results(pb::ListResultsRequest::default()).await.unwrap().into_inner();
    for r in list.results {
        out.insert((RecordKind::Result, r.id.clone()), r.encode_to_vec());
    }
    let rules = exchange.list_score_rules(pb::ListScoreRulesRequest::default()).await.unwrap().into_inner();
    for r in rules.rules {
        out.insert((RecordKind::ScoreRule, r.id.clone()), r.encode_to_vec());
    }
    let mut members = MemberServiceClient::new(channel.clone());
    let list = members.list_members(pb::ListMembersRequest { include_left: true, ..Default::default() }).await;
    for m in list.unwrap().into_inner().members {
        out.insert((RecordKind::Member, m.member_id.clone()), m.encode_to_vec());
    }
    let mut proposals = ProposalServiceClient::new(channel);
    let list = proposals.list_proposals(pb::ListProposalsRequest::default()).await.unwrap().into_inner();
    for p in list.proposals {
        out.insert((RecordKind::Proposal, p.id.clone()), p.encode_to_vec());
    }
    out
}

/// Kinds no list serves whole: the province's calendar, duty rule,
/// indicator sets and the ratings are served through what they govern
/// (objection windows, members' duties, evaluations).
const NOT_LISTED: [RecordKind; 4] =
    [RecordKind::Calendar, RecordKind::Duties, RecordKind::IndicatorSet, RecordKind::Ratings];

/// The records a fold of `events` gives, known ones only (lists hide the
/// rest), and which events touched each.
type Folded = (BTreeMap<(RecordKind, String), Vec<u8>>, BTreeMap<(RecordKind, String), BTreeSet<String>>);

fn fold(events: &BTreeMap<Key, pb::Event>) -> Folded {
    let mut records = RecordMap::new();
    let mut touched: BTreeMap<(RecordKind, String), BTreeSet<String>> = BTreeMap::new();
    for e in events.values() {
        let Some(kind) = e.payload.as_ref().and_then(|p| p.kind.as_ref()) else { continue };
        let (_, record_kind, ids) = views::touches(kind, &views::norm(&e.id));
        for id in ids {
            touched.entry((record_kind, id)).or_default().insert(e.id.clone());
        }
        for notice in views::replied_notices(e) {
            touched.entry((RecordKind::Notice, notice)).or_default().insert(e.id.clone());
        }
        views::apply(e, &mut records);
    }
    let mut known = BTreeMap::new();
    for (record_kind, id) in touched.keys() {
        let key = records.key(*record_kind, id);
        let Some(bytes) = Records::get(&mut records, &key) else { continue };
        let is_known = match *record_kind {
            RecordKind::Topic => pb::Topic::decode(bytes.as_slice()).unwrap().known,
            RecordKind::Group => pb::Group::decode(bytes.as_slice()).unwrap().known,
            RecordKind::Info => pb::InfoItem::decode(bytes.as_slice()).unwrap().known,
            RecordKind::Notice => pb::Notice::decode(bytes.as_slice()).unwrap().known,
            RecordKind::Result => pb::Result::decode(bytes.as_slice()).unwrap().known,
            RecordKind::ScoreRule => pb::ScoreRule::decode(bytes.as_slice()).unwrap().known,
            RecordKind::Member => pb::CommitteeMember::decode(bytes.as_slice()).unwrap().known,
            RecordKind::Proposal => pb::Proposal::decode(bytes.as_slice()).unwrap().known,
            RecordKind::Calendar => pb::HolidayCalendar::decode(bytes.as_slice()).unwrap().known,
            RecordKind::Duties => pb::DutyRule::decode(bytes.as_slice()).unwrap().known,
            RecordKind::IndicatorSet => pb::IndicatorSet::decode(bytes.as_slice()).unwrap().known,
            RecordKind::Ratings => pb::EvaluationRatings::decode(bytes.as_slice()).unwrap().known,
        };
        if is_known && !NOT_LISTED.contains(record_kind) {
            known.insert((*record_kind, id.clone()), bytes);
        }
    }
    (known, touched)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_story_gives_every_node_its_share_of_identical_views() {
    let workdir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(linkage_testkit::workspace_root().join("deploy/demo.sh"))
        .env("LINKAGE_BIN_DIR", linkage_testkit::bin_dir())
        .env("LINKAGE_DEMO_WORKDIR", workdir.path())
        .env("LINKAGE_DEMO_KEEP", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let has_topology = workdir.path().join("nodes.json").exists();
    let topo = has_topology.then(|| LocalTopology::attach(workdir, linkage_testkit::bin_dir()).unwrap());
    assert!(out.status.success(), "the demo failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    let topo = topo.unwrap();
    for code in ["620000", "620700", "620722"] {
        assert!(stdout.contains(&format!("What {code} sees — 互通 results")), "the demo shows {code}'s views");
    }
    assert!(stdout.contains("河西走廊节水农业发展调研报告"), "the demo prints the result:\n{stdout}");
    // The forged national adoption: refused at 民乐县, disputed at the province.
    assert!(stderr.contains("(rule adoption_not_own_level)"), "the demo shows the refusal:\n{stderr}");
    assert!(stdout.contains("disputed 存疑"), "the demo shows the disputed claim:\n{stdout}");
    // The 征集 notice: 张掖市 and 武威市 returned, 古浪县 overdue and reminded.
    for shown in
        ["returns 报送 (6)", "张掖市 620700         1", "武威市 620600         1", "overdue 逾期", "reminders 催办 (1)"]
    {
        assert!(stdout.contains(shown), "the demo shows the notice's returns ({shown}):\n{stdout}");
    }

    let codes = topo.codes();
    let holdings = topo.converge(&codes, Duration::from_secs(60)).await;
    let topology = Topology::from_toml(&std::fs::read_to_string(topo.topology_file()).unwrap()).unwrap();

    // 0. The 批示 on 民乐县's item went along its chain: held by 民乐县,
    // 张掖市 and the province, and by no other node.
    let instructed = |e: &pb::Event| {
        matches!(e.payload.as_ref().and_then(|p| p.kind.as_ref()), Some(pb::payload::Kind::InfoInstructed(_)))
    };
    let holders: Vec<&str> =
        codes.iter().filter(|c| holdings[*c].values().any(instructed)).map(String::as_str).collect();
    assert_eq!(holders, ["620000", "620700", "620722"], "who holds the 批示");
    assert!(stdout.contains("古浪县 does not hold it"), "{stdout}");

    // 1. Each node serves exactly the fold of what it holds.
    let mut all_served = BTreeMap::new();
    let mut all_touched = BTreeMap::new();
    for code in &codes {
        let served = served(&topo, code).await;
        let (expected, touched) = fold(&holdings[code]);
        let served_keys: BTreeSet<_> = served.keys().collect();
        let expected_keys: BTreeSet<_> = expected.keys().collect();
        assert_eq!(served_keys, expected_keys, "{code} serves other records than its events give");
        for (key, bytes) in &expected {
            assert_eq!(&served[key], bytes, "{code}: record {key:?} differs from the fold of its events");
        }
        all_served.insert(code.clone(), served);
        all_touched.insert(code.clone(), touched);
    }

    // 2. Same contributing events, same bytes, on every node.
    let mut compared = 0;
    for (a, served_a) in &all_served {
        for (b, served_b) in &all_served {
            if a >= b {
                continue;
            }
            for (key, bytes) in served_a {
                if all_touched[a].get(key) == all_touched[b].get(key) {
                    assert_eq!(served_b.get(key), Some(bytes), "{a} and {b} hold the same events of {key:?}");
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 50, "only {compared} record comparisons: the story is too thin");

    // 3. The story's outcome, where it should be seen.
    let mut exchange = ExchangeServiceClient::new(topo.channel("620000").await.unwrap());
    let items = exchange.list_info_items(pb::ListInfoItemsRequest::default()).await.unwrap().into_inner().items;
    assert_eq!(items.len(), 1, "the province holds 民乐县's item");
    let item = &items[0];
    assert_eq!(item.origin, "620722");
    assert_eq!(item.status, pb::InfoStatus::Feedback as i32);
    assert!(item.body.is_empty(), "lists leave the body in the log");
    let full = exchange.get_info_item(pb::GetInfoItemRequest { id: item.id.clone() }).await.unwrap().into_inner();
    assert!(full.item.as_ref().unwrap().body.contains("供水管网"), "GetInfoItem fills the body in");
    // By the province's rule: adopted two levels above the county (20), a
    // principal leader's 批示 two levels above (20).
    assert_eq!(full.score, 40);
    let levels: Vec<(i32, &str, i32)> =
        full.item.as_ref().unwrap().levels.iter().map(|l| (l.level, l.node.as_str(), l.state)).collect();
    use pb::{AdoptionLevel as A, HandlingState as H};
    assert_eq!(
        levels,
        [
            (A::County as i32, "620722", H::Forwarded as i32),
            (A::City as i32, "620700", H::Forwarded as i32),
            (A::Province as i32, "620000", H::Feedback as i32),
        ],
        "each level's handling"
    );
    assert!(item.trail.iter().any(|e| e.step == pb::InfoStatus::Forwarded as i32 && e.origin == "620700"));
    let stats = exchange.get_info_statistics(pb::GetInfoStatisticsRequest::default()).await.unwrap().into_inner();
    let row = stats.rows.iter().find(|r| r.node == "620722").expect("民乐县 has a row");
    assert_eq!((row.submitted, row.forwarded, row.adopted_province, row.score), (1, 1, 1, 40));
    // Issue 22: the county ranks itself as the province ranks it, over the same period.
    let period = pb::GetInfoRankingRequest {
        start: Some(prost_types::Timestamp { seconds: 1_767_225_600, nanos: 0 }), // 2026-01-01
        ..Default::default()
    };
    let ranking = exchange.get_info_ranking(period.clone()).await.unwrap().into_inner();
    assert_eq!(ranking.rules.len(), 1, "the province's one rule");
    let at_province = ranking.rows.iter().find(|r| r.node == "620722").cloned().expect("民乐县 is ranked");
    assert_eq!((at_province.points, at_province.adoptions, at_province.instructions), (40, 1, 1));
    let zhangye = ranking.rows.iter().find(|r| r.node == "620700").expect("张掖市 earns forwarding credit");
    assert_eq!(zhangye.forward_points, 4);
    let mut own = ExchangeServiceClient::new(topo.channel("620722").await.unwrap());
    let at_county = own.get_info_ranking(period).await.unwrap().into_inner();
    // Its points, adoptions and 批示 (its rank depends on whom else a node holds).
    let unranked = |r: &pb::RankingRow| pb::RankingRow { rank: 0, ..r.clone() };
    let at_county = at_county.rows.iter().find(|r| r.node == "620722").map(unranked);
    assert_eq!(at_county, Some(unranked(&at_province)), "the county's own row");
    assert!(stdout.contains("rank 名次"), "the demo prints the ranking:\n{stdout}");

    // Issue 23: the proposal and one member's N个一, the same field by field
    // at the province and at 张掖市, and not empty.
    let proposal_at = async |code: &str| {
        let mut client = ProposalServiceClient::new(topo.channel(code).await.unwrap());
        let list = client.list_proposals(pb::ListProposalsRequest::default()).await.unwrap().into_inner();
        assert_eq!(list.proposals.len(), 1, "{code} holds 民乐县's proposal");
        let id = list.proposals[0].id.clone();
        client.get_proposal(pb::GetProposalRequest { id }).await.unwrap().into_inner()
    };
    let proposal = proposal_at("620000").await;
    assert_eq!(proposal_at("620700").await, proposal, "the province and 张掖市 serve one proposal");
    let p = proposal.proposal.as_ref().unwrap();
    assert_eq!((p.origin.as_str(), p.co_signers.as_slice()), ("620722", ["620700".to_string()].as_slice()));
    assert!(p.body.contains("高效节水"), "GetProposal fills the text in");
    assert_eq!(p.documents.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["提案全文.md"]);
    let letters: Vec<&str> = p.trail.iter().flat_map(|e| e.documents.iter().map(|d| d.name.as_str())).collect();
    assert_eq!(letters, ["答复函.md"], "the answer's letter, filled in from the answering event");
    assert!(stdout.contains("提案全文 at 甘肃省: identical") && stdout.contains("答复函 at 民乐县: identical"));
    assert_eq!(p.state, pb::ProposalState::Concluded as i32);
    let top = p.handlings.last().unwrap();
    assert_eq!((top.node.as_str(), top.number.as_str(), top.lead_unit.as_str()), ("620000", "第0123号", "省水利厅"));
    assert_eq!((top.class, top.satisfaction), (pb::AnswerClass::B as i32, pb::Satisfaction::Satisfied as i32));
    assert!(stderr.contains("(rule rating_not_by_proposer)"), "the demo shows the refusal:\n{stderr}");
    let duties_at = async |code: &str| {
        let mut client = MemberServiceClient::new(topo.channel(code).await.unwrap());
        let year = linkage_core::proposals::year_in_china(p.hlc);
        let request = pb::ListMemberActivityRequest { year, committee: "620722".into(), ..Default::default() };
        client.list_member_activity(request).await.unwrap().into_inner()
    };
    let duties = duties_at("620000").await;
    assert_eq!(duties_at("620700").await, duties, "the province and 张掖市 count the member alike");
    let zhang = duties.rows.iter().find(|r| r.member_id == "620722-zhang-0017").expect("the member's row");
    assert_eq!((zhang.proposals, zhang.proposals_filed, zhang.themed_talks), (1, 1, 1));
    assert!(zhang.meets_duties && zhang.duties.len() == 2, "{zhang:?}");
    assert!(duties.duty_rule.is_some(), "the province's duty rule");
    assert!(stdout.contains("1 of 1 members meet their duties"), "the demo prints the roll-up:\n{stdout}");

    // The proposal's evaluation, alike at the province and at 民乐县, as of one moment.
    let as_of = Some(prost_types::Timestamp {
        seconds: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64,
        nanos: 0,
    });
    let evaluation_at = async |code: &str| {
        let mut client = EvaluationServiceClient::new(topo.channel(code).await.unwrap());
        let request = pb::EvaluateRequest { subject_id: p.id.clone(), as_of };
        client.evaluate(request).await.unwrap().into_inner().evaluation.unwrap()
    };
    let evaluation = evaluation_at("620000").await;
    assert_eq!(evaluation_at("620722").await, evaluation, "the province and 民乐县 evaluate alike");
    let awarded: Vec<f64> = evaluation.indicators.iter().map(|i| i.awarded).collect();
    // Filed, answered on time, satisfied; 张掖市's 34 for quality (民乐县's own rating refused).
    assert_eq!(awarded, [20.0, 20.0, 20.0, 34.0], "{evaluation:?}");
    assert_eq!((evaluation.total, evaluation.grade.as_str()), (94.0, "优秀"));
    assert!(stderr.contains("(rule self_evaluation)"), "the demo shows the refusal:\n{stderr}");
    let notices = exchange.list_notices(pb::ListNoticesRequest::default()).await.unwrap().into_inner().notices;
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].acknowledged, ["620700", "620722"]);
    let mut everyone_else: Vec<String> = topology
        .descendants("620000".parse::<NodeCode>().unwrap())
        .iter()
        .map(|c| c.to_string())
        .filter(|c| c != "620700" && c != "620722")
        .collect();
    everyone_else.sort();
    assert_eq!(notices[0].not_acknowledged, everyone_else);

    // The county that was offline has the whole group's work, and sees its item's adoption.
    let mut progress = ProgressServiceClient::new(topo.channel("620622").await.unwrap());
    let group = progress
        .get_group(pb::GetGroupRequest { group_id: "620000-hexi-water-2027".into() })
        .await
        .unwrap()
        .into_inner()
        .group
        .unwrap();
    assert_eq!(group.tasks.len(), 2);
    assert!(group.tasks.iter().all(|t| t.sub_reports.len() == 1), "both sub-reports: {:?}", group.tasks);
    assert_eq!(group.consolidated_reports.len(), 1);
    assert_eq!(group.consolidated_reports[0].sub_report_ids.len(), 2, "it names both sub-reports");
    assert_eq!(group.lead, "620000");
    // Its due date moved while it was away: the move, with its reason, not the assignment's date.
    let gulang = group.tasks.iter().find(|t| t.task_id == "gulang").unwrap();
    let (assigned, moved) = (1_809_043_200, 1_810_339_200); // 2027-04-30, 2027-05-15
    assert_eq!(gulang.assigned_due.map(|d| d.seconds), Some(assigned));
    assert_eq!(gulang.due.map(|d| d.seconds), Some(moved));
    assert_eq!(gulang.due_changes.len(), 1, "{gulang:?}");
    let mut county = ExchangeServiceClient::new(topo.channel("620722").await.unwrap());
    let own = county.list_info_items(pb::ListInfoItemsRequest::default()).await.unwrap().into_inner().items;
    assert_eq!(own[0].status, pb::InfoStatus::Feedback as i32, "民乐县 sees its item adopted, instructed, fed back");
    // The handling went along the item's chain: the county sees 张掖市's forward too.
    assert!(own[0].trail.iter().any(|e| e.step == pb::InfoStatus::Forwarded as i32 && e.origin == "620700"));

    // Every node sees 兰州市 reusing the province's result.
    for code in &codes {
        let mut results = ResultsServiceClient::new(topo.channel(code).await.unwrap());
        let list = results
            .list_results(pb::ListResultsRequest { keyword: "节水".into(), ..Default::default() })
            .await
            .unwrap()
            .into_inner()
            .results;
        assert_eq!(list.len(), 1, "{code}");
        assert_eq!(list[0].adoptions.len(), 1, "{code}");
        assert_eq!(list[0].adoptions[0].origin, "620100", "{code}");
        let one = results.get_result(pb::GetResultRequest { id: list[0].id.clone() }).await.unwrap().into_inner();
        assert_eq!(one.result.unwrap().attachments, ["doc://gansu/2027/hexi-water.pdf"], "{code}");
    }

    // The three topics were linked: no overlap is left to find.
    let mut planning = PlanningServiceClient::new(topo.channel("620000").await.unwrap());
    let overlaps = planning
        .list_overlapping_topics(pb::ListOverlappingTopicsRequest { year: 2027, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(overlaps.overlaps.is_empty(), "{:?}", overlaps.overlaps);
    let topics = planning
        .list_topics(pb::ListTopicsRequest { status: pb::TopicStatus::Planned as i32, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .topics;
    assert_eq!(topics.len(), 1);
    assert_eq!(topics[0].participants.len(), 3, "民乐县 and 古浪县 joined, 城关区 declined");

    // Watch: the history of the flow first, then a live change.
    let mut watch = exchange.watch_exchange(pb::WatchExchangeRequest { from_position: 0 }).await.unwrap().into_inner();
    let mut kinds = Vec::new();
    while kinds.len() < 6 {
        let change = tokio::time::timeout(Duration::from_secs(10), watch.message()).await.unwrap().unwrap().unwrap();
        let change = change.change.unwrap();
        // A topic that returns the 征集 notice changes the notice, in 畅通.
        let mut reply = change.kind == "topic_proposed" && !change.entity_ids.is_empty();
        for id in &change.entity_ids {
            if reply {
                let notice = exchange.get_notice(pb::GetNoticeRequest { id: id.clone() }).await.unwrap().into_inner();
                reply = notice.notice.and_then(|n| n.notice).is_some_and(|n| n.known);
            }
        }
        assert!(
            change.kind.starts_with("info_")
                || change.kind.starts_with("notice_")
                || change.kind == "score_rule_issued"
                || reply,
            "{change:?}"
        );
        kinds.push(change.kind);
    }
    assert_eq!(kinds[0], "notice_issued", "the flow's history comes first, in log order: {kinds:?}");
    let mut log = topo.event_log("620000").await.unwrap();
    let feedback = log
        .append(pb::AppendRequest {
            channel: format!("chain:{}", item.origin),
            payload: Some(pb::Payload {
                kind: Some(pb::payload::Kind::InfoFeedback(pb::InfoFeedback {
                    info_id: item.id.clone(),
                    text: "省水利厅已将其纳入明年改造计划".into(),
                })),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .event
        .unwrap()
        .event
        .unwrap();
    let live = loop {
        let change = tokio::time::timeout(Duration::from_secs(10), watch.message()).await.unwrap().unwrap().unwrap();
        let change = change.change.unwrap();
        if change.event_id == feedback.id {
            break change;
        }
    };
    assert_eq!((live.kind.as_str(), live.entity_ids.as_slice()), ("info_feedback", [item.id.clone()].as_slice()));

    topo.down().unwrap();
}

/// Issue 22, item 6: a 征集 notice is a task. The province asks for topics
/// by a date already past; 张掖市 and 民乐县 reply with topics that cite the
/// notice, and the province reminds 古浪县. The province's `ListNotices`
/// shows per recipient who returned, who is overdue and who was reminded,
/// and `overdue_only` finds the notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collecting_notice_shows_returns_overdue_and_reminders_per_recipient() {
    use pb::payload::Kind;
    let topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    let append = |channel: &str, kind: Kind, refs: Vec<String>| pb::AppendRequest {
        channel: channel.into(),
        payload: Some(pb::Payload { kind: Some(kind) }),
        refs,
        ..Default::default()
    };
    let call = Kind::NoticeIssued(pb::NoticeIssued {
        title: "关于征集2026年度联动调研选题的通知".into(),
        expects: pb::NoticeReturn::Topics as i32,
        due: Some(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 0 }),
        ..Default::default()
    });
    let mut province = topo.event_log("620000").await.unwrap();
    let notice =
        province.append(append("down", call, vec![])).await.unwrap().into_inner().event.unwrap().event.unwrap();
    for code in ["620700", "620722"] {
        let mut log = topo.event_log(code).await.unwrap();
        let topic = Kind::TopicProposed(pb::TopicProposed {
            year: 2026,
            category: pb::TopicCategory::Research as i32,
            title: format!("{code} 报送的选题"),
            ..Default::default()
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        // The reply goes once the notice has reached the replying node.
        loop {
            let mut exchange = ExchangeServiceClient::new(topo.channel(code).await.unwrap());
            if exchange.get_notice(pb::GetNoticeRequest { id: notice.id.clone() }).await.is_ok() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{code} never got the notice");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        log.append(append("up", topic, vec![notice.id.clone()])).await.unwrap();
    }
    let remind = Kind::NoticeReminded(pb::NoticeReminded {
        notice_id: notice.id.clone(),
        to: vec!["620622".into()],
        note: "请尽快报送".into(),
    });
    province.append(append("down", remind, vec![])).await.unwrap();

    let mut exchange = ExchangeServiceClient::new(topo.channel("620000").await.unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let state = loop {
        let listed = exchange
            .list_notices(pb::ListNoticesRequest { overdue_only: true, ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        let state = listed.notices.into_iter().find(|n| n.notice.as_ref().is_some_and(|n| n.id == notice.id));
        if let Some(state) = state.filter(|s| s.recipients.iter().filter(|r| r.returns > 0).count() == 2) {
            break state;
        }
        assert!(std::time::Instant::now() < deadline, "the province never saw both returns");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let rows: Vec<(&str, u32, bool, u32)> =
        state.recipients.iter().map(|r| (r.node.as_str(), r.returns, r.overdue, r.reminders)).collect();
    assert_eq!(
        rows,
        [
            ("620100", 0, true, 0),
            ("620102", 0, true, 0),
            ("620600", 0, true, 0),
            ("620622", 0, true, 1),
            ("620700", 1, false, 0),
            ("620722", 1, false, 0),
        ]
    );
}
