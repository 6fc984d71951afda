//! Peers that lie about what they sign or ask. Each test is one office's
//! node turned liar — its real NATS credentials in a raw client (its key
//! where the lie needs a signature), the node itself stopped so that only
//! the liar speaks — against real node processes and a real nats-server:
//! nothing it makes up is stored or shown, the refusal is counted by its
//! reason, and replication goes on once honest nodes answer again. Lies
//! about what others hold are in `claims.rs`.

use linkage_core::pb;
use linkage_testkit::topology::LocalTopology;
use linkage_tests::liar::*;
use prost::Message;
use std::time::{Duration, Instant};

/// Finding 1 of issue 20: a signed event re-encoded by a relay (its
/// signature field moved first) still verified, and a city that restored
/// its own stream from a lying county stored those bytes and chained its
/// next events on them: the county then saw a fork and the city's `down`
/// stream never reached it again. Now the re-encoding is refused and
/// counted, and the city restores the real bytes once the county answers
/// honestly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_encoded_event_from_a_lying_relay_is_refused_and_counted() {
    let mut topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    // 张掖市 issues three notices down; 民乐县 holds them.
    let mut city = topo.event_log("620700").await.unwrap();
    for n in 1..=3 {
        city.append(down(&format!("通知 {n}"))).await.unwrap();
    }
    until(Duration::from_secs(30), "the county gets the city's notices", async || {
        stream(&topo, "620722", "620700", "down").await.len() == 3
    })
    .await;
    let originals = stream(&topo, "620722", "620700", "down").await;

    // The city loses its store; the county goes quiet and a liar with the
    // county's credentials answers in its place, with each event
    // re-encoded: the same signed bytes, the signature field first.
    topo.kill9("620700");
    std::fs::remove_dir_all(topo.data_dir("620700").join("store")).unwrap();
    topo.kill9("620722");
    let re_encoded: Vec<bytes::Bytes> = originals
        .iter()
        .map(|e| {
            let unsigned = pb::Event { signature: Vec::new(), ..e.clone() }.encode_to_vec();
            [&[0x7a, 0x40][..], &e.signature, &unsigned].concat().into()
        })
        .collect();
    let client = liar(&topo, "620722").await;
    let mut who = client.subscribe("lk.620000.who.620700").await.unwrap();
    let mut pulls = client.subscribe("lk.620000.pull.620722.620700").await.unwrap();
    client.flush().await.unwrap();
    let answering = tokio::spawn({
        let client = client.clone();
        async move {
            use futures::StreamExt;
            loop {
                tokio::select! {
                    Some(asked) = who.next() => {
                        let heads = pb::HeadsResponse {
                            heads: vec![pb::StreamHead { origin: "620700".into(), channel: "down".into(), seq: 3 }],
                            node: "620722".into(),
                        };
                        let _ = client.publish(asked.reply.unwrap(), heads.encode_to_vec().into()).await;
                    }
                    Some(asked) = pulls.next() => {
                        let Ok(pb::PeerRequest { kind: Some(pb::peer_request::Kind::Pull(pull)) }) =
                            pb::PeerRequest::decode(asked.payload) else { continue };
                        let from = pull.from_seq.clamp(1, 4) as usize - 1;
                        let page = pb::PullResponse { events: re_encoded[from..].to_vec(), head_seq: 3, denied: false };
                        let _ = client.publish(asked.reply.unwrap(), page.encode_to_vec().into()).await;
                    }
                    else => return,
                }
            }
        }
    });
    topo.restart("620700").await.unwrap();
    until(Duration::from_secs(60), "the city refuses the re-encoded events, counted by reason", async || {
        refused(&topo, "620700").is_some_and(|n| n >= 1.0)
    })
    .await;
    assert!(stream(&topo, "620700", "620700", "down").await.is_empty(), "a re-encoded event was stored");

    // The liar goes, the county comes back: the city restores the real
    // bytes, and its next notice chains on them without a fork.
    answering.abort();
    drop(client);
    topo.restart("620722").await.unwrap();
    topo.wait_restored("620700").await.unwrap();
    let mut city = topo.event_log("620700").await.unwrap();
    let fourth = city.append(down("通知 4")).await.unwrap().into_inner().event.unwrap().event.unwrap();
    assert_eq!(fourth.seq, 4, "no seq is issued twice");
    until(Duration::from_secs(60), "the county gets the city's fourth notice", async || {
        stream(&topo, "620722", "620700", "down").await.len() == 4
    })
    .await;
    let forks = topo.admin("620722").await.unwrap().list_forks(pb::ListForksRequest {}).await.unwrap();
    assert!(forks.into_inner().forks.is_empty(), "the county sees a fork in the city's stream");
    assert_eq!(
        &stream(&topo, "620700", "620700", "down").await[..3],
        &originals[..],
        "the city has its own events back"
    );
    eprintln!("re-encodings refused: {:?}", refused(&topo, "620700"));
}

