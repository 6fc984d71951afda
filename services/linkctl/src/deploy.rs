//! Deployment helpers: enrolling node keys into a topology, generating the
//! nats-server configuration (one NKey user per node) from it, and the local
//! topology runner (`deploy/local/up` and `down`), whose processes the
//! testkit's supervisor kills, restarts and stops.

use anyhow::Context;
use linkage_core::topology::TopologyFile;
use linkage_core::{subjects, Topology};
use linkage_pki::write_private;
use linkage_pki::ServerFiles;
use linkage_testkit::manifest::{Manifest, Process, FILE_NAME};
use linkage_testkit::pki::{Pki, ALL_ROLES, OPERATOR};
use linkage_testkit::process::{alive, spawn_detached, wait_for_file};
use linkage_testkit::supervisor::{wait_serving, Supervisor};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long `up` waits for nats-server and for every node to serve.
pub const UP_TIMEOUT: Duration = Duration::from_secs(180);

/// Creates a key for every node that lacks one under `keys_dir/<code>/node.key`
/// and returns the topology file with every public key and NATS key filled
/// in.
pub fn enroll(topology_path: &Path, keys_dir: &Path) -> anyhow::Result<TopologyFile> {
    let text = std::fs::read_to_string(topology_path)
        .with_context(|| format!("reading topology {}", topology_path.display()))?;
    let mut file: TopologyFile = toml::from_str(&text).with_context(|| format!("{}", topology_path.display()))?;
    for node in &mut file.nodes {
        let path = keys_dir.join(&node.code).join("node.key");
        let key = if path.exists() {
            read_key(&path)?
        } else {
            let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
            std::fs::create_dir_all(path.parent().expect("key dir"))?;
            write_private(&path, format!("{}\n", hex::encode(key.to_bytes())).as_bytes())?;
            key
        };
        node.public_key = Some(hex::encode(key.verifying_key().as_bytes()));
        node.nats_key = Some(linkage_core::nkey::public_key(&key));
    }
    Topology::from_file(file.clone())?;
    Ok(file)
}

/// A node's key file (64 hex digits).
pub fn read_key(path: &Path) -> anyhow::Result<ed25519_dalek::SigningKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading key file {}", path.display()))?;
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .with_context(|| format!("{} must hold 64 hex digits", path.display()))?;
    Ok(ed25519_dalek::SigningKey::from_bytes(&bytes))
}

/// Makes the province's topology key at `out` (refusing to overwrite one)
/// and returns its public key (hex).
pub fn topology_key(out: &Path) -> anyhow::Result<String> {
    anyhow::ensure!(!out.exists(), "{} exists: a topology key is made once", out.display());
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    write_private(out, format!("{}\n", hex::encode(key.to_bytes())).as_bytes())?;
    Ok(hex::encode(key.verifying_key().as_bytes()))
}

/// Writes `topology` as version `version` (its own + 1 when `None`) to
/// `out`, and the province's signature over those bytes to `out.sig`.
/// A document with the national committee at its root that does not yet
/// say since which version it has been national is national from this
/// one (decision 0067). Returns the version.
pub fn sign_topology(topology: &Path, key: &Path, version: Option<u64>, out: &Path) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(topology).with_context(|| format!("reading {}", topology.display()))?;
    let mut file: TopologyFile = toml::from_str(&text).with_context(|| format!("{}", topology.display()))?;
    let version = version.unwrap_or(file.version.unwrap_or(0) + 1);
    file.version = Some(version);
    let national = file.nodes.iter().any(|n| n.code == linkage_core::NodeCode::NATIONAL.as_str() && n.parent.is_none());
    if national && file.national_since.is_none() {
        file.national_since = Some(version);
        eprintln!("national_since = {version}: 全国政协 records its own adoptions and 批示 from this version");
    }
    Topology::from_file(file.clone())?;
    let body = toml::to_string(&file)?;
    let signature = linkage_core::topology::sign_document(body.as_bytes(), &read_key(key)?);
    std::fs::write(out, &body).with_context(|| format!("writing {}", out.display()))?;
    let mut sig = out.as_os_str().to_owned();
    sig.push(".sig");
    std::fs::write(&sig, format!("{signature}\n"))?;
    Ok(version)
}

