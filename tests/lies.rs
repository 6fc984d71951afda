//! Peers that lie. Each test is one office's node turned liar — its real
//! NATS credentials in a raw client, the node itself stopped so that only
//! the liar answers — against real node processes and a real nats-server:
//! nothing it makes up is stored or shown, the refusal is counted by its
//! reason, and replication goes on once honest nodes answer again.

use linkage_core::pb;
use linkage_node::config::NatsCredentials;
use linkage_testkit::topology::LocalTopology;
use prost::Message;
use std::time::{Duration, Instant};

/// A raw NATS client with `code`'s generated credentials and inbox.
async fn liar(topo: &LocalTopology, code: &str) -> async_nats::Client {
    let creds = NatsCredentials::load(&topo.credentials(code)).unwrap();
    async_nats::ConnectOptions::new()
        .user_and_password(creds.user, creds.password)
        .custom_inbox_prefix(format!("_INBOX_{code}"))
        .connect(topo.nats_url())
        .await
        .unwrap()
}

fn down(title: &str) -> pb::AppendRequest {
    pb::AppendRequest {
        channel: "down".into(),
        payload: Some(pb::Payload {
            kind: Some(pb::payload::Kind::NoticeIssued(pb::NoticeIssued {
                title: title.into(),
                body: "请各县区政协按时报送".into(),
                ..Default::default()
            })),
        }),
        ..Default::default()
    }
}

