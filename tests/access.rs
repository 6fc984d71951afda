//! Trust no client: the contract of who may call what, over real TLS to a
//! real node process (`services/linkage-node/src/access.rs` has the table).

use linkage_core::pb;
use linkage_pki::Validity;
use linkage_testkit::pki::{Pki, ALL_ROLES, OPERATOR};
use linkage_testkit::{topology, NodeProcess};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PLATFORM: &str = "platform-620000";
const READER: &str = "reader-620000";
const OPS: &str = "ops-gansu";

fn access() -> Vec<(&'static str, &'static [&'static str])> {
    vec![(OPERATOR, ALL_ROLES), (PLATFORM, &["platform"]), (READER, &["reader"]), (OPS, &["operator"])]
}

fn start(dir: &std::path::Path, extra: &[&str]) -> NodeProcess {
    NodeProcess::start_secured(&linkage_testkit::node_bin(), "620000", &topology("demo.toml"), dir, extra, &access())
        .unwrap()
}

fn notice(title: &str) -> pb::AppendRequest {
    linkage_testkit::info_reported("down", title.to_owned(), "正文")
}

async fn events(node: &NodeProcess) -> u64 {
    node.admin().await.unwrap().status(pb::StatusRequest {}).await.unwrap().into_inner().events
}

async fn append_as(node: &NodeProcess, principal: Option<&str>, title: &str) -> Result<(), tonic::Status> {
    let channel = node.channel_as(principal).await.unwrap();
    pb::event_log_service_client::EventLogServiceClient::new(channel).append(notice(title)).await.map(|_| ())
}

async fn rebuild_as(node: &NodeProcess, principal: &str) -> Result<(), tonic::Status> {
    let channel = node.channel_as(Some(principal)).await.unwrap();
    pb::admin_service_client::AdminServiceClient::new(channel)
        .rebuild_views(pb::RebuildViewsRequest {})
        .await
        .map(|_| ())
}

fn denied(result: Result<(), tonic::Status>, code: tonic::Code, says: &str) {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(status.message().contains(says), "{:?} does not say {says:?}", status.message());
}

/// A raw TLS connection with `config`: the handshake, the HTTP/2 preface,
/// and the server's first bytes. TLS 1.3 servers judge the client's
/// certificate after the client's last handshake message, so a refusal
/// arrives as an alert on the first read.
async fn raw_tls(addr: std::net::SocketAddr, config: Arc<rustls::ClientConfig>) -> std::io::Result<usize> {
    raw_tls_from(std::net::Ipv4Addr::LOCALHOST, addr, config).await
}

/// [`raw_tls`] from the loopback address `from`.
async fn raw_tls_from(
    from: std::net::Ipv4Addr,
    addr: std::net::SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<usize> {
    let mut config = (*config).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind((from, 0).into())?;
    let tcp = socket.connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap().to_owned();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await?;
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await?;
    tls.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await?; // an empty SETTINGS frame
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await??;
    if n == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"));
    }
    Ok(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_caller_gets_the_answer_the_contract_names() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]);
    let pki = node.pki().unwrap().clone();
    let before = events(&node).await;

    // No certificate: health answers (probes), everything else is refused.
    let health = tonic_health::pb::health_client::HealthClient::new(node.channel_as(None).await.unwrap())
        .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status(), tonic_health::pb::health_check_response::ServingStatus::Serving);
    denied(append_as(&node, None, "anonymous").await, tonic::Code::Unauthenticated, "no client certificate");

    // A listed principal without the role: refused, naming the role.
    denied(append_as(&node, Some(READER), "a reader appends").await, tonic::Code::PermissionDenied, "`platform`");
    denied(rebuild_as(&node, PLATFORM).await, tonic::Code::PermissionDenied, "`operator`");
    // Another node's principal, from the same CA, not on this node's list.
    denied(
        append_as(&node, Some("620700"), "as a city").await,
        tonic::Code::PermissionDenied,
        "not allowed on node 620000",
    );
    assert_eq!(events(&node).await, before, "a refused call wrote nothing");

    // The roles that fit are let through.
    append_as(&node, Some(PLATFORM), "the platform appends").await.unwrap();
    rebuild_as(&node, OPS).await.unwrap();
    let mut reader =
        pb::exchange_service_client::ExchangeServiceClient::new(node.channel_as(Some(READER)).await.unwrap());
    reader.list_info_items(pb::ListInfoItemsRequest::default()).await.unwrap();
    assert_eq!(events(&node).await, before + 1);

    // Another CA's certificate, or one out of its dates: the handshake
    // fails, before any gRPC status could be sent.
    let foreign_dir = tempfile::tempdir().unwrap();
    let foreign = Pki::open_or_create(foreign_dir.path()).unwrap();
    let (cert, key) = foreign.client(PLATFORM).unwrap();
    let other_ca = client_config(&pki.ca_cert(), &cert, &key);
    assert!(raw_tls(node.addr, other_ca).await.is_err(), "a certificate of another CA is refused");
    let now = time::OffsetDateTime::now_utc();
    let expired = Validity { not_before: now - time::Duration::days(2), not_after: now - time::Duration::days(1) };
    let (expired_cert, expired_key) = pki.client_with("platform-expired", expired).unwrap();
    let expired_config = client_config(&pki.ca_cert(), &expired_cert, &expired_key);
    assert!(raw_tls(node.addr, expired_config).await.is_err(), "an expired certificate is refused");
    // The same raw client with a good certificate gets HTTP/2 bytes.
    assert!(raw_tls(node.addr, pki.rustls_client(Some(PLATFORM)).unwrap()).await.unwrap() > 0);
    // And through tonic: a transport error, not a gRPC status.
    let endpoint = tonic::transport::Endpoint::from_shared(node.url())
        .unwrap()
        .tls_config(linkage_testkit::pki::client_tls(&pki.ca_cert(), Some((&cert, &key))).unwrap())
        .unwrap();
    if let Ok(channel) = endpoint.connect().await {
        let refused = pb::event_log_service_client::EventLogServiceClient::new(channel).append(notice("x")).await;
        let status = refused.expect_err("refused");
        assert!(
            !matches!(status.code(), tonic::Code::Unauthenticated | tonic::Code::PermissionDenied),
            "a TLS refusal is no gRPC answer: {status:?}"
        );
    }
    assert_eq!(events(&node).await, before + 1);
}

