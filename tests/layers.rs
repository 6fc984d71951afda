//! No crate's files import one another in a circle: each crate is layers
//! whose imports point one way, so a reader can take a file with what lies
//! below it and nothing above. See `structure.rs` for what counts as an
//! import.

use linkage_tests::structure::{circles, crate_roots, ModuleTree};

#[test]
fn no_crate_has_an_import_circle_between_its_files() {
    let workspace = linkage_testkit::workspace_root();
    let roots = crate_roots(&workspace);
    assert!(roots.len() >= 9, "found only {roots:?}");
    let mut problems = Vec::new();
    let mut files = 0;
    for root in &roots {
        let tree = ModuleTree::read(root);
        problems.extend(tree.errors.iter().cloned());
        let imports = tree.imports();
        files += imports.iter().map(|e| &e.from).collect::<std::collections::BTreeSet<_>>().len();
        for circle in circles(&imports) {
            let steps: Vec<String> = circle
                .iter()
                .map(|e| {
                    let from = e.from.strip_prefix(&workspace).unwrap_or(&e.from);
                    format!("{} → (`{}`)", from.display(), e.path)
                })
                .collect();
            problems.push(format!("an import circle: {} → back to the first", steps.join(" ")));
        }
    }
    // The check reads real imports: a crate split into layers has many.
    assert!(files > 60, "only {files} files import another of their crate: is the parser reading the files?");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
