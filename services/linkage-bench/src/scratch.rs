//! Where the benchmark writes: directories on the repository's own disk,
//! each removed when its figure is done.
//!
//! Every figure is about fdatasync, so the directory must sit on a real
//! disk: on a tmpfs (`/tmp` on many systems) fdatasync returns at once and
//! every baseline would measure nothing. The default is therefore
//! `target/bench-tmp` under the workspace root, beside the code.

use anyhow::Context;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Names a base directory to use instead of `target/bench-tmp`.
pub const BENCH_DIR_ENV: &str = "LINKAGE_BENCH_DIR";

/// Attempts at removing a directory. The node's sled database is dropped
/// by threads that outlive `Running::stop` by a moment, and sled may still
/// write a file while we remove the directory it sits in.
const REMOVE_ATTEMPTS_MAX: u32 = 10;

/// Pause between removal attempts; ten of them cover a second.
const REMOVE_RETRY_DELAY: Duration = Duration::from_millis(100);

/// The workspace root: the topology file, `target/bench-tmp` and the
/// report are found relative to it, whatever the current directory.
pub fn workspace_root() -> anyhow::Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().with_context(|| format!("finding the workspace root at {}", root.display()))
}

/// The base directory for scratch data, and whether the user chose it.
pub fn base_dir(root: &Path) -> (PathBuf, bool) {
    match std::env::var_os(BENCH_DIR_ENV) {
        Some(dir) if !dir.is_empty() => (PathBuf::from(dir), true),
        _ => (root.join("target").join("bench-tmp"), false),
    }
}

/// A directory that exists for one part of the run and is removed, with
/// everything in it, when dropped.
pub struct Scratch {
    /// The directory itself.
    path: PathBuf,
}

impl Scratch {
    /// Creates `parent/name`, empty: a leftover from a killed run is
    /// removed first so that every figure starts from a fresh store.
    pub fn create(parent: &Path, name: &str) -> anyhow::Result<Scratch> {
        let path = parent.join(name);
        if path.exists() {
            std::fs::remove_dir_all(&path).with_context(|| format!("removing leftover {}", path.display()))?;
        }
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Scratch { path })
    }

    /// A fresh directory inside this one.
    pub fn child(&self, name: &str) -> anyhow::Result<Scratch> {
        Scratch::create(&self.path, name)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for attempt in 1..=REMOVE_ATTEMPTS_MAX {
            match std::fs::remove_dir_all(&self.path) {
                Ok(()) => return,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
                Err(e) if attempt == REMOVE_ATTEMPTS_MAX => {
                    eprintln!("warning: could not remove {}: {e}", self.path.display());
                }
                Err(_) => std::thread::sleep(REMOVE_RETRY_DELAY),
            }
        }
    }
}

/// What the scratch directory is stored on: the numbers mean little on a
/// tmpfs, or on another disk than the one the service would use.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Filesystem {
    /// True on a tmpfs, where fdatasync does no work.
    pub tmpfs: bool,
    /// True when the directory is on the same device as the workspace.
    pub same_device_as_workspace: bool,
    /// Bytes free for an unprivileged writer.
    pub free_bytes: u64,
}

impl Filesystem {
    /// Looks at `dir`, comparing it with the workspace at `root`.
    pub fn of(dir: &Path, root: &Path) -> anyhow::Result<Filesystem> {
        let stat = nix::sys::statfs::statfs(dir).with_context(|| format!("statfs {}", dir.display()))?;
        let tmpfs = stat.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC;
        let same_device_as_workspace = std::fs::metadata(dir)?.dev() == std::fs::metadata(root)?.dev();
        let free_bytes = (stat.blocks_available() as u64).saturating_mul(stat.block_size() as u64);
        Ok(Filesystem { tmpfs, same_device_as_workspace, free_bytes })
    }
}
