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
        let importing = imports.iter().map(|e| &e.from).collect::<std::collections::BTreeSet<_>>().len();
        // A crate of many files whose files import nothing of one
        // another: the parser read nothing. (A root with two independent
        // modules, as this crate's, is fine; the total below still checks
        // that imports are read at all.)
        if tree.files() > 3 && importing == 0 {
            problems.push(format!("{}: no file imports another; is it parsed?", root.display()));
        }
        files += importing;
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

/// The store's files import only the layers its map (the `# Layout` list
/// of `lib.rs`) names before them: the order a newcomer reads it in is the
/// order of its dependencies.
#[test]
fn the_store_imports_only_layers_its_map_lists_before() {
    let src = linkage_testkit::workspace_root().join("services/linkage-store/src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let order: Vec<&str> = lib.lines().filter_map(|l| l.strip_prefix("//! - [`")?.split('`').next()).collect();
    let declared: Vec<&str> = lib.lines().filter_map(|l| l.strip_prefix("pub mod ")?.strip_suffix(';')).collect();
    let mut listed = order.clone();
    listed.sort_unstable();
    assert_eq!(listed, declared, "the map in lib.rs lists every module, once");
    let rank = |file: &std::path::Path| {
        let top = file.strip_prefix(&src).ok()?.components().next()?.as_os_str().to_str()?;
        order.iter().position(|m| *m == top.trim_end_matches(".rs"))
    };
    let mut problems = Vec::new();
    let imports = ModuleTree::read(&src.join("lib.rs")).imports();
    assert!(imports.len() > 40, "only {} imports read", imports.len());
    for e in &imports {
        // lib.rs and the tests are no layer.
        let (Some(from), Some(to)) = (rank(&e.from), rank(&e.to)) else { continue };
        if to > from {
            problems.push(format!(
                "{} imports {} (`{}`), a layer the map lists after it",
                e.from.strip_prefix(&src).unwrap().display(),
                e.to.strip_prefix(&src).unwrap().display(),
                e.path
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
