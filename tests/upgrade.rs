//! Real nodes of older versions beside this one. The flag day of issue 21
//! (decision 0051), with a real node of main before that issue: an office still on the old version keeps appending
//! on its own after the province switched the broker, then upgrades in
//! place — same data directory, same key — and its old events reach its
//! city and province, its stream going on where it stopped.
//!
//! Needs the old binary: `make test-upgrade` builds it from git (07ed98b,
//! the last commit before issue 21: plaintext gRPC, NATS users with
//! passwords, subjects without the province token, log LNKLOG02) and sets
//! `LINKAGE_OLD_NODE`; a node of main before issue 22 beside chains
//! (`LINKAGE_PREVIOUS_NODE`, 72b5cfa); and the last node without score
//! rules and members (`LINKAGE_LAST_NODE`, 40e1cfc); and the last node
//! without proposals, duties and evaluation (`LINKAGE_PRE23_NODE`,
//! 1050731). `make test` skips these tests.

use linkage_core::pb;
use linkage_testkit::topology::LocalTopology;
use std::time::{Duration, Instant};

const COUNTY: &str = "620722";
const OLD_EVENTS: u64 = 20;
const NEW_EVENTS: u64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the old node binary: make test-upgrade"]
async fn an_office_upgraded_after_the_flag_day_brings_its_events() {
    let old_bin =
        std::env::var_os("LINKAGE_OLD_NODE").expect("LINKAGE_OLD_NODE: the linkage-node of main before issue 21");
    let workdir = tempfile::tempdir().unwrap();
    let dir = workdir.path().join("nodes").join(COUNTY);
    std::fs::create_dir_all(&dir).unwrap();
    let topology = linkage_testkit::topology("demo.toml");

    // The old version, on its own: the broker has switched and lets it in
    // no more, so it serves its own platform and appends locally.
    let log = std::fs::File::create(dir.join("old-node.log")).unwrap();
    let mut old = std::process::Command::new(&old_bin)
        .args(["--node", COUNTY, "--topology"])
        .arg(&topology)
        .arg("--data-dir")
        .arg(&dir)
        .arg("--key-file")
        .arg(dir.join("node.key"))
        .args(["--grpc-listen", "127.0.0.1:0"])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let addr = linkage_testkit::process::wait_for_file(
        &dir.join("grpc.addr"),
        Instant::now() + Duration::from_secs(60),
        "the old node",
    )
    .unwrap();
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}", addr.trim())).unwrap();
    let mut client =
        linkage_proto::v1::event_log_service_client::EventLogServiceClient::new(endpoint.connect().await.unwrap());
    let requests =
        (0..OLD_EVENTS).map(|i| linkage_testkit::info_reported("up", format!("old {i}"), "旧版本")).collect();
    client.append_batch(pb::AppendBatchRequest { requests, ..Default::default() }).await.unwrap();
    linkage_testkit::process::signal(old.id(), nix::sys::signal::Signal::SIGTERM);
    assert!(old.wait().unwrap().success(), "the old node stops cleanly");

    // The upgrade: the new version on the same directory and key, in the
    // switched topology (TLS, NKeys, signed topology, new subjects).
    let mut topo = LocalTopology::up_in(&topology, workdir, linkage_testkit::bin_dir(), 1).unwrap();
    let requests: Vec<_> =
        (0..NEW_EVENTS).map(|i| linkage_testkit::info_reported("up", format!("new {i}"), "新版本")).collect();
    let mut client = topo.event_log(COUNTY).await.unwrap();
    client.append_batch(pb::AppendBatchRequest { requests, ..Default::default() }).await.unwrap();
    let codes = topo.codes();
    let holdings = topo.converge(&codes, Duration::from_secs(60)).await;
    let want: Vec<u64> = (1..=OLD_EVENTS + NEW_EVENTS).collect();
    for code in [COUNTY, "620700", "620000"] {
        let stream: Vec<_> = holdings[code].iter().filter(|(k, _)| k.0 == COUNTY && k.1 == "up").collect();
        assert_eq!(stream.iter().map(|(k, _)| k.2).collect::<Vec<_>>(), want, "{code} holds {COUNTY}/up");
    }
    // Stored by the old version: no principal (LNKLOG02 kept none); by the
    // new one: the caller's.
    let stored = linkage_testkit::read_all(&mut client).await.unwrap();
    let own: Vec<_> = stored.iter().filter(|s| s.event.as_ref().is_some_and(|e| e.origin == COUNTY)).collect();
    assert!(own[..OLD_EVENTS as usize].iter().all(|s| s.appended_by.is_empty()));
    assert!(own[OLD_EVENTS as usize..].iter().all(|s| s.appended_by == linkage_testkit::pki::OPERATOR));
    // And it survives a restart on the new version.
    topo.kill9(COUNTY);
    topo.restart(COUNTY).await.unwrap();
    let again = topo.holdings(COUNTY).await.unwrap();
    assert_eq!(again.keys().filter(|k| k.0 == COUNTY).count(), want.len());
}

