//! [`StreamState`]: what a node knows of one stream beyond what it holds.

use super::limits::{
    RemoteRun, CLAIMS_PER_STREAM_MAX, LIVE_PUSH_GRACE, PENDING_EVENTS_MAX, PENDING_EVENTS_TOTAL_MAX,
    UNPROVED_CLAIM_BACKOFF,
};
use crate::code::NodeCode;
use std::collections::BTreeMap;
use std::time::Duration;

/// What this node knows of one stream beyond what it holds. Claims are
/// hints, proofs are facts: a peer's word that a stream reaches a seq only
/// makes this node ask that peer; a signed event of the origin at a seq
/// proves the stream reaches it. Times are the driver's clock
/// ([`super::Replica`]).
#[derive(Default, Debug)]
pub struct StreamState {
    /// Highest seq proved: a verified, signed event at it was seen.
    pub proved: u64,
    /// Peers that said they hold the stream up to a seq, not yet proved.
    pub claims: BTreeMap<NodeCode, u64>,
    /// Peers whose claim was not proved when asked, and when.
    pub refuted: BTreeMap<NodeCode, Duration>,
    /// A pull of this stream runs.
    pub pulling: bool,
    /// Since when this node knows of events it does not hold.
    pub behind_since: Option<Duration>,
    /// Verified runs waiting for the gap before them, by first seq.
    pub pending: BTreeMap<u64, RemoteRun>,
    /// The last seq of pushed runs handed to the writer and not yet
    /// answered: events on their way into the store, not to be pulled.
    pub submitted: u64,
    /// When the last push with events arrived.
    pub last_push: Option<Duration>,
    /// A second look after [`LIVE_PUSH_GRACE`] is scheduled.
    pub recheck: bool,
}

/// What a node does about a stream, given what it holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Behind {
    /// Nothing is missing, or a pull already runs.
    Nothing,
    /// Start a pull now (the state now says one runs).
    Pull,
    /// The stream is live: look again after this long.
    LookAgainIn(Duration),
}

impl StreamState {
    /// Decides, and records the decision: `local` is the head held,
    /// `gap` says a pushed run did not link to it (its events will not
    /// come by push: pull them now).
    pub fn behind(&mut self, local: u64, gap: bool, now: Duration) -> Behind {
        // Pushed events the writer has not answered yet are not pulled
        // again; if they do not land, the answer looks once more.
        if self.wanted() <= local.max(self.submitted) {
            self.behind_since = None;
            return Behind::Nothing;
        }
        self.behind_since.get_or_insert(now);
        if self.pulling {
            return Behind::Nothing;
        }
        let live_for = self.last_push.map(|at| now.saturating_sub(at)).filter(|d| *d < LIVE_PUSH_GRACE);
        if let Some(since) = live_for.filter(|_| !gap) {
            if self.recheck {
                return Behind::Nothing;
            }
            self.recheck = true;
            return Behind::LookAgainIn(LIVE_PUSH_GRACE - since);
        }
        self.pulling = true;
        Behind::Pull
    }

    /// The seq a pull aims at: what is proved or claimed.
    pub fn wanted(&self) -> u64 {
        self.claims.values().copied().max().unwrap_or(0).max(self.proved)
    }

