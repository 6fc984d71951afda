//! Members (委员) over real nodes: a county's register goes up its chain
//! only; the personal fields are sealed before the event is signed, so no
//! node's log or store ever holds them in clear; only the county's node
//! opens them; a member's year counts alike at the county and the
//! province; and after an erasure (PIPL) the fields are unreadable at every
//! node that held them — the key is gone, the views dropped the sealed
//! bytes.

use linkage_core::pb;
use linkage_core::pb::payload::Kind;
use linkage_proto::v1::member_service_client::MemberServiceClient;
use linkage_testkit::request as append;
use linkage_testkit::topology::LocalTopology;
use linkage_tests::liar::until;
use std::time::Duration;

const COUNTY: &str = "620722";
const MEMBER: &str = "620722-zhang-0017";
/// A name no other part of any test writes: found in a file, it leaked.
const NAME: &str = "张暂存委员甲";
const PHONE: &str = "13912345678";

async fn member(topo: &LocalTopology, code: &str) -> Option<pb::CommitteeMember> {
    let mut client = MemberServiceClient::new(topo.channel(code).await.ok()?);
    let response = client.get_member(pb::GetMemberRequest { member_id: MEMBER.into() }).await.ok()?;
    response.into_inner().member
}

/// Every file under `dir` that holds `needle`.
fn files_holding(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)) {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_is_sealed_counted_alike_and_erased_everywhere() {
    let topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    let mut county = topo.event_log(COUNTY).await.unwrap();
    let registered = Kind::MemberRegistered(pb::MemberRegistered {
        member_id: MEMBER.into(),
        sector: "农业界".into(),
        special_committee: "农业和农村委员会".into(),
        term: "第十三届".into(),
        personal: Some(pb::PersonalFields {
            name: NAME.into(),
            gender: "男".into(),
            workplace: "民乐县农业农村局".into(),
            phone: PHONE.into(),
        }),
        sealed: None,
    });
    // On another channel than its own chain it is refused.
    let err = county.append(append("up", registered.clone())).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
    let signed = county.append(append(&format!("chain:{COUNTY}"), registered)).await.unwrap().into_inner();
    let event = signed.event.unwrap().event.unwrap();
    let Some(Kind::MemberRegistered(stored)) = event.payload.and_then(|p| p.kind) else { panic!("a registration") };
    assert!(stored.personal.is_none() && stored.sealed.is_some(), "signed sealed, never in clear: {stored:?}");

    // The member raises an item; the province adopts it.
    let item = Kind::InfoReported(pb::InfoReported {
        title: "关于山区农村饮水安全的建议".into(),
        body: "……".into(),
        member_id: MEMBER.into(),
        ..Default::default()
    });
    let item = county.append(append("up", item)).await.unwrap().into_inner().event.unwrap().event.unwrap();
    until(Duration::from_secs(30), "the province holds the member and the item", async || {
        member(&topo, "620000").await.is_some()
            && topo.event_log("620000").await.unwrap().get(pb::GetRequest { id: item.id.clone() }).await.is_ok()
    })
    .await;
    let adopted = linkage_testkit::province_adoption(&item.id);
    let mut province = topo.event_log("620000").await.unwrap();
    let adoption = province.append(append(&format!("chain:{COUNTY}"), adopted)).await.unwrap().into_inner();
    let adoption = adoption.event.unwrap().event.unwrap();

    // Only the county opens the personal fields; the chain holds them sealed; a sibling holds nothing.
    let at_county = member(&topo, COUNTY).await.unwrap();
    assert_eq!(at_county.personal.as_ref().map(|p| p.name.as_str()), Some(NAME));
    for code in ["620700", "620000"] {
        until(Duration::from_secs(30), "the chain holds the member", async || member(&topo, code).await.is_some())
            .await;
        let m = member(&topo, code).await.unwrap();
        assert!(m.personal.is_none() && m.sealed.is_some(), "{code} holds it sealed: {m:?}");
        assert_eq!((m.sector.as_str(), m.committee.as_str()), ("农业界", COUNTY));
    }
    assert!(member(&topo, "620622").await.is_none(), "古浪县 is not on 民乐县's chain");

    // The member's year, counted alike at the county and the province.
    until(Duration::from_secs(30), "the county holds the adoption", async || {
        topo.event_log(COUNTY).await.unwrap().get(pb::GetRequest { id: adoption.id.clone() }).await.is_ok()
    })
    .await;
    let year = linkage_core::proposals::year_in_china(adoption.hlc);
    let activity = async |code: &str| {
        let mut client = MemberServiceClient::new(topo.channel(code).await.unwrap());
        let request = pb::ListMemberActivityRequest { year, committee: COUNTY.into(), ..Default::default() };
        client.list_member_activity(request).await.unwrap().into_inner().rows
    };
    let rows = activity(COUNTY).await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].items_submitted, rows[0].items_adopted), (1, 1), "{rows:?}");
    assert_eq!(activity("620000").await, rows, "the province counts the member alike");

    // Nothing anywhere holds the name or the phone number in clear.
    for code in topo.codes() {
        for secret in [NAME, PHONE] {
            let found = files_holding(&topo.data_dir(&code), secret.as_bytes());
            assert!(found.is_empty(), "{code} holds {secret} in clear: {found:?}");
        }
    }

    // A batch changes a member once: an erasure and an update together
    // would each pass the checks and undo each other. Nothing is done.
    let erased = Kind::MemberErased(pb::MemberErased { member_id: MEMBER.into() });
    let update = Kind::MemberUpdated(pb::MemberUpdated {
        member_id: MEMBER.into(),
        personal: Some(pb::PersonalFields { phone: "13700000000".into(), ..Default::default() }),
        ..Default::default()
    });
    let chain = format!("chain:{COUNTY}");
    let requests = vec![append(&chain, erased.clone()), append(&chain, update.clone())];
    let refused = county.append_batch(pb::AppendBatchRequest { requests, ..Default::default() }).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused}");
    let keys = topo.data_dir(COUNTY).join("member-keys");
    assert!(keys.join(MEMBER).exists(), "a refused batch erases nothing");
    // Nor does a partial update lose the other fields.
    county.append(append(&chain, update.clone())).await.unwrap();
    let at_county = member(&topo, COUNTY).await.unwrap().personal.unwrap();
    assert_eq!((at_county.name.as_str(), at_county.phone.as_str()), (NAME, "13700000000"));

    // Erasure: the key is destroyed first, then the event goes up the chain.
    county.append(append(&chain, erased)).await.unwrap();
    assert!(!keys.join(MEMBER).exists(), "the key is gone");
    assert!(keys.join(format!("{MEMBER}.erased")).exists(), "its tombstone stays");
    let again = county.append(append(&chain, update)).await.unwrap_err();
    assert_eq!(again.code(), tonic::Code::FailedPrecondition, "no update after an erasure: {again}");
    assert!(!keys.join(MEMBER).exists(), "and no new key");
    for code in [COUNTY, "620700", "620000"] {
        until(Duration::from_secs(30), "every holder sees the erasure", async || {
            member(&topo, code).await.is_some_and(|m| m.erased)
        })
        .await;
        let m = member(&topo, code).await.unwrap();
        assert!(m.personal.is_none() && m.sealed.is_none(), "{code} can read nothing: {m:?}");
    }
    // What the member did stays, by id.
    assert_eq!(activity("620000").await, rows);
    topo.down().unwrap();
}
