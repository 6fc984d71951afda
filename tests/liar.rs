//! What a liar needs in the tests of `lies.rs` and `claims.rs`: a raw NATS
//! client logged in with a node's NKey, its signing key, events it
//! signs, and what to read back from the nodes it lies to.

use linkage_core::pb;
use linkage_testkit::topology::LocalTopology;
use prost::Message;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A raw NATS client logged in with `code`'s NKey, with its inbox.
pub async fn liar(topo: &LocalTopology, code: &str) -> async_nats::Client {
    watched(topo, code).await.0
}

/// A raw NATS client logged in with `code`'s NKey, with its inbox; the
/// server's errors (permissions violations) arrive on the receiver.
pub async fn watched(topo: &LocalTopology, code: &str) -> (async_nats::Client, mpsc::UnboundedReceiver<String>) {
    let (ca, cert, key) = topo.nats_tls().expect("the topology's broker serves TLS");
    let (tx, rx) = mpsc::unbounded_channel();
    let client = async_nats::ConnectOptions::with_nkey(topo.nats_seed(code))
        .require_tls(true)
        .add_root_certificates(ca)
        .add_client_certificate(cert, key)
        .custom_inbox_prefix(format!("_INBOX_{code}"))
        .event_callback(move |event| {
            let tx = tx.clone();
            async move {
                if let async_nats::Event::ServerError(e) = event {
                    let _ = tx.send(e.to_string());
                }
            }
        })
        .connect(topo.nats_url())
        .await
        .unwrap();
    (client, rx)
}

/// The next server error is a permissions violation, within 5 s.
pub async fn expect_violation(errors: &mut mpsc::UnboundedReceiver<String>, what: &str) {
    let e = tokio::time::timeout(Duration::from_secs(5), errors.recv()).await.expect(what).unwrap();
    assert!(e.to_lowercase().contains("permissions violation"), "{what}: {e}");
}

pub fn down(title: &str) -> pb::AppendRequest {
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
pub async fn until(limit: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Events `code` refused as re-encodings (`linkage_rejected_events_total`).
pub fn refused(topo: &LocalTopology, code: &str) -> Option<f64> {
    let metrics = topo.metrics(code).ok()?;
    metrics.sum("linkage_rejected_events_total", &["reason=\"not_canonical\""])
}

/// The events of `origin`/`channel` that `code` holds, by seq.
pub async fn stream(topo: &LocalTopology, code: &str, origin: &str, channel: &str) -> Vec<pb::Event> {
    let held = topo.holdings(code).await.unwrap_or_default();
    held.into_iter().filter(|(k, _)| k.0 == origin && k.1 == channel).map(|(_, e)| e).collect()
}

/// The signing key of `code`, as its node keeps it.
pub fn key_of(topo: &LocalTopology, code: &str) -> ed25519_dalek::SigningKey {
    let hex_key = std::fs::read_to_string(topo.data_dir(code).join("node.key")).unwrap();
    ed25519_dalek::SigningKey::from_bytes(&hex::decode(hex_key.trim()).unwrap().try_into().unwrap())
}

pub fn info(title: &str) -> pb::Payload {
    pb::Payload {
        kind: Some(pb::payload::Kind::InfoReported(pb::InfoReported {
            title: title.into(),
            body: "群众反映的问题".into(),
            ..Default::default()
        })),
    }
}

pub async fn info_item(topo: &LocalTopology, code: &str, id: &str) -> pb::InfoItem {
    use linkage_proto::v1::exchange_service_client::ExchangeServiceClient;
    let mut client = ExchangeServiceClient::new(topo.channel(code).await.unwrap());
    let asked = pb::GetInfoItemRequest { id: id.into() };
    client.get_info_item(asked).await.unwrap().into_inner().item.unwrap()
}

pub async fn alarms(topo: &LocalTopology, code: &str) -> Vec<pb::Alarm> {
    let mut admin = topo.admin(code).await.unwrap();
    admin.list_alarms(pb::ListAlarmsRequest {}).await.unwrap().into_inner().alarms
}

/// The sum of every series of `name` that `code` exports.
pub fn total(topo: &LocalTopology, code: &str, name: &str) -> f64 {
    let metrics = topo.metrics(code).unwrap();
    let series = metrics.body.lines().filter(|l| l.split([' ', '{']).next() == Some(name));
    series.filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

pub fn ignored(topo: &LocalTopology, code: &str, reason: &str) -> f64 {
    let metrics = topo.metrics(code).unwrap();
    metrics.get("linkage_claims_ignored_total", &[&format!("reason=\"{reason}\"")]).unwrap_or(0.0)
}

pub async fn replication(topo: &LocalTopology, code: &str) -> pb::ReplicationResponse {
    topo.admin(code).await.unwrap().replication(pb::ReplicationRequest {}).await.unwrap().into_inner()
}

/// An event signed by `code` with the key it keeps, `seq` of `channel`
/// after `prev`, stamped `hlc`, at the origin position `position`.
pub fn signed_by(
    topo: &LocalTopology,
    code: &str,
    channel: &str,
    seq: u64,
    prev: &[u8],
    hlc: u64,
    kind: pb::payload::Kind,
) -> Vec<u8> {
    let event = pb::Event {
        id: linkage_core::validate::format_event_id(&linkage_core::ids::event_id(code.parse().unwrap(), hlc, seq)),
        origin: code.into(),
        channel: channel.into(),
        seq,
        hlc,
        prev_hash: prev.to_vec(),
        payload: Some(pb::Payload { kind: Some(kind) }),
        ..Default::default()
    };
    linkage_core::wire::sign(event.encode_to_vec(), &key_of(topo, code))
}
