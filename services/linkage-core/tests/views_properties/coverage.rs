//! The generator reaches what the properties must cover: every payload
//! kind, and every rule broken (and disputed by the folds).

use super::*;

/// The generator reaches every payload kind, so the properties above cover
/// every fold.
#[test]
fn the_generator_makes_every_payload_kind() {
    // Each kind once, honestly: the lead assigns itself (c = 5), an
    // adoption at the province's own level (b = 2), a merge into the
    // province's own item (b = 2), each item handled on its chain (a).
    let ops: Vec<Op> = (0..REFERRING_KINDS)
        .map(|kind| Op {
            kind,
            a: match kind {
                13 => 1,
                14 => 2,
                // A rating of 张掖市's proposal, by the province above it.
                48 => 1,
                _ => 0,
            },
            b: if kind == 15 || kind == 26 { 2 } else { 1 },
            c: if kind == 7 { 5 } else { 2 },
            origin: kind,
            hlc: 1,
            upper: false,
            salt: 0,
        })
        .collect();
    let creators = vec![Some((0, 1, 0)); TOPICS + ITEMS + NOTICES + RESULTS + PROPOSALS];
    let built = build(&creators, &ops);
    let kinds: std::collections::BTreeSet<&str> = built
        .events
        .iter()
        .zip(&built.lies)
        .filter(|(_, lie)| lie.is_none())
        .filter_map(|(e, _)| e.payload.as_ref()?.kind.as_ref())
        .map(views::kind_name)
        .collect();
    assert_eq!(kinds.len(), 54, "every payload kind of linkage.v1.Payload: {kinds:?}");
}

/// The generator breaks every rule of `linkage_core::rules`, so the
/// property on lies covers each.
#[test]
fn the_generator_breaks_every_rule() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut made, mut found) = (std::collections::BTreeSet::new(), std::collections::BTreeSet::new());
    for _ in 0..200 {
        let built = built_set().new_tree(&mut runner).expect("a set").current();
        made.extend(built.lies.iter().flatten().copied());
        found.extend(disputed_entries(&fold(&built.events)).into_iter().map(|(_, rule)| rule));
    }
    let all: std::collections::BTreeSet<&str> = linkage_core::rules::Breach::ALL.iter().map(|b| b.name()).collect();
    assert_eq!(made, all, "the generator's lies");
    // And the folds dispute each (but the id rule's, which no record lists).
    let found: std::collections::BTreeSet<&str> = found.iter().map(String::as_str).collect();
    let listed: std::collections::BTreeSet<&str> = all.into_iter().filter(|r| *r != "id_not_origin").collect();
    assert_eq!(found, listed, "the folds' disputes");
}