/// The two public keys of a node's key file, as topology lines: what an
/// office sends the province to be listed, the secret staying where it is.
pub fn public_keys(key_file: &Path) -> anyhow::Result<String> {
    let key = read_key(key_file)?;
    Ok(format!(
        "public_key = \"{}\"\nnats_key = \"{}\"\n",
        hex::encode(key.verifying_key().as_bytes()),
        linkage_core::nkey::public_key(&key)
    ))
}

/// How the servers of a cluster reach each other: each server's route
/// listener (`HOST:PORT`, in server order), and the TLS of routes — the
/// certificate and key a server shows and the CA that verifies the
/// others'. Routes have a CA of their own that signs brokers only: a route
/// sees every subject, so no office's certificate may open one.
pub struct Routes<'a> {
    /// Route listeners, one per server.
    pub listens: &'a [String],
    /// Route TLS; `client_ca` is the routes' CA.
    pub tls: &'a ServerFiles,
}

/// A listener's `HOST:PORT`, checked: it is written into the server's
/// configuration as it is.
fn host_port(field: &str, listen: &str) -> anyhow::Result<(String, u16)> {
    let (host, port) = listen.rsplit_once(':').with_context(|| format!("{field}: {listen:?} is not HOST:PORT"))?;
    let port: u16 = port.parse().with_context(|| format!("{field}: {port:?} is not a port"))?;
    let host_ok = !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b));
    anyhow::ensure!(host_ok, "{field}: {host:?} is not a host name or an IPv4 address");
    Ok((host.to_owned(), port))
}

/// Writes one configuration per server of `listens`: `out/nats-server.conf`
/// for a single server, `out/nats-server-<i>.conf` (i from 1) for a
/// cluster, whose servers route to each other over TLS (`routes`). Every
/// server holds one user per node, known by its NKey (the topology's
/// `nats_key`; no passwords), that may publish only on its own subjects,
/// subscribe only to what it is entitled to, and reply through
/// `allow_responses`. Nodes connect with the list of every server's URL
/// ([`nats_urls`]) and move to another when theirs goes.
pub fn nats_cluster_config(
    topology: &Topology,
    out: &Path,
    listens: &[String],
    tls: Option<&ServerFiles>,
    routes: Option<Routes<'_>>,
) -> anyhow::Result<Vec<PathBuf>> {
    anyhow::ensure!(!listens.is_empty(), "--listen: name at least one HOST:PORT");
    if let Some(routes) = &routes {
        anyhow::ensure!(
            routes.listens.len() == listens.len(),
            "--route-listen names {} route listeners for {} servers",
            routes.listens.len(),
            listens.len()
        );
    } else {
        anyhow::ensure!(listens.len() == 1, "a cluster of {} servers needs its routes (--route-listen)", listens.len());
    }
    std::fs::create_dir_all(out)?;
    let quote = |items: &[String]| items.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
    let tls_block = |indent: &str, files: &ServerFiles| {
        format!(
            "{indent}tls {{\n{indent}  cert_file: \"{}\"\n{indent}  key_file: \"{}\"\n{indent}  ca_file: \"{}\"\n{indent}  verify: true\n{indent}  timeout: 5\n{indent}}}\n",
            files.cert.display(),
            files.key.display(),
            files.client_ca.display()
        )
    };
    // Users in `authorization`, never beside an `accounts` block: on
    // nats-server before 2.9.23 an `accounts` block holding only $SYS let
    // clients in without authentication (CVE-2023-47090; Debian 12 ships
    // 2.9.10). tests/security.rs shows a client without credentials refused.
    let users = nats_users(topology)?;
    let mut paths = Vec::with_capacity(listens.len());
    for (i, listen) in listens.iter().enumerate() {
        let (host, port) = host_port("--listen", listen)?;
        let mut conf = String::new();
        conf.push_str("# Generated by `linkctl nats-config` from the topology; do not edit by hand.\n");
        conf.push_str("# One user per committee node, known by its NKey. A node may publish only on\n");
        conf.push_str("# subjects that carry its own code and subscribe only to what it is entitled to\n");
        conf.push_str("# (see ARCHITECTURE.md).\n");
        conf.push_str(&format!("host: \"{host}\"\nport: {port}\n"));
        conf.push_str("max_payload: 1048576\nwrite_deadline: \"10s\"\n");
        if let Some(tls) = tls {
            // Every client over TLS, with a certificate of the province's CA.
            conf.push('\n');
            conf.push_str(&tls_block("", tls));
        }
        if let Some(routes) = &routes {
            let (route_host, route_port) = host_port("--route-listen", &routes.listens[i])?;
            let others: Vec<String> = routes
                .listens
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, l)| host_port("--route-listen", l).map(|(h, p)| format!("nats-route://{h}:{p}")))
                .collect::<anyhow::Result<_>>()?;
            conf.push_str(&format!("server_name: \"linkage-nats-{}\"\n", i + 1));
            conf.push_str(&format!(
                "\ncluster {{\n  name: \"linkage-{province}\"\n  listen: \"{route_host}:{route_port}\"\n{tls}  routes: [{others}]\n}}\n",
                province = topology.root(),
                tls = tls_block("  ", routes.tls),
                others = quote(&others),
            ));
        }
        conf.push_str(&users);
        let name =
            if listens.len() == 1 { "nats-server.conf".to_owned() } else { format!("nats-server-{}.conf", i + 1) };
        let path = out.join(name);
        write_private(&path, conf.as_bytes())?;
        paths.push(path);
    }
    Ok(paths)
}

