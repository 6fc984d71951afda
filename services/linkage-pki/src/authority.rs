//! The province's certificate authority. An office makes its key and a
//! signing request where it runs ([`request`]); the province checks the
//! request and signs it ([`Authority::sign`]). Certificates serve both
//! ends of TLS: a node's certificate is its server certificate and, where
//! another node allows it, a client's.

use crate::principal::Principal;
use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

/// When a certificate is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// Not before this instant.
    pub not_before: OffsetDateTime,
    /// Not after this one.
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// From an hour ago (clocks of offices differ) for `days` days.
    pub fn days(days: u32) -> Validity {
        let now = OffsetDateTime::now_utc();
        Validity { not_before: now - Duration::hours(1), not_after: now + Duration::days(i64::from(days)) }
    }
}

/// Days a node or client certificate is valid unless told otherwise.
pub const CERTIFICATE_DAYS: u32 = 397;

/// Days the province's CA certificate is valid unless told otherwise.
pub const AUTHORITY_DAYS: u32 = 3650;

/// The province's CA: its certificate and its key.
pub struct Authority {
    cert_pem: String,
    key: KeyPair,
}

impl Authority {
    /// A new CA named `name` (its subject's common name).
    pub fn create(name: &str, validity: Validity) -> anyhow::Result<Authority> {
        let key = KeyPair::generate().context("generating the CA key")?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.distinguished_name.push(DnType::OrganizationName, "linkage");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        params.not_before = validity.not_before;
        params.not_after = validity.not_after;
        let cert = params.self_signed(&key).context("self-signing the CA certificate")?;
        Ok(Authority { cert_pem: cert.pem(), key })
    }

    /// The CA from its certificate and key, as [`Authority::cert_pem`]
    /// and [`Authority::key_pem`] wrote them.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> anyhow::Result<Authority> {
        let key = KeyPair::from_pem(key_pem).context("the CA key is not a PEM private key")?;
        Issuer::from_ca_cert_pem(cert_pem, &key).context("the CA certificate is not a PEM certificate")?;
        Ok(Authority { cert_pem: cert_pem.to_owned(), key })
    }

    /// Reads `ca.crt` and `ca.key` from `dir`.
    pub fn load(dir: &std::path::Path) -> anyhow::Result<Authority> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
        };
        Authority::from_pem(&read("ca.crt")?, &read("ca.key")?)
    }

    /// Writes `ca.crt` and `ca.key` (0600) to `dir`; refuses to replace a CA.
    pub fn save(&self, dir: &std::path::Path) -> anyhow::Result<()> {
        anyhow::ensure!(!dir.join("ca.key").exists(), "{} already holds a CA key", dir.display());
        crate::files::write_private(&dir.join("ca.key"), self.key_pem().as_bytes())?;
        crate::files::write_private(&dir.join("ca.crt"), self.cert_pem.as_bytes())
    }

    /// The CA certificate, PEM: what every listener and client trusts.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA key, PEM. It never leaves the province's signing machine.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// Signs a certificate signing request (PEM) for the principal it
    /// names. `principal` is the name the province checked the request is
    /// for: a request naming another is refused (a file called
    /// `620722.csr` must not come back as a certificate for `ops-gansu`).
    /// `hosts` are the host names and addresses the province grants: every
    /// one the request asks for must be among them, so a county cannot
    /// obtain a certificate for the broker's name. With hosts, the
    /// certificate serves and connects (a node, a broker); without, it only
    /// connects (a platform, an operator). Returns the certificate, PEM.
    pub fn sign(&self, csr_pem: &str, principal: &str, hosts: &[String], validity: Validity) -> anyhow::Result<String> {
        let expected = principal;
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem)
            .context("not a PEM certificate signing request, or its signature does not verify")?;
        let principal = csr
            .params
            .distinguished_name
            .get(&DnType::CommonName)
            .map(dn_text)
            .context("the request names no principal (no common name)")?;
        principal.parse::<Principal>().map_err(|e| anyhow::anyhow!("the request's principal {principal:?}: {e}"))?;
        anyhow::ensure!(principal == expected, "the request is for principal {principal:?}, not {expected:?}: refused");
        for san in &csr.params.subject_alt_names {
            let host = match san {
                SanType::DnsName(name) => name.as_str().to_owned(),
                SanType::IpAddress(ip) => ip.to_string(),
                other => {
                    anyhow::bail!("the request asks for a name that is neither a host name nor an address: {other:?}")
                }
            };
            anyhow::ensure!(
                hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)),
                "the request asks for host {host:?}, which the signer does not grant (--host): refused"
            );
        }
        let params = &mut csr.params;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = if params.subject_alt_names.is_empty() {
            vec![ExtendedKeyUsagePurpose::ClientAuth]
        } else {
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth]
        };
        params.not_before = validity.not_before;
        params.not_after = validity.not_after;
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&rand_serial()));
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, &self.key).context("reading the CA certificate")?;
        Ok(csr.signed_by(&issuer).context("signing the request")?.pem())
    }

    /// A key and a certificate made here, in one step: for tests and a
    /// developer's own machine only (the key is created where the CA is).
    /// Returns (certificate PEM, key PEM).
    pub fn issue(&self, principal: &str, hosts: &[String], validity: Validity) -> anyhow::Result<(String, String)> {
        let (key_pem, csr_pem) = request(principal, hosts)?;
        Ok((self.sign(&csr_pem, principal, hosts, validity)?, key_pem))
    }
}

