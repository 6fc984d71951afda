//! 提案: what the rules, validation and views share about proposals — which
//! events handle a proposal, how long a unit has, and working days by the
//! province's calendar (`HolidayCalendarIssued`).
//!
//! Dates are China Standard Time (UTC+8, no daylight saving): a deadline of
//! "5 working days" ends at the end of the fifth working day there.

use crate::pb;
use crate::pb::payload::Kind;

/// How long a unit has by default to answer (3 months), as `linkctl`
/// fills in an assignment's deadline.
pub const ANSWER_DAYS_DEFAULT: i64 = 91;

/// How far an extension may move the deadline: 6 months after the
/// assignment.
pub const ANSWER_DAYS_MAX: i64 = 183;

/// An objection window unless the assignment says otherwise: 5 working days.
pub const OBJECTION_DAYS_DEFAULT: u32 = 5;

/// The longest objection window an assignment may set.
pub const OBJECTION_DAYS_MAX: u32 = 30;

/// Most holidays and make-up working days one year's calendar lists.
pub const CALENDAR_HOLIDAYS_MAX: usize = 64;
/// See [`CALENDAR_HOLIDAYS_MAX`].
pub const CALENDAR_WORKDAYS_MAX: usize = 16;

const DAY_MS: i64 = 86_400_000;
const CST_OFFSET_MS: i64 = 8 * 3_600_000;

/// The field naming the proposal, and its id, of an event that handles a
/// proposal (every proposal kind but its submission and the calendar).
pub fn handled(kind: &Kind) -> Option<(&'static str, &str)> {
    Some(match kind {
        Kind::ProposalCoSigned(m) => ("payload.proposal_co_signed.proposal_id", &m.proposal_id),
        Kind::ProposalSentUp(m) => ("payload.proposal_sent_up.proposal_id", &m.proposal_id),
        Kind::ProposalReviewed(m) => ("payload.proposal_reviewed.proposal_id", &m.proposal_id),
        Kind::ProposalAssigned(m) => ("payload.proposal_assigned.proposal_id", &m.proposal_id),
        Kind::ProposalObjected(m) => ("payload.proposal_objected.proposal_id", &m.proposal_id),
        Kind::ProposalDeadlineExtended(m) => ("payload.proposal_deadline_extended.proposal_id", &m.proposal_id),
        Kind::ProposalContacted(m) => ("payload.proposal_contacted.proposal_id", &m.proposal_id),
        Kind::ProposalAnswered(m) => ("payload.proposal_answered.proposal_id", &m.proposal_id),
        Kind::ProposalRated(m) => ("payload.proposal_rated.proposal_id", &m.proposal_id),
        Kind::ProposalSupervised(m) => ("payload.proposal_supervised.proposal_id", &m.proposal_id),
        Kind::ProposalReminded(m) => ("payload.proposal_reminded.proposal_id", &m.proposal_id),
        Kind::ProposalFollowedUp(m) => ("payload.proposal_followed_up.proposal_id", &m.proposal_id),
        _ => return None,
    })
}

/// A civil date: year, month 1..=12, day 1..=31.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// The year.
    pub year: i32,
    /// 1..=12.
    pub month: u32,
    /// 1..=31.
    pub day: u32,
}

