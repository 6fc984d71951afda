//! Checks of the command line as a whole.

/// No subcommand's argument reuses the id or name of a global one of
/// a command above it (`--key` is TLS's): clap would only find out when
/// a user types the command.
#[test]
fn no_argument_shadows_a_global_one() {
    type Names = Vec<(String, Option<String>)>;
    // `topology sign --key`: the topology key, a path like TLS's key, so
    // clap keeps one value for both; signing connects to no node.
    const KNOWN: &[&str] = &["sign --key"];
    fn walk(command: &clap::Command, above: &Names, clashes: &mut Vec<String>) {
        let mut globals = above.clone();
        for arg in command.get_arguments() {
            let (id, long) = (arg.get_id().to_string(), arg.get_long().map(str::to_string));
            if above.iter().any(|(gid, glong)| *gid == id || (long.is_some() && *glong == long)) {
                clashes.push(format!("{} --{}", command.get_name(), long.clone().unwrap_or(id.clone())));
            }
            if arg.is_global_set() {
                globals.push((id, long));
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, &globals, clashes);
        }
    }
    let check = || {
        let mut clashes = Vec::new();
        walk(&<crate::Cli as clap::CommandFactory>::command(), &Vec::new(), &mut clashes);
        clashes
    };
    // The tree is deep: more stack than a test thread's 2 MiB.
    let clashes = std::thread::Builder::new().stack_size(64 << 20).spawn(check).unwrap().join().unwrap();
    let clashes: Vec<&String> = clashes.iter().filter(|c| !KNOWN.contains(&c.as_str())).collect();
    assert!(clashes.is_empty(), "arguments named like global ones: {clashes:?}");
}