/// Waits until `check` holds, failing with `what` after `limit`.
async fn until(limit: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Events `code` refused as re-encodings (`linkage_rejected_events_total`).
fn refused(topo: &LocalTopology, code: &str) -> Option<f64> {
    let metrics = topo.metrics(code).ok()?;
    metrics.get("linkage_rejected_events_total", &["reason=\"not_canonical\""])
}

/// The events of `origin`/`channel` that `code` holds, by seq.
async fn stream(topo: &LocalTopology, code: &str, origin: &str, channel: &str) -> Vec<pb::Event> {
    let held = topo.holdings(code).await.unwrap_or_default();
    held.into_iter().filter(|(k, _)| k.0 == origin && k.1 == channel).map(|(_, e)| e).collect()
}

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
    let mut who = client.subscribe("lk.who.620700").await.unwrap();
    let mut pulls = client.subscribe("lk.pull.620722.620700").await.unwrap();
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
    let mut broadcast = client.subscribe("lk.ev.620000.down").await.unwrap();
    client.flush().await.unwrap();
    let heads = pb::PeerRequest { kind: Some(pb::peer_request::Kind::Heads(pb::HeadsRequest::default())) };
    let who = pb::HeadsRequest { origin: "620722".into() };
    for _ in 0..3 {
        client
            .publish_with_reply("lk.pull.620000.620722", "lk.ev.620000.down", heads.encode_to_vec().into())
            .await
            .unwrap();
        client.publish_with_reply("lk.who.620722", "lk.ev.620000.down", who.encode_to_vec().into()).await.unwrap();
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
    let answer = client.request("lk.pull.620000.620722", heads.encode_to_vec().into()).await.unwrap();
    assert!(pb::HeadsResponse::decode(answer.payload).is_ok_and(|h| h.node == "620000"));
    for code in ["620700", "620722", "620102"] {
        let rejected = topo.metrics(code).unwrap().get("linkage_rejected_events_total", &[]).unwrap_or(0.0);
        assert_eq!(rejected, 0.0, "{code} counted a rejected event");
    }
}

/// The signing key of `code`, as its node keeps it.
fn key_of(topo: &LocalTopology, code: &str) -> ed25519_dalek::SigningKey {
    let hex_key = std::fs::read_to_string(topo.data_dir(code).join("node.key")).unwrap();
    ed25519_dalek::SigningKey::from_bytes(&hex::decode(hex_key.trim()).unwrap().try_into().unwrap())
}

fn info(title: &str) -> pb::Payload {
    pb::Payload {
        kind: Some(pb::payload::Kind::InfoReported(pb::InfoReported {
            title: title.into(),
            body: "群众反映的问题".into(),
            ..Default::default()
        })),
    }
}

async fn info_item(topo: &LocalTopology, code: &str, id: &str) -> pb::InfoItem {
    use linkage_proto::v1::exchange_service_client::ExchangeServiceClient;
    let mut client = ExchangeServiceClient::new(topo.channel(code).await.unwrap());
    let asked = pb::GetInfoItemRequest { id: id.into() };
    client.get_info_item(asked).await.unwrap().into_inner().item.unwrap()
}

async fn alarms(topo: &LocalTopology, code: &str) -> Vec<pb::Alarm> {
    let mut admin = topo.admin(code).await.unwrap();
    admin.list_alarms(pb::ListAlarmsRequest {}).await.unwrap().into_inner().alarms
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
    client.publish("lk.ev.620722.up", push.encode_to_vec().into()).await.unwrap();
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

/// The sum of every series of `name` that `code` exports.
fn total(topo: &LocalTopology, code: &str, name: &str) -> f64 {
    let metrics = topo.metrics(code).unwrap();
    let series = metrics.body.lines().filter(|l| l.split([' ', '{']).next() == Some(name));
    series.filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

fn ignored(topo: &LocalTopology, code: &str, reason: &str) -> f64 {
    let metrics = topo.metrics(code).unwrap();
    metrics.get("linkage_claims_ignored_total", &[&format!("reason=\"{reason}\"")]).unwrap_or(0.0)
}

async fn replication(topo: &LocalTopology, code: &str) -> pb::ReplicationResponse {
    topo.admin(code).await.unwrap().replication(pb::ReplicationRequest {}).await.unwrap().into_inner()
}

/// Finding 2 of issue 20: anyone may answer "who holds my streams?" and
/// name any node, and a restoring node waited for the largest head
/// claimed: one answer claiming 10^12 kept a county from appending until
/// it was restarted. Now a claim only says whom to ask, and what the
/// claimant cannot prove is ignored and counted: the county restores what
/// its city holds and appends after it, within a bounded time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_finishes_though_a_liar_claims_a_head_nobody_holds() {
    use futures::StreamExt;
    let mut topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    let mut county = topo.event_log("620722").await.unwrap();
    for n in 1..=3 {
        let request = pb::AppendRequest {
            channel: "up".into(),
            payload: Some(info(&format!("社情民意 {n}"))),
            ..Default::default()
        };
        county.append(request).await.unwrap();
    }
    until(Duration::from_secs(30), "the city holds the county's items", async || {
        stream(&topo, "620700", "620722", "up").await.len() == 3
    })
    .await;

    // The county loses its store. Another county's credentials answer its
    // "who holds my streams?" in the city's name, claiming 10^12 events.
    topo.kill9("620722");
    std::fs::remove_dir_all(topo.data_dir("620722").join("store")).unwrap();
    let client = liar(&topo, "620622").await;
    let mut who = client.subscribe("lk.who.620722").await.unwrap();
    client.flush().await.unwrap();
    let answering = tokio::spawn({
        let client = client.clone();
        async move {
            while let Some(asked) = who.next().await {
                let claim = |channel: &str| pb::StreamHead {
                    origin: "620722".into(),
                    channel: channel.into(),
                    seq: 1_000_000_000_000,
                };
                for node in ["620700", "620622"] {
                    let heads = pb::HeadsResponse { heads: vec![claim("up"), claim("all")], node: node.into() };
                    let _ = client.publish(asked.reply.clone().unwrap(), heads.encode_to_vec().into()).await;
                }
            }
        }
    });
    let started = Instant::now();
    topo.restart("620722").await.unwrap();
    until(Duration::from_secs(120), "the county finishes its restore under the liar", async || {
        replication(&topo, "620722").await.restored
    })
    .await;
    eprintln!("restored under a liar in {:?}", started.elapsed());
    assert!(ignored(&topo, "620722", "unproved") >= 1.0, "the unproved claims are counted");

    // It holds what the city proved, and appends after it.
    let request =
        pb::AppendRequest { channel: "up".into(), payload: Some(info("社情民意 4")), ..Default::default() };
    let fourth = topo.event_log("620722").await.unwrap().append(request).await.unwrap();
    assert_eq!(fourth.into_inner().event.unwrap().event.unwrap().seq, 4, "no seq is issued twice");
    until(Duration::from_secs(30), "the city gets the fourth item", async || {
        stream(&topo, "620700", "620722", "up").await.len() == 4
    })
    .await;
    answering.abort();
}

/// Finding 4 of issue 20: heads were believed without proof. A county's
/// heads answers gave its city a lag of 4.6·10^18 that never cleared, made
/// it track a stream it may not see and invent thousands of streams, and
/// an empty push claiming 2^63 did the same for the county's own stream.
/// Now a claim only makes the city ask once; what is not proved goes; what
/// it may not see or cannot exist is ignored; streams, metric series and
/// pulls stay bounded; and the province's notices still arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claimed_heads_make_a_node_ask_but_never_believe() {
    use futures::StreamExt;
    let mut topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    topo.event_log("620000").await.unwrap().append(down("通知 1")).await.unwrap();
    until(Duration::from_secs(30), "the city holds the province's notice", async || {
        stream(&topo, "620700", "620000", "down").await.len() == 1
    })
    .await;
    let series_before = topo.metrics("620700").unwrap().body.lines().filter(|l| !l.starts_with('#')).count();

    // 民乐县 turns liar: it answers its city's heads requests with made-up
    // heads, and its pulls with nothing; it announces a head of 2^63.
    topo.kill9("620722");
    let client = liar(&topo, "620722").await;
    let mut asked = client.subscribe("lk.pull.620722.>").await.unwrap();
    client.flush().await.unwrap();
    let mut claims = vec![
        pb::StreamHead { origin: "620000".into(), channel: "down".into(), seq: 4_600_000_000_000_000_000 },
        pb::StreamHead { origin: "620622".into(), channel: "up".into(), seq: 1_000_000_000 },
        pb::StreamHead { origin: "629999".into(), channel: "up".into(), seq: 7 },
        pb::StreamHead { origin: "620722".into(), channel: "up".into(), seq: 1 << 63 },
        // The city may see this stream, the county may not hold it: the
        // city would never ask the county, so the claim could never go.
        pb::StreamHead { origin: "620000".into(), channel: "to:620700".into(), seq: 1_000_000_000 },
    ];
    claims.extend((0..15_000).map(|n| pb::StreamHead {
        origin: "620722".into(),
        channel: format!("group:invented-{n}"),
        seq: 1_000_000,
    }));
    let answering = tokio::spawn({
        let client = client.clone();
        async move {
            while let Some(request) = asked.next().await {
                let answer = match pb::PeerRequest::decode(request.payload) {
                    Ok(pb::PeerRequest { kind: Some(pb::peer_request::Kind::Heads(_)) }) => {
                        pb::HeadsResponse { heads: claims.clone(), node: "620722".into() }.encode_to_vec()
                    }
                    _ => pb::PullResponse::default().encode_to_vec(),
                };
                let _ = client.publish(request.reply.unwrap(), answer.into()).await;
            }
        }
    });
    let announce = pb::Push { events: vec![], head_seq: 1 << 63, origin: "620722".into(), channel: "up".into() };
    // With the county's key: one signed event at seq 2^62 that links to
    // nothing (it verifies alone), and empty pushes on group streams the
    // city is in none of.
    let far = pb::Event {
        id: linkage_core::validate::format_event_id(&linkage_core::ids::event_id(
            "620722".parse().unwrap(),
            1 << 40,
            1 << 30,
        )),
        origin: "620722".into(),
        channel: "up".into(),
        seq: 1 << 62,
        hlc: 1 << 40,
        prev_hash: vec![7; 32],
        payload: Some(info("远处的事件")),
        ..Default::default()
    };
    let far = linkage_core::wire::sign(far.encode_to_vec(), &key_of(&topo, "620722"));
    let far = pb::Push { events: vec![far.into()], head_seq: 1 << 62, origin: "620722".into(), channel: "up".into() };
    client.publish("lk.ev.620722.up", far.encode_to_vec().into()).await.unwrap();
    for n in 0..2_000 {
        let junk =
            pb::Push { events: vec![], head_seq: 9, origin: "620722".into(), channel: format!("group:junk-{n}") };
        client.publish(format!("lk.dm.620700.620722.group.junk-{n}"), junk.encode_to_vec().into()).await.unwrap();
    }
    let pulls_before = total(&topo, "620700", "linkage_pulls_total");
    let window = Instant::now();
    while window.elapsed() < Duration::from_secs(10) {
        client.publish("lk.ev.620722.up", announce.encode_to_vec().into()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pulls = total(&topo, "620700", "linkage_pulls_total") - pulls_before;

    let status = replication(&topo, "620700").await;
    let series = topo.metrics("620700").unwrap().body.lines().filter(|l| !l.starts_with('#')).count();
    eprintln!(
        "under the flood: {} streams tracked, {series_before} → {series} series, {pulls} pulls in 10 s",
        status.streams.len()
    );
    assert!(status.streams.len() < 100, "the city tracks {} streams", status.streams.len());
    for s in &status.streams {
        assert!(s.lag_events < 1_000, "a claimed head became a lag: {s:?}");
        assert!(!(s.origin == "620622" && s.channel == "up"), "the city tracks a stream it may not see");
        assert!(!s.channel.starts_with("group:invented"), "the city tracks an invented stream");
        assert!(!s.channel.starts_with("group:junk"), "the city tracks a pushed stream it may not see");
    }
    assert!(series < series_before + 200, "metric series grew from {series_before} to {series}");
    assert!(pulls < 200.0, "{pulls} pulls in 10 s");
    for reason in ["not_entitled", "unknown_node", "unproved", "claimant_not_entitled"] {
        assert!(ignored(&topo, "620700", reason) >= 1.0, "claims ignored as {reason} are counted");
    }

    // The province's notices still arrive.
    topo.event_log("620000").await.unwrap().append(down("通知 2")).await.unwrap();
    until(Duration::from_secs(30), "the city gets the province's next notice", async || {
        stream(&topo, "620700", "620000", "down").await.len() == 2
    })
    .await;
    answering.abort();
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
    let key = key_of(&topo, "620722");
    let mut prev = Vec::new();
    let mut events = Vec::new();
    for (seq, hlc) in [(1u64, 4_102_444_800_000u64 << 16), (2, u64::MAX - 7)] {
        let event = pb::Event {
            id: linkage_core::validate::format_event_id(&linkage_core::ids::event_id(
                "620722".parse().unwrap(),
                hlc,
                seq,
            )),
            origin: "620722".into(),
            channel: "up".into(),
            seq,
            hlc,
            prev_hash: prev.clone(),
            payload: Some(info(&format!("来自未来的事件 {seq}"))),
            ..Default::default()
        };
        let signed = linkage_core::wire::sign(event.encode_to_vec(), &key);
        prev = linkage_core::wire::hash(&signed).to_vec();
        events.push(bytes::Bytes::from(signed));
    }
    let push = pb::Push { events, head_seq: 2, origin: "620722".into(), channel: "up".into() };
    let client = liar(&topo, "620722").await;
    client.publish("lk.ev.620722.up", push.encode_to_vec().into()).await.unwrap();
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
