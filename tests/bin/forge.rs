//! `linkage-forge`: what a compromised office could send, for the demo and
//! for drills — never for production. With a stopped node's key and NATS
//! login from a local topology's working directory (`linkctl local up`),
//! it signs the next event of that node's chain stream, claiming that
//! 全国政协 adopted the node's own 社情民意 item, and pushes it to the
//! levels above. Every holder stores it (its origin signed it), lists it
//! on the item as disputed (rule adoption_not_own_level) and counts an
//! alarm against the office.
//!
//! Usage: linkage-forge WORKDIR CODE INFO_ID   (prints the forged event's id)

use linkage_core::pb;
use linkage_testkit::supervisor::Supervisor;
use prost::Message;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, workdir, code, info_id] = &args[..] else {
        anyhow::bail!("usage: linkage-forge WORKDIR CODE INFO_ID");
    };
    let workdir = std::path::Path::new(workdir);
    let supervisor = Supervisor::attach(workdir)?;
    let manifest = supervisor.manifest();
    let node = manifest.node(code)?;
    anyhow::ensure!(
        !linkage_testkit::process::alive(node.pid),
        "{code} still runs: stop it first (linkctl local kill), or its next event forks its own stream"
    );
    let key_hex = std::fs::read_to_string(node.data_dir(code)?.join("node.key"))?;
    let key_bytes: [u8; 32] =
        hex::decode(key_hex.trim())?.try_into().map_err(|_| anyhow::anyhow!("node.key: not 32 bytes"))?;
    let key = ed25519_dalek::SigningKey::from_bytes(&key_bytes);

    // The stream's head, as the province holds it.
    let channel = format!("chain:{code}");
    let province = manifest.node("620000")?.grpc.clone().unwrap_or_default();
    let endpoint = linkage_testkit::pki::endpoint(&province, supervisor.client_tls()?.as_ref())?;
    let mut client = linkage_proto::v1::event_log_service_client::EventLogServiceClient::new(endpoint.connect().await?)
        .max_decoding_message_size(64 << 20);
    let held: Vec<pb::Event> = linkage_testkit::read_all(&mut client)
        .await?
        .into_iter()
        .filter_map(|s| s.event)
        .filter(|e| e.origin == *code && e.channel == channel)
        .collect();
    let (seq, prev) = match held.last() {
        Some(last) => (last.seq + 1, linkage_core::wire::hash(&last.encode_to_vec()).to_vec()),
        None => (1, Vec::new()),
    };
    let hlc = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as u64) << 16;
    let event = pb::Event {
        id: linkage_core::validate::format_event_id(&linkage_core::ids::event_id(code.parse()?, hlc, 1 << 30)),
        origin: code.clone(),
        channel: channel.clone(),
        seq,
        hlc,
        prev_hash: prev,
        payload: Some(pb::Payload {
            kind: Some(pb::payload::Kind::InfoAdopted(pb::InfoAdopted {
                info_id: info_id.clone(),
                level: pb::AdoptionLevel::National as i32,
                by: "全国政协".into(),
                combined: false,
                topology_version: 0,
            })),
        }),
        ..Default::default()
    };
    let id = event.id.clone();
    let signed = linkage_core::wire::sign(event.encode_to_vec(), &key);
    let push = pb::Push { events: vec![signed.into()], head_seq: seq, origin: code.clone(), channel };

    let (ca, cert, tls_key) =
        linkage_testkit::pki::local_nats_tls(workdir).ok_or_else(|| anyhow::anyhow!("the broker serves no TLS"))?;
    let nats = async_nats::ConnectOptions::with_nkey(linkage_core::nkey::seed(&key))
        .require_tls(true)
        .add_root_certificates(ca)
        .add_client_certificate(cert, tls_key)
        .custom_inbox_prefix(format!("_INBOX_{code}"))
        .connect(manifest.nats.url.clone().unwrap_or_default())
        .await?;
    let topology = linkage_core::Topology::from_toml(&std::fs::read_to_string(workdir.join("topology.toml"))?)?;
    let me: linkage_core::NodeCode = code.parse()?;
    let subjects = linkage_core::subjects::Subjects;
    let chain = linkage_core::channel::chain_members(&topology, me);
    let bytes: bytes::Bytes = push.encode_to_vec().into();
    for subject in subjects.push(me, &format!("chain:{code}").parse().map_err(anyhow::Error::msg)?, &chain) {
        nats.publish(subject, bytes.clone()).await?;
    }
    nats.flush().await?;
    println!("{id}");
    Ok(())
}
