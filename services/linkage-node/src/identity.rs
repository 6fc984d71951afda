//! The node's ed25519 identity. The secret key lives in a file of its own
//! (hex, mode 0600); it is created on first start and never rewritten, so a
//! node restored onto an empty disk keeps signing as itself.

use anyhow::Context;
use ed25519_dalek::SigningKey;
use std::io::Write;
use std::path::Path;

/// Loads the key at `path`, creating it (and its directory) when absent.
/// The flag is true when the key was created just now.
pub fn load_or_create(path: &Path) -> anyhow::Result<(SigningKey, bool)> {
    if path.exists() {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading key file {}", path.display()))?;
        let bytes: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .with_context(|| format!("key file {} must hold 64 hex digits", path.display()))?;
        return Ok((SigningKey::from_bytes(&bytes), false));
    }
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    // Write beside, fsync, then rename: a crash never leaves half a key.
    let tmp = path.with_extension("key.tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp).with_context(|| format!("creating key file {}", tmp.display()))?;
        writeln!(f, "{}", hex::encode(key.to_bytes()))?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    tracing::info!(
        path = %path.display(),
        public_key = %hex::encode(key.verifying_key().as_bytes()),
        nats_key = %linkage_core::nkey::public_key(&key),
        "created a new node key: list both public keys in the topology (linkctl topology public-keys)"
    );
    Ok((key, true))
}
