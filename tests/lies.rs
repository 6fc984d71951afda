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
