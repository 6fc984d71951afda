//! Checks of the repository's shape, run by `layers.rs` and
//! `file_length.rs`: the files of each crate import one another one way
//! only, and no source file grows past [`LINES_MAX`] lines unless the
//! allow-list names it with a reason.
//!
//! Imports are read with `syn`, as the compiler resolves them: every `use`
//! (`crate::`, `super::`, `self::`, a child module), every path written
//! inline in code (`crate::limits::X` in an expression or a type), and
//! `crate::`/`super::`/`self::` paths inside macro calls (`matches!`,
//! `assert!`). A path that names an item re-exported elsewhere (`pub use`)
//! is followed to the file that defines it, as the compiler does; a
//! module's `mod` declarations are not imports. Paths into other crates and
//! doc links are not imports of the crate's files.

use proc_macro2::{TokenStream, TokenTree};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// The most lines a source file may have unless `long_files.toml` names it.
pub const LINES_MAX: usize = 600;

/// Where a path was written, for the report: file and the path's text.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Evidence {
    /// The importing file.
    pub from: PathBuf,
    /// The imported file.
    pub to: PathBuf,
    /// The path as written.
    pub path: String,
}

/// One module of a crate: the file that holds it and what it declares.
#[derive(Debug, Default)]
struct Module {
    file: PathBuf,
    /// Child modules by name, as module paths.
    children: BTreeMap<String, Vec<String>>,
    /// Names brought in by `use` (or `pub use`), with the path they name,
    /// relative to this module.
    aliases: BTreeMap<String, Vec<String>>,
    /// Glob imports (`use x::*`), relative to this module.
    globs: Vec<Vec<String>>,
    /// Paths this module writes, relative to it: uses, inline paths and
    /// paths in macro calls.
    references: Vec<Vec<String>>,
}

/// The module tree of one crate root (a `lib.rs` or a `main.rs`).
#[derive(Debug, Default)]
pub struct ModuleTree {
    modules: BTreeMap<Vec<String>, Module>,
    /// Files that could not be read or parsed, with why.
    pub errors: Vec<String>,
}

impl ModuleTree {
    /// Reads the crate whose root file is `root`, following `mod` items.
    pub fn read(root: &Path) -> ModuleTree {
        let mut tree = ModuleTree::default();
        tree.read_file(root, Vec::new(), root.parent().unwrap_or(Path::new(".")).to_owned());
        tree
    }

