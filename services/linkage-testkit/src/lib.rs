//! Real processes for tests, the bench and linkctl's local runner: the
//! one supervisor of `linkage-node`, `linkctl` and `nats-server` processes.
//!
//! # Layout
//! - [`process`]: one `alive`, signals, waiting, starting a process detached.
//! - [`manifest`]: [`Manifest`], the typed `nodes.json` of a local topology.
//! - [`binaries`]: one `bin_dir`, building the binaries a test runs.
//! - [`pki`]: [`pki::Pki`], a test's CA; node and client certificates,
//!   and the TLS every client here connects with.
//! - [`supervisor`]: [`Supervisor`], killing, restarting and stopping the
//!   processes a manifest names; kills them on drop when it owns them.
//! - [`node`]: [`NodeProcess`], one node without a broker.
//! - [`workspace`]: where the workspace and its topology files are.
//! - [`topology`]: [`topology::LocalTopology`], a whole topology in a temp
//!   dir through `deploy/local/up`, with convergence checks.

pub mod binaries;
pub mod manifest;
pub mod node;
pub mod pki;
pub mod process;
pub mod supervisor;
pub mod topology;
pub mod workspace;

pub use binaries::{bin_dir, linkctl_bin, node_bin};
pub use manifest::Manifest;
pub use node::{Metrics, NodeProcess, START_TIMEOUT};
pub use supervisor::Supervisor;
pub use workspace::{topology, workspace_root};

use linkage_proto::v1::event_log_service_client::EventLogServiceClient;
use tonic::transport::Channel;

/// An `InfoReported` (社情民意) append on `channel`: the event most tests
/// append when its content does not matter beyond telling events apart.
pub fn info_reported(channel: &str, title: String, body: &str) -> linkage_proto::v1::AppendRequest {
    use linkage_proto::v1 as pb;
    let item = pb::InfoReported { title, body: body.into(), ..Default::default() };
    request(channel, pb::payload::Kind::InfoReported(item))
}

/// An append request of one payload on `channel`.
pub fn request(channel: &str, kind: linkage_proto::v1::payload::Kind) -> linkage_proto::v1::AppendRequest {
    use linkage_proto::v1 as pb;
    pb::AppendRequest { channel: channel.into(), payload: Some(pb::Payload { kind: Some(kind) }), ..Default::default() }
}

/// 甘肃省委办公厅's adoption of item `info_id` at the province's level
/// (单篇), as the province records it on the item's chain.
pub fn province_adoption(info_id: &str) -> linkage_proto::v1::payload::Kind {
    use linkage_proto::v1 as pb;
    pb::payload::Kind::InfoAdopted(pb::InfoAdopted {
        info_id: info_id.into(),
        level: pb::AdoptionLevel::Province as i32,
        by: "甘肃省委办公厅".into(),
        combined: false,
        topology_version: 0,
    })
}

/// Every event a node's local log holds, in position order, read page by
/// page from position 1.
pub async fn read_all(
    client: &mut EventLogServiceClient<Channel>,
) -> Result<Vec<linkage_proto::v1::StoredEvent>, tonic::Status> {
    use linkage_proto::v1 as pb;
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .read(pb::ReadRequest {
                range: Some(pb::read_request::Range::FromPosition(1)),
                page_size: 1000,
                page_token: token,
            })
            .await?
            .into_inner();
        out.extend(page.events);
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        token = page.next_page_token;
    }
}

/// A loopback address that refuses connections for as long as the socket
/// returned is kept: bound, so no other process (a node of a test running
/// beside) can take its port, but not listening.
pub fn unused_address() -> (tokio::net::TcpSocket, std::net::SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    socket.bind("127.0.0.1:0".parse().expect("an address")).expect("binding a loopback port");
    let addr = socket.local_addr().expect("a bound address");
    (socket, addr)
}

/// True when the long fault-injection variants should run.
pub fn long_tests() -> bool {
    std::env::var_os("LINKAGE_LONG_TESTS").is_some_and(|v| v != "0" && !v.is_empty())
}

/// Sends `requests` as one `AppendBatch` to the node `url` names (read
/// afresh at each try, so that it follows a restart), again with the same
/// requests — same idempotency keys — until the node acknowledges them.
/// Calls `retried` after each failed try; panics at `deadline`.
pub async fn append_batch_retrying(
    url: &impl Fn() -> anyhow::Result<tonic::transport::Endpoint>,
    requests: &[linkage_proto::v1::AppendRequest],
    deadline: std::time::Instant,
    mut retried: impl FnMut(),
) {
    use std::time::Duration;
    loop {
        let attempt = async {
            let channel = url()?.connect_timeout(Duration::from_secs(2)).connect().await?;
            let batch = linkage_proto::v1::AppendBatchRequest { requests: requests.to_vec(), ..Default::default() };
            EventLogServiceClient::new(channel).append_batch(batch).await?;
            anyhow::Ok(())
        };
        if attempt.await.is_ok() {
            return;
        }
        retried();
        assert!(std::time::Instant::now() < deadline, "a node did not take a batch in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `len` bytes that do not compress (xorshift from `seed`): a document's
/// body for tests and the bench.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}
