//! When a node that may have lost its own events (an empty store with an
//! existing key) is done learning them back from its peers.
//!
//! Who answers "who holds my streams?" is not pinned (any node may answer,
//! and name any node), so an answer only says whom to ask: each claimant is
//! then asked for the events, and what it sends is checked against the
//! node's own key. A claim it does not prove within
//! [`RESTORE_PROOF_WINDOW`] is ignored. The parent, which holds every
//! `up` and `all` stream of its child, is waited for up to
//! [`RESTORE_PARENT_WAIT`]; no other node, answering or silent, can keep the
//! restore from finishing once anyone has answered.

use super::limits::{StreamKey, HEADS_PER_ANSWER_MAX};
use super::state::Replica;
use super::world::World;
use crate::code::NodeCode;
use crate::pb;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How long a restoring node waits for its parent before it finishes with
/// what the others proved: the parent holds its children's `up` and `all`
/// streams, so it is the one answer most worth waiting for;
/// a parent away for longer must not keep its children from appending.
pub const RESTORE_PARENT_WAIT: Duration = Duration::from_secs(10);

/// How long a restoring node keeps asking claimants to prove what they
/// claimed of its own streams: a holder that failed once (a timeout) is
/// asked again within it; a claim still unproved after it is ignored.
pub const RESTORE_PROOF_WINDOW: Duration = Duration::from_secs(10);

/// How long a node whose store is intact (it restarted, or was restored
/// from an older backup) keeps asking claimants to prove more of its own
/// streams than it holds: no longer than its first round of pulls, which
/// every restore makes ([`open_streams`]). Its store already holds what it
/// acknowledged, so a claim beyond it is a lie, or a backup's gap that one
/// round fills; waiting [`RESTORE_PROOF_WINDOW`] let one lying peer keep
/// every restarted node from appending for ten seconds (found by the
/// simulation).
pub const RESTORE_INTACT_PROOF_WINDOW: Duration = Duration::ZERO;

/// The proof window of a restore: [`RESTORE_PROOF_WINDOW`] for a node that
/// may have lost its own events, one round for one whose store is intact.
pub fn proof_window(must_restore: bool) -> Duration {
    if must_restore {
        RESTORE_PROOF_WINDOW
    } else {
        RESTORE_INTACT_PROOF_WINDOW
    }
}

/// Own streams a restoring node pulls back side by side.
pub const RESTORE_STREAMS_AT_ONCE: usize = 16;

/// Claims about its own streams a restoring node considers.
pub const RESTORE_CLAIMS_MAX: usize = 4_096;

/// Answers a restoring node waits for at most, per round.
pub const RESTORE_ANSWERS_MAX: usize = 256;

/// Claims about a node's own streams: (stream, claimant, seq).
pub type RestoreClaims = BTreeSet<(StreamKey, NodeCode, u64)>;

