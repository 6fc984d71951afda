//! The backup-and-restore drill (`deploy/drill/backup-restore`) as an
//! office would run it: real node processes over TLS, a backup taken while
//! the node is stopped, the disk lost, the backup restored.

#[test]
fn the_backup_and_restore_drill_passes() {
    let workdir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(linkage_testkit::workspace_root().join("deploy/drill/backup-restore"))
        .arg(workdir.path())
        .env("LINKAGE_BIN_DIR", linkage_testkit::bin_dir())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the drill failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert!(stdout.contains("drill passed"), "{stdout}");
}
