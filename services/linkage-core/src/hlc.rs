//! Hybrid logical clock: wall-clock milliseconds in the high 48 bits and a
//! logical counter in the low 16, so timestamps stay close to real time yet
//! never go backwards and order causally related events across nodes.

/// Bits of the logical counter.
const LOGICAL_BITS: u32 = 16;

/// A clock that issues strictly increasing timestamps. Time is passed in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HlcClock {
    last: u64,
}

impl HlcClock {
    /// A clock that will issue timestamps above `last` (the highest one stored).
    pub fn starting_after(last: u64) -> HlcClock {
        HlcClock { last }
    }

    /// The next timestamp at wall time `now_ms`: above every one issued or
    /// observed before, and at least the wall time.
    pub fn tick(&mut self, now_ms: u64) -> u64 {
        let physical = now_ms << LOGICAL_BITS;
        self.last = physical.max(self.last + 1);
        self.last
    }

    /// Takes note of a timestamp from another node, so later local events
    /// order after it.
    pub fn observe(&mut self, remote: u64) {
        self.last = self.last.max(remote);
    }

    /// The highest timestamp issued or observed.
    pub fn last(&self) -> u64 {
        self.last
    }
}

/// The wall-clock milliseconds of a timestamp.
pub fn physical_ms(hlc: u64) -> u64 {
    hlc >> LOGICAL_BITS
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_goes_backwards(times in proptest::collection::vec(0u64..1 << 40, 1..200), remote in 0u64..1 << 56) {
            let mut clock = HlcClock::default();
            clock.observe(remote);
            let mut prev = clock.last();
            for t in times {
                let next = clock.tick(t);
                prop_assert!(next > prev);
                prop_assert!(physical_ms(next) >= t);
                prev = next;
            }
        }
    }
}
