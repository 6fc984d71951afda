//! The latest durable events in memory, so that followers of the log (the
//! replicator's pushes, `Subscribe` streams), which read what just became
//! durable, do not read the log file again.

use crate::event::StoredEvent;
use std::collections::VecDeque;

/// Bytes of the latest durable events kept in memory, so that followers of
/// the log (the replicator's pushes, `Subscribe` streams) take what just
/// became durable without reading the log file again.
pub const RECENT_BYTES_MAX: usize = 4 * 1024 * 1024;

/// The latest durable events, in position order without a gap, up to
/// [`RECENT_BYTES_MAX`] (and at least the last one, whatever its size).
#[derive(Default)]
pub struct Recent {
    events: VecDeque<StoredEvent>,
    bytes: usize,
}

impl Recent {
    /// Adds a commit's events, which follow the ones held.
    pub fn extend(&mut self, events: &[StoredEvent]) {
        let Some(first) = events.first() else { return };
        if self.events.back().is_some_and(|e| e.position + 1 != first.position) {
            // Not the next ones (cannot happen: commits publish in order).
            self.events.clear();
            self.bytes = 0;
        }
        for e in events {
            self.bytes += e.raw.len();
            self.events.push_back(e.clone());
        }
        while self.bytes > RECENT_BYTES_MAX && self.events.len() > 1 {
            let dropped = self.events.pop_front().expect("more than one");
            self.bytes -= dropped.raw.len();
        }
    }

    /// How many events are held.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.events.len()
    }

    /// `count` events from `from` on, if all of them are held.
    pub fn get(&self, from: u64, count: u64) -> Option<Vec<StoredEvent>> {
        let skip = from.checked_sub(self.events.front()?.position)? as usize;
        let end = skip.checked_add(count as usize).filter(|end| *end <= self.events.len())?;
        Some(self.events.range(skip..end).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recent_event(position: u64, bytes: usize) -> StoredEvent {
        StoredEvent { position, raw: vec![position as u8; bytes].into(), appended_by: None }
    }

    #[test]
    fn the_latest_events_are_kept_without_a_gap_up_to_their_byte_limit() {
        let mut recent = Recent::default();
        assert_eq!(recent.get(1, 1), None);
        let quarter = RECENT_BYTES_MAX / 4;
        recent.extend(&[recent_event(1, quarter), recent_event(2, quarter)]);
        recent.extend(&[recent_event(3, quarter), recent_event(4, quarter)]);
        assert_eq!(recent.get(1, 4).unwrap().iter().map(|e| e.position).collect::<Vec<_>>(), [1, 2, 3, 4]);
        // Over the limit: the oldest go, what is left still ends at the last.
        recent.extend(&[recent_event(5, quarter)]);
        assert_eq!(recent.get(1, 1), None);
        assert_eq!(recent.get(2, 4).unwrap().iter().map(|e| e.position).collect::<Vec<_>>(), [2, 3, 4, 5]);
        assert_eq!(recent.bytes, RECENT_BYTES_MAX);
        // Nothing past what is held, nothing partly held.
        assert_eq!(recent.get(5, 2), None);
        assert_eq!(recent.get(6, 1), None);
        // Of a commit bigger than the limit, what fits is kept, and at
        // least its last event.
        recent.extend(&[recent_event(6, quarter), recent_event(7, RECENT_BYTES_MAX - 1), recent_event(8, 1)]);
        assert_eq!(recent.get(7, 2).unwrap().len(), 2);
        assert_eq!(recent.get(6, 1), None);
        recent.extend(&[recent_event(9, RECENT_BYTES_MAX + 1)]);
        assert_eq!((recent.get(8, 1), recent.get(9, 1).map(|e| e.len())), (None, Some(1)));
        // One that does not follow replaces what was held.
        recent.extend(&[recent_event(11, 1)]);
        assert_eq!((recent.get(9, 1), recent.get(11, 1).map(|e| e.len())), (None, Some(1)));
        assert_eq!(recent.bytes, 1);
    }
}