/// Issue 22, item 4: the handling of a 社情民意 item goes along its chain
/// (`chain:<origin>`), a channel nodes of the previous version do not
/// know. With 张掖市 on the previous version (main before issue 22:
/// `LINKAGE_PREVIOUS_NODE`), the province's adoption on 民乐县's chain
/// reaches 民乐县; the old city drops what it cannot parse and stalls
/// nothing — its own stream, the county's items and the province's
/// notices flow as before — and once upgraded it pulls the adoption.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the previous node binary: make test-upgrade"]
async fn a_node_of_the_previous_version_beside_chains_stalls_nothing() {
    use pb::payload::Kind;
    let old_bin = std::env::var_os("LINKAGE_PREVIOUS_NODE")
        .expect("LINKAGE_PREVIOUS_NODE: the linkage-node of main before issue 22");
    let mut topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    const CITY: &str = "620700";
    topo.kill9(CITY);
    topo.restart_as(CITY, std::path::Path::new(&old_bin)).await.unwrap();
    topo.wait_restored(CITY).await.unwrap();

    let append = linkage_testkit::request;
    let mut county = topo.event_log(COUNTY).await.unwrap();
    let item = county
        .append(linkage_testkit::info_reported("up", "山区饮水安全".into(), "民乐县"))
        .await
        .unwrap()
        .into_inner()
        .event
        .unwrap()
        .event
        .unwrap();
    assert!(held(&topo, "620000", item.id.clone()).await, "the province gets the item");
    let adopted = linkage_testkit::province_adoption(&item.id);
    let mut province = topo.event_log("620000").await.unwrap();
    let adoption = province.append(append(&format!("chain:{COUNTY}"), adopted)).await.unwrap();
    let adoption = adoption.into_inner().event.unwrap().event.unwrap();
    assert!(held(&topo, COUNTY, adoption.id.clone()).await, "the county gets the adoption along its chain");

    // Nothing stalls at the old city: the province's next notice (sent
    // while it is down, so that it catches up from heads that name the
    // chain's stream too), the county's next item and its own event flow.
    topo.kill9(CITY);
    let notice = province.append(append(
        "down",
        Kind::NoticeIssued(pb::NoticeIssued {
            title: "关于报送年度选题的通知".into(), ..Default::default()
        }),
    ));
    let notice = notice.await.unwrap().into_inner().event.unwrap().event.unwrap();
    topo.restart_as(CITY, std::path::Path::new(&old_bin)).await.unwrap();
    topo.wait_restored(CITY).await.unwrap();
    let next = county.append(linkage_testkit::info_reported("up", "第二条".into(), "民乐县")).await.unwrap();
    let next = next.into_inner().event.unwrap().event.unwrap();
    assert!(held(&topo, CITY, notice.id.clone()).await, "the old city gets the province's notice");
    assert!(held(&topo, COUNTY, notice.id).await, "the county gets the province's notice");
    assert!(held(&topo, CITY, next.id.clone()).await, "the old city gets the county's next item");
    assert!(held(&topo, "620000", next.id).await, "the province gets the county's next item");
    assert!(own_item_reaches_province(&topo, CITY).await, "the province gets the old city's own item");
    let old_holds = topo.holdings(CITY).await.unwrap();
    assert!(!old_holds.values().any(|e| e.id == adoption.id), "the old city cannot hold a chain's event");

    // Upgraded, the city pulls the chain's events it is entitled to.
    topo.kill9(CITY);
    topo.restart(CITY).await.unwrap();
    assert!(held(&topo, CITY, adoption.id).await, "the upgraded city pulls the adoption");
}

