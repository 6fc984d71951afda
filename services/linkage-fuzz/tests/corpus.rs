//! Replays the seeds and the checked-in corpus of every fuzz target
//! (`fuzz/corpus/<target>/`): what libFuzzer found once stays tested.

use std::path::PathBuf;

#[test]
fn the_seeds_and_the_corpus_pass_every_target() {
    for (name, input) in linkage_fuzz::seeds() {
        let (_, target) = linkage_fuzz::TARGETS.iter().find(|(n, _)| *n == name).expect("a target");
        target(&input);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut replayed = 0;
    for (name, target) in linkage_fuzz::TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(name)) else { continue };
        for entry in entries {
            let path = entry.expect("a corpus entry").path();
            target(&std::fs::read(&path).expect("a corpus file"));
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} corpus inputs");
}

#[test]
fn a_valid_run_verifies_and_any_single_byte_change_does_not() {
    let run = linkage_fuzz::valid_run();
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
    assert!(linkage_core::verify::verify_run(run, &key).is_ok(), "the unchanged run verifies");
    for which in 0..3u8 {
        for at in (0..run[usize::from(which)].len() as u16).step_by(7) {
            let [hi, lo] = at.to_be_bytes();
            linkage_fuzz::mutated_run(&[which, hi, lo, 0x55]);
        }
    }
}
