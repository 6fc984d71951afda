//! Hybrid logical clock: wall-clock milliseconds in the high 48 bits and a
//! logical counter in the low 16, so timestamps stay close to real time yet
//! never go backwards and order causally related events across nodes.

/// Bits of the logical counter.
const LOGICAL_BITS: u32 = 16;

/// How far ahead of a receiver's wall clock a remote timestamp may be and
/// still be observed into its clock: well beyond the drift of clocks kept
/// by NTP, far below what would let one office move everyone's time.
pub const SKEW_MAX_MS: u64 = 5 * 60 * 1_000;

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
        // Saturating: a clock a stored timestamp put at the end of time
        // stays there rather than wrapping to the past.
        self.last = physical.max(self.last.saturating_add(1));
        self.last
    }

    /// Takes note of a timestamp from another node, so later local events
    /// order after it.
    pub fn observe(&mut self, remote: u64) {
        self.last = self.last.max(remote);
    }

    /// [`HlcClock::observe`], unless `remote`'s wall time is more than
    /// [`SKEW_MAX_MS`] ahead of `now_ms`: a peer's clock set far ahead (or
    /// a made-up timestamp near 2^64) must not drag this node's clock, and
    /// through it every node's, into the future. True if observed.
    pub fn observe_within(&mut self, remote: u64, now_ms: u64) -> bool {
        let plausible = physical_ms(remote) <= now_ms.saturating_add(SKEW_MAX_MS)
            || crate::mutants::on(crate::mutants::Mutant::ObserveAnyHlc);
        if plausible {
            self.observe(remote);
        }
        plausible
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

/// A timestamp's wall time for people: UTC `YYYY-MM-DD HH:MM`.
pub fn utc_minutes(hlc: u64) -> String {
    utc_minutes_of_ms(physical_ms(hlc))
}

/// Milliseconds since the Unix epoch as UTC `YYYY-MM-DD HH:MM`: the one
/// way times are shown, by the node's logs, linkctl and the bench.
pub fn utc_minutes_of_ms(ms: u64) -> String {
    let minutes = ms / 60_000;
    let (days, minute_of_day) = (minutes / 1_440, minutes % 1_440);
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}", minute_of_day / 60, minute_of_day % 60)
}

/// The UTC calendar year of an hlc's physical time.
pub fn utc_year(hlc: u64) -> u32 {
    let (year, _, _) = civil_from_days(physical_ms(hlc) / 86_400_000);
    u32::try_from(year).unwrap_or(u32::MAX)
}

/// The proleptic Gregorian date `days` after 1970-01-01 (H. Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wall_times_show_as_utc_minutes() {
        assert_eq!(utc_minutes_of_ms(0), "1970-01-01 00:00");
        // 2026-11-27T09:05:00Z, with seconds and a logical count dropped.
        let ms = 1_795_770_300_000;
        assert_eq!(utc_minutes(((ms + 59_999) << LOGICAL_BITS) | 7), "2026-11-27 09:05");
        assert_eq!(utc_minutes_of_ms(951_782_400_000), "2000-02-29 00:00", "a leap day of a 400-year");
        assert_eq!(utc_minutes_of_ms(4_107_542_399_000), "2100-02-28 23:59", "2100 is no leap year");
        assert_eq!(utc_minutes_of_ms(4_107_542_400_000), "2100-03-01 00:00");
        assert_eq!(utc_minutes_of_ms(253_402_300_799_000), "9999-12-31 23:59");
    }

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

    #[test]
    fn a_timestamp_far_ahead_is_not_observed() {
        let now = 1_765_000_000_000;
        let mut clock = HlcClock::starting_after(0);
        assert!(clock.observe_within((now + SKEW_MAX_MS) << LOGICAL_BITS, now));
        assert_eq!(physical_ms(clock.last()), now + SKEW_MAX_MS);
        let before = clock.last();
        assert!(!clock.observe_within((now + SKEW_MAX_MS + 1) << LOGICAL_BITS, now));
        assert!(!clock.observe_within(u64::MAX, now));
        assert_eq!(clock.last(), before);
    }
}