/// Finding 5 of issue 20: a request names its own reply subject, and one
/// naming the province's broadcast subject made the province publish there
/// in its own name (every descendant then counted a rejected event). Now
/// an answer goes only to an inbox of the asker, and such a request is
/// dropped and counted; an honest request is still answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_reply_is_not_the_askers_inbox_gets_no_answer() {
    use futures::StreamExt;
    let topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    let client = liar(&topo, "620722").await;
    // The county may listen to the province's `down`: whatever lands there
    // in the province's name is what the trick would make it say.
    let mut broadcast = client.subscribe("lk.620000.ev.620000.down").await.unwrap();
    client.flush().await.unwrap();
    let heads = pb::PeerRequest { kind: Some(pb::peer_request::Kind::Heads(pb::HeadsRequest::default())) };
    let who = pb::HeadsRequest { origin: "620722".into() };
    for _ in 0..3 {
        client
            .publish_with_reply(
                "lk.620000.pull.620000.620722",
                "lk.620000.ev.620000.down",
                heads.encode_to_vec().into(),
            )
            .await
            .unwrap();
        client
            .publish_with_reply("lk.620000.who.620722", "lk.620000.ev.620000.down", who.encode_to_vec().into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    // The province's own heads announcements use that subject too: only
    // what is not a Push of its own `down` stream would be the trick's.
    let deadline = Instant::now() + Duration::from_secs(3);
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline.into(), broadcast.next()).await {
        let push = pb::Push::decode(message.payload.clone());
        assert!(
            push.is_ok_and(|p| p.origin == "620000" && p.channel == "down"),
            "the province published an answer on its broadcast subject: {:?}",
            message.payload
        );
    }
    let refused =
        || topo.metrics("620000").ok()?.get("linkage_requests_refused_total", &["reason=\"reply_not_inbox\""]);
    until(Duration::from_secs(30), "the province drops the requests, counted", async || {
        refused().is_some_and(|n| n >= 6.0)
    })
    .await;
    // Asked properly, through its own inbox, the county is answered.
    let answer = client.request("lk.620000.pull.620000.620722", heads.encode_to_vec().into()).await.unwrap();
    assert!(pb::HeadsResponse::decode(answer.payload).is_ok_and(|h| h.node == "620000"));
    for code in ["620700", "620722", "620102"] {
        let rejected = topo.metrics(code).unwrap().sum("linkage_rejected_events_total", &[]).unwrap_or(0.0);
        assert_eq!(rejected, 0.0, "{code} counted a rejected event");
    }
}

