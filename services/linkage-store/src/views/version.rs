//! Which code wrote the stored views: the version of the folds
//! (`linkage_core::views::FOLDS_VERSION`) and that of the record layout
//! here ([`LAYOUT_VERSION`]). Views written by another version of either
//! are rebuilt from the log when the store opens.

use crate::error::StoreError;
use crate::keys;
use linkage_core::views::{FoldContext, FOLDS_VERSION};

/// Bumped whenever the way view records lie in sled changes. 2: event ids
/// in keys as 16 bytes. 3: records stored in blocks.
pub const LAYOUT_VERSION: u32 = 3;

/// The versions that wrote the stored views.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredVersion {
    /// `linkage_core::views::FOLDS_VERSION` of the folds.
    pub folds: u64,
    /// [`LAYOUT_VERSION`] of the layout.
    pub layout: u64,
}

impl StoredVersion {
    /// The versions of this code.
    pub fn current() -> StoredVersion {
        StoredVersion { folds: u64::from(FOLDS_VERSION), layout: u64::from(LAYOUT_VERSION) }
    }

    /// The stored value: the folds' version first, so that a version before
    /// this format, which reads the first eight bytes as the one version it
    /// knew (3), sees another and rebuilds.
    pub fn encode(&self) -> [u8; 16] {
        let mut out = [0; 16];
        out[..8].copy_from_slice(&self.folds.to_be_bytes());
        out[8..].copy_from_slice(&self.layout.to_be_bytes());
        out
    }

    /// A stored value. One of eight bytes was written before the two
    /// versions were told apart, when every change so far had been one of
    /// the layout: it is that layout with the first folds.
    pub fn decode(bytes: &[u8]) -> Option<StoredVersion> {
        match bytes.len() {
            8 => Some(StoredVersion { folds: 1, layout: keys::be_u64(bytes)? }),
            16 => Some(StoredVersion { folds: keys::be_u64(bytes)?, layout: keys::be_u64(&bytes[8..])? }),
            _ => None,
        }
    }
}

/// The context the stored views were folded by: the default when none is
/// recorded (a store before contexts, or a province alone).
pub fn context(tree: &sled::Tree) -> Result<FoldContext, StoreError> {
    match tree.get(keys::META_FOLD_CONTEXT)? {
        None => Ok(FoldContext::default()),
        Some(bytes) => FoldContext::decode(&bytes).ok_or_else(|| StoreError::Corrupt("the views' fold context".into())),
    }
}

/// The versions that wrote the stored views, if any are recorded.
pub fn stored(tree: &sled::Tree) -> Result<Option<StoredVersion>, StoreError> {
    Ok(tree.get(keys::META_VIEWS)?.and_then(|v| StoredVersion::decode(&v)))
}

/// Whether the stored views were written by this code.
pub fn is_current(tree: &sled::Tree) -> Result<bool, StoreError> {
    Ok(stored(tree)? == Some(StoredVersion::current()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_of_the_version_before_reads_as_the_first_folds_and_its_layout() {
        assert_eq!(StoredVersion::decode(&3u64.to_be_bytes()), Some(StoredVersion { folds: 1, layout: 3 }));
        assert_ne!(
            StoredVersion::decode(&3u64.to_be_bytes()),
            Some(StoredVersion::current()),
            "the folds changed since"
        );
        assert_eq!(StoredVersion::decode(&2u64.to_be_bytes()).map(|v| v.layout), Some(2));
        let current = StoredVersion::current();
        assert_eq!(StoredVersion::decode(&current.encode()), Some(current));
        // What the version before reads from the new mark: not its own 3.
        assert_ne!(keys::be_u64(&current.encode()), Some(3));
        assert_eq!(StoredVersion::decode(b"odd"), None);
    }
}
