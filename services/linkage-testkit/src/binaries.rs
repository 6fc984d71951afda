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

/// Overrides where the binaries are (and skips building them).
pub const BIN_DIR_ENV: &str = "LINKAGE_BIN_DIR";

/// Environment variables that configure cargo itself, which the build of
/// the binaries keeps; every other `CARGO_*` is what cargo told the test.
const CARGO_CONFIGURATION: &[&str] = &[
    "CARGO_HOME",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_",
    "CARGO_PROFILE_",
    "CARGO_REGISTRIES_",
    "CARGO_REGISTRY_",
    "CARGO_NET_",
    "CARGO_HTTP_",
    "CARGO_TERM_",
    "CARGO_INCREMENTAL",
    "CARGO_LOG",
];

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
fn build(profile_dir: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    let target = profile_dir.parent().context("the profile directory lies in a target directory")?;
    let lock_path = target.join(".linkage-bins.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    let mut lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow::anyhow!("locking {}: {e}", lock_path.display()))?;
    let run = std::env::var("NEXTEST_RUN_ID").ok();
    let stamp = std::fs::read_to_string(&lock_path).unwrap_or_default();
    if run.as_deref().is_some_and(|run| stamp.trim() == format!("{}/{run}", profile_dir.display())) {
        return Ok(());
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = std::process::Command::new(cargo);
    // What cargo set for the running test (its CARGO_MANIFEST_DIR, its
    // package's name …) is not configuration: build scripts that watch
    // such a variable (ring's does) would see it change and rebuild all
    // that depends on them, for this build and the next one of `make`.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let configures = CARGO_CONFIGURATION.iter().any(|prefix| name.starts_with(prefix));
        if (name.starts_with("CARGO_") && !configures) || name == "OUT_DIR" {
            command.env_remove(&*name);
        }
    }
    command
        .args(["build", "--workspace", "--bins", "--quiet", "--manifest-path"])
        .arg(crate::workspace::workspace_root().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target);
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => {}
        Some("release") => drop(command.arg("--release")),
        Some(other) => drop(command.args(["--profile", other])),
        None => anyhow::bail!("{} names no profile", profile_dir.display()),
    }
    let out = command.output().context("running cargo build")?;
    anyhow::ensure!(out.status.success(), "cargo build failed:\n{}", String::from_utf8_lossy(&out.stderr));
    if let Some(run) = run {
        lock.set_len(0)?;
        write!(lock, "{}/{run}", profile_dir.display())?;
    }
    Ok(())
}