/// Finding 3 of issue 20: event ids name their origin, but nobody
/// checked, and one county-signed event carrying the id of a province item
/// rewrote that item's origin and title on every node. Now the event is
/// stored (its origin signed it: refusing it would freeze the county's
/// stream everywhere) but changes no view anywhere, and every holder
/// counts an alarm against the county; the county's honest events after it
/// are shown as before, also after a rebuild of the views.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_with_another_committees_id_changes_no_view_and_raises_an_alarm() {
    let mut topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    let title = "关于加强黄河流域生态保护的建议";
    let request = pb::AppendRequest { channel: "down".into(), payload: Some(info(title)), ..Default::default() };
    let province = topo.event_log("620000").await.unwrap().append(request).await.unwrap();
    let item = province.into_inner().event.unwrap().event.unwrap();
    until(Duration::from_secs(30), "the county holds the province's item", async || {
        stream(&topo, "620722", "620000", "down").await.len() == 1
    })
    .await;

    // 民乐县 turns liar: its node stops, and with its key and credentials
    // it signs the first event of its `up` stream under the province
    // item's id, with another title and an earlier clock (of two creating
    // events under one id, the folds keep the earlier).
    topo.kill9("620722");
    let forged = pb::Event {
        id: item.id.clone(),
        origin: "620722".into(),
        channel: "up".into(),
        seq: 1,
        hlc: item.hlc - (1 << 16),
        payload: Some(info("伪造的标题")),
        ..Default::default()
    };
    let signed = linkage_core::wire::sign(forged.encode_to_vec(), &key_of(&topo, "620722"));
    let push = pb::Push { events: vec![signed.into()], head_seq: 1, origin: "620722".into(), channel: "up".into() };
    let client = liar(&topo, "620722").await;
    client.publish("lk.620000.ev.620722.up", push.encode_to_vec().into()).await.unwrap();
    client.flush().await.unwrap();

    for code in ["620700", "620000"] {
        until(Duration::from_secs(30), "the forged event is stored, since its origin signed it", async || {
            stream(&topo, code, "620722", "up").await.len() == 1
        })
        .await;
        let shown = info_item(&topo, code, &item.id).await;
        assert_eq!((shown.origin.as_str(), shown.title.as_str()), ("620000", title), "{code} shows the forgery");
        let raised = alarms(&topo, code).await;
        assert_eq!(raised.len(), 1, "{code}: {raised:?}");
        assert_eq!(
            (raised[0].origin.as_str(), raised[0].rule.as_str(), raised[0].events),
            ("620722", "id_not_origin", 1)
        );
        assert_eq!(raised[0].examples[0].event_id, item.id);
        let counted = topo
            .metrics(code)
            .unwrap()
            .get("linkage_envelope_alarms_total", &["origin=\"620722\"", "rule=\"id_not_origin\""]);
        assert_eq!(counted, Some(1.0), "{code} counts the alarm");
    }

    // The county comes back, restores its stream (the forgery included:
    // it is seq 1) and goes on; its honest item is shown everywhere, and a
    // rebuild of the views keeps both the item and the alarm.
    drop(client);
    topo.restart("620722").await.unwrap();
    topo.wait_restored("620722").await.unwrap();
    let request =
        pb::AppendRequest {
            channel: "up".into(), payload: Some(info("民乐县的社情民意")), ..Default::default()
        };
    let honest = topo.event_log("620722").await.unwrap().append(request).await.unwrap();
    let honest = honest.into_inner().event.unwrap().event.unwrap();
    assert_eq!(honest.seq, 2, "the county chains on what it signed");
    until(Duration::from_secs(30), "the province gets the county's item", async || {
        stream(&topo, "620000", "620722", "up").await.len() == 2
    })
    .await;
    let mut admin = topo.admin("620000").await.unwrap();
    admin.rebuild_views(pb::RebuildViewsRequest {}).await.unwrap();
    for code in ["620000", "620722"] {
        assert_eq!(info_item(&topo, code, &honest.id).await.title, "民乐县的社情民意");
        let shown = info_item(&topo, code, &item.id).await;
        assert_eq!((shown.origin.as_str(), shown.title.as_str()), ("620000", title), "{code} shows the forgery");
        assert_eq!(alarms(&topo, code).await.len(), 1, "{code} keeps the alarm");
    }
}