/// Whether a 社情民意 item `city` appends now reaches the province: the
/// node of another version stalls nothing of its own.
async fn own_item_reaches_province(topo: &LocalTopology, city: &str) -> bool {
    let mut events = topo.event_log(city).await.unwrap();
    let own = events.append(linkage_testkit::info_reported("up", "张掖市的社情民意".into(), "张掖市")).await.unwrap();
    held(topo, "620000", own.into_inner().event.unwrap().event.unwrap().id).await
}

/// Whether `code` holds event `id` within 30 s.
async fn held(topo: &LocalTopology, code: &str, id: String) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let holdings = topo.holdings(code).await.unwrap_or_default();
        if holdings.values().any(|e| e.id == id) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Issue 22's new kinds beside a node of the version before them
/// (`LINKAGE_LAST_NODE`, 40e1cfc): the old 张掖市 stores and relays the
/// province's score rule and 民乐县's member without folding them, stalls
/// nothing, and once upgraded in place (its views folded again: FOLDS 8)
/// ranks by the rule and holds the member — sealed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the last node binary: make test-upgrade"]
async fn a_node_of_the_last_version_keeps_the_new_kinds_and_folds_them_once_upgraded() {
    use linkage_proto::v1::exchange_service_client::ExchangeServiceClient;
    use linkage_proto::v1::member_service_client::MemberServiceClient;
    use pb::payload::Kind;
    let last_bin =
        std::env::var_os("LINKAGE_LAST_NODE").expect("LINKAGE_LAST_NODE: the linkage-node of main before 17719a0");
    let mut topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    const CITY: &str = "620700";
    topo.kill9(CITY);
    topo.restart_as(CITY, std::path::Path::new(&last_bin)).await.unwrap();
    topo.wait_restored(CITY).await.unwrap();
    let append = linkage_testkit::request;
    let rule = Kind::ScoreRuleIssued(pb::ScoreRuleIssued {
        effective: Some(prost_types::Timestamp { seconds: 1_735_689_600, nanos: 0 }),
        adoption_points: vec![1, 5, 20],
        ..Default::default()
    });
    let mut province = topo.event_log("620000").await.unwrap();
    let rule = province.append(append("all", rule)).await.unwrap().into_inner().event.unwrap().event.unwrap();
    let member = Kind::MemberRegistered(pb::MemberRegistered {
        member_id: "620722-zhang-0017".into(),
        personal: Some(pb::PersonalFields { name: "张某某".into(), ..Default::default() }),
        ..Default::default()
    });
    let mut county = topo.event_log(COUNTY).await.unwrap();
    let member =
        county.append(append(&format!("chain:{COUNTY}"), member)).await.unwrap().into_inner().event.unwrap().event;
    let member = member.unwrap();
    assert!(held(&topo, CITY, rule.id.clone()).await, "the old city stores the rule");
    assert!(held(&topo, CITY, member.id.clone()).await, "the old city stores the member");
    assert!(own_item_reaches_province(&topo, CITY).await, "it stalls nothing");

    topo.kill9(CITY);
    topo.restart(CITY).await.unwrap();
    let mut exchange = ExchangeServiceClient::new(topo.channel(CITY).await.unwrap());
    let rules = exchange.list_score_rules(pb::ListScoreRulesRequest::default()).await.unwrap().into_inner().rules;
    assert_eq!(rules.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), [rule.id.as_str()], "folded on upgrade");
    let mut members = MemberServiceClient::new(topo.channel(CITY).await.unwrap());
    let got = members.get_member(pb::GetMemberRequest { member_id: "620722-zhang-0017".into() }).await.unwrap();
    let got = got.into_inner().member.unwrap();
    assert!(got.known && got.sealed.is_some() && got.personal.is_none(), "held sealed: {got:?}");
    topo.down().unwrap();
}