    /// Reads `file` as module `path`, whose child module files lie in `dir`.
    fn read_file(&mut self, file: &Path, path: Vec<String>, dir: PathBuf) {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => return self.errors.push(format!("{}: {e}", file.display())),
        };
        let parsed = match syn::parse_file(&text) {
            Ok(parsed) => parsed,
            Err(e) => return self.errors.push(format!("{}: {e}", file.display())),
        };
        self.read_items(file, path, &dir, &parsed.items);
    }

    fn read_items(&mut self, file: &Path, path: Vec<String>, dir: &Path, items: &[syn::Item]) {
        let mut module = Module { file: file.to_owned(), ..Module::default() };
        let mut nested = Vec::new();
        for item in items {
            match item {
                syn::Item::Mod(m) => {
                    let name = m.ident.to_string();
                    let mut child = path.clone();
                    child.push(name.clone());
                    module.children.insert(name.clone(), child.clone());
                    nested.push((m, child));
                }
                syn::Item::Use(u) => {
                    collect_use(&u.tree, &mut Vec::new(), &mut module);
                }
                other => {
                    let mut visitor = PathVisitor { references: &mut module.references };
                    visitor.visit_item(other);
                }
            }
        }
        self.modules.insert(path.clone(), module);
        for (m, child) in nested {
            let name = m.ident.to_string();
            match &m.content {
                // An inline module: the same file, its own scope.
                Some((_, items)) => self.read_items(file, child, &dir.join(&name), items),
                None => {
                    let explicit = m.attrs.iter().find_map(path_attribute);
                    let candidates = match explicit {
                        Some(p) => vec![dir.join(p)],
                        None => vec![dir.join(format!("{name}.rs")), dir.join(&name).join("mod.rs")],
                    };
                    match candidates.iter().find(|c| c.is_file()) {
                        Some(found) => {
                            let child_dir = if found.file_name().is_some_and(|n| n == "mod.rs") {
                                found.parent().expect("mod.rs lies in a directory").to_owned()
                            } else {
                                dir.join(&name)
                            };
                            self.read_file(found, child, child_dir);
                        }
                        None => self.errors.push(format!("{}: no file for `mod {name}`", file.display())),
                    }
                }
            }
        }
    }

    /// How many files the crate has.
    pub fn files(&self) -> usize {
        self.modules.values().map(|m| &m.file).collect::<BTreeSet<_>>().len()
    }

    /// Every import between two different files, with the path that makes it.
    pub fn imports(&self) -> Vec<Evidence> {
        let mut out = BTreeSet::new();
        for (path, module) in &self.modules {
            let written = module.references.iter().chain(module.aliases.values()).chain(module.globs.iter());
            for reference in written {
                let Some(absolute) = self.absolute(path, reference) else { continue };
                let Some(target) = self.file_of(&absolute, 0) else { continue };
                if target != module.file {
                    out.insert(Evidence { from: module.file.clone(), to: target, path: reference.join("::") });
                }
            }
        }
        out.into_iter().collect()
    }

    /// `reference`, written in module `at`, as a path from the crate root;
    /// `None` for a path into another crate (or a name this does not know).
    fn absolute(&self, at: &[String], reference: &[String]) -> Option<Vec<String>> {
        self.absolute_within(at, reference, 0)
    }

    /// [`ModuleTree::absolute`], `depth` aliases deep: a guard against a
    /// name that leads back to itself (`use super::*` both ways).
    fn absolute_within(&self, at: &[String], reference: &[String], depth: usize) -> Option<Vec<String>> {
        if depth > 16 {
            return None;
        }
        let (first, rest) = reference.split_first()?;
        let mut base = at.to_vec();
        match first.as_str() {
            "crate" => return Some(rest.to_vec()),
            "self" => {}
            "super" => {
                base.pop()?;
                let mut rest = rest;
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop()?;
                    rest = &rest[1..];
                }
                base.extend(rest.iter().cloned());
                return Some(base);
            }
            _ => {
                let module = self.modules.get(at)?;
                if module.children.contains_key(first) {
                    base.push(first.clone());
                } else if let Some(alias) = module.aliases.get(first) {
                    // `use x::y as first;` then `first::z`: x::y::z.
                    if alias.as_slice() == reference {
                        return None;
                    }
                    let mut target = self.absolute_within(at, alias, depth + 1)?;
                    target.extend(rest.iter().cloned());
                    return Some(target);
                } else {
                    // Through a glob, from a module of this crate.
                    let via = module.globs.iter().find_map(|glob| {
                        let source = self.absolute_within(at, glob, depth + 1)?;
                        let m = self.modules.get(&source)?;
                        (m.children.contains_key(first) || m.aliases.contains_key(first)).then_some(source)
                    })?;
                    let mut target = via;
                    target.extend(reference.iter().cloned());
                    return Some(target);
                }
                base.extend(rest.iter().cloned());
                return Some(base);
            }
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The file that defines what the absolute `path` names: the deepest
    /// module on the path, following re-exports; `depth` guards a loop.
    fn file_of(&self, path: &[String], depth: usize) -> Option<PathBuf> {
        if depth > 16 {
            return None;
        }
        let mut at: Vec<String> = Vec::new();
        for (i, segment) in path.iter().enumerate() {
            let module = self.modules.get(&at)?;
            if let Some(child) = module.children.get(segment) {
                at = child.clone();
                continue;
            }
            if let Some(alias) = module.aliases.get(segment) {
                let mut target = self.absolute(&at, alias)?;
                target.extend(path[i + 1..].iter().cloned());
                // A re-export of another crate's item: defined there.
                return self.file_of(&target, depth + 1).or_else(|| Some(module.file.clone()));
            }
            for glob in &module.globs {
                if let Some(source) = self.absolute(&at, glob) {
                    let mut target = source;
                    target.extend(path[i..].iter().cloned());
                    if let Some(file) = self.defined_in(&target, depth + 1) {
                        return Some(file);
                    }
                }
            }
            return Some(module.file.clone());
        }
        Some(self.modules.get(&at)?.file.clone())
    }

    /// Like [`ModuleTree::file_of`], but only when the path's module holds
    /// the name itself (for globs, which may not).
    fn defined_in(&self, path: &[String], depth: usize) -> Option<PathBuf> {
        let (name, module) = path.split_last()?;
        let m = self.modules.get(module)?;
        (m.children.contains_key(name) || m.aliases.contains_key(name)).then(|| self.file_of(path, depth))?
    }
}

