use super::*;
use crate::groups::Groups;
use crate::replica::STREAMS_TRACKED_MAX;
use crate::{pb, Channel, Topology};

fn topology() -> Topology {
    use crate::topology::{NodeEntry, TopologyFile};
    use crate::Level;
    let entry = NodeEntry::unnamed;
    let nodes = vec![
        entry("620000", Level::Province, None),
        entry("620100", Level::City, Some("620000")),
        entry("620102", Level::County, Some("620100")),
        entry("620103", Level::County, Some("620100")),
        entry("620700", Level::City, Some("620000")),
        entry("620722", Level::County, Some("620700")),
    ];
    Topology::from_file(TopologyFile { version: None, nodes, federations: Vec::new(), national_since: None }).unwrap()
}

fn code(s: &str) -> NodeCode {
    s.parse().unwrap()
}

const T0: Duration = Duration::from_secs(100);

#[test]
fn claims_are_kept_only_about_streams_both_sides_may_hold() {
    let (t, g) = (topology(), Groups::default());
    let world = World { topology: &t, groups: &g };
    let mut city = Replica::new(code("620100"));
    let up_of = |c: &str| (code(c), Channel::Up);
    // A child's `up` claimed by the child itself: kept.
    assert_eq!(city.hear_claim(world, &up_of("620102"), code("620102"), 9, 0, T0), Ok(true));
    // A stream the city may not see (another city's child's `up`).
    assert_eq!(city.hear_claim(world, &up_of("620722"), code("620722"), 9, 0, T0), Err("not_entitled"));
    // A sibling of the claimant's `up`: the claimant may not hold it.
    assert_eq!(city.hear_claim(world, &up_of("620102"), code("620103"), 9, 0, T0), Err("claimant_not_entitled"));
    // An origin outside the topology.
    assert_eq!(city.hear_claim(world, &up_of("620199"), code("620102"), 9, 0, T0), Err("unknown_node"));
    // What is held already settles the claim.
    assert_eq!(city.hear_claim(world, &up_of("620102"), code("620102"), 9, 9, T0), Ok(true));
    assert!(city.streams()[&up_of("620102")].claims.is_empty());
}

#[test]
fn only_a_run_that_links_proves_its_stream() {
    let (t, g) = (topology(), Groups::default());
    let world = World { topology: &t, groups: &g };
    let mut city = Replica::new(code("620100"));
    let key = (code("620102"), Channel::Up);
    city.state(&key).unwrap();
    city.prove_or_claim(world, &key, (5, 1 << 62), 4, T0).unwrap();
    assert_eq!(city.streams()[&key].proved, 1 << 62, "a run from the next seq links");
    let mut other = Replica::new(code("620100"));
    other.state(&key).unwrap();
    other.prove_or_claim(world, &key, (1 << 62, 1 << 62), 4, T0).unwrap();
    assert_eq!(other.streams()[&key].proved, 0, "a run beyond a gap proves nothing");
    assert_eq!(other.streams()[&key].claims[&code("620102")], 1 << 62, "but is its origin's claim");
}

#[test]
fn holders_put_those_heard_from_lately_first_and_leave_out_those_not_entitled() {
    let (t, g) = (topology(), Groups::default());
    let world = World { topology: &t, groups: &g };
    let mut county = Replica::new(code("620102"));
    let key = (code("620100"), Channel::Down);
    // The province does not hold a city's `down`; the sibling does.
    assert_eq!(county.holders(world, &key, T0), vec![code("620100"), code("620103")]);
    county.touch(code("620103"), T0);
    assert_eq!(county.holders(world, &key, T0)[0], code("620103"));
    let up = (code("620100"), Channel::Up);
    assert!(!county.holders(world, &up, T0).contains(&code("620103")));
    let _ = pb::HeadsResponse::default();
}

#[test]
fn tracked_streams_are_bounded_and_idle_ones_make_room() {
    let mut r = Replica::new(code("620000"));
    for i in 0..STREAMS_TRACKED_MAX {
        let key =
            (code("620100"), Channel::To(NodeCode::from_bytes(format!("{:06}", 100_000 + i).as_bytes()).unwrap()));
        r.state(&key).unwrap().pulling = true;
    }
    let one_more = (code("620102"), Channel::Up);
    assert_eq!(r.state(&one_more).err(), Some("streams_max"));
    let first = r.streams().keys().next().unwrap().clone();
    r.existing(&first).unwrap().pulling = false;
    assert!(r.state(&one_more).is_ok(), "an idle state made room");
}
