//! 提案 over real nodes: 民乐县 submits a joint proposal, 张掖市 co-signs
//! and both send it up; the province files, assigns and records the
//! answer; 民乐县 rates it. Every node on the chain then serves the same
//! proposal, field by field, and the same counts; a sibling county holds
//! nothing of it; a step out of turn is refused naming the field.

use linkage_core::pb;
use linkage_core::pb::payload::Kind;
use linkage_proto::v1::proposal_service_client::ProposalServiceClient;
use linkage_testkit::request as append;
use linkage_testkit::topology::LocalTopology;
use linkage_tests::liar::until;
use std::time::Duration;

const COUNTY: &str = "620722";
const CITY: &str = "620700";
const PROVINCE: &str = "620000";

async fn proposal(topo: &LocalTopology, code: &str, id: &str) -> Option<pb::Proposal> {
    let mut client = ProposalServiceClient::new(topo.channel(code).await.ok()?);
    let response = client.get_proposal(pb::GetProposalRequest { id: id.into() }).await.ok()?;
    response.into_inner().proposal
}

fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joint_proposal_is_sent_up_filed_answered_rated_and_served_alike() {
    let topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    let chain = format!("chain:{COUNTY}");
    let mut county = topo.event_log(COUNTY).await.unwrap();
    let submitted = Kind::ProposalSubmitted(pb::ProposalSubmitted {
        title: "关于推进河西走廊高效节水灌溉的建议".into(),
        body: "……".into(),
        submitter: pb::ProposalSubmitter::Committee as i32,
        submitter_name: "民乐县政协、张掖市政协".into(),
        year: 2027,
        category: "经济建设".into(),
        ..Default::default()
    });
    // Not on its own chain: refused, naming the channel.
    let err = county.append(append("up", submitted.clone())).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
    let p = county.append(append(&chain, submitted)).await.unwrap().into_inner().event.unwrap().event.unwrap();
    let id = p.id.clone();
    let step = |kind: Kind| append(&chain, kind);
    until(Duration::from_secs(30), "the city holds the proposal", async || proposal(&topo, CITY, &id).await.is_some())
        .await;
    let mut city = topo.event_log(CITY).await.unwrap();
    city.append(step(Kind::ProposalCoSigned(pb::ProposalCoSigned { proposal_id: id.clone(), ..Default::default() })))
        .await
        .unwrap();
    let sent_up = |proposal_id: &str| {
        Kind::ProposalSentUp(pb::ProposalSentUp { proposal_id: proposal_id.into(), note: String::new() })
    };
    county.append(step(sent_up(&id))).await.unwrap();
    until(Duration::from_secs(30), "the city holds the county's sending up", async || {
        proposal(&topo, CITY, &id).await.is_some_and(|p| p.handlings.len() == 2)
    })
    .await;
    city.append(step(sent_up(&id))).await.unwrap();

    let mut province = topo.event_log(PROVINCE).await.unwrap();
    until(Duration::from_secs(30), "the province holds the city's sending up", async || {
        proposal(&topo, PROVINCE, &id).await.is_some_and(|p| p.handlings.len() == 3)
    })
    .await;
    // Assigned before it is filed: refused, naming the field.
    let assigned = Kind::ProposalAssigned(pb::ProposalAssigned {
        proposal_id: id.clone(),
        lead_unit: "省水利厅".into(),
        co_units: vec!["省财政厅".into()],
        due: ts(4_102_444_800),
        objection_days: 5,
    });
    let err = province.append(step(assigned.clone())).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err}");
    assert!(err.message().contains("payload.proposal_assigned.proposal_id"), "{err}");
    let reviewed = Kind::ProposalReviewed(pb::ProposalReviewed {
        proposal_id: id.clone(),
        outcome: pb::ProposalOutcome::Filed as i32,
        number: "第0123号".into(),
        key: true,
        ..Default::default()
    });
    province.append(step(reviewed)).await.unwrap();
    province.append(step(assigned)).await.unwrap();
    let answered = Kind::ProposalAnswered(pb::ProposalAnswered {
        proposal_id: id.clone(),
        unit: "省水利厅".into(),
        class: pb::AnswerClass::B as i32,
        text: "已列入2027年项目计划".into(),
        ..Default::default()
    });
    let answer = province.append(step(answered)).await.unwrap().into_inner().event.unwrap().event.unwrap();
    until(Duration::from_secs(30), "the county holds the answer", async || {
        proposal(&topo, COUNTY, &id).await.is_some_and(|p| p.handlings.last().is_some_and(|h| h.answers == 1))
    })
    .await;
    // Only the proposer's committee rates: the province is refused (rule).
    let rated = Kind::ProposalRated(pb::ProposalRated {
        proposal_id: id.clone(),
        handler: PROVINCE.into(),
        satisfaction: pb::Satisfaction::Satisfied as i32,
        text: String::new(),
        answer_id: String::new(),
    });
    let err = province.append(step(rated.clone())).await.unwrap_err();
    assert!(err.message().contains("(rule rating_not_by_proposer)"), "{err}");
    let rating = county.append(step(rated)).await.unwrap().into_inner().event.unwrap().event.unwrap();
    // The node names the answer it rates: read after it on every node, whatever the clocks.
    let Some(Kind::ProposalRated(signed)) = rating.payload.and_then(|p| p.kind) else { panic!("a rating") };
    assert_eq!(signed.answer_id, answer.id, "the rating names the province's answer");

    until(Duration::from_secs(30), "every node of the chain holds the rating", async || {
        let mut all = true;
        for code in [COUNTY, CITY, PROVINCE] {
            all &= proposal(&topo, code, &id).await.is_some_and(|p| p.state == pb::ProposalState::Concluded as i32);
        }
        all
    })
    .await;
    let at_province = proposal(&topo, PROVINCE, &id).await.unwrap();
    for code in [COUNTY, CITY] {
        assert_eq!(proposal(&topo, code, &id).await.unwrap(), at_province, "{code} serves the province's proposal");
    }
    assert_eq!(at_province.co_signers, [CITY]);
    let top = at_province.handlings.last().unwrap();
    assert_eq!((top.node.as_str(), top.number.as_str(), top.key), (PROVINCE, "第0123号", true));
    assert_eq!((top.class, top.satisfaction), (pb::AnswerClass::B as i32, pb::Satisfaction::Satisfied as i32));
    assert!(top.answered_on_time, "{top:?}");

    // Counts per committee, alike at the province and the city.
    let stats = async |code: &str| {
        let mut client = ProposalServiceClient::new(topo.channel(code).await.unwrap());
        let request = pb::ProposalStatisticsRequest { year: 2027, by: pb::ProposalGrouping::Committee as i32 };
        client.proposal_statistics(request).await.unwrap().into_inner().rows
    };
    let rows = stats(PROVINCE).await;
    assert_eq!(rows.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), [PROVINCE, CITY, COUNTY]);
    assert_eq!((rows[0].filed, rows[0].answered_on_time, rows[0].satisfied), (1, 1, 1));
    assert_eq!(stats(CITY).await, rows);

    // A sibling county holds nothing of it; a bad filter names its field.
    assert!(proposal(&topo, "620622", &id).await.is_none(), "古浪县 is not on 民乐县's chain");
    let mut client = ProposalServiceClient::new(topo.channel(PROVINCE).await.unwrap());
    let err = client.list_proposals(pb::ListProposalsRequest { handler: "62x".into(), ..Default::default() }).await;
    let err = err.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("handler"), "{err}");
}