/// Finding 6 of issue 20, its clock part: a receiver observed any remote
/// hlc into its own clock, so one event stamped far in the future dragged
/// every node's clock there. Now a timestamp more than
/// `hlc::SKEW_MAX_MS` ahead is stored with its event but not observed,
/// and counted by origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_far_future_timestamp_does_not_drag_a_nodes_clock() {
    let mut topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    topo.kill9("620722");
    // Year 2100, and one near 2^64.
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let mut prev = Vec::new();
    let mut events = Vec::new();
    for (seq, hlc) in [(1u64, 4_102_444_800_000u64 << 16), (2, u64::MAX - 7)] {
        let kind = info(&format!("来自未来的事件 {seq}")).kind.unwrap();
        let signed = signed_by(&topo, "620722", "up", seq, &prev, hlc, kind);
        prev = linkage_core::wire::hash(&signed).to_vec();
        events.push(bytes::Bytes::from(signed));
    }
    let push = pb::Push { events, head_seq: 2, origin: "620722".into(), channel: "up".into() };
    let client = liar(&topo, "620722").await;
    client.publish("lk.620000.ev.620722.up", push.encode_to_vec().into()).await.unwrap();
    client.flush().await.unwrap();
    until(Duration::from_secs(30), "the city stores the county's events", async || {
        stream(&topo, "620700", "620722", "up").await.len() == 2
    })
    .await;

    // The city's next event is stamped now, not in 2100.
    let notice = topo.event_log("620700").await.unwrap().append(down("通知")).await.unwrap();
    let stamped = linkage_core::hlc::physical_ms(notice.into_inner().event.unwrap().event.unwrap().hlc);
    assert!(
        stamped < now_ms + 60_000,
        "the city's clock was dragged to {}",
        linkage_core::hlc::utc_minutes_of_ms(stamped)
    );
    let counted = topo.metrics("620700").unwrap().get("linkage_clock_ahead_events_total", &["origin=\"620722\""]);
    assert_eq!(counted, Some(2.0), "both timestamps are counted");
}

