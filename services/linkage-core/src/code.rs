//! Node identity: a committee is named by its GB/T 2260 division code.

use std::fmt;
use std::str::FromStr;

/// A six-digit GB/T 2260 administrative division code, e.g. `620722` (民乐县).
///
/// Stored as ASCII digits so that it is its own key prefix in the store and
/// its own token in NATS subjects.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeCode([u8; 6]);

impl NodeCode {
    /// Length of a code in bytes; also its length in the store's keys.
    pub const LEN: usize = 6;

    /// 全国政协, the national committee. GB/T 2260 gives the country no
    /// code; `000000` is no division's, and sorts first (decision 0065).
    pub const NATIONAL: NodeCode = NodeCode(*b"000000");

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored, see `FromStr`.
        std::str::from_utf8(&self.0).expect("node code is ASCII digits")
    }

    /// The code as its six ASCII bytes.
    pub fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// Parses six ASCII digits from raw key bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<NodeCode> {
        let arr: [u8; 6] = bytes.try_into().ok()?;
        arr.iter().all(u8::is_ascii_digit).then_some(NodeCode(arr))
    }
}

/// Why a string is not a node code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a six-digit GB/T 2260 code such as 620722")]
pub struct BadCode;

impl FromStr for NodeCode {
    type Err = BadCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NodeCode::from_bytes(s.as_bytes()).ok_or(BadCode)
    }
}

impl fmt::Display for NodeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for NodeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeCode({})", self.as_str())
    }
}

/// A committee's place in the four levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// 全国政协, above the provinces when a topology has it.
    National,
    /// 省政协.
    Province,
    /// 市州政协.
    City,
    /// 县市区政协.
    County,
}

impl Level {
    /// The protobuf enum value.
    pub fn to_proto(self) -> crate::pb::Level {
        match self {
            Level::National => crate::pb::Level::National,
            Level::Province => crate::pb::Level::Province,
            Level::City => crate::pb::Level::City,
            Level::County => crate::pb::Level::County,
        }
    }

    /// The level a GB/T 2260 code has by its form: [`NodeCode::NATIONAL`]
    /// the national committee, `xx0000` a province, `xxyy00` a city
    /// (prefecture), anything else a county. The topology refuses an entry
    /// whose declared level differs, so that the folds, which judge by code
    /// alone, agree with it.
    pub fn of_code(code: &NodeCode) -> Level {
        let digits = code.as_bytes();
        if *code == NodeCode::NATIONAL {
            Level::National
        } else if digits[2..] == *b"0000" {
            Level::Province
        } else if digits[4..] == *b"00" {
            Level::City
        } else {
            Level::County
        }
    }

    /// The committee one level above `code` by its form: a county's city
    /// (`xxyy00`) — but the districts and counties of the municipalities
    /// (北京 11, 天津 12, 上海 31, 重庆 50) and a province's own
    /// county-level divisions (`xx90yy`: 济源, 仙桃, 石河子 …) sit under the
    /// province (`xx0000`); a city's province; a province's national
    /// committee; `None` above that. The topology refuses a county whose
    /// parent differs, so that the folds, which judge by code alone, agree
    /// with it.
    pub fn parent_by_form(code: &NodeCode) -> Option<NodeCode> {
        let s = code.as_str();
        let parent = match Level::of_code(code) {
            Level::National => return None,
            Level::Province => NodeCode::NATIONAL.as_str().to_string(),
            Level::City => format!("{}0000", &s[..2]),
            Level::County if ["11", "12", "31", "50"].contains(&&s[..2]) || &s[2..4] == "90" => {
                format!("{}0000", &s[..2])
            }
            Level::County => format!("{}00", &s[..4]),
        };
        parent.parse().ok()
    }

    /// Lower-case English name, as in the topology file.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::National => "national",
            Level::Province => "province",
            Level::City => "city",
            Level::County => "county",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_of_a_code_gives_its_level() {
        for (code, level) in [
            ("000000", Level::National),
            ("620000", Level::Province),
            ("620700", Level::City),
            ("620722", Level::County),
        ] {
            assert_eq!(Level::of_code(&code.parse().unwrap()), level, "{code}");
        }
        for (code, parent) in [
            ("620722", Some("620700")),
            ("620700", Some("620000")),
            ("620000", Some("000000")),
            ("000000", None),
            ("110101", Some("110000")),
            ("500230", Some("500000")),
            ("429004", Some("420000")),
            ("659001", Some("650000")),
            ("419001", Some("410000")),
        ] {
            let found = Level::parent_by_form(&code.parse().unwrap()).map(|p| p.to_string());
            assert_eq!(found.as_deref(), parent, "{code}");
        }
    }

    #[test]
    fn parses_six_digits_only() {
        assert_eq!("620722".parse::<NodeCode>().unwrap().as_str(), "620722");
        for bad in ["", "62072", "6207222", "62072a", "６２０７２２", " 620722"] {
            assert_eq!(bad.parse::<NodeCode>(), Err(BadCode), "{bad:?}");
        }
    }
}