fn dn_text(value: &rcgen::DnValue) -> String {
    match value {
        rcgen::DnValue::Utf8String(s) => s.clone(),
        rcgen::DnValue::PrintableString(s) => s.as_str().to_owned(),
        rcgen::DnValue::Ia5String(s) => s.as_str().to_owned(),
        rcgen::DnValue::TeletexString(s) => s.as_str().to_owned(),
        other => format!("{other:?}"),
    }
}

/// A random positive serial of 16 bytes: unique, as RFC 5280 asks.
fn rand_serial() -> [u8; 16] {
    let mut serial: [u8; 16] = rand::random();
    serial[0] = (serial[0] & 0x7f) | 0x01;
    serial
}

/// A new key and a signing request for `principal`, valid for `hosts`
/// (host names or IP addresses the holder serves on; none for a client
/// only). Returns (key PEM, request PEM); the key stays where it was made.
pub fn request(principal: &str, hosts: &[String]) -> anyhow::Result<(String, String)> {
    principal.parse::<Principal>().map_err(|e| anyhow::anyhow!("principal {principal:?}: {e}"))?;
    let key = KeyPair::generate().context("generating a key")?;
    let mut params = CertificateParams::new(hosts.to_vec()).context("a host name is not valid")?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, principal);
    let csr = params.serialize_request(&key).context("making the signing request")?;
    Ok((key.serialize_pem(), csr.pem().context("encoding the signing request")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_request_names_its_principal_and_hosts() {
        let ca = Authority::create("test CA", Validity::days(1)).unwrap();
        let (key, csr) = request("platform-620702", &["127.0.0.1".into(), "localhost".into()]).unwrap();
        assert!(key.contains("PRIVATE KEY"));
        let hosts = ["127.0.0.1".to_owned(), "localhost".to_owned()];
        let cert = ca.sign(&csr, "platform-620702", &hosts, Validity::days(1)).unwrap();
        let refused = ca.sign(&csr, "ops-gansu", &hosts, Validity::days(1)).unwrap_err().to_string();
        assert!(refused.contains("not \"ops-gansu\""), "{refused}");
        let der = rustls_pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
        assert_eq!(Principal::of_certificate(&der).unwrap().as_str(), "platform-620702");
        let again = Authority::from_pem(ca.cert_pem(), &ca.key_pem()).unwrap();
        again.sign(&csr, "platform-620702", &hosts, Validity::days(1)).unwrap();
    }

    /// A request for a host the province does not grant is refused; a
    /// certificate without hosts only connects.
    #[test]
    fn hosts_are_the_signers_to_grant() {
        let ca = Authority::create("test CA", Validity::days(1)).unwrap();
        let (_, csr) = request("620722", &["nats.gansu.example".into()]).unwrap();
        let refused = ca.sign(&csr, "620722", &["linkage.minle.example".into()], Validity::days(1)).unwrap_err();
        assert!(refused.to_string().contains("\"nats.gansu.example\""), "{refused}");
        assert!(ca.sign(&csr, "620722", &[], Validity::days(1)).is_err(), "no grant, no host");
        ca.sign(&csr, "620722", &["NATS.gansu.example".into()], Validity::days(1)).unwrap();
        let (_, client) = request("platform-620722", &[]).unwrap();
        let cert = ca.sign(&client, "platform-620722", &[], Validity::days(1)).unwrap();
        let der = rustls_pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
        let usage = parsed.extended_key_usage().unwrap().unwrap().value;
        assert!(usage.client_auth && !usage.server_auth, "a certificate without hosts only connects");
    }

    #[test]
    fn a_request_for_a_bad_principal_is_refused() {
        assert!(request("a b", &[]).unwrap_err().to_string().contains("principal"));
        let ca = Authority::create("test CA", Validity::days(1)).unwrap();
        assert!(ca.sign("not a request", "x", &[], Validity::days(1)).is_err());
    }

    use rustls_pki_types::pem::PemObject;
}