/// Issue 23's new kinds beside a node of the version before them
/// (`LINKAGE_PRE23_NODE`, 1050731): the old 张掖市 stores and relays 民乐县's
/// proposal, its sending up and the province's indicator set and duties
/// without folding them, stalls nothing, and once upgraded in place (its
/// views folded again: FOLDS 10) serves the proposal and the duties.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the node before issue 23: make test-upgrade"]
async fn a_node_before_proposals_keeps_them_and_folds_them_once_upgraded() {
    use linkage_proto::v1::member_service_client::MemberServiceClient;
    use linkage_proto::v1::proposal_service_client::ProposalServiceClient;
    use pb::payload::Kind;
    let old_bin = std::env::var_os("LINKAGE_PRE23_NODE").expect("LINKAGE_PRE23_NODE: the linkage-node of 1050731");
    let mut topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    const CITY: &str = "620700";
    topo.kill9(CITY);
    topo.restart_as(CITY, std::path::Path::new(&old_bin)).await.unwrap();
    topo.wait_restored(CITY).await.unwrap();
    let append = linkage_testkit::request;
    let chain = format!("chain:{COUNTY}");
    let mut county = topo.event_log(COUNTY).await.unwrap();
    // With a document: the old city relays the reference it cannot read,
    // and answers no chunk request; the province fetches from the county.
    let bytes = linkage_tests::docs::bytes_of(1 << 20, 9);
    let doc = linkage_tests::docs::put(&topo, COUNTY, "提案全文.pdf", &bytes).await.unwrap();
    let submitted = Kind::ProposalSubmitted(pb::ProposalSubmitted {
        title: "关于推进河西走廊高效节水灌溉的建议".into(),
        body: "……".into(),
        submitter: pb::ProposalSubmitter::Committee as i32,
        year: 2027,
        documents: vec![pb::DocumentRef { root: doc.root.clone(), ..Default::default() }],
        ..Default::default()
    });
    let p = county.append(append(&chain, submitted)).await.unwrap().into_inner().event.unwrap().event.unwrap();
    let sent = Kind::ProposalSentUp(pb::ProposalSentUp { proposal_id: p.id.clone(), note: String::new() });
    let sent = county.append(append(&chain, sent)).await.unwrap().into_inner().event.unwrap().event.unwrap();
    let year = linkage_core::proposals::year_in_china(p.hlc);
    let duties = Kind::MemberDutiesIssued(pb::MemberDutiesIssued { year, themed_talks: 1, ..Default::default() });
    let mut province = topo.event_log("620000").await.unwrap();
    let duties = province.append(append("all", duties)).await.unwrap().into_inner().event.unwrap().event.unwrap();
    for id in [&p.id, &sent.id, &duties.id] {
        assert!(held(&topo, CITY, id.clone()).await, "the old city stores {id}");
    }
    assert!(held(&topo, "620000", p.id.clone()).await, "the province holds the proposal");
    let once_held = linkage_tests::docs::once_held;
    let at_province = once_held(&topo, "620000", &doc.root, Duration::from_secs(60)).await;
    assert!(at_province == bytes, "the province fetched the document whole, beside the old city");
    assert!(own_item_reaches_province(&topo, CITY).await, "it stalls nothing");

    topo.kill9(CITY);
    topo.restart(CITY).await.unwrap();
    let mut proposals = ProposalServiceClient::new(topo.channel(CITY).await.unwrap());
    let got = proposals.get_proposal(pb::GetProposalRequest { id: p.id.clone() }).await.unwrap().into_inner();
    let got = got.proposal.unwrap();
    assert!(got.known && got.handlings.len() == 2, "folded on upgrade: {got:?}");
    let mut members = MemberServiceClient::new(topo.channel(CITY).await.unwrap());
    let request = pb::ListMemberActivityRequest { year, ..Default::default() };
    let activity = members.list_member_activity(request).await.unwrap().into_inner();
    assert_eq!(activity.duty_rule.map(|d| d.event_id), Some(duties.id), "the duties, folded on upgrade");
    let at_city = once_held(&topo, CITY, &doc.root, Duration::from_secs(60)).await;
    assert!(at_city == bytes, "upgraded, the city finds the document in its log and fetches it");
    topo.down().unwrap();
}
