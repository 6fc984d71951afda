//! [`Pki`]: a test's (or a local topology's) own CA in a directory, node
//! certificates whose keys are made in each node's data directory, client
//! certificates on demand, and the TLS settings every client of the
//! testkit connects with. The secure path is the tested path.

use anyhow::Context;
use linkage_pki::{Authority, ServerFiles, Validity};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The principal tests, the bench and the local runner call nodes as:
/// `platform`, `reader` and `operator` on every node they start.
pub const OPERATOR: &str = "local-operator";

/// Host names and addresses a local node's certificate is valid for.
pub fn local_hosts() -> Vec<String> {
    vec!["127.0.0.1".into(), "localhost".into()]
}

/// A CA in a directory: `ca.crt`, `ca.key`, `clients/<principal>.{crt,key}`.
#[derive(Clone, Debug)]
pub struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// The CA in `dir`, created there first if it holds none.
    pub fn open_or_create(dir: &Path) -> anyhow::Result<Pki> {
        if !dir.join("ca.key").exists() {
            Authority::create("linkage test CA", Validity::days(30))?.save(dir)?;
        }
        Ok(Pki { dir: dir.to_owned() })
    }

    /// The CA certificate file.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// The authority itself, to sign with.
    pub fn authority(&self) -> anyhow::Result<Authority> {
        Authority::load(&self.dir)
    }

    /// TLS files for node `code` in `data_dir/tls/`: the key and the
    /// signing request made there, as an office makes them, and the
    /// certificate this CA signs. Kept when they exist.
    pub fn node_files(&self, code: &str, data_dir: &Path) -> anyhow::Result<ServerFiles> {
        let files = node_file_paths(data_dir);
        if !files.cert.exists() {
            let (key, csr) = linkage_pki::request(code, &local_hosts())?;
            linkage_pki::write_private(&files.key, key.as_bytes())?;
            let cert = self.authority()?.sign(&csr, code, &local_hosts(), Validity::days(30))?;
            linkage_pki::write_private(&files.cert, cert.as_bytes())?;
            std::fs::copy(self.ca_cert(), &files.client_ca).context("copying the CA certificate")?;
        }
        Ok(files)
    }

    /// A client certificate and key for `principal` (made here: tests
    /// only), as (certificate file, key file).
    pub fn client(&self, principal: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
        self.client_with(principal, Validity::days(30))
    }

    /// Like [`Pki::client`], valid when `validity` says (an expired one,
    /// say), under its own file name.
    pub fn client_with(&self, principal: &str, validity: Validity) -> anyhow::Result<(PathBuf, PathBuf)> {
        let stamp = validity.not_after.unix_timestamp();
        let base = if validity.not_after > time::OffsetDateTime::now_utc() + time::Duration::days(7) {
            principal.to_owned()
        } else {
            format!("{principal}.{stamp}")
        };
        let cert = self.dir.join("clients").join(format!("{base}.crt"));
        let key = self.dir.join("clients").join(format!("{base}.key"));
        if !cert.exists() {
            let (cert_pem, key_pem) = self.authority()?.issue(principal, &[], validity)?;
            linkage_pki::write_private(&key, key_pem.as_bytes())?;
            linkage_pki::write_private(&cert, cert_pem.as_bytes())?;
        }
        Ok((cert, key))
    }

    /// tonic's client TLS as `principal`, trusting this CA.
    pub fn client_tls(&self, principal: &str) -> anyhow::Result<tonic::transport::ClientTlsConfig> {
        let (cert, key) = self.client(principal)?;
        client_tls(&self.ca_cert(), Some((&cert, &key)))
    }

    /// rustls's client configuration as `principal` (`None`: no client
    /// certificate), for raw connections and `/metrics`.
    pub fn rustls_client(&self, principal: Option<&str>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
        linkage_pki::install_provider();
        let mut roots = rustls::RootCertStore::empty();
        for ca in linkage_pki::tls::read_certs(&self.ca_cert())? {
            roots.add(ca)?;
        }
        let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
        let config = match principal {
            None => builder.with_no_client_auth(),
            Some(principal) => {
                let (cert, key) = self.client(principal)?;
                builder
                    .with_client_auth_cert(linkage_pki::tls::read_certs(&cert)?, linkage_pki::tls::read_key(&key)?)?
            }
        };
        Ok(Arc::new(config))
    }
}

