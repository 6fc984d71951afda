//! A node's restore, as the engine's: ask who holds its streams (and its
//! parent directly), then prove the claims in rounds (`linkage_core::replica`).

use super::{Ctx, Node, Req, Restore, RESTORE_WINDOW_MS};
use crate::net::Msg;
use linkage_core::replica::{self, RestoreStep, World};
use linkage_core::NodeCode;
use std::time::Duration;

impl Node {
    pub(super) fn ask_restore(&mut self, ctx: &mut Ctx) {
        self.restore =
            Some(Restore::Asking { round_ends: ctx.now + RESTORE_WINDOW_MS, answers: Vec::new(), parent: None });
        self.next_request += 1;
        let who = self.next_request;
        // A broadcast: answers may come from anyone (`to` is nobody).
        self.requests.insert(who, (self.code, ctx.now + RESTORE_WINDOW_MS, Req::Restore));
        let everyone: Vec<NodeCode> = ctx.topology.nodes().map(|n| n.code).filter(|c| *c != self.code).collect();
        for to in everyone {
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
                        for reason in ignored {
                            *ctx.stats.ignored.entry(reason).or_default() += 1;
                        }
                        let deadline = ctx.now + replica::proof_window(self.must_restore).as_millis() as u64;
                        self.restore = Some(Restore::Proving { claims, deadline, next_round: ctx.now, round: 0 });
                    }
                }
            }
            // A round ends when its pulls have (the engine awaits them); the
            // next starts a second later, or at the deadline if sooner.
            Some(Restore::Proving { next_round, .. }) if ctx.now < *next_round => {}
            Some(Restore::Proving { .. }) if self.pulls.values().any(|p| p.alone) => {}
            Some(Restore::Proving { claims, deadline, next_round, round }) => {
                *next_round = ctx.now + 1_000.min(deadline.saturating_sub(ctx.now));
                let claims = claims.clone();
                let store = &self.store;
                let this_round = std::mem::replace(round, *round + 1);
                let (now, until) = (ctx.time(), Duration::from_millis(*deadline));
                let open = replica::open_streams(&claims, |k| store.head(k), this_round, now, until);
                crate::stats::trace(|| format!("{} {} open {:?}", ctx.now, self.code, open));
                if open.is_empty() {
                    self.restore = None;
                    self.restored = true;
                    self.store.restoring = false;
                    ctx.stats.restores_finished += 1;
                    let took = ctx.now - self.restore_started;
                    let longest = ctx.stats.restore_longest_ms.entry(self.must_restore).or_default();
                    *longest = (*longest).max(took);
                    return;
                }
                for key in open {
                    let now = ctx.time();
                    let Some(state) = self.replica.existing(&key) else { continue };
                    for (_, peer, seq) in claims.iter().filter(|(k, _, _)| *k == key) {
                        state.refuted.remove(peer);
                        let _ = state.claim(*peer, *seq, now);
                    }
                    if !std::mem::replace(&mut state.pulling, true) {
                        self.start_pull(ctx, key, true);
                    }
                }
            }
        }
    }
}