/// Finding 6 of issue 20, its group part: a county that signed a join of
/// any group for itself at an hlc near 2^64 became a member for ever (and
/// was pushed the group's events and answered its pulls), and one that
/// formed a group's id at an hlc near 0 took it over. Now a group id
/// begins with its lead's code, only the lead forms it and adds members:
/// both events are stored and listed as alarms, and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_county_cannot_join_or_take_over_anothers_group() {
    use futures::StreamExt;
    let mut topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    let group = "620000-hexi";
    let formed = pb::payload::Kind::GroupFormed(pb::GroupFormed {
        group_id: group.into(),
        title: "河西走廊联动调研组".into(),
        lead: "620000".into(),
        members: vec!["620700".into()],
        topic_ids: vec![],
        rules: linkage_core::rules::GROUP_RULES,
    });
    let request = pb::AppendRequest {
        channel: "all".into(),
        payload: Some(pb::Payload { kind: Some(formed) }),
        ..Default::default()
    };
    topo.event_log("620000").await.unwrap().append(request).await.unwrap();
    until(Duration::from_secs(30), "the county holds the formation", async || {
        stream(&topo, "620722", "620000", "all").await.len() == 1
    })
    .await;

    topo.kill9("620722");
    let join = pb::payload::Kind::GroupJoined(pb::GroupJoined { group_id: group.into(), member: "620722".into() });
    let take = pb::payload::Kind::GroupFormed(pb::GroupFormed {
        group_id: group.into(),
        title: "民乐县接管的调研组".into(),
        lead: "620722".into(),
        members: vec!["620722".into()],
        topic_ids: vec![],
        rules: linkage_core::rules::GROUP_RULES,
    });
    let first = signed_by(&topo, "620722", "all", 1, &[], u64::MAX - (1 << 20), join);
    let second = signed_by(&topo, "620722", "all", 2, &linkage_core::wire::hash(&first), 1 << 16, take);
    let push = pb::Push {
        events: vec![first.into(), second.into()],
        head_seq: 2,
        origin: "620722".into(),
        channel: "all".into(),
    };
    let client = liar(&topo, "620722").await;
    let mut pushed_to_me = client.subscribe("lk.620000.dm.620722.>").await.unwrap();
    client.flush().await.unwrap();
    client.publish("lk.620000.ev.620722.all", push.encode_to_vec().into()).await.unwrap();
    client.flush().await.unwrap();
    until(Duration::from_secs(30), "the province stores both events", async || {
        stream(&topo, "620000", "620722", "all").await.len() == 2
    })
    .await;

    use linkage_proto::v1::progress_service_client::ProgressServiceClient;
    let mut progress = ProgressServiceClient::new(topo.channel("620000").await.unwrap());
    let shown = progress.get_group(pb::GetGroupRequest { group_id: group.into() }).await.unwrap().into_inner();
    let shown = shown.group.unwrap();
    assert_eq!(
        (shown.lead.as_str(), shown.title.as_str()),
        ("620000", "河西走廊联动调研组"),
        "the group was taken over"
    );
    assert!(!shown.members.iter().any(|m| m.node == "620722" && m.joined), "the county joined: {:?}", shown.members);
    let raised: Vec<(String, u64)> = alarms(&topo, "620000").await.into_iter().map(|a| (a.rule, a.events)).collect();
    assert_eq!(raised, [("group_not_origin".to_string(), 1), ("membership_not_authorized".to_string(), 1)]);

    // The province's next group event is not pushed to the county, and
    // its pull for the group is refused.
    let milestone = pb::payload::Kind::MilestoneReached(pb::MilestoneReached {
        group_id: group.into(),
        task_id: String::new(),
        title: "启动会".into(),
    });
    let request = pb::AppendRequest {
        channel: format!("group:{group}"),
        payload: Some(pb::Payload { kind: Some(milestone) }),
        ..Default::default()
    };
    topo.event_log("620000").await.unwrap().append(request).await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(3), pushed_to_me.next()).await;
    assert!(
        !matches!(heard, Ok(Some(ref m)) if m.subject.contains("group")),
        "the county was pushed the group: {heard:?}"
    );
    let pull = pb::PeerRequest {
        kind: Some(pb::peer_request::Kind::Pull(pb::PullRequest {
            origin: "620000".into(),
            channel: format!("group:{group}"),
            from_seq: 1,
            max_events: 10,
        })),
    };
    let answer = client.request("lk.620000.pull.620000.620722", pull.encode_to_vec().into()).await.unwrap();
    assert!(pb::PullResponse::decode(answer.payload).unwrap().denied, "the province served the group to the county");
}

