//! The rule of each 评价 payload kind (see each message's proto comment).

use super::fields::*;
use crate::error::{invalid, AppendError};
use crate::limits::*;
use crate::pb;
use crate::pb::payload::Kind;
use crate::pb::{EvaluationSubject as E, Measure as M};

/// Most indicators a set, or scores a rating, lists.
pub const INDICATORS_MAX: usize = 32;
/// Most grades a set lists.
pub const GRADES_MAX: usize = 8;
/// Most points one indicator is worth.
pub const INDICATOR_POINTS_MAX: u32 = 100;
const CODE_CHARS_MAX: usize = 32;

/// Whether `measure` can score work of `subject`.
pub fn fits(subject: E, measure: M) -> bool {
    match measure {
        M::Judged => true,
        M::Filed | M::AnsweredOnTime | M::Satisfaction | M::Solved => subject == E::Proposal,
        M::Adopted | M::AdoptedAbove | M::Instructed => subject == E::InfoItem,
        M::Reused | M::FedBack | M::Levels => subject == E::Research,
        M::Unspecified => false,
    }
}

fn check_code(field: &str, code: &str) -> Result<(), AppendError> {
    let ok = (1..=CODE_CHARS_MAX).contains(&code.len())
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(invalid(field, format!("must be 1..={CODE_CHARS_MAX} of A-Z a-z 0-9 . _ -")))
    }
}

fn check_set(m: &pb::IndicatorSetIssued) -> Result<(), AppendError> {
    let f = "payload.indicator_set_issued";
    let subject = E::try_from(m.subject).unwrap_or_default();
    if subject == E::Unspecified {
        return Err(invalid(format!("{f}.subject"), "must be RESEARCH, PROPOSAL or INFO_ITEM"));
    }
    match &m.effective {
        Some(t) => check_timestamp(&format!("{f}.effective"), t)?,
        None => return Err(invalid(format!("{f}.effective"), "is required: the date the set takes effect")),
    }
    check_optional_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
    if m.indicators.is_empty() || m.indicators.len() > INDICATORS_MAX {
        return Err(invalid(format!("{f}.indicators"), format!("must list 1..={INDICATORS_MAX} indicators")));
    }
    let mut codes = std::collections::BTreeSet::new();
    for (i, x) in m.indicators.iter().enumerate() {
        let g = format!("{f}.indicators[{i}]");
        check_code(&format!("{g}.code"), &x.code)?;
        if !codes.insert(x.code.as_str()) {
            return Err(invalid(format!("{g}.code"), "each code once in a set"));
        }
        check_chars(&format!("{g}.name"), &x.name, TITLE_CHARS_MAX)?;
        check_optional_chars(&format!("{g}.group"), &x.group, TITLE_CHARS_MAX)?;
        if x.points == 0 || x.points > INDICATOR_POINTS_MAX {
            return Err(invalid(format!("{g}.points"), format!("must be 1..={INDICATOR_POINTS_MAX}")));
        }
        let measure = M::try_from(x.measure).unwrap_or_default();
        if !fits(subject, measure) {
            return Err(invalid(
                format!("{g}.measure"),
                format!("{} does not score {}", measure.as_str_name(), subject.as_str_name()),
            ));
        }
    }
    if m.grades.len() > GRADES_MAX {
        return Err(invalid(format!("{f}.grades"), format!("at most {GRADES_MAX} grades")));
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, g) in m.grades.iter().enumerate() {
        check_chars(&format!("{f}.grades[{i}].name"), &g.name, CODE_CHARS_MAX)?;
        if !names.insert(g.name.as_str()) {
            return Err(invalid(format!("{f}.grades[{i}].name"), "each grade once in a set"));
        }
    }
    Ok(())
}

fn check_rating(m: &pb::EvaluationRated) -> Result<(), AppendError> {
    let f = "payload.evaluation_rated";
    check_event_id(&format!("{f}.subject_id"), &m.subject_id)?;
    check_event_id(&format!("{f}.set_id"), &m.set_id)?;
    check_optional_chars(&format!("{f}.note"), &m.note, TEXT_CHARS_MAX)?;
    if m.scores.is_empty() || m.scores.len() > INDICATORS_MAX {
        return Err(invalid(format!("{f}.scores"), format!("must list 1..={INDICATORS_MAX} scores")));
    }
    let mut codes = std::collections::BTreeSet::new();
    for (i, s) in m.scores.iter().enumerate() {
        check_code(&format!("{f}.scores[{i}].code"), &s.code)?;
        if !codes.insert(s.code.as_str()) {
            return Err(invalid(format!("{f}.scores[{i}].code"), "each indicator once in a rating"));
        }
    }
    Ok(())
}

/// Checks the rule of one 评价 payload kind; `None` for other kinds.
pub(super) fn validate_evaluation(kind: &Kind) -> Option<Result<(), AppendError>> {
    Some(match kind {
        Kind::IndicatorSetIssued(m) => check_set(m),
        Kind::EvaluationRated(m) => check_rating(m),
        _ => return None,
    })
}