/// `#[path = "…"]` of a `mod` item.
fn path_attribute(attr: &syn::Attribute) -> Option<String> {
    let syn::Meta::NameValue(nv) = &attr.meta else { return None };
    if !nv.path.is_ident("path") {
        return None;
    }
    match &nv.value {
        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => Some(s.value()),
        _ => None,
    }
}

/// Adds the names and paths of one `use` tree to `module`.
fn collect_use(tree: &syn::UseTree, prefix: &mut Vec<String>, module: &mut Module) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            collect_use(&p.tree, prefix, module);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            let mut path = prefix.clone();
            if name != "self" {
                path.push(name.clone());
            }
            let alias = if name == "self" { prefix.last().cloned().unwrap_or(name) } else { name };
            module.aliases.insert(alias, path);
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            if r.ident != "self" {
                path.push(r.ident.to_string());
            }
            module.aliases.insert(r.rename.to_string(), path);
        }
        syn::UseTree::Glob(_) => module.globs.push(prefix.clone()),
        syn::UseTree::Group(g) => {
            for tree in &g.items {
                collect_use(tree, prefix, module);
            }
        }
    }
}

/// Collects every path written in an item: in code, in types, in `use`
/// items inside function bodies, and `crate::`/`super::`/`self::` paths in
/// the tokens of macro calls.
struct PathVisitor<'a> {
    references: &'a mut Vec<Vec<String>>,
}

impl<'ast> Visit<'ast> for PathVisitor<'_> {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() {
            self.references.push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let mut local = Module::default();
        collect_use(&u.tree, &mut Vec::new(), &mut local);
        self.references.extend(local.aliases.into_values());
        self.references.extend(local.globs);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        syn::visit::visit_macro(self, mac);
        macro_paths(mac.tokens.clone(), self.references);
    }

    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {
        // `pub(crate)`, `pub(super)`: who may see an item, not an import.
    }

    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {
        // A module inside a function body is a scope of its own; rare
        // enough to leave out.
    }
}

/// `a::b::c` sequences in a macro's tokens: `crate::x`, `super::x`, a
/// child module's or an imported name's path (what is not a module or a
/// name of this crate resolves to nothing and is dropped later).
fn macro_paths(tokens: TokenStream, out: &mut Vec<Vec<String>>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            TokenTree::Group(g) => macro_paths(g.stream(), out),
            TokenTree::Ident(id) => {
                let after_colons = i >= 2
                    && matches!((&tokens[i - 2], &tokens[i - 1]), (TokenTree::Punct(a), TokenTree::Punct(b)) if a.as_char() == ':' && b.as_char() == ':');
                let mut path = vec![id.to_string()];
                let mut j = i + 1;
                while let (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)), Some(TokenTree::Ident(next))) =
                    (tokens.get(j), tokens.get(j + 1), tokens.get(j + 2))
                {
                    if a.as_char() != ':' || b.as_char() != ':' {
                        break;
                    }
                    path.push(next.to_string());
                    j += 3;
                }
                // `::std::x` starts in another crate; a lone name is not a path.
                if path.len() > 1 && !after_colons {
                    out.push(path);
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
}

