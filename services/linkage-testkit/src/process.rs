//! Processes by pid: whether one runs, signalling it, waiting for it to go,
//! and starting one detached with its output in a log file. The one place
//! that knows how (linkctl's local runner, the tests and the bench use it).

use anyhow::Context;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Pause between polls of a process or a file.
pub const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// True while `pid` runs. A zombie (exited, not yet reaped) does not.
pub fn alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else { return false };
    raw > 0
        && kill(Pid::from_raw(raw), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

/// Sends `signal` to `pid`, if it names a process; errors are ignored (it
/// may have gone already).
pub fn signal(pid: u32, signal: Signal) {
    if let Ok(raw) = i32::try_from(pid) {
        if raw > 0 {
            let _ = kill(Pid::from_raw(raw), signal);
        }
    }
}

/// Waits up to `timeout` for `pid` to be gone; true when it is.
pub fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    true
}

/// Starts `argv` with its output appended to `log`, in a process group of
/// its own (a Ctrl-C at the terminal reaches whoever started it, which
/// stops it in order), and returns the child to reap.
pub fn spawn_detached(argv: &[String], log: &Path) -> anyhow::Result<Child> {
    use std::os::unix::process::CommandExt;
    let (program, args) = argv.split_first().context("an empty command line")?;
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {program}"))
}

/// The text of `path` once it holds any, trimmed, waiting until
/// `deadline`; `what` names the process that writes it, for the error.
pub fn wait_for_file(path: &Path, deadline: Instant, what: &str) -> anyhow::Result<String> {
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if !text.trim().is_empty() {
                return Ok(text.trim().to_owned());
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "{what} did not start in time ({} missing)", path.display());
        std::thread::sleep(POLL_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_is_alive_until_it_is_reaped_and_gone() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = spawn_detached(&["sleep".into(), "30".into()], &dir.path().join("log")).unwrap();
        let pid = child.id();
        assert!(alive(pid));
        signal(pid, Signal::SIGKILL);
        // Killed but not reaped: a zombie, which does not count.
        assert!(wait_gone(pid, Duration::from_secs(10)));
        child.wait().unwrap();
        assert!(!alive(pid));
        assert!(!alive(0), "pid 0 names no process of ours");
        assert!(spawn_detached(&[], &dir.path().join("log")).is_err());
    }
}
