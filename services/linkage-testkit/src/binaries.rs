//! Where the `linkage-node` and `linkctl` binaries are, built when a test
//! needs them: a test that starts processes depends on the binaries it
//! runs, so `cargo test -p linkage-tests` works on a clean checkout.
//!
//! The binaries come from the same profile as the running program
//! (`target/debug` for tests, `target/release` for the bench), built with
//! `cargo build --workspace --bins`: the same package selection as
//! `make build` and `make test`, so cargo resolves the same features and
//! finds nothing to do after them (cargo builds a binary again when only
//! some packages are named, since their features then differ).

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Overrides where the binaries are (and skips building them).
pub const BIN_DIR_ENV: &str = "LINKAGE_BIN_DIR";

/// Environment variables cargo sets for the test it runs (its package,
/// its manifest, its output directory), which the build of the binaries
/// must not inherit: build scripts that watch one (ring's watches
/// `CARGO_MANIFEST_DIR`) would see it change and rebuild all that depends
/// on them, for this build and the next one of `make`. Everything else,
/// cargo's configuration included, is passed on.
const CARGO_TEST_VARIABLES: &[&str] = &[
    "CARGO_MANIFEST_",
    "CARGO_PKG_",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_BIN_EXE_",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];

/// How long a test waits for another one's build of the binaries.
const BUILD_WAIT_MAX: Duration = Duration::from_secs(20 * 60);

/// The profile directory of the running program: `target/<profile>`,
/// where cargo puts the binaries of the same build.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running program");
    let dir = exe.parent().expect("a program lies in a directory");
    // Test programs lie one deeper, in `deps`.
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().expect("deps lies in the profile's directory").to_owned()
    } else {
        dir.to_owned()
    }
}

/// The directory holding `linkage-node` and `linkctl`: [`BIN_DIR_ENV`] when
/// set, else the running program's profile directory, after building the
/// binaries there (once per process, and once per nextest run).
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os(BIN_DIR_ENV) {
            return PathBuf::from(dir);
        }
        let dir = profile_dir();
        if let Err(e) = build(&dir) {
            panic!("building the binaries the test runs: {e:#}");
        }
        dir
    })
}

/// `bin_dir()/linkage-node`.
pub fn node_bin() -> PathBuf {
    bin_dir().join("linkage-node")
}

/// `bin_dir()/linkctl`.
pub fn linkctl_bin() -> PathBuf {
    bin_dir().join("linkctl")
}

/// Builds the workspace's binaries into `profile_dir`, under a lock on a
/// file beside them: nextest runs each test in a process of its own, many
/// at once, and one build per run serves them all (`NEXTEST_RUN_ID`).
/// cargo finds the target directory as the build that made this program
/// did (same configuration and environment), so no `--target-dir` is given.
fn build(profile_dir: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(profile_dir)?;
    let lock_path = profile_dir.join(".linkage-bins.lock");
    let mut lock = lock_file(&lock_path)?;
    let run = std::env::var("NEXTEST_RUN_ID").ok();
    let stamp = std::fs::read_to_string(&lock_path).unwrap_or_default();
    if run.as_deref().is_some_and(|run| stamp.trim() == run) {
        return Ok(());
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = std::process::Command::new(cargo);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if CARGO_TEST_VARIABLES.iter().any(|prefix| name.starts_with(prefix)) {
            command.env_remove(&*name);
        }
    }
    command
        .args(["build", "--workspace", "--bins", "--quiet", "--manifest-path"])
        .arg(crate::workspace::workspace_root().join("Cargo.toml"));
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => {}
        Some("release") => drop(command.arg("--release")),
        Some(other) => drop(command.args(["--profile", other])),
        None => anyhow::bail!("{} names no profile", profile_dir.display()),
    }
    let out = command.output().context("running cargo build")?;
    anyhow::ensure!(out.status.success(), "cargo build failed:\n{}", String::from_utf8_lossy(&out.stderr));
    for name in ["linkage-node", "linkctl"] {
        anyhow::ensure!(
            profile_dir.join(name).is_file(),
            "cargo build put no {name} in {}: is another target directory or target configured?",
            profile_dir.display()
        );
    }
    if let Some(run) = run {
        lock.set_len(0)?;
        write!(lock, "{run}")?;
    }
    Ok(())
}

/// `path`, opened and locked exclusively, waiting up to [`BUILD_WAIT_MAX`]
/// for whoever holds it (another test building the binaries).
fn lock_file(path: &Path) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    use nix::fcntl::{Flock, FlockArg};
    let deadline = Instant::now() + BUILD_WAIT_MAX;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => return Ok(locked),
            Err((back, nix::errno::Errno::EWOULDBLOCK)) if Instant::now() < deadline => {
                file = back;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err((_, e)) => anyhow::bail!("locking {} (another test building the binaries?): {e}", path.display()),
        }
    }
}