/// The import circles among `imports`: each as the files around it and the
/// paths that close it, shortest first.
pub fn circles(imports: &[Evidence]) -> Vec<Vec<Evidence>> {
    let mut graph: BTreeMap<&Path, Vec<&Evidence>> = BTreeMap::new();
    for e in imports {
        graph.entry(&e.from).or_default().push(e);
    }
    let mut found: Vec<Vec<Evidence>> = Vec::new();
    let mut seen_sets: BTreeSet<BTreeSet<PathBuf>> = BTreeSet::new();
    for start in graph.keys().copied() {
        // Breadth first from `start` back to itself: its shortest circle.
        let mut previous: BTreeMap<&Path, &Evidence> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut closing = None;
        while let Some(at) = queue.pop_front() {
            for e in graph.get(at).into_iter().flatten() {
                if e.to == start {
                    closing = Some(*e);
                    break;
                }
                if !previous.contains_key(e.to.as_path()) && e.to != start {
                    previous.insert(&e.to, e);
                    queue.push_back(&e.to);
                }
            }
            if closing.is_some() {
                break;
            }
        }
        let Some(last) = closing else { continue };
        let mut circle = vec![last.clone()];
        let mut at = last.from.as_path();
        while at != start {
            let e = previous[at];
            circle.push(e.clone());
            at = &e.from;
        }
        circle.reverse();
        let files: BTreeSet<PathBuf> = circle.iter().map(|e| e.from.clone()).collect();
        if seen_sets.insert(files) {
            found.push(circle);
        }
    }
    found.sort_by_key(Vec::len);
    found
}

/// The crate roots under `dir`: `src/lib.rs`, `src/main.rs` and
/// `src/bin/*.rs` of each crate, or a crate's own `lib.rs` at its top.
pub fn crate_roots(workspace: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut crates: Vec<PathBuf> = std::fs::read_dir(workspace.join("services"))
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.join("Cargo.toml").is_file()).collect())
        .unwrap_or_default();
    crates.push(workspace.join("tests"));
    crates.sort();
    for dir in crates {
        for root in [dir.join("src/lib.rs"), dir.join("src/main.rs"), dir.join("lib.rs")] {
            if root.is_file() {
                out.push(root);
            }
        }
        if let Ok(bins) = std::fs::read_dir(dir.join("src/bin")) {
            out.extend(bins.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "rs")));
        }
    }
    out
}

/// Every source file of the workspace that the length rule covers: Rust,
/// protobuf and shell files outside `target/` and `.git/`.
pub fn source_files(workspace: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if name != "target" && !name.to_string_lossy().starts_with('.') {
                    walk(&path, out);
                }
            } else if path.extension().is_some_and(|e| e == "rs" || e == "proto" || e == "sh") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    for top in ["services", "tests", "proto", "deploy", "scripts"] {
        walk(&workspace.join(top), &mut out);
    }
    out.sort();
    out
}

/// One entry of `long_files.toml`.
#[derive(serde::Deserialize, Debug)]
pub struct LongFile {
    /// Relative to the workspace.
    pub path: String,
    /// Why it is one file.
    pub reason: String,
}

/// `long_files.toml`: `[[file]]` entries.
#[derive(serde::Deserialize, Debug)]
pub struct LongFiles {
    /// The files allowed past [`LINES_MAX`].
    #[serde(default)]
    pub file: Vec<LongFile>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `files` (path, text) under a temp dir and reads its crate.
    fn crate_of(files: &[(&str, &str)]) -> (tempfile::TempDir, ModuleTree) {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let tree = ModuleTree::read(&dir.path().join("lib.rs"));
        assert!(tree.errors.is_empty(), "{:?}", tree.errors);
        (dir, tree)
    }

