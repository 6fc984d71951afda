//! `make sim-national` in small: 甘肃 alone and five provinces under
//! 全国政协 (`linkage_sim::scale`), a short plan. Each converges after its
//! outage and the national committee's restart, and a county's traffic
//! does not grow with the number of nodes: what a node receives follows
//! its own channels and ancestors.

use linkage_sim::scale::{run, sizes, Plan};

#[test]
fn small_sizes_converge_and_a_countys_cost_does_not_grow_with_the_tree() {
    let china = include_str!("../../../deploy/topology/china.toml");
    let plan = Plan { steady_s: 30, offline_s: 60, national_down_s: 10, settle_max_s: 300 };
    let mut county = Vec::new();
    for (name, topology, keys, offline) in sizes(china).into_iter().take(2) {
        let report = run(&name, topology, keys, offline, plan);
        assert!(report.converged_after_s.is_some(), "{name}: {:?}", report.problems);
        let national = report.rows.iter().any(|r| r.level == "national");
        assert_eq!(report.national_converged_after_s.is_some(), national, "{name}: {:?}", report.problems);
        assert!(report.events > 0, "{name}: nothing appended");
        let row = report.rows.iter().find(|r| r.level == "county").expect("counties");
        assert!(row.received_msgs > 0.0 && row.entitled_events > 0.0, "{name}: {row:?}");
        county.push(row.received_msgs);
    }
    // 101 nodes, then 424: a county receives about as much.
    assert!(county[1] < 1.5 * county[0], "a county's messages per second grew with the tree: {county:?}");
}
