//! The event being folded, and the stamp that orders contributions.

/// Who contributed, and when: the order of grow-only lists and the tie-break
/// of single values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Stamp<'a> {
    pub(super) hlc: u64,
    pub(super) origin: &'a str,
    pub(super) event_id: &'a str,
}

/// The event being folded.
pub(super) struct Source<'a> {
    pub(super) id: String,
    pub(super) origin: &'a str,
    pub(super) channel: &'a str,
    pub(super) hlc: u64,
    /// Its place in its stream (named in an alarm if it is disputed).
    pub(super) seq: u64,
    /// The events it cites, normalised.
    pub(super) refs: Vec<String>,
}

impl<'a> Stamp<'a> {
    pub(super) fn new(hlc: u64, origin: &'a str, event_id: &'a str) -> Stamp<'a> {
        Stamp { hlc, origin, event_id }
    }
}

impl Source<'_> {
    pub(super) fn stamp(&self) -> Stamp<'_> {
        Stamp { hlc: self.hlc, origin: self.origin, event_id: &self.id }
    }
}
