//! A principal: the name a certificate of the province's CA gives its
//! holder (`620000` for a node, `platform-620702` for a committee's
//! 智慧政协 platform, `ops-gansu` for an operator). It is the subject's
//! common name; node configurations grant roles to it.

use std::fmt;

/// Longest principal name, in bytes.
pub const PRINCIPAL_BYTES_MAX: usize = 64;

/// A checked principal name: 1 to [`PRINCIPAL_BYTES_MAX`] ASCII letters,
/// digits and `-`, `_`, `.`, `@`, `:`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Principal(String);

/// Why a name is not a principal.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrincipalError {
    /// Empty, too long or with a character outside the set.
    #[error("a principal is 1 to {PRINCIPAL_BYTES_MAX} of A-Z a-z 0-9 - _ . @ : (got {0} bytes)")]
    Malformed(usize),
    /// The certificate cannot be parsed.
    #[error("the certificate cannot be parsed")]
    Unparsable,
    /// The certificate's subject has no common name.
    #[error("the certificate's subject names no principal (no common name)")]
    NoCommonName,
}

impl Principal {
    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The principal a DER certificate names: its subject's first common
    /// name. The certificate's chain and dates are the TLS verifier's
    /// business; this only reads the name.
    pub fn of_certificate(der: &[u8]) -> Result<Principal, PrincipalError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|_| PrincipalError::Unparsable)?;
        let name = cert
            .subject()
            .iter_common_name()
            .next()
            .ok_or(PrincipalError::NoCommonName)?
            .as_str()
            .map_err(|_| PrincipalError::NoCommonName)?;
        name.parse()
    }
}

impl std::str::FromStr for Principal {
    type Err = PrincipalError;

    fn from_str(name: &str) -> Result<Principal, PrincipalError> {
        let ok = !name.is_empty()
            && name.len() <= PRINCIPAL_BYTES_MAX
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.@:".contains(&b));
        if ok {
            Ok(Principal(name.to_owned()))
        } else {
            Err(PrincipalError::Malformed(name.len()))
        }
    }
}

impl TryFrom<String> for Principal {
    type Error = PrincipalError;

    fn try_from(name: String) -> Result<Principal, PrincipalError> {
        name.parse()
    }
}

impl From<Principal> for String {
    fn from(principal: Principal) -> String {
        principal.0
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["620000", "platform-620702", "ops.gansu@province", "a:b_c"] {
            assert_eq!(good.parse::<Principal>().unwrap().as_str(), good);
        }
        for bad in ["", "has space", "中文", "a/b", &"x".repeat(65)] {
            assert_eq!(bad.parse::<Principal>(), Err(PrincipalError::Malformed(bad.len())), "{bad:?}");
        }
    }
}