/// The `authorization` block of every server: one user per login of each
/// node ([`linkage_core::topology::Node::nats_logins`]), with the node's
/// permissions; the last block of a configuration, so that
/// [`local_publish`] can replace it.
pub(crate) fn nats_users(topology: &Topology) -> anyhow::Result<String> {
    let scheme = subjects::Subjects;
    let quote = |items: &[String]| items.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
    let mut users = String::from("\nauthorization {\n  users = [\n");
    for node in topology.nodes() {
        if node.is_ejected() {
            users.push_str(&format!("    # {}: ejected, no login\n", node.code));
            continue;
        }
        anyhow::ensure!(
            node.nats_key.is_some(),
            "node {} has no nats_key in the topology: enroll its key first (linkctl topology enroll)",
            node.code
        );
        let p = scheme.permissions(topology, node.code);
        // Its current key, and an old one while a rotation's overlap is open.
        for nkey in node.nats_logins() {
            users.push_str(&format!(
            "    # {code}\n    {{\n      nkey: \"{nkey}\"\n      permissions: {{\n        publish: {{ allow: [{publish}], deny: [{publish_deny}] }}\n        subscribe: {{ allow: [{subscribe}], deny: [{subscribe_deny}] }}\n        allow_responses: {{ max: 1 }}\n      }}\n    }}\n",
            code = node.code,
            publish = quote(&p.publish),
            subscribe = quote(&p.subscribe),
            publish_deny = quote(&p.publish_deny),
            subscribe_deny = quote(&p.subscribe_deny),
        ));
        }
    }
    users.push_str("  ]\n}\n");
    Ok(users)
}

/// `n` listeners on the host of the one in `listens`, at its port and the
/// `n - 1` after it (`--cluster N`).
pub fn consecutive(field: &str, listens: &[String], n: u16) -> anyhow::Result<Vec<String>> {
    let [listen] = listens else { anyhow::bail!("{field}: with --cluster, give one HOST:PORT (the first server's)") };
    let (host, port) = host_port(field, listen)?;
    anyhow::ensure!(n >= 1, "--cluster: at least 1 server");
    (0..n)
        .map(|i| {
            let port = port.checked_add(i).with_context(|| format!("{field}: port {port} + {i} is beyond 65535"))?;
            Ok(format!("{host}:{port}"))
        })
        .collect()
}

/// The URL list nodes connect with: every server of `listens`, the one at
/// `first` first, then the others in order (a node keeps that order, and
/// moves to the next server when its own goes).
pub fn nats_urls(listens: &[String], first: usize) -> String {
    let n = listens.len().max(1);
    (0..listens.len()).map(|k| format!("nats://{}", listens[(first + k) % n])).collect::<Vec<_>>().join(",")
}