/// Issue 22: who may say what is judged where events are folded. 民乐县
/// declaring its own item adopted by 全国政协 is refused by its node
/// (`FAILED_PRECONDITION` naming the field and the rule); signed by its key
/// and pushed by a liar with its credentials, the claim is stored (it is
/// signed evidence) but adds no level and no score at any node that holds
/// it, is listed on the item as disputed, and is counted against 民乐县.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_countys_own_national_adoption_is_refused_and_disputed_everywhere() {
    use linkage_proto::v1::exchange_service_client::ExchangeServiceClient;
    let mut topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    let request =
        pb::AppendRequest {
            channel: "up".into(), payload: Some(info("山区农村饮水安全")), ..Default::default()
        };
    let mut county = topo.event_log("620722").await.unwrap();
    let item = county.append(request).await.unwrap().into_inner().event.unwrap().event.unwrap();
    let national = |id: &str| {
        pb::payload::Kind::InfoAdopted(pb::InfoAdopted {
            info_id: id.into(),
            level: pb::AdoptionLevel::National as i32,
            by: "全国政协".into(),
            ..Default::default()
        })
    };
    let request = pb::AppendRequest {
        channel: "chain:620722".into(),
        payload: Some(pb::Payload { kind: Some(national(&item.id)) }),
        ..Default::default()
    };
    let refused = county.append(request).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains("payload.info_adopted.level"), "{refused:?}");
    assert!(refused.message().contains("rule adoption_not_own_level"), "{refused:?}");
    for code in ["620700", "620000"] {
        until(Duration::from_secs(30), "the item goes up", async || {
            stream(&topo, code, "620722", "up").await.len() == 1
        })
        .await;
    }

    // The county turns liar: the same claim, signed with its key, pushed
    // as the next event of its `up` stream.
    topo.kill9("620722");
    let first = stream(&topo, "620000", "620722", "up").await.remove(0).encode_to_vec();
    let claim = signed_by(
        &topo,
        "620722",
        "up",
        2,
        &linkage_core::wire::hash(&first),
        item.hlc + (1 << 16),
        national(&item.id),
    );
    let claim_id = pb::Event::decode(&claim[..]).unwrap().id;
    let push = pb::Push { events: vec![claim.into()], head_seq: 2, origin: "620722".into(), channel: "up".into() };
    let client = liar(&topo, "620722").await;
    client.publish("lk.620000.ev.620722.up", push.encode_to_vec().into()).await.unwrap();
    client.flush().await.unwrap();

    for code in ["620700", "620000"] {
        until(Duration::from_secs(30), "the signed claim is stored", async || {
            stream(&topo, code, "620722", "up").await.len() == 2
        })
        .await;
        let mut exchange = ExchangeServiceClient::new(topo.channel(code).await.unwrap());
        let shown = exchange.get_info_item(pb::GetInfoItemRequest { id: item.id.clone() }).await.unwrap().into_inner();
        let shown_item = shown.item.unwrap();
        assert!(shown_item.adopted_levels.is_empty(), "{code} counts the claim: {:?}", shown_item.adopted_levels);
        assert_eq!(shown.score, 0, "{code} scores the claim");
        let disputed: Vec<(&str, &str, &str)> =
            shown_item.disputed.iter().map(|d| (d.event_id.as_str(), d.origin.as_str(), d.rule.as_str())).collect();
        assert_eq!(disputed, [(claim_id.as_str(), "620722", "adoption_not_own_level")], "{code}");
        let raised: Vec<(String, String, u64)> =
            alarms(&topo, code).await.into_iter().map(|a| (a.origin, a.rule, a.events)).collect();
        assert_eq!(raised, [("620722".to_string(), "adoption_not_own_level".to_string(), 1)], "{code}");
    }
}

/// Issue 22, item 4: a chain (`chain:<code>`) is a node and the levels
/// above it, and only they send on it. 古浪县, turned liar, signs an event
/// on 民乐县's chain and pushes it to 张掖市 as a direct message: 张掖市
/// refuses it (counted as `not_entitled`) and stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_on_a_chain_its_origin_is_not_on_is_refused() {
    let mut topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    topo.kill9("620622");
    let feedback = pb::payload::Kind::InfoFeedback(pb::InfoFeedback {
        info_id: linkage_core::validate::format_event_id(&linkage_core::ids::event_id(
            "620722".parse().unwrap(),
            1 << 16,
            1,
        )),
        text: "冒充的反馈".into(),
    });
    let signed = signed_by(&topo, "620622", "chain:620722", 1, &[], 1 << 16, feedback);
    let push =
        pb::Push { events: vec![signed.into()], head_seq: 1, origin: "620622".into(), channel: "chain:620722".into() };
    let client = liar(&topo, "620622").await;
    client.publish("lk.620000.dm.620700.620622.chain.620722", push.encode_to_vec().into()).await.unwrap();
    client.flush().await.unwrap();
    until(Duration::from_secs(30), "张掖市 refuses the push", async || {
        topo.metrics("620700")
            .unwrap()
            .get("linkage_rejected_events_total", &["reason=\"not_entitled\"", "origin=\"620622\""])
            .is_some_and(|n| n >= 1.0)
    })
    .await;
    assert!(stream(&topo, "620700", "620622", "chain:620722").await.is_empty(), "张掖市 stored it");
}