    /// Records `holder`'s claim that the stream reaches `seq`, unless its
    /// last claim was refuted within [`UNPROVED_CLAIM_BACKOFF`]. At most
    /// [`CLAIMS_PER_STREAM_MAX`] claimants are kept: a new one replaces
    /// the lowest claim if its own is higher.
    pub fn claim(&mut self, holder: NodeCode, seq: u64, now: Duration) -> Result<(), &'static str> {
        if self.refuted.get(&holder).is_some_and(|at| now.saturating_sub(*at) < UNPROVED_CLAIM_BACKOFF) {
            return Err("backoff");
        }
        self.refuted.remove(&holder);
        if !self.claims.contains_key(&holder) && self.claims.len() >= CLAIMS_PER_STREAM_MAX {
            let Some((&lowest, &low)) = self.claims.iter().min_by_key(|(_, s)| **s) else { return Err("claims_max") };
            if low >= seq {
                return Err("claims_max");
            }
            self.claims.remove(&lowest);
        }
        self.claims.insert(holder, seq);
        if crate::mutants::on(crate::mutants::Mutant::BelieveUnprovedHead) {
            self.proved = self.proved.max(seq);
        }
        Ok(())
    }

    /// `holder` was asked and extended nothing: its claim goes, and it is
    /// not believed about this stream for a while. True if it had claimed
    /// more than is held.
    pub fn refute(&mut self, holder: NodeCode, local: u64, now: Duration) -> bool {
        let claimed = self.claims.remove(&holder).is_some_and(|seq| seq > local);
        if claimed {
            if self.refuted.len() >= CLAIMS_PER_STREAM_MAX {
                self.refuted.retain(|_, at| now.saturating_sub(*at) < UNPROVED_CLAIM_BACKOFF);
            }
            if self.refuted.len() < CLAIMS_PER_STREAM_MAX {
                self.refuted.insert(holder, now);
            }
        }
        claimed
    }

    /// Claims at or below `seq` are settled once it is held.
    pub fn settle(&mut self, seq: u64) {
        self.claims.retain(|_, s| *s > seq);
    }

    /// Events held back waiting for a gap to fill.
    pub fn pending_events(&self) -> usize {
        self.pending.values().map(Vec::len).sum()
    }

    /// Keeps runs the writer could not link yet (a gap before them) until
    /// the gap is filled, as far as [`PENDING_EVENTS_MAX`] allows for this
    /// stream and [`PENDING_EVENTS_TOTAL_MAX`] for all (`others` wait in
    /// other streams); the rest are pulled again later.
    pub fn keep_waiting(&mut self, runs: Vec<RemoteRun>, others: usize) {
        for run in runs {
            let Some(first) = run.first().map(|(p, _)| p.seq) else { continue };
            let after = self.pending_events() + run.len();
            if after <= PENDING_EVENTS_MAX && others + after <= PENDING_EVENTS_TOTAL_MAX {
                self.pending.insert(first, run);
            }
        }
    }

    /// Holds nothing that is not also in the store or in a claim: the
    /// state can go, and be made again when something comes.
    pub fn idle(&self) -> bool {
        self.claims.is_empty() && self.pending.is_empty() && !self.pulling && self.submitted == 0 && !self.recheck
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(proved: u64, last_push: Option<Duration>) -> StreamState {
        StreamState { proved, last_push, ..StreamState::default() }
    }

    const T0: Duration = Duration::from_secs(100);

    #[test]
    fn a_quiet_stream_behind_is_pulled_at_once_and_only_once() {
        let mut quiet = stream(10, None);
        assert_eq!(quiet.behind(4, false, T0), Behind::Pull);
        assert_eq!(quiet.behind(4, false, T0), Behind::Nothing, "a pull runs already");
        let mut old = stream(10, Some(T0 - LIVE_PUSH_GRACE));
        assert_eq!(old.behind(4, false, T0), Behind::Pull);
    }

    #[test]
    fn a_live_stream_waits_for_its_pushes_once_then_pulls_what_is_still_missing() {
        let mut live = stream(10, Some(T0));
        let later = T0 + Duration::from_millis(100);
        assert_eq!(live.behind(4, false, later), Behind::LookAgainIn(LIVE_PUSH_GRACE - Duration::from_millis(100)));
        assert_eq!(live.behind(4, false, later), Behind::Nothing, "one look is scheduled already");
        assert!(live.behind_since.is_some(), "the lag shows meanwhile");
        // The look after the grace: pushes filled the stream.
        live.recheck = false;
        assert_eq!(live.behind(10, false, T0 + LIVE_PUSH_GRACE), Behind::Nothing);
        assert_eq!(live.behind_since, None);
        // Or they did not, and none came since: pull.
        let mut stalled = stream(10, Some(T0));
        assert!(matches!(stalled.behind(4, false, later), Behind::LookAgainIn(_)));
        stalled.recheck = false;
        assert_eq!(stalled.behind(4, false, T0 + LIVE_PUSH_GRACE), Behind::Pull);
    }

    #[test]
    fn a_gap_in_a_live_stream_is_pulled_at_once() {
        assert_eq!(stream(10, Some(T0)).behind(4, true, T0), Behind::Pull);
    }

    #[test]
    fn events_held_or_on_their_way_to_the_writer_are_not_pulled() {
        assert_eq!(stream(10, None).behind(10, false, T0), Behind::Nothing);
        let mut submitted = StreamState { submitted: 10, ..stream(10, None) };
        assert_eq!(submitted.behind(4, true, T0), Behind::Nothing);
    }

    #[test]
    fn a_claim_is_a_hint_and_a_refuted_claimant_is_not_believed_for_a_while() {
        let liar: NodeCode = "620102".parse().unwrap();
        let mut s = StreamState::default();
        s.claim(liar, 1 << 40, T0).unwrap();
        assert_eq!(s.proved, 0, "a claim proves nothing");
        assert_eq!(s.wanted(), 1 << 40, "but it is asked for");
        assert!(s.refute(liar, 3, T0));
        assert_eq!(s.wanted(), 0);
        assert_eq!(s.claim(liar, 1 << 40, T0 + Duration::from_secs(1)), Err("backoff"));
        assert!(s.claim(liar, 1 << 40, T0 + UNPROVED_CLAIM_BACKOFF).is_ok());
    }
}
