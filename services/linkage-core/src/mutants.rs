//! Deliberate bugs, for proving that the simulation catches them.
//!
//! Built only with the `mutants` feature (never in a release): each
//! [`Mutant`] switches one safety check off while it is active, and
//! `linkage-sim`'s mutant test asserts that its seeds catch every one.
//! Without the feature [`on`] is a constant `false`.

/// One deliberate bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mutant {
    /// A claimed head counts as proved (`replica::StreamState::claim`).
    BelieveUnprovedHead = 1,
    /// Any remote hlc is observed into the clock (`hlc::HlcClock::observe_within`).
    ObserveAnyHlc = 2,
    /// Field 15 is accepted anywhere (`wire::split_signature`).
    AcceptSignatureAnywhere = 3,
    /// A restore waits until every claim is proved (`replica::open_streams`).
    RestoreWaitsForLargestClaim = 4,
    /// An id naming another origin breaks no rule (`rules::breach_of`).
    SkipIdOriginCheck = 5,
    /// A retired key verifies past the seqs it signed (`signers::Signers`).
    RetiredKeyForever = 6,
}

impl Mutant {
    /// Every mutant.
    pub const ALL: [Mutant; 6] = [
        Mutant::BelieveUnprovedHead,
        Mutant::ObserveAnyHlc,
        Mutant::AcceptSignatureAnywhere,
        Mutant::RestoreWaitsForLargestClaim,
        Mutant::SkipIdOriginCheck,
        Mutant::RetiredKeyForever,
    ];
}

#[cfg(feature = "mutants")]
static ACTIVE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Whether `mutant` is active.
#[inline(always)]
pub fn on(mutant: Mutant) -> bool {
    #[cfg(feature = "mutants")]
    {
        ACTIVE.load(std::sync::atomic::Ordering::Relaxed) == mutant as u8
    }
    #[cfg(not(feature = "mutants"))]
    {
        let _ = mutant;
        false
    }
}

/// Makes `mutant` the active one (`None`: none), process-wide.
#[cfg(feature = "mutants")]
pub fn activate(mutant: Option<Mutant>) {
    ACTIVE.store(mutant.map_or(0, |m| m as u8), std::sync::atomic::Ordering::Relaxed);
}