/// A raw client trusting `ca` and presenting `cert` with `key`.
fn client_config(ca: &std::path::Path, cert: &std::path::Path, key: &std::path::Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(linkage_pki::tls::read_certs(ca).unwrap().remove(0)).unwrap();
    let (cert, key) = (linkage_pki::tls::read_certs(cert).unwrap(), linkage_pki::tls::read_key(key).unwrap());
    Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_client_auth_cert(cert, key).unwrap())
}

/// A node, and a connection to it as the platform that has appended once.
async fn node_and_platform(
    dir: &std::path::Path,
) -> (NodeProcess, pb::event_log_service_client::EventLogServiceClient<tonic::transport::Channel>) {
    let node = start(dir, &[]);
    let channel = node.channel_as(Some(PLATFORM)).await.unwrap();
    let mut log = pb::event_log_service_client::EventLogServiceClient::new(channel);
    log.append(notice("before")).await.unwrap();
    (node, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_struck_from_the_list_is_refused_on_a_connection_opened_before() {
    let dir = tempfile::tempdir().unwrap();
    let (node, mut log) = node_and_platform(dir.path()).await;

    node.set_access(&[(OPERATOR, ALL_ROLES), (READER, &["reader"])]).unwrap();
    // SIGHUP is handled asynchronously: the refusal comes within moments,
    // on the same connection.
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        match log.append(notice("after")).await {
            Err(status) => break status,
            Ok(_) => {
                assert!(Instant::now() < deadline, "still allowed 10 s after SIGHUP");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains("not allowed on node 620000"), "{}", refused.message());
    // A reload with a broken file changes nothing: the reader still reads.
    std::fs::write(dir.path().join("node.toml"), "[tls]\ncert = 3\n").unwrap();
    node.hangup().unwrap();
    // Awaited in the node's log: the reload was tried, and refused.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(dir.path().join("node.log")).unwrap_or_default().contains("nothing reloaded") {
        assert!(Instant::now() < deadline, "no refused reload in the log 10 s after SIGHUP");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut reader =
        pb::exchange_service_client::ExchangeServiceClient::new(node.channel_as(Some(READER)).await.unwrap());
    reader.list_info_items(pb::ListInfoItemsRequest::default()).await.unwrap();
}

/// The event with `id` as `principal` sees it: (who appended it, as shown).
async fn appended_by_as(node: &NodeProcess, principal: &str, id: &str) -> String {
    let mut log =
        pb::event_log_service_client::EventLogServiceClient::new(node.channel_as(Some(principal)).await.unwrap());
    let got = log.get(pb::GetRequest { id: id.to_owned() }).await.unwrap().into_inner();
    got.event.unwrap().appended_by
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_principal_that_appended_is_kept_with_the_event_and_shown_to_operators() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start(dir.path(), &[]);
    let mut platform =
        pb::event_log_service_client::EventLogServiceClient::new(node.channel_as(Some(PLATFORM)).await.unwrap());
    let appended = platform.append(notice("audited")).await.unwrap().into_inner().event.unwrap();
    assert_eq!(appended.appended_by, "", "an append's answer does not echo it");
    let id = appended.event.unwrap().id;

    // An operator sees who appended it; a reader does not.
    assert_eq!(appended_by_as(&node, OPERATOR, &id).await, PLATFORM);
    assert_eq!(appended_by_as(&node, READER, &id).await, "");
    let mut operator =
        pb::event_log_service_client::EventLogServiceClient::new(node.channel_as(Some(OPERATOR)).await.unwrap());
    let page = operator
        .read(pb::ReadRequest {
            range: Some(pb::read_request::Range::FromPosition(appended.position)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.events[0].appended_by, PLATFORM);
    // The audit log names the caller of every append and admin call.
    rebuild_as(&node, OPS).await.unwrap();
    let audit = std::fs::read_to_string(dir.path().join("node.log")).unwrap();
    for (principal, method) in [(PLATFORM, "Append"), (OPS, "RebuildViews")] {
        assert!(
            audit.lines().any(|l| l.contains("linkage::audit") && l.contains(principal) && l.contains(method)),
            "no audit line of {principal} calling {method}"
        );
    }

    // A view rebuild and a kill -9 leave it with the event.
    node.kill9();
    node.restart().unwrap();
    assert_eq!(appended_by_as(&node, OPERATOR, &id).await, PLATFORM);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_swaps_the_certificate_without_dropping_a_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (node, mut log) = node_and_platform(dir.path()).await;
    let served = || async {
        let tcp = tokio::net::TcpStream::connect(node.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap().to_owned();
        let config = node.pki().unwrap().rustls_client(Some(PLATFORM)).unwrap();
        let tls = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.unwrap();
        tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
    };
    let old = served().await;

    // A new certificate for the same key, signed again (a renewal).
    let tls_dir = dir.path().join("tls");
    let key_pem = std::fs::read_to_string(tls_dir.join("node.key")).unwrap();
    let renewed = renew(&node.pki().unwrap().authority().unwrap(), &key_pem);
    std::fs::write(tls_dir.join("node.crt"), &renewed).unwrap();
    node.hangup().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while served().await == old {
        assert!(Instant::now() < deadline, "the old certificate is still served 10 s after SIGHUP");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    log.append(notice("after, same connection")).await.unwrap();
}

/// A certificate for `620000` with the key in `key_pem`, signed anew.
fn renew(ca: &linkage_pki::Authority, key_pem: &str) -> String {
    let key = rcgen::KeyPair::from_pem(key_pem).unwrap();
    let mut params = rcgen::CertificateParams::new(linkage_testkit::pki::local_hosts()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, "620000");
    let csr = params.serialize_request(&key).unwrap().pem().unwrap();
    ca.sign(&csr, "620000", &linkage_testkit::pki::local_hosts(), Validity::days(2)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_surface_listens_apart_with_the_same_tls_and_roles() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &["--admin-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"]);
    let pki = node.pki().unwrap().clone();
    // AdminService is not on the main listener any more …
    denied(rebuild_as(&node, OPS).await, tonic::Code::Unimplemented, "");
    // … but on its own, behind the same certificates and roles.
    let admin_addr = std::fs::read_to_string(dir.path().join("admin.addr")).unwrap();
    let admin = |principal: &str| {
        let tls = pki.client_tls(principal).unwrap();
        let addr = admin_addr.trim().to_owned();
        async move {
            let channel = linkage_testkit::pki::endpoint(&addr, Some(&tls)).unwrap().connect().await.unwrap();
            pb::admin_service_client::AdminServiceClient::new(channel).status(pb::StatusRequest {}).await.map(|_| ())
        }
    };
    admin(OPS).await.unwrap();
    denied(admin(PLATFORM).await, tonic::Code::PermissionDenied, "`operator`");

    // /metrics: over TLS, to operators.
    let scrape = |principal: Option<&str>| {
        linkage_testkit::Metrics::scrape(dir.path(), Some(pki.rustls_client(principal).unwrap())).unwrap().body
    };
    let body = scrape(Some(OPS));
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    // The certificate's expiry, for the alert: the test CA's 30 days ahead.
    let not_after: f64 = body
        .lines()
        .find_map(|l| l.strip_prefix("linkage_tls_certificate_not_after_seconds "))
        .expect("the certificate's expiry is exported")
        .trim()
        .parse()
        .unwrap();
    let days = (not_after - time::OffsetDateTime::now_utc().unix_timestamp() as f64) / 86_400.0;
    assert!((29.0..=31.0).contains(&days), "expires in {days} days");
    assert!(scrape(Some(PLATFORM)).starts_with("HTTP/1.1 403"));
    assert!(scrape(None).starts_with("HTTP/1.1 401"));
    let plain = linkage_testkit::Metrics::scrape(dir.path(), None).unwrap().body;
    assert!(!plain.starts_with("HTTP/1.1") && !plain.contains("linkage_"), "plaintext scrapes get nothing: {plain}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_node_serves_loopback_only_and_everyone_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::start_plaintext(&linkage_testkit::node_bin(), "620000", &topology("demo.toml"), dir.path())
        .unwrap();
    append_as(&node, None, "trusted on loopback").await.unwrap();

    // Elsewhere than loopback, or with neither TLS nor the opt-out: refused
    // at start, naming the field.
    let refused = |args: &[&str]| {
        let out = std::process::Command::new(linkage_testkit::node_bin())
            .args(["--node", "620000", "--topology"])
            .arg(topology("demo.toml"))
            .arg("--data-dir")
            .arg(dir.path().join("other"))
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let wide = refused(&["--grpc-listen", "0.0.0.0:0", "--plaintext-loopback", "true"]);
    assert!(wide.contains("grpc_listen = 0.0.0.0:0") && wide.contains("loopback"), "{wide}");
    let neither = refused(&["--grpc-listen", "127.0.0.1:0"]);
    assert!(neither.contains("`tls` is required"), "{neither}");
    // And the testkit will not start one for a test not on its list.
    let other = std::thread::spawn(move || {
        NodeProcess::start_plaintext(
            &linkage_testkit::node_bin(),
            "620000",
            &topology("demo.toml"),
            &std::env::temp_dir(),
        )
        .err()
        .map(|e| e.to_string())
    });
    let why = other.join().unwrap().expect("refused");
    assert!(why.contains("may not start a plaintext node"), "{why}");
}

/// Sends bytes as they are: what a client that is not ours can send.
#[derive(Clone, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let n = bytes::Buf::remaining(src);
        Ok(Some(bytes::Buf::copy_to_bytes(src, n).to_vec()))
    }
}

async fn raw_call(node: &NodeProcess, path: &'static str, body: Vec<u8>) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(node.channel().await.unwrap());
    grpc.ready().await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    grpc.unary(tonic::Request::new(body), path, RawCodec).await.expect_err("refused")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_oversized_and_out_of_range_requests_get_the_clients_codes() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]);
    let before = events(&node).await;
    const APPEND: &str = "/linkage.v1.EventLogService/Append";
    let invalid_utf8 = vec![0x0a, 0x02, 0xc3, 0x28];
    let truncated = vec![0x0a, 0x05, b'u'];
    let deep: Vec<u8> = std::iter::repeat_n(0x7b, 200).collect(); // field 15, start group, nested
    for (what, body) in [
        ("not protobuf", vec![0xff, 0xff, 0xff, 0xff]),
        ("invalid UTF-8", invalid_utf8),
        ("truncated", truncated),
        ("deep nesting", deep),
    ] {
        let status = raw_call(&node, APPEND, body).await;
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{what}: {status:?}");
    }
    let status = raw_call(&node, APPEND, vec![0u8; 20 << 20]).await;
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "20 MB: {status:?}");
    let status = raw_call(&node, "/linkage.v1.ExchangeService/ListInfoItems", vec![0xff; 8]).await;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "a view's request: {status:?}");
    assert_eq!(events(&node).await, before, "nothing written");

    // Ids are checked before any lookup and never echoed whole.
    let mut progress = pb::progress_service_client::ProgressServiceClient::new(node.channel().await.unwrap());
    let long = "g".repeat(1 << 20);
    let status = progress.get_group(pb::GetGroupRequest { group_id: long }).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().len() < 1024, "the error echoes the id: {} bytes", status.message().len());
    // Timestamps of queries are checked as Append checks them.
    let year_10000 = prost_types::Timestamp { seconds: 253_402_300_800, nanos: 0 };
    let status = progress
        .list_overdue_tasks(pb::ListOverdueTasksRequest { as_of: Some(year_10000), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("as_of"), "{}", status.message());
    // A similarity so low that every pair of topics would be an overlap.
    let mut planning = pb::planning_service_client::PlanningServiceClient::new(node.channel().await.unwrap());
    let everything = pb::ListOverlappingTopicsRequest { min_similarity: 1e-9, ..Default::default() };
    let status = planning.list_overlapping_topics(everything).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("min_similarity"), "{}", status.message());
}

/// The ceremony with `linkctl` alone: the province makes its CA; the
/// office makes its key and request in the node's own directory; the
/// province signs; the node serves with them and a platform whose key was
/// made the same way appends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_linkctl_ceremony_gives_a_node_and_a_platform_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, node_dir, platform) = (dir.path().join("ca"), dir.path().join("node"), dir.path().join("platform"));
    let linkctl = |args: &[&str]| {
        let out = std::process::Command::new(linkage_testkit::linkctl_bin()).args(args).output().unwrap();
        assert!(out.status.success(), "linkctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let path = |p: &std::path::Path| p.display().to_string();
    linkctl(&["pki", "init-ca", "--dir", &path(&ca)]);
    let tls = node_dir.join("tls");
    linkctl(&["pki", "request", "--principal", "620000", "--host", "127.0.0.1", "--out", &path(&tls)]);
    let csr = path(&tls.join("620000.csr"));
    // The province grants the hosts: a request asking for more is refused.
    let ungranted = std::process::Command::new(linkage_testkit::linkctl_bin())
        .args(["pki", "sign", "--ca-dir", &path(&ca), "--principal", "620000", &csr])
        .output()
        .unwrap();
    assert!(!ungranted.status.success(), "a host the province did not grant was signed");
    assert!(String::from_utf8_lossy(&ungranted.stderr).contains("does not grant"));
    let cert = linkctl(&["pki", "sign", "--ca-dir", &path(&ca), "--principal", "620000", "--host", "127.0.0.1", &csr]);
    std::fs::write(tls.join("620000.crt"), cert).unwrap();
    linkctl(&["pki", "request", "--principal", PLATFORM, "--out", &path(&platform)]);
    let csr = platform.join(format!("{PLATFORM}.csr"));
    let cert = linkctl(&["pki", "sign", "--ca-dir", &path(&ca), "--principal", PLATFORM, &path(&csr)]);
    // The same request signed as someone else: refused.
    let forged = std::process::Command::new(linkage_testkit::linkctl_bin())
        .args(["pki", "sign", "--ca-dir", &path(&ca), "--principal", OPS, &path(&csr)])
        .output()
        .unwrap();
    assert!(!forged.status.success(), "a request for {PLATFORM} signed as {OPS}");
    std::fs::write(platform.join(format!("{PLATFORM}.crt")), cert).unwrap();
    // A second request would replace the key: refused.
    let again = std::process::Command::new(linkage_testkit::linkctl_bin())
        .args(["pki", "request", "--principal", "620000", "--out", &path(&tls)])
        .output()
        .unwrap();
    assert!(!again.status.success());

    let config = node_dir.join("node.toml");
    let files = linkage_pki::ServerFiles {
        cert: tls.join("620000.crt"),
        key: tls.join("620000.key"),
        client_ca: ca.join("ca.crt"),
    };
    std::fs::write(&config, linkage_testkit::pki::node_config(&files, &[(PLATFORM, &["platform"])])).unwrap();
    let mut node = std::process::Command::new(linkage_testkit::node_bin())
        .args(["--node", "620000", "--grpc-listen", "127.0.0.1:0", "--config", &path(&config), "--topology"])
        .arg(topology("demo.toml"))
        .arg("--data-dir")
        .arg(&node_dir)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        if let Ok(addr) = std::fs::read_to_string(node_dir.join("grpc.addr")) {
            break addr;
        }
        assert!(Instant::now() < deadline, "the node did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    let addr = format!("https://{}", addr.trim());
    let (cert, key) = (platform.join(format!("{PLATFORM}.crt")), platform.join(format!("{PLATFORM}.key")));
    let appended = linkctl(&[
        "--addr",
        &addr,
        "--ca",
        &path(&ca.join("ca.crt")),
        "--cert",
        &path(&cert),
        "--key",
        &path(&key),
        "append",
        "--print-id",
        "info-reported",
        "--channel",
        "down",
        "--title",
        "经由仪式",
        "--body",
        "正文",
    ]);
    assert_eq!(appended.trim().len(), 36, "an event id: {appended}");
    let _ = node.kill();
    let _ = node.wait();
}

/// One address may hold at most `CONNECTIONS_PER_ADDRESS_MAX` connections
/// (silent ones included, until their handshake deadline): the next from
/// it is closed at accept, another address still gets in, and the slots
/// come back when the connections close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]);
    let client = node.pki().unwrap().rustls_client(Some(PLATFORM)).unwrap();
    let mut silent = Vec::new();
    for _ in 0..linkage_node::listen::CONNECTIONS_PER_ADDRESS_MAX {
        silent.push(tokio::net::TcpStream::connect(node.addr).await.unwrap());
    }
    // The node accepts in connection order: the next one is the 65th.
    let localhost = std::net::Ipv4Addr::LOCALHOST;
    assert!(raw_tls_from(localhost, node.addr, client.clone()).await.is_err(), "a connection beyond the limit got in");
    let other = std::net::Ipv4Addr::new(127, 0, 0, 2);
    assert!(raw_tls_from(other, node.addr, client.clone()).await.unwrap() > 0, "another address is kept out");
    drop(silent);
    let deadline = Instant::now() + Duration::from_secs(5);
    while raw_tls_from(localhost, node.addr, client.clone()).await.is_err() {
        assert!(Instant::now() < deadline, "the slots did not come back after the connections closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
