//! Members' keys (PIPL): the personal fields of a member (name, gender,
//! workplace, phone) are sealed under a key of that member's own before
//! the event is signed, so the log — this node's and every copy of it —
//! never holds them in clear. Keys live outside the log, one file per
//! member in `<data_dir>/member-keys/`, only at the member's own
//! committee's node. Erasure destroys the key: the sealed bytes wherever
//! they were copied are then unreadable.
//!
//! XChaCha20-Poly1305 with a random 24-byte nonce per sealing, the member
//! id as associated data (a sealed value moved to another member does not
//! open).
//!
//! Back the directory up with the node's key: a node restored from its
//! peers gets the sealed fields back but not the keys.
//!
//! An erasure leaves a tombstone (`<id>.erased`): no key is ever made for
//! that member again, whatever request arrives later. One lock orders
//! making and destroying keys, so two requests for one member never race.
//! Files are the node's only (0600, the directory 0700).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use linkage_core::pb;
use prost::Message;
use rand::RngCore;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The directory of keys.
#[derive(Debug)]
pub struct MemberKeys {
    dir: PathBuf,
    /// Held while a key is made or destroyed.
    lock: Mutex<()>,
}

const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;

impl MemberKeys {
    /// The keys under `data_dir`, the directory made if missing.
    pub fn open(data_dir: &Path) -> std::io::Result<MemberKeys> {
        let dir = data_dir.join("member-keys");
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        Ok(MemberKeys { dir, lock: Mutex::new(()) })
    }

    /// A member id is `<code>-<[a-z0-9-]>` (`linkage_core::members`): a
    /// file name as it stands, never a path.
    fn path(&self, member_id: &str) -> std::io::Result<PathBuf> {
        member_id
            .parse::<linkage_core::members::MemberId>()
            .map(|_| self.dir.join(member_id))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    }

    fn key(&self, member_id: &str) -> std::io::Result<Option<[u8; KEY_BYTES]>> {
        match std::fs::read(self.path(member_id)?) {
            Ok(bytes) => bytes.try_into().map(Some).map_err(|b: Vec<u8>| {
                std::io::Error::other(format!("the key file of {member_id} holds {} bytes, not {KEY_BYTES}", b.len()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn tombstone(&self, member_id: &str) -> std::io::Result<PathBuf> {
        Ok(self.path(member_id)?.with_extension("erased"))
    }

    /// Whether the member's personal data were erased here.
    pub fn erased(&self, member_id: &str) -> std::io::Result<bool> {
        Ok(self.tombstone(member_id)?.exists())
    }

    /// The member's key, made and written durably (file and directory
    /// synced) on first use.
    fn key_or_new(&self, member_id: &str) -> std::io::Result<[u8; KEY_BYTES]> {
        let _held = self.lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.erased(member_id)? {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "the member's personal data were erased: no key is made for it again",
            ));
        }
        if let Some(key) = self.key(member_id)? {
            return Ok(key);
        }
        let mut key = [0u8; KEY_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let path = self.path(member_id)?;
        let tmp = path.with_extension("new");
        {
            let mut file =
                std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
            file.write_all(&key)?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(key)
    }

    /// Seals `personal` under the member's key (made if missing).
    pub fn seal(&self, member_id: &str, personal: &pb::PersonalFields) -> std::io::Result<pb::Sealed> {
        let key = self.key_or_new(member_id)?;
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let cipher = XChaCha20Poly1305::new(&key.into());
        let plain = personal.encode_to_vec();
        let ciphertext = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: &plain, aad: member_id.as_bytes() })
            .map_err(|_| std::io::Error::other("sealing failed"))?;
        Ok(pb::Sealed { nonce: nonce.to_vec(), ciphertext })
    }

    /// The personal fields, if this node holds the member's key and they
    /// open under it.
    pub fn unseal(&self, member_id: &str, sealed: &pb::Sealed) -> std::io::Result<Option<pb::PersonalFields>> {
        let Some(key) = self.key(member_id)? else { return Ok(None) };
        if sealed.nonce.len() != NONCE_BYTES {
            return Ok(None);
        }
        let cipher = XChaCha20Poly1305::new(&key.into());
        let opened = cipher
            .decrypt(XNonce::from_slice(&sealed.nonce), Payload { msg: &sealed.ciphertext, aad: member_id.as_bytes() });
        Ok(opened.ok().and_then(|plain| pb::PersonalFields::decode(plain.as_slice()).ok()))
    }

    /// Destroys the member's key, durably, and leaves its tombstone: the
    /// key's bytes are overwritten before the file goes. No key is no error.
    pub fn erase(&self, member_id: &str) -> std::io::Result<()> {
        let _held = self.lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let path = self.path(member_id)?;
        {
            let mut tomb = std::fs::OpenOptions::new();
            tomb.write(true).create(true).truncate(true).mode(0o600);
            tomb.open(self.tombstone(member_id)?)?.sync_all()?;
        }
        match std::fs::OpenOptions::new().write(true).open(&path) {
            Ok(mut file) => {
                file.write_all(&[0u8; KEY_BYTES])?;
                file.sync_all()?;
                std::fs::remove_file(&path)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::fs::File::open(&self.dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_fields_open_with_the_key_only_and_never_after_erasure() {
        let dir = tempfile::tempdir().unwrap();
        let keys = MemberKeys::open(dir.path()).unwrap();
        let personal =
            pb::PersonalFields { name: "张某某".into(), phone: "13800000000".into(), ..Default::default() };
        let sealed = keys.seal("620722-zhang", &personal).unwrap();
        assert!(!sealed.ciphertext.windows(3).any(|w| w == "张".as_bytes()), "no name in clear");
        assert_eq!(keys.unseal("620722-zhang", &sealed).unwrap(), Some(personal.clone()));
        // Another member's key, or another member's id as associated data, does not open it.
        keys.seal("620722-li", &personal).unwrap();
        assert_eq!(keys.unseal("620722-li", &sealed).unwrap(), None);
        // A second sealing uses the same key and another nonce.
        let again = keys.seal("620722-zhang", &personal).unwrap();
        assert_ne!(again.nonce, sealed.nonce);
        // Only this node reads the keys.
        let mode = |p: &str| std::fs::metadata(dir.path().join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode("member-keys"), mode("member-keys/620722-zhang")), (0o700, 0o600));
        keys.erase("620722-zhang").unwrap();
        assert_eq!(keys.unseal("620722-zhang", &sealed).unwrap(), None);
        assert!(!dir.path().join("member-keys/620722-zhang").exists());
        keys.erase("620722-zhang").unwrap();
        // Once erased, no request makes the member a key again.
        let again = keys.seal("620722-zhang", &personal).unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::PermissionDenied, "{again}");
        assert!(keys.erased("620722-zhang").unwrap() && !keys.erased("620722-li").unwrap());
        // Ids are checked before they become paths.
        assert!(keys.seal("../../etc/passwd", &personal).is_err());
    }
}
