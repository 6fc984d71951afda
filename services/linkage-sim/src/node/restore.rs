//! A node's restore, as the engine's: ask who holds its streams (and its
//! parent directly), then prove the claims in rounds (`linkage_core::replica`).

use super::{Ctx, Node, Req, Restore, RESTORE_WINDOW_MS};
use crate::net::Msg;
use linkage_core::replica::{self, RestoreStep, World};
use std::time::Duration;

impl Node {
    pub(super) fn ask_restore(&mut self, ctx: &mut Ctx) {
        // Only the last round's answers decide, as in the engine.
        self.restore_heard.clear();
        self.restore =
            Some(Restore::Asking { round_ends: ctx.now + RESTORE_WINDOW_MS, answers: Vec::new(), parent: None });
        self.next_request += 1;
        let who = self.next_request;
        // A broadcast: answers may come from anyone who hears the node's
        // `who` subject (`to` is nobody).
        self.requests.insert(who, (self.code, ctx.now + RESTORE_WINDOW_MS, Req::Restore));
        for to in linkage_core::subjects::who_audience(ctx.topology, self.code) {
            self.send(ctx, to, Msg::Who { id: who });
        }
        if let Some(parent) = ctx.topology.node(self.code).and_then(|n| n.parent) {
            let me = self.code;
            self.request(ctx, parent, Req::Restore, |id| Msg::Heads { id, origin: Some(me) });
        }
    }

    pub(super) fn restore_step(&mut self, ctx: &mut Ctx) {
        match &mut self.restore {
            None => {}
            Some(Restore::Asking { round_ends, .. }) if ctx.now < *round_ends => {}
            Some(Restore::Asking { answers, parent, .. }) => {
                let (answers, parent_answer) = (std::mem::take(answers), parent.take());
                let code_parent = ctx.topology.node(self.code).and_then(|n| n.parent);
                let elapsed = Duration::from_millis(ctx.now - self.restore_began);
                let answered = !answers.is_empty();
                match replica::restore_step(self.must_restore, answered, code_parent, parent_answer.is_some(), elapsed)
                {
                    RestoreStep::AskAgain(_) => self.ask_restore(ctx),
                    RestoreStep::Prove => {
                        let world = World { topology: ctx.topology, groups: &self.store.groups };
                        let store = &self.store;
                        let from_parent = code_parent.zip(parent_answer);
                        let (claims, ignored) = replica::restore_claims(
                            &mut self.replica,
                            world,
                            answers.into_iter().chain(from_parent),
                            |k| store.head(k),
                            ctx.time(),
                        );
                        crate::stats::trace(|| {
                            format!("{} {} proves {:?} ignored {:?}", ctx.now, self.code, claims, ignored)
                        });
                        for (reason, count) in ignored {
                            *ctx.stats.ignored.entry(reason).or_default() += count;
                        }
                        let deadline = ctx.now + replica::proof_window(self.must_restore).as_millis() as u64;
                        self.restore = Some(Restore::Proving {
                            claims,
                            deadline,
                            round: 0,
                            waiting: Vec::new(),
                            sleep_until: None,
                        });
                    }
                }
            }
            Some(Restore::Proving { .. }) => self.prove_round(ctx),
        }
    }

    /// One step of proving, as the engine's `prove_claims`: a round pulls
    /// every open stream once, each after any pull of it already running
    /// (`pull_alone`); when the round's pulls are done the next starts a
    /// second later (or at the deadline, if sooner); round 0 always runs.
    fn prove_round(&mut self, ctx: &mut Ctx) {
        let Some(Restore::Proving { claims, deadline, mut round, mut waiting, mut sleep_until }) = self.restore.take()
        else {
            return;
        };
        let mut free = Vec::new();
        let now = ctx.time();
        waiting.retain(|key| match self.replica.existing(key) {
            None => false,
            Some(state) if state.pulling => true,
            Some(state) => {
                // Every claimant asked again, and only now: the pull that
                // ran before dropped the claims of those it did not ask.
                state.pulling = true;
                for (_, peer, seq) in claims.iter().filter(|(k, _, _)| k == key) {
                    state.refuted.remove(peer);
                    let _ = state.claim(*peer, *seq, now);
                }
                free.push(key.clone());
                false
            }
        });
        for key in free {
            self.start_pull(ctx, key, true);
        }
        let busy = !waiting.is_empty() || self.pulls.values().any(|p| p.alone);
        let resting = match sleep_until {
            _ if busy => true,
            None if round > 0 => {
                sleep_until = Some(ctx.now + 1_000.min(deadline.saturating_sub(ctx.now)));
                true
            }
            Some(until) => ctx.now < until,
            None => false,
        };
        if !resting {
            sleep_until = None;
            let store = &self.store;
            let (now, until) = (ctx.time(), Duration::from_millis(deadline));
            let open = replica::open_streams(&claims, |k| store.head(k), round, now, until);
            round += 1;
            crate::stats::trace(|| format!("{} {} open {:?}", ctx.now, self.code, open));
            if open.is_empty() {
                self.restored = true;
                self.store.restoring = false;
                ctx.stats.restores_finished += 1;
                let took = ctx.now - self.restore_started;
                let longest = ctx.stats.restore_longest_ms.entry(self.must_restore).or_default();
                *longest = (*longest).max(took);
                return;
            }
            waiting.extend(open);
        }
        self.restore = Some(Restore::Proving { claims, deadline, round, waiting, sleep_until });
    }
}