    fn names(dir: &Path, circle: &[Evidence]) -> Vec<String> {
        circle.iter().map(|e| e.from.strip_prefix(dir).unwrap().display().to_string()).collect()
    }

    #[test]
    fn a_circle_through_an_inline_path_is_found() {
        let (dir, tree) = crate_of(&[
            ("lib.rs", "pub mod a;\npub mod b;\n"),
            ("a.rs", "use crate::b::B;\npub const A: u32 = 1;\n"),
            ("b.rs", "pub struct B;\nfn f() -> u32 { crate::a::A }\n"),
        ]);
        let found = circles(&tree.imports());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(names(dir.path(), &found[0]), ["a.rs", "b.rs"]);
    }

    #[test]
    fn super_paths_macro_paths_and_re_exports_count() {
        // lib re-exports a's item; b uses it through the root and a uses
        // b inside a macro call: a circle, though lib itself is no part.
        let (dir, tree) = crate_of(&[
            ("lib.rs", "pub mod a;\npub mod b;\npub use a::Thing;\n"),
            ("a.rs", "pub struct Thing;\nfn f() { assert!(matches!(1, crate::b::ONE)); }\n"),
            ("b.rs", "pub const ONE: u32 = 1;\nfn g(_: crate::Thing) {}\n"),
        ]);
        let found = circles(&tree.imports());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(names(dir.path(), &found[0]), ["a.rs", "b.rs"]);
        // A child file using its parent through super: a circle with a
        // parent that uses the child.
        let (dir, tree) = crate_of(&[
            ("lib.rs", "pub mod v;\n"),
            ("v/mod.rs", "mod blocks;\npub const P: u32 = 1;\npub fn f() -> u32 { blocks::Q }\n"),
            ("v/blocks.rs", "pub const Q: u32 = super::P;\n"),
        ]);
        let found = circles(&tree.imports());
        assert_eq!(names(dir.path(), &found[0]), ["v/blocks.rs", "v/mod.rs"]);
        // A child named bare inside a macro call, and a parent it imports.
        let (dir, tree) = crate_of(&[
            ("lib.rs", "mod a;\nmod b;\npub const P: u32 = 2;\nfn f() { assert_eq!(a::A, 1); }\n"),
            ("a.rs", "pub const A: u32 = crate::P - 1;\n"),
            ("b.rs", "fn g() -> u32 { std::process::id() }\n"),
        ]);
        let found = circles(&tree.imports());
        assert_eq!(names(dir.path(), &found[0]), ["a.rs", "lib.rs"]);
    }

    #[test]
    fn one_way_imports_are_no_circle() {
        // Tests inline use their own file; a separate test file and the
        // root's re-exports point down only.
        let (_dir, tree) = crate_of(&[
            ("lib.rs", "pub mod a;\npub mod b;\n#[cfg(test)]\nmod tests;\npub use b::B;\n"),
            ("a.rs", "pub struct A;\n#[cfg(test)]\nmod tests { use super::*; fn f() -> A { A } }\n"),
            ("b.rs", "use crate::a::A;\npub struct B(pub A);\n"),
            ("tests.rs", "use crate::{B, a::A};\nfn f() -> B { B(A) }\n"),
        ]);
        let imports = tree.imports();
        let edges: BTreeSet<(String, String)> = imports
            .iter()
            .map(|e| {
                (
                    e.from.file_name().unwrap().to_string_lossy().into(),
                    e.to.file_name().unwrap().to_string_lossy().into(),
                )
            })
            .collect();
        let expected = [("b.rs", "a.rs"), ("lib.rs", "b.rs"), ("tests.rs", "a.rs"), ("tests.rs", "b.rs")];
        assert_eq!(edges, expected.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(), "{imports:?}");
        assert!(circles(&imports).is_empty());
    }
}