impl Date {
    /// Parses `YYYY-MM-DD`, a real date.
    pub fn parse(text: &str) -> Option<Date> {
        let b = text.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |s: &str| s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse::<u32>().ok()).flatten();
        let (year, month, day) = (num(&text[..4])?, num(&text[5..7])?, num(&text[8..])?);
        let date = Date { year: year as i32, month, day };
        (Date::from_days(date.days()) == date).then_some(date)
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    pub fn days(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` days after 1970-01-01 (`civil_from_days`).
    pub fn from_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }

    /// The date in China at `ms` since the epoch.
    pub fn at_ms(ms: i64) -> Date {
        Date::from_days((ms + CST_OFFSET_MS).div_euclid(DAY_MS))
    }

    /// The first millisecond after this day ends in China.
    pub fn end_ms(self) -> i64 {
        (self.days() + 1) * DAY_MS - CST_OFFSET_MS
    }

    fn weekend(self) -> bool {
        // 1970-01-01 was a Thursday: day 0 is weekday 3 (Monday 0).
        (self.days() + 3).rem_euclid(7) >= 5
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Whether `date` is a working day by the calendars held: a make-up
/// working day (调休) is one; a public holiday or a weekend is not. A year
/// without a calendar has weekends only.
pub fn working_day(date: Date, calendars: &[pb::HolidayCalendar]) -> bool {
    let text = date.to_string();
    let calendar = calendars.iter().find(|c| c.known && c.year as i32 == date.year);
    let listed = |list: &[String]| list.contains(&text);
    match calendar {
        Some(c) if listed(&c.workdays) => true,
        Some(c) if listed(&c.holidays) => false,
        _ => !date.weekend(),
    }
}

/// The end (first millisecond after) of the `days`-th working day after
/// the day of `from_ms`, in China: an objection window counted from an
/// assignment.
/// A window longer than [`OBJECTION_DAYS_MAX`] (a peer's signed event
/// may say anything) counts that many.
pub fn working_days_after(from_ms: i64, days: u32, calendars: &[pb::HolidayCalendar]) -> i64 {
    let days = days.min(OBJECTION_DAYS_MAX);
    let mut date = Date::at_ms(from_ms);
    let mut left = days;
    // A year holds at most ~250 working days; a window is at most 30.
    for _ in 0..(days as usize * 7 + 400) {
        if left == 0 {
            break;
        }
        date = Date::from_days(date.days() + 1);
        if working_day(date, calendars) {
            left -= 1;
        }
    }
    date.end_ms()
}

/// The year in China of an hlc's wall-clock part: what a member's year
/// and a committee's year count by.
pub fn year_in_china(hlc: u64) -> u32 {
    Date::at_ms(crate::hlc::physical_ms(hlc) as i64).year.max(0) as u32
}

/// Milliseconds of a timestamp.
pub fn timestamp_ms(t: &prost_types::Timestamp) -> i64 {
    t.seconds.saturating_mul(1000).saturating_add(i64::from(t.nanos) / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calendar(holidays: &[&str], workdays: &[&str]) -> pb::HolidayCalendar {
        pb::HolidayCalendar {
            year: 2026,
            holidays: holidays.iter().map(|s| s.to_string()).collect(),
            workdays: workdays.iter().map(|s| s.to_string()).collect(),
            known: true,
            ..Default::default()
        }
    }

    #[test]
    fn dates_round_trip_and_refuse_what_is_no_date() {
        for text in ["1970-01-01", "2026-02-28", "2028-02-29", "2099-12-31", "2000-03-01"] {
            let d = Date::parse(text).unwrap();
            assert_eq!(d.to_string(), text);
            assert_eq!(Date::from_days(d.days()), d);
        }
        for bad in ["2026-02-29", "2026-13-01", "2026-1-01", "2026/01/01", "20260101", "２026-01-01", "2026-00-10"] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
        assert_eq!(Date::parse("1970-01-01").unwrap().days(), 0);
    }

    #[test]
    fn working_days_skip_weekends_and_holidays_and_count_make_up_days() {
        // 2026-09-30 is a Wednesday; 10-01..10-07 国庆 holidays, 10-10 (Sat) a make-up day.
        let at = Date::parse("2026-09-30").unwrap().end_ms() - 3_600_000;
        let none: Vec<pb::HolidayCalendar> = Vec::new();
        // Without a calendar: Thu 1, Fri 2, Mon 5, Tue 6, Wed 7.
        assert_eq!(working_days_after(at, 5, &none), Date::parse("2026-10-07").unwrap().end_ms());
        let days: Vec<String> = (1..=7).map(|d| format!("2026-10-{d:02}")).collect();
        let days: Vec<&str> = days.iter().map(String::as_str).collect();
        let cal = [calendar(&days, &["2026-10-10"])];
        // With it: Thu 8, Fri 9, Sat 10 (make-up), Mon 12, Tue 13.
        assert_eq!(working_days_after(at, 5, &cal), Date::parse("2026-10-13").unwrap().end_ms());
        assert_eq!(working_days_after(at, 0, &cal), Date::parse("2026-09-30").unwrap().end_ms());
    }

    #[test]
    fn a_day_in_china_begins_at_16_utc() {
        // 2026-12-06T15:59:59Z is still the 6th in China; 16:00Z is the 7th.
        let sixth = Date::parse("2026-12-06").unwrap();
        assert_eq!(Date::at_ms(sixth.end_ms() - 1), sixth);
        assert_eq!(Date::at_ms(sixth.end_ms()).day, 7);
    }
}