/// What a restoring node does after a round of asking.
#[derive(Debug, PartialEq, Eq)]
pub enum RestoreStep {
    /// Ask again: nobody answered, or the parent not yet (why).
    AskAgain(&'static str),
    /// Prove what the answers claim, then accept appends.
    Prove,
}

/// The step after a round: `answered` says anyone answered at all,
/// `parent_answered` the parent (if any) did, `elapsed` since the restore
/// began. A node with its store (`must_restore` false) never waits.
pub fn restore_step(
    must_restore: bool,
    answered: bool,
    parent: Option<NodeCode>,
    parent_answered: bool,
    elapsed: Duration,
) -> RestoreStep {
    if !must_restore {
        return RestoreStep::Prove;
    }
    if !answered && !parent_answered {
        return RestoreStep::AskAgain("no_answer");
    }
    if parent.is_some() && !parent_answered && elapsed < RESTORE_PARENT_WAIT {
        return RestoreStep::AskAgain("parent");
    }
    RestoreStep::Prove
}

/// The claims worth proving in `answers` (each by the node it names, the
/// parent's included): heads of the restoring node's own streams, beyond
/// what it holds, kept by [`Replica::hear_claim`] (so that the pulls that
/// prove them ask those claimants), at most [`HEADS_PER_ANSWER_MAX`] per
/// answer and [`RESTORE_CLAIMS_MAX`] in all; a claimant this node stopped
/// believing about a stream (`UNPROVED_CLAIM_BACKOFF`) is heard again. Claims ignored
/// are counted by reason, for the driver to export.
pub fn restore_claims(
    replica: &mut Replica,
    world: World,
    answers: impl IntoIterator<Item = (NodeCode, pb::HeadsResponse)>,
    local: impl Fn(&StreamKey) -> u64,
    now: Duration,
) -> (RestoreClaims, BTreeMap<&'static str, u64>) {
    let me = replica.me();
    let mut claims = RestoreClaims::new();
    let mut ignored = BTreeMap::new();
    for (peer, heads) in answers {
        for h in heads.heads.into_iter().filter(|h| h.origin == me.as_str()).take(HEADS_PER_ANSWER_MAX) {
            let Ok(channel) = h.channel.parse() else { continue };
            let key = (me, channel);
            if claims.len() >= RESTORE_CLAIMS_MAX {
                *ignored.entry("restore_claims_max").or_default() += 1;
                continue;
            }
            // A restore asks every claimant, backoff or not: a holder whose
            // pull failed once (a lost answer) must not be left out of the
            // one moment that decides which seqs are reused.
            if let Some(state) = replica.existing(&key) {
                state.refuted.remove(&peer);
            }
            match replica.hear_claim(world, &key, peer, h.seq, local(&key), now) {
                Ok(true) => {
                    claims.insert((key, peer, h.seq));
                }
                Ok(false) => {}
                Err(reason) => *ignored.entry(reason).or_default() += 1,
            }
        }
    }
    (claims, ignored)
}

/// Streams whose claims are not all proved yet. The first round (`round`
/// 0) always asks; after it, none once the proof window has closed (`now`
/// past `deadline`): what is left unproved then is ignored, so that no
/// claim, true or false, keeps the node from appending.
pub fn open_streams(
    claims: &RestoreClaims,
    local: impl Fn(&StreamKey) -> u64,
    round: usize,
    now: Duration,
    deadline: Duration,
) -> Vec<StreamKey> {
    let closed =
        round > 0 && now >= deadline && !crate::mutants::on(crate::mutants::Mutant::RestoreWaitsForLargestClaim);
    if closed {
        return Vec::new();
    }
    let keys: BTreeSet<&StreamKey> = claims.iter().map(|(k, _, _)| k).collect();
    keys.into_iter().filter(|k| claims.iter().any(|(c, _, seq)| c == *k && *seq > local(k))).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_is_waited_for_a_while_and_nobody_else_at_all() {
        let parent = Some("620700".parse().unwrap());
        assert_eq!(restore_step(true, false, parent, false, Duration::ZERO), RestoreStep::AskAgain("no_answer"));
        assert_eq!(restore_step(true, true, parent, false, Duration::ZERO), RestoreStep::AskAgain("parent"));
        assert_eq!(restore_step(true, true, parent, false, RESTORE_PARENT_WAIT), RestoreStep::Prove);
        assert_eq!(restore_step(true, true, None, false, Duration::ZERO), RestoreStep::Prove);
        assert_eq!(restore_step(false, false, parent, false, Duration::ZERO), RestoreStep::Prove);
    }

    #[test]
    fn an_unproved_claim_keeps_a_restore_open_only_within_the_window() {
        let me: NodeCode = "620702".parse().unwrap();
        let liar: NodeCode = "620722".parse().unwrap();
        let claims: RestoreClaims = [((me, crate::Channel::Up), liar, 1 << 40)].into();
        let deadline = Duration::from_secs(20);
        assert_eq!(open_streams(&claims, |_| 7, 1, Duration::from_secs(19), deadline).len(), 1);
        assert!(open_streams(&claims, |_| 7, 1, deadline, deadline).is_empty());
        assert_eq!(open_streams(&claims, |_| 7, 0, deadline, deadline).len(), 1, "the first round always asks");
        assert!(open_streams(&claims, |_| 1 << 40, 0, Duration::ZERO, deadline).is_empty());
    }
}
