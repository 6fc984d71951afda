//! Member ids (委员): `<committee code>-<local id>`, e.g. `620722-0017`
//! (an opaque local part: ids are never erased). An id names its committee, as an event id names
//! its origin and a group id its lead: only that committee registers,
//! updates, removes or erases the member (`crate::rules`), and only its
//! events count for the member.

use crate::code::NodeCode;
use std::fmt;
use std::str::FromStr;

/// Characters of the local part after `<code>-`.
pub const LOCAL_CHARS_MAX: usize = 32;

/// A member id, parsed.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct MemberId {
    text: String,
    committee: NodeCode,
}

impl MemberId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The committee the id names.
    pub fn committee(&self) -> NodeCode {
        self.committee
    }
}

impl FromStr for MemberId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let why = || {
            format!(
                "a member id is the committee's code, '-', then 1..={LOCAL_CHARS_MAX} of a-z, 0-9 and - \
                 (e.g. 620722-zhang-0017)"
            )
        };
        let (code, rest) = s.split_at_checked(NodeCode::LEN).ok_or_else(why)?;
        let committee: NodeCode = code.parse().map_err(|_| why())?;
        let local = rest.strip_prefix('-').ok_or_else(why)?;
        let ok_chars = local.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if local.is_empty() || local.len() > LOCAL_CHARS_MAX || !ok_chars {
            return Err(why());
        }
        Ok(MemberId { text: s.to_owned(), committee })
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The committee a member id names, if it is one.
pub fn committee_of(id: &str) -> Option<NodeCode> {
    id.parse::<MemberId>().ok().map(|m| m.committee())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_id_names_its_committee() {
        let id: MemberId = "620722-zhang-0017".parse().unwrap();
        assert_eq!(id.committee().as_str(), "620722");
        for bad in ["", "620722", "620722-", "620722_zhang", "62072-zhang", "620722-Zhang", "abcdef-zhang"] {
            assert!(bad.parse::<MemberId>().is_err(), "{bad}");
        }
        let long = format!("620722-{}", "a".repeat(LOCAL_CHARS_MAX + 1));
        assert!(long.parse::<MemberId>().is_err());
        assert_eq!(committee_of("620700-li"), Some("620700".parse().unwrap()));
    }
}