/// Where [`Pki::node_files`] puts a node's TLS files: `data_dir/tls/`.
pub fn node_file_paths(data_dir: &Path) -> ServerFiles {
    let dir = data_dir.join("tls");
    ServerFiles { cert: dir.join("node.crt"), key: dir.join("node.key"), client_ca: dir.join("ca.crt") }
}

/// tonic's client TLS trusting `ca`, with a client certificate and key.
pub fn client_tls(ca: &Path, identity: Option<(&Path, &Path)>) -> anyhow::Result<tonic::transport::ClientTlsConfig> {
    linkage_pki::install_provider();
    let read = |path: &Path| std::fs::read(path).with_context(|| format!("reading {}", path.display()));
    let mut tls =
        tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(read(ca)?));
    if let Some((cert, key)) = identity {
        tls = tls.identity(tonic::transport::Identity::from_pem(read(cert)?, read(key)?));
    }
    Ok(tls)
}

/// A node's configuration file: TLS from `files`, and the allow-list
/// (principal → roles, as TOML role names).
pub fn node_config(files: &ServerFiles, access: &[(&str, &[&str])]) -> String {
    let quote = |p: &Path| toml_string(&p.display().to_string());
    let mut text = format!(
        "# Written by linkage-testkit.\n[tls]\ncert = {}\nkey = {}\nclient_ca = {}\n\n[access]\n",
        quote(&files.cert),
        quote(&files.key),
        quote(&files.client_ca)
    );
    for (principal, roles) in access {
        let roles: Vec<String> = roles.iter().map(|r| toml_string(r)).collect();
        text.push_str(&format!("{} = [{}]\n", toml_string(principal), roles.join(", ")));
    }
    text
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Every role: what [`OPERATOR`] holds on nodes the testkit starts.
pub const ALL_ROLES: &[&str] = &["platform", "reader", "operator"];

/// The client TLS of the local topology in `workdir` (its CA in
/// `workdir/pki`), as [`OPERATOR`]; `None` when it has no CA.
pub fn local_tls(workdir: &Path) -> anyhow::Result<Option<tonic::transport::ClientTlsConfig>> {
    let dir = workdir.join("pki");
    if !dir.join("ca.crt").exists() {
        return Ok(None);
    }
    Ok(Some(Pki { dir }.client_tls(OPERATOR)?))
}

/// An endpoint for the node at `addr` (`host:port`): `https` with `tls`,
/// else `http`.
pub fn endpoint(
    addr: &str,
    tls: Option<&tonic::transport::ClientTlsConfig>,
) -> anyhow::Result<tonic::transport::Endpoint> {
    Ok(match tls {
        Some(tls) => tonic::transport::Endpoint::from_shared(format!("https://{addr}"))?.tls_config(tls.clone())?,
        None => tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?,
    })
}

/// The node flags (`--tls-cert`, `--tls-key`, `--tls-client-ca`) for node
/// `code` in `data_dir`, with the test's CA in `data_dir/test-ca`: for
/// tests that run `linkage-node` themselves.
pub fn node_tls_flags(code: &str, data_dir: &Path) -> anyhow::Result<Vec<String>> {
    let pki = Pki::open_or_create(&data_dir.join("test-ca"))?;
    let files = pki.node_files(code, data_dir)?;
    Ok(vec![
        "--tls-cert".into(),
        files.cert.display().to_string(),
        "--tls-key".into(),
        files.key.display().to_string(),
        "--tls-client-ca".into(),
        files.client_ca.display().to_string(),
    ])
}

/// The files a raw NATS client of the local topology in `workdir` shows:
/// (CA, the local operator's certificate, its key); `None` without a CA.
pub fn local_nats_tls(workdir: &Path) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let dir = workdir.join("pki");
    let clients = dir.join("clients");
    dir.join("ca.crt")
        .exists()
        .then(|| (dir.join("ca.crt"), clients.join(format!("{OPERATOR}.crt")), clients.join(format!("{OPERATOR}.key"))))
}