/// Servers started but not yet handed over: killed when dropped.
struct Brokers(Vec<Process>);

impl Drop for Brokers {
    fn drop(&mut self) {
        for process in &self.0 {
            linkage_testkit::process::signal(process.pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Starts `servers` nats-servers on free loopback ports (a cluster when
/// more than one, routing over `route_tls`) and waits until each listens.
/// Returns their client listeners and processes. A fixed port (free now)
/// rather than -1, so that the recorded argv restarts a server where the
/// nodes look for it; another process may take a port between our probe
/// and the server's bind: then the servers are stopped and other ports
/// tried.
fn start_brokers(
    topology: &Topology,
    workdir: &Path,
    servers: usize,
    tls: &ServerFiles,
    route_tls: Option<&ServerFiles>,
) -> anyhow::Result<(Vec<String>, Vec<Process>)> {
    let deadline = Instant::now() + UP_TIMEOUT;
    let clustered = route_tls.is_some();
    for attempt in 1.. {
        // Every port probed while the others are held, so that all differ.
        let wanted = if clustered { 2 * servers } else { servers };
        let held: Vec<_> = (0..wanted).map(|_| std::net::TcpListener::bind("127.0.0.1:0")).collect::<Result<_, _>>()?;
        let mut ports: Vec<String> =
            held.iter().map(|l| Ok(format!("127.0.0.1:{}", l.local_addr()?.port()))).collect::<anyhow::Result<_>>()?;
        drop(held);
        let route_listens = ports.split_off(servers);
        let listens = ports;
        let routes = route_tls.map(|tls| Routes { listens: &route_listens, tls });
        let confs = nats_cluster_config(topology, workdir, &listens, Some(tls), routes)?;
        // Killed on every way out but success: they are in no manifest yet.
        let mut started = Brokers(Vec::new());
        for (i, conf) in confs.iter().enumerate() {
            let argv = vec!["nats-server".to_owned(), "-c".to_owned(), conf.display().to_string()];
            let log = linkage_testkit::manifest::nats_log(workdir, i);
            let _ = std::fs::remove_file(&log);
            let pid = spawn_detached(&argv, &log)?.id();
            let url = format!("nats://{}", listens[i]);
            started.0.push(Process {
                name: None,
                grpc: None,
                metrics: None,
                url: Some(url),
                pid,
                argv,
                data_dir: None,
            });
        }
        // Ready means: each server listens for clients and, in a cluster,
        // for routes (a port taken there makes it exit after the first),
        // and has its routes to all the others; then all are still alive.
        let mut all_up = true;
        'servers: for (i, process) in started.0.iter().enumerate() {
            let log = linkage_testkit::manifest::nats_log(workdir, i);
            let mut ready = vec![format!("{} on {}", linkage_testkit::supervisor::NATS_READY, listens[i])];
            if clustered {
                ready.push(format!("Listening for route connections on {}", route_listens[i]));
            }
            loop {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let routed = !clustered || text.matches("Route connection created").count() >= servers - 1;
                if ready.iter().all(|r| text.contains(r.as_str())) && routed {
                    break;
                }
                if !alive(process.pid) {
                    all_up = false;
                    break 'servers;
                }
                anyhow::ensure!(Instant::now() < deadline, "nats-server did not listen on {} in time", listens[i]);
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if all_up && started.0.iter().all(|p| alive(p.pid)) {
            return Ok((listens, std::mem::take(&mut started.0)));
        }
        drop(started);
        anyhow::ensure!(
            attempt < 5,
            "nats-server keeps exiting; see {}",
            linkage_testkit::manifest::nats_log(workdir, 0).display()
        );
    }
    unreachable!("the loop returns or fails")
}

/// `linkctl local publish WORKDIR TOPOLOGY`: the province's step of a key
/// ceremony on a local topology. Signs TOPOLOGY as the next version with
/// the local topology key into WORKDIR/topology.toml (where every node
/// reads it at its next start), and gives every nats-server the logins it
/// implies (a reload, SIGHUP: an ejected office's login goes, a rotated
/// key's comes).
pub fn local_publish(workdir: &Path, topology_path: &Path) -> anyhow::Result<u64> {
    let manifest = Manifest::read(workdir)?;
    let enrolled = workdir.join("topology.toml");
    let current = Topology::from_toml(&std::fs::read_to_string(&enrolled)?)?.version().unwrap_or(0);
    let version = sign_topology(topology_path, &workdir.join("pki/topology.key"), Some(current + 1), &enrolled)?;
    let topology = Topology::from_toml(&std::fs::read_to_string(&enrolled)?)?;
    let users = nats_users(&topology)?;
    let servers = manifest.brokers().count();
    for (i, broker) in manifest.brokers().enumerate() {
        let name = if servers == 1 { "nats-server.conf".to_owned() } else { format!("nats-server-{}.conf", i + 1) };
        let path = workdir.join(name);
        let conf = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let at =
            conf.find("\nauthorization {").with_context(|| format!("{} has no authorization block", path.display()))?;
        write_private(&path, format!("{}{users}", &conf[..at]).as_bytes())?;
        // A server that is down reads the file when it starts again.
        if alive(broker.pid) {
            linkage_testkit::process::signal(broker.pid, nix::sys::signal::Signal::SIGHUP);
        }
    }
    Ok(version)
}

/// `deploy/local/up TOPOLOGY WORKDIR`: NATS (`nats_servers` of them in a
/// cluster when more than one) and every node of the topology as separate
/// processes on free loopback ports.
pub async fn local_up(
    topology_path: &Path,
    workdir: &Path,
    bin_dir: &Path,
    nats_servers: usize,
) -> anyhow::Result<Manifest> {
    let workdir = std::fs::canonicalize({
        std::fs::create_dir_all(workdir)?;
        workdir
    })?;
    anyhow::ensure!(
        !workdir.join(FILE_NAME).exists(),
        "{} already runs a topology: `deploy/local/down` it first",
        workdir.display()
    );
    let deadline = Instant::now() + UP_TIMEOUT;
    let file = enroll(topology_path, &workdir.join("nodes"))?;
    // Signed by the topology's own province key, as version 1: nodes are
    // configured with its public key and check the signature at start.
    std::fs::create_dir_all(workdir.join("pki"))?;
    let unsigned = workdir.join("topology.unsigned.toml");
    std::fs::write(&unsigned, toml::to_string(&file)?)?;
    let key_path = workdir.join("pki/topology.key");
    if !key_path.exists() {
        topology_key(&key_path)?;
    }
    let topology_key = hex::encode(read_key(&key_path)?.verifying_key().as_bytes());
    let enrolled = workdir.join("topology.toml");
    sign_topology(&unsigned, &key_path, Some(1), &enrolled)?;
    let topology = Topology::from_file(file)?;

    // The broker's key and request made in its own directory, as a
    // province's NATS machine makes them; clients must show a certificate
    // of the same CA.
    let pki = Pki::open_or_create(&workdir.join("pki"))?;
    let nats_tls = pki.node_files("nats", &workdir.join("nats"))?;
    // Routes of a cluster have a CA of their own, which signs brokers only.
    let route_tls = match nats_servers {
        0 | 1 => None,
        _ => {
            let route_ca = Pki::open_or_create(&workdir.join("nats/route-ca"))?;
            Some(route_ca.node_files("nats-route", &workdir.join("nats/route"))?)
        }
    };
    let (listens, brokers) = start_brokers(&topology, &workdir, nats_servers.max(1), &nats_tls, route_tls.as_ref())?;
    let nats = brokers[0].clone();
    let more_nats = brokers[1..].to_vec();

    let node_bin = bin_dir.join("linkage-node");
    // Each node's key and signing request are made in its own directory,
    // as an office makes them; the local operator's client certificate is
    // every tool's identity here.
    pki.client(OPERATOR)?;
    let mut nodes = std::collections::BTreeMap::new();
    for (k, node) in topology.nodes().enumerate() {
        let dir = workdir.join("nodes").join(node.code.as_str());
        std::fs::create_dir_all(&dir)?;
        let _ = std::fs::remove_file(dir.join("grpc.addr"));
        let files = pki.node_files(node.code.as_str(), &dir)?;
        let config = dir.join("node.toml");
        std::fs::write(&config, linkage_testkit::pki::node_config(&files, &[(OPERATOR, ALL_ROLES)]))?;
        let argv: Vec<String> = vec![
            node_bin.display().to_string(),
            "--config".into(),
            config.display().to_string(),
            "--node".into(),
            node.code.to_string(),
            "--topology".into(),
            enrolled.display().to_string(),
            "--topology-key".into(),
            topology_key.clone(),
            "--data-dir".into(),
            dir.display().to_string(),
            "--key-file".into(),
            dir.join("node.key").display().to_string(),
            "--grpc-listen".into(),
            "127.0.0.1:0".into(),
            "--metrics-listen".into(),
            "127.0.0.1:0".into(),
            "--nats-url".into(),
            nats_urls(&listens, k),
        ];
        let pid = spawn_detached(&argv, &dir.join("node.log"))?.id();
        nodes.insert(
            node.code.to_string(),
            Process {
                name: Some(node.name.clone()),
                grpc: None,
                metrics: None,
                url: None,
                pid,
                argv,
                data_dir: Some(dir.display().to_string()),
            },
        );
    }
    // Record every process before waiting on any: if one fails to come up,
    // `down` can still stop everything that was started.
    let mut manifest = Manifest { nats, more_nats, nodes };
    manifest.write(&workdir)?;
    let tls = linkage_testkit::pki::local_tls(&workdir)?;
    for (code, p) in manifest.nodes.iter_mut() {
        let dir = p.data_dir(code)?;
        let grpc = wait_for_file(&dir.join("grpc.addr"), deadline, &format!("node {code}"))?;
        p.metrics = Some(wait_for_file(&dir.join("metrics.addr"), deadline, &format!("node {code}"))?);
        wait_serving(&grpc, tls.as_ref(), deadline).await.with_context(|| format!("node {code}"))?;
        p.grpc = Some(grpc);
    }
    manifest.write(&workdir)?;
    Ok(manifest)
}

/// Stops what `local_up` started: SIGTERM to every node, SIGKILL after a
/// grace period, then NATS.
pub fn local_down(workdir: &Path) -> anyhow::Result<()> {
    Supervisor::attach(workdir)?.stop()
}

/// One node's entry in `nodes.json`.
pub fn local_node(workdir: &Path, code: &str) -> anyhow::Result<Process> {
    Ok(Manifest::read(workdir)?.node(code)?.clone())
}

/// SIGKILL one node.
pub fn local_kill(workdir: &Path, code: &str) -> anyhow::Result<()> {
    Supervisor::attach(workdir)?.kill9(code)
}

/// Starts one node again with its recorded argv, records its new pid and
/// address, and waits until it serves.
pub async fn local_restart(workdir: &Path, code: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + UP_TIMEOUT;
    let mut supervisor = Supervisor::attach(workdir)?;
    supervisor.start(code)?;
    let addr = supervisor.wait_bound(code, UP_TIMEOUT).await?;
    wait_serving(&addr.to_string(), supervisor.client_tls()?.as_ref(), deadline).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an office sends the province is what enrolling its key lists,
    /// and the topology takes it.
    #[test]
    fn public_keys_print_what_enroll_lists() {
        let dir = tempfile::tempdir().unwrap();
        let topology = dir.path().join("demo.toml");
        std::fs::copy(linkage_testkit::topology("demo.toml"), &topology).unwrap();
        let file = enroll(&topology, &dir.path().join("keys")).unwrap();
        let county = file.nodes.iter().find(|n| n.code == "620722").unwrap();
        let printed = public_keys(&dir.path().join("keys/620722/node.key")).unwrap();
        let expected = format!(
            "public_key = \"{}\"\nnats_key = \"{}\"\n",
            county.public_key.as_deref().unwrap(),
            county.nats_key.as_deref().unwrap()
        );
        assert_eq!(printed, expected);
        assert!(county.nats_key.as_deref().unwrap().starts_with('U'));
    }
}
