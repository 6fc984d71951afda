//! The event being folded, and the stamp that orders contributions.

use prost::Message;

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

/// Whether `new` replaces `old` where both carry one stamp: the lesser
/// encoding wins (see the module's note). A copy of `old` does not.
pub(super) fn lesser<T: Message>(new: &T, old: &T) -> bool {
    new.encode_to_vec() < old.encode_to_vec()
}

/// Inserts `item` into a list sorted by its stamp, unless its event is
/// there: an event's stamp (hlc, origin, event id) is its own, so the
/// search finds a copy of it.
/// Whether the list changed.
pub(super) fn insert_stamped<T: Message>(
    list: &mut Vec<T>,
    item: T,
    stamp: impl for<'x> Fn(&'x T) -> Stamp<'x>,
) -> bool {
    let at = {
        let s = stamp(&item);
        list.binary_search_by(|x| stamp(x).cmp(&s))
    };
    match at {
        Err(i) => list.insert(i, item),
        Ok(i) if lesser(&item, &list[i]) => list[i] = item,
        Ok(_) => return false,
    }
    true
}
