//! No source file grows past `LINES_MAX` lines unless `long_files.toml`
//! names it with the reason it is one file; the list names no file that
//! is short again, or gone.

use linkage_tests::structure::{source_files, LongFiles, LINES_MAX};

#[test]
fn no_file_is_longer_than_the_limit_unless_the_list_says_why() {
    let workspace = linkage_testkit::workspace_root();
    let list_path = workspace.join("tests/long_files.toml");
    let list: LongFiles = toml::from_str(&std::fs::read_to_string(&list_path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", list_path.display()));
    let mut problems = Vec::new();
    for entry in &list.file {
        if entry.reason.trim().len() < 20 {
            problems.push(format!("{}: give the reason it is one file, in a sentence", entry.path));
        }
        match std::fs::read_to_string(workspace.join(&entry.path)) {
            Err(e) => {
                problems.push(format!("{} is listed but cannot be read ({e}): drop it from the list", entry.path))
            }
            Ok(text) if text.lines().count() <= LINES_MAX => {
                problems.push(format!("{} is {} lines now: drop it from the list", entry.path, text.lines().count()))
            }
            Ok(_) => {}
        }
    }
    let files = source_files(&workspace);
    assert!(files.len() > 100, "found only {} source files", files.len());
    for file in files {
        let lines = std::fs::read_to_string(&file).map_or(0, |t| t.lines().count());
        let relative = file.strip_prefix(&workspace).unwrap().display().to_string();
        if lines > LINES_MAX && !list.file.iter().any(|e| e.path == relative) {
            problems.push(format!(
                "{relative} is {lines} lines, over {LINES_MAX}: split it by what its parts do, or name it in \
                 tests/long_files.toml with the reason it is one file"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
